"""Memory formats (ferrograd/_memory_format.py): channels_last strides against numpy's layout of
the (N, H, W, C) array, PyTorch's preserve rule for clone/to/*_like, the errors, gradients through
the reordering copies, and Module.to(memory_format=) on a model that then trains to the same
numbers. tests/differential/test_diff_memory_format.py checks the size-0 and size-1 corner cases
against PyTorch itself."""

from __future__ import annotations

import io
import pickle

import ferrograd as fg
import numpy as np
import pytest

SHAPES_4D = [(2, 3, 4, 5), (1, 3, 4, 5), (2, 3, 1, 1), (2, 1, 4, 5), (3, 2, 2, 7)]
SHAPES_5D = [(2, 3, 4, 5, 6), (1, 2, 3, 1, 2)]


def _numpy_channels_last_strides(shape) -> tuple[int, ...]:
    """Strides (in elements) of (N, C, *spatial) stored as a C-ordered (N, *spatial, C) array."""
    inner_last = np.empty((shape[0], *shape[2:], shape[1]), np.float32)
    order = (0, inner_last.ndim - 1, *range(1, inner_last.ndim - 1))
    return tuple(s // 4 for s in inner_last.transpose(order).strides)


def _values(shape):
    return np.arange(int(np.prod(shape)), dtype=np.float32).reshape(shape)


@pytest.mark.parametrize("shape", SHAPES_4D + SHAPES_5D)
def test_channels_last_lays_out_channels_innermost(shape):
    fmt = fg.channels_last if len(shape) == 4 else fg.channels_last_3d
    x = fg.tensor(_values(shape))
    y = x.contiguous(memory_format=fmt)
    assert y.is_contiguous(memory_format=fmt)
    np.testing.assert_array_equal(y.numpy(), _values(shape))
    if not x.is_contiguous(memory_format=fmt):  # else y is x (below)
        assert y.stride() == _numpy_channels_last_strides(shape)
    assert fg.empty(shape, memory_format=fmt).stride() == _numpy_channels_last_strides(shape)
    # Back to the contiguous format: equal values, contiguous strides.
    z = y.contiguous()
    assert z.is_contiguous() and z.stride() == x.stride()
    np.testing.assert_array_equal(z.numpy(), _values(shape))


def test_contiguous_returns_the_tensor_already_in_the_format():
    x = fg.randn(2, 3, 4, 5).contiguous(memory_format=fg.channels_last)
    assert x.contiguous(memory_format=fg.channels_last) is x
    c = fg.randn(2, 3, 4, 5)
    assert c.contiguous() is c and c.contiguous(memory_format=fg.contiguous_format) is c
    # (N, 1, H, W) and (N, C, 1, 1) are both formats at once, as in PyTorch.
    for shape in [(2, 1, 4, 5), (2, 3, 1, 1)]:
        t = fg.zeros(shape)
        assert t.is_contiguous(memory_format=fg.channels_last) and t.contiguous(memory_format=fg.channels_last) is t


def test_is_contiguous_in_a_format_checks_rank_and_order():
    assert not fg.zeros(2, 3).is_contiguous(memory_format=fg.channels_last)
    assert not fg.zeros(2, 3, 4, 5).is_contiguous(memory_format=fg.channels_last_3d)
    assert not fg.zeros(2, 3, 4, 5).is_contiguous(memory_format=fg.channels_last)
    assert fg.zeros(2, 3, 4, 5).permute(0, 2, 3, 1).contiguous().permute(0, 3, 1, 2).is_contiguous(memory_format=fg.channels_last)
    assert fg.zeros(2, 3, 4, 5).is_contiguous(memory_format=fg.preserve_format)  # the default check


def test_formats_refuse_what_pytorch_refuses():
    with pytest.raises(RuntimeError, match="required rank 4 tensor to use channels_last format"):
        fg.zeros(2, 3).contiguous(memory_format=fg.channels_last)
    with pytest.raises(RuntimeError, match="required rank 5 tensor to use channels_last_3d format"):
        fg.zeros(2, 3, 4, 5).clone(memory_format=fg.channels_last_3d)
    with pytest.raises(RuntimeError, match="required rank 4"):
        fg.empty(2, 3, memory_format=fg.channels_last)
    with pytest.raises(RuntimeError, match="unsupported memory format Preserve"):
        fg.empty(2, 3, 4, 5, memory_format=fg.preserve_format)
    with pytest.raises(RuntimeError, match="preserve memory format is unsupported by the contiguous operator"):
        fg.zeros(4, 5).t().contiguous(memory_format=fg.preserve_format)
    c = fg.zeros(4, 5)
    assert c.contiguous(memory_format=fg.preserve_format) is c  # contiguous already: no refusal
    with pytest.raises(TypeError, match="clone\\(\\): argument 'memory_format' must be ferrograd.memory_format"):
        fg.zeros(2).clone(memory_format=5)
    with pytest.raises(RuntimeError, match="required rank 4"):
        fg.nn.Conv3d(1, 1, 1).to(memory_format=fg.channels_last)


def _views():
    """(tensor, the strides a preserving copy keeps) for dense and non-dense views."""
    base = fg.tensor(_values((2, 3, 4, 5)))
    yield base.permute(0, 2, 3, 1), (60, 5, 1, 20)  # dense: its own strides
    yield fg.tensor(_values((4, 5))).t(), (1, 5)
    yield fg.tensor(_values((4, 6)))[:, ::2], (3, 1)  # not dense: contiguous
    yield fg.tensor(_values((4, 1))).expand(4, 3), (3, 1)  # overlapping: contiguous
    # Not dense but ordered as channels_last: a channels_last copy.
    yield base.contiguous(memory_format=fg.channels_last)[:, :, ::2], (30, 1, 15, 3)


@pytest.mark.parametrize("i", range(5))
def test_clone_to_and_likes_preserve_the_layout(i):
    x, strides = list(_views())[i]
    expected = x.numpy()
    for make in (lambda t: t.clone(), lambda t: fg.clone(t), lambda t: t.to(fg.float64), lambda t: t.double(),
                 lambda t: t.to(fg.float32, copy=True), fg.empty_like, fg.zeros_like, fg.ones_like, fg.rand_like,
                 fg.randn_like, lambda t: fg.full_like(t, 7.0), lambda t: fg.randint_like(t, 5)):
        y = make(x)
        assert y.stride() == strides and y.shape == x.shape
    np.testing.assert_array_equal(x.clone().numpy(), expected)
    np.testing.assert_array_equal(x.double().numpy(), expected.astype(np.float64))
    np.testing.assert_array_equal(fg.full_like(x, 7.0).numpy(), np.full(x.shape, 7.0, np.float32))
    # Asking for a format wins over preserving.
    assert x.clone(memory_format=fg.contiguous_format).is_contiguous()
    assert fg.zeros_like(x, memory_format=fg.contiguous_format).is_contiguous()


def test_to_with_a_format_and_no_conversion():
    x = fg.randn(2, 3, 4, 5)
    assert x.to(fg.float32) is x and x.to(memory_format=fg.preserve_format) is x
    y = x.to(memory_format=fg.channels_last)
    assert y is not x and y.is_contiguous(memory_format=fg.channels_last)
    assert y.to(memory_format=fg.channels_last) is y
    z = x.to(fg.float64, memory_format=fg.channels_last)
    assert z.dtype == fg.float64 and z.is_contiguous(memory_format=fg.channels_last)
    np.testing.assert_array_equal(z.numpy(), x.numpy().astype(np.float64))
    assert x.float(memory_format=fg.channels_last).is_contiguous(memory_format=fg.channels_last)


def test_gradients_flow_through_the_reordering_copies():
    x = fg.randn(2, 3, 4, 5, dtype=fg.float64, requires_grad=True)
    for f in (lambda t: t.contiguous(memory_format=fg.channels_last),
              lambda t: t.permute(0, 2, 3, 1).clone(),
              lambda t: t.permute(0, 2, 3, 1).to(fg.float64, copy=True),
              lambda t: t.to(memory_format=fg.channels_last)):
        assert fg.autograd.gradcheck(lambda t, f=f: (f(t) * f(t)).sum(), (x,))
    w = fg.arange(120.0, dtype=fg.float64).reshape(2, 3, 4, 5)
    x.grad = None
    (x.contiguous(memory_format=fg.channels_last) * w).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), w.numpy())


