"""3DPW in the COCO-format files of the I2L-MeshNet / 3DCrowdNet release."""
import os.path as osp
from typing import List, Optional

import numpy as np
from mmpose.registry import DATASETS

from . import joint_sets
from .mesh_base_dataset import MeshBaseDataset
from .mesh_utils import (
    as_array,
    bbox_from_joints,
    coco_index,
    image_size,
    load_json,
)

# OpenPose's 18 joints as stored in ``openpose_result`` (the 19th joint of
# OPENPOSE_JOINTS, the pelvis, is added by the reader).
_OPENPOSE_STORED = joint_sets.OPENPOSE_JOINTS[:18]


@DATASETS.register_module()
class MeshPW3DDataset(MeshBaseDataset):
    """3DPW, one sample per annotated person.

    Layout (defaults; the json files are the parsed 3DPW of the
    I2L-MeshNet / 3DCrowdNet release, the images are the official 3DPW
    ``imageFiles``)::

        data/mesh/PW3D/
          data/3DPW_latest_{train,validation,test}.json
          imageFiles/<sequence>/image_XXXXX.jpg

    The json is COCO format; read are ``images[]``: ``id``, ``file_name``,
    ``sequence``, ``width``, ``height``, ``cam_param`` {``focal`` (2,),
    ``princpt`` (2,)} and ``annotations[]``: ``id``, ``image_id``, ``bbox``
    (x, y, w, h), ``smpl_param`` {``pose`` (72,), ``shape`` (10,),
    ``trans`` (3,) m, ``gender`` 'male' | 'female' | 'neutral'} in the camera
    frame, and (with OpenPose inputs) ``openpose_result`` (18 x 3 values:
    x, y, confidence in the OpenPose order of ``OPENPOSE_JOINTS[:18]``).

    3DPW's ground truth is its SMPL fit: ``joint_img``, ``joint_cam`` and
    ``joint_valid`` are None and ``joints_name`` is ``SMPL_JOINTS``; the
    target transform derives the joints and mesh from ``smpl_param`` (with
    the gender's SMPL model) and ``cam_param`` as the release does.

    With OpenPose inputs (``use_openpose_inputs``, default for
    ``validation`` and ``test``; the release evaluates ``test`` this way,
    and ``validation`` follows the same protocol so that model selection on
    it mirrors the test evaluation) the sample also has

    - ``input_joints`` (19, 3) float32: ``openpose_result`` plus the pelvis
      (mean of the hips, confidence = product of the hips' confidences), in
      ``OPENPOSE_JOINTS`` order, x, y px, confidence;
    - ``input_joints_valid`` (19, 1) float32: confidence > ``conf_thr``
      (0.05);
    - ``bbox`` from the valid input joints (their extent x1.2, then the
      release's 3DPW-test processing: clipped without the empty-box check,
      1:1, x1.25). Without a valid input joint, or when that box is empty,
      the processed annotation box is used (the release would fail there);
      such samples are counted in ``filter_counts``.

    Other fields: ``sequence`` (str). Annotations whose box is empty after
    clipping are dropped as in the release.

    Not pinned down by public code: whether ``3DPW_latest_train.json`` has
    ``openpose_result`` (the release never reads it for train; validation
    has it, the crowd mode falls back on it), hence the default of
    ``use_openpose_inputs``.

    Args:
        data_root (str): Defaults to ``data/mesh/PW3D``.
        split (str): ``train``, ``validation`` or ``test``.
        ann_file (str): Defaults to ``data/3DPW_latest_<split>.json``.
        data_prefix (dict): Defaults to ``dict(img='imageFiles')``.
        use_openpose_inputs (bool, optional): Read ``openpose_result`` as
            above; None = ``split != 'train'``.
        conf_thr (float): OpenPose confidence threshold (release 0.05).
        **kwargs: See :class:`MeshBaseDataset`.
    """

    DATASET_NAME = 'PW3D'
    RELEASE = ('the parsed 3DPW annotations of the 3DCrowdNet / I2L-MeshNet '
               'release (3DPW_latest_*.json) and the official 3DPW '
               'imageFiles')
    SPLITS = ('train', 'validation', 'test')
    JOINTS_NAME = joint_sets.SMPL_JOINTS
    IS_3D = True

    def __init__(self,
                 data_root: str = 'data/mesh/PW3D',
                 split: str = 'test',
                 ann_file: str = '',
                 data_prefix: Optional[dict] = None,
                 use_openpose_inputs: Optional[bool] = None,
                 conf_thr: float = 0.05,
                 **kwargs) -> None:
        self.use_openpose_inputs = (split != 'train' if use_openpose_inputs
                                    is None else use_openpose_inputs)
        self.conf_thr = conf_thr
        super().__init__(
            data_root=data_root,
            split=split,
            ann_file=ann_file or f'data/3DPW_latest_{split}.json',
            data_prefix=data_prefix or dict(img='imageFiles'),
            **kwargs)

    def _input_joints(self, ann, what):
        raw = as_array(ann['openpose_result'], (18, 3), what)
        lhip = _OPENPOSE_STORED.index('L_Hip')
        rhip = _OPENPOSE_STORED.index('R_Hip')
        pelvis = (raw[lhip] + raw[rhip]) * 0.5
        pelvis[2] = raw[lhip, 2] * raw[rhip, 2]
        joints = np.concatenate([raw, pelvis[None]]).astype(np.float32)
        valid = (joints[:, 2:] > self.conf_thr).astype(np.float32)
        return joints, valid

    def load_data_list(self) -> List[dict]:
        path = self.ann_file
        db = load_json(path, self.DATASET_NAME, self.RELEASE)
        images, anns_of, orphans = coco_index(db, path, self.DATASET_NAME)
        for ann in orphans:
            self._skip(path, f'annotation {ann.get("id")}',
                       'image_id does not name an image')
        data_list = []
        for img_id, anns in anns_of.items():
            img = images[img_id]
            for ann in anns:
                info = self._parse_or_skip(
                    path, f'annotation {ann.get("id")}', self._parse, img,
                    ann)
                if info is not None:
                    data_list.append(info)
        self._summary(len(data_list), path)
        return data_list

    def _parse(self, img, ann):
        img_shape = image_size(img, f'image {img.get("id")}')
        img_path = osp.join(self.img_dir, img['sequence'], img['file_name'])
        cam = img['cam_param']
        cam_param = self._cam_param(cam['focal'], cam['princpt'],
                                    'image cam_param')
        smpl_param = self._smpl_param(ann['smpl_param'], 'smpl_param')
        tight_bbox = as_array(ann['bbox'], (4, ), 'bbox')
        bbox = self._bbox(tight_bbox, img_shape)
        if bbox is None:
            self._filtered('empty boxes')
            return None
        extra = dict(sequence=img['sequence'])
        if self.use_openpose_inputs:
            joints, valid = self._input_joints(ann, 'openpose_result')
            joint_box = bbox_from_joints(joints, valid[:, 0])
            if joint_box is not None:
                joint_box = self._bbox(joint_box, img_shape,
                                       keep_degenerate=True)
            if joint_box is None or joint_box[2] <= 0 or joint_box[3] <= 0:
                self._filtered('boxes from the annotation (no usable '
                               'OpenPose joints)')
            else:
                bbox = joint_box
            extra.update(input_joints=joints, input_joints_valid=valid)
        return self._instance(
            img_path=img_path,
            img_shape=img_shape,
            ann_id=ann['id'],
            img_id=img['id'],
            bbox=bbox,
            tight_bbox=tight_bbox,
            joint_img=None,
            joint_cam=None,
            joint_valid=None,
            smpl_param=smpl_param,
            cam_param=cam_param,
            **extra)
