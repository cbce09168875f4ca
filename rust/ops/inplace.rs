//! In-place ops (`add_`, `mul_`, `copy_`, `zero_`, `fill_`, `clamp_` ...). They write into the
//! tensor's storage (so views see the change) and bump its version.
//!
//! Rules, as PyTorch: a leaf that requires grad (or a view of one) may only be changed with grad
//! mode off; a non-leaf on the graph is rebased, i.e. its grad_fn becomes the in-place op's node;
//! on a view, the base's history is rewritten too (`autograd::views`, PyTorch's CopySlices).

use crate::autograd::{is_recording, rebase, trace, Backward, Saved};
use crate::bail;
use crate::error::Result;
use crate::ops::binary::result_type;
use crate::ops::view::write_into;
use crate::parallel::for_each_chunk_by_cost;
use crate::ops::kernel::{map_slice_in_place, Apply1};
use crate::tensor::{Element, Numeric, Scalar, Tensor, ViewBase};
use crate::with_numeric;

#[derive(Clone, Copy, Debug)]
pub enum BinOp {
    Add,
    Sub,
    Mul,
    Div,
}

/// `t op= other` (add_, sub_, mul_, div_, `+=` ...). Off the graph and on a contiguous tensor
/// whose dtype the result keeps, this is one parallel pass over t's own memory, like numpy's
/// in-place ops (optimizer updates take this path); otherwise the general `apply`.
pub fn binary(t: &Tensor, other: &Tensor, op: BinOp) -> Result<()> {
    check_no_internal_overlap(t)?;
    if matches!(op, BinOp::Sub) {
        // The fast path below never reaches sub's own check (`x -= False` raises in PyTorch).
        crate::ops::binary::check_sub(t, other)?;
    }
    let graph = is_recording() && (t.requires_grad() || other.requires_grad());
    let same_dtype = result_type(t, other) == t.dtype() && !matches!(op, BinOp::Div if !t.dtype().is_float());
    // On the graph the op still writes in place where its backward needs nothing of t's old
    // value: `+=` and `-=` (a ResNet block's `out += identity`), and `*=` and `/=` by a value
    // that does not require grad (their backward reads only that value). The node goes on t
    // afterwards. `t *= w` with w requiring grad needs t's old value, and a view needs
    // CopySlices: the general path.
    let needs_nothing_of_t = matches!(op, BinOp::Add | BinOp::Sub) || !other.requires_grad();
    let direct = !graph || (needs_nothing_of_t && !t.is_view());
    if direct && !trace::is_tracing() && same_dtype && t.is_contiguous() && !t.shares_storage(other) && t.dtype() != crate::tensor::DType::Bool && !t.dtype().is_half() {
        check_inplace(t)?;
        let o = crate::ops::cast::to_dtype(&other.detach(), t.dtype())?;
        if crate::tensor::shape::broadcast_shapes(t.shape(), o.shape(), "in-place op")? != t.shape() {
            bail!(Runtime, "output with shape {:?} doesn't match the broadcast shape {:?}", t.shape(),
                crate::tensor::shape::broadcast_shapes(t.shape(), o.shape(), "in-place op")?);
        }
        with_numeric!(t.dtype(), "in-place op", T => fast::<T>(t, &o, op));
        if graph {
            rebase(t, &[t, other], crate::ops::binary::in_place_backward(op, t, &o)?);
        }
        return Ok(());
    }
    let f = match op {
        BinOp::Add => crate::ops::binary::add,
        BinOp::Sub => crate::ops::binary::sub,
        BinOp::Mul => crate::ops::binary::mul,
        BinOp::Div => crate::ops::binary::div,
    };
    // `other` may be on the graph while `t` is not (`a.mul_(w)`): mul then saves t's old value
    // for w's gradient, so the op must run on a copy of it, as when t itself requires grad.
    apply_with(t, "in-place op", graph, |src| f(src, other))
}

