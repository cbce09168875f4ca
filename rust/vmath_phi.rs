//! The standard normal CDF and density for float32 loops that vectorise: exact GELU's gate
//! x Phi(x) and its derivative (`VMath::phi_pdf_as`). Phi keeps its lower tail: within 12 ulp
//! above -5.6 and within 1e-6 relative below, down to its last normal values near -13, where
//! PyTorch's `0.5 * (1 + erf(x / sqrt 2))` loses every digit below about -5; the density within
//! 6 ulp on (-5.6, 5.6) (tests below). Phi is 0 at -inf and 1 at inf; NaN stays NaN.

use crate::vmath::{horner, madd, EXP_LO, ROUND};

/// erfc(|x| / sqrt 2) e^(x^2 / 2) / (2 t) as a polynomial in t = 1 / (1 + 15 |x| / 64) for
/// every x (fit error 1.0e-7; `tools/fit_erf.py`).
#[allow(clippy::excessive_precision)]
const PHI_HALF_ERFC: [f32; 8] = [
    -0.06553926318883896, 0.21787095069885254, -0.15723150968551636, 0.18922019004821777, 0.030937902629375458, 0.09898684173822403, 0.09218353033065796,
    0.09357130527496338,
];

/// e^r on |r| <= ln 2 / 2 (a little beyond), degree 6 (fit error 1.6e-8; `tools/fit_erf.py`;
/// degree 5's 1.3e-7 took GELU near 0 to 10 ulp), written as e^(-s / 2) in s = -2 r: the
/// coefficients times (-1/2)^k, exact, so every step of the polynomial is the one in r scaled
/// by a power of two (the same roundings), and `gauss_f32` needs no halving multiplies.
#[allow(clippy::excessive_precision)]
const EXP_HALF_NEG_DEGREE_6: [f32; 7] = [
    0.0013831668766215444 / 64.0,
    -0.008373521268367767 / 32.0,
    0.04166823998093605 / 16.0,
    -0.16666436195373535 / 8.0,
    0.49999991059303284 / 4.0,
    -0.5,
    1.0,
];

/// The Gaussian e^(-x^2 / 2) for float32, without branches. x^2 is taken exactly, as hi + lo
/// (its rounding was the largest error in Phi's tail: 6e-8 times x^2 / 2), and the reduction
/// uses one ln 2 with FMA (error n 1.9e-9, at most 2.4e-7 at the last normal values) and a
/// degree-6 polynomial: GELU's forward pays for every operation, and `exp_nonpositive_f32`'s
/// two-part reduction would be lost under the rest of Phi's error anyway.
#[inline(always)]
fn gauss_f32<const FMA: bool>(x: f32) -> f32 {
    let (hi, lo) = if FMA {
        let hi = x * x;
        (hi, x.mul_add(x, -hi))
    } else {
        let sq = x as f64 * x as f64;
        (sq as f32, (sq - (sq as f32) as f64) as f32)
    };
    // The exponent is -hi / 2: clamped in hi, and the rounding to n scaled from hi, so that
    // no multiply stands first in the chain. Written so a NaN passes (f32::min would drop it).
    const HI_MAX: f32 = -2.0 * EXP_LO;
    let hc = if hi > HI_MAX { HI_MAX } else { hi };
    // 1.5 * 2^23 rounds -hc log2(e) / 2 to an integer n in the low mantissa bits; the exponent
    // bias added with it puts n + 127 there, so shifting the bits up 23 gives 2^n (n >= -126).
    const SHIFT: f32 = ROUND + 127.0;
    let shifted = madd::<_, FMA>(hc, -0.5 * std::f32::consts::LOG2_E, SHIFT);
    let n = shifted - SHIFT;
    // -(hi + lo) / 2 = n ln 2 + r, kept as s = -2 r = hi + lo + 2 n ln 2 (see the polynomial).
    // Without FMA, n ln 2 rounds (8 ulp of Phi at -4): ln 2 in two parts, the first exact times n.
    let reduced = if FMA { madd::<_, FMA>(n, 2.0 * std::f32::consts::LN_2, hc) } else { madd::<_, FMA>(n, -2.0 * 2.121_944_4e-4, madd::<_, FMA>(n, 2.0 * 0.693_359_4, hc)) };
    let s = reduced + lo;
    let e = horner::<FMA, 7>(&EXP_HALF_NEG_DEGREE_6, s) * f32::from_bits(shifted.to_bits() << 23);
    if hi > HI_MAX { 0.0 } else { e }
}

