"""Higher-order gradients and custom Functions, checked against PyTorch's numbers:

(a) a WGAN-GP gradient penalty and its gradient w.r.t. the critic's parameters,
(b) a MAML inner step (create_graph=True) and the meta-gradient,
(c) a Hessian-vector product by double backward and by fg.autograd.functional.hvp,
(d) the PyTorch tutorial's LegendrePolynomial3 custom Function, trained as in the tutorial,
(e) gradgradcheck (float64 finite differences of the first derivative) over one op per family.

Each scenario in SCENARIOS is written once for both libraries (`lib` is `torch` or `ferrograd`)
and builds its inputs from numpy's RandomState (the legacy stream, fixed across numpy
versions), so neither library's generator matters. tests/golden/make_autograd_golden.py runs the
scenarios under PyTorch and stores the results in tests/golden/autograd_golden.json:

    cd /work/main && PYTHONPATH=python /tmp/torchvenv/bin/python tests/golden/make_autograd_golden.py

With PyTorch installed the scenarios are also compared directly.
"""

from __future__ import annotations

import json
import math
import os

import ferrograd as fg
import numpy as np
import pytest
from ferrograd.autograd import functional as _functional  # noqa: F401  (fg.autograd.functional)

GOLDEN_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "golden", "autograd_golden.json")


def _lst(t):
    if t is None:  # a parameter the loss does not depend on (the critic's last bias in (a))
        return None
    return np.asarray(t.detach().numpy(), dtype=np.float64).tolist()


def _lst_or_zeros(grad, like):
    return _lst(grad) if grad is not None else np.zeros(tuple(like.shape)).tolist()


def _load_params(lib, module, rs, scale=0.5):
    """Overwrites every parameter (in named_parameters order) with scale * RandomState normals."""
    with lib.no_grad():
        for p in module.parameters():
            p.copy_(lib.tensor(rs.randn(*p.shape) * scale))


# ---- (a) WGAN-GP gradient penalty ------------------------------------------------------------------


def scenario_wgan_gp(lib) -> dict:
    nn = lib.nn
    rs = np.random.RandomState(1)
    critic = nn.Sequential(nn.Linear(4, 8), nn.LeakyReLU(0.2), nn.Linear(8, 1)).double()
    _load_params(lib, critic, rs)
    real = lib.tensor(rs.randn(6, 4))
    fake = lib.tensor(rs.randn(6, 4) + 1.0)
    alpha = lib.tensor(rs.rand(6, 1))
    interpolates = (alpha * real + (1 - alpha) * fake).requires_grad_(True)
    critic_out = critic(interpolates)
    (gradients,) = lib.autograd.grad(
        outputs=critic_out, inputs=interpolates, grad_outputs=lib.ones_like(critic_out),
        create_graph=True, retain_graph=True,
    )
    penalty = ((gradients.norm(2, dim=1) - 1) ** 2).mean()
    penalty.backward()
    # The LeakyReLU slopes are constant, so some of these gradients are zero; PyTorch stores zeros
    # where a path exists and None where none does. That distinction has its own test
    # (test_relu_family_double_backward_gives_zero_gradients_as_pytorch); here both count as zeros.
    return {
        "critic_out": _lst(critic_out),
        "input_gradients": _lst(gradients),
        "penalty": penalty.item(),
        "param_grads": [_lst_or_zeros(p.grad, p) for p in critic.parameters()],
        "interpolates_grad": _lst_or_zeros(interpolates.grad, interpolates),
    }


# ---- (b) MAML inner step -----------------------------------------------------------------------------


def scenario_maml(lib) -> dict:
    F = lib.nn.functional
    rs = np.random.RandomState(2)
    shapes = [(6, 2), (6,), (1, 6), (1,)]
    params = [lib.tensor(rs.randn(*s) * 0.7, requires_grad=True) for s in shapes]
    x_s, x_q = lib.tensor(rs.uniform(-2, 2, (5, 2))), lib.tensor(rs.uniform(-2, 2, (7, 2)))
    y_s = lib.tensor(np.sin(x_s.numpy().sum(1, keepdims=True)))
    y_q = lib.tensor(np.sin(x_q.numpy().sum(1, keepdims=True)))

    def forward(ps, x):
        w1, b1, w2, b2 = ps
        return F.linear(F.linear(x, w1, b1).tanh(), w2, b2)

    inner_lr = 0.4
    support_loss = F.mse_loss(forward(params, x_s), y_s)
    grads = lib.autograd.grad(support_loss, params, create_graph=True)
    fast = [p - inner_lr * g for p, g in zip(params, grads)]
    query_loss = F.mse_loss(forward(fast, x_q), y_q)
    query_loss.backward()
    return {
        "support_loss": support_loss.item(),
        "query_loss": query_loss.item(),
        "inner_grads": [_lst(g) for g in grads],
        "meta_grads": [_lst(p.grad) for p in params],
    }


