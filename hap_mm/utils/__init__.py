from .cli import HelpFormatter
from .config import load_config
from .device import CUDAUnavailableError, check_cuda_usable

__all__ = ['HelpFormatter', 'load_config', 'check_cuda_usable',
           'CUDAUnavailableError']
