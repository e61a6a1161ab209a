from .data_issue_logger_hook import DataIssueLoggerHook

__all__ = ['DataIssueLoggerHook']
