//! pow: tensor ** tensor and tensor ** number with numpy broadcasting, PyTorch's integer power
//! (wrapping; a negative exponent gives 0, 1 or -1), and its backward with PyTorch's zero
//! conventions, fused and as recorded ops (create_graph).

#[allow(unused_imports)]
use num_traits::{Float as _, One as _, Zero as _};
use crate::autograd::{record, Backward, Saved};
use crate::bail;
use crate::error::Result;
use crate::ops::binary::{promoted, result_type, where_};
use crate::ops::half;
use crate::ops::kernel::zip;
use crate::ops::reduce::sum_to;
use crate::tensor::{DType, Element, Scalar, Tensor};
use crate::{with_float, with_integer};

pub fn pow(a: &Tensor, b: &Tensor) -> Result<Tensor> {
    pow_with(a, b, b.is_wrapped_number())
}

/// `shortcuts`: PyTorch's special exponents (below) for a Python-number exponent, the one case
/// its pow_tensor_scalar kernel takes them, and not for float16, which it sends to std::pow; a
/// tensor exponent goes through powf too (-inf ** 0.5 is inf there).
fn pow_with(a: &Tensor, b: &Tensor, shortcuts: bool) -> Result<Tensor> {
    let dtype = result_type(a, b);
    if dtype == DType::Bool {
        bail!(NotImplemented, "pow: \"pow\" not implemented for 'Bool' (shapes {:?} and {:?})", a.shape(), b.shape());
    }
    if dtype.is_half() {
        let shortcuts = shortcuts && dtype == DType::BF16;
        return half::binary(a, b, dtype, |a, b| pow_with(a, b, shortcuts));
    }
    if dtype.is_integer() {
        let (x, y) = promoted(a, b, dtype)?;
        // Wrapping in int64 then narrowing is wrapping in the narrow type.
        return with_integer!(dtype, "pow", T => zip::<T, T>(&x, &y, "pow", |p: T, q: T| T::from_i64(int_pow(p.to_i64(), q.to_i64()))));
    }
    let (x, y) = promoted(a, b, dtype)?;
    // PyTorch's special exponents (its pow_tensor_scalar kernel): `x ** 2` as a multiply, 0.5
    // as a square root, and so on. The same values as powf but for PyTorch's own edge cases
    // (-inf ** 0.5 is NaN, -0 ** 0.5 is -0), and loops that vectorise where powf is a libm
    // call per element (x ** 0.5 took 3.8x PyTorch's time).
    let special = if shortcuts && y.numel() == 1 { Some(y.item_f64()?) } else { None };
    let out = with_float!(dtype, "pow", T => {
        let one = T::one();
        match special {
            Some(2.0) => zip::<T, T>(&x, &y, "pow", |p: T, _| p * p)?,
            Some(3.0) => zip::<T, T>(&x, &y, "pow", |p: T, _| p * p * p)?,
            Some(0.5) => zip::<T, T>(&x, &y, "pow", |p: T, _| p.sqrt())?,
            Some(-0.5) => zip::<T, T>(&x, &y, "pow", move |p: T, _| one / p.sqrt())?,
            Some(-1.0) => zip::<T, T>(&x, &y, "pow", move |p: T, _| one / p)?,
            Some(-2.0) => zip::<T, T>(&x, &y, "pow", move |p: T, _| one / (p * p))?,
            _ => zip::<T, T>(&x, &y, "pow", |p: T, q: T| p.powf(q))?,
        }
    });
    let out_saved = out.clone();
    record(out, &[a, b], || {
        Ok(Box::new(PowBackward {
            a: Saved::new(&x)?,
            b: Saved::new(&y)?,
            shortcut_exponent: if shortcuts && y.numel() == 1 { Some(y.item_f64()?) } else { None },
            out: if b.requires_grad() { Some(Saved::output(&out_saved)?) } else { None },
            sa: a.shape().to_vec(),
            sb: b.shape().to_vec(),
        }))
    })
}

/// `tensor ** number` (and `Tensor.pow(number)`): an integer tensor to a negative Python int is an
/// error in PyTorch (a tensor exponent is not: `int_pow` gives 0, 1 or -1 there).
pub fn pow_scalar(a: &Tensor, exponent: Scalar) -> Result<Tensor> {
    if !a.dtype().is_float() && matches!(exponent, Scalar::Int(e) if e < 0) {
        bail!(Runtime, "Integers to negative integer powers are not allowed. (pow: {} tensor of shape {:?})", a.dtype().short_name(), a.shape());
    }
    pow(a, &Tensor::wrapped_scalar(exponent))
}

