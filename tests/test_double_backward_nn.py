"""Gradients of gradients through the fused nn kernels (conv, pooling, normalisation, dropout,
linear, losses): each layer's first gradient, taken with create_graph=True, is differentiated
again and compared with float64 central differences of that first gradient.

For f and random v, u: s(x, v) = <grad(<f(x), v>, x), u>. Autograd's grad(s, (x, v)) must match
the finite differences of s, which only needs first-order backward (the fused fast paths). The
gradient with respect to v checks the backward rule as a function of the incoming gradient, the
one with respect to x its dependence on the saved inputs.
"""

import ferrograd as fg
import ferrograd.nn.functional as F
import numpy as np
import pytest

RNG = np.random.default_rng(1234)


def _first_grads(f, xs, v, create_graph):
    out = f(*xs)
    gs = fg.autograd.grad((out * v).sum(), xs, create_graph=create_graph, allow_unused=True)
    return [g if g is not None else fg.zeros_like(x) for g, x in zip(gs, xs)]


def _s_value(f, arrays, v, us):
    xs = [fg.tensor(a, requires_grad=True) for a in arrays]
    gs = _first_grads(f, xs, fg.tensor(v), create_graph=False)
    return sum(float((g.detach().numpy() * u).sum()) for g, u in zip(gs, us))


def check_double_backward(f, *arrays, eps=1e-6, atol=1e-6, rtol=1e-4):
    """Checks grad(<grad(<f(x), v>, x, create_graph=True), u>, (x, v)) against central
    differences in float64, for every array of `arrays` (the inputs that require grad)."""
    arrays = [np.asarray(a, dtype=np.float64) for a in arrays]
    out_shape = f(*[fg.tensor(a) for a in arrays]).shape
    v = RNG.standard_normal(tuple(out_shape))
    us = [RNG.standard_normal(a.shape) for a in arrays]

    xs = [fg.tensor(a, requires_grad=True) for a in arrays]
    vt = fg.tensor(v, requires_grad=True)
    gs = _first_grads(f, xs, vt, create_graph=True)
    s = sum((g * fg.tensor(u)).sum() for g, u in zip(gs, us))
    second = fg.autograd.grad(s, xs + [vt], allow_unused=True)
    second = [np.zeros(t.shape) if d is None else d.numpy() for d, t in zip(second, xs + [vt])]

    def numeric(k):
        base = arrays[k] if k < len(arrays) else v
        d = np.zeros(base.shape)
        for i in np.ndindex(base.shape):
            vals = []
            for sign in (1.0, -1.0):
                p = base.copy()
                p[i] += sign * eps
                if k < len(arrays):
                    vals.append(_s_value(f, arrays[:k] + [p] + arrays[k + 1:], v, us))
                else:
                    vals.append(_s_value(f, arrays, p, us))
            d[i] = (vals[0] - vals[1]) / (2 * eps)
        return d

    for k in range(len(arrays) + 1):
        want = numeric(k)
        name = f"input {k}" if k < len(arrays) else "grad_output"
        np.testing.assert_allclose(second[k], want, atol=atol, rtol=rtol, err_msg=f"second derivative w.r.t. {name}")


def rand(*shape, low=-1.0, high=1.0):
    return RNG.uniform(low, high, size=shape)


# ---- convolution ---------------------------------------------------------------------------


@pytest.mark.parametrize("kw", [{}, {"stride": 2, "padding": 1}, {"dilation": 2, "padding": 2}])
def test_conv2d_double_backward_in_input_weight_and_bias(kw):
    check_double_backward(lambda x, w, b: F.conv2d(x, w, b, **kw), rand(2, 2, 5, 5), rand(3, 2, 3, 3), rand(3))


def test_conv2d_grouped_and_pointwise_double_backward():
    check_double_backward(lambda x, w: F.conv2d(x, w, groups=2), rand(1, 4, 4, 4), rand(4, 2, 2, 2))
    check_double_backward(lambda x, w: F.conv2d(x, w), rand(2, 3, 3, 3), rand(2, 3, 1, 1))


def test_conv2d_same_padding_with_an_even_kernel_double_backward():
    # PyTorch pads one more after than before here: the asymmetric padding path.
    check_double_backward(lambda x, w: F.conv2d(x, w, padding="same"), rand(1, 2, 4, 5), rand(2, 2, 2, 2))


def test_conv1d_double_backward():
    check_double_backward(lambda x, w, b: F.conv1d(x, w, b, stride=2, padding=1), rand(2, 2, 7), rand(3, 2, 3), rand(3))


