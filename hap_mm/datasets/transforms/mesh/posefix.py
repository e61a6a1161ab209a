"""PoseFix-style synthesis of erroneous 2-D input joints (the noise model of
3DCrowdNet's ``replace_joint_img`` / ``synthesize_pose``, after Moon et al.,
PoseFix, CVPR 2019).

Each of the 17 COCO joints becomes one of five error types, drawn with
part- and crowd-dependent probabilities (:func:`error_probs`):

- jitter: a point at an OKS-distance between ks 0.85 and 0.50 from the
  ground truth;
- miss: between ks 0.50 and 0.10 from the ground truth or from any other
  candidate (the mirrored joint, the same / mirrored joint of an
  overlapping person);
- inversion: within ks 0.50 of the mirrored joint;
- swap: within ks 0.50 of an overlapping person's same or mirrored joint;
- good: within ks 0.85 of the ground truth.

A sampled point must be farther from every other candidate than from its
own (as the release checks); an error type without a valid point gets
probability 0 and the rest are renormalised. Distances follow the COCO OKS
``d = sqrt(-2 * area * (2 sigma)^2 * ln ks)`` with ``area`` the box area in
crop px^2.
"""
import numpy as np

# COCO OKS sigmas of the 17 keypoints.
COCO_SIGMAS = np.array([
    .26, .25, .25, .35, .35, .79, .79, .72, .72, .62, .62, 1.07, 1.07, .87,
    .87, .89, .89
]) / 10.0
COCO_PAIR = (0, 2, 1, 4, 3, 6, 5, 8, 7, 10, 9, 12, 11, 14, 13, 16, 15)
NUM_SAMPLES = 500


def oks_distance(ks: float, area: float) -> np.ndarray:
    """(17,) distance in px at which a joint's OKS equals ``ks``."""
    return np.sqrt(-2 * area * (COCO_SIGMAS * 2)**2 * np.log(ks))


def error_probs(j: int, num_valid: int, num_overlap: int) -> tuple:
    """Release probabilities (jitter, miss, inversion, swap) of joint ``j``
    (COCO order) for a person with ``num_valid`` labelled joints and
    ``num_overlap`` overlapping people."""
    face, upper = j <= 4, 5 <= j <= 10
    if num_valid <= 10:
        jitter = 0.15 if j == 0 or 13 <= j <= 16 else (
            0.20 if 1 <= j <= 10 else 0.25)
    else:
        jitter = 0.10 if j == 0 or 13 <= j <= 16 else (
            0.15 if 1 <= j <= 10 else 0.20)
    shoulder_ankle = j in (5, 6, 15, 16)
    if num_valid <= 5:
        miss = 0.15 if face else (0.20 if shoulder_ankle else 0.25)
    elif num_valid <= 10:
        miss = 0.10 if face else (0.13 if shoulder_ankle else 0.15)
    else:
        miss = 0.02 if face else (0.05 if shoulder_ankle else 0.10)
    inv = 0.01 if face else (0.03 if upper else 0.06)
    if (num_valid <= 10 and num_overlap > 0) or (num_valid <= 15
                                                 and num_overlap >= 3):
        swap = 0.02 if face else (0.15 if upper else 0.10)
    else:
        swap = 0.01 if face else (0.06 if upper else 0.03)
    return jitter, miss, inv, swap


def _ring(rng, center, r_low, r_high, n):
    """n points at radius U[r_low, r_high] around center: (n, 2), (n,)."""
    u = rng.random((2, n))
    angle = u[0] * (2 * np.pi)
    r = r_low + (r_high - r_low) * u[1]
    pts = np.empty((n, 2))
    pts[:, 0] = center[0] + r * np.cos(angle)
    pts[:, 1] = center[1] + r * np.sin(angle)
    return pts, r


def _far(pts, others, thr):
    """Mask of points farther than ``thr`` (scalar or per point) from all
    ``others`` (M, 2)."""
    thr2 = np.square(thr)
    ok = np.ones(len(pts), dtype=bool)
    for ox, oy in others:
        ok &= (pts[:, 0] - ox)**2 + (pts[:, 1] - oy)**2 > thr2
    return ok


def _pick(rng, pts):
    return None if len(pts) == 0 else pts[rng.integers(len(pts))]


