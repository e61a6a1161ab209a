from .data_issue_logger_hook import DataIssueLoggerHook
from .hap_checkpoint_hook import HAPCheckpointHook
from .non_finite_loss_hook import NonFiniteLossError, NonFiniteLossHook
from .positive_ratio_hook import PositiveRatioHook

__all__ = [
    'DataIssueLoggerHook', 'HAPCheckpointHook', 'NonFiniteLossError',
    'NonFiniteLossHook', 'PositiveRatioHook'
]
