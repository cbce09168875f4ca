"""nn.utils.rnn beyond the golden values: numpy references for packing and padding, PyTorch's
errors, PackedSequence's tuple behaviour and conversions, round trips and gradients."""

from __future__ import annotations

import ferrograd as fg
import numpy as np
import pytest
from ferrograd.nn.utils.rnn import (
    PackedSequence,
    invert_permutation,
    pack_padded_sequence,
    pack_sequence,
    pad_packed_sequence,
    pad_sequence,
    unpack_sequence,
    unpad_sequence,
)


def _np_pack(padded, lengths):
    """Time-major reference: step t holds the sequences longer than t, in batch order."""
    rows, sizes = [], []
    for t in range(max(lengths)):
        live = [b for b, n in enumerate(lengths) if n > t]
        sizes.append(len(live))
        rows += [padded[t, b] for b in live]
    return np.array(rows), sizes


def test_pack_padded_matches_numpy_and_gradient_is_the_mask():
    rng = np.random.default_rng(0)
    lengths = [6, 4, 4, 2, 1]
    x = rng.standard_normal((6, 5, 3))
    xt = fg.tensor(x, requires_grad=True)
    packed = pack_padded_sequence(xt, lengths)
    want, sizes = _np_pack(x, lengths)
    np.testing.assert_array_equal(packed.data.detach().numpy(), want)
    assert packed.batch_sizes.tolist() == sizes and packed.batch_sizes.dtype == fg.int64
    assert packed.sorted_indices is None and packed.unsorted_indices is None
    packed.data.sum().backward()
    mask = np.array([[1.0 if t < n else 0.0 for n in lengths] for t in range(6)])
    np.testing.assert_array_equal(xt.grad.numpy(), np.repeat(mask[:, :, None], 3, axis=2))


@pytest.mark.parametrize("batch_first", [False, True])
def test_unsorted_round_trip_restores_order_and_lengths(batch_first):
    rng = np.random.default_rng(1)
    lengths = [2, 5, 3, 5, 1]
    x = rng.standard_normal((5, 5, 2))
    for b, n in enumerate(lengths):  # zero the padding so the round trip is exact
        if batch_first:
            x[b, n:] = 0
        else:
            x[n:, b] = 0
    packed = pack_padded_sequence(fg.tensor(x), fg.tensor(lengths), batch_first=batch_first, enforce_sorted=False)
    assert packed.sorted_indices.tolist() == [1, 3, 2, 0, 4]
    assert invert_permutation(packed.sorted_indices).tolist() == packed.unsorted_indices.tolist()
    padded, out_lengths = pad_packed_sequence(packed, batch_first=batch_first)
    np.testing.assert_array_equal(padded.numpy(), x)
    assert out_lengths.tolist() == lengths
    padded, _ = pad_packed_sequence(packed, batch_first=batch_first, padding_value=7.0, total_length=8)
    assert padded.shape[1 if batch_first else 0] == 8
    assert float(padded.numpy()[(0, 7) if batch_first else (7, 0)][0]) == 7.0


def test_pad_sequence_left_and_right_match_numpy():
    rng = np.random.default_rng(2)
    seqs = [rng.standard_normal((n, 2, 2)) for n in (3, 1, 4)]
    right = pad_sequence([fg.tensor(s) for s in seqs], padding_value=-1.0).numpy()
    left = pad_sequence([fg.tensor(s) for s in seqs], batch_first=True, padding_side="left").numpy()
    for b, s in enumerate(seqs):
        n = len(s)
        np.testing.assert_array_equal(right[:n, b], s)
        assert (right[n:, b] == -1.0).all()
        np.testing.assert_array_equal(left[b, 4 - n:], s)
        assert (left[b, :4 - n] == 0).all()
    assert pad_sequence(fg.ones(2, 3)).shape == (3, 2)  # a tensor is a sequence of its rows


def test_pack_sequence_unpack_sequence_and_unpad_sequence():
    seqs = [fg.randn(n, 3) for n in (2, 4, 1)]
    packed = pack_sequence(seqs, enforce_sorted=False)
    for got, want in zip(unpack_sequence(packed), seqs):
        np.testing.assert_array_equal(got.numpy(), want.numpy())
    padded = pad_sequence(seqs)
    before = padded.numpy().copy()
    for got, want in zip(unpad_sequence(padded, fg.tensor([2, 4, 1])), seqs):
        np.testing.assert_array_equal(got.numpy(), want.numpy())
    np.testing.assert_array_equal(padded.numpy(), before)  # not transposed in place (PyTorch's does)
    assert tuple(padded.shape) == (4, 3, 3)


