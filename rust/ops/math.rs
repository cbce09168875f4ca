//! Elementwise math beyond the basics in `unary.rs`: logs and exponentials, trigonometric and
//! hyperbolic functions, the error and gamma functions, rounding and sign. Each forward and its
//! gradient are one row, side by side; integer inputs compute in float32, as PyTorch does.

#[allow(unused_imports)]
use num_traits::{Float as _, One as _, Zero as _};

use crate::autograd::{record, Backward};
use crate::error::Result;
use crate::ops::kernel::map;
use crate::ops::unary::{c, unary_op};
use crate::tensor::{DType, Element, Float, Tensor};
use crate::{bail, with_float, with_numeric};

const LN_2: f64 = std::f64::consts::LN_2;
const LN_10: f64 = std::f64::consts::LN_10;
const PI: f64 = std::f64::consts::PI;
/// 2 / sqrt(pi), the derivative of erf at 0.
const TWO_OVER_SQRT_PI: f64 = std::f64::consts::FRAC_2_SQRT_PI;

unary_op!(log1p, Log1pBackward, "Log1PBackward0", save: input, |x| x.ln_1p(), |g, x| g / (T::one() + x), graph: |g, x| g / (1.0 + x));
unary_op!(expm1, Expm1Backward, "Expm1Backward0", save: output, in_place: expm1_, |x| x.exp_m1(), |g, y| g * (y + T::one()), graph: |g, y| g * (y + 1.0));
unary_op!(log2, Log2Backward, "Log2Backward0", save: input, |x| x.log2(), |g, x| g / (x * c::<T>(LN_2)), graph: |g, x| g / (x * LN_2));
unary_op!(log10, Log10Backward, "Log10Backward0", save: input, |x| x.log10(), |g, x| g / (x * c::<T>(LN_10)), graph: |g, x| g / (x * LN_10));
unary_op!(exp2, Exp2Backward, "Exp2Backward0", save: output, in_place: exp2_, |x| x.exp2(), |g, y| g * y * c::<T>(LN_2), graph: |g, y| g * y * LN_2);
unary_op!(rsqrt, RsqrtBackward, "RsqrtBackward0", save: output, in_place: rsqrt_, |x| T::one() / x.sqrt(), |g, y| g * c::<T>(-0.5) * y * y * y, graph: |g, y| g * -0.5 * y.clone() * y.clone() * y);
unary_op!(reciprocal, ReciprocalBackward, "ReciprocalBackward0", save: output, in_place: reciprocal_, |x| T::one() / x, |g, y| g * -(y * y), graph: |g, y| g * -(y.clone() * y));
unary_op!(tan, TanBackward, "TanBackward0", save: output, in_place: tan_, |x| x.tan(), |g, y| g * (T::one() + y * y), graph: |g, y| g * (1.0 + y.clone() * y));
unary_op!(asin, AsinBackward, "AsinBackward0", save: input, |x| x.asin(), |g, x| g / (T::one() - x * x).sqrt(), graph: |g, x| g / (1.0 - x.clone() * x).sqrt());
unary_op!(acos, AcosBackward, "AcosBackward0", save: input, |x| x.acos(), |g, x| -(g / (T::one() - x * x).sqrt()), graph: |g, x| -(g / (1.0 - x.clone() * x).sqrt()));
unary_op!(atan, AtanBackward, "AtanBackward0", save: input, |x| x.atan(), |g, x| g / (T::one() + x * x), graph: |g, x| g / (1.0 + x.clone() * x));
unary_op!(sinh, SinhBackward, "SinhBackward0", save: input, |x| x.sinh(), |g, x| g * x.cosh(), graph: |g, x| g * x.cosh());
unary_op!(cosh, CoshBackward, "CoshBackward0", save: input, |x| x.cosh(), |g, x| g * x.sinh(), graph: |g, x| g * x.sinh());
unary_op!(asinh, AsinhBackward, "AsinhBackward0", save: input, |x| x.asinh(), |g, x| g / (x * x + T::one()).sqrt(), graph: |g, x| g / (x.clone() * x + 1.0).sqrt());
unary_op!(acosh, AcoshBackward, "AcoshBackward0", save: input, |x| x.acosh(), |g, x| g / (x * x - T::one()).sqrt(), graph: |g, x| g / (x.clone() * x - 1.0).sqrt());
unary_op!(atanh, AtanhBackward, "AtanhBackward0", save: input, |x| x.atanh(), |g, x| g / (T::one() - x * x), graph: |g, x| g / (1.0 - x.clone() * x));
unary_op!(erf, ErfBackward, "ErfBackward0", save: input, |x| verf(x), |g, x| g * c::<T>(TWO_OVER_SQRT_PI) * vexp(-(x * x)), graph: |g, x| g * TWO_OVER_SQRT_PI * (-(x.clone() * x)).exp());
unary_op!(erfc, ErfcBackward, "ErfcBackward0", save: input, |x| via_f64(x, libm::erfc), |g, x| -(g * c::<T>(TWO_OVER_SQRT_PI) * (-(x * x)).exp()), graph: |g, x| -(g * TWO_OVER_SQRT_PI * (-(x.clone() * x)).exp()));
unary_op!(erfinv, ErfinvBackward, "ErfinvBackward0", save: output, in_place: erfinv_, |x| via_f64(x, erfinv_f64), |g, y| g * c::<T>(PI.sqrt() / 2.0) * (y * y).exp(), graph: |g, y| g * (PI.sqrt() / 2.0) * (y.clone() * y).exp());
unary_op!(lgamma, LgammaBackward, "LgammaBackward0", save: input, |x| vlgamma(x), |g, x| g * vdigamma(x), graph: |g, x| g * x.digamma());
unary_op!(digamma, DigammaBackward, "DigammaBackward0", save: input, |x| vdigamma(x), |g, x| g * trigamma(x), graph: |g, x| g * x.polygamma(1));
unary_op!(
    sinc,
    SincBackward,
    "SincBackward0",
    save: input,
    // sin(pi x) / (pi x), 1 at 0 (and its derivative 0 there).
    |x| if x == T::zero() { T::one() } else { let p = x * c::<T>(PI); p.sin() / p },
    // (cos p p - sin p) / (p x) with p = pi x cancels as p nears 0 (PyTorch's is off by 5x at
    // x = 1e-8 in float64); below |p| = 1/2 the series pi p S(p^2) is taken instead.
    |g, x| {
        let p = x * c::<T>(PI);
        if p.abs() < c::<T>(SINC_SERIES_BELOW) {
            let p2 = p * p;
            let s = SINC_SLOPE_SERIES.iter().rev().fold(T::zero(), |acc, &k| acc * p2 + c::<T>(k));
            g * s * p * c::<T>(PI)
        } else {
            g * (p.cos() * p - p.sin()) / (p * x)
        }
    },
    // The same, with the quotient computed on x moved away from 0 where the series is taken, so
    // its own backward never meets 0 / 0 there.
    graph: |g, x| {
        let small = (x.clone() * PI).abs().lt(SINC_SERIES_BELOW);
        let xs = Ex::select(small.clone(), Ex::c(1.0), x.clone());
        let ps = xs.clone() * PI;
        let far = (ps.clone().cos() * ps.clone() - ps.clone().sin()) / (ps * xs);
        let p = x * PI;
        let p2 = p.clone() * p.clone();
        let (&last, rest) = SINC_SLOPE_SERIES.split_last().expect("a series of 7 terms");
        let s = rest.iter().rev().fold(Ex::c(last), |acc, &k| acc * p2.clone() + k);
        g * Ex::select(small, s * p * PI, far)
    }
);
/// d/dp (sin p / p) = p S(p^2) with S's coefficients (-1)^k 2k / (2k + 1)! for k = 1..7: within
/// 1e-15 relative for |p| < 1/2, where the quotient's cancellation costs at most a factor of 12.
const SINC_SLOPE_SERIES: [f64; 7] =
    [-1.0 / 3.0, 1.0 / 30.0, -1.0 / 840.0, 1.0 / 45360.0, -1.0 / 3991680.0, 1.0 / 518918400.0, -1.0 / 93405312000.0];
