from .keypoint_noise import KeypointNoise
from .keypoint_random_flip import KeypointRandomFlip
from .keypoint_random_resized_crop import KeypointRandomResizedCrop
from .part_aware_mask_generator import PartAwareMaskGenerator

__all__ = [
    'KeypointRandomResizedCrop', 'KeypointRandomFlip', 'KeypointNoise',
    'PartAwareMaskGenerator'
]
