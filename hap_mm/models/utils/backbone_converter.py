"""Turn HAP / MAE checkpoints into ``backbone.*`` weights for any host.

The output, ``{'state_dict': {'backbone.<key>': tensor}, 'meta': {...}}`` in
mmpretrain ``VisionTransformer`` / ``HAPViT`` names, is what stock mmpose,
mmseg, mmdet and mmpretrain configs load with
``init_cfg=dict(type='Pretrained', checkpoint=DST, prefix='backbone.')``.
"""
import math
import os
import os.path as osp
import re
import tempfile
import time
from collections import OrderedDict
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

import torch
from mmpretrain.models.utils import resize_pos_embed

from ...version import __version__
from .checkpoint import (
    _ENCODER_KEYS,
    _TIMM_RENAMES,
    CheckpointLoadError,
    extract_state_dict,
    load_checkpoint_file,
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


def _source_format(source: dict) -> str:
    if any(k.startswith('backbone.') for k in source):
        return 'mmpretrain (backbone.*: hap_mm / mmpretrain MAE)'
    if any(k.startswith('blocks.') for k in source):
        return 'timm (HAP release / MAE)'
    return 'mmpretrain ViT'


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
        dropped source keys, ``meta`` (source format, ``src_grid`` and
        ``grid`` of the position embedding, ``img_size``).
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
    meta = {'src_format': _source_format(source), 'img_size': None}
    pos = out.get('backbone.pos_embed')
    if pos is not None:
        src_grid = (src_img_size[0] // patch_size,
                    src_img_size[1] // patch_size)
        grid = _grid(pos.shape[1] - 1, src_grid)
        meta['src_grid'] = meta['grid'] = list(grid)
        if img_size is not None:
            if img_size[0] % patch_size or img_size[1] % patch_size:
                raise CheckpointLoadError(
                    f'img_size {tuple(img_size)} is not a multiple of '
                    f'patch_size {patch_size}')
            dst = (img_size[0] // patch_size, img_size[1] // patch_size)
            out['backbone.pos_embed'] = resize_pos_embed(
                pos, grid, dst, 'bicubic', num_extra_tokens=1)
            meta['grid'] = list(dst)
            meta['img_size'] = list(img_size)
    return out, kept, dropped, meta


def summarize_keys(keys: Iterable[str]) -> str:
    """'cls_token, layers.0-11.* (144), norm.* (2)': names grouped by their
    first part, numbered blocks merged into one range."""
    groups: 'OrderedDict[str, List[str]]' = OrderedDict()
    for key in keys:
        parts = key.split('.')
        if len(parts) > 2 and parts[1].isdigit():
            head = f'{parts[0]}.#'
        elif len(parts) > 1:
            head = parts[0]
        else:
            head = key
        groups.setdefault(head, []).append(key)
    words = []
    for head, members in groups.items():
        if head.endswith('.#'):
            ids = sorted({int(m.split('.')[1]) for m in members})
            span = str(ids[0]) if len(ids) == 1 else f'{ids[0]}-{ids[-1]}'
            words.append(f'{head[:-2]}.{span}.* ({len(members)})')
        elif members == [head]:
            words.append(head)
        else:
            words.append(f'{head}.* ({len(members)})')
    return ', '.join(words)


def check_destination(src: str, dst: str, force: bool = False) -> None:
    """Refuse a destination that would lose data or cannot be written.

    Raises:
        ValueError: ``dst`` is ``src`` (by any path: relative, ``..``,
            symlink), even with ``force``.
        IsADirectoryError: ``dst`` is a directory.
        FileExistsError: ``dst`` exists and ``force`` is False.
    """
    if osp.exists(src) and osp.exists(dst) and osp.samefile(src, dst):
        raise ValueError(
            f'{dst} is the same file as the source {src}; converting in '
            'place would replace the checkpoint with backbone weights only '
            '(refused even with --force); write to another file')
    if osp.isdir(dst):
        raise IsADirectoryError(
            f'{dst} is a directory; give the file name to write the backbone '
            'weights to')
    if osp.exists(dst) and not force:
        raise FileExistsError(f'{dst} exists; pass --force to overwrite it')


def check_finite(state_dict: Dict[str, torch.Tensor], src: str,
                 names: Sequence[str]) -> None:
    """Raise if any floating-point tensor holds NaN or inf.

    Args:
        state_dict (dict): Converted tensors.
        src (str): Checkpoint they came from (for the message).
        names (list[str]): Source key of each tensor, in order.

    Raises:
        CheckpointLoadError: naming how many tensors and the first keys.
    """
    bad = [
        name for name, value in zip(names, state_dict.values())
        if value.is_floating_point() and not torch.isfinite(value).all()
    ]
    if bad:
        shown = ', '.join(bad[:5]) + (', ...' if len(bad) > 5 else '')
        raise CheckpointLoadError(
            f'{src} has non-finite values (NaN / inf) in {len(bad)} of '
            f'{len(state_dict)} encoder tensors ({shown}): the run diverged. '
            'Convert an earlier checkpoint, or pass --allow-nonfinite '
            '(allow_nonfinite=True) to convert it anyway')


def save_atomically(obj: dict, dst: str, force: bool = False) -> None:
    """``torch.save`` to a temporary file beside ``dst``, then rename; the
    file gets the usual mode of new files (``0666`` less the umask).

    Raises:
        FileExistsError: ``dst`` exists and ``force`` is False.
        IsADirectoryError: ``dst`` is a directory.
        OSError: the write failed (``dst`` is left as it was, the
            temporary file removed); the message names ``dst``.
    """
    if osp.isdir(dst):
        raise IsADirectoryError(f'{dst} is a directory')
    if osp.exists(dst) and not force:
        raise FileExistsError(f'{dst} exists; pass --force to overwrite it')
    folder = osp.dirname(osp.abspath(dst))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, suffix='.tmp')
    os.close(fd)
    # mkstemp makes the file 0600; give it the mode open() would give a new
    # file (0666 less the umask, usually 0644)
    umask = os.umask(0o022)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)
    try:
        torch.save(obj, tmp)
        os.replace(tmp, dst)
    except OSError as e:
        error = OSError(f'cannot write {dst}: {e}')
        error.errno = e.errno
        raise error from e
    finally:
        if osp.exists(tmp):
            os.remove(tmp)


def convert_checkpoint_file(src: str,
                            dst: str,
                            img_size: Optional[Sequence[int]] = None,
                            force: bool = False,
                            unsafe_load: bool = False,
                            patch_size: int = 16,
                            src_img_size: Sequence[int] = (256, 128),
                            allow_nonfinite: bool = False) -> dict:
    """Read ``src``, convert it (:func:`convert_to_backbone`) and write
    ``{'state_dict', 'meta'}`` to ``dst`` atomically.

    ``src`` is loaded with ``torch.load(weights_only=True)`` unless
    ``unsafe_load``; ``dst`` is never overwritten unless ``force``, never
    ``src`` itself, and a failed write leaves it untouched. Weights with NaN
    or inf are refused unless ``allow_nonfinite``.

    Returns:
        dict: ``kept`` / ``dropped`` source keys and the ``meta`` written.

    Raises:
        CheckpointLoadError: unreadable ``src`` (empty, truncated, not a
            dict of tensors), no encoder weights, non-finite weights, bad
            ``img_size``.
        ValueError: ``dst`` is ``src``.
        IsADirectoryError: ``dst`` is a directory.
        FileExistsError: ``dst`` exists and ``force`` is False.
    """
    check_destination(src, dst, force)  # before the (slow) load
    checkpoint = load_checkpoint_file(src, unsafe_load)
    if not isinstance(checkpoint, dict):
        raise CheckpointLoadError(
            f'{src} holds a {type(checkpoint).__name__}, not a checkpoint '
            '(a dict of named tensors)')
    state_dict, kept, dropped, meta = convert_to_backbone(
        checkpoint, img_size, patch_size, src_img_size)
    if not allow_nonfinite:
        check_finite(state_dict, src, kept)
    meta.update(
        source=str(src),
        hap_mm_version=__version__,
        time=time.strftime('%Y-%m-%d %H:%M:%S'))
    save_atomically({'state_dict': state_dict, 'meta': meta}, dst, force)
    return dict(kept=kept, dropped=dropped, meta=meta)