fn fast<T: Numeric + std::ops::Div<Output = T>>(t: &Tensor, o: &Tensor, op: BinOp) {
    let run = |(d, v): (&mut [T], &[T])| {
        macro_rules! go {
            ($e:expr) => {
                if v.len() == 1 {
                    let y = v[0];
                    d.iter_mut().for_each(|x| *x = $e(*x, y));
                } else {
                    d.iter_mut().zip(v).for_each(|(x, &y)| *x = $e(*x, y));
                }
            };
        }
        match op {
            BinOp::Add => go!(|a: T, b: T| a.wrapping_add(b)),
            BinOp::Sub => go!(|a: T, b: T| a.wrapping_sub(b)),
            BinOp::Mul => go!(|a: T, b: T| a.wrapping_mul(b)),
            BinOp::Div => go!(|a: T, b: T| a / b),
        }
    };
    let (off, n) = (t.layout().offset, t.numel());
    let apply = |vals: &[T]| {
        let mut guard = t.write();
        let data = &mut T::slice_mut(&mut guard)[off..off + n];
        if vals.len() == 1 {
            for_each_chunk_by_cost(data, &|_, d| run((d, vals)));
        } else {
            for_each_chunk_by_cost(data, &|start, d| {
                let len = d.len();
                run((d, &vals[start..start + len]))
            });
        }
    };
    if o.layout().is_one_value() {
        // One value, or one expanded to any shape (the gradient of a sum, accumulating into a
        // `.grad`): that value, not a gathered copy of it (2.5x PyTorch's time at 1M elements).
        apply(&[o.with_view::<T, _>(|v| v.data[v.layout.offset])]);
    } else if o.shape() == t.shape() && o.is_contiguous() {
        // Read straight from the operand's storage (a different one: checked by the caller).
        o.with_view::<T, _>(|v| apply(&v.data[v.layout.offset..v.layout.offset + n]));
    } else {
        // A broadcast operand, made contiguous at t's shape once.
        let vals: Vec<T> = o.expand(t.shape()).map(|e| e.to_vec()).unwrap_or_default();
        apply(&vals);
    }
}

/// An expanded tensor (a stride 0 over a dim longer than 1) holds one memory location in several
/// elements: an op that writes every element would apply itself several times to it. PyTorch
/// refuses it with this message (fill_ and zero_, which write one value, are allowed).
pub fn check_no_internal_overlap(t: &Tensor) -> Result<()> {
    let l = t.layout();
    if t.numel() > 0 && l.shape.iter().zip(&l.strides).any(|(&n, &s)| n > 1 && s == 0) {
        bail!(
            Runtime,
            "unsupported operation: more than one element of the written-to tensor refers to a single memory location. Please clone() the tensor before performing the operation. (in-place op on an expanded tensor of shape {:?})",
            t.shape()
        );
    }
    Ok(())
}

pub fn check_inplace(t: &Tensor) -> Result<()> {
    if is_recording() && t.requires_grad() && t.is_leaf() {
        bail!(Runtime, "a leaf Variable that requires grad is being used in an in-place operation.");
    }
    if is_recording() && t.requires_grad() {
        if t.base().is_some_and(|b| b.is_leaf() && b.requires_grad()) {
            bail!(Runtime, "a view of a leaf Variable that requires grad is being used in an in-place operation.");
        }
        if let Some(msg) = t.meta().inplace_error.clone() {
            bail!(Runtime, "{msg}");
        }
    }
    if t.is_inference() && !crate::autograd::is_inference_mode_enabled() {
        bail!(Runtime, "Inplace update to inference tensor outside InferenceMode is not allowed. You can make a clone to get a normal tensor before doing inplace update.");
    }
    Ok(())
}

/// Applies `f` (an out-of-place op producing `t`'s new value) in place: checks, writes the
/// values into `t`'s storage and moves `t` onto the result's history.
pub fn apply(t: &Tensor, op: &str, f: impl FnOnce(&Tensor) -> Result<Tensor>) -> Result<()> {
    apply_with(t, op, is_recording() && t.requires_grad(), f)
}

