from .structure_invariant_align_loss import StructureInvariantAlignLoss

__all__ = ['StructureInvariantAlignLoss']
