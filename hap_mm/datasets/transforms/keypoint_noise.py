"""Simulated keypoint-detector errors, for robustness studies."""
import numpy as np
from mmcv.transforms import BaseTransform
from mmpretrain.registry import TRANSFORMS

from ..coco_keypoints import flip_permutation


@TRANSFORMS.register_module()
class KeypointNoise(BaseTransform):
    """Corrupt keypoints the way a weaker pose estimator would.

    Applied in order: Gaussian pixel noise on every coordinate; each joint
    dropped (score set to 0) with ``drop_prob``; with ``swap_prob`` the whole
    skeleton's left and right labels exchanged (a common detector error on
    back views). Scores of kept joints are unchanged.

    **Modified keys:** ``keypoints`` (1, 17, 2), ``keypoints_visible``
    (1, 17).

    Args:
        sigma (float): Standard deviation of the pixel noise, in pixels.
        drop_prob (float): Probability of dropping each joint.
        swap_prob (float): Probability of swapping left and right.
    """

    def __init__(self,
                 sigma: float = 0.0,
                 drop_prob: float = 0.0,
                 swap_prob: float = 0.0) -> None:
        if sigma < 0 or not 0 <= drop_prob <= 1 or not 0 <= swap_prob <= 1:
            raise ValueError('KeypointNoise needs sigma >= 0 and '
                             'probabilities in [0, 1], got '
                             f'sigma={sigma}, drop_prob={drop_prob}, '
                             f'swap_prob={swap_prob}')
        self.sigma = sigma
        self.drop_prob = drop_prob
        self.swap_prob = swap_prob
        self._perm = np.array(flip_permutation())

    def transform(self, results: dict) -> dict:
        if results.get('keypoints') is None:
            return results
        kpts = np.asarray(results['keypoints'], np.float32).copy()
        vis = np.asarray(
            results.get('keypoints_visible', np.ones(kpts.shape[:-1])),
            np.float32).copy()
        if self.sigma > 0:
            kpts += np.random.normal(0, self.sigma, kpts.shape)
        if self.drop_prob > 0:
            vis[np.random.random_sample(vis.shape) < self.drop_prob] = 0
        if self.swap_prob > 0 and np.random.random_sample() < self.swap_prob:
            kpts, vis = kpts[..., self._perm, :], vis[..., self._perm]
        results['keypoints'] = kpts.astype(np.float32)
        results['keypoints_visible'] = vis.astype(np.float32)
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(sigma={self.sigma}, '
                f'drop_prob={self.drop_prob}, swap_prob={self.swap_prob})')
