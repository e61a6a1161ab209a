"""Loading ViT weights safely, in any of the namings HAP users meet."""
import os
import pickle
import re
import zipfile
from typing import Dict, Optional

import numpy as np
import torch
from mmengine.logging import HistoryBuffer

try:  # NumPy 2 moved the pickling helpers
    from numpy._core import multiarray as _np_multiarray
except ImportError:  # NumPy 1.x
    from numpy.core import multiarray as _np_multiarray


# HistoryBuffer's built-in statistics methods.
_HISTORY_BUFFER_METHODS = ('min', 'max', 'mean', 'current')


def history_buffer_attribute(obj, name: str):
    """The only ``getattr`` an mmengine checkpoint needs, and no other.

    ``HistoryBuffer`` pickles its statistics methods (``min``, ``mean``,
    ...) as ``getattr(HistoryBuffer, name)``. A general ``getattr`` would let
    a crafted file reach any method of any allowed object, so this stand-in
    answers only those lookups.
    """
    if obj is HistoryBuffer and name in _HISTORY_BUFFER_METHODS:
        return getattr(obj, name)
    raise pickle.UnpicklingError(f'refusing getattr({obj!r}, {name!r})')


# What mmengine 0.10.7 puts in a checkpoint besides tensors: the message
# hub's HistoryBuffers (NumPy arrays and scalars inside).
CHECKPOINT_SAFE_GLOBALS = [
    HistoryBuffer,
    np.ndarray,
    np.dtype,
    _np_multiarray._reconstruct,
    _np_multiarray.scalar,
    (history_buffer_attribute, 'builtins.getattr'),
] + [type(np.dtype(t)) for t in ('f2', 'f4', 'f8', 'i4', 'i8', 'u1', 'b1')]

# timm / MAE / HAP-release ViT names -> mmpretrain VisionTransformer names.
_TIMM_RENAMES = (
    (r'^patch_embed\.proj\.', 'patch_embed.projection.'),
    (r'^blocks\.(\d+)\.norm1\.', r'layers.\1.ln1.'),
    (r'^blocks\.(\d+)\.norm2\.', r'layers.\1.ln2.'),
    (r'^blocks\.(\d+)\.attn\.', r'layers.\1.attn.'),
    (r'^blocks\.(\d+)\.mlp\.fc1\.', r'layers.\1.ffn.layers.0.0.'),
    (r'^blocks\.(\d+)\.mlp\.fc2\.', r'layers.\1.ffn.layers.1.'),
    (r'^norm\.', 'ln1.'),
)
_ENCODER_KEYS = re.compile(
    r'^(cls_token|pos_embed|patch_embed\.|layers\.|ln1\.|pre_norm\.)')


class CheckpointLoadError(RuntimeError):
    """A checkpoint could not be read or does not fit the model."""


def _zip_without_directory(path: str) -> bool:
    """A zip file (what torch.save writes) whose end, holding the zip
    directory, is missing: a truncated checkpoint."""
    try:
        with open(path, 'rb') as f:
            head = f.read(4)
        return head == b'PK\x03\x04' and not zipfile.is_zipfile(path)
    except OSError:
        return False


def describe_load_error(path: str, error: BaseException) -> str:
    """One line saying why ``torch.load`` could not read ``path``.

    An empty file, a truncated one (its zip directory, at the end, is
    missing, or the pickle ends early), one needing ``unsafe_load``, or else
    the first line of the loader's own message.
    """
    text = str(error).strip()
    first = text.splitlines()[0] if text else type(error).__name__
    try:
        size = os.path.getsize(path)
    except OSError:
        size = None
    if size == 0:
        return f'{path} is empty (0 bytes)'
    if _zip_without_directory(path) or isinstance(error, EOFError) or any(
            s in text for s in ('PytorchStreamReader', 'central directory',
                                'Ran out of input', 'unexpected EOF')):
        return (f'{path} is truncated or not a PyTorch checkpoint '
                f'({size} bytes; {first.split(". ")[0]})')
    if 'weights_only' in text:
        return (f'{path} holds pickled objects other than tensors, so it '
                'was not loaded with weights_only=True. If you trust its '
                'source, pass unsafe_load=True (--unsafe-load for the tools)')
    return f'cannot read checkpoint {path}: {first}'


