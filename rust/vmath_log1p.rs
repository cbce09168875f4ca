//! expm1, log1p and log for float32 loops that vectorise: ELU's negative side, Softplus, Mish
//! and `log` itself (a libm call per element was 3.6x PyTorch's time).
//!
//! expm1 and log1p keep their relative accuracy where the plain forms lose it: `exp(x) - 1` near 0 and
//! `ln(1 + e)` for a tiny e (Softplus far below 0, where its value is e itself). Error bounds,
//! against float64 over the whole range (tests below): expm1 within 2 ulp, log1p on [0, 1]
//! within 2 ulp, log within 2 ulp over all positive floats (subnormals included), for both the
//! fused and the unfused forms. expm1 is -1 below -87.3 and inf above 88.72; log is -inf at +-0,
//! NaN below 0 and inf at inf; NaN stays NaN.

use crate::vmath::{exp_reduced_parts, madd, pow2, EXP_HI, EXP_LO};

/// e^x - 1 for float32 without branches. With x = n ln2 + r, e^r - 1 = r + p(r) r^2 comes
/// straight from exp's polynomial (before its + 1), so for |x| <= ln2 / 2 (n = 0) it is e^x - 1
/// to about an ulp with no cancellation. Otherwise e^x - 1 = 2^n ((e^r - 1) + (1 - 2^-n)), where
/// 1 - 2^-n is exact for the n that matter (|n| <= 24) and the sum rounds once.
#[inline(always)]
pub fn expm1_f32<const FMA: bool>(x: f32) -> f32 {
    let (em1, n) = exp_reduced_parts::<FMA>(x.clamp(EXP_LO, EXP_HI));
    // 2^-n for n in -126..=128 (clamped into pow2's range: beyond 24 it no longer shows in 1 - 2^-n).
    let one_minus = 1.0 - pow2((-n).clamp(-126, 127));
    // 2^n as two factors, so that n = 128 at the top of the range is exact (as exp_f32).
    let n1 = n >> 1;
    let big = (em1 + one_minus) * pow2(n1) * pow2(n - n1);
    // x = -0 gives r = +0; returning x itself keeps its sign, as libm does.
    let e = if n != 0 { big } else if x == 0.0 { x } else { em1 };
    if x > EXP_HI {
        f32::INFINITY
    } else if x < EXP_LO {
        -1.0
    } else {
        e
    }
}

/// 1 / (2k + 1) for k = 7 down to 1: the odd series of atanh, highest power first.
const ATANH_ODD: [f32; 7] = [1.0 / 15.0, 1.0 / 13.0, 1.0 / 11.0, 1.0 / 9.0, 1.0 / 7.0, 1.0 / 5.0, 1.0 / 3.0];

/// ln(1 + e) for 0 <= e <= 1 (or NaN; `log_f32` also uses it for e in [-0.293, 0.415]), float32 without branches: 2 atanh(s) with
/// s = e / (2 + e) in [0, 1/3], by its odd series to s^15 (the next term is below 1e-9 of the
/// value). s is e / 2 for a tiny e, so the result keeps e's relative accuracy. Outside [0, 1]
/// the series is not accurate; Softplus only asks for e^-|x|.
#[inline(always)]
pub fn log1p_unit_f32<const FMA: bool>(e: f32) -> f32 {
    let s = e / (2.0 + e);
    let s2 = s * s;
    let mut acc = ATANH_ODD[0];
    for &k in &ATANH_ODD[1..] {
        acc = madd::<_, FMA>(acc, s2, k);
    }
    // 2 (s + s^3 (1/3 + ...)): the leading s added last, exactly.
    2.0 * madd::<_, FMA>(acc * s2, s, s)
}

/// ln 2 in two parts: the high one has 12 trailing zero bits, so n * LN2_HI is exact for any
/// exponent n of a float32.
const LN2_HI: f32 = f32::from_bits(0x3F31_7200);
const LN2_LO: f32 = 1.428_606_8e-6;

