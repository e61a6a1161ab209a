from .hooks import DataIssueLoggerHook
from .model_wrappers import HAPDistributedDataParallel
from .runner import HAPRunner

__all__ = ['DataIssueLoggerHook', 'HAPDistributedDataParallel', 'HAPRunner']
