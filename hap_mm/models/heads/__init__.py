from .hap_pretrain_head import HAPPretrainHead

__all__ = ['HAPPretrainHead']