/// `apply`; with `copy_old` the op runs on a copy of t's old value (as PyTorch's original_self):
/// its backward may need that value, which the write below overwrites.
fn apply_with(t: &Tensor, op: &str, copy_old: bool, f: impl FnOnce(&Tensor) -> Result<Tensor>) -> Result<()> {
    check_inplace(t)?;
    let recording = is_recording();
    let src = if copy_old { t.clone_tensor()? } else { t.clone() };
    let mut out = f(&src)?;
    if recording && src.requires_grad() && out.grad_fn().is_none() {
        // The new value does not depend on the old one (fill_, copy_ from a constant): the old
        // history must receive zero gradient, not keep flowing into it. A `where` with an
        // all-false condition does that and keeps the value exact (`old * 0 + new` made NaN
        // wherever the old value was NaN or inf).
        out = crate::ops::binary::where_(&Tensor::full(&[], 0.0, crate::tensor::DType::Bool), &src, &out)?;
    }
    if out.shape() != t.shape() {
        bail!(Runtime, "{op}: output with shape {:?} doesn't match the broadcast shape {:?}", t.shape(), out.shape());
    }
    if !out.dtype().can_cast_to(t.dtype()) {
        bail!(Runtime, "{op}: result type {} can't be cast to the desired output type {} (shape {:?})", out.dtype().torch_name(), t.dtype().torch_name(), t.shape());
    }
    if out.dtype() != t.dtype() {
        // The result is written in t's dtype; on the graph the cast is a node, so the gradient
        // reaching the op's backward has the dtype it computed in (`f32.atan2_(f64)`).
        out = crate::ops::cast::to_dtype(&out, t.dtype())?;
    }
    if recording && out.requires_grad() && t.is_view() {
        // The base changes with the view: its history is rewritten (PyTorch's CopySlices).
        return match t.view_base() {
            ViewBase::Tracked(base) => crate::autograd::views::copy_slices(t, base, &out),
            _ => bail!(
                Runtime,
                "{op}: a view (shape {:?}) was created in no_grad mode and is being modified inplace with grad mode enabled. Given that this use case is ambiguous and error-prone, it is forbidden. You can clarify your code by moving both the view and the inplace either both inside the no_grad block (if you don't want the inplace to be tracked) or both outside (if you want the inplace to be tracked).",
                t.shape()
            ),
        };
    }
    trace::log_inplace(op, t, &out)?;
    write_into(t, &out)?;
    if let Some((node, nr)) = out.grad_fn_nr() {
        if recording {
            t.set_history_at(node, nr);
        }
    }
    Ok(())
}

/// `apply` for ops that write every element from its own old value (`+=`, `clamp_`, `copy_`):
/// an expanded `t` is refused first.
pub fn apply_elementwise(t: &Tensor, op: &str, f: impl FnOnce(&Tensor) -> Result<Tensor>) -> Result<()> {
    check_no_internal_overlap(t)?;
    apply(t, op, f)
}

/// `t.relu_()`, `t.exp_()` ... for an op whose backward needs only its result: `map` writes
/// into t's own memory and, on the graph, the node saves t itself, as PyTorch's in-place ops
/// save `result`. The general path (`apply`) computes a new tensor and copies it in, and on the
/// graph first copies t's old value: a ResNet's in-place ReLU kept two copies of each
/// activation for backward (the node's result and t) and made a third while it ran.
/// A view on the graph (CopySlices), a half or integer tensor, a strided one or a trace take
/// the general path (`out_of_place` is the op).
pub fn map_saving_result(
    t: &Tensor,
    op: &str,
    out_of_place: impl FnOnce(&Tensor) -> Result<Tensor>,
    map: impl FnOnce(&Tensor) -> Result<()>,
    node: impl FnOnce(Saved) -> Box<dyn Backward>,
) -> Result<()> {
    let graph = is_recording() && t.requires_grad();
    let dtype = t.dtype();
    if !dtype.is_float() || dtype.is_half() || !t.is_contiguous() || trace::is_tracing() || (graph && t.is_view()) {
        return apply_elementwise(t, op, out_of_place);
    }
    check_inplace(t)?;
    map(t)?;
    if graph {
        // Saved after the write, so its version is the written one: a later in-place change
        // of t makes backward refuse, as it should.
        rebase(t, &[t], node(Saved::output(t)?));
    }
    Ok(())
}

