"""Evaluation for HAP downstream tasks: functional metrics and mmengine
metrics registered in mmpretrain's ``METRICS``."""
from .functional import attribute_metrics, reid_metrics, reid_metrics_from_features
from .metrics import AttributeMetric, ReIDMetric

__all__ = [
    'attribute_metrics', 'reid_metrics', 'reid_metrics_from_features',
    'AttributeMetric', 'ReIDMetric'
]
