"""Targets from a sample's SMPL fit (training) or its ground-truth mesh
(3DPW test)."""
import os.path as osp
from typing import Optional, Tuple

import numpy as np
from mmcv.transforms import BaseTransform
from mmpose.registry import TRANSFORMS

from ...mesh.joint_sets import (
    H36M_JOINTS,
    SMPL_FLIP_PAIRS,
    SMPL_JOINTS,
    SMPL_ROOT_INDEX,
    SMPL_UNSUPERVISED_PARAMS,
    transform_joints,
)
from .mesh_utils import (
    affine_points,
    cam2pixel,
    depth_to_bins,
    flip_pairs_from_names,
    flip_smpl_pose,
    in_grid,
    rotate_axis_angle,
    rotation_z,
    swap_rows,
    to_heatmap,
)


@TRANSFORMS.register_module()
class GenerateSMPLTargets(BaseTransform):
    """The ``fit_*`` / parameter targets of 3DCrowdNet, or the test mesh.

    Training, when ``smpl_param`` is given (else zero targets and
    ``is_valid_fit`` 0), in this order (as the release's
    ``get_smpl_coord``):

    1. world-frame fits (``cam_param`` has ``R``, ``t``; Human3.6M): the
       world mesh is moved into the camera frame (``R x + t / 1000``) and
       the root pose pre-multiplied by ``R``;
    2. with ``flip``: left/right pose rows exchange and the y, z axis-angle
       components negate; the mirrored body is placed so that its root
       joint has the depth and height of the unflipped root and projects
       to the mirrored column (``x -> W - 1 - x``);
    3. the 30 joints of the neutral SMPL (:class:`SMPLBodyModel`, built
       once per process) are projected with ``cam_param``, cropped
       by ``img2bb_trans``, scaled to heatmap px, their depth made
       root-relative and binned (``depth_bins`` over ``bbox_3d_size`` m) ->
       ``fit_joint_img``; ``fit_joint_trunc`` = inside the grid;
    4. shapes with any ``|beta| > shape_clamp`` become the mean shape (0) in
       ``shape_param`` (the joints above keep the original shape, as the
       release);
    5. fitting check (3-D sets, when ``joint_cam`` is given and
       ``fitting_thr`` is set): the mean distance between the annotated
       root-relative joints and the H36M joints regressed from the fitted
       mesh (translation-aligned, over the joints both sets have) above
       ``fitting_thr`` mm makes ``is_valid_fit`` 0;
    6. the crop rotation (:func:`rotation_z`) turns the root pose and the
       root-relative joints -> ``pose_param``, ``fit_joint_cam`` (metres).

    Steps 1 and 2 are exact; the release instead rotates the posed mesh
    about its regressed pelvis and anchors the flip on the flipped body's
    pelvis, which is right only where the regressed pelvis is SMPL's
    rotation centre (approximately, on the real model).

    ``fit_param_valid`` (72,) is 0 for the ``SMPL_UNSUPERVISED_PARAMS``
    joints, 1 elsewhere.

    Test (``test_mode``, 3DPW): ``smpl_mesh_cam`` (6890, 3) metres in the
    camera frame from the gender's SMPL (``smpl_param['gender']``), with
    the translation, no root subtraction; nothing else.

    **Required keys:** ``smpl_param`` (dict ``pose`` (72,), ``shape`` (10,),
    ``trans`` (3,) m, ``gender``) or None; ``cam_param`` (``focal``,
    ``princpt``, optional ``R``, ``t`` mm); train also ``flip``, ``rot``,
    ``ori_shape``, ``img2bb_trans``, optional ``joint_cam`` (J, 3) mm and
    ``joints_name``.
    **Added keys (train):** ``fit_joint_img`` (30, 3), ``fit_joint_cam``
    (30, 3), ``fit_joint_trunc`` (30, 1), ``pose_param`` (72,),
    ``shape_param`` (10,), ``fit_param_valid`` (72,), ``is_valid_fit``
    (float). **(test):** ``smpl_mesh_cam`` when ``smpl_param`` is given.

    Args:
        model_dir (str): Folder of ``SMPL_{NEUTRAL,MALE,FEMALE}.pkl``.
        extra_regressor (str): ``J_regressor_extra.npy``.
        h36m_regressor (str): ``J_regressor_h36m_correct.npy`` (17, 6890),
            read only for the fitting check.
        test_mode (bool): Build the test mesh instead of the targets.
        input_size, heatmap_size, depth_bins, bbox_3d_size: As
            :class:`GenerateMeshJointTargets`.
        fitting_thr (float, optional): mm; None disables the check
            (release: 25).
        shape_clamp (float): Release: 3.
    """

    def __init__(self,
                 model_dir: str = 'data/mesh/body_models/smpl',
                 extra_regressor: str = 'data/mesh/body_models/'
                 'J_regressor_extra.npy',
                 h36m_regressor: str = 'data/mesh/body_models/'
                 'J_regressor_h36m_correct.npy',
                 test_mode: bool = False,
                 input_size: Tuple[int, int] = (256, 256),
                 heatmap_size: Tuple[int, int] = (64, 64),
                 depth_bins: int = 64,
                 bbox_3d_size: float = 2.0,
                 fitting_thr: Optional[float] = 25.0,
                 shape_clamp: float = 3.0) -> None:
        super().__init__()
        self.model_dir = model_dir
        self.extra_regressor = extra_regressor
        self.h36m_regressor = h36m_regressor
        self.test_mode = test_mode
        self.input_size = tuple(input_size)
        self.heatmap_size = tuple(heatmap_size)
        self.depth_bins = depth_bins
        self.bbox_3d_size = bbox_3d_size
        self.fitting_thr = fitting_thr
        self.shape_clamp = shape_clamp
        self._models = {}
        self._h36m = None
        param_valid = np.ones((24, 3), dtype=np.float32)
        for name in SMPL_UNSUPERVISED_PARAMS:
            param_valid[SMPL_JOINTS.index(name)] = 0
        self.param_valid = param_valid.reshape(72)

    def body_model(self, gender: str):
        """The SMPL of ``gender``, built on first use."""
        if gender not in self._models:
            from hap_mm.models.mesh.smpl_body_model import SMPLBodyModel
            self._models[gender] = SMPLBodyModel(
                self.model_dir, gender=gender,
                extra_regressor=self.extra_regressor).eval()
        return self._models[gender]

    def smpl(self, pose, shape, trans, gender='neutral'):
        """(6890, 3) vertices and (30, 3) joints in metres, float64."""
        import torch
        with torch.no_grad():
            verts, joints = self.body_model(gender)(
                torch.as_tensor(pose, dtype=torch.float32).view(1, 72),
                torch.as_tensor(shape, dtype=torch.float32).view(1, 10),
                torch.as_tensor(trans, dtype=torch.float32).view(1, 3))
        return verts[0].double().numpy(), joints[0].double().numpy()

    def h36m_regressor_array(self) -> np.ndarray:
        if self._h36m is None:
            if not osp.isfile(self.h36m_regressor):
                raise FileNotFoundError(
                    'H36M joint regressor not found: expected '
                    f'{self.h36m_regressor}, a (17, 6890) array '
                    '(J_regressor_h36m_correct.npy)')
            reg = np.load(self.h36m_regressor)
            if reg.shape != (len(H36M_JOINTS), 6890):
                raise ValueError(f'{self.h36m_regressor}: shape {reg.shape},'
                                 ' expected (17, 6890)')
            self._h36m = reg.astype(np.float64)
        return self._h36m

    @staticmethod
    def _param(smpl_param: dict, key: str, size: int, where) -> np.ndarray:
        value = np.asarray(smpl_param[key], dtype=np.float64).reshape(-1)
        if value.size != size:
            raise ValueError(f'{where}: smpl_param[{key!r}] has {value.size} '
                             f'values, expected {size}')
        return value

    def fitting_error(self, results: dict, verts: np.ndarray) -> float:
        """Mean joint distance in mm between the (flipped) annotated joints
        and the fitted mesh's H36M joints after aligning their means."""
        names = tuple(results['joints_name'])
        cam = np.array(results['joint_cam'], dtype=np.float64)
        cam = cam - cam[names.index('Pelvis')]
        if results['flip']:
            cam[:, 0] = -cam[:, 0]
            cam = swap_rows(cam, flip_pairs_from_names(names))
        h36m = transform_joints(cam, names, H36M_JOINTS)
        present = np.array([n in names for n in H36M_JOINTS])
        fit = self.h36m_regressor_array() @ (verts * 1000)
        h36m, fit = h36m[present], fit[present]
        fit = fit - fit.mean(0) + h36m.mean(0)
        return float(np.linalg.norm(h36m - fit, axis=1).mean())

    def transform(self, results: dict) -> dict:
        smpl_param = results.get('smpl_param')
        where = results.get('img_path')
        if self.test_mode:
            if smpl_param is not None:
                verts, _ = self.smpl(
                    self._param(smpl_param, 'pose', 72, where),
                    self._param(smpl_param, 'shape', 10, where),
                    self._param(smpl_param, 'trans', 3, where),
                    smpl_param.get('gender', 'neutral'))
                results['smpl_mesh_cam'] = verts
            return results

        results['fit_param_valid'] = self.param_valid.copy()
        num = len(SMPL_JOINTS)
        if smpl_param is None:
            results.update(
                fit_joint_img=np.zeros((num, 3)),
                fit_joint_cam=np.zeros((num, 3)),
                fit_joint_trunc=np.zeros((num, 1)),
                pose_param=np.zeros(72),
                shape_param=np.zeros(10),
                is_valid_fit=0.0)
            return results

        pose = self._param(smpl_param, 'pose', 72, where)
        shape = self._param(smpl_param, 'shape', 10, where)
        trans = self._param(smpl_param, 'trans', 3, where)
        cam_param = results['cam_param']
        focal = np.asarray(cam_param['focal'], dtype=np.float64)
        princpt = np.asarray(cam_param['princpt'], dtype=np.float64)
        root = SMPL_ROOT_INDEX
        verts, joints = self.smpl(pose, shape, trans)
        if 'R' in cam_param:
            R = np.asarray(cam_param['R'], dtype=np.float64).reshape(3, 3)
            t = np.asarray(cam_param['t'], dtype=np.float64).reshape(3)
            verts = verts @ R.T + t / 1000
            joints = joints @ R.T + t / 1000
            pose[:3] = rotate_axis_angle(pose[:3], R)
        if results['flip']:
            pose = flip_smpl_pose(pose, SMPL_FLIP_PAIRS)
            x, y, z = joints[root]
            mirror_x = 2 * ((results['ori_shape'][1] - 1) / 2 -
                            princpt[0]) / focal[0] * z - x
            verts, joints = self.smpl(pose, shape, np.zeros(3))
            offset = np.array([mirror_x, y, z]) - joints[root]
            verts, joints = verts + offset, joints + offset
        if np.any(np.abs(shape) > self.shape_clamp):
            shape = np.zeros(10)

        proj = cam2pixel(joints, focal, princpt)
        img = np.zeros((num, 3))
        img[:, :2] = to_heatmap(
            affine_points(proj, results['img2bb_trans']), self.input_size,
            self.heatmap_size)
        img[:, 2] = depth_to_bins(joints[:, 2] - joints[root, 2],
                                  self.bbox_3d_size, self.depth_bins)
        trunc = in_grid(img, self.heatmap_size + (self.depth_bins, ))

        valid_fit = 1.0
        if self.fitting_thr is not None and \
                results.get('joint_cam') is not None:
            if self.fitting_error(results, verts) > self.fitting_thr:
                valid_fit = 0.0

        rot_mat = rotation_z(results['rot'])
        pose[:3] = rotate_axis_angle(pose[:3], rot_mat)
        results.update(
            fit_joint_img=img,
            fit_joint_cam=(joints - joints[root]) @ rot_mat.T,
            fit_joint_trunc=trunc[:, None].astype(np.float64),
            pose_param=pose,
            shape_param=shape,
            is_valid_fit=valid_fit)
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(model_dir={self.model_dir!r}, '
                f'test_mode={self.test_mode}, '
                f'fitting_thr={self.fitting_thr})')
