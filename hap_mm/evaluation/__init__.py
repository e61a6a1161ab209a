"""Evaluation for HAP downstream tasks: functional metrics and mmengine
metrics registered in mmpretrain's ``METRICS``."""
from .functional import (
    attribute_metrics,
    reid_metrics,
    reid_metrics_from_features,
    text_image_retrieval_metrics,
    text_image_retrieval_metrics_from_features,
)
from .metrics import AttributeMetric, ReIDMetric, TextImageRetrievalMetric

__all__ = [
    'attribute_metrics', 'reid_metrics', 'reid_metrics_from_features',
    'AttributeMetric', 'ReIDMetric', 'text_image_retrieval_metrics',
    'text_image_retrieval_metrics_from_features', 'TextImageRetrievalMetric'
]
