"""mmengine's CheckpointHook, rotating only after the new file is complete."""
import glob
import os
import os.path as osp

from mmengine.dist import is_main_process
from mmengine.hooks import CheckpointHook
from mmpretrain.registry import HOOKS


@HOOKS.register_module()
class HAPCheckpointHook(CheckpointHook):
    """``CheckpointHook`` that never leaves a run without a checkpoint.

    mmengine 0.10.7 deletes the oldest of ``max_keep_ckpts`` checkpoints
    *before* writing the new one, so a kill or a full disk during that write
    leaves none (and ``last_checkpoint`` naming the deleted file). This hook
    takes the same arguments and writes first:

    1. the new checkpoint (``HAPRunner.save_checkpoint`` writes
       ``.<name>.tmp`` and renames it; a failed write removes the partial
       file and raises, naming the file and the reason);
    2. then ``last_checkpoint`` (also through a temporary file and a rename),
       naming only a complete file;
    3. then deletes the checkpoint that fell out of ``max_keep_ckpts``.

    A failed save leaves the previous checkpoints and ``last_checkpoint`` as
    they were. Before training, ``.<name>.tmp`` files a killed save left in
    the output directory are removed (logged).

    :class:`~hap_mm.engine.HAPRunner` uses this hook in place of a plain
    ``CheckpointHook``.
    """

    def before_train(self, runner) -> None:
        super().before_train(runner)
        if not is_main_process() or '://' in self.out_dir:
            return
        pattern = '.' + self.filename_tmpl.replace('{}', '*') + '.tmp'
        for stale in sorted(glob.glob(osp.join(self.out_dir, pattern))):
            os.remove(stale)
            runner.logger.warning(
                f'removed {stale}, a partial checkpoint left by an '
                'interrupted save')

    def _save_checkpoint_with_step(self, runner, step, meta):
        # keep_ckpt_ids exists only with max_keep_ckpts > 0
        old_ids = list(getattr(self, 'keep_ckpt_ids', []))
        old_last, expired = self.last_ckpt, None
        if self.max_keep_ckpts > 0 and not (self.keep_ckpt_ids and
                                            self.keep_ckpt_ids[-1] == step):
            if len(self.keep_ckpt_ids) == self.max_keep_ckpts:
                expired = self.keep_ckpt_ids.popleft()
            self.keep_ckpt_ids.append(step)
            # saved inside the new checkpoint, so it is updated first
            runner.message_hub.update_info('keep_ckpt_ids',
                                           list(self.keep_ckpt_ids))
        ckpt_filename = self.filename_tmpl.format(step)
        self.last_ckpt = self.file_backend.join_path(self.out_dir,
                                                     ckpt_filename)
        runner.message_hub.update_info('last_ckpt', self.last_ckpt)
        try:
            runner.save_checkpoint(
                self.out_dir,
                ckpt_filename,
                self.file_client_args,
                save_optimizer=self.save_optimizer,
                save_param_scheduler=self.save_param_scheduler,
                meta=meta,
                by_epoch=self.by_epoch,
                backend_args=self.backend_args,
                **self.args)
        except BaseException:
            if self.max_keep_ckpts > 0:
                self.keep_ckpt_ids.clear()
                self.keep_ckpt_ids.extend(old_ids)
                runner.message_hub.update_info('keep_ckpt_ids', old_ids)
            self.last_ckpt = old_last
            runner.message_hub.update_info('last_ckpt', old_last)
            raise
        if not is_main_process():
            return
        record = osp.join(runner.work_dir, 'last_checkpoint')
        with open(record + '.tmp', 'w') as f:
            f.write(self.last_ckpt)
        os.replace(record + '.tmp', record)
        if expired is not None:
            path = self.file_backend.join_path(
                self.out_dir, self.filename_tmpl.format(expired))
            if self.file_backend.isfile(path):
                self.file_backend.remove(path)
            elif self.file_backend.isdir(path):  # deepspeed's are folders
                self.file_backend.rmtree(path)
