//! Binary elementwise ops with numpy broadcasting: arithmetic (differentiable), comparisons and
//! logical ops (no gradient). Python scalars arrive as 0-d tensors (see `result_type`).

#[allow(unused_imports)]
use num_traits::{Float as _, One as _, Zero as _};
use crate::autograd::{record, Backward, Saved};
use crate::bail;
use crate::error::Result;
use crate::ops::kernel::zip;
use crate::ops::reduce::sum_to;
use crate::ops::{cast::to_dtype, unary};
use crate::tensor::{DType, Element, Float, Numeric, Scalar, Tensor};
use crate::ops::half;
use crate::{with_dtype, with_float, with_integer, with_numeric};

/// pow lives in ops::pow; `binary::pow` stays a path for its callers.
pub use crate::ops::pow::{pow, pow_scalar};

/// Type promotion lives in ops::promotion; `binary::result_type` and `binary::promoted` stay
/// paths for their callers.
pub(crate) use crate::ops::promotion::promoted;
pub use crate::ops::promotion::result_type;

/// One arithmetic kernel: `$e` on the numeric dtypes and `$b` on bool (PyTorch computes bool
/// `+` and `*` in bool: `True + True` is `True`, i.e. or; `*` is and).
macro_rules! arith {
    ($name:ident, $opname:literal, |$x:ident, $y:ident| $e:expr, bool: |$bx:ident, $by:ident| $b:expr) => {
        fn $name(a: &Tensor, b: &Tensor, dtype: DType) -> Result<Tensor> {
            let (a, b) = promoted(a, b, dtype)?;
            if dtype == DType::Bool {
                return zip::<bool, bool>(&a, &b, $opname, |$bx: bool, $by: bool| $b);
            }
            Ok(with_numeric!(dtype, $opname, T => zip::<T, T>(&a, &b, $opname, |$x: T, $y: T| $e)?))
        }
    };
}
arith!(add_kernel, "add", |x, y| x.wrapping_add(y), bool: |x, y| x || y);
arith!(sub_kernel, "sub", |x, y| x.wrapping_sub(y), bool: |x, y| x != y);
arith!(mul_kernel, "mul", |x, y| x.wrapping_mul(y), bool: |x, y| x && y);
// `x.partial_cmp(&x).is_none()` is "x is NaN" for any element type: NaN propagates (PyTorch).
arith!(maximum_kernel, "maximum", |x, y| if x >= y || x.partial_cmp(&x).is_none() { x } else { y }, bool: |x, y| x || y);
arith!(minimum_kernel, "minimum", |x, y| if x <= y || x.partial_cmp(&x).is_none() { x } else { y }, bool: |x, y| x && y);

/// Subtraction refuses bool operands, with PyTorch's messages (a Python `True` arrives as a bool
/// 0-d tensor, so `x - True` is refused too, as in PyTorch).
pub fn check_sub(a: &Tensor, b: &Tensor) -> Result<()> {
    match (a.dtype() == DType::Bool, b.dtype() == DType::Bool) {
        (true, true) => bail!(NotImplemented, "Subtraction, the `-` operator, with two bool tensors is not supported. Use the `^` or `logical_xor()` operator instead. (sub: shapes {:?} and {:?})", a.shape(), b.shape()),
        (true, false) | (false, true) => bail!(NotImplemented, "Subtraction, the `-` operator, with a bool tensor is not supported. If you are trying to invert a mask, use the `~` or `logical_not()` operator instead. (sub: shapes {:?} and {:?})", a.shape(), b.shape()),
        _ => Ok(()),
    }
}

/// Float ops (div, pow with a float side) compute in float32 when both inputs are integers.
fn float_dtype(a: &Tensor, b: &Tensor) -> DType {
    let d = result_type(a, b);
    if d.is_float() { d } else { DType::F32 }
}

