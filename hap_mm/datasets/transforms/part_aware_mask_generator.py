"""Human-part-guided, block-wise mask generation (HAP), run in the pipeline."""
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

# The release's priorities (HAP_SPEC.md, "Known defects"): the i-th chosen
# part (0-based) gets RELEASE_TOP_PRIORITY - i, block patches
# RELEASE_BLOCK_VALUE, the rest 0; the lowest values stay visible.
RELEASE_TOP_PRIORITY = 100
RELEASE_BLOCK_VALUE = 2

# Random streams: every random number of a view is a hash of (the image's
# seed, the view, a purpose, an index), so an image's masks do not depend on
# the other images of its batch.
_K, _ORDER, _FRACTION, _PATCH_KEY, _BLOCK, _TOP_UP, _DIFFER, _CHAIN = range(8)
_U64 = np.uint64
_GOLDEN = _U64(0x9E3779B97F4A7C15)
_MIX1, _MIX2 = _U64(0xBF58476D1CE4E5B9), _U64(0x94D049BB133111EB)


def _splitmix(x: np.ndarray) -> np.ndarray:
    """splitmix64's output function on a uint64 array (wraps mod 2**64)."""
    x = (x ^ (x >> _U64(30))) * _MIX1
    x = (x ^ (x >> _U64(27))) * _MIX2
    return x ^ (x >> _U64(31))


