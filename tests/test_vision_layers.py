"""F.pad and the padding layers, pixel/channel shuffles, Unflatten, one_hot and normalize:
numpy references (np.pad's modes), float64 gradcheck, PyTorch's errors and reprs.
(PyTorch's values for the same calls: the vis_ rows of tests/op_rows_vision.py.)"""

from __future__ import annotations

import itertools

import ferrograd as fg
import ferrograd.nn as nn
import ferrograd.nn.functional as F
import numpy as np
import pytest
from vision_reference import np_channel_shuffle, np_pad, np_pixel_shuffle, np_pixel_unshuffle

MODES = ("constant", "reflect", "replicate", "circular")


def _x(shape, seed=0, grad=False):
    a = np.random.default_rng(seed).uniform(-2, 2, shape)
    return a, fg.tensor(a, requires_grad=grad)


def _valid_pads(mode, spatial, rng):
    """Random pads (last dim first) that the mode accepts, negative ones included."""
    pads = []
    for size in reversed(spatial):
        while True:
            left, right = (int(v) for v in rng.integers(-size + 1, size + 3, 2))
            kept = size - max(-left, 0) - max(-right, 0)
            if mode == "reflect" and (left >= size or right >= size or size + left + right < 1):
                continue
            if mode == "replicate" and size + left + right < 1:
                continue
            if mode == "circular" and (kept < 1 or max(left, 0) > kept or max(right, 0) > kept):
                continue
            if mode == "constant" and kept < 0:
                continue
            break
        pads += [left, right]
    return tuple(pads)