def test_conv3d_double_backward():
    check_double_backward(lambda x, w: F.conv3d(x, w, padding=1), rand(1, 2, 3, 3, 3), rand(2, 2, 2, 2, 2))


def test_conv_transpose2d_double_backward():
    check_double_backward(
        lambda x, w, b: F.conv_transpose2d(x, w, b, stride=2, padding=1, output_padding=1), rand(2, 3, 3, 3), rand(3, 2, 3, 3), rand(2)
    )


def test_conv_applied_to_its_own_gradient_is_differentiable_to_third_order():
    x = fg.tensor(rand(1, 1, 4, 4), requires_grad=True)
    w = fg.tensor(rand(1, 1, 2, 2), requires_grad=True)
    y = (F.conv2d(x, w) ** 2).sum()
    (gx,) = fg.autograd.grad(y, x, create_graph=True)
    (gw,) = fg.autograd.grad((gx**2).sum(), w, create_graph=True)
    (gx3,) = fg.autograd.grad(gw.sum(), x)
    assert gx3.shape == x.shape and np.isfinite(gx3.numpy()).all()


def test_unfold_and_fold_double_backward():
    check_double_backward(lambda x: F.unfold(x * x, 2, padding=1, stride=2), rand(1, 2, 4, 4))
    check_double_backward(lambda x: F.fold(x * x, (4, 5), 2, padding=1), rand(1, 8, 30))


# ---- pooling -------------------------------------------------------------------------------


def distinct(*shape):
    """Values far enough apart that a small step never changes an argmax."""
    return RNG.permutation(np.arange(np.prod(shape))).reshape(shape) * 0.1 - 1.0


def test_max_pool2d_double_backward():
    check_double_backward(lambda x: F.max_pool2d(x * x, 2), distinct(2, 2, 4, 4))
    check_double_backward(lambda x: F.max_pool2d(x.sin(), 3, stride=2, padding=1), distinct(1, 2, 5, 5))


def test_max_pool1d_and_adaptive_max_pool2d_double_backward():
    check_double_backward(lambda x: F.max_pool1d(x * x, 2), distinct(2, 2, 6))
    check_double_backward(lambda x: F.adaptive_max_pool2d(x.sin(), (2, 3)), distinct(1, 2, 5, 6))


@pytest.mark.parametrize("count_include_pad", [True, False])
def test_avg_pool2d_with_padding_double_backward(count_include_pad):
    check_double_backward(lambda x: F.avg_pool2d(x * x, 3, stride=2, padding=1, count_include_pad=count_include_pad), rand(2, 2, 5, 5))


def test_adaptive_avg_pools_double_backward():
    check_double_backward(lambda x: F.adaptive_avg_pool2d(x.sin(), (2, 3)), rand(1, 2, 5, 7))
    check_double_backward(lambda x: F.adaptive_avg_pool1d(x * x, 3), rand(2, 2, 7))
    check_double_backward(lambda x: F.avg_pool3d(x * x, 2), rand(1, 1, 4, 4, 4))


def test_max_unpool2d_double_backward():
    _, idx = F.max_pool2d(fg.tensor(distinct(1, 2, 4, 4)), 2, return_indices=True)
    check_double_backward(lambda x: F.max_unpool2d(x * x, idx, 2), rand(1, 2, 2, 2))


# ---- normalisation, dropout, linear ---------------------------------------------------------


def test_batch_norm_training_double_backward():
    check_double_backward(lambda x, w, b: F.batch_norm(x, None, None, w, b, training=True), rand(3, 2, 2, 2), rand(2), rand(2))
    check_double_backward(lambda x: F.batch_norm(x, None, None, training=True, eps=1e-3), rand(4, 3))


def test_batch_norm_eval_double_backward():
    rm, rv = fg.tensor(rand(2)), fg.tensor(rand(2, low=0.5, high=2.0))
    check_double_backward(lambda x, w, b: F.batch_norm(x * x, rm, rv, w, b, training=False), rand(3, 2, 2, 2), rand(2), rand(2))


def test_layer_norm_double_backward():
    check_double_backward(lambda x, w, b: F.layer_norm(x, (2, 3), w, b), rand(2, 2, 3), rand(2, 3), rand(2, 3))
    check_double_backward(lambda x: F.layer_norm(x, (4,)), rand(3, 4))


