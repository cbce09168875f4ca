"""Pooling over 1, 2 and 3 spatial axes against numpy references written from PyTorch's
definitions (window by window over the padded input, any rank), float64 gradcheck of every
pool, the tie, NaN and ceil-mode rules, unbatched inputs, max_unpool, lp_pool, the layers'
reprs (PyTorch's strings) and a bad-input table. 2-D specifics stay in test_conv_pool.py."""

import itertools
import math

import ferrograd as fg
import ferrograd.nn as nn
import ferrograd.nn.functional as F
import numpy as np
import pytest
from helpers import make_distinct as _make_distinct
from pool_reference import np_adaptive, np_avg_pool, np_lp_pool, np_max_pool, np_unpool

gradcheck = fg.autograd.gradcheck


def make_distinct(shape, seed=0):
    """No two elements within 1e-2 of each other, however many there are."""
    n = math.prod(shape)
    return _make_distinct(shape, -max(2.0, n / 100), max(2.0, n / 100), seed=seed)


def t64(a, requires_grad=False):
    return fg.tensor(np.asarray(a, dtype=np.float64), requires_grad=requires_grad)


MAX = {1: F.max_pool1d, 2: F.max_pool2d, 3: F.max_pool3d}
AVG = {1: F.avg_pool1d, 2: F.avg_pool2d, 3: F.avg_pool3d}


# ---- max pool -----------------------------------------------------------------------------------

# (input shape, kernel, stride, padding, dilation, ceil_mode)
MAX_CASES = [
    ((2, 3, 9), (3,), (2,), (1,), (1,), False),
    ((3, 8), (2,), (2,), (0,), (1,), True),
    ((2, 2, 10), (3,), (1,), (1,), (3,), False),
    ((1, 2, 7), (4,), (3,), (2,), (1,), True),
    ((2, 2, 4, 5, 6), (2, 2, 2), (2, 2, 2), (0, 0, 0), (1, 1, 1), False),
    ((1, 2, 5, 5, 5), (3, 3, 3), (2, 2, 2), (1, 1, 1), (1, 1, 1), True),
    ((2, 4, 6, 5), (2, 3, 2), (1, 2, 2), (1, 1, 0), (2, 1, 2), True),
    ((1, 1, 3, 6, 7), (1, 2, 2), (1, 2, 2), (0, 0, 0), (1, 1, 1), True),
    # 3x3 windows in the plane: ResNet's stem pool at odd and even sizes, stride 1, a ceil-mode
    # partial window, and a 3-D (1, 3, 3) kernel.
    ((2, 3, 9, 8), (3, 3), (2, 2), (1, 1), (1, 1), False),
    ((1, 2, 7, 7), (3, 3), (1, 1), (1, 1), (1, 1), True),
    ((2, 2, 8, 9), (3, 3), (2, 2), (0, 0), (1, 1), True),
    ((1, 2, 3, 6, 7), (1, 3, 3), (1, 2, 2), (0, 1, 1), (1, 1, 1), False),
    # Output rows longer than the 64 outputs rust's max_plane folds at a time (a run boundary
    # inside the row), at strides 1 and 2 and with dilation.
    ((1, 2, 150), (3,), (1,), (1,), (1,), False),
    ((1, 2, 3, 260), (3, 3), (1, 2), (1, 1), (1, 1), True),
    ((1, 1, 4, 140), (2, 3), (1, 1), (0, 1), (1, 2), False),
    # Last: a window wholly in padding (-inf), which gradcheck skips.
    ((1, 1, 1, 1, 1), (2, 2, 2), (1, 1, 1), (1, 1, 1), (2, 2, 2), False),
]
MAX_IDS = [f"{c[0]}-k{c[1]}-s{c[2]}-p{c[3]}-d{c[4]}-{'ceil' if c[5] else 'floor'}" for c in MAX_CASES]


@pytest.mark.parametrize("xs,k,s,p,d,ceil", MAX_CASES, ids=MAX_IDS)
def test_max_pool_values_and_indices_match_numpy(xs, k, s, p, d, ceil):
    x = make_distinct(xs, seed=1)
    out, idx = MAX[len(k)](t64(x), k, s, p, d, ceil_mode=ceil, return_indices=True)
    ref, ref_idx = np_max_pool(x, k, s, p, d, ceil)
    np.testing.assert_array_equal(out.numpy(), ref)
    assert idx.dtype == fg.int64
    np.testing.assert_array_equal(idx.numpy(), ref_idx)
    out32 = MAX[len(k)](fg.tensor(x.astype(np.float32)), k, s, p, d, ceil)
    np.testing.assert_array_equal(out32.numpy(), ref.astype(np.float32))


