"""The DataLoader, as ``torch.utils.data.dataloader``.

The loader draws indices from a sampler (in order, or a fresh random order each epoch when
shuffling, so ``fg.manual_seed`` makes the order repeat), groups them into batches and merges each
batch with ``collate_fn``. For an ``IterableDataset`` it reads the stream in order and groups
consecutive samples.

Loading always runs in the calling process. ``num_workers``, ``worker_init_fn``,
``prefetch_factor``, ``persistent_workers``, ``timeout``, ``multiprocessing_context`` and
``pin_memory`` are accepted and checked as PyTorch checks them, and the batches are the same as
with ``num_workers=0`` (PyTorch's batches do not depend on the worker count either, for map-style
datasets). As with ``num_workers=0`` in PyTorch, ``worker_init_fn`` is never called and
``get_worker_info()`` is None.
"""

from __future__ import annotations

import math
import warnings
from typing import Any, Callable, Generic, Iterable, TypeVar

from ._utils.collate import default_collate, default_convert
from .dataset import Dataset, IterableDataset
from .sampler import BatchSampler, RandomSampler, Sampler, SequentialSampler

__all__ = ["DataLoader", "get_worker_info", "default_collate", "default_convert"]

T_co = TypeVar("T_co", covariant=True)


def get_worker_info() -> None:
    """None: ferrograd loads data in the calling process, where PyTorch's answer is None too."""
    return None


class _DatasetKind:
    Map = 0
    Iterable = 1


class _InfiniteConstantSampler(Sampler):
    """The sampler of an iterable dataset: one placeholder per sample, forever."""

    def __iter__(self):
        while True:
            yield None


