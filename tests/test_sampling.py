"""F.interpolate, the Upsample layers, F.affine_grid and F.grid_sample: numpy references (the
loop-based ones in sample_reference.py), float64 gradcheck, PyTorch's argument rules, errors and
warnings, and PyTorch values pinned where its kernels disagree with each other."""

from __future__ import annotations

import warnings

import ferrograd as fg
import ferrograd.nn.functional as F
import numpy as np
import pytest
from sample_reference import np_affine_grid, np_grid_sample, np_interpolate

RNG = np.random.default_rng(1234)


def _t(shape, dtype=np.float64, grad=False):
    return fg.tensor(RNG.uniform(-2, 2, shape).astype(dtype), requires_grad=grad)


def _gradcheck(fn, *xs):
    assert fg.autograd.gradcheck(fn, xs, atol=1e-6, rtol=1e-4)


# ----------------------------------------------------------------------------- interpolate values

CASES = [
    ((2, 3, 6), dict(size=4, mode="nearest")),
    ((2, 3, 5), dict(scale_factor=2.5, mode="nearest")),
    ((1, 2, 3, 5), dict(scale_factor=(2.2, 0.6), mode="nearest")),
    ((1, 2, 2, 3, 3), dict(scale_factor=1.5, mode="nearest")),
    ((2, 1, 7), dict(size=9, mode="nearest-exact")),
    ((1, 1, 4, 6), dict(scale_factor=(1.75, 0.5), mode="nearest-exact")),
    ((2, 2, 5), dict(size=3, mode="linear")),
    ((2, 2, 5), dict(size=11, mode="linear", align_corners=True)),
    ((2, 2, 5), dict(scale_factor=0.7, mode="linear")),
    ((1, 3, 4, 4), dict(size=(6, 2), mode="bilinear")),
    ((1, 3, 4, 4), dict(scale_factor=1.25, mode="bilinear", align_corners=True)),
    ((1, 1, 3, 3), dict(size=(1, 1), mode="bilinear", align_corners=True)),
    ((1, 2, 4, 3), dict(size=(9, 5), mode="bicubic")),
    ((1, 2, 6, 7), dict(scale_factor=0.5, mode="bicubic", align_corners=True)),
    ((1, 1, 2, 3, 4), dict(size=(3, 3, 3), mode="trilinear")),
    ((1, 1, 2, 3, 4), dict(scale_factor=(1.5, 2, 0.5), mode="trilinear", align_corners=True)),
    ((2, 2, 9), dict(size=4, mode="area")),
    ((1, 2, 5, 7), dict(scale_factor=0.6, mode="area")),
    ((1, 1, 3, 5, 4), dict(size=(2, 5, 3), mode="area")),
]


