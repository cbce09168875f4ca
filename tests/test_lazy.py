"""Lazy modules: placeholders before the first forward, materialisation from the first input (or a
state_dict), PyTorch's initialisation and errors, and an optimizer built before the first forward
updating the materialised parameters; LazyBatchNorm/LazyInstanceNorm keep the mode standard."""

import copy
import pickle

import ferrograd as fg
import ferrograd.nn as nn
import numpy as np
import pytest
from ferrograd.nn.parameter import UninitializedBuffer, UninitializedParameter


def test_placeholders_before_the_first_forward():
    m = nn.LazyLinear(3)
    assert repr(m) == "LazyLinear(in_features=0, out_features=3, bias=True)"
    assert m.has_uninitialized_params()
    assert isinstance(m.weight, UninitializedParameter) and isinstance(m.weight, nn.Parameter)
    assert m.weight.requires_grad and m.weight.dtype == fg.float32
    sd = m.state_dict()
    assert list(sd) == ["weight", "bias"] and repr(sd["weight"]) == "<UninitializedParameter>"
    assert len(list(m.parameters())) == 2


@pytest.mark.parametrize("use", [lambda p: p.numel(), lambda p: p.dim(), lambda p: p + 1, lambda p: p.sum(),
                                 lambda p: p.tolist()])
def test_using_an_uninitialized_parameter_raises(use):
    with pytest.raises(ValueError, match="Attempted to use an uninitialized parameter"):
        use(nn.LazyLinear(3).weight)


def test_shape_of_an_uninitialized_parameter_raises():
    with pytest.raises(RuntimeError, match="Can't access the shape of an uninitialized parameter or buffer"):
        nn.LazyLinear(3).weight.shape  # noqa: B018


def test_lazylinear_materialises_at_first_forward_with_pytorchs_init():
    fg.manual_seed(0)
    m = nn.LazyLinear(4, dtype=fg.float64)
    y = m(fg.randn(5, 7, dtype=fg.float64))
    assert type(m) is nn.Linear and repr(m) == "Linear(in_features=7, out_features=4, bias=True)"
    assert type(m.weight) is nn.Parameter and m.weight.shape == (4, 7) and m.weight.dtype == fg.float64
    assert y.shape == (5, 4) and not m.has_uninitialized_params() if hasattr(m, "has_uninitialized_params") else True
    bound = 1 / np.sqrt(7)
    w = m.weight.detach().numpy()
    assert np.abs(w).max() <= bound and np.abs(w).max() > bound / 2  # kaiming_uniform(a=sqrt(5)): U(-1/sqrt(in), ..)
    assert np.abs(m.bias.detach().numpy()).max() <= bound
    assert m._forward_pre_hooks == {}  # the materialising hook is gone


def _optimizer_before_forward(make_opt):
    fg.manual_seed(0)
    model = nn.Sequential(nn.LazyLinear(8), nn.ReLU(), nn.LazyLinear(1))
    opt = make_opt(model.parameters())
    x = fg.randn(16, 3)
    y = x @ fg.tensor([[1.0], [-2.0], [0.5]])
    losses = []
    for _ in range(30):
        opt.zero_grad()
        loss = ((model(x) - y) ** 2).mean()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    params = [p for g in opt.param_groups for p in g["params"]]
    assert all(p is q for p, q in zip(params, model.parameters()))
    assert [tuple(p.shape) for p in params] == [(8, 3), (8,), (1, 8), (1,)]
    return losses


@pytest.mark.parametrize("make_opt", [lambda ps: fg.optim.SGD(ps, lr=0.1), lambda ps: fg.optim.Adam(ps, lr=0.05)])
def test_optimizer_built_before_the_first_forward_trains_the_materialised_parameters(make_opt):
    losses = _optimizer_before_forward(make_opt)
    assert losses[-1] < 0.5 * losses[0]