def load_checkpoint_file(path: str, unsafe_load: bool = False) -> dict:
    """``torch.load`` on CPU with ``weights_only=True`` unless opted out.

    mmengine's own checkpoint objects (:data:`CHECKPOINT_SAFE_GLOBALS`) are
    allowed, so hap_mm training checkpoints load; anything else is refused.

    Args:
        path (str): Checkpoint file.
        unsafe_load (bool): Allow arbitrary pickled objects. Only for files
            from a source you trust (legacy checkpoints that store objects).

    Raises:
        CheckpointLoadError: the file is missing, empty, truncated, corrupt,
            or needs ``unsafe_load`` (one line naming the file and why).
    """
    try:
        if unsafe_load:
            return torch.load(path, map_location='cpu', weights_only=False)
        with torch.serialization.safe_globals(CHECKPOINT_SAFE_GLOBALS):
            return torch.load(path, map_location='cpu', weights_only=True)
    except FileNotFoundError as e:
        raise CheckpointLoadError(f'checkpoint {path} not found') from e
    except IsADirectoryError as e:
        raise CheckpointLoadError(f'{path} is a directory') from e
    except Exception as e:
        raise CheckpointLoadError(describe_load_error(path, e)) from e


def load_checkpoint_mapped(path: str):
    """``torch.load(weights_only=True)`` of ``path`` with its tensors
    memory-mapped (zip files, what torch has written since 1.6), not read:
    a cheap check that the file is complete, and its non-tensor content.

    Raises:
        CheckpointLoadError: the file is empty, truncated or unreadable
            (one line naming it and why).
    """
    try:
        with torch.serialization.safe_globals(CHECKPOINT_SAFE_GLOBALS):
            return torch.load(
                path,
                map_location='cpu',
                weights_only=True,
                mmap=zipfile.is_zipfile(path))
    except Exception as e:
        raise CheckpointLoadError(describe_load_error(path, e)) from e


def checkpoint_meta(path: str) -> dict:
    """``meta`` of an mmengine checkpoint (``epoch``, ``iter``, ...),
    without reading its tensors (:func:`load_checkpoint_mapped`).

    Raises:
        CheckpointLoadError: the file is empty, truncated, unreadable or
            has no ``meta`` dict (one line naming the file and why).
    """
    checkpoint = load_checkpoint_mapped(path)
    meta = checkpoint.get('meta') if isinstance(checkpoint, dict) else None
    if not isinstance(meta, dict):
        raise CheckpointLoadError(
            f'{path} has no meta (epoch / iter): not an mmengine checkpoint')
    return meta


def extract_state_dict(checkpoint: dict) -> Dict[str, torch.Tensor]:
    """The tensor dict inside ``state_dict`` / ``model`` / ``module``."""
    for key in ('state_dict', 'model', 'module'):
        if isinstance(checkpoint, dict) and isinstance(
                checkpoint.get(key), dict):
            return checkpoint[key]
    return checkpoint


def to_vit_state_dict(state_dict: Dict[str, torch.Tensor],
                      prefix: Optional[str] = None) -> Dict[str, torch.Tensor]:
    """Encoder weights in mmpretrain ``VisionTransformer`` naming.

    Accepts mmpretrain/hap_mm names (with ``backbone.`` or another
    ``prefix``) and timm names (MAE's and the HAP release's). Decoder,
    mask token, heads and anything else that is not encoder is dropped.

    Args:
        state_dict (dict): Tensors of a checkpoint.
        prefix (str, optional): Strip this prefix first; ``None`` strips
            ``backbone.`` when present.
    """
    if prefix is None:
        prefix = 'backbone.' if any(
            k.startswith('backbone.') for k in state_dict) else ''
    out = {}
    for key, value in state_dict.items():
        if not key.startswith(prefix):
            continue
        key = key[len(prefix):]
        for pattern, repl in _TIMM_RENAMES:
            key = re.sub(pattern, repl, key)
        if _ENCODER_KEYS.match(key):
            out[key] = value
    return out
