"""Text-to-image person retrieval evaluation."""
from typing import Dict, List, Optional, Sequence

import numpy as np
import torch
from mmengine.evaluator import BaseMetric
from mmpretrain.registry import METRICS

from ..functional import text_image_retrieval_metrics_from_features


@METRICS.register_module()
class TextImageRetrievalMetric(BaseMetric):
    """R@1/5/10, mAP and mINP of text-to-image person retrieval.

    The evaluation set is a list of (image, caption) pairs (the text ReID
    datasets): every caption is a query and every distinct ``img_path`` is
    one gallery image (its first sample's image embedding is used). Each
    data sample must carry ``pred_text_feature`` and ``pred_image_feature``
    ((C,) embeddings, set by the model's ``predict``), ``img_path`` and
    ``gt_label`` (the person id, or any per-split relabelling of it).
    Similarity is cosine; the metric is
    :func:`text_image_retrieval_metrics_from_features` (matches by person
    id; queries without a match excluded and counted).

    Args:
        topk (Sequence[int]): Ranks k of the reported R@k.
        chunk_size (int, optional): Queries ranked at a time; by default
            as many as fit in about 64 MB of work memory.
        collect_device (str): 'cpu' or 'gpu', for gathering results.
        prefix (str, optional): Metric name prefix; defaults to 't2i'.
    """

    default_prefix: Optional[str] = 't2i'

    def __init__(self,
                 topk: Sequence[int] = (1, 5, 10),
                 chunk_size: Optional[int] = None,
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        self.topk = tuple(topk)
        self.chunk_size = chunk_size

    def process(self, data_batch, data_samples: Sequence[dict]) -> None:
        """Keep each sample's two embeddings, image path and person id."""
        for sample in data_samples:
            missing = [
                k for k in ('pred_text_feature', 'pred_image_feature',
                            'img_path', 'gt_label') if k not in sample
            ]
            if missing:
                raise KeyError(
                    f'TextImageRetrievalMetric: data sample lacks {missing}; '
                    'the model must set pred_text_feature and '
                    'pred_image_feature, the dataset img_path and gt_label')
            self.results.append({
                'text': sample['pred_text_feature'].detach().float().cpu(),
                'image': sample['pred_image_feature'].detach().float().cpu(),
                'img_path': sample['img_path'],
                'pid': int(torch.as_tensor(sample['gt_label']).view(-1)[0]),
            })

    def compute_metrics(self, results: List[dict]) -> Dict[str, float]:
        gallery = {}
        for r in results:
            gallery.setdefault(r['img_path'], r)
        out = text_image_retrieval_metrics_from_features(
            torch.stack([r['text'] for r in results]),
            torch.stack([r['image'] for r in gallery.values()]),
            np.array([r['pid'] for r in results]),
            np.array([r['pid'] for r in gallery.values()]), self.topk,
            self.chunk_size)
        return {
            k: out[k]
            for k in (*(f'R{int(k)}' for k in self.topk), 'mAP', 'mINP')
        }
