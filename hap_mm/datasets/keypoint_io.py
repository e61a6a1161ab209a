"""Reading HAP keypoint files and list files without running pickled code.

The authors' release stores one ``.npy`` per image holding a pickled object
whose ``[0][0]['keypoints']`` is a (17, 3) array, and the CFS subset as a
pickled list of paths. ``np.load(allow_pickle=True)`` and ``pickle.load``
would execute whatever such a file asks for; these readers accept only the
few NumPy and builtin types those files are made of.
"""
import io
import math
import pickle
import re
from collections import OrderedDict
from typing import Any, Dict, List, Optional, Tuple

import numpy as np

from .coco_keypoints import NUM_KEYPOINTS

# NumPy's array and scalar constructors run unchecked C code on the pickled
# shape and data (a changed shape byte in an object array reads past its
# list: a segfault), so they are replaced by stand-ins that only record
# their arguments; :func:`_materialize` then builds the arrays after checking
# shape, dtype and payload against each other.
_RECONSTRUCT = {('numpy.core.multiarray', '_reconstruct'),
                ('numpy._core.multiarray', '_reconstruct')}
_SCALAR = {('numpy.core.multiarray', 'scalar'),
           ('numpy._core.multiarray', 'scalar')}
_CONTAINERS = {
    ('builtins', 'dict'): dict,
    ('builtins', 'list'): list,
    ('builtins', 'tuple'): tuple,
    ('collections', 'OrderedDict'): OrderedDict,
}
# plain dtypes a keypoint or list file may hold (bool, ints, floats,
# complex, object references, fixed-length strings)
_DTYPE_SPEC = re.compile(r'(b1|[iu][1248]|f[248]|c(8|16)|O8|[US]\d+)')
_MAX_DEPTH = 64


class UnsafePickleError(pickle.UnpicklingError):
    """A pickle referenced something other than arrays and containers."""


class _NDArrayType:
    """Stands for ``numpy.ndarray`` as the first argument of
    ``_reconstruct``; calling it is refused."""


