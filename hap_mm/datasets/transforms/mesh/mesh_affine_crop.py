"""Affine crop of a person box to the mesh model's input, with the
3DCrowdNet augmentation."""
from typing import Optional, Tuple

import cv2
import numpy as np
from mmcv.transforms import BaseTransform
from mmpose.registry import TRANSFORMS

from ...mesh.joint_sets import OPENPOSE_JOINTS
from .mesh_random_state import MeshRandomState
from .mesh_utils import bbox_from_joints, patch_transform


@TRANSFORMS.register_module()
class MeshAffineCrop(MeshRandomState, BaseTransform):
    """Crop ``bbox`` to ``input_size`` by an affine warp, augmenting in
    training as 3DCrowdNet's ``augmentation`` does (RELEASE_DOWNSTREAM 5.3):

    - scale ``1 + 0.25 * clip(N(0, 1), -1, 1)`` (the box is enlarged by it);
    - rotation ``30 * clip(N(0, 1), -2, 2)`` degrees with probability 0.6,
      else 0 (positive = the person turns clockwise in the crop);
    - horizontal flip with probability 0.5: the image is mirrored first
      (``x -> W - 1 - x``) and the box centre with it, so ``img2bb_trans``
      maps *flipped* image pixels to the crop;
    - colour: each channel times ``U[0.8, 1.2]``, clipped to [0, 255].

    In test mode nothing is random (scale 1, rotation 0, no flip, no colour).
    With ``bbox_from_input_joints`` (3DPW test) the box is first replaced by
    the one 3DCrowdNet derives from the OpenPose ``input_joints`` (valid:
    confidence > ``input_conf_thr``; see :func:`bbox_from_joints`); the
    reader's box is kept when fewer than two joints are valid.

    **Required keys:** ``img`` (H, W, 3) uint8 BGR (mmpose ``LoadImage``),
    ``bbox`` (4,) xywh px; ``input_joints`` (19, 3) with
    ``bbox_from_input_joints``.
    **Modified keys:** ``img`` -> (h, w, 3) uint8, ``img_shape`` -> (h, w),
    ``bbox`` (only with ``bbox_from_input_joints``).
    **Added keys:** ``ori_shape`` (H, W) of the full image,
    ``img2bb_trans`` / ``bb2img_trans`` (2, 3) float32 (image px <-> crop
    px), ``scale`` (float), ``rot`` (float, degrees), ``flip`` (bool),
    ``color_scale`` (3,), ``input_size`` (w, h).

    Args:
        input_size (tuple): Crop (w, h) in px. Defaults to (256, 256).
        test_mode (bool): No augmentation.
        scale_factor, rot_factor, rot_prob, color_factor, flip_prob: The
            augmentation above (release values by default).
        bbox_from_input_joints (bool): 3DPW test's box from the input joints.
        input_conf_thr (float): OpenPose confidence threshold (0.05).
        seed (int, optional): See :class:`MeshRandomState`.
    """

    def __init__(self,
                 input_size: Tuple[int, int] = (256, 256),
                 test_mode: bool = False,
                 scale_factor: float = 0.25,
                 rot_factor: float = 30.,
                 rot_prob: float = 0.6,
                 color_factor: float = 0.2,
                 flip_prob: float = 0.5,
                 bbox_from_input_joints: bool = False,
                 input_conf_thr: float = 0.05,
                 seed: Optional[int] = None) -> None:
        super().__init__()
        self.input_size = tuple(input_size)
        self.test_mode = test_mode
        self.scale_factor = scale_factor
        self.rot_factor = rot_factor
        self.rot_prob = rot_prob
        self.color_factor = color_factor
        self.flip_prob = flip_prob
        self.bbox_from_input_joints = bbox_from_input_joints
        self.input_conf_thr = input_conf_thr
        self._init_random(seed)

    def sample_aug(self):
        """(scale, rot degrees, colour scale (3,), flip) of one sample."""
        if self.test_mode:
            return 1.0, 0.0, np.ones(3), False
        rng = self.rng
        scale = 1.0 + np.clip(rng.standard_normal(), -1, 1) * \
            self.scale_factor
        rot = np.clip(rng.standard_normal(), -2, 2) * self.rot_factor
        if rng.random() >= self.rot_prob:
            rot = 0.0
        color = rng.uniform(1 - self.color_factor, 1 + self.color_factor, 3)
        flip = bool(rng.random() < self.flip_prob)
        return float(scale), float(rot), color, flip

    def transform(self, results: dict) -> dict:
        img = results['img']
        if img.ndim != 3 or img.shape[2] != 3:
            raise ValueError(f'{results.get("img_path")}: expected an '
                             f'(H, W, 3) image, got shape {img.shape}')
        height, width = img.shape[:2]
        if self.bbox_from_input_joints:
            joints = np.asarray(results['input_joints'], dtype=np.float64)
            if joints.shape != (len(OPENPOSE_JOINTS), 3):
                raise ValueError(
                    f'{results.get("img_path")}: input_joints must be '
                    f'({len(OPENPOSE_JOINTS)}, 3) OpenPose x, y, conf; got '
                    f'{joints.shape}')
            bbox = bbox_from_joints(joints, joints[:, 2] > self.input_conf_thr,
                                    (height, width),
                                    self.input_size[0] / self.input_size[1])
            if bbox is not None:
                results['bbox'] = bbox
        bbox = np.asarray(results['bbox'], dtype=np.float64).reshape(4)
        if not (bbox[2] > 0 and bbox[3] > 0):
            raise ValueError(f'{results.get("img_path")}: bbox {bbox} has no '
                             'area')
        scale, rot, color, flip = self.sample_aug()
        center = (bbox[0] + 0.5 * bbox[2], bbox[1] + 0.5 * bbox[3])
        if flip:
            img = img[:, ::-1]
            center = (width - center[0] - 1, center[1])
        trans = patch_transform(center, bbox[2:], scale, rot, self.input_size)
        inv = patch_transform(center, bbox[2:], scale, rot, self.input_size,
                              inv=True)
        patch = cv2.warpAffine(
            np.ascontiguousarray(img).astype(np.float32), trans,
            self.input_size, flags=cv2.INTER_LINEAR)
        patch = np.clip(patch * color[None, None, :], 0, 255)
        results['img'] = np.round(patch).astype(np.uint8)
        results['ori_shape'] = (height, width)
        results['img_shape'] = (self.input_size[1], self.input_size[0])
        results['img2bb_trans'] = trans
        results['bb2img_trans'] = inv
        results['scale'] = scale
        results['rot'] = rot
        results['flip'] = flip
        results['color_scale'] = np.asarray(color, dtype=np.float32)
        results['input_size'] = self.input_size
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(input_size={self.input_size}, '
                f'test_mode={self.test_mode}, '
                f'bbox_from_input_joints={self.bbox_from_input_joints})')