@pytest.mark.parametrize("shape,kw", CASES, ids=[f"{kw['mode']}-{i}" for i, (_, kw) in enumerate(CASES)])
def test_interpolate_matches_numpy_reference_in_both_float_dtypes(shape, kw):
    a = RNG.uniform(-2, 2, shape)
    exp = np_interpolate(a, **kw)
    got = F.interpolate(fg.tensor(a), **kw)
    np.testing.assert_allclose(got.numpy(), exp, rtol=1e-12, atol=1e-12)
    got32 = F.interpolate(fg.tensor(a.astype(np.float32)), **kw)
    assert got32.dtype == fg.float32
    np.testing.assert_allclose(got32.numpy(), np_interpolate(a.astype(np.float32).astype(np.float64), **kw),
                               rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("shape,kw", CASES, ids=[f"{kw['mode']}-{i}" for i, (_, kw) in enumerate(CASES)])
def test_interpolate_gradient_matches_finite_differences(shape, kw):
    _gradcheck(lambda x: F.interpolate(x, **kw), _t(shape, grad=True))


def test_linear_clamps_the_source_index_at_zero_without_align_corners():
    # out 0 of 2 -> 6 reads source (0 + 0.5) / 3 - 0.5 < 0, clamped to 0: exactly x[0]
    x = fg.tensor([[[1.0, 5.0]]], dtype=fg.float64)
    out = F.interpolate(x, size=6, mode="linear").numpy()[0, 0]
    np.testing.assert_allclose(out, [1, 1, 7 / 3, 11 / 3, 5, 5])
    np.testing.assert_allclose(F.interpolate(x, size=5, mode="linear", align_corners=True).numpy()[0, 0], [1, 2, 3, 4, 5])


def test_given_scale_factor_places_samples_unless_recomputed():
    # 5 -> floor(5 * 1.5) = 7 outputs: the kernel uses 1 / 1.5, not 5 / 7 (PyTorch's rule)
    x = fg.tensor(np.arange(5.0).reshape(1, 1, 5))
    given = F.interpolate(x, scale_factor=1.5, mode="linear").numpy()[0, 0]
    recomputed = F.interpolate(x, scale_factor=1.5, mode="linear", recompute_scale_factor=True).numpy()[0, 0]
    by_size = F.interpolate(x, size=7, mode="linear").numpy()[0, 0]
    np.testing.assert_allclose(given, np.clip((np.arange(7) + 0.5) / 1.5 - 0.5, 0, 4))
    np.testing.assert_allclose(recomputed, by_size)
    assert not np.allclose(given, by_size)


def test_bicubic_uses_a_minus_0_75_and_clamps_taps_at_the_border():
    x = fg.tensor(np.arange(4.0).reshape(1, 1, 1, 4))
    out = F.interpolate(x, size=(1, 8), mode="bicubic").numpy()[0, 0, 0]
    # PyTorch 2.15: torch.nn.functional.interpolate(torch.arange(4.).reshape(1, 1, 1, 4), size=(1, 8), mode="bicubic")
    np.testing.assert_allclose(out, [-0.10546875, 0.19140625, 0.66796875, 1.296875, 1.703125, 2.33203125, 2.80859375, 3.10546875], atol=1e-7)


def test_nearest_keeps_pytorch_rank_dependent_shortcuts():
    # PyTorch's 2-D nearest kernel maps out == in and out == 2 * in exactly whatever the given scale;
    # its 1-D and 3-D kernels use floor(i / scale). Values from PyTorch 2.15:
    #   F.interpolate(torch.arange(4.).reshape(1, 1, 4), scale_factor=2.2)          -> 0 0 0 1 1 2 2 3
    #   F.interpolate(torch.arange(4.).reshape(1, 1, 4, 1), scale_factor=(2.2, 1))  -> 0 0 1 1 2 2 3 3
    #   F.interpolate(torch.arange(6.).reshape(1, 1, 6), scale_factor=1.1)          -> 0 0 1 2 3 4
    x1 = fg.tensor(np.arange(4.0).reshape(1, 1, 4))
    x2 = fg.tensor(np.arange(4.0).reshape(1, 1, 4, 1))
    np.testing.assert_array_equal(F.interpolate(x1, scale_factor=2.2).numpy().ravel(), [0, 0, 0, 1, 1, 2, 2, 3])
    np.testing.assert_array_equal(F.interpolate(x2, scale_factor=(2.2, 1)).numpy().ravel(), [0, 0, 1, 1, 2, 2, 3, 3])
    x6 = fg.tensor(np.arange(6.0).reshape(1, 1, 6))
    np.testing.assert_array_equal(F.interpolate(x6, scale_factor=1.1).numpy().ravel(), [0, 0, 1, 2, 3, 4])


def test_gradient_follows_the_forward_where_pytorch_backward_does_not():
    # PyTorch's nearest 1-D/3-D backward takes the out == in / out == 2 * in shortcut its forward
    # does not take, and its bicubic backward copies when out == in although the forward resamples
    # with the given scale. Here the gradient is the forward's: sum over the outputs that read x[j].
    x = fg.tensor(np.arange(6.0).reshape(1, 1, 6), requires_grad=True)
    F.interpolate(x, scale_factor=1.1).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy().ravel(), [2, 1, 1, 1, 1, 0])
    _gradcheck(lambda t: F.interpolate(t, scale_factor=1.1, mode="bicubic"), _t((1, 1, 5, 5), grad=True))


