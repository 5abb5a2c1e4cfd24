"""Data order: a shuffle that depends on (seed, epoch) only, split over processes, so a resumed or
multi-process run sees exactly the batches of an uninterrupted one-process run."""

from __future__ import annotations

import torch
from torch.utils.data import DataLoader, Dataset

from .distributed import rank_and_world


class EpochShuffle(torch.utils.data.Sampler):
    """A permutation that depends on (seed, epoch) only. Lightning calls ``set_epoch`` before it
    iterates, so a resumed run sees exactly the batches an uninterrupted run would have seen.

    With ``world`` > 1 processes, global batch ``k`` is ``perm[k*B:(k+1)*B]`` as in one process,
    and rank ``r`` takes its ``r``-th slice of ``B / world`` samples. The permutation is padded by
    wrapping around to whole global batches, so every rank runs the same number of steps.
    """

    def __init__(self, n: int, seed: int, batch_size: int = 1, world: int = 1) -> None:
        self.n, self.seed, self.epoch = n, seed, 0
        self.batch_size, self.world = batch_size, world

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    @property
    def padded(self) -> int:
        """Samples per epoch over all processes: whole global batches when split (1 process: ``n``)."""
        return self.n if self.world == 1 else -(-self.n // self.batch_size) * self.batch_size

    def __len__(self) -> int:
        return self.padded // self.world

    def __iter__(self):
        g = torch.Generator().manual_seed(self.seed * 100_003 + self.epoch)
        perm = torch.randperm(self.n, generator=g).tolist()
        if self.world == 1:
            return iter(perm)
        rank, world = rank_and_world()
        if world != self.world:
            raise RuntimeError(f"loader built for {self.world} processes, running in {world}")
        B, b, padded = self.batch_size, self.batch_size // self.world, self.padded
        perm = (perm * (padded // self.n + 1))[:padded]
        return iter(i for k in range(0, padded, B) for i in perm[k + rank * b:k + (rank + 1) * b])


def seeded_loader(ds: Dataset, batch_size: int, seed: int, world: int = 1) -> DataLoader:
    """A shuffled loader whose order is a function of (seed, epoch); ``batch_size`` is global,
    each of the ``world`` processes loads ``batch_size / world`` of it."""
    if batch_size % world:
        raise ValueError(f"batch size {batch_size} cannot be split over {world} processes")
    return DataLoader(ds, batch_size=batch_size // world, sampler=EpochShuffle(len(ds), seed, batch_size, world),
                      num_workers=0)


def start_epoch(task, loader: DataLoader, epoch: int) -> None:
    """Per-epoch random draws of the task (e.g. training masks) for ``epoch``."""
    loader.sampler.set_epoch(epoch)
    task.set_epoch(loader.dataset, epoch)




def first_batches(task, dataset: Dataset, batch_size: int, seed: int, n: int) -> list:
    """The first ``n`` batches of ``dataset`` in the fixed order of ``seed`` (epoch 0's draws)."""
    loader = seeded_loader(dataset, batch_size, seed)
    start_epoch(task, loader, 0)
    out = []
    for b in loader:
        out.append(b)
        if len(out) >= n:
            break
    return out