def test_lazyconv2d():
    m = nn.LazyConv2d(4, 3, padding=1, bias=False)
    assert repr(m) == "LazyConv2d(0, 4, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1), bias=False)"
    assert m.bias is None
    y = m(fg.randn(2, 6, 5, 5))
    assert type(m) is nn.Conv2d and m.in_channels == 6 and m.weight.shape == (4, 6, 3, 3) and y.shape == (2, 4, 5, 5)
    g = nn.LazyConv2d(4, 1, groups=2)
    g(fg.randn(6, 4, 4))  # unbatched (C, H, W)
    assert g.weight.shape == (4, 3, 1, 1) and g.in_channels == 6
    with pytest.raises(ValueError, match="in_channels must be divisible by groups"):
        nn.LazyConv2d(4, 1, groups=2)(fg.randn(1, 3, 4, 4))


def test_lazy_batchnorm_materialises_buffers_and_keeps_the_mode_standard():
    m = nn.LazyBatchNorm2d()
    assert repr(m) == "LazyBatchNorm2d(0, eps=1e-05, momentum=0.1, affine=True, bias=True, track_running_stats=True)"
    assert isinstance(m.running_mean, UninitializedBuffer)
    assert [k for k in m.state_dict()] == ["weight", "bias", "running_mean", "running_var", "num_batches_tracked"]
    entries = nn.Sequential(m).modes().entries
    assert [(e.cls, e.mode) for e in entries] == [("LazyBatchNorm2d", "train")]
    x = fg.randn(4, 3, 2, 2) * 2 + 1
    m(x)
    assert type(m) is nn.BatchNorm2d and m.num_features == 3 and m.num_batches_tracked.item() == 1
    mean = x.numpy().mean(axis=(0, 2, 3))
    np.testing.assert_allclose(m.running_mean.numpy(), 0.1 * mean, rtol=1e-5)
    assert m.weight.tolist() == [1.0] * 3 and m.bias.tolist() == [0.0] * 3
    with fg.inference(m):
        before = m.running_mean.tolist()
        m(x)
        assert m.running_mean.tolist() == before
    assert m.training


@pytest.mark.filterwarnings("ignore::ferrograd.nn.utils.mode_warnings.UntrackedStatsWarning")
def test_lazy_batchnorm_first_forward_in_eval_under_inference_gives_trainable_params():
    m = nn.Sequential(nn.LazyLinear(2), nn.LazyBatchNorm1d())
    with fg.inference(m):
        m(fg.randn(4, 3))
    assert m[0].weight.requires_grad
    m(fg.randn(4, 3)).sum().backward()  # the materialised tensors are not inference tensors
    assert m[0].weight.grad is not None


@pytest.mark.parametrize("cls,target,shape", [(nn.LazyInstanceNorm1d, nn.InstanceNorm1d, (2, 3, 5)),
                                              (nn.LazyInstanceNorm2d, nn.InstanceNorm2d, (2, 3, 4, 4)),
                                              (nn.LazyInstanceNorm3d, nn.InstanceNorm3d, (3, 2, 2, 2))])
def test_lazy_instancenorm_pytorch_defaults_and_unbatched_channel_dim(cls, target, shape):
    m = cls()
    assert m.affine and m.track_running_stats  # PyTorch's lazy defaults differ from InstanceNorm's
    m(fg.randn(*shape))
    assert type(m) is target
    assert m.num_features == shape[1 if len(shape) == target._no_batch_dim + 1 else 0]
    assert m.running_mean.shape == (m.num_features,)


def test_load_state_dict_into_a_lazy_module_materialises_it():
    src = nn.Linear(5, 2)
    m = nn.LazyLinear(2)
    m.load_state_dict(src.state_dict())
    assert m.weight.shape == (2, 5) and m.in_features == 5
    np.testing.assert_array_equal(m.weight.detach().numpy(), src.weight.detach().numpy())
    x = fg.randn(3, 5)
    np.testing.assert_allclose(m(x).detach().numpy(), src(x).detach().numpy())
    assert type(m) is nn.Linear
    bn = nn.LazyBatchNorm1d()
    ref = nn.BatchNorm1d(4)
    ref(fg.randn(8, 4))
    bn.load_state_dict(ref.state_dict())
    assert bn.num_features == 4 and bn.running_var.tolist() == ref.running_var.tolist()


def test_uninitialized_module_state_dict_into_a_real_one_raises():
    with pytest.raises(RuntimeError, match="Can't access the shape"):
        nn.Linear(2, 3).load_state_dict(nn.LazyLinear(3).state_dict())


