import numpy as np
import pytest

from hap_mm.datasets.transforms import (
    KeypointRandomFlip,
    KeypointRandomResizedCrop,
)


def _results(h=200, w=100, kpts=None, vis=None):
    img = np.zeros((h, w, 3), np.uint8)
    if kpts is None:
        kpts = np.stack(
            [np.linspace(10, w - 10, 17),
             np.linspace(10, h - 10, 17)], -1)
    if vis is None:
        vis = np.ones(17)
    return dict(
        img=img,
        img_shape=(h, w),
        keypoints=np.asarray(kpts, np.float32)[None],
        keypoints_visible=np.asarray(vis, np.float32)[None])


def test_known_crop_moves_keypoints(monkeypatch):
    t = KeypointRandomResizedCrop(scale=(256, 128))
    # crop rows 20..179, cols 10..89 (160 x 80) -> resized x1.6 to 256 x 128
    monkeypatch.setattr(t, 'rand_crop_params', lambda img: (20, 10, 160, 80))
    kpts = np.zeros((17, 2))
    kpts[0] = (50, 100)  # inside
    kpts[1] = (10, 20)  # the crop's top-left corner
    kpts[2] = (5, 100)  # left of the crop
    kpts[3] = (50, 185)  # below the crop
    out = t(_results(kpts=kpts))
    assert out['img'].shape == (256, 128, 3)
    assert out['img_shape'] == (256, 128)
    np.testing.assert_allclose(out['keypoints'][0, 0], (64, 128), atol=1e-4)
    np.testing.assert_allclose(out['keypoints'][0, 1], (0, 0), atol=1e-4)
    assert out['keypoints_visible'][0, :2].tolist() == [1, 1]
    assert out['keypoints_visible'][0, 2:4].tolist() == [0, 0]
    np.testing.assert_array_equal(out['crop_bbox'], [10, 20, 90, 180])


def test_crop_keypoints_land_on_the_image_content():
    """A bright dot drawn at each keypoint stays under the moved keypoint."""
    rng = np.random.RandomState(0)
    t = KeypointRandomResizedCrop(
        scale=(256, 128), crop_ratio_range=(0.5, 1.0),
        interpolation='nearest')
    for _ in range(20):
        res = _results(300, 160)
        img = res['img']
        pts = np.stack([rng.uniform(20, 140, 3), rng.uniform(20, 280, 3)], -1)
        res['keypoints'] = np.zeros((1, 17, 2), np.float32)
        res['keypoints'][0, :3] = pts
        res['keypoints_visible'] = np.zeros((1, 17), np.float32)
        res['keypoints_visible'][0, :3] = 1
        for x, y in pts.astype(int):
            img[y - 2:y + 3, x - 2:x + 3] = 255
        out = t(res)
        for (x, y), v in zip(out['keypoints'][0, :3],
                             out['keypoints_visible'][0, :3]):
            if v > 0:
                assert out['img'][int(y), int(x)].max() == 255


def test_crop_scale_and_relative_aspect():
    t = KeypointRandomResizedCrop(scale=(256, 128))
    lo, hi = t.aspect_ratio_range
    assert lo == pytest.approx(0.75 * 0.5) and hi == pytest.approx(
        4 / 3 * 0.5)
    assert t.crop_ratio_range == (0.8, 1.0)
    rng_state = np.random.get_state()
    np.random.seed(0)
    areas = []
    for _ in range(200):
        top, left, h, w = t.rand_crop_params(np.zeros((400, 200, 3)))
        areas.append(h * w / (400 * 200))
    np.random.set_state(rng_state)
    assert min(areas) >= 0.78 and max(areas) <= 1.0


def _mmpretrain_crop(t):
    """mmpretrain's RandomResizedCrop with ``t``'s (absolute) ranges."""
    from mmpretrain.datasets.transforms import RandomResizedCrop
    return RandomResizedCrop(
        scale=t.scale, crop_ratio_range=t.crop_ratio_range,
        aspect_ratio_range=t.aspect_ratio_range,
        max_attempts=t.max_attempts)


