"""Second-order graph edges of the piecewise-constant gradient rules (relu, leaky_relu, abs).

PyTorch's gradient of these under create_graph=True keeps an edge to the op's input, whose own
derivative is zero (derivatives.yaml: relu's backward is ``threshold_backward(grad, result, 0)``
with ``self: zeros_like(grad)``; leaky_relu_backward's ``self: zeros_like(grad)``; abs is
``grad * self.sgn()``). So differentiating the gradient again gives the input a zero gradient,
not None, and infinite or NaN inputs do not leak into it. clamp's rule is a where on masks of
the input: its gradient of a constant does not require grad, in PyTorch as here.

Golden values: PyTorch 2.x (CPU), made by this script (float32 and float64 agree):

    import math, torch
    F = torch.nn.functional
    fns = {"relu": torch.relu, "leaky_relu": lambda t: F.leaky_relu(t, 0.2), "abs": torch.abs,
           "clamp": lambda t: t.clamp(-0.5, 0.5)}
    for xs in (REGULAR, SPECIAL):
        for n, f in fns.items():
            x = torch.tensor(xs, dtype=torch.float64, requires_grad=True)
            g, = torch.autograd.grad(f(x).sum(), x, create_graph=True)
            if g.requires_grad:
                (g * g).sum().backward()            # x.grad: zeros (or None for clamp)
            x2 = torch.tensor(xs, dtype=torch.float64, requires_grad=True)
            h, = torch.autograd.grad((f(x2) * x2).sum(), x2, create_graph=True)
            (h * h).sum().backward()
            print(n, g.tolist(), g.requires_grad, h.tolist(), (torch.zeros(len(xs)) + x2.grad).tolist())
"""

import math

import ferrograd as fg
import numpy as np
import pytest
from ferrograd.autograd.gradcheck import gradgradcheck

F = fg.nn.functional
inf, nan = math.inf, math.nan

REGULAR = [-1.5, -0.25, 0.0, 0.5, 2.0]
SPECIAL = [inf, -inf, nan, 0.0, -0.0, 3.0]

FNS = {
    "relu": F.relu,
    "leaky_relu": lambda t: F.leaky_relu(t, 0.2),
    "abs": lambda t: t.abs(),
    "clamp": lambda t: t.clamp(-0.5, 0.5),
}

# name -> (g = d f(x).sum() / dx, g.requires_grad, h = d (f(x) * x).sum() / dx, d (h * h).sum() / dx)
GOLDEN_REGULAR = {
    "relu": ([0.0, 0.0, 0.0, 1.0, 1.0], True, [0.0, 0.0, 0.0, 1.0, 4.0], [0.0, 0.0, 0.0, 4.0, 16.0]),
    "leaky_relu": ([0.2, 0.2, 0.2, 1.0, 1.0], True, [-0.6, -0.1, 0.0, 1.0, 4.0], [-0.48, -0.08, 0.0, 4.0, 16.0]),
    "abs": ([-1.0, -1.0, 0.0, 1.0, 1.0], True, [3.0, 0.5, 0.0, 1.0, 4.0], [-12.0, -2.0, 0.0, 4.0, 16.0]),
    "clamp": ([0.0, 1.0, 1.0, 0.0, 0.0], False, [-0.5, -0.5, 0.0, 0.5, 0.5], [0.0, -2.0, 0.0, 0.0, 0.0]),
}
GOLDEN_SPECIAL_G = {
    "relu": [1.0, 0.0, 1.0, 0.0, 0.0, 1.0],
    "leaky_relu": [1.0, 0.2, 0.2, 0.2, 0.2, 1.0],
    "abs": [1.0, -1.0, 0.0, 0.0, 0.0, 1.0],
}
# relu's h at -inf is 0 in PyTorch (threshold_backward is a where, not a product with a mask).
GOLDEN_SPECIAL_RELU_H = [inf, 0.0, nan, 0.0, 0.0, 6.0]


def _rtol(dtype):
    return 1e-6 if dtype == fg.float32 else 1e-12


