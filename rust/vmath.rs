//! exp, tanh, sigmoid and erf for elementwise loops that vectorise.
//!
//! Through libm a float32 exp, tanh or erf is a call per element that the compiler cannot
//! vectorise: GELU on 4M elements took 35 ms against PyTorch's 3.5. The float32 forms here are
//! branch-free (range checks are selects, 2^n is built from the bits), so a loop of them,
//! compiled for AVX2 + FMA (`crate::multiversion!`, `ops::kernel::map`), runs eight lanes at a
//! time. float64 keeps libm: it is the dtype of reference checks, where exactness matters more.
//!
//! Error bounds, float32 against float64 references over the whole range (tests below):
//! exp within 2 ulp; tanh and sigmoid within 3 ulp, and erf within 3 ulp of its value or 1e-45
//! absolute (its subnormal tail); phi (GELU's gate) within 32 ulp in its lower tail, see
//! `phi_f32`. Special values: exp(-inf) = 0, exp(inf) = inf, exp overflows
//! to inf above 88.72 and underflows to 0 below -87.34 (libm's subnormal tail is 0 here);
//! tanh and erf are +-1 at +-inf, sigmoid 0 and 1; NaN stays NaN everywhere.

use crate::tensor::Float;

/// The vectorisable forms for float32, libm for float64.
pub trait VMath: Float {
    fn vexp(self) -> Self;
    fn vtanh(self) -> Self;
    /// 1 / (1 + e^-x); float32 gives 0 below about -87.3 (PyTorch's vectorised sigmoid does too).
    fn vsigmoid(self) -> Self;
    fn verf(self) -> Self;
    /// The standard normal CDF (GELU's gate), accurate in its lower tail.
    fn vphi(self) -> Self;
}

impl VMath for f64 {
    #[inline(always)]
    fn vexp(self) -> f64 {
        self.exp()
    }
    #[inline(always)]
    fn vtanh(self) -> f64 {
        self.tanh()
    }
    /// Stable on both tails (never exponentiates a large positive number), so the subnormal
    /// tail below -709 is kept.
    #[inline(always)]
    fn vsigmoid(self) -> f64 {
        if self >= 0.0 {
            1.0 / (1.0 + (-self).exp())
        } else {
            let e = self.exp();
            e / (1.0 + e)
        }
    }
    #[inline(always)]
    fn verf(self) -> f64 {
        libm::erf(self)
    }
    #[inline(always)]
    fn vphi(self) -> f64 {
        0.5 * libm::erfc(-self * std::f64::consts::FRAC_1_SQRT_2)
    }
}

impl VMath for f32 {
    #[inline(always)]
    fn vexp(self) -> f32 {
        exp_f32(self)
    }
    #[inline(always)]
    fn vtanh(self) -> f32 {
        tanh_f32(self)
    }
    #[inline(always)]
    fn vsigmoid(self) -> f32 {
        1.0 / (1.0 + exp_f32(-self))
    }
    #[inline(always)]
    fn verf(self) -> f32 {
        erf_f32(self)
    }
    #[inline(always)]
    fn vphi(self) -> f32 {
        phi_f32(self)
    }
}

/// e^x for float32 without branches: x = n ln2 + r with |r| <= ln2 / 2, e^r by Cephes' expf
/// polynomial, 2^n from the exponent bits (as two factors, so that n = 128 at the top of the
/// range and n = -126 at the bottom are both exact). Selects give inf above 88.72 and 0 below
/// -87.34: a saturated recurrent gate must be exactly 0 or 1, because its derivative s (1 - s)
/// multiplies the input in the weight gradient (6e-39 * inf is inf, 0 * inf is NaN as in
/// PyTorch).
// Cephes' coefficients as published (the float32 values they round to are the same).
#[allow(clippy::excessive_precision)]
#[inline(always)]
pub fn exp_f32(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    // Adding 1.5 * 2^23 rounds to an integer, which then sits in the low mantissa bits.
    const ROUND: f32 = 12_582_912.0;
    const HI: f32 = 88.722_83;
    const LO: f32 = -87.336_55;
    let x_in = x;
    let x = x.clamp(LO, HI);
    let shifted = x * LOG2E + ROUND;
    let n = shifted - ROUND;
    let r = x - n * 0.693_359_4 - n * -2.121_944_4e-4;
    let p = ((((1.987_569_2e-4 * r + 1.398_199_9e-3) * r + 8.333_452e-3) * r + 4.166_579_6e-2) * r + 1.666_666_5e-1) * r + 5.000_000_1e-1;
    let er = p * r * r + r + 1.0;
    // n in -126..=128, split as n1 + n2 with both in -63..=64.
    let n = shifted.to_bits().wrapping_sub(ROUND.to_bits()) as i32;
    let n1 = n >> 1;
    let pow2 = |k: i32| f32::from_bits(((k + 127) as u32) << 23);
    let e = er * pow2(n1) * pow2(n - n1);
    if x_in > HI {
        f32::INFINITY
    } else if x_in < LO {
        0.0
    } else {
        e
    }
}

