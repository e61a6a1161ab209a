"""Cross-modal ranking loss with random semi-hard negatives."""
from typing import Optional

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmpretrain.registry import MODELS


@MODELS.register_module()
class CrossModalRankingLoss(nn.Module):
    """Bidirectional triplet loss of paired image and text embeddings on
    cosine similarity (the text ReID release's ranking loss).

    For an anchor i of one modality, the positive is its own pair i of the
    other modality (similarity ``s_ii``); a negative is a sample j of the
    other modality with a different label, and its triplet loss is
    ``margin + s_ij - s_ii``. One negative is drawn uniformly at random
    among the semi-hard ones (``0 < margin + s_ij - s_ii < margin``); an
    anchor without a semi-hard negative adds nothing. Both directions
    (image anchors against texts, text anchors against images) are summed
    over anchors, not averaged.

    Args:
        margin (float): Margin on the cosine similarity.
        loss_weight (float): Weight of the summed loss.
    """

    def __init__(self, margin: float = 0.2, loss_weight: float = 1.0) -> None:
        super().__init__()
        self.margin = margin
        self.loss_weight = loss_weight

    def sample_negatives(self,
                         similarity: torch.Tensor,
                         labels: torch.Tensor,
                         generator: Optional[torch.Generator] = None
                         ) -> torch.Tensor:
        """Index of one random semi-hard negative per anchor (row), or -1.

        Args:
            similarity (Tensor): (N, N) anchors x other modality; the
                diagonal holds the positive pairs.
            labels (Tensor): (N,) identity of each pair.
            generator (torch.Generator, optional): For the random draw.

        Returns:
            Tensor: (N,) long, the column of the drawn negative, -1 where
            the anchor has no semi-hard negative.
        """
        with torch.no_grad():
            loss = self.margin + similarity - similarity.diagonal()[:, None]
            candidate = (labels[None, :] != labels[:, None]) & (loss > 0) & (
                loss < self.margin)
            score = torch.rand(similarity.shape, generator=generator,
                               device='cpu').to(similarity.device)
            score = score.masked_fill(~candidate, -1.0)
            best, index = score.max(dim=1)
            return torch.where(best >= 0, index, torch.full_like(index, -1))

    def _direction(self, similarity: torch.Tensor,
                   labels: torch.Tensor) -> torch.Tensor:
        negative = self.sample_negatives(similarity, labels)
        anchors = (negative >= 0).nonzero().squeeze(1)
        loss = self.margin + similarity[anchors, negative[anchors]] - \
            similarity.diagonal()[anchors]
        return loss.sum()

    def loss_from_similarity(self, similarity: torch.Tensor,
                             labels: torch.Tensor) -> torch.Tensor:
        """Summed (unweighted) loss of an (N, N) image x text similarity
        matrix whose diagonal holds the pairs; labels (N,)."""
        return self._direction(similarity, labels) + self._direction(
            similarity.T, labels)

    def forward(self, image_embeds: torch.Tensor, text_embeds: torch.Tensor,
                labels: torch.Tensor) -> torch.Tensor:
        """Summed ranking loss of N pairs.

        Args:
            image_embeds (Tensor): (N, C); row i is paired with text i.
            text_embeds (Tensor): (N, C).
            labels (Tensor): (N,) identity of each pair.

        Returns:
            Tensor: scalar loss.
        """
        similarity = F.normalize(image_embeds, dim=1) @ F.normalize(
            text_embeds, dim=1).T
        return self.loss_weight * self.loss_from_similarity(similarity, labels)