const SINC_SERIES_BELOW: f64 = 0.5;
unary_op!(frac_float, FracBackward, "FracBackward0", save: input, |x| x - x.trunc(), |g, _x| g, graph: |g, _x| g);

/// A float function computed in float64 and rounded to the element type (the special functions
/// libm has only in double precision).
#[inline(always)]
fn via_f64<T: Float>(x: T, f: impl Fn(f64) -> f64) -> T {
    T::from_f64(f(x.to_f64()))
}

/// The inverse error function: Giles' single-precision approximation, then two Newton steps on
/// erf, which bring it to float64 precision. erfinv(+-1) = +-inf; outside [-1, 1] it is NaN.
pub(crate) fn erfinv_f64(x: f64) -> f64 {
    if x.is_nan() || x.abs() > 1.0 {
        return f64::NAN;
    }
    if x.abs() == 1.0 {
        return x * f64::INFINITY;
    }
    let w = -((1.0 - x) * (1.0 + x)).ln();
    let mut y = if w < 5.0 {
        let w = w - 2.5;
        let mut p = 2.810_226_36e-08;
        for k in [3.432_739_39e-07, -3.523_387_7e-06, -4.391_506_54e-06, 0.000_218_580_87, -0.001_253_725_03, -0.004_177_681_64, 0.246_640_727, 1.501_409_41] {
            p = k + p * w;
        }
        p * x
    } else {
        let w = w.sqrt() - 3.0;
        let mut p = -0.000_200_214_257;
        for k in [0.000_100_950_558, 0.001_349_343_22, -0.003_673_428_44, 0.005_739_507_73, -0.007_622_461_3, 0.009_438_870_47, 1.001_674_06, 2.832_976_82] {
            p = k + p * w;
        }
        p * x
    };
    for _ in 0..2 {
        let err = libm::erf(y) - x;
        y -= err / (TWO_OVER_SQRT_PI * (-y * y).exp());
    }
    y
}