def _model():
    fg.manual_seed(0)
    return fg.nn.Sequential(fg.nn.Conv2d(3, 8, 3, padding=1), fg.nn.BatchNorm2d(8), fg.nn.ReLU(),
                            fg.nn.Conv2d(8, 4, 3), fg.nn.Flatten(), fg.nn.Linear(4 * 4 * 4, 2))


def test_module_to_channels_last_trains_to_the_same_numbers():
    plain, cl = _model(), _model()
    # An optimizer built before the call keeps updating the model's own parameters: they are kept
    # (PyTorch re-lays them out in place; new Parameters would strand it).
    cl_opt = fg.optim.SGD(cl.parameters(), lr=0.1, momentum=0.9)
    before = list(cl.parameters())
    assert cl.to(memory_format=fg.channels_last) is cl
    assert all(a is b for a, b in zip(before, cl.parameters()))
    assert cl[1].num_batches_tracked.dtype == fg.int64
    fg.manual_seed(1)
    x = fg.randn(4, 3, 6, 6)
    losses = {}
    for name, model in (("plain", plain), ("cl", cl)):
        opt = cl_opt if name == "cl" else fg.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
        inp = x.contiguous(memory_format=fg.channels_last) if name == "cl" else x
        for _ in range(3):
            opt.zero_grad()
            loss = model(inp).square().mean()
            loss.backward()
            opt.step()
        losses[name] = loss.item()
    assert losses["plain"] == pytest.approx(losses["cl"], rel=1e-5)
    # The state_dict loads into a plain model with the same values.
    again = _model()
    again.load_state_dict(cl.state_dict())
    np.testing.assert_array_equal(again[0].weight.detach().numpy(), cl[0].weight.detach().numpy())


def test_module_float_of_a_float32_model_keeps_its_parameters():
    model = _model()
    before = list(model.parameters())
    opt = fg.optim.SGD(model.parameters(), lr=0.1)
    model.float()
    model.to(fg.float32)
    assert all(a is b for a, b in zip(before, model.parameters()))
    opt.zero_grad()
    model(fg.randn(2, 3, 6, 6)).sum().backward()
    w = model[0].weight.detach().clone()
    opt.step()
    assert not fg.equal(w, model[0].weight.detach())  # the optimizer still updates the model's own


def test_formats_pickle_and_channels_last_tensors_save_as_they_are():
    for fmt in (fg.contiguous_format, fg.channels_last, fg.channels_last_3d, fg.preserve_format):
        assert pickle.loads(pickle.dumps(fmt)) is fmt
        assert repr(fmt) == f"ferrograd.{fmt._name}"
    x = fg.tensor(_values((2, 3, 4, 5))).contiguous(memory_format=fg.channels_last)
    buf = io.BytesIO()
    fg.save({"x": x}, buf)
    buf.seek(0)
    y = fg.load(buf)["x"]
    assert y.stride() == x.stride()
    np.testing.assert_array_equal(y.numpy(), x.numpy())
