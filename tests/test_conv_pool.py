"""conv2d and the 2-D pools against numpy references written from PyTorch's definitions
(padded-input einsum for conv2d, direct window loops for the pools), float64 gradcheck for each,
the modules' PyTorch behaviour (init, repr, state_dict) and a bad-input table."""

import itertools
import math
import os
import subprocess
import sys

import ferrograd as fg
import ferrograd.nn as nn
import ferrograd.nn.functional as F
import numpy as np
import pytest
from helpers import make_distinct, rng

gradcheck = fg.autograd.gradcheck


def t64(a, requires_grad=False):
    return fg.tensor(np.asarray(a, dtype=np.float64), requires_grad=requires_grad)


# ---- numpy references ---------------------------------------------------------------------

def np_conv2d(x, w, b=None, stride=(1, 1), pads=(0, 0, 0, 0), dilation=(1, 1), groups=1):
    """Cross-correlation over the zero-padded input, one einsum per kernel tap and group.
    pads = (top, bottom, left, right)."""
    (sh, sw), (dh, dw) = stride, dilation
    xp = np.pad(x, ((0, 0), (0, 0), pads[:2], pads[2:]))
    n, c, hp, wp = xp.shape
    o, cg, kh, kw = w.shape
    oh, ow = (hp - dh * (kh - 1) - 1) // sh + 1, (wp - dw * (kw - 1) - 1) // sw + 1
    og = o // groups
    out = np.zeros((n, o, oh, ow), dtype=np.result_type(x, w))
    for g in range(groups):
        xg, wg = xp[:, g * cg:(g + 1) * cg], w[g * og:(g + 1) * og]
        for i in range(kh):
            for j in range(kw):
                patch = xg[:, :, i * dh:i * dh + sh * (oh - 1) + 1:sh, j * dw:j * dw + sw * (ow - 1) + 1:sw]
                out[:, g * og:(g + 1) * og] += np.einsum("nchw,oc->nohw", patch, wg[:, :, i, j])
    if b is not None:
        out += b.reshape(1, -1, 1, 1)
    return out


def pool_out(size, k, p, s, d, ceil):
    """PyTorch's pooling_output_shape."""
    out = (size + 2 * p - d * (k - 1) - 1 + (s - 1 if ceil else 0)) // s + 1
    if ceil and (out - 1) * s >= size + p:
        out -= 1
    return out


def np_max_pool2d(x, k, s, p, d=(1, 1), ceil=False):
    """Window by window over the -inf-padded plane; the first maximum in row-major order wins,
    a NaN wins over any number (a later NaN over an earlier one), and a window's index starts
    at its first in-bounds tap (PyTorch's CPU rule). Returns (values, flat h * W + w indices)."""
    n, c, h, w = x.shape
    oh, ow = pool_out(h, k[0], p[0], s[0], d[0], ceil), pool_out(w, k[1], p[1], s[1], d[1], ceil)
    out, idx = np.empty((n, c, oh, ow)), np.empty((n, c, oh, ow), dtype=np.int64)
    for y in range(oh):
        for xx in range(ow):
            best, at = np.full((n, c), -np.inf), np.zeros((n, c), dtype=np.int64)
            first = True
            for i in range(k[0]):
                for j in range(k[1]):
                    iy, ix = y * s[0] - p[0] + i * d[0], xx * s[1] - p[1] + j * d[1]
                    if 0 <= iy < h and 0 <= ix < w:
                        v = x[:, :, iy, ix]
                        better = first | (v > best) | np.isnan(v)
                        first = False
                        best, at = np.where(better, v, best), np.where(better, iy * w + ix, at)
            out[:, :, y, xx], idx[:, :, y, xx] = best, at
    return out, idx


def np_avg_pool2d(x, k, s, p, ceil=False, count_include_pad=True, divisor=None):
    n, c, h, w = x.shape
    oh, ow = pool_out(h, k[0], p[0], s[0], 1, ceil), pool_out(w, k[1], p[1], s[1], 1, ceil)
    out = np.zeros((n, c, oh, ow))
    for y in range(oh):
        for xx in range(ow):
            y0, x0 = y * s[0] - p[0], xx * s[1] - p[1]
            y1, x1 = min(y0 + k[0], h + p[0]), min(x0 + k[1], w + p[1])
            padded = (y1 - y0) * (x1 - x0)
            y0, x0, y1, x1 = max(y0, 0), max(x0, 0), min(y1, h), min(x1, w)
            if y0 >= y1 or x0 >= x1:
                continue
            total = x[:, :, y0:y1, x0:x1].sum(axis=(2, 3))
            out[:, :, y, xx] = total / (divisor or (padded if count_include_pad else (y1 - y0) * (x1 - x0)))
    return out


