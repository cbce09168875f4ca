"""Flattening parameters into one vector and back, as ``torch.nn.utils.convert_parameters``
(for second-order methods and weight-space algorithms)."""

from __future__ import annotations

from typing import Iterable

from ... import _core
from ..._core import Tensor

__all__ = ["parameters_to_vector", "vector_to_parameters"]


def parameters_to_vector(parameters: Iterable[Tensor]) -> Tensor:
    """The parameters flattened and concatenated into one 1-D tensor (on the autograd graph,
    as in PyTorch: gradients flow back to the parameters)."""
    return _core.cat([p.reshape(-1) for p in parameters])


def vector_to_parameters(vec: Tensor, parameters: Iterable[Tensor]) -> None:
    """Copies consecutive slices of the 1-D `vec` into the parameters' data, in order (the
    inverse of `parameters_to_vector`). Each parameter's ``.data`` becomes a view of `vec`."""
    if not isinstance(vec, Tensor):
        raise TypeError(f"expected torch.Tensor, but got: {type(vec).__name__}")
    pointer = 0
    for param in parameters:
        num_param = param.numel()
        param.data = vec[pointer : pointer + num_param].view_as(param).data
        pointer += num_param
