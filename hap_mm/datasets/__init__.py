from .lup_keypoint_dataset import BadSampleError, LUPersonKeypointDataset
from .transforms import (KeypointNoise, KeypointRandomFlip,
                         KeypointRandomResizedCrop, PartAwareMaskGenerator)

__all__ = [
    'LUPersonKeypointDataset', 'BadSampleError', 'KeypointRandomResizedCrop',
    'KeypointRandomFlip', 'KeypointNoise', 'PartAwareMaskGenerator'
]
