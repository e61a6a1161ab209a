"""Helpers shared by the keypoint-aware transforms."""
from typing import Tuple

import numpy as np


def visible_in_image(keypoints: np.ndarray, visible: np.ndarray,
                     img_shape: Tuple[int, int],
                     score_thr: float) -> Tuple[np.ndarray, np.ndarray]:
    """Zero the score of keypoints that cannot be used after a transform.

    A keypoint stays visible only if its coordinates are finite, it lies in
    ``[0, W) x [0, H)`` (continuous pixel coordinates) and its score is
    finite and ``>= score_thr`` (and > 0). Non-finite coordinates become 0 so
    that later arithmetic stays finite.

    Args:
        keypoints (np.ndarray): (1, K, 2) float32 pixel coordinates.
        visible (np.ndarray): (1, K) float32 scores.
        img_shape (tuple): (H, W) of the image the keypoints now live in.
        score_thr (float): Scores below it become 0.

    Returns:
        tuple: cleaned ``keypoints`` and ``visible``, float32.
    """
    keypoints = np.asarray(keypoints, dtype=np.float32)
    visible = np.asarray(visible, dtype=np.float32)
    h, w = img_shape[:2]
    finite = np.isfinite(keypoints).all(-1)
    x = np.where(finite, keypoints[..., 0], -1)
    y = np.where(finite, keypoints[..., 1], -1)
    with np.errstate(invalid='ignore'):
        keep = (finite & (x >= 0) & (x < w) & (y >= 0) & (y < h)
                & np.isfinite(visible) & (visible > 0)
                & (visible >= score_thr))
    keypoints = np.where(finite[..., None], keypoints, 0).astype(np.float32)
    visible = np.where(keep, visible, 0).astype(np.float32)
    return keypoints, visible