@pytest.mark.parametrize("dtype", [fg.float32, fg.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("name", ["relu", "leaky_relu", "abs"])
def test_gradient_keeps_a_zero_edge_to_the_input_as_pytorch(name, dtype):
    x = fg.tensor(REGULAR, dtype=dtype, requires_grad=True)
    (g,) = fg.autograd.grad(FNS[name](x).sum(), x, create_graph=True)
    g_want, requires_grad, _, _ = GOLDEN_REGULAR[name]
    np.testing.assert_allclose(g.detach().numpy(), g_want, rtol=_rtol(dtype))
    assert g.requires_grad is requires_grad
    (g * g).sum().backward()
    assert x.grad is not None
    np.testing.assert_array_equal(x.grad.numpy(), np.zeros(len(REGULAR)))


@pytest.mark.parametrize("dtype", [fg.float32, fg.float64], ids=["float32", "float64"])
def test_clamp_gradient_has_no_edge_to_the_input_as_pytorch(dtype):
    x = fg.tensor(REGULAR, dtype=dtype, requires_grad=True)
    (g,) = fg.autograd.grad(FNS["clamp"](x).sum(), x, create_graph=True)
    np.testing.assert_array_equal(g.numpy(), GOLDEN_REGULAR["clamp"][0])
    assert not g.requires_grad


@pytest.mark.parametrize("dtype", [fg.float32, fg.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("name", list(FNS))
def test_second_derivative_of_f_times_x_matches_pytorch(name, dtype):
    x = fg.tensor(REGULAR, dtype=dtype, requires_grad=True)
    (h,) = fg.autograd.grad((FNS[name](x) * x).sum(), x, create_graph=True)
    _, _, h_want, hh_want = GOLDEN_REGULAR[name]
    np.testing.assert_allclose(h.detach().numpy(), h_want, rtol=_rtol(dtype), atol=1e-7)
    (h * h).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), hh_want, rtol=_rtol(dtype), atol=1e-6)


@pytest.mark.parametrize("dtype", [fg.float32, fg.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("name", ["relu", "leaky_relu", "abs"])
def test_zero_edge_does_not_leak_inf_or_nan_inputs(name, dtype):
    x = fg.tensor(SPECIAL, dtype=dtype, requires_grad=True)
    (g,) = fg.autograd.grad(FNS[name](x).sum(), x, create_graph=True)
    np.testing.assert_allclose(g.detach().numpy(), GOLDEN_SPECIAL_G[name], rtol=_rtol(dtype))
    (g * g).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), np.zeros(len(SPECIAL)))


def test_relu_recorded_gradient_masks_an_infinite_incoming_gradient_as_pytorch():
    x = fg.tensor(SPECIAL, dtype=fg.float64, requires_grad=True)
    (h,) = fg.autograd.grad((F.relu(x) * x).sum(), x, create_graph=True)
    np.testing.assert_array_equal(h.detach().numpy(), GOLDEN_SPECIAL_RELU_H)


def test_clamp_recorded_gradient_masks_an_infinite_incoming_gradient_as_pytorch():
    # PyTorch's clamp_backward is where(inside, grad, 0); torch gives [0.5, 0.4, -0.5] here.
    x = fg.tensor([inf, 0.2, -inf], dtype=fg.float64, requires_grad=True)
    (h,) = fg.autograd.grad((x.clamp(-0.5, 0.5) * x).sum(), x, create_graph=True)
    np.testing.assert_array_equal(h.detach().numpy(), [0.5, 0.4, -0.5])


@pytest.mark.parametrize("name", list(FNS))
def test_second_derivatives_match_finite_differences(name):
    # Away from the kinks, where the finite differences are defined.
    x = fg.tensor([-1.3, -0.7, -0.2, 0.3, 0.9, 1.6], dtype=fg.float64, requires_grad=True)
    assert gradgradcheck(lambda t: FNS[name](t) * t * t, (x,), eps=1e-6, atol=1e-6, rtol=1e-4)


def test_third_order_relu_is_zero_not_none():
    x = fg.tensor(REGULAR, dtype=fg.float64, requires_grad=True)
    (g,) = fg.autograd.grad(F.relu(x).sum(), x, create_graph=True)
    (gg,) = fg.autograd.grad((g * g).sum(), x, create_graph=True)
    np.testing.assert_array_equal(gg.detach().numpy(), np.zeros(len(REGULAR)))
    gg.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), np.zeros(len(REGULAR)))


def test_matches_pytorch_directly_when_installed():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    data = rng.standard_normal(7)
    for name, fn in FNS.items():
        tfn = {"relu": torch.relu, "leaky_relu": lambda t: torch.nn.functional.leaky_relu(t, 0.2),
               "abs": torch.abs, "clamp": lambda t: t.clamp(-0.5, 0.5)}[name]
        out = []
        for lib, f in ((fg, fn), (torch, tfn)):
            x = lib.tensor(data, dtype=lib.float64, requires_grad=True)
            (g,) = lib.autograd.grad((f(x) * x * x).sum(), x, create_graph=True)
            (g * g).sum().backward()
            out.append((np.asarray(g.detach().numpy()), np.asarray((x.grad + 0).numpy())))
        np.testing.assert_allclose(out[0][0], out[1][0], rtol=1e-12, err_msg=name)
        np.testing.assert_allclose(out[0][1], out[1][1], rtol=1e-12, err_msg=name)
