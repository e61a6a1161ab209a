"""mmengine Runner with safe checkpoint loading and crash-proof saving."""
import glob
import os
import os.path as osp
from typing import Optional

import torch
from mmengine.dist import is_main_process
from mmengine.runner import Runner
from mmpretrain.registry import RUNNERS

from ...datasets.hap_collate import build_mask_generator
from ...models.utils.checkpoint import CHECKPOINT_SAFE_GLOBALS
from ...utils.device import check_cuda_usable


def latest_checkpoint(work_dir: str) -> Optional[str]:
    """The checkpoint to resume from: ``last_checkpoint`` if it names an
    existing file, otherwise the newest ``*.pth`` in ``work_dir``."""
    record = osp.join(work_dir, 'last_checkpoint')
    if osp.isfile(record):
        with open(record) as f:
            named = f.read().strip()
        if named and osp.isfile(named):
            return named
    found = sorted(
        glob.glob(osp.join(work_dir, '*.pth')), key=osp.getmtime, reverse=True)
    return found[0] if found else None


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


@RUNNERS.register_module()
class HAPRunner(Runner):
    """``Runner`` that loads checkpoints safely and saves them atomically.

    - Loading (``--resume``, ``load_from``) keeps ``torch.load``'s
      ``weights_only=True`` check (the default since torch 2.6, which a plain
      Runner cannot resume under) and allows only
      :data:`CHECKPOINT_SAFE_GLOBALS`, the few NumPy and mmengine types
      mmengine writes into its own checkpoints.
    - Saving writes ``.<name>.tmp`` and renames it into place, so a job
      killed while saving leaves the previous checkpoints intact and never a
      truncated ``epoch_N.pth``.
    - Auto-resume (``--resume`` without a path) takes the file named in
      ``last_checkpoint`` or, when that record is missing, empty or points to
      a missing file, the newest checkpoint in the work directory.
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
        with torch.serialization.safe_globals(CHECKPOINT_SAFE_GLOBALS):
            return super().load_checkpoint(filename, *args, **kwargs)

    def save_checkpoint(self, out_dir: str, filename: str, *args, **kwargs):
        if '://' in out_dir:  # remote storage: the backend decides
            return super().save_checkpoint(out_dir, filename, *args, **kwargs)
        tmp = f'.{filename}.tmp'
        super().save_checkpoint(out_dir, tmp, *args, **kwargs)
        if is_main_process():  # Runner.save_checkpoint is master-only
            os.replace(osp.join(out_dir, tmp), osp.join(out_dir, filename))

    def load_or_resume(self) -> None:
        if self._resume and self._load_from is None and not self._has_loaded:
            self._load_from = latest_checkpoint(self.work_dir)
            if self._load_from is None:
                self.logger.info(f'no checkpoint in {self.work_dir} to '
                                 'resume from; starting from scratch')
                self._resume = False
        super().load_or_resume()
