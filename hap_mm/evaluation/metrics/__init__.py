from .attribute_metric import AttributeMetric
from .reid_metric import ReIDMetric
from .text_image_retrieval_metric import TextImageRetrievalMetric

__all__ = ['AttributeMetric', 'ReIDMetric', 'TextImageRetrievalMetric']
