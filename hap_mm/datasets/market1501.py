"""Market-1501 person re-identification dataset."""
import os
import os.path as osp
import re
from typing import List

from mmpretrain.registry import DATASETS

from .person_reid_dataset import PersonReIDDataset, Record

_NAME = re.compile(r'^(-?\d+)_c(\d+)')


@DATASETS.register_module()
class Market1501(PersonReIDDataset):
    """Market-1501 in its release layout.

    ::

        data_root/
          bounding_box_train/0002_c1s1_000451_03.jpg ...  # 751 ids
          query/0001_c1s1_001051_00.jpg ...                # 3,368 queries
          bounding_box_test/0000_c1s1_000151_01.jpg ...    # gallery

    The pid and camera come from the file name (``0002_c1s1...``: pid 2,
    camera 1, stored 0-based as ``camid`` 0). Junk images (pid -1) are
    dropped everywhere; distractors (pid 0) stay in the gallery, where they
    count as false matches, as the Market-1501 protocol prescribes. Training
    pids are relabelled 0..N-1 (see :class:`PersonReIDDataset`).

    Args:
        data_root (str): The ``Market-1501-v15.09.15`` directory.
        **kwargs: :class:`PersonReIDDataset` arguments (``test_mode``,
            ``pipeline``, ...).
    """

    def _scan(self, dirname: str) -> List[Record]:
        directory = self._require_dir(dirname)
        records = []
        for name in sorted(os.listdir(directory)):
            if not name.lower().endswith('.jpg'):
                continue
            match = _NAME.match(name)
            if match is None:
                raise ValueError(
                    f'Market1501: cannot read pid and camera from '
                    f'{osp.join(directory, name)} (expected a name like '
                    '0002_c1s1_000451_03.jpg)')
            pid, cam = int(match.group(1)), int(match.group(2))
            if pid == -1:
                continue
            records.append((osp.join(directory, name), pid, cam - 1))
        return records

    def train_records(self) -> List[Record]:
        return self._scan('bounding_box_train')

    def query_records(self) -> List[Record]:
        return self._scan('query')

    def gallery_records(self) -> List[Record]:
        return self._scan('bounding_box_test')