def _np_reflect(a, pad):
    """Reflect by its definition (mirror about the edge element), which also covers negative pads."""
    out = a
    for k in range(len(pad) // 2):
        left, right = pad[2 * k], pad[2 * k + 1]
        d = a.ndim - 1 - k
        size = a.shape[d]
        idx = []
        for j in range(size + left + right):
            i = abs(j - left)
            idx.append(2 * (size - 1) - i if i >= size else i)
        out = np.take(out, idx, axis=d)
    return out


# ----------------------------------------------------------------------------- F.pad forward


@pytest.mark.parametrize("mode,nd,batched", list(itertools.product(MODES, (1, 2, 3), (False, True))))
def test_pad_matches_numpy(mode, nd, batched):
    rng = np.random.default_rng(nd * 10 + batched)
    spatial = tuple(int(s) for s in rng.integers(2, 5, nd))
    shape = ((2,) if batched else ()) + (3,) + spatial
    a, x = _x(shape)
    for _ in range(6):
        pads = _valid_pads(mode, spatial, rng)
        got = F.pad(x, pads, mode=mode).numpy()
        if mode == "reflect" and min(pads) < 0:
            exp = _np_reflect(a, pads)
        elif mode == "circular" and min(pads) < 0 < max(pads):
            exp = np_pad(a, pads, "circular")  # crop, then wrap what is left (PyTorch's order)
        else:
            exp = np_pad(a, pads, mode, 0.0)
        np.testing.assert_allclose(got, exp, rtol=0, atol=0, err_msg=f"{mode} {shape} {pads}")


def test_pad_reflect_does_not_repeat_the_edge():
    x = fg.tensor([[0.0, 1.0, 2.0, 3.0]])
    assert F.pad(x, (2, 3), mode="reflect").tolist() == [[2.0, 1.0, 0.0, 1.0, 2.0, 3.0, 2.0, 1.0, 0.0]]
    assert F.pad(x, (2, 3), mode="replicate").tolist() == [[0.0, 0.0, 0.0, 1.0, 2.0, 3.0, 3.0, 3.0, 3.0]]
    assert F.pad(x, (2, 3), mode="circular").tolist() == [[2.0, 3.0, 0.0, 1.0, 2.0, 3.0, 0.0, 1.0, 2.0]]


def test_pad_constant_any_rank_value_and_crop():
    a, x = _x((2, 3, 4, 2, 3))
    pads = (1, -1, 0, 2, -1, 0, 2, 2, 1, 0)
    np.testing.assert_array_equal(F.pad(x, pads, value=7.5).numpy(), np_pad(a, pads, value=7.5))
    # the default mode and value; a 1-D and a 0-d input
    np.testing.assert_array_equal(F.pad(fg.tensor([1.0, 2.0]), [2, 0]).numpy(), [0, 0, 1, 2])
    assert F.pad(fg.tensor(3.0), ()).item() == 3.0
    # cropping a dim to nothing is allowed
    assert F.pad(fg.ones(2, 3), (-3, 0)).shape == (2, 0)


def test_pad_keeps_dtype_and_casts_value():
    out = F.pad(fg.tensor([[1, 2]]), (1, 1), value=2.7)
    assert out.dtype == fg.int64 and out.tolist() == [[2, 1, 2, 2]]
    b = F.pad(fg.tensor([[True]]), (1, 0), value=0)
    assert b.dtype == fg.bool and b.tolist() == [[False, True]]
    assert F.pad(fg.tensor([[1, 2, 3]]), (1, 1), mode="reflect").tolist() == [[2, 1, 2, 3, 2]]
    assert F.pad(fg.ones(1, 2, dtype=fg.float64), (1, 0)).dtype == fg.float64
    nan = F.pad(fg.zeros(1, 1), (1, 0), value=float("nan"))
    assert np.isnan(nan.numpy()[0, 0])


def test_pad_value_zero_is_accepted_by_every_mode():
    x = fg.ones(1, 3)
    for mode in ("reflect", "replicate", "circular"):
        assert F.pad(x, (1, 1), mode=mode, value=0.0).shape == (1, 5)
        assert F.pad(x, (1, 1), mode, None).shape == (1, 5)


def test_pad_batch_dim_may_be_empty():
    for mode in MODES:
        assert F.pad(fg.zeros(0, 2, 3), (1, 1), mode=mode).shape == (0, 2, 5)


# ----------------------------------------------------------------------------- F.pad backward


@pytest.mark.parametrize("mode", MODES)
def test_pad_gradcheck(mode):
    x = fg.tensor(np.random.default_rng(1).uniform(-1, 1, (2, 2, 3, 4)), requires_grad=True)
    pads = {"constant": (2, -1, 1, 3), "reflect": (3, 2, -1, 2), "replicate": (-2, 4, 3, 0), "circular": (4, 2, 1, 3)}
    assert fg.autograd.gradcheck(lambda t: F.pad(t, pads[mode], mode=mode), (x,))
    x3 = fg.tensor(np.random.default_rng(2).uniform(-1, 1, (2, 3, 2, 3)), requires_grad=True)  # unbatched 3-d pad
    assert fg.autograd.gradcheck(lambda t: F.pad(t, (1, 2, 1, 0, 1, 1), mode=mode), (x3,))


def test_pad_gradient_sums_the_copies():
    """Each input element gets the sum of the output gradients of every position copied from it."""
    x = fg.zeros(1, 3, requires_grad=True)
    F.pad(x, (2, 2), mode="reflect").sum().backward()
    assert x.grad.tolist() == [[2.0, 3.0, 2.0]]  # out: [2 1 | 0 1 2 | 1 0]
    x.grad = None
    F.pad(x, (2, 3), mode="replicate").sum().backward()
    assert x.grad.tolist() == [[3.0, 1.0, 4.0]]
    x.grad = None
    F.pad(x, (-1, 1), value=5.0).sum().backward()
    assert x.grad.tolist() == [[0.0, 1.0, 1.0]]  # the cropped element gets none


# ----------------------------------------------------------------------------- F.pad errors


def test_pad_reflect_amount_must_be_smaller_than_the_dim():
    with pytest.raises(RuntimeError, match=r"Argument #4: Padding size should be less than the corresponding input "
                                           r"dimension, but got: padding \(3, 3\) at dimension 2 of input \[1, 2, 3\]"):
        F.pad(fg.zeros(1, 2, 3), (3, 3), mode="reflect")
    with pytest.raises(RuntimeError, match=r"Argument #6: .* padding \(3, 3\) at dimension 2 of input \[1, 1, 3, 3\]"):
        F.pad(fg.zeros(1, 1, 3, 3), (1, 1, 3, 3), mode="reflect")
    with pytest.raises(RuntimeError, match=r"Argument #8"):
        F.pad(fg.zeros(1, 1, 3, 3, 3), (1, 1, 1, 1, 3, 3), mode="reflect")
    with pytest.raises(RuntimeError, match=r"input \(W: 3\) is too small. Calculated output W: 0"):
        F.pad(fg.zeros(1, 2, 3), (-1, -2), mode="reflect")


def test_pad_circular_wraps_at_most_once():
    with pytest.raises(RuntimeError, match="Padding value causes wrapping around more than once"):
        F.pad(fg.zeros(1, 2, 3), (4, 0), mode="circular")
    with pytest.raises(RuntimeError, match="Negative padding value is resulting in an empty dimension"):
        F.pad(fg.zeros(1, 2, 3), (-2, -2), mode="circular")
    # PyTorch checks the uncropped size and returns uninitialised memory here; ferrograd refuses
    with pytest.raises(RuntimeError, match="wraps the 2 elements left after the crop"):
        F.pad(fg.zeros(1, 2, 3), (3, -1), mode="circular")
    # A crop and a pad that leave the dim empty wrap nothing: an empty dim, as PyTorch 2.15
    # (F.pad(torch.zeros(1, 3, 1, 1), (0, 0, 0, 0, -4, 1), mode="circular").shape == (1, 0, 1, 1))
    x = fg.arange(3.0).reshape(1, 3, 1, 1).requires_grad_()
    y = F.pad(x, (0, 0, 0, 0, -4, 1), mode="circular")
    assert y.shape == (1, 0, 1, 1)
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), np.zeros((1, 3, 1, 1)))


