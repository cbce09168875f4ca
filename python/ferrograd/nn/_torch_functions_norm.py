"""The top-level forms PyTorch also has (`torch.layer_norm`, `torch.instance_norm`, ...), with
its ATen signatures: every argument positional and required where PyTorch's are, `cudnn_enabled`
accepted and ignored. They call the nn.functional implementations."""

from __future__ import annotations

from .._core import Tensor
from . import _functional_linear, _functional_norm

__all__ = ["batch_norm", "instance_norm", "layer_norm", "group_norm", "rms_norm", "bilinear", "embedding"]


def batch_norm(input: Tensor, weight: Tensor | None, bias: Tensor | None, running_mean: Tensor | None,
               running_var: Tensor | None, training: bool, momentum: float, eps: float, cudnn_enabled: bool) -> Tensor:
    from . import functional

    return functional.batch_norm(input, running_mean, running_var, weight, bias, training, momentum, eps)


def instance_norm(input: Tensor, weight: Tensor | None, bias: Tensor | None, running_mean: Tensor | None,
                  running_var: Tensor | None, use_input_stats: bool, momentum: float, eps: float,
                  cudnn_enabled: bool) -> Tensor:
    return _functional_norm.instance_norm(input, running_mean, running_var, weight, bias, use_input_stats, momentum,
                                          eps)


def layer_norm(input: Tensor, normalized_shape, weight: Tensor | None = None, bias: Tensor | None = None,
               eps: float = 1e-5, cudnn_enable: bool = True) -> Tensor:
    return _functional_norm.layer_norm(input, normalized_shape, weight, bias, eps)


def group_norm(input: Tensor, num_groups: int, weight: Tensor | None = None, bias: Tensor | None = None,
               eps: float = 1e-5, cudnn_enabled: bool = True) -> Tensor:
    return _functional_norm.group_norm(input, num_groups, weight, bias, eps)


def rms_norm(input: Tensor, normalized_shape, weight: Tensor | None = None, eps: float | None = None) -> Tensor:
    return _functional_norm.rms_norm(input, normalized_shape, weight, eps)


def bilinear(input1: Tensor, input2: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    return _functional_linear.bilinear(input1, input2, weight, bias)


def embedding(weight: Tensor, indices: Tensor, padding_idx: int = -1, scale_grad_by_freq: bool = False,
              sparse: bool = False) -> Tensor:
    """torch.embedding: the table first, and padding_idx=-1 meaning none (ATen's convention)."""
    from . import functional

    return functional.embedding(indices, weight, None if padding_idx < 0 else padding_idx,
                                scale_grad_by_freq=scale_grad_by_freq, sparse=sparse)
