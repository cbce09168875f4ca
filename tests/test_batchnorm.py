"""BatchNorm1d/2d/3d against a numpy reference written from PyTorch's documented formulas."""

import ferrograd as fg
import ferrograd.nn as nn
import ferrograd.nn.functional as F
import numpy as np
import pytest

CASES = [(nn.BatchNorm1d, (8, 3)), (nn.BatchNorm1d, (6, 3, 5)), (nn.BatchNorm2d, (4, 3, 5, 6)), (nn.BatchNorm3d, (2, 3, 4, 3, 5))]


class NumpyBatchNorm:
    """PyTorch's BatchNorm semantics, step by step (shared/reference/pytorch-semantics.md)."""

    def __init__(self, c, eps=1e-5, momentum=0.1, affine=True, track=True):
        self.eps, self.momentum, self.track = eps, momentum, track
        self.w = np.ones(c) if affine else None
        self.b = np.zeros(c) if affine else None
        self.rm, self.rv, self.n = (np.zeros(c), np.ones(c), 0) if track else (None, None, 0)

    def __call__(self, x, training):
        axes = (0,) + tuple(range(2, x.ndim))
        shape = [1, -1] + [1] * (x.ndim - 2)
        if training or not self.track:
            mean, var = x.mean(axes), x.var(axes)
            if training and self.track:
                self.n += 1
                m = 1.0 / self.n if self.momentum is None else self.momentum
                count = x.size / x.shape[1]
                self.rm = (1 - m) * self.rm + m * mean
                self.rv = (1 - m) * self.rv + m * var * count / (count - 1)
        else:
            mean, var = self.rm, self.rv
        y = (x - mean.reshape(shape)) / np.sqrt(var.reshape(shape) + self.eps)
        if self.w is not None:
            y = y * self.w.reshape(shape) + self.b.reshape(shape)
        return y


@pytest.mark.parametrize("cls,shape", CASES, ids=[f"{c.__name__}{s}" for c, s in CASES])
@pytest.mark.parametrize("momentum", [0.1, None, 0.3])
@pytest.mark.parametrize("affine,track", [(True, True), (False, True), (True, False)])
def test_running_statistics_and_outputs_over_steps_match_reference(cls, shape, momentum, affine, track):
    rng = np.random.default_rng(0)
    bn = cls(3, momentum=momentum, affine=affine, track_running_stats=track).double()
    ref = NumpyBatchNorm(3, momentum=momentum, affine=affine, track=track)
    for step in range(4):
        x = rng.normal(2.0 + step, 1.5, size=shape)
        training = step != 2  # an eval step in between must change nothing
        bn.train(training)
        y = bn(fg.tensor(x))
        np.testing.assert_allclose(y.detach().numpy(), ref(x, training), rtol=1e-10, atol=1e-10)
        if track:
            np.testing.assert_allclose(bn.running_mean.numpy(), ref.rm, rtol=1e-12)
            np.testing.assert_allclose(bn.running_var.numpy(), ref.rv, rtol=1e-12)
            assert bn.num_batches_tracked.item() == ref.n
        else:
            assert bn.running_mean is None and bn.num_batches_tracked is None
    bn.eval()
    x = rng.normal(size=shape)
    np.testing.assert_allclose(bn(fg.tensor(x)).detach().numpy(), ref(x, False), rtol=1e-10, atol=1e-10)


def test_state_dict_keys_and_initial_values():
    bn = nn.BatchNorm2d(4)
    sd = bn.state_dict()
    assert list(sd) == ["weight", "bias", "running_mean", "running_var", "num_batches_tracked"]
    assert sd["num_batches_tracked"].dtype == fg.int64 and sd["num_batches_tracked"].shape == ()
    np.testing.assert_array_equal(sd["running_var"].numpy(), np.ones(4))
    assert list(nn.BatchNorm2d(4, affine=False).state_dict()) == ["running_mean", "running_var", "num_batches_tracked"]
    assert list(nn.BatchNorm2d(4, track_running_stats=False).state_dict()) == ["weight", "bias"]
    assert not bn.running_mean.requires_grad and bn.weight.requires_grad