@pytest.mark.parametrize("xs,k,s,p,d,ceil", MAX_CASES, ids=MAX_IDS)
def test_max_pool_with_ties_nan_and_inf_matches_numpy(xs, k, s, p, d, ceil):
    x = np.random.default_rng(3).choice(np.array([-np.inf, 0.0, 1.0, 2.0, np.nan, np.inf]), size=xs,
                                       p=[0.1, 0.3, 0.25, 0.2, 0.1, 0.05])
    out, idx = MAX[len(k)](t64(x), k, s, p, d, ceil, return_indices=True)
    ref, ref_idx = np_max_pool(x, k, s, p, d, ceil)
    np.testing.assert_array_equal(out.numpy(), ref)
    np.testing.assert_array_equal(idx.numpy(), ref_idx)


@pytest.mark.parametrize("xs,k,s,p,d,ceil", MAX_CASES[:-1], ids=MAX_IDS[:-1])
def test_max_pool_gradcheck_float64(xs, k, s, p, d, ceil):
    x = t64(make_distinct((1, 2) + xs[-len(k):], seed=2), True)
    assert gradcheck(lambda t: MAX[len(k)](t, k, s, p, d, ceil_mode=ceil), (x,))


def test_max_pool3d_gradient_goes_to_the_first_of_tied_maxima_and_accumulates():
    x = t64(np.ones((1, 1, 2, 2, 3)), True)
    out, idx = F.max_pool3d(x, 2, stride=1, return_indices=True)
    np.testing.assert_array_equal(idx.numpy().ravel(), [0, 1])
    out.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy().ravel(), [1, 1] + [0] * 10)


def test_max_pool1d_nan_wins_and_a_later_nan_takes_the_index():
    x = t64([[[1.0, np.nan, 3.0, np.nan, 2.0, 5.0]]])
    out, idx = F.max_pool1d(x, 3, 1, return_indices=True)
    assert np.isnan(out.numpy()).all()
    np.testing.assert_array_equal(idx.numpy().ravel(), [1, 3, 3, 3])  # PyTorch's values


def test_a_window_wholly_in_padding_is_minus_inf_and_gets_no_gradient():
    # dilation 2 with padding 1 on one element: taps at -1 and 1, both outside (PyTorch gives
    # index 1, past the input, and its backward writes out of bounds; ferrograd drops it).
    x = t64([[[4.0]]], True)
    out, idx = F.max_pool1d(x, 2, 1, 1, 2, return_indices=True)
    assert out.item() == -np.inf and idx.item() == 1
    out.sum().backward()
    assert x.grad.item() == 0.0


@pytest.mark.parametrize("n,size,k,s,p,ceil,expected", [
    (1, 10, 3, 2, 0, True, 5), (1, 10, 3, 2, 0, False, 4), (1, 5, 2, 2, 1, True, 3),
    (3, 5, 2, 2, 0, True, 3), (3, 5, 2, 2, 0, False, 2), (3, 6, 3, 2, 1, True, 4), (3, 6, 3, 2, 1, False, 3),
])
def test_ceil_mode_output_sizes_match_pytorch(n, size, k, s, p, ceil, expected):
    shape = (1, 1) + (size,) * n
    assert tuple(MAX[n](fg.zeros(*shape), k, s, p, ceil_mode=ceil).shape) == (1, 1) + (expected,) * n
    assert tuple(AVG[n](fg.zeros(*shape), k, s, p, ceil_mode=ceil).shape) == (1, 1) + (expected,) * n


# ---- average pool -------------------------------------------------------------------------------

# (input shape, kernel, stride, padding, ceil_mode, count_include_pad, divisor_override)
AVG_CASES = [
    ((2, 3, 9), (3,), (2,), (1,), False, True, None),
    ((2, 3, 9), (3,), (2,), (1,), True, False, None),
    ((1, 2, 4), (3,), (2,), (1,), True, True, None),
    ((2, 2, 4, 5, 6), (2, 2, 2), (2, 2, 2), (0, 0, 0), False, True, None),
    ((1, 2, 5, 5, 5), (3, 3, 3), (2, 2, 2), (1, 1, 1), True, True, None),
    ((1, 2, 5, 5, 5), (3, 3, 3), (2, 2, 2), (1, 1, 1), True, False, None),
    ((2, 4, 6, 5), (2, 3, 2), (1, 2, 2), (1, 1, 0), False, True, 5),
    ((1, 1, 3, 3, 3), (2, 2, 2), (2, 2, 2), (1, 1, 1), True, True, None),
]


