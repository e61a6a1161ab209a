"""Human3.6M in the parsed per-subject files of the I2L-MeshNet /
3DCrowdNet release."""
import os.path as osp
from typing import List, Optional, Sequence

import numpy as np
from mmpose.registry import DATASETS

from . import joint_sets
from .mesh_base_dataset import MeshBaseDataset
from .mesh_utils import MalformedEntry, as_array, coco_index, image_size, load_json


@DATASETS.register_module()
class MeshHuman36MDataset(MeshBaseDataset):
    """Human3.6M, one sample per (frame, camera).

    Layout (defaults)::

        data/mesh/Human36M/
          annotations/Human36M_subject<S>_data.json       COCO format
          annotations/Human36M_subject<S>_camera.json     {cam: {R, t, f, c}}
          annotations/Human36M_subject<S>_joint_3d.json   {act: {subact:
                                                           {frame: 17x3}}}
          annotations/Human36M_subject<S>_smpl_param.json {act: {subact:
                                                           {frame: {pose,
                                                           shape, trans}}}}
          images/<file_name>

    Read are ``images[]``: ``id``, ``file_name``, ``width``, ``height``,
    ``subject``, ``action_idx``, ``subaction_idx``, ``frame_idx``,
    ``cam_idx``; ``annotations[]``: ``id``, ``image_id``, ``bbox``. Camera
    ``R`` (3, 3), ``t`` (3,) mm (world -> camera: ``X_cam = R X + t``),
    ``f``, ``c`` (2,) px. Joints are world mm in ``H36M_JOINTS`` order.

    Splits as the release: ``train`` = subjects 1, 5, 6, 7, 8, every 5th
    frame (``frame_idx % 5 == 0``); ``test`` = subjects 9, 11, every 64th
    frame, camera 4 only. ``joint_cam`` (17, 3) mm camera frame;
    ``joint_img`` its projection ``x, y`` px with ``z`` the camera depth mm;
    ``joint_valid`` ones. ``smpl_param`` (SMPLify-X fits, neutral) is in the
    world frame, so ``cam_param`` also has ``R`` and ``t`` (mm); a frame
    without a fit has ``smpl_param=None`` (kept, as the release).
    ``near_joints`` is empty (one person per image). Other fields:
    ``subject``, ``action_idx``, ``subaction_idx``, ``frame_idx``,
    ``cam_idx``.

    Args:
        data_root (str): Defaults to ``data/mesh/Human36M``.
        split (str): ``train`` or ``test``.
        ann_file (str): Annotation folder, default ``annotations``.
        data_prefix (dict): Defaults to ``dict(img='images')``.
        subjects (Sequence[int], optional): Override the split's subjects.
        frame_interval (int, optional): Override the split's frame step.
        **kwargs: See :class:`MeshBaseDataset`.
    """

    DATASET_NAME = 'Human36M'
    RELEASE = ('the parsed Human3.6M annotations and SMPLify-X SMPL '
               'parameters of the I2L-MeshNet / 3DCrowdNet release')
    SPLITS = ('train', 'test')
    JOINTS_NAME = joint_sets.H36M_JOINTS
    IS_3D = True
    SPLIT_SUBJECTS = dict(train=(1, 5, 6, 7, 8), test=(9, 11))
    SPLIT_INTERVAL = dict(train=5, test=64)
    TEST_CAMERA = 4

    def __init__(self,
                 data_root: str = 'data/mesh/Human36M',
                 split: str = 'train',
                 ann_file: str = 'annotations',
                 data_prefix: Optional[dict] = None,
                 subjects: Optional[Sequence[int]] = None,
                 frame_interval: Optional[int] = None,
                 **kwargs) -> None:
        self.subjects = tuple(subjects or self.SPLIT_SUBJECTS.get(split, ()))
        self.frame_interval = int(frame_interval
                                  or self.SPLIT_INTERVAL.get(split, 1))
        super().__init__(
            data_root=data_root,
            split=split,
            ann_file=ann_file,
            data_prefix=data_prefix or dict(img='images'),
            **kwargs)

    def _file(self, subject, kind):
        return osp.join(self.ann_file, f'Human36M_subject{subject}_{kind}.json')

    def load_data_list(self) -> List[dict]:
        data_list = []
        for subject in self.subjects:
            files = {
                kind: self._file(subject, kind)
                for kind in ('data', 'camera', 'joint_3d', 'smpl_param')
            }
            loaded = {
                kind: load_json(path, self.DATASET_NAME, self.RELEASE)
                for kind, path in files.items()
            }
            path = files['data']
            images, anns_of, orphans = coco_index(loaded['data'], path,
                                                  self.DATASET_NAME)
            for ann in orphans:
                self._skip(path, f'annotation {ann.get("id")}',
                           'image_id does not name an image')
            for img_id, anns in anns_of.items():
                img = images[img_id]
                for ann in anns:
                    info = self._parse_or_skip(
                        path, f'annotation {ann.get("id")}', self._parse,
                        img, ann, loaded)
                    if info is not None:
                        data_list.append(info)
        self._summary(
            len(data_list), f'subjects {self.subjects} in {self.ann_file} '
            f'(every {self.frame_interval}th frame)')
        return data_list

    def _parse(self, img, ann, loaded):
        frame = int(img['frame_idx'])
        if frame % self.frame_interval:
            return None  # the split's subsampling, not counted
        cam_idx = str(img['cam_idx'])
        if self.split == 'test' and cam_idx != str(self.TEST_CAMERA):
            return None
        img_shape = image_size(img, f'image {img.get("id")}')
        keys = (str(img['subject']), str(img['action_idx']),
                str(img['subaction_idx']), str(frame))
        cam = loaded['camera'][cam_idx]
        R = as_array(cam['R'], (3, 3), 'camera R')
        t = as_array(cam['t'], (3, ), 'camera t')
        cam_param = self._cam_param(cam['f'], cam['c'], 'camera')
        cam_param.update(R=R, t=t)
        joints = loaded['joint_3d'][keys[1]][keys[2]][keys[3]]
        joint_world = as_array(joints, (17, 3), 'joint_3d')
        joint_cam = (joint_world @ R.T + t[None]).astype(np.float32)
        if (joint_cam[:, 2] <= 0).any():
            raise MalformedEntry('joint_3d has joints behind the camera')
        joint_img = np.empty_like(joint_cam)
        joint_img[:, :2] = (joint_cam[:, :2] / joint_cam[:, 2:] *
                            cam_param['focal'][None] +
                            cam_param['princpt'][None])
        joint_img[:, 2] = joint_cam[:, 2]
        fit = loaded['smpl_param'].get(keys[1], {}).get(keys[2], {}).get(
            keys[3])
        smpl_param = None if fit is None else self._smpl_param(
            fit, 'smpl_param')
        tight_bbox = as_array(ann['bbox'], (4, ), 'bbox')
        bbox = self._bbox(tight_bbox, img_shape)
        if bbox is None:
            self._filtered('empty boxes')
            return None
        if smpl_param is None:
            self._filtered('frames without an SMPL fit (kept)')
        return self._instance(
            img_path=osp.join(self.img_dir, img['file_name']),
            img_shape=img_shape,
            ann_id=ann['id'],
            img_id=img['id'],
            bbox=bbox,
            tight_bbox=tight_bbox,
            joint_img=joint_img,
            joint_cam=joint_cam,
            joint_valid=np.ones((17, 1), dtype=np.float32),
            smpl_param=smpl_param,
            cam_param=cam_param,
            subject=int(img['subject']),
            action_idx=int(img['action_idx']),
            subaction_idx=int(img['subaction_idx']),
            frame_idx=frame,
            cam_idx=int(cam_idx))
