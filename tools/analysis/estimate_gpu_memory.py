"""Estimate a HAP config's GPU memory per training step, on the CPU.

Counts what one AMP training step keeps on the device, without a GPU:

- static: fp32 parameters, their gradients and AdamW's two moments
  (16 bytes per trainable parameter) plus autocast's half-precision copies
  of the matmul weights (2 bytes per weight parameter);
- activations: the bytes of every tensor the forward saves for backward
  (``torch.autograd.graph.saved_tensors_hooks``, each storage counted
  once), measured at two small batch sizes under ``torch.autocast`` on the
  CPU with bf16 (fp16 tensors have the same size) and extrapolated
  linearly to each ``--batch-sizes``.

The total is the memory live when backward starts, the step's peak up to
what these counts miss: allocator fragmentation and caching, cuBLAS/cuDNN
workspaces, the CUDA context (about 0.5-1 GB per process) and NCCL buffers.
CPU autocast casts the same matmuls as CUDA autocast; the attention saved
tensors are those of the CPU flash kernel (q, k, v, output, log-sum-exp,
as CUDA's flash kernel). Treat the figures as estimates and replace them
with ``tools/analysis/benchmark.py --device cuda`` measurements.

    python tools/analysis/estimate_gpu_memory.py configs/hap/hap_vitb_lup.py
"""
import argparse
import json
import math

import torch
from mmengine.config import DictAction
from mmengine.logging import MMLogger
from mmpretrain.registry import MODELS

import hap_mm  # noqa: F401  (registers hap_mm modules)
from hap_mm.utils import HelpFormatter, load_config

GIB = 2**30


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=HelpFormatter)
    parser.add_argument('config', help='A HAP pre-training config.')
    parser.add_argument(
        '--batch-sizes', type=int, nargs='+',
        default=[64, 128, 256, 384, 512],
        help='The per-GPU batch sizes to estimate.')
    parser.add_argument(
        '--probe', type=int, nargs=2, default=[2, 4],
        help='The two small batch sizes actually run.')
    parser.add_argument('--json', help='Write the results here.')
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction,
        help='Override config settings, key=value (as tools/train.py).')
    return parser.parse_args()


def saved_bytes(model, batch: int, img_size, mask_ratio: float,
                views: int) -> int:
    """Bytes saved for backward by one AMP (bf16) loss of ``batch``
    images with ``views`` random masks each."""
    n = math.prod(model.backbone.patch_resolution)
    num_masked = int(mask_ratio * n + 0.5)
    x = torch.randn(batch, 3, *img_size)
    order = torch.rand(batch, views, n).argsort(-1)
    mask = torch.zeros(batch, views, n, dtype=torch.bool).scatter_(
        -1, order[..., :num_masked], True)
    storages = {}

    def pack(t):
        s = t.untyped_storage()
        storages[s.data_ptr()] = s.nbytes()
        return t

    with torch.autocast('cpu', dtype=torch.bfloat16), \
            torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        losses = model.loss(x, None, mask=mask, num_masked=num_masked)
    params = {p.untyped_storage().data_ptr() for p in model.parameters()}
    del losses
    return sum(v for k, v in storages.items() if k not in params)


def main() -> None:
    args = parse_args()
    MMLogger.get_instance('hap_memory', log_level='WARNING')
    cfg = load_config(args.config, args.cfg_options)
    model_cfg = cfg.model
    model_cfg.pop('init_cfg', None)
    model_cfg.backbone.pop('init_cfg', None)  # no checkpoint is read
    torch.manual_seed(0)
    model = MODELS.build(model_cfg)
    loader = cfg.train_dataloader
    gen = (loader.get('collate_fn') or {}).get('mask_generator') or {}
    img_size = tuple(model.backbone.img_size)
    views = gen.get('num_views', 2)
    ratio = gen.get('mask_ratio', 0.5)
    trainable = [p for p in model.parameters() if p.requires_grad]
    num_params = sum(p.numel() for p in trainable)
    weights = sum(p.numel() for p in trainable if p.ndim >= 2)
    static = 16 * num_params + 2 * weights
    small, large = args.probe
    torch.set_grad_enabled(True)
    a = saved_bytes(model, small, img_size, ratio, views)
    b = saved_bytes(model, large, img_size, ratio, views)
    per_image = (b - a) / (large - small)
    fixed = a - per_image * small
    rows = []
    for bs in args.batch_sizes:
        act = fixed + per_image * bs
        rows.append(dict(batch=bs, activations_gib=act / GIB,
                         total_gib=(static + act) / GIB))
    res = dict(
        config=args.config, img_size=img_size, views=views,
        mask_ratio=ratio, trainable_params=num_params,
        static_gib=static / GIB, activation_mib_per_image=per_image / 2**20,
        probe=dict(zip(map(str, args.probe), (a, b))), rows=rows,
        method='saved-for-backward bytes under CPU bf16 autocast, '
        'extrapolated; estimates, not GPU measurements')
    print(f'{args.config}: {num_params / 1e6:.1f} M trainable parameters, '
          f'static {static / GIB:.2f} GiB (params, grads, AdamW, half '
          f'weights); activations {per_image / 2**20:.1f} MiB per image')
    print(f"{'batch/GPU':>10s} {'activations GiB':>16s} {'total GiB':>10s}")
    for row in rows:
        print(f"{row['batch']:10d} {row['activations_gib']:16.1f} "
              f"{row['total_gib']:10.1f}")
    print('estimates: add allocator slack, workspaces, the CUDA context '
          'and NCCL buffers (a few GiB); measure with benchmark.py --device '
          'cuda')
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(res, f, indent=2)


if __name__ == '__main__':
    main()
