"""Human-part-guided, block-wise mask generation (HAP), run in the pipeline."""
import functools
import math
from typing import Sequence, Tuple, Union

import numpy as np
from mmcv.transforms import BaseTransform
from mmpretrain.registry import TRANSFORMS

from ..coco_keypoints import BODY_PARTS, NUM_KEYPOINTS

_SEG_A = np.array([a for segs in BODY_PARTS.values() for a, _ in segs])
_SEG_B = np.array([b for segs in BODY_PARTS.values() for _, b in segs])
_SEG_PART = np.array(
    [p for p, segs in enumerate(BODY_PARTS.values()) for _ in segs])
NUM_PARTS = len(BODY_PARTS)
# (num_parts, num_segments) one-hot: which segment belongs to which part.
_PART_OF_SEGMENT = (np.arange(NUM_PARTS)[:, None] == _SEG_PART[None]).astype(
    np.float32)

# The public release applies part guidance to about 1% of samples because of
# a variable-shadowing bug (HAP_SPEC.md, "Known defects").
RELEASE_PART_RATE = 0.01

PRIO_PART, PRIO_BLOCK = 2.0, 1.0
# From this many rows (views) on, the block fill runs over all rows at once
# (measured crossover on a 2-core CPU: about 100 rows of a 16 x 8 grid).
VECTOR_ROWS = 96


@functools.lru_cache(maxsize=8)
def _rectangles(gh: int, gw: int) -> Tuple[list, list]:
    """Every axis-aligned rectangle of a gh x gw grid, as integer bitmasks.

    Returns:
        tuple: ``rects`` (list of int, bit ``r * gw + c`` set for each
        patch inside) and ``base`` (nested list, (gh + 1) x (gw + 1)): the
        rectangle of height h, width w at (top, left) is
        ``rects[base[h][w] + top * (gw - w + 1) + left]``.
    """
    base = [[0] * (gw + 1) for _ in range(gh + 1)]
    rects = []
    for h in range(1, gh + 1):
        for w in range(1, gw + 1):
            base[h][w] = len(rects)
            row = (1 << w) - 1
            for top in range(gh - h + 1):
                for left in range(gw - w + 1):
                    rects.append(
                        sum(row << ((top + r) * gw + left) for r in range(h)))
    return rects, base


@functools.lru_cache(maxsize=8)
def _rectangle_table(gh: int, gw: int) -> Tuple[np.ndarray, np.ndarray]:
    """:func:`_rectangles` as arrays: bool (num_rects, gh * gw) and the
    (gh + 1, gw + 1) int ``base`` index."""
    rects, base = _rectangles(gh, gw)
    return _from_bits(rects, gh * gw), np.array(base, dtype=np.intp)


def _to_bits(mask: np.ndarray) -> list:
    """bool (R, N) -> R Python ints, bit i = patch i."""
    packed = np.packbits(mask, axis=1, bitorder='little')
    return [int.from_bytes(row.tobytes(), 'little') for row in packed]


def _from_bits(bits: list, n: int) -> np.ndarray:
    """R Python ints -> bool (R, n)."""
    nbytes = (n + 7) // 8
    raw = np.frombuffer(
        b''.join(b.to_bytes(nbytes, 'little') for b in bits), np.uint8)
    return np.unpackbits(
        raw.reshape(len(bits), nbytes), axis=1, count=n,
        bitorder='little').astype(bool)


def _check_grid(input_size: Tuple[int, int], patch_size: int) -> None:
    for name, side in zip(('height', 'width'), input_size):
        if side <= 0 or side % patch_size:
            raise ValueError(
                f'input_size {tuple(input_size)}: the {name} {side} is not a '
                f'positive multiple of patch_size {patch_size}')


