"""Base class of the text-to-image person retrieval datasets."""
import json
import os.path as osp
from typing import List, Optional, Sequence

from mmpretrain.datasets import BaseDataset


class TextPersonDataset(BaseDataset):
    """(image, caption) pairs of one split of a public person-description
    annotation file.

    The annotation file is a JSON list with one entry per image, each with
    ``split``, ``id`` (person id), ``captions`` (list of strings) and the
    image path (key :attr:`PATH_KEY`, relative to ``<data_root>/imgs``).
    Every caption of every image of the chosen split becomes one sample with

    - ``img_path``: ``<data_root>/imgs/<path>``;
    - ``caption``: the raw string (the model tokenises it);
    - ``pid``: the person id of the file;
    - ``gt_label``: the pid relabelled to 0..N-1 in ascending pid order
      over the split (``metainfo['classes']`` holds the N pids as strings,
      so the ID classifier of a training split needs
      ``num_classes=len(classes)``).

    Args:
        data_root (str): Dataset root (holds ``imgs/`` and the annotation
            file).
        split (str): One of :attr:`SPLITS`.
        ann_file (str, optional): Annotation file; defaults to the public
            file name :attr:`ANN_FILE` under ``data_root``.
        pipeline (Sequence): Data transforms.
        **kwargs: Other mmpretrain ``BaseDataset`` arguments; ``test_mode``
            defaults to ``split != 'train'``.
    """

    ANN_FILE: str = ''
    PATH_KEY: str = 'file_path'
    SPLITS: Sequence[str] = ('train', 'val', 'test')

    def __init__(self,
                 data_root: str,
                 split: str = 'train',
                 ann_file: Optional[str] = None,
                 pipeline: Sequence = (),
                 **kwargs) -> None:
        name = type(self).__name__
        if split not in self.SPLITS:
            raise ValueError(f'{name}: split must be one of {self.SPLITS}, '
                             f'got {split!r}')
        self.split = split
        kwargs.setdefault('test_mode', split != 'train')
        super().__init__(
            ann_file=ann_file or self.ANN_FILE,
            data_root=data_root,
            pipeline=pipeline,
            **kwargs)

    def load_data_list(self) -> List[dict]:
        name = type(self).__name__
        if not osp.isfile(self.ann_file):
            raise FileNotFoundError(
                f'{name}: annotation file {self.ann_file} not found; see '
                'docs/text_reid.md for the expected layout')
        with open(self.ann_file, encoding='utf-8') as f:
            entries = json.load(f)
        if not isinstance(entries, list):
            raise ValueError(f'{name}: {self.ann_file} must hold a JSON list '
                             f'of image entries, got {type(entries).__name__}')
        img_dir = osp.join(self.data_root, 'imgs')
        records = []
        for index, entry in enumerate(entries):
            missing = [
                k for k in ('split', 'id', 'captions', self.PATH_KEY)
                if k not in entry
            ]
            if missing:
                raise KeyError(f'{name}: entry {index} of {self.ann_file} '
                               f'lacks {missing}')
            if entry['split'] != self.split:
                continue
            captions = entry['captions']
            if not isinstance(captions, list) or not all(
                    isinstance(c, str) for c in captions):
                raise ValueError(f'{name}: entry {index} of {self.ann_file}: '
                                 "'captions' must be a list of strings")
            path = osp.join(img_dir, entry[self.PATH_KEY])
            records += [(path, caption, int(entry['id']))
                        for caption in captions]
        if not records:
            raise ValueError(f'{name}: no caption of split {self.split!r} in '
                             f'{self.ann_file}')
        pids = sorted({pid for _, _, pid in records})
        label_of = {pid: label for label, pid in enumerate(pids)}
        self._metainfo['classes'] = tuple(str(pid) for pid in pids)
        return [
            dict(img_path=path, caption=caption, pid=pid,
                 gt_label=label_of[pid]) for path, caption, pid in records
        ]
