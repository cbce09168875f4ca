"""The losses and distances of cases_nn_loss.py against PyTorch (see test_diff_nn.py)."""

from __future__ import annotations

import pytest

pytest.importorskip("torch")

from cases_nn_loss import ALL
from harness import check
from hypothesis import given
from hypothesis import strategies as st
from known_divergences import covered


@pytest.mark.parametrize("case", ALL, ids=[c.id for c in ALL])
@given(data=st.data())
def test_nn_loss_matches_torch(case, data):
    args = data.draw(case.args, label="args")
    covered(case, args, check)


# ----------------------------------------------------------------------------- documented differences
# Where ferrograd's loss differs from PyTorch's on purpose (the functions' docstrings): each test
# shows the difference and that ferrograd's side is the right one.


def _fd_grad(f, x, h=1e-6):
    import numpy as np

    g = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        e = np.zeros_like(x)
        e[i] = h
        g[i] = (f(x + e) - f(x - e)) / (2 * h)
    return g


def _ctc_grads(lib, lp, targets, in_len, tg_len, **kw):
    x = lib.tensor(lp, requires_grad=True)
    loss = lib.nn.functional.ctc_loss(x, lib.tensor(targets), in_len, tg_len, reduction="sum", **kw)
    loss.backward()
    return float(loss.detach()), x.grad.numpy()


def test_ctc_loss_gradient_for_leaf_log_probs_is_the_derivative():
    """PyTorch returns exp(log_probs) - posterior (the gradient w.r.t. logits under log_softmax);
    ferrograd the derivative w.r.t. log_probs, -posterior. They differ by exactly exp(log_probs)
    on the time steps each sample uses, and agree once chained through log_softmax."""
    import ferrograd as fg
    import numpy as np
    import torch

    rng = np.random.default_rng(3)
    x = rng.normal(size=(4, 2, 3))
    lp = x - np.log(np.exp(x).sum(-1, keepdims=True))
    targets, in_len, tg_len = np.array([[1, 2], [2, 0]]), (4, 3), (2, 1)
    f_loss, f_grad = _ctc_grads(fg, lp, targets, in_len, tg_len)
    t_loss, t_grad = _ctc_grads(torch, lp, targets, in_len, tg_len)
    np.testing.assert_allclose(f_loss, t_loss, rtol=1e-12)
    numeric = _fd_grad(lambda a: _ctc_grads(fg, a, targets, in_len, tg_len)[0], lp)
    np.testing.assert_allclose(f_grad, numeric, atol=1e-6)
    used = (np.arange(4)[:, None] < np.array(in_len)[None, :])[:, :, None]
    np.testing.assert_allclose(t_grad - f_grad, np.exp(lp) * used, atol=1e-12)


def test_ctc_loss_target_equal_to_blank_gradient_is_the_derivative():
    """PyTorch computes the loss of a target repeating the blank label, but its gradient is off."""
    import ferrograd as fg
    import numpy as np
    import torch

    rng = np.random.default_rng(4)
    x = rng.normal(size=(5, 1, 3))
    targets, in_len, tg_len = np.array([[1, 0, 0]]), (5,), (3,)  # the blank label twice in a row

    def loss(lib, a):
        t = lib.tensor(a, requires_grad=True)
        out = lib.nn.functional.ctc_loss(t.log_softmax(2), lib.tensor(targets), in_len, tg_len, reduction="sum")
        out.backward()
        return float(out.detach()), t.grad.numpy()

    (f_loss, f_grad), (t_loss, t_grad) = loss(fg, x), loss(torch, x)
    np.testing.assert_allclose(f_loss, t_loss, rtol=1e-12)
    numeric = _fd_grad(lambda a: loss(fg, a)[0], x)
    np.testing.assert_allclose(f_grad, numeric, atol=1e-6)
    assert np.abs(t_grad - numeric).max() > 1e-2  # PyTorch's is not the derivative


def test_soft_margin_loss_stays_finite_where_pytorch_overflows():
    import ferrograd as fg
    import numpy as np
    import torch

    x = np.array([-100.0, 100.0], dtype=np.float32)
    y = np.ones(2, dtype=np.float32)
    t = torch.nn.functional.soft_margin_loss(torch.tensor(x), torch.tensor(y), reduction="none").numpy()
    f = fg.nn.functional.soft_margin_loss(fg.tensor(x), fg.tensor(y), reduction="none").numpy()
    assert np.isinf(t[0])
    np.testing.assert_allclose(f, [100.0, 0.0], atol=1e-6)


@pytest.mark.parametrize("name", ["kl_div", "poisson_nll_loss", "huber_loss", "soft_margin_loss"])
def test_elementwise_losses_refuse_a_broadcast_target(name):
    import ferrograd as fg
    import numpy as np
    import torch

    x, y = np.ones((3, 4)), np.ones((3, 1))
    getattr(torch.nn.functional, name)(torch.tensor(x), torch.tensor(y))  # PyTorch broadcasts to (3, 4)
    with pytest.raises(ValueError, match=r"target shape \(3, 1\) differs from input shape \(3, 4\)"):
        getattr(fg.nn.functional, name)(fg.tensor(x), fg.tensor(y))
