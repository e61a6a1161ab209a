"""DDP wrapper that also runs on CPU processes (gloo)."""
import inspect

from mmengine.model import MMDistributedDataParallel
from mmpretrain.registry import MODEL_WRAPPERS
from torch.nn.parallel import DistributedDataParallel

# torch >= 2.14 splits broadcast_buffers into init and per-forward syncs
_FORWARD_SYNC = 'forward_sync_buffers' in inspect.signature(
    DistributedDataParallel.__init__).parameters


@MODEL_WRAPPERS.register_module()
class HAPDistributedDataParallel(MMDistributedDataParallel):
    """``MMDistributedDataParallel`` with GPU-friendly defaults that also
    runs on CPU processes.

    - No broadcast of every buffer from rank 0 before each forward
      (``broadcast_buffers=False``, as mmengine's default wrapper; with
      torch's newer ``forward_sync_buffers=False`` where torch has it, which
      still syncs the buffers once when wrapping). HAP's buffers are
      constant; BatchNorm running statistics of downstream models stay per
      rank (rank 0's are saved), as in mmengine.
    - ``gradient_as_bucket_view=True``: gradients are views into DDP's
      all-reduce buckets, saving one gradient-sized copy and its memory.
    - ``device_ids``/``output_device`` are dropped for a model on the CPU
      (mmengine's Runner always passes ``device_ids=[LOCAL_RANK]``, which
      torch rejects for a CPU module).

    Each can be overridden in ``model_wrapper_cfg``; a top-level
    ``find_unused_parameters`` is passed on by ``HAPRunner``.
    """

    def __init__(self, module, **kwargs) -> None:
        if 'broadcast_buffers' not in kwargs:
            kwargs.setdefault(
                'forward_sync_buffers' if _FORWARD_SYNC else
                'broadcast_buffers', False)
        kwargs.setdefault('gradient_as_bucket_view', True)
        if next(module.parameters()).device.type == 'cpu':
            kwargs.pop('device_ids', None)
            kwargs.pop('output_device', None)
        super().__init__(module=module, **kwargs)