pub fn add(a: &Tensor, b: &Tensor) -> Result<Tensor> {
    if let Some(d) = half::result(a, b) {
        return half::binary(a, b, d, add);
    }
    let out = add_kernel(a, b, result_type(a, b))?;
    record(out, &[a, b], || Ok(Box::new(AddBackward { sub: false, a: a.shape().to_vec(), b: b.shape().to_vec() })))
}

pub fn sub(a: &Tensor, b: &Tensor) -> Result<Tensor> {
    check_sub(a, b)?;
    if let Some(d) = half::result(a, b) {
        return half::binary(a, b, d, sub);
    }
    let out = sub_kernel(a, b, result_type(a, b))?;
    record(out, &[a, b], || Ok(Box::new(AddBackward { sub: true, a: a.shape().to_vec(), b: b.shape().to_vec() })))
}

/// `b * alpha`, the second operand of `add(b, alpha=)` / `sub(b, alpha=)`, with PyTorch's
/// checks: a float alpha needs a float result, a bool alpha a bool one. alpha 1 is `b` itself.
pub fn alpha_scaled(a: &Tensor, b: &Tensor, alpha: Scalar, op: &str) -> Result<Tensor> {
    let dtype = result_type(a, b);
    if alpha.is_float() && !dtype.is_float() {
        bail!(Runtime, "For integral input tensors, argument alpha must not be a floating point number. ({op}: {} and {} tensors)", a.dtype().short_name(), b.dtype().short_name());
    }
    if matches!(alpha, Scalar::Bool(_)) && dtype != DType::Bool {
        bail!(Runtime, "Boolean alpha only supported for Boolean results. ({op}: {} and {} tensors)", a.dtype().short_name(), b.dtype().short_name());
    }
    if alpha.as_f64() == 1.0 {
        return Ok(b.clone());
    }
    // Half results take alpha as PyTorch does, unrounded into the float32 computation.
    let alpha = if dtype.is_half() { Tensor::wrapped_scalar(alpha) } else { Tensor::full(&[], alpha.as_f64(), dtype) };
    // alpha * b in the result's dtype: a float32 b beside a float64 a would round alpha to
    // float32 (2e-200 to 0, and 0 * inf is NaN where PyTorch's a - alpha * b is -inf).
    let b = if b.dtype() == dtype || dtype.is_half() { b.clone() } else { to_dtype(b, dtype)? };
    mul(&b, &alpha)
}

/// The node of `t op= other` written into t's memory (`ops::inplace::binary`), for ops whose
/// backward needs nothing of t's old value: add and sub save nothing; mul and div save `other`
/// alone, which does not require grad there (as in `mul` and `div`, where then the first
/// operand is not saved). `other` has t's dtype.
pub(crate) fn in_place_backward(op: crate::ops::inplace::BinOp, t: &Tensor, other: &Tensor) -> Result<Box<dyn Backward>> {
    use crate::ops::inplace::BinOp;
    let (sa, sb) = (t.shape().to_vec(), other.shape().to_vec());
    Ok(match op {
        BinOp::Add | BinOp::Sub => Box::new(AddBackward { sub: matches!(op, BinOp::Sub), a: sa, b: sb }),
        BinOp::Mul => Box::new(MulBackward { a: None, b: Some(Saved::new(other)?), sa, sb }),
        BinOp::Div => Box::new(DivBackward { b: Saved::new(other)?, out: None, sa, sb }),
    })
}

struct AddBackward {
    sub: bool,
    a: Vec<usize>,
    b: Vec<usize>,
}
impl Backward for AddBackward {
    fn name(&self) -> &'static str {
        if self.sub { "SubBackward0" } else { "AddBackward0" }
    }
    fn saves_tensors(&self) -> bool {
        false
    }
    fn apply(&self, g: &Tensor, needs: &[bool]) -> Result<Vec<Option<Tensor>>> {
        let ga = if needs[0] { Some(sum_to(g, &self.a)?) } else { None };
        let gb = if needs[1] {
            let gb = sum_to(g, &self.b)?;
            Some(if self.sub { unary::neg(&gb)? } else { gb })
        } else {
            None
        };
        Ok(vec![ga, gb])
    }
    fn differentiable(&self) -> bool {
        true
    }
}

