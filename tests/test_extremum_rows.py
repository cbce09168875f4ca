"""max/min/argmax/argmin over rows take a two-pass vectorised path (rust/ops/reduce.rs
`row_extremum`), and max() of everything splits into pieces: first index among ties, NaN wins,
against numpy."""

from __future__ import annotations

import ferrograd as fg
import numpy as np
import pytest


def _first_extremum(x: np.ndarray, axis, is_max: bool) -> np.ndarray:
    # numpy's argmax/argmin already return the first NaN, else the first extremum.
    return np.argmax(x, axis) if is_max else np.argmin(x, axis)


@pytest.mark.parametrize("dtype", ["float32", "float64", "int32", "int64", "uint8", "bool"])
@pytest.mark.parametrize("n", [16, 37, 2048])
def test_rows(dtype, n):
    rng = np.random.default_rng(n)
    x = rng.integers(0, 5, size=(9, n)).astype(dtype)  # many ties
    if dtype.startswith("float"):
        x[1, n // 2] = np.nan
        x[2, -1] = np.nan
        x[3, :] = -0.0
        x[3, 5] = 0.0
    t = fg.from_numpy(x)
    for is_max in (True, False):
        want = _first_extremum(x, 1, is_max)
        got_i = (t.argmax(1) if is_max else t.argmin(1)).numpy()
        np.testing.assert_array_equal(got_i, want)
        values, indices = t.max(1) if is_max else t.min(1)
        np.testing.assert_array_equal(indices.numpy(), want)
        np.testing.assert_array_equal(values.numpy(), np.take_along_axis(x, want[:, None], 1)[:, 0])


@pytest.mark.parametrize("where", [None, 5, 40000, 99999])
def test_one_long_row_in_pieces(where):
    x = np.random.default_rng(0).random(100000).astype(np.float32)
    x[[3000, 70000]] = 2.0  # a tie across pieces: the first wins
    if where is not None:
        x[where] = np.nan
    t = fg.tensor(x)
    assert t.argmax().item() == np.argmax(x)
    assert (t.max().item() == 2.0) if where is None else np.isnan(t.max().item())
    assert t.argmin().item() == np.argmin(x)
