//! atan2 for float32 without branches, so that `torch.atan2`'s loop vectorises (16 lanes on
//! AVX-512). glibc's atan2f, called per element, took 16x PyTorch's time on 1M values.
//!
//! With a = |y|, b = |x|: t = min(a, b) / max(a, b) in [0, 1], atan(t) = t + t s P(s), s = t^2,
//! P of degree 8 near-minimax in relative error (`tools/fit_atan.py`: 1.3e-8 with float32
//! coefficients). Then pi/2 - atan(t) where a > b, pi minus that where x's sign bit is set, and
//! y's sign on the result; pi/2 and pi are each two floats (the sum exact to 2^-48) so that the
//! subtraction does not add a rounding of the constant. Within 1.5 ulp of float64's atan2 over the
//! whole range (test below: 1.39 without FMA, 1.37 with), subnormals included.
//!
//! The IEEE special cases come out of the same selects: both zero gives t = 0 (so atan2(+-0, +0)
//! = +-0 and atan2(+-0, -0) = +-pi), both infinite gives t = 1 (+-pi/4, +-3pi/4), one infinite
//! gives t = 0 (+-pi/2, or 0 and +-pi), and NaN in either stays NaN.

use crate::vmath::madd;

/// P's coefficients, highest power first (`tools/fit_atan.py`, degree 8).
#[allow(clippy::excessive_precision)]
const P: [f32; 9] = [
    -0.002426759572699666,
    0.013668421655893326,
    -0.036135803908109665,
    0.06272870302200317,
    -0.08667726069688797,
    0.11036594212055206,
    -0.1427893489599228,
    0.19999757409095764,
    -0.3333333134651184,
];

/// pi / 2 and pi as float32 pairs (high + low).
const HALF_PI: (f32, f32) = (std::f32::consts::FRAC_PI_2, -4.371_139e-8);
const PI: (f32, f32) = (std::f32::consts::PI, -8.742_278e-8);

/// `if take { a } else { b }` without a branch.
#[inline(always)]
fn pick(take: bool, a: f32, b: f32) -> f32 {
    f32::from_bits(std::hint::select_unpredictable(take, a.to_bits(), b.to_bits()))
}

/// atan2(y, x) in float32 (see the module docs); `FMA` for the loops' AVX2 and AVX-512 copies.
#[inline(always)]
pub(crate) fn atan2_f32<const FMA: bool>(y: f32, x: f32) -> f32 {
    let (a, b) = (y.abs(), x.abs());
    let steep = a > b;
    let (num, den) = (pick(steep, b, a), pick(steep, a, b));
    // 0 / 0 and inf / inf: 0 and 1. A NaN fails both tests and stays in the quotient (a test of
    // den alone lost atan2(NaN, 0)'s NaN).
    let t = pick(a == 0.0 && b == 0.0, 0.0, num / den);
    let t = pick(a == f32::INFINITY && b == f32::INFINITY, 1.0, t);
    let s = t * t;
    let mut p = P[0];
    for &c in &P[1..] {
        p = madd::<f32, FMA>(p, s, c);
    }
    let r = madd::<f32, FMA>(t * s, p, t);
    let r = pick(steep, (HALF_PI.0 - r) + HALF_PI.1, r);
    let r = pick(x.is_sign_negative(), (PI.0 - r) + PI.1, r);
    r.copysign(y)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vmath::tests::ulps;

    fn check<const FMA: bool>() {
        let mut worst = (0f64, 0f32, 0f32);
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        // Random bit patterns over the whole finite range (subnormals included), and pairs
        // of nearby magnitudes, where t is near 1 and the octants meet.
        for k in 0..2_000_000 {
            let r = next();
            let y = f32::from_bits(r as u32 & 0xff7f_ffff);
            let x = if k % 2 == 0 { f32::from_bits((r >> 32) as u32 & 0xff7f_ffff) } else { y * (1.0 + ((r >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 1e-3) * if r >> 63 == 1 { -1.0 } else { 1.0 } };
            if !x.is_finite() || !y.is_finite() {
                continue;
            }
            let u = ulps(atan2_f32::<FMA>(y, x), (y as f64).atan2(x as f64));
            if u > worst.0 {
                worst = (u, y, x);
            }
        }
        assert!(worst.0 <= 1.5, "atan2 (FMA {FMA}): {} ulp at ({}, {})", worst.0, worst.1, worst.2);
        let inf = f32::INFINITY;
        let specials = [(0.0f32, 0.0f32), (-0.0, 0.0), (0.0, -0.0), (-0.0, -0.0), (inf, inf), (-inf, inf), (inf, -inf), (-inf, -inf), (inf, 1.0), (-inf, -1.0), (1.0, inf), (1.0, -inf), (-1.0, -inf), (0.0, -1.0), (-0.0, -1.0), (1e-45, 1.0), (1.0, 1e-45), (1e-40, 1e-40), (f32::MAX, f32::MIN_POSITIVE)];
        for (y, x) in specials {
            let (got, want) = (atan2_f32::<FMA>(y, x), y.atan2(x));
            assert!(got.to_bits() == want.to_bits() || ulps(got, (y as f64).atan2(x as f64)) <= 1.0, "atan2({y:e}, {x:e}) = {got:e}, not {want:e}");
            assert_eq!(got.is_sign_negative(), want.is_sign_negative(), "atan2({y:e}, {x:e}) sign");
        }
        for (y, x) in [(f32::NAN, 1.0), (1.0, f32::NAN), (f32::NAN, 0.0), (f32::NAN, -0.0), (-0.0, f32::NAN), (f32::NAN, inf), (inf, f32::NAN), (0.0, f32::NAN)] {
            assert!(atan2_f32::<FMA>(y, x).is_nan(), "atan2({y}, {x}) not NaN");
        }
    }

    #[test]
    fn atan2_within_one_and_a_half_ulp_with_ieee_special_cases() {
        check::<false>();
        check::<true>();
    }
}
