"""Datasets and the DataLoader, as ``torch.utils.data`` (single process).

A map-style dataset answers ``len(ds)`` and ``ds[i]``. The DataLoader draws indices from a
sampler (in order, or a fresh ``fg.randperm`` each epoch when shuffling, so ``fg.manual_seed``
makes the order repeat), groups them into batches and merges each batch with ``collate_fn``
(``default_collate`` stacks tensors and turns numbers into tensors).
"""

from __future__ import annotations

import collections.abc
from typing import Any, Callable, Generic, Iterable, Iterator, Sequence, TypeVar

import numpy as np

from .. import _creation
from .._core import Tensor, float64, stack

__all__ = [
    "Dataset", "TensorDataset", "DataLoader", "Sampler", "SequentialSampler", "RandomSampler", "BatchSampler",
    "default_collate", "default_convert",
]

T_co = TypeVar("T_co", covariant=True)


class Dataset(Generic[T_co]):
    """A map-style dataset: subclasses implement ``__getitem__`` (and usually ``__len__``)."""

    def __getitem__(self, index: int) -> T_co:
        raise NotImplementedError("Subclasses of Dataset should implement __getitem__.")


class TensorDataset(Dataset[tuple[Tensor, ...]]):
    """Sample ``i`` is ``tuple(t[i] for t in tensors)``; the tensors share their first dim."""

    def __init__(self, *tensors: Tensor) -> None:
        for t in tensors:
            if not isinstance(t, Tensor):
                raise TypeError(f"TensorDataset: expected Tensors, got {type(t).__name__}")
            if t.ndim == 0:
                raise ValueError("TensorDataset: tensors need a first dimension to index samples by (got a 0-d tensor)")
        if any(t.shape[0] != tensors[0].shape[0] for t in tensors):
            raise ValueError(f"Size mismatch between tensors: first dims {[t.shape[0] for t in tensors]}")
        self.tensors = tensors

    def __getitem__(self, index: int) -> tuple[Tensor, ...]:
        return tuple(t[index] for t in self.tensors)

    def __len__(self) -> int:
        return self.tensors[0].shape[0] if self.tensors else 0


# ---- samplers -----------------------------------------------------------------------------------


class Sampler(Generic[T_co]):
    """Yields dataset indices (or, for a batch sampler, lists of them)."""

    def __iter__(self) -> Iterator[T_co]:
        raise NotImplementedError


class SequentialSampler(Sampler[int]):
    def __init__(self, data_source: Sequence[Any]) -> None:
        self.data_source = data_source

    def __iter__(self) -> Iterator[int]:
        return iter(range(len(self.data_source)))

    def __len__(self) -> int:
        return len(self.data_source)


class RandomSampler(Sampler[int]):
    """A new random order every pass, from ferrograd's global generator (``fg.manual_seed``)."""

    def __init__(self, data_source: Sequence[Any]) -> None:
        self.data_source = data_source

    def __iter__(self) -> Iterator[int]:
        return iter(_creation.randperm(len(self.data_source)).tolist())

    def __len__(self) -> int:
        return len(self.data_source)


class BatchSampler(Sampler[list[int]]):
    """Groups a sampler's indices into lists of ``batch_size``; ``drop_last`` drops a short tail."""

    def __init__(self, sampler: Iterable[int], batch_size: int, drop_last: bool) -> None:
        if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size <= 0:
            raise ValueError(f"batch_size should be a positive integer value, but got batch_size={batch_size}")
        if not isinstance(drop_last, bool):
            raise ValueError(f"drop_last should be a boolean value, but got drop_last={drop_last}")
        self.sampler, self.batch_size, self.drop_last = sampler, batch_size, drop_last

    def __iter__(self) -> Iterator[list[int]]:
        batch: list[int] = []
        for index in self.sampler:
            batch.append(index)
            if len(batch) == self.batch_size:
                yield batch
                batch = []
        if batch and not self.drop_last:
            yield batch

    def __len__(self) -> int:
        n = len(self.sampler)  # type: ignore[arg-type]
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)


# ---- collation ----------------------------------------------------------------------------------

_COLLATE_ERROR = "default_collate: batch must contain tensors, numpy arrays, numbers, dicts or lists; found {}"