@pytest.mark.parametrize('hw,crop_ratio_range',
                         [((400, 200), (0.8, 1.0)), ((117, 37), (0.8, 1.0)),
                          ((300, 60), (0.8, 1.0)), ((400, 200), (0.2, 1.0)),
                          ((211, 211), (0.2, 1.0))])
def test_crop_params_have_mmpretrain_distribution(hw, crop_ratio_range):
    """The one-call draw gives the crops mmpretrain's draw gives (sizes,
    positions, and how often the fallback is taken): two-sample KS tests
    on 4000 crops each, on person-shaped, tiny and narrow images (the
    narrow one makes most tries fail) at HAP's area range, and with MAE's
    wider area range, where the aspect draw shapes most crops."""
    from scipy.stats import ks_2samp
    t = KeypointRandomResizedCrop(
        scale=(256, 128), crop_ratio_range=crop_ratio_range)
    ref = _mmpretrain_crop(t)
    img = np.zeros(hw + (3, ), np.uint8)
    state = np.random.get_state()
    np.random.seed(1)
    ours = np.array([t.rand_crop_params(img) for _ in range(4000)], float)
    theirs = np.array([ref.rand_crop_params(img) for _ in range(4000)],
                      float)
    np.random.set_state(state)
    for crops in (ours, theirs):  # top, left as a share of the free room
        crops[:, 0] /= hw[0] - crops[:, 2] + 1
        crops[:, 1] /= hw[1] - crops[:, 3] + 1
    for col, name in enumerate(('top', 'left', 'crop_h', 'crop_w')):
        assert ks_2samp(ours[:, col], theirs[:, col],
                        method='asymp').pvalue > 1e-3, name
    assert (ours[:, 2] <= hw[0]).all() and (ours[:, 3] <= hw[1]).all()


@pytest.mark.parametrize('hw,crop_ratio_range', [((400, 20), (0.8, 1.0)),
                                                 ((20, 400), (0.8, 1.0)),
                                                 ((100, 50), (1.5, 2.0))])
def test_crop_fallback_is_mmpretrain_centre_crop(hw, crop_ratio_range):
    """When no try fits (too narrow, too wide, area above the image) both
    fall back to the same centre crop."""
    t = KeypointRandomResizedCrop(
        scale=(256, 128), crop_ratio_range=crop_ratio_range)
    img = np.zeros(hw + (3, ), np.uint8)
    assert t.rand_crop_params(img) == _mmpretrain_crop(t).rand_crop_params(
        img)


def test_crop_makes_nan_and_low_score_keypoints_invisible(monkeypatch):
    t = KeypointRandomResizedCrop(scale=(256, 128), score_thr=0.3)
    monkeypatch.setattr(t, 'rand_crop_params', lambda img: (0, 0, 200, 100))
    kpts = np.full((17, 2), 50.0)
    kpts[0] = np.nan
    kpts[1, 0] = np.inf
    vis = np.ones(17)
    vis[2] = 0.2
    vis[3] = np.nan
    out = t(_results(kpts=kpts, vis=vis))
    assert np.isfinite(out['keypoints']).all()
    assert out['keypoints_visible'][0, :4].tolist() == [0, 0, 0, 0]
    assert (out['keypoints_visible'][0, 4:] == 1).all()


# COCO's 17 keypoint names in COCO order (HAP_SPEC.md, "Keypoints")
COCO_NAMES = ('nose', 'left_eye', 'right_eye', 'left_ear', 'right_ear',
              'left_shoulder', 'right_shoulder', 'left_elbow', 'right_elbow',
              'left_wrist', 'right_wrist', 'left_hip', 'right_hip',
              'left_knee', 'right_knee', 'left_ankle', 'right_ankle')