class _DTypeStub:
    """Arguments and state of a pickled ``numpy.dtype``."""

    def __init__(self, spec, align=False, copy=True) -> None:
        self.spec, self.state = spec, None

    def __setstate__(self, state) -> None:
        self.state = state

    def resolve(self) -> np.dtype:
        spec = self.spec
        if not isinstance(spec, str) or not _DTYPE_SPEC.fullmatch(spec):
            raise ValueError(f'dtype {spec!r} is not allowed in a keypoint '
                             'or list file')
        order = '|'
        if self.state is not None:
            state = self.state
            if (not isinstance(state, tuple) or len(state) < 5
                    or state[1] not in ('<', '>', '|', '=')
                    or any(s is not None for s in state[2:5])):
                raise ValueError(f'malformed state of dtype {spec!r}')
            order = state[1]
            if spec[0] in 'US' and len(state) > 5 and isinstance(
                    state[5], int) and state[5] > 0:
                # flexible types: the state holds the item size in bytes
                spec = spec[0] + str(state[5] // (4 if spec[0] == 'U' else 1))
        return np.dtype(spec if order in '|=' else order + spec)


class _ArrayStub:
    """Arguments and state of a pickled ``numpy.ndarray``."""

    def __init__(self, cls, shape, typecode) -> None:
        if cls is not _NDArrayType:
            raise ValueError('only plain numpy arrays are allowed')
        self.state = None

    def __setstate__(self, state) -> None:
        self.state = state


class _ScalarStub:
    """Arguments of a pickled NumPy scalar."""

    def __init__(self, dtype, data=None) -> None:
        self.dtype, self.data = dtype, data


def _shape_size(shape) -> int:
    if not isinstance(shape, tuple) or not all(
            isinstance(d, int) and not isinstance(d, bool) and d >= 0
            for d in shape):
        raise ValueError(f'malformed array shape {shape!r}')
    return math.prod(shape)


class _Materializer:
    """Stand-ins -> checked NumPy objects; containers are rebuilt, shared
    and cyclic references kept (each object is converted once)."""

    def __init__(self) -> None:
        self.memo: Dict[int, Any] = {}

    def __call__(self, obj: Any, depth: int = 0) -> Any:
        if isinstance(obj, (str, bytes, int, float, complex, bool,
                            type(None))):
            return obj
        if id(obj) in self.memo:
            return self.memo[id(obj)]
        if depth > _MAX_DEPTH:
            raise ValueError(f'objects nested deeper than {_MAX_DEPTH}')
        if isinstance(obj, list):
            out = self.memo[id(obj)] = []
            out.extend(self(v, depth + 1) for v in obj)
        elif isinstance(obj, dict):
            out = self.memo[id(obj)] = type(obj)()
            for k, v in obj.items():
                out[self(k, depth + 1)] = self(v, depth + 1)
        elif isinstance(obj, tuple):
            out = self.memo[id(obj)] = tuple(self(v, depth + 1) for v in obj)
        elif isinstance(obj, _DTypeStub):
            out = self.memo[id(obj)] = obj.resolve()
        elif isinstance(obj, _ArrayStub):
            out = self.memo[id(obj)] = self._array(obj, depth)
        elif isinstance(obj, _ScalarStub):
            out = self.memo[id(obj)] = self._scalar(obj)
        else:
            raise ValueError(f'unexpected {type(obj).__name__} object')
        return out

    def _array(self, stub: _ArrayStub, depth: int) -> np.ndarray:
        state = stub.state
        if not isinstance(state, tuple) or len(state) != 5:
            raise ValueError('malformed pickled array (no state)')
        _, shape, dtype, fortran, raw = state
        if not isinstance(dtype, _DTypeStub):
            raise ValueError('malformed pickled array (no dtype)')
        dtype = self(dtype, depth + 1)
        size = _shape_size(shape)
        order = 'F' if fortran else 'C'
        if dtype.hasobject:
            if not isinstance(raw, list) or len(raw) != size:
                got = len(raw) if isinstance(raw, list) else type(raw).__name__
                raise ValueError(f'pickled object array of shape {shape} '
                                 f'holds {got} items, expected {size}')
            flat = np.empty(size, dtype=object)
            for i, item in enumerate(raw):
                flat[i] = self(item, depth + 1)
            return flat.reshape(shape, order=order)
        if not isinstance(raw, bytes) or len(raw) != size * dtype.itemsize:
            got = len(raw) if isinstance(raw, bytes) else type(raw).__name__
            raise ValueError(f'pickled array of shape {shape} and dtype '
                             f'{dtype} holds {got} bytes, expected '
                             f'{size * dtype.itemsize}')
        return np.frombuffer(raw, dtype).reshape(shape, order=order).copy()

    def _scalar(self, stub: _ScalarStub) -> Any:
        if not isinstance(stub.dtype, _DTypeStub):
            raise ValueError('malformed pickled scalar')
        dtype = stub.dtype.resolve()
        if dtype.hasobject or not isinstance(stub.data, bytes) or len(
                stub.data) != dtype.itemsize:
            raise ValueError(f'malformed pickled {dtype} scalar')
        return np.frombuffer(stub.data, dtype)[0]


def _latin1_bytes(text: str, encoding: str = 'latin1') -> bytes:
    """How pickle protocol 2 stores bytes: ``_codecs.encode(str, 'latin1')``."""
    if not isinstance(text, str) or encoding not in ('latin1', 'latin-1'):
        raise ValueError('malformed pickled bytes')
    return text.encode('latin1')


class _RestrictedUnpickler(pickle.Unpickler):

    def find_class(self, module: str, name: str) -> Any:
        key = (module, name)
        if key in _CONTAINERS:
            return _CONTAINERS[key]
        if key == ('_codecs', 'encode'):
            return _latin1_bytes
        if key in _RECONSTRUCT:
            return _ArrayStub
        if key in _SCALAR:
            return _ScalarStub
        if key == ('numpy', 'ndarray'):
            return _NDArrayType
        if key == ('numpy', 'dtype'):
            return _DTypeStub
        raise UnsafePickleError(
            f'refusing to unpickle {module}.{name}: keypoint and list files '
            'may only hold NumPy arrays, numbers, strings, lists and dicts')


def safe_unpickle(data: bytes) -> Any:
    """``pickle.loads`` restricted to arrays, numbers and containers.

    NumPy arrays are rebuilt only after their shape, dtype and data were
    checked against each other.

    Raises:
        UnsafePickleError: the pickle references other types.
        ValueError: a pickled array is inconsistent or malformed.
        pickle.UnpicklingError, EOFError: the bytes are not a pickle.
    """
    return _Materializer()(_RestrictedUnpickler(io.BytesIO(data)).load())


def safe_load_npy(data: bytes) -> Any:
    """Load ``.npy`` bytes without handing unchecked data to NumPy.

    The header's shape and dtype must match the payload: its exact byte
    count for plain arrays; for object arrays the restricted pickle
    (:func:`safe_unpickle`) must rebuild an object array of that shape.

    Raises:
        ValueError: not a ``.npy`` file, or header and payload disagree;
            the message says how.
        UnsafePickleError: an object array references other types.
    """
    f = io.BytesIO(data)
    version = np.lib.format.read_magic(f)
    if version == (1, 0):
        shape, fortran, dtype = np.lib.format.read_array_header_1_0(f)
    elif version == (2, 0):
        shape, fortran, dtype = np.lib.format.read_array_header_2_0(f)
    else:
        raise ValueError(f'unsupported .npy format version {version}')
    payload = data[f.tell():]
    size = _shape_size(tuple(shape))
    order = 'F' if fortran else 'C'
    if not dtype.hasobject:
        if len(payload) != size * dtype.itemsize:
            raise ValueError(
                f'header says shape {shape} of {dtype} '
                f'({size * dtype.itemsize} bytes), the file holds '
                f'{len(payload)} bytes of data')
        return np.frombuffer(payload, dtype).reshape(shape,
                                                     order=order).copy()
    obj = safe_unpickle(payload)
    if not isinstance(obj, np.ndarray) or obj.shape != tuple(shape):
        got = obj.shape if isinstance(obj, np.ndarray) else type(obj).__name__
        raise ValueError(f'header says an object array of shape {shape}, '
                         f'the pickled data holds {got}')
    return obj


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
