//! Backward formulas written as recorded ops, for `create_graph=True`.
//!
//! A fused backward kernel computes `g * cos(x)` in one pass but leaves no history, so its
//! result cannot be differentiated again. With grad mode on (a backward that creates a graph)
//! the rules use the same formula written with `Ex`, whose arithmetic calls the differentiable
//! ops: `g * x.cos()` reads as the fused closure does and records MulBackward0 and CosBackward0.
//! Errors propagate through the operators and surface at `.done()`.

use std::ops::{Add, Div, Mul, Neg, Sub};

use crate::error::Result;
use crate::ops::binary::{self, Cmp};
use crate::ops::{math, pow, unary};
use crate::tensor::{Scalar, Tensor};

/// A tensor expression being built from recorded ops (or the first error met).
#[derive(Clone)]
pub struct Ex(Result<Tensor>);

pub fn ex(t: &Tensor) -> Ex {
    Ex(Ok(t.clone()))
}

fn scalar(v: f64) -> Tensor {
    Tensor::wrapped_scalar(Scalar::Float(v))
}

impl Ex {
    pub fn done(self) -> Result<Tensor> {
        self.0
    }
    fn map(self, f: impl FnOnce(&Tensor) -> Result<Tensor>) -> Ex {
        Ex(self.0.and_then(|t| f(&t)))
    }
    fn zip(self, other: Ex, f: impl FnOnce(&Tensor, &Tensor) -> Result<Tensor>) -> Ex {
        Ex(self.0.and_then(|a| other.0.and_then(|b| f(&a, &b))))
    }
    pub fn exp(self) -> Ex {
        self.map(unary::exp)
    }
    pub fn ln(self) -> Ex {
        self.map(unary::log)
    }
    pub fn sqrt(self) -> Ex {
        self.map(unary::sqrt)
    }
    pub fn sin(self) -> Ex {
        self.map(unary::sin)
    }
    pub fn cos(self) -> Ex {
        self.map(unary::cos)
    }
    pub fn sinh(self) -> Ex {
        self.map(math::sinh)
    }
    pub fn cosh(self) -> Ex {
        self.map(math::cosh)
    }
    pub fn tanh(self) -> Ex {
        self.map(unary::tanh)
    }
    pub fn sigmoid(self) -> Ex {
        self.map(unary::sigmoid)
    }
    pub fn erf(self) -> Ex {
        self.map(math::erf)
    }
    pub fn digamma(self) -> Ex {
        self.map(math::digamma)
    }
    pub fn polygamma(self, n: i64) -> Ex {
        self.map(|t| crate::ops::polygamma::polygamma(t, n))
    }
    pub fn abs(self) -> Ex {
        self.map(unary::abs)
    }
    pub fn hypot(self, other: Ex) -> Ex {
        self.zip(other, crate::ops::binary_math::hypot)
    }
    pub fn copysign(self, other: Ex) -> Ex {
        self.zip(other, crate::ops::binary_math::copysign)
    }
    /// `self ** e` for a constant exponent.
    pub fn powf(self, e: f64) -> Ex {
        self.map(|t| pow::pow_scalar(t, Scalar::Float(e)))
    }
    pub fn pow(self, e: Ex) -> Ex {
        self.zip(e, pow::pow)
    }
    /// 1 where `self > v`, 0 elsewhere, in self's dtype: a mask, constant for autograd.
    pub fn gt(self, v: f64) -> Ex {
        self.cmp(v, Cmp::Gt)
    }
    pub fn lt(self, v: f64) -> Ex {
        self.cmp(v, Cmp::Lt)
    }
    pub fn eq(self, v: f64) -> Ex {
        self.cmp(v, Cmp::Eq)
    }
    pub fn ge(self, v: f64) -> Ex {
        self.cmp(v, Cmp::Ge)
    }
    pub fn le(self, v: f64) -> Ex {
        self.cmp(v, Cmp::Le)
    }
    fn cmp(self, v: f64, op: Cmp) -> Ex {
        self.map(|t| {
            let m = binary::compare(&t.detach(), &scalar(v), op)?;
            crate::ops::cast::to_dtype(&m, t.dtype())
        })
    }
    /// `where(cond, self, other)` with a boolean-valued (0/1) `cond` mask.
    pub fn select(cond: Ex, a: Ex, b: Ex) -> Ex {
        Ex(cond.0.and_then(|c| {
            let c = crate::ops::cast::to_dtype(&c.detach(), crate::tensor::DType::Bool)?;
            a.0.and_then(|a| b.0.and_then(|b| binary::where_(&c, &a, &b)))
        }))
    }
    /// `self`, kept connected to `s` with a zero gradient (see `with_zero_grad_to`).
    pub fn zero_grad_to(self, s: Ex) -> Ex {
        self.zip(s, with_zero_grad_to)
    }
    /// The constant `v` (a Python-number-like scalar that takes the other operand's dtype).
    pub fn c(v: f64) -> Ex {
        Ex(Ok(scalar(v)))
    }
}