/// tanh for float32 without branches: Cephes' odd polynomial below |x| = 0.625 (where
/// 1 - 2 / (e^2x + 1) would lose digits to cancellation), that form above.
#[allow(clippy::excessive_precision)]
#[inline(always)]
pub fn tanh_f32(x: f32) -> f32 {
    let a = x.abs();
    let z = x * x;
    let small = ((((-5.704_988_7e-3 * z + 2.063_908_9e-2) * z - 5.373_971_6e-2) * z + 1.333_144_2e-1) * z - 3.333_328_2e-1) * z * x + x;
    let large = (1.0 - 2.0 / (exp_f32(2.0 * a) + 1.0)).copysign(x);
    if a < 0.625 { small } else { large }
}

// Least-squares fits of the relative error made by tools/fit_erf.py (highest power first).
/// erf(x) / x as a polynomial in x^2 on |x| < 1 (fit error 4e-9).
#[allow(clippy::excessive_precision)]
const ERF_SMALL: [f32; 7] = [7.971048762556165e-05, -0.0008043373818509281, 0.0051918332464993, -0.026855509728193283, 0.11283621937036514, -0.3761262893676758, 1.1283791065216064];
/// erfc(x) e^(x^2) as a polynomial in (x - 2.5) / 1.5 on 1 <= x <= 4 (fit error 1e-7).
#[allow(clippy::excessive_precision)]
const ERFC_SCALED: [f32; 12] = [
    -3.257439675508067e-05, 9.385297016706318e-05, -0.00015518370491918176, 0.00037377403350546956, -0.001006663660518825, 0.002421150216832757, -0.005571543239057064,
    0.012485564686357975, -0.027005042880773544, 0.05611078813672066, -0.11152103543281555, 0.21080635488033295,
];

#[inline(always)]
fn horner<const N: usize>(c: &[f32; N], x: f32) -> f32 {
    let mut acc = c[0];
    for &k in &c[1..] {
        acc = acc * x + k;
    }
    acc
}

/// (erf(a), erfc(a)) for a >= 0 (or NaN), float32 without branches: a P(a^2) below 1; from 1
/// to 4 erfc(a) = e^(-a^2) G(a), where G is smooth; beyond 4, G(4) 4 / a (G falls as 1 / a;
/// erfc there is below 2e-8, so this only shapes the far tail of `phi_f32`, within 3%).
#[inline(always)]
fn erf_erfc(a: f32) -> (f32, f32) {
    let small = a * horner(&ERF_SMALL, a * a);
    // Written so a NaN passes (f32::min would turn it into 4), and `tail` carries it.
    let b = if a > 4.0 { 4.0 } else { a };
    let tail = exp_f32(-a * a) * horner(&ERFC_SCALED, (b - 2.5) * (1.0 / 1.5)) * (b / a);
    if a < 1.0 { (small, 1.0 - small) } else { (1.0 - tail, tail) }
}

/// erf for float32 without branches (see `erf_erfc`); +-1 beyond 3.92, where erf rounds to 1.
#[inline(always)]
pub fn erf_f32(x: f32) -> f32 {
    erf_erfc(x.abs()).0.copysign(x)
}

