"""DDP wrapper that also runs on CPU processes (gloo)."""
from mmengine.model import MMDistributedDataParallel
from mmpretrain.registry import MODEL_WRAPPERS


@MODEL_WRAPPERS.register_module()
class HAPDistributedDataParallel(MMDistributedDataParallel):
    """``MMDistributedDataParallel`` with GPU-friendly defaults that also
    runs on CPU processes.

    - ``broadcast_buffers=False`` (as mmengine's default wrapper): no
      broadcast of every buffer from rank 0 before each forward. HAP's
      buffers are constant; BatchNorm running statistics of downstream
      models stay per rank (rank 0's are saved), as in mmengine.
    - ``gradient_as_bucket_view=True``: gradients are views into DDP's
      all-reduce buckets, saving one gradient-sized copy and its memory.
    - ``device_ids``/``output_device`` are dropped for a model on the CPU
      (mmengine's Runner always passes ``device_ids=[LOCAL_RANK]``, which
      torch rejects for a CPU module).

    Each can be overridden in ``model_wrapper_cfg``; a top-level
    ``find_unused_parameters`` is passed on by ``HAPRunner``.
    """

    def __init__(self, module, **kwargs) -> None:
        kwargs.setdefault('broadcast_buffers', False)
        kwargs.setdefault('gradient_as_bucket_view', True)
        if next(module.parameters()).device.type == 'cpu':
            kwargs.pop('device_ids', None)
            kwargs.pop('output_device', None)
        super().__init__(module=module, **kwargs)
