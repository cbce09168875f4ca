//! exp, tanh, sigmoid and erf for elementwise loops that vectorise.
//!
//! Through libm a float32 exp, tanh or erf is a call per element that the compiler cannot
//! vectorise: GELU on 4M elements took 35 ms against PyTorch's 3.5. The float32 forms here are
//! branch-free (range checks are selects, 2^n is built from the bits), so a loop of them,
//! compiled for AVX2 + FMA or AVX-512 (`crate::multiversion!`, `ops::kernel::map`), runs eight
//! or sixteen lanes at a time. float64 keeps libm: it is the dtype of reference checks, where
//! exactness matters more.
//!
//! Error bounds, float32 against float64 references over the whole range (tests below):
//! exp within 2 ulp; tanh and sigmoid within 3 ulp, SiLU within 3.1 (above -87, where e^x is
//! still normal), and erf within 3 ulp of its value or 1e-45
//! absolute (its subnormal tail); Phi (GELU's gate) within 12 ulp and its density within 6, and
//! Phi within 1e-6 relative in its lower tail, see `vmath_phi.rs`. Each holds for both the fused
//! and the unfused forms (see `VMath`). Special values: exp(-inf) = 0, exp(inf) = inf, exp overflows
//! to inf above 88.72 and underflows to 0 below -87.34 (libm's subnormal tail is 0 here);
//! tanh and erf are +-1 at +-inf, sigmoid 0 and 1; NaN stays NaN everywhere.

use crate::tensor::Float;

/// The vectorisable forms for float32, libm for float64.
///
/// Each float32 form exists twice, picked by `FMA`: with fused multiply-adds for the loops'
/// AVX2 + FMA copies, and with separate multiplies and adds for everything else. Rust never
/// fuses `a * b + c` by itself, and `mul_add` outside an FMA copy is a call into libm per
/// element; a polynomial step as one FMA halves both its latency and its instructions, and these
/// loops are bound by the latency of their dependent chains. The `vexp`-style methods are the
/// unfused forms; rules written for `ops::kernel` call the free functions of `plain` and
/// `fused` instead, so the same row compiles to both (see `unary_op!`).
pub trait VMath: Float {
    fn exp_as<const FMA: bool>(self) -> Self;
    /// e^x for x <= 0 (or NaN), a few instructions fewer per lane: softmax's e^(x - max).
    fn exp_nonpositive_as<const FMA: bool>(self) -> Self;
    fn tanh_as<const FMA: bool>(self) -> Self;
    /// 1 / (1 + e^-x); float32 gives 0 below about -87.3 (PyTorch's vectorised sigmoid does too).
    fn sigmoid_as<const FMA: bool>(self) -> Self;
    /// x sigmoid(x) (SiLU).
    #[inline(always)]
    fn silu_as<const FMA: bool>(self) -> Self {
        self * self.sigmoid_as::<FMA>()
    }
    fn erf_as<const FMA: bool>(self) -> Self;
    /// (the standard normal CDF, its density): GELU's gate, accurate in its lower tail, and
    /// its derivative, from one exponential.
    fn phi_pdf_as<const FMA: bool>(self) -> (Self, Self);
    /// e^x - 1, accurate near 0 (`vmath_log1p`).
    fn expm1_as<const FMA: bool>(self) -> Self;
    /// ln(1 + x) for 0 <= x <= 1 only (Softplus's ln(1 + e^-|x|); `vmath_log1p`).
    fn log1p_unit_as<const FMA: bool>(self) -> Self;
    /// ln(x) (`vmath_log1p`).
    fn log_as<const FMA: bool>(self) -> Self;
    /// atan2(self, x) (`vmath_atan`; float64 keeps libm).
    fn atan2_as<const FMA: bool>(self, x: Self) -> Self;
    /// ln|Gamma(x)| (`vmath_gamma`; float64 keeps libm).
    fn lgamma_as<const FMA: bool>(self) -> Self;
    /// psi(x), lgamma's derivative (`vmath_gamma`; float64 keeps the scalar form).
    fn digamma_as<const FMA: bool>(self) -> Self;
    /// Exact GELU's forward over a whole slice where the type has a kernel for it (float32 on
    /// AVX-512: `vmath_gelu`); false, writing nothing, where it has none.
    fn gelu_slice(_out: &mut [std::mem::MaybeUninit<Self>], _x: &[Self]) -> bool {
        false
    }

