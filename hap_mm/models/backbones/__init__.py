from .hap_vit import HAPViT
from .hap_vit_for_lem import HAPViTForLEM

__all__ = ['HAPViT', 'HAPViTForLEM']
