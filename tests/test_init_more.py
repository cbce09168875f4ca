"""nn.init's trunc_normal_, orthogonal_, eye_, dirac_ and sparse_, and the generator argument of
every random initialiser: moments and bounds against the distributions' formulas, structure
against PyTorch's (printed by PyTorch 2.15 for the dirac_ cases)."""

import math

import ferrograd as fg
import numpy as np
import pytest

init = fg.nn.init


def test_trunc_normal_stays_in_bounds_with_the_truncated_moments():
    fg.manual_seed(0)
    w = init.trunc_normal_(fg.empty(200_000, dtype=fg.float64), mean=0.5, std=2.0, a=-1.0, b=3.0).numpy()
    assert w.min() >= -1.0 and w.max() <= 3.0
    # Truncated normal on [a, b] in standard units alpha, beta: mean mu + sigma (phi(a) - phi(b)) / Z.
    alpha, beta = (-1.0 - 0.5) / 2.0, (3.0 - 0.5) / 2.0
    phi = lambda x: math.exp(-x * x / 2) / math.sqrt(2 * math.pi)  # noqa: E731
    Phi = lambda x: (1 + math.erf(x / math.sqrt(2))) / 2  # noqa: E731
    Z = Phi(beta) - Phi(alpha)
    mean = 0.5 + 2.0 * (phi(alpha) - phi(beta)) / Z
    var = 4.0 * (1 + (alpha * phi(alpha) - beta * phi(beta)) / Z - ((phi(alpha) - phi(beta)) / Z) ** 2)
    assert abs(w.mean() - mean) < 0.01 and abs(w.var() - var) < 0.02


@pytest.mark.parametrize("shape", [(30, 50), (50, 30), (8, 3, 3, 3), (1, 5)])
def test_orthogonal_rows_or_columns_are_orthonormal_times_gain(shape):
    w = init.orthogonal_(fg.empty(*shape), gain=1.5)
    m = w.numpy().reshape(shape[0], -1).astype(np.float64)
    gram = m @ m.T if m.shape[0] <= m.shape[1] else m.T @ m
    np.testing.assert_allclose(gram, 2.25 * np.eye(gram.shape[0]), atol=2e-6)


def test_orthogonal_refuses_vectors():
    with pytest.raises(ValueError, match="2 or more dimensions"):
        init.orthogonal_(fg.empty(4))


def test_eye_and_dirac_match_pytorch():
    assert init.eye_(fg.empty(3, 5)).tolist() == np.eye(3, 5).tolist()
    w = init.dirac_(fg.empty(4, 2, 3), 2)
    assert w[:, :, 1].tolist() == [[1.0, 0.0], [0.0, 1.0], [1.0, 0.0], [0.0, 1.0]] and w.sum().item() == 4.0
    w = init.dirac_(fg.empty(6, 2, 3, 3))
    assert w[:, :, 1, 1].tolist() == [[1.0, 0.0], [0.0, 1.0]] + [[0.0, 0.0]] * 4 and w.sum().item() == 2.0
    # As a convolution, a dirac weight passes its input through.
    x = fg.randn(1, 2, 5, 5)
    assert fg.allclose(fg.nn.functional.conv2d(x, init.dirac_(fg.empty(2, 2, 3, 3)), padding=1), x)
    with pytest.raises(ValueError, match="2 dimensions"):
        init.eye_(fg.empty(2, 2, 2))
    with pytest.raises(ValueError, match="divisible by groups"):
        init.dirac_(fg.empty(3, 2, 3), 2)


def test_sparse_zeroes_the_same_count_in_every_column():
    w = init.sparse_(fg.empty(10, 40), 0.3, std=0.5)
    assert ((w == 0).sum(0) == 3).all().item()
    assert abs(w[w != 0].std().item() - 0.5) < 0.1


@pytest.mark.parametrize("fn", [init.uniform_, init.normal_, init.xavier_uniform_, init.xavier_normal_,
                                init.kaiming_uniform_, init.kaiming_normal_, init.trunc_normal_, init.orthogonal_])
def test_a_generator_makes_initialisers_repeatable_without_moving_the_global_stream(fn):
    fg.manual_seed(1)
    before = fg.get_rng_state()
    a = fn(fg.empty(4, 6), generator=fg.Generator().manual_seed(7))
    b = fn(fg.empty(4, 6), generator=fg.Generator().manual_seed(7))
    assert fg.equal(a, b) and bytes(fg.get_rng_state()) == bytes(before)
