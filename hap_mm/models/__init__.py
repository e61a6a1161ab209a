from .backbones import HAPViT, HAPViTMoE
from .heads import HAPPretrainHead, ReIDHead
from .losses import (
                     HardMiningTripletLoss,
                     PositiveRatioBCELoss,
                     StructureInvariantAlignLoss,
)
from .necks import HAPPretrainDecoder
from .selfsup import HAP

__all__ = [
    'HAP', 'HAPViT', 'HAPViTMoE', 'HAPPretrainDecoder', 'HAPPretrainHead',
    'StructureInvariantAlignLoss', 'ReIDHead', 'HardMiningTripletLoss',
    'PositiveRatioBCELoss'
]