def test_linear_same_size_is_x_times_one_plus_x_times_zero_like_pytorch():
    # PyTorch's linear kernel at out == in computes 1 * x[i] + 0 * x[i]: an inf becomes NaN
    x = fg.tensor([[[float("inf"), 1.0, 2.0]]])
    out = F.interpolate(x, size=3, mode="linear").numpy()[0, 0]
    assert np.isnan(out[0]) and out[1:].tolist() == [1.0, 2.0]


def test_interpolate_returns_a_new_tensor_for_the_identity():
    x = _t((1, 1, 3, 3))
    y = F.interpolate(x, size=(3, 3))
    assert y is not x
    np.testing.assert_array_equal(y.numpy(), x.numpy())


def test_uint8_nearest_and_empty_batch():
    x = fg.tensor(np.arange(6, dtype=np.uint8).reshape(1, 1, 2, 3))
    y = F.interpolate(x, scale_factor=2)
    assert y.dtype == fg.uint8 and y.shape == (1, 1, 4, 6)
    assert F.interpolate(fg.zeros(0, 2, 3), size=5, mode="linear").shape == (0, 2, 5)


def test_int64_input_is_not_implemented_like_pytorch():
    with pytest.raises(NotImplementedError, match="compute_indices_weights_nearest.*Long"):
        F.interpolate(fg.tensor(np.arange(4).reshape(1, 1, 4)), size=6)
    with pytest.raises(NotImplementedError, match="compute_indices_weights_linear.*Long"):
        F.interpolate(fg.tensor(np.arange(4).reshape(1, 1, 4)), size=6, mode="linear")


# ----------------------------------------------------------------------------- interpolate arguments


@pytest.mark.parametrize("mode", ["nearest", "area", "nearest-exact"])
def test_align_corners_is_an_error_for_non_interpolating_modes(mode):
    with pytest.raises(ValueError, match="align_corners option can only be set with the interpolating modes"):
        F.interpolate(_t((1, 1, 4)), size=2, mode=mode, align_corners=False)


def test_align_corners_default_is_false_without_a_warning():
    x = _t((1, 2, 4, 4))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        y = F.interpolate(x, scale_factor=2, mode="bilinear")
    np.testing.assert_array_equal(y.numpy(), F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False).numpy())


@pytest.mark.parametrize("kw,exc,msg", [
    (dict(size=2, scale_factor=2.0), ValueError, "only one of size or scale_factor should be defined"),
    (dict(), ValueError, "either size or scale_factor should be defined"),
    (dict(size=(2, 2)), ValueError, "Input and output must have the same number of spatial dimensions"),
    (dict(scale_factor=(2.0, 2.0)), ValueError, "Input and scale_factor must have the same number"),
    (dict(size=(2.5,)), TypeError, "expected size to be one of int"),
    (dict(size=3, recompute_scale_factor=True), ValueError, "recompute_scale_factor is not meaningful"),
    (dict(size=0), RuntimeError, r"Input and output sizes should be greater than 0, but got input \(W: 4\) and output \(W: 0\)"),
    (dict(scale_factor=-1.0), RuntimeError, "Input and output sizes should be greater than 0"),
    (dict(size=6, antialias=True), ValueError, "Anti-alias option is restricted to bilinear, bicubic"),
    (dict(size=6, mode="bilinear"), NotImplementedError, "Got 3D input, but bilinear mode needs 4D input"),
    (dict(size=6, mode="trilinear"), NotImplementedError, "Got 3D input, but trilinear mode needs 5D input"),
    (dict(size=6, mode="bicubic"), NotImplementedError, r"Only 3D, 4D and 5D input Tensors supported \(got 3D\)"),
    (dict(size=6, mode="cubic"), NotImplementedError, r"\(got cubic\)"),
])
def test_interpolate_argument_errors_as_pytorch(kw, exc, msg):
    with pytest.raises(exc, match=msg):
        F.interpolate(_t((1, 1, 4)), **kw)


