//! sigmoid and tanh for the recurrent layers' gate passes.
//!
//! Through libm a float32 tanh or exp is a call per element that the compiler cannot vectorise:
//! an LSTM step's gate pass (5 of them per unit) took three times as long as its matrix product
//! (0.9 vs 0.3 ms at batch 32, hidden 256). The float32 forms here are branch-free (Cephes'
//! expf and tanhf polynomials, the power of two built from the bits), so a gate loop compiles
//! to vector code; they are within a few float32 ulps of libm. float64 keeps libm: it is the
//! dtype of reference checks, where exactness matters more than speed.

use crate::tensor::Float;

pub trait Gates: Float {
    fn sigmoid(self) -> Self;
    fn tanh_gate(self) -> Self;
}

impl Gates for f64 {
    #[inline(always)]
    fn sigmoid(self) -> f64 {
        1.0 / (1.0 + (-self).exp())
    }
    #[inline(always)]
    fn tanh_gate(self) -> f64 {
        self.tanh()
    }
}

impl Gates for f32 {
    #[inline(always)]
    fn sigmoid(self) -> f32 {
        1.0 / (1.0 + exp_f32(-self))
    }
    #[inline(always)]
    fn tanh_gate(self) -> f32 {
        tanh_f32(self)
    }
}

/// e^x for float32 without branches: x = n ln2 + r with |r| <= ln2 / 2, e^r by Cephes' expf
/// polynomial, 2^n from the exponent bits. The polynomial runs on inputs clamped to where 2^n is
/// a normal number, and selects then give inf above 88.72 and 0 below -87.34, as libm's
/// overflow and underflow do: a saturated gate must be exactly 0 or 1, because its derivative
/// s (1 - s) multiplies the input in the weight gradient (6e-39 * inf is inf, 0 * inf is NaN
/// as in PyTorch).
// Cephes' coefficients as published (the float32 values they round to are the same).
#[allow(clippy::excessive_precision)]
#[inline(always)]
pub fn exp_f32(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    // Adding 1.5 * 2^23 rounds to an integer, which then sits in the low mantissa bits.
    const ROUND: f32 = 12_582_912.0;
    let x_in = x;
    let x = x.clamp(-87.0, 88.0);
    let shifted = x * LOG2E + ROUND;
    let n = shifted - ROUND;
    let r = x - n * 0.693_359_4 - n * -2.121_944_4e-4;
    let p = ((((1.987_569_2e-4 * r + 1.398_199_9e-3) * r + 8.333_452e-3) * r + 4.166_579_6e-2) * r + 1.666_666_5e-1) * r + 5.000_000_1e-1;
    let er = p * r * r + r + 1.0;
    let bits = shifted.to_bits().wrapping_sub(ROUND.to_bits());
    let e = er * f32::from_bits((bits.wrapping_add(127) << 23) & 0x7f80_0000);
    if x_in > 88.722_83 {
        f32::INFINITY
    } else if x_in < -87.336_55 {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn float32_forms_match_libm() {
        let mut worst = (0.0f64, 0.0f64);
        for i in -200_000..=200_000 {
            let x = i as f32 * 1e-4 * (1.0 + (i as f32).abs() * 1e-5);
            let e = exp_f32(x) as f64;
            let want = (x as f64).exp();
            if want < 1e38 && want > 1e-37 {
                worst.0 = worst.0.max(((e - want) / want).abs());
            }
            let t = tanh_f32(x) as f64;
            let want = (x as f64).tanh();
            worst.1 = worst.1.max(((t - want) / want.abs().max(1e-30)).abs());
        }
        assert!(worst.0 < 3e-7, "exp relative error {}", worst.0);
        assert!(worst.1 < 3e-7, "tanh relative error {}", worst.1);
        assert_eq!(tanh_f32(0.0), 0.0);
        assert_eq!(tanh_f32(100.0), 1.0);
        assert_eq!(tanh_f32(-100.0), -1.0);
        assert!(<f32 as Gates>::sigmoid(-200.0) == 0.0 && <f32 as Gates>::sigmoid(200.0) == 1.0);
        assert!(<f32 as Gates>::sigmoid(f32::NEG_INFINITY) == 0.0 && <f32 as Gates>::sigmoid(f32::INFINITY) == 1.0);
        assert!(exp_f32(89.0) == f32::INFINITY && exp_f32(-88.0) == 0.0 && exp_f32(88.7) < f32::INFINITY && exp_f32(-87.3) > 0.0);
        assert!(tanh_f32(f32::NAN).is_nan() && exp_f32(f32::NAN).is_nan());
    }
}
