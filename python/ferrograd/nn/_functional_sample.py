"""nn.functional resampling: interpolate and the deprecated upsample forms (grid_sample and
affine_grid are in _functional_grid.py).

Every mode is separable: along each spatial axis, output position i reads a few input positions
(taps) with weights that depend only on i and the two sizes. `_axis_taps` computes them in numpy
with PyTorch's CPU formulas (including its float32 index arithmetic for the nearest modes, which
decides ties and, through its fused multiply-adds, which neighbours a NaN reaches). Finite inputs
take `_apply_matrix`: the taps as an (out x in) matrix and one matmul per axis (fast, backward a
matmul too). Inputs with NaN or inf take `_apply_taps`: index_select and a weighted sum, so
non-finite values spread exactly to the outputs that read them, as in PyTorch's kernels.
"""

from __future__ import annotations

import math
import numbers
import operator
import warnings

import numpy as np

from .. import _core
from .._core import Tensor
from .._creation import tensor, zeros
from ..autograd.grad_mode import no_grad
from ._functional_grid import affine_grid, grid_sample
from ._functional_utils import traced

__all__ = ["interpolate", "upsample", "upsample_nearest", "upsample_bilinear", "grid_sample", "affine_grid"]

_MODES = "nearest | linear | bilinear | bicubic | trilinear | lanczos | area | nearest-exact"
# mode -> the input rank it needs (None: any of 3, 4, 5)
_RANK = {"nearest": None, "nearest-exact": None, "area": None, "linear": 3, "bilinear": 4, "bicubic": 4, "trilinear": 5}
_NAME = {3: "W", 4: "H, W", 5: "D, H, W"}
_CUBIC_A = -0.75


# ----------------------------------------------------------------------------- per-axis taps


def _scale(in_size: int, out_size: int, align_corners: bool, scale: float | None, ftype):
    """PyTorch's area_pixel_compute_scale, in the kernel's arithmetic type `ftype`."""
    if align_corners:
        return ftype(in_size - 1) / ftype(out_size - 1) if out_size > 1 else ftype(0)
    if scale is not None and scale > 0:
        return ftype(1.0 / scale)
    return ftype(in_size) / ftype(out_size)


# PyTorch's compiled CPU kernels (2.15, x86-64) contract scale * (i + 0.5) - 0.5 into one fused
# multiply-add (a single rounding) except in the float32 linear and trilinear kernels: for 3 -> 9
# that is -2**-55 at i = 1, not 0, which decides the taps (floor -1, not 0) and so which neighbours
# can spread a NaN or inf. The exact product fits a wider type; round once. Found by comparing NaN
# positions with PyTorch (tests/differential/cases_nn_sample.py draws non-finite inputs).
_WIDE = {np.float32: np.float64, np.float64: np.longdouble if np.finfo(np.longdouble).nmant >= 63 else np.float64}
_PLAIN_FLOAT32 = ("linear", "trilinear")


def _fused_multiply_sub(s, x: np.ndarray, ftype) -> np.ndarray:
    wide = _WIDE[ftype]
    return (wide(s) * x.astype(wide) - wide(0.5)).astype(ftype)


def _guard(real: np.ndarray, in_size: int):
    """PyTorch's guard_index_and_lambda: floor (taken in float32, as its floorf), lambda in [0, 1]."""
    idx = np.minimum(np.floor(real.astype(np.float32)).astype(np.int64), in_size - 1)
    lam = np.clip(real - idx.astype(real.dtype), 0, 1)
    return idx, lam


def _cubic_weights(t: np.ndarray) -> list:
    """Keys' cubic convolution weights for taps -1, 0, 1, 2 at fraction t (A = -0.75)."""
    a = _CUBIC_A

    def near(x):  # |x| <= 1
        return ((a + 2) * x - (a + 3)) * x * x + 1

    def far(x):  # 1 < |x| < 2
        return ((a * x - 5 * a) * x + 8 * a) * x - 4 * a

    return [far(t + 1), near(t), near(1 - t), far(2 - t)]