def test_group_norm_and_instance_norm_double_backward():
    check_double_backward(lambda x, w, b: F.group_norm(x, 2, w, b), rand(2, 4, 3), rand(4), rand(4))
    check_double_backward(lambda x: F.instance_norm(x), rand(2, 2, 3, 2))


def test_dropout_double_backward_uses_the_same_mask():
    def f(x):
        fg.manual_seed(7)
        return F.dropout(x * x, 0.4, training=True)

    check_double_backward(f, rand(4, 5))

    def f2(x):
        fg.manual_seed(7)
        return F.dropout2d(x.sin(), 0.5, training=True)

    check_double_backward(f2, rand(2, 4, 3, 3))


def test_linear_double_backward():
    check_double_backward(lambda x, w, b: F.linear(x, w, b), rand(2, 3, 4), rand(5, 4), rand(5))
    check_double_backward(lambda x, w: F.linear(x.sin(), w * w), rand(3, 4), rand(2, 4))


# ---- losses --------------------------------------------------------------------------------


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_cross_entropy_double_backward(reduction):
    t = fg.tensor(np.array([0, 2, 1, 2]))
    check_double_backward(lambda x: F.cross_entropy(x, t, reduction=reduction), rand(4, 3))


def test_cross_entropy_with_weight_ignore_index_and_label_smoothing_double_backward():
    w = fg.tensor(rand(3, low=0.5, high=2.0))
    t = fg.tensor(np.array([0, 2, -100, 1, 2]))
    check_double_backward(lambda x: F.cross_entropy(x, t, weight=w, label_smoothing=0.2), rand(5, 3))
    t3 = fg.tensor(np.array([0, 2, 1, 1, 2]))
    check_double_backward(lambda x: F.cross_entropy(x, t3, weight=w, ignore_index=2, reduction="none"), rand(5, 3))
    t2 = fg.tensor(np.array([[0, 1], [2, 2]]))
    check_double_backward(lambda x: F.cross_entropy(x, t2, label_smoothing=0.1), rand(2, 3, 2))
    check_double_backward(lambda x: F.cross_entropy(x, fg.tensor(np.array(1))), rand(3))


def test_nll_loss_double_backward():
    w = fg.tensor(rand(3, low=0.5, high=2.0))
    t = fg.tensor(np.array([0, 2, 1, 1]))
    check_double_backward(lambda x: F.nll_loss(F.log_softmax(x, 1), t, weight=w), rand(4, 3))
    check_double_backward(lambda x: F.nll_loss(x * x, t, reduction="none", ignore_index=1), rand(4, 3))


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_mse_loss_double_backward_in_input_and_target(reduction):
    check_double_backward(lambda x, y: F.mse_loss(x * x, y, reduction=reduction), rand(3, 4), rand(3, 4))


def test_binary_cross_entropy_double_backward():
    w = fg.tensor(rand(3, 4, low=0.5, high=2.0))
    check_double_backward(lambda x, y: F.binary_cross_entropy(x, y, weight=w), rand(3, 4, low=0.1, high=0.9), rand(3, 4, low=0.0, high=1.0))


def test_binary_cross_entropy_with_logits_double_backward():
    pw = fg.tensor(rand(4, low=0.5, high=2.0))
    check_double_backward(lambda x, y: F.binary_cross_entropy_with_logits(x, y), rand(3, 4, low=-3, high=3), rand(3, 4, low=0.0, high=1.0))
    check_double_backward(
        lambda x, y: F.binary_cross_entropy_with_logits(x, y, pos_weight=pw, reduction="sum"), rand(3, 4, low=-3, high=3), rand(3, 4, low=0.0, high=1.0)
    )


def test_smooth_l1_loss_double_backward():
    check_double_backward(lambda x, y: F.smooth_l1_loss(x * x, y, beta=0.5), rand(3, 4), rand(3, 4))


def test_huber_loss_double_backward():
    # The fused op (HuberLossBackward0), with and without a weight, which gets a gradient too.
    check_double_backward(lambda x, y: F.huber_loss(x * x, y, delta=0.5), rand(3, 4), rand(3, 4))
    check_double_backward(lambda x, w: F.huber_loss(x * x, fg.ones(3, 4, dtype=fg.float64), "sum", 0.3, w * w), rand(3, 4), rand(3, 4))


# ---- a small CNN against PyTorch ----------------------------------------------------------


def _cnn(Fm, x, params, target):
    w1, b1, g1, be1, w2, b2 = params
    h = Fm.conv2d(x, w1, b1, padding=1)
    h = Fm.batch_norm(h, None, None, g1, be1, training=True)
    h = Fm.max_pool2d(Fm.relu(h), 2)
    h = Fm.linear(h.reshape(h.shape[0], -1), w2, b2)
    return Fm.cross_entropy(h, target)


