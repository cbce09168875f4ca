//! The op tables: one line per tensor op. A line names the Python method(s) and the core
//! function; the macros write the binding (argument conversion, the panic and GIL guard
//! `off_gil_guarded`, the in-place form's checks) and list the function forms that
//! `ferrograd._functions` exports as `fg.<name>`. Adding an elementwise op is its row in
//! `rust/ops/` (forward and gradient side by side) and one line here (docs/adding-an-op.md).

use pyo3::prelude::*;

use super::error::off_gil_guarded;
use super::tensor::PyTensor;
use super::tensor_math::operand;
use crate::error::Result;
use crate::ops::binary::{self, Bitwise, Cmp, Logical};
use crate::ops::{binary_math, inplace, math, matmul, unary};
use crate::tensor::Tensor;

type BinFn = fn(&Tensor, &Tensor) -> Result<Tensor>;

impl PyTensor {
    pub(super) fn un(&self, py: Python<'_>, f: fn(&Tensor) -> Result<Tensor>) -> PyResult<Tensor> {
        off_gil_guarded(py, self.t.numel(), || f(&self.t))
    }
    pub(super) fn bin(&self, py: Python<'_>, other: &Bound<'_, PyAny>, f: BinFn, reflected: bool) -> PyResult<Tensor> {
        let o = operand(&self.t, other)?;
        let n = self.t.numel().max(o.numel());
        let (a, b): (&Tensor, &Tensor) = if reflected { (&o, &self.t) } else { (&self.t, &o) };
        off_gil_guarded(py, n, || f(a, b))
    }
    /// `t.op_(other)`: `f(t, other)` written back into t, whose dtype the result must fit.
    fn bin_inplace(&self, py: Python<'_>, other: &Bound<'_, PyAny>, name: &str, f: BinFn) -> PyResult<()> {
        let o = operand(&self.t, other)?;
        off_gil_guarded(py, self.t.numel(), || inplace::promoted_op(&self.t, &o, name, |src| f(src, &o)))
    }
}

/// `(method, in-place method) => core fn`: `t.exp()`, `t.exp_()` and `fg.exp(t)`.
macro_rules! unary_ops {
    ($($name:ident $(, $inplace:ident)? => $f:path;)*) => {
        #[pymethods]
        impl PyTensor {
            $(
                fn $name(&self, py: Python<'_>) -> PyResult<Tensor> {
                    self.un(py, $f)
                }
                $(
                fn $inplace<'py>(slf: PyRef<'py, Self>, py: Python<'_>) -> PyResult<PyRef<'py, Self>> {
                    let t = slf.t.clone();
                    off_gil_guarded(py, t.numel(), || inplace::apply_elementwise(&t, stringify!($inplace), $f))?;
                    Ok(slf)
                }
                )?
            )*
        }
        const UNARY_FUNCTIONS: &[&str] = &[$(stringify!($name)),*];
    };
}

/// `in-place method => core fn` for the in-place forms with a core path of their own: ops
/// whose backward needs only their result write into the tensor's memory and save it
/// (`inplace::map_saving_result`), where the general path copies.
macro_rules! unary_in_place_ops {
    ($($inplace:ident => $f:path;)*) => {
        #[pymethods]
        impl PyTensor {
            $(
                fn $inplace<'py>(slf: PyRef<'py, Self>, py: Python<'_>) -> PyResult<PyRef<'py, Self>> {
                    let t = slf.t.clone();
                    off_gil_guarded(py, t.numel(), || $f(&t))?;
                    Ok(slf)
                }
            )*
        }
    };
}

/// `(method, in-place method) => core fn`: `a.atan2(b)`, `a.atan2_(b)` and `fg.atan2(a, b)`;
/// `b` may be a tensor, a Python number or anything `fg.tensor` takes.
macro_rules! binary_ops {
    ($($name:ident $(, $inplace:ident)? => $f:expr;)*) => {
        #[pymethods]
        impl PyTensor {
            $(
                fn $name(&self, py: Python<'_>, other: &Bound<'_, PyAny>) -> PyResult<Tensor> {
                    self.bin(py, other, $f, false)
                }
                $(
                fn $inplace<'py>(slf: PyRef<'py, Self>, py: Python<'_>, other: &Bound<'_, PyAny>) -> PyResult<PyRef<'py, Self>> {
                    slf.bin_inplace(py, other, stringify!($inplace), $f)?;
                    Ok(slf)
                }
                )?
            )*
        }
        const BINARY_FUNCTIONS: &[&str] = &[$(stringify!($name)),*];
    };
}

