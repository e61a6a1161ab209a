"""Base class of the mesh readers (not registered)."""
import os.path as osp
from collections import Counter
from typing import Optional, Sequence

import numpy as np
from mmengine.dataset import BaseDataset
from mmengine.logging import print_log

from .mesh_utils import MalformedEntry, as_array, process_bbox

GENDERS = ('neutral', 'male', 'female')


class MeshBaseDataset(BaseDataset):
    """One sample per person instance, in the layout of the contract (see
    ``MESH_CONTRACT`` section 2 and the subclasses' docstrings).

    Every reader produces dicts with

    - ``img_path`` (str), ``img_shape`` (h, w), ``id`` (annotation id),
      ``img_id``, ``split``, ``dataset_name``, ``is_3D`` (bool);
    - ``bbox`` (4,) float32 ``x, y, w, h`` image px, processed as the release
      (clipped, 1:1 aspect of the 256x256 input, x1.25); ``tight_bbox`` (4,)
      the annotation's raw box;
    - ``joints_name`` (tuple); ``joint_img`` (J, 3) float32 ``x, y`` px and
      ``z`` camera depth mm (3-D sets) or 0 (2-D sets); ``joint_cam`` (J, 3)
      float32 mm or None; ``joint_valid`` (J, 1) float32;
    - ``smpl_param``: dict(pose (72,) axis-angle rad, shape (10,), trans (3,)
      m, gender) float32 arrays, or None; ``cam_param``: dict(focal (2,),
      princpt (2,)) px (+ ``R`` (3, 3), ``t`` (3,) mm for world-frame fits)
      or None;
    - ``near_joints`` (K, 17, 3) float32 COCO-order ``x, y, valid`` of the
      other people whose tight box overlaps (IoU >= 0.1), ``num_overlap`` K
      (K = 0 gives shape (0, 17, 3)).

    A malformed entry is skipped, counted in :attr:`skip_counts` and logged
    (the first ``max_logged_skips`` each with its file and entry id); the
    release's filters are counted in :attr:`filter_counts`; one summary line
    per load gives the length.

    Args:
        data_root (str): The dataset folder (``data/mesh/<Name>``).
        split (str): One of :attr:`SPLITS`.
        ann_file (str): Annotation file or folder, relative to ``data_root``.
        data_prefix (dict): ``img``: image folder relative to ``data_root``.
        input_size (tuple): Network input ``(w, h)``; sets the box aspect.
        bbox_scale (float): Box side scale after the aspect correction.
        max_logged_skips (int): Skips logged one by one.
        **kwargs: Other mmengine ``BaseDataset`` arguments (``pipeline``,
            ``lazy_init``, ``indices``, ...); ``test_mode`` defaults to
            ``split != 'train'``.
    """

    DATASET_NAME: str = ''
    RELEASE: str = ''
    SPLITS: Sequence[str] = ('train', )
    JOINTS_NAME: Sequence[str] = ()
    IS_3D: bool = False

    def __init__(self,
                 data_root: str,
                 split: str = 'train',
                 ann_file: str = '',
                 data_prefix: Optional[dict] = None,
                 input_size=(256, 256),
                 bbox_scale: float = 1.25,
                 max_logged_skips: int = 10,
                 **kwargs) -> None:
        if split not in self.SPLITS:
            raise ValueError(f'{self.DATASET_NAME}: split must be one of '
                             f'{tuple(self.SPLITS)}, got {split!r}')
        self.split = split
        self.aspect_ratio = float(input_size[0]) / float(input_size[1])
        self.bbox_scale = float(bbox_scale)
        self.max_logged_skips = max_logged_skips
        self.skip_counts: Counter = Counter()
        self.filter_counts: Counter = Counter()
        kwargs.setdefault('test_mode', split != 'train')
        kwargs.setdefault(
            'metainfo',
            dict(dataset_name=self.DATASET_NAME,
                 joints_name=tuple(self.JOINTS_NAME)))
        super().__init__(
            ann_file=ann_file,
            data_root=data_root,
            data_prefix=data_prefix or dict(img=''),
            **kwargs)

    # ----------------------------------------------------------- helpers
    @property
    def img_dir(self) -> str:
        return self.data_prefix.get('img', self.data_root)

    def _path(self, rel: str) -> str:
        return rel if osp.isabs(rel) else osp.join(self.data_root, rel)

    def _skip(self, path: str, entry: str, reason: str) -> None:
        """Count and log a malformed entry."""
        n = sum(self.skip_counts.values())
        self.skip_counts[reason.split(' ')[0]] += 1
        if n < self.max_logged_skips:
            print_log(f'{self.DATASET_NAME}: skipped {entry} of {path}: '
                      f'{reason}', logger='current', level=30)

    def _parse_or_skip(self, path: str, entry: str, parse, *args):
        """``parse(*args)``, or None after counting and logging ``entry`` of
        ``path`` as skipped when it is malformed (:class:`MalformedEntry`,
        or a missing / wrongly typed field)."""
        try:
            return parse(*args)
        except MalformedEntry as e:
            self._skip(path, entry, str(e))
        except (KeyError, TypeError) as e:
            self._skip(path, entry, f'missing or bad field {e}')
        return None

    def _filtered(self, reason: str) -> None:
        self.filter_counts[reason] += 1

    def _summary(self, n: int, source: str) -> None:
        skipped = sum(self.skip_counts.values())
        filters = ', '.join(f'{v} {k}' for k, v in self.filter_counts.items())
        print_log(
            f'{self.DATASET_NAME} [{self.split}]: {n} instances from '
            f'{source}; {skipped} malformed entries skipped'
            f'{"; filtered: " + filters if filters else ""}',
            logger='current')
        if skipped > self.max_logged_skips:
            print_log(f'{self.DATASET_NAME}: malformed entries by reason: '
                      f'{dict(self.skip_counts)}', logger='current', level=30)

    def _bbox(self, bbox, img_shape, keep_degenerate=False):
        return process_bbox(bbox, img_shape[1], img_shape[0],
                            self.aspect_ratio, self.bbox_scale,
                            keep_degenerate)

    @staticmethod
    def _smpl_param(param, what, gender='neutral'):
        """A checked SMPL parameter dict (pose (72,), shape (10,), trans (3,)
        float32, gender)."""
        if not isinstance(param, dict):
            raise MalformedEntry(f'{what} is not a dict')
        gender = param.get('gender', gender)
        if gender not in GENDERS:
            raise MalformedEntry(f'{what} has gender {gender!r}, expected '
                                 f'one of {GENDERS}')
        return dict(
            pose=as_array(param['pose'], (72, ), f'{what}.pose'),
            shape=as_array(param['shape'], (10, ), f'{what}.shape'),
            trans=as_array(param['trans'], (3, ), f'{what}.trans'),
            gender=gender)

    @staticmethod
    def _cam_param(focal, princpt, what):
        return dict(
            focal=as_array(focal, (2, ), f'{what} focal'),
            princpt=as_array(princpt, (2, ), f'{what} princpt'))

    def _instance(self, *, img_path, img_shape, ann_id, img_id, bbox,
                  tight_bbox, joint_img, joint_cam, joint_valid, smpl_param,
                  cam_param, near_joints=None, num_overlap=0, **extra):
        """One contract dict (see the class docstring)."""
        if near_joints is None:
            near_joints = np.zeros((0, 17, 3), dtype=np.float32)
        info = dict(
            img_path=img_path,
            img_shape=tuple(int(v) for v in img_shape),
            id=ann_id,
            img_id=img_id,
            split=self.split,
            dataset_name=self.DATASET_NAME,
            is_3D=self.IS_3D,
            bbox=np.asarray(bbox, dtype=np.float32),
            tight_bbox=np.asarray(tight_bbox, dtype=np.float32),
            joints_name=tuple(self.JOINTS_NAME),
            joint_img=joint_img,
            joint_cam=joint_cam,
            joint_valid=joint_valid,
            smpl_param=smpl_param,
            cam_param=cam_param,
            near_joints=near_joints,
            num_overlap=int(num_overlap))
        info.update(extra)
        return info
