//! dtype conversion (`.to(dtype)`, `.float()`, `.long()` ...), differentiable between floats.
//! Element conversions are PyTorch's on x86-64 (`tensor::dtype::cast`): floats truncate toward
//! zero into integers (NaN and out-of-range values as its cvttsd2si gives them), integers wrap.

use crate::autograd::{record, Backward};
use crate::error::Result;
use crate::tensor::dtype::cast;
use crate::tensor::{DType, Element, Tensor};
use crate::with_dtype;

fn convert<S: Element, D: Element>(x: &Tensor) -> Tensor {
    super::kernel::map::<S, D>(x, cast::<S, D>)
}

/// A new tensor of `dtype`; the same tensor when the dtype already matches (as PyTorch's `.to`).
pub fn to_dtype(x: &Tensor, dtype: DType) -> Result<Tensor> {
    if x.dtype() == dtype {
        return Ok(x.clone());
    }
    let out = with_dtype!(x.dtype(), S => with_dtype!(dtype, D => convert::<S, D>(x)));
    if !dtype.is_float() {
        // No gradient into an integer or bool: no node, but a trace must see the cast.
        crate::autograd::trace::log_op("ToCopyBackward0", &[x], &out);
        return Ok(out);
    }
    let from = x.dtype();
    record(out, &[x], || Ok(Box::new(ToCopyBackward { from })))
}

struct ToCopyBackward {
    from: DType,
}

impl Backward for ToCopyBackward {
    fn name(&self) -> &'static str {
        "ToCopyBackward0"
    }
    fn saves_tensors(&self) -> bool {
        false
    }
    fn apply(&self, grad: &Tensor, _needs: &[bool]) -> Result<Vec<Option<Tensor>>> {
        Ok(vec![Some(to_dtype(grad, self.from)?)])
    }
    fn differentiable(&self) -> bool {
        true
    }
}
