"""Base class of the person re-identification datasets."""
import os.path as osp
from typing import List, Sequence, Tuple

from mmpretrain.datasets import BaseDataset

# (image path, person id, 0-based camera index)
Record = Tuple[str, int, int]


class PersonReIDDataset(BaseDataset):
    """Training images or one query + gallery evaluation set.

    Subclasses list ``(img_path, pid, camid)`` records of the training,
    query and gallery images; this class turns them into data samples:

    - training (``test_mode=False``): every training image with ``gt_label``
      = its pid relabelled to 0..N-1 (ascending pid order), plus ``pid`` and
      ``camid``; ``metainfo['classes']`` holds the N original pids as
      strings, so the ID classifier needs ``num_classes=len(classes)``;
    - evaluation (``test_mode=True``): the query images, then the gallery
      images, each with ``pid``, ``camid`` and ``is_query`` (what
      :class:`ReIDMetric` reads; list them in ``PackInputs`` meta_keys).

    Args:
        data_root (str): Dataset root directory.
        test_mode (bool): Evaluation set instead of the training set.
        pipeline (Sequence): Data transforms.
        **kwargs: Other mmpretrain ``BaseDataset`` arguments.
    """

    def __init__(self,
                 data_root: str,
                 test_mode: bool = False,
                 pipeline: Sequence = (),
                 **kwargs) -> None:
        super().__init__(
            ann_file='',
            data_root=data_root,
            test_mode=test_mode,
            pipeline=pipeline,
            **kwargs)

    def train_records(self) -> List[Record]:
        """Training images, ``(img_path, pid, camid)`` each."""
        raise NotImplementedError

    def query_records(self) -> List[Record]:
        """Query images, ``(img_path, pid, camid)`` each."""
        raise NotImplementedError

    def gallery_records(self) -> List[Record]:
        """Gallery images, ``(img_path, pid, camid)`` each."""
        raise NotImplementedError

    def _require_dir(self, name: str) -> str:
        path = osp.join(self.data_root, name)
        if not osp.isdir(path):
            raise FileNotFoundError(
                f'{type(self).__name__}: directory {path} not found; see '
                'docs/reid_attribute.md for the expected layout')
        return path

    def load_data_list(self) -> List[dict]:
        if not self.test_mode:
            records = self.train_records()
            if not records:
                raise ValueError(f'{type(self).__name__}: no training images '
                                 f'under {self.data_root}')
            pids = sorted({pid for _, pid, _ in records})
            label_of = {pid: label for label, pid in enumerate(pids)}
            self._metainfo['classes'] = tuple(str(pid) for pid in pids)
            return [
                dict(img_path=path, gt_label=label_of[pid], pid=pid,
                     camid=camid) for path, pid, camid in records
            ]
        data_list = []
        for is_query, records in ((True, self.query_records()),
                                  (False, self.gallery_records())):
            if not records:
                split = 'query' if is_query else 'gallery'
                raise ValueError(f'{type(self).__name__}: no {split} images '
                                 f'under {self.data_root}')
            data_list += [
                dict(img_path=path, pid=pid, camid=camid, is_query=is_query)
                for path, pid, camid in records
            ]
        return data_list

    def get_pids(self) -> List[int]:
        """The person id of every sample, in dataset order."""
        return [self.get_data_info(i)['pid'] for i in range(len(self))]