    #[inline(always)]
    fn vexp(self) -> Self {
        self.exp_as::<false>()
    }
    #[inline(always)]
    fn vtanh(self) -> Self {
        self.tanh_as::<false>()
    }
    #[inline(always)]
    fn vsigmoid(self) -> Self {
        self.sigmoid_as::<false>()
    }
    #[inline(always)]
    fn verf(self) -> Self {
        self.erf_as::<false>()
    }
}

/// The forms by name, as a rule compiled outside the FMA copies calls them.
pub mod plain {
    crate::vmath::by_name!(false);
}

/// The forms by name, as a rule compiled inside the AVX2 + FMA copies calls them.
pub mod fused {
    crate::vmath::by_name!(true);
}

macro_rules! by_name {
    ($fma:literal) => {
        use crate::vmath::VMath;
        #[inline(always)]
        pub fn vexp<T: VMath>(x: T) -> T {
            x.exp_as::<$fma>()
        }
        #[inline(always)]
        pub fn vtanh<T: VMath>(x: T) -> T {
            x.tanh_as::<$fma>()
        }
        #[inline(always)]
        pub fn vsigmoid<T: VMath>(x: T) -> T {
            x.sigmoid_as::<$fma>()
        }
        #[inline(always)]
        pub fn vsilu<T: VMath>(x: T) -> T {
            x.silu_as::<$fma>()
        }
        #[inline(always)]
        pub fn verf<T: VMath>(x: T) -> T {
            x.erf_as::<$fma>()
        }
        #[inline(always)]
        pub fn vexpm1<T: VMath>(x: T) -> T {
            x.expm1_as::<$fma>()
        }
        /// ln(1 + x) for 0 <= x <= 1.
        #[inline(always)]
        pub fn vlog1p_unit<T: VMath>(x: T) -> T {
            x.log1p_unit_as::<$fma>()
        }
        #[inline(always)]
        pub fn vlog<T: VMath>(x: T) -> T {
            x.log_as::<$fma>()
        }
        /// The standard normal CDF.
        #[inline(always)]
        pub fn vphi<T: VMath>(x: T) -> T {
            x.phi_pdf_as::<$fma>().0
        }
        #[inline(always)]
        pub fn vphi_pdf<T: VMath>(x: T) -> (T, T) {
            x.phi_pdf_as::<$fma>()
        }
        #[inline(always)]
        pub fn vlgamma<T: VMath>(x: T) -> T {
            x.lgamma_as::<$fma>()
        }
        #[inline(always)]
        pub fn vdigamma<T: VMath>(x: T) -> T {
            x.digamma_as::<$fma>()
        }
    };
}
use by_name;

