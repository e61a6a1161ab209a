from .attribute_metrics import attribute_metrics
from .reid_metrics import reid_metrics

__all__ = ['attribute_metrics', 'reid_metrics']