def test_interpolate_rank_errors():
    with pytest.raises(NotImplementedError, match=r"got 2D"):
        F.interpolate(_t((1, 4)), size=6)
    with pytest.raises(NotImplementedError, match="Got 4D input, but linear mode needs 3D input"):
        F.interpolate(_t((1, 1, 4, 4)), size=(6, 6), mode="linear")
    with pytest.raises(RuntimeError, match=r"Non-empty 3D data tensor expected but got a tensor with sizes \[1, 0, 3\]"):
        F.interpolate(fg.zeros(1, 0, 3), size=4)


def test_antialias_true_is_a_clear_not_implemented():
    with pytest.raises(NotImplementedError, match="antialias=True"):
        F.interpolate(_t((1, 1, 4, 4)), size=(2, 2), mode="bilinear", antialias=True)


# ----------------------------------------------------------------------------- layers and old names


def test_upsample_layers_match_interpolate_and_repr_as_pytorch():
    x = _t((1, 2, 3, 4))
    up = fg.nn.Upsample(scale_factor=2, mode="bilinear")
    assert repr(up) == "Upsample(scale_factor=2.0, mode='bilinear')"
    assert up.scale_factor == 2.0 and isinstance(up.scale_factor, float) and up.align_corners is None
    assert list(up.state_dict()) == [] and list(up.parameters()) == []
    np.testing.assert_array_equal(up(x).numpy(), F.interpolate(x, scale_factor=2.0, mode="bilinear").numpy())
    assert repr(fg.nn.Upsample(size=(5, 6))) == "Upsample(size=(5, 6), mode='nearest')"
    assert fg.nn.Upsample(scale_factor=(2, 3)).scale_factor == (2.0, 3.0)
    near = fg.nn.UpsamplingNearest2d(scale_factor=2)
    assert repr(near) == "UpsamplingNearest2d(scale_factor=2.0, mode='nearest')"
    np.testing.assert_array_equal(near(x).numpy(), F.interpolate(x, scale_factor=2).numpy())
    bil = fg.nn.UpsamplingBilinear2d(size=(5, 7))
    assert bil.align_corners is True and repr(bil) == "UpsamplingBilinear2d(size=(5, 7), mode='bilinear')"
    np.testing.assert_array_equal(bil(x).numpy(), np_interpolate(x.numpy(), size=(5, 7), mode="bilinear", align_corners=True))


def test_upsample_recompute_scale_factor_reaches_interpolate():
    x = _t((1, 1, 5))
    up = fg.nn.Upsample(scale_factor=1.5, mode="linear", recompute_scale_factor=True)
    np.testing.assert_array_equal(up(x).numpy(), F.interpolate(x, size=7, mode="linear").numpy())


@pytest.mark.parametrize("name,kw", [("upsample", dict(mode="nearest")), ("upsample_nearest", {}),
                                      ("upsample_bilinear", {})])
def test_deprecated_upsample_functions_warn_and_forward(name, kw):
    x = _t((1, 1, 3, 3))
    with pytest.warns(UserWarning, match=f"`nn.functional.{name}` is deprecated"):
        y = getattr(F, name)(x, scale_factor=2, **kw)
    mode, ac = ("bilinear", True) if name == "upsample_bilinear" else ("nearest", None)
    np.testing.assert_array_equal(y.numpy(), F.interpolate(x, scale_factor=2, mode=mode, align_corners=ac).numpy())


# ----------------------------------------------------------------------------- affine_grid and grid_sample


@pytest.mark.parametrize("align_corners", [False, True])
def test_identity_affine_grid_samples_the_input_back(align_corners):
    x = _t((2, 3, 4, 5))
    theta = fg.tensor(np.tile(np.array([[1.0, 0, 0], [0, 1, 0]]), (2, 1, 1)))
    grid = F.affine_grid(theta, (2, 3, 4, 5), align_corners=align_corners)
    for mode in ("bilinear", "nearest", "bicubic"):
        y = F.grid_sample(x, grid, mode=mode, align_corners=align_corners)
        np.testing.assert_allclose(y.numpy(), x.numpy(), atol=1e-12)