impl VMath for f64 {
    #[inline(always)]
    fn atan2_as<const FMA: bool>(self, x: f64) -> f64 {
        self.atan2(x)
    }
    #[inline(always)]
    fn exp_as<const FMA: bool>(self) -> f64 {
        self.exp()
    }
    #[inline(always)]
    fn exp_nonpositive_as<const FMA: bool>(self) -> f64 {
        self.exp()
    }
    #[inline(always)]
    fn tanh_as<const FMA: bool>(self) -> f64 {
        self.tanh()
    }
    /// Stable on both tails (never exponentiates a large positive number), so the subnormal
    /// tail below -709 is kept.
    #[inline(always)]
    fn sigmoid_as<const FMA: bool>(self) -> f64 {
        if self >= 0.0 {
            1.0 / (1.0 + (-self).exp())
        } else {
            let e = self.exp();
            e / (1.0 + e)
        }
    }
    #[inline(always)]
    fn erf_as<const FMA: bool>(self) -> f64 {
        libm::erf(self)
    }
    #[inline(always)]
    fn phi_pdf_as<const FMA: bool>(self) -> (f64, f64) {
        let cdf = 0.5 * libm::erfc(-self * std::f64::consts::FRAC_1_SQRT_2);
        (cdf, (-0.5 * self * self).exp() * 0.398_942_280_401_432_7)
    }
    #[inline(always)]
    fn expm1_as<const FMA: bool>(self) -> f64 {
        libm::expm1(self)
    }
    #[inline(always)]
    fn log1p_unit_as<const FMA: bool>(self) -> f64 {
        libm::log1p(self)
    }
    #[inline(always)]
    fn log_as<const FMA: bool>(self) -> f64 {
        self.ln()
    }
    #[inline(always)]
    fn lgamma_as<const FMA: bool>(self) -> f64 {
        libm::lgamma(self)
    }
    #[inline(always)]
    fn digamma_as<const FMA: bool>(self) -> f64 {
        crate::ops::math::digamma_f64(self)
    }
}

impl VMath for f32 {
    #[inline(always)]
    fn atan2_as<const FMA: bool>(self, x: f32) -> f32 {
        crate::vmath_atan::atan2_f32::<FMA>(self, x)
    }
    #[inline(always)]
    fn exp_as<const FMA: bool>(self) -> f32 {
        exp_f32::<FMA>(self)
    }
    #[inline(always)]
    fn exp_nonpositive_as<const FMA: bool>(self) -> f32 {
        exp_nonpositive_f32::<FMA>(self)
    }
    #[inline(always)]
    fn tanh_as<const FMA: bool>(self) -> f32 {
        tanh_f32::<FMA>(self)
    }
    /// Through e = e^-|x| in (0, 1] (the exp for non-positive arguments, no overflow select):
    /// 1 / (1 + e) above 0, e / (1 + e) below, the mirror image with no cancellation.
    #[inline(always)]
    fn sigmoid_as<const FMA: bool>(self) -> f32 {
        let e = exp_nonpositive_f32::<FMA>(-self.abs());
        // NaN fails the test and e carries it. One division, not a reciprocal and a multiply:
        // an operation fewer per lane and a rounding fewer below 0.
        let top = if self >= 0.0 { 1.0 } else { e };
        top / (1.0 + e)
    }
    /// x / (1 + e) above 0, x e / (1 + e) below, with e = e^-|x|: one multiply fewer per lane
    /// than x times the sigmoid (SiLU's forward is bound by how many there are), and two
    /// roundings after the division's instead of three.
    #[inline(always)]
    fn silu_as<const FMA: bool>(self) -> f32 {
        let e = exp_nonpositive_f32::<FMA>(-self.abs());
        // NaN fails the test and x e carries it.
        let top = if self >= 0.0 { self } else { self * e };
        top / (1.0 + e)
    }
    #[inline(always)]
    fn erf_as<const FMA: bool>(self) -> f32 {
        erf_f32::<FMA>(self)
    }
    #[inline(always)]
    fn phi_pdf_as<const FMA: bool>(self) -> (f32, f32) {
        crate::vmath_phi::phi_pdf_f32::<FMA>(self)
    }
    #[inline(always)]
    fn expm1_as<const FMA: bool>(self) -> f32 {
        crate::vmath_log1p::expm1_f32::<FMA>(self)
    }
    #[inline(always)]
    fn log1p_unit_as<const FMA: bool>(self) -> f32 {
        crate::vmath_log1p::log1p_unit_f32::<FMA>(self)
    }
    #[inline(always)]
    fn log_as<const FMA: bool>(self) -> f32 {
        crate::vmath_log1p::log_f32::<FMA>(self)
    }
    #[inline(always)]
    fn lgamma_as<const FMA: bool>(self) -> f32 {
        crate::vmath_gamma::lgamma_f32::<FMA>(self)
    }
    #[inline(always)]
    fn digamma_as<const FMA: bool>(self) -> f32 {
        crate::vmath_gamma::digamma_f32::<FMA>(self)
    }
    fn gelu_slice(out: &mut [std::mem::MaybeUninit<f32>], x: &[f32]) -> bool {
        crate::vmath_gelu::gelu_f32(out, x)
    }
}

