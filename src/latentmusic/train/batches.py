"""Step-indexed batching: the batch of global step k is a pure function of (seed, k, rank).

This is what makes ``--resume`` exact without pickling loader state: a resumed run
starts at step k and draws exactly the batches, crops and augmentations an
uninterrupted run would have drawn. Each batch also reseeds Python/NumPy/torch
RNGs, so a dataset may use the global RNGs for random crops and augmentation.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np
import torch
from torch.utils.data import IterableDataset, default_collate

from latentmusic.errors import InputError


def seed_everything_for(*key: int) -> None:
    """Seed Python, NumPy and torch from a tuple of integers."""
    seed = int(np.random.SeedSequence(list(key)).generate_state(1)[0])
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


class StepBatches(IterableDataset):
    """Endless, resumable batches from a map-style dataset (epoch-wise permutations).

    Use with ``DataLoader(StepBatches(...), batch_size=None)``.
    """

    def __init__(
        self,
        dataset: Sequence[Any],
        batch_size: int,
        seed: int = 0,
        collate: Callable[[list[Any]], Any] = default_collate,
        start_step: int = 0,
        rank: int | None = None,
        world_size: int | None = None,
    ) -> None:
        if len(dataset) == 0:
            raise InputError("StepBatches needs a non-empty dataset.")
        self.dataset = dataset
        self.batch_size = batch_size
        self.seed = seed
        self.collate = collate
        self.start_step = start_step
        self.rank = rank
        self.world_size = world_size

    def _topology(self) -> tuple[int, int]:
        """(rank, world size): given, or read from torch.distributed when DDP is running."""
        if self.rank is not None and self.world_size is not None:
            return self.rank, self.world_size
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            return torch.distributed.get_rank(), torch.distributed.get_world_size()
        return 0, 1

    def _indices(self, step: int) -> list[int]:
        n = len(self.dataset)
        rank, world = self._topology()
        first = (step * world + rank) * self.batch_size
        out = []
        perm_epoch, perm = -1, None
        for position in range(first, first + self.batch_size):
            epoch = position // n
            if epoch != perm_epoch:
                perm = np.random.default_rng([self.seed, epoch]).permutation(n)
                perm_epoch = epoch
            out.append(int(perm[position % n]))
        return out

    def batch(self, step: int) -> Any:
        seed_everything_for(self.seed, step, self._topology()[0], 1)
        return self.collate([self.dataset[i] for i in self._indices(step)])

    def __iter__(self) -> Iterator[Any]:
        # With N loader workers, worker i makes steps start+i, start+i+N, ...: the
        # DataLoader takes one batch from each worker in turn, so the steps arrive in order
        # and each batch is the one a single process would have made.
        worker = torch.utils.data.get_worker_info()
        first, stride = (0, 1) if worker is None else (worker.id, worker.num_workers)
        step = self.start_step + first
        while True:
            yield self.batch(step)
            step += stride


class FixedBatches(IterableDataset):
    """One deterministic pass over a dataset (validation / evaluation), same crops every time.

    With ``max_batches`` smaller than the dataset, the items are spread evenly over the whole
    dataset, not its head: data sets are stored file by file, so the first few batches would
    hold a handful of pieces and a validation number that says little about the rest.
    """

    def __init__(
        self,
        dataset: Sequence[Any],
        batch_size: int,
        seed: int = 1234,
        collate: Callable[[list[Any]], Any] = default_collate,
        max_batches: int | None = None,
    ) -> None:
        self.dataset = dataset
        self.batch_size = batch_size
        self.seed = seed
        self.collate = collate
        self.max_batches = max_batches

    def __len__(self) -> int:
        n = (len(self.dataset) + self.batch_size - 1) // self.batch_size
        return n if self.max_batches is None else min(n, self.max_batches)

    def indices(self) -> np.ndarray:
        """Which items the pass visits, in order: all, or an even spread when capped."""
        n = len(self.dataset)
        wanted = min(n, len(self) * self.batch_size)
        if wanted == n:
            return np.arange(n)
        return np.linspace(0, n - 1, wanted).round().astype(np.int64)

    def __iter__(self) -> Iterator[Any]:
        order = self.indices()
        for b in range(len(self)):
            state = torch.random.get_rng_state(), np.random.get_state(), random.getstate()
            seed_everything_for(self.seed, b, 2)
            items = [
                self.dataset[int(i)] for i in order[b * self.batch_size : (b + 1) * self.batch_size]
            ]
            torch.random.set_rng_state(state[0])
            np.random.set_state(state[1])
            random.setstate(state[2])
            yield self.collate(items)
