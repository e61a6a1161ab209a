from .attribute_metrics import attribute_metrics
from .reid_metrics import reid_metrics, reid_metrics_from_features

__all__ = ['attribute_metrics', 'reid_metrics', 'reid_metrics_from_features']
