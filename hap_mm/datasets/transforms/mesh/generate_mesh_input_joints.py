"""The 2-D joints fed to the mesh model (Pose2Feat heatmaps)."""
from typing import Tuple

import numpy as np
from mmcv.transforms import BaseTransform
from mmpose.registry import TRANSFORMS

from ...mesh.joint_sets import (
    COCO_FLIP_PAIRS,
    COCO_JOINTS,
    OPENPOSE_JOINTS,
    SMPL_JOINTS,
    transform_joints,
)
from .mesh_random_state import MeshRandomState
from .mesh_utils import affine_points, in_grid, swap_rows, to_heatmap
from .posefix import box_area_in_crop, synthesize_pose


@TRANSFORMS.register_module()
class GenerateMeshInputJoints(MeshRandomState, BaseTransform):
    """Input 2-D joints ``joints`` (30, 2) in heatmap px and their mask.

    Training (3DCrowdNet's ``replace_joint_img``): the ground-truth joints in
    crop px (``crop_joints`` of :class:`GenerateMeshJointTargets`) that
    COCO also has are replaced by PoseFix-style erroneous detections
    (:mod:`.posefix`); the other people's joints ``near_joints`` serve as
    swap candidates after the same flip and crop; the box area comes from
    ``tight_bbox``. ``joints_mask`` is ``orig_joint_trunc`` (valid and
    inside the heatmap), as in the release.

    Test (3DPW): the OpenPose ``input_joints`` (19, 3) x, y, confidence;
    valid = confidence > ``conf_thr``; ``joints_mask`` = valid and inside
    the heatmap.

    **Required keys (train):** ``crop_joints``, ``joints_name``,
    ``orig_joint_trunc``, ``near_joints`` (K, 17, 3) image px, COCO order,
    validity last, ``num_overlap``, ``tight_bbox`` (4,) xywh, ``flip``,
    ``ori_shape``, ``img2bb_trans``.
    **Required keys (test):** ``input_joints``, ``img2bb_trans``.
    **Added keys:** ``joints`` (30, 2), ``joints_mask`` (30, 1).

    Args:
        test_mode (bool): Use the given detections, no synthesis.
        input_size (tuple): Crop (w, h). Defaults to (256, 256).
        heatmap_size (tuple): Heatmap (w, h). Defaults to (64, 64).
        conf_thr (float): Test detections' confidence threshold (0.05).
        seed (int, optional): See :class:`MeshRandomState`.
    """

    def __init__(self,
                 test_mode: bool = False,
                 input_size: Tuple[int, int] = (256, 256),
                 heatmap_size: Tuple[int, int] = (64, 64),
                 conf_thr: float = 0.05,
                 seed=None) -> None:
        super().__init__()
        self.test_mode = test_mode
        self.input_size = tuple(input_size)
        self.heatmap_size = tuple(heatmap_size)
        self.conf_thr = conf_thr
        self._init_random(seed)

    def _near_joints(self, results: dict) -> np.ndarray:
        near = np.asarray(results.get('near_joints', ()), dtype=np.float64)
        if near.size == 0:
            return np.zeros((1, len(COCO_JOINTS), 3))
        if near.ndim != 3 or near.shape[1:] != (len(COCO_JOINTS), 3):
            raise ValueError(f'{results.get("img_path")}: near_joints must '
                             f'be (K, 17, 3), got {near.shape}')
        near = near.copy()
        if results['flip']:
            near[..., 0] = results['ori_shape'][1] - 1 - near[..., 0]
            near = swap_rows(near, COCO_FLIP_PAIRS, axis=1)
        near[..., :2] = affine_points(near, results['img2bb_trans'])
        near[..., 2] = near[..., 2] > 0
        return near

    def transform(self, results: dict) -> dict:
        if self.test_mode:
            det = np.asarray(results['input_joints'], dtype=np.float64)
            if det.shape != (len(OPENPOSE_JOINTS), 3):
                raise ValueError(
                    f'{results.get("img_path")}: input_joints must be '
                    f'({len(OPENPOSE_JOINTS)}, 3), got {det.shape}')
            det = transform_joints(det, OPENPOSE_JOINTS, SMPL_JOINTS)
            xy = to_heatmap(affine_points(det, results['img2bb_trans']),
                            self.input_size, self.heatmap_size)
            valid = det[:, 2] > self.conf_thr
            results['joints'] = xy
            results['joints_mask'] = (valid & in_grid(
                xy, self.heatmap_size))[:, None].astype(np.float32)
            return results

        names = tuple(results['joints_name'])
        crop = np.array(results['crop_joints'], dtype=np.float64)
        coco = transform_joints(crop, names, COCO_JOINTS)
        area = box_area_in_crop(results['tight_bbox'],
                                results['img2bb_trans'])
        synth = synthesize_pose(coco, self._near_joints(results), area,
                                int(results.get('num_overlap', 0)), self.rng)
        coco_index = {name: i for i, name in enumerate(COCO_JOINTS)}
        for i, name in enumerate(names):
            if name in coco_index:
                crop[i, :2] = synth[coco_index[name], :2]
        xy = to_heatmap(crop[:, :2], self.input_size, self.heatmap_size)
        results['joints'] = transform_joints(xy, names, SMPL_JOINTS)
        results['joints_mask'] = np.array(results['orig_joint_trunc'])
        return results