def test_copy_and_pickle_of_uninitialized_modules():
    m = nn.LazyLinear(3)
    c = copy.deepcopy(m)
    assert isinstance(c.weight, UninitializedParameter) and c.weight is not m.weight
    p = pickle.loads(pickle.dumps(m))
    p(fg.randn(2, 4))
    assert p.weight.shape == (3, 4)


def test_a_stale_reference_to_a_replaced_placeholder_says_where_the_parameter_went():
    def run():
        m = nn.LazyLinear(3)
        w = m.weight  # a local variable: not rebound
        m(fg.randn(2, 4))
        return m, w

    m, w = run()
    if w is m.weight:  # the tensor core changed shapes in place: identity kept, nothing to explain
        return
    with pytest.raises(RuntimeError, match="was materialised as a new Parameter"):
        w.shape  # noqa: B018


def test_dtype_conversion_before_the_first_forward():
    m = nn.Sequential(nn.LazyLinear(3), nn.LazyBatchNorm1d()).double()
    assert m[0].weight.dtype == fg.float64 and m[1].running_mean.dtype == fg.float64
    y = m(fg.randn(4, 2, dtype=fg.float64))
    assert y.dtype == fg.float64 and m[0].weight.dtype == fg.float64 and m[1].running_var.dtype == fg.float64
    assert m[1].num_batches_tracked.dtype == fg.int64


def test_lazy_convs_follow_the_conv_family():
    """Every convolution class conv.py has gets its lazy form (Conv1d/3d and the transposed ones
    arrive from the conv family's branch), with PyTorch's signature (no in_channels) and repr."""
    from ferrograd.nn.modules import conv as conv_mod

    for name in ("Conv1d", "Conv2d", "Conv3d", "ConvTranspose1d", "ConvTranspose2d", "ConvTranspose3d"):
        if not hasattr(conv_mod, name):
            continue
        lazy = getattr(nn, "Lazy" + name)
        assert lazy.cls_to_become is getattr(nn, name) and "Lazy" + name in nn.__all__
        m = lazy(4, 3, groups=2)
        assert repr(m).startswith(f"Lazy{name}(0, 4, kernel_size=")
        dims = len(m.kernel_size)
        with fg.no_grad():
            m.initialize_parameters(fg.randn(2, 6, *([4] * dims)))
        expect = (6, 2) if m.transposed else (4, 3)
        assert tuple(m.weight.shape) == expect + (3,) * dims and m.in_channels == 6 and m.out_channels == 4


def test_load_state_dict_into_a_model_containing_lazy_layers():
    model = nn.Sequential(nn.LazyLinear(3), nn.ReLU(), nn.LazyLinear(1))
    src = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 1))
    model.load_state_dict(src.state_dict())
    x = fg.randn(2, 4)
    np.testing.assert_allclose(model(x).detach().numpy(), src(x).detach().numpy(), rtol=1e-6)


def test_lazy_norm_without_placeholders_still_learns_its_channel_count():
    m = nn.LazyBatchNorm1d(affine=False, track_running_stats=False)
    assert not m.has_uninitialized_params()
    y = m(fg.randn(4, 3))
    assert type(m) is nn.BatchNorm1d and m.num_features == 3 and y.shape == (4, 3)
    m(fg.randn(4, 3))  # BatchNorm1d(3) now


def test_lazy_batchnorm_pin_and_mode_context_survive_materialisation():
    model = nn.Sequential(nn.LazyLinear(3), nn.LazyBatchNorm1d())
    model[1].pin_mode("eval")  # pinned while still lazy
    model.train()
    assert not model[1].training
    with pytest.warns(UserWarning):  # eval with never-updated running stats (UntrackedStatsWarning)
        model(fg.randn(4, 2))
    assert type(model[1]) is nn.BatchNorm1d and model[1].pinned_mode == "eval"
    assert model[1].num_batches_tracked.item() == 0  # eval: nothing updated
    model[1].unpin_mode()
    model.train()
    with model.mode("eval"):
        model(fg.randn(4, 2))
        assert model[1].num_batches_tracked.item() == 0
    model(fg.randn(4, 2))
    assert model[1].num_batches_tracked.item() == 1
    assert [(e.cls, e.mode, e.pinned) for e in model.modes().entries] == [("BatchNorm1d", "train", None)]
