//! lgamma and digamma for float32 loops that vectorise (lgamma's gradient is digamma).
//!
//! Through libm each was a float64 call per element with a loop inside: lgamma on 1M elements
//! took 8.7 ms against PyTorch's 2.3 (glibc's lgammaf), digamma 12 ms against 10.5. Here both are
//! branch-free and computed in float64 lanes, so a loop of them runs eight float64 lanes at a
//! time on AVX-512 (four on AVX2):
//!
//! - negative x is reflected to y = 1 - x (lgamma(x) = ln pi - ln|sin(pi x)| - lgamma(1 - x),
//!   psi(x) = psi(1 - x) - pi cos(pi x) / sin(pi x)), with sin and cos of pi r for r = x - round(x)
//!   from their series;
//! - y below 8 is moved up to z = y + 8 through the product P = y (y + 1) ... (y + 7):
//!   lgamma(y) = lgamma(z) - ln P, psi(y) = psi(z) - P'/P (the sum of the 1/(y + k) as one quotient);
//! - at z >= 8, Stirling's series for lgamma and the asymptotic series for psi, to z^-17 and
//!   z^-18 (the next terms are below 1e-16 of a unit).
//!
//! Float64 inside keeps float32's accuracy where the shift cancels: near lgamma's zeros at 1 and
//! 2 the result is a difference of logs near 10.6, so its error is absolute, a few 1e-15, which
//! is within an ulp of the smallest nonzero float32 result there (lgamma(1 + 2^-23) is -6.9e-8,
//! whose ulp is 7e-15). Bounds, against float64 references over the float32 range (tests below):
//! both within an ulp (0.5 measured: correctly rounded but for ties), once 5e-15 absolute is
//! forgiven where the result is below 1e-3 (their zeros). float64 inputs keep libm and the
//! scalar digamma.
//!
//! Special values, as PyTorch's: lgamma is inf at 0, at the negative integers and at +-inf;
//! digamma is -inf at +0, +inf at -0, NaN at the negative integers and -inf, inf at inf; NaN
//! stays NaN.

use crate::vmath::madd;

/// ln 2 in two parts: the high one ends in 21 zero bits, so n * LN2_HI is exact for any
/// exponent n of a float64 (fdlibm's split).
const LN2_HI: f64 = f64::from_bits(0x3FE6_2E42_FEE0_0000);
const LN2_LO: f64 = 1.908_214_929_270_587_7e-10;

/// 1 / (2k + 1) for k = 10 down to 1: atanh's odd series, highest power first.
const ATANH_ODD: [f64; 10] = [1.0 / 21.0, 1.0 / 19.0, 1.0 / 17.0, 1.0 / 15.0, 1.0 / 13.0, 1.0 / 11.0, 1.0 / 9.0, 1.0 / 7.0, 1.0 / 5.0, 1.0 / 3.0];

/// ln(x) for a positive normal float64 (and 0 -> -inf, inf -> inf, NaN), without branches:
/// x = 2^n m with m in [sqrt(1/2), sqrt(2)), ln m = 2 atanh(s), s = (m - 1) / (m + 1) at most
/// 0.172, by its odd series to s^21 (the next term is below 1e-18). About an ulp. Only used on
/// values that float32 inputs make, which are never float64 subnormals.
#[inline(always)]
pub(crate) fn ln_f64<const FMA: bool>(x: f64) -> f64 {
    const SQRT_HALF_BITS: u64 = 0x3FE6_A09E_667F_3BCD;
    let bits = x.to_bits();
    let shifted = bits.wrapping_sub(SQRT_HALF_BITS);
    let n = ((shifted as i64) >> 52) as i32 as f64;
    let m = f64::from_bits((shifted & 0x000F_FFFF_FFFF_FFFF).wrapping_add(SQRT_HALF_BITS));
    let s = (m - 1.0) / (m + 1.0);
    let s2 = s * s;
    let acc = series::<FMA, 10>(&ATANH_ODD, s2);
    let lnm = 2.0 * madd::<_, FMA>(acc * s2, s, s);
    let r = madd::<_, FMA>(n, LN2_HI, madd::<_, FMA>(n, LN2_LO, lnm));
    if x == 0.0 {
        f64::NEG_INFINITY
    } else if x == f64::INFINITY || x.is_nan() {
        x
    } else {
        r
    }
}

/// (-1)^k / (2k + 1)! and (-1)^k / (2k)! for k = 11 down to 0: the sine's and cosine's series.
#[allow(clippy::excessive_precision)]
const SIN_SERIES: [f64; 12] = [-3.868170170630684e-23, 1.9572941063391263e-20, -8.22063524662433e-18, 2.8114572543455206e-15, -7.647163731819816e-13, 1.6059043836821613e-10, -2.505210838544172e-08, 2.7557319223985893e-06, -0.0001984126984126984, 0.008333333333333333, -0.16666666666666666, 1.0];
#[allow(clippy::excessive_precision)]
const COS_SERIES: [f64; 12] = [-8.896791392450574e-22, 4.110317623312165e-19, -1.5619206968586225e-16, 4.779477332387385e-14, -1.1470745597729725e-11, 2.08767569878681e-09, -2.755731922398589e-07, 2.48015873015873e-05, -0.001388888888888889, 0.041666666666666664, -0.5, 1.0];

