//! Binary elementwise math beyond arithmetic: atan2, hypot, fmod, copysign, logaddexp(2), xlogy,
//! fmax and fmin, with numpy broadcasting. Each row is the forward and the two partial
//! derivatives, side by side; the gradient of each input is `g * d(x, y)` summed back to its
//! shape.

#[allow(unused_imports)]
use num_traits::{Float as _, One as _, Zero as _};

use crate::autograd::{record, Backward, Saved};
use crate::bail;
use crate::error::Result;
use crate::ops::binary::{self, promoted, result_type};
use crate::ops::cast::to_dtype;
use crate::ops::kernel::{zip, zip_with, Apply2, Closure};
use crate::ops::expr::{ex, Ex};
use crate::ops::reduce::sum_to;
use crate::ops::unary::c;
use crate::tensor::{DType, Element, Tensor};
use crate::vmath::VMath;
use crate::{with_dtype, with_float};

const LN_2: f64 = std::f64::consts::LN_2;

/// The dtype a float op computes in: the promoted one, float32 for integer or bool operands.
fn float_dtype(a: &Tensor, b: &Tensor) -> DType {
    let d = result_type(a, b);
    if d.is_float() { d } else { DType::F32 }
}

/// `g * d(x, y)` summed to `shape`: one input's gradient.
fn partial(g: &Tensor, x: &Tensor, y: &Tensor, shape: &[usize], op: &str, d: fn(f64, f64) -> f64) -> Result<Tensor> {
    let factor = with_float!(g.dtype(), op, T => zip::<T, T>(x, y, op, move |p: T, q: T| T::from_f64(d(p.to_f64(), q.to_f64())))?);
    sum_to(&binary::mul(g, &factor)?, shape)
}

/// One float binary op: forward, and the partial derivatives by x and y (in float64, rounded
/// to the element type).
macro_rules! binary_float_op {
    ($name:ident, $Back:ident, $gname:literal, |$x:ident, $y:ident| $fwd:expr, dx: |$dx1:ident, $dx2:ident| $dx:expr, dy: |$dy1:ident, $dy2:ident| $dy:expr) => {
        binary_float_op!(@op $name, $Back, $gname, Closure(|$x: T, $y: T| $fwd), dx: |$dx1, $dx2| $dx, dy: |$dy1, $dy2| $dy,
            differentiable: false, graph: |_x, _y| (Ex::c(0.0), Ex::c(0.0)));
    };
    ($name:ident, $Back:ident, $gname:literal, |$x:ident, $y:ident| $fwd:expr, dx: |$dx1:ident, $dx2:ident| $dx:expr, dy: |$dy1:ident, $dy2:ident| $dy:expr,
     graph: |$gx:ident, $gy:ident| $graph:expr) => {
        binary_float_op!(@op $name, $Back, $gname, Closure(|$x: T, $y: T| $fwd), dx: |$dx1, $dx2| $dx, dy: |$dy1, $dy2| $dy,
            differentiable: true, graph: |$gx, $gy| $graph);
    };
    // The forward as an `Apply2` kernel of its own (one with a vectorised form in the FMA copies).
    ($name:ident, $Back:ident, $gname:literal, kernel: $kernel:expr, dx: |$dx1:ident, $dx2:ident| $dx:expr, dy: |$dy1:ident, $dy2:ident| $dy:expr,
     graph: |$gx:ident, $gy:ident| $graph:expr) => {
        binary_float_op!(@op $name, $Back, $gname, $kernel, dx: |$dx1, $dx2| $dx, dy: |$dy1, $dy2| $dy,
            differentiable: true, graph: |$gx, $gy| $graph);
    };
    (@op $name:ident, $Back:ident, $gname:literal, $kernel:expr, dx: |$dx1:ident, $dx2:ident| $dx:expr, dy: |$dy1:ident, $dy2:ident| $dy:expr,
     differentiable: $diff:literal, graph: |$gx:ident, $gy:ident| $graph:expr) => {
        pub fn $name(a: &Tensor, b: &Tensor) -> Result<Tensor> {
            if let Some(half) = crate::ops::half::result(a, b) {
                return crate::ops::half::binary_number_rounded(a, b, half, $name);
            }
            let dtype = float_dtype(a, b);
            let (x, y) = promoted(a, b, dtype)?;
            let out = with_float!(dtype, stringify!($name), T => zip_with::<T, T>(&x, &y, stringify!($name), &$kernel)?);
            record(out, &[a, b], || Ok(Box::new($Back { x: Saved::new(&x)?, y: Saved::new(&y)?, sa: a.shape().to_vec(), sb: b.shape().to_vec() })))
        }
        struct $Back {
            x: Saved,
            y: Saved,
            sa: Vec<usize>,
            sb: Vec<usize>,
        }
        impl Backward for $Back {
            fn name(&self) -> &'static str {
                $gname
            }
            fn apply(&self, g: &Tensor, needs: &[bool]) -> Result<Vec<Option<Tensor>>> {
                let (x, y) = (&self.x.get()?, &self.y.get()?);
                if $diff && crate::autograd::is_recording() {
                    // The partial derivatives as recorded ops (create_graph).
                    let ($gx, $gy) = (ex(x), ex(y));
                    let (dx, dy): (Ex, Ex) = $graph;
                    let gx = if needs[0] { Some(sum_to(&(ex(g) * dx).done()?, &self.sa)?) } else { None };
                    let gy = if needs[1] { Some(sum_to(&(ex(g) * dy).done()?, &self.sb)?) } else { None };
                    return Ok(vec![gx, gy]);
                }
                let gx = if needs[0] { Some(partial(g, x, y, &self.sa, $gname, |$dx1, $dx2| $dx)?) } else { None };
                let gy = if needs[1] { Some(partial(g, x, y, &self.sb, $gname, |$dy1, $dy2| $dy)?) } else { None };
                Ok(vec![gx, gy])
            }
            fn differentiable(&self) -> bool {
                $diff
            }
        }
    };
}