pub fn mul(a: &Tensor, b: &Tensor) -> Result<Tensor> {
    if let Some(d) = half::result(a, b) {
        return half::binary(a, b, d, mul);
    }
    let out = mul_kernel(a, b, result_type(a, b))?;
    record(out, &[a, b], || {
        Ok(Box::new(MulBackward {
            a: if b.requires_grad() { Some(Saved::new(a)?) } else { None },
            b: if a.requires_grad() { Some(Saved::new(b)?) } else { None },
            sa: a.shape().to_vec(),
            sb: b.shape().to_vec(),
        }))
    })
}

struct MulBackward {
    a: Option<Saved>,
    b: Option<Saved>,
    sa: Vec<usize>,
    sb: Vec<usize>,
}
impl Backward for MulBackward {
    fn name(&self) -> &'static str {
        "MulBackward0"
    }
    fn apply(&self, g: &Tensor, needs: &[bool]) -> Result<Vec<Option<Tensor>>> {
        let ga = match (&self.b, needs[0]) {
            (Some(b), true) => Some(sum_to(&mul(g, &b.get()?)?, &self.sa)?),
            _ => None,
        };
        let gb = match (&self.a, needs[1]) {
            (Some(a), true) => Some(sum_to(&mul(g, &a.get()?)?, &self.sb)?),
            _ => None,
        };
        Ok(vec![ga, gb])
    }
    fn differentiable(&self) -> bool {
        true
    }
}

pub fn div(a: &Tensor, b: &Tensor) -> Result<Tensor> {
    if let Some(d) = half::result(a, b) {
        return half::binary(a, b, d, div);
    }
    let dtype = float_dtype(a, b);
    let (x, y) = promoted(a, b, dtype)?;
    let out = with_float!(dtype, "div", T => zip::<T, T>(&x, &y, "div", |p: T, q: T| p / q)?);
    let out_saved = out.clone();
    record(out, &[a, b], || {
        Ok(Box::new(DivBackward {
            b: Saved::new(&y)?,
            out: if b.requires_grad() { Some(Saved::output(&out_saved)?) } else { None },
            sa: a.shape().to_vec(),
            sb: b.shape().to_vec(),
        }))
    })
}