def _axis_taps(mode: str, in_size: int, out_size: int, scale, align_corners, ftype, shortcuts=False,
               kernel: str = "") -> list:
    """[(index, weight or None[, mask])], arrays of length out_size: out[i] = sum w[i] * x[index[i]]
    over the taps (where mask[i], if a mask is given)."""
    i = np.arange(out_size)
    if mode == "nearest":
        # PyTorch's 2-D nearest kernel treats out == in and out == 2 * in exactly whatever the scale
        # (its 1-D and 3-D kernels do not; their backward does: tests/differential/cases_nn_sample.py)
        if shortcuts and out_size == in_size:
            return [(i, None)]
        if shortcuts and out_size == 2 * in_size:
            return [(i >> 1, None)]
        s = np.float32(1.0 / scale) if scale is not None and scale > 0 else np.float32(in_size) / np.float32(out_size)
        src = np.floor(i.astype(np.float32) * s)
        return [(np.minimum(src.astype(np.int64), in_size - 1), None)]
    if mode == "nearest-exact":
        s = np.float32(1.0 / scale) if scale is not None and scale > 0 else np.float32(in_size) / np.float32(out_size)
        src = np.floor(((i + 0.5) * np.float64(s)).astype(np.float32))
        return [(np.minimum(src.astype(np.int64), in_size - 1), None)]
    if mode == "area":  # adaptive average pooling: the window floor(i*in/out) .. ceil((i+1)*in/out)
        if out_size == 0:
            return [(i, None)]
        start = (i * in_size) // out_size
        end = -((-(i + 1) * in_size) // out_size)
        inv = 1.0 / (end - start)
        # windows differ in length: a tap past a window's end is masked out (not weighted by 0,
        # which would turn an inf into NaN)
        return [(np.minimum(start + k, end - 1), inv, None if (start + k < end).all() else start + k < end)
                for k in range(int((end - start).max()))]
    s = _scale(in_size, out_size, align_corners, scale, ftype)
    ii = i.astype(ftype)
    if align_corners:
        real = s * ii
    elif ftype is np.float64 or kernel not in _PLAIN_FLOAT32:
        real = _fused_multiply_sub(s, ii + ftype(0.5), ftype)
    else:
        real = s * (ii + ftype(0.5)) - ftype(0.5)
    if mode == "linear":
        if out_size == in_size:  # PyTorch copies (x * 1 + x * 0: an inf still becomes NaN, as there)
            return [(i, np.ones(out_size)), (i, np.zeros(out_size))]
        if not align_corners:
            real = np.maximum(real, ftype(0))
        idx, lam = _guard(real, in_size)
        nxt = idx + (idx < in_size - 1)
        return [(idx, (ftype(1) - lam).astype(np.float64)), (nxt, lam.astype(np.float64))]
    idx, t = _guard(real, in_size)  # cubic: no clamp at 0; the taps clamp to the border
    return [(np.clip(idx - 1 + k, 0, in_size - 1), w.astype(np.float64)) for k, w in enumerate(_cubic_weights(t))]


def _aa_taps(kernel: str, in_size: int, out_size: int, scale, align_corners: bool, ftype) -> list:
    """antialias=True (PyTorch's _compute_weights_aa): when downsampling, the filter (triangle, or
    Keys' cubic with A = -0.5 as PIL) is stretched by the scale; each output averages the inputs
    within the support around its centre, the weights normalised to sum 1."""
    s = _scale(in_size, out_size, align_corners, scale, ftype)
    half = ftype(1.0 if kernel == "bilinear" else 2.0)
    support = half * s if s >= 1 else half
    invscale = ftype(1) / s if s >= 1 else ftype(1)

    def filt(x):
        x = np.abs(x)
        if kernel == "bilinear":
            return np.where(x < 1, 1 - x, 0)
        a = -0.5
        return np.where(x < 1, ((a + 2) * x - (a + 3)) * x * x + 1,
                        np.where(x < 2, ((a * x - 5 * a) * x + 8 * a) * x - 4 * a, 0))

    i = np.arange(out_size)
    center = (s * (i + 0.5)).astype(ftype)
    xmin = np.maximum((center - support + ftype(0.5)).astype(np.int64), 0)
    xmax = np.minimum((center + support + ftype(0.5)).astype(np.int64), in_size)
    width = int(math.ceil(float(support))) * 2 + 1  # PyTorch's max_interp_size
    size = np.clip(xmax - xmin, 0, width)
    w = np.stack([filt(((xmin + k - center + ftype(0.5)) * invscale).astype(ftype)) for k in range(width)], 1)
    w = np.where(np.arange(width)[None, :] < size[:, None], w, 0).astype(np.float64)
    total = w.sum(1, keepdims=True)
    w = np.divide(w, total, out=w.copy(), where=total != 0)
    return [(np.minimum(xmin + k, in_size - 1), w[:, k], (k < size) if (k >= size).any() else None)
            for k in range(int(size.max()))]


def _apply_matrix(x: Tensor, dim: int, taps: list, n_in: int) -> Tensor:
    """The taps as one (out x in) matrix, applied with a matmul along `dim`: much faster than
    index_select (whose backward scatters), but 0 * inf = NaN would spread a non-finite value to
    the whole line, so it is used only for finite inputs."""
    n_out = len(taps[0][0])
    m = np.zeros((n_out, n_in))
    rows = np.arange(n_out)
    for idx, w, *mask in taps:
        w = np.broadcast_to(1.0 if w is None else w, (n_out,))
        keep = mask[0] if mask and mask[0] is not None else slice(None)
        np.add.at(m, (rows[keep], idx[keep]), w[keep])
    mt = tensor(np.ascontiguousarray(m.T), dtype=x.dtype)
    if dim == x.ndim - 1:
        return x.matmul(mt)
    return x.movedim(dim, -1).matmul(mt).movedim(-1, dim)


def _apply_taps(x: Tensor, dim: int, taps: list) -> Tensor:
    shape = [1] * x.ndim
    shape[dim] = -1
    out = None
    for idx, w, *mask in taps:
        term = x.index_select(dim, tensor(idx, dtype=_core.int64))
        if w is not None:
            term = term * tensor(w, dtype=x.dtype).reshape(shape)
        if mask and mask[0] is not None:
            keep = tensor(mask[0]).reshape(shape).expand(*term.shape)
            term = _core.where(keep, term, zeros((), dtype=x.dtype))
        out = term if out is None else out + term
    return out


# ----------------------------------------------------------------------------- interpolate


def _is_int(v) -> bool:
    return isinstance(v, numbers.Integral) or (isinstance(v, Tensor) and v.ndim == 0 and not v.is_floating_point())


def _output_size(input: Tensor, size, scale_factor, recompute_scale_factor, mode: str):
    """(output sizes, scales passed to the kernel or None), PyTorch's checks in PyTorch's order."""
    dim = input.ndim - 2
    spatial = list(input.shape[2:])
    if size is not None and scale_factor is not None:
        raise ValueError("only one of size or scale_factor should be defined")
    scales = None
    if size is not None:
        if isinstance(size, (list, tuple)):
            if len(size) != dim:
                raise ValueError(
                    "Input and output must have the same number of spatial dimensions, but got "
                    f"input with spatial dimensions of {spatial} and output size of {size}. "
                    "Please provide input tensor in (N, C, d1, d2, ...,dK) format and "
                    "output size in (o1, o2, ...,oK) format."
                )
            if not all(_is_int(v) for v in size):
                raise TypeError(
                    "expected size to be one of int or Tuple[int] or Tuple[int, int] or "
                    f"Tuple[int, int, int], but got size with types {[type(v) for v in size]}"
                )
            out = [operator.index(v) for v in size]
        else:
            if not _is_int(size):
                raise TypeError(f"interpolate(): size must be an int or a tuple of ints, but got {size!r}")
            out = [operator.index(size)] * dim
    elif scale_factor is not None:
        out = None
        if isinstance(scale_factor, (list, tuple)):
            if len(scale_factor) != dim:
                raise ValueError(
                    "Input and scale_factor must have the same number of spatial dimensions, but "
                    f"got input with spatial dimensions of {spatial} and "
                    f"scale_factor of shape {scale_factor}. "
                    "Please provide input tensor in (N, C, d1, d2, ...,dK) format and "
                    "scale_factor in (s1, s2, ...,sK) format."
                )
            scales = [float(s) for s in scale_factor]
        else:
            scales = [float(scale_factor)] * dim
    else:
        raise ValueError("either size or scale_factor should be defined")
    if recompute_scale_factor and size is not None:
        raise ValueError("recompute_scale_factor is not meaningful with an explicit size.")
    if mode == "area" and out is None:  # area always works from an integer size
        recompute_scale_factor = True
    if recompute_scale_factor:
        out = [int(spatial[i] * scales[i]) for i in range(dim)]
        scales = None
    elif out is None:
        out = [int(math.floor(spatial[i] * scales[i])) for i in range(dim)]
    return out, scales


def _check_sizes(input: Tensor, out: list, mode: str) -> None:
    """PyTorch's checks: the upsample kernels' (sizes > 0, then not empty), or adaptive pooling's for 'area'."""
    spatial = list(input.shape[2:])
    if mode == "area":  # adaptive_avg_pool{2,3}d: empty outputs are fine, empty spatial inputs are not
        shape = list(input.shape) if input.ndim > 3 else [*input.shape[:2], 1, input.shape[2]]
        for k in range(2, len(shape)):
            if shape[k] == 0:
                raise RuntimeError(
                    f"adaptive_avg_pool{len(shape) - 2}d(): Expected input to have non-zero size for non-batch "
                    f"dimensions, but input has sizes {shape} with dimension {k} being empty"
                )
        return
    if min(spatial) <= 0 or min(out) <= 0:
        names = _NAME[input.ndim].split(", ")
        got_in = ", ".join(f"{n}: {v}" for n, v in zip(names, spatial))
        got_out = ", ".join(f"{n}: {v}" for n, v in zip(names, out))
        sep = " and" if input.ndim == 3 else ""
        raise RuntimeError(f"Input and output sizes should be greater than 0, but got input ({got_in}){sep} output ({got_out})")
    if input.numel() == 0 and any(d == 0 for d in input.shape[1:]):
        raise RuntimeError(f"Non-empty {input.ndim}D data tensor expected but got a tensor with sizes {list(input.shape)}")


def interpolate(
    input: Tensor,
    size=None,
    scale_factor=None,
    mode: str = "nearest",
    align_corners: bool | None = None,
    recompute_scale_factor: bool | None = None,
    antialias: bool = False,
) -> Tensor:
    """Resamples the spatial dimensions of an (N, C, W), (N, C, H, W) or (N, C, D, H, W) input
    to `size`, or to floor(in * scale_factor).

    Modes: 'nearest' (PyTorch's floor(i * in / out) rule, kept for compatibility), 'nearest-exact'
    (pixel centres, as Pillow and scipy), 'linear' (3-D), 'bilinear' (4-D), 'bicubic' (4-D, Keys
    with A = -0.75, border taps clamped), 'trilinear' (5-D) and 'area' (adaptive average pooling).

    align_corners (interpolating modes only; default False): True maps the corner pixels' centres
    onto each other, False maps the corners of the pixel squares (src = (dst + 0.5) / scale - 0.5,
    clamped at 0 for the linear modes). When scale_factor is given and recompute_scale_factor is
    not True, that scale (not in / out) places the samples, as in PyTorch. antialias=True (bilinear
    and bicubic, 4-D) widens the filter by the scale when downsampling, as PIL and PyTorch do.
    mode='lanczos' is not implemented.

    Shape: (N, C, *in_spatial) -> (N, C, *out_spatial).
    """
    if mode in ("nearest", "area", "nearest-exact"):
        if align_corners is not None:
            raise ValueError(
                "align_corners option can only be set with the interpolating modes: linear | bilinear | bicubic | trilinear"
            )
    elif align_corners is None:
        align_corners = False
    out, scales = _output_size(input, size, scale_factor, recompute_scale_factor, mode)
    if antialias and not (mode in ("bilinear", "bicubic", "lanczos") and input.ndim == 4):
        raise ValueError(
            "Anti-alias option is restricted to bilinear, bicubic, and lanczos modes and requires a 4-D tensor as input"
        )
    if mode in _RANK and input.ndim in (3, 4, 5) and _RANK[mode] in (None, input.ndim):
        result = _resample(input, out, scales, mode, bool(align_corners), bool(antialias))
        # For an exporter's Resize, which places samples by out / in: whether the kernel did too.
        by_ratio = scales is None or all(s is None or s * i == o for s, i, o in zip(scales, input.shape[2:], out))
        return traced("interpolate", [input], result, mode=mode, align_corners=bool(align_corners), antialias=bool(antialias),
                      by_ratio=bool(by_ratio))
    if mode == "lanczos" and input.ndim == 4:
        raise NotImplementedError("interpolate(): mode='lanczos' is not implemented in ferrograd")
    if mode in ("linear", "bilinear", "trilinear") and input.ndim in (3, 4, 5):
        need = _RANK[mode]
        raise NotImplementedError(f"Got {input.ndim}D input, but {mode} mode needs {need}D input")
    raise NotImplementedError(
        f"Input Error: Only 3D, 4D and 5D input Tensors supported (got {input.ndim}D) for the modes: {_MODES} (got {mode})"
    )


def _resample(input: Tensor, out: list, scales, mode: str, align_corners: bool, antialias: bool = False) -> Tensor:
    kernel = {"nearest": "nearest", "nearest-exact": "nearest", "area": "adaptive_avg_pool"}.get(mode, "linear")
    if mode == "bicubic":
        kernel = "bicubic"
    if not input.is_floating_point() and not (kernel == "nearest" and input.dtype == _core.uint8):
        what = {"nearest": "compute_indices_weights_nearest", "linear": "compute_indices_weights_linear",
                "bicubic": "compute_indices_weights_cubic", "adaptive_avg_pool": "adaptive_avg_pool"}[kernel]
        raise NotImplementedError(f'"{what}" not implemented for \'{_dtype_name(input)}\'')
    _check_sizes(input, out, mode)
    ftype = np.float64 if input.dtype == _core.float64 else np.float32
    axis_mode = "linear" if mode in ("bilinear", "trilinear") else "cubic" if mode == "bicubic" else mode
    # the matmul path for finite inputs (a sum is one cheap pass; an overflow just takes the slow path)
    with no_grad():
        dense = input.is_floating_point() and math.isfinite(input.detach().sum().item())
    x = input
    for k, (n_in, n_out) in enumerate(zip(input.shape[2:], out)):
        scale = None if scales is None else scales[k]
        if antialias:
            if n_in == n_out:
                continue  # PyTorch's antialias kernel leaves an unchanged size alone, whatever the scale
            taps = _aa_taps(mode, n_in, n_out, scale, align_corners, ftype)
        else:
            taps = _axis_taps(axis_mode, n_in, n_out, scale, align_corners, ftype, shortcuts=input.ndim == 4,
                              kernel=mode)
        if len(taps) == 1 and taps[0][1] is None and np.array_equal(taps[0][0], np.arange(n_in)):
            continue  # the identity along this axis
        x = _apply_matrix(x, 2 + k, taps, n_in) if dense else _apply_taps(x, 2 + k, taps)
    return x.clone() if x is input else x


def _dtype_name(t: Tensor) -> str:
    return {"int64": "Long", "int32": "Int", "int16": "Short", "int8": "Char", "bool": "Bool"}.get(
        str(t.dtype).split(".")[-1], str(t.dtype).split(".")[-1])


# ----------------------------------------------------------------------------- deprecated forms


def upsample(input: Tensor, size=None, scale_factor=None, mode: str = "nearest", align_corners: bool | None = None):
    """Deprecated alias of interpolate (PyTorch warns about it too)."""
    warnings.warn("`nn.functional.upsample` is deprecated. Use `nn.functional.interpolate` instead.", stacklevel=2)
    return interpolate(input, size, scale_factor, mode, align_corners)


def upsample_nearest(input: Tensor, size=None, scale_factor=None) -> Tensor:
    """Deprecated: interpolate(..., mode='nearest')."""
    warnings.warn("`nn.functional.upsample_nearest` is deprecated. Use `nn.functional.interpolate` instead.",
                  stacklevel=2)
    return interpolate(input, size, scale_factor, mode="nearest")


def upsample_bilinear(input: Tensor, size=None, scale_factor=None) -> Tensor:
    """Deprecated: interpolate(..., mode='bilinear', align_corners=True)."""
    warnings.warn("`nn.functional.upsample_bilinear` is deprecated. Use `nn.functional.interpolate` instead.",
                  stacklevel=2)
    return interpolate(input, size, scale_factor, mode="bilinear", align_corners=True)
