"""Loading ViT weights safely, in any of the namings HAP users meet."""
import pickle
import re
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


def load_checkpoint_file(path: str, unsafe_load: bool = False) -> dict:
    """``torch.load`` on CPU with ``weights_only=True`` unless opted out.

    mmengine's own checkpoint objects (:data:`CHECKPOINT_SAFE_GLOBALS`) are
    allowed, so hap_mm training checkpoints load; anything else is refused.

    Args:
        path (str): Checkpoint file.
        unsafe_load (bool): Allow arbitrary pickled objects. Only for files
            from a source you trust (legacy checkpoints that store objects).

    Raises:
        CheckpointLoadError: the file is missing, corrupt, or needs
            ``unsafe_load`` (the message says so).
    """
    try:
        if unsafe_load:
            return torch.load(path, map_location='cpu', weights_only=False)
        with torch.serialization.safe_globals(CHECKPOINT_SAFE_GLOBALS):
            return torch.load(path, map_location='cpu', weights_only=True)
    except FileNotFoundError as e:
        raise CheckpointLoadError(f'checkpoint {path} not found') from e
    except Exception as e:
        if not unsafe_load and 'weights_only' in str(e):
            raise CheckpointLoadError(
                f'{path} holds pickled objects other than tensors, so it was '
                'not loaded with weights_only=True. If you trust its source, '
                'pass unsafe_load=True (--unsafe-load for the tools).') from e
        raise CheckpointLoadError(f'cannot read checkpoint {path}: {e}') from e


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
