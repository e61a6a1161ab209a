from .config import load_config
from .device import CUDAUnavailableError, check_cuda_usable

__all__ = ['load_config', 'check_cuda_usable', 'CUDAUnavailableError']