def np_adaptive_avg_pool2d(x, oh, ow):
    h, w = x.shape[2:]
    out = np.zeros(x.shape[:2] + (oh, ow))
    for i in range(oh):
        for j in range(ow):
            y0, y1 = math.floor(i * h / oh), math.ceil((i + 1) * h / oh)
            x0, x1 = math.floor(j * w / ow), math.ceil((j + 1) * w / ow)
            out[:, :, i, j] = x[:, :, y0:y1, x0:x1].mean(axis=(2, 3))
    return out


# ---- conv2d -------------------------------------------------------------------------------

# (input shape, weight shape, kwargs for F.conv2d, pads as (top, bottom, left, right))
CONV_CASES = [
    ((2, 3, 7, 7), (4, 3, 3, 3), {}, (0, 0, 0, 0)),
    ((2, 1, 8, 8), (16, 1, 3, 3), {"padding": 1}, (1, 1, 1, 1)),
    ((3, 4, 9, 6), (6, 4, 2, 3), {"stride": (2, 1), "padding": (1, 0)}, (1, 1, 0, 0)),
    ((1, 2, 9, 9), (3, 2, 3, 3), {"dilation": 2, "padding": 2}, (2, 2, 2, 2)),
    ((2, 4, 6, 7), (6, 2, 3, 3), {"groups": 2, "padding": 1}, (1, 1, 1, 1)),
    ((2, 3, 6, 6), (3, 1, 3, 3), {"groups": 3, "stride": 2}, (0, 0, 0, 0)),  # depthwise
    ((2, 4, 6, 6), (8, 1, 3, 3), {"groups": 4, "padding": 1}, (1, 1, 1, 1)),  # depthwise, multiplier 2
    ((3, 5, 4, 6), (7, 5, 1, 1), {}, (0, 0, 0, 0)),  # pointwise: the input is the column matrix
    ((2, 4, 5, 5), (6, 2, 1, 1), {"groups": 2}, (0, 0, 0, 0)),
    ((2, 2, 5, 8), (3, 2, 1, 3), {"stride": (1, 3), "dilation": (1, 2)}, (0, 0, 0, 0)),
    ((2, 2, 6, 6), (3, 2, 4, 4), {"padding": "same"}, (1, 2, 1, 2)),  # even kernel: extra after
    ((2, 2, 7, 5), (3, 2, 3, 2), {"padding": "same", "dilation": (2, 1)}, (2, 2, 0, 1)),
    ((2, 2, 5, 5), (3, 2, 3, 3), {"padding": "valid"}, (0, 0, 0, 0)),
    ((2, 2, 3, 1), (2, 2, 5, 5), {"padding": 2}, (2, 2, 2, 2)),  # taps wholly in the padding
    ((5, 3, 4, 4), (2, 3, 4, 4), {}, (0, 0, 0, 0)),  # kernel = input: 1x1 output
]
CONV_IDS = [f"{x}-{w}-{kw}" for x, w, kw, _ in CONV_CASES]