def test_eval_uses_running_stats_and_updates_nothing():
    bn = nn.BatchNorm1d(2)
    with fg.no_grad():
        bn.running_mean.copy_(fg.tensor([1.0, -1.0]))
        bn.running_var.copy_(fg.tensor([4.0, 0.25]))
    bn.eval()
    x = np.array([[3.0, 0.0], [5.0, 1.0]], dtype=np.float32)
    y = bn(fg.tensor(x)).detach().numpy()
    np.testing.assert_allclose(y, (x - [1.0, -1.0]) / np.sqrt(np.array([4.0, 0.25]) + 1e-5), rtol=1e-6)
    assert bn.num_batches_tracked.item() == 0
    np.testing.assert_allclose(bn.running_mean.numpy(), [1.0, -1.0])


def test_training_forward_under_no_grad_still_updates_and_counts():
    bn = nn.BatchNorm1d(3)
    with fg.no_grad():
        bn(fg.randn(10, 3) + 5)
    assert bn.num_batches_tracked.item() == 1
    assert (bn.running_mean.numpy() > 0.2).all()


def test_momentum_zero_leaves_stats_but_counts():
    bn = nn.BatchNorm1d(3, momentum=0.0)
    bn(fg.randn(10, 3) + 5)
    np.testing.assert_array_equal(bn.running_mean.numpy(), np.zeros(3))
    assert bn.num_batches_tracked.item() == 1


def test_requires_grad_false_does_not_freeze_statistics():
    bn = nn.BatchNorm1d(3).requires_grad_(False)
    bn(fg.randn(10, 3) + 5)
    assert bn.num_batches_tracked.item() == 1 and (bn.running_mean.numpy() != 0).all()


@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("shape", [(5, 3), (4, 3, 6), (2, 3, 4, 5)])
def test_gradcheck_in_both_modes(training, shape):
    rng = np.random.default_rng(1)
    x = fg.tensor(rng.normal(size=shape), requires_grad=True)
    w = fg.tensor(rng.normal(size=3), requires_grad=True)
    b = fg.tensor(rng.normal(size=3), requires_grad=True)
    rm = fg.tensor(rng.normal(size=3))
    rv = fg.tensor(rng.uniform(0.5, 2, size=3))
    # momentum 0 so the running buffers stay the same across gradcheck's many forward calls
    def fn(x, w, b):
        return F.batch_norm(x, rm, rv, w, b, training=training, momentum=0.0)

    assert fg.autograd.gradcheck(fn, (x, w, b))


def test_eval_mode_batchnorm_is_differentiable_with_the_running_scale():
    bn = nn.BatchNorm1d(2).double().eval()
    with fg.no_grad():
        bn.running_var.copy_(fg.tensor([4.0, 9.0]))
        bn.weight.copy_(fg.tensor([2.0, 3.0]))
    x = fg.tensor(np.ones((3, 2)), requires_grad=True)
    y = bn(x)
    assert y.requires_grad
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), np.tile([2 / np.sqrt(4 + 1e-5), 3 / np.sqrt(9 + 1e-5)], (3, 1)))


def test_float32_statistics_survive_a_large_offset():
    x = np.random.default_rng(2).normal(1e4, 1.0, size=(64, 2)).astype(np.float32)
    y = nn.BatchNorm1d(2)(fg.tensor(x)).detach().numpy()
    x64 = x.astype(np.float64)
    ref = (x64 - x64.mean(0)) / np.sqrt(x64.var(0) + 1e-5)
    np.testing.assert_allclose(y, ref, atol=2e-3)


def test_reset_running_stats_and_reset_parameters():
    bn = nn.BatchNorm1d(3)
    bn(fg.randn(8, 3) + 2)
    with fg.no_grad():
        bn.weight.fill_(5.0)
    bn.reset_running_stats()
    assert bn.num_batches_tracked.item() == 0 and bn.running_mean.numpy().tolist() == [0.0] * 3
    assert bn.weight.detach().numpy().tolist() == [5.0] * 3
    bn.reset_parameters()
    assert bn.weight.detach().numpy().tolist() == [1.0] * 3


