"""Unflatten (Flatten lives in linear.py with the other shape-only layers)."""

from __future__ import annotations

from ..module import Module

__all__ = ["Unflatten"]


class Unflatten(Module):
    """Splits dim `dim` of the input into `unflattened_size` (a tuple, list or Size of ints whose
    product is that dim's size; one entry may be -1 and is inferred). The inverse of Flatten.

    Shape: (*, S_dim, *) -> (*, U_1, ..., U_n, *) with U_1 * ... * U_n = S_dim.

    PyTorch 2.x dropped the named-tensor form (a str dim with ((name, size), ...)); like it,
    unflattened_size must be ints.
    """

    def __init__(self, dim: int, unflattened_size) -> None:
        super().__init__()
        self._require_tuple_int(unflattened_size)
        self.dim = dim
        self.unflattened_size = unflattened_size

    @staticmethod
    def _require_tuple_int(value) -> None:
        if isinstance(value, (tuple, list)):
            for idx, elem in enumerate(value):
                if not isinstance(elem, int):
                    raise TypeError(
                        f"unflattened_size must be tuple of ints, but found element of type {type(elem).__name__} at pos {idx}"
                    )
            return
        raise TypeError(f"unflattened_size must be a tuple of ints, but found type {type(value).__name__}")

    def forward(self, input):
        return input.unflatten(self.dim, self.unflattened_size)

    def extra_repr(self) -> str:
        return f"dim={self.dim}, unflattened_size={self.unflattened_size}"