struct DivBackward {
    b: Saved,
    out: Option<Saved>,
    sa: Vec<usize>,
    sb: Vec<usize>,
}
impl Backward for DivBackward {
    fn name(&self) -> &'static str {
        "DivBackward0"
    }
    fn apply(&self, g: &Tensor, needs: &[bool]) -> Result<Vec<Option<Tensor>>> {
        let b = &self.b.get()?;
        let ga = if needs[0] { Some(sum_to(&div(g, b)?, &self.sa)?) } else { None };
        let gb = match (&self.out, needs[1]) {
            // d(a/b)/db = -a/b^2 = -out/b
            (Some(out), true) => Some(sum_to(&unary::neg(&div(&mul(g, &out.get()?)?, b)?)?, &self.sb)?),
            _ => None,
        };
        Ok(vec![ga, gb])
    }
    fn differentiable(&self) -> bool {
        true
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Rounded {
    FloorDivide,
    Remainder,
}

/// `a // b` (torch.floor_divide) and `a % b` (torch.remainder, the sign of the divisor), in the
/// promoted dtype with PyTorch's kernels: an integer divisor of 0 is an error, a float one gives
/// IEEE's inf/nan. floor_divide has no derivative in PyTorch (backward raises); remainder's is
/// (g, -g * floor(a / b)).
fn rounded(a: &Tensor, b: &Tensor, op: Rounded) -> Result<Tensor> {
    let name = if op == Rounded::FloorDivide { "floor_divide" } else { "remainder" };
    if let Some(d) = half::result(a, b) {
        // PyTorch's remainder rounds a Python-number divisor to the half dtype; its
        // floor_divide keeps it in float32
        return if op == Rounded::Remainder {
            half::binary_number_rounded(a, b, d, |a, b| rounded(a, b, op))
        } else {
            half::binary(a, b, d, |a, b| rounded(a, b, op))
        };
    }
    let dtype = result_type(a, b);
    let (x, y) = promoted(a, b, dtype)?;
    let out = match dtype {
        d if d.is_integer() => with_integer!(d, name, T => {
            if divides_by_zero(&x, &y) {
                bail!(Runtime, "ZeroDivisionError ({name}: an integer divisor is 0; shapes {:?} and {:?})", a.shape(), b.shape());
            }
            // In int64 and back: exact, and int8 -128 // -1 wraps to -128 as in PyTorch.
            if op == Rounded::FloorDivide {
                zip::<T, T>(&x, &y, name, |p: T, q: T| T::from_i64(floor_divide_int(p.to_i64(), q.to_i64())))?
            } else {
                zip::<T, T>(&x, &y, name, |p: T, q: T| {
                    let (p, q) = (p.to_i64(), q.to_i64());
                    let r = p.wrapping_rem(q);
                    T::from_i64(if r != 0 && (r < 0) != (q < 0) { r + q } else { r })
                })?
            }
        }),
        DType::F32 | DType::F64 => with_float!(dtype, name, T => if op == Rounded::FloorDivide {
            zip::<T, T>(&x, &y, name, floor_divide_float)?
        } else {
            zip::<T, T>(&x, &y, name, |p: T, q: T| {
                let m = p % q; // fmod
                if m != T::zero() && (q < T::zero()) != (m < T::zero()) { m + q } else { m }
            })?
        }),
        d => bail!(NotImplemented, "{name}: not implemented for '{}' (shapes {:?} and {:?})", d.torch_name(), a.shape(), b.shape()),
    };
    record(out, &[a, b], || {
        Ok(Box::new(RoundedBackward { a: Saved::new(&x)?, b: Saved::new(&y)?, op, sa: a.shape().to_vec(), sb: b.shape().to_vec() }))
    })
}

pub fn floor_divide(a: &Tensor, b: &Tensor) -> Result<Tensor> {
    rounded(a, b, Rounded::FloorDivide)
}
pub fn remainder(a: &Tensor, b: &Tensor) -> Result<Tensor> {
    rounded(a, b, Rounded::Remainder)
}

fn floor_divide_int(a: i64, b: i64) -> i64 {
    let (q, r) = (a.wrapping_div(b), a.wrapping_rem(b));
    if r != 0 && (r < 0) != (b < 0) { q - 1 } else { q }
}

/// PyTorch's div_floor_floating: through fmod, so a quotient that rounds up in a / b still floors.
fn floor_divide_float<T: Float>(a: T, b: T) -> T {
    if b == T::zero() {
        return a / b;
    }
    let m = a % b;
    let mut div = (a - m) / b;
    if m != T::zero() && (b < T::zero()) != (m < T::zero()) {
        div = div - T::one();
    }
    if div == T::zero() {
        return T::zero().copysign(a / b);
    }
    let f = div.floor();
    if div - f > T::from_f64(0.5) { f + T::one() } else { f }
}

struct RoundedBackward {
    a: Saved,
    b: Saved,
    op: Rounded,
    sa: Vec<usize>,
    sb: Vec<usize>,
}
impl Backward for RoundedBackward {
    fn name(&self) -> &'static str {
        if self.op == Rounded::FloorDivide { "FloorDivideBackward0" } else { "RemainderBackward1" }
    }
    fn apply(&self, g: &Tensor, needs: &[bool]) -> Result<Vec<Option<Tensor>>> {
        if self.op == Rounded::FloorDivide {
            bail!(Runtime, "derivative for aten::floor_divide is not implemented");
        }
        let ga = if needs[0] { Some(sum_to(g, &self.sa)?) } else { None };
        let gb = if needs[1] {
            // The quotient is piecewise constant: a constant for a recorded backward.
            let q = floor_divide(&self.a.get()?.detach(), &self.b.get()?.detach())?;
            Some(sum_to(&unary::neg(&mul(g, &q)?)?, &self.sb)?)
        } else {
            None
        };
        Ok(vec![ga, gb])
    }
    fn differentiable(&self) -> bool {
        true
    }
}