def _uniform(row_seeds: np.ndarray, purpose: int,
             index: Union[int, np.ndarray]) -> np.ndarray:
    """U[0, 1) draws fixed by (row seed, purpose, index).

    Args:
        row_seeds (np.ndarray): uint64 (R,), one per view.
        purpose (int): Which random quantity (``_K``, ``_ORDER``, ...).
        index: an int (one draw per row), (M,) (the same M indices for
            every row) or (R, M) (row-specific indices).

    Returns:
        np.ndarray: float64 (R,) or (R, M).
    """
    index = np.asarray(index, dtype=np.uint64)
    counter = (_U64(purpose) << _U64(40)) + np.atleast_1d(index) + _U64(1)
    bits = _splitmix(row_seeds[:, None] + counter * _GOLDEN) >> _U64(11)
    u = bits.astype(np.float64) * 2.0**-53
    return u if index.ndim else u[:, 0]


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
       a part's patches are those inside the patch box of any of its
       segments whose two keypoints count; a part is usable when it has
       at least one patch;
    2. draw ``k`` uniform in {0..6}, go through the six parts in random
       order and take the first ``k`` usable ones;
    3. from each chosen part, a random subset of
       ``floor(f * the part's patch count)`` patches, ``f`` uniform in
       (0, ``max_part_fraction``), gets top priority;
    4. BEiT's block-wise masking fills the rest of the budget: a block has
       target area U(``min_block_patches``, remaining budget) and a
       log-uniform aspect (h / w) in ``block_aspect_range``, its sides are
       the rounded ``sqrt(area * aspect)`` and ``sqrt(area / aspect)``, it
       must be strictly shorter and narrower than the grid and add between
       1 and the remaining budget of new patches; a block gets
       ``max_block_attempts`` attempts, and the blocks stop at the first
       block that fails them all or when the budget is filled;
    5. random patches fill the rest. Exactly ``round(mask_ratio * N)``
       patches are masked (part patches beyond the budget are cut at
       random); the views of one image never coincide.

    Keypoints that are missing, non-finite, outside the image or below the
    score threshold simply define no part, so any input yields a valid mask
    (block-only when no part is usable).

    Every random number of a view is a hash of the image's seed (drawn from
    ``rng``, 8 bytes per image, in batch order), the view and its index, so
    an image gets the same masks whether it is masked alone (the pipeline
    step) or in a batch (``hap_collate``) when ``rng`` is in the same state.
    Part patches, priorities and the blocks of all views of a batch are
    computed with array operations (one block attempt of every unfinished
    view per step).

    ``release_compatible=True`` reproduces the public release's sampling
    instead (HAP_SPEC.md, "Known defects"; the release is
    ``models/mask_block.py`` + ``models/mask_strategy.py``), for ablations:

    - reproduced: the block stage runs alone on an empty grid, marks block
      patches with 2 and measures a block's overlap with the sum of the
      marks, so already-masked patches count double (a block can overshoot
      or be refused; about a third of views get exactly 64 block patches);
      part priorities 100, 99, ... in the order the parts are chosen,
      written over the block marks (a patch of two chosen parts keeps the
      later, lower one); keypoint scores ignored; the number of parts
      drawn as ``k = randint(0, k_previous)`` along the batch (the
      ``num_parts`` shadowing bug: after the first image of a batch the
      upper bound is the previous image's draw, so only the first few
      images of each batch and view get parts, about 1% at 512 images);
      an ascending stable sort of the values, the first ``N - num_mask``
      staying visible (ties: low patch indices stay visible);
    - not reproduced: the release's batch is the per-GPU batch, as in
      ``hap_collate``; the pipeline step masks one image per call, so the
      ``num_parts`` chain restarts for every image there. The release
      keeps ``int(N * (1 - mask_ratio))`` patches visible, hap_mm masks
      ``round(mask_ratio * N)`` (the same for 0.5). Views of one image
      never coincide (in the release they rarely can). The alignment
      crash without a process group and the per-sample loops in the
      training step stay behind.

    **Required keys:** ``img_shape``; optional ``keypoints`` (1, 17, 2) pixel
    coordinates and ``keypoints_visible`` (1, 17) scores (mmpose convention).

    **Added keys:** ``mask`` bool (num_views, H/p, W/p), True = masked;
    ``part_mask`` bool (num_views, H/p, W/p), the masked part patches.

    Args:
        input_size (tuple[int, int]): (H, W) of the network input in pixels.
        patch_size (int): Patch side in pixels.
        mask_ratio (float): Fraction of patches masked per view, in (0, 1).
        num_views (int): Number of masked views per image.
        max_part_fraction (float): Upper bound of the per-part fraction of
            patches that get top priority.
        min_block_patches (int): Lower end of a block's target area.
        block_aspect_range (tuple[float, float]): Block aspect (h / w) range.
        max_block_attempts (int): Placements tried per block (BEiT: 10).
        score_thr (float): Keypoints scoring below this define no part.
        part_guided (bool): False gives block-only masking (an ablation).
        block_wise (bool): False skips the blocks: parts then uniform random
            patches (``part_guided=False, block_wise=False`` is MAE's
            random masking).
        release_compatible (bool): The release's sampling, defects included
            (above). For ablations only.
    """

    def __init__(self,
                 input_size: Union[int, Sequence[int]] = (256, 128),
                 patch_size: int = 16,
                 mask_ratio: float = 0.5,
                 num_views: int = 2,
                 max_part_fraction: float = 0.3,
                 min_block_patches: int = 12,
                 block_aspect_range: Tuple[float, float] = (0.3, 1 / 0.3),
                 max_block_attempts: int = 10,
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
        if max_block_attempts < 1:
            raise ValueError('max_block_attempts must be >= 1, got '
                             f'{max_block_attempts}')
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
                 rng=np.random,
                 debug: bool = False):
        """Masks for a batch of images.

        Args:
            keypoints (np.ndarray): (B, 17, 2) x, y in input pixels.
            scores (np.ndarray): (B, 17) keypoint scores.
            rng: ``np.random``, a ``np.random.RandomState`` or a
                ``np.random.Generator``; 8 bytes are drawn per image.
            debug (bool): Also return what was drawn (below).

        Returns:
            tuple: ``mask`` and ``part_mask``, bool (B, V, H/p, W/p); with
            ``debug`` a third item, a dict with, per view (B, V, ...):
            ``num_parts`` (k drawn), ``part_order`` (P,) int, the 0-based
            order in which a part was chosen or -1, ``fraction`` (P,) the
            drawn U(0, max_part_fraction), ``part_picks`` bool (P, N) the
            top-priority patches of each part, ``block_count`` the patches
            the block stage marked, ``blocks`` (a list over the B * V views,
            view-minor, of the accepted blocks as (top, left, h, w,
            target_area, aspect) in patches, in the order drawn).
        """
        B, V, N = keypoints.shape[0], self.num_views, self.num_patches
        seeds = np.frombuffer(rng.bytes(8 * B), dtype=np.uint64)
        # one seed per view: (B * V,), view-minor rows
        row_seeds = _splitmix(
            np.repeat(seeds, V) ^ np.tile(np.arange(V, dtype=np.uint64), B))
        parts = self.part_patches(keypoints, scores)  # (B, P, N)
        parts = np.repeat(parts, V, axis=0)  # (R, P, N)
        info = self._choose_parts(parts, row_seeds, B)
        info['blocks'] = [[] for _ in range(B * V)] if debug else None
        picks = info['part_picks']  # (R, P, N)
        if self.release_compatible:
            mask, top = self._release_mask(picks, info['part_order'],
                                           row_seeds, info)
        else:
            top = picks.any(1)
            block = self._blocks(top, row_seeds, info, overlap_weight=1)
            mask = top | block
            # views not filled exactly: part patches, then blocks, then
            # random patches, ties at random
            rows = np.flatnonzero(mask.sum(1) != self.num_mask)
            if len(rows):
                score = (2.0 * top[rows] + 1.0 * block[rows] +
                         _uniform(row_seeds[rows], _TOP_UP, np.arange(N)))
                order = np.argsort(-score, axis=1)
                filled = np.zeros((len(rows), N), dtype=bool)
                np.put_along_axis(filled, order[:, :self.num_mask], True,
                                  axis=1)
                mask[rows] = filled
        mask = self._make_views_differ(mask.reshape(B, V, N), row_seeds)
        shape = (B, V) + self.grid
        out = (mask.reshape(shape),
               (top & mask.reshape(B * V, N)).reshape(shape))
        if not debug:
            return out
        for key in ('num_parts', 'part_order', 'fraction', 'part_picks',
                    'block_count'):
            info[key] = info[key].reshape((B, V) + info[key].shape[1:])
        return out + (info, )

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

    def _choose_parts(self, parts: np.ndarray, row_seeds: np.ndarray,
                      batch: int) -> dict:
        """k parts per view and their top-priority patches.

        Args:
            parts (np.ndarray): bool (R, P, N) patches of each part, per view.
            row_seeds (np.ndarray): uint64 (R,).
            batch (int): B (rows are B x V, view-minor).

        Returns:
            dict: ``num_parts`` (R,), ``part_order`` (R, P), ``fraction``
            (R, P), ``part_picks`` bool (R, P, N).
        """
        R, P, N = parts.shape
        size = parts.sum(-1)  # (R, P)
        if not self.part_guided:
            k = np.zeros(R, dtype=np.intp)
        elif self.release_compatible:
            k = self._release_num_parts(row_seeds, batch)
        else:
            k = (_uniform(row_seeds, _K, 0) * (P + 1)).astype(np.intp)
        # the parts in a random order; the first k usable ones are chosen
        perm = np.argsort(_uniform(row_seeds, _ORDER, np.arange(P)), axis=1)
        usable = np.take_along_axis(size > 0, perm, axis=1)
        rank = np.cumsum(usable, axis=1) - 1  # among usable, in that order
        order = np.full((R, P), -1, dtype=np.intp)
        np.put_along_axis(order, perm,
                          np.where(usable & (rank < k[:, None]), rank, -1),
                          axis=1)
        fraction = (_uniform(row_seeds, _FRACTION, np.arange(P)) *
                    self.max_part_fraction)
        quota = np.floor(fraction * size).astype(np.intp) * (order >= 0)
        picks = np.zeros((R, P, N), dtype=bool)
        r, p = np.nonzero(quota > 0)
        if len(r):
            # a uniform random subset of ``quota`` patches of the part: the
            # patches with the ``quota`` smallest random keys
            keys = _uniform(row_seeds[r], _PATCH_KEY,
                            p[:, None] * N + np.arange(N)[None])
            keys[~parts[r, p]] = 2.0  # outside the part: never picked
            kth = np.sort(keys, axis=1)[np.arange(len(r)), quota[r, p] - 1]
            picks[r, p] = keys <= kth[:, None]
        return dict(num_parts=k, part_order=order, fraction=fraction,
                    part_picks=picks)

    def _release_num_parts(self, row_seeds: np.ndarray,
                           batch: int) -> np.ndarray:
        """The release's k per view: ``k = randint(0, k_previous)`` along
        the batch, starting from ``randint(0, 6)`` (``num_parts``
        shadowing), one chain per view."""
        V = len(row_seeds) // batch
        u = _uniform(row_seeds, _CHAIN, 0).reshape(batch, V)
        k = np.zeros((batch, V), dtype=np.intp)
        for v in range(V):
            bound = NUM_PARTS
            for b in range(batch):
                k[b, v] = bound = int(u[b, v] * (bound + 1))
                if bound == 0:
                    break
        return k.reshape(-1)

    def _release_mask(self, picks: np.ndarray, part_order: np.ndarray,
                      row_seeds: np.ndarray, info: dict):
        """The release's selection: block marks, part priorities written
        over them, an ascending stable sort, the first ``N - num_mask``
        visible. Returns the mask and the part patches, bool (R, N)."""
        R, P, N = picks.shape
        block = self._blocks(np.zeros((R, N), dtype=bool), row_seeds, info,
                             overlap_weight=RELEASE_BLOCK_VALUE)
        value = np.where(block, RELEASE_BLOCK_VALUE, 0)
        # a patch of several chosen parts keeps the last one written: the
        # latest chosen, i.e. the lowest priority
        latest = np.max(np.where(picks, part_order[..., None], -1), axis=1)
        top = latest >= 0
        value = np.where(top, RELEASE_TOP_PRIORITY - latest, value)
        order = np.argsort(value, axis=1, kind='stable')
        mask = np.zeros((R, N), dtype=bool)
        np.put_along_axis(mask, order[:, N - self.num_mask:], True, axis=1)
        return mask, top

    def _blocks(self, taken: np.ndarray, row_seeds: np.ndarray, info: dict,
                overlap_weight: int) -> np.ndarray:
        """BEiT's block-wise masking for every view at once.

        The blocks fill ``num_mask - taken`` per view. Each step makes one
        attempt for every view still placing blocks: target area
        ``a = U(min_block_patches, remaining)`` (``random.uniform``, so
        ``a`` lies in (remaining, min_block_patches] once the remaining
        budget is smaller), aspect ``r`` log-uniform, ``h = round(sqrt(a
        r))``, ``w = round(sqrt(a / r))``; with ``h < H`` and ``w < W`` a
        position uniform over the grid, kept when
        ``0 < h w - overlap_weight * overlap <= remaining`` (1: BEiT, the
        new patches; 2: the release's double count). A view stops when
        its budget is filled or a block failed ``max_block_attempts``
        times.

        Args:
            taken (np.ndarray): bool (R, N), patches already selected.
            row_seeds (np.ndarray): uint64 (R,).
            info (dict): gets ``block_count`` (R,); its ``blocks``, when
                not None, a list per view, gets the accepted blocks.
            overlap_weight (int): See above.

        Returns:
            np.ndarray: bool (R, N), the block patches (without ``taken``).
        """
        R, N = taken.shape
        gh, gw = self.grid
        acc = taken.copy()
        count = np.zeros(R, dtype=np.intp)  # patches the blocks marked
        budget = self.num_mask - taken.sum(1)
        drawn = info['blocks']
        info['block_count'] = count
        if not self.block_wise:
            return acc & ~taken
        attempt = np.zeros(R, dtype=np.intp)  # per view, for its draws
        fails = np.zeros(R, dtype=np.intp)  # of the current block
        rows = np.flatnonzero(budget > 0)
        lo, (la0, la1) = self.min_block_patches, self.log_aspect
        grid_r, grid_c = np.arange(gh), np.arange(gw)
        while len(rows):
            u = _uniform(row_seeds[rows], _BLOCK,
                         attempt[rows, None] * 4 + np.arange(4)[None])
            remaining = budget[rows] - count[rows]
            area = lo + u[:, 0] * (remaining - lo)
            aspect = np.exp(la0 + u[:, 1] * (la1 - la0))
            h = np.rint(np.sqrt(area * aspect)).astype(np.intp)
            w = np.rint(np.sqrt(area / aspect)).astype(np.intp)
            top = (u[:, 2] * (gh - h + 1)).astype(np.intp)
            left = (u[:, 3] * (gw - w + 1)).astype(np.intp)
            rect = (((grid_r >= top[:, None]) &
                     (grid_r < (top + h)[:, None]))[:, :, None] &
                    ((grid_c >= left[:, None]) &
                     (grid_c < (left + w)[:, None]))[:, None, :]).reshape(
                         len(rows), N)
            overlap = np.count_nonzero(rect & acc[rows], axis=1)
            measured = h * w - overlap_weight * overlap
            ok = ((h < gh) & (w < gw) & (measured > 0) &
                  (measured <= remaining))
            hit = rows[ok]
            acc[hit] |= rect[ok]
            count[hit] += (h * w - overlap)[ok]
            for i in np.flatnonzero(ok) if drawn is not None else ():
                drawn[rows[i]].append((int(top[i]), int(left[i]), int(h[i]),
                                       int(w[i]), float(area[i]),
                                       float(aspect[i])))
            fails[rows] = np.where(ok, 0, fails[rows] + 1)
            attempt[rows] += 1
            rows = rows[(count[rows] < budget[rows])
                        & (fails[rows] < self.max_block_attempts)]
        return acc & ~taken

    def _make_views_differ(self, mask: np.ndarray,
                           row_seeds: np.ndarray) -> np.ndarray:
        """Swap one masked and one visible patch where a view repeats view 0.

        Args:
            mask (np.ndarray): bool (B, V, N) with exact counts per view.
            row_seeds (np.ndarray): uint64 (B * V,).
        """
        B, V, N = mask.shape
        if V < 2:
            return mask
        same = (mask[:, 1:] == mask[:, :1]).all(-1)  # (B, V-1)
        for b, v in zip(*np.nonzero(same)):
            row = mask[b, v + 1]
            u = _uniform(row_seeds[b * V + v + 1:b * V + v + 2], _DIFFER,
                         np.arange(2))[0]
            on, off = np.flatnonzero(row), np.flatnonzero(~row)
            row[on[int(u[0] * len(on))]] = False
            row[off[int(u[1] * len(off))]] = True
        return mask

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(input_size={self.input_size}, '
                f'patch_size={self.patch_size}, mask_ratio={self.mask_ratio}, '
                f'num_views={self.num_views}, '
                f'max_part_fraction={self.max_part_fraction}, '
                f'min_block_patches={self.min_block_patches}, '
                f'max_block_attempts={self.max_block_attempts}, '
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

