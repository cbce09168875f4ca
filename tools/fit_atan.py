"""Fits the polynomial of the float32 atan2 in rust/vmath_atan.rs (run: python tools/fit_atan.py).

atan2 reduces to atan(t) for t = min(|y|, |x|) / max(|y|, |x|) in [0, 1], written t + t s P(s),
s = t^2: P near-minimax in the relative error of atan(t) (Lawson's iteration: least squares
reweighted by the error, the best float32-rounded step kept; `fit_erf.fit`). The reference is
float64 `math.atan`. It prints P's coefficients (highest power first) and the worst relative error
of the float32 coefficients in float64 arithmetic; the Rust test checks the float32 function
against float64 over the whole range.
"""
import math

import numpy as np
from fit_erf import fit


def main():
    t = np.concatenate([np.linspace(1e-4, 1, 20001), np.geomspace(1e-8, 1e-4, 200)])
    s = t * t
    target = np.array([(math.atan(v) - v) / (v * v * v) if v > 1e-3 else -1 / 3 + v * v / 5 - v ** 4 / 7 for v in t])
    for degree in (6, 7, 8):
        c, err = fit(t, target, s, degree, lawson=40)
        got = t + t * s * np.polynomial.polynomial.polyval(s, c[::-1])
        rel = np.max(np.abs(got / np.arctan(t) - 1))
        print(f"degree {degree}: P fit {err:.2e}, atan relative {rel:.2e}")
        print("  " + ", ".join(f"{v!r}" for v in c.astype(np.float32).tolist()))


if __name__ == "__main__":
    main()
