import numpy as np
import pytest

from hap_mm.datasets.transforms import PartAwareMaskGenerator
from hap_mm.datasets.transforms.part_aware_mask_generator import (
    RELEASE_PART_RATE,
)


def _adversarial_keypoints(rng, batch):
    """Random keypoint sets mixing NaN, inf, huge, negative and empty rows."""
    kpts = rng.uniform(-300, 600, size=(batch, 17, 2))
    scores = rng.uniform(-1, 2, size=(batch, 17))
    kind = rng.randint(0, 7, size=batch)
    kpts[kind == 0] = np.nan
    kpts[kind == 1, rng.randint(17)] = np.inf
    kpts[kind == 2] *= 1e12
    kpts[kind == 3] = -kpts[kind == 3]
    scores[kind == 4] = 0
    scores[kind == 5] = np.nan
    return kpts, scores


@pytest.mark.parametrize('ratio', [0.5, 0.75, 0.3, 0.99])
def test_mask_count_is_exact_for_random_and_adversarial_keypoints(
        ratio, person_keypoints):
    gen = PartAwareMaskGenerator(mask_ratio=ratio)
    rng = np.random.RandomState(0)
    want = int(np.floor(ratio * 128 + 0.5))
    for kpts, scores in (person_keypoints(rng, 1500),
                         _adversarial_keypoints(rng, 1500)):
        mask, part = gen.generate(kpts, scores, rng)
        assert mask.shape == (1500, 2, 16, 8) and mask.dtype == bool
        assert (mask.reshape(1500, 2, -1).sum(-1) == want).all()
        assert not (part & ~mask).any()


def test_views_of_one_image_always_differ(person_keypoints):
    rng = np.random.RandomState(1)
    for ratio in (0.5, 0.99):  # 127 of 128: collisions would be common
        gen = PartAwareMaskGenerator(mask_ratio=ratio)
        mask, _ = gen.generate(*person_keypoints(rng, 2000), rng)
        flat = mask.reshape(2000, 2, -1)
        assert (flat[:, 0] != flat[:, 1]).any(-1).all()


def test_grid_follows_input_and_patch_size(person_keypoints):
    gen = PartAwareMaskGenerator(input_size=(224, 112), patch_size=14)
    results = dict(img_shape=(224, 112))
    kpts, scores = person_keypoints(np.random.RandomState(0), 1, (224, 112))
    results.update(keypoints=kpts, keypoints_visible=scores)
    out = gen(results)
    assert out['mask'].shape == (2, 16, 8)
    assert out['mask'].reshape(2, -1).sum(-1).tolist() == [64, 64]


def test_transform_without_keypoints_gives_block_only_masks():
    gen = PartAwareMaskGenerator()
    out = gen(dict(img_shape=(256, 128)))
    assert out['mask'].shape == (2, 16, 8)
    assert out['mask'].reshape(2, -1).sum(-1).tolist() == [64, 64]
    assert not out['part_mask'].any()


def test_low_score_keypoints_define_no_part(person_keypoints):
    rng = np.random.RandomState(2)
    kpts, _ = person_keypoints(rng, 300)
    gen = PartAwareMaskGenerator(score_thr=0.5)
    _, part = gen.generate(kpts, np.full((300, 17), 0.49), rng)
    assert not part.any()
    _, part = gen.generate(kpts, np.full((300, 17), 0.5), rng)
    assert part.any()


def _body_hit_rate(gen, kpts, scores, rng):
    """P(masked) for patches inside the body's part boxes."""
    body = gen.part_patches(kpts, scores).any(1)  # (B, N)
    mask, _ = gen.generate(kpts, scores, rng)
    mask = mask.reshape(len(kpts), gen.num_views, -1)
    return (mask & body[:, None]).sum() / (body.sum() * gen.num_views)


def test_part_guidance_masks_body_patches_more_than_block_only(
        person_keypoints):
    rng = np.random.RandomState(3)
    kpts, scores = person_keypoints(rng, 3000)
    guided = _body_hit_rate(PartAwareMaskGenerator(), kpts, scores, rng)
    blocks = _body_hit_rate(
        PartAwareMaskGenerator(part_guided=False), kpts, scores, rng)
    # ~1.9e5 body patches each: a 0.01 gap is > 10 standard errors.
    assert guided > blocks + 0.01, (guided, blocks)


def test_part_priority_follows_spec_statistics():
    """k ~ U{0..6} parts, each with a U(0, 0.3) share of its patches.

    Only the left arm is usable: a vertical 11-patch strip. It is among the
    k chosen parts with probability E[k] / 6 = 1/2, and its quota
    round(f * 11), f ~ U(0, 0.3), is zero when f < 0.5 / 11.
    """
    rng = np.random.RandomState(4)
    gen = PartAwareMaskGenerator(num_views=1)
    kpts = np.zeros((4000, 17, 2))
    scores = np.zeros((4000, 17))
    kpts[:, [5, 7, 9]] = [(20, 20), (20, 100), (20, 180)]
    scores[:, [5, 7, 9]] = 1
    parts = gen.part_patches(kpts, scores)
    assert (parts.sum(-1)[:, 1] == 11).all() and parts.sum() == 4000 * 11
    prio = gen._part_priority(parts, rng)[:, 0]
    assert not (prio & ~parts[:, 1]).any()
    counts = prio.sum(-1)
    assert counts.max() == 3  # round(0.3 * 11)
    expected = 0.5 * (1 - (0.5 / 11) / 0.3)
    assert abs((counts > 0).mean() - expected) < 0.03