/// ln(x) for float32 without branches: x = 2^n m with m in [sqrt(1/2), sqrt(2)), then
/// n ln2 + ln(1 + (m - 1)) by the atanh series above (m - 1 is exact there, and s is at most
/// 0.172, well inside its range). Subnormals are scaled by 2^23 first.
#[inline(always)]
pub fn log_f32<const FMA: bool>(x: f32) -> f32 {
    let tiny = x < f32::MIN_POSITIVE;
    let scaled = if tiny { x * 8_388_608.0 } else { x };
    let bits = scaled.to_bits();
    // The mantissa moved to [sqrt(1/2), sqrt(2)): the bits above 0x3F3504F3 halve it.
    let shifted = bits.wrapping_sub(0x3F35_04F3);
    let n = (shifted as i32 >> 23) - if tiny { 23 } else { 0 };
    let m = f32::from_bits((shifted & 0x007F_FFFF).wrapping_add(0x3F35_04F3));
    let p = log1p_unit_f32::<FMA>(m - 1.0);
    let nf = n as f32;
    let r = madd::<_, FMA>(nf, LN2_HI, madd::<_, FMA>(nf, LN2_LO, p));
    if x == 0.0 {
        f32::NEG_INFINITY
    } else if x < 0.0 {
        f32::NAN
    } else if x == f32::INFINITY || x.is_nan() {
        x
    } else {
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vmath::tests::{sweep, ulps};

    #[test]
    fn expm1_within_two_ulp() {
        expm1_as::<false>();
        expm1_as::<true>();
    }

    fn expm1_as<const FMA: bool>() {
        let mut worst = (0f64, 0f32);
        sweep(|x| {
            let want = libm::expm1(x as f64);
            let u = ulps(expm1_f32::<FMA>(x), want);
            if want < 3.4e38 && u > worst.0 {
                worst = (u, x);
            }
        });
        assert!(worst.0 <= 2.0, "expm1 (FMA {FMA}): {} ulp at {}", worst.0, worst.1);
        assert!(expm1_f32::<FMA>(f32::INFINITY) == f32::INFINITY && expm1_f32::<FMA>(89.0) == f32::INFINITY);
        assert!(expm1_f32::<FMA>(f32::NEG_INFINITY) == -1.0 && expm1_f32::<FMA>(-100.0) == -1.0);
        assert!(expm1_f32::<FMA>(f32::NAN).is_nan() && expm1_f32::<FMA>(0.0) == 0.0);
        assert!(expm1_f32::<FMA>(-0.0).is_sign_negative() && expm1_f32::<FMA>(1e-30) == 1e-30);
    }

    #[test]
    fn log1p_on_the_unit_interval_within_two_ulp() {
        log1p_as::<false>();
        log1p_as::<true>();
    }

    fn log1p_as<const FMA: bool>() {
        let mut worst = (0f64, 0f32);
        // Every 7th float32 in [0, 1] (subnormals included) and 1 itself.
        for bits in (0..=1.0f32.to_bits()).step_by(7).chain([1.0f32.to_bits()]) {
            let e = f32::from_bits(bits);
            let u = ulps(log1p_unit_f32::<FMA>(e), libm::log1p(e as f64));
            if u > worst.0 {
                worst = (u, e);
            }
        }
        assert!(worst.0 <= 2.0, "log1p (FMA {FMA}): {} ulp at {}", worst.0, worst.1);
        assert!(log1p_unit_f32::<FMA>(0.0) == 0.0 && log1p_unit_f32::<FMA>(f32::NAN).is_nan());
    }

    #[test]
    fn log_within_two_ulp() {
        log_as::<false>();
        log_as::<true>();
    }

    fn log_as<const FMA: bool>() {
        let mut worst = (0f64, 0f32);
        for bits in (1..0x7f80_0000u32).step_by(61) {
            let x = f32::from_bits(bits);
            let u = ulps(log_f32::<FMA>(x), libm::log(x as f64));
            if u > worst.0 {
                worst = (u, x);
            }
        }
        assert!(worst.0 <= 2.0, "log (FMA {FMA}): {} ulp at {}", worst.0, worst.1);
        for (x, want) in [(1.0f32, 0.0f32), (f32::INFINITY, f32::INFINITY), (0.0, f32::NEG_INFINITY), (-0.0, f32::NEG_INFINITY)] {
            assert_eq!(log_f32::<FMA>(x), want);
        }
        for x in [-1.0f32, -f32::MIN_POSITIVE, f32::NEG_INFINITY, f32::NAN] {
            assert!(log_f32::<FMA>(x).is_nan());
        }
    }
}