@pytest.mark.parametrize("xs,k,s,p,ceil,cip,div", AVG_CASES)
def test_avg_pool_matches_numpy_and_gradchecks(xs, k, s, p, ceil, cip, div):
    x = np.random.default_rng(9).normal(size=xs)
    args = (k, s, p, ceil, cip) + ((div,) if len(k) > 1 else ())
    out = AVG[len(k)](t64(x), *args)
    np.testing.assert_allclose(out.numpy(), np_avg_pool(x, k, s, p, ceil, cip, div), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(AVG[len(k)](fg.tensor(x.astype(np.float32)), *args).numpy(),
                               np_avg_pool(x, k, s, p, ceil, cip, div), rtol=1e-5, atol=1e-6)
    assert gradcheck(lambda t: AVG[len(k)](t, *args), (t64(x[:1], True),))


def test_avg_pool3d_ceil_mode_divisor_counts_the_padding_up_to_its_end():
    out = F.avg_pool3d(fg.ones(1, 1, 3, 3, 3), 2, padding=1, ceil_mode=True)
    np.testing.assert_array_equal(out.numpy().ravel(), [0.125, 0.25, 0.25, 0.5, 0.25, 0.5, 0.5, 1.0])  # PyTorch's


# ---- adaptive pools -----------------------------------------------------------------------------

ADAPTIVE_CASES = [
    ((2, 3, 7), (3,)), ((2, 3, 4), (6,)), ((3, 5), (2,)),
    ((2, 2, 5, 4, 6), (2, 3, 4)), ((1, 2, 3, 5, 2), (4, 1, 3)), ((2, 4, 4, 4), (None, 2, 3)),
    ((1, 2, 5, 7), (3, 2)),
]


@pytest.mark.parametrize("xs,size", ADAPTIVE_CASES)
def test_adaptive_avg_pool_matches_numpy_and_gradchecks(xs, size):
    n = len(size)
    fn = {1: F.adaptive_avg_pool1d, 2: F.adaptive_avg_pool2d, 3: F.adaptive_avg_pool3d}[n]
    x = np.random.default_rng(10).normal(size=xs)
    out_size = tuple(xs[-n + i] if v is None else v for i, v in enumerate(size))
    arg = size[0] if n == 1 else size
    np.testing.assert_allclose(fn(t64(x), arg).numpy(), np_adaptive(x, out_size, "avg"), rtol=1e-12)
    assert gradcheck(lambda t: fn(t, arg), (t64(x[:1], True),))


@pytest.mark.parametrize("xs,size", ADAPTIVE_CASES)
def test_adaptive_max_pool_matches_numpy_with_ties_and_nan_and_gradchecks(xs, size):
    n = len(size)
    fn = {1: F.adaptive_max_pool1d, 2: F.adaptive_max_pool2d, 3: F.adaptive_max_pool3d}[n]
    out_size = tuple(xs[-n + i] if v is None else v for i, v in enumerate(size))
    arg = size[0] if n == 1 else size
    x = np.random.default_rng(4).choice(np.array([0.0, 1.0, 2.0, np.nan]), size=xs, p=[0.4, 0.3, 0.2, 0.1])
    out, idx = fn(t64(x), arg, return_indices=True)
    ref, ref_idx = np_adaptive(x, out_size, "max")
    np.testing.assert_array_equal(out.numpy(), ref)
    np.testing.assert_array_equal(idx.numpy(), ref_idx)
    x = make_distinct(xs, seed=5)
    np.testing.assert_array_equal(fn(t64(x), arg).numpy(), np_adaptive(x, out_size, "max")[0])
    assert gradcheck(lambda t: fn(t, arg), (t64(x[:1], True),))


def test_global_adaptive_average_is_a_mean_even_on_empty_input():
    # PyTorch's shortcut for an all-ones output size: a mean (NaN on an empty input, no error).
    x = t64(np.random.default_rng(0).normal(size=(2, 3, 4, 5, 6)), True)
    out = F.adaptive_avg_pool3d(x, 1)
    np.testing.assert_allclose(out.detach().numpy(), x.detach().numpy().mean(axis=(2, 3, 4), keepdims=True), rtol=1e-12)
    assert out.grad_fn.name() == "MeanBackward1"
    assert np.isnan(F.adaptive_avg_pool1d(fg.zeros(1, 2, 0), 1).numpy()).all()


def _outputs(out):
    return out if isinstance(out, tuple) else (out,)


# ---- unbatched inputs -----------------------------------------------------------------------------

@pytest.mark.parametrize("call", [
    lambda x: F.max_pool1d(x, 2, return_indices=True), lambda x: F.avg_pool1d(x, 3, 1, 1),
    lambda x: F.adaptive_avg_pool1d(x, 3), lambda x: F.adaptive_max_pool1d(x, 3, True), lambda x: F.lp_pool1d(x, 2, 2),
], ids=["max1d", "avg1d", "adaptive_avg1d", "adaptive_max1d", "lp1d"])
def test_unbatched_1d_input_matches_the_batched_result(call):
    x = make_distinct((3, 7), seed=6)
    for a, b in zip(_outputs(call(t64(x))), _outputs(call(t64(x[None])))):
        np.testing.assert_array_equal(a.numpy(), b.numpy()[0])


@pytest.mark.parametrize("call", [
    lambda x: F.max_pool3d(x, 2, return_indices=True), lambda x: F.avg_pool3d(x, 2, 1, 1),
    lambda x: F.adaptive_avg_pool3d(x, 2), lambda x: F.adaptive_max_pool3d(x, (1, 2, 3), True), lambda x: F.lp_pool3d(x, 1, 2),
], ids=["max3d", "avg3d", "adaptive_avg3d", "adaptive_max3d", "lp3d"])
def test_unbatched_3d_input_matches_the_batched_result(call):
    x = make_distinct((2, 4, 4, 5), seed=7)
    for a, b in zip(_outputs(call(t64(x))), _outputs(call(t64(x[None])))):
        np.testing.assert_array_equal(a.numpy(), b.numpy()[0])


def test_empty_batch_gives_an_empty_output():
    assert tuple(F.max_pool3d(fg.zeros(0, 2, 4, 4, 4), 2).shape) == (0, 2, 2, 2, 2)
    assert tuple(F.avg_pool1d(fg.zeros(0, 2, 4), 2).shape) == (0, 2, 2)
    assert tuple(F.adaptive_max_pool2d(fg.zeros(0, 2, 4, 4), 3).shape) == (0, 2, 3, 3)


# ---- max unpool ---------------------------------------------------------------------------------

@pytest.mark.parametrize("n,xs,k,s,p", [
    (1, (2, 3, 8), 2, 2, 0), (1, (2, 7), 3, 2, 1), (2, (2, 2, 6, 5), 2, 2, 0), (2, (1, 2, 7, 7), 3, 2, 1),
    (3, (1, 2, 4, 6, 4), 2, 2, 0), (3, (2, 5, 5, 5), 3, 2, 1),
])
def test_max_unpool_inverts_max_pool_and_its_gradient_gathers(n, xs, k, s, p):
    x = make_distinct(xs, seed=8)
    out, idx = MAX[n](t64(x), k, s, p, return_indices=True)
    unpool = {1: F.max_unpool1d, 2: F.max_unpool2d, 3: F.max_unpool3d}[n]
    size = list(xs[-n:])
    y = unpool(out, idx, k, s, p, output_size=size)
    ref = np_unpool(out.numpy(), idx.numpy(), size)
    np.testing.assert_array_equal(y.numpy(), ref)
    # every maximum is back where it was, everything else zero
    mask = ref != 0
    np.testing.assert_array_equal(y.numpy()[mask], x[mask])
    flat = idx.numpy().reshape(-1, math.prod(idx.shape[-n:]))
    if all(len(set(row)) == len(row) for row in flat):
        # (overlapping windows can pick one maximum twice; the later write wins while both
        # inputs get the gradient, PyTorch's gather, which finite differences do not see)
        assert gradcheck(lambda t: unpool(t, idx, k, s, p, output_size=size), (t64(out.numpy(), True),))
    g = t64(np.random.default_rng(1).normal(size=y.shape))
    leaf = t64(out.numpy(), True)
    (unpool(leaf, idx, k, s, p, output_size=size) * g).sum().backward()
    gathered = np.take_along_axis(g.numpy().reshape(idx.shape[:-n] + (-1,)), idx.numpy().reshape(idx.shape[:-n] + (-1,)), -1)
    np.testing.assert_array_equal(leaf.grad.numpy(), gathered.reshape(idx.shape))


def test_max_unpool_default_and_explicit_output_sizes_follow_pytorch():
    x, idx = F.max_pool2d(t64(np.arange(32.0).reshape(1, 2, 4, 4)), 2, return_indices=True)
    assert tuple(F.max_unpool2d(x, idx, 2).shape) == (1, 2, 4, 4)  # (2 - 1) * 2 + 2
    x, idx = F.max_pool2d(t64(np.arange(50.0).reshape(1, 2, 5, 5)), 2, return_indices=True)
    assert tuple(F.max_unpool2d(x, idx, 2, output_size=(1, 2, 5, 5)).shape) == (1, 2, 5, 5)
    with pytest.raises(ValueError, match=r'invalid output_size "\[6, 5\]" \(dim 0 must be between 2 and 6\)'):
        F.max_unpool2d(x, idx, 2, output_size=[6, 5])
    with pytest.raises(ValueError, match="should be a sequence containing 2 or 4 elements"):
        F.max_unpool2d(x, idx, 2, output_size=[5])


def test_max_unpool_duplicate_indices_keep_the_last_value():
    x = t64([[[1.0, 2.0, 3.0]]], True)
    idx = fg.tensor([[[1, 1, 0]]])
    y = F.max_unpool1d(x, idx, 1, output_size=[3])
    np.testing.assert_array_equal(y.detach().numpy().ravel(), [3.0, 2.0, 0.0])
    (y * t64([[[10.0, 20.0, 30.0]]])).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy().ravel(), [20.0, 20.0, 10.0])