/// maximum / minimum. Where the inputs tie, the gradient is split evenly (PyTorch's rule).
pub fn maximum(a: &Tensor, b: &Tensor) -> Result<Tensor> {
    extremum(a, b, true)
}
pub fn minimum(a: &Tensor, b: &Tensor) -> Result<Tensor> {
    extremum(a, b, false)
}

fn extremum(a: &Tensor, b: &Tensor, is_max: bool) -> Result<Tensor> {
    if let Some(d) = half::result(a, b) {
        return half::binary(a, b, d, |a, b| extremum(a, b, is_max));
    }
    let dtype = result_type(a, b);
    let out = if is_max { maximum_kernel(a, b, dtype)? } else { minimum_kernel(a, b, dtype)? };
    record(out, &[a, b], || {
        let (x, y) = promoted(a, b, dtype)?;
        Ok(Box::new(ExtremumBackward { a: Saved::new(&x)?, b: Saved::new(&y)?, is_max, sa: a.shape().to_vec(), sb: b.shape().to_vec() }))
    })
}

struct ExtremumBackward {
    a: Saved,
    b: Saved,
    is_max: bool,
    sa: Vec<usize>,
    sb: Vec<usize>,
}
impl Backward for ExtremumBackward {
    fn name(&self) -> &'static str {
        if self.is_max { "MaximumBackward0" } else { "MinimumBackward0" }
    }
    fn apply(&self, g: &Tensor, needs: &[bool]) -> Result<Vec<Option<Tensor>>> {
        let (a, b) = (&self.a.get()?, &self.b.get()?);
        // PyTorch's rule: each side gets g where it is not beaten, g/2 on ties. Where either is
        // NaN nothing beats anything, so both sides get the whole gradient.
        let weight = |of_a: bool| -> Result<Tensor> {
            Ok(with_float!(a.dtype(), "maximum backward", T => {
                let half = <T as crate::tensor::Element>::from_f64(0.5);
                let is_max = self.is_max;
                zip::<T, T>(a, b, "maximum", move |x: T, y: T| {
                    let (mine, theirs) = if of_a { (x, y) } else { (y, x) };
                    let beaten = if is_max { mine < theirs } else { mine > theirs };
                    if x == y { half } else if beaten { T::zero() } else { T::one() }
                })?
            }))
        };
        let ga = if needs[0] { Some(sum_to(&mul(g, &weight(true)?)?, &self.sa)?) } else { None };
        let gb = if needs[1] { Some(sum_to(&mul(g, &weight(false)?)?, &self.sb)?) } else { None };
        Ok(vec![ga, gb])
    }
    fn differentiable(&self) -> bool {
        true
    }
}

#[derive(Clone, Copy, Debug)]
pub enum Cmp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

/// Comparisons give bool tensors and no gradient.
// One closure for every dtype: on bool, `p < q` is PyTorch's False < True, as intended.
#[allow(clippy::bool_comparison)]
pub fn compare(a: &Tensor, b: &Tensor, cmp: Cmp) -> Result<Tensor> {
    let dtype = result_type(a, b);
    let (x, y) = promoted(a, b, dtype)?;
    let name = format!("{cmp:?}").to_lowercase();
    // One loop per comparison: a `match cmp` inside the closure kept the loop scalar (a > b of
    // 1M floats was 1.7x PyTorch's time, a > 0 through its own path 0.3x).
    macro_rules! each {
        ($($c:ident => $op:tt),*) => {
            match cmp {
                $(Cmp::$c => with_dtype!(dtype, T => zip::<T, bool>(&x, &y, &name, |p: T, q: T| p $op q)),)*
            }
        };
    }
    let out = each!(Eq => ==, Ne => !=, Lt => <, Le => <=, Gt => >, Ge => >=)?;
    // No gradient, so no node: a trace logs it here (its result is computed from the inputs).
    crate::autograd::trace::log_op(cmp.torch_name(), &[a, b], &out);
    Ok(out)
}

