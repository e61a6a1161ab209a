"""Geometry helpers of the 3-D mesh pipeline (3DCrowdNet conventions).

Image coordinates are pixels with the origin at the centre of the top-left
pixel (a horizontal flip maps ``x`` to ``W - 1 - x``); camera coordinates are
x right, y down, z forward.
"""
from typing import Optional, Sequence, Tuple

import cv2
import numpy as np


def flip_pairs_from_names(names: Sequence[str]) -> Tuple[Tuple[int, int], ...]:
    """Left/right pairs of a joint set: ``L_<x>`` with ``R_<x>``.

    Equals each set's flip pairs of ``joint_sets`` (tested), so a reader only
    has to give its ``joints_name``.
    """
    index = {name: i for i, name in enumerate(names)}
    return tuple((i, index['R_' + name[2:]]) for i, name in enumerate(names)
                 if name.startswith('L_') and 'R_' + name[2:] in index)


def swap_rows(arr: np.ndarray, pairs, axis: int = 0) -> np.ndarray:
    """A copy of ``arr`` with the rows of each pair exchanged along ``axis``."""
    out = np.array(arr, copy=True)
    if len(pairs) == 0:
        return out
    a, b = np.asarray(pairs).T
    src = np.arange(out.shape[axis])
    src[a], src[b] = b, a
    return np.take(out, src, axis=axis)


def affine_points(points: np.ndarray, trans: np.ndarray) -> np.ndarray:
    """Apply a (2, 3) affine transform to (..., 2+) points; returns (..., 2)."""
    points = np.asarray(points, dtype=np.float64)
    return points[..., :2] @ trans[:, :2].T + trans[:, 2]


def cam2pixel(cam: np.ndarray, focal, princpt) -> np.ndarray:
    """Pinhole projection of (N, 3) camera points; z is kept as given.

    Returns:
        np.ndarray: (N, 3) x, y in pixels and the camera z (same unit as
        the input).
    """
    x = cam[:, 0] / cam[:, 2] * focal[0] + princpt[0]
    y = cam[:, 1] / cam[:, 2] * focal[1] + princpt[1]
    return np.stack((x, y, cam[:, 2]), 1)


def patch_transform(center: Tuple[float, float], size: Tuple[float, float],
                    scale: float, rot: float, out_size: Tuple[int, int],
                    inv: bool = False) -> np.ndarray:
    """The (2, 3) affine map of a rotated, scaled box to the output patch.

    The box of ``size * scale`` (w, h) centred at ``center``, rotated by
    ``rot`` degrees (counter-clockwise in the image as seen), is mapped to
    ``out_size`` (w, h): its centre to the patch centre, its axes to the
    patch axes (3DCrowdNet's ``gen_trans_from_patch_cv``).

    Args:
        inv (bool): The patch -> image map instead.
    """
    src_w, src_h = size[0] * scale, size[1] * scale
    rad = np.deg2rad(rot)
    cs, sn = np.cos(rad), np.sin(rad)
    down = np.array([-sn * src_h * 0.5, cs * src_h * 0.5])
    right = np.array([cs * src_w * 0.5, sn * src_w * 0.5])
    c = np.asarray(center, dtype=np.float64)
    src = np.stack([c, c + down, c + right]).astype(np.float32)
    dw, dh = out_size
    dc = np.array([dw * 0.5, dh * 0.5])
    dst = np.stack([dc, dc + [0, dh * 0.5], dc + [dw * 0.5, 0]]).astype(
        np.float32)
    if inv:
        return cv2.getAffineTransform(dst, src).astype(np.float32)
    return cv2.getAffineTransform(src, dst).astype(np.float32)


def rotation_z(rot: float) -> np.ndarray:
    """(3, 3) rotation of camera coordinates matching an in-plane image
    rotation of the crop by ``rot`` degrees (3DCrowdNet's ``rot_aug_mat``:
    a rotation by ``-rot`` about the optical axis)."""
    rad = np.deg2rad(-rot)
    cs, sn = np.cos(rad), np.sin(rad)
    return np.array([[cs, -sn, 0], [sn, cs, 0], [0, 0, 1]], dtype=np.float64)


