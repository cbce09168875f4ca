"""One call, two libraries: build the same inputs in ferrograd and PyTorch, run, compare.

In the spirit of tinygrad's `helper_test_op`: a case is a function `fn(L, *inputs, **kw)` written
once against the shared API, where `L` is the `torch` or `ferrograd` module. `check(case, args)`
runs it on both and compares, in this order:

* raise vs succeed: both raise or neither does (a ferrograd PanicException is always a failure;
  differing exception types are recorded in ERROR_TYPE_MISMATCHES, not failed);
* every output (tensors, numbers, tuples of them): shape, dtype, requires_grad, values (NaN and
  inf positions exact, finite floats within a tolerance by dtype, integers and bools exact);
* every tensor input afterwards (in-place ops and views must write the same elements);
* for float outputs that require grad: the gradient of a random weighted sum of the outputs
  w.r.t. every float input (and extra leaf, e.g. a layer's parameters) that requires grad.

Inputs are `T` values: a numpy base array, a view recipe (transpose, step slice, offset, expand)
applied to each library's tensor after it is made from the same array, and requires_grad.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import ferrograd as fg
import numpy as np
import torch
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

NP = {"float32": np.float32, "float64": np.float64, "int64": np.int64, "bool": np.bool_}
FLOATS = ("float32", "float64")
ALL_DTYPES = ("float32", "float64", "int64", "bool")
# Forward tolerance (relative to max(1, |expected|max)); gradients get 10x.
TOL = {"float32": 2e-5, "float64": 1e-10}

# (case, ferrograd exception type, torch exception type) -> one example message
ERROR_TYPE_MISMATCHES: dict[tuple[str, str, str], str] = {}
# (case, output, ferrograd grad_fn name, torch grad_fn name): recorded, failed only when asked
GRAD_FN_MISMATCHES: set[tuple[str, str, str, str]] = set()


# ----------------------------------------------------------------------------- inputs


@dataclass(frozen=True)
class T:
    """A tensor input: `base` made into a tensor in each library, `view` ops applied after."""

    base: np.ndarray
    view: tuple = ()  # ("T",) | ("step", dim, k) | ("offset", dim) | ("expand", shape)
    grad: bool = False

    def build(self, L):
        leaf = L.tensor(self.base.copy())
        if self.grad:
            leaf.requires_grad_(True)
        x = leaf
        for v in self.view:
            x = _apply_view(x, v)
        return leaf, x

    def __repr__(self) -> str:
        if self.base.size:
            arr = np.array2string(self.base, separator=", ", threshold=50, floatmode="unique")
            arr = f"np.array({arr.replace('nan', 'np.nan').replace('inf', 'np.inf')}, dtype=np.{self.base.dtype})"
        else:
            arr = f"np.zeros({self.base.shape}, dtype=np.{self.base.dtype})"
        g = ", grad=True" if self.grad else ""
        v = f", view={self.view!r}" if self.view else ""
        return f"T({arr}{v}{g})"


def _apply_view(x, v):
    kind = v[0]
    if kind == "T":
        return x.transpose(-2, -1)
    if kind == "step":
        _, d, k = v
        return x[(slice(None),) * d + (slice(None, None, k),)]
    if kind == "offset":
        _, d = v
        return x[(slice(None),) * d + (slice(1, None),)]
    if kind == "expand":
        return x.expand(*v[1])
    raise ValueError(v)


@dataclass
class Args:
    """The drawn inputs of one call: positional (T, numbers, lists of T) and keywords."""

    inputs: list
    kw: dict = field(default_factory=dict)
    seed: int = 0  # the weights of the weighted sum

    def __repr__(self) -> str:
        return f"Args({self.inputs!r}, kw={self.kw!r}, seed={self.seed})"


@dataclass
class Extra:
    """What an nn case returns: its output, extra leaves whose grads are compared (parameters),
    and extra state compared by value after the call (buffers)."""

    out: Any
    leaves: dict = field(default_factory=dict)
    state: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Case:
    id: str
    fn: Callable
    args: Any  # a hypothesis strategy of Args
    grad: bool = True
    tol: float = 1.0  # multiplier on TOL
    note: str = ""
    values: bool = True  # False for random outputs: shape, dtype and requires_grad only
    # gradients are compared only if this holds for torch's output (None: always); e.g. std near 0,
    # where torch's own float32 gradient is rounding noise divided by a rounding-noise std
    grad_when: Callable | None = None


# ----------------------------------------------------------------------------- strategies

SPECIALS = (math.nan, math.inf, -math.inf, 0.0, -0.0)


def _elements(dtype: str, low: float, high: float):
    if dtype == "float32":  # bounds must be float32 numbers: round them inwards
        lo, hi = np.float32(low), np.float32(high)
        lo = lo if lo >= low else np.nextafter(lo, np.float32(np.inf))
        hi = hi if hi <= high else np.nextafter(hi, np.float32(-np.inf))
        return st.floats(float(lo), float(hi), width=32, allow_subnormal=False)
    if dtype == "float64":
        return st.floats(low, high, allow_subnormal=False)
    if dtype == "int64":
        return st.integers(math.ceil(max(low, -4)), math.floor(min(high, 4)))
    return st.booleans()


@st.composite
def arrays(draw, dtype: str, shape: tuple, low=-4.0, high=4.0, nonfinite=True):
    a = draw(hnp.arrays(NP[dtype], shape, elements=_elements(dtype, low, high)))
    if dtype in FLOATS and nonfinite and a.size and draw(st.integers(0, 3)) == 0:
        flat = a.reshape(-1)
        for _ in range(draw(st.integers(1, 2))):
            flat[draw(st.integers(0, a.size - 1))] = draw(st.sampled_from(SPECIALS))
    return a


@st.composite
def tensors(draw, shape, dtype="float32", low=-4.0, high=4.0, nonfinite=True, grad=None, layouts=True):
    """A `T` of the given logical shape, drawn contiguous or as a strided view of a bigger base."""
    shape = tuple(shape)
    kinds = ["contig"]
    if layouts:
        kinds += ["step", "offset", "expand"] if shape else []
        kinds += ["T"] if len(shape) >= 2 else []
    kind = draw(st.sampled_from(kinds))
    view: tuple = ()
    base_shape = list(shape)
    if kind == "T":
        base_shape[-1], base_shape[-2] = base_shape[-2], base_shape[-1]
        view = (("T",),)
    elif kind == "step":
        d = draw(st.integers(0, len(shape) - 1))
        k = draw(st.integers(2, 3))
        base_shape[d] = shape[d] * k
        view = (("step", d, k),)
    elif kind == "offset":
        d = draw(st.integers(0, len(shape) - 1))
        base_shape[d] = shape[d] + 1
        view = (("offset", d),)
    elif kind == "expand":
        ones = draw(st.lists(st.integers(0, len(shape) - 1), min_size=1, max_size=len(shape), unique=True))
        for d in ones:
            base_shape[d] = 1
        view = (("expand", shape),)
    base = draw(arrays(dtype, tuple(base_shape), low, high, nonfinite))
    if grad is None:
        grad = dtype in FLOATS and draw(st.integers(0, 3)) > 0
    return T(base, view, bool(grad and dtype in FLOATS))


def shapes(min_dims=0, max_dims=3, min_side=0, max_side=4):
    return hnp.array_shapes(min_dims=min_dims, max_dims=max_dims, min_side=min_side, max_side=max_side)


def dtypes(allowed=ALL_DTYPES):
    return st.sampled_from(allowed)


def scalars(dtype: str | None = None, low=-4.0, high=4.0):
    """Python numbers as operands: float (maybe non-finite), int, bool."""
    opts = {
        "float32": st.floats(low, high, allow_subnormal=False) | st.sampled_from(SPECIALS),
        "int64": st.integers(int(low), int(high)),
        "bool": st.booleans(),
    }
    opts["float64"] = opts["float32"]
    return opts[dtype] if dtype else st.one_of(*opts.values())


seeds = st.integers(0, 2**32 - 1)


@st.composite
def unary(draw, dtypes_=ALL_DTYPES, low=-4.0, high=4.0, nonfinite=True, min_dims=0, max_dims=3, kw=None):
    dt = draw(dtypes(dtypes_))
    shape = draw(shapes(min_dims=min_dims, max_dims=max_dims))
    x = draw(tensors(shape, dt, low, high, nonfinite))
    return Args([x], draw(kw(shape)) if kw else {}, draw(seeds))


@st.composite
def nary(draw, n=2, dtypes_=ALL_DTYPES, low=-4.0, high=4.0, nonfinite=True, scalar_ok=True, same_dtype=False,
         bad_shapes=True, max_dims=3, first_tensor=False, kw=None):
    """n operands of mutually broadcastable shapes (now and then not broadcastable, to compare the
    errors); each a tensor of its own dtype (type promotion) or, if scalar_ok, a Python number."""
    if bad_shapes and draw(st.integers(0, 9)) == 0:
        shs = [draw(shapes(max_dims=max_dims)) for _ in range(n)]
    else:
        shs = draw(hnp.mutually_broadcastable_shapes(num_shapes=n, min_dims=0, max_dims=max_dims, min_side=0,
                                                     max_side=4)).input_shapes
    dt0 = draw(dtypes(dtypes_))
    out = []
    for i, sh in enumerate(shs):
        dt = dt0 if same_dtype else draw(dtypes(dtypes_))
        if scalar_ok and not (first_tensor and i == 0) and draw(st.integers(0, 4)) == 0:
            out.append(draw(scalars(dt, low, high)))
        else:
            out.append(draw(tensors(sh, dt, low, high, nonfinite)))
    if scalar_ok and not any(isinstance(o, T) for o in out):
        out[0] = draw(tensors(shs[0], dt0, low, high, nonfinite))
    return Args(out, draw(kw(shs)) if kw else {}, draw(seeds))


def dim_kw(allow_none=True, allow_tuple=True, keepdim=True, name="dim"):
    """Strategy factory: a dim for a shape (the range reaches one past each end, to compare the
    errors), a tuple of distinct dims, or None; and keepdim."""

    def make(shape):
        nd = len(shape)
        lo, hi = (-nd, nd - 1) if nd else (-1, 0)
        opts = [st.integers(lo - 1, hi + 1)]
        if allow_tuple and nd:
            opts.append(st.lists(st.integers(lo, hi), min_size=1, max_size=nd, unique_by=lambda d: d % nd).map(tuple))
        if allow_none:
            opts.append(st.none())
        d = st.one_of(*opts)
        if keepdim:
            return st.fixed_dictionaries({name: d, "keepdim": st.booleans()})
        return st.fixed_dictionaries({name: d})

    return make


# ----------------------------------------------------------------------------- running

LIBS = (("torch", torch), ("fg", fg))


def _is_tensor(x):
    return isinstance(x, (torch.Tensor, fg.Tensor))


def _build(inputs, L):
    """Each library's positional inputs, and the leaves and viewed tensors to compare afterwards."""
    built, tensors_ = [], []
    for a in inputs:
        if isinstance(a, T):
            leaf, x = a.build(L)
            built.append(x)
            tensors_.append((leaf, x))
        elif isinstance(a, list) and a and all(isinstance(e, T) for e in a):
            xs = [e.build(L) for e in a]
            built.append([x for _, x in xs])
            tensors_ += xs
        else:
            built.append(a)
    return built, tensors_


