"""linspace and the spatial transformer's grid against values recorded from PyTorch
(tests/golden/grid_golden.json, written by tests/golden/make_grid_golden.py, which needs torch;
this test needs only ferrograd and numpy, so it runs in CI).

The last bit matters here, not only the value: an STN is initialised at the identity theta
(PyTorch's STN tutorial copies [1, 0, 0, 0, 1, 0] into the last layer's bias), whose grid lands
on pixel centres, where bilinear sampling has no derivative. Which one-sided derivative
grid_sample takes depends on whether the unnormalised coordinate rounded to just below or just
above the integer, so theta's gradient at the identity was off by up to 1.3e3 when the grid
differed from PyTorch's in the last bit. `linspace` (float32, float64) and `affine_grid` at the
identity therefore match PyTorch bit for bit, and the identity theta's gradient to rounding.
"""

from __future__ import annotations

import json
import os
import warnings

import ferrograd as fg
import numpy as np
import pytest

GOLDEN_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "golden", "grid_golden.json")
GOLDEN: dict = {}
if os.path.exists(GOLDEN_PATH):  # absent only while make_grid_golden.py, which imports the cases below, writes it
    with open(GOLDEN_PATH) as _f:
        GOLDEN = json.load(_f)

# (start, end, steps) for linspace, in float32 and float64.
LINSPACE = [(-1, 1, n) for n in (2, 3, 7, 8, 13, 64, 100, 257)] + [(0, 5, 11), (-3.7, 12.25, 29), (1, -1, 9), (1e-3, 7, 50)]
# (size, align_corners) of affine_grid at the identity theta.
GRIDS = [((1, 1, h, w), ac) for h, w in ((4, 5), (2, 4), (7, 7), (16, 13), (1, 6)) for ac in (True, False)] + [
    ((1, 1, 3, 5, 7), ac) for ac in (True, False)]
# (input shape, align_corners) of the identity STN whose theta gradient is recorded.
STN = [((2, 3, 4, 5), True), ((2, 3, 7, 7), True), ((2, 3, 7, 7), False), ((1, 2, 6, 9), False)]


def linspace_key(start, end, steps, dtype):
    return f"{start}:{end}:{steps}:{dtype}"


def grid_key(size, ac):
    return f"{'x'.join(map(str, size))}:{ac}"


def identity_theta(dims: int) -> np.ndarray:
    return np.eye(dims, dims + 1, dtype=np.float32)[None]


def stn_theta_grad(L, shape, ac):
    """theta's gradient of sum(grid_sample(x, affine_grid(identity)) * w) for fixed x and w."""
    rng = np.random.default_rng(sum(shape))
    x = rng.standard_normal(shape).astype(np.float32)
    w = rng.standard_normal(shape).astype(np.float32)
    theta = L.tensor(np.repeat(identity_theta(2), shape[0], 0), requires_grad=True)
    grid = L.nn.functional.affine_grid(theta, list(shape), align_corners=ac)
    y = L.nn.functional.grid_sample(L.tensor(x), grid, align_corners=ac)
    (y * L.tensor(w)).sum().backward()
    return theta.grad.numpy()


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("start,end,steps", LINSPACE)
def test_linspace_is_pytorchs_bit_for_bit(start, end, steps, dtype):
    want = np.array(GOLDEN["linspace"][linspace_key(start, end, steps, dtype)], dtype=dtype)
    got = fg.linspace(start, end, steps, dtype=getattr(fg, dtype)).numpy()
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("size,ac", GRIDS)
def test_identity_affine_grid_is_pytorchs_bit_for_bit(size, ac):
    want = np.array(GOLDEN["grid"][grid_key(size, ac)], dtype=np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # unit-size grids with align_corners=True warn, as PyTorch's
        got = fg.nn.functional.affine_grid(fg.tensor(identity_theta(len(size) - 2)), list(size), align_corners=ac).numpy()
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("shape,ac", STN)
def test_identity_stn_theta_gradient_matches_pytorch(shape, ac):
    want = np.array(GOLDEN["stn"][grid_key(shape, ac)], dtype=np.float32)
    got = stn_theta_grad(fg, shape, ac)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4 * np.abs(want).max())