/// psi(x) = d/dx lgamma(x): reflection below 0, the recurrence psi(x) = psi(x + 1) - 1/x up to
/// 10, then the asymptotic series. PyTorch's values at the poles: -inf at 0, NaN at negative
/// integers.
pub(crate) fn digamma_f64(x: f64) -> f64 {
    if x == 0.0 {
        return if x.is_sign_negative() { f64::INFINITY } else { f64::NEG_INFINITY };
    }
    if x < 0.0 {
        if x == x.floor() {
            return f64::NAN;
        }
        // tan(pi x) from the fractional part is the more accurate (PyTorch does the same).
        return digamma_f64(1.0 - x) - PI / (PI * x.fract()).tan();
    }
    let (mut x, mut acc) = (x, 0.0);
    while x < 10.0 {
        acc -= 1.0 / x;
        x += 1.0;
    }
    // sum of B_2k / (2k x^2k) for k = 1..7; at x >= 10 the next term is below 1e-15.
    let r = 1.0 / (x * x);
    let mut series = 0.0;
    for coef in [1.0 / 12.0, 691.0 / 32760.0, 1.0 / 132.0, 1.0 / 240.0, 1.0 / 252.0, 1.0 / 120.0, 1.0 / 12.0].iter().zip([1.0, -1.0, 1.0, -1.0, 1.0, -1.0, 1.0]).map(|(c, s)| c * s) {
        series = series * r + coef;
    }
    acc + x.ln() - 0.5 / x - series * r
}

