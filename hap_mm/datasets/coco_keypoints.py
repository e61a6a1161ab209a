"""The 17 COCO keypoints and the body parts HAP builds from them.

Order: 0 nose, 1 l_eye, 2 r_eye, 3 l_ear, 4 r_ear, 5 l_shoulder, 6 r_shoulder,
7 l_elbow, 8 r_elbow, 9 l_wrist, 10 r_wrist, 11 l_hip, 12 r_hip, 13 l_knee,
14 r_knee, 15 l_ankle, 16 r_ankle.
"""
from typing import Dict, List, Tuple

NUM_KEYPOINTS = 17

KEYPOINT_NAMES: Tuple[str, ...] = (
    'nose', 'left_eye', 'right_eye', 'left_ear', 'right_ear', 'left_shoulder',
    'right_shoulder', 'left_elbow', 'right_elbow', 'left_wrist', 'right_wrist',
    'left_hip', 'right_hip', 'left_knee', 'right_knee', 'left_ankle',
    'right_ankle')

# Pairs of keypoints that exchange names under a horizontal flip.
FLIP_PAIRS: Tuple[Tuple[int, int], ...] = ((1, 2), (3, 4), (5, 6), (7, 8),
                                           (9, 10), (11, 12), (13, 14),
                                           (15, 16))

# HAP's six body parts, each a list of skeleton segments (keypoint pairs).
# The patches inside the bounding box of a segment's two keypoints belong to
# the part (HAP_SPEC.md, "Part-guided mask sampling").
BODY_PARTS: Dict[str, List[Tuple[int, int]]] = {
    'head': [(0, 1), (0, 2), (1, 2), (1, 3), (2, 4)],
    'left_arm': [(5, 7), (7, 9)],
    'right_arm': [(6, 8), (8, 10)],
    'left_leg': [(11, 13), (13, 15)],
    'right_leg': [(12, 14), (14, 16)],
    'torso': [(6, 11), (5, 12)],
}

# COCO's drawing skeleton (0-based), for visualisation.
SKELETON: Tuple[Tuple[int, int], ...] = (
    (15, 13), (13, 11), (16, 14), (14, 12), (11, 12), (5, 11), (6, 12),
    (5, 6), (5, 7), (6, 8), (7, 9), (8, 10), (1, 2), (0, 1), (0, 2), (1, 3),
    (2, 4), (3, 5), (4, 6))


def flip_permutation() -> List[int]:
    """Index map ``perm`` with ``flipped[i] = original[perm[i]]``."""
    perm = list(range(NUM_KEYPOINTS))
    for a, b in FLIP_PAIRS:
        perm[a], perm[b] = b, a
    return perm
