"""Oracle-style test harness (in the spirit of tinygrad's helper_test_op).

`check_op(shapes, np_fn, fg_fn)` draws random float64 inputs, runs the numpy reference and the
ferrograd op on the same data and compares:

* the float64 forward (values, shape and dtype) against numpy,
* the float32 forward against numpy run on the float32-rounded inputs (looser tolerance),
* the float64 Jacobian via `fg.autograd.gradcheck` (autograd vs central finite differences).
"""

from __future__ import annotations

import ferrograd as fg
import numpy as np

NP_OF_FG = {fg.float32: np.float32, fg.float64: np.float64, fg.int64: np.int64, fg.bool: np.bool_}
FG_OF_NP = {np.dtype(v): k for k, v in NP_OF_FG.items()}


def rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def to_np(t) -> np.ndarray:
    """A numpy copy of a tensor (detached), or the value unchanged if it is not a tensor."""
    if isinstance(t, fg.Tensor):
        return t.detach().numpy()
    return t


def make_arrays(shapes, low=-2.0, high=2.0, seed=0, dtype=np.float64):
    """Random arrays, one per shape, uniform in [low, high)."""
    r = rng(seed)
    return [r.uniform(low, high, size=s).astype(dtype) for s in shapes]


def make_distinct(shape, low=-2.0, high=2.0, seed=0, min_gap=1e-2):
    """A random float64 array whose elements are pairwise at least `min_gap` apart (no ties, so
    max/min/argmax have a single, stable answer and a well-defined gradient)."""
    n = int(np.prod(shape, dtype=np.int64))
    r = rng(seed)
    vals = np.linspace(low, high, n) if n > 1 else np.array([0.5 * (low + high)])
    assert n <= 1 or (high - low) / (n - 1) >= min_gap, "range too small for the requested gap"
    return r.permutation(vals).reshape(shape)


def away_from(arrays, points=(0.0,), margin=0.1):
    """Moves every element that lies within `margin` of a point out to `point +- margin`, so
    finite differences never straddle a kink (abs and relu at 0, clamp at its bounds)."""
    out = []
    for a in arrays:
        a = a.copy()
        for p in points:
            close = np.abs(a - p) < margin
            a[close] = p + np.where(a[close] >= p, margin, -margin)
        out.append(a)
    return out


def _as_list(out):
    if isinstance(out, (tuple, list)):
        return list(out)
    return [out]


def assert_matches_numpy(out, ref, atol=1e-6, rtol=1e-6, check_dtype=True):
    """`out` (a tensor or a tuple/list of tensors) equals `ref` (an array or a tuple/list of
    arrays): same number of outputs, same shapes, same dtypes and allclose values."""
    outs, refs = _as_list(out), _as_list(ref)
    assert len(outs) == len(refs), f"ferrograd gave {len(outs)} outputs, numpy {len(refs)}"
    for i, (o, r) in enumerate(zip(outs, refs)):
        assert isinstance(o, fg.Tensor), f"output {i} is {type(o).__name__}, not a Tensor"
        r = np.asarray(r)
        assert tuple(o.shape) == r.shape, f"output {i}: shape {tuple(o.shape)} != numpy {r.shape}"
        if check_dtype:
            assert o.dtype == FG_OF_NP[r.dtype], f"output {i}: dtype {o.dtype} != numpy {r.dtype}"
        got = to_np(o)
        if r.dtype.kind in "biu":
            np.testing.assert_array_equal(got, r, err_msg=f"output {i}")
        else:
            np.testing.assert_allclose(got, r, atol=atol, rtol=rtol, err_msg=f"output {i}")