/// psi'(x), for digamma's gradient, in the element's precision: PyTorch's formula (reflection
/// below 1/2, six recurrence steps, the asymptotic series), so its values at the poles match.
pub(crate) fn trigamma<T: Float>(x: T) -> T {
    let (mut x, mut sign, mut result) = (x, T::one(), T::zero());
    let pi = c::<T>(PI);
    if x < c::<T>(0.5) {
        sign = -T::one();
        let s = (pi * x).sin();
        result = result - pi * pi / (s * s);
        x = T::one() - x;
    }
    for _ in 0..6 {
        result += T::one() / (x * x);
        x += T::one();
    }
    let ixx = T::one() / (x * x);
    result += (T::one() + T::one() / (c::<T>(2.0) * x) + ixx * (c::<T>(1.0 / 6.0) - ixx * (c::<T>(1.0 / 30.0) - ixx * c::<T>(1.0 / 42.0)))) / x;
    sign * result
}

/// round half to even (numpy and PyTorch's `round`), for any float type.
#[inline(always)]
fn round_half_even<T: Float>(x: T) -> T {
    let r = x.round();
    if (r - x).abs() == c::<T>(0.5) { c::<T>(2.0) * (x * c::<T>(0.5)).round() } else { r }
}

/// Rounding and sign keep the input's dtype (an integer tensor is returned as a copy: it is
/// already whole) and have a zero gradient, as in PyTorch.
macro_rules! piecewise_constant {
    ($name:ident, $gname:literal, int: |$i:ident| $int:expr, |$x:ident| $fwd:expr) => {
        pub fn $name(t: &Tensor) -> Result<Tensor> {
            let out = match t.dtype() {
                d if d.is_half() => return crate::ops::half::unary(t, $name),
                d if d.is_float() => with_float!(d, stringify!($name), T => map::<T, T>(t, |$x: T| $fwd)),
                DType::Bool => bail!(NotImplemented, "{}: not implemented for 'Bool' (shape {:?})", stringify!($name), t.shape()),
                d => with_numeric!(d, stringify!($name), T => map::<T, T>(t, |$i: T| $int)),
            };
            record(out, &[t], || Ok(Box::new(ZeroGradBackward($gname))))
        }
    };
}
piecewise_constant!(floor, "FloorBackward0", int: |i| i, |x| x.floor());
piecewise_constant!(ceil, "CeilBackward0", int: |i| i, |x| x.ceil());
piecewise_constant!(trunc, "TruncBackward0", int: |i| i, |x| x.trunc());
piecewise_constant!(round, "RoundBackward0", int: |i| i, |x| round_half_even(x));
piecewise_constant!(
    sign_numeric,
    "SignBackward0",
    int: |i| if i > T::default() { T::from_f64(1.0) } else if i < T::default() { T::from_f64(-1.0) } else { T::default() },
    // PyTorch's (0 < x) - (x < 0): the sign of zero and of NaN is +0.
    |x| if x > T::zero() { T::one() } else if x < T::zero() { -T::one() } else { T::zero() }
);

/// sign(x): -1, 0 or 1 in x's dtype; a bool tensor is its own sign.
pub fn sign(t: &Tensor) -> Result<Tensor> {
    if t.dtype() == DType::Bool {
        return t.clone_tensor();
    }
    sign_numeric(t)
}

