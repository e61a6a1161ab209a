"""Targets from a dataset's own (original) joint annotation."""
from typing import Tuple

import numpy as np
from mmcv.transforms import BaseTransform
from mmpose.registry import TRANSFORMS

from ...mesh.joint_sets import SMPL_JOINTS, transform_joints
from .mesh_utils import (
    affine_points,
    depth_to_bins,
    flip_pairs_from_names,
    in_grid,
    rotation_z,
    swap_rows,
    to_heatmap,
)


@TRANSFORMS.register_module()
class GenerateMeshJointTargets(BaseTransform):
    """The ``orig_*`` targets of 3DCrowdNet from the reader's joints.

    In the dataset's own joint order: with ``flip`` the image x mirrors
    (``W - 1 - x``), the camera x negates and the left/right rows (the
    ``L_``/``R_`` names of ``joints_name``) exchange in joints and validity;
    x, y go through ``img2bb_trans`` and then to heatmap px
    (``heatmap_size`` over ``input_size``). 3-D sets: the image z (camera
    depth, mm) becomes root-relative and is binned into ``depth_bins`` over
    ``bbox_3d_size`` metres; 2-D sets get z = 0. Truncation = valid and
    inside the heatmap grid (x, y, and z for 3-D sets). Everything is then
    re-ordered to the 30 ``SMPL_JOINTS`` (missing joints: zero, invalid).
    The root-relative camera joints (mm) are rotated with the crop
    (:func:`rotation_z`) and turned into metres; 2-D sets get zeros.

    **Required keys:** ``joint_img`` (J, 3), ``joint_cam`` (J, 3) mm or
    None, ``joint_valid`` (J, 1), ``joints_name`` (J names), ``is_3D``,
    ``ori_shape``, ``flip``, ``rot``, ``img2bb_trans`` (from
    :class:`MeshAffineCrop`).
    **Added keys:** ``orig_joint_img`` (30, 3) heatmap px / depth bins,
    ``orig_joint_cam`` (30, 3) metres root-relative, ``orig_joint_valid``
    (30, 1), ``orig_joint_trunc`` (30, 1), and for
    :class:`GenerateMeshInputJoints` ``crop_joints`` (J, 3): the flipped
    joints in crop px with their (flipped) validity as the third column.

    Args:
        input_size (tuple): Crop (w, h) px. Defaults to (256, 256).
        heatmap_size (tuple): Heatmap (w, h). Defaults to (64, 64).
        depth_bins (int): Depth bins. Defaults to 64.
        bbox_3d_size (float): Depth range in metres. Defaults to 2.
        root_name (str): The root joint of the dataset's set ('Pelvis').
    """

    def __init__(self,
                 input_size: Tuple[int, int] = (256, 256),
                 heatmap_size: Tuple[int, int] = (64, 64),
                 depth_bins: int = 64,
                 bbox_3d_size: float = 2.0,
                 root_name: str = 'Pelvis') -> None:
        super().__init__()
        self.input_size = tuple(input_size)
        self.heatmap_size = tuple(heatmap_size)
        self.depth_bins = depth_bins
        self.bbox_3d_size = bbox_3d_size
        self.root_name = root_name

    def transform(self, results: dict) -> dict:
        names = tuple(results['joints_name'])
        where = results.get('img_path')
        if results.get('joint_img') is None:
            raise ValueError(
                f'{where}: no joint_img (a 3DPW sample: its ground truth is '
                'the SMPL fit); GenerateMeshJointTargets is for the training '
                'sets (Human3.6M, MuCo, COCO, MPII)')
        joint_img = np.array(results['joint_img'], dtype=np.float64)
        valid = np.array(results['joint_valid'], dtype=np.float64).reshape(
            -1, 1)
        if joint_img.shape != (len(names), 3) or len(valid) != len(names):
            raise ValueError(
                f'{where}: joint_img {joint_img.shape} / joint_valid '
                f'{valid.shape} do not match the {len(names)} joints_name')
        is_3d = bool(results['is_3D'])
        joint_cam = results.get('joint_cam')
        if is_3d:
            if joint_cam is None or self.root_name not in names:
                raise ValueError(
                    f'{where}: a 3-D sample needs joint_cam and a '
                    f'{self.root_name!r} joint in joints_name')
            root = names.index(self.root_name)
            joint_cam = np.array(joint_cam, dtype=np.float64).reshape(-1, 3)
            joint_cam = joint_cam - joint_cam[root]
        else:
            joint_cam = np.zeros((len(names), 3))

        if results['flip']:
            pairs = flip_pairs_from_names(names)
            joint_img[:, 0] = results['ori_shape'][1] - 1 - joint_img[:, 0]
            joint_cam[:, 0] = -joint_cam[:, 0]
            joint_img = swap_rows(joint_img, pairs)
            joint_cam = swap_rows(joint_cam, pairs)
            valid = swap_rows(valid, pairs)

        crop_xy = affine_points(joint_img, results['img2bb_trans'])
        img = np.zeros_like(joint_img)
        img[:, :2] = to_heatmap(crop_xy, self.input_size, self.heatmap_size)
        if is_3d:
            rel = joint_img[:, 2] - joint_img[root, 2]
            img[:, 2] = depth_to_bins(rel, self.bbox_3d_size * 1000,
                                      self.depth_bins)
            grid = self.heatmap_size + (self.depth_bins, )
        else:
            grid = self.heatmap_size
        trunc = valid * in_grid(img, grid)[:, None]
        cam = joint_cam @ rotation_z(results['rot']).T / 1000

        results['crop_joints'] = np.concatenate([crop_xy, valid], 1)
        results['orig_joint_img'] = transform_joints(img, names, SMPL_JOINTS)
        results['orig_joint_cam'] = transform_joints(cam, names, SMPL_JOINTS)
        results['orig_joint_valid'] = transform_joints(valid, names,
                                                       SMPL_JOINTS)
        results['orig_joint_trunc'] = transform_joints(trunc, names,
                                                       SMPL_JOINTS)
        return results