def test_packed_sequence_is_a_namedtuple_with_conversions():
    packed = pack_sequence([fg.randn(3, 2), fg.randn(2, 2)])
    data, batch_sizes, sorted_indices, unsorted_indices = packed
    assert data is packed.data and batch_sizes.tolist() == [2, 2, 1] and sorted_indices is None
    assert packed._fields == ("data", "batch_sizes", "sorted_indices", "unsorted_indices")
    double = packed.double()
    assert isinstance(double, PackedSequence) and double.data.dtype == fg.float64
    assert double.batch_sizes is packed.batch_sizes
    assert packed.to(fg.float32) is packed and packed.float() is packed
    assert not packed.is_cuda
    # A PackedSequence built from a (data, batch_sizes) pair, as PyTorch allows.
    again = PackedSequence((packed.data, packed.batch_sizes))
    assert again.batch_sizes is packed.batch_sizes
    with_indices = PackedSequence(packed.data, packed.batch_sizes, fg.tensor([1, 0]))
    assert with_indices.unsorted_indices.tolist() == [1, 0]


@pytest.mark.parametrize("call, match", [
    (lambda: pack_padded_sequence(fg.randn(4, 3, 2), [2, 3, 1]), "must be sorted in decreasing order"),
    (lambda: pack_padded_sequence(fg.randn(4, 3, 2), [3, 0, 1]), "must be sorted in decreasing order"),
    (lambda: pack_padded_sequence(fg.randn(4, 3, 2), [3, 1, 0]), "Length of all samples has to be greater than 0"),
    (lambda: pack_padded_sequence(fg.randn(4, 3, 2), [3, -1, 1], enforce_sorted=False),
     "Length of all samples has to be greater than 0"),
    (lambda: pack_padded_sequence(fg.randn(4, 3, 2), [3, 2]), r"Expected `len\(lengths\)` to be equal to batch_size"),
    (lambda: pack_padded_sequence(fg.randn(4, 3, 2), [5, 2, 1]), "longest length 5 is more than the 4 time steps"),
    (lambda: pack_padded_sequence(fg.randn(0, 3, 2), [1, 1, 1]), "Cannot pack empty tensors"),
    (lambda: pad_sequence([]), "received an empty list of sequences"),
    (lambda: pad_sequence([fg.randn(2, 3)], padding_side="middle"), "Expected padding_side to be one of left or right"),
    (lambda: pad_sequence([fg.randn(2, 3), fg.randn(3, 4)]), r"sequence 1 has shape \(3, 4\)"),
    (lambda: pad_sequence(5), "Expected iterable for input sequences"),
])
def test_runtime_errors(call, match):
    with pytest.raises(RuntimeError, match=match):
        call()


def test_total_length_too_short_is_value_error():
    packed = pack_sequence([fg.randn(3, 2), fg.randn(2, 2)])
    with pytest.raises(ValueError, match="Expected total_length to be at least the length of the longest sequence"):
        pad_packed_sequence(packed, total_length=2)


def test_gradient_flows_through_pad_packed_and_unsorted_packing():
    x = fg.randn(4, 3, 2, dtype=fg.float64, requires_grad=True)

    def fn(x):
        packed = pack_padded_sequence(x, [2, 4, 3], enforce_sorted=False)
        return pad_packed_sequence(packed, padding_value=0.5, total_length=5)[0]

    assert fg.autograd.gradcheck(fn, (x,))


def test_pad_and_pack_sequence_take_the_first_sequences_dtype():
    from ferrograd.nn.utils.rnn import pack_sequence, pad_sequence

    got = pad_sequence([fg.tensor([1, 2]), fg.tensor([0.7])])
    assert got.dtype == fg.int64 and got.tolist() == [[1, 0], [2, 0]]  # cast, as PyTorch (it promoted)
    assert pad_sequence([fg.ones(2), fg.ones(1, dtype=fg.float64)]).dtype == fg.float32
    assert pack_sequence([fg.ones(2), fg.ones(1, dtype=fg.float64)]).data.dtype == fg.float32
