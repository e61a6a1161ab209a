"""Turn HAP / MAE checkpoints into ``backbone.*`` weights for any host."""
import math
import os
import os.path as osp
import re
import tempfile
from typing import Dict, List, Optional, Sequence, Tuple

import torch
from mmpretrain.models.utils import resize_pos_embed

from .checkpoint import (
    _ENCODER_KEYS,
    _TIMM_RENAMES,
    CheckpointLoadError,
    extract_state_dict,
)


def _rename(key: str, prefix: str) -> Optional[str]:
    """mmpretrain ViT name of an encoder key, or None for anything else."""
    if not key.startswith(prefix):
        return None
    key = key[len(prefix):]
    for pattern, repl in _TIMM_RENAMES:
        key = re.sub(pattern, repl, key)
    return key if _ENCODER_KEYS.match(key) else None


def _grid(num_patches: int, src_grid: Tuple[int, int]) -> Tuple[int, int]:
    side = math.isqrt(num_patches)
    if side * side == num_patches:
        return side, side
    if src_grid[0] * src_grid[1] == num_patches:
        return src_grid
    raise CheckpointLoadError(
        f'pos_embed has {num_patches} patches: neither square nor the '
        f'source grid {src_grid}; pass the size it was trained at')


def convert_to_backbone(
    checkpoint: dict,
    img_size: Optional[Sequence[int]] = None,
    patch_size: int = 16,
    src_img_size: Sequence[int] = (256, 128)
) -> Tuple[Dict[str, torch.Tensor], List[str], List[str], dict]:
    """Encoder tensors of a checkpoint, renamed to ``backbone.<vit key>``.

    Reads hap_mm checkpoints (``backbone.*``), the authors' release and
    ImageNet MAE checkpoints (timm names, under ``model``) and mmpretrain
    ViT checkpoints. Tensors are carried unchanged except ``pos_embed``
    when ``img_size`` asks for another grid (bicubic, CLS token kept).

    Args:
        checkpoint (dict): What ``torch.load`` returned.
        img_size (tuple, optional): (H, W) to resize the position
            embedding to; None keeps it (the backbone resizes at load).
        patch_size (int): Patch side in pixels.
        src_img_size (tuple): (H, W) a non-square position embedding was
            trained at (HAP: 256 x 128).

    Returns:
        tuple: ``state_dict`` (backbone.-prefixed), kept source keys,
        dropped source keys, ``meta`` (source grid, output grid).
    """
    source = extract_state_dict(checkpoint)
    prefix = 'backbone.' if any(
        k.startswith('backbone.') for k in source) else ''
    out, kept, dropped = {}, [], []
    for key, value in source.items():
        name = _rename(key, prefix)
        if name is None or not isinstance(value, torch.Tensor):
            dropped.append(key)
            continue
        out['backbone.' + name] = value
        kept.append(key)
    if not out:
        raise CheckpointLoadError(
            'no ViT encoder weights found (looked for backbone.*, timm and '
            'mmpretrain names)')
    meta = {}
    pos = out.get('backbone.pos_embed')
    if pos is not None:
        src_grid = (src_img_size[0] // patch_size,
                    src_img_size[1] // patch_size)
        grid = _grid(pos.shape[1] - 1, src_grid)
        meta['src_grid'] = list(grid)
        if img_size is not None:
            if img_size[0] % patch_size or img_size[1] % patch_size:
                raise CheckpointLoadError(
                    f'img_size {tuple(img_size)} is not a multiple of '
                    f'patch_size {patch_size}')
            dst = (img_size[0] // patch_size, img_size[1] // patch_size)
            out['backbone.pos_embed'] = resize_pos_embed(
                pos, grid, dst, 'bicubic', num_extra_tokens=1)
            meta['grid'] = list(dst)
    return out, kept, dropped, meta


def save_atomically(obj: dict, dst: str, force: bool = False) -> None:
    """``torch.save`` to a temporary file beside ``dst``, then rename.

    Raises:
        FileExistsError: ``dst`` exists and ``force`` is False.
    """
    if osp.exists(dst) and not force:
        raise FileExistsError(f'{dst} exists; pass --force to overwrite it')
    folder = osp.dirname(osp.abspath(dst))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, suffix='.tmp')
    os.close(fd)
    try:
        torch.save(obj, tmp)
        os.replace(tmp, dst)
    finally:
        if osp.exists(tmp):
            os.remove(tmp)
