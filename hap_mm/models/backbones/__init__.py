from .bert_bilstm_text_encoder import BertBiLSTMTextEncoder
from .hap_vit import HAPViT
from .hap_vit_for_lem import HAPViTForLEM
from .hap_vit_moe import HAPViTMoE
from .vocab_bilstm_text_encoder import VocabBiLSTMTextEncoder

__all__ = [
    'HAPViT', 'HAPViTForLEM', 'HAPViTMoE', 'BertBiLSTMTextEncoder',
    'VocabBiLSTMTextEncoder'
]