@pytest.mark.parametrize("mode", ("reflect", "replicate", "circular"))
def test_pad_non_constant_modes_pad_1_to_3_trailing_dims_of_batched_or_unbatched_input(mode):
    for shape, pad in (((3,), (1, 1)), ((2, 3), (1, 1, 1, 1)), ((2, 3, 4, 5, 6, 7), (1, 1)), ((2, 3, 3), ()),
                       ((1, 2, 3), (1, 1, 1, 1, 1, 1))):
        with pytest.raises(NotImplementedError, match=f"Padding size {len(pad)} is not supported for {len(shape)}D input"):
            F.pad(fg.ones(*shape), pad, mode=mode)


@pytest.mark.parametrize("mode", ("reflect", "replicate"))
def test_pad_reflect_and_replicate_need_non_empty_dims(mode):
    with pytest.raises(RuntimeError, match=r"Expected 2D or 3D \(batch mode\) tensor with possibly 0 batch size"):
        F.pad(fg.zeros(2, 0, 3), (1, 1), mode=mode)
    with pytest.raises(RuntimeError, match=r"Expected 3D or 4D \(batch mode\) tensor"):
        F.pad(fg.zeros(3, 3, 0), (1, 1, 1, 1), mode=mode)
    with pytest.raises(NotImplementedError, match="not implemented for 'Bool'"):
        F.pad(fg.zeros(2, 3, dtype=fg.bool), (1, 1), mode=mode)