# ---- lp pool ------------------------------------------------------------------------------------

@pytest.mark.parametrize("n,xs,p,k,s,ceil", [
    (1, (2, 3, 9), 2.0, (3,), (2,), False), (1, (2, 8), 1.0, (2,), (2,), True),
    (2, (1, 2, 6, 7), 3.0, (2, 3), (2, 2), True), (2, (1, 2, 6, 6), 1.5, (2, 2), (1, 2), False),
    (3, (1, 2, 4, 5, 4), 2.0, (2, 2, 2), (2, 2, 2), False), (3, (2, 4, 4, 4), 4.0, (3, 2, 2), (1, 2, 2), True),
])
def test_lp_pool_follows_pytorchs_formula_and_gradchecks(n, xs, p, k, s, ceil):
    fn = {1: F.lp_pool1d, 2: F.lp_pool2d, 3: F.lp_pool3d}[n]
    r = np.random.default_rng(2)
    x = r.uniform(0.3, 2.0, size=xs) * (r.choice([-1.0, 1.0], size=xs) if float(p).is_integer() else 1.0)
    kk = k[0] if n == 1 else k
    out = fn(t64(x), p, kk, s, ceil)
    np.testing.assert_allclose(out.numpy(), np_lp_pool(x, p, k, s, ceil), rtol=1e-10, equal_nan=True)
    if p in (2.0, 4.0, 1.5):
        assert gradcheck(lambda t: fn(t, p, kk, s, ceil), (t64(np.abs(x[:1]), True),))


