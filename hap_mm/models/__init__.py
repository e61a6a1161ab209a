from .backbones import HAPViT, HAPViTForLEM, HAPViTMoE
from .heads import HAPPretrainHead, MultiBranchReIDHead
from .losses import (
                     HardMiningTripletLoss,
                     PositiveRatioBCELoss,
                     StructureInvariantAlignLoss,
)
from .necks import HAPPretrainDecoder, LocalityEnhancedModule
from .selfsup import HAP

__all__ = [
    'HAP', 'HAPViT', 'HAPViTMoE', 'HAPPretrainDecoder', 'HAPPretrainHead',
    'StructureInvariantAlignLoss', 'HardMiningTripletLoss',
    'PositiveRatioBCELoss', 'HAPViTForLEM', 'LocalityEnhancedModule',
    'MultiBranchReIDHead'
]
