from .checkpoint import (
    CheckpointLoadError,
    extract_state_dict,
    load_checkpoint_file,
    to_vit_state_dict,
)
from .hap_data_preprocessor import HAPDataPreprocessor
from .pos_embed import rect_sincos_pos_embed

__all__ = [
    'CheckpointLoadError', 'extract_state_dict', 'load_checkpoint_file',
    'to_vit_state_dict', 'rect_sincos_pos_embed', 'HAPDataPreprocessor'
]
