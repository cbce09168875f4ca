"""The repr of a tensor, in PyTorch's format: tensor([1., 2.], requires_grad=True)."""

from __future__ import annotations

import numpy as np

from . import _core

_DEFAULT = {_core.float32, _core.int64, _core.bool}


# PyTorch's print options: more than THRESHOLD elements print summarised, EDGEITEMS per edge.
THRESHOLD = 1000
EDGEITEMS = 3


def _edges(t):
    """For a large tensor, only the elements a summarised print shows: along each dim longer
    than 2 * EDGEITEMS, the first and last EDGEITEMS plus one middle element that numpy replaces
    with "...". The repr of a huge (e.g. expanded) tensor never materialises it."""
    for d, n in enumerate(t.shape):
        if n > 2 * EDGEITEMS:
            keep = [*range(EDGEITEMS), n // 2, *range(n - EDGEITEMS, n)]
            t = t[(slice(None),) * d + (_core.from_numpy(np.array(keep, dtype=np.int64)),)]
    return t.numpy()


def tensor_repr(t) -> str:
    data = t.detach()
    if data.dtype in (_core.float16, _core.bfloat16):
        # numpy has no bfloat16, and prints float16 in its shortest form (3.14 for 3.140625);
        # float32 holds every value and prints them as PyTorch does (3.1406).
        data = data.float()
    summarise = data.numel() > THRESHOLD
    arr = _edges(data) if summarise else data.numpy()
    opts = {"threshold": 0, "edgeitems": EDGEITEMS} if summarise else {"threshold": THRESHOLD + 1}
    if arr.dtype == np.bool_:
        body = np.array2string(arr, separator=", ", prefix="tensor(", formatter={"bool": lambda b: "True" if b else "False"}, **opts)
    elif arr.dtype.kind == "f":
        body = np.array2string(arr, separator=", ", prefix="tensor(", precision=4, floatmode="maxprec_equal", suppress_small=False, **opts)
    else:
        body = np.array2string(arr, separator=", ", prefix="tensor(", **opts)
    if summarise:
        body = body.replace(", ...,", ",  ...,")  # PyTorch's spacing around the elision
    if arr.size == 0:
        body = "[]" if arr.ndim == 1 else f"[], size={tuple(arr.shape)}"
    extras = []
    if t.dtype not in _DEFAULT or (arr.size == 0 and t.dtype != _core.float32):
        extras.append(f"dtype={t.dtype!r}")
    if t.grad_fn is not None:
        extras.append(f"grad_fn=<{t.grad_fn.name()}>")
    elif t.requires_grad:
        extras.append("requires_grad=True")
    return "tensor(" + ", ".join([body] + extras) + ")"