class DataLoader(Generic[T_co]):
    """Iterates over a dataset in batches.

    Args:
        dataset: a map-style dataset (``len`` and ``[i]``) or an ``IterableDataset``.
        batch_size: samples per batch; ``None`` yields single samples (no batching).
        shuffle: a new random order each epoch (``fg.manual_seed`` makes it repeat; map-style only).
        sampler: an iterable of indices to use instead (not with ``shuffle``).
        batch_sampler: an iterable of index lists (not with batch_size, shuffle, sampler or drop_last).
        num_workers: accepted; loading runs in the calling process whatever its value (see the
            module docstring), so ``num_workers=2`` gives the same batches as 0.
        collate_fn: merges a list of samples into a batch (``default_collate``).
        pin_memory: accepted; there is no accelerator to pin memory for (warns as PyTorch).
        drop_last: drop the last batch when it is short.
        timeout, worker_init_fn, multiprocessing_context, prefetch_factor, persistent_workers,
            pin_memory_device, in_order: accepted and checked as PyTorch; no worker runs.
        generator: the ``fg.Generator`` that shuffling draws from (default: the global one).
    """

    _initialized = False

    def __init__(
        self,
        dataset: Dataset[T_co],
        batch_size: int | None = 1,
        shuffle: bool | None = None,
        sampler: Sampler | Iterable | None = None,
        batch_sampler: Sampler[list] | Iterable[list] | None = None,
        num_workers: int = 0,
        collate_fn: Callable[[list[T_co]], Any] | None = None,
        pin_memory: bool = False,
        drop_last: bool = False,
        timeout: float = 0,
        worker_init_fn: Callable[[int], None] | None = None,
        multiprocessing_context=None,
        generator=None,
        *,
        prefetch_factor: int | None = None,
        persistent_workers: bool = False,
        pin_memory_device: str = "",
        in_order: bool = True,
    ) -> None:
        if num_workers < 0:
            raise ValueError("num_workers option should be non-negative; use num_workers=0 to disable multiprocessing.")
        if timeout < 0:
            raise ValueError("timeout option should be non-negative")
        if num_workers == 0 and prefetch_factor is not None:
            raise ValueError(
                "prefetch_factor option could only be specified in multiprocessing."
                "let num_workers > 0 to enable multiprocessing, otherwise set prefetch_factor to None."
            )
        if num_workers > 0 and prefetch_factor is None:
            prefetch_factor = 2
        elif prefetch_factor is not None and prefetch_factor < 0:
            raise ValueError("prefetch_factor option should be non-negative")
        if persistent_workers and num_workers == 0:
            raise ValueError("persistent_workers option needs num_workers > 0")

        if isinstance(dataset, IterableDataset):
            kind = _DatasetKind.Iterable
            if shuffle not in {False, None}:
                raise ValueError(f"DataLoader with IterableDataset: expected unspecified shuffle option, but got shuffle={shuffle}")
            if sampler is not None:
                raise ValueError(f"DataLoader with IterableDataset: expected unspecified sampler option, but got sampler={sampler}")
            if batch_sampler is not None:
                raise ValueError(
                    f"DataLoader with IterableDataset: expected unspecified batch_sampler option, but got batch_sampler={batch_sampler}"
                )
        else:
            kind = _DatasetKind.Map
            shuffle = bool(shuffle)
        if sampler is not None and shuffle:
            raise ValueError("sampler option is mutually exclusive with shuffle")
        if batch_sampler is not None:
            if batch_size != 1 or shuffle or sampler is not None or drop_last:
                raise ValueError("batch_sampler option is mutually exclusive with batch_size, shuffle, sampler, and drop_last")
            batch_size, drop_last = None, False
        elif batch_size is None and drop_last:
            raise ValueError("batch_size=None option disables auto-batching and is mutually exclusive with drop_last")

        if sampler is None:
            if kind == _DatasetKind.Iterable:
                sampler = _InfiniteConstantSampler()
            elif shuffle:
                sampler = RandomSampler(dataset, generator=generator)  # type: ignore[arg-type]
            else:
                sampler = SequentialSampler(dataset)  # type: ignore[arg-type]
        if batch_size is not None and batch_sampler is None:
            batch_sampler = BatchSampler(sampler, batch_size, drop_last)

        self.dataset = dataset
        self._dataset_kind = kind
        self.num_workers = num_workers
        self.prefetch_factor = prefetch_factor
        self.pin_memory = pin_memory
        self.pin_memory_device = pin_memory_device
        self.timeout = timeout
        self.worker_init_fn = worker_init_fn
        self.multiprocessing_context = multiprocessing_context
        self.in_order = in_order
        self.batch_size = batch_size
        self.drop_last = drop_last
        self.sampler = sampler
        self.batch_sampler = batch_sampler
        self.generator = generator
        if collate_fn is None:
            collate_fn = default_collate if batch_sampler is not None else default_convert
        self.collate_fn = collate_fn
        self.persistent_workers = persistent_workers
        self._initialized = True

    def __setattr__(self, attr: str, val) -> None:
        if self._initialized and attr in ("batch_size", "batch_sampler", "sampler", "drop_last", "dataset", "persistent_workers"):
            raise ValueError(f"{attr} attribute should not be set after {self.__class__.__name__} is initialized")
        super().__setattr__(attr, val)

    @property
    def _auto_collation(self) -> bool:
        return self.batch_sampler is not None

    @property
    def _index_sampler(self):
        return self.batch_sampler if self._auto_collation else self.sampler

    def __iter__(self) -> _SingleProcessDataLoaderIter:
        return _SingleProcessDataLoaderIter(self)

    def __len__(self) -> int:
        if self._dataset_kind == _DatasetKind.Iterable:
            length = len(self.dataset)  # type: ignore[arg-type]
            if self.batch_size is not None:
                length = length // self.batch_size if self.drop_last else math.ceil(length / self.batch_size)
            return length
        return len(self._index_sampler)  # type: ignore[arg-type]


class _SingleProcessDataLoaderIter:
    """One pass over a DataLoader (what ``iter(loader)`` returns)."""

    def __init__(self, loader: DataLoader) -> None:
        if loader.pin_memory:
            warnings.warn(
                "'pin_memory' argument is set as true but no accelerator is found, then device pinned memory won't be used.",
                stacklevel=3,
            )
        self._loader = loader
        self._sampler_iter = iter(loader._index_sampler)
        self._dataset_iter = iter(loader.dataset) if loader._dataset_kind == _DatasetKind.Iterable else None  # type: ignore[call-overload]
        self._ended = False

    def __iter__(self) -> _SingleProcessDataLoaderIter:
        return self

    def __len__(self) -> int:
        return len(self._loader)

    def __next__(self) -> Any:
        loader = self._loader
        index = next(self._sampler_iter)
        if self._dataset_iter is None:
            return loader.collate_fn(self._fetch_map(index))
        if not loader._auto_collation:
            return loader.collate_fn(next(self._dataset_iter))
        if self._ended:
            raise StopIteration
        data = []
        for _ in index:
            try:
                data.append(next(self._dataset_iter))
            except StopIteration:
                self._ended = True
                break
        if not data or (loader.drop_last and len(data) < len(index)):
            raise StopIteration
        return loader.collate_fn(data)

    def _fetch_map(self, index):
        dataset = self._loader.dataset
        if not self._loader._auto_collation:
            return dataset[index]
        if callable(getattr(dataset, "__getitems__", None)):
            return dataset.__getitems__(index)  # type: ignore[attr-defined]
        return [dataset[i] for i in index]