impl Cmp {
    pub fn torch_name(self) -> &'static str {
        match self {
            Cmp::Eq => "eq",
            Cmp::Ne => "ne",
            Cmp::Lt => "lt",
            Cmp::Le => "le",
            Cmp::Gt => "gt",
            Cmp::Ge => "ge",
        }
    }
}

#[derive(Clone, Copy, Debug)]
pub enum Logical {
    And,
    Or,
    Xor,
}

/// Logical ops on masks (any dtype; nonzero is true, NaN included), giving bool tensors.
pub fn logical(a: &Tensor, b: &Tensor, op: Logical) -> Result<Tensor> {
    // Each side is tested for nonzero in the operands' common dtype, as PyTorch's kernel does:
    // a float64 0-d 1e-300 beside a float32 tensor is 0 in float32, so false.
    let common = result_type(a, b);
    let truth = |t: &Tensor| -> Result<Tensor> { to_dtype(&to_dtype(&t.detach(), common)?, DType::Bool) };
    let (x, y) = (truth(a)?, truth(b)?);
    let name = match op {
        Logical::And => "logical_and",
        Logical::Or => "logical_or",
        Logical::Xor => "logical_xor",
    };
    let out = zip::<bool, bool>(&x, &y, name, move |p, q| match op {
        Logical::And => p && q,
        Logical::Or => p || q,
        Logical::Xor => p != q,
    })?;
    crate::autograd::trace::log_op(name, &[a, b], &out);
    Ok(out)
}

#[derive(Clone, Copy, Debug)]
pub enum Bitwise {
    And,
    Or,
    Xor,
    LeftShift,
    RightShift,
}

impl Bitwise {
    pub fn name(self) -> &'static str {
        match self {
            Bitwise::And => "bitwise_and",
            Bitwise::Or => "bitwise_or",
            Bitwise::Xor => "bitwise_xor",
            Bitwise::LeftShift => "bitwise_left_shift",
            Bitwise::RightShift => "bitwise_right_shift",
        }
    }
}

/// `& | ^ << >>` on integer and bool tensors (bool `& | ^` give bool; shifts take integers
/// only), in the promoted dtype as PyTorch. No gradient: the dtypes have none.
pub fn bitwise(a: &Tensor, b: &Tensor, op: Bitwise) -> Result<Tensor> {
    let dtype = result_type(a, b);
    let shift = matches!(op, Bitwise::LeftShift | Bitwise::RightShift);
    let (x, y) = promoted(a, b, dtype)?;
    let out = match dtype {
        // In int64 and back: the bits agree, and a shift by the narrow type's width or more
        // gives what PyTorch's gives (zeros to the left, the sign to the right).
        d if d.is_integer() => with_integer!(d, op.name(), T => zip::<T, T>(&x, &y, op.name(), move |p: T, q: T| {
            let (p, q) = (p.to_i64(), q.to_i64());
            T::from_i64(match op {
                Bitwise::And => p & q,
                Bitwise::Or => p | q,
                Bitwise::Xor => p ^ q,
                // Shifts by a negative count or by 64 or more fill with zeros (left) or the sign
                // bit (right), as PyTorch's kernels do.
                Bitwise::LeftShift => if (0..64).contains(&q) { p.wrapping_shl(q as u32) } else { 0 },
                Bitwise::RightShift => if (0..64).contains(&q) { p >> q } else { p >> 63 },
            })
        })),
        DType::Bool if !shift => zip::<bool, bool>(&x, &y, op.name(), move |p, q| match op {
            Bitwise::And => p & q,
            Bitwise::Or => p | q,
            _ => p ^ q,
        }),
        d => bail!(NotImplemented, "{}: not implemented for '{}' (shapes {:?} and {:?}); it takes {} tensors",
            op.name(), d.torch_name(), a.shape(), b.shape(), if shift { "integer" } else { "integer or bool" }),
    }?;
    crate::autograd::trace::log_op(op.name(), &[a, b], &out);
    Ok(out)
}