def test_pad_argument_errors():
    x = fg.zeros(1, 2, 3)
    with pytest.raises(RuntimeError, match="Padding length must be divisible by 2"):
        F.pad(x, (1,))
    with pytest.raises(RuntimeError, match="Padding length should be less than or equal to two times the input "
                                           "dimension but got padding length 8 and input of dimension 3"):
        F.pad(x, (1,) * 8)
    with pytest.raises(NotImplementedError, match="Unrecognised padding mode bogus"):
        F.pad(x, (1, 1), mode="bogus")
    with pytest.raises(RuntimeError, match='Padding mode "reflect" doesn\'t take in value argument'):
        F.pad(x, (1, 1), mode="reflect", value=1.0)
    with pytest.raises(RuntimeError, match="narrow"):  # crops larger than the dim
        F.pad(x, (-2, -2))
    with pytest.raises(TypeError, match="must be tuple of ints, but found element of type float at pos 0"):
        F.pad(x, (1.5, 1))
    with pytest.raises(TypeError, match="found element of type bool"):
        F.pad(x, (True, 1))
    with pytest.raises(TypeError, match="must be tuple of ints, not int"):
        F.pad(x, 1)
    with pytest.raises(TypeError, match="'mode' .* must be str"):
        F.pad(x, (1, 1), mode=None)


# ----------------------------------------------------------------------------- padding layers


LAYERS = [
    ("ZeroPad", "constant", lambda cls, p: cls(p)),
    ("ConstantPad", "constant", lambda cls, p: cls(p, 1.5)),
    ("ReflectionPad", "reflect", lambda cls, p: cls(p)),
    ("ReplicationPad", "replicate", lambda cls, p: cls(p)),
    ("CircularPad", "circular", lambda cls, p: cls(p)),
]


@pytest.mark.parametrize("family,mode,make", LAYERS, ids=[f for f, _, _ in LAYERS])
@pytest.mark.parametrize("d", (1, 2, 3))
def test_padding_layers_are_f_pad(family, mode, make, d):
    cls = getattr(nn, f"{family}{d}d")
    a, x = _x((2, 2) + (7,) * d)
    value = 1.5 if family == "ConstantPad" else 0.0
    m = make(cls, 2)
    assert m.padding == (2,) * (2 * d)
    np.testing.assert_array_equal(m(x).numpy(), np_pad(a, (2,) * (2 * d), mode, value))
    pads = tuple(range(1, 2 * d + 1))
    m = make(cls, list(pads))
    assert m.padding == pads and isinstance(m.padding, tuple)
    np.testing.assert_array_equal(m(x[0]).numpy(), np_pad(a[0], pads, mode, value))  # unbatched
    assert list(m.parameters()) == [] and dict(m.state_dict()) == {}


def test_padding_layer_reprs_match_pytorch():
    assert repr(nn.ZeroPad2d(2)) == "ZeroPad2d((2, 2, 2, 2))"
    assert repr(nn.ZeroPad1d((1, 0))) == "ZeroPad1d((1, 0))"
    assert repr(nn.ConstantPad1d(3, 3.5)) == "ConstantPad1d(padding=(3, 3), value=3.5)"
    assert repr(nn.ConstantPad3d((1, 2, 3, 4, 5, 6), 2)) == "ConstantPad3d(padding=(1, 2, 3, 4, 5, 6), value=2)"
    assert repr(nn.ReflectionPad1d([1, 2])) == "ReflectionPad1d((1, 2))"
    assert repr(nn.CircularPad2d(1)) == "CircularPad2d((1, 1, 1, 1))"
    assert repr(nn.ReplicationPad3d(1)) == "ReplicationPad3d((1, 1, 1, 1, 1, 1))"
    assert nn.ZeroPad3d(1).value == 0.0


def test_padding_layer_errors():
    with pytest.raises(ValueError, match=r"expected 2D or 3D input \(got 1D input\)"):
        nn.CircularPad1d(1)(fg.zeros(3))
    with pytest.raises(ValueError, match=r"expected 4D or 5D input \(got 3D input\)"):
        nn.CircularPad3d(1)(fg.zeros(3, 3, 3))
    with pytest.raises(NotImplementedError, match="Padding size 2 is not supported for 1D input"):
        nn.ReflectionPad1d(1)(fg.zeros(3))
    with pytest.raises(RuntimeError, match="Padding length should be less than or equal to two times"):
        nn.ZeroPad2d(1)(fg.zeros(3))


