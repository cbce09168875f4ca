"""nn.Parameter: a Tensor that a Module registers as a learnable parameter."""

from __future__ import annotations

from .._core import Tensor


class Parameter(Tensor):
    """A leaf tensor with requires_grad=True by default, registered by Module.__setattr__.

    It shares storage with the tensor it wraps (`Parameter(t)` does not copy `t`).
    """

    def __new__(cls, data: Tensor | None = None, requires_grad: bool = True):
        if data is not None and not isinstance(data, Tensor):
            raise TypeError(f"Parameter(): data must be a Tensor, got {type(data).__name__}")
        return super().__new__(cls, data, requires_grad)

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()

    def __reduce__(self):
        return (_rebuild_parameter, (self.detach().numpy(), self.requires_grad))


def _rebuild_parameter(arr, requires_grad):
    from .._creation import tensor

    return Parameter(tensor(arr), requires_grad)
