"""P identities x K instances batches for metric learning (ReID)."""
from collections import defaultdict
from typing import Dict, Iterator, List, Optional

import numpy as np
from mmengine.dist import get_dist_info, sync_random_seed
from mmpretrain.registry import DATA_SAMPLERS
from torch.utils.data import Dataset, Sampler


@DATA_SAMPLERS.register_module()
class IdentityBalancedSampler(Sampler):
    """Batches of P distinct identities with K images each.

    Every epoch, each identity's images are shuffled and cut into chunks of
    K = ``num_instances`` (an identity with fewer than K images is filled up
    by drawing its images again; an incomplete last chunk is dropped). The
    chunks are dealt into batches of P = ``batch_size / K`` chunks from P
    different identities, an identity being picked with probability
    proportional to its chunks left; when fewer than P identities have
    chunks left, the batch is filled with fresh chunks of other identities.
    An epoch has ``floor(total chunks / P)`` batches (the same every epoch),
    split round-robin over the ranks (truncated to a multiple of the world
    size), so every rank draws P x K batches of its own.

    The dataloader's ``batch_size`` must equal this sampler's
    ``batch_size``: indices come out batch by batch.

    Args:
        dataset (Dataset): A dataset with ``get_pids()`` (the pid of every
            sample), e.g. :class:`Market1501` or :class:`MSMT17`.
        batch_size (int): Images per batch on each rank, P x K.
        num_instances (int): K, images per identity in a batch.
        seed (int, optional): Shared random seed; synchronised across ranks
            when None.
    """

    def __init__(self,
                 dataset: Dataset,
                 batch_size: int,
                 num_instances: int = 4,
                 seed: Optional[int] = None) -> None:
        if num_instances < 1 or batch_size % num_instances:
            raise ValueError(
                f'batch_size {batch_size} must be a multiple of '
                f'num_instances {num_instances} (P identities x K images)')
        if not hasattr(dataset, 'get_pids'):
            raise TypeError(f'{type(dataset).__name__} has no get_pids(); '
                            'IdentityBalancedSampler needs a ReID dataset')
        self.rank, self.world_size = get_dist_info()
        self.dataset = dataset
        self.batch_size = batch_size
        self.num_instances = num_instances
        self.num_ids_per_batch = batch_size // num_instances
        self.seed = sync_random_seed() if seed is None else seed
        self.epoch = 0

        by_pid: Dict[int, List[int]] = defaultdict(list)
        for index, pid in enumerate(dataset.get_pids()):
            by_pid[pid].append(index)
        self.pids = sorted(by_pid)
        self.indices_of = [np.array(by_pid[pid]) for pid in self.pids]
        if len(self.pids) < self.num_ids_per_batch:
            raise ValueError(
                f'a batch needs {self.num_ids_per_batch} identities '
                f'(batch_size {batch_size} / num_instances {num_instances}) '
                f'but the dataset has only {len(self.pids)}')
        self.chunks_per_pid = np.array([
            max(len(idx), num_instances) // num_instances
            for idx in self.indices_of
        ])
        total_batches = int(self.chunks_per_pid.sum()) // \
            self.num_ids_per_batch
        self.batches_per_rank = total_batches // self.world_size
        if self.batches_per_rank == 0:
            raise ValueError(
                f'{total_batches} batches of {batch_size} per epoch cannot '
                f'be split over {self.world_size} ranks')

    def _chunks(self, rng: np.random.Generator, pid_index: int) -> list:
        """One pass over an identity's images, in chunks of K indices."""
        indices = rng.permutation(self.indices_of[pid_index])
        if len(indices) < self.num_instances:
            indices = rng.choice(indices, self.num_instances, replace=True)
        num = len(indices) // self.num_instances
        return list(indices[:num * self.num_instances].reshape(num, -1))

    def _epoch_batches(self) -> List[np.ndarray]:
        """All batches of this epoch, for all ranks, (P * K,) each."""
        rng = np.random.default_rng([self.seed, self.epoch])
        pool = [self._chunks(rng, i) for i in range(len(self.pids))]
        left = np.array([len(c) for c in pool])
        batches = []
        for _ in range(self.batches_per_rank * self.world_size):
            has_chunks = np.flatnonzero(left)
            num_drawn = min(self.num_ids_per_batch, len(has_chunks))
            chosen = list(
                rng.choice(
                    has_chunks,
                    num_drawn,
                    replace=False,
                    p=left[has_chunks] / left[has_chunks].sum()))
            if num_drawn < self.num_ids_per_batch:
                others = np.setdiff1d(np.arange(len(self.pids)), chosen)
                extra = rng.choice(
                    others, self.num_ids_per_batch - num_drawn, replace=False)
                for i in extra:
                    pool[i] = self._chunks(rng, i)
                    left[i] = len(pool[i])
                chosen += list(extra)
            batch = []
            for i in chosen:
                left[i] -= 1
                batch.append(pool[i][left[i]])
            batches.append(np.concatenate(batch))
        return batches

    def __iter__(self) -> Iterator[int]:
        batches = self._epoch_batches()[self.rank::self.world_size]
        return iter(np.concatenate(batches).tolist())

    def __len__(self) -> int:
        """Indices this rank yields per epoch."""
        return self.batches_per_rank * self.batch_size

    def set_epoch(self, epoch: int) -> None:
        """Draw a different arrangement in each epoch."""
        self.epoch = epoch
