"""PETA / RAP in the widely used ``dataset.pkl`` form."""
import copyreg
import io
import pickle
from typing import Any, List, Optional, Sequence, Tuple, Union

import numpy as np
from mmengine.logging import print_log
from mmpretrain.registry import DATASETS

from .pedestrian_attribute_dataset import PedestrianAttributeDataset

try:
    from numpy._core import multiarray as _multiarray
except ImportError:  # NumPy < 1.26
    from numpy.core import multiarray as _multiarray


class _AttrDict(dict):
    """Stands in for ``easydict.EasyDict`` (a dict subclass whose items are
    also attributes): the pickle's dict items are what we read."""


# (module, name) -> object: everything a dataset.pkl may reference.
_SAFE_GLOBALS = {
    ('easydict', 'EasyDict'): _AttrDict,
    ('numpy.core.multiarray', '_reconstruct'): _multiarray._reconstruct,
    ('numpy._core.multiarray', '_reconstruct'): _multiarray._reconstruct,
    ('numpy.core.multiarray', 'scalar'): _multiarray.scalar,
    ('numpy._core.multiarray', 'scalar'): _multiarray.scalar,
    ('numpy', 'ndarray'): np.ndarray,
    ('numpy', 'dtype'): np.dtype,
    ('copyreg', '_reconstructor'): copyreg._reconstructor,
    ('builtins', 'dict'): dict,
    ('builtins', 'list'): list,
    ('builtins', 'object'): object,
    ('collections', 'OrderedDict'): dict,
}


class _DatasetUnpickler(pickle.Unpickler):

    def find_class(self, module: str, name: str) -> Any:
        try:
            return _SAFE_GLOBALS[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(
                f'refusing to unpickle {module}.{name}: a dataset.pkl may '
                'only hold EasyDicts, dicts, lists, strings and NumPy '
                'arrays') from None


def load_dataset_pickle(path: str) -> dict:
    """Read a ``dataset.pkl`` without running pickled code or needing
    ``easydict``; EasyDicts come back as dicts.

    Raises:
        ValueError: the file is not such a pickle (the message names it).
    """
    with open(path, 'rb') as f:
        data = f.read()
    try:
        obj = _DatasetUnpickler(io.BytesIO(data), encoding='latin1').load()
    except (pickle.UnpicklingError, EOFError, AttributeError, ImportError,
            IndexError, TypeError, ValueError) as e:
        raise ValueError(f'cannot read {path} as a dataset.pkl ({e})') \
            from None
    if not isinstance(obj, dict):
        raise ValueError(f'{path}: expected a dict/EasyDict, got '
                         f'{type(obj).__name__}')
    return obj


def _get(obj: dict, key: str, path: str, where: str = '') -> Any:
    if not isinstance(obj, dict) or key not in obj:
        keys = sorted(obj) if isinstance(obj, dict) else type(obj).__name__
        raise KeyError(f'{path}: no {where}{key!r} (has {keys})')
    return obj[key]


@DATASETS.register_module()
class AttributePickleDataset(PedestrianAttributeDataset):
    """A split of PETA, RAP or PA-100K stored as ``dataset.pkl``.

    The pickle (an EasyDict or dict, as written by the Rethinking-of-PAR /
    Strong Baseline preprocessing scripts) holds:

    - ``image_name``: N file names, relative to ``img_dir``;
    - ``label``: (N, A_all) 0/1 matrix;
    - ``attr_name``: A_all attribute names;
    - ``partition``: ``{'train', 'val', 'trainval', 'test'}`` -> image
      indices, either one array or a list of arrays (one per random
      partition: PETA and RAP have 5);
    - ``label_idx`` (optional): groups of attribute columns, ``'eval'``
      being the ones evaluated (35 for PETA, 51 for RAP).

    Args:
        data_root (str): Dataset root directory.
        split (str): Key of ``partition``.
        ann_file (str): The pickle, relative to ``data_root``.
        img_dir (str): Image folder, relative to ``data_root``.
        partition_index (int): Which partition when ``partition[split]`` is
            a list.
        attributes (str | Sequence[int] | None): Attribute columns: a key of
            ``label_idx`` ('eval'), explicit indices, or None for all.
        **kwargs: :class:`PedestrianAttributeDataset` arguments
            (``pipeline``, ``test_mode``, ...).
    """

    def __init__(self,
                 data_root: str,
                 split: str = 'trainval',
                 ann_file: str = 'dataset.pkl',
                 img_dir: str = 'images',
                 partition_index: int = 0,
                 attributes: Union[str, Sequence[int], None] = 'eval',
                 pipeline: Sequence = (),
                 **kwargs) -> None:
        self.partition_index = partition_index
        self.attributes = attributes
        super().__init__(
            data_root=data_root,
            ann_file=ann_file,
            split=split,
            img_dir=img_dir,
            pipeline=pipeline,
            **kwargs)

    def _columns(self, info: dict, num_attrs: int) -> Optional[np.ndarray]:
        if self.attributes is None:
            return None
        if isinstance(self.attributes, str):
            groups = _get(info, 'label_idx', self.ann_file)
            columns = _get(groups, self.attributes, self.ann_file,
                           'label_idx ')
        else:
            columns = self.attributes
        columns = np.asarray(columns, dtype=np.int64).reshape(-1)
        if columns.size and (columns.min() < 0 or columns.max() >= num_attrs):
            raise ValueError(f'{self.ann_file}: attribute columns '
                             f'{columns.tolist()} outside 0..{num_attrs - 1}')
        return columns

    def read_split(self) -> Tuple[List[str], np.ndarray, List[str]]:
        path = self.ann_file
        info = load_dataset_pickle(path)
        image_names = list(_get(info, 'image_name', path))
        labels = np.asarray(_get(info, 'label', path))
        attr_names = list(_get(info, 'attr_name', path))
        if labels.ndim != 2 or labels.shape != (len(image_names),
                                                len(attr_names)):
            raise ValueError(
                f'{path}: label has shape {labels.shape}, expected '
                f'({len(image_names)}, {len(attr_names)}) from image_name '
                'and attr_name')
        indices = _get(_get(info, 'partition', path), self.split, path,
                       'partition ')
        if isinstance(indices, (list, tuple)) and indices and np.ndim(
                indices[0]) == 1:
            if not 0 <= self.partition_index < len(indices):
                raise IndexError(
                    f'{path}: partition {self.split!r} has {len(indices)} '
                    f'partitions, partition_index={self.partition_index}')
            indices = indices[self.partition_index]
        indices = np.asarray(indices, dtype=np.int64).reshape(-1)
        if indices.size and (indices.min() < 0
                             or indices.max() >= len(image_names)):
            raise ValueError(f'{path}: partition {self.split!r} indexes '
                             f'outside 0..{len(image_names) - 1}')
        columns = self._columns(info, len(attr_names))
        if columns is not None:
            labels = labels[:, columns]
            attr_names = [attr_names[c] for c in columns]
        labels = labels[indices]
        uncertain = labels == 2
        if uncertain.any():
            # the release's loader (Rethinking_of_PAR pedes.py) reads 2 as 0
            print_log(
                f'{path}: {int(uncertain.sum())} labels of value 2 '
                f'(uncertain) in split {self.split!r} read as 0',
                logger='current')
            labels = np.where(uncertain, 0, labels)
        return ([str(image_names[i]) for i in indices], labels,
                [str(a) for a in attr_names])
