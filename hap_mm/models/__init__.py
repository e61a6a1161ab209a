from .backbones import (
    BertBiLSTMTextEncoder,
    HAPViT,
    HAPViTForLEM,
    HAPViTMoE,
    VocabBiLSTMTextEncoder,
)
from .heads import HAPPretrainHead, MultiBranchReIDHead
from .losses import (
                     CrossModalRankingLoss,
                     HardMiningTripletLoss,
                     PositiveRatioBCELoss,
                     StructureInvariantAlignLoss,
)
from .necks import HAPPretrainDecoder, LocalityEnhancedModule
from .retrievers import TextImageReID
from .selfsup import HAP

__all__ = [
    'HAP', 'HAPViT', 'HAPViTMoE', 'HAPPretrainDecoder', 'HAPPretrainHead',
    'StructureInvariantAlignLoss', 'HardMiningTripletLoss',
    'PositiveRatioBCELoss', 'HAPViTForLEM', 'LocalityEnhancedModule',
    'MultiBranchReIDHead', 'BertBiLSTMTextEncoder', 'VocabBiLSTMTextEncoder',
    'CrossModalRankingLoss', 'TextImageReID'
]
