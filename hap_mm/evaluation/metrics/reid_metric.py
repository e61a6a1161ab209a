"""Query-gallery retrieval evaluation for person re-identification."""
from typing import Dict, List, Optional, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from mmengine.evaluator import BaseMetric
from mmpretrain.registry import METRICS

from ..functional import reid_metrics

_SAMPLE_KEYS = ('pid', 'camid', 'is_query')


@METRICS.register_module()
class ReIDMetric(BaseMetric):
    """mAP and rank-1/5/10 over one query + gallery evaluation set.

    Every data sample must carry ``pred_feature`` (the model's (C,) embedding,
    e.g. from :class:`ReIDHead`) and the metainfo ``pid``, ``camid`` and
    ``is_query`` (the ReID datasets provide them; ``PackInputs`` must list
    them in ``meta_keys``). Samples with ``is_query`` form the query set, the
    rest the gallery; the metric is :func:`reid_metrics` (Market-1501
    protocol) on their distance matrix.

    Args:
        distance (str): 'euclidean' (L2 distance of the features) or
            'cosine' (1 - cosine similarity).
        max_rank (int): CMC length passed to :func:`reid_metrics`.
        collect_device (str): 'cpu' or 'gpu', for gathering results.
        prefix (str, optional): Metric name prefix; defaults to 'reid'.
    """

    default_prefix: Optional[str] = 'reid'

    def __init__(self,
                 distance: str = 'euclidean',
                 max_rank: int = 50,
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None) -> None:
        if distance not in ('euclidean', 'cosine'):
            raise ValueError("distance must be 'euclidean' or 'cosine', got "
                             f'{distance!r}')
        super().__init__(collect_device=collect_device, prefix=prefix)
        self.distance = distance
        self.max_rank = max_rank

    def process(self, data_batch, data_samples: Sequence[dict]) -> None:
        """Keep each sample's feature (C,), pid, camid and query flag."""
        for sample in data_samples:
            missing = [k for k in ('pred_feature', *_SAMPLE_KEYS)
                       if k not in sample]
            if missing:
                raise KeyError(
                    f'ReIDMetric: data sample lacks {missing}; the model must '
                    'set pred_feature and the dataset pipeline must pack pid, '
                    'camid and is_query (PackInputs meta_keys)')
            self.results.append({
                'feature': sample['pred_feature'].detach().float().cpu(),
                **{k: sample[k] for k in _SAMPLE_KEYS}
            })

    def distances(self, query: torch.Tensor,
                  gallery: torch.Tensor) -> torch.Tensor:
        """Distance matrix (Q, G) between query (Q, C) and gallery (G, C)."""
        if self.distance == 'cosine':
            return 1 - F.normalize(query, dim=1) @ F.normalize(
                gallery, dim=1).T
        return torch.cdist(query, gallery)

    def compute_metrics(self, results: List[dict]) -> Dict[str, float]:
        is_query = np.array([bool(r['is_query']) for r in results])
        if is_query.all() or not is_query.any():
            raise ValueError(
                f'ReIDMetric needs both query and gallery samples, got '
                f'{int(is_query.sum())} queries and '
                f'{int((~is_query).sum())} gallery images')
        feats = torch.stack([r['feature'] for r in results])
        pids = np.array([int(r['pid']) for r in results])
        camids = np.array([int(r['camid']) for r in results])
        q, g = torch.from_numpy(is_query), torch.from_numpy(~is_query)
        distmat = self.distances(feats[q], feats[g]).numpy()
        out = reid_metrics(distmat, pids[is_query], pids[~is_query],
                           camids[is_query], camids[~is_query], self.max_rank)
        return {k: out[k] for k in ('mAP', 'rank1', 'rank5', 'rank10')}
