"""`fg.utils.dlpack`: PyTorch's `torch.utils.dlpack` (DLPack capsules in and out)."""

from __future__ import annotations

from .._core import Tensor
from .._creation import from_dlpack

__all__ = ["from_dlpack", "to_dlpack"]


def to_dlpack(tensor: Tensor):
    """A legacy DLPack capsule ("dltensor") sharing `tensor`'s memory, as
    `torch.utils.dlpack.to_dlpack`; consumers take it once (`fg.from_dlpack`, `torch.from_dlpack`,
    `np.from_dlpack` needs an object with ``__dlpack__`` instead: pass the tensor itself)."""
    return tensor.__dlpack__()
