"""nonzero/argwhere and x[mask] (rust/ops/nonzero.rs) against numpy: every rank, rows of
every length (blocks split across the parallel grain), dtypes other than bool, 0-d and empty."""

from __future__ import annotations

import ferrograd as fg
import numpy as np
import pytest


@pytest.mark.parametrize("shape", [(7,), (3, 5), (2, 3, 4), (40000, 3), (3, 70000), (2, 0, 3), (1, 1, 1, 5)])
def test_coordinates_match_numpy(shape):
    a = np.random.default_rng(len(shape)).random(shape) < 0.3
    got = fg.from_numpy(a).nonzero()
    assert got.dtype == fg.int64 and got.shape == (int(a.sum()), len(shape))
    np.testing.assert_array_equal(got.numpy(), np.argwhere(a))
    cols = fg.from_numpy(a).nonzero(as_tuple=True)
    assert len(cols) == len(shape)
    for c, want in zip(cols, np.nonzero(a)):
        np.testing.assert_array_equal(c.numpy(), want)
    x = np.arange(a.size, dtype=np.float32).reshape(shape)
    np.testing.assert_array_equal(fg.tensor(x)[fg.from_numpy(a)].numpy(), x[a])


def test_other_dtypes_zero_dim_and_nan():
    x = np.array([[0.0, -0.0, np.nan], [2.0, 0.0, -1.0]], np.float32)
    np.testing.assert_array_equal(fg.tensor(x).nonzero().numpy(), np.argwhere(x))  # NaN is nonzero
    np.testing.assert_array_equal(fg.argwhere(fg.tensor([0, 3, 0, 5])).numpy(), [[1], [3]])
    assert fg.tensor(1.5).nonzero().shape == (1, 0)
    assert fg.tensor(0.0).nonzero().shape == (0, 0)
    assert [c.tolist() for c in fg.tensor(True).nonzero(as_tuple=True)] == [[0]]
