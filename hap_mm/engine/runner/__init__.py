from .hap_runner import HAPRunner

__all__ = ['HAPRunner']
