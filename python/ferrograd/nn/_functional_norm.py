"""layer_norm and group_norm of nn.functional (one fused Rust kernel for the normalisation)."""

from __future__ import annotations

import math

from .. import _core
from .._core import Tensor

__all__ = ["layer_norm", "group_norm"]


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
    rows = input.reshape(n * num_groups, -1)
    out = _core._layer_norm(rows, [rows.shape[1]], None, None, float(eps)).reshape(*input.shape)
    affine_shape = [1, c] + [1] * (input.ndim - 2)
    if weight is not None:
        out = out * weight.reshape(affine_shape)
    if bias is not None:
        out = out + bias.reshape(affine_shape)
    return out
