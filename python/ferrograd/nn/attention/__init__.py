"""fg.nn.attention: PyTorch's `torch.nn.attention` names for choosing the scaled-dot-product
attention implementation, so scripts that write `with sdpa_kernel(SDPBackend.MATH):` run.

On ferrograd's CPU there are two implementations: MATH, the composed path (matmul, softmax,
masking; it materialises the L x S weights), and FLASH_ATTENTION, the fused kernel `_core._sdpa`
when the extension has it. Without the fused kernel the composed path serves both. As on
PyTorch's CPU, EFFICIENT_ATTENTION and CUDNN_ATTENTION alone leave no viable backend (a
RuntimeError when attention is called)."""

from __future__ import annotations

import contextlib
from enum import IntEnum

from .._functional_attention import _backends

__all__ = ["SDPBackend", "sdpa_kernel", "WARN_FOR_UNFUSED_KERNELS"]

WARN_FOR_UNFUSED_KERNELS = False


class SDPBackend(IntEnum):
    """PyTorch's backend names and values."""

    ERROR = -1
    MATH = 0
    FLASH_ATTENTION = 1
    EFFICIENT_ATTENTION = 2
    CUDNN_ATTENTION = 3
    OVERRIDEABLE = 4

    def __str__(self) -> str:
        return f"SDPBackend.{self.name}"


@contextlib.contextmanager
def sdpa_kernel(backends: list[SDPBackend] | SDPBackend, set_priority: bool = False):
    """Within the block (this thread), scaled_dot_product_attention uses only `backends`; the
    previous choice is restored on exit. Also a decorator. `set_priority` is accepted (ferrograd
    prefers the fused kernel, then MATH, among those allowed)."""
    if not isinstance(backends, (list, SDPBackend)):
        raise AssertionError("Backend must be an instance of SDPBackend or a list of SDPBackend instances, got "
                             f"{type(backends).__name__}")
    if isinstance(backends, SDPBackend):
        backends = [backends]
    for b in backends:
        if not isinstance(b, SDPBackend):
            raise AssertionError(f"Backend must be an instance of SDPBackend, got {type(b).__name__}")
    previous = getattr(_backends, "allowed", None)
    _backends.allowed = frozenset(int(b) for b in backends)
    try:
        yield {}
    finally:
        _backends.allowed = previous