# ---- (c) Hessian-vector product of an MLP loss ------------------------------------------------------


def _hvp_setup(lib):
    rs = np.random.RandomState(3)
    nn, F = lib.nn, lib.nn.functional
    model = nn.Sequential(nn.Linear(3, 5), nn.Tanh(), nn.Linear(5, 1)).double()
    _load_params(lib, model, rs)
    x = lib.tensor(rs.randn(8, 3))
    y = lib.tensor(rs.randn(8, 1))
    vs = [lib.tensor(rs.randn(*p.shape)) for p in model.parameters()]
    return model, F, x, y, vs


def scenario_hvp_double_backward(lib) -> dict:
    model, F, x, y, vs = _hvp_setup(lib)
    params = list(model.parameters())
    loss = F.mse_loss(model(x), y)
    grads = lib.autograd.grad(loss, params, create_graph=True)
    dot = sum((g * v).sum() for g, v in zip(grads, vs))
    hv = lib.autograd.grad(dot, params)
    return {"loss": loss.item(), "grads": [_lst(g) for g in grads], "hvp": [_lst(h) for h in hv]}


def scenario_hvp_functional(lib) -> dict:
    model, F, x, y, vs = _hvp_setup(lib)

    def loss_of(w1, b1, w2, b2):
        return F.mse_loss(F.linear(F.linear(x, w1, b1).tanh(), w2, b2), y)

    params = tuple(p.detach() for p in model.parameters())
    loss, hv = lib.autograd.functional.hvp(loss_of, params, tuple(vs))
    return {"loss": loss.item(), "hvp": [_lst(h) for h in hv]}


# ---- (d) the tutorial's LegendrePolynomial3 -----------------------------------------------------------


def scenario_legendre_polynomial3(lib) -> dict:
    """https://pytorch.org/tutorials/beginner/examples_autograd/polynomial_custom_function.html,
    as written there (float32, 2000 steps), with `torch` being `lib` and the prints recorded."""
    torch = lib

    class LegendrePolynomial3(torch.autograd.Function):
        """
        We can implement our own custom autograd Functions by subclassing
        torch.autograd.Function and implementing the forward and backward passes
        which operate on Tensors.
        """

        @staticmethod
        def forward(ctx, input):
            """
            In the forward pass we receive a Tensor containing the input and return
            a Tensor containing the output. ctx is a context object that can be used
            to stash information for backward computation. You can cache tensors for
            use in the backward pass using the ``ctx.save_for_backward`` method. Other
            objects can be stored directly as attributes on the ctx object, such as
            ``ctx.my_object = my_object``. Check out `Extending torch.autograd <https://docs.pytorch.org/docs/stable/notes/extending.html#extending-torch-autograd>`_
            for further details.
            """
            ctx.save_for_backward(input)
            return 0.5 * (5 * input ** 3 - 3 * input)

        @staticmethod
        def backward(ctx, grad_output):
            """
            In the backward pass we receive a Tensor containing the gradient of the loss
            with respect to the output, and we need to compute the gradient of the loss
            with respect to the input.
            """
            input, = ctx.saved_tensors
            return grad_output * 1.5 * (5 * input ** 2 - 1)

    dtype = torch.float
    device = torch.device("cpu")
    # device = torch.device("cuda:0")  # Uncomment this to run on GPU

    # Create Tensors to hold input and outputs.
    # By default, requires_grad=False, which indicates that we do not need to
    # compute gradients with respect to these Tensors during the backward pass.
    x = torch.linspace(-math.pi, math.pi, 2000, device=device, dtype=dtype)
    y = torch.sin(x)

    # Create random Tensors for weights. For this example, we need
    # 4 weights: y = a + b * P3(c + d * x), these weights need to be initialized
    # not too far from the correct result to ensure convergence.
    # Setting requires_grad=True indicates that we want to compute gradients with
    # respect to these Tensors during the backward pass.
    a = torch.full((), 0.0, device=device, dtype=dtype, requires_grad=True)
    b = torch.full((), -1.0, device=device, dtype=dtype, requires_grad=True)
    c = torch.full((), 0.0, device=device, dtype=dtype, requires_grad=True)
    d = torch.full((), 0.3, device=device, dtype=dtype, requires_grad=True)

    printed = []
    learning_rate = 5e-6
    for t in range(2000):
        # To apply our Function, we use Function.apply method. We alias this as 'P3'.
        P3 = LegendrePolynomial3.apply

        # Forward pass: compute predicted y using operations; we compute
        # P3 using our custom autograd operation.
        y_pred = a + b * P3(c + d * x)

        # Compute and print loss
        loss = (y_pred - y).pow(2).sum()
        if t % 100 == 99:
            printed.append((t, loss.item()))  # the tutorial: print(t, loss.item())

        # Use autograd to compute the backward pass.
        loss.backward()

        # Update weights using gradient descent
        with torch.no_grad():
            a -= learning_rate * a.grad
            b -= learning_rate * b.grad
            c -= learning_rate * c.grad
            d -= learning_rate * d.grad

            # Manually zero the gradients after updating weights
            a.grad = None
            b.grad = None
            c.grad = None
            d.grad = None

    # the tutorial: print(f'Result: y = {a.item()} + {b.item()} * P3({c.item()} + {d.item()} x)')
    return {
        "losses": [loss for _, loss in printed],
        "steps": [t for t, _ in printed],
        "result": [a.item(), b.item(), c.item(), d.item()],
    }


