"""MS COCO keypoints with the NeuralAnnot SMPL fits."""
from typing import Optional

import numpy as np
from mmpose.registry import DATASETS

from . import joint_sets
from .neuralannot_dataset import NeuralAnnotDataset


@DATASETS.register_module()
class MeshCOCODataset(NeuralAnnotDataset):
    """MS COCO 2017 train persons with NeuralAnnot SMPL fits (2-D set).

    Layout (defaults; the annotation folder as 3DCrowdNet's loader reads
    it)::

        data/mesh/MSCOCO/
          annotations/person_keypoints_train2017.json     (official COCO)
          annotations/MSCOCO_train_SMPL_NeuralAnnot.json  (NeuralAnnot)
          images/train2017/<file_name>

    Read are ``images[]``: ``id``, ``file_name``, ``width``, ``height``;
    ``annotations[]``: ``id``, ``image_id``, ``bbox``, ``keypoints`` (17 x 3),
    ``iscrowd``, ``num_keypoints``. Crowd annotations and annotations
    without keypoints are dropped (release). Joints are
    ``COCO_PELVIS_JOINTS``: the 17 COCO keypoints plus the pelvis (mean of
    the hips, valid when both hips are). See :class:`NeuralAnnotDataset`
    for the other fields.

    Args:
        data_root (str): Defaults to ``data/mesh/MSCOCO``.
        split (str): ``train`` (the release's ``val`` branch is a
            100-sample debug path and is not reproduced).
        ann_file (str): Defaults to
            ``annotations/person_keypoints_train2017.json``.
        smpl_file (str): Defaults to
            ``annotations/MSCOCO_train_SMPL_NeuralAnnot.json``.
        data_prefix (dict): Defaults to ``dict(img='images/train2017')``.
        **kwargs: See :class:`MeshBaseDataset`.
    """

    DATASET_NAME = 'MSCOCO'
    RELEASE = ('the official MS COCO 2017 keypoints and the NeuralAnnot '
               'SMPL fits (MSCOCO_train_SMPL_NeuralAnnot.json)')
    JOINTS_NAME = joint_sets.COCO_PELVIS_JOINTS
    NUM_KEYPOINTS = 17

    def __init__(self,
                 data_root: str = 'data/mesh/MSCOCO',
                 split: str = 'train',
                 ann_file: str = 'annotations/person_keypoints_train2017.json',
                 smpl_file: str = ('annotations/'
                                   'MSCOCO_train_SMPL_NeuralAnnot.json'),
                 data_prefix: Optional[dict] = None,
                 **kwargs) -> None:
        super().__init__(
            smpl_file=smpl_file,
            data_root=data_root,
            split=split,
            ann_file=ann_file,
            data_prefix=data_prefix or dict(img='images/train2017'),
            **kwargs)

    def _ignored(self, ann) -> bool:
        return bool(ann.get('iscrowd', 0)) or ann.get('num_keypoints') == 0

    def _joints(self, keypoints):
        lhip = joint_sets.COCO_JOINTS.index('L_Hip')
        rhip = joint_sets.COCO_JOINTS.index('R_Hip')
        pelvis = (keypoints[lhip] + keypoints[rhip]) * 0.5
        pelvis[2] = keypoints[lhip, 2] * keypoints[rhip, 2]
        return np.concatenate([keypoints, pelvis[None]]).astype(np.float32)
