"""F.grid_sample bilinear on 4-D input runs as one kernel (rust/nn/grid_sample.rs). Checked
against the composed form it replaced (python/ferrograd/nn/_functional_grid.py `_composed`, itself
checked against numpy in op_rows_sample.py and against PyTorch in tests/differential) for values
and both gradients, every padding mode, both align_corners, points on pixel centres and edges;
the fallbacks (non-finite coordinates, gradients of gradients) and float64 gradcheck."""

from __future__ import annotations

import ferrograd as fg
import numpy as np
import pytest
from ferrograd.nn import _functional_grid as G

PADDINGS = ("zeros", "border", "reflection")


def _both(x, g, gout, pm, ac):
    res = []
    for fused in (True, False):
        xt, gt = fg.tensor(x, requires_grad=True), fg.tensor(g, requires_grad=True)
        out = fg.nn.functional.grid_sample(xt, gt, padding_mode=pm, align_corners=ac) if fused else G._composed(xt, gt, "bilinear", pm, ac)
        out.backward(fg.tensor(gout))
        res.append((out.detach().numpy(), xt.grad.numpy(), gt.grad.numpy()))
    return res


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("pm", PADDINGS)
def test_kernel_matches_the_composed_form(dtype, pm):
    rng = np.random.default_rng(PADDINGS.index(pm))
    tol = 3e-6 if dtype == np.float32 else 1e-13
    for trial in range(12):
        n, c, h, w = rng.integers(1, 3), rng.integers(1, 4), rng.integers(1, 7), rng.integers(1, 7)
        shape = (n, rng.integers(1, 5), rng.integers(1, 5), 2)
        x = rng.standard_normal((n, c, h, w)).astype(dtype)
        # beyond the input, and (every third) on multiples of 1/4: pixel centres and edges
        g = (rng.integers(-8, 9, shape) / 4 if trial % 3 == 0 else rng.random(shape) * 3.2 - 1.6).astype(dtype)
        gout = rng.standard_normal((n, c, *shape[1:3])).astype(dtype)
        for ac in (False, True):
            (a, b) = _both(x, g, gout, pm, ac)
            for u, v, what in zip(a, b, ("output", "input grad", "grid grad")):
                np.testing.assert_allclose(u, v, rtol=tol, atol=tol * (1 + np.abs(v).max()), err_msg=f"{what} {pm} ac={ac}")


def test_large_shapes_split_across_threads():
    rng = np.random.default_rng(5)
    x = rng.standard_normal((3, 5, 40, 33)).astype(np.float32)
    g = (rng.random((3, 37, 41, 2)) * 2.4 - 1.2).astype(np.float32)
    gout = rng.standard_normal((3, 5, 37, 41)).astype(np.float32)
    for pm in PADDINGS:
        a, b = _both(x, g, gout, pm, False)
        for u, v in zip(a, b):
            np.testing.assert_allclose(u, v, rtol=2e-5, atol=2e-5 * (1 + np.abs(v).max()))


def test_non_finite_coordinates_take_the_composed_form():
    x = np.arange(12.0).reshape(1, 1, 3, 4)
    g = np.array([[[[np.nan, 0.2], [0.3, np.inf]], [[1e38, -0.5], [0.1, 0.1]]]])
    for pm in PADDINGS:
        xt, gt = fg.tensor(x, requires_grad=True), fg.tensor(g, requires_grad=True)
        out = fg.nn.functional.grid_sample(xt, gt, padding_mode=pm, align_corners=True)
        out.backward(fg.ones_like(out))
        want = G._composed(fg.tensor(x), fg.tensor(g), "bilinear", pm, True).numpy()
        np.testing.assert_array_equal(out.detach().numpy(), want)
        assert xt.grad is not None and gt.grad is not None


def test_non_finite_input_values_reach_only_the_points_that_read_them():
    """A corner outside the input adds 0, never 0 times a pixel's value: the kernel reads through
    offset 0 there, so an inf or NaN in the first pixel must stay out of those points (PyTorch's
    masked reads give the same)."""
    x = np.ones((1, 2, 4, 4), np.float32)
    x[0, 0, 0, 0], x[0, 1, 0, 0] = np.inf, np.nan
    # Far outside (every corner out), on the far corner, and next to the first pixel.
    g = np.array([[[[-3.0, -3.0], [0.75, 0.75], [-0.75, -0.75], [-1.0, -1.0]]]], np.float32)
    out = fg.nn.functional.grid_sample(fg.tensor(x), fg.tensor(g), align_corners=False).numpy()
    want = G._composed(fg.tensor(x), fg.tensor(g), "bilinear", "zeros", False).numpy()
    np.testing.assert_array_equal(out, want)
    assert out[0, 0, 0, 0] == 0.0 and out[0, 1, 0, 0] == 0.0 and out[0, 0, 0, 1] == 1.0
    assert out[0, 0, 0, 2] == np.inf and np.isnan(out[0, 1, 0, 2])


def test_gradients_of_gradients_and_gradcheck():
    rng = np.random.default_rng(7)
    x = fg.tensor(rng.standard_normal((2, 2, 4, 5)), requires_grad=True)
    g = fg.tensor(rng.random((2, 3, 2, 2)) * 1.8 - 0.9, requires_grad=True)
    for pm in PADDINGS:
        f = lambda a, b, pm=pm: fg.nn.functional.grid_sample(a, b, padding_mode=pm, align_corners=False)  # noqa: E731
        assert fg.autograd.gradcheck(f, (x, g))
        assert fg.autograd.gradgradcheck(f, (x, g))
    out = fg.nn.functional.grid_sample(x, g, align_corners=False)
    assert out.grad_fn.name() == "GridSampler2DBackward0"
    # only one of the two needing a gradient
    x2 = fg.tensor(x.detach().numpy(), requires_grad=True)
    fg.nn.functional.grid_sample(x2, g.detach(), align_corners=True).sum().backward()
    assert x2.grad is not None
