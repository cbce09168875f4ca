"""InstanceNorm1d/2d/3d (both modes, running stats, modes()/pins/fg.inference), RMSNorm,
LocalResponseNorm and CrossMapLRN2d: numpy references, float64 gradcheck, PyTorch's errors."""

import warnings

import ferrograd as fg
import ferrograd.nn as nn
import ferrograd.nn.functional as F
import numpy as np
import pytest
from ferrograd.nn.utils import StatsUpdateWithoutGradWarning
from norm_reference import (
    np_cross_map_lrn2d,
    np_instance_norm,
    np_instance_norm_eval,
    np_local_response_norm,
    np_rms_norm,
)

R = np.random.default_rng(0)


def T(a, **kw):
    return fg.tensor(np.asarray(a, dtype=np.float64), **kw)


# ---- InstanceNorm: defaults, repr, state_dict ----------------------------------------------------

def test_instancenorm_defaults_repr_and_state_dict_keys():
    m = nn.InstanceNorm2d(3)
    assert (m.affine, m.track_running_stats, m.momentum, m.eps) == (False, False, 0.1, 1e-5)
    assert repr(m) == "InstanceNorm2d(3, eps=1e-05, momentum=0.1, affine=False, bias=False, track_running_stats=False)"
    assert list(m.state_dict()) == [] and list(m.parameters()) == []
    t = nn.InstanceNorm1d(4, affine=True, track_running_stats=True)
    assert list(t.state_dict()) == ["weight", "bias", "running_mean", "running_var", "num_batches_tracked"]
    assert repr(t) == "InstanceNorm1d(4, eps=1e-05, momentum=0.1, affine=True, bias=True, track_running_stats=True)"


@pytest.mark.parametrize("cls,shape", [(nn.InstanceNorm1d, (3, 2, 5)), (nn.InstanceNorm2d, (2, 2, 3, 4)),
                                       (nn.InstanceNorm3d, (2, 2, 2, 3, 2))])
def test_instancenorm_untracked_uses_instance_stats_in_both_modes(cls, shape):
    x = R.normal(1.0, 2.0, shape)
    m = cls(2)
    for mode in (True, False):
        m.train(mode)
        np.testing.assert_allclose(m(T(x)).numpy(), np_instance_norm(x), atol=1e-10)
    assert m._mode_meaning() is None
    assert len(nn.Sequential(m).modes()) == 0  # mode-independent: not listed


def test_instancenorm_tracked_training_updates_running_stats_and_eval_uses_them():
    x = R.normal(0.5, 3.0, (4, 3, 6))
    m = nn.InstanceNorm1d(3, affine=True, track_running_stats=True).double()
    out = m(T(x))
    exp, rm, rv = np_instance_norm(x, running=(np.zeros(3), np.ones(3)))
    np.testing.assert_allclose(out.detach().numpy(), exp, atol=1e-10)
    np.testing.assert_allclose(m.running_mean.numpy(), rm, atol=1e-12)
    np.testing.assert_allclose(m.running_var.numpy(), rv, atol=1e-12)
    assert not m.running_mean.requires_grad and m.running_mean.grad_fn is None
    assert m.num_batches_tracked.item() == 0  # as PyTorch: InstanceNorm never counts batches
    m.eval()
    y = R.normal(size=(2, 3, 6))
    np.testing.assert_allclose(m(T(y)).detach().numpy(), np_instance_norm_eval(y, rm, rv), atol=1e-10)
    np.testing.assert_allclose(m.running_mean.numpy(), rm, atol=1e-12)  # eval updates nothing


def test_instancenorm_momentum_none_means_no_update_as_pytorch():
    m = nn.InstanceNorm1d(2, momentum=None, track_running_stats=True)
    m(fg.randn(3, 2, 5))
    assert m.running_mean.tolist() == [0.0, 0.0] and m.running_var.tolist() == [1.0, 1.0]


def test_instancenorm_modes_pin_and_inference():
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.InstanceNorm2d(2, track_running_stats=True), nn.InstanceNorm2d(2))
    entries = model.modes().entries
    assert [(e.path, e.cls, e.mode) for e in entries] == [("1", "InstanceNorm2d", "train")]
    assert "updates running stats" in entries[0].meaning
    x = fg.randn(2, 1, 5, 5)
    with fg.inference(model):
        assert not model[1].training
        before = model[1].running_mean.tolist()
        model(x)
        assert model[1].running_mean.tolist() == before
        assert "running statistics" in model.modes().entries[0].meaning
    assert model[1].training
    model[1].freeze_stats()
    model.train()
    assert not model[1].training and model.modes().entries[0].pinned == "eval"
    before = model[1].running_mean.tolist()
    model(x)
    assert model[1].running_mean.tolist() == before
    model[1].unpin_mode()
    model.train()
    model(x)
    assert model[1].running_mean.tolist() != before


