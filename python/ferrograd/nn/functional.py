"""nn.functional. Activations, dropout, batch_norm, convolution and pooling run in Rust;
mode-dependent functions take `training` explicitly (see `dropout`)."""

from __future__ import annotations

import numpy as np

from .. import _core
from .._core import Tensor
from .._methods._util import assign
from . import (
    _functional_activation,
    _functional_attention,
    _functional_conv,
    _functional_distance,
    _functional_linear,
    _functional_loss,
    _functional_norm,
    _functional_pool,
    _functional_sample,
    _functional_sparse,
    _functional_vision,
)
from ._functional_activation import *  # noqa: F403
from ._functional_activation import leaky_relu_, relu_
from ._functional_attention import *  # noqa: F403
from ._functional_conv import *  # noqa: F403
from ._functional_distance import *  # noqa: F403
from ._functional_linear import *  # noqa: F403
from ._functional_loss import *  # noqa: F403
from ._functional_norm import *  # noqa: F403
from ._functional_pool import *  # noqa: F403
from ._functional_sample import *  # noqa: F403
from ._functional_sparse import *  # noqa: F403
from ._functional_utils import _REQUIRED, _prod, _training
from ._functional_vision import *  # noqa: F403

# Each family lives in its own module (its __all__ lists what it adds); this one keeps the fused
# activations, dropout, batch_norm and embedding.
_FAMILIES = (_functional_activation, _functional_attention, _functional_conv, _functional_distance, _functional_linear, _functional_loss,
             _functional_norm, _functional_pool, _functional_sample, _functional_sparse, _functional_vision)

__all__ = [
    "linear", "relu", "leaky_relu", "gelu", "silu", "softplus", "sigmoid", "tanh", "softmax", "log_softmax",
    "dropout", "dropout1d", "dropout2d", "dropout3d", "alpha_dropout", "feature_alpha_dropout", "batch_norm",
    "embedding", *(name for family in _FAMILIES for name in family.__all__),
]


