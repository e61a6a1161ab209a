"""Horizontal flip that carries mmpose-style keypoints along."""
from typing import Optional

import numpy as np
from mmcv.transforms import RandomFlip
from mmpretrain.registry import TRANSFORMS

from ..coco_keypoints import flip_permutation
from .keypoint_utils import move_keypoints


@TRANSFORMS.register_module()
class KeypointRandomFlip(RandomFlip):
    """mmcv's ``RandomFlip`` (horizontal) that also flips the keypoints.

    ``x' = W - x`` in continuous pixel coordinates. With
    ``swap_left_right=True`` (default) the left/right COCO keypoints also
    exchange indices, so index 5 stays the person's left shoulder as seen in
    the flipped image; ``False`` keeps the indices, as the authors' release
    does. HAP's part sampling is symmetric, so only downstream users of the
    keypoints see the difference.

    **Required keys:** ``img``; optional ``keypoints`` (1, 17, 2) and
    ``keypoints_visible`` (1, 17). **Modified keys:** ``img``,
    ``keypoints``, ``keypoints_visible``. **Added keys:** ``flip``,
    ``flip_direction``.

    Args:
        prob (float): Flip probability. Defaults to 0.5.
        swap_left_right (bool): Exchange left/right keypoint indices.
        score_thr (float): Keypoints scoring below this become invisible.
    """

    def __init__(self,
                 prob: float = 0.5,
                 swap_left_right: bool = True,
                 score_thr: float = 0.0,
                 swap_seg_labels: Optional[list] = None) -> None:
        super().__init__(
            prob=prob,
            direction='horizontal',
            swap_seg_labels=swap_seg_labels)
        self.swap_left_right = swap_left_right
        self.score_thr = score_thr
        self._perm = np.array(flip_permutation())

    def _flip(self, results: dict) -> None:
        super()._flip(results)
        if results.get('keypoints') is None:
            return
        h, w = results['img'].shape[:2]
        kpts = results['keypoints']
        vis = results.get('keypoints_visible',
                          np.ones(np.shape(kpts)[:-1], dtype=np.float32))
        if self.swap_left_right:
            kpts = np.asarray(kpts)[..., self._perm, :]
            vis = np.asarray(vis)[..., self._perm]
        # x' = W - x = (x - W) * -1
        results['keypoints'], results['keypoints_visible'] = move_keypoints(
            kpts, vis, (w, 0), (-1, 1), (h, w), self.score_thr)

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(prob={self.prob}, '
                f'swap_left_right={self.swap_left_right}, '
                f'score_thr={self.score_thr})')
