"""`backward(inputs=...)`: only the named tensors' `.grad` is accumulated, leaves or not, as
PyTorch's; the other leaves (and their hooks) are left alone."""

import ferrograd as fg
import numpy as np
import pytest


def _setup():
    a = fg.tensor([1.0, 2.0, 3.0], requires_grad=True)
    b = fg.tensor([4.0, 5.0, 6.0], requires_grad=True)
    h = a * b
    return a, b, h, (h * h).sum()


def test_only_the_named_leaf_gets_a_gradient():
    a, b, _, loss = _setup()
    fired = []
    b.register_hook(lambda g: fired.append(g))
    loss.backward(inputs=[a])
    np.testing.assert_allclose(a.grad.numpy(), 2 * (a * b * b).detach().numpy())
    assert b.grad is None and fired == []


def test_accumulates_like_backward_and_takes_a_single_tensor():
    a, b, h, loss = _setup()
    loss.backward(inputs=a, retain_graph=True)
    fg.autograd.backward(loss, inputs=(a, b))
    np.testing.assert_allclose(a.grad.numpy(), 4 * (a * b * b).detach().numpy())
    np.testing.assert_allclose(b.grad.numpy(), 2 * (a * a * b).detach().numpy())


def test_a_non_leaf_input_gets_its_grad():
    a, b, h, loss = _setup()
    loss.backward(inputs=[h])
    np.testing.assert_allclose(h.grad.numpy(), 2 * h.detach().numpy())
    assert a.grad is None and b.grad is None


def test_post_accumulate_hooks_fire_for_named_leaves_only():
    a, b, _, loss = _setup()
    seen = []
    a.register_post_accumulate_grad_hook(lambda t: seen.append("a"))
    b.register_post_accumulate_grad_hook(lambda t: seen.append("b"))
    loss.backward(inputs=[b])
    assert seen == ["b"]


def test_refusals():
    a, b, _, loss = _setup()
    with pytest.raises(RuntimeError, match="cannot be empty"):
        loss.backward(inputs=[], retain_graph=True)
    with pytest.raises(RuntimeError, match="does not require grad"):
        loss.backward(inputs=[fg.ones(3)], retain_graph=True)


def test_matches_pytorch():
    torch = pytest.importorskip("torch")

    def run(lib):
        a = lib.tensor([0.5, -1.0, 2.0], dtype=lib.float64, requires_grad=True)
        w = lib.tensor([[1.0, 2.0, 0.5], [0.0, -1.0, 3.0]], dtype=lib.float64, requires_grad=True)
        h = (w @ a).tanh()
        loss = (h * h).sum() + (a * a).sum()
        loss.backward(inputs=[w, h], retain_graph=True)
        loss.backward(inputs=[a])
        return [t.grad.numpy() for t in (a, w, h)]

    for ours, theirs in zip(run(fg), run(torch)):
        np.testing.assert_allclose(ours, theirs, rtol=1e-10, atol=1e-15)
