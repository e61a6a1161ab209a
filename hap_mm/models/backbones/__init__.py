from .hap_vit import HAPViT

__all__ = ['HAPViT']