/// atan2's forward: float32 through `vmath_atan`'s branch-free form, which vectorises (glibc's
/// atan2f per element took 16x PyTorch's time); float64 through libm.
struct Atan2;

impl<T: VMath> Apply2<T, T> for Atan2 {
    #[inline(always)]
    fn apply(&self, y: T, x: T) -> T {
        y.atan2_as::<false>(x)
    }
    #[inline(always)]
    fn apply_fused(&self, y: T, x: T) -> T {
        y.atan2_as::<true>(x)
    }
}

binary_float_op!(atan2, Atan2Backward, "Atan2Backward0", kernel: Atan2,
    // At the origin the gradient is 0, as PyTorch's (not 0/0). The partials are taken in float64,
    // so a float32 square does not underflow: atan2(1e-30, 0) has dy = -1e30 (PyTorch's float32
    // formula divides by an underflowed 0 there).
    dx: |x, y| { let r = x * x + y * y; if r == 0.0 { 0.0 } else { y / r } },
    dy: |x, y| { let r = x * x + y * y; if r == 0.0 { 0.0 } else { -x / r } },
    graph: |x, y| {
        let r = x.clone() * x.clone() + y.clone() * y.clone();
        let origin = r.clone().eq(0.0);
        (Ex::select(origin.clone(), Ex::c(0.0), y / r.clone()), Ex::select(origin, Ex::c(0.0), -x / r))
    });
binary_float_op!(logaddexp_float, LogaddexpBackward, "LogaddexpBackward0",
    // log(e^x + e^y) = max + log1p(e^-|x-y|); equal infinities give that infinity, not NaN.
    |x, y| if x == y && x.is_infinite() { x } else { let m = x.max(y); m + (-(x - y).abs()).exp().ln_1p() },
    dx: |x, y| 1.0 / (1.0 + (y - x).exp()),
    dy: |x, y| 1.0 / (1.0 + (x - y).exp()),
    graph: |x, y| ((x.clone() - y.clone()).sigmoid(), (y - x).sigmoid()));
