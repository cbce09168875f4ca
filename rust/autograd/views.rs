//! In-place ops on views, as PyTorch does them (its CopySlices). A view shares its base's
//! memory, so writing into the view changes the base: the base's history is rewritten so that
//! its gradient flows through the in-place op for the elements the view covers and straight
//! through everywhere else, and the view becomes a view of that new history.
//!
//! `x = a * 2; v = x[:, 0]; v += 1` gives
//!   x: CopySlices(x's old history, v's new value),  v: AsStrided(x's new history),
//! where CopySlices' backward hands the gradient, zeroed over the view's region, to x's old
//! history and the region itself to the in-place op (whose backward reaches x's old history
//! through v's old view node). Both rules are recorded ops (a `where` and a gather), so
//! gradients of gradients go through them too.
//!
//! Any other view of the same base made before the write has a stale history (it still points
//! at the base's old one while its values may have changed): the version counter tells, and its
//! history is regenerated as AsStrided(base) the next time autograd reads it (`refresh`).

use std::sync::Arc;

use super::{Backward, Node};
use crate::bail;
use crate::error::Result;
use crate::ops::positions::{gather_positions, gather_rule};
use crate::tensor::{DType, Layout, Tensor};

/// The storage offset of each element of `layout`, in logical (row-major) order.
fn storage_offsets(layout: &Layout) -> Vec<usize> {
    let n = layout.numel();
    let mut out = Vec::with_capacity(n);
    if n == 0 {
        return out;
    }
    let nd = layout.shape.len();
    let mut idx = vec![0usize; nd];
    let mut off = layout.offset;
    for _ in 0..n {
        out.push(off);
        for d in (0..nd).rev() {
            idx[d] += 1;
            off += layout.strides[d];
            if idx[d] < layout.shape[d] {
                break;
            }
            off -= layout.strides[d] * layout.shape[d];
            idx[d] = 0;
        }
    }
    out
}

/// For each element of `view`, the flat (logical) index of the base element it shares memory
/// with. Both lie on one storage; a view reaching memory the base does not cover, or a base
/// holding one location twice, cannot be expressed and is an error. (A view may read one
/// location several times: its gradient is summed there.)
fn positions_in_base(base: &Tensor, view: &Tensor) -> Result<Arc<Vec<usize>>> {
    let (bl, vl) = (base.layout(), view.layout());
    let offsets = storage_offsets(vl);
    let outside = || {
        crate::error::Error::Runtime(format!(
            "a view (shape {:?}, strides {:?}, offset {}) reaches memory outside the tensor it is differentiated against (shape {:?}, strides {:?}, offset {}): its gradient cannot be expressed",
            vl.shape, vl.strides, vl.offset, bl.shape, bl.strides, bl.offset
        ))
    };
    let n = base.numel();
    if bl.is_contiguous() {
        let pos: Option<Vec<usize>> = offsets.iter().map(|&o| o.checked_sub(bl.offset).filter(|&p| p < n)).collect();
        return pos.map(Arc::new).ok_or_else(outside);
    }
    // A strided base (from_numpy of a transposed array, ...): invert its offsets.
    let base_offsets = storage_offsets(bl);
    let (lo, hi) = (base_offsets.iter().min().copied().unwrap_or(0), base_offsets.iter().max().copied().unwrap_or(0));
    let mut index_of = vec![usize::MAX; if n == 0 { 0 } else { hi - lo + 1 }];
    for (i, &o) in base_offsets.iter().enumerate() {
        if index_of[o - lo] != usize::MAX {
            bail!(Runtime, "in-place op on a view of a tensor (shape {:?}, strides {:?}) whose elements overlap in memory: clone() it first", bl.shape, bl.strides);
        }
        index_of[o - lo] = i;
    }
    let pos: Option<Vec<usize>> =
        offsets.iter().map(|&o| o.checked_sub(lo).and_then(|k| index_of.get(k).copied()).filter(|&p| p != usize::MAX)).collect();
    pos.map(Arc::new).ok_or_else(outside)
}

/// The base after an in-place op on its view: input 0 is the base's old history, input 1 the
/// view's new value.
struct CopySlices {
    pos: Arc<Vec<usize>>,
    view_shape: Vec<usize>,
    /// True over the view's region (where the base's old values were overwritten).
    region: Tensor,
}
impl Backward for CopySlices {
    fn name(&self) -> &'static str {
        "CopySlices"
    }
    fn saves_tensors(&self) -> bool {
        false
    }
    fn apply(&self, g: &Tensor, needs: &[bool]) -> Result<Vec<Option<Tensor>>> {
        let old = match needs[0] {
            true => Some(crate::ops::binary::where_(&self.region, &Tensor::full(&[], 0.0, g.dtype()), g)?),
            false => None,
        };
        let new = match needs[1] {
            true => Some(gather_positions(g, &self.pos, &self.view_shape)?),
            false => None,
        };
        Ok(vec![old, new])
    }
    fn differentiable(&self) -> bool {
        true
    }
}

/// The backward rule of `input.as_strided(...)` giving `view`: the gradient scattered back to
/// the elements of `input` that `view` reads (summed where it reads one several times).
pub(crate) fn as_strided_backward(input: &Tensor, view: &Tensor) -> Result<Box<dyn Backward>> {
    Ok(gather_rule("AsStridedBackward0", positions_in_base(input, view)?, input.shape().to_vec()))
}

/// Makes `view` a view of `base`'s current history (AsStrided(base)).
fn attach_as_view(view: &Tensor, base: &Tensor, pos: Arc<Vec<usize>>) {
    let node = Node::new(gather_rule("AsStridedBackward0", pos, base.shape().to_vec()), &[Some(base)], 1);
    view.set_history_at(Arc::new(node), 0);
}

/// Regenerates a stale tracked view's history from its base (see the module docs); returns
/// whether the view now requires grad. A view whose base is off the graph keeps no history.
pub(crate) fn refresh(view: &Tensor) -> bool {
    let Some(base) = view.base() else { return false };
    if !base.requires_grad() {
        return false;
    }
    match positions_in_base(base, view) {
        Ok(pos) => {
            attach_as_view(view, base, pos);
            true
        }
        // Unreachable for views made by ferrograd's own ops (they stay inside their base);
        // keeping the old history is the only option left.
        Err(_) => {
            view.mark_view_fresh();
            view.requires_grad()
        }
    }
}

/// Writes `value` (the in-place op's result, already `view`'s shape and dtype) into `view` and
/// rewrites the histories of `view`'s base and of `view` itself.
pub(crate) fn copy_slices(view: &Tensor, base: &Tensor, value: &Tensor) -> Result<()> {
    let pos = positions_in_base(base, view)?;
    let mut region = vec![false; base.numel()];
    for &p in pos.iter() {
        region[p] = true;
    }
    let region = Tensor::from_vec(region, base.shape())?;
    debug_assert_eq!(region.dtype(), DType::Bool);
    let fun = CopySlices { pos: pos.clone(), view_shape: view.shape().to_vec(), region };
    // The node's edges are taken now, before the base's history changes: input 0 is the old one.
    let node = Arc::new(Node::new(Box::new(fun), &[Some(base), Some(value)], 1));
    crate::ops::view::write_into(view, value)?;
    base.set_history_at(node, 0);
    attach_as_view(view, base, pos);
    Ok(())
}
