"""``fg.Size``: the type of ``Tensor.shape`` and ``Tensor.size()``, a tuple of ints as ``torch.Size``.

Printed as ``ferrograd.Size([2, 3])``: PyTorch prints ``torch.Size([2, 3])``, and ferrograd
writes its own module name where PyTorch writes ``torch.`` (``ferrograd.float32``), so a shape
and a dtype read alike in the same printout. It compares equal to the plain tuple, as in PyTorch.
"""

from __future__ import annotations

import operator

from ._core import _SizeBase


class Size(_SizeBase):
    """An immutable tuple of dimension sizes.

    ``Size(iterable)`` takes ints (or objects with ``__index__``, such as 0-d integer tensors);
    slicing (in its C base, ``_core._SizeBase``: ``x.shape[0]`` is read in every forward),
    ``+`` and ``*`` keep the type. ``numel()`` is the product of the sizes (1 for ``Size([])``).
    """

    __slots__ = ()

    def __new__(cls, sizes=()):
        items = []
        for i, s in enumerate(sizes):
            if isinstance(s, float) or not hasattr(s, "__index__"):
                raise TypeError(f"ferrograd.Size() takes an iterable of 'int' (item {i} is '{type(s).__name__}')")
            items.append(operator.index(s))
        return super().__new__(cls, items)

    def numel(self) -> int:
        n = 1
        for s in self:
            n *= s
        return n

    def __add__(self, other):
        if not isinstance(other, tuple):
            return NotImplemented
        return Size(tuple(self) + tuple(other))

    def __radd__(self, other):
        if not isinstance(other, tuple):
            return NotImplemented
        return Size(tuple(other) + tuple(self))

    def __mul__(self, n):
        if not hasattr(n, "__index__"):
            return NotImplemented
        return Size(tuple(self) * n)

    __rmul__ = __mul__

    def __repr__(self) -> str:
        return f"ferrograd.Size({list(self)})"

    __str__ = __repr__

    def __reduce__(self):
        return (Size, (tuple(self),))