def test_padding_layers_in_a_trained_model():
    fg.manual_seed(0)
    model = nn.Sequential(nn.ReflectionPad2d(1), nn.Conv2d(1, 2, 3), nn.ReplicationPad2d((0, 1, 0, 1)), nn.Flatten(),
                          nn.Linear(2 * 5 * 5, 1))
    x = fg.randn(4, 1, 4, 4)
    out = model(x)
    assert out.shape == (4, 1)
    out.sum().backward()
    assert all(p.grad is not None for p in model.parameters())


# ----------------------------------------------------------------------------- shuffles


def test_pixel_shuffle_and_unshuffle_match_numpy_and_invert_each_other():
    a, x = _x((2, 1, 8, 3, 2))
    np.testing.assert_array_equal(F.pixel_shuffle(x, 2).numpy(), np_pixel_shuffle(a, 2))
    np.testing.assert_array_equal(F.pixel_unshuffle(F.pixel_shuffle(x, 2), 2).numpy(), a)
    b, y = _x((3, 6, 9))
    np.testing.assert_array_equal(F.pixel_unshuffle(y, 3).numpy(), np_pixel_unshuffle(b, 3))
    assert F.pixel_shuffle(x, 1).shape == x.shape
    assert nn.PixelShuffle(2)(x).shape == (2, 1, 2, 6, 4)
    assert nn.PixelUnshuffle(2)(fg.zeros(1, 3, 4, 6)).shape == (1, 12, 2, 3)


def test_channel_shuffle_matches_numpy():
    a, x = _x((2, 6, 2, 3))
    np.testing.assert_array_equal(F.channel_shuffle(x, 2).numpy(), np_channel_shuffle(a, 2))
    np.testing.assert_array_equal(F.native_channel_shuffle(x, 3).numpy(), np_channel_shuffle(a, 3))
    np.testing.assert_array_equal(nn.ChannelShuffle(3)(x).numpy(), np_channel_shuffle(a, 3))
    # a 3-D input is (N, C, L) here, as in PyTorch
    assert F.channel_shuffle(fg.arange(6.0).reshape(1, 6, 1), 2).flatten().tolist() == [0, 3, 1, 4, 2, 5]


def test_shuffles_gradcheck():
    x = fg.tensor(np.random.default_rng(3).uniform(-1, 1, (2, 8, 2, 3)), requires_grad=True)
    assert fg.autograd.gradcheck(lambda t: F.pixel_shuffle(t, 2), (x,))
    assert fg.autograd.gradcheck(lambda t: F.pixel_unshuffle(t, 2), (fg.tensor(x.detach().numpy().reshape(2, 2, 4, 6),
                                                                               requires_grad=True),))
    assert fg.autograd.gradcheck(lambda t: F.channel_shuffle(t, 4), (x,))


def test_shuffle_errors():
    x = fg.zeros(2, 8, 2, 3)
    with pytest.raises(RuntimeError, match=r"pixel_shuffle expects its input's 'channel' dimension to be divisible by "
                                           r"the square of upscale_factor, but input.size\(-3\)=8 is not divisible by 9"):
        F.pixel_shuffle(x, 3)
    with pytest.raises(RuntimeError, match="pixel_shuffle expects a positive upscale_factor, but got 0"):
        F.pixel_shuffle(x, 0)
    with pytest.raises(RuntimeError, match="at least 3 dimensions, but got input with 2 dimension"):
        F.pixel_shuffle(fg.zeros(4, 4), 2)
    with pytest.raises(TypeError, match="'upscale_factor' .* must be int, not float"):
        F.pixel_shuffle(x, 2.0)
    with pytest.raises(RuntimeError, match=r"expects width to be divisible by downscale_factor, but input.size\(-1\)=3"):
        F.pixel_unshuffle(x, 2)
    with pytest.raises(RuntimeError, match=r"expects height to be divisible by downscale_factor, but input.size\(-2\)=2"):
        F.pixel_unshuffle(x, 3)
    with pytest.raises(RuntimeError, match="pixel_unshuffle expects a positive downscale_factor, but got -1"):
        F.pixel_unshuffle(x, -1)
    with pytest.raises(RuntimeError, match="Number of channels must be divisible by groups. Got 8 channels and 3 groups."):
        F.channel_shuffle(x, 3)
    with pytest.raises(RuntimeError, match="Number of groups to divide channels in must be positive. Value of groups:0"):
        nn.ChannelShuffle(0)(x)
    with pytest.raises(RuntimeError, match=r"channel_shuffle expects input with > 2 dims, but got input with sizes \[2, 3\]"):
        F.channel_shuffle(fg.zeros(2, 3), 1)


