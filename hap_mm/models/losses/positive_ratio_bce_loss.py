"""Binary cross-entropy weighted by each attribute's positive ratio."""
from typing import Optional, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmpretrain.registry import MODELS


@MODELS.register_module()
class PositiveRatioBCELoss(nn.Module):
    """Weighted sigmoid BCE for imbalanced pedestrian attributes.

    With r_j the fraction of training images that have attribute j, a
    positive label of attribute j weighs exp(1 - r_j) and a negative label
    exp(r_j) (the weighting of the pedestrian attribute "strong baseline",
    Jia et al., 2020): rare positives count more. The loss is summed over
    attributes and averaged over images.

    ``pos_ratio`` is a buffer (saved in checkpoints). Give it here or let
    :class:`PositiveRatioHook` fill it from the training label matrix
    before training; the loss refuses to run while it is unset.

    Args:
        num_classes (int): Number of attributes A.
        pos_ratio (Sequence[float], optional): r, (A,).
        loss_weight (float): Multiplier of the loss.
    """

    def __init__(self,
                 num_classes: int,
                 pos_ratio: Optional[Sequence[float]] = None,
                 loss_weight: float = 1.0) -> None:
        super().__init__()
        self.loss_weight = loss_weight
        self.register_buffer('pos_ratio',
                             torch.full((num_classes, ), float('nan')))
        if pos_ratio is not None:
            self.set_pos_ratio(pos_ratio)

    def set_pos_ratio(self, pos_ratio: Sequence[float]) -> None:
        """Set r, (A,) values in [0, 1]."""
        ratio = torch.as_tensor(pos_ratio, dtype=torch.float32).reshape(-1)
        if ratio.shape != self.pos_ratio.shape:
            raise ValueError(f'pos_ratio has {ratio.numel()} entries, the '
                             f'loss {self.pos_ratio.numel()} attributes')
        if not bool(((ratio >= 0) & (ratio <= 1)).all()):
            raise ValueError(f'pos_ratio must lie in [0, 1], got {ratio}')
        self.pos_ratio.copy_(ratio)

    def forward(self,
                cls_score: torch.Tensor,
                label: torch.Tensor,
                avg_factor: Optional[float] = None) -> torch.Tensor:
        """Loss of logits (B, A) against 0/1 labels (B, A): a scalar.

        ``avg_factor`` replaces B as the divisor when given.
        """
        if bool(torch.isnan(self.pos_ratio).any()):
            raise RuntimeError(
                'PositiveRatioBCELoss: pos_ratio is not set; add '
                "dict(type='PositiveRatioHook') to custom_hooks or pass "
                'pos_ratio')
        label = label.float()
        ratio = self.pos_ratio.to(cls_score.dtype)
        weight = torch.where(label > 0.5, torch.exp(1 - ratio),
                             torch.exp(ratio))
        loss = F.binary_cross_entropy_with_logits(
            cls_score, label, weight=weight, reduction='sum')
        return self.loss_weight * loss / (avg_factor or cls_score.shape[0])