def _conv_kwargs_np(kw, pads):
    pair = lambda v: v if isinstance(v, tuple) else (v, v)  # noqa: E731
    return dict(stride=pair(kw.get("stride", 1)), pads=pads, dilation=pair(kw.get("dilation", 1)), groups=kw.get("groups", 1))


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("xs,ws,kw,pads", CONV_CASES, ids=CONV_IDS)
def test_conv2d_forward_matches_numpy_in_float64_and_float32(xs, ws, kw, pads, bias):
    r = rng(1)
    x, w = r.normal(size=xs), r.normal(size=ws)
    b = r.normal(size=ws[0]) if bias else None
    ref = np_conv2d(x, w, b, **_conv_kwargs_np(kw, pads))
    out = F.conv2d(t64(x), t64(w), None if b is None else t64(b), **kw)
    assert tuple(out.shape) == ref.shape and out.dtype == fg.float64
    np.testing.assert_allclose(out.numpy(), ref, rtol=1e-10, atol=1e-10)
    f = lambda a: fg.tensor(np.asarray(a, dtype=np.float32))  # noqa: E731
    out32 = F.conv2d(f(x), f(w), None if b is None else f(b), **kw)
    assert out32.dtype == fg.float32
    np.testing.assert_allclose(out32.numpy(), ref, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("xs,ws,kw,pads", CONV_CASES[:14], ids=CONV_IDS[:14])
def test_conv2d_gradcheck_float64(xs, ws, kw, pads):
    r = rng(2)
    x = t64(r.normal(size=(1,) + xs[1:]), True)  # one image keeps gradcheck's Jacobian small
    w, b = t64(r.normal(size=ws), True), t64(r.normal(size=ws[0]), True)
    assert gradcheck(lambda x, w, b: F.conv2d(x, w, b, **kw), (x, w, b))


def test_conv2d_gradients_over_a_batch_match_the_numpy_adjoint():
    """conv2d is linear in x and in w, so for any g: <conv(x, w), g> = <x, dx> = <w, dw>,
    and db sums g. Checked on a batch large enough for the parallel path."""
    r = rng(3)
    for xs, ws, kw, pads in CONV_CASES:
        x, w, b = r.normal(size=(9,) + xs[1:]), r.normal(size=ws), r.normal(size=ws[0])
        tx, tw, tb = t64(x, True), t64(w, True), t64(b, True)
        y = F.conv2d(tx, tw, tb, **kw)
        g = r.normal(size=tuple(y.shape))
        y.backward(t64(g))
        lin = np.sum(np_conv2d(x, w, None, **_conv_kwargs_np(kw, pads)) * g)
        assert np.sum(x * tx.grad.numpy()) == pytest.approx(lin, rel=1e-10)
        assert np.sum(w * tw.grad.numpy()) == pytest.approx(lin, rel=1e-10)
        np.testing.assert_allclose(tb.grad.numpy(), g.sum(axis=(0, 2, 3)), rtol=1e-10)


def test_conv2d_gradient_of_each_input_alone():
    r = rng(4)
    x, w = r.normal(size=(3, 2, 5, 5)), r.normal(size=(4, 2, 3, 3))
    full_x, full_w = t64(x, True), t64(w, True)
    F.conv2d(full_x, full_w, padding=1).sum().backward()
    only_x = t64(x, True)
    F.conv2d(only_x, t64(w), padding=1).sum().backward()
    only_w = t64(w, True)
    F.conv2d(t64(x), only_w, padding=1).sum().backward()
    np.testing.assert_array_equal(only_x.grad.numpy(), full_x.grad.numpy())
    np.testing.assert_array_equal(only_w.grad.numpy(), full_w.grad.numpy())


def test_conv2d_weight_gradient_is_deterministic():
    r = rng(5)
    x, w = fg.tensor(r.normal(size=(64, 16, 14, 14)).astype(np.float32)), r.normal(size=(32, 16, 3, 3)).astype(np.float32)
    grads = []
    for _ in range(3):
        tw = fg.tensor(w, requires_grad=True)
        F.conv2d(x, tw, padding=1).sum().backward()
        grads.append(tw.grad.numpy())
    assert all(np.array_equal(grads[0], gi) for gi in grads[1:])


_THREADS_SCRIPT = """
import hashlib, numpy as np, ferrograd as fg, ferrograd.nn.functional as F
r, h = np.random.default_rng(0), hashlib.sha256()
for n in (1, 3, 8):
    x = fg.tensor(r.normal(size=(n, 8, 12, 12)).astype(np.float32), requires_grad=True)
    w = fg.tensor(r.normal(size=(16, 8, 3, 3)).astype(np.float32), requires_grad=True)
    y = F.conv2d(x, w, padding=1)
    y.backward(fg.tensor(r.normal(size=tuple(y.shape)).astype(np.float32)))
    p = F.max_pool2d(y.detach().requires_grad_(), 3, 2, 1)
    p.sum().backward()
    for a in (y.detach().numpy(), x.grad.numpy(), w.grad.numpy(), p.detach().numpy()):
        h.update(a.tobytes())
print(h.hexdigest())
"""


def test_conv2d_and_pool_results_do_not_depend_on_the_thread_count():
    # Batches smaller and larger than the pool take different paths (gemm's own threads or
    # one image per task); every path must give the same bits.
    digests = set()
    for threads in ("1", "3"):
        env = dict(os.environ, RAYON_NUM_THREADS=threads)
        run = subprocess.run([sys.executable, "-c", _THREADS_SCRIPT], env=env, capture_output=True, text=True, check=True)
        digests.add(run.stdout.strip())
    assert len(digests) == 1


def test_conv2d_unbatched_input_matches_the_batched_result():
    r = rng(6)
    x, w, b = r.normal(size=(3, 6, 5)), r.normal(size=(4, 3, 3, 3)), r.normal(size=4)
    out = F.conv2d(t64(x), t64(w), t64(b), padding=1)
    assert tuple(out.shape) == (4, 6, 5)
    np.testing.assert_allclose(out.numpy(), np_conv2d(x[None], w, b, pads=(1, 1, 1, 1))[0], rtol=1e-12)


def test_conv2d_under_no_grad_matches_and_records_nothing():
    r = rng(7)
    x, w = r.normal(size=(4, 3, 6, 6)), r.normal(size=(5, 3, 3, 3))
    tw = t64(w, True)
    with fg.no_grad():
        out = F.conv2d(t64(x), tw, stride=2, padding=1)
    assert out.grad_fn is None and not out.requires_grad
    np.testing.assert_allclose(out.numpy(), np_conv2d(x, w, stride=(2, 2), pads=(1, 1, 1, 1)), rtol=1e-12)


def test_conv2d_empty_batch_or_no_output_channels_gives_empty_results():
    out = F.conv2d(fg.zeros(0, 2, 5, 5), fg.ones(3, 2, 3, 3))
    assert tuple(out.shape) == (0, 3, 3, 3)
    x, w = fg.ones(2, 2, 5, 5, requires_grad=True), fg.ones(0, 2, 3, 3, requires_grad=True)
    out = F.conv2d(x, w)
    assert tuple(out.shape) == (2, 0, 3, 3)
    out.sum().backward()
    assert tuple(w.grad.shape) == (0, 2, 3, 3)
    np.testing.assert_array_equal(x.grad.numpy(), np.zeros((2, 2, 5, 5), dtype=np.float32))


def test_conv2d_saved_weight_changed_in_place_is_caught():
    w = t64(np.ones((2, 1, 2, 2)), True)
    x = t64(np.ones((1, 1, 3, 3)), True)
    y = F.conv2d(x, w)
    with fg.no_grad():
        w.add_(1.0)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.sum().backward()


# ---- Conv2d module ------------------------------------------------------------------------

def test_conv2d_module_state_dict_init_and_forward():
    fg.manual_seed(0)
    m = nn.Conv2d(4, 6, 3, padding=1, groups=2)
    assert list(m.state_dict().keys()) == ["weight", "bias"]
    assert tuple(m.weight.shape) == (6, 2, 3, 3) and tuple(m.bias.shape) == (6,)
    bound = 1 / math.sqrt(2 * 3 * 3)  # fan_in = in_channels / groups * kH * kW
    for p in (m.weight, m.bias):
        v = p.detach().numpy()
        assert np.all(np.abs(v) <= bound) and np.abs(v).max() > 0.5 * bound
    big = nn.Conv2d(64, 64, 3).weight.detach().numpy()
    assert big.std() == pytest.approx(1 / math.sqrt(64 * 9) / math.sqrt(3), rel=0.05)  # U(-b, b)
    x = np.random.default_rng(8).normal(size=(2, 4, 5, 5)).astype(np.float32)
    ref = np_conv2d(x.astype(np.float64), m.weight.detach().numpy().astype(np.float64), m.bias.detach().numpy(), pads=(1, 1, 1, 1), groups=2)
    np.testing.assert_allclose(m(fg.tensor(x)).detach().numpy(), ref, rtol=1e-4, atol=1e-5)
    nb = nn.Conv2d(1, 2, 2, bias=False)
    assert nb.bias is None and list(nb.state_dict().keys()) == ["weight"]


@pytest.mark.parametrize("module,text", [
    (lambda: nn.Conv2d(1, 16, 3, padding=1), "Conv2d(1, 16, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1))"),
    (lambda: nn.Conv2d(16, 32, (3, 5), stride=2), "Conv2d(16, 32, kernel_size=(3, 5), stride=(2, 2))"),
    (lambda: nn.Conv2d(4, 8, 3, dilation=2, groups=4, bias=False),
     "Conv2d(4, 8, kernel_size=(3, 3), stride=(1, 1), dilation=(2, 2), groups=4, bias=False)"),
    (lambda: nn.Conv2d(2, 2, 3, padding="same"), "Conv2d(2, 2, kernel_size=(3, 3), stride=(1, 1), padding=same)"),
    (lambda: nn.MaxPool2d(2), "MaxPool2d(kernel_size=2, stride=2, padding=0, dilation=1, ceil_mode=False)"),
    (lambda: nn.MaxPool2d((3, 2), 1, 1, ceil_mode=True), "MaxPool2d(kernel_size=(3, 2), stride=1, padding=1, dilation=1, ceil_mode=True)"),
    (lambda: nn.AvgPool2d(3, stride=2), "AvgPool2d(kernel_size=3, stride=2, padding=0)"),
    (lambda: nn.AdaptiveAvgPool2d((5, None)), "AdaptiveAvgPool2d(output_size=(5, None))"),
])
def test_reprs_match_pytorch(module, text):
    assert repr(module()) == text


# ---- max pool -----------------------------------------------------------------------------

# (input shape, kernel, stride, padding, dilation, ceil_mode)
MAX_CASES = [
    ((2, 3, 8, 8), (2, 2), (2, 2), (0, 0), (1, 1), False),
    ((2, 2, 7, 7), (3, 3), (2, 2), (1, 1), (1, 1), False),
    ((2, 2, 7, 6), (3, 2), (2, 1), (1, 1), (1, 1), True),
    ((1, 2, 9, 9), (3, 3), (2, 2), (1, 0), (2, 2), False),
    ((2, 2, 5, 5), (2, 2), (2, 2), (0, 0), (1, 1), True),
    ((2, 1, 6, 5), (2, 3), (3, 2), (1, 1), (1, 2), True),
    ((3, 2, 4, 4), (4, 4), (4, 4), (0, 0), (1, 1), False),
]
MAX_IDS = [f"{c[0]}-k{c[1]}-s{c[2]}-p{c[3]}-d{c[4]}-{'ceil' if c[5] else 'floor'}" for c in MAX_CASES]


@pytest.mark.parametrize("xs,k,s,p,d,ceil", MAX_CASES, ids=MAX_IDS)
def test_max_pool2d_values_and_indices_match_numpy(xs, k, s, p, d, ceil):
    x = make_distinct(xs, seed=1)
    out, idx = F.max_pool2d(t64(x), k, s, p, d, ceil_mode=ceil, return_indices=True)
    ref, ref_idx = np_max_pool2d(x, k, s, p, d, ceil)
    np.testing.assert_array_equal(out.numpy(), ref)
    assert idx.dtype == fg.int64
    np.testing.assert_array_equal(idx.numpy(), ref_idx)
    out32 = F.max_pool2d(fg.tensor(x.astype(np.float32)), k, s, p, d, ceil_mode=ceil)
    np.testing.assert_array_equal(out32.numpy(), ref.astype(np.float32))


@pytest.mark.parametrize("xs,k,s,p,d,ceil", MAX_CASES, ids=MAX_IDS)
def test_max_pool2d_gradcheck_float64(xs, k, s, p, d, ceil):
    x = t64(make_distinct((1, 2) + xs[2:], seed=2), True)
    assert gradcheck(lambda t: F.max_pool2d(t, k, s, p, d, ceil_mode=ceil), (x,))


def test_max_pool2d_gradient_accumulates_where_windows_overlap_and_ties_go_first():
    x = np.array([[1.0, 3.0, 3.0], [0.0, 5.0, 2.0], [7.0, 7.0, 1.0]])
    t = t64(x[None, None], True)
    out, idx = F.max_pool2d(t, 2, stride=1, return_indices=True)
    np.testing.assert_array_equal(idx.numpy()[0, 0], [[4, 4], [6, 7]])
    out.sum().backward()
    np.testing.assert_array_equal(t.grad.numpy()[0, 0], [[0, 0, 0], [0, 2, 0], [1, 1, 0]])


def test_max_pool2d_propagates_nan():
    x = np.arange(16.0).reshape(1, 1, 4, 4)
    x[0, 0, 0, 1] = np.nan
    out = F.max_pool2d(t64(x), 2).numpy()[0, 0]
    assert np.isnan(out[0, 0]) and out[0, 1] == 7 and out[1, 1] == 15


@pytest.mark.parametrize("shape", [(3, 2, 14, 14), (2, 3, 9, 11), (1, 1, 28, 27), (2, 2, 4, 4)])
def test_max_pool2d_2x2_path_keeps_the_tie_nan_and_inf_rules(shape):
    # 2x2 windows at stride 2 take a separate branch-free kernel (vector body, scalar tail):
    # many ties, NaNs and infinities, on widths that exercise both parts.
    rng = np.random.default_rng(7)
    x = rng.choice(np.array([-np.inf, 0.0, 1.0, 2.0, np.nan, np.inf]), size=shape, p=[0.1, 0.3, 0.25, 0.2, 0.1, 0.05])
    ref, ref_idx = np_max_pool2d(x, (2, 2), (2, 2), (0, 0))
    for dtype in (np.float64, np.float32):
        out, idx = F.max_pool2d(fg.tensor(x.astype(dtype)), 2, return_indices=True)
        np.testing.assert_array_equal(out.numpy(), ref.astype(dtype))
        np.testing.assert_array_equal(idx.numpy(), ref_idx)


def test_max_pool2d_ceil_mode_output_sizes_match_pytorch():
    # GoogLeNet's 3x3/2 ceil-mode pool takes 112 to 56 (floor: 55); with padding 1, ceil mode
    # drops a window that would start in the trailing padding.
    for size, k, s, p, ceil, expected in [(112, 3, 2, 0, True, 56), (112, 3, 2, 0, False, 55), (5, 2, 2, 1, True, 3), (6, 3, 2, 0, True, 3)]:
        out = F.max_pool2d(fg.zeros(1, 1, size, size), k, s, p, ceil_mode=ceil)
        assert tuple(out.shape) == (1, 1, expected, expected)


def test_max_pool2d_module_unbatched_and_return_indices():
    x = make_distinct((3, 6, 6), seed=3)
    out, idx = nn.MaxPool2d(2, return_indices=True)(t64(x))
    ref, ref_idx = np_max_pool2d(x[None], (2, 2), (2, 2), (0, 0))
    np.testing.assert_array_equal(out.numpy(), ref[0])
    np.testing.assert_array_equal(idx.numpy(), ref_idx[0])


# ---- average pools ------------------------------------------------------------------------

# (input shape, kernel, stride, padding, ceil_mode, count_include_pad, divisor_override)
AVG_CASES = [
    ((2, 3, 8, 8), (2, 2), (2, 2), (0, 0), False, True, None),
    ((2, 2, 7, 7), (3, 3), (2, 2), (1, 1), False, True, None),
    ((2, 2, 7, 7), (3, 3), (2, 2), (1, 1), False, False, None),
    ((2, 2, 6, 5), (3, 2), (2, 2), (1, 1), True, True, None),
    ((2, 2, 6, 5), (3, 2), (2, 2), (1, 1), True, False, None),
    ((1, 2, 5, 5), (2, 3), (1, 2), (0, 1), False, True, 4),
    ((1, 2, 5, 5), (2, 2), (2, 2), (1, 1), True, False, None),
]


@pytest.mark.parametrize("xs,k,s,p,ceil,cip,div", AVG_CASES)
def test_avg_pool2d_matches_numpy_and_gradchecks(xs, k, s, p, ceil, cip, div):
    x = np.random.default_rng(9).normal(size=xs)
    out = F.avg_pool2d(t64(x), k, s, p, ceil, cip, div)
    np.testing.assert_allclose(out.numpy(), np_avg_pool2d(x, k, s, p, ceil, cip, div), rtol=1e-12, atol=1e-14)
    assert gradcheck(lambda t: F.avg_pool2d(t, k, s, p, ceil, cip, div), (t64(x[:1], True),))


@pytest.mark.parametrize("xs,size", [((2, 3, 7, 9), (3, 4)), ((1, 2, 5, 5), (5, 5)), ((2, 2, 6, 6), (1, 1)), ((1, 2, 4, 7), (6, 3)), ((2, 3, 5, 8), (None, 3))])
def test_adaptive_avg_pool2d_matches_numpy_and_gradchecks(xs, size):
    x = np.random.default_rng(10).normal(size=xs)
    oh, ow = (xs[2] if size[0] is None else size[0]), (xs[3] if size[1] is None else size[1])
    out = F.adaptive_avg_pool2d(t64(x), size)
    np.testing.assert_allclose(out.numpy(), np_adaptive_avg_pool2d(x, oh, ow), rtol=1e-12)
    assert gradcheck(lambda t: F.adaptive_avg_pool2d(t, size), (t64(x[:1], True),))


def test_pool_modules_accept_unbatched_input():
    x = np.random.default_rng(11).normal(size=(2, 6, 6))
    np.testing.assert_allclose(nn.AvgPool2d(2)(t64(x)).numpy(), np_avg_pool2d(x[None], (2, 2), (2, 2), (0, 0))[0], rtol=1e-12)
    np.testing.assert_allclose(nn.AdaptiveAvgPool2d(3)(t64(x)).numpy(), np_adaptive_avg_pool2d(x[None], 3, 3)[0], rtol=1e-12)


def test_small_cnn_trains_one_step_end_to_end():
    fg.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(4, 8, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 3),
    )
    x = fg.randn(5, 1, 8, 8)
    model(x).sum().backward()
    assert all(p.grad is not None and tuple(p.grad.shape) == tuple(p.shape) for p in model.parameters())