SCENARIOS = {
    "higher_order/wgan_gp": scenario_wgan_gp,
    "higher_order/maml": scenario_maml,
    "higher_order/hvp_double_backward": scenario_hvp_double_backward,
    "higher_order/hvp_functional": scenario_hvp_functional,
    "higher_order/legendre_polynomial3": scenario_legendre_polynomial3,
}
# float32 training over 2000 steps sums in a different order than PyTorch's kernels: relative
# agreement to 1e-4 on the losses and coefficients; float64 scenarios to 1e-10.
TOLERANCES = {"higher_order/legendre_polynomial3": 1e-4}


def _golden() -> dict:
    with open(GOLDEN_PATH) as f:
        return json.load(f)


def _assert_close(got, want, rtol, path=""):
    if isinstance(want, dict):
        assert set(got) == set(want), path
        for k in want:
            _assert_close(got[k], want[k], rtol, f"{path}.{k}")
    elif want is None:
        assert got is None, path
    elif isinstance(want, list) and any(w is None or isinstance(w, list) for w in want):
        assert len(got) == len(want), path  # nested lists (per-parameter arrays of different shapes)
        for i, (g, w) in enumerate(zip(got, want)):
            _assert_close(g, w, rtol, f"{path}[{i}]")
    else:
        np.testing.assert_allclose(np.array(got, dtype=float), np.array(want, dtype=float), rtol=rtol, atol=rtol * 1e-3, err_msg=path)


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_scenario_matches_pytorch_golden(name):
    got = SCENARIOS[name](fg)
    _assert_close(got, _golden()[name], TOLERANCES.get(name, 1e-10))


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_golden_is_what_pytorch_computes(name):
    torch = pytest.importorskip("torch")
    _assert_close(SCENARIOS[name](torch), _golden()[name], 1e-12)


@pytest.mark.parametrize("act", ["relu", "leaky_relu"])
def test_relu_family_double_backward_gives_zero_gradients_as_pytorch(act):
    """PyTorch's gradient of relu/leaky_relu under create_graph keeps an edge to the input
    (derivatives.yaml: ``leaky_relu_backward: self: zeros_like(grad)``), so differentiating it
    again gives the input a zero gradient, not None (a WGAN-GP critic's first bias shows it)."""
    F = fg.nn.functional
    fn = F.relu if act == "relu" else (lambda t: F.leaky_relu(t, 0.2))
    x = fg.tensor([-1.0, 2.0], requires_grad=True)
    (g,) = fg.autograd.grad(fn(x).sum(), x, create_graph=True)
    assert g.requires_grad
    (g * g).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [0.0, 0.0])


