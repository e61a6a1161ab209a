"""Per-process random state of the mesh transforms."""
import os
from typing import Optional

import numpy as np

from .mesh_utils import worker_rng


class MeshRandomState:
    """Mixin: ``self.rng``, a NumPy generator created lazily in each process
    (data-loader workers fork the transform, so a generator made in
    ``__init__`` would give every worker the same stream).

    Args:
        seed (int, optional): Fixes the stream (tests); None (training)
            takes it from NumPy's global state, which mmengine seeds per
            worker. See :func:`worker_rng`.
    """

    def _init_random(self, seed: Optional[int]) -> None:
        self.seed = seed
        self._rng = None
        self._rng_pid = None

    @property
    def rng(self) -> np.random.Generator:
        if self._rng is None or self._rng_pid != os.getpid():
            self._rng = worker_rng(self.seed)
            self._rng_pid = os.getpid()
        return self._rng