def test_affine_grid_matches_reference_and_is_differentiable():
    th = _t((2, 3, 4), grad=True)
    g = F.affine_grid(th, (2, 1, 3, 2, 4), align_corners=True)
    np.testing.assert_allclose(g.detach().numpy(), np_affine_grid(th.detach().numpy(), (2, 1, 3, 2, 4), True))
    _gradcheck(lambda t: F.affine_grid(t, (2, 1, 3, 2, 4), align_corners=False), th)


@pytest.mark.parametrize("mode", ["bilinear", "nearest", "bicubic"])
@pytest.mark.parametrize("padding_mode", ["zeros", "border", "reflection"])
@pytest.mark.parametrize("align_corners", [False, True])
def test_grid_sample_reference_and_gradcheck(mode, padding_mode, align_corners):
    x, g = _t((2, 2, 3, 4), grad=True), fg.tensor(RNG.uniform(-1.7, 1.7, (2, 3, 3, 2)), requires_grad=True)
    kw = dict(mode=mode, padding_mode=padding_mode, align_corners=align_corners)
    y = F.grid_sample(x, g, **kw)
    np.testing.assert_allclose(y.detach().numpy(), np_grid_sample(x.detach().numpy(), g.detach().numpy(), **kw),
                               atol=1e-12)
    _gradcheck(lambda a, b: F.grid_sample(a, b, **kw), x, g)


@pytest.mark.parametrize("mode", ["bilinear", "bicubic"])
def test_grid_sample_5d_reference_and_gradcheck(mode):
    x, g = _t((1, 2, 3, 2, 3), grad=True), fg.tensor(RNG.uniform(-1.3, 1.3, (1, 2, 2, 1, 3)), requires_grad=True)
    for pm in ("zeros", "border", "reflection"):
        kw = dict(mode=mode, padding_mode=pm, align_corners=False)
        y = F.grid_sample(x, g, **kw)
        np.testing.assert_allclose(y.detach().numpy(), np_grid_sample(x.detach().numpy(), g.detach().numpy(), **kw),
                                   atol=1e-12)
        _gradcheck(lambda a, b, kw=kw: F.grid_sample(a, b, **kw), x, g)


def test_grid_sample_nearest_gives_the_grid_a_zero_gradient():
    x, g = _t((1, 1, 3, 3), grad=True), _t((1, 2, 2, 2), grad=True)
    F.grid_sample(x, g, mode="nearest", align_corners=False).sum().backward()
    assert g.grad is not None and not g.grad.numpy().any()


def test_border_clamp_has_zero_gradient_on_the_border_as_pytorch():
    # x = 1 unnormalises to W - 1 = 3 exactly with align_corners=True: PyTorch counts the border as outside
    x = fg.tensor(np.arange(4.0).reshape(1, 1, 1, 4))
    g = fg.tensor([[[[1.0, 0.0]]]], dtype=fg.float64, requires_grad=True)
    F.grid_sample(x, g, padding_mode="border", align_corners=True).sum().backward()
    assert g.grad.numpy().tolist() == [[[[0.0, 0.0]]]]


def test_grid_and_affine_grid_warn_when_align_corners_is_none():
    th = fg.tensor(np.tile(np.array([[1.0, 0, 0], [0, 1, 0]]), (1, 1, 1)))
    with pytest.warns(UserWarning, match="Default grid_sample and affine_grid behavior has changed"):
        g = F.affine_grid(th, (1, 1, 2, 2))
    with pytest.warns(UserWarning, match="Default grid_sample and affine_grid behavior has changed"):
        F.grid_sample(_t((1, 1, 2, 2)), g)
    with pytest.warns(UserWarning, match="unit-size grids when align_corners=True"):
        F.affine_grid(th, (1, 1, 1, 2), align_corners=True)