def synthesize_pose(joints: np.ndarray, near_joints: np.ndarray, area: float,
                    num_overlap: int, rng: np.random.Generator) -> np.ndarray:
    """Replace the 17 COCO joints with synthesized erroneous detections.

    Args:
        joints (np.ndarray): (17, 3) crop px x, y and validity (> 0).
        near_joints (np.ndarray): (K, 17, 3) other people's joints in the
            same frame, validity in the last column.
        area (float): The person's box area in crop px^2.
        num_overlap (int): Overlapping people (box IoU >= 0.1).
        rng: The random generator.

    Returns:
        np.ndarray: (17, 3) x, y, 1 per joint (all zeros for a joint with no
        possible error type). As in the release, the joints are replaced in
        order and a later joint's inversion candidate is its mirrored
        joint's already synthesized position.
    """
    ks10, ks50, ks85 = (oks_distance(k, area) for k in (0.10, 0.50, 0.85))
    synth = np.array(joints, dtype=np.float64, copy=True)
    num_valid = int((joints[:, 2] > 0).sum())
    n = NUM_SAMPLES
    for j in range(17):
        pair = COCO_PAIR[j]
        has_pair = pair != j
        gt = synth[j:j + 1, :2]
        swap = near_joints[near_joints[:, j, 2] > 0, j, :2]
        inv = synth[pair:pair + 1, :2] if has_pair and joints[pair, 2] > 0 \
            else np.empty((0, 2))
        swap_inv = near_joints[near_joints[:, pair, 2] > 0, pair, :2] \
            if has_pair else np.empty((0, 2))
        cands = np.concatenate([gt, swap, inv, swap_inv]).astype(np.float64)
        inv_idx = 1 + len(swap)
        rest = np.arange(len(cands))
        probs = list(error_probs(j, num_valid, num_overlap))

        pts, r = _ring(rng, cands[0], ks85[j], ks50[j], n)
        jitter = _pick(rng, pts[_far(pts, cands[1:], r)])

        miss_pts = []
        for m in range(len(cands)):
            pts, _ = _ring(rng, cands[m], ks50[j], ks10[j], 4 * n)
            pts = pts[_far(pts, cands[rest != m], ks50[j])]
            if len(pts) and m > 0:
                pts = pts[rng.integers(len(pts), size=len(pts) // 4)]
            miss_pts.append(pts)
        miss = _pick(rng, np.concatenate(miss_pts))

        inversion = None
        if has_pair and joints[pair, 2] > 0:
            pts, r = _ring(rng, cands[inv_idx], 0, ks50[j], n)
            inversion = _pick(rng, pts[_far(pts, cands[rest != inv_idx], r)])

        swapped = None
        if len(swap) or len(swap_inv):
            ref = cands[[i for i in (0, inv_idx) if i < len(cands)]]
            swap_pts = []
            for s in range(1, len(cands)):
                if s == inv_idx:
                    continue
                pts, r = _ring(rng, cands[s], 0, ks50[j], n)
                swap_pts.append(pts[_far(pts, ref, r)])
            if swap_pts:
                swapped = _pick(rng, np.concatenate(swap_pts))

        good_prob = 1 - sum(probs)
        pts, r = _ring(rng, cands[0], 0, ks85[j], n // 4)
        good = _pick(rng, pts[_far(pts, cands[1:], r)])

        options = [jitter, miss, inversion, swapped, good]
        probs = np.array(probs + [good_prob])
        probs[[o is None for o in options]] = 0
        if probs.sum() == 0:
            synth[j] = 0
            continue
        choice = rng.choice(5, p=probs / probs.sum())
        synth[j] = (*options[choice], 1.0)
    return synth


def box_area_in_crop(tight_bbox: np.ndarray, img2bb_trans: np.ndarray
                     ) -> float:
    """Area in crop px^2 of an xywh image box under the crop transform (the
    lengths of its top and right edges, as the release measures it)."""
    x, y, w, h = np.asarray(tight_bbox, dtype=np.float64)
    corners = np.array([[x, y], [x + w, y], [x + w, y + h]])
    pts = corners @ img2bb_trans[:, :2].T + img2bb_trans[:, 2]
    return float(np.linalg.norm(pts[1] - pts[0]) *
                 np.linalg.norm(pts[2] - pts[1]))
