"""`fg.autograd.graph`: hooks on what the graph saves, as `torch.autograd.graph`.

`saved_tensors_hooks(pack_hook, unpack_hook)` changes how tensors saved for backward are kept:
every tensor an op saves while the context is active goes through `pack_hook` (its result is
what the graph holds) and comes back through `unpack_hook` when backward needs it. The classic
use is activation offloading: `save_on_cpu` here packs to a numpy array, which frees the
tensor's own memory until backward.
"""

from __future__ import annotations

from .. import _core
from .._core import Node, Tensor

__all__ = ["Node", "saved_tensors_hooks", "save_on_cpu", "disable_saved_tensors_hooks"]


class saved_tensors_hooks:  # noqa: N801 (PyTorch's name)
    """Context manager: tensors saved for backward inside it are packed with ``pack_hook(t)``
    and unpacked with ``unpack_hook(packed)`` (which must return a tensor with the same values).
    The hooks are per thread and nest; inside a hook they are out of force."""

    def __init__(self, pack_hook, unpack_hook):
        self.pack_hook = pack_hook
        self.unpack_hook = unpack_hook

    def __enter__(self):
        _core._push_saved_tensors_hooks(self.pack_hook, self.unpack_hook)
        return self

    def __exit__(self, *exc):
        _core._pop_saved_tensors_hooks()
        return False


class save_on_cpu(saved_tensors_hooks):  # noqa: N801 (PyTorch's name)
    """Saved tensors are kept as numpy copies and turned back into tensors in backward.

    With a single CPU device this is PyTorch's ``save_on_cpu`` pattern as ferrograd can use it:
    the tensor memory the graph holds is released (``fg.memory_allocated()`` drops) and the
    numpy copy stands in for it. ``pin_memory`` is accepted and ignored (no GPU)."""

    def __init__(self, pin_memory: bool = False, device_type: str = "cuda"):
        def pack(t: Tensor):
            return t.detach().numpy().copy()

        def unpack(a):
            return _core.from_numpy(a)

        super().__init__(pack, unpack)


class disable_saved_tensors_hooks:  # noqa: N801 (PyTorch's name)
    """Inside it, saving a tensor for backward is an error with `error_message` (for code that
    must not be combined with saved-tensor hooks)."""

    def __init__(self, error_message: str):
        self.error_message = error_message

    def __enter__(self):
        def refuse(t):
            raise RuntimeError(self.error_message)

        _core._push_saved_tensors_hooks(refuse, refuse)
        return self

    def __exit__(self, *exc):
        _core._pop_saved_tensors_hooks()
        return False
