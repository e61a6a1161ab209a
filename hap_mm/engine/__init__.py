from .hooks import DataIssueLoggerHook
from .model_wrappers import HAPDistributedDataParallel

__all__ = ['DataIssueLoggerHook', 'HAPDistributedDataParallel']
