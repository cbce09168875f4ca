"""nn.utils.parametrize and the weight/spectral norm parametrizations (both PyTorch forms)
against numpy: the formulas, state dict keys, removal, assignment through right_inverse, the
cache, the training/eval difference of spectral norm, and the errors. The same layers are
compared with PyTorch, gradients included, in tests/differential/test_diff_optim_more.py."""

from __future__ import annotations

import copy
import pickle
import warnings

import ferrograd as fg
import numpy as np
import pytest
from ferrograd.nn.utils import parametrizations as P
from ferrograd.nn.utils import parametrize


def _linear(out_f=4, in_f=3, seed=0):
    rng = np.random.default_rng(seed)
    m = fg.nn.Linear(in_f, out_f).double()
    with fg.no_grad():
        m.weight.copy_(fg.tensor(rng.normal(size=(out_f, in_f))))
    return m


@pytest.mark.parametrize("dim", [0, 1, None])
def test_weight_norm_is_g_times_v_over_its_norm(dim):
    m = _linear()
    w0 = m.weight.detach().numpy().copy()
    P.weight_norm(m, dim=dim)
    assert type(m).__name__ == "ParametrizedLinear" and isinstance(m, fg.nn.Linear)
    assert list(m.state_dict()) == ["bias", "parametrizations.weight.original0", "parametrizations.weight.original1"]
    np.testing.assert_allclose(m.weight.detach().numpy(), w0, rtol=1e-12)  # registration keeps the value
    g = m.parametrizations.weight.original0
    want_g = np.linalg.norm(w0) if dim is None else np.linalg.norm(w0, axis=1 - dim, keepdims=True)
    np.testing.assert_allclose(g.detach().numpy(), want_g, rtol=1e-12)
    with fg.no_grad():
        g.mul_(2.0)
    np.testing.assert_allclose(m.weight.detach().numpy(), 2 * w0, rtol=1e-12)


def test_weight_norm_trains_g_and_v_and_removal_keeps_the_value():
    m = _linear()
    P.weight_norm(m)
    opt = fg.optim.SGD(m.parameters(), lr=0.1)
    x = fg.ones(5, 3, dtype=fg.float64)
    first = None
    for _ in range(5):
        opt.zero_grad()
        loss = m(x).pow(2).sum()
        loss.backward()
        opt.step()
        first = first if first is not None else loss.item()
    assert m(x).pow(2).sum().item() < first
    w = m.weight.detach().numpy().copy()
    parametrize.remove_parametrizations(m, "weight")
    assert type(m) is fg.nn.Linear and list(m.state_dict()) == ["bias", "weight"]
    assert isinstance(m.weight, fg.nn.Parameter)
    np.testing.assert_allclose(m.weight.detach().numpy(), w, rtol=1e-12)


def test_assigning_the_parametrized_tensor_goes_through_right_inverse():
    m = _linear()
    P.weight_norm(m)
    target = np.arange(12.0).reshape(4, 3) - 5
    m.weight = fg.tensor(target)
    np.testing.assert_allclose(m.weight.detach().numpy(), target, rtol=1e-12)
    np.testing.assert_allclose(m.parametrizations.weight.original1.detach().numpy(), target)


def test_spectral_norm_divides_by_the_largest_singular_value():
    m = _linear(5, 4, seed=3)
    w0 = m.weight.detach().numpy().copy()
    P.spectral_norm(m, n_power_iterations=30)
    assert list(m.state_dict()) == ["bias", "parametrizations.weight.original", "parametrizations.weight.0._u",
                                    "parametrizations.weight.0._v"]
    sigma = np.linalg.svd(w0, compute_uv=False)[0]
    np.testing.assert_allclose(m.weight.detach().numpy(), w0 / sigma, rtol=1e-8)
    assert np.linalg.svd(m.weight.detach().numpy(), compute_uv=False)[0] == pytest.approx(1.0, rel=1e-8)


def test_spectral_norm_iterates_in_training_and_freezes_in_eval():
    m = _linear(5, 4, seed=4)
    P.spectral_norm(m)
    sn = m.parametrizations.weight[0]
    u0 = sn._u.numpy().copy()
    _ = m.weight  # one access: one power-iteration step
    assert not np.array_equal(sn._u.numpy(), u0)
    m.eval()
    u1 = sn._u.numpy().copy()
    w_a, w_b = m.weight.detach().numpy(), m.weight.detach().numpy()
    np.testing.assert_array_equal(sn._u.numpy(), u1)
    np.testing.assert_array_equal(w_a, w_b)
    assert "frozen" in sn._mode_meaning() and "power iteration" in sn.train()._mode_meaning()


def test_spectral_norm_of_a_vector_normalises_it():
    m = fg.nn.Module()
    m.register_parameter("w", fg.nn.Parameter(fg.tensor([3.0, 4.0], dtype=fg.float64)))
    P.spectral_norm(m, "w")
    np.testing.assert_allclose(m.w.detach().numpy(), [0.6, 0.8])


def test_cached_computes_each_parametrized_tensor_once():
    calls = []

    class Double(fg.nn.Module):
        def forward(self, x):
            calls.append(1)
            return x * 2

    m = _linear()
    parametrize.register_parametrization(m, "weight", Double())
    calls.clear()
    with parametrize.cached():
        a, b = m.weight, m.weight
    assert len(calls) == 1 and a is b
    _ = m.weight
    assert len(calls) == 2


