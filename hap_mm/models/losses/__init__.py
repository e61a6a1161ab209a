from .cross_modal_ranking_loss import CrossModalRankingLoss
from .hard_mining_triplet_loss import HardMiningTripletLoss
from .positive_ratio_bce_loss import PositiveRatioBCELoss
from .structure_invariant_align_loss import StructureInvariantAlignLoss

__all__ = [
    'CrossModalRankingLoss', 'HardMiningTripletLoss', 'PositiveRatioBCELoss',
    'StructureInvariantAlignLoss'
]