@pytest.mark.parametrize("op", ["floor", "ceil", "trunc", "round", "sign"])
def test_piecewise_constant_ops_give_a_constant_zero_gradient_under_create_graph(op):
    # PyTorch: the first gradient is zeros with no history; differentiating it again is the
    # "does not require grad" error, not "derivative not implemented"
    x = fg.tensor([0.3, -1.7, 2.5], dtype=fg.float64, requires_grad=True)
    (g,) = fg.autograd.grad((getattr(x, op)() * x).sum(), x, create_graph=True)
    np.testing.assert_array_equal(g.detach().numpy(), getattr(np, {"trunc": "trunc", "round": "round"}.get(op, op))(x.detach().numpy()))
    (gz,) = fg.autograd.grad(getattr(x, op)().sum(), x, create_graph=True)
    assert not gz.requires_grad and not gz.numpy().any()


def test_hvp_by_double_backward_equals_functional_hvp():
    a = scenario_hvp_double_backward(fg)
    b = scenario_hvp_functional(fg)
    _assert_close(b["hvp"], a["hvp"], 1e-12)


def test_hvp_matches_finite_differences_of_the_gradient():
    """Independent of PyTorch: H v ~ (g(p + h v) - g(p - h v)) / 2h."""
    model, F, x, y, vs = _hvp_setup(fg)
    params = list(model.parameters())

    def grad_at(shift):
        with fg.no_grad():
            for p, v in zip(params, vs):
                p.add_(v * shift)
        gs = fg.autograd.grad(F.mse_loss(model(x), y), params)
        with fg.no_grad():
            for p, v in zip(params, vs):
                p.sub_(v * shift)
        return [g.numpy() for g in gs]

    h = 1e-5
    plus, minus = grad_at(h), grad_at(-h)
    got = scenario_hvp_double_backward(fg)["hvp"]
    for g, p, m in zip(got, plus, minus):
        np.testing.assert_allclose(np.array(g), (p - m) / (2 * h), rtol=1e-6, atol=1e-8)


# ---- (e) gradgradcheck, one op per family ------------------------------------------------------------


def _arr(rs, *shape, low=-1.0, high=1.0):
    return rs.uniform(low, high, shape)