binary_float_op!(logaddexp2_float, Logaddexp2Backward, "Logaddexp2Backward0",
    |x, y| if x == y && x.is_infinite() { x } else { let m = x.max(y); m + (-(x - y).abs()).exp2().ln_1p() / c::<T>(LN_2) },
    dx: |x, y| 1.0 / (1.0 + (y - x).exp2()),
    dy: |x, y| 1.0 / (1.0 + (x - y).exp2()),
    graph: |x, y| (((x.clone() - y.clone()) * LN_2).sigmoid(), ((y - x) * LN_2).sigmoid()));
binary_float_op!(xlogy, XlogyBackward, "XlogyBackward0",
    // 0 where x is 0 (also for y = 0), unless y is NaN.
    |x, y| if x == T::zero() && !y.is_nan() { T::zero() } else { x * y.ln() },
    // log(y), also at x = 0; 0 where x is 0 and y <= 0 (PyTorch's values there).
    dx: |x, y| if x == 0.0 && y <= 0.0 { 0.0 } else { y.ln() },
    dy: |x, y| x / y,
    graph: |x, y| (Ex::select(x.clone().eq(0.0) * y.clone().le(0.0), Ex::c(0.0), y.clone().ln()), x / y));
binary_float_op!(copysign_float, CopysignBackward, "CopysignBackward0", |x, y| x.copysign(y),
    // d/dx copysign(x, y) = copysign(x, y) / x (a NaN y counts by its sign bit), 0 at x = 0
    // (PyTorch's); no gradient for y.
    dx: |x, y| if x == 0.0 { 0.0 } else { x.copysign(y) / x },
    dy: |_x, _y| 0.0,
    // +-1, whose own derivative is 0 (s x - s x, exactly): the graph carries no false slope.
    graph: |x, y| (Ex::select(x.clone().eq(0.0), Ex::c(0.0), x.clone().copysign(y) / x), Ex::c(0.0)));

/// PyTorch has no integer kernel for these: an integer or bool result type is refused.
fn float_only(a: &Tensor, b: &Tensor, op: &str) -> Result<()> {
    let d = result_type(a, b);
    if !d.is_float() {
        bail!(NotImplemented, "{op}: not implemented for '{}' (shapes {:?} and {:?}); it takes float tensors", d.torch_name(), a.shape(), b.shape());
    }
    Ok(())
}

/// hypot(x, y) = sqrt(x^2 + y^2).
pub fn hypot(a: &Tensor, b: &Tensor) -> Result<Tensor> {
    float_only(a, b, "hypot")?;
    hypot_float(a, b)
}
/// logaddexp(x, y) = log(e^x + e^y), without overflow.
pub fn logaddexp(a: &Tensor, b: &Tensor) -> Result<Tensor> {
    float_only(a, b, "logaddexp")?;
    logaddexp_float(a, b)
}
/// logaddexp2(x, y) = log2(2^x + 2^y), without overflow.
pub fn logaddexp2(a: &Tensor, b: &Tensor) -> Result<Tensor> {
    float_only(a, b, "logaddexp2")?;
    logaddexp2_float(a, b)
}
binary_float_op!(hypot_float, HypotBackward, "HypotBackward0", |x, y| x.hypot(y),
    dx: |x, y| x / x.hypot(y),
    dy: |x, y| y / x.hypot(y),
    graph: |x, y| { let r = x.clone().hypot(y.clone()); (x / r.clone(), y / r) });

/// copysign: |a| with b's sign; the result is float (float32 for integer operands).
pub fn copysign(a: &Tensor, b: &Tensor) -> Result<Tensor> {
    copysign_float(a, b)
}

