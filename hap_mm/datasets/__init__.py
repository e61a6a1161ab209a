from .attribute_pickle_dataset import AttributePickleDataset
from .cuhk_pedes import CUHKPEDES
from .hap_collate import build_mask_generator, find_mask_generator, hap_collate
from .icfg_pedes import ICFGPEDES
from .lup_keypoint_dataset import BadSampleError, LUPersonKeypointDataset
from .market1501 import Market1501
from .msmt17 import MSMT17
from .pa100k import PA100K
from .peta import PETA
from .rap import RAP
from .rstpreid import RSTPReid
from .samplers import IdentityBalancedSampler
from .transforms import (
    KeypointNoise,
    KeypointRandomFlip,
    KeypointRandomResizedCrop,
    PartAwareMaskGenerator,
)

__all__ = [
    'LUPersonKeypointDataset', 'BadSampleError', 'KeypointRandomResizedCrop',
    'KeypointRandomFlip', 'KeypointNoise', 'PartAwareMaskGenerator',
    'Market1501', 'MSMT17', 'PA100K', 'PETA', 'RAP', 'AttributePickleDataset',
    'IdentityBalancedSampler', 'hap_collate', 'build_mask_generator',
    'find_mask_generator', 'CUHKPEDES', 'ICFGPEDES', 'RSTPReid'
]
