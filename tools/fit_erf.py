"""Fits the polynomials of the float32 erf in rust/vmath.rs (run: python tools/fit_erf.py).

erf(x) = x P(x^2) for |x| < 1, and 1 - exp(-x^2) G(u), u = (|x| - 2.5) / 1.5, for 1 <= |x| < 4
(G(x) = erfc(x) exp(x^2) is smooth there). GELU's gate Phi(x) uses one form over the whole line
instead (and, for GELU's forward on AVX-512, PHI_TABLE, below): erfc(|x| / sqrt 2) / 2 = t exp(-x^2 / 2) Q(t), t = 1 / (1 + 15 |x| / 64) (exact in
float32; 15/64 is where eight terms fit best), and exp(-x^2 / 2) is also the normal pdf its
gradient needs; that Gaussian uses its own degree-6 e^r on |r| <= ln 2 / 2.

ERF_SMALL and ERFC_SCALED are least-squares fits of the relative error on a dense grid; Q and
e^r, where the term count is what GELU's speed pays for, are near-minimax (Lawson's iteration:
least squares reweighted by the error, the best float32-rounded step kept). References are
float64, from Python's math.erf / math.erfc / math.exp; it prints the coefficients (highest power
first) and the worst relative error of the float32 coefficients. The Rust tests check the float32
functions against float64 over every range.

PHI_TABLE (rust/vmath_gelu.rs) is Phi(-a) for a = |x| on 32 intervals 1/4 wide, centred on
k / 4 (the first is [0, 1/8]): a degree-7 polynomial in v = a - k / 4, near-minimax in relative
error on |v| <= 1/8 (and a hair past). Row k holds the coefficient of v^(7 - k) for every interval, as
AVX-512's two-register permute reads them.
"""
import math

import numpy as np


def fit(xs, target, var, degree, lawson=0):
    """Least squares of sum c_i var^i against target, weighted for relative error; with lawson > 0
    that many reweighting steps towards the minimax fit, keeping the best after float32 rounding."""
    a = np.vander(var, degree + 1, increasing=True) / target[:, None]
    w, best = np.ones_like(target), (np.inf, None)
    for _ in range(lawson + 1):
        sw = np.sqrt(w)
        c, *_ = np.linalg.lstsq(a * sw[:, None], sw, rcond=None)
        c32 = c.astype(np.float32).astype(np.float64)
        err = np.max(np.abs(np.polynomial.polynomial.polyval(var, c32) / target - 1))
        if err < best[0]:
            best = (err, c32)
        w = w * np.abs(np.polynomial.polynomial.polyval(var, c) / target - 1)
        w /= w.sum()
    return best[1][::-1], best[0]


def main():
    x = np.linspace(1e-6, 1.0, 20001)
    p, e1 = fit(x, np.array([math.erf(v) / v for v in x]), x * x, 6)
    x = np.linspace(1.0, 4.0, 20001)
    g = np.array([math.erfc(v) * math.exp(v * v) for v in x])
    q, e2 = fit(x, g, (x - 2.5) / 1.5, 11)
    x = np.concatenate([np.linspace(0.0, 5.66, 40001), np.linspace(5.66, 13.5, 20001)])  # |x|
    t = 1 / (1 + 0.234375 * x)
    half = np.array([math.erfc(v / math.sqrt(2)) * math.exp(v * v / 2) / 2 for v in x])
    r, e3 = fit(x, half / t, t, 7, lawson=60)
    u = np.linspace(-math.log(2) / 2 * 1.001, math.log(2) / 2 * 1.001, 20001)
    ex, e4 = fit(u, np.exp(u), u, 6, lawson=60)
    for name, c, e in (("ERF_SMALL", p, e1), ("ERFC_SCALED", q, e2), ("PHI_HALF_ERFC", r, e3), ("EXP_DEGREE_6", ex, e4)):
        print(f"// fit relative error {e:.2e}")
        print(f"const {name}: [f32; {len(c)}] = [{', '.join(repr(float(np.float32(v))) for v in c)}];")
    phi_table()


def phi_table(width=0.25, intervals=32, degree=7):
    """PHI_TABLE: Phi(-a) = erfc(a / sqrt 2) / 2 around each k w, k < intervals, for a = |x|
    within w / 2 of it, as a polynomial in a - k w (see the module's doc)."""
    rows, worst = [], []
    for k in range(intervals):
        v = np.linspace(0 if k == 0 else -width * 0.51, width * 0.51, 4001)
        q = np.array([math.erfc((k * width + d) / math.sqrt(2)) / 2 for d in v])
        c, e = fit(v, q, v, degree, lawson=30)
        rows.append(c)
        worst.append(f"{e:.1e}")
    print(f"// fit relative error by interval: {', '.join(worst)}")
    print(f"const PHI_TABLE: [[f32; {intervals}]; {degree + 1}] = [")
    for k in range(degree + 1):
        print(f"    [{', '.join(repr(float(np.float32(r[k]))) for r in rows)}],")
    print("];")

if __name__ == "__main__":
    main()