def test_cnn_hessian_vector_product_matches_pytorch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(5)
    shapes = [(3, 2, 3, 3), (3,), (3,), (3,), (4, 12), (4,)]
    x = rng.standard_normal((2, 2, 4, 4))
    params = [rng.standard_normal(s) * 0.5 for s in shapes]
    vs = [rng.standard_normal(s) for s in [x.shape] + shapes]
    target = np.array([1, 3])

    def hvp(lib, Fm, make, grad):
        ts = [make(a) for a in [x] + params]
        loss = _cnn(Fm, ts[0], ts[1:], lib.tensor(target))
        gs = grad(loss, ts, create_graph=True)
        dot = sum((g * lib.tensor(v)).sum() for g, v in zip(gs, vs))
        return [h.detach().numpy() for h in grad(dot, ts)], float(loss.detach())

    ours, loss = hvp(fg, F, lambda a: fg.tensor(a, requires_grad=True), fg.autograd.grad)
    theirs, tloss = hvp(torch, torch.nn.functional, lambda a: torch.tensor(a, requires_grad=True), torch.autograd.grad)
    assert loss == pytest.approx(tloss, rel=1e-12)
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-11)


def test_cnn_hessian_vector_product_in_float32_agrees_with_float64():
    rng = np.random.default_rng(6)
    shapes = [(3, 2, 3, 3), (3,), (3,), (3,), (4, 12), (4,)]
    arrays = [rng.standard_normal((2, 2, 4, 4))] + [rng.standard_normal(s) * 0.5 for s in shapes]
    vs = [rng.standard_normal(a.shape) for a in arrays]
    target = fg.tensor(np.array([0, 2]))

    def hvp(dtype):
        ts = [fg.tensor(a, dtype=dtype, requires_grad=True) for a in arrays]
        loss = _cnn(F, ts[0], ts[1:], target)
        gs = fg.autograd.grad(loss, ts, create_graph=True)
        dot = sum((g * fg.tensor(v, dtype=dtype)).sum() for g, v in zip(gs, vs))
        return [h.numpy().astype(np.float64) for h in fg.autograd.grad(dot, ts)]

    for a, b in zip(hvp(fg.float32), hvp(fg.float64)):
        np.testing.assert_allclose(a, b, rtol=2e-3, atol=2e-4)


def test_double_backward_graph_names_the_backward_of_the_backward():
    x = fg.tensor(rand(1, 1, 4, 4), requires_grad=True)
    w = fg.tensor(rand(1, 1, 2, 2), requires_grad=True)
    (gx, gw) = fg.autograd.grad(F.conv2d(x, w).sum(), (x, w), create_graph=True)
    assert gx.grad_fn.name() == "ConvolutionBackwardBackward0"
    assert gw.grad_fn.name() == "ConvolutionBackwardBackward0"
    (gp,) = fg.autograd.grad(F.avg_pool2d(x * x, 2).sum(), x, create_graph=True)
    assert gp.requires_grad


@pytest.mark.parametrize("pool", ["max", "avg", "adaptive_avg", "adaptive_max"])
def test_pooled_input_gets_a_zero_second_order_gradient_as_in_pytorch(pool):
    # The bias reaches the input gradient only through the pooling's (piecewise constant)
    # routing: PyTorch's double backward gives the pooled input zeros_like(self), so the bias
    # gets a gradient of zeros, not None.
    f = {
        "max": lambda h: F.max_pool2d(h, 2),
        "avg": lambda h: F.avg_pool2d(h, 2),
        "adaptive_avg": lambda h: F.adaptive_avg_pool2d(h, (2, 3)),  # (1, 1) is a mean in PyTorch: None there
        "adaptive_max": lambda h: F.adaptive_max_pool2d(h, 1),
    }[pool]
    x = fg.tensor(distinct(1, 1, 4, 4), requires_grad=True)
    w = fg.tensor(rand(1, 1, 1, 1), requires_grad=True)
    b = fg.tensor(rand(1), requires_grad=True)
    (gx,) = fg.autograd.grad(f(F.conv2d(x, w, b)).sum(), x, create_graph=True)
    (gb,) = fg.autograd.grad((gx * gx).sum(), b, allow_unused=True)
    assert gb is not None
    np.testing.assert_array_equal(gb.numpy(), np.zeros(1))
