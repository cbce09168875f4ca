"""nn.functional. Activations, dropout, batch_norm, convolution and pooling run in Rust;
mode-dependent functions take `training` explicitly (see `dropout`)."""

from __future__ import annotations

import operator

from .. import _core
from .._core import Tensor
from ._functional_loss import *  # noqa: F403 (losses)
from ._functional_loss import __all__ as _loss_all
from ._functional_norm import *  # noqa: F403 (layer_norm, group_norm)
from ._functional_norm import __all__ as _norm_all

__all__ = [
    "linear", "relu", "leaky_relu", "gelu", "silu", "softplus", "sigmoid", "tanh", "softmax", "log_softmax",
    "dropout", "dropout1d", "dropout2d", "dropout3d", "alpha_dropout", "feature_alpha_dropout", "batch_norm",
    "embedding", *_loss_all, *_norm_all,
    "conv2d", "max_pool2d", "avg_pool2d", "adaptive_avg_pool2d",
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
    return input.relu()


def leaky_relu(input: Tensor, negative_slope: float = 0.01, inplace: bool = False) -> Tensor:
    return _core._leaky_relu(input, float(negative_slope))


def gelu(input: Tensor, approximate: str = "none") -> Tensor:
    if approximate not in ("none", "tanh"):
        raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")
    return _core._gelu(input, approximate == "tanh")


def silu(input: Tensor, inplace: bool = False) -> Tensor:
    return _core._silu(input)


def softplus(input: Tensor, beta: float = 1.0, threshold: float = 20.0) -> Tensor:
    """log(1 + exp(beta x)) / beta, linear where beta x > threshold (PyTorch's rule)."""
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

class _Required:
    def __repr__(self) -> str:
        return "<required>"


_REQUIRED = _Required()


def _training(fn: str, training) -> bool:
    if training is _REQUIRED:
        raise TypeError(
            f"F.{fn}() needs `training` given explicitly, e.g. F.{fn}(x, p, training=self.training). "
            "PyTorch defaults it to True, which keeps dropout active after model.eval() (PyTorch issue #26338); "
            "ferrograd makes you choose."
        )
    if not isinstance(training, bool):
        raise TypeError(f"F.{fn}(): training must be a bool, got {type(training).__name__}")
    return training


def _dropout(name: str, input: Tensor, p: float, training, inplace: bool, alpha: bool, unit: int) -> Tensor:
    _core._check_dropout_p(float(p))
    if not _training(name, training) or p == 0:
        return input
    return _core._dropout(input, float(p), alpha, unit, bool(inplace))


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


def _prod(xs) -> int:
    n = 1
    for x in xs:
        n *= x
    return n


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

def embedding(input: Tensor, weight: Tensor, padding_idx: int | None = None) -> Tensor:
    """Rows of `weight` at the int64 indices `input`; output shape (*input.shape, embedding_dim).
    The row at `padding_idx` gets no gradient."""
    if input.dtype != _core.int64:
        raise RuntimeError(f"embedding: expected indices of dtype int64, got {input.dtype}")
    n = weight.shape[0]
    if padding_idx is not None:
        if not -n <= padding_idx < n:
            raise ValueError(f"embedding: padding_idx {padding_idx} must be within num_embeddings ({n})")
        padding_idx %= n
    if input.numel():
        lo, hi = input.min().item(), input.max().item()
        if lo < 0 or hi >= n:
            raise IndexError(f"embedding: index {hi if hi >= n else lo} is out of range for an embedding of {n} rows")
    out = weight[input]
    if padding_idx is not None:
        keep = (input != padding_idx).unsqueeze(-1).expand(*out.shape)
        out = _core.where(keep, out, out.detach())
    return out


# ---- convolution and pooling --------------------------------------------------------------

def _pair(name: str, value, fn: str) -> tuple[int, int]:
    """An int, or a tuple/list of one or two ints, as (h, w)."""
    if isinstance(value, (tuple, list)):
        items = tuple(value)
        if len(items) == 1:
            items = items * 2
        if len(items) != 2:
            raise RuntimeError(f"{fn}: {name} must be a single int or a tuple of two ints, but got {name}={value!r}")
    else:
        items = (value, value)
    try:
        return tuple(operator.index(v) for v in items)  # type: ignore[return-value]
    except TypeError:
        raise TypeError(f"{fn}: {name} must be an int or a tuple of ints, got {value!r}") from None


def _batched(fn: str, input: Tensor) -> bool:
    """True for (N, C, H, W), False for an unbatched (C, H, W) input; other ranks are errors."""
    if input.ndim == 4:
        return True
    if input.ndim == 3:
        return False
    raise RuntimeError(
        f"{fn}: expected a 3-D (unbatched C, H, W) or 4-D (batched N, C, H, W) input, "
        f"but got input of size: {list(input.shape)}"
    )


def _same_padding(weight: Tensor, stride, dilation) -> tuple[int, int, int, int]:
    """PyTorch's padding='same': total dilation * (k - 1) per axis, an odd one extra after."""
    if stride != (1, 1):
        raise RuntimeError("conv2d: padding='same' is not supported for strided convolutions")
    pads: list[int] = []
    kernel = weight.shape[2:] if weight.ndim == 4 else (1, 1)
    for d, k in zip(dilation, kernel):
        total = d * max(k - 1, 0)
        pads += [total // 2, total - total // 2]
    return tuple(pads)  # type: ignore[return-value]


def conv2d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride=1, padding=0, dilation=1, groups: int = 1) -> Tensor:
    """2-D cross-correlation, as PyTorch's F.conv2d.

    Args:
        input: (N, C, H, W), or unbatched (C, H, W).
        weight: (out_channels, C / groups, kH, kW).
        bias: (out_channels) or None.
        stride, dilation: an int or (sH, sW).
        padding: an int, (pH, pW), 'valid' (no padding) or 'same' (output size = input size;
            stride 1 only; an odd total padding puts the extra row/column after, as PyTorch).
        groups: input and output channels split into this many independent groups.

    Shape: output (N, out_channels, oH, oW) with
        oH = (H + 2 * pH - dH * (kH - 1) - 1) // sH + 1, and the same for W.
    """
    batched = _batched("conv2d", input)
    stride = _pair("stride", stride, "conv2d")
    dilation = _pair("dilation", dilation, "conv2d")
    if isinstance(padding, str):
        if padding == "valid":
            pads = (0, 0, 0, 0)
        elif padding == "same":
            pads = _same_padding(weight, stride, dilation)
        else:
            raise RuntimeError(f"conv2d: Invalid padding string: {padding!r} (use 'valid', 'same' or ints)")
    else:
        ph, pw = _pair("padding", padding, "conv2d")
        pads = (ph, ph, pw, pw)
    x = input if batched else input.unsqueeze(0)
    out = _core._conv2d(x, weight, bias, stride, pads, dilation, operator.index(groups))
    return out if batched else out.squeeze(0)


def _pool_stride(fn: str, stride, kernel: tuple[int, int]) -> tuple[int, int]:
    if stride is None or (isinstance(stride, (tuple, list)) and len(stride) == 0):
        return kernel
    return _pair("stride", stride, fn)


def max_pool2d(input: Tensor, kernel_size, stride=None, padding=0, dilation=1, ceil_mode: bool = False, return_indices: bool = False):
    """Max over (kH, kW) windows of (N, C, H, W) or (C, H, W) inputs; stride defaults to the
    kernel size, padding (at most half the kernel) counts as -inf. With return_indices=True also
    returns int64 indices of the maxima as flat positions h * W + w in each input plane."""
    k = _pair("kernel_size", kernel_size, "max_pool2d")
    s = _pool_stride("max_pool2d", stride, k)
    p = _pair("padding", padding, "max_pool2d")
    d = _pair("dilation", dilation, "max_pool2d")
    batched = _batched("max_pool2d", input)
    x = input if batched else input.unsqueeze(0)
    out, indices = _core._max_pool2d(x, k, s, p, d, bool(ceil_mode))
    if not batched:
        out, indices = out.squeeze(0), indices.squeeze(0)
    return (out, indices) if return_indices else out


def avg_pool2d(
    input: Tensor,
    kernel_size,
    stride=None,
    padding=0,
    ceil_mode: bool = False,
    count_include_pad: bool = True,
    divisor_override: int | None = None,
) -> Tensor:
    """Mean over (kH, kW) windows. The divisor is `divisor_override` when given, else the window
    size including padding (count_include_pad=True) or only the input positions it covers."""
    k = _pair("kernel_size", kernel_size, "avg_pool2d")
    s = _pool_stride("avg_pool2d", stride, k)
    p = _pair("padding", padding, "avg_pool2d")
    div = None if divisor_override is None else operator.index(divisor_override)
    batched = _batched("avg_pool2d", input)
    x = input if batched else input.unsqueeze(0)
    out = _core._avg_pool2d(x, k, s, p, bool(ceil_mode), bool(count_include_pad), div)
    return out if batched else out.squeeze(0)


def adaptive_avg_pool2d(input: Tensor, output_size) -> Tensor:
    """Averages into an (oH, oW) grid: output row i covers input rows floor(i * H / oH) to
    ceil((i + 1) * H / oH), and the same for columns. `output_size` is an int or a pair whose
    entries may be None (keep the input's size)."""
    batched = _batched("adaptive_avg_pool2d", input)
    items = tuple(output_size) if isinstance(output_size, (tuple, list)) else (output_size, output_size)
    if len(items) != 2:
        raise RuntimeError(f"adaptive_avg_pool2d: output_size must be 2, got {len(items)} values ({output_size!r})")
    size = tuple(input.shape[-2 + i] if v is None else operator.index(v) for i, v in enumerate(items))
    if size == (1, 1) and all(d > 0 for d in input.shape[-3:]):
        # PyTorch's global-average shortcut: a mean over H and W (grad_fn MeanBackward1).
        return input.mean((-2, -1), keepdim=True)
    x = input if batched else input.unsqueeze(0)
    out = _core._adaptive_avg_pool2d(x, size)
    return out if batched else out.squeeze(0)