/// `f` over a contiguous tensor's own memory (`map_saving_result`).
pub fn map_in_place<T: Element, F: Apply1<T, T>>(t: &Tensor, f: &F) {
    let (off, n) = (t.layout().offset, t.numel());
    let mut guard = t.write();
    let data = &mut T::slice_mut(&mut guard)[off..off + n];
    for_each_chunk_by_cost(data, &|_, d| map_slice_in_place(d, f));
}

/// Writes `value` (an out-of-place op's result, computed by the caller on a clone of `t`) into
/// `t`, which takes value's history: the Python in-place forms (`F.elu_`, `F.hardtanh_` ...).
pub fn assign(t: &Tensor, value: &Tensor) -> Result<()> {
    check_no_internal_overlap(t)?;
    apply_with(t, "in-place op", false, |_| Ok(value.clone()))
}

/// `t op= other` for the bitwise ops (`&= |= ^= <<= >>=`).
pub fn bitwise(t: &Tensor, other: &Tensor, op: crate::ops::binary::Bitwise) -> Result<()> {
    promoted_op(t, other, op.name(), |src| crate::ops::binary::bitwise(src, other, op))
}

/// `t op= other` for an op whose result has the promoted dtype (bitwise ops, `//=`, `%=`). The
/// result dtype is checked before the kernel runs, so `int_t &= 1.5` names the cast (as PyTorch
/// does), not the float kernel.
pub fn promoted_op(t: &Tensor, other: &Tensor, op: &str, f: impl FnOnce(&Tensor) -> Result<Tensor>) -> Result<()> {
    let dtype = result_type(t, other);
    if !dtype.can_cast_to(t.dtype()) {
        bail!(Runtime, "{op}: result type {} can't be cast to the desired output type {} (shape {:?})", dtype.torch_name(), t.dtype().torch_name(), t.shape());
    }
    check_no_internal_overlap(t)?;
    // The op may save t's old value for other's gradient (`a.atan2_(w)`): it runs on a copy.
    apply_with(t, op, is_recording() && (t.requires_grad() || other.requires_grad()), f)
}

/// `fill_(v)` / `zero_()`: an integer value is stored exactly, and one the dtype cannot hold
/// is refused (`uint8.fill_(300)`), as in PyTorch.
pub fn fill(t: &Tensor, value: Scalar) -> Result<()> {
    crate::tensor::check_fits(value, t.dtype(), "fill_")?;
    if (is_recording() && t.requires_grad()) || trace::is_tracing() {
        return apply(t, "fill_", |_| Tensor::try_full(t.shape(), value, t.dtype()));
    }
    check_inplace(t)?;
    write_into(t, &Tensor::try_full(&[], value, t.dtype())?)
}

/// `copy_(src)`: src broadcast to t's shape and cast to t's dtype.
pub fn copy(t: &Tensor, src: &Tensor) -> Result<()> {
    if !(is_recording() && (t.requires_grad() || src.requires_grad())) && !trace::is_tracing() {
        // Nothing to record: src's elements go straight into t, without the clone the recorded
        // form makes (the same checks, the same broadcast and cast).
        check_no_internal_overlap(t)?;
        check_inplace(t)?;
        return write_into(t, src);
    }
    apply_elementwise(t, "copy_", |old| {
        let s = crate::ops::cast::to_dtype(src, t.dtype())?;
        let s = if s.shape() == t.shape() { s.clone_tensor()? } else { s.expand(t.shape())?.clone_tensor()? };
        if is_recording() && old.requires_grad() {
            // The old value's history gets a zero gradient (PyTorch's), also when src has one.
            return crate::ops::binary::where_(&Tensor::full(&[], 0.0, crate::tensor::DType::Bool), old, &s);
        }
        Ok(s)
    })
}
