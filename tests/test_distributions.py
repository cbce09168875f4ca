"""fg.distributions against closed forms computed here in Python floats (the same formulas
PyTorch's tests use), sampling moments, gradients through rsample and log_prob (float64
gradcheck), validation errors, and, where installed, torch.distributions on the same values."""

import math

import ferrograd as fg
import numpy as np
import pytest

D = fg.distributions


def test_normal_closed_forms():
    p = D.Normal(fg.tensor([0.5, -1.0], dtype=fg.float64), fg.tensor([1.5, 0.2], dtype=fg.float64))
    x = [0.3, -0.9]
    for i, (mu, s) in enumerate([(0.5, 1.5), (-1.0, 0.2)]):
        assert p.log_prob(fg.tensor(x, dtype=fg.float64))[i].item() == pytest.approx(
            -((x[i] - mu) ** 2) / (2 * s * s) - math.log(s) - 0.5 * math.log(2 * math.pi))
        assert p.cdf(fg.tensor(x, dtype=fg.float64))[i].item() == pytest.approx(0.5 * math.erfc(-(x[i] - mu) / (s * math.sqrt(2))))
        assert p.entropy()[i].item() == pytest.approx(0.5 + 0.5 * math.log(2 * math.pi) + math.log(s))
    assert fg.allclose(p.cdf(p.icdf(fg.tensor([0.1, 0.9], dtype=fg.float64))), fg.tensor([0.1, 0.9], dtype=fg.float64))
    assert p.mean is p.loc and fg.equal(p.variance, p.scale**2) and fg.equal(p.stddev, p.scale)
    q = D.Normal(0.0, 2.0)
    kl = D.kl_divergence(D.Normal(1.0, 1.0), q).item()
    assert kl == pytest.approx(math.log(2 / 1) + (1 + 1) / (2 * 4) - 0.5, rel=1e-6)


def test_normal_sampling_shapes_moments_and_reparameterisation():
    fg.manual_seed(0)
    loc = fg.tensor([1.0, -2.0], requires_grad=True)
    scale = fg.tensor([0.5, 3.0], requires_grad=True)
    p = D.Normal(loc, scale)
    assert p.batch_shape == (2,) and p.event_shape == () and p.sample((3, 4)).shape == (3, 4, 2)
    s = p.sample((50_000,))
    assert not s.requires_grad
    assert np.allclose(s.mean(0).tolist(), [1.0, -2.0], atol=0.05) and np.allclose(s.std(0).tolist(), [0.5, 3.0], rtol=0.03)
    r = p.rsample((1000,))
    r.mean().backward()
    assert loc.grad.tolist() == pytest.approx([0.5, 0.5], rel=1e-4) and scale.grad is not None
    assert fg.autograd.gradcheck(lambda m, sd: D.Normal(m, sd).log_prob(fg.tensor([0.3, 0.1], dtype=fg.float64)),
                                 (fg.tensor([0.0, 1.0], dtype=fg.float64, requires_grad=True),
                                  fg.tensor([1.0, 2.0], dtype=fg.float64, requires_grad=True)))


def test_categorical_from_probs_or_logits():
    logits = fg.tensor([[1.0, 2.0, 3.0], [0.0, 0.0, -1.0]], dtype=fg.float64)
    c = D.Categorical(logits=logits)
    ref = np.exp(logits.numpy()) / np.exp(logits.numpy()).sum(-1, keepdims=True)
    np.testing.assert_allclose(c.probs.numpy(), ref)
    np.testing.assert_allclose(c.log_prob(fg.tensor([2, 0])).numpy(), np.log([ref[0, 2], ref[1, 0]]))
    np.testing.assert_allclose(c.entropy().numpy(), -(ref * np.log(ref)).sum(-1))
    assert c.batch_shape == (2,) and c.sample((4,)).shape == (4, 2) and c.sample().dtype == fg.int64
    c2 = D.Categorical(probs=fg.tensor([2.0, 3.0, 5.0], dtype=fg.float64))  # normalised
    assert c2.probs.tolist() == pytest.approx([0.2, 0.3, 0.5]) and c2.log_prob(fg.tensor(1)).item() == pytest.approx(math.log(0.3))
    kl = D.kl_divergence(c, c2)
    np.testing.assert_allclose(kl.numpy(), (ref * (np.log(ref) - np.log([0.2, 0.3, 0.5]))).sum(-1))
    zero = D.Categorical(probs=fg.tensor([0.0, 1.0]))
    # PyTorch's value too: logits come from probabilities clamped to [eps, 1 - eps].
    assert zero.entropy().item() == pytest.approx(0, abs=2e-7) and D.kl_divergence(D.Categorical(probs=fg.tensor([0.5, 0.5])), zero).item() == math.inf
    assert c.enumerate_support().shape == (3, 2)
    fg.manual_seed(0)
    counts = np.bincount(c2.sample((20_000,)).numpy(), minlength=3) / 20_000
    assert np.allclose(counts, [0.2, 0.3, 0.5], atol=0.015)


