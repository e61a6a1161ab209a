from .hooks import DataIssueLoggerHook
from .model_wrappers import HAPDistributedDataParallel
from .runner import HAPRunner
from .schedulers import TimmCosineLR

__all__ = [
    'DataIssueLoggerHook', 'HAPDistributedDataParallel', 'HAPRunner',
    'TimmCosineLR'
]
