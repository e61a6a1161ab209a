from .hap_vit import HAPViT
from .hap_vit_for_lem import HAPViTForLEM
from .hap_vit_moe import HAPViTMoE

__all__ = ['HAPViT', 'HAPViTForLEM', 'HAPViTMoE']
