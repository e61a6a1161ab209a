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
    # Called up to twice per sample in the pipeline, so it is a handful of
    # NumPy calls on (K, 2) arrays: comparisons with NaN are False without
    # warnings, and x and y are compared together against (W, H).
    keypoints = np.array(keypoints, dtype=np.float32)  # copies: modified below
    visible = np.array(visible, dtype=np.float32)
    h, w = img_shape[:2]
    inside = ((keypoints >= 0) & (keypoints < (w, h))).all(-1)
    scored = (visible >= score_thr) if score_thr > 0 else (visible > 0)
    keep = inside & scored & (visible < np.inf)
    np.copyto(keypoints, 0, where=~np.isfinite(keypoints).all(-1)[..., None])
    np.copyto(visible, 0, where=~keep)
    return keypoints, visible
