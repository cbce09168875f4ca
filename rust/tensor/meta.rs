//! The tensor's autograd side: requires_grad, its place in the graph (grad_fn, output number),
//! `.grad`, retain_grad and hooks. A view made with grad mode on regenerates a stale history
//! from its base here first (`autograd::views`), so every reader sees the current one.

use std::sync::atomic::Ordering;
use std::sync::{Arc, MutexGuard};

use super::{AutogradMeta, Tensor};
use crate::autograd::Node;
use crate::bail;
use crate::error::Result;

impl Tensor {
    pub fn requires_grad(&self) -> bool {
        // A view whose base got a history through another view since it was made requires grad
        // now (its values may come from that history): the check costs non-views nothing.
        self.0.requires_grad.load(Ordering::Relaxed) || (self.view_history_is_stale() && crate::autograd::views::refresh(self))
    }
    pub(crate) fn meta(&self) -> MutexGuard<'_, AutogradMeta> {
        self.0.meta.lock().unwrap_or_else(|e| e.into_inner())
    }
    /// `meta()` with a stale view's history regenerated first (for code reading grad_fn).
    fn fresh_meta(&self) -> MutexGuard<'_, AutogradMeta> {
        if self.view_history_is_stale() {
            crate::autograd::views::refresh(self);
        }
        self.meta()
    }
    /// `requires_grad_()`: only leaves may change it, and only float tensors may require grad.
    pub fn set_requires_grad(&self, flag: bool) -> Result<()> {
        if flag && !self.dtype().is_float() {
            bail!(Runtime, "Only Tensors of floating point and complex dtype can require gradients (got {})", self.dtype().name());
        }
        if !flag && self.grad_fn().is_some() {
            bail!(
                Runtime,
                "you can only change requires_grad flags of leaf variables. If you want to use a computed variable in a subgraph that doesn't require differentiation use var_no_grad = var.detach()."
            );
        }
        self.0.requires_grad.store(flag, Ordering::Relaxed);
        Ok(())
    }
    /// `detach_()`: this tensor leaves the graph that made it and becomes a leaf that does not
    /// require grad. A view cannot (its history is regenerated from its base's), as in PyTorch.
    pub fn detach_in_place(&self) -> Result<()> {
        if self.is_view() {
            bail!(Runtime, "Can't detach views in-place. Use detach() instead. (shape {:?})", self.shape());
        }
        let mut m = self.meta();
        if let Some(old) = m.grad_fn.take() {
            if m.retains_grad {
                old.clear_retained(m.output_nr);
            }
        }
        m.output_nr = 0;
        drop(m);
        self.0.requires_grad.store(false, Ordering::Relaxed);
        Ok(())
    }
    pub(crate) fn set_history(&self, node: Arc<Node>) {
        self.set_history_at(node, 0);
    }
    /// Makes this tensor output `nr` of `node`.
    pub(crate) fn set_history_at(&self, node: Arc<Node>, nr: usize) {
        self.0.requires_grad.store(true, Ordering::Relaxed);
        self.0.view_version.store(self.version(), Ordering::Relaxed);
        let mut m = self.meta();
        if m.retains_grad {
            // retain_grad() follows the tensor onto its new history (an in-place op rebased it):
            // `.grad` is the gradient of the new value, as PyTorch's.
            if let Some(old) = &m.grad_fn {
                old.clear_retained(m.output_nr);
            }
            node.set_retained(nr, self);
        }
        m.grad_fn = Some(node);
        m.output_nr = nr;
    }
    /// This (fresh, unshared) tensor as output `nr` of `node`: how a saved tensor is unpacked
    /// with its history.
    pub(crate) fn with_history(self, node: Arc<Node>, nr: usize) -> Tensor {
        self.set_history_at(node, nr);
        self
    }
    pub fn grad_fn(&self) -> Option<Arc<Node>> {
        self.grad_fn_nr().map(|(n, _)| n)
    }
    /// The node and output number that produced this tensor (None for leaves).
    pub fn grad_fn_nr(&self) -> Option<(Arc<Node>, usize)> {
        let m = self.fresh_meta();
        m.grad_fn.clone().map(|n| (n, m.output_nr))
    }
    pub fn is_leaf(&self) -> bool {
        self.grad_fn_nr().is_none()
    }
    pub fn grad(&self) -> Option<Tensor> {
        self.meta().grad.clone()
    }
    pub fn set_grad(&self, grad: Option<Tensor>) -> Result<()> {
        if let Some(g) = &grad {
            if g.shape() != self.shape() {
                bail!(Runtime, "assigned grad has data of a different size: grad shape {:?}, tensor shape {:?}", g.shape(), self.shape());
            }
            if g.dtype() != self.dtype() {
                bail!(Runtime, "assigned grad has data of a different type: {} vs tensor {}", g.dtype().name(), self.dtype().name());
            }
        }
        self.meta().grad = grad;
        Ok(())
    }
    /// `retain_grad()`: keep a non-leaf's gradient in `.grad` after backward (no-op on leaves).
    pub fn retain_grad(&self) {
        let mut m = self.fresh_meta();
        if let Some(f) = &m.grad_fn {
            f.set_retained(m.output_nr, self);
            m.retains_grad = true;
        }
    }
    pub fn retains_grad(&self) -> bool {
        self.meta().retains_grad
    }

    /// `register_hook`: runs `hook` on this tensor's gradient each time it is computed (before
    /// it is accumulated or passed on); the hook may return a replacement. Returns its id.
    pub fn register_hook(&self, hook: crate::autograd::GradHook) -> Result<u64> {
        if !self.requires_grad() {
            bail!(Runtime, "cannot register a hook on a tensor that doesn't require gradient");
        }
        let id = crate::autograd::next_hook_id();
        let mut m = self.fresh_meta();
        match &m.grad_fn {
            Some(f) => f.add_hook(m.output_nr, id, hook),
            None => m.hooks.push((id, hook)),
        }
        Ok(id)
    }
    /// `register_post_accumulate_grad_hook`: leaves only, run after `.grad` is updated.
    pub fn register_post_accumulate_grad_hook(&self, hook: crate::autograd::PostAccumulateHook) -> Result<u64> {
        if !self.requires_grad() {
            bail!(Runtime, "cannot register a hook on a tensor that doesn't require gradient");
        }
        if !self.is_leaf() {
            bail!(Runtime, "post accumulate grad hooks cannot be registered on non-leaf tensors");
        }
        let id = crate::autograd::next_hook_id();
        self.meta().post_accumulate_hooks.push((id, hook));
        Ok(id)
    }
    /// Removes a hook registered on this tensor (either kind); false when it was not there.
    pub fn remove_hook(&self, id: u64) -> bool {
        let mut m = self.meta();
        let before = m.hooks.len() + m.post_accumulate_hooks.len();
        m.hooks.retain(|(i, _)| *i != id);
        m.post_accumulate_hooks.retain(|(i, _)| *i != id);
        if m.hooks.len() + m.post_accumulate_hooks.len() != before {
            return true;
        }
        m.grad_fn.as_ref().is_some_and(|f| f.remove_hook(id))
    }
}
