"""The seven L1 losses of 3DCrowdNet (HAP release section 5.3)."""
from typing import Dict

import torch

from ...datasets.mesh.joint_sets import GRAPH_JOINTS, SMPL_JOINTS

# Rows of the 30 SMPL_JOINTS that are the 15 GRAPH_JOINTS.
GRAPH_INDEX = tuple(SMPL_JOINTS.index(name) for name in GRAPH_JOINTS)
# Heatmap resolution ratio: PositionNet's 8 bins -> the targets' 64 px.
_HM_RATIO = 8


def mesh_losses(pred: Dict[str, torch.Tensor],
                gt: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
    """The release's losses, each an L1 ``.mean()`` over all elements (masked
    ones count as zeros), summed by mmengine with weight 1.

    Args:
        pred (dict): ``joint_img`` (B, 15, 3) PositionNet joints in 8-bin
            units; ``joint_proj`` (B, 30, 2) projected SMPL joints in 64x64
            heatmap px; ``joint_cam`` (B, 30, 3) root-relative SMPL joints,
            metres; ``pose`` (B, 72); ``shape`` (B, 10).
        gt (dict): the batched ``gt_mesh`` fields (contract section 3):
            ``orig_joint_img``, ``fit_joint_img`` (B, 30, 3) heatmap px;
            ``orig_joint_cam``, ``fit_joint_cam`` (B, 30, 3) metres;
            ``pose_param`` (B, 72); ``shape_param`` (B, 10);
            ``orig_joint_valid``, ``orig_joint_trunc``, ``fit_joint_trunc``
            (B, 30, 1); ``fit_param_valid`` (B, 72); ``is_valid_fit``,
            ``is_3D`` (B, ).

    Returns:
        dict: ``loss_body_joint_img`` (x 1/8; z only for 3-D data),
        ``loss_smpl_joint_img`` (x 1/8), ``loss_smpl_pose``,
        ``loss_smpl_shape``, ``loss_body_joint_proj`` (x 1/8),
        ``loss_body_joint_cam`` (3-D data only), ``loss_smpl_joint_cam``.
    """
    idx = list(GRAPH_INDEX)
    is_3d = gt['is_3D'].float()[:, None, None]
    fit = gt['is_valid_fit'].float()
    joint_img = pred['joint_img'] * _HM_RATIO

    body_img = (joint_img - gt['orig_joint_img'][:, idx]).abs() * \
        gt['orig_joint_trunc'][:, idx]
    body_img = torch.cat((body_img[..., :2], body_img[..., 2:] * is_3d), -1)
    smpl_img = (joint_img - gt['fit_joint_img'][:, idx]).abs() * \
        gt['fit_joint_trunc'][:, idx] * fit[:, None, None]
    pose = (pred['pose'] - gt['pose_param']).abs() * \
        gt['fit_param_valid'] * fit[:, None]
    shape = (pred['shape'] - gt['shape_param']).abs() * fit[:, None]
    proj = (pred['joint_proj'] - gt['orig_joint_img'][..., :2]).abs() * \
        gt['orig_joint_trunc']
    body_cam = (pred['joint_cam'] - gt['orig_joint_cam']).abs() * \
        gt['orig_joint_valid'] * is_3d
    smpl_cam = (pred['joint_cam'] - gt['fit_joint_cam']).abs() * \
        fit[:, None, None]
    return dict(
        loss_body_joint_img=body_img.mean() / 8,
        loss_smpl_joint_img=smpl_img.mean() / 8,
        loss_smpl_pose=pose.mean(),
        loss_smpl_shape=shape.mean(),
        loss_body_joint_proj=proj.mean() / 8,
        loss_body_joint_cam=body_cam.mean(),
        loss_smpl_joint_cam=smpl_cam.mean())
