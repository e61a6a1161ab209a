"""Evaluation for HAP downstream tasks: functional metrics and mmengine
metrics registered in mmpretrain's ``METRICS``."""
from .functional import attribute_metrics, reid_metrics
from .metrics import AttributeMetric, ReIDMetric

__all__ = [
    'attribute_metrics', 'reid_metrics', 'AttributeMetric', 'ReIDMetric'
]
