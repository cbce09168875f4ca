//! float16 and bfloat16 arithmetic: in float32, rounded back, as PyTorch's CPU kernels compute
//! (they load halves into float registers, its "opmath" type). An op on half inputs is the
//! float32 op between two casts, so autograd records ToCopy nodes around a float32 node and
//! gradients reach the half tensors in their own dtype, computed in float32.
//!
//! Ops without such a detour refuse half inputs with NotImplementedError (`with_float!`).

use crate::error::Result;
use crate::ops::binary::result_type;
use crate::ops::cast::to_dtype;
use crate::tensor::{DType, Tensor};

/// The half dtype a binary op between `a` and `b` gives, if it gives one.
pub fn result(a: &Tensor, b: &Tensor) -> Option<DType> {
    Some(result_type(a, b)).filter(|d| d.is_half())
}

/// `op` on float32 copies of `a` and `b`, the result rounded to `dtype`. A wrapped Python number
/// goes straight from double to float32, so `x * 0.1` multiplies by float32's 0.1, not by
/// float16's, as PyTorch does.
pub fn binary(a: &Tensor, b: &Tensor, dtype: DType, op: impl FnOnce(&Tensor, &Tensor) -> Result<Tensor>) -> Result<Tensor> {
    let out = op(&to_dtype(a, DType::F32)?, &to_dtype(b, DType::F32)?)?;
    to_dtype(&out, dtype)
}

/// As `binary`, for ops whose PyTorch kernel has no float32 path for a Python number (fmod,
/// remainder, xlogy ...): the number is rounded to the half dtype first, as the common-dtype
/// cast rounds it there (fmod(x, 0.1) divides by float16's 0.1, 0.0999756).
pub fn binary_number_rounded(a: &Tensor, b: &Tensor, dtype: DType, op: impl FnOnce(&Tensor, &Tensor) -> Result<Tensor>) -> Result<Tensor> {
    let round = |t: &Tensor| if t.is_wrapped_number() { to_dtype(t, dtype) } else { Ok(t.clone()) };
    binary(&round(a)?, &round(b)?, dtype, op)
}

/// `op` on a float32 copy of `t`, the result rounded back to t's dtype when it is a float.
pub fn unary(t: &Tensor, op: impl FnOnce(&Tensor) -> Result<Tensor>) -> Result<Tensor> {
    let out = op(&to_dtype(t, DType::F32)?)?;
    if out.dtype().is_float() { to_dtype(&out, t.dtype()) } else { Ok(out) }
}

/// A backward rule written for float32/float64 run on a half gradient: in float32, the input
/// gradients rounded back to the gradient's dtype.
pub fn backward(g: &Tensor, rule: impl FnOnce(&Tensor) -> Result<Vec<Option<Tensor>>>) -> Result<Vec<Option<Tensor>>> {
    let grads = rule(&to_dtype(g, DType::F32)?)?;
    grads.into_iter().map(|gi| gi.map(|t| to_dtype(&t, g.dtype())).transpose()).collect()
}
