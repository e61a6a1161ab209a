"""Pedestrian attribute recognition evaluation."""
from typing import Dict, List, Optional, Sequence

import torch
from mmengine.evaluator import BaseMetric
from mmpretrain.registry import METRICS
from mmpretrain.structures import label_to_onehot

from ..functional import attribute_metrics


@METRICS.register_module()
class AttributeMetric(BaseMetric):
    """mA and instance accuracy / precision / recall / F1 (percent).

    Reads each data sample's ``pred_score`` (A,) (sigmoid probabilities, as
    mmpretrain's multi-label heads set them) and its ground truth, either
    ``gt_score`` (A,) in {0, 1} (the attribute datasets) or ``gt_label``
    (indices of the present attributes); see :func:`attribute_metrics`.

    Args:
        threshold (float): An attribute is predicted present when its score
            is greater than this.
        collect_device (str): 'cpu' or 'gpu', for gathering results.
        prefix (str, optional): Metric name prefix; defaults to 'attribute'.
    """

    default_prefix: Optional[str] = 'attribute'

    def __init__(self,
                 threshold: float = 0.5,
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        self.threshold = threshold

    def process(self, data_batch, data_samples: Sequence[dict]) -> None:
        """Keep each sample's scores (A,) and 0/1 ground truth (A,)."""
        for sample in data_samples:
            if 'pred_score' not in sample:
                raise KeyError('AttributeMetric: data sample has no '
                               'pred_score; use a multi-label head')
            score = sample['pred_score'].detach().float().cpu()
            if 'gt_score' in sample:
                target = sample['gt_score'].detach().cpu()
            elif 'gt_label' in sample:
                target = label_to_onehot(sample['gt_label'].cpu(),
                                         score.numel())
            else:
                raise KeyError('AttributeMetric: data sample has neither '
                               'gt_score nor gt_label')
            self.results.append({'score': score, 'target': target})

    def compute_metrics(self, results: List[dict]) -> Dict[str, float]:
        scores = torch.stack([r['score'] for r in results]).numpy()
        labels = torch.stack([r['target'] for r in results]).round().numpy()
        return attribute_metrics(scores, labels, self.threshold)
