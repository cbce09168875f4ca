//! Tensor arithmetic, math, reductions and in-place methods. Each is a thin call into the core;
//! operands that are Python numbers become 0-d tensors with PyTorch's promotion rules.

use std::borrow::Cow;

use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;

use super::convert::{number_arg, scalar_arg, scalar_tensor};
use super::error::{guarded, off_gil_guarded};
use super::tensor::{py_helper, PyTensor};
use crate::error::Result;
use crate::ops::binary::{self, Cmp};
use crate::ops::{inplace, math, reduce, scan, softmax, unary};
use crate::tensor::{Scalar, Tensor};


/// The other operand of a binary op: a tensor, a Python number, or anything `fg.tensor` takes.
pub fn operand<'a>(this: &Tensor, other: &'a Bound<'_, PyAny>) -> PyResult<Cow<'a, Tensor>> {
    // A tensor is borrowed, not cloned: two atomic reference-count updates are a tenth of
    // `a + b`'s time on one element.
    if let Ok(t) = other.cast::<PyTensor>() {
        return Ok(Cow::Borrowed(&t.get().t));
    }
    if let Some(s) = scalar_arg(other) {
        return Ok(Cow::Owned(scalar_tensor(s, this.dtype())));
    }
    static AS_TENSOR: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
    let f = py_helper(other.py(), &AS_TENSOR, "ferrograd._creation", "as_tensor")?;
    match f.call1((other,)) {
        Ok(t) => Ok(Cow::Owned(t.cast::<PyTensor>()?.get().t.clone())),
        Err(_) => Err(PyTypeError::new_err(format!(
            "unsupported operand type for a tensor op: '{}'",
            other.get_type().name()?
        ))),
    }
}

/// dims as None (all), an int, or a tuple/list of ints.
pub fn dims_arg(dim: Option<&Bound<'_, PyAny>>) -> PyResult<Vec<isize>> {
    match dim {
        None => Ok(Vec::new()),
        Some(d) if d.is_none() => Ok(Vec::new()),
        Some(d) => match d.extract::<isize>() {
            Ok(i) => Ok(vec![i]),
            Err(_) => d.extract::<Vec<isize>>().map_err(|_| PyTypeError::new_err("dim must be an int or a tuple of ints")),
        },
    }
}

impl PyTensor {
    fn cmp(&self, py: Python<'_>, other: &Bound<'_, PyAny>, c: Cmp) -> PyResult<Tensor> {
        let o = operand(&self.t, other)?;
        off_gil_guarded(py, self.t.numel().max(o.numel()), || binary::compare(&self.t, &o, c))
    }
    fn inplace(&self, py: Python<'_>, other: &Bound<'_, PyAny>, op: inplace::BinOp) -> PyResult<()> {
        let o = operand(&self.t, other)?;
        off_gil_guarded(py, self.t.numel(), || inplace::binary(&self.t, &o, op))
    }
    /// `t ** exponent`: a Python number exponent goes through `pow_scalar`, which knows it was a
    /// number (an integer tensor to a negative int is an error, to a negative 0-d tensor is not).
    fn pow_op(&self, py: Python<'_>, exponent: &Bound<'_, PyAny>) -> PyResult<Tensor> {
        match scalar_arg(exponent) {
            Some(s) => Ok(off_gil_guarded(py, self.t.numel(), || binary::pow_scalar(&self.t, s))?),
            None => self.bin(py, exponent, binary::pow, false),
        }
    }
}

/// The division for `rounding_mode` None, "trunc" or "floor" (PyTorch's message otherwise).
fn division(rounding_mode: Option<&str>) -> PyResult<fn(&Tensor, &Tensor) -> crate::error::Result<Tensor>> {
    match rounding_mode {
        None => Ok(binary::div),
        Some("trunc") => Ok(|a, b| crate::ops::binary_math::div_rounded(a, b, false)),
        Some("floor") => Ok(|a, b| crate::ops::binary_math::div_rounded(a, b, true)),
        Some(m) => Err(pyo3::exceptions::PyRuntimeError::new_err(format!(
            "div expected rounding_mode to be one of None, 'trunc', or 'floor' but found '{m}'"
        ))),
    }
}

