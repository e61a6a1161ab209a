from .cli import HelpFormatter
from .config import load_config

__all__ = ['HelpFormatter', 'load_config']