def test_instancenorm_training_under_no_grad_warns_once():
    m = nn.InstanceNorm1d(2, track_running_stats=True)
    with fg.no_grad(), warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        m(fg.randn(2, 2, 4))
        m(fg.randn(2, 2, 4))
    assert [x.category for x in w] == [StatsUpdateWithoutGradWarning]


def test_instancenorm_unbatched_input():
    x = R.normal(size=(3, 7))
    m = nn.InstanceNorm1d(3, affine=True).double()
    np.testing.assert_allclose(m(T(x)).detach().numpy(), np_instance_norm(x[None])[0], atol=1e-10)
    assert m(T(x)).shape == (3, 7)


def test_instancenorm_errors_and_warnings_as_pytorch():
    with pytest.raises(ValueError, match=r"expected 2D or 3D input \(got 4D input\)"):
        nn.InstanceNorm1d(3)(fg.randn(2, 3, 4, 5))
    with pytest.raises(ValueError, match=r"expected 3D or 4D input \(got 2D input\)"):
        nn.InstanceNorm2d(3)(fg.randn(2, 3))
    with pytest.raises(ValueError, match=r"expected input's size at dim=1 to match num_features \(3\), but got: 4"):
        nn.InstanceNorm1d(3, affine=True)(fg.randn(2, 4, 5))
    with pytest.warns(UserWarning, match="does not match num_features"):
        nn.InstanceNorm1d(3)(fg.randn(2, 4, 5))
    with pytest.raises(ValueError, match="Expected more than 1 spatial element when training"):
        nn.InstanceNorm1d(3)(fg.randn(2, 3, 1))
    with pytest.raises(RuntimeError, match="Expected running_mean and running_var to be defined"):
        F.instance_norm(fg.randn(2, 3, 4), use_input_stats=False)
    # a single spatial element is fine with running statistics (eval mode)
    m = nn.InstanceNorm1d(3, track_running_stats=True).eval()
    assert m(fg.randn(2, 3, 1)).shape == (2, 3, 1)


def test_instance_norm_gradcheck_float64_affine_and_running():
    x, w, b = T(R.normal(size=(2, 3, 4)), requires_grad=True), T(R.normal(size=3), requires_grad=True), \
        T(R.normal(size=3), requires_grad=True)
    assert fg.autograd.gradcheck(lambda x, w, b: F.instance_norm(x, weight=w, bias=b), (x, w, b))
    rm, rv = T(R.normal(size=3)), T(R.uniform(0.5, 2, 3))
    assert fg.autograd.gradcheck(lambda x, w: F.instance_norm(x, rm, rv, w, None, False), (x, w))


def test_instance_norm_float32_matches_numpy():
    x = R.normal(size=(2, 4, 3, 3)).astype(np.float32)
    out = F.instance_norm(fg.tensor(x))
    assert out.dtype == fg.float32
    np.testing.assert_allclose(out.numpy(), np_instance_norm(x.astype(np.float64)), atol=1e-5)


# ---- RMSNorm ----------------------------------------------------------------------------------------

def test_rmsnorm_defaults_repr_eps_none_is_dtype_eps():
    m = nn.RMSNorm([2, 3])
    assert repr(m) == "RMSNorm((2, 3), eps=None, elementwise_affine=True)"
    assert list(m.state_dict()) == ["weight"] and m.weight.shape == (2, 3)
    assert repr(nn.RMSNorm(3, eps=1e-3, elementwise_affine=False)) == "RMSNorm((3,), eps=0.001, elementwise_affine=False)"
    x = R.normal(size=(4, 2, 3)) * 1e-5  # tiny values: eps matters
    for dt, npdt in ((fg.float32, np.float32), (fg.float64, np.float64)):
        got = nn.RMSNorm([2, 3], dtype=dt)(fg.tensor(x.astype(npdt))).detach().numpy()
        np.testing.assert_allclose(got, np_rms_norm(x.astype(npdt), 2), rtol=1e-5)


def test_rms_norm_gradcheck_and_shape_error():
    x, w = T(R.normal(size=(3, 4)), requires_grad=True), T(R.normal(size=4), requires_grad=True)
    assert fg.autograd.gradcheck(lambda x, w: F.rms_norm(x, [4], w, 1e-4), (x, w))
    with pytest.raises(RuntimeError, match=r"Given normalized_shape=\[3\], expected input with shape \[\*3\], but got "
                                           r"input of size\[2, 4\]"):
        nn.RMSNorm(3)(fg.randn(2, 4))


# ---- LocalResponseNorm / CrossMapLRN2d ------------------------------------------------------------------

@pytest.mark.parametrize("size", [1, 2, 3, 5])
def test_local_response_norm_matches_numpy_and_gradcheck(size):
    x = R.normal(size=(2, 6, 3, 2))
    m = nn.LocalResponseNorm(size, alpha=0.3, beta=0.7, k=2.0)
    np.testing.assert_allclose(m(T(x)).numpy(), np_local_response_norm(x, size, 0.3, 0.7, 2.0), atol=1e-12)
    t = T(x[:1, :, :1], requires_grad=True)
    assert fg.autograd.gradcheck(lambda t: F.local_response_norm(t, size, 0.3, 0.7, 2.0), (t,))