/// a * b + c, fused (one rounding, one instruction) when `FMA`: inside a loop's AVX2 + FMA copy
/// (`crate::multiversion!`); elsewhere `mul_add` would be a libm call per element.
#[inline(always)]
pub(crate) fn madd<T: Float, const FMA: bool>(a: T, b: T, c: T) -> T {
    if FMA { a.mul_add(b, c) } else { a * b + c }
}

/// e^x for float32 without branches: x = n ln2 + r with |r| <= ln2 / 2, e^r by Cephes' expf
/// polynomial, 2^n from the exponent bits (as two factors, so that n = 128 at the top of the
/// range and n = -126 at the bottom are both exact). Selects give inf above 88.72 and 0 below
/// -87.34: a saturated recurrent gate must be exactly 0 or 1, because its derivative s (1 - s)
/// multiplies the input in the weight gradient (6e-39 * inf is inf, 0 * inf is NaN as in
/// PyTorch).
#[inline(always)]
pub fn exp_f32<const FMA: bool>(x: f32) -> f32 {
    let (er, bits) = exp_reduced::<FMA, 0>(x.clamp(EXP_LO, EXP_HI));
    let n = bits.wrapping_sub(ROUND.to_bits()) as i32;
    // n in -126..=128, split as n1 + n2 with both in -63..=64.
    let n1 = n >> 1;
    let e = er * pow2(n1) * pow2(n - n1);
    if x > EXP_HI {
        f32::INFINITY
    } else if x < EXP_LO {
        0.0
    } else {
        e
    }
}

/// e^x for x <= 0 (or NaN): `exp_f32` with 2^n as one factor (n >= -126 is a normal float) and
/// no overflow select. Softmax's and attention's e^(x - max), a few instructions fewer per
/// lane. Also within its 2 ulp up to 88.3 (n <= 127), so the rounding of x - max above 0 is
/// harmless; beyond that it is meaningless.
#[inline(always)]
pub fn exp_nonpositive_f32<const FMA: bool>(x: f32) -> f32 {
    // Written so a NaN passes (f32::max would turn it into EXP_LO).
    let (er, bits) = exp_reduced::<FMA, 127>(if x < EXP_LO { EXP_LO } else { x });
    // The low mantissa bits hold n + 127 in 1..=127: shifted up they are 2^n's exponent.
    let e = er * f32::from_bits(bits << 23);
    if x < EXP_LO { 0.0 } else { e }
}

pub(crate) const EXP_HI: f32 = 88.722_83;
pub(crate) const EXP_LO: f32 = -87.336_55;

/// 2^k for k in -126..=127, from the exponent bits.
#[inline(always)]
pub(crate) fn pow2(k: i32) -> f32 {
    f32::from_bits(((k + 127) as u32) << 23)
}

/// Adding 1.5 * 2^23 rounds to an integer, which then sits in the low mantissa bits.
pub(crate) const ROUND: f32 = 12_582_912.0;

/// (e^r, bits) with e^x = e^r 2^n, for x in [EXP_LO, EXP_HI] (or NaN): bits are those of
/// ROUND + BIAS + n, whose low mantissa bits hold n + BIAS. With BIAS 127 (n >= -126) they are
/// 2^n's exponent field as they stand: one shift, where subtracting ROUND and adding the bias
/// took two more integer operations per lane.
// Cephes' coefficients as published (the float32 values they round to are the same).
#[allow(clippy::excessive_precision)]
#[inline(always)]
fn exp_reduced<const FMA: bool, const BIAS: i32>(x: f32) -> (f32, u32) {
    let (em1, bits) = exp_reduced_m1::<FMA, BIAS>(x);
    (em1 + 1.0, bits)
}

