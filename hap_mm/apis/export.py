"""ONNX export of a hap_mm model's embedding path, verified with
onnxruntime. Needs the optional ``onnx`` and ``onnxruntime`` packages
(requirements/optional.txt), imported here only when used."""
import os
import os.path as osp
import tempfile
import warnings
from typing import Sequence, Tuple

import numpy as np
import torch
import torch.nn as nn

from .inference import embed_tensor


class EmbeddingModule(nn.Module):
    """A model's embedding path on raw images: ``image`` (B, 3, H, W)
    float32 RGB in 0..255 -> L2-normalised ``embedding`` (B, C), the
    preprocessor's mean / std then :func:`embed_tensor` (what
    ``extract_features`` returns for the same resized image)."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model
        pre = model.data_preprocessor
        self.register_buffer('mean', pre.mean.detach().clone().float())
        self.register_buffer('std', pre.std.detach().clone().float())

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return embed_tensor(self.model, (image - self.mean) / self.std)


def input_size(model: nn.Module) -> Tuple[int, int]:
    """(H, W) of the backbone's ``img_size``."""
    size = model.backbone.img_size
    return (size, size) if isinstance(size, int) else tuple(size)


def export_onnx(model: nn.Module,
                out: str,
                dynamic_batch: bool = False,
                verify_batches: Sequence[int] = (1, 3),
                tolerance: float = 1e-4,
                opset: int = 17,
                seed: int = 0) -> dict:
    """Export ``EmbeddingModule(model)`` to ``out`` and check it.

    The graph is written to a temporary file next to ``out``, run with
    onnxruntime (CPU) on random images of each batch size in
    ``verify_batches`` (only 1 without ``dynamic_batch``) and compared with
    PyTorch; ``out`` is replaced only when every max abs difference is at
    most ``tolerance``.

    Returns:
        dict: ``max_abs_diff`` per batch size, ``input`` and ``output``
        names and shapes.

    Raises:
        ValueError: a difference above ``tolerance`` (nothing written).
    """
    import onnxruntime as ort
    wrapper = EmbeddingModule(model).eval().cpu()
    height, width = input_size(model)
    batches = list(verify_batches) if dynamic_batch else [1]
    dummy = torch.rand(batches[0], 3, height, width) * 255
    folder = osp.dirname(osp.abspath(out))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix='.tmp_', suffix='.onnx')
    os.close(fd)
    try:
        axes = {'image': {0: 'batch'}, 'embedding': {0: 'batch'}} \
            if dynamic_batch else None
        with torch.no_grad(), warnings.catch_warnings():
            # the heads' shape checks see constants while tracing
            warnings.simplefilter('ignore', torch.jit.TracerWarning)
            torch.onnx.export(
                wrapper, (dummy, ), tmp, input_names=['image'],
                output_names=['embedding'], dynamic_axes=axes,
                opset_version=opset, dynamo=False)
        session = ort.InferenceSession(
            tmp, providers=['CPUExecutionProvider'])
        rng = np.random.RandomState(seed)
        diffs = {}
        for batch in batches:
            image = (rng.rand(batch, 3, height, width) * 255).astype(
                np.float32)
            with torch.no_grad():
                expected = wrapper(torch.from_numpy(image)).numpy()
            got = session.run(['embedding'], {'image': image})[0]
            if got.shape != expected.shape:
                raise ValueError(f'onnxruntime gave {got.shape} for batch '
                                 f'{batch}, PyTorch {expected.shape}')
            diffs[batch] = float(np.abs(got - expected).max())
        worst = max(diffs.values())
        if not worst <= tolerance:
            raise ValueError(
                f'onnxruntime differs from PyTorch by {worst:.3g} (max abs, '
                f'per batch size {diffs}) > {tolerance:g}; {out} not written')
        os.chmod(tmp, 0o644)
        os.replace(tmp, out)
    finally:
        if osp.exists(tmp):
            os.unlink(tmp)
    return dict(max_abs_diff=diffs,
                input=('image', ['batch' if dynamic_batch else 1, 3, height,
                                 width]),
                output=('embedding', ['batch' if dynamic_batch else 1,
                                      int(expected.shape[1])]))
