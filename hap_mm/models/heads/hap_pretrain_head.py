"""Normalised-pixel reconstruction head for rectangular images."""
import torch
from mmpretrain.models.heads import MAEPretrainHead
from mmpretrain.registry import MODELS


@MODELS.register_module()
class HAPPretrainHead(MAEPretrainHead):
    """mmpretrain's MAE head with patchify/unpatchify for H != W.

    ``loss(pred, target, mask)``: ``pred`` (B, N, p*p*3), ``target`` images
    (B, 3, H, W), ``mask`` (B, N) with 1 = masked; the loss (from the
    ``loss`` config, e.g. ``PixelReconstructionLoss`` L2) is averaged over
    masked patches. With ``norm_pix=True`` each target patch is normalised
    by its own mean and variance (MAE's norm_pix_loss).

    Args:
        grid_size (tuple): Patch grid (rows, columns) for ``unpatchify``.
        **kwargs: ``loss``, ``norm_pix``, ``patch_size``, ``in_channels``.
    """

    def __init__(self, grid_size=(16, 8), **kwargs) -> None:
        super().__init__(**kwargs)
        self.grid_size = tuple(grid_size)

    def patchify(self, imgs: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) -> (B, H/p * W/p, p*p*C), raster order, (p, p, C)."""
        p, c = self.patch_size, self.in_channels
        B, _, H, W = imgs.shape
        if H % p or W % p:
            raise ValueError(f'image {H}x{W} is not a multiple of patch {p}')
        x = imgs.reshape(B, c, H // p, p, W // p, p)
        x = torch.einsum('nchpwq->nhwpqc', x)
        return x.reshape(B, (H // p) * (W // p), p * p * c)

    def unpatchify(self, x: torch.Tensor) -> torch.Tensor:
        """(B, h*w, p*p*C) -> (B, C, h*p, w*p) for ``grid_size`` (h, w)."""
        p, c = self.patch_size, self.in_channels
        h, w = self.grid_size
        x = x.reshape(x.shape[0], h, w, p, p, c)
        x = torch.einsum('nhwpqc->nchpwq', x)
        return x.reshape(x.shape[0], c, h * p, w * p)
