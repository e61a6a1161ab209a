"""Initialising the mesh model's ViT from a 2-D pose or a HAP checkpoint."""
import re
from typing import Optional, Sequence, Tuple

import torch
from mmengine.logging import print_log
from mmpretrain.models.utils import resize_pos_embed

from ..utils.checkpoint import (
    CheckpointLoadError,
    extract_state_dict,
    load_checkpoint_file,
    to_vit_state_dict,
)

# Source grid of each kind of checkpoint (never inferred from the length):
# a 256x192 2-D pose model (16x12) and HAP pre-training at 256x128 (16x8).
SOURCE_GRIDS = {'pose2d': (16, 12), 'hap': (16, 8)}
# Per-dataset MLP experts of a multi-dataset (MoE) pose model: the
# release's timm name and hap_mm's HAPViTMoE name.
_EXPERT_KEY = re.compile(r'(^|\.)(mlp\.experts|ffn\.layers\.1\.experts)\.')


def load_mesh_backbone(backbone: torch.nn.Module,
                       path: str,
                       source: str = 'pose2d',
                       src_grid: Optional[Sequence[int]] = None,
                       unsafe_load: bool = False) -> Tuple[list, list]:
    """Load a ViT checkpoint into the mesh model's ``HAPViT`` (no CLS).

    ``source='pose2d'`` (the release, section 5.2): a hap_mm 2-D pose
    checkpoint (mmpose state dict; the ``backbone.*`` tensors), experts of a
    multi-dataset model (``experts``) dropped, the final norm (``ln1``)
    loaded. ``source='hap'``: a HAP checkpoint, converted
    (``tools/model_converters/hap_to_backbone.py``) or the release's own
    (timm names), its final norm loaded into ``ln1``.

    The position embedding is resized bicubically from ``src_grid``
    (default 16x12 for 'pose2d', 16x8 for 'hap') to the model's grid. A CLS
    slot in front (HAP's; all zeros) is added to every patch embedding, as
    ViTPose uses it.

    Args:
        backbone (HAPViT): Built with ``with_cls_token=False``.
        path (str): Checkpoint file.
        source (str): 'pose2d' or 'hap'.
        src_grid (tuple, optional): (rows, cols) of the checkpoint's
            position embedding.
        unsafe_load (bool): ``torch.load(weights_only=False)``; only for
            files from a trusted source.

    Returns:
        tuple: loaded keys, dropped source keys (experts).

    Raises:
        CheckpointLoadError: unreadable file, no ViT weights, an MoE fc2
            that was not split, a position embedding that does not fit
            ``src_grid``, or a missing / wrongly-shaped tensor.
    """
    if source not in SOURCE_GRIDS:
        raise ValueError(f"source must be 'pose2d' or 'hap', got {source!r}")
    src_grid = tuple(src_grid or SOURCE_GRIDS[source])
    raw = extract_state_dict(load_checkpoint_file(path, unsafe_load))
    dropped = [k for k in raw if _EXPERT_KEY.search(k)]
    raw = {k: v for k, v in raw.items() if k not in dropped}
    if any('.shared.' in k for k in raw):
        raise CheckpointLoadError(
            f'{path} is a multi-dataset (MoE) model whose fc2 is split into '
            'shared + experts: make a plain ViT checkpoint first with '
            'tools/model_converters/split_moe.py')
    state = to_vit_state_dict(raw, 'backbone.' if source == 'pose2d' else None)
    if not state:
        raise CheckpointLoadError(
            f'{path}: no ViT weights found (looked for backbone.* '
            f'{"" if source == "pose2d" else "and timm "}names)')
    state.pop('cls_token', None)
    pos = state.get('pos_embed')
    if pos is not None:
        num = src_grid[0] * src_grid[1]
        if pos.ndim != 3 or pos.shape[1] not in (num, num + 1):
            raise CheckpointLoadError(
                f'{path}: pos_embed has shape {tuple(pos.shape)}, which does '
                f'not fit the source grid {src_grid} ({num} patches, '
                'optionally + 1 CLS slot); pass src_grid')
        if pos.shape[1] == num + 1:
            pos = pos[:, 1:] + pos[:, :1]
        state['pos_embed'] = resize_pos_embed(
            pos, src_grid, tuple(backbone.patch_resolution), 'bicubic', 0)
    own = backbone.state_dict()
    for key, value in state.items():
        if key in own and own[key].shape != value.shape:
            raise CheckpointLoadError(
                f'{path}: {key} has shape {tuple(value.shape)} in the '
                f'checkpoint but {tuple(own[key].shape)} in the model')
    missing, unexpected = backbone.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise CheckpointLoadError(
            f'{path} does not fit the mesh backbone: missing {missing}, '
            f'unexpected {unexpected}')
    print_log(
        f'HAPMeshEstimator: loaded {len(state)} backbone tensors from {path} '
        f'({source}; pos_embed {src_grid} -> '
        f'{tuple(backbone.patch_resolution)}); dropped {len(dropped)} '
        'expert tensors',
        logger='current')
    return sorted(state), dropped