/// (e^r - 1, n) with e^x = e^r 2^n, for x in [EXP_LO, EXP_HI] (or NaN): expm1's parts
/// (`vmath_log1p`). e^r - 1 is the polynomial before exp adds its 1, accurate on its own.
#[inline(always)]
pub(crate) fn exp_reduced_parts<const FMA: bool>(x: f32) -> (f32, i32) {
    let (em1, bits) = exp_reduced_m1::<FMA, 0>(x);
    (em1, bits.wrapping_sub(ROUND.to_bits()) as i32)
}

/// `exp_reduced` without the final + 1.
#[allow(clippy::excessive_precision)]
#[inline(always)]
fn exp_reduced_m1<const FMA: bool, const BIAS: i32>(x: f32) -> (f32, u32) {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    let round = ROUND + BIAS as f32;
    let shifted = madd::<_, FMA>(x, LOG2E, round);
    let n = shifted - round;
    let r = madd::<_, FMA>(n, 2.121_944_4e-4, madd::<_, FMA>(n, -0.693_359_4, x));
    let p = estrin6::<FMA>(&[1.987_569_2e-4, 1.398_199_9e-3, 8.333_452e-3, 4.166_579_6e-2, 1.666_666_5e-1, 5.000_000_1e-1], r);
    (madd::<_, FMA>(p, r * r, r), shifted.to_bits())
}