/// `(operator, reflected operator) => core fn`: `a * b` and `2 * a`.
macro_rules! operators {
    ($(($op:ident, $rop:ident) => $f:expr;)*) => {
        #[pymethods]
        impl PyTensor {
            $(
                fn $op(&self, py: Python<'_>, other: &Bound<'_, PyAny>) -> PyResult<Tensor> {
                    self.bin(py, other, $f, false)
                }
                fn $rop(&self, py: Python<'_>, other: &Bound<'_, PyAny>) -> PyResult<Tensor> {
                    self.bin(py, other, $f, true)
                }
            )*
        }
    };
}

/// `in-place operator, name in errors => core fn`: `a //= b` (the result must fit a's dtype).
macro_rules! inplace_operators {
    ($($iop:ident, $name:literal => $f:expr;)*) => {
        #[pymethods]
        impl PyTensor {
            $(
                fn $iop(&self, py: Python<'_>, other: &Bound<'_, PyAny>) -> PyResult<()> {
                    self.bin_inplace(py, other, $name, $f)
                }
            )*
        }
    };
}

unary_ops! {
    exp => unary::exp;
    log, log_ => unary::log;
    sqrt => unary::sqrt;
    abs, abs_ => unary::abs;
    neg, neg_ => unary::neg;
    sin, sin_ => unary::sin;
    cos, cos_ => unary::cos;
    tanh => unary::tanh;
    sigmoid => unary::sigmoid;
    relu => unary::relu;
    logical_not, logical_not_ => unary::logical_not;
    bitwise_not, bitwise_not_ => unary::bitwise_not;
    // rust/ops/math.rs
    log1p, log1p_ => math::log1p;
    expm1 => math::expm1;
    log2, log2_ => math::log2;
    log10, log10_ => math::log10;
    exp2 => math::exp2;
    rsqrt => math::rsqrt;
    reciprocal => math::reciprocal;
    tan => math::tan;
    asin, asin_ => math::asin;
    acos, acos_ => math::acos;
    atan, atan_ => math::atan;
    sinh, sinh_ => math::sinh;
    cosh, cosh_ => math::cosh;
    asinh, asinh_ => math::asinh;
    acosh, acosh_ => math::acosh;
    atanh, atanh_ => math::atanh;
    arcsin, arcsin_ => math::asin;
    arccos, arccos_ => math::acos;
    arctan, arctan_ => math::atan;
    arcsinh, arcsinh_ => math::asinh;
    arccosh, arccosh_ => math::acosh;
    arctanh, arctanh_ => math::atanh;
    erf, erf_ => math::erf;
    erfc, erfc_ => math::erfc;
    erfinv => math::erfinv;
    lgamma, lgamma_ => math::lgamma;
    digamma, digamma_ => math::digamma;
    sinc, sinc_ => math::sinc;
    sign, sign_ => math::sign;
    sgn, sgn_ => math::sign;
    floor, floor_ => math::floor;
    ceil, ceil_ => math::ceil;
    trunc, trunc_ => math::trunc;
    fix, fix_ => math::trunc;
    frac, frac_ => math::frac;
}

unary_in_place_ops! {
    exp_ => unary::exp_;
    sqrt_ => unary::sqrt_;
    tanh_ => unary::tanh_;
    sigmoid_ => unary::sigmoid_;
    relu_ => unary::relu_;
    expm1_ => math::expm1_;
    exp2_ => math::exp2_;
    rsqrt_ => math::rsqrt_;
    reciprocal_ => math::reciprocal_;
    tan_ => math::tan_;
    erfinv_ => math::erfinv_;
}

