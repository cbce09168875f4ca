//! polygamma(n, x), the n-th derivative of digamma, with PyTorch's formulas: digamma for n = 0,
//! trigamma (`math::trigamma`, in the element's precision) for n = 1, else
//! (-1)^(n+1) n! zeta(n + 1, x) with the Hurwitz zeta of Cephes. Its gradient is
//! polygamma(n + 1, x), so every order differentiates again (digamma's second derivative too).

use crate::autograd::{record, Backward, Saved};
use crate::bail;
use crate::error::Result;
use crate::ops::kernel::{map, zip};
use crate::ops::math::{digamma, trigamma};
use crate::ops::unary::float_input;
use crate::tensor::{Float, Tensor};
use crate::with_float;

/// The Euler-Maclaurin coefficients (2k)! / B_2k of Cephes' zeta.
#[allow(clippy::excessive_precision)]
const ZETA_A: [f64; 12] = [
    12.0,
    -720.0,
    30240.0,
    -1209600.0,
    47900160.0,
    -1.8924375803183791606e9,
    7.47242496e10,
    -2.950130727918164224e12,
    1.1646782814350067249e14,
    -4.5979787224074726105e15,
    1.8152105401943546773e17,
    -7.1661652561756670113e18,
];
/// 2^-53, Cephes' MACHEP.
const MACHEP: f64 = f64::EPSILON / 2.0;

/// The Hurwitz zeta function sum_k (k + q)^-x for x > 1 (Cephes' `zeta`, as PyTorch's): inf at
/// x = 1 and at the poles q = 0, -1, ...; NaN for x < 1 and for a negative q with a non-integer x.
pub(crate) fn zeta(x: f64, q: f64) -> f64 {
    if x == 1.0 {
        return f64::INFINITY;
    }
    if x < 1.0 {
        return f64::NAN;
    }
    if q <= 0.0 {
        if q == q.floor() {
            return f64::INFINITY;
        }
        if x != x.floor() {
            return f64::NAN;
        }
    }
    // Direct summation until the terms are small, then the Euler-Maclaurin tail.
    let (mut s, mut a, mut b) = (q.powf(-x), q, 0.0);
    let mut i = 0;
    while i < 9 || a <= 9.0 {
        i += 1;
        a += 1.0;
        b = a.powf(-x);
        s += b;
        if (b / s).abs() < MACHEP {
            return s;
        }
    }
    let w = a;
    s += b * w / (x - 1.0);
    s -= 0.5 * b;
    let (mut a, mut k) = (1.0, 0.0);
    for coef in ZETA_A {
        a *= x + k;
        b /= w;
        let t = a * b / coef;
        s += t;
        if (t / s).abs() < MACHEP {
            return s;
        }
        k += 1.0;
        a *= x + k;
        b /= w;
        k += 1.0;
    }
    s
}

/// (-1)^(n+1) n! zeta(n + 1, x), for n >= 2.
fn polygamma_high(n: i64, x: f64) -> f64 {
    let sign = if n % 2 == 1 { 1.0 } else { -1.0 };
    sign * libm::lgamma(n as f64 + 1.0).exp() * zeta(n as f64 + 1.0, x)
}

/// `torch.polygamma(n, input)`: float in, the same float dtype out (integers compute in float32).
pub fn polygamma(t: &Tensor, n: i64) -> Result<Tensor> {
    if n < 0 {
        bail!(Runtime, "polygamma(n, x) does not support negative n (got n = {n}; input shape {:?})", t.shape());
    }
    if n == 0 {
        return digamma(t);
    }
    if t.dtype().is_half() {
        return crate::ops::half::unary(t, |t| polygamma(t, n));
    }
    let x = float_input(t)?;
    let out = with_float!(x.dtype(), "polygamma", T => map::<T, T>(&x, move |v: T| order(n, v)));
    record(out, &[&x], || Ok(Box::new(PolygammaBackward { n, x: Saved::new(&x)? })))
}

/// polygamma of order n >= 1 at one element.
#[inline]
fn order<T: Float>(n: i64, v: T) -> T {
    if n == 1 { trigamma(v) } else { T::from_f64(polygamma_high(n, v.to_f64())) }
}

struct PolygammaBackward {
    n: i64,
    x: Saved,
}

impl Backward for PolygammaBackward {
    fn name(&self) -> &'static str {
        "PolygammaBackward0"
    }
    fn apply(&self, g: &Tensor, _needs: &[bool]) -> Result<Vec<Option<Tensor>>> {
        let x = self.x.get()?;
        if crate::autograd::is_recording() {
            return Ok(vec![Some(crate::ops::binary::mul(g, &polygamma(&x, self.n + 1)?)?)]);
        }
        let n = self.n + 1;
        let d = with_float!(g.dtype(), "polygamma", T => zip::<T, T>(g, &x, "polygamma", move |g: T, v: T| g * order(n, v))?);
        Ok(vec![Some(d)])
    }
    fn differentiable(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zeta_matches_known_values() {
        let pi2 = std::f64::consts::PI * std::f64::consts::PI;
        for (x, q, want) in [(2.0, 1.0, pi2 / 6.0), (2.0, 0.5, pi2 / 2.0), (3.0, 1.0, 1.202_056_903_159_594_2), (4.0, 1.0, pi2 * pi2 / 90.0), (2.0, 1e6, 1.000_000_500_000_166_7e-6)] {
            let got = zeta(x, q);
            assert!((got - want).abs() <= 4.0 * f64::EPSILON * want, "zeta({x}, {q}) = {got}, want {want}");
        }
        assert_eq!(zeta(1.0, 2.0), f64::INFINITY);
        assert!(zeta(0.5, 2.0).is_nan());
        assert_eq!(zeta(3.0, -2.0), f64::INFINITY);
    }

    #[test]
    fn polygamma_two_is_minus_two_zeta_three() {
        // psi''(1) = -2 zeta(3)
        assert!((polygamma_high(2, 1.0) + 2.0 * 1.202_056_903_159_594_2).abs() < 1e-14);
        assert!((polygamma_high(3, 1.0) - std::f64::consts::PI.powi(4) / 15.0).abs() < 1e-13);
    }
}