/// `where(condition, x, y)`: elements of x where condition, else y; broadcasts all three.
pub fn where_(cond: &Tensor, x: &Tensor, y: &Tensor) -> Result<Tensor> {
    if cond.dtype() != DType::Bool {
        bail!(Type, "where: expected condition to be a bool tensor, got {}", cond.dtype().name());
    }
    let dtype = result_type(x, y);
    let (a, b) = promoted(x, y, dtype)?;
    // Broadcast the condition to the result shape first, then pick.
    let shape = crate::tensor::shape::broadcast_shapes(
        &crate::tensor::shape::broadcast_shapes(cond.shape(), a.shape(), "where")?,
        b.shape(),
        "where",
    )?;
    let (c, a, b) = (cond.expand(&shape)?, a.expand(&shape)?, b.expand(&shape)?);
    let picked = with_dtype!(dtype, T => crate::ops::kernel::select::<T>(&c, &a, &b, &shape));
    record(picked, &[x, y], || Ok(Box::new(WhereBackward { cond: Saved::new(&c)?, condition: crate::autograd::trace::is_tracing().then(|| cond.clone()), sx: x.shape().to_vec(), sy: y.shape().to_vec() })))
}

struct WhereBackward {
    cond: Saved,
    /// For a trace only: the condition as the caller gave it (before broadcasting).
    condition: Option<Tensor>,
    sx: Vec<usize>,
    sy: Vec<usize>,
}
impl Backward for WhereBackward {
    fn attrs(&self) -> crate::autograd::trace::Attrs {
        self.condition.iter().map(|c| ("condition", c.into())).collect()
    }
    fn name(&self) -> &'static str {
        "WhereBackward0"
    }
    fn apply(&self, g: &Tensor, needs: &[bool]) -> Result<Vec<Option<Tensor>>> {
        let c = &self.cond.get()?;
        let zero = Tensor::zeros(&[], g.dtype());
        let pick = |keep: bool| -> Result<Tensor> {
            if crate::autograd::is_recording() {
                return if keep { where_(c, g, &zero) } else { where_(c, &zero, g) };
            }
            with_float!(g.dtype(), "where backward", T => mask_grad::<T>(g, c, keep))
        };
        let gx = if needs[0] { Some(sum_to(&pick(true)?, &self.sx)?) } else { None };
        let gy = if needs[1] { Some(sum_to(&pick(false)?, &self.sy)?) } else { None };
        Ok(vec![gx, gy])
    }
    fn differentiable(&self) -> bool {
        true
    }
}

fn mask_grad<T: Float>(g: &Tensor, c: &Tensor, keep: bool) -> Result<Tensor> {
    let m = to_dtype(c, T::DTYPE)?;
    zip::<T, T>(g, &m, "where", move |gv: T, mv: T| if (mv != T::zero()) == keep { gv } else { T::zero() })
}

/// Whether an integer division of x by y (broadcast) has a zero divisor. An empty result
/// divides nothing, so it is not an error (PyTorch returns the empty tensor).
pub(crate) fn divides_by_zero(x: &Tensor, y: &Tensor) -> bool {
    let empty = crate::tensor::shape::broadcast_shapes(x.shape(), y.shape(), "division").is_ok_and(|s| s.contains(&0));
    !empty && y.to_vec::<i64>().contains(&0)
}
