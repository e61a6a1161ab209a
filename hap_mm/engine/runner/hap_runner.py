"""mmengine Runner with safe checkpoint loading and crash-proof saving."""
import glob
import logging
import os
import os.path as osp
from typing import Optional

import torch
from mmengine.dist import get_world_size, is_main_process
from mmengine.hooks import CheckpointHook
from mmengine.logging import MMLogger
from mmengine.runner import EpochBasedTrainLoop, Runner
from mmpretrain.registry import RUNNERS

from ...datasets.hap_collate import build_mask_generator
from ...models.utils.checkpoint import (
    CHECKPOINT_SAFE_GLOBALS,
    CheckpointLoadError,
    checkpoint_meta,
    load_checkpoint_mapped,
)
from ...utils.device import check_cuda_usable
from ..hooks import HAPCheckpointHook


def latest_checkpoint(work_dir: str,
                      logger: Optional[logging.Logger] = None
                      ) -> Optional[str]:
    """The checkpoint to resume from.

    The file ``last_checkpoint`` names, if it exists and reads; otherwise
    the ``*.pth`` in ``work_dir`` with the highest iteration (then epoch)
    recorded in its ``meta`` (not the newest file: a touched or copied old
    checkpoint must not win). Files that do not read (empty, truncated) are
    skipped with a warning naming them and why.

    Args:
        work_dir (str): The run's work directory.
        logger (logging.Logger, optional): Where the warnings go; the
            current mmengine logger by default.

    Returns:
        str or None: The checkpoint, or None when there is none.

    Raises:
        CheckpointLoadError: there are checkpoints but none reads (one line
            naming each and why).
    """
    logger = logger or MMLogger.get_current_instance()
    broken = []

    def readable(path: str) -> Optional[dict]:
        try:
            return checkpoint_meta(path)
        except CheckpointLoadError as e:
            logger.warning(f'auto-resume: skipping {e}')
            broken.append(str(e))
            return None

    named = None
    record = osp.join(work_dir, 'last_checkpoint')
    if osp.isfile(record):
        with open(record) as f:
            named = f.read().strip()
        if named and osp.isfile(named) and readable(named) is not None:
            return named
    found = {}
    for path in sorted(glob.glob(osp.join(work_dir, '*.pth'))):
        if named and osp.isfile(named) and osp.samefile(path, named):
            continue  # read (and skipped) above
        meta = readable(path)
        if meta is not None:  # on a tie, not a best_*.pth
            found[path] = (meta.get('iter', -1), meta.get('epoch', -1),
                           not osp.basename(path).startswith('best_'))
    if found:
        return max(found, key=found.get)
    if broken:
        raise CheckpointLoadError(
            f'no intact checkpoint in {work_dir} to resume from: ' +
            '; '.join(broken))
    return None


def init_cpu_process_group(cfg) -> None:
    """Start a gloo group for CPU-only distributed runs.

    mmengine's ``init_dist`` pins a CUDA device per rank, which fails
    without GPUs; with the group already initialised the Runner skips it,
    and ``HAPDistributedDataParallel`` wraps the CPU model.

    First stops where NVIDIA GPUs exist but CUDA cannot start
    (:func:`hap_mm.utils.check_cuda_usable`): the CPU route is for
    machines without GPUs.
    """
    check_cuda_usable()
    if cfg.launcher == 'none' or torch.cuda.is_available():
        return
    cfg.setdefault('env_cfg', {}).setdefault('dist_cfg', {})['backend'] = 'gloo'
    if cfg.launcher != 'pytorch':
        raise RuntimeError(
            f'--launcher {cfg.launcher} without GPUs is not supported; use '
            'tools/dist_train.sh (torchrun) for CPU data parallel runs')
    if not torch.distributed.is_initialized():
        torch.distributed.init_process_group(backend='gloo')


class CheckpointSaveError(RuntimeError):
    """A checkpoint could not be written (the partial file is removed)."""