def _mirror_name(name):
    if name.startswith('left_'):
        return 'right_' + name[5:]
    if name.startswith('right_'):
        return 'left_' + name[6:]
    return name


def test_flip_mirrors_x_and_swaps_left_right():
    """After a flip, keypoint ``left_x`` holds what ``right_x`` held, mirrored
    (the expected index map comes from the names, not from the code's
    flip_permutation)."""
    res = _results(h=256, w=128)
    before = res['keypoints'].copy()
    vis = np.arange(1, 18, dtype=np.float32)[None] / 20
    res['keypoints_visible'] = vis.copy()
    out = KeypointRandomFlip(prob=1.0)(res)
    perm = [COCO_NAMES.index(_mirror_name(n)) for n in COCO_NAMES]
    assert perm != list(range(17))
    assert out['flip'] is True
    np.testing.assert_allclose(out['keypoints'][0, :, 0],
                               128 - before[0, perm, 0])
    np.testing.assert_allclose(out['keypoints'][0, :, 1], before[0, perm, 1])
    np.testing.assert_allclose(out['keypoints_visible'][0], vis[0, perm])
    # left shoulder (5) is now where the right shoulder (6) was, mirrored
    assert out['keypoints'][0, 5, 0] == pytest.approx(128 - before[0, 6, 0])


def test_flip_without_swap_keeps_indices_like_the_release():
    res = _results(h=256, w=128)
    before = res['keypoints'].copy()
    out = KeypointRandomFlip(prob=1.0, swap_left_right=False)(res)
    np.testing.assert_allclose(out['keypoints'][0, :, 0],
                               128 - before[0, :, 0])


def test_flip_image_and_keypoints_agree():
    res = _results(h=64, w=32)
    res['img'][10, 5] = 255
    res['keypoints'][0, 0] = (5.5, 10.5)  # centre of that pixel
    out = KeypointRandomFlip(prob=1.0)(res)
    x, y = out['keypoints'][0, 0]
    assert out['img'][int(y), int(x)].max() == 255


def test_flip_never_with_prob_zero():
    res = _results()
    before = res['keypoints'].copy()
    out = KeypointRandomFlip(prob=0.0)(res)
    assert out['flip'] is False
    np.testing.assert_array_equal(out['keypoints'], before)


def test_move_keypoints_border_and_overflow_cases():
    """Stored float32 coordinates of a visible keypoint are inside the image
    even when the float64 result lies just below the border; coordinates
    beyond float32 become 0 and invisible; mismatched shapes are refused."""
    from hap_mm.datasets.transforms.keypoint_utils import move_keypoints
    w = 128
    just_below = float(np.nextafter(np.float64(w), 0))  # rounds to 128 in f32
    kpts = np.array([[[just_below, 5.0], [127.5, 5.0], [1e300, 5.0],
                      [5.0, np.nan]]])
    vis = np.ones((1, 4))
    out, out_vis = move_keypoints(kpts, vis, (0, 0), (1, 1), (256, w), 0.0)
    assert out.dtype == np.float32 and out_vis.dtype == np.float32
    inside = (out[0, :, 0] >= 0) & (out[0, :, 0] < w)
    assert not (out_vis[0] > 0)[~inside].any()
    assert out_vis[0].tolist() == [0, 1, 0, 0]
    assert out[0, 2].tolist() == [0, 0] and out[0, 3].tolist() == [0, 0]
    # a flip is offset (W, 0), factor (-1, 1): x' = W - x
    flipped, _ = move_keypoints(kpts[:, 1:2], vis[:, 1:2], (w, 0), (-1, 1),
                                (256, w), 0.0)
    assert flipped[0, 0].tolist() == [0.5, 5.0]
    with pytest.raises(ValueError, match='do not match'):
        move_keypoints(kpts, np.ones((1, 3)), (0, 0), (1, 1), (256, w), 0.0)
