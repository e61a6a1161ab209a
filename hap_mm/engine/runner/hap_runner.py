"""mmengine Runner that resumes its own checkpoints with weights_only=True."""
import torch
from mmengine.runner import Runner
from mmpretrain.registry import RUNNERS

from ...models.utils.checkpoint import CHECKPOINT_SAFE_GLOBALS


@RUNNERS.register_module()
class HAPRunner(Runner):
    """``Runner`` whose checkpoint loading (``--resume``, ``load_from``)
    keeps ``torch.load``'s ``weights_only=True`` safety.

    torch >= 2.6 loads with ``weights_only=True`` by default, which rejects
    the objects mmengine stores in its own checkpoints, so a plain Runner
    cannot resume. Instead of turning the check off, loading runs with
    :data:`CHECKPOINT_SAFE_GLOBALS` allowed: the few NumPy and mmengine
    types those checkpoints contain. Anything else in a file is refused.
    """

    def load_checkpoint(self, filename: str, *args, **kwargs):
        with torch.serialization.safe_globals(CHECKPOINT_SAFE_GLOBALS):
            return super().load_checkpoint(filename, *args, **kwargs)
