"""Query-gallery retrieval evaluation for person re-identification."""
from typing import Dict, List, Optional, Sequence

import numpy as np
import torch
from mmengine.evaluator import BaseMetric
from mmpretrain.registry import METRICS

from ..functional import reid_metrics_from_features

_SAMPLE_KEYS = ('pid', 'camid', 'is_query')


@METRICS.register_module()
class ReIDMetric(BaseMetric):
    """mAP and rank-1/5/10 over one query + gallery evaluation set.

    Every data sample must carry ``pred_feature`` (the model's (C,) embedding,
    e.g. from :class:`ReIDHead` or :class:`MultiBranchReIDHead`) and the
    metainfo ``pid``, ``camid`` and ``is_query`` (the ReID datasets provide
    them; ``PackInputs`` must list them in ``meta_keys``). Samples with
    ``is_query`` form the query set, the rest the gallery; the metric is
    :func:`reid_metrics_from_features` (L2-normalised features ranked by
    squared Euclidean distance, Market-1501 protocol), computed one chunk of
    queries at a time so that the query x gallery distance matrix is never
    held whole.

    Args:
        max_rank (int): CMC length passed to the metric function.
        chunk_size (int, optional): Queries per chunk; by default as many as
            fit in about 256 MB of work memory.
        collect_device (str): 'cpu' or 'gpu', for gathering results.
        prefix (str, optional): Metric name prefix; defaults to 'reid'.
    """

    default_prefix: Optional[str] = 'reid'

    def __init__(self,
                 max_rank: int = 50,
                 chunk_size: Optional[int] = None,
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        self.max_rank = max_rank
        self.chunk_size = chunk_size

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
        out = reid_metrics_from_features(
            feats[q], feats[g], pids[is_query], pids[~is_query],
            camids[is_query], camids[~is_query], self.max_rank,
            self.chunk_size)
        return {k: out[k] for k in ('mAP', 'rank1', 'rank5', 'rank10')}
