"""MPII human pose with the NeuralAnnot SMPL fits."""
from typing import Optional

from mmpose.registry import DATASETS

from . import joint_sets
from .neuralannot_dataset import NeuralAnnotDataset


@DATASETS.register_module()
class MeshMPIIDataset(NeuralAnnotDataset):
    """MPII train persons with NeuralAnnot SMPL fits (2-D set).

    Layout (defaults)::

        data/mesh/MPII/
          data/annotations/train.json                       (COCO-format
                                                           MPII of the
                                                           I2L-MeshNet release)
          data/annotations/MPII_train_SMPL_NeuralAnnot.json (NeuralAnnot)
          data/images/<name>.jpg

    Read are ``images[]``: ``id``, ``file_name`` (joined to ``data/``, so
    it carries the ``images/`` folder), ``width``, ``height``;
    ``annotations[]``: ``id``, ``image_id``, ``bbox``, ``keypoints``
    (16 x 3, ``MPII_JOINTS`` order). No crowd filter (release). See
    :class:`NeuralAnnotDataset` for the fields; ``near_joints`` are the
    other people's MPII joints in COCO order (no face rows: 0).

    Not pinned down by public code: the exact ``file_name`` values of the
    parsed ``train.json`` (3DCrowdNet joins them to ``MPII/data``, whose
    images sit in ``data/images``, so they are taken to start with
    ``images/``; set ``data_prefix`` otherwise).

    Args:
        data_root (str): Defaults to ``data/mesh/MPII``.
        split (str): ``train``.
        ann_file (str): Defaults to ``data/annotations/train.json``.
        smpl_file (str): Defaults to
            ``data/annotations/MPII_train_SMPL_NeuralAnnot.json``.
        data_prefix (dict): Defaults to ``dict(img='data')``.
        **kwargs: See :class:`MeshBaseDataset`.
    """

    DATASET_NAME = 'MPII'
    RELEASE = ('the COCO-format MPII annotations of the I2L-MeshNet / '
               '3DCrowdNet release, the official MPII images and the '
               'NeuralAnnot SMPL fits (MPII_train_SMPL_NeuralAnnot.json)')
    JOINTS_NAME = joint_sets.MPII_JOINTS
    NUM_KEYPOINTS = 16

    def __init__(self,
                 data_root: str = 'data/mesh/MPII',
                 split: str = 'train',
                 ann_file: str = 'data/annotations/train.json',
                 smpl_file: str = ('data/annotations/'
                                   'MPII_train_SMPL_NeuralAnnot.json'),
                 data_prefix: Optional[dict] = None,
                 **kwargs) -> None:
        super().__init__(
            smpl_file=smpl_file,
            data_root=data_root,
            split=split,
            ann_file=ann_file,
            data_prefix=data_prefix or dict(img='data'),
            **kwargs)