def test_lp_pool_of_infinite_norm_is_max_pool_of_abs_and_zero_windows_get_zero_gradient():
    x = t64(np.random.default_rng(3).normal(size=(1, 2, 6, 6)))
    np.testing.assert_array_equal(F.lp_pool2d(x, float("inf"), 2).numpy(), F.max_pool2d(x.abs(), 2).numpy())
    z = t64(np.zeros((1, 1, 4)), True)
    F.lp_pool1d(z, 2, 2).sum().backward()
    np.testing.assert_array_equal(z.grad.numpy(), np.zeros((1, 1, 4)))
    with pytest.raises(ValueError, match="norm_type must be a non-zero value"):
        nn.LPPool2d(0, 2)


# ---- layers -------------------------------------------------------------------------------------

REPRS = [  # PyTorch 2.x's reprs of the same constructions
    (lambda: nn.MaxPool1d(3), "MaxPool1d(kernel_size=3, stride=3, padding=0, dilation=1, ceil_mode=False)"),
    (lambda: nn.MaxPool3d((2, 2, 1), stride=1, padding=1, dilation=2, ceil_mode=True),
     "MaxPool3d(kernel_size=(2, 2, 1), stride=1, padding=1, dilation=2, ceil_mode=True)"),
    (lambda: nn.AvgPool1d(3), "AvgPool1d(kernel_size=(3,), stride=(3,), padding=(0,))"),
    (lambda: nn.AvgPool1d((2,), 1, 1), "AvgPool1d(kernel_size=(2,), stride=(1,), padding=(1,))"),
    (lambda: nn.AvgPool3d(2), "AvgPool3d(kernel_size=2, stride=2, padding=0)"),
    (lambda: nn.AvgPool2d(2, divisor_override=3), "AvgPool2d(kernel_size=2, stride=2, padding=0)"),
    (lambda: nn.AdaptiveAvgPool1d(4), "AdaptiveAvgPool1d(output_size=4)"),
    (lambda: nn.AdaptiveAvgPool3d((None, 2, 3)), "AdaptiveAvgPool3d(output_size=(None, 2, 3))"),
    (lambda: nn.AdaptiveMaxPool1d(2, return_indices=True), "AdaptiveMaxPool1d(output_size=2)"),
    (lambda: nn.AdaptiveMaxPool2d((2, None)), "AdaptiveMaxPool2d(output_size=(2, None))"),
    (lambda: nn.AdaptiveMaxPool3d(1), "AdaptiveMaxPool3d(output_size=1)"),
    (lambda: nn.MaxUnpool1d(2), "MaxUnpool1d(kernel_size=(2,), stride=(2,), padding=(0,))"),
    (lambda: nn.MaxUnpool2d(2, 1, 1), "MaxUnpool2d(kernel_size=(2, 2), stride=(1, 1), padding=(1, 1))"),
    (lambda: nn.MaxUnpool3d((2, 2, 1)), "MaxUnpool3d(kernel_size=(2, 2, 1), stride=(2, 2, 1), padding=(0, 0, 0))"),
    (lambda: nn.LPPool1d(2, 3), "LPPool1d(norm_type=2, kernel_size=3, stride=None, ceil_mode=False)"),
    (lambda: nn.LPPool2d(1.5, (2, 3), stride=1, ceil_mode=True),
     "LPPool2d(norm_type=1.5, kernel_size=(2, 3), stride=1, ceil_mode=True)"),
    (lambda: nn.LPPool3d(float("inf"), 2), "LPPool3d(norm_type=inf, kernel_size=2, stride=None, ceil_mode=False)"),
]


