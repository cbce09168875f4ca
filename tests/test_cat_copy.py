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