def _flat(out, prefix="out"):
    if isinstance(out, (tuple, list)) and not isinstance(out, torch.Size):
        items = []
        for i, o in enumerate(out):
            items += _flat(o, f"{prefix}[{i}]")
        return items
    return [(prefix, out)]


class Divergence(AssertionError):
    pass


def _run(fn, L, args):
    tens: list = []
    try:
        inputs, tens = _build(args.inputs, L)
        out = fn(L, *inputs, **args.kw)
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as e:  # noqa: BLE001 (pyo3's PanicException derives from BaseException)
        return None, tens, e
    return out, tens, None


def dtype_name(d) -> str:
    return str(d).split(".")[-1]


def _np(t):
    return t.detach().numpy() if t.dtype != torch.bfloat16 else t.detach().float().numpy()


def assert_values(got, exp, dt: str, tol: float, what: str):
    """NaN and +-inf positions exact; finite floats within tol * max(1, |exp|max); the rest exact."""
    got, exp = np.asarray(got), np.asarray(exp)
    if got.shape != exp.shape:
        raise Divergence(f"{what}: shape {got.shape} vs torch {exp.shape}")
    if dt not in FLOATS or got.dtype.kind not in "fc":
        if not np.array_equal(got.astype(np.float64), exp.astype(np.float64), equal_nan=True):
            raise Divergence(f"{what}: values differ\n fg    {got!r}\n torch {exp!r}")
        return
    g, e = got.astype(np.float64), exp.astype(np.float64)
    for name, f in (("NaN", np.isnan), ("+inf", np.isposinf), ("-inf", np.isneginf)):
        if not np.array_equal(f(g), f(e)):
            raise Divergence(f"{what}: {name} positions differ\n fg    {got!r}\n torch {exp!r}")
    fin = np.isfinite(e)
    if fin.any():
        scale = max(1.0, float(np.max(np.abs(e[fin]))))
        err = np.max(np.abs(g[fin] - e[fin]))
        if not err <= tol * scale:
            raise Divergence(f"{what}: values differ by {err:.3g} (tol {tol * scale:.3g})\n fg    {got!r}\n torch {exp!r}")