/// add/sub's `alpha=` as a number (an int, float or bool: PyTorch checks which it is).
fn alpha_arg(alpha: Option<&Bound<'_, PyAny>>) -> PyResult<Scalar> {
    match alpha {
        None => Ok(Scalar::Int(1)),
        Some(a) => scalar_arg(a).ok_or_else(|| PyTypeError::new_err(format!("alpha must be a number, not {}", a.get_type().name().map(|n| n.to_string()).unwrap_or_default()))),
    }
}

/// A clamp bound: a number (an int keeps an integer tensor's dtype, a float promotes), or a
/// tensor, which broadcasts and takes a gradient.
enum ClampBound {
    Number(Scalar),
    Tensor(Tensor),
}

fn bound_arg(bound: Option<&Bound<'_, PyAny>>) -> PyResult<Option<ClampBound>> {
    match bound {
        None => Ok(None),
        Some(b) if b.is_none() => Ok(None),
        Some(b) => match scalar_arg(b) {
            Some(s) => Ok(Some(ClampBound::Number(s))),
            None => match b.extract::<PyRef<'_, PyTensor>>() {
                Ok(t) => Ok(Some(ClampBound::Tensor(t.t.clone()))),
                Err(_) => Err(PyTypeError::new_err(format!(
                    "clamp: min and max must be numbers, tensors or None, not {}",
                    b.get_type().name().map(|n| n.to_string()).unwrap_or_default()
                ))),
            },
        },
    }
}

/// clamp with number bounds (the kernel of its own), or with a tensor among them (a number
/// beside it joins as a Python number would: by its kind, not its width).
fn clamp_any(t: &Tensor, min: &Option<ClampBound>, max: &Option<ClampBound>) -> crate::error::Result<Tensor> {
    let number = |b: &Option<ClampBound>| match b {
        Some(ClampBound::Number(s)) => Some(*s),
        _ => None,
    };
    if !matches!(min, Some(ClampBound::Tensor(_))) && !matches!(max, Some(ClampBound::Tensor(_))) {
        return unary::clamp_scalar(t, number(min), number(max));
    }
    let tensor = |b: &Option<ClampBound>| match b {
        Some(ClampBound::Number(s)) => Some(Tensor::wrapped_scalar(*s)),
        Some(ClampBound::Tensor(x)) => Some(x.clone()),
        None => None,
    };
    crate::ops::clamp_tensor::clamp_tensor(t, tensor(min).as_ref(), tensor(max).as_ref())
}

