"""HAP's structure-invariant alignment loss (InfoNCE between two views)."""
import torch
import torch.nn.functional as F
from mmengine.dist import all_gather, get_rank
from mmengine.model import BaseModule
from mmpretrain.registry import MODELS


@MODELS.register_module()
class StructureInvariantAlignLoss(BaseModule):
    """Symmetric InfoNCE between the CLS tokens of two masked views.

    For view features ``z1, z2`` (B, C) of the same B images on this rank::

        loss = loss_weight * 2T * (CE(q1 k2_all^T / T, y) + CE(q2 k1_all^T / T, y))

    with ``q = normalize(z)``, ``k_all`` the normalised keys of the other
    view from every rank (gathered without gradient, so keys never carry
    gradient, in one process or many), and ``y = arange(B) + B * rank``.
    Negatives are all other images of the global batch. The value and the
    gradients after DDP's averaging equal those of one process holding the
    whole global batch. Works without a process group. The contrast runs
    in float32 with autocast disabled, so AMP does not change its value.

    Args:
        temperature (float): Softmax temperature T. Defaults to 0.2.
        loss_weight (float): Weight of the loss. Defaults to 0.05.
    """

    def __init__(self, temperature: float = 0.2,
                 loss_weight: float = 0.05) -> None:
        super().__init__()
        if temperature <= 0:
            raise ValueError(f'temperature must be > 0, got {temperature}')
        self.temperature = temperature
        self.loss_weight = loss_weight

    def _contrast(self, q: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            keys = torch.cat(all_gather(k.detach().contiguous()), dim=0)
        logits = q @ keys.t() / self.temperature  # (B, B * world)
        labels = torch.arange(q.shape[0], device=q.device) + \
            q.shape[0] * get_rank()
        return F.cross_entropy(logits, labels) * (2 * self.temperature)

    def infonce(self, z1: torch.Tensor, z2: torch.Tensor) -> torch.Tensor:
        """The unweighted symmetric InfoNCE (the release's ``loss_ali``).

        Computed in float32 with autocast off: under AMP the logits would
        otherwise come from a half-precision matmul (errors ~1e-3).

        Args:
            z1, z2 (torch.Tensor): (B, C) features of view 1 and 2, any
                float dtype.

        Returns:
            torch.Tensor: float32 scalar.
        """
        with torch.autocast(device_type=z1.device.type, enabled=False):
            q1 = F.normalize(z1.float(), dim=1)
            q2 = F.normalize(z2.float(), dim=1)
            return self._contrast(q1, q2) + self._contrast(q2, q1)

    def forward(self, z1: torch.Tensor, z2: torch.Tensor) -> torch.Tensor:
        """Args: z1, z2 (B, C) features of view 1 and 2. Returns
        ``loss_weight * infonce(z1, z2)``, a float32 scalar."""
        return self.loss_weight * self.infonce(z1, z2)