def linear(input: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """y = input @ weight.T + bias. Shapes: input (*, in), weight (out, in), bias (out).

    One fused op (PyTorch's addmm) for the usual shapes; a 1-D weight or a bias of another
    shape (broadcast as PyTorch allows) takes the composed path.
    """
    if weight.dim() == 2 and (bias is None or bias.dim() == 1):
        return _core._linear(input, weight, bias)
    out = input.matmul(weight.t())
    return out if bias is None else out + bias


def relu(input: Tensor, inplace: bool = False) -> Tensor:
    return relu_(input) if inplace else input.relu()


def leaky_relu(input: Tensor, negative_slope: float = 0.01, inplace: bool = False) -> Tensor:
    if inplace:
        return leaky_relu_(input, negative_slope)
    return _core._leaky_relu(input, float(negative_slope))


def gelu(input: Tensor, approximate: str = "none") -> Tensor:
    if approximate not in ("none", "tanh"):
        raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")
    return _core._gelu(input, approximate == "tanh")


def silu(input: Tensor, inplace: bool = False) -> Tensor:
    return assign(input, _core._silu) if inplace else _core._silu(input)


def softplus(input: Tensor, beta: float = 1.0, threshold: float = 20.0) -> Tensor:
    """log(1 + exp(beta x)) / beta, linear where beta x > threshold (PyTorch's rule)."""
    if beta == 1.0 and threshold == 20.0:
        return _core._activation(input, "softplus")  # PyTorch's defaults: one fused pass
    if beta == 1.0:
        sp = _core._softplus(input)
    else:
        sp = _core._softplus(input * beta) / beta
    return _core.where(input * beta > threshold, input, sp)


def sigmoid(input: Tensor) -> Tensor:
    return input.sigmoid()


def tanh(input: Tensor) -> Tensor:
    return input.tanh()


def softmax(input: Tensor, dim: int, dtype=None) -> Tensor:
    x = input if dtype is None else input.to(dtype)
    return x.softmax(dim)


def log_softmax(input: Tensor, dim: int, dtype=None) -> Tensor:
    x = input if dtype is None else input.to(dtype)
    return x.log_softmax(dim)


# ---- dropout ------------------------------------------------------------------------------

def _dropout(name: str, input: Tensor, p: float, training, inplace: bool, alpha: bool, unit: int) -> Tensor:
    _core._check_dropout_p(float(p))
    if not _training(name, training) or p == 0:
        return input
    if inplace:
        # The core writes into input's storage and gives input the new node; PyTorch returns the
        # input object itself (`F.dropout(x, inplace=True) is x`), not another handle on it.
        _core._dropout(input, float(p), alpha, unit, True)
        return input
    return _core._dropout(input, float(p), alpha, unit, False)


def dropout(input: Tensor, p: float = 0.5, training=_REQUIRED, inplace: bool = False) -> Tensor:
    """Zeroes each element with probability p and scales the rest by 1/(1-p) when `training`.

    `training` has no default (PyTorch's is True; see issue #26338): pass `self.training`.
    In eval mode, or with p=0, the input object itself is returned.
    """
    return _dropout("dropout", input, p, training, inplace, False, 1)


def _channel_unit(name: str, input: Tensor, batched: int, unbatched: int, layout: str, hint: str) -> int:
    if input.ndim == batched:
        return _prod(input.shape[2:])
    if input.ndim == unbatched:
        return _prod(input.shape[1:])
    raise ValueError(
        f"{name}: expected a {unbatched}-D (unbatched) or {batched}-D (batched {layout}) input, "
        f"got a {input.ndim}-D input of shape {tuple(input.shape)}.{hint}"
    )


def dropout1d(input: Tensor, p: float = 0.5, training=_REQUIRED, inplace: bool = False) -> Tensor:
    """Zeroes whole channels of (N, C, L) or (C, L) inputs."""
    unit = _channel_unit("dropout1d", input, 3, 2, "(N, C, L)", "")
    return _dropout("dropout1d", input, p, training, inplace, False, unit)


def dropout2d(input: Tensor, p: float = 0.5, training=_REQUIRED, inplace: bool = False) -> Tensor:
    """Zeroes whole channels of (N, C, H, W) inputs.

    A 3-D input is an error here: PyTorch silently treats it as (N, C, L) and drops whole rows
    (its issue #69801). Use dropout1d for (N, C, L), or unsqueeze(0) an unbatched (C, H, W) image.
    """
    if input.ndim != 4:
        raise ValueError(
            f"dropout2d: expected a 4-D input (N, C, H, W), got a {input.ndim}-D input of shape {tuple(input.shape)}. "
            + (
                "For (N, C, L) sequences use Dropout1d; for one unbatched (C, H, W) image use x.unsqueeze(0). "
                "(PyTorch would silently treat this 3-D input as (N, C, L): its issue #69801.)"
                if input.ndim == 3
                else ""
            )
        )
    return _dropout("dropout2d", input, p, training, inplace, False, _prod(input.shape[2:]))


def dropout3d(input: Tensor, p: float = 0.5, training=_REQUIRED, inplace: bool = False) -> Tensor:
    """Zeroes whole channels of (N, C, D, H, W) or (C, D, H, W) inputs."""
    unit = _channel_unit("dropout3d", input, 5, 4, "(N, C, D, H, W)", "")
    return _dropout("dropout3d", input, p, training, inplace, False, unit)


def alpha_dropout(input: Tensor, p: float = 0.5, training=_REQUIRED, inplace: bool = False) -> Tensor:
    """Dropout for SELU networks: keeps zero mean and unit variance of N(0, 1) inputs."""
    return _dropout("alpha_dropout", input, p, training, inplace, True, 1)


def feature_alpha_dropout(input: Tensor, p: float = 0.5, training=_REQUIRED, inplace: bool = False) -> Tensor:
    """Alpha dropout of whole channels of (N, C, *) inputs."""
    if input.ndim < 2:
        raise ValueError(f"feature_alpha_dropout: expected an input of shape (N, C, *), got shape {tuple(input.shape)}")
    return _dropout("feature_alpha_dropout", input, p, training, inplace, True, _prod(input.shape[2:]))


# ---- batch norm ---------------------------------------------------------------------------

def batch_norm(
    input: Tensor,
    running_mean: Tensor | None,
    running_var: Tensor | None,
    weight: Tensor | None = None,
    bias: Tensor | None = None,
    training: bool = False,
    momentum: float = 0.1,
    eps: float = 1e-5,
) -> Tensor:
    """Normalises over every dim but 1. training=True uses the batch statistics and, when
    running stats are given, blends them in with `momentum` (unbiased variance); training=False
    uses the running statistics and updates nothing."""
    use_batch = training or running_mean is None or running_var is None
    return _core._batch_norm(
        input, weight, bias, running_mean, running_var, use_batch, bool(training), float(momentum), float(eps)
    )


# ---- embedding ------------------------------------------------------------------------------

def embedding(input: Tensor, weight: Tensor, padding_idx: int | None = None, max_norm: float | None = None,
              norm_type: float = 2.0, scale_grad_by_freq: bool = False, sparse: bool = False) -> Tensor:
    """Rows of `weight` at the int64 (or int32) indices `input`; output shape
    (*input.shape, embedding_dim). The row at `padding_idx` gets no gradient. With `max_norm`,
    the looked-up rows whose `norm_type`-norm exceeds it are first rescaled in place to that norm
    (PyTorch's embedding_renorm_: weight is modified, off the graph). `scale_grad_by_freq`
    divides each row's gradient by how often its index occurs in `input`. `sparse=True`
    (sparse gradients) is not implemented: NotImplementedError."""
    if input.dtype not in (_core.int64, _core.int32):
        raise RuntimeError(f"embedding: expected indices of dtype int64 (or int32), got {input.dtype}")
    if sparse:
        raise NotImplementedError("embedding: sparse gradients are not implemented in ferrograd (use sparse=False; "
                                  "the gradient is then dense)")
    if input.dtype != _core.int64:
        input = input.to(_core.int64)
    n = weight.shape[0]
    if padding_idx is not None:
        if not -n <= padding_idx < n:
            raise ValueError(f"embedding: padding_idx {padding_idx} must be within num_embeddings ({n})")
        padding_idx %= n
    if input.numel():
        lo, hi = input.min().item(), input.max().item()
        if lo < 0 or hi >= n:
            raise IndexError(f"embedding: index {hi if hi >= n else lo} is out of range for an embedding of {n} rows")
    if max_norm is not None and input.numel():
        from ._functional_sparse import _renorm_rows_

        _renorm_rows_(weight, np.unique(input.numpy()), float(max_norm), float(norm_type))
    out = weight[input]
    if scale_grad_by_freq and out.requires_grad and input.numel():
        # The same forward values (x + 0 is x); the gradient of each looked-up row is divided by
        # its index's count in `input`, as PyTorch's embedding_backward does.
        idx = input.numpy().reshape(-1)
        freq = np.bincount(idx, minlength=n)[idx].reshape(tuple(input.shape) + (1,))
        scale = _core.from_numpy(1.0 / freq).to(weight.dtype)
        out = out.detach() + (out - out.detach()) * scale
    if padding_idx is not None:
        keep = (input != padding_idx).unsqueeze(-1).expand(*out.shape)
        out = _core.where(keep, out, out.detach())
    return out
