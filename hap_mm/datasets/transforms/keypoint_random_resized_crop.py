"""RandomResizedCrop that carries mmpose-style keypoints along."""
from typing import Sequence, Tuple, Union

import mmcv
import numpy as np
from mmpretrain.datasets.transforms import RandomResizedCrop
from mmpretrain.registry import TRANSFORMS

from .keypoint_utils import move_keypoints


@TRANSFORMS.register_module()
class KeypointRandomResizedCrop(RandomResizedCrop):
    """mmpretrain's ``RandomResizedCrop`` that also moves the keypoints.

    HAP crops person images to a tall target (256 x 128 by default) with a
    high scale range (0.8, 1.0). The crop's aspect ratio (w / h, in source
    pixels) is drawn log-uniformly from ``aspect_ratio_range`` multiplied by
    the target aspect ``W / H`` when ``relative_aspect=True``, so the default
    (3/4, 4/3) means "within 25% of the target's shape".

    Keypoints use continuous pixel coordinates (pixel ``i`` spans
    ``[i, i + 1)``): ``x' = (x - left) * W / crop_w``. Keypoints that leave
    the crop, are non-finite, or score below ``score_thr`` get score 0.

    **Required keys:** ``img``; optional ``keypoints`` (1, K, 2) and
    ``keypoints_visible`` (1, K).

    **Modified keys:** ``img``, ``img_shape``, ``keypoints``,
    ``keypoints_visible``. **Added keys:** ``crop_bbox`` (x1, y1, x2, y2) of
    the crop in the source image, exclusive end, pixels.

    Args:
        scale (int | tuple): Output (H, W).
        crop_ratio_range (tuple): Range of the crop area over the image area.
        aspect_ratio_range (tuple): Range of the crop's w / h; relative to
            the target aspect when ``relative_aspect`` is True.
        relative_aspect (bool): Whether ``aspect_ratio_range`` is relative
            to the output's aspect ratio.
        score_thr (float): Keypoints scoring below this become invisible.
        interpolation (str): Resize interpolation. Defaults to 'bicubic'.
        **kwargs: Other ``RandomResizedCrop`` arguments.
    """

    def __init__(self,
                 scale: Union[int, Sequence[int]] = (256, 128),
                 crop_ratio_range: Tuple[float, float] = (0.8, 1.0),
                 aspect_ratio_range: Tuple[float, float] = (3. / 4., 4. / 3.),
                 relative_aspect: bool = True,
                 score_thr: float = 0.0,
                 interpolation: str = 'bicubic',
                 **kwargs) -> None:
        if isinstance(scale, int):
            scale = (scale, scale)
        if relative_aspect:
            target = scale[1] / scale[0]
            aspect_ratio_range = (aspect_ratio_range[0] * target,
                                  aspect_ratio_range[1] * target)
        super().__init__(
            scale=tuple(scale),
            crop_ratio_range=crop_ratio_range,
            aspect_ratio_range=aspect_ratio_range,
            interpolation=interpolation,
            **kwargs)
        self.score_thr = score_thr

    def transform(self, results: dict) -> dict:
        img = results['img']
        top, left, crop_h, crop_w = self.rand_crop_params(img)
        img = mmcv.imcrop(
            img,
            bboxes=np.array([left, top, left + crop_w - 1,
                             top + crop_h - 1]))
        out_h, out_w = self.scale
        img = mmcv.imresize(
            img, (out_w, out_h),
            interpolation=self.interpolation,
            backend=self.backend)
        results['img'] = img
        results['img_shape'] = img.shape[:2]
        results['crop_bbox'] = np.array(
            [left, top, left + crop_w, top + crop_h], dtype=np.float32)
        if results.get('keypoints') is not None:
            kpts = results['keypoints']
            vis = results.get('keypoints_visible',
                              np.ones(np.shape(kpts)[:-1], dtype=np.float32))
            results['keypoints'], results['keypoints_visible'] = \
                move_keypoints(kpts, vis, (left, top),
                               (out_w / crop_w, out_h / crop_h),
                               (out_h, out_w), self.score_thr)
        return results

    def __repr__(self) -> str:
        return super().__repr__()[:-1] + f', score_thr={self.score_thr})'
