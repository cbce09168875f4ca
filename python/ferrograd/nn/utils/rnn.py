"""fg.nn.utils.rnn: packing variable-length sequences for the recurrent layers, with PyTorch's names,
signatures, layouts and errors.

A PackedSequence holds the time steps of a batch of sequences sorted by decreasing length, stored
time-major and without padding: `data` is (sum of lengths, *), its first `batch_sizes[0]` rows are
step 0 of every sequence, the next `batch_sizes[1]` rows step 1 of the sequences still running,
and so on. Each function here is one gather (`index_select`) from the flat rows, so gradients flow
back to the padded or packed input in a single backward node.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple

from ... import _core
from ..._creation import as_tensor, full
from ..._functions import cat

__all__ = [
    "PackedSequence",
    "invert_permutation",
    "pack_padded_sequence",
    "pad_packed_sequence",
    "pad_sequence",
    "unpad_sequence",
    "pack_sequence",
    "unpack_sequence",
]

Tensor = _core.Tensor


class PackedSequence_(NamedTuple):
    data: Tensor
    batch_sizes: Tensor
    sorted_indices: Tensor | None
    unsorted_indices: Tensor | None


def _bind(optional, fn):
    return None if optional is None else fn(optional)


class PackedSequence(PackedSequence_):
    """The packed form of a batch of variable-length sequences (see the module docstring).

    Made by `pack_padded_sequence` / `pack_sequence`, taken and returned by RNN, LSTM and GRU.
    `sorted_indices[i]` is the original batch position of the i-th longest sequence (None when the
    input was already sorted), `unsorted_indices` its inverse.
    """

    def __new__(cls, data, batch_sizes=None, sorted_indices=None, unsorted_indices=None):
        return super().__new__(cls, *_packed_sequence_init_args(data, batch_sizes, sorted_indices, unsorted_indices))

    def to(self, *args, **kwargs) -> PackedSequence:
        """Converts `data` as `Tensor.to` does; the index tensors follow its device, batch_sizes stays."""
        data = self.data.to(*args, **kwargs)
        if data is self.data or (data.dtype == self.data.dtype and data.device == self.data.device):
            return self
        sorted_indices = _bind(self.sorted_indices, lambda t: t.to(data.device))
        unsorted_indices = _bind(self.unsorted_indices, lambda t: t.to(data.device))
        return type(self)(data, self.batch_sizes, sorted_indices, unsorted_indices)

    def cpu(self, *args, **kwargs) -> PackedSequence:
        return self.to("cpu")

    def pin_memory(self) -> PackedSequence:
        return self

    def double(self) -> PackedSequence:
        return self.to(dtype=_core.float64)

    def float(self) -> PackedSequence:
        return self.to(dtype=_core.float32)

    def half(self) -> PackedSequence:
        return self.to(dtype=_core.float16)

    def long(self) -> PackedSequence:
        return self.to(dtype=_core.int64)

    def int(self) -> PackedSequence:
        return self.to(dtype=_core.int32)

    def short(self) -> PackedSequence:
        return self.to(dtype=_core.int16)

    def char(self) -> PackedSequence:
        return self.to(dtype=_core.int8)

    def byte(self) -> PackedSequence:
        return self.to(dtype=_core.uint8)

    @property
    def is_cuda(self) -> bool:
        return self.data.is_cuda

    def is_pinned(self) -> bool:
        return False


def _packed_sequence_init_args(data, batch_sizes=None, sorted_indices=None, unsorted_indices=None):
    if unsorted_indices is None:
        unsorted_indices = invert_permutation(sorted_indices)
    if batch_sizes is not None:
        if batch_sizes.device.type != "cpu":
            raise ValueError(
                "batch_sizes should always be on CPU. Instances of PackedSequence should never be created manually. "
                "They should be instantiated by functions like pack_sequence and pack_padded_sequences in nn.utils.rnn."
            )
        return data, batch_sizes, sorted_indices, unsorted_indices
    if not (isinstance(data, (list, tuple)) and len(data) == 2):
        raise AssertionError("Expected data to be a list or tuple of length 2")
    return data[0], data[1], sorted_indices, unsorted_indices


def invert_permutation(permutation: Tensor | None) -> Tensor | None:
    """The permutation q with q[permutation[i]] = i (None stays None)."""
    if permutation is None:
        return None
    perm = [int(i) for i in permutation.tolist()]
    inverse = [0] * len(perm)
    for i, p in enumerate(perm):
        inverse[p] = i
    return as_tensor(inverse, dtype=_core.int64)


def _lengths_list(lengths) -> list[int]:
    if isinstance(lengths, Tensor):
        return [int(v) for v in lengths.reshape(-1).tolist()]
    return [int(v) for v in lengths]


def pack_padded_sequence(input: Tensor, lengths, batch_first: bool = False, enforce_sorted: bool = True) -> PackedSequence:
    """Packs a padded batch (T, B, *) (or (B, T, *) with batch_first) of sequences of the given lengths.

    With enforce_sorted=True the lengths must be in decreasing order; with False the batch is
    sorted here and the permutation kept in the result, so pad_packed_sequence and the RNN layers
    restore the original order.
    """
    lens = _lengths_list(lengths)
    sorted_indices = None
    if not enforce_sorted:
        order = sorted(range(len(lens)), key=lambda i: -lens[i])  # stable, as PyTorch's CPU sort
        lens = [lens[i] for i in order]
        sorted_indices = as_tensor(order, dtype=_core.int64)
        input = input.index_select(0 if batch_first else 1, sorted_indices)
    data, batch_sizes = _pack_padded(input, lens, batch_first)
    return PackedSequence(data, batch_sizes, sorted_indices, None)


def _pack_padded(input: Tensor, lens: list[int], batch_first: bool):
    if input.numel() == 0:
        raise RuntimeError("Cannot pack empty tensors.")
    if input.dim() < 2:
        raise RuntimeError(f"pack_padded_sequence: expected an input of at least 2 dimensions (T, B, *), got shape {tuple(input.shape)}")
    steps, batch = (input.shape[1], input.shape[0]) if batch_first else (input.shape[0], input.shape[1])
    if len(lens) != batch:
        raise RuntimeError(f"Expected `len(lengths)` to be equal to batch_size, but got {len(lens)} (batch_size={batch})")
    if lens[-1] <= 0:
        raise RuntimeError("Length of all samples has to be greater than 0, but found an element in 'lengths' that is <= 0")
    if any(a < b for a, b in zip(lens, lens[1:])):
        raise RuntimeError(
            "`lengths` array must be sorted in decreasing order when `enforce_sorted` is True. You can pass "
            "`enforce_sorted=False` to pack_padded_sequence and/or pack_sequence to sidestep this requirement "
            "if you do not need ONNX exportability."
        )
    if lens[0] > steps:
        raise RuntimeError(
            f"pack_padded_sequence: the longest length {lens[0]} is more than the {steps} time steps of the padded "
            f"input of shape {tuple(input.shape)} (batch_first={batch_first})"
        )
    batch_sizes = [sum(1 for n in lens if n > t) for t in range(lens[0])]
    # Row of (t, b) in the input flattened over its first two dims.
    stride_t, stride_b = (1, steps) if batch_first else (batch, 1)
    index = [t * stride_t + b * stride_b for t, bs in enumerate(batch_sizes) for b in range(bs)]
    flat = input.reshape(steps * batch, *input.shape[2:])
    data = flat.index_select(0, as_tensor(index, dtype=_core.int64))
    return data, as_tensor(batch_sizes, dtype=_core.int64)


def pad_packed_sequence(sequence: PackedSequence, batch_first: bool = False, padding_value: float = 0.0,
                        total_length: int | None = None):
    """Inverse of pack_padded_sequence: returns (padded, lengths), padded (T, B, *) or (B, T, *),
    in the batch order the sequences had before packing; lengths an int64 tensor."""
    data, batch_sizes = sequence.data, [int(v) for v in sequence.batch_sizes.tolist()]
    max_len = len(batch_sizes)
    if total_length is not None:
        if total_length < max_len:
            raise ValueError(
                "Expected total_length to be at least the length of the longest sequence in input, but got "
                f"total_length={total_length} and max sequence length being {max_len}"
            )
        max_len = total_length
    batch = batch_sizes[0] if batch_sizes else 0
    lengths_sorted = [sum(1 for bs in batch_sizes if bs > b) for b in range(batch)]
    unsorted = sequence.unsorted_indices
    order = [int(i) for i in unsorted.tolist()] if unsorted is not None else list(range(batch))
    offsets = [0]
    for bs in batch_sizes:
        offsets.append(offsets[-1] + bs)
    pad_row = data.shape[0]

    def row(t: int, b: int) -> int:
        return offsets[t] + b if t < len(batch_sizes) and b < batch_sizes[t] else pad_row

    if batch_first:
        index = [row(t, b) for b in order for t in range(max_len)]
        shape = (batch, max_len)
    else:
        index = [row(t, b) for t in range(max_len) for b in order]
        shape = (max_len, batch)
    padding = full((1, *data.shape[1:]), padding_value, dtype=data.dtype)
    padded = cat([data, padding]).index_select(0, as_tensor(index, dtype=_core.int64))
    lengths = as_tensor([lengths_sorted[b] for b in order], dtype=_core.int64)
    return padded.reshape(*shape, *data.shape[1:]), lengths


def pad_sequence(sequences, batch_first: bool = False, padding_value: float = 0.0, padding_side: str = "right") -> Tensor:
    """Stacks sequences (L_i, *) into one padded (T, B, *) tensor (or (B, T, *) with batch_first),
    T the longest length; padding_side 'right' (PyTorch's default) or 'left'."""
    if not isinstance(sequences, Iterable):
        raise RuntimeError(f"pad_sequence: Expected iterable for input sequences, but got arg of type: {type(sequences)}")
    sequences = tuple(sequences)
    if not sequences:
        raise RuntimeError("received an empty list of sequences")
    if padding_side not in ("left", "right"):
        raise RuntimeError(f"Expected padding_side to be one of left or right, but got {padding_side}.")
    trailing = tuple(sequences[0].shape[1:])
    for i, s in enumerate(sequences):
        if s.dim() == 0 or tuple(s.shape[1:]) != trailing:
            raise RuntimeError(
                f"pad_sequence: every sequence must have shape (L, {', '.join(map(str, trailing)) or ''}*) like the first, "
                f"but sequence {i} has shape {tuple(s.shape)}"
            )
    lens = [s.shape[0] for s in sequences]
    max_len, batch = max(lens), len(sequences)
    starts = [0]
    for n in lens:
        starts.append(starts[-1] + n)
    pad_row = starts[-1]

    def row(t: int, b: int) -> int:
        offset = t if padding_side == "right" else t - (max_len - lens[b])
        return starts[b] + offset if 0 <= offset < lens[b] else pad_row

    if batch_first:
        index = [row(t, b) for b in range(batch) for t in range(max_len)]
        shape = (batch, max_len)
    else:
        index = [row(t, b) for t in range(max_len) for b in range(batch)]
        shape = (max_len, batch)
    # every sequence in the first one's dtype, as PyTorch copies them into its output (cat
    # would promote: int then float gave float64)
    dtype = sequences[0].dtype
    padding = full((1, *trailing), padding_value, dtype=dtype)
    flat = cat([s if s.dtype == dtype else s.to(dtype) for s in sequences] + [padding])
    return flat.index_select(0, as_tensor(index, dtype=_core.int64)).reshape(*shape, *trailing)


def unpad_sequence(padded_sequences: Tensor, lengths, batch_first: bool = False) -> list[Tensor]:
    """The list of sequences (L_i, *) in a padded batch. Unlike PyTorch's, this does not transpose
    `padded_sequences` in place when batch_first=False."""
    lens = _lengths_list(lengths)
    batch_dim = 0 if batch_first else 1
    return [padded_sequences.select(batch_dim, b).narrow(0, 0, n) for b, n in enumerate(lens)]


def pack_sequence(sequences, enforce_sorted: bool = True) -> PackedSequence:
    """Packs a list of sequences (L_i, *); with enforce_sorted=True they must come longest first."""
    lengths = [v.size(0) for v in sequences]
    return pack_padded_sequence(pad_sequence(sequences), lengths, enforce_sorted=enforce_sorted)


def unpack_sequence(packed_sequences: PackedSequence) -> list[Tensor]:
    """The list of sequences (L_i, *) in a PackedSequence, in their original order."""
    padded, lengths = pad_packed_sequence(packed_sequences, batch_first=True)
    return unpad_sequence(padded, lengths, batch_first=True)
