"""fg.special: the aliases are the ops they name; ndtr, ndtri, log_ndtr, entr and xlog1py against
float64 references from Python's math module (and, where installed, against torch.special),
with gradients by float64 gradcheck."""

import math

import ferrograd as fg
import numpy as np
import pytest

S = fg.special


def _ndtr(x):
    return 0.5 * math.erfc(-x / math.sqrt(2))


def test_aliases_compute_the_ops_they_name():
    x = fg.tensor([0.1, 0.5, 2.0], dtype=fg.float64)
    for name, ref in [("expit", x.sigmoid()), ("gammaln", x.lgamma()), ("psi", x.digamma()), ("erf", x.erf()),
                      ("erfc", x.erfc()), ("expm1", x.expm1()), ("exp2", x.exp2()), ("log1p", x.log1p()),
                      ("sinc", x.sinc()), ("round", x.round())]:
        assert fg.equal(getattr(S, name)(x), ref), name
    assert fg.equal(S.logit(x / 4), (x / 4).logit())
    assert fg.allclose(S.softmax(x, 0), fg.nn.functional.softmax(x, 0))
    assert fg.allclose(S.logsumexp(x, 0), x.logsumexp(0))
    assert fg.allclose(S.multigammaln(x + 2, 2), (x + 2).mvlgamma(2))


XS = [-60.0, -38.0, -25.0, -20.5, -20.0, -19.5, -10.0, -3.0, -1.0, -1e-9, 0.0, 0.5, 2.0, 8.0, 40.0]


def test_log_ndtr_is_accurate_in_both_tails():
    # References: log(ndtr(x)) where ndtr is representable, and the series with 10 terms far out.
    got = S.log_ndtr(fg.tensor(XS, dtype=fg.float64)).tolist()
    for x, g in zip(XS, got):
        if x > -30:
            ref = math.log1p(-_ndtr(-x)) if x > 0 else math.log(_ndtr(x))
        else:
            r, term, series = 1 / (x * x), 1.0, 1.0
            for k in range(1, 10):
                term *= -(2 * k - 1) * r
                series += term
            ref = -x * x / 2 - math.log(-x) - 0.5 * math.log(2 * math.pi) + math.log(series)
        assert g == pytest.approx(ref, rel=1e-13, abs=1e-300), x


def test_log_ndtr_gradient_is_finite_everywhere_and_checks():
    x = fg.tensor(XS, dtype=fg.float64, requires_grad=True)
    S.log_ndtr(x).sum().backward()
    assert fg.isfinite(x.grad).all().item()
    for x0 in (-25.0, -20.0, -3.0, 0.0, 4.0):  # the split points included
        assert fg.autograd.gradcheck(S.log_ndtr, (fg.tensor([x0], dtype=fg.float64, requires_grad=True),))


@pytest.mark.parametrize("p", [1e-300, 1e-20, 1e-10, 1e-3, 0.04, 0.3, 0.5, 0.96, 1 - 1e-6])
def test_ndtri_is_accurate_in_the_tails(p):
    # The reference inverts math.erfc by bisection on the float64 line: no 2p - 1 rounding.
    lo, hi = -40.0, 40.0
    for _ in range(200):
        mid = (lo + hi) / 2
        if _ndtr(mid) < p:
            lo = mid
        else:
            hi = mid
    got = S.ndtri(fg.tensor([p], dtype=fg.float64)).item()
    assert got == pytest.approx(lo, rel=1e-12 if p < 0.99 else 1e-9)


def test_ndtri_edges_and_gradient():
    out = S.ndtri(fg.tensor([0.0, 1.0, -0.1, 1.1], dtype=fg.float64)).tolist()
    assert out[0] == -math.inf and out[1] == math.inf and math.isnan(out[2]) and math.isnan(out[3])
    assert fg.autograd.gradcheck(S.ndtri, (fg.tensor([0.01, 0.3, 0.9], dtype=fg.float64, requires_grad=True),))


def test_integer_inputs_and_number_arguments_compute_in_floats():
    assert S.log_ndtr(fg.tensor([0, 1])).dtype == fg.float32
    assert S.log_ndtr(fg.tensor([0, 1]))[0].item() == pytest.approx(math.log(0.5))
    assert S.xlogy(0.5, fg.tensor([1, 2])).tolist() == pytest.approx([0.0, 0.5 * math.log(2)])
    assert S.xlog1py(0.5, fg.tensor([1, 2])).tolist() == pytest.approx([0.5 * math.log(2), 0.5 * math.log(3)])


def test_xlog1py_gradient_in_x_is_log1p_y_also_at_zero():
    a = fg.tensor([0.0, 2.0], requires_grad=True)
    b = fg.tensor([1.0, 3.0], requires_grad=True)
    S.xlog1py(a, b).sum().backward()
    assert a.grad.tolist() == pytest.approx([math.log(2), math.log(4)]) and b.grad.tolist() == pytest.approx([0.0, 0.5])


def test_ndtr_and_ndtri_invert_each_other():
    p = fg.tensor([1e-6, 0.1, 0.5, 0.9, 1 - 1e-6], dtype=fg.float64)
    assert fg.allclose(S.ndtr(S.ndtri(p)), p, rtol=1e-9, atol=0)
    assert S.ndtr(fg.tensor([1.0], dtype=fg.float64)).item() == pytest.approx(_ndtr(1.0), rel=1e-15)


def test_entr_and_its_gradient_as_pytorch():
    x = fg.tensor([-1.0, 0.0, 0.5, float("nan"), 2.0], dtype=fg.float64, requires_grad=True)
    y = S.entr(x)
    assert y[0].item() == -math.inf and y[1].item() == 0 and math.isnan(y[3].item())
    assert y[2].item() == pytest.approx(-0.5 * math.log(0.5)) and y[4].item() == pytest.approx(-2 * math.log(2))
    y.sum().backward()
    g = x.grad.tolist()
    assert math.isnan(g[0]) and g[1] == math.inf and g[2] == pytest.approx(-(1 + math.log(0.5)))


def test_xlog1py_is_zero_where_x_is_zero():
    out = S.xlog1py(fg.tensor([0.0, 1.0, 0.0, 2.0]), fg.tensor([-1.0, 1.0, float("nan"), 0.5]))
    assert out[0].item() == 0 and out[1].item() == pytest.approx(math.log(2)) and math.isnan(out[2].item())
    assert out[3].item() == pytest.approx(2 * math.log1p(0.5), rel=1e-6)
    assert S.xlog1py(2.0, fg.tensor([0.5])).item() == pytest.approx(2 * math.log1p(0.5), rel=1e-6)


@pytest.mark.parametrize("name", ["log_ndtr", "ndtr", "ndtri", "entr", "expit", "erfinv"])
def test_special_matches_torch(name):
    torch = pytest.importorskip("torch")
    x = np.array([-0.99, -0.5, 0.0, 0.3, 0.999]) if name == "erfinv" else np.array(XS)
    if name == "ndtri":
        x = np.array([1e-300, 1e-20, 1e-6, 0.04, 0.5, 0.97, 1 - 1e-9])
    if name == "entr":
        x = np.abs(x)
    np.testing.assert_allclose(getattr(S, name)(fg.tensor(x)).numpy(), getattr(torch.special, name)(torch.tensor(x)).numpy(),
                               rtol=1e-13, atol=1e-300)
