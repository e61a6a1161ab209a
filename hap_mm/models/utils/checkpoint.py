"""Loading ViT weights safely, in any of the namings HAP users meet."""
import re
from typing import Dict, Optional

import torch

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

    Args:
        path (str): Checkpoint file.
        unsafe_load (bool): Allow arbitrary pickled objects. Only for files
            from a source you trust (legacy checkpoints that store objects).

    Raises:
        CheckpointLoadError: the file is missing, corrupt, or needs
            ``unsafe_load`` (the message says so).
    """
    try:
        return torch.load(path, map_location='cpu', weights_only=not unsafe_load)
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
