"""Triplet loss with batch-hard mining (Hermans et al., 2017)."""
from typing import Optional

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmpretrain.registry import MODELS


@MODELS.register_module()
class HardMiningTripletLoss(nn.Module):
    """Batch-hard triplet loss on Euclidean distances.

    For every anchor i of the batch: d_ap = distance to its farthest image
    of the same identity, d_an = distance to its closest image of another
    identity; loss = mean_i max(0, d_ap - d_an + margin), or with
    ``margin=None`` the soft-margin form mean_i log(1 + exp(d_ap - d_an))
    (``nn.SoftMarginLoss`` on d_an - d_ap, the HAP release's ReID loss).
    Anchors without a
    positive or a negative in the batch are left out (0 when none is left).
    An identity-balanced (P x K) sampler gives every anchor both.

    Args:
        margin (float, optional): Margin between positive and negative
            distances; None for the soft margin.
        loss_weight (float): Multiplier of the loss.
    """

    def __init__(self,
                 margin: Optional[float] = 0.3,
                 loss_weight: float = 1.0) -> None:
        super().__init__()
        self.margin = margin
        self.loss_weight = loss_weight

    def forward(self, feats: torch.Tensor,
                labels: torch.Tensor) -> torch.Tensor:
        """Loss of features (B, C) with identity labels (B,): a scalar."""
        squared = feats.pow(2).sum(1)
        dist = (squared[:, None] + squared[None] -
                2 * feats @ feats.T).clamp(min=1e-12).sqrt()
        same = labels[:, None] == labels[None]
        positive = same & ~torch.eye(
            len(labels), dtype=torch.bool, device=labels.device)
        negative = ~same
        valid = positive.any(1) & negative.any(1)
        if not bool(valid.any()):
            return feats.sum() * 0
        d_ap = dist.masked_fill(~positive, float('-inf')).max(1).values
        d_an = dist.masked_fill(~negative, float('inf')).min(1).values
        gap = d_ap[valid] - d_an[valid]
        if self.margin is None:
            loss = F.softplus(gap).mean()
        else:
            loss = F.relu(gap + self.margin).mean()
        return self.loss_weight * loss