/// `round(decimals=d)`: x * 10^d rounded half to even, divided back (PyTorch's formula, with
/// the same float rounding); a zero gradient.
pub fn round_decimals(t: &Tensor, decimals: i64) -> Result<Tensor> {
    if decimals == 0 {
        return round(t);
    }
    if t.dtype().is_half() {
        return crate::ops::half::unary(t, |t| round_decimals(t, decimals));
    }
    if !t.dtype().is_float() {
        bail!(NotImplemented, "round_decimals: not implemented for '{}' (round(decimals=...) takes float tensors; shape {:?})", t.dtype().torch_name(), t.shape());
    }
    let out = with_float!(t.dtype(), "round", T => {
        let (neg, p) = (decimals < 0, 10f64.powi(decimals.unsigned_abs().min(400) as i32));
        let p = c::<T>(p);
        map::<T, T>(t, move |x: T| if neg { round_half_even(x / p) * p } else { round_half_even(x * p) / p })
    });
    record(out, &[t], || Ok(Box::new(ZeroGradBackward("RoundBackward1"))))
}

/// frac(x) = x - trunc(x), float tensors only (PyTorch has no integer kernel).
pub fn frac(t: &Tensor) -> Result<Tensor> {
    if !t.dtype().is_float() {
        bail!(NotImplemented, "frac: not implemented for '{}' (shape {:?}); it takes float tensors", t.dtype().torch_name(), t.shape());
    }
    frac_float(t)
}

/// logit(x) = log(z / (1 - z)) with z = x clamped to [eps, 1 - eps] when `eps` is given; the
/// gradient is g / (z (1 - z)), and 0 where the clamp cut x (PyTorch's).
pub fn logit(t: &Tensor, eps: Option<f64>) -> Result<Tensor> {
    if t.dtype().is_half() {
        return crate::ops::half::unary(t, |t| logit(t, eps));
    }
    let t = &crate::ops::unary::float_input(t)?;
    let out = with_float!(t.dtype(), "logit", T => map::<T, T>(t, move |x: T| {
        let z = clamp_eps(x, eps);
        (z / (T::one() - z)).ln()
    }));
    record(out, &[t], || Ok(Box::new(LogitBackward { x: crate::autograd::Saved::new(t)?, eps })))
}

#[inline(always)]
fn clamp_eps<T: Float>(x: T, eps: Option<f64>) -> T {
    match eps {
        // NaN stays NaN (max/min would return the bound).
        Some(e) if !x.is_nan() => x.max(c::<T>(e)).min(c::<T>(1.0 - e)),
        _ => x,
    }
}

struct LogitBackward {
    x: crate::autograd::Saved,
    eps: Option<f64>,
}
impl Backward for LogitBackward {
    fn name(&self) -> &'static str {
        "LogitBackward0"
    }
    fn apply(&self, g: &Tensor, _needs: &[bool]) -> Result<Vec<Option<Tensor>>> {
        let eps = self.eps;
        if crate::autograd::is_recording() {
            return Ok(vec![Some(logit_grad_recorded(g, &self.x.get()?, eps)?)]);
        }
        let d = with_float!(g.dtype(), "logit", T => crate::ops::kernel::zip::<T, T>(g, &self.x.get()?, "logit", move |gv: T, x: T| {
            match eps {
                Some(e) if x < c::<T>(e) || x > c::<T>(1.0 - e) => T::zero(),
                // Outside the domain the derivative is NaN (PyTorch's), not the formula's value.
                None if x < T::zero() || x > T::one() => T::nan(),
                // |x (1 - x)|: the same inside [0, 1], and +inf at -0 as PyTorch's.
                _ => gv / (x * (T::one() - x)).abs(),
            }
        })?);
        Ok(vec![Some(d)])
    }
    fn differentiable(&self) -> bool {
        true
    }
}

/// logit's gradient as recorded ops (`create_graph`): the fused rule's cases, each branch computed
/// on an input moved inside (0, 1) where it is not taken, so its own backward stays finite.
fn logit_grad_recorded(g: &Tensor, x: &Tensor, eps: Option<f64>) -> Result<Tensor> {
    use crate::ops::expr::{ex, Ex};
    let (lo, hi, outside) = match eps {
        Some(e) => (e, 1.0 - e, 0.0),
        None => (0.0, 1.0, f64::NAN),
    };
    let x = ex(x);
    let (below, above) = (x.clone().lt(lo), x.clone().gt(hi));
    let xs = Ex::select(below.clone(), Ex::c(0.5), Ex::select(above.clone(), Ex::c(0.5), x));
    let inside = ex(g) / (xs.clone() * (Ex::c(1.0) - xs)).abs();
    Ex::select(below, Ex::c(outside), Ex::select(above, Ex::c(outside), inside)).done()
}

