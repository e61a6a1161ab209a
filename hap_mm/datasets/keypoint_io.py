"""Reading HAP keypoint files and list files without running pickled code.

The authors' release stores one ``.npy`` per image holding a pickled object
whose ``[0][0]['keypoints']`` is a (17, 3) array, and the CFS subset as a
pickled list of paths. ``np.load(allow_pickle=True)`` and ``pickle.load``
would execute whatever such a file asks for; these readers accept only the
few NumPy and builtin types those files are made of.
"""
import io
import pickle
from typing import Any, List, Optional, Tuple

import numpy as np

from .coco_keypoints import NUM_KEYPOINTS

# (module, name) pairs a keypoint/list pickle may reference: NumPy arrays,
# dtypes and scalars (under NumPy 1 and 2 module names) and plain containers.
_SAFE_GLOBALS = {
    ('numpy.core.multiarray', '_reconstruct'),
    ('numpy._core.multiarray', '_reconstruct'),
    ('numpy.core.multiarray', 'scalar'),
    ('numpy._core.multiarray', 'scalar'),
    ('numpy', 'ndarray'),
    ('numpy', 'dtype'),
    ('builtins', 'dict'),
    ('builtins', 'list'),
    ('builtins', 'tuple'),
    ('collections', 'OrderedDict'),
}


class UnsafePickleError(pickle.UnpicklingError):
    """A pickle referenced something other than arrays and containers."""


class _RestrictedUnpickler(pickle.Unpickler):

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _SAFE_GLOBALS:
            return super().find_class(module, name)
        raise UnsafePickleError(
            f'refusing to unpickle {module}.{name}: keypoint and list files '
            'may only hold NumPy arrays, numbers, strings, lists and dicts')


def safe_unpickle(data: bytes) -> Any:
    """``pickle.loads`` restricted to arrays, numbers and containers."""
    return _RestrictedUnpickler(io.BytesIO(data)).load()


def safe_load_npy(data: bytes) -> Any:
    """Load ``.npy`` bytes; object arrays go through the restricted pickle.

    Raises:
        ValueError: the bytes are not a ``.npy`` file.
        UnsafePickleError: an object array references other types.
    """
    f = io.BytesIO(data)
    version = np.lib.format.read_magic(f)
    if version == (1, 0):
        shape, fortran, dtype = np.lib.format.read_array_header_1_0(f)
    else:
        shape, fortran, dtype = np.lib.format.read_array_header_2_0(f)
    if not dtype.hasobject:
        f.seek(0)
        return np.lib.format.read_array(f, allow_pickle=False)
    return _RestrictedUnpickler(f).load()


def keypoints_from_object(obj: Any) -> np.ndarray:
    """The (17, 3) float32 array inside a release object or a plain array.

    Accepts the release's ``[[{'keypoints': (17, 3)}]]`` structure (as an
    object array or nested lists) and a plain (17, 3) numeric array.

    Raises:
        ValueError: the object has neither form or the wrong shape; the
            message says which.
    """
    if isinstance(obj, np.ndarray) and not obj.dtype.hasobject:
        arr = obj
    else:
        try:
            arr = obj[0][0]['keypoints']
        except (IndexError, KeyError, TypeError) as e:
            raise ValueError(
                "expected a (17, 3) array or [[{'keypoints': (17, 3)}]], got "
                f'{type(obj).__name__}') from e
    arr = np.asarray(arr, dtype=np.float32)
    if arr.shape != (NUM_KEYPOINTS, 3):
        raise ValueError(
            f'keypoints have shape {arr.shape}, expected ({NUM_KEYPOINTS}, 3)')
    return arr


def split_keypoints(
        arr: np.ndarray) -> Tuple[np.ndarray, np.ndarray, Optional[str]]:
    """(17, 3) x, y, score -> (1, 17, 2) coords, (1, 17) scores, problem.

    Non-finite rows get score 0; the problem string says what was found
    (``None`` when the keypoints are fine).
    """
    finite = np.isfinite(arr).all(-1)
    scores = np.where(finite, arr[:, 2], 0).astype(np.float32)
    coords = np.where(finite[:, None], arr[:, :2], 0).astype(np.float32)
    problem = None
    if not finite.all():
        problem = f'{int((~finite).sum())} keypoints with NaN/inf values'
    elif not (scores > 0).any():
        problem = 'every keypoint score is zero'
    return coords[None], scores[None], problem


def load_path_list(data: bytes) -> List[str]:
    """Paths from a pickled list (the release's ``CFS_list.pkl``)."""
    obj = safe_unpickle(data)
    if isinstance(obj, np.ndarray):
        obj = obj.tolist()
    if not isinstance(obj, (list, tuple)) or not all(
            isinstance(p, str) for p in obj):
        raise ValueError('expected a pickled list of relative image paths')
    return list(obj)
