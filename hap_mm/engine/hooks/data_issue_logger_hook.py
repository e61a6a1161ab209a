"""Log the bad files the dataset skipped or degraded, with per-epoch totals,
stop early when most keypoints are missing, and log how much part guidance
the masks actually got."""
from collections import Counter
from typing import Optional, Sequence

import numpy as np
from mmengine.dist import all_gather_object, is_main_process
from mmengine.hooks import Hook
from mmpretrain.registry import HOOKS

from ...datasets.image_io import printable
from ...datasets.transforms.keypoint_utils import count_usable_keypoints

EXAMPLES_SHOWN = 3


class TooManyBadKeypointsError(RuntimeError):
    """Most samples of the first ones seen had keypoint problems."""


def _keypoint_problems(issues: Sequence) -> list:
    """(message without details, path) of a sample's keypoint issues."""
    return [(msg.split(' (')[0], path) for kind, path, msg in issues
            if kind == 'keypoints']


@HOOKS.register_module()
class DataIssueLoggerHook(Hook):
    """Report the ``data_issues`` that samples carry (see the dataset).

    Every problem the dataset recorded (an unreadable image replaced by
    another sample, a missing or malformed keypoint file) travels in the
    sample's metainfo. This hook logs the first ``max_paths_per_epoch``
    distinct paths of each epoch as they arrive and, at the end of the
    epoch, the totals per kind and message gathered from every rank.

    **Fail fast.** When more than ``max_bad_keypoint_fraction`` of the first
    ``check_samples`` samples seen on a rank (or of its whole first epoch,
    when that is shorter) have keypoint problems, training stops with
    :class:`TooManyBadKeypointsError` naming the most common problem and
    three example paths: a wrong ``kpt_path`` would otherwise train on
    block-only masks. ``max_bad_keypoint_fraction=1.0`` turns this off.

    **Part guidance.** With HAP masks (``hap_collate``'s batch-level
    ``part_patches`` (B, V) and ``usable_keypoints`` (B,), or, for a
    ``PartAwareMaskGenerator`` pipeline step, each data sample's
    ``part_mask`` (V, H/p, W/p) and keypoints), each epoch logs the mean
    number of part patches per view and the share of samples without a
    usable keypoint (finite, inside the input, score >= the generator's
    ``score_thr``), and warns when part guidance is (near)
    absent: fewer than ``min_part_patches_per_view`` part patches per view
    or more than ``max_no_keypoint_fraction`` of samples without a usable
    keypoint. Keypoints that read fine but are useless (coordinates
    normalised to [0, 1], full-frame coordinates on a crop, every score
    below the threshold) show up here. No warning for generators with
    ``part_guided=False`` or ``release_compatible=True`` (parts are absent or
    rare there by design).

    Args:
        max_paths_per_epoch (int): Paths printed per epoch (per rank).
        max_bad_keypoint_fraction (float): Largest tolerated share of
            samples with keypoint problems among the first ones.
        check_samples (int): How many samples per rank that share is
            measured on (fewer when the first epoch is shorter).
        min_part_patches_per_view (float): Warn below this mean.
        max_no_keypoint_fraction (float): Warn above this share of samples
            without a usable keypoint.
    """

    priority = 'LOW'

    def __init__(self,
                 max_paths_per_epoch: int = 50,
                 max_bad_keypoint_fraction: float = 0.5,
                 check_samples: int = 1000,
                 min_part_patches_per_view: float = 1.0,
                 max_no_keypoint_fraction: float = 0.5) -> None:
        if not 0 <= max_bad_keypoint_fraction <= 1:
            raise ValueError('max_bad_keypoint_fraction must be in [0, 1], '
                             f'got {max_bad_keypoint_fraction}')
        self.max_paths_per_epoch = max_paths_per_epoch
        self.max_bad_keypoint_fraction = max_bad_keypoint_fraction
        self.check_samples = check_samples
        self.min_part_patches_per_view = min_part_patches_per_view
        self.max_no_keypoint_fraction = max_no_keypoint_fraction
        self._seen: set = set()
        self._counts: Counter = Counter()
        # fail-fast check over the first samples of this rank
        self._checked = False
        self._checked_samples = 0
        self._bad_samples = 0
        self._bad_messages: Counter = Counter()
        self._bad_examples: dict = {}
        # part guidance: generator settings and per-epoch sums
        self._mask_cfg: Optional[dict] = None
        self._guidance = np.zeros(4, np.int64)

    def before_train(self, runner) -> None:
        from hap_mm.datasets import find_mask_generator
        try:
            self._mask_cfg = find_mask_generator(runner.cfg.train_dataloader)
        except (ValueError, KeyError, AttributeError, TypeError):
            self._mask_cfg = None  # no HAP masks: no part statistics

    def before_train_epoch(self, runner) -> None:
        self._seen = set()
        self._counts = Counter()
        self._guidance = np.zeros(4, np.int64)

    def after_train_iter(self,
                         runner,
                         batch_idx: int,
                         data_batch: Optional[dict] = None,
                         outputs: Optional[dict] = None) -> None:
        data_batch = data_batch or {}
        samples: Sequence = data_batch.get('data_samples') or []
        for sample in samples:
            issues = sample.get('data_issues', ())
            for kind, path, msg in issues:
                self._counts[(kind, msg.split(' (')[0])] += 1
                if path in self._seen:
                    continue
                self._seen.add(path)
                if len(self._seen) <= self.max_paths_per_epoch:
                    runner.logger.warning(
                        printable(f'bad {kind} file {path}: {msg}'))
            if not self._checked:
                self._count_for_check(issues)
            if 'part_patches' not in data_batch:
                self._count_guidance(sample)
        if self._mask_cfg is not None and 'part_patches' in data_batch:
            parts = np.asarray(data_batch['part_patches'])
            usable = np.asarray(data_batch['usable_keypoints'])
            # sum of part patches, views, samples, samples without keypoints
            self._guidance += (int(parts.sum()), parts.size, len(usable),
                               int((usable == 0).sum()))
        if not self._checked and self._checked_samples >= self.check_samples:
            self._check(runner)

    def after_train_epoch(self, runner) -> None:
        total: Counter = Counter()
        guidance = np.zeros(4, np.int64)
        for counts, part in all_gather_object((self._counts, self._guidance)):
            total.update(counts)
            guidance += part
        if is_main_process():
            self._log_totals(runner, total)
            self._log_guidance(runner, guidance)
        if not self._checked:
            self._check(runner)

    # ------------------------------------------------------------ details
    def _count_for_check(self, issues: Sequence) -> None:
        self._checked_samples += 1
        problems = _keypoint_problems(issues)
        if not problems:
            return
        self._bad_samples += 1
        msg, path = problems[0]
        self._bad_messages[msg] += 1
        examples = self._bad_examples.setdefault(msg, [])
        if len(examples) < EXAMPLES_SHOWN and path not in examples:
            examples.append(path)

    def _check(self, runner) -> None:
        self._checked = True
        n, bad = self._checked_samples, self._bad_samples
        if not n or bad <= self.max_bad_keypoint_fraction * n:
            return
        msg, count = self._bad_messages.most_common(1)[0]
        dataset = getattr(runner.train_dataloader, 'dataset', None)
        kpt_dir = getattr(dataset, 'data_prefix', {}).get('kpt_path')
        where = f' (now {kpt_dir!r})' if kpt_dir else ''
        raise TooManyBadKeypointsError(
            f'{bad} of the first {n} samples on this rank ({bad / n:.0%}) '
            f'have keypoint problems, more than max_bad_keypoint_fraction='
            f'{self.max_bad_keypoint_fraction}; most common: "{msg}" '
            f'({count} samples), e.g. '
            f'{", ".join(self._bad_examples[msg])}. Check the dataset\'s '
            f"data_prefix['kpt_path']{where} and the keypoint files, or "
            'set DataIssueLoggerHook(max_bad_keypoint_fraction=1.0) to train '
            'on block masks anyway')

    def _count_guidance(self, sample) -> None:
        part = sample.get('part_mask')
        if part is None or self._mask_cfg is None:
            return
        part = np.asarray(part)
        usable = count_usable_keypoints(
            sample.get('keypoints', np.full((17, 2), np.nan)),
            sample.get('keypoints_visible', np.zeros(17)),
            self._input_size(), self._mask_cfg.get('score_thr', 0.3))
        # sum of part patches, views, samples, samples without keypoints
        self._guidance += (int(part.sum()), part.shape[0], 1, int(not usable))

    def _input_size(self) -> tuple:
        size = self._mask_cfg.get('input_size', (256, 128))
        return (size, size) if isinstance(size, int) else tuple(size)

    def _log_totals(self, runner, total: Counter) -> None:
        epoch = runner.epoch + 1
        if not total:
            runner.logger.info(f'epoch {epoch}: no bad data files')
            return
        per_kind = Counter()
        for (kind, _), n in total.items():
            per_kind[kind] += n
        detail = '; '.join(f'{kind}: {msg} x{n}'
                           for (kind, msg), n in sorted(total.items()))
        runner.logger.warning(printable(
            f'epoch {epoch}: {per_kind["image"]} unreadable images skipped, '
            f'{per_kind["keypoints"]} samples with bad keypoint files '
            f'({detail})'))

    def _log_guidance(self, runner, guidance: np.ndarray) -> None:
        parts, views, samples, no_kpt = (int(v) for v in guidance)
        if not samples:
            return
        per_view, share = parts / max(views, 1), no_kpt / samples
        cfg = self._mask_cfg
        runner.logger.info(
            f'epoch {runner.epoch + 1}: part guidance: {per_view:.2f} part '
            f'patches per view, {share:.1%} of {samples} samples without a '
            'usable keypoint')
        if (not cfg.get('part_guided', True)
                or cfg.get('release_compatible', False)):
            return
        if (per_view < self.min_part_patches_per_view
                or share > self.max_no_keypoint_fraction):
            h, w = self._input_size()
            runner.logger.warning(
                f'epoch {runner.epoch + 1}: part guidance is (near) absent: '
                f'{per_view:.2f} part patches per view (good keypoints give '
                f'about 4), {share:.1%} of samples without a usable keypoint '
                f'(finite, inside the {h}x{w} input, score >= '
                f"{cfg.get('score_thr', 0.3)}); the masks are almost only "
                'blocks. Readable but useless keypoints look like this: '
                'coordinates normalised to [0, 1], full-frame coordinates '
                'for a crop, or every score below score_thr; '
                'tools/data/prepare_lup.py flags each case')