/// The gradient of a piecewise-constant op: zeros of the gradient's shape.
struct ZeroGradBackward(&'static str);
impl Backward for ZeroGradBackward {
    fn name(&self) -> &'static str {
        self.0
    }
    fn saves_tensors(&self) -> bool {
        false
    }
    fn apply(&self, g: &Tensor, _needs: &[bool]) -> Result<Vec<Option<Tensor>>> {
        Ok(vec![Some(Tensor::zeros(g.shape(), g.dtype()))])
    }
    /// A constant zero: with create_graph it has no history, as PyTorch's (not an error).
    fn differentiable(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn erfinv_inverts_erf_to_float64_precision() {
        // Where erf is well conditioned, erfinv recovers y; near +-1 (|y| >= 3) the best any
        // erfinv can do is make erf(erfinv(x)) round to x.
        for &y in &[-2.5, -1.2, -0.3, 0.0, 1e-8, 0.7, 2.0] {
            let x = libm::erf(y);
            assert!((erfinv_f64(x) - y).abs() <= 1e-13 * y.abs().max(1.0), "erfinv(erf({y}))");
        }
        for &x in &[-0.999_999_9, 0.999_999_999_9, 1e-300, 0.5] {
            assert!((libm::erf(erfinv_f64(x)) - x).abs() <= 2e-16, "erf(erfinv({x}))");
        }
        assert_eq!(erfinv_f64(1.0), f64::INFINITY);
        assert!(erfinv_f64(1.5).is_nan());
    }

    #[test]
    fn digamma_matches_known_values() {
        // psi(1) = -gamma, psi(1/2) = -gamma - 2 ln 2, psi(10) = H_9 - gamma.
        let gamma = 0.577_215_664_901_532_9;
        assert!((digamma_f64(1.0) + gamma).abs() < 1e-14);
        assert!((digamma_f64(0.5) + gamma + 2.0 * LN_2).abs() < 1e-14);
        let h9: f64 = (1..10).map(|k| 1.0 / k as f64).sum();
        assert!((digamma_f64(10.0) - (h9 - gamma)).abs() < 1e-14);
        // reflection: psi(-0.5) = psi(1.5) + pi/tan(pi * 0.5)... = psi(0.5) + 2
        assert!((digamma_f64(-0.5) - (digamma_f64(0.5) + 2.0)).abs() < 1e-12);
        assert!(digamma_f64(-2.0).is_nan());
        assert_eq!(digamma_f64(0.0), f64::NEG_INFINITY);
    }

    #[test]
    fn trigamma_matches_known_values() {
        // psi'(1) = pi^2 / 6, psi'(1/2) = pi^2 / 2, psi'(-1/2) = pi^2 / 2 + 4, to the accuracy of
        // PyTorch's short series (about 1e-9).
        assert!((trigamma(1.0f64) - PI * PI / 6.0).abs() < 1e-8);
        assert!((trigamma(0.5f64) - PI * PI / 2.0).abs() < 1e-8);
        assert!((trigamma(-0.5f64) - (PI * PI / 2.0 + 4.0)).abs() < 1e-8);
    }

    #[test]
    fn round_is_half_to_even() {
        let r: Vec<f64> = [0.5, 1.5, 2.5, -0.5, -1.5, 2.4999, -2.6].iter().map(|&x| round_half_even(x)).collect();
        assert_eq!(r, vec![0.0, 2.0, 2.0, -0.0, -2.0, 2.0, -3.0]);
    }
}