def _gg_cases():
    rs = np.random.RandomState(4)
    x34 = _arr(rs, 3, 4)
    pos34 = _arr(rs, 3, 4, low=1.0, high=2.0)
    img = _arr(rs, 1, 2, 4, 4)
    # distinct values so max pooling has no ties within a window
    pool_img = (rs.permutation(32).reshape(1, 2, 4, 4) / 7.0 - 2.0)
    bn_x = _arr(rs, 4, 3)
    return [  # name, fn(lib, F, *tensors), float64 inputs (all require grad), extra non-grad arrays
        ("unary-tanh", lambda lib, F, x: x.tanh(), [x34], []),
        ("unary-sigmoid-exp", lambda lib, F, x: x.sigmoid() * x.exp(), [x34], []),
        ("binary-div-mul", lambda lib, F, a, b: a * b / (b * b + a), [x34, pos34 + 2], []),
        ("binary-pow", lambda lib, F, a, b: a.pow(b), [pos34, x34], []),
        ("reduce-var", lambda lib, F, x: x.var(dim=1), [x34], []),
        ("reduce-norm", lambda lib, F, x: x.norm(dim=1), [x34], []),
        ("reduce-logsumexp", lambda lib, F, x: x.logsumexp(dim=0), [x34], []),
        ("matmul", lambda lib, F, a, b: (a @ b).tanh(), [x34, _arr(rs, 4, 2)], []),
        ("softmax", lambda lib, F, x: F.softmax(x, dim=1), [x34], []),
        ("log_softmax", lambda lib, F, x: F.log_softmax(x, dim=0), [x34], []),
        ("loss-mse", lambda lib, F, a, b: F.mse_loss(a.tanh(), b), [x34, _arr(rs, 3, 4)], []),
        ("loss-cross_entropy", lambda lib, F, x: F.cross_entropy(x, lib.tensor([0, 3, 1])), [x34], []),
        ("loss-bce_with_logits", lambda lib, F, x, t: F.binary_cross_entropy_with_logits(x, t), [x34, _arr(rs, 3, 4, low=0, high=1)], []),
        ("conv2d", lambda lib, F, x, w, b: F.conv2d(x, w, b, padding=1).tanh(), [img[:, :, :3, :3], _arr(rs, 2, 2, 2, 2), _arr(rs, 2)], []),
        ("max_pool2d", lambda lib, F, x: F.max_pool2d(x * x, 2), [pool_img], []),
        ("avg_pool2d", lambda lib, F, x: F.avg_pool2d(x * x, 2), [img], []),
        ("batch_norm-train", lambda lib, F, x, w, b: F.batch_norm(x, None, None, w, b, training=True), [bn_x, _arr(rs, 3), _arr(rs, 3)], []),
        ("batch_norm-eval", lambda lib, F, x, w, b, m, v: F.batch_norm(x.tanh(), m, v, w, b, training=False),
         [bn_x, _arr(rs, 3), _arr(rs, 3)], [_arr(rs, 3), _arr(rs, 3, low=0.5, high=2.0)]),
        ("layer_norm", lambda lib, F, x, w, b: F.layer_norm(x, (4,), w, b), [x34, _arr(rs, 4), _arr(rs, 4)], []),
        ("dropout-fixed-mask", lambda lib, F, x: (lib.manual_seed(0), F.dropout(x * x, 0.5, training=True))[1], [x34], []),
        ("scan-cumprod", lambda lib, F, x: x.cumprod(dim=1), [x34], []),
        ("unary-sinc-with-zero", lambda lib, F, x, z: (x * z).sinc(), [x34], [np.array([[1.0] * 4, [1.0, 0.0, 1.0, 1.0], [1.0] * 4])]),
        ("unary-logit", lambda lib, F, x: x.logit(), [_arr(rs, 3, 4, low=0.05, high=0.95)], []),
        ("unary-logit-eps", lambda lib, F, x: x.logit(eps=0.2), [_arr(rs, 3, 4, low=0.05, high=0.95)], []),
        # a zero in the line: the gradient's own rule changes there (exact, no division by it)
        ("scan-cumprod-with-zero", lambda lib, F, x, z: (x * z).cumprod(dim=0), [x34], [np.array([[1.0] * 4, [1.0, 0.0, 1.0, 1.0], [1.0] * 4])]),
        ("binary-xlogy", lambda lib, F, a, b: lib.xlogy(a, b), [x34, pos34], []),
        ("binary-xlogy-zero-x", lambda lib, F, a, b, z: lib.xlogy(a * z, b), [x34, pos34],
         [np.array([[1.0] * 4, [1.0, 0.0, 1.0, 1.0], [1.0] * 4])]),
        ("binary-logaddexp2", lambda lib, F, a, b: lib.logaddexp2(a, b), [x34, _arr(rs, 3, 4)], []),
        # second derivatives in the grid: the cubic weights' slopes must carry the grid's history
        ("grid_sample-bicubic", lambda lib, F, x, g: F.grid_sample(x, g, mode="bicubic", align_corners=False),
         [img[:, :1], _arr(rs, 1, 2, 3, 2, low=-0.9, high=0.9)], []),
        ("grid_sample-bicubic-border", lambda lib, F, x, g: F.grid_sample(x, g, mode="bicubic", padding_mode="border",
                                                                          align_corners=True),
         [img[:, :1], _arr(rs, 1, 2, 2, 2, low=-1.1, high=1.1)], []),
        ("binary-hypot", lambda lib, F, a, b: lib.hypot(a, b), [x34, pos34], []),
        ("binary-copysign", lambda lib, F, a, b: lib.copysign(a, b) * a, [x34, _arr(rs, 3, 4)], []),
        ("unary-polygamma2", lambda lib, F, x: lib.polygamma(2, x), [pos34], []),
        ("unary-digamma", lambda lib, F, x: lib.digamma(x), [pos34], []),
        ("as_strided-windows", lambda lib, F, x: (x * 1.0).reshape(-1).as_strided((4, 3), (2, 1)).sin(), [x34], []),
    ]


GG_CASES = _gg_cases()


