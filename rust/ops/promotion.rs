//! PyTorch's type promotion for binary ops: the result dtype of two operands (dimensioned
//! tensors, 0-d tensors and Python numbers ranked as c10 ranks them) and the operands cast to it.

use crate::error::Result;
use crate::ops::cast::to_dtype;
use crate::tensor::{DType, Tensor};

/// PyTorch's result_type: operands are ranked dimensioned tensors > 0-d tensors > wrapped
/// numbers (Python scalars, `Tensor::wrapped_scalar`), and a lower rank changes the dtype only
/// when its category (bool < integer < float) is higher: `uint8 + int64 0-d` is uint8,
/// `uint8 + float64 0-d` float64, `int + 2.5` the default float32, `float16 * 2.5` float16.
pub fn result_type(a: &Tensor, b: &Tensor) -> DType {
    // Same dtype and no Python number: the ranking cannot change it (the per-op overhead path).
    if a.dtype() == b.dtype() && !a.is_wrapped_number() && !b.is_wrapped_number() {
        return a.dtype();
    }
    let (mut dim, mut zero, mut wrapped) = (None, None, None);
    for t in [a, b] {
        let (slot, d) = if t.is_wrapped_number() {
            // A wrapped float counts as the default dtype (float32), not as its float64 carrier.
            (&mut wrapped, if t.dtype().is_float() { DType::F32 } else { t.dtype() })
        } else if t.ndim() == 0 {
            (&mut zero, t.dtype())
        } else {
            (&mut dim, t.dtype())
        };
        *slot = Some(slot.map_or(d, |s: DType| s.promote(d)));
    }
    combine_categories(dim, combine_categories(zero, wrapped)).unwrap_or(DType::F32)
}

/// c10's combine_categories: the higher-ranked dtype, unless the lower one is of a higher
/// category, where the two promote.
fn combine_categories(higher: Option<DType>, lower: Option<DType>) -> Option<DType> {
    match (higher, lower) {
        (Some(h), _) if h.is_float() => Some(h),
        (Some(h), Some(l)) if h == DType::Bool || l.is_float() => Some(h.promote(l)),
        (Some(h), _) => Some(h),
        (None, l) => l,
    }
}

pub(crate) fn promoted(a: &Tensor, b: &Tensor, dtype: DType) -> Result<(Tensor, Tensor)> {
    if a.dtype() == dtype && b.dtype() == dtype {
        return Ok((a.clone(), b.clone()));
    }
    Ok((to_dtype(&a.detach_if(dtype), dtype)?, to_dtype(&b.detach_if(dtype), dtype)?))
}

impl Tensor {
    /// Casting records a ToCopy node; the binary op's own node already routes gradients to the
    /// original inputs (the engine casts them back), so the cast copy needs no history.
    /// A Python number never has history: it is cast as it is (a detached alias first would be
    /// one more tensor per `x * 2`).
    fn detach_if(&self, dtype: DType) -> Tensor {
        if self.dtype() == dtype || self.is_wrapped_number() { self.clone() } else { self.detach() }
    }
}
