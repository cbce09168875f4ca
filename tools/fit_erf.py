"""Fits the polynomials of the float32 erf in rust/vmath.rs (run: python tools/fit_erf.py).

erf(x) = x P(x^2) for |x| < 1, and 1 - exp(-x^2) G(u), u = (|x| - 2.5) / 1.5, for 1 <= |x| < 4
(G(x) = erfc(x) exp(x^2) is smooth there). GELU's gate Phi(x) = erfc(-x / sqrt 2) / 2 uses one
form over the whole line instead: erfc(a) = t exp(-a^2) Q(t), t = 1 / (1 + a / (2 sqrt 2)), so
t = 1 / (1 + |x| / 4) is exact in float32 and exp(-a^2) is also the normal pdf its gradient needs.
Each is a least-squares fit of the relative error on
a dense grid, with float64 references from Python's math.erf / math.erfc; it prints the
coefficients (highest power first, for Horner) and the worst relative error of the fit in
float64. The Rust test checks the float32 function against float64 erf over every range.
"""
import math

import numpy as np


def fit(xs, target, var, degree):
    """Least squares of sum c_i var^i against target, weighted for relative error."""
    a = np.vander(var, degree + 1, increasing=True) / target[:, None]
    c, *_ = np.linalg.lstsq(a, np.ones_like(target), rcond=None)
    err = np.max(np.abs(np.polynomial.polynomial.polyval(var, c) / target - 1))
    return c[::-1], err


def main():
    x = np.linspace(1e-6, 1.0, 20001)
    p, e1 = fit(x, np.array([math.erf(v) / v for v in x]), x * x, 6)
    x = np.linspace(1.0, 4.0, 20001)
    g = np.array([math.erfc(v) * math.exp(v * v) for v in x])
    q, e2 = fit(x, g, (x - 2.5) / 1.5, 11)
    a = np.concatenate([np.linspace(0.0, 4.0, 40001), np.linspace(4.0, 9.5, 20001)])
    t = 1 / (1 + a / (2 * math.sqrt(2)))
    r, e3 = fit(a, np.array([math.erfc(v) * math.exp(v * v) for v in a]) / t, t, 9)
    for name, c, e in (("ERF_SMALL", p, e1), ("ERFC_SCALED", q, e2), ("PHI_ERFC", r, e3)):
        print(f"// fit relative error {e:.2e}")
        print(f"const {name}: [f32; {len(c)}] = [{', '.join(repr(float(np.float32(v))) for v in c)}];")


if __name__ == "__main__":
    main()