@pytest.mark.parametrize("make,text", REPRS, ids=[t.split("(")[0] + str(i) for i, (_, t) in enumerate(REPRS)])
def test_layer_repr_matches_pytorch(make, text):
    assert repr(make()) == text


def test_layers_run_their_functional_forms():
    x = t64(make_distinct((2, 3, 4, 6, 6), seed=9))
    pool = nn.MaxPool3d(2, return_indices=True)
    out, idx = pool(x)
    np.testing.assert_array_equal(out.numpy(), F.max_pool3d(x, 2).numpy())
    np.testing.assert_array_equal(nn.MaxUnpool3d(2)(out, idx).numpy(), F.max_unpool3d(out, idx, 2).numpy())
    np.testing.assert_array_equal(nn.AvgPool3d(2, 1, 1, True, False)(x).numpy(), F.avg_pool3d(x, 2, 1, 1, True, False).numpy())
    np.testing.assert_array_equal(nn.AdaptiveMaxPool3d((1, 2, 3))(x).numpy(), F.adaptive_max_pool3d(x, (1, 2, 3)).numpy())
    np.testing.assert_array_equal(nn.AdaptiveAvgPool3d(2)(x).numpy(), F.adaptive_avg_pool3d(x, 2).numpy())
    np.testing.assert_array_equal(nn.LPPool3d(2, 2)(x.abs()).numpy(), F.lp_pool3d(x.abs(), 2.0, 2).numpy())
    x1 = x[0, 0]
    np.testing.assert_array_equal(nn.MaxPool1d(3, 2, 1)(x1).numpy(), F.max_pool1d(x1, 3, 2, 1).numpy())
    np.testing.assert_array_equal(nn.AvgPool1d(3, 2, 1)(x1).numpy(), F.avg_pool1d(x1, 3, 2, 1).numpy())
    assert nn.MaxPool3d(2).state_dict() == {} and not list(nn.AvgPool1d(2).parameters())


def test_chained_3d_pools_backpropagate_to_the_input():
    x = fg.randn(2, 3, 8, 8, 8, requires_grad=True)
    y = F.adaptive_max_pool3d(F.avg_pool3d(F.max_pool3d(x, 2), 2, 1, 1), (1, 2, 1))
    y.sum().backward()
    assert tuple(x.grad.shape) == (2, 3, 8, 8, 8) and float(x.grad.abs().sum()) > 0


# ---- bad input ----------------------------------------------------------------------------------

x3, x5 = fg.ones(1, 2, 5), fg.ones(1, 1, 4, 4, 4)

