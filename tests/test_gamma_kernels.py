"""float32 lgamma and digamma (rust/vmath_gamma.rs: branch-free, in float64 lanes) against float64
references: math.lgamma, and the float64 digamma (libm-free scalar recurrence, a separate code
path) over a spread of magnitudes, negative non-integers, the neighbourhoods of their zeros, and
PyTorch's special values; lgamma's gradient is digamma."""

import math

import ferrograd as fg
import numpy as np
import pytest

rng = np.random.default_rng(3)


def samples():
    mags = np.exp(rng.uniform(np.log(1e-40), np.log(1e30), 20000))
    near = np.concatenate([1 + rng.uniform(-1e-3, 1e-3, 500), 2 + rng.uniform(-1e-3, 1e-3, 500), 1.4616321 + rng.uniform(-1e-3, 1e-3, 500)])
    neg = -rng.uniform(0, 60, 5000)
    neg = neg[neg != np.floor(neg)]
    return np.concatenate([mags, near, neg, rng.uniform(0, 20, 5000)]).astype(np.float32)


def ulp_error(got, want):
    """Errors in float32 ulps of the reference, after 5e-15 absolute where it is below 1e-3."""
    w32 = np.abs(want).astype(np.float32)
    ulp = (np.nextafter(w32, np.float32(np.inf)) - w32).astype(np.float64)
    err = np.abs(got.astype(np.float64) - want)
    err = np.where(np.abs(want) < 1e-3, np.maximum(err - 5e-15, 0), err)
    return err / np.maximum(ulp, 1e-45)


def test_lgamma_float32_within_an_ulp():
    x = samples()
    want = np.array([math.lgamma(float(v)) for v in x])
    keep = np.abs(want) < 3e38
    got = fg.tensor(x).lgamma().numpy()
    assert got.dtype == np.float32
    assert ulp_error(got[keep], want[keep]).max() <= 1.0


def test_digamma_float32_within_an_ulp_of_the_float64_form():
    x = samples()
    want = fg.tensor(x.astype(np.float64)).digamma().numpy()
    got = fg.tensor(x).digamma().numpy()
    keep = np.isfinite(want) & (np.abs(want) < 3e38)
    assert ulp_error(got[keep], want[keep]).max() <= 1.0
    # Known values: psi(1) = -gamma, psi(1/2) = -gamma - 2 ln 2.
    euler = 0.5772156649015329
    np.testing.assert_array_equal(fg.tensor([1.0, 0.5]).digamma().numpy(), np.float32([-euler, -euler - 2 * math.log(2)]))


def test_special_values_as_pytorch():
    x = fg.tensor([0.0, -0.0, -1.0, -3.0, float("inf"), float("-inf"), float("nan"), 1.0, 2.0, 1e-45, -3e38])
    lg = fg.lgamma(x).numpy()
    np.testing.assert_array_equal(lg[:6], np.inf)
    assert np.isnan(lg[6]) and lg[7] == 0.0 and lg[8] == 0.0
    np.testing.assert_allclose(lg[9], -math.log(float(np.float32(1e-45))), rtol=1e-6)
    assert lg[10] == np.inf
    dg = fg.digamma(x).numpy()
    assert dg[0] == -np.inf and dg[1] == np.inf and dg[4] == np.inf and dg[9] == -np.inf
    assert np.isnan(dg[[2, 3, 5, 6, 10]]).all()


@pytest.mark.parametrize("dtype", [fg.float32, fg.float64])
def test_lgamma_gradient_is_digamma(dtype):
    a = np.concatenate([rng.uniform(0.01, 30, 200), -rng.uniform(0.01, 10, 50)])
    x = fg.tensor(a, dtype=dtype, requires_grad=True)
    x.lgamma().sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), fg.tensor(a, dtype=dtype).digamma().numpy())
    if dtype == fg.float64:
        assert fg.autograd.gradcheck(fg.lgamma, (fg.tensor(a[:20], requires_grad=True),))