@RUNNERS.register_module()
class HAPRunner(Runner):
    """``Runner`` that loads checkpoints safely and saves them atomically.

    - Loading (``--resume``, ``load_from``) keeps ``torch.load``'s
      ``weights_only=True`` check (the default since torch 2.6, which a plain
      Runner cannot resume under) and allows only
      :data:`CHECKPOINT_SAFE_GLOBALS`, the few NumPy and mmengine types
      mmengine writes into its own checkpoints. A file that does not read
      (empty, truncated) is a one-line :class:`CheckpointLoadError` naming
      it.
    - Saving writes ``.<name>.tmp`` and renames it into place, so a job
      killed while saving leaves the previous checkpoints intact and never a
      truncated ``epoch_N.pth``; a failed write (full disk) removes the
      partial file and raises :class:`CheckpointSaveError` naming the file
      and the reason. A plain ``CheckpointHook`` in the config runs as
      :class:`~hap_mm.engine.HAPCheckpointHook`, which deletes the oldest
      checkpoint only after the new one is complete.
    - Checkpoints record ``iters_per_epoch``, the batch size per process
      and the number of processes in ``meta``; resuming an epoch-based run
      with another number of iterations per epoch (a schedule converted to
      iterations would end at the wrong point) fails naming both.
    - Auto-resume (``--resume`` without a path) takes the file named in
      ``last_checkpoint`` or, when that record is missing, empty, or names
      a missing or unreadable file, the checkpoint with the highest
      recorded iteration (:func:`latest_checkpoint`).
    - Building a dataloader whose ``collate_fn`` is ``hap_collate`` first
      builds its mask generator, so a mask setting that cannot work fails
      before training, in the main process, naming the setting (not in a
      data worker at the first batch).
    - A top-level ``find_unused_parameters`` reaches the DDP wrapper.
    """

    @staticmethod
    def build_dataloader(dataloader, seed=None, diff_rank_seed=False):
        if isinstance(dataloader, dict):
            collate = dataloader.get('collate_fn') or {}
            if collate.get('mask_generator') is not None:
                build_mask_generator(collate['mask_generator'])
        return Runner.build_dataloader(
            dataloader, seed=seed, diff_rank_seed=diff_rank_seed)

    def register_default_hooks(self, hooks=None) -> None:
        hooks = dict(hooks or {})
        checkpoint = hooks.get('checkpoint',
                               dict(type='CheckpointHook', interval=1))
        if isinstance(checkpoint, dict) and checkpoint.get('type') in (
                'CheckpointHook', 'mmengine.CheckpointHook', CheckpointHook):
            hooks['checkpoint'] = dict(checkpoint, type=HAPCheckpointHook)
        super().register_default_hooks(hooks)

    def wrap_model(self, model_wrapper_cfg, model):
        """Pass a top-level ``find_unused_parameters`` on to the wrapper.

        mmengine reads the top-level key only when there is no
        ``model_wrapper_cfg``; the configs set one
        (``HAPDistributedDataParallel``), so it would be ignored silently.

        Raises:
            ValueError: the top level and ``model_wrapper_cfg`` disagree.
        """
        unused = self.cfg.get('find_unused_parameters')
        if unused is not None and model_wrapper_cfg is not None:
            inner = model_wrapper_cfg.get('find_unused_parameters')
            if inner is not None and inner != unused:
                raise ValueError(
                    f'find_unused_parameters={unused} but model_wrapper_cfg.'
                    f'find_unused_parameters={inner}; set only one')
            model_wrapper_cfg = dict(
                model_wrapper_cfg, find_unused_parameters=unused)
        return Runner.wrap_model(self, model_wrapper_cfg, model)

    def load_checkpoint(self, filename: str, *args, **kwargs):
        if osp.isfile(filename):
            load_checkpoint_mapped(filename)  # one-line error if broken
        with torch.serialization.safe_globals(CHECKPOINT_SAFE_GLOBALS):
            return super().load_checkpoint(filename, *args, **kwargs)

    def resume(self, filename: str, *args, **kwargs) -> None:
        if osp.isfile(filename):
            self._check_iters_per_epoch(filename, checkpoint_meta(filename))
        super().resume(filename, *args, **kwargs)

    def _schedule_meta(self) -> dict:
        """What the iteration-based schedule depends on."""
        loader = self.train_loop.dataloader
        meta = dict(
            train_batch_size=loader.batch_size, world_size=get_world_size())
        if isinstance(self.train_loop, EpochBasedTrainLoop):
            meta['iters_per_epoch'] = len(loader)
        return meta

    def _check_iters_per_epoch(self, filename: str, meta: dict) -> None:
        now = self._schedule_meta()
        before = meta.get('iters_per_epoch')
        if before is None or 'iters_per_epoch' not in now or \
                before == now['iters_per_epoch']:
            return
        raise RuntimeError(
            f'{filename} was written with {before} iterations per epoch '
            f'(batch size {meta.get("train_batch_size")} x '
            f'{meta.get("world_size")} processes); this run has '
            f'{now["iters_per_epoch"]} (batch size '
            f'{now["train_batch_size"]} x {now["world_size"]} processes), so '
            'the schedules converted to iterations would not end where the '
            'config says. Resume with the same batch size and number of '
            f'processes, or start a new run from its weights (load_from='
            f'{filename}, without --resume)')

    def save_checkpoint(self, out_dir: str, filename: str, *args, **kwargs):
        kwargs['meta'] = {**self._schedule_meta(),
                          **(kwargs.get('meta') or {})}
        if '://' in out_dir:  # remote storage: the backend decides
            return super().save_checkpoint(out_dir, filename, *args, **kwargs)
        if not is_main_process():  # Runner.save_checkpoint is master-only
            return None
        tmp, dst = (osp.join(out_dir, f'.{filename}.tmp'),
                    osp.join(out_dir, filename))
        try:
            super().save_checkpoint(out_dir, osp.basename(tmp), *args,
                                    **kwargs)
            os.replace(tmp, dst)
        except Exception as e:
            raise CheckpointSaveError(
                f'could not save checkpoint {dst}: {e}; removed the partial '
                'file, the earlier checkpoints are kept') from e
        finally:
            if osp.exists(tmp):
                os.remove(tmp)

    def load_or_resume(self) -> None:
        if self._resume and self._load_from is None and not self._has_loaded:
            self._load_from = latest_checkpoint(self.work_dir, self.logger)
            if self._load_from is None:
                self.logger.info(f'no checkpoint in {self.work_dir} to '
                                 'resume from; starting from scratch')
                self._resume = False
        super().load_or_resume()