def test_custom_parametrization_checks_shape_and_dtype_unless_unsafe():
    class Flatten(fg.nn.Module):
        def forward(self, x):
            return x.reshape(-1)

    class Symmetric(fg.nn.Module):
        def forward(self, x):
            return x.triu() + x.triu(1).transpose(0, 1)

    with pytest.raises(ValueError, match="may not change the shape"):
        parametrize.register_parametrization(_linear(), "weight", Flatten())
    m = parametrize.register_parametrization(_linear(), "weight", Flatten(), unsafe=True)
    assert m.weight.shape == (12,)
    sq = fg.nn.Linear(3, 3).double()
    parametrize.register_parametrization(sq, "weight", Symmetric())
    w = sq.weight.detach().numpy()
    np.testing.assert_array_equal(w, w.T)
    assert parametrize.is_parametrized(sq) and parametrize.is_parametrized(sq, "weight")
    assert not parametrize.is_parametrized(sq, "bias")
    assert parametrize.type_before_parametrizations(sq) is fg.nn.Linear
    with pytest.raises(ValueError, match="does not have a parameter, a buffer, or a parametrized element with name 'nope'"):
        parametrize.register_parametrization(sq, "nope", Symmetric())
    with pytest.raises(ValueError, match="does not have a parametrization on bias"):
        parametrize.remove_parametrizations(sq, "bias")


def test_parametrized_modules_deepcopy_but_refuse_pickle():
    m = _linear()
    P.weight_norm(m)
    c = copy.deepcopy(m)
    with fg.no_grad():
        c.parametrizations.weight.original0.mul_(0.0)
    assert float(m.weight.abs().sum()) > 0 and float(c.weight.abs().sum()) == 0
    with pytest.raises(RuntimeError, match="only supported through state_dict"):
        pickle.dumps(m)


def test_state_dict_round_trip_between_parametrized_modules():
    a, b = _linear(seed=1), _linear(seed=2)
    P.weight_norm(a)
    P.weight_norm(b)
    b.load_state_dict(a.state_dict())
    np.testing.assert_allclose(b.weight.detach().numpy(), a.weight.detach().numpy())


def test_spectral_norm_argument_errors():
    with pytest.raises(ValueError, match="has no parameter or buffer with name 'kernel'"):
        P.spectral_norm(_linear(), "kernel")
    with pytest.raises(ValueError, match="Expected n_power_iterations to be positive"):
        P.spectral_norm(_linear(), n_power_iterations=0)
    with pytest.raises(IndexError, match="Dimension out of range"):
        P.spectral_norm(_linear(), dim=2)


# ---- the hook-based forms ---------------------------------------------------------------------------


def test_legacy_weight_norm_warns_and_uses_weight_g_and_weight_v():
    m = _linear()
    w0 = m.weight.detach().numpy().copy()
    with pytest.warns(FutureWarning, match="parametrizations.weight_norm"):
        fg.nn.utils.weight_norm(m)
    assert list(m.state_dict()) == ["bias", "weight_g", "weight_v"]
    np.testing.assert_allclose(m.weight_g.detach().numpy(), np.linalg.norm(w0, axis=1, keepdims=True), rtol=1e-12)
    with fg.no_grad():
        m.weight_g.mul_(3.0)
    y = m(fg.ones(1, 3, dtype=fg.float64))  # the pre-hook recomputes weight
    np.testing.assert_allclose(y.detach().numpy(), (3 * w0).sum(1)[None] + m.bias.detach().numpy(), rtol=1e-12)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        with pytest.raises(RuntimeError, match="Cannot register two weight_norm hooks"):
            fg.nn.utils.weight_norm(m)
    fg.nn.utils.remove_weight_norm(m)
    assert list(m.state_dict()) == ["bias", "weight"]
    np.testing.assert_allclose(m.weight.detach().numpy(), 3 * w0, rtol=1e-12)
    with pytest.raises(ValueError, match="weight_norm of 'weight' not found in"):
        fg.nn.utils.remove_weight_norm(m)


def test_legacy_spectral_norm_uses_weight_orig_and_iterates_per_training_forward():
    m = _linear(5, 4, seed=5)
    w0 = m.weight.detach().numpy().copy()
    fg.nn.utils.spectral_norm(m, n_power_iterations=40)
    assert list(m.state_dict()) == ["bias", "weight_orig", "weight_u", "weight_v"]
    x = fg.ones(1, 4, dtype=fg.float64)
    m(x)
    sigma = np.linalg.svd(w0, compute_uv=False)[0]
    np.testing.assert_allclose(m.weight.detach().numpy(), w0 / sigma, rtol=1e-8)
    m.eval()
    u = m.weight_u.numpy().copy()
    m(x)
    np.testing.assert_array_equal(m.weight_u.numpy(), u)
    with pytest.raises(RuntimeError, match="Cannot register two spectral_norm hooks"):
        fg.nn.utils.spectral_norm(m)
    fg.nn.utils.remove_spectral_norm(m)
    assert list(m.state_dict()) == ["bias", "weight"]
    with pytest.raises(ValueError, match="spectral_norm of 'weight' not found in"):
        fg.nn.utils.remove_spectral_norm(m)
