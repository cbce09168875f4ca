"""The repr of a tensor, in PyTorch's format: tensor([1., 2.], requires_grad=True)."""

from __future__ import annotations

import numpy as np

from . import _core

_DEFAULT = {_core.float32, _core.int64, _core.bool}


def tensor_repr(t) -> str:
    arr = t.detach().numpy()
    if arr.dtype == np.bool_:
        body = np.array2string(arr, separator=", ", prefix="tensor(", formatter={"bool": lambda b: "True" if b else "False"})
    elif arr.dtype.kind == "f":
        body = np.array2string(arr, separator=", ", prefix="tensor(", precision=4, floatmode="maxprec_equal", suppress_small=False)
    else:
        body = np.array2string(arr, separator=", ", prefix="tensor(")
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