binary_ops! {
    multiply, multiply_ => binary::mul;
    true_divide, true_divide_ => binary::div;
    maximum => binary::maximum;
    minimum => binary::minimum;
    matmul => matmul::matmul;
    mm => matmul::matmul;
    floor_divide, floor_divide_ => binary::floor_divide;
    remainder, remainder_ => binary::remainder;
    logical_and, logical_and_ => |a, b| binary::logical(a, b, Logical::And);
    logical_or, logical_or_ => |a, b| binary::logical(a, b, Logical::Or);
    logical_xor, logical_xor_ => |a, b| binary::logical(a, b, Logical::Xor);
    bitwise_and, bitwise_and_ => |a, b| binary::bitwise(a, b, Bitwise::And);
    bitwise_or, bitwise_or_ => |a, b| binary::bitwise(a, b, Bitwise::Or);
    bitwise_xor, bitwise_xor_ => |a, b| binary::bitwise(a, b, Bitwise::Xor);
    bitwise_left_shift, bitwise_left_shift_ => |a, b| binary::bitwise(a, b, Bitwise::LeftShift);
    bitwise_right_shift, bitwise_right_shift_ => |a, b| binary::bitwise(a, b, Bitwise::RightShift);
    eq, eq_ => |a, b| binary::compare(a, b, Cmp::Eq);
    ne, ne_ => |a, b| binary::compare(a, b, Cmp::Ne);
    lt, lt_ => |a, b| binary::compare(a, b, Cmp::Lt);
    le, le_ => |a, b| binary::compare(a, b, Cmp::Le);
    gt, gt_ => |a, b| binary::compare(a, b, Cmp::Gt);
    ge, ge_ => |a, b| binary::compare(a, b, Cmp::Ge);
    not_equal, not_equal_ => |a, b| binary::compare(a, b, Cmp::Ne);
    less, less_ => |a, b| binary::compare(a, b, Cmp::Lt);
    less_equal, less_equal_ => |a, b| binary::compare(a, b, Cmp::Le);
    greater, greater_ => |a, b| binary::compare(a, b, Cmp::Gt);
    greater_equal, greater_equal_ => |a, b| binary::compare(a, b, Cmp::Ge);
    // rust/ops/binary_math.rs
    atan2, atan2_ => binary_math::atan2;
    arctan2, arctan2_ => binary_math::atan2;
    hypot, hypot_ => binary_math::hypot;
    fmod, fmod_ => binary_math::fmod;
    copysign, copysign_ => binary_math::copysign;
    logaddexp => binary_math::logaddexp;
    logaddexp2 => binary_math::logaddexp2;
    xlogy, xlogy_ => binary_math::xlogy;
    fmax => binary_math::fmax;
    fmin => binary_math::fmin;
}

operators! {
    (__add__, __radd__) => binary::add;
    (__sub__, __rsub__) => binary::sub;
    (__mul__, __rmul__) => binary::mul;
    (__truediv__, __rtruediv__) => binary::div;
    (__matmul__, __rmatmul__) => matmul::matmul;
    (__floordiv__, __rfloordiv__) => binary::floor_divide;
    (__mod__, __rmod__) => binary::remainder;
    // `& | ^ << >>` are bitwise, in the promoted dtype (bool `& | ^` stay bool), as PyTorch.
    (__and__, __rand__) => |a, b| binary::bitwise(a, b, Bitwise::And);
    (__or__, __ror__) => |a, b| binary::bitwise(a, b, Bitwise::Or);
    (__xor__, __rxor__) => |a, b| binary::bitwise(a, b, Bitwise::Xor);
    (__lshift__, __rlshift__) => |a, b| binary::bitwise(a, b, Bitwise::LeftShift);
    (__rshift__, __rrshift__) => |a, b| binary::bitwise(a, b, Bitwise::RightShift);
}

inplace_operators! {
    __ifloordiv__, "floor_divide_" => binary::floor_divide;
    __imod__, "remainder_" => binary::remainder;
    __iand__, "bitwise_and_" => |a, b| binary::bitwise(a, b, Bitwise::And);
    __ior__, "bitwise_or_" => |a, b| binary::bitwise(a, b, Bitwise::Or);
    __ixor__, "bitwise_xor_" => |a, b| binary::bitwise(a, b, Bitwise::Xor);
    __ilshift__, "bitwise_left_shift_" => |a, b| binary::bitwise(a, b, Bitwise::LeftShift);
    __irshift__, "bitwise_right_shift_" => |a, b| binary::bitwise(a, b, Bitwise::RightShift);
}

/// The names `ferrograd._functions` exports as functions of the tensor (`fg.exp(t)`).
pub fn function_forms() -> Vec<&'static str> {
    UNARY_FUNCTIONS.iter().chain(BINARY_FUNCTIONS).copied().collect()
}
