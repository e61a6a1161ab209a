from .hooks import (
    DataIssueLoggerHook,
    HAPCheckpointHook,
    NonFiniteLossError,
    NonFiniteLossHook,
)
from .model_wrappers import HAPDistributedDataParallel
from .runner import HAPRunner
from .schedulers import TimmCosineLR

__all__ = [
    'DataIssueLoggerHook', 'HAPCheckpointHook', 'HAPDistributedDataParallel',
    'HAPRunner', 'NonFiniteLossError', 'NonFiniteLossHook', 'TimmCosineLR'
]
