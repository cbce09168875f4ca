"""scatter_add's kernel (rust/ops/positions.rs `add_at_positions`): numpy's add.at for values,
repeated positions accumulating in order, and gradients to both the input and the source."""

from __future__ import annotations

import ferrograd as fg
import numpy as np
import pytest
from ferrograd.autograd import gradcheck, gradgradcheck


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("dim", [0, 1, -1])
def test_matches_numpy_add_at(dtype, dim):
    rng = np.random.default_rng(dim + 5)
    x = rng.standard_normal((7, 9)).astype(dtype)
    idx = rng.integers(0, x.shape[dim], size=(5, 4))  # repeats likely
    src = rng.standard_normal((6, 5)).astype(dtype)
    got = fg.tensor(x).scatter_add(dim, fg.tensor(idx), fg.tensor(src)).numpy()
    want = x.copy()
    d = dim % 2
    for i in range(5):
        for j in range(4):
            pos = (idx[i, j], j) if d == 0 else (i, idx[i, j])
            want[pos] += src[i, j]
    np.testing.assert_array_equal(got, want)


def test_gradients_and_name():
    rng = np.random.default_rng(0)
    x = fg.tensor(rng.standard_normal((4, 3)), requires_grad=True)
    src = fg.tensor(rng.standard_normal((5, 3)), requires_grad=True)
    idx = fg.tensor([[0, 1, 2], [0, 0, 0], [3, 1, 2], [3, 3, 3], [1, 2, 0]])
    assert gradcheck(lambda a, s: a.scatter_add(0, idx, s), (x, src))
    assert gradgradcheck(lambda a, s: a.scatter_add(0, idx, s) ** 2, (x, src))
    assert x.scatter_add(0, idx, src).grad_fn.name() == "ScatterAddBackward0"
    with pytest.raises(RuntimeError, match="dtype"):
        x.scatter_add(0, idx, src.float())


def test_kernel_refuses_positions_out_of_range():
    # The Python layer checks the index first; the kernel still refuses what would be wrong.
    for bad in ([-1], [3]):
        with pytest.raises(IndexError):
            fg._core._add_at(fg.zeros(3), fg.tensor(bad), fg.ones(1))