def check_op(
    shapes,
    np_fn,
    fg_fn,
    *,
    arrays=None,
    low=-2.0,
    high=2.0,
    seed=0,
    atol=1e-6,
    rtol=1e-6,
    f32=True,
    f32_atol=1e-4,
    f32_rtol=1e-4,
    grad=True,
    grad_inputs=None,
    eps=1e-6,
    grad_atol=1e-5,
    grad_rtol=1e-3,
):
    """Compares `fg_fn(*tensors)` with `np_fn(*arrays)` forward (float64 and float32) and checks
    the float64 gradient with gradcheck.

    `arrays` overrides the random inputs; `grad_inputs` (indices) limits which inputs require
    grad (default: all of them).
    """
    if arrays is None:
        arrays = make_arrays(shapes, low=low, high=high, seed=seed)
    arrays = [np.asarray(a, dtype=np.float64) for a in arrays]

    # float64 forward
    ref = np_fn(*[a.copy() for a in arrays])
    out = fg_fn(*[fg.tensor(a) for a in arrays])
    assert_matches_numpy(out, ref, atol=atol, rtol=rtol)

    # float32 forward: numpy on the rounded inputs, computed in float64 and cast back
    if f32:
        a32 = [a.astype(np.float32) for a in arrays]
        ref32 = _as_list(np_fn(*[a.astype(np.float64) for a in a32]))
        ref32 = [np.asarray(r).astype(np.float32) if np.asarray(r).dtype == np.float64 else np.asarray(r) for r in ref32]
        out32 = fg_fn(*[fg.tensor(a) for a in a32])
        assert_matches_numpy(out32, ref32 if isinstance(ref, (tuple, list)) else ref32[0], atol=f32_atol, rtol=f32_rtol)

    # float64 gradient
    if grad:
        which = range(len(arrays)) if grad_inputs is None else grad_inputs
        ts = [fg.tensor(a, requires_grad=(i in which)) for i, a in enumerate(arrays)]
        assert fg.autograd.gradcheck(fg_fn, ts, eps=eps, atol=grad_atol, rtol=grad_rtol)


def check_grad(fn, arrays, grad_inputs=None, **kw):
    """gradcheck only (for ops whose forward is checked elsewhere or has no numpy twin)."""
    which = range(len(arrays)) if grad_inputs is None else grad_inputs
    ts = [fg.tensor(np.asarray(a, dtype=np.float64), requires_grad=(i in which)) for i, a in enumerate(arrays)]
    assert fg.autograd.gradcheck(fn, ts, **kw)


def grads_of_sum(fn, arrays):
    """The `.grad`s left by `fn(*tensors).sum().backward()` (float64 leaves), as numpy arrays."""
    ts = [fg.tensor(np.asarray(a, dtype=np.float64), requires_grad=True) for a in arrays]
    fn(*ts).sum().backward()
    return [None if t.grad is None else t.grad.numpy() for t in ts]


def unbroadcast(grad: np.ndarray, shape) -> np.ndarray:
    """Sums a broadcast gradient back down to `shape` (numpy reference for broadcasting backward)."""
    shape = tuple(shape)
    extra = grad.ndim - len(shape)
    if extra:
        grad = grad.sum(axis=tuple(range(extra)))
    axes = tuple(i for i, n in enumerate(shape) if n == 1 and grad.shape[i] != 1)
    if axes:
        grad = grad.sum(axis=axes, keepdims=True)
    return grad.reshape(shape)


def _is_advanced(k):
    return isinstance(k, list) or (isinstance(k, np.ndarray) and k.ndim > 0)


def numpy_with_torch_rule(x, key):
    """x[key] in numpy, with PyTorch's one difference: integers select before any advanced index
    is applied (numpy makes an integer next to an advanced index advanced too, which moves the
    broadcast dims: x[0, :, [1, 2]] is (4, 2) in PyTorch and (2, 4) in numpy for x (3, 4, 5))."""
    if isinstance(key, list) and any(isinstance(k, list) for k in key):
        key = tuple(key)  # PyTorch reads a list of lists as a tuple of indices (numpy's old rule)
    if not (isinstance(key, tuple) and any(map(_is_advanced, key)) and any(isinstance(k, int) for k in key)):
        return x[key]
    first = tuple(slice(None) if _is_advanced(k) else k for k in key)
    second = tuple(k if _is_advanced(k) or k is Ellipsis else slice(None) for k in key if not isinstance(k, int))
    return x[first][second]
