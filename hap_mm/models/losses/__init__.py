from .hard_mining_triplet_loss import HardMiningTripletLoss
from .positive_ratio_bce_loss import PositiveRatioBCELoss
from .structure_invariant_align_loss import StructureInvariantAlignLoss

__all__ = [
    'HardMiningTripletLoss', 'PositiveRatioBCELoss',
    'StructureInvariantAlignLoss'
]
