"""F.affine_grid and F.grid_sample (re-exported by _functional_sample.py).

Both are compositions of differentiable ops, so gradients flow to the input, the grid and theta:
the grid's coordinates are unnormalised and padded (border clamp, reflection) with PyTorch's
gradient conventions (zero gradient on and beyond a clamped border; sign flips in reflection),
then each corner's values are read as rows of the channels-last input (index_select) and weighted.
"""

from __future__ import annotations

import itertools
import warnings

import numpy as np

from .. import _core
from .._core import Tensor
from .._creation import linspace, tensor, zeros
from ..autograd import Function, enable_grad, is_grad_enabled
from ..autograd import grad as autograd_grad

__all__ = ["affine_grid", "grid_sample"]

_ALIGN_WARNING = (
    "Default grid_sample and affine_grid behavior has changed to align_corners=False since 1.3.0. Please specify "
    "align_corners=True if the old behavior is desired. See the documentation of grid_sample for details."
)


def _linspace_from_neg_one(steps: int, align_corners: bool, dtype) -> np.ndarray:
    """PyTorch's, bit for bit in float32 and float64: linspace(-1, 1) in the dtype (`fg.linspace`
    computes as PyTorch's kernel does), then times (steps - 1) and over steps, each rounded to
    it. The last bit matters: at an identity theta the grid lands on pixel centres, where
    grid_sample's bilinear weights have no derivative and the side taken depends on whether the
    unnormalised coordinate rounded to just below or just above the integer."""
    if steps <= 1:
        return np.zeros(1, dtype.numpy_name)
    r = linspace(-1, 1, steps, dtype=dtype).numpy()
    if not align_corners:
        r = r * r.dtype.type(steps - 1) / r.dtype.type(steps)
    return r


def affine_grid(theta: Tensor, size, align_corners: bool | None = None) -> Tensor:
    """The sampling grid of a batch of affine maps: theta (N, 2, 3) and size (N, C, H, W) give
    (N, H, W, 2) of (x, y) in [-1, 1] coordinates; theta (N, 3, 4) and size (N, C, D, H, W) give
    (N, D, H, W, 3) of (x, y, z). Differentiable in theta."""
    if align_corners is None:
        warnings.warn(_ALIGN_WARNING, stacklevel=2)
        align_corners = False
    if not theta.is_floating_point():
        raise ValueError(f"Expected theta to have floating point type, but got {theta.dtype}")
    size = tuple(int(s) for s in size)
    if len(size) == 4:
        if theta.ndim != 3 or tuple(theta.shape[-2:]) != (2, 3):
            raise ValueError(f"Expected a batch of 2D affine matrices of shape Nx2x3 for size {size}. Got {theta.shape}.")
        spatial = size[-2:]
    elif len(size) == 5:
        if theta.ndim != 3 or tuple(theta.shape[-2:]) != (3, 4):
            raise ValueError(f"Expected a batch of 3D affine matrices of shape Nx3x4 for size {size}. Got {theta.shape}.")
        spatial = size[-3:]
    else:
        raise NotImplementedError(
            "affine_grid only supports 4D and 5D sizes, for 2D and 3D affine transforms, respectively. "
            f"Got size {size}."
        )
    if align_corners and min(spatial) == 1:
        warnings.warn(
            "Since version 1.3.0, affine_grid behavior has changed for unit-size grids when align_corners=True. "
            "This is not an intended use case of affine_grid. See the documentation of affine_grid for details.",
            stacklevel=2,
        )
    elif min(size) <= 0:
        raise ValueError(f"Expected non-zero, positive output size. Got {size}")
    if theta.shape[0] != size[0]:
        raise RuntimeError(
            f"affine_grid: theta has batch size {theta.shape[0]} but size asks for {size[0]} ({list(theta.shape)} vs {size})"
        )
    # the base grid (x, y[, z], 1) over the output, x fastest; PyTorch's linspace_from_neg_one per axis
    # float16/bfloat16 thetas get a float32 grid rounded once (PyTorch rounds each step in them).
    work = theta.dtype if theta.dtype in (_core.float32, _core.float64) else _core.float32
    axes = [_linspace_from_neg_one(n, align_corners, work) for n in reversed(spatial)]  # x, y[, z]
    mesh = np.meshgrid(*reversed(axes), indexing="ij")  # [z,] y, x over (D,) H, W
    base = np.stack([*reversed(mesh), np.ones_like(mesh[0])], axis=-1).reshape(-1, len(spatial) + 1)
    base_t = tensor(base, dtype=theta.dtype)
    grid = base_t.matmul(theta.transpose(1, 2))  # (N, P, k)
    return grid.reshape(size[0], *spatial, len(spatial))


