"""MSMT17 person re-identification dataset (V1 and V2 releases)."""
import os.path as osp
from typing import List, Sequence

from mmpretrain.registry import DATASETS

from .person_reid_dataset import PersonReIDDataset, Record

# image folders of (training, query + gallery) lists, per release
IMAGE_DIRS = {
    'v1': ('train', 'test'),
    'v2': ('mask_train_v2', 'mask_test_v2'),
}


@DATASETS.register_module()
class MSMT17(PersonReIDDataset):
    """MSMT17, V1 (``MSMT17_V1``) or V2 (``MSMT17_V2``, faces masked).

    Both releases list their splits in the same text files, one
    ``<path> <pid>`` per line, paths relative to the image folder; they
    differ only in the image folders::

        data_root/
          list_train.txt  list_val.txt     # paths under the training folder
          list_query.txt  list_gallery.txt # paths under the test folder
          train/  test/                    # V1
          mask_train_v2/  mask_test_v2/    # V2

    The camera is the third ``_`` field of the file name
    (``0000_000_01_0303morning_0015_0.jpg``: camera 1, ``camid`` 0).
    ``list_val.txt`` holds images of training identities; MSMT17's training
    set (32,621 images, 1,041 ids) is ``list_train.txt`` + ``list_val.txt``,
    the default ``train_lists``.

    Args:
        data_root (str): The ``MSMT17_V1`` or ``MSMT17_V2`` directory.
        version (str): 'v1', 'v2' or 'auto' (whichever folder pair exists;
            an error if both or neither do).
        train_lists (Sequence[str]): List files of the training images.
        **kwargs: :class:`PersonReIDDataset` arguments (``test_mode``,
            ``pipeline``, ...).
    """

    def __init__(self,
                 data_root: str,
                 version: str = 'auto',
                 train_lists: Sequence[str] = ('list_train.txt',
                                               'list_val.txt'),
                 **kwargs) -> None:
        if version not in ('auto', *IMAGE_DIRS):
            raise ValueError("MSMT17: version must be 'auto', 'v1' or 'v2', "
                             f'got {version!r}')
        self.version = version
        self.train_lists = tuple(train_lists)
        super().__init__(data_root=data_root, **kwargs)

    def image_dirs(self) -> tuple:
        """(training folder, test folder) of this release."""
        version = self.version
        if version == 'auto':
            found = [
                v for v, dirs in IMAGE_DIRS.items()
                if all(osp.isdir(osp.join(self.data_root, d)) for d in dirs)
            ]
            if len(found) != 1:
                raise FileNotFoundError(
                    f'MSMT17: {self.data_root} must hold exactly one of '
                    'train/ + test/ (V1) and mask_train_v2/ + mask_test_v2/ '
                    f'(V2), found {found or "neither"}; set version=')
            version = found[0]
        return tuple(self._require_dir(d) for d in IMAGE_DIRS[version])

    def _read_list(self, list_name: str, image_dir: str) -> List[Record]:
        list_file = osp.join(self.data_root, list_name)
        if not osp.isfile(list_file):
            raise FileNotFoundError(f'MSMT17: list file {list_file} not '
                                    'found')
        records = []
        with open(list_file) as f:
            for line_no, line in enumerate(f, 1):
                fields = line.split()
                if not fields:
                    continue
                try:
                    path, pid = fields
                    pid = int(pid)
                    cam = int(osp.basename(path).split('_')[2])
                except (ValueError, IndexError):
                    raise ValueError(
                        f'MSMT17: {list_file}:{line_no}: expected '
                        '"<pid dir>/<pid>_<idx>_<cam>_<...>.jpg <pid>", got '
                        f'{line.strip()!r}') from None
                records.append((osp.join(image_dir, path), pid, cam - 1))
        return records

    def train_records(self) -> List[Record]:
        train_dir = self.image_dirs()[0]
        records = []
        for list_name in self.train_lists:
            records += self._read_list(list_name, train_dir)
        return records

    def query_records(self) -> List[Record]:
        return self._read_list('list_query.txt', self.image_dirs()[1])

    def gallery_records(self) -> List[Record]:
        return self._read_list('list_gallery.txt', self.image_dirs()[1])
