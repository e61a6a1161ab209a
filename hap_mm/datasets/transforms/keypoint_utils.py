"""Helpers shared by the keypoint-aware transforms."""
import functools
from typing import Tuple

import numpy as np

# Larger magnitudes would become inf when stored as float32.
FLOAT32_MAX = float(np.finfo(np.float32).max)


@functools.lru_cache(maxsize=64)
def _below(limit: float) -> float:
    """The largest float32 below ``limit``: a coordinate kept visible must
    stay inside the image after it is stored as float32."""
    return float(np.nextafter(np.float32(limit), np.float32(0)))


def move_keypoints(keypoints: np.ndarray, visible: np.ndarray,
                   offset: Tuple[float, float], factor: Tuple[float, float],
                   img_shape: Tuple[int, int],
                   score_thr: float) -> Tuple[np.ndarray, np.ndarray]:
    """Move keypoints into a transformed image and zero the score of those
    that can no longer be used.

    Coordinates become ``x' = (x - offset[0]) * factor[0]`` and
    ``y' = (y - offset[1]) * factor[1]`` (a crop and resize; a horizontal
    flip is ``offset=(W, 0), factor=(-1, 1)``). A keypoint stays visible
    only if its new coordinates are finite and lie in ``[0, W) x [0, H)``
    (continuous pixel coordinates, checked on the stored float32 values) and
    its score is finite, > 0 and ``>= score_thr``. Coordinates that are not
    finite as float32 become 0 so that later arithmetic stays finite.

    The pipeline calls this up to twice per image on 17 keypoints, where a
    Python loop costs less than a dozen NumPy calls on tiny arrays.

    Args:
        keypoints (np.ndarray): (..., K, 2) pixel coordinates.
        visible (np.ndarray): (..., K) scores.
        offset (tuple[float, float]): Subtracted from (x, y), pixels.
        factor (tuple[float, float]): Then multiplied with (x, y).
        img_shape (tuple): (H, W) of the image the keypoints move into.
        score_thr (float): Scores below it become 0.

    Returns:
        tuple: new ``keypoints`` (..., K, 2) and ``visible`` (..., K),
        float32 arrays (the inputs are not modified).
    """
    shape = np.shape(visible)
    xy = np.asarray(keypoints)[..., :2]
    if xy.shape[:-1] != shape:
        raise ValueError(f'keypoints {np.shape(keypoints)} and '
                         f'keypoints_visible {shape} do not match')
    x_max, y_max = _below(img_shape[1]), _below(img_shape[0])
    ox, oy = float(offset[0]), float(offset[1])
    fx, fy = float(factor[0]), float(factor[1])
    lowest = max(float(score_thr), 0.0)
    # flat Python lists: [x0, y0, x1, y1, ...] and [v0, v1, ...]
    flat = xy.reshape(-1).tolist()
    scores = np.reshape(visible, -1).tolist()
    for i, v in enumerate(scores):
        x = (flat[2 * i] - ox) * fx
        y = (flat[2 * i + 1] - oy) * fy
        # comparisons with NaN are False, so NaN fails every check
        if not (0 <= x <= x_max and 0 <= y <= y_max and v > 0
                and lowest <= v <= FLOAT32_MAX):
            scores[i] = 0.0
        if not (abs(x) <= FLOAT32_MAX and abs(y) <= FLOAT32_MAX):
            x = y = 0.0
        flat[2 * i] = x
        flat[2 * i + 1] = y
    return (np.array(flat, dtype=np.float32).reshape(shape + (2, )),
            np.array(scores, dtype=np.float32).reshape(shape))


def count_usable_keypoints(keypoints, scores, input_size: Tuple[int, int],
                           score_thr: float) -> np.ndarray:
    """Keypoints the mask generator can use, per image.

    A keypoint counts when its coordinates are finite and inside the
    (H, W) input and its score is finite and ``>= score_thr``.

    Args:
        keypoints: (..., K, 2) x, y in input pixels.
        scores: (..., K) keypoint scores.
        input_size (tuple): (H, W) of the input, in pixels.
        score_thr (float): The generator's ``score_thr``.

    Returns:
        np.ndarray: int64 (...,) usable keypoints of each image.
    """
    kpts = np.asarray(keypoints, np.float64)
    s = np.asarray(scores, np.float64)
    h, w = input_size
    x, y = kpts[..., 0], kpts[..., 1]
    with np.errstate(invalid='ignore'):
        ok = (np.isfinite(x) & np.isfinite(y) & np.isfinite(s)
              & (s >= score_thr) & (x >= 0) & (x < w) & (y >= 0) & (y < h))
    return ok.sum(-1).astype(np.int64)