/// fmod: C's remainder, with the sign of the dividend (`remainder` takes the divisor's). Keeps
/// integer dtypes, where a zero divisor is an error; float gradients (g, -g * trunc(x / y)).
pub fn fmod(a: &Tensor, b: &Tensor) -> Result<Tensor> {
    let dtype = result_type(a, b);
    if dtype == DType::Bool {
        bail!(NotImplemented, "fmod: not implemented for 'Bool' (shapes {:?} and {:?})", a.shape(), b.shape());
    }
    if dtype.is_float() {
        return fmod_float(a, b);
    }
    let (x, y) = promoted(a, b, DType::I64)?;
    if crate::ops::binary::divides_by_zero(&x, &y) {
        bail!(Runtime, "ZeroDivisionError (fmod: an integer divisor is 0; shapes {:?} and {:?})", a.shape(), b.shape());
    }
    // wrapping: i64::MIN % -1 is 0, not an overflow panic.
    let rem = zip::<i64, i64>(&x, &y, "fmod", |p, q| p.wrapping_rem(q))?;
    // Back to the operands' dtype (int32 stays int32, as PyTorch's): a remainder is smaller than
    // the divisor, so it fits.
    if dtype == DType::I64 { Ok(rem) } else { to_dtype(&rem, dtype) }
}

/// fmod of floats, in the tensors' dtype; its gradients are g and -g * trunc(x / y) with the
/// quotient rounded in that dtype too, as PyTorch's (1 / 0.05 is 20 in float32, where the
/// float64 quotient the other ops' partials take truncates to 19).
fn fmod_float(a: &Tensor, b: &Tensor) -> Result<Tensor> {
    if let Some(half) = crate::ops::half::result(a, b) {
        return crate::ops::half::binary_number_rounded(a, b, half, fmod_float);
    }
    let dtype = float_dtype(a, b);
    let (x, y) = promoted(a, b, dtype)?;
    let out = with_float!(dtype, "fmod", T => zip::<T, T>(&x, &y, "fmod", |p: T, q: T| p % q)?);
    record(out, &[a, b], || Ok(Box::new(FmodBackward { x: Saved::new(&x)?, y: Saved::new(&y)?, sa: a.shape().to_vec(), sb: b.shape().to_vec() })))
}

struct FmodBackward {
    x: Saved,
    y: Saved,
    sa: Vec<usize>,
    sb: Vec<usize>,
}
impl Backward for FmodBackward {
    fn name(&self) -> &'static str {
        "FmodBackward0"
    }
    fn apply(&self, g: &Tensor, needs: &[bool]) -> Result<Vec<Option<Tensor>>> {
        let gx = if needs[0] { Some(sum_to(g, &self.sa)?) } else { None };
        let gy = if needs[1] {
            let quotient = crate::ops::math::trunc(&binary::div(&self.x.get()?, &self.y.get()?)?)?;
            Some(sum_to(&binary::mul(g, &crate::ops::unary::neg(&quotient)?)?, &self.sb)?)
        } else {
            None
        };
        Ok(vec![gx, gy])
    }
    fn differentiable(&self) -> bool {
        true
    }
}

/// fmax / fmin: the larger (smaller) value, ignoring a NaN on one side (maximum propagates it).
/// The gradient goes to the winner; a tie splits it in half, as PyTorch's.
pub fn fmax(a: &Tensor, b: &Tensor) -> Result<Tensor> {
    fextremum(a, b, true)
}
pub fn fmin(a: &Tensor, b: &Tensor) -> Result<Tensor> {
    fextremum(a, b, false)
}

fn fextremum(a: &Tensor, b: &Tensor, is_max: bool) -> Result<Tensor> {
    let dtype = result_type(a, b);
    let (x, y) = promoted(a, b, dtype)?;
    let op = if is_max { "fmax" } else { "fmin" };
    let out = with_dtype!(dtype, T => zip::<T, T>(&x, &y, op, move |p: T, q: T| if x_wins(p, q, is_max) { p } else { q })?);
    if !dtype.is_float() {
        return Ok(out);
    }
    record(out, &[a, b], || Ok(Box::new(FextremumBackward { x: Saved::new(&x)?, y: Saved::new(&y)?, is_max, sa: a.shape().to_vec(), sb: b.shape().to_vec() })))
}

