"""Base class of the pedestrian attribute recognition datasets."""
import os.path as osp
from typing import List, Sequence, Tuple

import numpy as np
from mmpretrain.datasets import BaseDataset


class PedestrianAttributeDataset(BaseDataset):
    """Images with a 0/1 label per attribute, one split of a dataset.

    Subclasses read their annotation file and return the split's image
    names, its (N, A) label matrix and the A attribute names. Each sample
    gets ``img_path`` (``img_dir`` joined with the name) and ``gt_score``,
    its (A,) float32 0/1 vector (what mmpretrain's multi-label heads and
    :class:`AttributeMetric` read); ``metainfo['classes']`` holds the
    attribute names.

    Args:
        data_root (str): Dataset root directory.
        ann_file (str): Annotation file, relative to ``data_root``.
        split (str): Which split to load.
        img_dir (str): Image folder, relative to ``data_root``.
        pipeline (Sequence): Data transforms.
        test_mode (bool): Evaluation (errors instead of re-sampling bad
            images).
        **kwargs: Other mmpretrain ``BaseDataset`` arguments.
    """

    def __init__(self,
                 data_root: str,
                 ann_file: str,
                 split: str,
                 img_dir: str,
                 pipeline: Sequence = (),
                 test_mode: bool = False,
                 **kwargs) -> None:
        self.split = split
        super().__init__(
            ann_file=ann_file,
            data_root=data_root,
            data_prefix=img_dir,
            pipeline=pipeline,
            test_mode=test_mode,
            **kwargs)

    def read_split(self) -> Tuple[List[str], np.ndarray, List[str]]:
        """Image names (N), labels (N, A) and attribute names (A) of
        ``self.split``, read from ``self.ann_file``."""
        raise NotImplementedError

    def load_data_list(self) -> List[dict]:
        if not osp.isfile(self.ann_file):
            raise FileNotFoundError(f'{type(self).__name__}: annotation file '
                                    f'{self.ann_file} not found')
        names, labels, attr_names = self.read_split()
        labels = np.asarray(labels)
        if labels.shape != (len(names), len(attr_names)):
            raise ValueError(
                f'{self.ann_file}: split {self.split!r} has {len(names)} '
                f'images and {len(attr_names)} attributes but a label matrix '
                f'of shape {labels.shape}')
        if not np.isin(labels, (0, 1)).all():
            raise ValueError(
                f'{self.ann_file}: split {self.split!r} has labels other '
                f'than 0/1: {np.unique(labels)[:10].tolist()}')
        self._metainfo['classes'] = tuple(attr_names)
        labels = labels.astype(np.float32)
        return [
            dict(img_path=osp.join(self.img_prefix, name), gt_score=label)
            for name, label in zip(names, labels)
        ]

    def get_label_matrix(self) -> np.ndarray:
        """The (N, A) 0/1 labels of all samples, in dataset order."""
        return np.stack([
            self.get_data_info(i)['gt_score'] for i in range(len(self))
        ])