def rotate_axis_angle(aa: np.ndarray, rot_mat: np.ndarray) -> np.ndarray:
    """``rot_mat @ R(aa)`` back to axis-angle; (3,) radians in and out."""
    mat, _ = cv2.Rodrigues(np.asarray(aa, dtype=np.float64).reshape(3))
    out, _ = cv2.Rodrigues(rot_mat @ mat)
    return out.reshape(3)


def flip_smpl_pose(pose: np.ndarray, pairs) -> np.ndarray:
    """Mirror a (72,) SMPL axis-angle pose about the image's vertical axis:
    left/right joints exchange and the y and z axis-angle components change
    sign. ``pairs`` index the 24 SMPL joints (pairs past 23 are ignored)."""
    pose = np.asarray(pose, dtype=np.float64).reshape(24, 3)
    pose = swap_rows(pose, [p for p in pairs if max(p) < 24])
    pose[:, 1:] *= -1
    return pose.reshape(72)


def to_heatmap(xy: np.ndarray, input_size: Tuple[int, int],
               heatmap_size: Tuple[int, int]) -> np.ndarray:
    """(..., 2) input-patch pixels -> heatmap pixels (x by width, y by
    height)."""
    return xy * np.array([heatmap_size[0] / input_size[0],
                          heatmap_size[1] / input_size[1]])


def depth_to_bins(rel_depth: np.ndarray, bbox_3d_size: float,
                  depth_bins: int) -> np.ndarray:
    """Root-relative depth (same unit as ``bbox_3d_size``) -> bin
    coordinate in ``[0, depth_bins)`` over ``[-size/2, size/2)``."""
    return (rel_depth / (bbox_3d_size / 2) + 1) / 2 * depth_bins


def in_grid(coords: np.ndarray, grid: Sequence[int]) -> np.ndarray:
    """(N, len(grid)) -> (N,) bool: each coordinate in ``[0, grid_i)``."""
    ok = np.ones(len(coords), dtype=bool)
    for i, g in enumerate(grid):
        ok &= (coords[:, i] >= 0) & (coords[:, i] < g)
    return ok


def bbox_from_joints(joints: np.ndarray, valid: np.ndarray,
                     img_shape: Tuple[int, int],
                     aspect_ratio: float = 1.0) -> Optional[np.ndarray]:
    """3DPW test's box from the input 2-D joints: the valid joints' extent
    x1.2, clipped to the image, then widened to ``aspect_ratio`` (w / h)
    and x1.25 (3DCrowdNet ``get_bbox`` + ``process_bbox(is_3dpw_test)``).

    Returns:
        np.ndarray | None: (4,) xywh, or None when fewer than two joints
        are valid or they span no area.
    """
    pts = joints[np.asarray(valid, bool).reshape(-1), :2]
    if len(pts) < 2:
        return None
    (xmin, ymin), (xmax, ymax) = pts.min(0), pts.max(0)
    cx, cy = (xmin + xmax) / 2, (ymin + ymax) / 2
    w, h = (xmax - xmin) * 1.2, (ymax - ymin) * 1.2
    x, y = cx - w / 2, cy - h / 2
    height, width = img_shape
    x1, y1 = max(0., x), max(0., y)
    x2 = min(width - 1., x1 + max(0., w - 1))
    y2 = min(height - 1., y1 + max(0., h - 1))
    w, h = x2 - x1, y2 - y1
    if w <= 0 or h <= 0:
        return None
    c_x, c_y = x1 + w / 2, y1 + h / 2
    if w > aspect_ratio * h:
        h = w / aspect_ratio
    else:
        w = h * aspect_ratio
    w, h = w * 1.25, h * 1.25
    return np.array([c_x - w / 2, c_y - h / 2, w, h], dtype=np.float32)


def worker_rng(seed: Optional[int]) -> np.random.Generator:
    """A NumPy generator for one data-loader process.

    ``seed=None`` draws the seed from NumPy's global generator, which
    mmengine seeds per worker (``randomness.seed`` + worker id + rank), so
    runs are reproducible and workers differ. An explicit seed is combined
    with the worker id for the same reason.
    """
    import torch.utils.data
    info = torch.utils.data.get_worker_info()
    worker = 0 if info is None else info.id
    if seed is None:
        return np.random.default_rng(np.random.randint(0, 2**31 - 1))
    return np.random.default_rng([seed, worker])
