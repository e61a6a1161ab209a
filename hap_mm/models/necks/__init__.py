from .hap_pretrain_decoder import HAPPretrainDecoder
from .locality_enhanced_module import LocalityEnhancedModule

__all__ = ['HAPPretrainDecoder', 'LocalityEnhancedModule']
