//! In-place ops (`add_`, `mul_`, `copy_`, `zero_`, `fill_`, `clamp_` ...). They write into the
//! tensor's storage (so views see the change) and bump its version.
//!
//! Rules, as PyTorch: a leaf that requires grad may only be changed with grad mode off; a
//! non-leaf on the graph is rebased, i.e. its grad_fn becomes the in-place op's node.

use crate::autograd::is_recording;
use crate::bail;
use crate::error::Result;
use crate::ops::view::write_into;
use crate::tensor::Tensor;

pub fn check_inplace(t: &Tensor) -> Result<()> {
    if is_recording() && t.requires_grad() && t.is_leaf() {
        bail!(Runtime, "a leaf Variable that requires grad is being used in an in-place operation.");
    }
    if is_recording() && t.requires_grad() && t.is_view() {
        // PyTorch rewrites the base's history here (CopySlices); without that the base would
        // get a silently wrong gradient, so refuse instead.
        bail!(
            Runtime,
            "in-place operation on a view (shape {:?}) of a tensor that requires grad is not supported: the base tensor's gradient would be wrong. Use an out-of-place op, or .clone() the view first.",
            t.shape()
        );
    }
    if t.is_inference() && !crate::autograd::is_inference_mode_enabled() {
        bail!(Runtime, "Inplace update to inference tensor outside InferenceMode is not allowed. You can make a clone to get a normal tensor before doing inplace update.");
    }
    Ok(())
}

/// Applies `f` (an out-of-place op producing `t`'s new value) in place: checks, writes the
/// values into `t`'s storage and moves `t` onto the result's history.
pub fn apply(t: &Tensor, op: &str, f: impl FnOnce(&Tensor) -> Result<Tensor>) -> Result<()> {
    check_inplace(t)?;
    let recording = is_recording();
    // With recording on, the op runs on a copy of t's old value (as PyTorch's original_self):
    // its backward may need that value, which the write below overwrites.
    let src = if recording && t.requires_grad() { t.clone_tensor()? } else { t.clone() };
    let mut out = f(&src)?;
    if recording && src.requires_grad() && out.grad_fn().is_none() {
        // The new value does not depend on the old one (fill_, copy_ from a constant): the old
        // history must receive zero gradient, not keep flowing into it.
        out = crate::ops::binary::add(&crate::ops::binary::mul(&src, &Tensor::full(&[], 0.0, src.dtype()))?, &out)?;
    }
    if out.shape() != t.shape() {
        bail!(Runtime, "{op}: output with shape {:?} doesn't match the broadcast shape {:?}", t.shape(), out.shape());
    }
    if out.dtype() != t.dtype() && t.dtype().is_float() != out.dtype().is_float() && !t.dtype().is_float() {
        bail!(Runtime, "{op}: result type {} can't be cast to the desired output type {}", out.dtype().short_name(), t.dtype().short_name());
    }
    write_into(t, &out)?;
    if let Some(node) = out.grad_fn() {
        if recording {
            t.set_history(node);
        }
    }
    Ok(())
}

/// `fill_(v)` / `zero_()`.
pub fn fill(t: &Tensor, value: f64) -> Result<()> {
    if is_recording() && t.requires_grad() {
        return apply(t, "fill_", |_| Ok(Tensor::full(t.shape(), value, t.dtype())));
    }
    check_inplace(t)?;
    write_into(t, &Tensor::full(&[], value, t.dtype()))
}

/// `copy_(src)`: src broadcast to t's shape and cast to t's dtype.
pub fn copy(t: &Tensor, src: &Tensor) -> Result<()> {
    apply(t, "copy_", |_| {
        let s = crate::ops::cast::to_dtype(src, t.dtype())?;
        if s.shape() == t.shape() { s.clone_tensor() } else { s.expand(t.shape())?.clone_tensor() }
    })
}
