from .attribute_metrics import attribute_metrics
from .mesh_metrics import mesh_metrics, procrustes_align
from .reid_metrics import reid_metrics, reid_metrics_from_features
from .text_image_retrieval_metrics import (
    text_image_retrieval_metrics,
    text_image_retrieval_metrics_from_features,
)

__all__ = [
    'attribute_metrics', 'mesh_metrics', 'procrustes_align', 'reid_metrics',
    'reid_metrics_from_features',
    'text_image_retrieval_metrics',
    'text_image_retrieval_metrics_from_features'
]