#[pymethods]
impl PyTensor {
    fn __pow__(&self, py: Python<'_>, other: &Bound<'_, PyAny>, _modulo: Option<&Bound<'_, PyAny>>) -> PyResult<Tensor> {
        self.pow_op(py, other)
    }
    fn __rpow__(&self, py: Python<'_>, other: &Bound<'_, PyAny>, _modulo: Option<&Bound<'_, PyAny>>) -> PyResult<Tensor> {
        self.bin(py, other, binary::pow, true)
    }
    fn __neg__(&self, py: Python<'_>) -> PyResult<Tensor> {
        self.un(py, unary::neg)
    }
    fn __pos__(slf: PyRef<'_, Self>) -> PyResult<PyRef<'_, Self>> {
        if slf.t.dtype() == crate::tensor::DType::Bool {
            return Err(pyo3::exceptions::PyNotImplementedError::new_err("The `+` operator, on a bool tensor is not supported."));
        }
        Ok(slf)
    }
    fn __abs__(&self, py: Python<'_>) -> PyResult<Tensor> {
        self.un(py, unary::abs)
    }
    fn __invert__(&self, py: Python<'_>) -> PyResult<Tensor> {
        if self.t.dtype().is_float() {
            // PyTorch's Tensor.__invert__ raises this TypeError itself (bitwise_not would say
            // "not implemented for 'Float'").
            return Err(PyTypeError::new_err("~ (operator.invert) is only implemented on integer and Boolean-type tensors"));
        }
        self.un(py, unary::bitwise_not)
    }

    // == and != give NotImplemented for operands that are not tensor-like (`t == None`), so
    // Python falls back to identity; the ordering operators raise, as PyTorch's.
    fn __eq__(&self, py: Python<'_>, other: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        match operand(&self.t, other) {
            Ok(_) => Ok(self.cmp(py, other, Cmp::Eq)?.into_pyobject(py)?.into_any().unbind()),
            Err(_) => Ok(py.NotImplemented()),
        }
    }
    fn __ne__(&self, py: Python<'_>, other: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        match operand(&self.t, other) {
            Ok(_) => Ok(self.cmp(py, other, Cmp::Ne)?.into_pyobject(py)?.into_any().unbind()),
            Err(_) => Ok(py.NotImplemented()),
        }
    }
    fn __lt__(&self, py: Python<'_>, other: &Bound<'_, PyAny>) -> PyResult<Tensor> {
        self.cmp(py, other, Cmp::Lt)
    }
    fn __le__(&self, py: Python<'_>, other: &Bound<'_, PyAny>) -> PyResult<Tensor> {
        self.cmp(py, other, Cmp::Le)
    }
    fn __gt__(&self, py: Python<'_>, other: &Bound<'_, PyAny>) -> PyResult<Tensor> {
        self.cmp(py, other, Cmp::Gt)
    }
    fn __ge__(&self, py: Python<'_>, other: &Bound<'_, PyAny>) -> PyResult<Tensor> {
        self.cmp(py, other, Cmp::Ge)
    }

    #[pyo3(signature = (other, *, alpha=None))]
    fn add(&self, py: Python<'_>, other: &Bound<'_, PyAny>, alpha: Option<&Bound<'_, PyAny>>) -> PyResult<Tensor> {
        let (o, alpha) = (operand(&self.t, other)?, alpha_arg(alpha)?);
        off_gil_guarded(py, self.t.numel(), || binary::add(&self.t, &binary::alpha_scaled(&self.t, &o, alpha, "add")?))
    }
    #[pyo3(signature = (other, *, alpha=None))]
    fn sub(&self, py: Python<'_>, other: &Bound<'_, PyAny>, alpha: Option<&Bound<'_, PyAny>>) -> PyResult<Tensor> {
        let (o, alpha) = (operand(&self.t, other)?, alpha_arg(alpha)?);
        off_gil_guarded(py, self.t.numel(), || binary::sub(&self.t, &binary::alpha_scaled(&self.t, &o, alpha, "sub")?))
    }
    fn mul(&self, py: Python<'_>, other: &Bound<'_, PyAny>) -> PyResult<Tensor> {
        self.bin(py, other, binary::mul, false)
    }
    /// `a / b`; `rounding_mode="trunc"` or `"floor"` rounds the quotient (zero gradient).
    #[pyo3(signature = (other, *, rounding_mode=None))]
    fn div(&self, py: Python<'_>, other: &Bound<'_, PyAny>, rounding_mode: Option<&str>) -> PyResult<Tensor> {
        self.bin(py, other, division(rounding_mode)?, false)
    }
    #[pyo3(signature = (other, *, rounding_mode=None))]
    fn divide(&self, py: Python<'_>, other: &Bound<'_, PyAny>, rounding_mode: Option<&str>) -> PyResult<Tensor> {
        self.div(py, other, rounding_mode)
    }
    #[pyo3(signature = (other, *, rounding_mode=None))]
    fn divide_<'py>(slf: PyRef<'py, Self>, py: Python<'_>, other: &Bound<'_, PyAny>, rounding_mode: Option<&str>) -> PyResult<PyRef<'py, Self>> {
        Self::div_(slf, py, other, rounding_mode)
    }
    fn pow(&self, py: Python<'_>, exponent: &Bound<'_, PyAny>) -> PyResult<Tensor> {
        self.pow_op(py, exponent)
    }
    /// `x.where(condition, y)`: x where condition, else y.
    #[pyo3(name = "where")]
    fn where_(&self, py: Python<'_>, condition: PyRef<'_, PyTensor>, other: &Bound<'_, PyAny>) -> PyResult<Tensor> {
        let (o, c) = (operand(&self.t, other)?, condition.t.clone());
        off_gil_guarded(py, self.t.numel(), || binary::where_(&c, &self.t, &o))
    }

    #[pyo3(signature = (min=None, max=None))]
    fn clamp(&self, py: Python<'_>, min: Option<&Bound<'_, PyAny>>, max: Option<&Bound<'_, PyAny>>) -> PyResult<Tensor> {
        let (min, max) = (bound_arg(min)?, bound_arg(max)?);
        off_gil_guarded(py, self.t.numel(), || clamp_any(&self.t, &min, &max))
    }
    #[pyo3(signature = (min=None, max=None))]
    fn clip(&self, py: Python<'_>, min: Option<&Bound<'_, PyAny>>, max: Option<&Bound<'_, PyAny>>) -> PyResult<Tensor> {
        self.clamp(py, min, max)
    }

    // ---- reductions -------------------------------------------------------------------

    #[pyo3(signature = (dim=None, keepdim=false, *, dtype=None))]
    fn sum(&self, py: Python<'_>, dim: Option<&Bound<'_, PyAny>>, keepdim: bool, dtype: Option<&Bound<'_, PyAny>>) -> PyResult<Tensor> {
        let dims = dims_arg(dim)?;
        let dtype = dtype.map(super::convert::dtype_arg).transpose()?;
        let x = as_dtype(&self.t, dtype)?;
        // An integer sum adds up in int64; `dtype=int32` then wraps as adding in int32 would.
        let sum = off_gil_guarded(py, x.numel(), || reduce::sum(&x, &dims, keepdim))?;
        Ok(as_dtype(&sum, dtype)?)
    }
    #[pyo3(signature = (dim=None, keepdim=false, *, dtype=None))]
    fn mean(&self, py: Python<'_>, dim: Option<&Bound<'_, PyAny>>, keepdim: bool, dtype: Option<&Bound<'_, PyAny>>) -> PyResult<Tensor> {
        let dims = dims_arg(dim)?;
        let x = as_dtype(&self.t, dtype.map(super::convert::dtype_arg).transpose()?)?;
        off_gil_guarded(py, x.numel(), || reduce::mean(&x, &dims, keepdim))
    }
    /// `max()`, `max(dim, keepdim)` -> (values, indices), or `max(other)` = maximum.
    #[pyo3(signature = (dim=None, keepdim=false))]
    fn max<'py>(&self, py: Python<'py>, dim: Option<&Bound<'py, PyAny>>, keepdim: bool) -> PyResult<Bound<'py, PyAny>> {
        self.extremum(py, dim, keepdim, true)
    }
    #[pyo3(signature = (dim=None, keepdim=false))]
    fn min<'py>(&self, py: Python<'py>, dim: Option<&Bound<'py, PyAny>>, keepdim: bool) -> PyResult<Bound<'py, PyAny>> {
        self.extremum(py, dim, keepdim, false)
    }
    #[pyo3(signature = (dim=None, keepdim=false))]
    fn argmax(&self, py: Python<'_>, dim: Option<isize>, keepdim: bool) -> PyResult<Tensor> {
        off_gil_guarded(py, self.t.numel(), || reduce::argmax(&self.t, dim, keepdim, true))
    }
    #[pyo3(signature = (dim=None, keepdim=false))]
    fn argmin(&self, py: Python<'_>, dim: Option<isize>, keepdim: bool) -> PyResult<Tensor> {
        off_gil_guarded(py, self.t.numel(), || reduce::argmax(&self.t, dim, keepdim, false))
    }
    #[pyo3(signature = (dim=None, unbiased=None, keepdim=false, *, correction=None))]
    fn var(&self, py: Python<'_>, dim: Option<&Bound<'_, PyAny>>, unbiased: Option<bool>, keepdim: bool, correction: Option<f64>) -> PyResult<Tensor> {
        let (dims, c) = var_args(dim, unbiased, correction)?;
        off_gil_guarded(py, self.t.numel(), || reduce::var(&self.t, &dims, c, keepdim))
    }
    #[pyo3(signature = (dim=None, unbiased=None, keepdim=false, *, correction=None))]
    fn std(&self, py: Python<'_>, dim: Option<&Bound<'_, PyAny>>, unbiased: Option<bool>, keepdim: bool, correction: Option<f64>) -> PyResult<Tensor> {
        let (dims, c) = var_args(dim, unbiased, correction)?;
        off_gil_guarded(py, self.t.numel(), || reduce::std(&self.t, &dims, c, keepdim))
    }
    #[pyo3(signature = (dim, keepdim=false))]
    fn logsumexp(&self, py: Python<'_>, dim: &Bound<'_, PyAny>, keepdim: bool) -> PyResult<Tensor> {
        let dims = dims_arg(Some(dim))?;
        off_gil_guarded(py, self.t.numel(), || reduce::logsumexp(&self.t, &dims, keepdim))
    }
    /// `dtype=`: the input is cast to it first, as PyTorch's (a float32 softmax of float16 logits).
    #[pyo3(signature = (dim, dtype=None))]
    fn softmax(&self, py: Python<'_>, dim: isize, dtype: Option<&Bound<'_, PyAny>>) -> PyResult<Tensor> {
        let x = as_dtype(&self.t, dtype.map(super::convert::dtype_arg).transpose()?)?;
        off_gil_guarded(py, x.numel(), || softmax::softmax(&x, dim, false))
    }
    #[pyo3(signature = (dim, dtype=None))]
    fn log_softmax(&self, py: Python<'_>, dim: isize, dtype: Option<&Bound<'_, PyAny>>) -> PyResult<Tensor> {
        let x = as_dtype(&self.t, dtype.map(super::convert::dtype_arg).transpose()?)?;
        off_gil_guarded(py, x.numel(), || softmax::softmax(&x, dim, true))
    }

    /// True where every element (over `dim`, or all of them) is nonzero; NaN counts as nonzero.
    #[pyo3(signature = (dim=None, keepdim=false))]
    fn all(&self, py: Python<'_>, dim: Option<&Bound<'_, PyAny>>, keepdim: bool) -> PyResult<Tensor> {
        if no_dims(dim) {
            return guarded(|| truth(&self.t));
        }
        let dims = dims_arg(dim)?;
        off_gil_guarded(py, self.t.numel(), || truth_reduce(&self.t, &dims, keepdim, true))
    }
    /// True where any element (over `dim`, or of all of them) is nonzero.
    #[pyo3(signature = (dim=None, keepdim=false))]
    fn any(&self, py: Python<'_>, dim: Option<&Bound<'_, PyAny>>, keepdim: bool) -> PyResult<Tensor> {
        if no_dims(dim) {
            return guarded(|| truth(&self.t));
        }
        let dims = dims_arg(dim)?;
        off_gil_guarded(py, self.t.numel(), || truth_reduce(&self.t, &dims, keepdim, false))
    }

    #[pyo3(signature = (dim, *, dtype=None))]
    fn cumsum(&self, py: Python<'_>, dim: isize, dtype: Option<&Bound<'_, PyAny>>) -> PyResult<Tensor> {
        let dtype = dtype.map(super::convert::dtype_arg).transpose()?;
        off_gil_guarded(py, self.t.numel(), || scan::cumsum(&self.t, dim, dtype))
    }
    #[pyo3(signature = (dim, *, dtype=None))]
    fn cumprod(&self, py: Python<'_>, dim: isize, dtype: Option<&Bound<'_, PyAny>>) -> PyResult<Tensor> {
        let dtype = dtype.map(super::convert::dtype_arg).transpose()?;
        off_gil_guarded(py, self.t.numel(), || scan::cumprod(&self.t, dim, dtype))
    }
    #[pyo3(signature = (dim, *, dtype=None))]
    fn cumsum_<'py>(slf: PyRef<'py, Self>, py: Python<'_>, dim: isize, dtype: Option<&Bound<'_, PyAny>>) -> PyResult<PyRef<'py, Self>> {
        let dtype = dtype.map(super::convert::dtype_arg).transpose()?;
        let t = slf.t.clone();
        off_gil_guarded(py, t.numel(), || inplace::apply_elementwise(&t, "cumsum_", |src| scan::cumsum(src, dim, dtype)))?;
        Ok(slf)
    }
    #[pyo3(signature = (dim, *, dtype=None))]
    fn cumprod_<'py>(slf: PyRef<'py, Self>, py: Python<'_>, dim: isize, dtype: Option<&Bound<'_, PyAny>>) -> PyResult<PyRef<'py, Self>> {
        let dtype = dtype.map(super::convert::dtype_arg).transpose()?;
        let t = slf.t.clone();
        off_gil_guarded(py, t.numel(), || inplace::apply_elementwise(&t, "cumprod_", |src| scan::cumprod(src, dim, dtype)))?;
        Ok(slf)
    }
    #[pyo3(signature = (dim=None, keepdim=false, *, dtype=None))]
    fn prod(&self, py: Python<'_>, dim: Option<isize>, keepdim: bool, dtype: Option<&Bound<'_, PyAny>>) -> PyResult<Tensor> {
        let dtype = dtype.map(super::convert::dtype_arg).transpose()?;
        off_gil_guarded(py, self.t.numel(), || scan::prod(&self.t, dim, keepdim, dtype))
    }
    /// polygamma(n, self): the n-th derivative of digamma (n >= 0).
    fn polygamma(&self, py: Python<'_>, n: i64) -> PyResult<Tensor> {
        off_gil_guarded(py, self.t.numel(), || crate::ops::polygamma::polygamma(&self.t, n))
    }
    fn polygamma_<'py>(slf: PyRef<'py, Self>, py: Python<'_>, n: i64) -> PyResult<PyRef<'py, Self>> {
        let t = slf.t.clone();
        off_gil_guarded(py, t.numel(), || inplace::apply_elementwise(&t, "polygamma_", |src| crate::ops::polygamma::polygamma(src, n)))?;
        Ok(slf)
    }
    /// round half to even, to `decimals` places (integer tensors are returned as they are).
    #[pyo3(signature = (*, decimals=0))]
    fn round(&self, py: Python<'_>, decimals: i64) -> PyResult<Tensor> {
        off_gil_guarded(py, self.t.numel(), || math::round_decimals(&self.t, decimals))
    }
    #[pyo3(signature = (*, decimals=0))]
    fn round_<'py>(slf: PyRef<'py, Self>, py: Python<'_>, decimals: i64) -> PyResult<PyRef<'py, Self>> {
        let t = slf.t.clone();
        off_gil_guarded(py, t.numel(), || inplace::apply_elementwise(&t, "round_", |src| math::round_decimals(src, decimals)))?;
        Ok(slf)
    }
    #[pyo3(signature = (eps=None))]
    fn logit(&self, py: Python<'_>, eps: Option<f64>) -> PyResult<Tensor> {
        off_gil_guarded(py, self.t.numel(), || math::logit(&self.t, eps))
    }
    #[pyo3(signature = (eps=None))]
    fn logit_<'py>(slf: PyRef<'py, Self>, py: Python<'_>, eps: Option<f64>) -> PyResult<PyRef<'py, Self>> {
        let t = slf.t.clone();
        off_gil_guarded(py, t.numel(), || inplace::apply_elementwise(&t, "logit_", |src| math::logit(src, eps)))?;
        Ok(slf)
    }
    fn pow_<'py>(slf: PyRef<'py, Self>, py: Python<'_>, exponent: &Bound<'_, PyAny>) -> PyResult<PyRef<'py, Self>> {
        let e = operand(&slf.t, exponent)?;
        let t = slf.t.clone();
        off_gil_guarded(py, t.numel(), || inplace::promoted_op(&t, &e, "pow_", |src| binary::pow(src, &e)))?;
        Ok(slf)
    }

    // ---- in-place ---------------------------------------------------------------------

    #[pyo3(signature = (other, *, alpha=None))]
    fn add_<'py>(slf: PyRef<'py, Self>, py: Python<'_>, other: &Bound<'_, PyAny>, alpha: Option<&Bound<'_, PyAny>>) -> PyResult<PyRef<'py, Self>> {
        let (o, alpha) = (operand(&slf.t, other)?, alpha_arg(alpha)?);
        let t = slf.t.clone();
        off_gil_guarded(py, t.numel(), || inplace::binary(&t, &binary::alpha_scaled(&t, &o, alpha, "add_")?, inplace::BinOp::Add))?;
        Ok(slf)
    }
    #[pyo3(signature = (other, *, alpha=None))]
    fn sub_<'py>(slf: PyRef<'py, Self>, py: Python<'_>, other: &Bound<'_, PyAny>, alpha: Option<&Bound<'_, PyAny>>) -> PyResult<PyRef<'py, Self>> {
        let (o, alpha) = (operand(&slf.t, other)?, alpha_arg(alpha)?);
        let t = slf.t.clone();
        off_gil_guarded(py, t.numel(), || inplace::binary(&t, &binary::alpha_scaled(&t, &o, alpha, "sub_")?, inplace::BinOp::Sub))?;
        Ok(slf)
    }
    fn mul_<'py>(slf: PyRef<'py, Self>, py: Python<'_>, other: &Bound<'_, PyAny>) -> PyResult<PyRef<'py, Self>> {
        slf.inplace(py, other, inplace::BinOp::Mul)?;
        Ok(slf)
    }
    #[pyo3(signature = (other, *, rounding_mode=None))]
    fn div_<'py>(slf: PyRef<'py, Self>, py: Python<'_>, other: &Bound<'_, PyAny>, rounding_mode: Option<&str>) -> PyResult<PyRef<'py, Self>> {
        match rounding_mode {
            None => slf.inplace(py, other, inplace::BinOp::Div)?,
            Some(_) => {
                let (f, o, t) = (division(rounding_mode)?, operand(&slf.t, other)?, slf.t.clone());
                off_gil_guarded(py, t.numel(), || inplace::promoted_op(&t, &o, "div_", |src| f(src, &o)))?
            }
        }
        Ok(slf)
    }
    #[pyo3(signature = (min=None, max=None))]
    fn clamp_<'py>(slf: PyRef<'py, Self>, py: Python<'_>, min: Option<&Bound<'_, PyAny>>, max: Option<&Bound<'_, PyAny>>) -> PyResult<PyRef<'py, Self>> {
        let (min, max) = (bound_arg(min)?, bound_arg(max)?);
        let t = slf.t.clone();
        off_gil_guarded(py, t.numel(), || inplace::apply_elementwise(&t, "clamp_", |t| clamp_any(t, &min, &max)))?;
        Ok(slf)
    }
    /// The core of the Python in-place forms (`_methods._util.assign`).
    fn _assign_(&self, py: Python<'_>, value: PyRef<'_, PyTensor>) -> PyResult<()> {
        let (t, v) = (self.t.clone(), value.t.clone());
        off_gil_guarded(py, t.numel(), || inplace::assign(&t, &v))
    }
    #[pyo3(signature = (src, non_blocking=false))]
    fn copy_<'py>(slf: PyRef<'py, Self>, py: Python<'_>, src: &Bound<'_, PyAny>, non_blocking: bool) -> PyResult<PyRef<'py, Self>> {
        let _ = non_blocking;
        let s = operand(&slf.t, src)?;
        let t = slf.t.clone();
        off_gil_guarded(py, t.numel(), || inplace::copy(&t, &s))?;
        Ok(slf)
    }
    fn zero_(slf: PyRef<'_, Self>) -> PyResult<PyRef<'_, Self>> {
        inplace::fill(&slf.t, Scalar::Int(0))?;
        Ok(slf)
    }
    fn fill_<'py>(slf: PyRef<'py, Self>, value: &Bound<'_, PyAny>) -> PyResult<PyRef<'py, Self>> {
        inplace::fill(&slf.t, number_arg(value)?)?;
        Ok(slf)
    }
    fn __iadd__(&self, py: Python<'_>, other: &Bound<'_, PyAny>) -> PyResult<()> {
        self.inplace(py, other, inplace::BinOp::Add)
    }
    fn __isub__(&self, py: Python<'_>, other: &Bound<'_, PyAny>) -> PyResult<()> {
        self.inplace(py, other, inplace::BinOp::Sub)
    }
    fn __imul__(&self, py: Python<'_>, other: &Bound<'_, PyAny>) -> PyResult<()> {
        self.inplace(py, other, inplace::BinOp::Mul)
    }
    fn __itruediv__(&self, py: Python<'_>, other: &Bound<'_, PyAny>) -> PyResult<()> {
        self.inplace(py, other, inplace::BinOp::Div)
    }
}

