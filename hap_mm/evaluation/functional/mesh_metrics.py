"""3-D human pose and shape errors: MPJPE, PA-MPJPE and MPVPE (NumPy).

The 3DPW protocol (3DCrowdNet's ``PW3D.evaluate``): joints and mesh are made
root-relative, PA-MPJPE aligns each predicted pose to its ground truth with a
similarity transform (scale, rotation, translation; Procrustes / Umeyama)
before measuring. Everything is vectorised over the samples.
"""
from typing import Dict, Optional

import numpy as np


def _as_points(name: str, value) -> np.ndarray:
    """``value`` as a float64 (N, K, 3) array, or a ValueError naming it."""
    arr = np.asarray(value, dtype=np.float64)
    if arr.ndim != 3 or arr.shape[-1] != 3:
        raise ValueError(f'{name} must have shape (N, K, 3), got '
                         f'{tuple(arr.shape)}')
    return arr


def procrustes_align(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """Align each predicted point set to its ground truth with the similarity
    transform (scale, rotation, translation) of least squared error.

    The rotation is a proper one (determinant +1): when the best orthogonal
    map would be a reflection, the singular direction of least weight is
    flipped (Umeyama 1991), so a mirrored prediction is not aligned away.
    A prediction whose points all coincide gets scale 0 (it is moved onto
    the ground truth's centroid).

    Args:
        pred (np.ndarray): (N, K, 3) predicted points.
        gt (np.ndarray): (N, K, 3) ground-truth points, same unit.

    Returns:
        np.ndarray: (N, K, 3) the aligned predictions, float64.
    """
    pred = _as_points('pred', pred)
    gt = _as_points('gt', gt)
    mu_p = pred.mean(1, keepdims=True)
    mu_g = gt.mean(1, keepdims=True)
    p0, g0 = pred - mu_p, gt - mu_g
    # cross-covariance (N, 3, 3): sum over points of p g^T
    cov = np.einsum('nki,nkj->nij', p0, g0)
    u, s, vt = np.linalg.svd(cov)
    # rotation applied to row vectors p: g ~ c * R p, R = V D U^T
    sign = np.sign(np.linalg.det(np.einsum('nji,nkj->nik', vt, u)))
    sign[sign == 0] = 1.0
    d = np.ones_like(s)
    d[:, -1] = sign
    rot = np.einsum('nji,nj,nkj->nik', vt, d, u)
    var_p = (p0**2).sum((1, 2))
    trace = (s * d).sum(1)
    scale = np.divide(trace, var_p, out=np.zeros_like(trace),
                      where=var_p > 0)
    return scale[:, None, None] * np.einsum('nij,nkj->nki', rot, p0) + mu_g


def mesh_metrics(pred_joints,
                 gt_joints,
                 pred_verts=None,
                 gt_verts=None,
                 root_index: Optional[int] = None) -> Dict[str, float]:
    """Mean per-joint position error, its Procrustes-aligned version and the
    mean per-vertex position error.

    With ``root_index``, each side is first translated so that its joint
    ``root_index`` is at the origin; its vertices move by the same offset (the
    joint of the same side). ``None`` leaves the inputs as they are (e.g.
    when they were made root-relative before, as the 3DPW protocol does with
    different roots for joints and mesh).

    Args:
        pred_joints (array-like): (N, J, 3) predicted joints, millimetres.
        gt_joints (array-like): (N, J, 3) ground-truth joints, millimetres.
        pred_verts (array-like, optional): (N, V, 3) predicted mesh vertices,
            millimetres.
        gt_verts (array-like, optional): (N, V, 3) ground-truth vertices,
            millimetres. Give both vertex arrays or neither.
        root_index (int, optional): The joint to translate to the origin.

    Returns:
        dict: ``MPJPE`` and ``PA-MPJPE`` (mean over samples and joints of the
        Euclidean error, millimetres; PA = after a per-sample similarity
        alignment of the predicted joints to the ground truth), and ``MPVPE``
        (mean over samples and vertices, millimetres) when vertices are given.

    Raises:
        ValueError: mismatched or malformed shapes, only one vertex array,
            or ``root_index`` outside ``[0, J)``.
    """
    pred_j = _as_points('pred_joints', pred_joints)
    gt_j = _as_points('gt_joints', gt_joints)
    if pred_j.shape != gt_j.shape:
        raise ValueError(f'pred_joints {pred_j.shape} and gt_joints '
                         f'{gt_j.shape} differ in shape')
    if pred_j.shape[0] == 0 or pred_j.shape[1] == 0:
        raise ValueError(f'no samples or no joints: {pred_j.shape}')
    if (pred_verts is None) != (gt_verts is None):
        raise ValueError('give both pred_verts and gt_verts, or neither')
    with_verts = pred_verts is not None
    if with_verts:
        pred_v = _as_points('pred_verts', pred_verts)
        gt_v = _as_points('gt_verts', gt_verts)
        if pred_v.shape != gt_v.shape:
            raise ValueError(f'pred_verts {pred_v.shape} and gt_verts '
                             f'{gt_v.shape} differ in shape')
        if pred_v.shape[0] != pred_j.shape[0]:
            raise ValueError(f'{pred_v.shape[0]} vertex sets for '
                             f'{pred_j.shape[0]} joint sets')
    if root_index is not None:
        if not 0 <= root_index < pred_j.shape[1]:
            raise ValueError(f'root_index {root_index} is outside the '
                             f'{pred_j.shape[1]} joints')
        pred_root = pred_j[:, root_index:root_index + 1]
        gt_root = gt_j[:, root_index:root_index + 1]
        pred_j, gt_j = pred_j - pred_root, gt_j - gt_root
        if with_verts:
            pred_v, gt_v = pred_v - pred_root, gt_v - gt_root

    results = {
        'MPJPE': float(np.linalg.norm(pred_j - gt_j, axis=-1).mean()),
        'PA-MPJPE': float(
            np.linalg.norm(procrustes_align(pred_j, gt_j) - gt_j,
                           axis=-1).mean()),
    }
    if with_verts:
        results['MPVPE'] = float(np.linalg.norm(pred_v - gt_v, axis=-1).mean())
    return results