/// tanh for float32 without branches: Cephes' odd polynomial below |x| = 0.625 (where
/// 1 - 2 / (e^2x + 1) would lose digits to cancellation), that form above.
#[allow(clippy::excessive_precision)]
#[inline(always)]
pub fn tanh_f32<const FMA: bool>(x: f32) -> f32 {
    let a = x.abs();
    let z = x * x;
    let small = madd::<_, FMA>(poly_split::<FMA, 5>(&[-5.704_988_7e-3, 2.063_908_9e-2, -5.373_971_6e-2, 1.333_144_2e-1, -3.333_328_2e-1], z), z * x, x);
    let large = (1.0 - 2.0 / (exp_f32::<FMA>(2.0 * a) + 1.0)).copysign(x);
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
pub(crate) fn horner<const FMA: bool, const N: usize>(c: &[f32; N], x: f32) -> f32 {
    let mut acc = c[0];
    for &k in &c[1..] {
        acc = madd::<_, FMA>(acc, x, k);
    }
    acc
}

/// erf(a) for a >= 0 (or NaN), float32 without branches: a P(a^2) below 1; from 1 to 4
/// 1 - e^(-a^2) G(a), where G is smooth; beyond 4, G(4) 4 / a (G falls as 1 / a; erfc there
/// is below 2e-8, so this only decides that erf rounds to 1).
#[inline(always)]
fn erf_nonneg<const FMA: bool>(a: f32) -> f32 {
    let small = a * horner::<FMA, 7>(&ERF_SMALL, a * a);
    // Written so a NaN passes (f32::min would turn it into 4), and `tail` carries it.
    let b = if a > 4.0 { 4.0 } else { a };
    let tail = exp_f32::<FMA>(-a * a) * horner::<FMA, 12>(&ERFC_SCALED, (b - 2.5) * (1.0 / 1.5)) * (b / a);
    if a < 1.0 { small } else { 1.0 - tail }
}

/// erf for float32 without branches (see `erf_nonneg`); +-1 beyond 3.92, where erf rounds to 1.
#[inline(always)]
pub fn erf_f32<const FMA: bool>(x: f32) -> f32 {
    erf_nonneg::<FMA>(x.abs()).copysign(x)
}

/// A polynomial (highest power first) as two Horner chains, in x^2 for the even and the odd
/// powers: half the dependent steps of one chain, which is what bounds a loop of these.
#[inline(always)]
fn poly_split<const FMA: bool, const N: usize>(c: &[f32; N], x: f32) -> f32 {
    let x2 = x * x;
    let (mut even, mut odd) = (0.0f32, 0.0f32);
    for (i, &k) in c.iter().enumerate() {
        let even_power = (N - 1 - i).is_multiple_of(2);
        let chain = if even_power { &mut even } else { &mut odd };
        *chain = if i < 2 { k } else { madd::<_, FMA>(*chain, x2, k) };
    }
    madd::<_, FMA>(odd, x, even)
}

/// A degree-5 polynomial (highest power first) by Estrin's scheme: pairs c_i x + c_(i+1), then
/// pairs of those in x^2, then in x^4: three dependent steps where Horner takes five, for two
/// more multiplies. Which wins depends on the loop: in exp's (and sigmoid's and SiLU's) the
/// shorter chain is worth them (a long chain fills the core's floating-point scheduler before
/// its units); in GELU's, with two polynomials and a division per lane, the multiplies cost
/// more: Horner there took 1M float32 lanes from 0.57 to 0.51 ms at one thread (AVX-512; AVX2
/// no slower). Written out: a generic loop over the pairs kept LLVM from vectorising the loop
/// around it.
#[inline(always)]
fn estrin6<const FMA: bool>(c: &[f32; 6], x: f32) -> f32 {
    let x2 = x * x;
    let (p0, p1, p2) = (madd::<_, FMA>(c[4], x, c[5]), madd::<_, FMA>(c[2], x, c[3]), madd::<_, FMA>(c[0], x, c[1]));
    madd::<_, FMA>(p2, x2 * x2, madd::<_, FMA>(p1, x2, p0))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Distance in float32 ulps (at the reference's magnitude) between got and a float64 want.
    pub(crate) fn ulps(got: f32, want: f64) -> f64 {
        let w = want as f32;
        let ulp = (f32::from_bits(w.abs().to_bits() + 1) - w.abs()) as f64;
        (got as f64 - want).abs() / ulp.max(f32::from_bits(1) as f64)
    }

    /// Every 97th float32 bit pattern (both signs, subnormals to inf): a few tens of millions.
    pub(crate) fn sweep(mut f: impl FnMut(f32)) {
        for bits in (0..0x7f80_0000u32).step_by(97) {
            f(f32::from_bits(bits));
            f(-f32::from_bits(bits));
        }
    }

    #[test]
    fn exp_within_two_ulp() {
        exp_within_two_ulp_as::<false>();
        exp_within_two_ulp_as::<true>();
    }

    fn exp_within_two_ulp_as<const FMA: bool>() {
        let mut worst = 0f64;
        sweep(|x| {
            let want = (x as f64).exp();
            if want < 3.4e38 && want > 1.2e-38 {
                worst = worst.max(ulps(exp_f32::<FMA>(x), want));
            }
        });
        assert!(worst <= 2.0, "exp (FMA {FMA}): {worst} ulp");
        assert!(exp_f32::<FMA>(89.0) == f32::INFINITY && exp_f32::<FMA>(-88.0) == 0.0 && exp_f32::<FMA>(88.7) < f32::INFINITY && exp_f32::<FMA>(-87.3) > 0.0);
        assert!(exp_f32::<FMA>(f32::INFINITY) == f32::INFINITY && exp_f32::<FMA>(f32::NEG_INFINITY) == 0.0 && exp_f32::<FMA>(f32::NAN).is_nan());
    }

    #[test]
    fn tanh_and_sigmoid_within_three_ulp() {
        tanh_and_sigmoid_within_three_ulp_as::<false>();
        tanh_and_sigmoid_within_three_ulp_as::<true>();
    }

    fn tanh_and_sigmoid_within_three_ulp_as<const FMA: bool>() {
        let (mut t, mut s) = (0f64, 0f64);
        sweep(|x| {
            t = t.max(ulps(tanh_f32::<FMA>(x), (x as f64).tanh()));
            let want = 1.0 / (1.0 + (-(x as f64)).exp());
            if want > 1.2e-38 {
                s = s.max(ulps(x.sigmoid_as::<FMA>(), want));
            }
        });
        assert!(t <= 3.0, "tanh (FMA {FMA}): {t} ulp");
        assert!(s <= 3.0, "sigmoid (FMA {FMA}): {s} ulp");
        assert!(tanh_f32::<FMA>(0.0) == 0.0 && tanh_f32::<FMA>(100.0) == 1.0 && tanh_f32::<FMA>(-100.0) == -1.0 && tanh_f32::<FMA>(f32::NAN).is_nan());
        assert!((-200f32).sigmoid_as::<FMA>() == 0.0 && 200f32.sigmoid_as::<FMA>() == 1.0 && f32::NAN.sigmoid_as::<FMA>().is_nan());
        assert!(f32::NEG_INFINITY.sigmoid_as::<FMA>() == 0.0 && f32::INFINITY.sigmoid_as::<FMA>() == 1.0);
    }

    /// SiLU's own form (x e / (1 + e) below 0) against x / (1 + e^-x) in float64, wherever the
    /// result is a normal float above -87 (below it e^x is flushed to 0, as in the sigmoid, and
    /// so is the result); and its special values, which are those of x times the sigmoid.
    #[test]
    fn silu_within_three_and_a_tenth_ulp() {
        silu_within_bound_as::<false>();
        silu_within_bound_as::<true>();
    }

    fn silu_within_bound_as<const FMA: bool>() {
        let mut worst = (0f64, 0f32);
        sweep(|x| {
            let want = x as f64 / (1.0 + (-(x as f64)).exp());
            if x > -87.0 && want.abs() > 1.2e-38 && want.abs() < 3.4e38 {
                let e = ulps(x.silu_as::<FMA>(), want);
                if e > worst.0 {
                    worst = (e, x);
                }
            }
        });
        // 3.04 ulp at worst without FMA; x times the sigmoid, the form before, reached 3.37.
        assert!(worst.0 <= 3.1, "silu (FMA {FMA}): {} ulp at {}", worst.0, worst.1);
        for x in [0.0f32, -0.0, 1.0, -1.0, 20.0, -20.0, -200.0, 200.0, f32::INFINITY, f32::NEG_INFINITY, f32::NAN, 1e-30, -1e-30] {
            let (got, want) = (x.silu_as::<FMA>(), x * x.sigmoid_as::<FMA>());
            assert!(got.to_bits() == want.to_bits() || (got.is_nan() && want.is_nan()) || ulps(got, want as f64) <= 2.0, "silu({x}) = {got}, x sigmoid(x) = {want}");
        }
    }

    #[test]
    fn erf_within_three_ulp() {
        erf_within_three_ulp_as::<false>();
        erf_within_three_ulp_as::<true>();
    }

    fn erf_within_three_ulp_as<const FMA: bool>() {
        let mut worst = (0f64, 0f32);
        sweep(|x| {
            let e = ulps(erf_f32::<FMA>(x), libm::erf(x as f64));
            if e > worst.0 {
                worst = (e, x);
            }
        });
        assert!(worst.0 <= 3.0, "erf: {} ulp at {}", worst.0, worst.1);
        assert!(erf_f32::<FMA>(f32::INFINITY) == 1.0 && erf_f32::<FMA>(f32::NEG_INFINITY) == -1.0 && erf_f32::<FMA>(f32::NAN).is_nan());
        assert!(erf_f32::<FMA>(0.0) == 0.0 && erf_f32::<FMA>(-0.0).is_sign_negative());
        assert_eq!(erf_f32::<FMA>(1e-40), libm::erf(1e-40f32 as f64) as f32);
    }
}
