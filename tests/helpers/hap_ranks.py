"""torchrun worker: one HAP training step on half the global batch per rank.

Writes OUT/rank<r>.pt with the all-reduced (averaged) loss_rec, loss_align
and parameter gradients (what DDP applies); rank 0 first writes the
single-process step on the whole batch to OUT/single.pt.
"""
import os
import sys

import torch
import torch.distributed as dist
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample

import hap_mm  # noqa: F401  (registers the modules)

TINY = dict(embed_dims=32, num_layers=2, num_heads=2, feedforward_channels=64)
MODEL = dict(
    type='HAP',
    backbone=dict(type='HAPViT', arch=TINY, img_size=(64, 32), out_type='raw'),
    neck=dict(
        type='HAPPretrainDecoder',
        grid_size=(4, 2),
        embed_dim=32,
        decoder_embed_dim=16,
        decoder_depth=1,
        decoder_num_heads=2),
    head=dict(
        type='HAPPretrainHead',
        grid_size=(4, 2),
        norm_pix=True,
        loss=dict(type='PixelReconstructionLoss', criterion='L2')),
    align_loss=dict(type='StructureInvariantAlignLoss'))


def batch():
    g = torch.Generator().manual_seed(1)
    x = torch.randn(8, 3, 64, 32, generator=g)
    order = torch.rand(8, 2, 8, generator=g).argsort(-1)[..., :4]
    mask = torch.zeros(8, 2, 8, dtype=torch.bool).scatter_(-1, order, True)
    return x, mask


def step(x, mask):
    torch.manual_seed(0)
    model = MODELS.build(MODEL)
    model.init_weights()
    losses = model.loss(x, [DataSample(mask=m) for m in mask])
    sum(losses.values()).backward()
    grads = {n: p.grad.clone() for n, p in model.named_parameters()
             if p.grad is not None}
    return {k: v.detach() for k, v in losses.items()}, grads


def main(out):
    x, mask = batch()
    rank = int(os.environ['RANK'])
    if rank == 0:
        torch.save(step(x, mask), os.path.join(out, 'single.pt'))
    dist.init_process_group('gloo')
    world = dist.get_world_size()
    part = slice(rank * 8 // world, (rank + 1) * 8 // world)
    losses, grads = step(x[part], mask[part])
    for t in list(losses.values()) + list(grads.values()):
        dist.all_reduce(t)
        t /= world
    torch.save((losses, grads), os.path.join(out, f'rank{rank}.pt'))
    dist.destroy_process_group()


if __name__ == '__main__':
    main(sys.argv[1])
