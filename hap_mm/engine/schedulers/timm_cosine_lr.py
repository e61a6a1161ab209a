"""timm's CosineLRScheduler (one cycle) as an mmengine parameter scheduler."""
import math

from mmengine.optim.scheduler.lr_scheduler import LRSchedulerMixin
from mmengine.optim.scheduler.param_scheduler import INF, _ParamScheduler
from mmpretrain.registry import PARAM_SCHEDULERS


@PARAM_SCHEDULERS.register_module()
class TimmCosineLR(LRSchedulerMixin, _ParamScheduler):
    """Linear warm-up and half-cosine decay with timm's conventions.

    At step t (an epoch with ``by_epoch=True``; ``last_step`` counts from
    ``begin``), for a param group with base lr ``b``::

        t < warmup_t: lr = warmup_lr_init + t * (b - warmup_lr_init) / warmup_t
        otherwise:    lr = lr_min + (b - lr_min) / 2 * (1 + cos(pi * t' / t_initial))

    with t' = t - warmup_t if ``warmup_prefix`` else t (timm's
    ``CosineLRScheduler`` with one cycle, no noise, k-decay 1); from
    t' >= t_initial on, lr = lr_min. With ``warmup_prefix=False`` (timm's
    default, and the pedestrian-attribute recipe of the HAP release) the
    cosine is computed from t = 0, so it does not start at ``b`` after the
    warm-up. ``warmup_t`` may be fractional (5.5 warm-up epochs: epochs 0-5
    warm up, epoch 6 is on the cosine).

    Args:
        optimizer: Wrapped optimizer.
        t_initial (float): Cosine length in steps.
        lr_min (float): Final lr.
        warmup_t (float): Warm-up length in steps; 0 for none.
        warmup_lr_init (float): lr at step 0 of the warm-up.
        warmup_prefix (bool): Start the cosine after the warm-up.
        begin, end (int): Steps the scheduler is active in.
        last_step (int): Resume point; -1 to start.
        by_epoch (bool): Steps are epochs (True) or iterations.
        verbose (bool): Print each update.
    """

    def __init__(self,
                 optimizer,
                 t_initial: float,
                 lr_min: float = 0.0,
                 warmup_t: float = 0.0,
                 warmup_lr_init: float = 0.0,
                 warmup_prefix: bool = False,
                 begin: int = 0,
                 end: int = INF,
                 last_step: int = -1,
                 by_epoch: bool = True,
                 verbose: bool = False) -> None:
        if t_initial <= 0 or warmup_t < 0:
            raise ValueError(f't_initial must be > 0 and warmup_t >= 0, got '
                             f'{t_initial} and {warmup_t}')
        self.t_initial = t_initial
        self.lr_min = lr_min
        self.warmup_t = warmup_t
        self.warmup_lr_init = warmup_lr_init
        self.warmup_prefix = warmup_prefix
        super().__init__(
            optimizer,
            begin=begin,
            end=end,
            last_step=last_step,
            by_epoch=by_epoch,
            verbose=verbose)

    def _lr(self, base: float, t: int) -> float:
        if t < self.warmup_t:
            return self.warmup_lr_init + t * (
                base - self.warmup_lr_init) / self.warmup_t
        if self.warmup_prefix:
            t = t - self.warmup_t
        if t >= self.t_initial:
            return self.lr_min
        return self.lr_min + 0.5 * (base - self.lr_min) * (
            1 + math.cos(math.pi * t / self.t_initial))

    def _get_value(self) -> list:
        return [self._lr(base, self.last_step) for base in self.base_values]