/// (sin(pi r), cos(pi r)) for |r| <= 1/2, from their series to t^23 and t^22 (t = pi r; the
/// next terms are below 1e-19).
#[inline(always)]
fn sin_cos_pi<const FMA: bool>(r: f64) -> (f64, f64) {
    let t = std::f64::consts::PI * r;
    let t2 = t * t;
    (series::<FMA, 12>(&SIN_SERIES, t2) * t, series::<FMA, 12>(&COS_SERIES, t2))
}

/// The shift of y (> 0, or NaN) below 8 up to z = y + 8: (z, P, P') with P = y (y + 1) ... (y + 7)
/// and P' its derivative in y; (y, 1, 0) from 8 up.
#[inline(always)]
fn shifted<const FMA: bool>(y: f64) -> (f64, f64, f64) {
    let small = y < 8.0;
    let (mut p, mut d) = (1.0, 0.0);
    for k in 0..8 {
        let t = if small { y + k as f64 } else { 1.0 };
        // (P t)' = P' t + P t', with t' = 1 while shifting.
        d = madd::<_, FMA>(d, t, if small { p } else { 0.0 });
        p *= t;
    }
    (if small { y + 8.0 } else { y }, p, d)
}

/// B_2k / (2k (2k - 1)) for k = 9 down to 1: Stirling's series for lgamma, highest first.
const STIRLING: [f64; 9] = [43867.0 / 244188.0, -3617.0 / 122400.0, 1.0 / 156.0, -691.0 / 360360.0, 1.0 / 1188.0, -1.0 / 1680.0, 1.0 / 1260.0, -1.0 / 360.0, 1.0 / 12.0];

/// B_2k / 2k for k = 9 down to 1: the asymptotic series of psi, highest first.
const PSI_SERIES: [f64; 9] = [43867.0 / 14364.0, -3617.0 / 8160.0, 1.0 / 12.0, -691.0 / 32760.0, 1.0 / 132.0, -1.0 / 240.0, 1.0 / 252.0, -1.0 / 120.0, 1.0 / 12.0];

/// ln(2 pi) / 2.
const HALF_LN_2PI: f64 = 0.918_938_533_204_672_8;

/// ln(pi).
const LN_PI: f64 = 1.144_729_885_849_400_2;

/// x's way to the asymptotic series, shared by lgamma and digamma: whether x is reflected (to
/// y = 1 - x, when negative), r = x - round(x) for the reflection's sine, the shift of y to z
/// with its product P and P', and 1 / z.
struct Reduced {
    neg: bool,
    r: f64,
    z: f64,
    p: f64,
    d: f64,
    inv: f64,
}

#[inline(always)]
fn reduced<const FMA: bool>(x: f64) -> Reduced {
    let neg = x < 0.0;
    let (z, p, d) = shifted::<FMA>(if neg { 1.0 - x } else { x });
    Reduced { neg, r: x - x.round(), z, p, d, inv: 1.0 / z }
}

/// sum of c[k] q^(n - 1 - k), highest power first (Horner).
#[inline(always)]
fn series<const FMA: bool, const N: usize>(c: &[f64; N], q: f64) -> f64 {
    let mut acc = c[0];
    for &k in &c[1..] {
        acc = madd::<_, FMA>(acc, q, k);
    }
    acc
}

/// lgamma(x) of a float32, computed in float64 (see the module docs).
#[inline(always)]
pub fn lgamma_f32<const FMA: bool>(x: f32) -> f32 {
    let x = x as f64;
    let Reduced { neg, r, z, p, inv, .. } = reduced::<FMA>(x);
    let tail = series::<FMA, 9>(&STIRLING, inv * inv);
    let at_z = madd::<_, FMA>(z - 0.5, ln_f64::<FMA>(z), madd::<_, FMA>(tail, inv, HALF_LN_2PI) - z);
    // lgamma(y) = at_z - ln P, and for negative x ln pi - ln|sin(pi x)| - lgamma(y), which is
    // ln pi - at_z + ln(P / |sin(pi x)|): one logarithm either way. |sin(pi x)| is |sin(pi r)|,
    // r carrying x's distance to the nearest integer (0 at the poles, where P / 0 gives inf).
    let sin = sin_cos_pi::<FMA>(r).0.abs();
    let l = ln_f64::<FMA>(if neg { p / sin } else { p });
    let v = if neg { LN_PI - at_z + l } else { at_z - l };
    // +-inf (z - 0.5 times ln z less z would be NaN at inf; r is NaN at -inf), and exact zeros
    // at 1 and 2, as libm's (the shift leaves a few 1e-15 there).
    (if x.is_infinite() {
        f64::INFINITY
    } else if x == 1.0 || x == 2.0 {
        0.0
    } else {
        v
    }) as f32
}

