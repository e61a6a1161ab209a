"""3DCrowdNet's ``MultipleDatasets``: equal-length balancing of pools, plain
concatenation inside a pool."""
import bisect
import copy
import random
from typing import List, Sequence, Tuple, Union

from mmengine.dataset import BaseDataset
from mmengine.logging import print_log
from mmpose.registry import DATASETS


@DATASETS.register_module()
class MeshMultipleDatasets:
    """Mix datasets as 3DCrowdNet's ``MultipleDatasets``.

    ``make_same_len=True`` (the release's 3-D pool vs 2-D pool mixing, 1:1):
    the length is ``max_len * n`` for ``n`` members of lengths ``len_i``;
    global index ``g`` reads member ``g // max_len`` at
    ``k = g % max_len``: ``k % len_i`` while ``k < len_i * (max_len //
    len_i)``, a uniformly random index of that member in the last,
    incomplete round (``random.randint``, seeded per worker by mmengine).
    Every member is thus drawn equally often per epoch.

    ``make_same_len=False`` (inside a pool): plain concatenation, length
    ``sum(len_i)``.

    A member given as a list (of configs or datasets) is itself a pool:
    ``MeshMultipleDatasets(member, make_same_len=False)``. So the release's
    mixing is::

        dataset=dict(type='MeshMultipleDatasets', datasets=[
            [h36m_cfg, muco_cfg],     # 3-D pool, concatenated
            [coco_cfg, mpii_cfg],     # 2-D pool, concatenated
        ])                            # pools balanced 1:1

    Args:
        datasets (Sequence): Members: dataset configs (built in mmpose's
            ``DATASETS``), datasets, or lists of those (pools).
        make_same_len (bool): Balance the members (True) or concatenate.
        lazy_init (bool): Defer the members' ``full_init``.
    """

    def __init__(self,
                 datasets: Sequence[Union[dict, BaseDataset, list]],
                 make_same_len: bool = True,
                 lazy_init: bool = False) -> None:
        if not datasets:
            raise ValueError('MeshMultipleDatasets needs at least one dataset')
        self.datasets: List = []
        for member in datasets:
            if isinstance(member, (list, tuple)):
                member = MeshMultipleDatasets(
                    member, make_same_len=False, lazy_init=True)
            elif isinstance(member, dict):
                member = DATASETS.build(member)
            self.datasets.append(member)
        self.make_same_len = make_same_len
        self._metainfo = dict(
            dataset_names=tuple(
                getattr(d, 'metainfo', {}).get('dataset_name',
                                               type(d).__name__)
                for d in self.datasets))
        self._fully_initialized = False
        if not lazy_init:
            self.full_init()

    @property
    def metainfo(self) -> dict:
        return copy.deepcopy(self._metainfo)

    def full_init(self) -> None:
        """``full_init`` every member and fix the index map."""
        if self._fully_initialized:
            return
        for d in self.datasets:
            d.full_init()
        self.lengths = [len(d) for d in self.datasets]
        if min(self.lengths) == 0 and self.make_same_len:
            raise ValueError('MeshMultipleDatasets: a balanced member is '
                             f'empty (lengths {self.lengths})')
        self.max_len = max(self.lengths)
        self.cumulative = [sum(self.lengths[:i + 1])
                           for i in range(len(self.lengths))]
        self._fully_initialized = True
        if self.make_same_len:
            print_log(
                f'MeshMultipleDatasets: {len(self.datasets)} members of '
                f'lengths {self.lengths} balanced to {self.max_len} each',
                logger='current')

    def __len__(self) -> int:
        self.full_init()
        if self.make_same_len:
            return self.max_len * len(self.datasets)
        return self.cumulative[-1]

    def locate(self, idx: int) -> Tuple[int, int]:
        """(member, index in member) of global index ``idx``."""
        n = len(self)
        if not 0 <= idx < n:
            raise IndexError(f'index {idx} out of range for length {n}')
        if self.make_same_len:
            member, k = divmod(idx, self.max_len)
            length = self.lengths[member]
            if k >= length * (self.max_len // length):
                return member, random.randint(0, length - 1)
            return member, k % length
        member = bisect.bisect_right(self.cumulative, idx)
        return member, idx - (self.cumulative[member - 1] if member else 0)

    def get_data_info(self, idx: int) -> dict:
        member, k = self.locate(idx)
        return self.datasets[member].get_data_info(k)

    def __getitem__(self, idx: int):
        member, k = self.locate(idx)
        return self.datasets[member][k]
