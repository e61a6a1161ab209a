from .data_issue_logger_hook import DataIssueLoggerHook
from .positive_ratio_hook import PositiveRatioHook

__all__ = ['DataIssueLoggerHook', 'PositiveRatioHook']
