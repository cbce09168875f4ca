"""``fg.utils.data.distributed.DistributedSampler``, as ``torch.utils.data.distributed``: each
of ``num_replicas`` processes reads its own shard of the dataset.

The shards are disjoint and together cover the dataset. When its length does not divide, the
index list is padded by repeating its start (a few samples are seen twice per epoch), or, with
``drop_last=True``, cut to the largest multiple, exactly as PyTorch does. Shuffling draws one
permutation from a generator seeded with ``seed + epoch``, the same on every process; call
``set_epoch(epoch)`` before each epoch, or every epoch repeats the first one's order (PyTorch's
documented trap; here ``__iter__`` warns when an epoch's order is reused).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterator, Sized

from ... import _creation
from .sampler import Sampler

__all__ = ["DistributedSampler"]


def _process_group(what: str) -> int:
    from ... import distributed as dist

    if not dist.is_available():
        raise RuntimeError(f"Requires distributed package to be available (or pass {what}= explicitly)")
    return dist.get_world_size() if what == "num_replicas" else dist.get_rank()


class DistributedSampler(Sampler[int]):
    """Indices of one process's shard. ``num_replicas`` and ``rank`` default to the process
    group's world size and rank."""

    def __init__(self, dataset: Sized, num_replicas: int | None = None, rank: int | None = None, shuffle: bool = True,
                 seed: int = 0, drop_last: bool = False) -> None:
        if num_replicas is None:
            num_replicas = _process_group("num_replicas")
        if rank is None:
            rank = _process_group("rank")
        if rank >= num_replicas or rank < 0:
            raise ValueError(f"Invalid rank {rank}, rank should be in the interval [0, {num_replicas - 1}]")
        self.dataset = dataset
        self.num_replicas = num_replicas
        self.rank = rank
        self.epoch = 0
        self.drop_last = drop_last
        n = len(dataset)
        if drop_last and n % num_replicas != 0:
            self.num_samples = math.ceil((n - num_replicas) / num_replicas)
        else:
            self.num_samples = math.ceil(n / num_replicas)
        self.total_size = self.num_samples * num_replicas
        self.shuffle = shuffle
        self.seed = seed
        self._last_epoch_iterated: int | None = None

    def __iter__(self) -> Iterator[int]:
        n = len(self.dataset)
        if self.shuffle:
            if self._last_epoch_iterated == self.epoch:
                warnings.warn(
                    f"DistributedSampler: iterated twice with epoch {self.epoch}, so this epoch repeats the previous "
                    "one's order; call sampler.set_epoch(epoch) at the start of each epoch", stacklevel=2)
            self._last_epoch_iterated = self.epoch
            g = _creation.Generator()
            g.manual_seed(self.seed + self.epoch)
            indices = _creation.randperm(n, generator=g).tolist()
        else:
            indices = list(range(n))
        if not self.drop_last:
            padding = self.total_size - len(indices)
            if padding <= len(indices):
                indices += indices[:padding]
            else:
                indices += (indices * math.ceil(padding / len(indices)))[:padding]
        else:
            indices = indices[: self.total_size]
        return iter(indices[self.rank : self.total_size : self.num_replicas])

    def __len__(self) -> int:
        return self.num_samples

    def set_epoch(self, epoch: int) -> None:
        """Sets the epoch, which seeds the shuffle: every process must set the same one."""
        self.epoch = epoch
