from .checkpoint import (
    CheckpointLoadError,
    checkpoint_meta,
    describe_load_error,
    extract_state_dict,
    load_checkpoint_file,
    load_checkpoint_mapped,
    to_vit_state_dict,
)
from .hap_data_preprocessor import HAPDataPreprocessor
from .pos_embed import rect_sincos_pos_embed

__all__ = [
    'CheckpointLoadError', 'checkpoint_meta', 'describe_load_error',
    'extract_state_dict', 'load_checkpoint_file',
    'load_checkpoint_mapped',
    'to_vit_state_dict', 'rect_sincos_pos_embed', 'HAPDataPreprocessor'
]
