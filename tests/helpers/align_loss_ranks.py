"""torchrun worker: the alignment loss on half a batch per rank.

Each rank writes its all-reduced loss and gradient (divided by the world
size, as DDP does) to OUT/rank<r>.pt; rank 0 also writes the single-process
result on the whole batch to OUT/single.pt.
"""
import os
import sys

import torch
import torch.distributed as dist

from hap_mm.models.losses import StructureInvariantAlignLoss


def encoder():
    torch.manual_seed(0)
    return torch.nn.Linear(6, 5)


def step(enc, x1, x2):
    loss = StructureInvariantAlignLoss()(enc(x1), enc(x2))
    enc.zero_grad()
    loss.backward()
    return loss.detach(), enc.weight.grad.clone()


def main(out):
    g = torch.Generator().manual_seed(1)
    x1, x2 = torch.randn(8, 6, generator=g), torch.randn(8, 6, generator=g)
    rank = int(os.environ['RANK'])
    if rank == 0:  # before the group exists: the no-process-group path
        torch.save(step(encoder(), x1, x2), os.path.join(out, 'single.pt'))
    dist.init_process_group('gloo')
    world = dist.get_world_size()
    half = slice(rank * 8 // world, (rank + 1) * 8 // world)
    loss, grad = step(encoder(), x1[half], x2[half])
    dist.all_reduce(loss)
    dist.all_reduce(grad)
    torch.save((loss / world, grad / world),
               os.path.join(out, f'rank{rank}.pt'))
    dist.destroy_process_group()


if __name__ == '__main__':
    main(sys.argv[1])