# ----------------------------------------------------------------------------- grid_sample


_WIDE = {_core.float32: np.float64, _core.float64: np.longdouble if np.finfo(np.longdouble).nmant >= 63 else np.float64}
_NP = {_core.float32: np.float32, _core.float64: np.float64}


def _unnormalize(coord: Tensor, size: int, align_corners: bool) -> Tensor:
    if align_corners:
        return (coord + 1) / 2 * (size - 1)
    # PyTorch's compiled kernel fuses (coord + 1) * size - 1 into one multiply-add (one rounding),
    # which decides nearest's ties (-1/3 on 3 rows: 0.5000000000000001, so row 1); the detached
    # correction makes the value that single rounding, the gradient stays size / 2
    shifted = coord + 1
    num = shifted * size - 1
    if coord.dtype in _WIDE:
        wide = _WIDE[coord.dtype]
        exact = (shifted.detach().numpy().astype(wide) * wide(size) - wide(1)).astype(_NP[coord.dtype])
        num = num + tensor(exact - num.detach().numpy())
    return num / 2


def _clip(coord: Tensor, size: int) -> Tensor:
    """Clamp to [0, size - 1] with zero gradient on and beyond the border (PyTorch's clip_coordinates_set_grad);
    NaN goes to size - 1, as std::min(size - 1, std::max(NaN, 0)) does in PyTorch's kernel."""
    inside = (coord > 0) & (coord < size - 1)
    border = (1 - (coord.detach() <= 0).to(coord.dtype)) * (size - 1)
    # PyTorch multiplies the incoming gradient by 0 outside (a NaN or inf gradient becomes NaN): the
    # second term is 0 in value and passes gradient * 0 there (inside, the first passes it unchanged)
    times_zero = _core.where(coord.detach().isfinite() & ~inside, coord * 0, zeros((), dtype=coord.dtype))
    return _core.where(inside, coord, border) + times_zero


def _reflect(coord: Tensor, twice_low: int, twice_high: int) -> Tensor:
    """PyTorch's reflect_coordinates: fold coord into [low, high] by mirroring; gradient +-1."""
    if twice_low == twice_high:
        return coord * 0
    low, span = twice_low / 2, (twice_high - twice_low) / 2
    shifted = coord - low
    sign = 1 - 2 * (shifted.detach() < 0).to(coord.dtype)
    dist = shifted * sign
    flips = (dist.detach() / span).floor()
    extra = dist - flips * span
    even = flips.remainder(2) == 0
    return _core.where(even, extra + low, span - extra + low)


def _source_index(coord: Tensor, size: int, padding_mode: str, align_corners: bool) -> Tensor:
    x = _unnormalize(coord, size, align_corners)
    if padding_mode == "border":
        x = _clip(x, size)
    elif padding_mode == "reflection":
        x = _reflect(x, 0, 2 * (size - 1)) if align_corners else _reflect(x, -1, 2 * size - 1)
        x = _clip(x, size)
    return x


_A = -0.75  # Keys' cubic convolution constant, as PyTorch's


def _near(x):
    return ((_A + 2) * x - (_A + 3)) * x * x + 1