def test_bernoulli_and_uniform():
    b = D.Bernoulli(probs=fg.tensor([0.3, 0.9], dtype=fg.float64))
    assert b.log_prob(fg.tensor([1.0, 0.0], dtype=fg.float64)).tolist() == pytest.approx([math.log(0.3), math.log(0.1)])
    assert b.entropy().tolist() == pytest.approx([-(p * math.log(p) + (1 - p) * math.log(1 - p)) for p in (0.3, 0.9)])
    q = D.Bernoulli(logits=fg.tensor([0.0, 1.0], dtype=fg.float64))
    qp = [0.5, 1 / (1 + math.exp(-1))]
    kl = [p * math.log(p / r) + (1 - p) * math.log((1 - p) / (1 - r)) for p, r in zip((0.3, 0.9), qp)]
    assert D.kl_divergence(b, q).tolist() == pytest.approx(kl)
    assert b.sample((7,)).shape == (7, 2) and b.mean is b.probs
    u = D.Uniform(0.0, 2.0)
    assert u.log_prob(fg.tensor(0.5)).item() == pytest.approx(-math.log(2)) and u.entropy().item() == pytest.approx(math.log(2))
    assert D.Uniform(0.0, 2.0, validate_args=False).log_prob(fg.tensor(2.5)).item() == -math.inf
    s = u.sample((10_000,))
    assert 0 <= s.min().item() and s.max().item() < 2 and abs(s.mean().item() - 1) < 0.03
    assert D.kl_divergence(u, D.Uniform(-1.0, 3.0)).item() == pytest.approx(math.log(2))
    assert D.kl_divergence(D.Uniform(-1.0, 3.0), u).item() == math.inf
    # The support is closed, as PyTorch checks it: at high, log_prob is -inf and the cdf 1.
    assert u.log_prob(fg.tensor(2.0)).item() == -math.inf and u.cdf(fg.tensor(2.0)).item() == 1.0
    assert math.isnan(u.mode.item())


def test_kl_divergence_takes_the_most_specific_rule():
    class MyNormal(D.Normal):
        pass

    @D.register_kl(MyNormal, MyNormal)
    def _(p, q):
        return fg.tensor(42.0)

    assert D.kl_divergence(MyNormal(0.0, 1.0), MyNormal(0.0, 1.0)).item() == 42.0
    assert D.kl_divergence(MyNormal(0.0, 1.0), D.Normal(0.0, 1.0)).item() == 0.0


def test_arguments_and_values_are_validated():
    with pytest.raises(ValueError, match=r"Expected parameter scale .* to satisfy the constraint GreaterThan\(lower_bound=0.0\)"):
        D.Normal(fg.tensor([0.0]), fg.tensor([-1.0]))
    D.Normal(fg.tensor([0.0]), fg.tensor([-1.0]), validate_args=False)
    with pytest.raises(ValueError, match="within the support"):
        D.Categorical(logits=fg.zeros(3)).log_prob(fg.tensor(3))
    with pytest.raises(ValueError, match="within the support"):
        D.Bernoulli(probs=fg.tensor(0.5)).log_prob(fg.tensor(0.5))
    with pytest.raises(ValueError, match="but not both"):
        D.Categorical(probs=fg.ones(2), logits=fg.ones(2))
    with pytest.raises(NotImplementedError):
        D.kl_divergence(D.Normal(0.0, 1.0), D.Uniform(0.0, 1.0))


@pytest.mark.parametrize("case", ["normal", "categorical", "bernoulli", "uniform"])
def test_matches_torch_distributions(case):
    torch = pytest.importorskip("torch")
    TD = torch.distributions
    mk = {"normal": lambda L, M: (M.Normal(L.tensor([0.5, -1.0]), L.tensor([1.5, 0.2])), L.tensor([0.3, -0.9])),
          "categorical": lambda L, M: (M.Categorical(logits=L.tensor([[1.0, 2.0, 3.0], [0.0, 0.0, -1.0]])), L.tensor([2, 0])),
          "bernoulli": lambda L, M: (M.Bernoulli(probs=L.tensor([0.3, 0.9])), L.tensor([1.0, 0.0])),
          "uniform": lambda L, M: (M.Uniform(L.tensor([0.0, -1.0]), L.tensor([2.0, 1.0])), L.tensor([0.5, 0.0]))}[case]
    (ours, x), (theirs, tx) = mk(fg, D), mk(torch, TD)
    np.testing.assert_allclose(ours.log_prob(x).numpy(), theirs.log_prob(tx).numpy(), rtol=1e-6)
    np.testing.assert_allclose(ours.entropy().numpy(), theirs.entropy().numpy(), rtol=1e-6)
    np.testing.assert_allclose(D.kl_divergence(ours, ours).numpy(), TD.kl_divergence(theirs, theirs).numpy(), atol=1e-7)
    assert tuple(ours.sample((3,)).shape) == tuple(theirs.sample((3,)).shape)


def test_independent_sums_log_prob_entropy_and_kl_over_its_event_dims():
    mu, sd = fg.tensor([[0.0, 1.0], [2.0, -1.0]]), fg.tensor([[1.0, 0.5], [2.0, 1.0]])
    base = D.Normal(mu, sd)
    ind = D.Independent(base, 1)
    assert ind.batch_shape == (2,) and ind.event_shape == (2,) and ind.sample((3,)).shape == (3, 2, 2)
    x = fg.zeros(2, 2)
    assert fg.allclose(ind.log_prob(x), base.log_prob(x).sum(-1)) and fg.allclose(ind.entropy(), base.entropy().sum(-1))
    other = D.Independent(D.Normal(fg.zeros(2, 2), fg.ones(2, 2)), 1)
    assert fg.allclose(D.kl_divergence(ind, other), D.kl_divergence(base, other.base_dist).sum(-1))
    assert ind.has_rsample and ind.rsample().shape == (2, 2)
    with pytest.raises(ValueError, match="reinterpreted_batch_ndims"):
        D.Independent(base, 3)


def test_empty_samples_and_uniform_bounds_check():
    c = D.Categorical(logits=fg.zeros(2, 3))
    assert c.sample((0,)).shape == (0, 2) and c.sample((0,)).dtype == fg.int64
    with pytest.raises(ValueError, match="to be less than high"):
        D.Uniform(1.0, 0.0)
    assert D.Uniform(1.0, 0.0, validate_args=False).low.item() == 1.0
