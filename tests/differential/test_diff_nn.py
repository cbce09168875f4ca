"""Every nn layer, functional op and loss in ferrograd against PyTorch (see cases_nn.py)."""

from __future__ import annotations

import pytest

pytest.importorskip("torch")

from cases_nn import ALL
from harness import check
from hypothesis import given
from hypothesis import strategies as st
from known_divergences import covered


@pytest.mark.parametrize("case", ALL, ids=[c.id for c in ALL])
@given(data=st.data())
def test_nn_matches_torch(case, data):
    args = data.draw(case.args, label="args")
    covered(case, args, check)


@given(data=st.data())
def test_batchnorm_float32_gradient_as_accurate_as_torch(data):
    """Against a float64 PyTorch reference, ferrograd's float32 BatchNorm (train mode) input and
    weight gradients are no more than a few times as far off as PyTorch's own float32 ones (small
    batches with a large mean are where single-precision sums lose digits)."""
    import ferrograd as fg
    import numpy as np
    import torch
    from hypothesis.extra import numpy as hnp

    n, c = data.draw(st.integers(2, 4)), data.draw(st.integers(1, 3))
    tail = data.draw(st.sampled_from([(), (3,), (2, 2)]))
    offset = data.draw(st.sampled_from([0.0, 10.0, 1000.0]))
    x = data.draw(hnp.arrays(np.float64, (n, c) + tail, elements=st.floats(-1, 1))) + offset
    w = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1))).uniform(-1, 1, x.shape)
    # The reference sees the float32 inputs both libraries see: with a large offset and a small
    # spread, rounding 1000.95 to float32 alone moved the exact weight gradient by 1e-5, more
    # than either library's own error, and PyTorch's rounding happened to land nearer.
    x, w = x.astype(np.float32).astype(np.float64), w.astype(np.float32).astype(np.float64)

    def grads(L, dtype):
        xt = L.tensor(x.astype(dtype), requires_grad=True)
        bn = getattr(L.nn, f"BatchNorm{max(1, len(tail))}d")(c)
        if dtype == np.float64:
            bn = bn.double()
        out = bn(xt)
        (out * L.tensor(w.astype(dtype))).sum().backward()
        return xt.grad.numpy().astype(np.float64), bn.weight.grad.numpy().astype(np.float64)

    ref = grads(torch, np.float64)
    th, ours = grads(torch, np.float32), grads(fg, np.float32)
    for name, r, t, f in zip(("input", "weight"), ref, th, ours):
        scale = max(1.0, float(np.abs(r).max()))
        err_t, err_f = np.abs(t - r).max() / scale, np.abs(f - r).max() / scale
        assert err_f <= 4 * err_t + 1e-6, f"{name} grad error {err_f:.3g} vs torch's {err_t:.3g} (x offset {offset})"
