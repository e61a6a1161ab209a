"""Position embeddings for rectangular patch grids."""
from typing import Tuple

import torch
from mmpretrain.models.utils import build_2d_sincos_position_embedding


def rect_sincos_pos_embed(grid_hw: Tuple[int, int],
                          embed_dims: int,
                          cls_token: bool = True) -> torch.Tensor:
    """Fixed 2-D sin-cos embedding for an ``H x W`` grid in row-major order.

    mmpretrain's ``build_2d_sincos_position_embedding`` enumerates positions
    column-major when given ``(h, w)``, which only lines up with the patch
    sequence for square grids. Given ``(w, h)`` it enumerates them row-major,
    with the first half of the channels encoding the row and the second half
    the column: the same layout MAE's square embedding has, so ImageNet MAE
    weights and this embedding agree on what each half means.

    Args:
        grid_hw (tuple[int, int]): Patch grid (rows, columns).
        embed_dims (int): Channels, divisible by 4.
        cls_token (bool): Prepend a zero vector for the CLS token.

    Returns:
        torch.Tensor: (1, H * W [+ 1], embed_dims).
    """
    h, w = grid_hw
    return build_2d_sincos_position_embedding((w, h),
                                              embed_dims,
                                              cls_token=cls_token)
