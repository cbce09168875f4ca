"""Normalisation functions of nn.functional: layer_norm and group_norm (one fused Rust kernel),
instance_norm (the fused batch_norm kernel on a (1, N*C, *) view, as PyTorch does), rms_norm,
local_response_norm and the legacy cross-map LRN."""

from __future__ import annotations

import math

import numpy as np

from .. import _core
from .._core import Tensor
from ..autograd.grad_mode import no_grad
from ._functional_utils import traced

__all__ = ["layer_norm", "group_norm", "instance_norm", "rms_norm", "local_response_norm"]


def layer_norm(input: Tensor, normalized_shape, weight: Tensor | None = None, bias: Tensor | None = None,
               eps: float = 1e-5) -> Tensor:
    """Normalises over the trailing `normalized_shape` dims with the biased variance."""
    shape = [normalized_shape] if isinstance(normalized_shape, int) else list(normalized_shape)
    return _core._layer_norm(input, shape, weight, bias, float(eps))


def group_norm(input: Tensor, num_groups: int, weight: Tensor | None = None, bias: Tensor | None = None,
               eps: float = 1e-5) -> Tensor:
    """Normalises each group of C/num_groups channels of each sample; per-channel affine."""
    if input.ndim < 2:
        raise ValueError(f"group_norm: expected an input of shape (N, C, *), got {tuple(input.shape)}")
    n, c = input.shape[0], input.shape[1]
    if num_groups <= 0 or c % num_groups:
        raise RuntimeError(f"group_norm: Expected number of channels in input to be divisible by num_groups, "
                           f"but got input of shape {tuple(input.shape)} and num_groups={num_groups}")
    # PyTorch's _verify_batch_size: one value per group cannot be normalised (its variance is 0
    # and the output would be all zeros), in any mode.
    per_group = (n * c // num_groups) * math.prod(input.shape[2:])
    if per_group == 1:
        size = [n * c // num_groups, num_groups, *input.shape[2:]]
        raise ValueError(f"Expected more than 1 value per channel when training, got input size {size}")
    return _core._group_norm(input, num_groups, weight, bias, float(eps))


def instance_norm(input: Tensor, running_mean: Tensor | None = None, running_var: Tensor | None = None,
                  weight: Tensor | None = None, bias: Tensor | None = None, use_input_stats: bool = True,
                  momentum: float = 0.1, eps: float = 1e-5) -> Tensor:
    """Normalises each channel of each sample over its spatial dims (biased variance).

    use_input_stats=True: the instance's statistics; when running stats are given they are
    updated in place, off the graph, with the batch mean of the per-instance statistics (unbiased
    variance) and `momentum`. use_input_stats=False: the running statistics.

    # Shapes
    input (N, C, *), running_mean/running_var/weight/bias (C).
    """
    if input.ndim < 2:
        raise ValueError(f"instance_norm: expected an input of shape (N, C, *), got {tuple(input.shape)}")
    if use_input_stats and math.prod(input.shape[2:]) == 1:
        raise ValueError(f"Expected more than 1 spatial element when training, got input size {_size(input.shape)}")
    if not use_input_stats and (running_mean is None or running_var is None):
        raise RuntimeError("Expected running_mean and running_var to be defined when use_input_stats is false")
    n, c = input.shape[0], input.shape[1]
    for name, t in (("running_mean", running_mean), ("running_var", running_var), ("weight", weight), ("bias", bias)):
        if t is not None and t.numel() != c:
            raise RuntimeError(f"instance_norm: {name} should contain {c} elements not {t.numel()} "
                               f"(input of shape {tuple(input.shape)})")
    # Each (sample, channel) pair becomes one channel of a batch of one, so batch_norm's batch
    # statistics are the instance statistics; weight, bias and running stats are repeated per sample.
    x = input.reshape(1, n * c, *input.shape[2:])
    w = None if weight is None else weight.repeat(n)
    b = None if bias is None else bias.repeat(n)
    tracked = running_mean is not None and running_var is not None
    # The repeated running stats are fresh copies in the input's dtype (PyTorch accepts float32
    # running stats with a float64 input here; clone() because repeat() of a size-1 tensor can be
    # a stride-0 view of it); the update is copied back into the originals below.
    rm = running_mean.detach().repeat(n).to(input.dtype).clone() if tracked else None
    rv = running_var.detach().repeat(n).to(input.dtype).clone() if tracked else None
    update = bool(use_input_stats) and tracked and n * c > 0
    out = _core._batch_norm(x, w, b, rm, rv, bool(use_input_stats), update, float(momentum), float(eps))
    if update:
        with no_grad():
            running_mean.copy_(rm.reshape(n, c).mean(0))
            running_var.copy_(rv.reshape(n, c).mean(0))
    return traced("instance_norm", [input, weight, bias], out.reshape(*input.shape), use_input_stats=bool(use_input_stats), eps=float(eps))


_EPS = {"float32": float(np.finfo(np.float32).eps), "float64": float(np.finfo(np.float64).eps),
        "float16": float(np.finfo(np.float16).eps), "bfloat16": 2.0 ** -7}


def rms_norm(input: Tensor, normalized_shape, weight: Tensor | None = None, eps: float | None = None) -> Tensor:
    """x / sqrt(mean(x**2 over the trailing `normalized_shape` dims) + eps) * weight.

    eps=None is the machine epsilon of the input's dtype (torch.finfo(dtype).eps), as in PyTorch.
    """
    shape = [normalized_shape] if isinstance(normalized_shape, int) else [int(s) for s in normalized_shape]
    k = len(shape)
    if k == 0 or input.ndim < k or list(input.shape[input.ndim - k:]) != shape:
        raise RuntimeError(f"Given normalized_shape={shape}, expected input with shape [*{', '.join(map(str, shape))}], "
                           f"but got input of size{list(input.shape)}")
    if weight is not None and list(weight.shape) != shape:
        raise RuntimeError(f"rms_norm: weight of shape {list(weight.shape)} does not match normalized_shape={shape}")
    if eps is None:
        eps = _EPS.get(input.dtype.numpy_name, _EPS["float32"])
    dims = tuple(range(-k, 0))
    out = input * ((input * input).mean(dims, keepdim=True) + float(eps)).rsqrt()
    return out if weight is None else out * weight


def _channel_window_sum(sq: Tensor, before: int, after: int) -> Tensor:
    """For each channel c of (N, C, *): the sum of sq over channels c-before .. c+after (zeros
    outside), as shifted slices of a zero-padded copy."""
    n, c = sq.shape[0], sq.shape[1]
    rest = tuple(sq.shape[2:])
    parts = []
    if before:
        parts.append(_core.full([n, before, *rest], 0.0, sq.dtype))
    parts.append(sq)
    if after:
        parts.append(_core.full([n, after, *rest], 0.0, sq.dtype))
    padded = _core.cat(parts, 1) if len(parts) > 1 else sq
    total = padded[:, 0:c]
    for i in range(1, before + after + 1):
        total = total + padded[:, i:i + c]
    return total


def local_response_norm(input: Tensor, size: int, alpha: float = 1e-4, beta: float = 0.75, k: float = 1.0) -> Tensor:
    """x / (k + alpha * mean of x**2 over `size` neighbouring channels) ** beta (the window is
    zero-padded, size//2 channels before and (size-1)//2 after, and always divided by `size`)."""
    dim = input.ndim
    if dim < 3:
        raise ValueError(f"Expected 3D or higher dimensionality input (got {dim} dimensions)")
    if input.numel() == 0:
        return input
    div = _channel_window_sum(input * input, size // 2, (size - 1) // 2) / size
    return input / (div * alpha + k).pow(beta)


def _cross_map_lrn2d(input: Tensor, size: int, alpha: float, beta: float, k: float) -> Tensor:
    """PyTorch's nn.CrossMapLRN2d (Lua Torch's SpatialCrossMapLRN), forward value for value:
    x * (k + alpha/size * s) ** -beta, where s sums the squares over channels c-h .. c+h with
    h = int((size - 1) / 2 + 1) - 1 (an even `size` covers size - 1 channels) and, from channel
    h + 1 on, also channel 0: PyTorch's running-sum port never subtracts channel 0 (a 1-based
    index kept from Lua). Its hand-written backward is not the gradient of that forward (and fails
    for size=1); here autograd differentiates the forward exactly (see known_divergences)."""
    if input.ndim != 4:
        raise ValueError(f"CrossMapLRN2d: Expected input to be 4D, got {input.ndim}D instead.")
    half = int((size - 1) / 2 + 1) - 1
    sq = input * input
    total = _channel_window_sum(sq, half, half)
    c = input.shape[1]
    if c > half + 1:
        stuck = sq[:, 0:1].expand(input.shape[0], c - half - 1, *input.shape[2:])
        zeros = _core.full([input.shape[0], half + 1, *input.shape[2:]], 0.0, sq.dtype)
        total = total + _core.cat([zeros, stuck], 1)
    return input * (total * (alpha / size) + k).pow(-beta)


def _size(shape) -> str:
    return f"ferrograd.Size({list(shape)})"