/// digamma(x) of a float32, computed in float64 (see the module docs).
#[inline(always)]
pub fn digamma_f32<const FMA: bool>(x: f32) -> f32 {
    let x = x as f64;
    let Reduced { neg, r, z, p, d, inv } = reduced::<FMA>(x);
    let q = inv * inv;
    let at_z = ln_f64::<FMA>(z) - madd::<_, FMA>(series::<FMA, 9>(&PSI_SERIES, q), q, 0.5 * inv);
    let at_y = at_z - d / p;
    let (sin, cos) = sin_cos_pi::<FMA>(r);
    let v = if neg { at_y - std::f64::consts::PI * cos / sin } else { at_y };
    // The poles: 0 takes the sign of -x, negative integers (and -inf) are NaN.
    let v = if x == 0.0 {
        if x.is_sign_negative() { f64::INFINITY } else { f64::NEG_INFINITY }
    } else if neg && r == 0.0 {
        f64::NAN
    } else {
        v
    };
    (if x == f64::INFINITY { x } else { v }) as f32
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vmath::tests::{sweep, ulps};

    /// The worst error in ulps of the reference, after 5e-15 absolute is forgiven where the
    /// reference is below 1e-3 (the shift's cancellation near the zeros), and where it is.
    fn worst(f: impl Fn(f32) -> f32, reference: impl Fn(f64) -> f64, keep: impl Fn(f32) -> bool) -> (f64, f32) {
        let (mut u, mut at) = (0f64, 0f32);
        sweep(|x| {
            if !keep(x) {
                return;
            }
            let want = reference(x as f64);
            if !want.is_finite() || want.abs() > f32::MAX as f64 {
                return;
            }
            let got = f(x) as f64;
            let forgiven = if want.abs() < 1e-3 { 5e-15 } else { 0.0 };
            let err = (got - want).abs();
            let near = if err <= forgiven { want } else { want + (got - want).signum() * forgiven };
            let e = ulps(f(x), near);
            if e > u {
                (u, at) = (e, x);
            }
        });
        (u, at)
    }

    #[test]
    fn ln_f64_within_an_ulp_or_two() {
        let mut worst = 0f64;
        for i in 0..200_000u64 {
            let x = f64::from_bits(0x0010_0000_0000_0000 + i * 0x0000_A3D7_0A3D_70A3 % 0x7FE0_0000_0000_0000);
            let (got, want) = (ln_f64::<true>(x), x.ln());
            let ulp = f64::from_bits(want.abs().to_bits() + 1) - want.abs();
            worst = worst.max((got - want).abs() / ulp.max(f64::MIN_POSITIVE));
        }
        assert!(worst <= 2.0, "ln_f64: {worst} ulp");
        assert_eq!(ln_f64::<false>(1.0), 0.0);
        assert!(ln_f64::<false>(0.0) == f64::NEG_INFINITY && ln_f64::<false>(f64::INFINITY) == f64::INFINITY && ln_f64::<false>(f64::NAN).is_nan());
    }

    #[test]
    fn lgamma_within_an_ulp() {
        for fma in [false, true] {
            let f = |x: f32| if fma { lgamma_f32::<true>(x) } else { lgamma_f32::<false>(x) };
            // Positive x over the whole range; negative x down to -2^23 (below it every float32
            // is a pole), where libm's own reflection is the reference.
            let (u, at) = worst(f, libm::lgamma, |x| x > 0.0 || (x > -8_388_608.0 && x != x.floor()));
            assert!(u <= 1.0, "lgamma (FMA {fma}): {u} ulp at {at}");
        }
        for x in [0.0f32, -0.0, -1.0, -2.0, -1e30, f32::INFINITY, f32::NEG_INFINITY] {
            assert_eq!(lgamma_f32::<true>(x), f32::INFINITY, "lgamma({x})");
        }
        assert!(lgamma_f32::<true>(f32::NAN).is_nan());
        assert_eq!(lgamma_f32::<true>(1.0), 0.0);
        assert_eq!(lgamma_f32::<true>(2.0), 0.0);
    }

    #[test]
    fn digamma_within_an_ulp() {
        for fma in [false, true] {
            let f = |x: f32| if fma { digamma_f32::<true>(x) } else { digamma_f32::<false>(x) };
            let (u, at) = worst(f, crate::ops::math::digamma_f64, |x| x > 0.0 || (x > -8_388_608.0 && x != x.floor()));
            assert!(u <= 1.0, "digamma (FMA {fma}): {u} ulp at {at}");
        }
        assert_eq!(digamma_f32::<true>(0.0), f32::NEG_INFINITY);
        assert_eq!(digamma_f32::<true>(-0.0), f32::INFINITY);
        assert_eq!(digamma_f32::<true>(f32::INFINITY), f32::INFINITY);
        for x in [-1.0f32, -3.0, -1e30, f32::NEG_INFINITY, f32::NAN] {
            assert!(digamma_f32::<true>(x).is_nan(), "digamma({x})");
        }
    }
}