BAD_CALLS = [
    ("max1d 4-D", lambda: F.max_pool1d(fg.ones(1, 2, 3, 4), 2), RuntimeError, r"max_pool1d.*2-D.*3-D.*\[1, 2, 3, 4\]"),
    ("max1d 1-D", lambda: F.max_pool1d(fg.ones(5), 2), RuntimeError, r"max_pool1d.*\[5\]"),
    ("max1d pad", lambda: F.max_pool1d(x3, 2, padding=2), RuntimeError, r"max_pool1d: pad should be smaller than or equal to half of kernel size.*padW = 2, kW = 2"),
    ("max1d kernel 0", lambda: F.max_pool1d(x3, 0), RuntimeError, r"kernel size should be greater than zero"),
    ("max1d kernel pair", lambda: F.max_pool1d(x3, (2, 2)), RuntimeError, r"kernel_size must be a single int or a tuple of one"),
    ("max1d float kernel", lambda: F.max_pool1d(x3, 2.0), TypeError, r"kernel_size must be an int"),
    ("max1d too small", lambda: F.max_pool1d(fg.ones(1, 2, 2), 3), RuntimeError, r"Output size is too small"),
    ("max1d empty channels", lambda: F.max_pool1d(fg.ones(1, 0, 4), 2), RuntimeError, r"max_pool1d.*\[1, 0, 4\]"),
    ("max3d 3-D", lambda: F.max_pool3d(fg.ones(4, 4, 4), 2), RuntimeError, r"max_pool3d.*4-D.*5-D"),
    ("max3d stride 0", lambda: F.max_pool3d(x5, 2, stride=(1, 0, 1)), RuntimeError, r"stride should be greater than zero, but got dT: 1 dH: 0 dW: 1"),
    ("max3d dilation 0", lambda: F.max_pool3d(x5, 2, dilation=0), RuntimeError, r"dilation should be greater than zero"),
    ("max3d negative pad", lambda: F.max_pool3d(x5, 2, padding=-1), RuntimeError, r"pad must be non-negative"),
    ("max3d pad", lambda: F.max_pool3d(x5, 2, padding=(0, 2, 0)), RuntimeError, r"pad should be smaller than or equal to half"),
    ("max3d kernel pair", lambda: F.max_pool3d(x5, (2, 2)), RuntimeError, r"max_pool3d: kernel_size must be a single int or a tuple of three"),
    ("max3d too small", lambda: F.max_pool3d(fg.ones(1, 1, 2, 2, 2), 3), RuntimeError, r"Given input size: \(1x2x2x2\). Calculated output size: \(1x0x0x0\)"),
    ("max3d empty channels", lambda: F.max_pool3d(fg.ones(1, 0, 2, 2, 2), 1), RuntimeError, r"max_pool3d.*\[1, 0, 2, 2, 2\]"),
    ("max3d ints", lambda: F.max_pool3d(fg.ones(1, 1, 2, 2, 2, dtype=fg.int64), 1), TypeError, r"max_pool3d.*floating point"),
    ("avg1d 4-D", lambda: F.avg_pool1d(fg.ones(1, 2, 3, 4), 2), RuntimeError, r"avg_pool1d.*\[1, 2, 3, 4\]"),
    ("avg1d pad", lambda: F.avg_pool1d(x3, 2, padding=2), RuntimeError, r"avg_pool1d: pad should be smaller"),
    ("avg3d small input", lambda: F.avg_pool3d(fg.ones(1, 1, 2, 2, 2), 3, padding=1), RuntimeError, r"input image \(T: 2 H: 2 W: 2\) smaller than kernel size \(kT: 3 kH: 3 kW: 3\)"),
    ("avg3d zero divisor", lambda: F.avg_pool3d(x5, 2, divisor_override=0), RuntimeError, r"avg_pool3d: divisor must be not zero"),
    ("avg3d stride pair", lambda: F.avg_pool3d(x5, 2, (1, 1)), RuntimeError, r"stride must be a single int or a tuple of three"),
    ("adaptive avg1d pair", lambda: F.adaptive_avg_pool1d(x3, (2, 2)), RuntimeError, r"should contain one int \(got 2\)"),
    ("adaptive avg1d None", lambda: F.adaptive_avg_pool1d(x3, None), TypeError, r"must be tuple of ints, not NoneType"),
    ("adaptive avg1d 4-D", lambda: F.adaptive_avg_pool1d(fg.ones(1, 2, 3, 4), 2), RuntimeError, r"adaptive_avg_pool1d.*\[1, 2, 3, 4\]"),
    ("adaptive avg1d negative", lambda: F.adaptive_avg_pool1d(x3, -1), RuntimeError, r"greater than or equal to 0"),
    ("adaptive avg3d empty", lambda: F.adaptive_avg_pool3d(fg.ones(1, 2, 0, 3, 3), 2), RuntimeError, r"adaptive_avg_pool3d.*dimension 2 being empty"),
    ("adaptive avg3d four sizes", lambda: F.adaptive_avg_pool3d(x5, (1, 2, 2, 3)), RuntimeError, r"output_size must be 3"),
    ("adaptive avg3d 2-D", lambda: F.adaptive_avg_pool3d(fg.ones(3, 3), 2), RuntimeError, r"adaptive_avg_pool3d.*\[3, 3\]"),
    ("adaptive max1d empty channels", lambda: F.adaptive_max_pool1d(fg.ones(1, 0, 3), 2), RuntimeError, r"dimension 1 being empty"),
    ("adaptive max2d 5-D", lambda: F.adaptive_max_pool2d(fg.ones(1, 1, 2, 3, 4), 2), RuntimeError, r"adaptive_max_pool2d.*\[1, 1, 2, 3, 4\]"),
    ("adaptive max2d three sizes", lambda: F.adaptive_max_pool2d(fg.ones(1, 2, 3, 4), (1, 2, 3)), RuntimeError, r"output_size must be 2"),
    ("adaptive max2d short input", lambda: F.adaptive_max_pool2d(fg.ones(3, 4), (1, 2)), ValueError, r"Input dimension should be at least 3"),
    ("adaptive max3d negative", lambda: F.adaptive_max_pool3d(x5, -1), RuntimeError, r"greater than or equal to 0"),
    ("unpool float indices", lambda: F.max_unpool2d(fg.ones(1, 1, 2, 2), fg.zeros(1, 1, 2, 2), 2), RuntimeError, r"indices should be type int64 but got: Float"),
    ("unpool shape mismatch", lambda: F.max_unpool2d(fg.ones(1, 1, 2, 2), fg.zeros(1, 1, 2, 3, dtype=fg.int64), 2), RuntimeError, r"Expected shape of indices to be same"),
    ("unpool bad index", lambda: F.max_unpool2d(fg.ones(1, 1, 2, 2), fg.full((1, 1, 2, 2), 16), 2), RuntimeError, r"Found an invalid max index: 16 \(output volumes are of size 4x4\)"),
    ("unpool 3-D rank", lambda: F.max_unpool3d(fg.ones(2, 2, 2), fg.zeros(2, 2, 2, dtype=fg.int64), 2), RuntimeError, r"max_unpool3d should be a 4d or 5d Tensor"),
    ("unpool3d zero stride", lambda: F.max_unpool3d(x5, fg.zeros(1, 1, 4, 4, 4, dtype=fg.int64), 2, stride=0), RuntimeError, r"strides should be greater than zero"),
    ("lp zero norm", lambda: F.lp_pool2d(fg.ones(1, 1, 4, 4), 0, 2), ValueError, r"norm_type must be a non-zero value"),
]


