"""mmengine Runner that resumes its own checkpoints with weights_only=True."""
import pickle

import numpy as np
import torch
from mmengine.logging import HistoryBuffer
from mmengine.runner import Runner
from mmpretrain.registry import RUNNERS

try:  # NumPy 2 moved the pickling helpers
    from numpy._core import multiarray as _np_multiarray
except ImportError:  # NumPy 1.x
    from numpy.core import multiarray as _np_multiarray


# Filled lazily by HistoryBuffer instances; these are its built-in methods.
_HISTORY_BUFFER_METHODS = ('min', 'max', 'mean', 'current')


def history_buffer_attribute(obj, name: str):
    """The only ``getattr`` an mmengine checkpoint needs, and no other.

    ``HistoryBuffer`` pickles its statistics methods (``min``, ``mean``,
    ...) as ``getattr(HistoryBuffer, name)``. A general ``getattr`` would let
    a crafted file reach any method of any allowed object, so this stand-in
    answers only those lookups.
    """
    if obj is HistoryBuffer and name in _HISTORY_BUFFER_METHODS:
        return getattr(obj, name)
    raise pickle.UnpicklingError(f'refusing getattr({obj!r}, {name!r})')


# What mmengine 0.10.7 puts in a checkpoint besides tensors: the message
# hub's HistoryBuffers (NumPy arrays and scalars inside).
CHECKPOINT_SAFE_GLOBALS = [
    HistoryBuffer,
    np.ndarray,
    np.dtype,
    _np_multiarray._reconstruct,
    _np_multiarray.scalar,
    (history_buffer_attribute, 'builtins.getattr'),
] + [type(np.dtype(t)) for t in ('f2', 'f4', 'f8', 'i4', 'i8', 'u1', 'b1')]


@RUNNERS.register_module()
class HAPRunner(Runner):
    """``Runner`` whose checkpoint loading (``--resume``, ``load_from``)
    keeps ``torch.load``'s ``weights_only=True`` safety.

    torch >= 2.6 loads with ``weights_only=True`` by default, which rejects
    the objects mmengine stores in its own checkpoints, so a plain Runner
    cannot resume. Instead of turning the check off, loading runs with
    :data:`CHECKPOINT_SAFE_GLOBALS` allowed: the few NumPy and mmengine
    types those checkpoints contain. Anything else in a file is refused.
    """

    def load_checkpoint(self, filename: str, *args, **kwargs):
        with torch.serialization.safe_globals(CHECKPOINT_SAFE_GLOBALS):
            return super().load_checkpoint(filename, *args, **kwargs)