/// The standard normal CDF and density, (Phi(x), phi(x)), for float32 without branches: GELU's
/// gate and its derivative. With t = 1 / (1 + 15 |x| / 64), erfc(|x| / sqrt 2) / 2 =
/// t phi(x) sqrt(2 pi) Q(t) over the whole line (one form, so each lane computes one
/// polynomial, not two), and the Gaussian is also the density. Below 0 Phi is that half erfc,
/// with no cancellation: the usual (1 + erf) / 2 (PyTorch's GELU) loses every digit below about
/// -5 and most of them from -2; here the relative error stays within 1e-6 down to the last
/// normal values near -13. Every operation counts: GELU's forward is bound by how many there
/// are (about 27 per lane, a division among them).
#[inline(always)]
pub fn phi_pdf_f32<const FMA: bool>(x: f32) -> (f32, f32) {
    let t = 1.0 / madd::<_, FMA>(x.abs(), 0.234_375, 1.0);
    let gauss = gauss_f32::<FMA>(x);
    // t Q(t) first: its chain (the division) is ready before the Gaussian's.
    let half_erfc = t * horner::<FMA, 8>(&PHI_HALF_ERFC, t) * gauss;
    // The sign bit picks the side (a blend on x itself, no comparison); -0 gives half_erfc,
    // which is 1/2 there as 1 - half_erfc is; NaN stays NaN on either side.
    let cdf = if x.is_sign_negative() { half_erfc } else { 1.0 - half_erfc };
    (cdf, gauss * 0.398_942_3)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vmath::tests::{sweep, ulps};

    /// Phi within 12 ulp above -5.6, within 1e-6 relative below (down to its last normal values
    /// near -13); the density within 6 ulp on (-5.6, 5.6). (Before x^2 was taken exactly the
    /// tail's error grew with x^2, to 4e-6 at -12.)
    #[test]
    fn phi_keeps_its_lower_tail() {
        phi_keeps_its_lower_tail_as::<false>();
        phi_keeps_its_lower_tail_as::<true>();
    }

    fn phi_keeps_its_lower_tail_as<const FMA: bool>() {
        let (mut worst, mut tail, mut dens) = ((0f64, 0f32), (0f64, 0f32), (0f64, 0f32));
        sweep(|x| {
            let want = 0.5 * libm::erfc(-(x as f64) * std::f64::consts::FRAC_1_SQRT_2);
            let want_pdf = (-0.5 * (x as f64) * (x as f64)).exp() * 0.398_942_280_401_432_7;
            let (cdf, pdf) = phi_pdf_f32::<FMA>(x);
            if x > -5.6 && want > 1.2e-38 {
                let e = ulps(cdf, want);
                if e > worst.0 {
                    worst = (e, x);
                }
                let e = ulps(pdf, want_pdf);
                if x < 5.6 && e > dens.0 {
                    dens = (e, x);
                }
            } else if want > 1.2e-38 {
                let e = (cdf as f64 / want - 1.0).abs();
                if e > tail.0 {
                    tail = (e, x);
                }
            }
        });
        eprintln!("phi (FMA {FMA}): {worst:?} ulp, tail {tail:?} relative, pdf {dens:?} ulp");
        assert!(worst.0 <= 12.0, "phi: {} ulp at {}", worst.0, worst.1);
        assert!(tail.0 <= 1e-6, "phi: {} relative at {}", tail.0, tail.1);
        assert!(dens.0 <= 6.0, "phi's density: {} ulp at {}", dens.0, dens.1);
        assert!(phi_pdf_f32::<FMA>(f32::NEG_INFINITY).0 == 0.0 && phi_pdf_f32::<FMA>(f32::INFINITY).0 == 1.0 && phi_pdf_f32::<FMA>(f32::NAN).0.is_nan());
    }
}