def _tol(dt: str, lowp: bool) -> float:
    """Float tolerance for dtype dt; float32's when any float32 took part (a float64 gradient of a
    float32 computation carries float32 rounding)."""
    if dt not in FLOATS:
        return 0.0
    return TOL["float32"] if lowp else TOL[dt]


def _compare_outputs(fgo, tho, dt_tol, what="out", lowp=False, values=True):
    fl, tl = _flat(fgo, what), _flat(tho, what)
    if len(fl) != len(tl):
        raise Divergence(f"{what}: {len(fl)} outputs vs torch {len(tl)}")
    for (name, f), (_, t) in zip(fl, tl):
        if isinstance(t, torch.Tensor):
            if not isinstance(f, fg.Tensor):
                raise Divergence(f"{name}: {type(f).__name__} vs torch Tensor")
            if tuple(f.shape) != tuple(t.shape):
                raise Divergence(f"{name}: shape {tuple(f.shape)} vs torch {tuple(t.shape)}")
            if dtype_name(f.dtype) != dtype_name(t.dtype):
                raise Divergence(f"{name}: dtype {dtype_name(f.dtype)} vs torch {dtype_name(t.dtype)}")
            if f.requires_grad != t.requires_grad:
                raise Divergence(f"{name}: requires_grad {f.requires_grad} vs torch {t.requires_grad}")
            if t.grad_fn is not None and f.grad_fn is not None and f.grad_fn.name() != t.grad_fn.name():
                _grad_fn_mismatch(name, f.grad_fn.name(), t.grad_fn.name())
            dt = dtype_name(t.dtype)
            if values:
                assert_values(f.detach().numpy(), _np(t), dt, _tol(dt, lowp) * dt_tol, name)
        elif isinstance(t, (bool, int, float)) and not isinstance(t, torch.Size):
            if type(f) is not type(t):
                raise Divergence(f"{name}: {type(f).__name__} {f!r} vs torch {type(t).__name__} {t!r}")
            assert_values(np.float64(f), np.float64(t), "float64" if isinstance(t, float) else "int64",
                          2e-5 * dt_tol, name)
        elif isinstance(t, torch.Size):
            if tuple(f) != tuple(t):
                raise Divergence(f"{name}: {tuple(f)} vs torch {tuple(t)}")
        elif t is None:
            if f is not None:
                raise Divergence(f"{name}: {f!r} vs torch None")
        elif isinstance(t, torch.dtype):
            if dtype_name(f) != dtype_name(t):
                raise Divergence(f"{name}: {f} vs torch {t}")
        else:
            if f != t:
                raise Divergence(f"{name}: {f!r} vs torch {t!r}")