macro_rules! arith {
    ($Trait:ident, $method:ident, $op:path) => {
        impl $Trait<Ex> for Ex {
            type Output = Ex;
            fn $method(self, rhs: Ex) -> Ex {
                self.zip(rhs, $op)
            }
        }
        impl $Trait<f64> for Ex {
            type Output = Ex;
            fn $method(self, rhs: f64) -> Ex {
                self.map(|t| $op(t, &scalar(rhs)))
            }
        }
        impl $Trait<Ex> for f64 {
            type Output = Ex;
            fn $method(self, rhs: Ex) -> Ex {
                rhs.map(|t| $op(&scalar(self), t))
            }
        }
    };
}

arith!(Add, add, binary::add);
arith!(Sub, sub, binary::sub);
arith!(Mul, mul, binary::mul);
arith!(Div, div, binary::div);

impl Neg for Ex {
    type Output = Ex;
    fn neg(self) -> Ex {
        self.map(unary::neg)
    }
}

/// `g * factor` for a rule whose factor is a constant for autograd (dropout's mask: PyTorch's
/// formula leaves the op's input out of the second-order graph there): `fused` is the rule's
/// kernel, run on ones to get the factor; only the product is recorded.
pub fn times_constant_factor(g: &Tensor, fused: impl FnOnce(&Tensor) -> Result<Tensor>) -> Result<Tensor> {
    let factor = fused(&Tensor::ones(g.shape(), g.dtype()))?;
    binary::mul(g, &factor)
}

/// `g * factor(s)` for a rule whose factor is piecewise constant in the saved `s` (a sign, a
/// slope) and whose PyTorch derivative in `s` is `zeros_like(grad)` (abs, leaky_relu): the
/// product of `times_constant_factor`, kept connected to `s` by `with_zero_grad_to`.
pub fn times_piecewise_constant(g: &Tensor, s: &Tensor, fused: impl FnOnce(&Tensor) -> Result<Tensor>) -> Result<Tensor> {
    with_zero_grad_to(&times_constant_factor(g, fused)?, s)
}

/// `value` itself, with an edge to `s` that carries a zero gradient. A rule whose derivative
/// in `s` is zero (relu's `threshold_backward`, abs's `sgn`) still has `s` in PyTorch's
/// second-order graph, so differentiating the gradient again gives `s` zeros, not None.
/// `where(false, s, value)` is exactly `value` (an inf or NaN in `s` is never read into it nor
/// multiplied by zero) and routes zero to `s`, as the in-place ops do in `ops::inplace`.
pub fn with_zero_grad_to(value: &Tensor, s: &Tensor) -> Result<Tensor> {
    if !s.requires_grad() {
        return Ok(value.clone());
    }
    binary::where_(&Tensor::full(&[], 0.0, crate::tensor::DType::Bool), s, value)
}