def test_default_tie_breaking_is_unbiased_and_release_mode_is_not():
    """Blocks are placed symmetrically; only the random fill can favour
    low patch indices (the release's defect): compare the top and bottom
    patch rows, which blocks reach equally often."""
    rng = np.random.RandomState(5)
    kpts, scores = np.full((3000, 17, 2), np.nan), np.zeros((3000, 17))

    def top_minus_bottom(gen):
        freq = gen.generate(kpts, scores, rng)[0].reshape(-1, 16, 8).mean(0)
        return freq[0].mean() - freq[-1].mean()

    assert abs(top_minus_bottom(PartAwareMaskGenerator())) < 0.02
    release = PartAwareMaskGenerator(release_compatible=True)
    assert top_minus_bottom(release) > 0.025


def test_release_mode_applies_parts_rarely_and_ignores_scores(
        person_keypoints):
    rng = np.random.RandomState(6)
    kpts, _ = person_keypoints(rng, 4000)
    zero_scores = np.zeros((4000, 17))
    release = PartAwareMaskGenerator(release_compatible=True)
    mask, part = release.generate(kpts, zero_scores, rng)
    assert (mask.reshape(-1, 128).sum(-1) == 64).all()
    rate = part.reshape(4000, -1).any(-1).mean()
    assert 0 < rate < 5 * RELEASE_PART_RATE


def test_same_seed_same_masks_different_seed_different(person_keypoints):
    kpts, scores = person_keypoints(np.random.RandomState(0), 50)
    gen = PartAwareMaskGenerator()
    a = gen.generate(kpts, scores, np.random.RandomState(7))[0]
    b = gen.generate(kpts, scores, np.random.RandomState(7))[0]
    c = gen.generate(kpts, scores, np.random.RandomState(8))[0]
    assert (a == b).all() and (a != c).any()


def test_random_masking_mode_is_uniform():
    gen = PartAwareMaskGenerator(
        num_views=1, part_guided=False, block_wise=False)
    rng = np.random.RandomState(9)
    mask, _ = gen.generate(np.full((4000, 17, 2), np.nan), np.zeros(
        (4000, 17)), rng)
    freq = mask.reshape(4000, -1).mean(0)
    assert np.abs(freq - 0.5).max() < 0.05


@pytest.mark.parametrize('kwargs, words', [
    (dict(mask_ratio=0.0), 'mask_ratio'),
    (dict(mask_ratio=1.0), 'mask_ratio'),
    (dict(input_size=(250, 128)), 'input_size'),
    (dict(input_size=(256, 128), patch_size=24), 'patch_size'),
])
def test_config_errors_name_the_setting(kwargs, words):
    with pytest.raises(ValueError, match=words):
        PartAwareMaskGenerator(**kwargs)


def test_transform_rejects_wrong_image_size():
    with pytest.raises(ValueError, match='input_size'):
        PartAwareMaskGenerator()(dict(img_shape=(128, 64)))


@pytest.mark.parametrize('input_size', [(256, 128), (224, 224), (96, 48)])
def test_part_patches_are_the_union_of_segment_boxes(input_size):
    """Against a direct per-segment reference: a part's patches are the
    patch boxes spanned by each of its segments with both ends usable."""
    from hap_mm.datasets.coco_keypoints import BODY_PARTS
    rng = np.random.RandomState(7)
    gen = PartAwareMaskGenerator(input_size=input_size)
    kpts, scores = _adversarial_keypoints(rng, 60)
    kpts[30:] = rng.uniform(0, 1, (30, 17, 2)) * input_size[::-1]
    scores[30:] = rng.uniform(0, 1, (30, 17))
    got = gen.part_patches(kpts, scores).reshape(60, len(BODY_PARTS),
                                                 *gen.grid)
    h, w = input_size
    for i in range(60):
        for p, segments in enumerate(BODY_PARTS.values()):
            ref = np.zeros(gen.grid, dtype=bool)
            for a, b in segments:
                ends = kpts[i, [a, b]]
                ok = [
                    np.isfinite(e).all() and 0 <= e[0] < w and 0 <= e[1] < h
                    and scores[i, j] >= gen.score_thr
                    for e, j in zip(ends, (a, b))
                ]
                if all(ok):
                    cols, rows = (ends // gen.patch_size).astype(int).T
                    ref[rows.min():rows.max() + 1,
                        cols.min():cols.max() + 1] = True
            assert (got[i, p] == ref).all(), (i, p)


@pytest.mark.parametrize('input_size, ratio', [((256, 128), 0.5),
                                               ((224, 224), 0.75),
                                               ((64, 32), 0.4)])
def test_block_fill_row_by_row_and_rows_together_agree(input_size, ratio):
    """The two block-fill paths (few rows: Python bitmasks; many rows: array
    operations) give identical masks for the same draws, and never overshoot
    the budget."""
    gen = PartAwareMaskGenerator(input_size=input_size, mask_ratio=ratio)
    rng = np.random.RandomState(8)
    rows = 200
    taken = rng.random_sample((rows, gen.num_patches)) < rng.uniform(
        0, 0.6, (rows, 1))
    taken[:20] = False
    u = rng.random_sample((rows, gen.max_block_attempts, 4))
    u[..., 1] = np.exp(rng.uniform(*gen.log_aspect, size=(rows, 20)) / 2)
    one = gen._block_fill_row_by_row(taken, u)
    together = gen._block_fill_rows_together(taken, u)
    assert (one == together).all()
    assert (one >= taken).all()
    added = one.sum(1) - taken.sum(1)
    assert (one.sum(1)[added > 0] <= gen.num_mask).all()
    if gen.num_mask >= 4 * gen.min_block_patches:
        assert added[:20].min() > 0  # empty rows get blocks on big grids