_CURRENT: dict = {"case": "", "strict_names": False}


def _grad_fn_mismatch(name, fg_name, th_name):
    GRAD_FN_MISMATCHES.add((_CURRENT["case"], name, fg_name, th_name.split("::")[-1]))
    if _CURRENT["strict_names"]:
        raise Divergence(f"{name}: grad_fn {fg_name} vs torch {th_name}")


def _float_outputs(out):
    return [(n, o) for n, o in _flat(out) if _is_tensor(o) and o.is_floating_point() and o.requires_grad]


def _uses_float32(args: Args) -> bool:
    flat = [e for x in args.inputs for e in (x if isinstance(x, list) else [x])]
    return any(isinstance(e, T) and e.base.dtype == np.float32 for e in flat)


def check(case: Case, args: Args, grad_fn_names: bool = False) -> None:
    """Run `case` on `args` in both libraries and raise Divergence on the first difference.
    grad_fn names that differ are recorded in GRAD_FN_MISMATCHES, and fail only if grad_fn_names."""
    _CURRENT.update(case=case.id, strict_names=grad_fn_names)
    th_out, th_t, th_err = _run(case.fn, torch, args)
    fg_out, fg_t, fg_err = _run(case.fn, fg, args)
    if fg_err is not None and (type(fg_err).__name__ == "PanicException" or "internal error" in str(fg_err)):
        raise Divergence(f"{case.id}: ferrograd panicked ({type(fg_err).__name__}: {fg_err}); torch: {th_err or 'ok'}")
    if (th_err is None) != (fg_err is None):
        if th_err is not None:
            raise Divergence(f"{case.id}: ferrograd succeeded, torch raised {type(th_err).__name__}: {th_err}")
        raise Divergence(f"{case.id}: ferrograd raised {type(fg_err).__name__}: {fg_err}; torch succeeded")
    if th_err is not None:
        key = (case.id, type(fg_err).__name__, type(th_err).__name__)
        if key[1] != key[2] and key not in ERROR_TYPE_MISMATCHES:
            ERROR_TYPE_MISMATCHES[key] = f"{str(th_err).splitlines()[0][:120]!r}"
        return
    th_x = th_out.out if isinstance(th_out, Extra) else th_out
    fg_x = fg_out.out if isinstance(fg_out, Extra) else fg_out
    lowp = _uses_float32(args)
    try:
        _compare_outputs(fg_x, th_x, case.tol, lowp=lowp, values=case.values)
        if isinstance(th_out, Extra):
            _compare_outputs(list(fg_out.state.values()), list(th_out.state.values()), case.tol, "state", lowp)
        for i, ((fl, fv), (tl, tv)) in enumerate(zip(fg_t, th_t)):
            _compare_outputs([fl, fv], [tl, tv], case.tol, f"input{i} after the call", lowp)
    except Divergence:
        raise
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as e:
        raise Divergence(f"{case.id}: reading ferrograd's result raised {type(e).__name__}: {e}") from e
    if not case.grad or (case.grad_when is not None and not case.grad_when(th_x)):
        return
    th_f, fg_f = _float_outputs(th_x), _float_outputs(fg_x)
    if not th_f:
        return
    rng = np.random.default_rng(args.seed)
    weights = [rng.uniform(-1, 1, tuple(o.shape)) for _, o in th_f]
    th_loss = sum((o * torch.tensor(w, dtype=o.dtype)).sum() for (_, o), w in zip(th_f, weights))
    try:
        th_loss.backward()
    except RuntimeError:
        return  # PyTorch's own backward fails here: nothing to compare against
    except NotImplementedError:
        return
    try:
        fg_loss = sum((o * fg.tensor(w.astype(NP[dtype_name(o.dtype)]))).sum() for (_, o), w in zip(fg_f, weights))
        fg_loss.backward()
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as e:
        raise Divergence(f"{case.id}: ferrograd backward raised {type(e).__name__}: {e}; torch's did not") from e
    th_leaves = [(f"input{i}.grad", lf) for i, (lf, _) in enumerate(th_t)]
    fg_leaves = [(f"input{i}.grad", lf) for i, (lf, _) in enumerate(fg_t)]
    if isinstance(th_out, Extra):
        th_leaves += [(f"{k}.grad", v) for k, v in th_out.leaves.items()]
        fg_leaves += [(f"{k}.grad", fg_out.leaves[k]) for k in th_out.leaves]
    for (name, fl), (_, tl) in zip(fg_leaves, th_leaves):
        if not tl.requires_grad:
            continue
        tg, fgr = tl.grad, fl.grad
        if tg is None or fgr is None:
            if (tg is None) != (fgr is None):
                raise Divergence(f"{name}: {'None' if fgr is None else 'a tensor'} vs torch "
                                 f"{'None' if tg is None else 'a tensor'}")
            continue
        try:
            _compare_outputs(fgr, tg, case.tol * 10, name, lowp)
        except Divergence:
            raise
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException as e:
            raise Divergence(f"{name}: reading ferrograd's gradient raised {type(e).__name__}: {e}") from e