def test_matches_pytorch_when_installed():
    torch = pytest.importorskip("torch")
    r = rng(12)
    x, w, b = r.normal(size=(2, 4, 7, 6)), r.normal(size=(6, 2, 3, 2)), r.normal(size=6)
    tx, tw = torch.tensor(x, requires_grad=True), torch.tensor(w, requires_grad=True)
    ref = torch.nn.functional.conv2d(tx, tw, torch.tensor(b), stride=(2, 1), padding=1, dilation=(1, 2), groups=2)
    ref.sum().backward()
    fx, fw = t64(x, True), t64(w, True)
    out = F.conv2d(fx, fw, t64(b), stride=(2, 1), padding=1, dilation=(1, 2), groups=2)
    out.sum().backward()
    np.testing.assert_allclose(out.detach().numpy(), ref.detach().numpy(), rtol=1e-10)
    np.testing.assert_allclose(fx.grad.numpy(), tx.grad.numpy(), rtol=1e-10)
    np.testing.assert_allclose(fw.grad.numpy(), tw.grad.numpy(), rtol=1e-10)
    # Pools over a sweep of shapes and options: same values, same indices, same errors.
    tf = torch.nn.functional
    for h, w in [(7, 6), (3, 4)]:
        x = r.normal(size=(2, 3, h, w))
        x[0, 0, 0, 0] = x[1, 2, 1, 1] = np.nan
        for k, s, p, d, ceil in itertools.product([1, 2, 3], [1, 2, 3], [0, 1], [1, 2], [False, True]):
            try:
                ref, ref_idx = tf.max_pool2d(torch.tensor(x), k, s, p, d, ceil, return_indices=True)
            except RuntimeError:
                with pytest.raises(RuntimeError):
                    F.max_pool2d(t64(x), k, s, p, d, ceil)
                continue
            out, idx = F.max_pool2d(t64(x), k, s, p, d, ceil, return_indices=True)
            np.testing.assert_array_equal(out.numpy(), ref.numpy())
            np.testing.assert_array_equal(idx.numpy(), ref_idx.numpy())
            if d == 1:
                for cip in (True, False):
                    ref = tf.avg_pool2d(torch.tensor(x), k, s, p, ceil, cip)
                    np.testing.assert_allclose(F.avg_pool2d(t64(x), k, s, p, ceil, cip).numpy(), ref.numpy(), rtol=1e-12)
        for size in [(1, 1), (2, 3), (h + 2, 1)]:
            ref = tf.adaptive_avg_pool2d(torch.tensor(x), size)
            np.testing.assert_allclose(F.adaptive_avg_pool2d(t64(x), size).numpy(), ref.numpy(), rtol=1e-12)


