"""fg.utils.checkpoint: the same outputs and gradients (inputs and parameters) as running the
function directly, dropout replayed with the same random state, tuple outputs and keyword
arguments, inputs that are not leaves, checkpoint_sequential, and no recording under no_grad."""

import ferrograd as fg
import pytest
from ferrograd.utils.checkpoint import checkpoint, checkpoint_sequential


def _net():
    fg.manual_seed(0)
    return fg.nn.Sequential(fg.nn.Linear(4, 8), fg.nn.Tanh(), fg.nn.Dropout(0.5), fg.nn.Linear(8, 2))


def _grads(net, x):
    return [p.grad.clone() for p in net.parameters()] + [x.grad.clone()]


@pytest.mark.parametrize("use_reentrant", [True, False, None])
def test_checkpoint_gives_the_direct_run_outputs_and_gradients(use_reentrant):
    net = _net()
    x = fg.randn(3, 4, dtype=fg.float32, requires_grad=True)
    fg.manual_seed(5)
    y = checkpoint(net, x, use_reentrant=use_reentrant)
    y.pow(2).sum().backward()
    got = _grads(net, x)
    net.zero_grad()
    x.grad = None
    fg.manual_seed(5)
    ref = net(x)
    ref.pow(2).sum().backward()
    assert fg.equal(y, ref)  # dropout drew the same mask, in forward and in the recomputation
    for a, b in zip(got, _grads(net, x)):
        assert fg.allclose(a, b, rtol=1e-6, atol=1e-7)


def test_parameters_get_gradients_when_no_input_requires_grad():
    net = _net().eval()
    checkpoint(net, fg.randn(2, 4), use_reentrant=True).sum().backward()
    assert all(p.grad is not None and p.grad.abs().sum().item() > 0 for p in net.parameters())


def test_inputs_inside_a_graph_tuple_outputs_and_kwargs():
    w = fg.randn(4, 4, dtype=fg.float64, requires_grad=True)
    x = fg.randn(2, 4, dtype=fg.float64, requires_grad=True)
    h = x @ w  # not a leaf

    def f(a, scale=1.0):
        return (a.sin() * scale, a.cos().sum())

    s, c = checkpoint(f, h, scale=2.0, use_reentrant=False)
    (s.sum() + c).backward()
    gx, gw = x.grad.clone(), w.grad.clone()
    x.grad = w.grad = None
    s2, c2 = f(x @ w, scale=2.0)
    (s2.sum() + c2).backward()
    assert fg.allclose(gx, x.grad) and fg.allclose(gw, w.grad)


def test_checkpoint_sequential_and_no_grad():
    net = _net().eval()
    x = fg.randn(3, 4, requires_grad=True)
    y = checkpoint_sequential(net, 2, x, use_reentrant=False)
    assert fg.allclose(y, net(x))
    y.sum().backward()
    assert x.grad is not None
    with fg.no_grad():
        assert not checkpoint(net, x).requires_grad