/// The standard normal CDF, (1 + erf(x / sqrt 2)) / 2, for float32 without branches. Below 0 it
/// is erfc(|x| / sqrt 2) / 2, with no cancellation: the usual formula (PyTorch's GELU) loses
/// every digit below about -5 and most of them from -2; here the relative error stays under
/// 4e-6 down to -5.6 and 3% below (values under 1e-8).
#[inline(always)]
pub fn phi_f32(x: f32) -> f32 {
    let (erf, erfc) = erf_erfc(x.abs() * std::f32::consts::FRAC_1_SQRT_2);
    if x < 0.0 { 0.5 * erfc } else { 0.5 + 0.5 * erf }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Distance in float32 ulps (at the reference's magnitude) between got and a float64 want.
    fn ulps(got: f32, want: f64) -> f64 {
        let w = want as f32;
        let ulp = (f32::from_bits(w.abs().to_bits() + 1) - w.abs()) as f64;
        (got as f64 - want).abs() / ulp.max(f32::from_bits(1) as f64)
    }

    /// Every 97th float32 bit pattern (both signs, subnormals to inf): a few tens of millions.
    fn sweep(mut f: impl FnMut(f32)) {
        for bits in (0..0x7f80_0000u32).step_by(97) {
            f(f32::from_bits(bits));
            f(-f32::from_bits(bits));
        }
    }

    #[test]
    fn exp_within_two_ulp() {
        let mut worst = 0f64;
        sweep(|x| {
            let want = (x as f64).exp();
            if want < 3.4e38 && want > 1.2e-38 {
                worst = worst.max(ulps(exp_f32(x), want));
            }
        });
        assert!(worst <= 2.0, "exp: {worst} ulp");
        assert!(exp_f32(89.0) == f32::INFINITY && exp_f32(-88.0) == 0.0 && exp_f32(88.7) < f32::INFINITY && exp_f32(-87.3) > 0.0);
        assert!(exp_f32(f32::INFINITY) == f32::INFINITY && exp_f32(f32::NEG_INFINITY) == 0.0 && exp_f32(f32::NAN).is_nan());
    }

    #[test]
    fn tanh_and_sigmoid_within_three_ulp() {
        let (mut t, mut s) = (0f64, 0f64);
        sweep(|x| {
            t = t.max(ulps(tanh_f32(x), (x as f64).tanh()));
            let want = 1.0 / (1.0 + (-(x as f64)).exp());
            if want > 1.2e-38 {
                s = s.max(ulps(x.vsigmoid(), want));
            }
        });
        assert!(t <= 3.0, "tanh: {t} ulp");
        assert!(s <= 3.0, "sigmoid: {s} ulp");
        assert!(tanh_f32(0.0) == 0.0 && tanh_f32(100.0) == 1.0 && tanh_f32(-100.0) == -1.0 && tanh_f32(f32::NAN).is_nan());
        assert!((-200f32).vsigmoid() == 0.0 && 200f32.vsigmoid() == 1.0 && f32::NAN.vsigmoid().is_nan());
        assert!(f32::NEG_INFINITY.vsigmoid() == 0.0 && f32::INFINITY.vsigmoid() == 1.0);
    }

    #[test]
    fn erf_within_three_ulp() {
        let mut worst = (0f64, 0f32);
        sweep(|x| {
            let e = ulps(erf_f32(x), libm::erf(x as f64));
            if e > worst.0 {
                worst = (e, x);
            }
        });
        assert!(worst.0 <= 3.0, "erf: {} ulp at {}", worst.0, worst.1);
        assert!(erf_f32(f32::INFINITY) == 1.0 && erf_f32(f32::NEG_INFINITY) == -1.0 && erf_f32(f32::NAN).is_nan());
        assert!(erf_f32(0.0) == 0.0 && erf_f32(-0.0).is_sign_negative());
        assert_eq!(erf_f32(1e-40), libm::erf(1e-40f32 as f64) as f32);
    }

    /// phi within 32 ulp (4e-6 relative) above -5.6 (x / sqrt 2 > -4), within 3% below (a value
    /// under 1e-8). The error grows with x^2 in the tail: e^(-a^2) of a rounded a = |x| / sqrt 2.
    #[test]
    fn phi_keeps_its_lower_tail() {
        let mut worst = (0f64, 0f32);
        sweep(|x| {
            let want = 0.5 * libm::erfc(-(x as f64) * std::f64::consts::FRAC_1_SQRT_2);
            if x > -5.6 && want > 1.2e-38 {
                let e = ulps(phi_f32(x), want);
                if e > worst.0 {
                    worst = (e, x);
                }
            } else if want > 1.2e-38 {
                assert!((phi_f32(x) as f64 / want - 1.0).abs() < 0.03, "phi({x})");
            }
        });
        assert!(worst.0 <= 32.0, "phi: {} ulp at {}", worst.0, worst.1);
        assert!(phi_f32(f32::NEG_INFINITY) == 0.0 && phi_f32(f32::INFINITY) == 1.0 && phi_f32(f32::NAN).is_nan());
    }
}
