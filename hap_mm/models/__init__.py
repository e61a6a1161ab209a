from .backbones import HAPViT
from .heads import HAPPretrainHead
from .losses import StructureInvariantAlignLoss
from .necks import HAPPretrainDecoder
from .selfsup import HAP

__all__ = [
    'HAP', 'HAPViT', 'HAPPretrainDecoder', 'HAPPretrainHead',
    'StructureInvariantAlignLoss'
]