# ---- bad input ----------------------------------------------------------------------------

x4 = fg.ones(1, 3, 5, 5)
w3 = fg.ones(4, 3, 3, 3)

BAD_CALLS = [
    ("conv 2-D input", lambda: F.conv2d(fg.ones(3, 5), w3), RuntimeError, r"conv2d.*3-D.*4-D.*\[3, 5\]"),
    ("conv 3-D weight", lambda: F.conv2d(x4, fg.ones(4, 3, 3)), RuntimeError, r"conv2d.*4-D weight.*\[4, 3, 3\]"),
    ("conv channel mismatch", lambda: F.conv2d(x4, fg.ones(4, 2, 3, 3)), RuntimeError, r"weight of size \[4, 2, 3, 3\].*input\[1, 3, 5, 5\] to have 2 channels, but got 3"),
    ("conv groups not dividing out", lambda: F.conv2d(fg.ones(1, 4, 5, 5), fg.ones(3, 2, 3, 3), groups=2), RuntimeError, r"groups=2.*divisible by 2.*\[3, 2, 3, 3\]"),
    ("conv groups not dividing in", lambda: F.conv2d(x4, fg.ones(4, 1, 3, 3), groups=2), RuntimeError, r"groups=2.*to have 2 channels, but got 3"),
    ("conv kernel too big", lambda: F.conv2d(x4, fg.ones(4, 3, 7, 7)), RuntimeError, r"padded input size per channel: \(5 x 5\). Kernel size: \(7 x 7\)"),
    ("conv dilated kernel too big", lambda: F.conv2d(x4, w3, dilation=3), RuntimeError, r"Kernel size: \(7 x 7\)"),
    ("conv zero stride", lambda: F.conv2d(x4, w3, stride=0), RuntimeError, r"non-positive stride"),
    ("conv negative padding", lambda: F.conv2d(x4, w3, padding=-1), RuntimeError, r"negative padding"),
    ("conv zero dilation", lambda: F.conv2d(x4, w3, dilation=0), RuntimeError, r"dilation should be greater than zero"),
    ("conv zero groups", lambda: F.conv2d(x4, w3, groups=0), RuntimeError, r"non-positive groups"),
    ("conv bias size", lambda: F.conv2d(x4, w3, fg.ones(3)), RuntimeError, r"bias to be 1-dimensional with 4 elements.*\[3\]"),
    ("conv dtype mismatch", lambda: F.conv2d(x4.double(), w3), RuntimeError, r"conv2d.*float64.*float32"),
    ("conv int input", lambda: F.conv2d(fg.ones(1, 3, 5, 5, dtype=fg.int64), fg.ones(4, 3, 3, 3, dtype=fg.int64)), TypeError, r"conv2d.*floating point"),
    ("conv same strided", lambda: F.conv2d(x4, w3, padding="same", stride=2), RuntimeError, r"'same' is not supported for strided"),
    ("conv bad padding string", lambda: F.conv2d(x4, w3, padding="full"), RuntimeError, r"Invalid padding string: 'full'"),
    ("conv stride of 3", lambda: F.conv2d(x4, w3, stride=(1, 2, 3)), RuntimeError, r"stride must be a single int or a tuple of two"),
    ("conv float stride", lambda: F.conv2d(x4, w3, stride=1.5), TypeError, r"stride must be an int"),
    ("Conv2d groups", lambda: nn.Conv2d(3, 4, 3, groups=2), ValueError, r"in_channels must be divisible by groups"),
    ("Conv2d out groups", lambda: nn.Conv2d(4, 3, 3, groups=2), ValueError, r"out_channels must be divisible by groups"),
    ("Conv2d zero groups", lambda: nn.Conv2d(4, 4, 3, groups=0), ValueError, r"groups must be a positive integer"),
    ("Conv2d same strided", lambda: nn.Conv2d(3, 4, 3, stride=2, padding="same"), ValueError, r"not supported for strided"),
    ("Conv2d padding mode", lambda: nn.Conv2d(3, 4, 3, padding_mode="mirror"), ValueError, r"padding_mode must be one of"),
    ("max pool 2-D input", lambda: F.max_pool2d(fg.ones(5, 5), 2), RuntimeError, r"max_pool2d.*3-D.*4-D.*\[5, 5\]"),
    ("max pool zero kernel", lambda: F.max_pool2d(x4, 0), RuntimeError, r"kernel size should be greater than zero, but got kH: 0 kW: 0"),
    ("max pool zero stride", lambda: F.max_pool2d(x4, 2, stride=(1, 0)), RuntimeError, r"stride should be greater than zero, but got dH: 1 dW: 0"),
    ("max pool zero dilation", lambda: F.max_pool2d(x4, 2, dilation=0), RuntimeError, r"dilation should be greater than zero"),
    ("max pool pad over half", lambda: F.max_pool2d(x4, 3, padding=2), RuntimeError, r"pad should be smaller than or equal to half of kernel size.*padW = 2, padH = 2, kW = 3, kH = 3"),
    ("max pool negative pad", lambda: F.max_pool2d(x4, 3, padding=-1), RuntimeError, r"pad must be non-negative"),
    ("max pool output too small", lambda: F.max_pool2d(fg.ones(1, 1, 2, 2), 3), RuntimeError, r"Given input size: \(1x2x2\). Calculated output size: \(1x0x0\). Output size is too small"),
    ("max pool empty channels", lambda: F.max_pool2d(fg.ones(1, 0, 4, 4), 2), RuntimeError, r"max_pool2d.*\[1, 0, 4, 4\]"),
    ("max pool kernel of 3", lambda: F.max_pool2d(x4, (2, 2, 2)), RuntimeError, r"kernel_size must be a single int or a tuple of two"),
    ("max pool ints", lambda: F.max_pool2d(fg.ones(1, 1, 4, 4, dtype=fg.int64), 2), TypeError, r"max_pool2d.*floating point"),
    ("avg pool pad over half", lambda: F.avg_pool2d(x4, 2, padding=2), RuntimeError, r"avg_pool2d: pad should be smaller than or equal to half"),
    ("avg pool zero divisor", lambda: F.avg_pool2d(x4, 2, divisor_override=0), RuntimeError, r"divisor must be not zero"),
    ("avg pool 5-D", lambda: F.avg_pool2d(fg.ones(1, 1, 1, 4, 4), 2), RuntimeError, r"avg_pool2d.*\[1, 1, 1, 4, 4\]"),
    ("adaptive negative size", lambda: F.adaptive_avg_pool2d(x4, -1), RuntimeError, r"output_size must be greater than or equal to 0"),
    ("adaptive empty input", lambda: F.adaptive_avg_pool2d(fg.ones(1, 2, 0, 4), 2), RuntimeError, r"non-zero size for non-batch dimensions.*dimension 2 being empty"),
    ("adaptive three sizes", lambda: F.adaptive_avg_pool2d(x4, (1, 2, 3)), RuntimeError, r"output_size must be 2"),
]


@pytest.mark.parametrize("name,call,exc,pattern", BAD_CALLS, ids=[b[0] for b in BAD_CALLS])
def test_bad_input_raises_a_clear_error(name, call, exc, pattern):
    with pytest.raises(exc, match=pattern):
        call()