/// Integer power as PyTorch's powi: wrapping square-and-multiply; a negative exponent gives 1
/// for base 1, +-1 for base -1 and 0 otherwise (the integer part of 1 / base^-e).
fn int_pow(base: i64, exp: i64) -> i64 {
    if exp < 0 {
        return match base {
            1 => 1,
            -1 => if exp % 2 == 0 { 1 } else { -1 },
            _ => 0,
        };
    }
    let (mut result, mut base, mut exp) = (1i64, base, exp);
    while exp > 0 {
        if exp & 1 == 1 {
            result = result.wrapping_mul(base);
        }
        base = base.wrapping_mul(base);
        exp >>= 1;
    }
    result
}

/// PyTorch names tensor ** scalar PowBackward0 and tensor ** tensor PowBackward1.
struct PowBackward {
    a: Saved,
    b: Saved,
    /// A Python-number exponent whose forward took the shortcuts: the backward's a^(b - 1) takes
    /// them too, as PyTorch's pow_backward calls pow with a Scalar (x ** 0.5's gradient at -0
    /// is -inf there, through rsqrt).
    shortcut_exponent: Option<f64>,
    out: Option<Saved>,
    sa: Vec<usize>,
    sb: Vec<usize>,
}
impl Backward for PowBackward {
    fn name(&self) -> &'static str {
        if self.out.is_none() && self.sb.is_empty() { "PowBackward0" } else { "PowBackward1" }
    }
    fn apply(&self, g: &Tensor, needs: &[bool]) -> Result<Vec<Option<Tensor>>> {
        let (a, b) = (&self.a.get()?, &self.b.get()?);
        if crate::autograd::is_recording() {
            return self.apply_recorded(g, a, b, needs);
        }
        let ga = if needs[0] {
            // g * b * a^(b-1), with PyTorch's convention that the gradient is 0 where b == 0.
            let d = with_float!(a.dtype(), "pow backward", T => {
                let ab = if b.numel() == 1 && b.item_f64()? == 2.0 {
                    zip::<T, T>(a, b, "pow", |x: T, _| x + x)?
                } else if let Some(e) = self.shortcut_exponent.filter(|&e| e != 0.0) {
                    let p = pow_scalar(a, Scalar::Float(e - 1.0))?;
                    let e = T::from_f64(e);
                    crate::ops::kernel::map::<T, T>(&p, move |v: T| e * v)
                } else {
                    zip::<T, T>(a, b, "pow", |x: T, e: T| if e == T::zero() { T::zero() } else { e * x.powf(e - T::one()) })?
                };
                zip::<T, T>(g, &ab, "pow", |gv: T, v: T| gv * v)?
            });
            Some(sum_to(&d, &self.sa)?)
        } else {
            None
        };
        let gb = match (&self.out, needs[1]) {
            (Some(out), true) => {
                // g * out * ln(a), except 0 where a == 0 and b >= 0 (PyTorch's rule: the limit
                // from the right, also for 0 ** 0 = 1 where out * ln(a) would be -inf).
                let d = with_float!(a.dtype(), "pow backward", T => {
                    let lo = zip::<T, T>(&out.get()?, a, "pow", |o: T, x: T| o * x.ln())?;
                    let zero_base = zip::<T, bool>(a, b, "pow", |x: T, e: T| x == T::zero() && e >= T::zero())?;
                    let d = zip::<T, T>(g, &lo, "pow", |gv: T, v: T| gv * v)?;
                    where_(&zero_base, &Tensor::full(&[], 0.0, a.dtype()), &d)?
                });
                Some(sum_to(&d, &self.sb)?)
            }
            _ => None,
        };
        Ok(vec![ga, gb])
    }
    fn differentiable(&self) -> bool {
        true
    }
}

impl PowBackward {
    /// The same rule as recorded ops (create_graph), with the same zero conventions.
    fn apply_recorded(&self, g: &Tensor, a: &Tensor, b: &Tensor, needs: &[bool]) -> Result<Vec<Option<Tensor>>> {
        use crate::ops::expr::{ex, Ex};
        let ga = if needs[0] {
            let power = match self.shortcut_exponent {
                Some(e) => ex(a).powf(e - 1.0),
                None => ex(a).pow(ex(b) - 1.0),
            };
            let d = ex(g) * ex(b) * power;
            Some(sum_to(&Ex::select(ex(b).eq(0.0), Ex::c(0.0), d).done()?, &self.sa)?)
        } else {
            None
        };
        let gb = match (&self.out, needs[1]) {
            (Some(out), true) => {
                let zero_base = with_float!(a.dtype(), "pow backward", T => zip::<T, bool>(a, b, "pow", |x: T, e: T| x == T::zero() && e >= T::zero())?);
                let d = ex(g) * ex(&out.get()?) * ex(a).ln();
                Some(sum_to(&Ex::select(ex(&zero_base), Ex::c(0.0), d).done()?, &self.sb)?)
            }
            _ => None,
        };
        Ok(vec![ga, gb])
    }
}
