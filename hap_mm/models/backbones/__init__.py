from .hap_vit import HAPViT
from .hap_vit_moe import HAPViTMoE

__all__ = ['HAPViT', 'HAPViTMoE']
