"""The repr of a tensor, in PyTorch's format: tensor([1., 2.], requires_grad=True)."""

from __future__ import annotations

import numpy as np

from . import _core

_DEFAULT = {_core.float32, _core.int64, _core.bool}


# PyTorch's print options (set_printoptions): more than threshold elements print summarised,
# edgeitems per edge, floats with precision digits after the point.
_PROFILES = {"default": {"precision": 4, "threshold": 1000, "edgeitems": 3, "linewidth": 80, "sci_mode": None},
             "short": {"precision": 2, "threshold": 1000, "edgeitems": 2, "linewidth": 80, "sci_mode": None},
             "full": {"precision": 4, "threshold": float("inf"), "edgeitems": 3, "linewidth": 80, "sci_mode": None}}
PRINT_OPTS = dict(_PROFILES["default"])


def set_printoptions(precision=None, threshold=None, edgeitems=None, linewidth=None, profile=None, sci_mode=None) -> None:
    """How tensors print, as PyTorch's ``torch.set_printoptions``: a ``profile`` ("default",
    "short" or "full") first, then each option given; ``sci_mode`` True forces scientific
    notation, False forbids it, None lets the values decide."""
    if profile is not None:
        if profile not in _PROFILES:
            raise ValueError(f"set_printoptions: profile must be one of {sorted(_PROFILES)}, got {profile!r}")
        PRINT_OPTS.update(_PROFILES[profile])
    for key, value in (("precision", precision), ("threshold", threshold), ("edgeitems", edgeitems),
                       ("linewidth", linewidth)):
        if value is not None:
            PRINT_OPTS[key] = value
    PRINT_OPTS["sci_mode"] = sci_mode


def _edges(t):
    """For a large tensor, only the elements a summarised print shows: along each dim longer
    than 2 * edgeitems, the first and last edgeitems plus one middle element that numpy replaces
    with "...". The repr of a huge (e.g. expanded) tensor never materialises it."""
    edge = PRINT_OPTS["edgeitems"]
    for d, n in enumerate(t.shape):
        if n > 2 * edge:
            keep = [*range(edge), n // 2, *range(n - edge, n)]
            t = t[(slice(None),) * d + (_core.from_numpy(np.array(keep, dtype=np.int64)),)]
    return t.numpy()


def tensor_repr(t) -> str:
    data = t.detach()
    if data.dtype in (_core.float16, _core.bfloat16):
        # numpy has no bfloat16, and prints float16 in its shortest form (3.14 for 3.140625);
        # float32 holds every value and prints them as PyTorch does (3.1406).
        data = data.float()
    o = PRINT_OPTS
    summarise = data.numel() > o["threshold"]
    arr = _edges(data) if summarise else data.numpy()
    opts = {"threshold": 0, "edgeitems": o["edgeitems"]} if summarise else {"threshold": arr.size + 1}
    opts["max_line_width"] = o["linewidth"]
    if arr.dtype == np.bool_:
        body = np.array2string(arr, separator=", ", prefix="tensor(", formatter={"bool": lambda b: "True" if b else "False"}, **opts)
    elif arr.dtype.kind == "f":
        body = np.array2string(arr, separator=", ", prefix="tensor(", formatter={"float_kind": _float_format(arr, o)}, **opts)
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


def _float_format(arr, o):
    """PyTorch's float format (torch/_tensor_str.py's _Formatter): all whole values print as
    `1.`, others with `precision` decimals, in scientific notation when the finite magnitudes
    span more than 1e3, exceed 1e8 or (not whole) fall below 1e-4, unless sci_mode says; every
    value right-aligned to the widest finite one."""
    p = o["precision"]
    finite = arr[np.isfinite(arr)]
    mag = np.abs(finite[finite != 0])
    whole = bool(np.all(finite == np.round(finite)))
    if o["sci_mode"] is not None:
        sci = o["sci_mode"]
    elif not mag.size:
        sci = False
    elif whole:
        sci = mag.max() / mag.min() > 1e3 or mag.max() > 1e8
    else:
        sci = mag.max() / mag.min() > 1e3 or mag.max() > 1e8 or mag.min() < 1e-4

    def fmt(v) -> str:
        if sci:
            return f"{v:.{p}e}"
        return f"{v:.0f}." if whole else f"{v:.{p}f}"

    width = max((len(fmt(v)) for v in finite.reshape(-1)), default=0)

    def cell(v) -> str:
        text = fmt(v) if np.isfinite(v) else ("nan" if np.isnan(v) else ("inf" if v > 0 else "-inf"))
        return text.rjust(width)

    return cell
