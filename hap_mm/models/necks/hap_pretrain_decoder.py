"""MAE decoder for rectangular patch grids."""
from typing import Sequence, Union

import torch
from mmpretrain.models.necks import MAEPretrainDecoder
from mmpretrain.registry import MODELS

from ..utils.pos_embed import rect_sincos_pos_embed


@MODELS.register_module()
class HAPPretrainDecoder(MAEPretrainDecoder):
    """mmpretrain's MAE decoder with a fixed sin-cos embedding of an H x W grid.

    ``forward(x, ids_restore)`` takes the encoder's latent (B, 1 + L_vis, C)
    and the un-shuffle indices (B, N) and returns per-patch predictions
    (B, N, patch_size**2 * in_chans), in raster order.

    Args:
        grid_size (int | tuple): Patch grid (rows, columns); 16 x 8 for
            256 x 128 inputs with 16-pixel patches.
        **kwargs: Other ``MAEPretrainDecoder`` arguments (``embed_dim``,
            ``decoder_embed_dim``, ``decoder_depth``, ``decoder_num_heads``,
            ``patch_size``, ...).
    """

    def __init__(self, grid_size: Union[int, Sequence[int]] = (16, 8),
                 **kwargs) -> None:
        if isinstance(grid_size, int):
            grid_size = (grid_size, grid_size)
        self.grid_size = tuple(grid_size)
        super().__init__(
            num_patches=self.grid_size[0] * self.grid_size[1], **kwargs)

    def init_weights(self) -> None:
        """MAE init with the rectangular sin-cos decoder embedding.

        ``MAEPretrainDecoder.init_weights`` builds a square embedding, so the
        base-module init is called directly.
        """
        super(MAEPretrainDecoder, self).init_weights()
        self.decoder_pos_embed.data.copy_(
            rect_sincos_pos_embed(self.grid_size,
                                  self.decoder_pos_embed.shape[-1]))
        torch.nn.init.normal_(self.mask_token, std=.02)
