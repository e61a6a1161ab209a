from .hap import HAP

__all__ = ['HAP']
