from .hap_pretrain_head import HAPPretrainHead
from .reid_head import ReIDHead

__all__ = ['HAPPretrainHead', 'ReIDHead']
