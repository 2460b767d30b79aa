"""A fixed training set (``train.train_set: N``): N sequences sampled once, iterated in epochs.

    set      x, y = task.sample(N) from the run's data stream, before the first step
    order    epoch e visits the N sequences in the order perm_e, a permutation drawn from its own
             generator seeded by (seed, e): the batch of step s is examples s·B .. s·B+B−1 of the
             concatenated epochs, so it is a function of s alone and a resumed run draws exactly the
             batches an uninterrupted one would (no state to checkpoint)
"""
from __future__ import annotations

import torch
from torch import Tensor

from gridlstm.tasks import Task

CHUNK = 4096  # sequences sampled per call while drawing the set (bounds the temporary memory)


class FixedSet:
    def __init__(self, task: Task, n: int, batch_size: int, gen: torch.Generator, seed: int):
        parts = [task.sample(min(CHUNK, n - i), gen) for i in range(0, n, CHUNK)]
        self.x = torch.cat([p[0] for p in parts])     # (N, T, I)
        self.y = torch.cat([p[1] for p in parts])     # (N, ...)
        self.n, self.batch_size, self.seed = n, batch_size, seed
        self._perm: tuple[int, Tensor] = (-1, torch.empty(0, dtype=torch.long))

    def order(self, epoch: int) -> Tensor:
        """perm_e: (N,) the order of epoch ``epoch``."""
        if self._perm[0] != epoch:
            gen = torch.Generator().manual_seed((self.seed * 1_000_003 + epoch) % (2 ** 63))
            self._perm = (epoch, torch.randperm(self.n, generator=gen))
        return self._perm[1]

    def indices(self, step: int) -> Tensor:
        """The examples of the batch after ``step`` updates: (B,)."""
        start = step * self.batch_size
        pos = torch.arange(start, start + self.batch_size)
        epochs = pos // self.n
        return torch.stack([self.order(int(e))[int(p)] for e, p in zip(epochs, pos % self.n, strict=True)])

    def batch(self, step: int) -> tuple[Tensor, Tensor]:
        idx = self.indices(step)
        return self.x[idx], self.y[idx]


def heldout_chance(task: Task, batches: list[tuple[Tensor, Tensor]]) -> float:
    """Chance on the held-out set: the loss there of the population's best constant prediction
    (uniform symbols, the population mean of a regression target), an unbiased estimate of
    ``task.chance`` that shares the set's sampling noise with the model's loss."""
    return task.constant_loss(torch.cat([y for _, y in batches]))


def eval_set(task: Task, batches: int, batch_size: int, seed: int) -> list[tuple[Tensor, Tensor]]:
    """The fixed held-out set: its own generator and seed, independent of the training stream."""
    gen = torch.Generator().manual_seed(seed)
    return [task.sample(batch_size, gen) for _ in range(batches)]
