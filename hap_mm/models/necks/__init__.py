from .hap_pretrain_decoder import HAPPretrainDecoder

__all__ = ['HAPPretrainDecoder']
