//! sin and cos. float32 reduces the argument by pi/2 in float64 and evaluates musl's float
//! kernels (__sindf, __cosdf: double polynomials on [-pi/4, pi/4], within an ulp of float) in a
//! loop that vectorises; libm's sinf was a call per element (4.6x PyTorch's time). The float64
//! reduction x - j pi/2, with pi/2 in a 33-bit head and a tail, is exact enough for |x| below
//! 2^19 pi/2; larger arguments (rare: f32 values there are 0.03 apart) are redone by libm in the
//! same chunk, so no argument gets an approximate reduction. float64 keeps libm.

use std::mem::MaybeUninit;

use crate::autograd::{record, Backward, Saved};
use crate::error::Result;
use crate::ops::binary::mul;
use crate::ops::kernel::{build_pointwise, map};
use crate::tensor::{DType, Float, Tensor};
use crate::with_float;

/// |x| up to which the float64 reduction is used (2^19 pi/2; j stays below 2^20, so j * PIO2_HI,
/// 53 - 20 = 33 bits, is exact).
const REDUCED_BELOW: f32 = 823_549.6;
const TWO_OVER_PI: f64 = std::f64::consts::FRAC_2_PI;
/// pi/2's first 33 bits, and the rest (musl's pio2_1 and pio2_1t).
/// The polynomials below are musl's __sindf and __cosdf coefficients.
const PIO2_HI: f64 = f64::from_bits(0x3FF9_21FB_5440_0000);
const PIO2_LO: f64 = f64::from_bits(0x3DD0_B461_1A62_6331);

const S: [f64; 4] = [-0.16666666641626524, 0.008333329385889463, -0.00019839334836096632, 2.718311493989822e-06];
const C: [f64; 4] = [-0.499999997251031, 0.04166662332373906, -0.001388676377460993, 2.439044879627741e-05];

#[inline(always)]
fn madd<const FMA: bool>(a: f64, b: f64, c: f64) -> f64 {
    if FMA { a.mul_add(b, c) } else { a * b + c }
}

/// (sin, cos) of a float32 with |x| < REDUCED_BELOW (NaN and +-inf give NaN).
#[inline(always)]
fn sincos_f32<const FMA: bool>(x: f32) -> (f32, f32) {
    let xd = x as f64;
    let j = (xd * TWO_OVER_PI).round_ties_even();
    let r = madd::<FMA>(-j, PIO2_LO, madd::<FMA>(-j, PIO2_HI, xd));
    let (sin, cos) = sincos_quadrant::<FMA>(r, j);
    // sin(-0) is -0 (the reduction gave +0).
    (if x == 0.0 { x } else { sin as f32 }, cos as f32)
}

/// (sin, cos) of r + j pi/2 for |r| <= pi/4 (a little beyond is fine) and an integer j (as a
/// float, |j| < 2^50), to float32 accuracy: musl's float kernels, evaluated in float64, and the
/// quadrant's swap and signs. The quadrant is taken in floats: Rust's saturating float-to-int
/// conversion was a scalar instruction and two selects per lane. randn's Box-Muller angle
/// reduces in turns and comes here too (`random::fill_normal_f32`).
#[inline(always)]
pub(crate) fn sincos_quadrant<const FMA: bool>(r: f64, j: f64) -> (f64, f64) {
    let z = r * r;
    let w = z * z;
    let s = madd::<FMA>(r * z * w, madd::<FMA>(z, S[3], S[2]), madd::<FMA>(r * z, madd::<FMA>(z, S[1], S[0]), r));
    let c = madd::<FMA>(w * z, madd::<FMA>(z, C[3], C[2]), madd::<FMA>(w, C[1], madd::<FMA>(z, C[0], 1.0)));
    // The quadrant q = j mod 4: sin, cos, -sin, -cos for sin; cos, -sin, -cos, sin for cos.
    let q = j - 4.0 * (0.25 * j).floor();
    let odd = q == 1.0 || q == 3.0;
    let (s0, c0) = (if odd { c } else { s }, if odd { s } else { c });
    let sin = if q >= 2.0 { -s0 } else { s0 };
    let cos = if q == 1.0 || q == 2.0 { -c0 } else { c0 };
    (sin, cos)
}

/// sin or cos of a float32 slice, in lanes; arguments past REDUCED_BELOW are redone by libm.
#[inline(always)]
#[allow(clippy::extra_unused_type_parameters)] // `multiversion!` gives every body an element type
fn slice_body<T: Float, const FMA: bool>(out: &mut [MaybeUninit<f32>], x: &[f32], cos: bool) {
    for (o, &v) in out.iter_mut().zip(x) {
        let (s, c) = sincos_f32::<FMA>(v);
        o.write(if cos { c } else { s });
    }
    if x.iter().fold(false, |big, &v| big | (v.abs() >= REDUCED_BELOW)) {
        for (o, &v) in out.iter_mut().zip(x) {
            if v.abs() >= REDUCED_BELOW {
                o.write(if cos { v.cos() } else { v.sin() });
            }
        }
    }
}

crate::multiversion!(slice_body, slice_avx2, slice, Float, (out: &mut [MaybeUninit<f32>], x: &[f32], cos: bool) -> ());

fn values(t: &Tensor, cos: bool) -> Result<Tensor> {
    if t.dtype() == DType::F32 {
        return Ok(t.with_view::<f32, _>(|v| {
            let src = v.contiguous();
            let out = build_pointwise(src.len(), |start, o| slice::<f32>(o, &src[start..start + o.len()], cos));
            Tensor::from_vec_unchecked(out, t.shape())
        }));
    }
    Ok(with_float!(t.dtype(), if cos { "cos" } else { "sin" }, T => map(t, move |x: T| if cos { x.cos() } else { x.sin() })))
}

/// `sin(x)`; its gradient is g cos(x).
pub fn sin(t: &Tensor) -> Result<Tensor> {
    trig(t, false)
}

/// `cos(x)`; its gradient is -g sin(x).
pub fn cos(t: &Tensor) -> Result<Tensor> {
    trig(t, true)
}

fn trig(t: &Tensor, cos: bool) -> Result<Tensor> {
    if t.dtype().is_half() {
        return crate::ops::half::unary(t, |t| trig(t, cos));
    }
    let t = &crate::ops::unary::float_input(t)?;
    let out = values(t, cos)?;
    record(out, &[t], || Ok(Box::new(TrigBackward { x: Saved::new(t)?, cos })))
}

struct TrigBackward {
    x: Saved,
    cos: bool,
}
impl Backward for TrigBackward {
    fn name(&self) -> &'static str {
        if self.cos { "CosBackward0" } else { "SinBackward0" }
    }
    /// The forward's name, as the `unary_op!` rows give theirs (the ONNX export maps it).
    fn attrs(&self) -> crate::autograd::trace::Attrs {
        crate::attrs![("op", if self.cos { "cos" } else { "sin" })]
    }
    fn apply(&self, g: &Tensor, _needs: &[bool]) -> Result<Vec<Option<Tensor>>> {
        // Recorded ops when a second derivative is asked for (sin and cos record themselves).
        let x = &self.x.get()?;
        let d = if self.cos { crate::ops::unary::neg(&mul(g, &sin(x)?)?)? } else { mul(g, &cos(x)?)? };
        Ok(vec![Some(d)])
    }
    fn differentiable(&self) -> bool {
        true
    }
}