@pytest.mark.parametrize("name,call,exc,pattern", BAD_CALLS, ids=[b[0] for b in BAD_CALLS])
def test_bad_input_raises_a_clear_error(name, call, exc, pattern):
    with pytest.raises(exc, match=pattern):
        call()


# ---- PyTorch, when installed ----------------------------------------------------------------------

def test_matches_pytorch_when_installed():
    torch = pytest.importorskip("torch")
    tf = torch.nn.functional
    r = np.random.default_rng(12)
    for n, shape in [(1, (2, 3, 7)), (3, (1, 2, 5, 4, 6))]:
        x = r.normal(size=shape)
        x.reshape(-1)[[0, 7]] = np.nan
        for k, s, p, d, ceil in itertools.product([1, 2, 3], [1, 2], [0, 1], [1, 2], [False, True]):
            mx, tmx = getattr(F, f"max_pool{n}d"), getattr(tf, f"max_pool{n}d")
            try:
                ref, ref_idx = tmx(torch.tensor(x), k, s, p, d, ceil, return_indices=True)
            except RuntimeError:
                with pytest.raises(RuntimeError):
                    mx(t64(x), k, s, p, d, ceil)
                continue
            out, idx = mx(t64(x), k, s, p, d, ceil, return_indices=True)
            np.testing.assert_array_equal(out.numpy(), ref.numpy())
            np.testing.assert_array_equal(idx.numpy(), ref_idx.numpy())
            if d == 1:
                for cip in (True, False):
                    av, tav = getattr(F, f"avg_pool{n}d"), getattr(tf, f"avg_pool{n}d")
                    try:
                        ref = tav(torch.tensor(x), k, s, p, ceil, cip)
                    except RuntimeError:
                        with pytest.raises(RuntimeError):
                            av(t64(x), k, s, p, ceil, cip)
                        continue
                    np.testing.assert_allclose(av(t64(x), k, s, p, ceil, cip).numpy(), ref.numpy(), rtol=1e-12)
        for size in [1, 2, 5]:
            for how in ("avg", "max"):
                ours = getattr(F, f"adaptive_{how}_pool{n}d")(t64(x), size)
                ref = getattr(tf, f"adaptive_{how}_pool{n}d")(torch.tensor(x), size)
                np.testing.assert_allclose(ours.numpy(), ref.numpy(), rtol=1e-12)