@pytest.mark.parametrize("theta_shape,size,exc,msg", [
    ((2, 2, 3), (2, 3, 4, 5, 6), ValueError, "Expected a batch of 3D affine matrices of shape Nx3x4"),
    ((2, 3, 4), (2, 3, 4, 5), ValueError, "Expected a batch of 2D affine matrices of shape Nx2x3"),
    ((2, 2, 3), (2, 3, 4), NotImplementedError, "affine_grid only supports 4D and 5D sizes"),
    ((2, 2, 3), (2, 3, 0, 5), ValueError, "Expected non-zero, positive output size"),
])
def test_affine_grid_errors(theta_shape, size, exc, msg):
    with pytest.raises(exc, match=msg):
        F.affine_grid(_t(theta_shape), size, align_corners=False)
    with pytest.raises(ValueError, match="Expected theta to have floating point type"):
        F.affine_grid(fg.zeros(2, 2, 3, dtype=fg.int64), (2, 1, 2, 2), align_corners=False)


def test_grid_sample_errors():
    x = _t((2, 3, 4, 5))
    with pytest.raises(ValueError, match="expected mode to be 'bilinear', 'nearest' or 'bicubic', but got: 'foo'"):
        F.grid_sample(x, _t((2, 2, 2, 2)), mode="foo")
    with pytest.raises(ValueError, match="expected padding_mode to be 'zeros', 'border', or 'reflection'"):
        F.grid_sample(x, _t((2, 2, 2, 2)), padding_mode="wrap")
    with pytest.raises(RuntimeError, match="expected grid to have size 2 in last dimension"):
        F.grid_sample(x, _t((2, 2, 2, 3)), align_corners=False)
    with pytest.raises(RuntimeError, match="expected grid and input to have same batch size"):
        F.grid_sample(x, _t((3, 2, 2, 2)), align_corners=False)
    with pytest.raises(RuntimeError, match="non-empty spatial dimensions"):
        F.grid_sample(fg.zeros(2, 3, 0, 5, dtype=fg.float64), _t((2, 2, 2, 2)), align_corners=False)
    with pytest.raises(RuntimeError, match="same dtype"):
        F.grid_sample(x, _t((2, 2, 2, 2), dtype=np.float32), align_corners=False)
    assert F.grid_sample(fg.zeros(0, 3, 4, 5), fg.zeros(0, 6, 7, 2), align_corners=False).shape == (0, 3, 6, 7)


# ----------------------------------------------------------------------------- NaN and inf as PyTorch


def test_nonfinite_values_spread_to_the_same_outputs_as_pytorch():
    # PyTorch 2.15 values (CPU):
    #   F.interpolate(torch.tensor([[[[0., 0., nan]]]], dtype=torch.float64), size=(1, 9), mode="bicubic")
    #     -> 0 0 nan nan nan nan nan nan nan (its fused multiply-add puts output 1 at -2**-55: taps -2..1)
    #   F.interpolate(torch.tensor([[[inf]]]), size=3, mode="linear")    -> nan nan inf (float32 and float64)
    #   F.interpolate(torch.tensor([[[inf, 0.]]]), scale_factor=1.5, mode="area") -> inf inf 0
    x = fg.tensor([[[[0.0, 0.0, float("nan")]]]], dtype=fg.float64)
    out = F.interpolate(x, size=(1, 9), mode="bicubic").numpy().ravel()
    np.testing.assert_array_equal(np.isnan(out), [False, False] + [True] * 7)
    for dt in (fg.float32, fg.float64):
        out = F.interpolate(fg.tensor([[[float("inf")]]], dtype=dt), size=3, mode="linear").numpy().ravel()
        assert np.isnan(out[:2]).all() and out[2] == np.inf
    out = F.interpolate(fg.tensor([[[float("inf"), 0.0]]]), scale_factor=1.5, mode="area").numpy().ravel()
    assert out.tolist() == [np.inf, np.inf, 0.0]


def test_grid_sample_bicubic_inf_input_gives_signed_inf_grid_gradient():
    # torch: grid.grad == [-inf, nan] for input [[inf, 0]] sampled at (0, 0), bicubic, zeros
    g = fg.zeros(1, 1, 1, 2, requires_grad=True)
    F.grid_sample(fg.tensor([[[[float("inf"), 0.0]]]]), g, mode="bicubic", align_corners=False).sum().backward()
    gx, gy = g.grad.numpy().ravel()
    assert gx == -np.inf and np.isnan(gy)
