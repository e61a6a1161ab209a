from .backbones import HAPViT, HAPViTForLEM
from .heads import HAPPretrainHead, MultiBranchReIDHead, ReIDHead
from .losses import (
                     HardMiningTripletLoss,
                     PositiveRatioBCELoss,
                     StructureInvariantAlignLoss,
)
from .necks import HAPPretrainDecoder, LocalityEnhancedModule
from .selfsup import HAP

__all__ = [
    'HAP', 'HAPViT', 'HAPPretrainDecoder', 'HAPPretrainHead',
    'StructureInvariantAlignLoss', 'ReIDHead', 'HardMiningTripletLoss',
    'PositiveRatioBCELoss', 'HAPViTForLEM', 'LocalityEnhancedModule',
    'MultiBranchReIDHead'
]