def _gg_args(lib, case):
    name, fn, grad_arrays, other_arrays = case
    F = lib.nn.functional
    ins = [lib.tensor(a, dtype=lib.float64, requires_grad=True) for a in grad_arrays]
    others = [lib.tensor(a, dtype=lib.float64) for a in other_arrays]
    return (lambda *xs: fn(lib, F, *xs[: len(ins)], *others)), tuple(ins)


@pytest.mark.parametrize("case", [pytest.param(c, id=c[0]) for c in GG_CASES])
def test_gradgradcheck_per_op_family(case):
    fn, ins = _gg_args(fg, case)
    from ferrograd.autograd.gradcheck import gradgradcheck

    fg.manual_seed(0)  # the random grad_outputs

    assert gradgradcheck(fn, ins, eps=1e-6, atol=1e-5, rtol=1e-3)


@pytest.mark.parametrize("case", [pytest.param(c, id=c[0]) for c in GG_CASES])
def test_gradgradcheck_cases_are_well_posed_under_pytorch(case):
    """The same functions pass torch.autograd.gradgradcheck (no ties, smooth points), except where
    PyTorch's own second derivative is wrong: there it must fail, so the divergence stays known."""
    torch = pytest.importorskip("torch")
    fn, ins = _gg_args(torch, case)
    torch.manual_seed(0)
    if case[0] in TORCH_SECOND_DERIVATIVE_WRONG:
        with pytest.raises(Exception, match="Jacobian mismatch"):
            torch.autograd.gradgradcheck(fn, ins)
        return
    assert torch.autograd.gradgradcheck(fn, ins)


# PyTorch 2.15's second derivative of sinc at x == 0 is NaN (its backward divides by x there);
# the true value (and ferrograd's, from the series -pi^2 x / 3) is -pi^2 / 3.
TORCH_SECOND_DERIVATIVE_WRONG = {"unary-sinc-with-zero"}


def test_gradgradcheck_catches_a_wrong_second_derivative():
    """A function whose first derivative is right but second is not must fail: exp(x) whose
    recorded gradient comes out through a detached factor has a zero second derivative."""
    from ferrograd.autograd.gradcheck import GradcheckError, gradgradcheck

    def bad_exp(x):  # value exp(x), first derivative exp(x), second derivative 0 (should be exp(x))
        return x * x.detach().exp() - (x * x.detach().exp()).detach() + x.detach().exp()

    x = fg.tensor(np.linspace(-1, 1, 5), dtype=fg.float64, requires_grad=True)
    assert fg.autograd.gradcheck(bad_exp, (x,))
    with pytest.raises(GradcheckError):
        gradgradcheck(bad_exp, (x,))
    assert gradgradcheck(bad_exp, (x,), raise_exception=False) is False


def test_gradgradcheck_signature_matches_pytorch():
    import inspect

    from ferrograd.autograd.gradcheck import gradgradcheck

    ours = inspect.signature(gradgradcheck)
    for name in ("grad_outputs", "eps", "atol", "rtol", "gen_non_contig_grad_outputs", "raise_exception"):
        assert name in ours.parameters
    assert ours.parameters["eps"].default == 1e-6 and ours.parameters["atol"].default == 1e-5
    assert ours.parameters["rtol"].default == 1e-3 and ours.parameters["gen_non_contig_grad_outputs"].default is False
    with pytest.raises(NotImplementedError, match="check_batched_grad"):
        gradgradcheck(lambda x: x, (fg.ones(1, dtype=fg.float64, requires_grad=True),), check_batched_grad=True)


def test_gradgradcheck_takes_given_and_non_contiguous_grad_outputs():
    from ferrograd.autograd.gradcheck import gradgradcheck

    rs = np.random.RandomState(5)
    x = fg.tensor(rs.uniform(-1, 1, (3, 4)), requires_grad=True)
    given = fg.tensor(rs.uniform(-1, 1, (3, 4)), requires_grad=True)
    assert gradgradcheck(lambda t: t.tanh() * t, (x,), (given,))
    fg.manual_seed(1)
    assert gradgradcheck(lambda t: t.tanh() * t, (x,), gen_non_contig_grad_outputs=True)
    # grad_outputs that do not require grad are constants: only d(grad)/d(inputs) is checked
    assert gradgradcheck(lambda t: t.sigmoid(), (x,), (given.detach(),))
