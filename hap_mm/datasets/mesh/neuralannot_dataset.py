"""Base class of the 2-D sets with NeuralAnnot SMPL fits (not
registered)."""
import os.path as osp
from typing import List

import numpy as np

from . import joint_sets
from .mesh_base_dataset import MeshBaseDataset
from .mesh_utils import (
    as_array,
    coco_index,
    image_size,
    load_json,
    overlapping_people,
)


class NeuralAnnotDataset(MeshBaseDataset):
    """A COCO-format keypoint file plus NeuralAnnot's SMPL fits
    (``{annotation id: {"smpl_param": {pose, shape, trans},
    "cam_param": {focal, princpt}}}``), one sample per person.

    ``joint_img`` (J, 3): keypoints ``x, y`` px, ``z`` 0;
    ``joint_valid`` (J, 1): keypoint visibility > 0; ``joint_cam`` None;
    ``smpl_param`` (neutral, in the fit's virtual camera, ``trans`` m) and
    ``cam_param`` (that camera's focal / princpt px) from the fit, both
    None for a person without a fit (kept, as the release). ``near_joints``:
    the other kept people of the image whose tight box overlaps (IoU >=
    0.1), COCO order, ``x, y, valid``.

    Subclasses set :attr:`NUM_KEYPOINTS` and may add joints
    (:meth:`_joints`) and drop people (:meth:`_ignored`).
    """

    NUM_KEYPOINTS = 17

    def __init__(self, smpl_file: str, **kwargs) -> None:
        self.smpl_file = smpl_file
        super().__init__(**kwargs)

    def _ignored(self, ann) -> bool:
        return False

    def _joints(self, keypoints):
        """(NUM_KEYPOINTS, 3) x, y, v -> (J, 3) in ``JOINTS_NAME``."""
        return keypoints

    def _img_path(self, img) -> str:
        return osp.join(self.img_dir, img['file_name'])

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
            people = []
            for ann in anns:
                person = self._parse_or_skip(
                    path, f'annotation {ann.get("id")}', self._parse,
                    images[img_id], ann, fits, smpl_path)
                if person is not None:
                    people.append(person)
            coco = [
                joint_sets.transform_joints(
                    np.concatenate([p['joint_img'][:, :2], p['joint_valid']],
                                   1), self.JOINTS_NAME,
                    joint_sets.COCO_JOINTS) for p in people
            ]
            boxes = [p['tight_bbox'] for p in people]
            for i, person in enumerate(people):
                person['near_joints'], person['num_overlap'] = \
                    overlapping_people(i, boxes, coco)
            data_list.extend(people)
        self._summary(len(data_list), f'{path} + {smpl_path}')
        return data_list

    def _parse(self, img, ann, fits, smpl_path):
        if self._ignored(ann):
            self._filtered('crowd or keypoint-less annotations')
            return None
        img_shape = image_size(img, f'image {img.get("id")}')
        tight_bbox = as_array(ann['bbox'], (4, ), 'bbox')
        keypoints = as_array(ann['keypoints'], (self.NUM_KEYPOINTS, 3),
                             'keypoints')
        bbox = self._bbox(tight_bbox, img_shape)
        if bbox is None:
            self._filtered('empty boxes')
            return None
        joints = self._joints(keypoints)
        joint_valid = (joints[:, 2:] > 0).astype(np.float32)
        joint_img = joints.copy()
        joint_img[:, 2] = 0
        fit = fits.get(str(ann['id']))
        smpl_param = cam_param = None
        if fit is None:
            self._filtered('people without an SMPL fit (kept)')
        else:
            what = f'{osp.basename(smpl_path)}[{ann["id"]}]'
            smpl_param = self._smpl_param(fit['smpl_param'],
                                          f'{what}.smpl_param')
            cam = fit['cam_param']
            cam_param = self._cam_param(cam['focal'], cam['princpt'],
                                        f'{what}.cam_param')
        return self._instance(
            img_path=self._img_path(img),
            img_shape=img_shape,
            ann_id=ann['id'],
            img_id=img['id'],
            bbox=bbox,
            tight_bbox=tight_bbox,
            joint_img=joint_img,
            joint_cam=None,
            joint_valid=joint_valid,
            smpl_param=smpl_param,
            cam_param=cam_param)
