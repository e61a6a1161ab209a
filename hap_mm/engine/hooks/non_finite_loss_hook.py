"""Stop training at the first NaN / inf loss."""
from typing import Optional

import torch
from mmengine.hooks import Hook
from mmpretrain.registry import HOOKS


class NonFiniteLossError(FloatingPointError):
    """A training loss became NaN or infinite."""


@HOOKS.register_module()
class NonFiniteLossHook(Hook):
    """Raise :class:`NonFiniteLossError` at the first iteration whose loss
    terms are not all finite, naming the iteration and the terms.

    The pattern of mmdet's ``CheckInvalidLossHook`` (mmdet is an optional
    host here, so it is not subclassed), but checked at every iteration
    (``interval=1``) and for every logged loss term, with an error instead of
    an ``assert``. It runs before the logger and the checkpoint hook of that
    iteration, so a diverged model is neither logged as a normal iteration
    nor saved: the checkpoints on disk stay those of finite training. One
    ``.item()`` per check (the logger already reads every term each
    iteration).

    Args:
        interval (int): Check every ``interval`` iterations. Default 1.
    """
    priority = 'ABOVE_NORMAL'

    def __init__(self, interval: int = 1):
        self.interval = interval

    def after_train_iter(self,
                         runner,
                         batch_idx: int,
                         data_batch=None,
                         outputs: Optional[dict] = None) -> None:
        if not outputs or not self.every_n_train_iters(runner,
                                                       self.interval):
            return
        values = {
            k: torch.as_tensor(v).detach().float()
            for k, v in outputs.items() if 'loss' in k
        }
        if not values:
            return
        if torch.stack([v.isfinite().all() for v in values.values()
                        ]).all().item():
            return
        bad = ', '.join(f'{k}={v.mean().item():g}' for k, v in values.items()
                        if not v.isfinite().all())
        last = runner.message_hub.get_info('last_ckpt') or 'none yet'
        raise NonFiniteLossError(
            f'non-finite loss at iteration {runner.iter + 1} (epoch '
            f'{runner.epoch + 1}, batch {batch_idx + 1}): {bad}; stopped '
            'before this iteration is logged or saved. Last checkpoint: '
            f'{last}. Lower the learning rate or check the data of this batch')
