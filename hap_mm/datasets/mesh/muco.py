"""MuCo-3DHP in the composited set of the I2L-MeshNet / 3DCrowdNet
release."""
import os.path as osp
from typing import List, Optional

import numpy as np
from mmpose.registry import DATASETS

from . import joint_sets
from .mesh_base_dataset import MeshBaseDataset
from .mesh_utils import (
    as_array,
    coco_index,
    image_size,
    load_json,
    overlapping_people,
)

_ROOT = joint_sets.MUCO_JOINTS.index('Pelvis')


@DATASETS.register_module()
class MeshMuCoDataset(MeshBaseDataset):
    """MuCo-3DHP (train only), one sample per image: the person closest to
    the camera (smallest pelvis depth), as the release.

    Layout (defaults)::

        data/mesh/MuCo/
          data/MuCo-3DHP.json      COCO format
          data/smpl_param.json     {annotation id: {pose, shape, trans}}
          data/augmented_set/..., data/unaugmented_set/...   (images)

    Read are ``images[]``: ``id``, ``file_name`` (relative to ``data/``),
    ``width``, ``height``, ``f`` (2,), ``c`` (2,) px; ``annotations[]``:
    ``id``, ``image_id``, ``bbox``, ``keypoints_img`` (21, 2) px,
    ``keypoints_cam`` (21, 3) mm camera frame, in ``MUCO_JOINTS`` order.

    ``joint_img`` = ``keypoints_img`` with ``z`` = the camera depth mm;
    ``joint_cam`` = ``keypoints_cam``; ``joint_valid`` ones; ``smpl_param``
    (neutral, camera frame, ``trans`` m) or None when the person has no fit
    (kept, as the release); ``cam_param`` focal / princpt. ``near_joints``:
    the other people of the image whose tight box overlaps (IoU >= 0.1),
    their ``keypoints_img`` in COCO order with valid 1 on the joints MuCo
    has (no face joints: those rows are 0).

    Args:
        data_root (str): Defaults to ``data/mesh/MuCo``.
        split (str): ``train``.
        ann_file (str): Defaults to ``data/MuCo-3DHP.json``.
        smpl_file (str): Defaults to ``data/smpl_param.json``.
        data_prefix (dict): Defaults to ``dict(img='data')``.
        **kwargs: See :class:`MeshBaseDataset`.
    """

    DATASET_NAME = 'MuCo'
    RELEASE = ('the composited MuCo-3DHP set and its SMPLify-X SMPL '
               'parameters of the I2L-MeshNet / 3DCrowdNet release')
    JOINTS_NAME = joint_sets.MUCO_JOINTS
    IS_3D = True

    def __init__(self,
                 data_root: str = 'data/mesh/MuCo',
                 split: str = 'train',
                 ann_file: str = 'data/MuCo-3DHP.json',
                 smpl_file: str = 'data/smpl_param.json',
                 data_prefix: Optional[dict] = None,
                 **kwargs) -> None:
        self.smpl_file = smpl_file
        super().__init__(
            data_root=data_root,
            split=split,
            ann_file=ann_file,
            data_prefix=data_prefix or dict(img='data'),
            **kwargs)

    def load_data_list(self) -> List[dict]:
        path = self.ann_file
        db = load_json(path, self.DATASET_NAME, self.RELEASE)
        smpl_path = self._path(self.smpl_file)
        fits = load_json(smpl_path, self.DATASET_NAME, self.RELEASE)
        images, anns_of, orphans = coco_index(db, path, self.DATASET_NAME)
        for ann in orphans:
            self._skip(path, f'annotation {ann.get("id")}',
                       'image_id does not name an image')
        data_list = []
        for img_id, anns in anns_of.items():
            info = self._parse_or_skip(path, f'image {img_id}', self._parse,
                                       images[img_id], anns, fits, smpl_path)
            if info is not None:
                data_list.append(info)
        self._summary(len(data_list), f'{path} + {smpl_path}')
        return data_list

    def _parse(self, img, anns, fits, smpl_path):
        if not anns:
            self._filtered('images without people')
            return None
        img_shape = image_size(img, f'image {img.get("id")}')
        people = []
        for ann in anns:
            what = f'annotation {ann.get("id")}'
            cam = as_array(ann['keypoints_cam'], (21, 3),
                           f'{what} keypoints_cam')
            xy = as_array(ann['keypoints_img'], (21, 2),
                          f'{what} keypoints_img')
            box = as_array(ann['bbox'], (4, ), f'{what} bbox')
            people.append((ann, cam, xy, box))
        pid = int(np.argmin([cam[_ROOT, 2] for _, cam, _, _ in people]))
        ann, joint_cam, xy, tight_bbox = people[pid]
        bbox = self._bbox(tight_bbox, img_shape)
        if bbox is None:
            self._filtered('empty boxes')
            return None
        coco = [
            joint_sets.transform_joints(
                np.concatenate([p_xy, np.ones_like(p_xy[:, :1])], 1),
                joint_sets.MUCO_JOINTS, joint_sets.COCO_JOINTS)
            for _, _, p_xy, _ in people
        ]
        near_joints, num_overlap = overlapping_people(
            pid, [p[3] for p in people], coco)
        fit = fits.get(str(ann['id']))
        smpl_param = None if fit is None else self._smpl_param(
            fit, f'{osp.basename(smpl_path)}[{ann["id"]}]')
        if smpl_param is None:
            self._filtered('people without an SMPL fit (kept)')
        return self._instance(
            img_path=osp.join(self.img_dir, img['file_name']),
            img_shape=img_shape,
            ann_id=ann['id'],
            img_id=img['id'],
            bbox=bbox,
            tight_bbox=tight_bbox,
            joint_img=np.concatenate([xy, joint_cam[:, 2:]], 1),
            joint_cam=joint_cam,
            joint_valid=np.ones((21, 1), dtype=np.float32),
            smpl_param=smpl_param,
            cam_param=self._cam_param(img['f'], img['c'], 'image'),
            near_joints=near_joints,
            num_overlap=num_overlap)
