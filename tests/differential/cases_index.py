"""Indexing (`x[idx]`) and setitem (`x[idx] = v`) against PyTorch.

An index is drawn as a list of components, each consuming dims of x: ints (in range or one past
either end), slices with out-of-range bounds and positive steps (ferrograd refuses negative steps,
README "Limitations"-style deliberate difference: not drawn), None, Ellipsis, integer index
tensors (0-d, one-element, 1-D, 2-D; values one past the ends now and then), boolean masks over
one or more dims (one-element masks included), and Python lists of ints. The index tensors are
inputs like any other (made from the same numpy array in each library).
"""

from __future__ import annotations

import torch
from harness import ALL_DTYPES, Args, Case, T, seeds, shapes, tensors
from hypothesis import strategies as st


@st.composite
def _component(draw, size: int, rest: int):
    """One index component for a dim of length `size` (`rest` dims left after it, for masks)."""
    kind = draw(st.sampled_from(["int", "slice", "slice", "none", "ellipsis", "itensor", "btensor", "list"]))
    if kind == "int":
        return draw(st.integers(-size - 1, size)), 1
    if kind == "slice":
        bound = st.none() | st.integers(-size - 3, size + 3)
        return slice(draw(bound), draw(bound), draw(st.none() | st.integers(1, 3))), 1
    if kind == "none":
        return None, 0
    if kind == "ellipsis":
        return Ellipsis, 0
    if kind == "list":
        return draw(st.lists(st.integers(-size, max(size - 1, 0)), max_size=3)), 1
    if kind == "itensor":
        ishape = draw(st.sampled_from([(), (1,), (2,), (3,), (2, 2), (0,)]))
        hi = max(size - 1, 0) + (1 if draw(st.integers(0, 9)) == 0 else 0)
        arr = draw(tensors(ishape, "int64", low=-size, high=hi, grad=False, layouts=False))
        return arr, 1
    ndims = draw(st.integers(1, max(1, min(2, rest + 1))))
    return ("mask", ndims), ndims


@st.composite
def index_args(draw, setitem=False):
    shape = draw(shapes(min_dims=0, max_dims=3))
    dt = draw(st.sampled_from(ALL_DTYPES))
    x = draw(tensors(shape, dt, grad=False if setitem else None))
    n = draw(st.integers(1, 4))
    parts, dim, seen_ellipsis = [], 0, False
    for _ in range(n):
        size = shape[dim] if dim < len(shape) else 0
        comp, used = draw(_component(size, len(shape) - dim - 1))
        if comp is Ellipsis:
            if seen_ellipsis:
                continue
            seen_ellipsis = True
        if isinstance(comp, tuple) and comp and comp[0] == "mask":
            mshape = tuple(shape[dim:dim + comp[1]]) if dim < len(shape) else (1,)
            if not mshape:
                mshape = ()
            comp = draw(tensors(mshape, "bool", grad=False, layouts=False))
        parts.append(comp)
        dim += used
    single = len(parts) == 1 and draw(st.booleans())
    kw = {"single": single}
    inputs = [x] + parts
    if setitem:
        kw["value"] = draw(_value(x, parts, single))
    return Args(inputs, kw, draw(seeds))


def _torch_index(parts):
    return tuple(torch.from_numpy(p.base.copy()) if isinstance(p, T) else p for p in parts)


@st.composite
def _value(draw, x, parts, single):
    """A scalar, or a tensor shaped like x[idx] (or broadcastable to it, or now and then not)."""
    kind = draw(st.sampled_from(["scalar", "scalar", "tensor", "tensor", "one", "bad"]))
    if kind == "scalar":
        return draw(st.floats(-3, 3, allow_subnormal=False) | st.integers(-3, 3) | st.booleans())
    try:
        idx = _torch_index(parts)
        tshape = tuple(torch.empty(x.base.shape if not x.view else _view_shape(x))[idx[0] if single else idx].shape)
    except (IndexError, RuntimeError, TypeError, ValueError):
        tshape = ()
    if kind == "one":
        vshape = (1,)
    elif kind == "bad":
        vshape = draw(shapes(max_dims=2, max_side=3))
    else:
        k = draw(st.integers(0, len(tshape)))
        vshape = tshape[k:]
    dt = draw(st.sampled_from(ALL_DTYPES))
    return draw(tensors(vshape, dt, grad=False, layouts=False))


def _view_shape(x: T):
    return tuple(x.build(torch)[1].shape)


def _getitem(L, x, *parts, single):
    return x[parts[0]] if single else x[tuple(parts)]


def _setitem(L, x, *parts, single, value):
    if isinstance(value, T):
        value = value.build(L)[1]
    idx = parts[0] if single else tuple(parts)
    x[idx] = value
    return x


ALL = [
    Case("__getitem__", _getitem, index_args()),
    Case("__setitem__", _setitem, index_args(setitem=True), grad=False),
]