/// `dim=()` or `dim=[]`: `all` and `any` then reduce nothing (PyTorch's; `sum(dim=())` reduces
/// everything, for history's sake, and so does ferrograd's).
fn no_dims(dim: Option<&Bound<'_, PyAny>>) -> bool {
    dim.is_some_and(|d| !d.is_none() && d.extract::<isize>().is_err() && d.len().is_ok_and(|n| n == 0))
}

/// Each element's truth, as bool (NaN is true; uint8 stays uint8): `all`/`any` over no dims.
fn truth(t: &Tensor) -> Result<Tensor> {
    uint8_stays(t, crate::ops::cast::to_dtype(&t.detach(), crate::tensor::DType::Bool)?)
}

/// `t` in `dtype` when one is given (the ops' `dtype=` arguments).
fn as_dtype(t: &Tensor, dtype: Option<crate::tensor::DType>) -> Result<Tensor> {
    match dtype {
        Some(d) if d != t.dtype() => crate::ops::cast::to_dtype(t, d),
        _ => Ok(t.clone()),
    }
}

/// all (`every`) / any over `dims` (all dims when empty): a count of the elements that decide it,
/// compared with 0, so the shape rules are sum's. An empty reduction is True for all, False for any.
fn truth_reduce(t: &Tensor, dims: &[isize], keepdim: bool, every: bool) -> Result<Tensor> {
    use crate::ops::cast::to_dtype;
    use crate::tensor::DType;
    let mask = to_dtype(&t.detach(), DType::Bool)?;
    let deciding = if every { unary::logical_not(&mask)? } else { mask };
    let count = reduce::sum(&to_dtype(&deciding, DType::I64)?, dims, keepdim)?;
    let out = binary::compare(&count, &Tensor::full(&[], 0.0, DType::I64), if every { Cmp::Eq } else { Cmp::Ne })?;
    uint8_stays(t, out)
}