/// Whether fmax (fmin) takes x: x is at least (at most) y, or y is NaN.
#[inline(always)]
fn x_wins<T: Element>(p: T, q: T, is_max: bool) -> bool {
    let q_nan = q.partial_cmp(&q).is_none();
    q_nan || if is_max { p >= q } else { p <= q }
}

/// x's share of the gradient: 1 where it wins outright, 1/2 on a tie, 0 where y wins.
fn x_share(p: f64, q: f64, is_max: bool) -> f64 {
    if p == q {
        0.5
    } else if x_wins(p, q, is_max) {
        1.0
    } else {
        0.0
    }
}

struct FextremumBackward {
    x: Saved,
    y: Saved,
    is_max: bool,
    sa: Vec<usize>,
    sb: Vec<usize>,
}
impl Backward for FextremumBackward {
    fn name(&self) -> &'static str {
        if self.is_max { "FmaxBackward0" } else { "FminBackward0" }
    }
    fn apply(&self, g: &Tensor, needs: &[bool]) -> Result<Vec<Option<Tensor>>> {
        let (x, y) = (&self.x.get()?, &self.y.get()?);
        // The shares are piecewise constant: a recorded backward multiplies g by constants.
        let share: fn(f64, f64) -> f64 = if self.is_max { |p, q| x_share(p, q, true) } else { |p, q| x_share(p, q, false) };
        let other: fn(f64, f64) -> f64 = if self.is_max { |p, q| 1.0 - x_share(p, q, true) } else { |p, q| 1.0 - x_share(p, q, false) };
        let gx = if needs[0] { Some(partial(g, x, y, &self.sa, "fmax", share)?) } else { None };
        let gy = if needs[1] { Some(partial(g, x, y, &self.sb, "fmax", other)?) } else { None };
        Ok(vec![gx, gy])
    }
    fn differentiable(&self) -> bool {
        true
    }
}

/// `div(a, b, rounding_mode=)`: "trunc" rounds the quotient toward zero, "floor" down (as
/// floor_divide), each in the promoted dtype (integers stay integers); the gradient is zero for
/// both inputs, as PyTorch's DivBackward2.
pub fn div_rounded(a: &Tensor, b: &Tensor, floor: bool) -> Result<Tensor> {
    // Not `detach()`: that loses a Python number's wrapped-number mark, and `int_tensor / 0.5`
    // rounded came out float64 instead of the default float32.
    let out = {
        let _off = crate::autograd::GradModeGuard::new(false);
        if floor {
            binary::floor_divide(a, b)?
        } else if result_type(a, b).is_float() {
            crate::ops::math::trunc(&binary::div(a, b)?)?
        } else {
            // An exact integer quotient: a - fmod(a, b) is a multiple of b (fmod refuses b = 0),
            // in the operands' dtype.
            binary::floor_divide(&binary::sub(a, &fmod(a, b)?)?, b)?
        }
    };
    record(out, &[a, b], || Ok(Box::new(RoundedDivBackward { sa: a.shape().to_vec(), sb: b.shape().to_vec() })))
}

struct RoundedDivBackward {
    sa: Vec<usize>,
    sb: Vec<usize>,
}
impl Backward for RoundedDivBackward {
    fn name(&self) -> &'static str {
        "DivBackward2"
    }
    fn saves_tensors(&self) -> bool {
        false
    }
    fn apply(&self, g: &Tensor, _needs: &[bool]) -> Result<Vec<Option<Tensor>>> {
        Ok(vec![Some(Tensor::zeros(&self.sa, g.dtype())), Some(Tensor::zeros(&self.sb, g.dtype()))])
    }
    fn differentiable(&self) -> bool {
        true
    }
}