def _near_slope(x):
    return (3 * (_A + 2) * x - 2 * (_A + 3)) * x


def _far(x):
    return ((_A * x - 5 * _A) * x + 8 * _A) * x - 4 * _A


def _far_slope(x):
    return (3 * _A * x - 10 * _A) * x + 8 * _A


class _CubicWeights(Function):
    """Keys' weights of taps -1, 0, 1, 2 at fraction t. The gradient of t is one product per tap,
    slope * upstream, as in PyTorch's get_cubic_coefficients_grad: autograd through the
    polynomial would add inf - inf = NaN for an inf input where PyTorch gives +-inf. The slopes
    are computed from t in backward, so under create_graph=True they carry t's history and the
    second derivative is the polynomial's (slopes of a detached t gave 0 there)."""

    @staticmethod
    def forward(ctx, t):
        ctx.save_for_backward(t)
        t0 = t.detach()
        dt = t0 - t0  # 0, or NaN where t is not finite: the value stays what it always was
        return (_far(t0 + 1) + _far_slope(t0 + 1) * dt, _near(t0) + _near_slope(t0) * dt,
                _near(1 - t0) - _near_slope(1 - t0) * dt, _far(2 - t0) - _far_slope(2 - t0) * dt)

    @staticmethod
    def backward(ctx, g0, g1, g2, g3):
        (t,) = ctx.saved_tensors
        return (g0 * _far_slope(t + 1) + g1 * _near_slope(t)
                - g2 * _near_slope(1 - t) - g3 * _far_slope(2 - t))


def _cubic(t: Tensor) -> list:
    """Keys' weights (A = -0.75) of taps -1, 0, 1, 2 at fraction t (see _CubicWeights)."""
    return list(_CubicWeights.apply(t))


def _gather(rows: Tensor, spatial: tuple, idx: list, valid: Tensor) -> Tensor:
    """rows (N * prod(spatial), C), the input with channels last, read at integer coordinates
    idx = [x, y(, z)] (each (N, P), int64) into (N * P, C); positions outside the input (valid
    False) read 0. One index_select of whole rows: far faster than a gather per channel."""
    lin = None
    stride = 1
    for k, i in enumerate(idx):  # x is the last spatial axis
        n = spatial[-1 - k]
        term = i.clamp(0, n - 1) * stride
        lin = term if lin is None else lin + term
        stride *= n
    batch = tensor(np.arange(lin.shape[0])[:, None] * stride)
    vals = rows.index_select(0, (lin + batch).reshape(-1))
    # where, not a multiplication by the mask: a clamped read of an inf must not become NaN
    return _core.where(valid.reshape(-1, 1).expand(*vals.shape), vals, zeros((), dtype=rows.dtype))


def _in_bounds(idx: list, spatial: tuple) -> Tensor:
    ok = None
    for k, i in enumerate(idx):
        n = spatial[-1 - k]
        inside = (i >= 0) & (i < n)
        ok = inside if ok is None else ok & inside
    return ok