def test_shuffle_reprs():
    assert repr(nn.PixelShuffle(2)) == "PixelShuffle(upscale_factor=2)"
    assert repr(nn.PixelUnshuffle(3)) == "PixelUnshuffle(downscale_factor=3)"
    assert repr(nn.ChannelShuffle(4)) == "ChannelShuffle(groups=4)"


# ----------------------------------------------------------------------------- Unflatten


def test_unflatten_splits_one_dim_and_infers_minus_one():
    a, x = _x((4, 6, 5))
    np.testing.assert_array_equal(nn.Unflatten(1, (2, -1))(x).numpy(), a.reshape(4, 2, 3, 5))
    np.testing.assert_array_equal(nn.Unflatten(-1, [5, 1])(x).numpy(), a.reshape(4, 6, 5, 1))
    assert nn.Unflatten(1, fg.Size([3, 2]))(x).shape == (4, 3, 2, 5)
    assert nn.Unflatten(1, (6,))(x).shape == (4, 6, 5)
    flat = nn.Flatten()(x)
    np.testing.assert_array_equal(nn.Unflatten(1, (6, 5))(flat).numpy(), a)


def test_unflatten_gradient_and_repr():
    x = fg.tensor(np.random.default_rng(4).uniform(-1, 1, (2, 6)), requires_grad=True)
    assert fg.autograd.gradcheck(nn.Unflatten(1, (3, 2)), (x,))
    assert repr(nn.Unflatten(1, (2, 3))) == "Unflatten(dim=1, unflattened_size=(2, 3))"
    assert repr(nn.Unflatten(-1, [2, -1])) == "Unflatten(dim=-1, unflattened_size=[2, -1])"


def test_unflatten_errors():
    with pytest.raises(TypeError, match="unflattened_size must be a tuple of ints, but found type int"):
        nn.Unflatten(1, 5)
    with pytest.raises(TypeError, match="unflattened_size must be tuple of ints, but found element of type float at pos 0"):
        nn.Unflatten(1, (2.0, 3))
    with pytest.raises(TypeError, match="found element of type tuple at pos 0"):  # the named form PyTorch 2.x dropped
        nn.Unflatten("x", (("a", 2), ("b", 3)))
    with pytest.raises(RuntimeError, match="don't multiply up to the size of dim 1"):
        nn.Unflatten(1, (4, -1))(fg.zeros(4, 6, 5))
    with pytest.raises(IndexError):
        nn.Unflatten(3, (2, 3))(fg.zeros(4, 6, 5))


# ----------------------------------------------------------------------------- one_hot


def test_one_hot_infers_num_classes_and_returns_int64():
    t = fg.tensor([[1, 0], [3, 3]])
    out = F.one_hot(t)
    assert out.dtype == fg.int64 and out.shape == (2, 2, 4)
    np.testing.assert_array_equal(out.numpy(), np.eye(4, dtype=np.int64)[t.numpy()])
    assert F.one_hot(fg.tensor([0, 2]), num_classes=5).tolist() == [[1, 0, 0, 0, 0], [0, 0, 1, 0, 0]]
    assert F.one_hot(fg.tensor(2), 4).tolist() == [0, 0, 1, 0]
    empty = F.one_hot(fg.tensor([], dtype=fg.int64), 3)
    assert empty.shape == (0, 3) and empty.dtype == fg.int64


