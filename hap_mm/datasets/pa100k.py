"""PA-100K pedestrian attribute dataset."""
from typing import List, Sequence, Tuple

import numpy as np
import scipy.io
from mmpretrain.registry import DATASETS
from scipy.io.matlab import MatReadError

from .pedestrian_attribute_dataset import PedestrianAttributeDataset

SPLITS = ('train', 'val', 'test', 'trainval')


def _strings(mat: dict, key: str, path: str) -> List[str]:
    """A MATLAB cell array of strings, (K, 1) -> K Python strings."""
    try:
        return [str(np.asarray(cell).reshape(-1)[0]) for cell in
                np.asarray(mat[key]).reshape(-1)]
    except (IndexError, TypeError, ValueError) as e:
        raise ValueError(f'{path}: {key!r} is not a cell array of strings '
                         f'({e})') from None


@DATASETS.register_module()
class PA100K(PedestrianAttributeDataset):
    """PA-100K: 100,000 images, 26 attributes, 80k / 10k / 10k split.

    ::

        data_root/
          annotation.mat   # MATLAB file, read with scipy.io.loadmat
          data/000001.jpg ... 100000.jpg

    ``annotation.mat`` holds ``attributes`` (26 names),
    ``{train,val,test}_images_name`` (cell arrays of file names) and
    ``{train,val,test}_label`` (N x 26, 0/1).

    Args:
        data_root (str): Dataset root directory.
        split (str): 'train', 'val', 'test' or 'trainval' (train + val).
        ann_file (str): The annotation file, relative to ``data_root``.
        img_dir (str): Image folder, relative to ``data_root``.
        **kwargs: :class:`PedestrianAttributeDataset` arguments
            (``pipeline``, ``test_mode``, ...).
    """

    def __init__(self,
                 data_root: str,
                 split: str = 'train',
                 ann_file: str = 'annotation.mat',
                 img_dir: str = 'data',
                 pipeline: Sequence = (),
                 **kwargs) -> None:
        if split not in SPLITS:
            raise ValueError(f'PA100K: split must be one of {SPLITS}, got '
                             f'{split!r}')
        super().__init__(
            data_root=data_root,
            ann_file=ann_file,
            split=split,
            img_dir=img_dir,
            pipeline=pipeline,
            **kwargs)

    def read_split(self) -> Tuple[List[str], np.ndarray, List[str]]:
        path = self.ann_file
        try:
            mat = scipy.io.loadmat(path)
        except (MatReadError, NotImplementedError, OSError, TypeError,
                ValueError) as e:
            raise ValueError(f'PA100K: cannot read {path} as a MATLAB file '
                             f'({e})') from None
        parts = ('train', 'val') if self.split == 'trainval' else (
            self.split, )
        keys = ['attributes'] + [
            f'{p}_{kind}' for p in parts for kind in ('images_name', 'label')
        ]
        missing = [k for k in keys if k not in mat]
        if missing:
            raise KeyError(f'PA100K: {path} has no {missing} (keys: '
                           f'{sorted(k for k in mat if not k.startswith("_"))}'
                           ')')
        names = sum((_strings(mat, f'{p}_images_name', path) for p in parts),
                    [])
        labels = np.concatenate([np.asarray(mat[f'{p}_label']) for p in parts])
        return names, labels, _strings(mat, 'attributes', path)
