"""cat and stack copy each part's runs straight into the result (rust/ops/join.rs): every dim,
parts of different widths and dtypes, strided parts, sizes above and below the parallel grain."""

from __future__ import annotations

import ferrograd as fg
import numpy as np
import pytest


@pytest.mark.parametrize("shape", [(3, 4, 5), (2, 300, 70), (70000,), (40, 1)])
def test_cat_matches_numpy_along_every_dim(shape):
    rng = np.random.default_rng(len(shape))
    for d in range(len(shape)):
        widths = [1, shape[d], 3]
        arrays = []
        for w in widths:
            s = list(shape)
            s[d] = w
            arrays.append(rng.standard_normal(s).astype(np.float32))
        got = fg.cat([fg.tensor(a) for a in arrays], d).numpy()
        np.testing.assert_array_equal(got, np.concatenate(arrays, d))


def test_strided_and_mixed_dtype_parts():
    a = np.arange(24, dtype=np.float64).reshape(4, 6)
    b = np.arange(12, dtype=np.int32).reshape(2, 6)
    parts = [fg.tensor(a).t(), fg.tensor(b.T.copy()), fg.tensor(a)[::2, :].t()]
    got = fg.cat(parts, 1)
    assert got.dtype == fg.float64
    np.testing.assert_array_equal(got.numpy(), np.concatenate([a.T, b.T, a[::2, :].T], 1))
    x = fg.tensor(a)
    np.testing.assert_array_equal(fg.cat([x, x], 0).numpy(), np.concatenate([a, a], 0))  # the same tensor twice
    np.testing.assert_array_equal(fg.stack([x, x + 1], 2).numpy(), np.stack([a, a + 1], 2))
    empty = fg.cat([fg.zeros(2, 0), fg.zeros(2, 0)], 1)
    assert empty.shape == (2, 0)


def test_cat_gradient_slices_back():
    a = fg.randn(3, 4, requires_grad=True)
    b = fg.randn(3, 2, requires_grad=True)
    out = fg.cat([a, b], 1)
    w = fg.randn(3, 6)
    (out * w).sum().backward()
    np.testing.assert_array_equal(a.grad.numpy(), w.numpy()[:, :4])
    np.testing.assert_array_equal(b.grad.numpy(), w.numpy()[:, 4:])


def _views(a: np.ndarray):
    """Views of a 3-D array with their numpy twins: row slices (each outer index one run), a
    step, a transpose, a broadcast, an offset start."""
    x = fg.tensor(a)
    return [
        (x[:, :, 3:], a[:, :, 3:]),
        (x[:, 1:, :], a[:, 1:, :]),
        (x[1:, :, :-2], a[1:, :, :-2]),
        (x[:, ::2, :], a[:, ::2, :]),
        (x.transpose(1, 2), np.swapaxes(a, 1, 2)),
        (x[:, :1, :].expand(a.shape[0], 3, a.shape[2]), np.broadcast_to(a[:, :1, :], (a.shape[0], 3, a.shape[2]))),
    ]


@pytest.mark.parametrize("shape", [(2, 5, 9), (3, 40, 700), (1, 80, 2100)])
def test_strided_parts_are_read_in_place(shape):
    """A slice of rows is copied run by run, any other view gathered straight into its place
    (the only part along dim 0, as stack at dim 0 makes it); sizes above and below the grain."""
    a = np.random.default_rng(1).standard_normal(shape).astype(np.float32)
    for v, ref in _views(a):
        for d in range(3):
            other = np.ones_like(ref[(slice(None),) * d + (slice(0, 1),)])
            got = fg.cat([v, fg.tensor(other), v], d).numpy()
            np.testing.assert_array_equal(got, np.concatenate([ref, other, ref], d), err_msg=f"dim {d}")
        for d in range(4):
            np.testing.assert_array_equal(fg.stack([v, v * 2], d).numpy(), np.stack([ref, ref * 2], d))
    x = fg.tensor(a)
    # a zero-width slice beside a full one
    np.testing.assert_array_equal(fg.cat([x[:, :, :0], x[:, :, 1:]], 2).numpy(), a[:, :, 1:])


@pytest.mark.parametrize("shift", range(1, 18))
def test_shifted_row_copies(shift):
    """Copies whose destination lies a few bytes past the source within a page go in pieces
    (rust/tensor/copy.rs): every shift of rows longer than a piece, through roll, setitem and
    cat, against numpy."""
    a = np.random.default_rng(shift).standard_normal((6, 3000)).astype(np.float32)
    x = fg.tensor(a)
    np.testing.assert_array_equal(x.roll(shift, 1).numpy(), np.roll(a, shift, 1))
    y = fg.zeros(6, 3000)
    y[:, shift:] = x[:, :-shift]
    want = np.zeros_like(a)
    want[:, shift:] = a[:, :-shift]
    np.testing.assert_array_equal(y.numpy(), want)
    np.testing.assert_array_equal(fg.cat([x[:, -shift:], x[:, :-shift]], 1).numpy(), np.roll(a, shift, 1))
    d = a.astype(np.float64).ravel()
    np.testing.assert_array_equal(fg.tensor(d)[shift:].clone().numpy(), d[shift:])


@pytest.mark.parametrize("step", [2, 3, 7])
def test_strided_rows_gather_in_order(step):
    """contiguous() of a view with a step along its rows (pairs for step 2, odd and even row
    lengths, offsets), every dtype width, against numpy."""
    rng = np.random.default_rng(step)
    for dtype in (np.float32, np.float64, np.int64, np.int8):
        a = (rng.standard_normal((37, 201)) * 50).astype(dtype)
        x = fg.tensor(a)
        for s in (slice(None, None, step), slice(1, None, step), slice(2, -1, step), slice(0, 2 * step, step)):
            np.testing.assert_array_equal(x[:, s].contiguous().numpy(), a[:, s])
            np.testing.assert_allclose(x[3:, s].sum(1).numpy(), a[3:, s].sum(1), rtol=1e-5, atol=1e-3)
