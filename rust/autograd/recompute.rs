//! Second derivatives of a fused op through its forward written in recorded ops.
//!
//! A fused layer (a recurrent layer over a whole sequence) computes its gradients in one kernel
//! that leaves no history, so `create_graph=True` alone cannot differentiate them again.
//! PyTorch writes a second form of such a backward out in differentiable ops (its CPU LSTM's
//! `mkldnn_rnn_layer_differentiable_backward`). Here the op gives its forward composed of
//! recorded ops instead, and with `create_graph=True` its node:
//!
//! 1. reruns that forward on detached copies of its inputs (a small local graph);
//! 2. takes the gradients of it with a graph (a nested backward of that local graph alone,
//!    never the caller's);
//! 3. hands them out through a `Reattach` node whose inputs are the op's real inputs and
//!    incoming gradients, and whose backward differentiates the local graph once more.
//!
//! The gradients agree with the fused kernel's to rounding. A third derivative is refused by the
//! engine (`Reattach` is once-differentiable), never silently wrong.

use super::{engine, record_outputs, Backward, GradModeGuard};
use crate::error::Result;
use crate::tensor::Tensor;

/// The gradients a fused node returns for `inputs` (its inputs unpacked with history, None where
/// absent), given `grads` (the gradients of its outputs), computed from `forward`, the op in
/// recorded ops: it takes the inputs and returns the outputs in the node's order.
pub fn grads_by_recompute(
    inputs: &[Option<Tensor>],
    grads: &[Option<Tensor>],
    needs: &[bool],
    forward: impl FnOnce(&[Option<Tensor>]) -> Result<Vec<Option<Tensor>>>,
) -> Result<Vec<Option<Tensor>>> {
    let local = |t: &Option<Tensor>| -> Result<Option<Tensor>> {
        t.as_ref()
            .map(|t| {
                let l = t.detach();
                l.set_requires_grad(t.requires_grad())?;
                Ok(l)
            })
            .transpose()
    };
    let local_inputs: Vec<Option<Tensor>> = inputs.iter().map(local).collect::<Result<_>>()?;
    let local_grads: Vec<Option<Tensor>> = grads.iter().map(local).collect::<Result<_>>()?;
    let outputs = {
        let _on = GradModeGuard::new(true);
        forward(&local_inputs)?
    };
    let roots: Vec<(Tensor, Tensor)> = outputs
        .iter()
        .zip(&local_grads)
        .filter_map(|(o, g)| match (o, g) {
            (Some(o), Some(g)) if o.requires_grad() => Some((o.clone(), g.clone())),
            _ => None,
        })
        .collect();
    let wanted: Vec<usize> = (0..inputs.len())
        .filter(|&i| needs.get(i).copied().unwrap_or(false) && local_inputs[i].as_ref().is_some_and(Tensor::requires_grad))
        .collect();
    let mut result = vec![None; inputs.len()];
    if roots.is_empty() || wanted.is_empty() {
        return Ok(result);
    }
    let wanted_tensors: Vec<Tensor> = wanted.iter().filter_map(|&i| local_inputs[i].clone()).collect();
    // retain_graph: the gradients' own graph reads the local forward's saved values.
    let found = engine::run(&roots, true, true, Some(&wanted_tensors))?;

    // The local leaves with history, each with the real tensor it stands for.
    let sources: Vec<(Tensor, Tensor)> = inputs
        .iter()
        .zip(&local_inputs)
        .chain(grads.iter().zip(&local_grads))
        .filter_map(|(real, l)| match (real, l) {
            (Some(real), Some(l)) if l.requires_grad() => Some((real.clone(), l.clone())),
            _ => None,
        })
        .collect();
    let values: Vec<Option<Tensor>> = found.iter().map(|g| g.as_ref().map(Tensor::detach)).collect();
    if found.iter().flatten().any(Tensor::requires_grad) {
        let reals: Vec<Option<&Tensor>> = sources.iter().map(|(r, _)| Some(r)).collect();
        let node = Reattach { local_outputs: found, local_inputs: sources.iter().map(|(_, l)| l.clone()).collect() };
        record_outputs(&values, &reals, Box::new(node));
    }
    for (&i, v) in wanted.iter().zip(values) {
        result[i] = v;
    }
    Ok(result)
}

/// The gradients of the local graph (their values are this node's outputs), tied to the tensors
/// the local leaves stand for: its backward is the local graph's backward.
struct Reattach {
    local_outputs: Vec<Option<Tensor>>,
    local_inputs: Vec<Tensor>,
}

impl Backward for Reattach {
    fn name(&self) -> &'static str {
        "RecomputedGradBackward"
    }
    fn apply(&self, grad: &Tensor, needs: &[bool]) -> Result<Vec<Option<Tensor>>> {
        self.apply_outputs(&[Some(grad.clone())], needs)
    }
    fn apply_outputs(&self, grads: &[Option<Tensor>], needs: &[bool]) -> Result<Vec<Option<Tensor>>> {
        let roots: Vec<(Tensor, Tensor)> = self
            .local_outputs
            .iter()
            .zip(grads)
            .filter_map(|(o, g)| match (o, g) {
                (Some(o), Some(g)) if o.requires_grad() => Some((o.clone(), g.clone())),
                _ => None,
            })
            .collect();
        if roots.is_empty() {
            return Ok(vec![None; needs.len()]);
        }
        // retain_graph: a later backward through this node (retain_graph=True) runs it again.
        let mut found = engine::run(&roots, true, false, Some(&self.local_inputs))?;
        for (g, &need) in found.iter_mut().zip(needs) {
            if !need {
                *g = None;
            }
        }
        Ok(found)
    }
}