def test_local_response_norm_errors_repr_and_empty():
    with pytest.raises(ValueError, match=r"Expected 3D or higher dimensionality input \(got 2 dimensions\)"):
        F.local_response_norm(fg.randn(2, 4), 2)
    assert repr(nn.LocalResponseNorm(3)) == "LocalResponseNorm(3, alpha=0.0001, beta=0.75, k=1.0)"
    e = fg.zeros(0, 3, 2)
    assert F.local_response_norm(e, 3) is e


@pytest.mark.parametrize("size", [1, 2, 3, 4, 7])
def test_cross_map_lrn2d_is_pytorchs_loop(size):
    x = R.normal(size=(2, 6, 2, 3))
    m = nn.CrossMapLRN2d(size, alpha=0.5, beta=0.75, k=1.5)
    np.testing.assert_allclose(m(T(x)).numpy(), np_cross_map_lrn2d(x, size, 0.5, 0.75, 1.5), atol=1e-12)
    t = T(x[:1, :, :1, :2], requires_grad=True)
    assert fg.autograd.gradcheck(lambda t: m(t), (t,))


def test_cross_map_lrn2d_errors_and_repr():
    with pytest.raises(ValueError, match=r"CrossMapLRN2d: Expected input to be 4D, got 3D instead."):
        nn.CrossMapLRN2d(3)(fg.randn(2, 3, 4))
    assert repr(nn.CrossMapLRN2d(3)) == "CrossMapLRN2d(3, alpha=0.0001, beta=0.75, k=1)"


def test_instancenorm_one_channel_running_stats_update_once_per_forward():
    # repeat() of a one-element tensor may be a stride-0 view; the per-instance stats must not be
    # written into one shared element (that applied the momentum n times)
    x = np.array([[[1.0, 3.0]], [[5.0, 7.0]]])
    m = nn.InstanceNorm1d(1, track_running_stats=True).double()
    m(T(x))
    np.testing.assert_allclose(m.running_mean.numpy(), [0.4])
    np.testing.assert_allclose(m.running_var.numpy(), [1.1])


def test_instancenorm_float32_running_stats_with_float64_input_as_pytorch():
    m = nn.InstanceNorm1d(2, track_running_stats=True)
    out = m(fg.randn(3, 2, 4, dtype=fg.float64))
    assert out.dtype == fg.float64 and m.running_mean.dtype == fg.float32


def test_top_level_forms_with_aten_signatures():
    if not hasattr(fg, "instance_norm"):
        pytest.skip("fg does not export nn/_torch_functions_norm.py yet (requested from the lead)")
    x = R.normal(size=(2, 3, 4))
    np.testing.assert_allclose(fg.instance_norm(T(x), None, None, None, None, True, 0.1, 1e-5, False).numpy(),
                               np_instance_norm(x), atol=1e-12)
    np.testing.assert_allclose(fg.rms_norm(T(x), [4]).numpy(), np_rms_norm(x, 1), atol=1e-12)
    assert fg.layer_norm(T(x), [4]).shape == (2, 3, 4) and fg.group_norm(T(x), 3).shape == (2, 3, 4)
    w = T(R.normal(size=(5, 2)))
    assert fg.embedding(w, fg.tensor([0, 4])).tolist() == w[fg.tensor([0, 4])].tolist()


def test_aten_forms_match_the_module_file():
    from ferrograd.nn import _torch_functions_norm as A

    x = R.normal(size=(2, 3, 4))
    np.testing.assert_allclose(A.instance_norm(T(x), None, None, None, None, True, 0.1, 1e-5, False).numpy(),
                               np_instance_norm(x), atol=1e-12)
    rm, rv = T(np.zeros(3)), T(np.ones(3))
    out = A.batch_norm(T(x), None, None, rm, rv, True, 0.1, 1e-5, False)
    assert out.shape == (2, 3, 4) and rm.abs().sum().item() > 0
    np.testing.assert_allclose(A.bilinear(T(np.ones((1, 2))), T(np.ones((1, 3))), T(np.ones((4, 2, 3)))).numpy(),
                               np.full((1, 4), 6.0))
    w = T(R.normal(size=(5, 2)))
    assert A.embedding(w, fg.tensor([1, 1])).tolist() == [w[1].tolist()] * 2


def test_instancenorm_mode_context_restores_and_uses_running_stats():
    m = nn.Sequential(nn.InstanceNorm1d(2, track_running_stats=True))
    x = fg.randn(3, 2, 5)
    m(x)
    stats = m[0].running_mean.tolist()
    with m.mode("eval"):
        y = m(x)
        assert m[0].running_mean.tolist() == stats
        exp = np_instance_norm_eval(x.numpy().astype(np.float64), np.array(stats),
                                    m[0].running_var.numpy().astype(np.float64))
        np.testing.assert_allclose(y.numpy(), exp, rtol=1e-4, atol=1e-5)
    assert m[0].training