@TRANSFORMS.register_module()
class PartAwareMaskGenerator(BaseTransform):
    """Masks for HAP's views: body-part patches first, then blocks, exact count.

    For each view of an image (HAP_SPEC.md, "Part-guided mask sampling"):

    1. keypoints count when finite, inside the image and ``score >= score_thr``;
    2. draw ``k`` uniform in {0..6} and ``k`` distinct body parts; a part's
       patches are those inside the box of any of its usable segments;
    3. a random fraction, uniform in (0, ``max_part_fraction``), of each
       chosen part's patches gets top priority;
    4. BEiT-style blocks (area >= ``min_block_patches``, log-uniform aspect in
       ``block_aspect_range``) fill what is left of the budget;
    5. random patches fill the rest. Exactly ``round(mask_ratio * N)`` patches
       are masked, ties broken at random; views of one image never coincide.

    Keypoints that are missing, non-finite, outside the image or below the
    score threshold simply define no part, so any input yields a valid mask
    (block-only when no part is usable).

    All random draws of a batch of images are made at once; part patches and
    priorities are computed for the whole batch with array operations, and
    the block fill walks the views with integer bitmasks for a few views or
    all views together with array operations for many (``VECTOR_ROWS``).
    ``hap_collate`` calls :meth:`generate` once per batch, which is how the
    shipped configs use it.

    **Required keys:** ``img_shape``; optional ``keypoints`` (1, 17, 2) pixel
    coordinates and ``keypoints_visible`` (1, 17) scores (mmpose convention).

    **Added keys:** ``mask`` bool (num_views, H/p, W/p), True = masked;
    ``part_mask`` bool (num_views, H/p, W/p), the top-priority part patches.

    Args:
        input_size (tuple[int, int]): (H, W) of the network input in pixels.
        patch_size (int): Patch side in pixels.
        mask_ratio (float): Fraction of patches masked per view, in (0, 1).
        num_views (int): Number of masked views per image.
        max_part_fraction (float): Upper bound of the per-part fraction of
            patches that get top priority.
        min_block_patches (int): Smallest block area, in patches.
        block_aspect_range (tuple[float, float]): Block aspect (h / w) range.
        max_block_attempts (int): Block placements tried per view.
        score_thr (float): Keypoints scoring below this define no part.
        part_guided (bool): False gives block-only masking (an ablation).
        block_wise (bool): False skips the blocks: parts then uniform random
            patches (``part_guided=False, block_wise=False`` is MAE's
            random masking).
        release_compatible (bool): Reproduce the public release's sampling
            with its defects (parts in ~1% of samples, scores ignored, blocks
            not budgeted against parts, integer priorities with ties going to
            low patch indices). The count stays exact. For ablations only.
    """

    def __init__(self,
                 input_size: Union[int, Sequence[int]] = (256, 128),
                 patch_size: int = 16,
                 mask_ratio: float = 0.5,
                 num_views: int = 2,
                 max_part_fraction: float = 0.3,
                 min_block_patches: int = 12,
                 block_aspect_range: Tuple[float, float] = (0.3, 1 / 0.3),
                 max_block_attempts: int = 20,
                 score_thr: float = 0.3,
                 part_guided: bool = True,
                 block_wise: bool = True,
                 release_compatible: bool = False) -> None:
        if isinstance(input_size, int):
            input_size = (input_size, input_size)
        input_size = tuple(int(s) for s in input_size)
        _check_grid(input_size, patch_size)
        if not 0 < mask_ratio < 1:
            raise ValueError(f'mask_ratio must be in (0, 1), got {mask_ratio}')
        if num_views < 1:
            raise ValueError(f'num_views must be >= 1, got {num_views}')
        if not 0 <= max_part_fraction <= 1:
            raise ValueError('max_part_fraction must be in [0, 1], got '
                             f'{max_part_fraction}')
        self.input_size = input_size
        self.patch_size = patch_size
        self.grid = (input_size[0] // patch_size, input_size[1] // patch_size)
        self.num_patches = self.grid[0] * self.grid[1]
        self.mask_ratio = mask_ratio
        self.num_mask = int(math.floor(mask_ratio * self.num_patches + 0.5))
        if not 0 < self.num_mask < self.num_patches:
            raise ValueError(
                f'mask_ratio {mask_ratio} masks {self.num_mask} of '
                f'{self.num_patches} patches; need at least one masked and '
                'one visible patch')
        self.num_views = num_views
        self.max_part_fraction = max_part_fraction
        self.min_block_patches = min_block_patches
        self.log_aspect = (math.log(block_aspect_range[0]),
                           math.log(block_aspect_range[1]))
        self.max_block_attempts = max_block_attempts
        self.score_thr = score_thr
        self.part_guided = part_guided
        self.block_wise = block_wise
        self.release_compatible = release_compatible

    # ------------------------------------------------------------------ API
    def transform(self, results: dict) -> dict:
        img_h, img_w = results['img_shape'][:2]
        if (img_h, img_w) != self.input_size:
            raise ValueError(
                f'PartAwareMaskGenerator expects {self.input_size} images '
                f'(input_size), got {(img_h, img_w)}; put it after the crop')
        kpts, scores = read_keypoints(results)
        mask, part_mask = self.generate(kpts[None], scores[None])
        results['mask'] = mask[0]
        results['part_mask'] = part_mask[0]
        return results

    def generate(self,
                 keypoints: np.ndarray,
                 scores: np.ndarray,
                 rng=np.random) -> Tuple[np.ndarray, np.ndarray]:
        """Masks for a batch of images.

        Args:
            keypoints (np.ndarray): (B, 17, 2) x, y in input pixels.
            scores (np.ndarray): (B, 17) keypoint scores.
            rng: ``np.random`` or a ``np.random.RandomState``.

        Returns:
            tuple: ``mask`` and ``part_mask``, bool (B, V, H/p, W/p).
        """
        B, V, N = keypoints.shape[0], self.num_views, self.num_patches
        parts = self.part_patches(keypoints, scores)  # (B, P, N)
        prio = self._part_priority(parts, rng)  # (B, V, N)
        prio = prio.reshape(B * V, N)
        if self.release_compatible:
            block = self._block_fill(np.zeros_like(prio), rng)
            score = PRIO_PART * prio + PRIO_BLOCK * (block & ~prio)
            order = np.argsort(-score, axis=1, kind='stable')
        else:
            block = self._block_fill(prio, rng)
            score = (PRIO_PART * prio + PRIO_BLOCK * (block & ~prio) +
                     rng.random_sample((B * V, N)))
            order = np.argsort(-score, axis=1)
        mask = np.zeros((B * V, N), dtype=bool)
        np.put_along_axis(mask, order[:, :self.num_mask], True, axis=1)
        mask = self._make_views_differ(mask.reshape(B, V, N), rng)
        shape = (B, V) + self.grid
        return mask.reshape(shape), (prio & mask.reshape(B * V, N)).reshape(
            shape)

    # ------------------------------------------------------------- details
    def part_patches(self, keypoints: np.ndarray,
                      scores: np.ndarray) -> np.ndarray:
        """Patches of each body part: bool (B, num_parts, N)."""
        B = keypoints.shape[0]
        gh, gw = self.grid
        x, y = keypoints[..., 0], keypoints[..., 1]
        with np.errstate(invalid='ignore'):
            usable = (np.isfinite(x) & np.isfinite(y) & (x >= 0) & (y >= 0)
                      & (x < self.input_size[1]) & (y < self.input_size[0]))
            if not self.release_compatible:
                usable &= np.isfinite(scores) & (scores >= self.score_thr)
        px = np.where(usable, x, 0) // self.patch_size
        py = np.where(usable, y, 0) // self.patch_size
        seg_ok = usable[:, _SEG_A] & usable[:, _SEG_B]  # (B, S)
        # A segment's box is its rows times its columns, so the patches of a
        # part (the union of its segments' boxes) are a matrix product:
        # (B, P, gh, S) rows of the part's segments @ (B, 1, S, gw) columns.
        y0 = np.minimum(py[:, _SEG_A], py[:, _SEG_B])[..., None]
        y1 = np.maximum(py[:, _SEG_A], py[:, _SEG_B])[..., None]
        x0 = np.minimum(px[:, _SEG_A], px[:, _SEG_B])[..., None]
        x1 = np.maximum(px[:, _SEG_A], px[:, _SEG_B])[..., None]
        rows, cols = np.arange(gh), np.arange(gw)
        in_rows = ((rows >= y0) & (rows <= y1)
                   & seg_ok[..., None]).astype(np.float32)  # (B, S, gh)
        in_cols = ((cols >= x0) & (cols <= x1)).astype(np.float32)
        part_rows = (in_rows.transpose(0, 2, 1)[:, None] *
                     _PART_OF_SEGMENT[None, :, None, :])  # (B, P, gh, S)
        parts = part_rows @ in_cols[:, None] > 0  # (B, P, gh, gw)
        return parts.reshape(B, NUM_PARTS, self.num_patches)

    def _part_priority(self, parts: np.ndarray, rng) -> np.ndarray:
        """Top-priority patches per view: bool (B, V, N)."""
        B, P, N = parts.shape
        V = self.num_views
        if not self.part_guided:
            return np.zeros((B, V, N), dtype=bool)
        num_chosen = rng.randint(0, P + 1, size=(B, V, 1))
        rank = np.argsort(rng.random_sample((B, V, P)), axis=-1).argsort(-1)
        chosen = rank < num_chosen  # k distinct random parts
        if self.release_compatible:
            chosen &= rng.random_sample((B, 1, 1)) < RELEASE_PART_RATE
        fraction = rng.uniform(0, self.max_part_fraction, size=(B, V, P))
        quota = np.floor(fraction * parts.sum(-1)[:, None] + 0.5) * chosen
        # A uniform random subset of ``quota`` patches of each chosen part:
        # the patches whose random key is at most the quota-th smallest key
        # of the part. Only rows with a quota get keys, and only their
        # patches inside the part are drawn.
        b, v, p = np.nonzero(quota > 0)
        picked = np.zeros((B, V, P, N), dtype=bool)
        if len(b):
            inside = parts[b, p]  # (M, N)
            keys = np.full(inside.shape, 2.0)  # outside: never picked
            keys[inside] = rng.random_sample(np.count_nonzero(inside))
            kth = np.sort(keys, axis=1)[np.arange(len(b)),
                                        quota[b, v, p].astype(np.intp) - 1]
            picked[b, v, p] = keys <= kth[:, None]
        return picked.any(2)

    def _block_fill(self, taken: np.ndarray, rng) -> np.ndarray:
        """BEiT-style blocks filling ``num_mask - taken`` per row.

        Each attempt draws a block of area U(min_block_patches, remaining)
        and log-uniform aspect at a random position, and keeps it when it
        adds between 1 and ``remaining`` patches. All random numbers of all
        rows are drawn in one call and blocks come from a table of every
        rectangle of the grid. Attempts are sequential within a row, so the
        rows are walked either one at a time with Python integer bitmasks
        (cheapest for a few rows: NumPy calls on tiny arrays cost more than
        a few integer operations) or all together, one attempt at a time,
        with array operations (cheapest from ``VECTOR_ROWS`` rows on). Both
        give the same masks for the same random draws.

        Args:
            taken (np.ndarray): bool (R, N), patches already selected.

        Returns:
            np.ndarray: bool (R, N), ``taken`` plus the accepted blocks.
        """
        if not self.block_wise:
            return taken.copy()
        u = rng.random_sample((taken.shape[0], self.max_block_attempts, 4))
        u[..., 1] = np.exp((self.log_aspect[0] + (self.log_aspect[1] -
                                                  self.log_aspect[0]) *
                            u[..., 1]) / 2)  # sqrt of the aspect ratio
        if taken.shape[0] >= VECTOR_ROWS:
            return self._block_fill_rows_together(taken, u)
        return self._block_fill_row_by_row(taken, u)

    def _block_fill_row_by_row(self, taken: np.ndarray,
                               u: np.ndarray) -> np.ndarray:
        """:meth:`_block_fill` with one Python integer bitmask per row.

        Args:
            taken (np.ndarray): bool (R, N).
            u (np.ndarray): (R, K, 4) draws per attempt: area, sqrt aspect,
                top, left.
        """
        gh, gw = self.grid
        rects, base = _rectangles(gh, gw)
        lo, num_mask = self.min_block_patches, self.num_mask
        out = []
        for acc, draws in zip(_to_bits(taken), u.tolist()):
            remaining = num_mask - acc.bit_count()
            for u_area, root_aspect, u_top, u_left in draws:
                if remaining <= 0:
                    break
                side = math.sqrt(lo + u_area * max(remaining - lo, 0))
                h = int(side * root_aspect + 0.5)
                w = int(side / root_aspect + 0.5)
                if h < 1 or h > gh or w < 1 or w > gw:
                    continue
                cols = gw + 1 - w
                new = rects[base[h][w] + int(u_top * (gh + 1 - h)) * cols +
                            int(u_left * cols)] & ~acc
                gained = new.bit_count()
                if 0 < gained <= remaining:
                    acc |= new
                    remaining -= gained
            out.append(acc)
        return _from_bits(out, self.num_patches)

    def _block_fill_rows_together(self, taken: np.ndarray,
                                  u: np.ndarray) -> np.ndarray:
        """:meth:`_block_fill` with array operations over all rows, one
        attempt at a time; arguments as :meth:`_block_fill_row_by_row`."""
        gh, gw = self.grid
        table, base = _rectangle_table(gh, gw)
        lo = self.min_block_patches
        # each (K, R): attempt-major, so one attempt is a contiguous row
        u_area, root_aspect, u_top, u_left = u.transpose(2, 1, 0).copy()
        acc = taken.copy()
        remaining = self.num_mask - np.count_nonzero(acc, axis=1)
        for k in range(u.shape[1]):
            active = remaining > 0
            if not active.any():
                break
            side = np.sqrt(lo + u_area[k] * np.maximum(remaining - lo, 0))
            h = (side * root_aspect[k] + 0.5).astype(np.intp)
            w = (side / root_aspect[k] + 0.5).astype(np.intp)
            ok = active & (h >= 1) & (h <= gh) & (w >= 1) & (w <= gw)
            h[~ok] = 1
            w[~ok] = 1
            cols = gw + 1 - w
            new = table[base[h, w] +
                        (u_top[k] * (gh + 1 - h)).astype(np.intp) * cols +
                        (u_left[k] * cols).astype(np.intp)]
            new &= ~acc
            gained = np.count_nonzero(new, axis=1)
            ok &= (gained > 0) & (gained <= remaining)
            new &= ok[:, None]
            acc |= new
            remaining -= gained * ok
        return acc

    def _make_views_differ(self, mask: np.ndarray, rng) -> np.ndarray:
        """Swap one masked and one visible patch where a view repeats view 0.

        Args:
            mask (np.ndarray): bool (B, V, N) with exact counts per view.
        """
        if mask.shape[1] < 2:
            return mask
        same = (mask[:, 1:] == mask[:, :1]).all(-1)  # (B, V-1)
        for b, v in zip(*np.nonzero(same)):
            row = mask[b, v + 1]
            on, off = np.flatnonzero(row), np.flatnonzero(~row)
            row[on[rng.randint(len(on))]] = False
            row[off[rng.randint(len(off))]] = True
        return mask

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(input_size={self.input_size}, '
                f'patch_size={self.patch_size}, mask_ratio={self.mask_ratio}, '
                f'num_views={self.num_views}, '
                f'max_part_fraction={self.max_part_fraction}, '
                f'min_block_patches={self.min_block_patches}, '
                f'score_thr={self.score_thr}, part_guided={self.part_guided}, '
                f'block_wise={self.block_wise}, '
                f'release_compatible={self.release_compatible})')


def read_keypoints(results) -> Tuple[np.ndarray, np.ndarray]:
    """(17, 2) coordinates and (17,) scores, float64, from a results dict or
    a data sample (``keypoints``, ``keypoints_visible``, read with
    ``.get``); all-NaN when absent or malformed (the sample then gets
    block-only masks).
    """
    kpts = results.get('keypoints')
    if kpts is not None:
        kpts = np.asarray(kpts, dtype=np.float64)
        vis = results.get('keypoints_visible')
        scores = (np.ones(NUM_KEYPOINTS) if vis is None else np.asarray(
            vis, dtype=np.float64))
        if kpts.size == NUM_KEYPOINTS * 2 and scores.size == NUM_KEYPOINTS:
            return kpts.reshape(NUM_KEYPOINTS, 2), scores.reshape(
                NUM_KEYPOINTS)
    return np.full((NUM_KEYPOINTS, 2), np.nan), np.zeros(NUM_KEYPOINTS)