def grid_sample(input: Tensor, grid: Tensor, mode: str = "bilinear", padding_mode: str = "zeros",
                align_corners: bool | None = None) -> Tensor:
    """Samples input (N, C, H, W) at grid (N, Ho, Wo, 2) (x, y in [-1, 1]) into (N, C, Ho, Wo), or
    input (N, C, D, H, W) at grid (N, Do, Ho, Wo, 3) into (N, C, Do, Ho, Wo).

    mode: 'bilinear' (trilinear on 5-D), 'nearest' (round half to even) or 'bicubic' (tricubic on
    5-D, A = -0.75); padding_mode: 'zeros', 'border' or 'reflection'. Gradients flow to both input and
    grid (zero w.r.t. the grid in 'nearest' mode, as in PyTorch)."""
    if mode not in ("bilinear", "nearest", "bicubic"):
        raise ValueError(
            f"nn.functional.grid_sample(): expected mode to be 'bilinear', 'nearest' or 'bicubic', but got: '{mode}'"
        )
    if padding_mode not in ("zeros", "border", "reflection"):
        raise ValueError(
            "nn.functional.grid_sample(): expected padding_mode to be 'zeros', 'border', or 'reflection', "
            f"but got: '{padding_mode}'"
        )
    if align_corners is None:
        warnings.warn(_ALIGN_WARNING, stacklevel=2)
        align_corners = False
    _check_grid(input, grid)
    d = input.ndim - 2
    n, c = input.shape[0], input.shape[1]
    out_spatial = tuple(grid.shape[1:-1])
    p = 1
    for s in out_spatial:
        p *= s
    if n == 0 or p == 0 or c == 0:
        return zeros((n, c, *out_spatial), dtype=input.dtype)
    if mode == "bilinear" and d == 2 and input.dtype in (_core.float32, _core.float64):
        return _BilinearKernel.apply(input, grid, padding_mode, align_corners)
    return _composed(input, grid, mode, padding_mode, align_corners)


class _BilinearKernel(Function):
    """2-D bilinear sampling as one kernel forward and one backward (rust/nn/grid_sample.rs),
    PyTorch's CPU arithmetic. Under create_graph the backward differentiates the composed form
    instead, so gradients of gradients keep working (PyTorch's kernel refuses them)."""

    @staticmethod
    def forward(ctx, input, grid, padding_mode, align_corners):
        ctx.save_for_backward(input, grid)
        ctx.how = (padding_mode, align_corners)
        out = _core._grid_sample_bilinear(input.contiguous(), grid.contiguous(), padding_mode, align_corners)
        # None: a coordinate that is not finite (or would overflow), which the composed form
        # treats as PyTorch does (NaN reads the border); its backward then serves too.
        ctx.composed = out is None
        return _composed(input, grid, "bilinear", padding_mode, align_corners) if out is None else out

    @staticmethod
    def backward(ctx, g):
        input, grid = ctx.saved_tensors
        padding_mode, align_corners = ctx.how
        need = ctx.needs_input_grad[:2]
        if is_grad_enabled() or ctx.composed:
            if not is_grad_enabled():  # the composed form's gradient, not recorded further
                input, grid = (t.detach().requires_grad_(k) for t, k in zip((input, grid), need))
            with enable_grad():
                out = _composed(input, grid, "bilinear", padding_mode, align_corners)
            wrt = [t for t, k in zip((input, grid), need) if k]
            got = iter(autograd_grad(out, wrt, g, create_graph=is_grad_enabled(), allow_unused=True))
            return tuple(next(got) if k else None for k in need) + (None, None)
        res = _core._grid_sample_bilinear_backward(g.contiguous(), input.contiguous(), grid.contiguous(), padding_mode, align_corners, need[0], need[1])
        return (*res, None, None)


_BilinearKernel._backward_name = "GridSampler2DBackward0"


