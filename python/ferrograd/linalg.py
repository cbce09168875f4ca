"""`torch.linalg` for ferrograd: vector, matrix and dispatching norms, det/slogdet, inv/inv_ex,
solve/solve_triangular, cholesky/cholesky_ex, matrix_power, matrix_exp, cross, vecdot,
multi_dot, diagonal, matmul and LinAlgError. The definitions live in `_methods/linalg_api.py`;
decompositions that need an eigen- or singular-value solver (svd, eigh, qr, pinv, the nuclear
and spectral norms) are not in ferrograd.
"""

from ._methods.linalg_api import *  # noqa: F403
from ._methods.linalg_api import __all__  # noqa: F401
