from .backbones import HAPViT
from .heads import HAPPretrainHead, ReIDHead
from .losses import (
                     HardMiningTripletLoss,
                     PositiveRatioBCELoss,
                     StructureInvariantAlignLoss,
)
from .necks import HAPPretrainDecoder
from .selfsup import HAP

__all__ = [
    'HAP', 'HAPViT', 'HAPPretrainDecoder', 'HAPPretrainHead',
    'StructureInvariantAlignLoss', 'ReIDHead', 'HardMiningTripletLoss',
    'PositiveRatioBCELoss'
]
