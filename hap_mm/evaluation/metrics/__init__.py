from .attribute_metric import AttributeMetric
from .reid_metric import ReIDMetric

__all__ = ['AttributeMetric', 'ReIDMetric']
