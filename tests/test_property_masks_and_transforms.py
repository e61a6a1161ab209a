"""Property tests: any keypoint array gives exact masks and sane keypoints."""
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from hap_mm.datasets.transforms import (
    KeypointRandomFlip,
    KeypointRandomResizedCrop,
    PartAwareMaskGenerator,
)

ANY_FLOAT = st.floats(allow_nan=True, allow_infinity=True, width=32)
KEYPOINTS = arrays(np.float32, (1, 17, 2), elements=ANY_FLOAT)
SCORES = arrays(np.float32, (1, 17), elements=ANY_FLOAT)
GENERATORS = {
    ratio: PartAwareMaskGenerator(mask_ratio=ratio)
    for ratio in (0.1, 0.5, 0.75, 0.95)
}


@settings(max_examples=300, deadline=None)
@given(
    kpts=KEYPOINTS,
    scores=SCORES,
    ratio=st.sampled_from(sorted(GENERATORS)),
    missing=st.sampled_from(['none', 'keypoints', 'scores', 'empty']),
    seed=st.integers(0, 2**31 - 1))
def test_any_keypoints_give_exact_ratio_masks(kpts, scores, ratio, missing,
                                              seed):
    np.random.seed(seed)
    results = dict(img_shape=(256, 128), keypoints=kpts,
                   keypoints_visible=scores)
    if missing == 'keypoints':
        del results['keypoints']
    elif missing == 'scores':
        del results['keypoints_visible']
    elif missing == 'empty':
        results['keypoints'] = np.zeros((0, 2), np.float32)
    gen = GENERATORS[ratio]
    out = gen(results)
    counts = out['mask'].reshape(2, -1).sum(-1)
    assert (counts == gen.num_mask).all()
    assert not (out['part_mask'] & ~out['mask']).any()
    assert (out['mask'][0] != out['mask'][1]).any()


def _check_keypoints(out):
    h, w = out['img'].shape[:2]
    kpts, vis = out['keypoints'][0], out['keypoints_visible'][0]
    assert np.isfinite(kpts).all() and np.isfinite(vis).all()
    on = vis > 0
    assert ((kpts[on, 0] >= 0) & (kpts[on, 0] < w) & (kpts[on, 1] >= 0)
            & (kpts[on, 1] < h)).all()


@settings(max_examples=150, deadline=None)
@given(
    kpts=KEYPOINTS,
    scores=SCORES,
    hw=st.tuples(st.integers(8, 300), st.integers(8, 300)),
    seed=st.integers(0, 2**31 - 1))
def test_transforms_leave_keypoints_in_image_or_invisible(
        kpts, scores, hw, seed):
    np.random.seed(seed)
    results = dict(
        img=np.zeros((*hw, 3), np.uint8),
        img_shape=hw,
        keypoints=kpts.copy(),
        keypoints_visible=scores.copy())
    out = KeypointRandomResizedCrop(scale=(64, 32))(results)
    _check_keypoints(out)
    out = KeypointRandomFlip(prob=0.5)(out)
    _check_keypoints(out)
