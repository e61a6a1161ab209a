from .hap_runner import CHECKPOINT_SAFE_GLOBALS, HAPRunner

__all__ = ['HAPRunner', 'CHECKPOINT_SAFE_GLOBALS']
