"""Composite Tensor methods and their function forms (`x.gather(...)` and `fg.gather(...)`).

Written in Python on top of the core's differentiable ops (advanced indexing, where, cat, matmul,
reductions), so their gradients are the core's; the modules in `_methods/` hold them by family.
Importing this module attaches every method to `fg.Tensor`, except where the core already defines
that name (a native op always wins), and `__all__` lists the function forms `ferrograd` re-exports.
The one exception is `_methods/conversion.py`, which wraps the core's `to`, `float` ... so that a
conversion that changes nothing returns the tensor itself, as PyTorch's do.
"""

from __future__ import annotations

from . import _core, _functions
from ._methods import (  # noqa: F401 (importing a family registers its methods)
    conversion,
    creation,
    decompositions,
    elementwise,
    functions,
    hooks,
    indexing,
    info,
    linalg,
    reductions,
    shape,
    sorting,
)
from ._methods._util import FUNCTIONS, METHODS

__all__: list[str] = []

# In-place methods that PyTorch also has as functions (torch.square_(t) ...).
_INPLACE_FUNCTIONS = ("addmv_", "clamp_max_", "clamp_min_", "clip_", "deg2rad_", "rad2deg_", "gcd_", "lcm_", "ldexp_",
                      "nan_to_num_", "negative_", "square_", "index_put_")


def _attach() -> None:
    for name in _INPLACE_FUNCTIONS:
        FUNCTIONS.setdefault(name, METHODS[name])
    for name, fn in METHODS.items():
        if name not in _core.Tensor.__dict__:
            setattr(_core.Tensor, name, fn)
    for name, fn in FUNCTIONS.items():
        # The lead's _functions.py (and the native module) keep their own function forms.
        if hasattr(_functions, name) or hasattr(_core, name):
            continue
        globals()[name] = fn
        __all__.append(name)


_attach()
