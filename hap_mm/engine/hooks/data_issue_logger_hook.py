"""Log the bad files the dataset skipped or degraded, with per-epoch totals."""
from collections import Counter
from typing import Optional, Sequence

from mmengine.dist import all_gather_object, is_main_process
from mmengine.hooks import Hook
from mmpretrain.registry import HOOKS

from ...datasets.image_io import printable


@HOOKS.register_module()
class DataIssueLoggerHook(Hook):
    """Report the ``data_issues`` that samples carry (see the dataset).

    Every problem the dataset recorded (an unreadable image replaced by
    another sample, a missing or malformed keypoint file) travels in the
    sample's metainfo. This hook logs the first ``max_paths_per_epoch``
    distinct paths of each epoch as they arrive and, at the end of the
    epoch, the totals per kind and message gathered from every rank.

    Args:
        max_paths_per_epoch (int): Paths printed per epoch (per rank).
    """

    priority = 'LOW'

    def __init__(self, max_paths_per_epoch: int = 50) -> None:
        self.max_paths_per_epoch = max_paths_per_epoch
        self._seen: set = set()
        self._counts: Counter = Counter()

    def before_train_epoch(self, runner) -> None:
        self._seen = set()
        self._counts = Counter()

    def after_train_iter(self,
                         runner,
                         batch_idx: int,
                         data_batch: Optional[dict] = None,
                         outputs: Optional[dict] = None) -> None:
        samples: Sequence = (data_batch or {}).get('data_samples') or []
        for sample in samples:
            for kind, path, msg in sample.metainfo.get('data_issues', ()):
                self._counts[(kind, msg.split(' (')[0])] += 1
                if path in self._seen:
                    continue
                self._seen.add(path)
                if len(self._seen) <= self.max_paths_per_epoch:
                    runner.logger.warning(
                        printable(f'bad {kind} file {path}: {msg}'))

    def after_train_epoch(self, runner) -> None:
        total: Counter = Counter()
        for counts in all_gather_object(self._counts):
            total.update(counts)
        if not is_main_process():
            return
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