def default_collate(batch: Sequence[Any]) -> Any:
    """Merges a list of samples: tensors are stacked along a new first dim, numpy arrays and
    scalars become tensors, Python floats a float64 tensor, ints an int64 tensor, bools a bool
    tensor; dicts, namedtuples, tuples and lists are collated field by field (tuples give
    lists, as in PyTorch); strings stay a list."""
    elem = batch[0]
    if isinstance(elem, Tensor):
        return stack(list(batch), 0)
    if isinstance(elem, np.ndarray):
        if elem.dtype.kind in "OSUV":
            raise TypeError(_COLLATE_ERROR.format(elem.dtype))
        return stack([_creation.as_tensor(b) for b in batch], 0)
    if isinstance(elem, np.generic):
        return _creation.as_tensor(np.array(batch))
    if isinstance(elem, bool):
        return _creation.tensor(list(batch))
    if isinstance(elem, float):
        return _creation.tensor(list(batch), dtype=float64)
    if isinstance(elem, int):
        return _creation.tensor(list(batch))
    if isinstance(elem, (str, bytes)):
        return list(batch)
    if isinstance(elem, collections.abc.Mapping):
        return {key: default_collate([d[key] for d in batch]) for key in elem}
    if isinstance(elem, tuple) and hasattr(elem, "_fields"):
        return type(elem)(*(default_collate(list(field)) for field in zip(*batch)))
    if isinstance(elem, collections.abc.Sequence):
        size = len(elem)
        if any(len(b) != size for b in batch):
            raise RuntimeError("each element in list of batch should be of equal size")
        fields = [default_collate(list(field)) for field in zip(*batch)]
        if isinstance(elem, tuple):
            return fields
        try:
            return type(elem)(fields)
        except TypeError:  # a sequence type that cannot be built from a list
            return fields
    raise TypeError(_COLLATE_ERROR.format(type(elem)))


def default_convert(data: Any) -> Any:
    """What a loader without batching yields: numpy arrays become tensors, containers are
    converted element by element, everything else is left alone."""
    if isinstance(data, np.ndarray) and data.dtype.kind not in "OSUV":
        return _creation.as_tensor(data)
    if isinstance(data, collections.abc.Mapping):
        return {k: default_convert(v) for k, v in data.items()}
    if isinstance(data, tuple) and hasattr(data, "_fields"):
        return type(data)(*(default_convert(d) for d in data))
    if isinstance(data, tuple):
        return [default_convert(d) for d in data]
    if isinstance(data, list):
        return [default_convert(d) for d in data]
    return data


# ---- the loader ---------------------------------------------------------------------------------


class DataLoader(Generic[T_co]):
    """Iterates over a dataset in batches.

    Args:
        dataset: a map-style dataset (``len`` and ``[i]``).
        batch_size: samples per batch; ``None`` yields single samples (no batching).
        shuffle: a new random order each epoch (from ``fg.randperm``; ``fg.manual_seed`` makes
            it repeat).
        sampler: an iterable of indices to use instead (not with ``shuffle``).
        batch_sampler: an iterable of index lists (not with batch_size, shuffle, sampler or
            drop_last).
        num_workers: accepted for compatibility; loading always runs in the calling process.
        collate_fn: merges a list of samples into a batch (``default_collate``).
        drop_last: drop the last batch when it is short.
    """

    def __init__(
        self,
        dataset: Dataset[T_co],
        batch_size: int | None = 1,
        shuffle: bool | None = None,
        sampler: Iterable[int] | None = None,
        batch_sampler: Iterable[list[int]] | None = None,
        num_workers: int = 0,
        collate_fn: Callable[[list[T_co]], Any] | None = None,
        pin_memory: bool = False,
        drop_last: bool = False,
    ) -> None:
        if num_workers < 0:
            raise ValueError("num_workers option should be non-negative; use num_workers=0 to disable multiprocessing.")
        if sampler is not None and shuffle:
            raise ValueError("sampler option is mutually exclusive with shuffle")
        if batch_sampler is not None:
            if batch_size != 1 or shuffle or sampler is not None or drop_last:
                raise ValueError("batch_sampler option is mutually exclusive with batch_size, shuffle, sampler, and drop_last")
            batch_size, drop_last = None, False
        elif batch_size is None and drop_last:
            raise ValueError("batch_size=None option disables auto-batching and is mutually exclusive with drop_last")
        if sampler is None:
            sampler = RandomSampler(dataset) if shuffle else SequentialSampler(dataset)  # type: ignore[arg-type]
        if batch_size is not None and batch_sampler is None:
            batch_sampler = BatchSampler(sampler, batch_size, drop_last)
        self.dataset = dataset
        self.batch_size = batch_size
        self.drop_last = drop_last
        self.sampler = sampler
        self.batch_sampler = batch_sampler
        self.num_workers = num_workers
        self.pin_memory = pin_memory
        self.collate_fn = collate_fn if collate_fn is not None else default_collate if batch_sampler is not None else default_convert

    def __iter__(self) -> Iterator[Any]:
        if self.batch_sampler is None:
            for index in self.sampler:
                yield self.collate_fn(self.dataset[index])
            return
        for indices in self.batch_sampler:
            yield self.collate_fn([self.dataset[i] for i in indices])

    def __len__(self) -> int:
        return len(self.batch_sampler if self.batch_sampler is not None else self.sampler)  # type: ignore[arg-type]