/// PyTorch's all/any of a uint8 tensor answer in uint8 (its legacy rule; every other dtype, bool).
fn uint8_stays(t: &Tensor, answer: Tensor) -> Result<Tensor> {
    if t.dtype() == crate::tensor::DType::U8 { crate::ops::cast::to_dtype(&answer, crate::tensor::DType::U8) } else { Ok(answer) }
}

fn var_args(dim: Option<&Bound<'_, PyAny>>, unbiased: Option<bool>, correction: Option<f64>) -> PyResult<(Vec<isize>, f64)> {
    let c = match (unbiased, correction) {
        (Some(_), Some(_)) => return Err(PyTypeError::new_err("var/std: pass either unbiased or correction, not both")),
        (Some(u), None) => if u { 1.0 } else { 0.0 },
        (None, Some(c)) => c,
        (None, None) => 1.0,
    };
    // var(False) in old PyTorch code means unbiased=False given positionally as dim.
    if let Some(d) = dim {
        if d.is_instance_of::<pyo3::types::PyBool>() {
            return Ok((Vec::new(), if d.extract::<bool>()? { 1.0 } else { 0.0 }));
        }
    }
    Ok((dims_arg(dim)?, c))
}

impl PyTensor {
    fn extremum<'py>(&self, py: Python<'py>, dim: Option<&Bound<'py, PyAny>>, keepdim: bool, is_max: bool) -> PyResult<Bound<'py, PyAny>> {
        match dim {
            None => Ok(Py::new(py, PyTensor::from(off_gil_guarded(py, self.t.numel(), || reduce::max_all(&self.t, is_max))?))?.into_bound(py).into_any()),
            Some(d) if d.cast::<PyTensor>().is_ok() => {
                let f = if is_max { binary::maximum } else { binary::minimum };
                Ok(self.bin(py, d, f, false)?.into_pyobject(py)?.into_any())
            }
            Some(d) => {
                let dim: isize = d.extract()?;
                let (v, i) = off_gil_guarded(py, self.t.numel(), || reduce::max_dim(&self.t, dim, keepdim, is_max))?;
                static RT: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
                let name = if is_max { "max" } else { "min" };
                let ctor = py_helper(py, &RT, "ferrograd._return_types", "values_indices")?;
                ctor.call1((name, PyTensor::from(v), PyTensor::from(i)))
            }
        }
    }
}

