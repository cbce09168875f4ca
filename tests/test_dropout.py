"""The Dropout family: statistics, masks, gradients, modes, reproducibility and bad input."""

import ferrograd as fg
import ferrograd.nn as nn
import ferrograd.nn.functional as F
import numpy as np
import pytest


@pytest.mark.parametrize("p", [0.1, 0.5, 0.8])
def test_dropout_zeroes_fraction_p_and_scales_the_rest(p):
    fg.manual_seed(0)
    x = fg.ones(200_000)
    y = F.dropout(x, p, training=True).numpy()
    frac = (y == 0).mean()
    assert abs(frac - p) < 4 * np.sqrt(p * (1 - p) / y.size)
    np.testing.assert_allclose(y[y != 0], 1 / (1 - p), rtol=1e-6)


def test_gradient_is_the_same_mask_over_one_minus_p():
    fg.manual_seed(1)
    x = fg.tensor(np.random.default_rng(0).normal(size=(50, 40)), requires_grad=True)
    y = F.dropout(x, 0.3, training=True)
    g = np.random.default_rng(1).normal(size=(50, 40))
    y.backward(fg.tensor(g))
    kept = y.detach().numpy() != 0
    np.testing.assert_allclose(x.grad.numpy(), np.where(kept, g / 0.7, 0.0))
    np.testing.assert_allclose(y.detach().numpy(), np.where(kept, x.detach().numpy() / 0.7, 0.0))
    assert y.grad_fn.name() == "MulBackward0"  # PyTorch on CPU (native_dropout is its CUDA path)


def test_fresh_mask_every_call_and_manual_seed_repeats():
    x = fg.ones(1000)
    fg.manual_seed(7)
    a = F.dropout(x, 0.5, training=True).numpy()
    b = F.dropout(x, 0.5, training=True).numpy()
    fg.manual_seed(7)
    c = F.dropout(x, 0.5, training=True).numpy()
    assert not np.array_equal(a, b)
    np.testing.assert_array_equal(a, c)


def test_eval_and_p_zero_return_the_input_object():
    x = fg.randn(4, 4)
    d = nn.Dropout(0.5).eval()
    assert d(x) is x
    assert nn.Dropout(0.0)(x) is x
    for m in (nn.Dropout1d(), nn.Dropout2d(), nn.Dropout3d(), nn.AlphaDropout(), nn.FeatureAlphaDropout()):
        m.eval()
        t = fg.randn(2, 3, 4, 5, 6) if isinstance(m, nn.Dropout3d) else fg.randn(2, 3, 4, 5)
        if isinstance(m, nn.Dropout1d):
            t = fg.randn(2, 3, 4)
        assert m(t) is t


def test_p_one_gives_zeros_and_zero_gradients():
    x = fg.randn(3, 4, requires_grad=True)
    y = F.dropout(x, 1.0, training=True)
    assert (y.detach().numpy() == 0).all()
    y.sum().backward()
    assert (x.grad.numpy() == 0).all()


@pytest.mark.parametrize(
    "cls,shape,spatial",
    [(nn.Dropout1d, (8, 16, 10), (2,)), (nn.Dropout1d, (16, 10), (1,)), (nn.Dropout2d, (8, 16, 5, 4), (2, 3)),
     (nn.Dropout3d, (4, 16, 3, 4, 2), (2, 3, 4)), (nn.Dropout3d, (16, 3, 4, 2), (1, 2, 3))],
)
def test_channel_dropout_zeroes_whole_channels(cls, shape, spatial):
    fg.manual_seed(3)
    y = cls(0.5)(fg.ones(*shape)).numpy()
    per_channel = y.reshape(y.shape[: len(shape) - len(spatial)] + (-1,))
    assert ((per_channel == 0).all(-1) | (per_channel == 2.0).all(-1)).all()
    frac = (per_channel[..., 0] == 0).mean()
    assert 0.2 < frac < 0.8