def _composed(input: Tensor, grid: Tensor, mode: str, padding_mode: str, align_corners: bool) -> Tensor:
    """grid_sample from differentiable ops: every mode and rank, any coordinate."""
    d = input.ndim - 2
    n, c, spatial = input.shape[0], input.shape[1], tuple(input.shape[2:])
    out_spatial = tuple(grid.shape[1:-1])
    p = 1
    for s in out_spatial:
        p *= s
    rows = input.reshape(n, c, -1).transpose(1, 2).reshape(-1, c)
    g = grid.reshape(n, p, d)
    coords = [g[:, :, k] for k in range(d)]  # x, y(, z): x indexes the last spatial axis
    sizes = [spatial[-1 - k] for k in range(d)]
    if mode == "bicubic":
        out = _bicubic(rows, spatial, coords, sizes, padding_mode, align_corners)
    else:
        src = [_source_index(x, sz, padding_mode, align_corners) for x, sz in zip(coords, sizes)]
        if mode == "nearest":
            idx = [s.detach().round().to(_core.int64) for s in src]
            out = _gather(rows, spatial, idx, _in_bounds(idx, spatial))
            # the grid gets a zero gradient (PyTorch's nearest backward), not none
            out = out + (g.sum() * 0).to(out.dtype) if grid.requires_grad else out
        else:
            lo = [s.detach().floor() for s in src]
            out = None
            for corner in itertools.product((0, 1), repeat=d):
                idx, w = [], None
                for k, bit in enumerate(corner):
                    # weight of the far corner is (s - lo), of the near one (lo + 1 - s)
                    wk = (src[k] - lo[k]) if bit else (lo[k] + 1 - src[k])
                    w = wk if w is None else w * wk
                    idx.append((lo[k] + bit).to(_core.int64))
                term = _gather(rows, spatial, idx, _in_bounds(idx, spatial)) * w.reshape(-1, 1)
                out = term if out is None else out + term
    return out.reshape(n, p, c).transpose(1, 2).reshape(n, c, *out_spatial)


def _bicubic(rows, spatial, coords, sizes, padding_mode, align_corners):
    # bicubic reads a 4 x 4 (x 4) neighbourhood around the unnormalised (not yet padded) position,
    # then pads each tap's integer coordinate (PyTorch's get_value_bounded)
    src = [_unnormalize(x, sz, align_corners) for x, sz in zip(coords, sizes)]
    lo = [s.detach().floor() for s in src]
    wts = [_cubic(s - f) for s, f in zip(src, lo)]
    out = None
    for taps in itertools.product(range(4), repeat=len(src)):
        idx, w = [], None
        for k, j in enumerate(taps):
            pos = lo[k] - 1 + j
            if padding_mode == "border":
                pos = pos.clamp(0, sizes[k] - 1)
            elif padding_mode == "reflection":
                pos = _reflect(pos, 0, 2 * (sizes[k] - 1)) if align_corners else _reflect(pos, -1, 2 * sizes[k] - 1)
                pos = pos.clamp(0, sizes[k] - 1)
            idx.append(pos.detach().to(_core.int64))
            w = wts[k][j] if w is None else w * wts[k][j]
        term = _gather(rows, spatial, idx, _in_bounds(idx, spatial)) * w.reshape(-1, 1)
        out = term if out is None else out + term
    return out


def _check_grid(input: Tensor, grid: Tensor) -> None:
    if input.ndim not in (4, 5):
        raise RuntimeError(
            f"grid_sampler(): expected 4D or 5D input and grid with same number of dimensions, but got input with "
            f"sizes {list(input.shape)} and grid with sizes {list(grid.shape)}"
        )
    if grid.ndim != input.ndim:
        raise RuntimeError(
            "grid_sampler(): expected grid to have same number of dimensions as input, but got input with sizes "
            f"{list(input.shape)} and grid with sizes {list(grid.shape)}"
        )
    if input.dtype != grid.dtype:
        raise RuntimeError(
            f"grid_sampler(): expected input and grid to have the same dtype, but input has {input.dtype} "
            f"and grid has {grid.dtype}"
        )
    if input.shape[0] != grid.shape[0]:
        raise RuntimeError(
            "grid_sampler(): expected grid and input to have same batch size, but got input with sizes "
            f"{list(input.shape)} and grid with sizes {list(grid.shape)}"
        )
    d = input.ndim - 2
    if grid.shape[-1] != d:
        raise RuntimeError(
            f"grid_sampler(): expected grid to have size {d} in last dimension, but got grid with sizes {list(grid.shape)}"
        )
    for k in range(2, input.ndim):
        if input.shape[k] == 0:
            raise RuntimeError(
                "grid_sampler(): expected input to have non-empty spatial dimensions, but input has sizes "
                f"{list(input.shape)} with dimension {k} being empty"
            )