def test_one_hot_errors():
    with pytest.raises(RuntimeError, match="Class values must be smaller than num_classes."):
        F.one_hot(fg.tensor([0, 2, 1]), 2)
    with pytest.raises(RuntimeError, match="Class values must be non-negative."):
        F.one_hot(fg.tensor([0, -2, 1]))
    with pytest.raises(RuntimeError, match="one_hot is only applicable to index tensor of type LongTensor."):
        F.one_hot(fg.tensor([0.0, 1.0]))
    with pytest.raises(RuntimeError, match="Can not infer total number of classes from empty tensor."):
        F.one_hot(fg.tensor([], dtype=fg.int64))
    with pytest.raises(TypeError, match="'num_classes' must be int, not float"):
        F.one_hot(fg.tensor([0]), num_classes=3.0)


# ----------------------------------------------------------------------------- normalize


def test_normalize_matches_numpy_and_clamps_at_eps():
    a, x = _x((3, 4, 2))
    n = np.sqrt((a**2).sum(1, keepdims=True))
    np.testing.assert_allclose(F.normalize(x).numpy(), a / n, rtol=1e-12)
    n1 = np.abs(a).sum(-1, keepdims=True)
    np.testing.assert_allclose(F.normalize(x, p=1, dim=-1).numpy(), a / n1, rtol=1e-12)
    ninf = np.abs(a).max(0, keepdims=True)
    np.testing.assert_allclose(F.normalize(x, p=float("inf"), dim=0).numpy(), a / ninf, rtol=1e-12)
    zero = F.normalize(fg.zeros(2, 3))
    assert zero.tolist() == [[0.0] * 3] * 2  # 0 / eps, not NaN
    assert F.normalize(fg.tensor([3.0, 4.0]), dim=0).tolist() == pytest.approx([0.6, 0.8])


def test_normalize_gradcheck():
    x = fg.tensor(np.random.default_rng(5).uniform(0.2, 1, (3, 4)), requires_grad=True)
    assert fg.autograd.gradcheck(lambda t: F.normalize(t, p=2.0, dim=1), (x,))
    assert fg.autograd.gradcheck(lambda t: F.normalize(t, p=3.0, dim=0), (x,))


def test_normalize_out_and_errors():
    out = fg.empty(2, 2)
    res = F.normalize(fg.tensor([[3.0, 4.0], [0.0, 0.0]]), out=out)
    assert res is out and out.tolist() == [[pytest.approx(0.6), pytest.approx(0.8)], [0.0, 0.0]]
    with pytest.raises(RuntimeError, match="out=... arguments don't support automatic differentiation"):
        F.normalize(fg.ones(2, 2, requires_grad=True), out=fg.empty(2, 2))
    with pytest.raises(IndexError):
        F.normalize(fg.tensor([3.0, 4.0]))  # dim=1 of a 1-D input
    with pytest.raises(NotImplementedError, match="Expected a floating point"):
        F.normalize(fg.tensor([3, 4]), dim=0)


def test_assert_int_or_pair():
    F.assert_int_or_pair(3, "kernel_size", "{} must be an int or a pair")
    F.assert_int_or_pair((1, 2), "kernel_size", "{} must be an int or a pair")
    with pytest.raises(AssertionError, match="kernel_size must be an int or a pair"):
        F.assert_int_or_pair((1, 2, 3), "kernel_size", "{} must be an int or a pair")


def test_everything_is_exported():
    for name in ("pad", "pixel_shuffle", "pixel_unshuffle", "channel_shuffle", "native_channel_shuffle", "one_hot",
                 "normalize", "assert_int_or_pair"):
        assert name in F.__all__ and callable(getattr(F, name))
    for family in ("ZeroPad", "ConstantPad", "ReflectionPad", "ReplicationPad", "CircularPad"):
        for d in (1, 2, 3):
            assert hasattr(nn, f"{family}{d}d")
    for name in ("PixelShuffle", "PixelUnshuffle", "ChannelShuffle", "Unflatten"):
        assert hasattr(nn, name)