def test_repr():
    assert repr(nn.BatchNorm2d(16)) == "BatchNorm2d(16, eps=1e-05, momentum=0.1, affine=True, bias=True, track_running_stats=True)"


def test_batch_of_one_in_eval_is_fine():
    bn = nn.BatchNorm1d(3).eval()
    assert bn(fg.randn(1, 3)).shape == (1, 3)


BAD = [
    (lambda: nn.BatchNorm1d(3)(fg.randn(1, 3)), ValueError, r"Expected more than 1 value per channel when training, got input size ferrograd.Size\(\[1, 3\]\)"),
    (lambda: nn.BatchNorm1d(3)(fg.randn(3)), ValueError, r"expected 2D or 3D input \(got 1D input\)"),
    (lambda: nn.BatchNorm2d(3)(fg.randn(2, 3, 4)), ValueError, r"expected 4D input \(got 3D input\)"),
    (lambda: nn.BatchNorm3d(3)(fg.randn(2, 3, 4, 4)), ValueError, r"expected 5D input \(got 4D input\)"),
    (lambda: nn.BatchNorm1d(5)(fg.randn(4, 3)), RuntimeError, r"running_mean should contain 3 elements not 5"),
    (lambda: nn.BatchNorm1d(3, momentum=1.5), ValueError, r"momentum must be in \[0, 1\]"),
    (lambda: nn.BatchNorm1d(3, eps=0), ValueError, r"eps must be a positive number"),
    (lambda: F.batch_norm(fg.randn(4, 3), fg.zeros(2), fg.ones(2)), RuntimeError, r"running_mean should contain 3 elements not 2"),
]


@pytest.mark.parametrize("call,exc,pattern", BAD)
def test_bad_input(call, exc, pattern):
    with pytest.raises(exc, match=pattern):
        call()


def test_failed_call_changes_no_state():
    bn = nn.BatchNorm1d(3)
    with pytest.raises(ValueError):
        bn(fg.randn(1, 3))
    assert bn.num_batches_tracked.item() == 0


def test_one_value_error_names_the_module_path_and_fixes():
    model = nn.Sequential(nn.Linear(4, 3), nn.Sequential(nn.ReLU(), nn.BatchNorm1d(3)))
    with pytest.raises(ValueError, match=r"module '1\.1', BatchNorm1d.*drop_last=True.*eval\(\).*GroupNorm"):
        model(fg.randn(1, 4))
    model.eval()
    assert model(fg.randn(1, 4)).shape == (1, 3)


def test_float32_input_gradient_of_a_constant_channel_keeps_its_digits():
    """A channel whose values are all equal has invstd = 1 / sqrt(eps), 316: the gradient is
    invstd * w * (dy - mean(dy)), and folding it into invstd * w * dy - invstd * w * mean(dy)
    cancelled two float32 terms near 284, leaving 1.5e-5 of relative error (PyTorch: 4e-8).
    Checked against the same module in float64."""
    x = np.array([[0.0, 1.0], [1.0, 1.0], [0.5, 1.0]], np.float32)
    w = np.array([[0.02, 0.9009273648], [-0.71, 0.8972988725], [0.3, 0.9]], np.float32)

    def grad(dtype):
        xt = fg.tensor(x.astype(dtype), requires_grad=True)
        bn = nn.BatchNorm1d(2)
        if dtype == np.float64:
            bn = bn.double()
        (bn(xt) * fg.tensor(w.astype(dtype))).sum().backward()
        return xt.grad.numpy().astype(np.float64)

    want, got = grad(np.float64), grad(np.float32)
    assert np.abs(want[:, 1]).max() > 0.01  # the constant channel's gradient is not tiny
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-6 * np.abs(want).max())