def test_dropout2d_rejects_3d_input_and_names_the_fix():
    with pytest.raises(ValueError, match=r"expected a 4-D input \(N, C, H, W\).*Dropout1d.*unsqueeze\(0\).*#69801"):
        nn.Dropout2d()(fg.randn(2, 3, 4))


def test_functional_dropout_requires_training_explicitly():
    with pytest.raises(TypeError, match=r"training.*#26338"):
        F.dropout(fg.randn(3), 0.5)
    x = fg.randn(3)
    assert F.dropout(x, 0.5, training=False) is x
    assert F.dropout(x, 0.5, False) is x  # positional, as ported PyTorch code writes it


@pytest.mark.parametrize("p", [-0.1, 1.5])
def test_p_outside_unit_interval_is_value_error(p):
    with pytest.raises(ValueError, match=f"dropout probability has to be between 0 and 1, but got {p}"):
        nn.Dropout(p)
    with pytest.raises(ValueError, match="dropout probability has to be between 0 and 1"):
        F.dropout(fg.randn(3), p, training=True)


def test_inplace_dropout_overwrites_input_and_errors_on_leaf():
    fg.manual_seed(4)
    x = fg.ones(100)
    y = nn.Dropout(0.5, inplace=True)(x)
    assert y is x or np.array_equal(y.numpy(), x.numpy())
    assert set(np.unique(x.numpy())) <= {0.0, 2.0} and (x.numpy() == 0).any()
    leaf = fg.ones(10, requires_grad=True)
    with pytest.raises(RuntimeError, match="a leaf Variable that requires grad is being used in an in-place operation"):
        F.dropout(leaf, 0.5, training=True, inplace=True)


def test_inplace_dropout_on_non_leaf_backpropagates():
    fg.manual_seed(5)
    x = fg.ones(1000, dtype=fg.float64, requires_grad=True)
    h = x * 2
    F.dropout(h, 0.5, training=True, inplace=True)
    h.sum().backward()
    kept = h.detach().numpy() != 0
    np.testing.assert_allclose(x.grad.numpy(), np.where(kept, 4.0, 0.0))


@pytest.mark.parametrize("cls", [nn.AlphaDropout, nn.FeatureAlphaDropout])
def test_alpha_dropout_keeps_mean_and_std_of_standard_normal(cls):
    fg.manual_seed(6)
    x = fg.randn(400, 500, dtype=fg.float64) if cls is nn.AlphaDropout else fg.randn(400, 500, 1, 1, dtype=fg.float64)
    y = cls(0.3)(x).numpy()
    assert abs(y.mean()) < 0.02 and abs(y.std() - 1) < 0.02


def test_alpha_dropout_gradient_is_mask_times_a():
    fg.manual_seed(8)
    p = 0.2
    x = fg.randn(64, 64, dtype=fg.float64, requires_grad=True)
    y = F.alpha_dropout(x, p, training=True)
    y.sum().backward()
    alpha = 1.7580993408473766
    a = 1 / np.sqrt((alpha**2 * p + 1) * (1 - p))
    kept = np.isclose(y.detach().numpy(), a * x.detach().numpy() + alpha * a * p)
    np.testing.assert_allclose(x.grad.numpy(), np.where(kept, a, 0.0))
    np.testing.assert_allclose(y.detach().numpy()[~kept], alpha * a * (p - 1))


def test_repr():
    assert repr(nn.Dropout()) == "Dropout(p=0.5, inplace=False)"
    assert repr(nn.Dropout2d(0.2, inplace=True)) == "Dropout2d(p=0.2, inplace=True)"


def test_eval_does_not_disable_autograd():
    m = nn.Sequential(nn.Linear(3, 3), nn.Dropout(0.5)).eval()
    out = m(fg.randn(2, 3))
    assert out.requires_grad
    out.sum().backward()
    assert m[0].weight.grad is not None
