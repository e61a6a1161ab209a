"""Refuse to fall back to the CPU on a machine whose GPUs CUDA cannot use."""
import glob
import os
import re
import subprocess
from typing import Optional, Tuple

import torch

# device files the NVIDIA driver creates, one per GPU
NVIDIA_DEVICE_GLOB = '/dev/nvidia[0-9]*'


class CUDAUnavailableError(RuntimeError):
    """NVIDIA GPUs are present but ``torch.cuda.is_available()`` is False."""


def _nvidia_smi() -> Optional[str]:
    """``nvidia-smi``'s output, or None when it is missing or fails."""
    try:
        out = subprocess.run(['nvidia-smi'], capture_output=True, text=True,
                             timeout=30)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout if out.returncode == 0 else None


def driver_versions() -> Tuple[Optional[str], Optional[str]]:
    """The NVIDIA driver's version and the newest CUDA version it supports,
    from ``nvidia-smi`` (or ``/proc/driver/nvidia/version`` for the driver
    alone); None where unknown."""
    smi = _nvidia_smi() or ''
    driver = re.search(r'Driver Version:\s*(\S+)', smi)
    cuda = re.search(r'CUDA Version:\s*(\S+)', smi)
    if driver is None:
        try:
            with open('/proc/driver/nvidia/version') as f:
                driver = re.search(r'Kernel Module\s+(\S+)', f.read())
        except OSError:
            pass
    return (driver.group(1) if driver else None,
            cuda.group(1) if cuda else None)


def nvidia_devices() -> Optional[str]:
    """What shows that this machine has NVIDIA GPUs (device files or a
    working ``nvidia-smi``), or None."""
    found = sorted(glob.glob(NVIDIA_DEVICE_GLOB))
    if found:
        return ', '.join(found[:4]) + (' ...' if len(found) > 4 else '')
    if _nvidia_smi() is not None:
        return 'nvidia-smi'
    return None


def check_cuda_usable() -> None:
    """Stop at once where NVIDIA GPUs exist but CUDA cannot start.

    A driver older than the one torch's CUDA build needs (the pinned torch
    is a CUDA 13 build) or a CPU-only torch on a GPU node makes
    ``torch.cuda.is_available()`` False; training would then go on
    silently on the CPU (gloo), slowly, or die later with an unrelated
    error. Machines without NVIDIA devices, and runs that hide the GPUs on
    purpose (``CUDA_VISIBLE_DEVICES`` empty or ``-1``), pass: the CPU route
    stays.

    Raises:
        CUDAUnavailableError: names torch's CUDA version and the driver's.
    """
    if torch.cuda.is_available():
        return
    if os.environ.get('CUDA_VISIBLE_DEVICES', None) in ('', '-1'):
        return
    evidence = nvidia_devices()
    if evidence is None:
        return
    driver, driver_cuda = driver_versions()
    built = (f'torch {torch.__version__} is built for CUDA '
             f'{torch.version.cuda}' if torch.version.cuda else
             f'torch {torch.__version__} is a CPU-only build')
    raise CUDAUnavailableError(
        f'NVIDIA GPUs are present ({evidence}) but CUDA cannot start: '
        f'{built}; the NVIDIA driver is {driver or "unknown"} (supports '
        f'CUDA up to {driver_cuda or "unknown"}). Install a torch build '
        'for the driver\'s CUDA version or a newer driver (see '
        'docs/get_started.md, "GPU machines"). To run on the CPU anyway, '
        'hide the GPUs: CUDA_VISIBLE_DEVICES=""')
