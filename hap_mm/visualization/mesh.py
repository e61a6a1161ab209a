"""Pictures of predicted meshes: vertices projected into the input crop and
mapped back to the original image (NumPy only)."""
from typing import Optional, Sequence

import numpy as np

NEAR_COLOUR = np.array([255, 96, 32], np.float64)  # orange (RGB)
FAR_COLOUR = np.array([32, 96, 255], np.float64)  # blue (RGB)


def project_points(points: np.ndarray, focal: Sequence[float],
                   princpt: Sequence[float]) -> np.ndarray:
    """Pinhole projection of camera-frame points.

    Args:
        points (np.ndarray): (V, 3) x, y, z in the camera frame (any length
            unit; z along the optical axis).
        focal (Sequence[float]): (fx, fy) in pixels.
        princpt (Sequence[float]): (cx, cy) in pixels.

    Returns:
        np.ndarray: (V, 2) float64 pixel coordinates ``f * xy / z + c``;
        NaN for points at or behind the camera (z <= 0).
    """
    points = np.asarray(points, dtype=np.float64)
    if points.ndim != 2 or points.shape[1] != 3:
        raise ValueError(f'points must have shape (V, 3), got {points.shape}')
    z = points[:, 2:3]
    with np.errstate(divide='ignore', invalid='ignore'):
        xy = points[:, :2] / z * np.asarray(focal, np.float64) + \
            np.asarray(princpt, np.float64)
    xy[z[:, 0] <= 0] = np.nan
    return xy


def affine_points(points: np.ndarray, trans: np.ndarray) -> np.ndarray:
    """Apply a (2, 3) affine map (e.g. a sample's ``bb2img_trans``, input
    crop px -> image px) to (V, 2) points; returns (V, 2) float64."""
    points = np.asarray(points, dtype=np.float64)
    trans = np.asarray(trans, dtype=np.float64)
    if trans.shape != (2, 3):
        raise ValueError(f'trans must have shape (2, 3), got {trans.shape}')
    return points @ trans[:, :2].T + trans[:, 2]


def draw_mesh_points(img: np.ndarray,
                     points: np.ndarray,
                     depth: np.ndarray,
                     radius: Optional[int] = None,
                     alpha: float = 0.7) -> np.ndarray:
    """Blend projected mesh vertices into an image, coloured by depth
    (orange near, blue far), nearer vertices drawn over farther ones.

    Args:
        img (np.ndarray): (H, W, 3) uint8, RGB (or BGR: the colours swap).
        points (np.ndarray): (V, 2) pixel coordinates; NaN rows and points
            outside the image are skipped.
        depth (np.ndarray): (V,) depth of each vertex (any unit).
        radius (int, optional): Each vertex is a square of side
            ``2 * radius + 1`` px; default ``max(1, min(H, W) // 300)``.
        alpha (float): Opacity of the vertices.

    Returns:
        np.ndarray: a new (H, W, 3) uint8 image.
    """
    h, w = img.shape[:2]
    points = np.asarray(points, dtype=np.float64)
    depth = np.asarray(depth, dtype=np.float64)
    if points.shape != (len(depth), 2):
        raise ValueError(f'points {points.shape} and depth {depth.shape} '
                         'do not describe the same vertices')
    if radius is None:
        radius = max(1, min(h, w) // 300)
    out = img.copy()
    keep = np.isfinite(points).all(1) & np.isfinite(depth)
    points, depth = points[keep], depth[keep]
    if not len(depth):
        return out
    span = np.ptp(depth)
    t = (depth - depth.min()) / span if span > 0 else np.zeros_like(depth)
    colours = (1 - t)[:, None] * NEAR_COLOUR + t[:, None] * FAR_COLOUR
    order = np.argsort(-depth)  # far first: near vertices are written last
    centre = np.round(points[order]).astype(np.int64)
    colours = colours[order]
    offsets = np.arange(-radius, radius + 1)
    dx, dy = np.meshgrid(offsets, offsets)
    xs = (centre[:, 0:1] + dx.reshape(1, -1)).reshape(-1)
    ys = (centre[:, 1:2] + dy.reshape(1, -1)).reshape(-1)
    cols = np.repeat(colours, dx.size, axis=0)
    inside = (xs >= 0) & (xs < w) & (ys >= 0) & (ys < h)
    xs, ys, cols = xs[inside], ys[inside], cols[inside]
    # per pixel the last vertex in draw order, i.e. the nearest covering it
    flat = ys * w + xs
    pix, first_rev = np.unique(flat[::-1], return_index=True)
    last = len(flat) - 1 - first_rev
    layer = np.zeros((h, w, 3), np.float64)
    covered = np.zeros((h, w), bool)
    layer.reshape(-1, 3)[pix] = cols[last]
    covered.reshape(-1)[pix] = True
    blended = (1 - alpha) * out[covered] + alpha * layer[covered]
    out[covered] = np.clip(np.round(blended), 0, 255).astype(np.uint8)
    return out
