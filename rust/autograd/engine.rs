//! The backward pass: a topological walk over the nodes reachable from the roots, entirely in
//! Rust. Each node runs once all of its consumers have delivered their gradients; its saved
//! tensors are freed right after it runs unless `retain_graph`.

use std::collections::HashMap;
use std::sync::Arc;

use super::{Edge, GradModeGuard, Node};
use crate::bail;
use crate::error::Result;
use crate::tensor::Tensor;

fn key(n: &Arc<Node>) -> usize {
    Arc::as_ptr(n) as usize
}

/// Where gradients go: into leaves' `.grad` (`backward`) or back to the caller (`autograd.grad`).
enum Sink<'a> {
    Accumulate,
    Capture { inputs: &'a [Tensor], found: Vec<Option<Tensor>> },
}

impl Sink<'_> {
    fn leaf(&mut self, leaf: &Tensor, g: Tensor) -> Result<()> {
        match self {
            Sink::Accumulate => accumulate(leaf, g),
            Sink::Capture { inputs, found } => {
                for (i, t) in inputs.iter().enumerate() {
                    if t.same_tensor(leaf) {
                        found[i] = Some(match found[i].take() {
                            None => g.clone(),
                            Some(old) => crate::ops::binary::add(&old, &g)?,
                        });
                    }
                }
                Ok(())
            }
        }
    }
    fn node_done(&mut self, node: &Arc<Node>, g: &Tensor) -> Result<()> {
        match self {
            Sink::Accumulate => {
                if let Some(t) = node.retained() {
                    accumulate(&t, g.clone())?;
                }
            }
            Sink::Capture { inputs, found } => {
                for (i, t) in inputs.iter().enumerate() {
                    if t.grad_fn().is_some_and(|f| Arc::ptr_eq(&f, node)) {
                        found[i] = Some(g.clone());
                    }
                }
            }
        }
        Ok(())
    }
}

/// Adds `g` into `t.grad`. A gradient that other tensors may still hold (its storage is shared)
/// is copied first, so a later in-place change to one `.grad` never shows up in another.
///
/// The read, the sum and the write happen under the tensor's autograd lock: two threads running
/// backward into the same leaf must each see the other's contribution (as PyTorch's
/// AccumulateGrad does under its mutex), or elements of one gradient are lost.
fn accumulate(t: &Tensor, g: Tensor) -> Result<()> {
    let mut meta = t.meta();
    let new = match meta.grad.take() {
        Some(old) => match crate::ops::binary::add(&old, &g) {
            Ok(sum) => sum,
            Err(e) => {
                meta.grad = Some(old);
                return Err(e);
            }
        },
        None if Arc::strong_count(g.storage()) > 1 || !g.is_contiguous() => g.deep_copy(),
        None => g,
    };
    meta.grad = Some(new);
    Ok(())
}

/// Runs backward from `roots` (output, gradient of the output). With `inputs`, returns the
/// gradients of those tensors instead of accumulating into `.grad` (`autograd.grad`).
pub fn run(roots: &[(Tensor, Tensor)], retain_graph: bool, inputs: Option<&[Tensor]>) -> Result<Vec<Option<Tensor>>> {
    let _no_grad = GradModeGuard::new(false);
    let mut sink = match inputs {
        None => Sink::Accumulate,
        Some(inputs) => Sink::Capture { inputs, found: vec![None; inputs.len()] },
    };

    // Count, for every reachable node, how many edges point at it.
    let mut deps: HashMap<usize, usize> = HashMap::new();
    let mut stack: Vec<Arc<Node>> = Vec::new();
    let mut grads: HashMap<usize, Tensor> = HashMap::new();
    let mut ready: Vec<Arc<Node>> = Vec::new();
    let mut root_nodes: Vec<Arc<Node>> = Vec::new();
    for (i, (out, g)) in roots.iter().enumerate() {
        if !out.requires_grad() {
            bail!(Runtime, "element {i} of tensors does not require grad and does not have a grad_fn");
        }
        if g.shape() != out.shape() {
            bail!(Runtime, "Mismatch in shape: grad_output[{i}] has a shape of {:?} and output[{i}] has a shape of {:?}.", g.shape(), out.shape());
        }
        match out.grad_fn() {
            None => sink.leaf(out, g.clone())?,
            Some(node) => {
                let k = key(&node);
                let total = match grads.remove(&k) {
                    Some(old) => crate::ops::binary::add(&old, g)?,
                    None => g.clone(),
                };
                grads.insert(k, total);
                if let std::collections::hash_map::Entry::Vacant(e) = deps.entry(k) {
                    e.insert(0);
                    stack.push(node.clone());
                }
                root_nodes.push(node);
            }
        }
    }
    while let Some(n) = stack.pop() {
        for e in n.next.iter().flatten() {
            if let Edge::Node(child) = e {
                let k = key(child);
                let seen = deps.contains_key(&k);
                *deps.entry(k).or_insert(0) += 1;
                if !seen {
                    stack.push(child.clone());
                }
            }
        }
    }
    for n in root_nodes {
        if deps.get(&key(&n)) == Some(&0) && !ready.iter().any(|r| Arc::ptr_eq(r, &n)) {
            ready.push(n);
        }
    }

    while let Some(node) = ready.pop() {
        let k = key(&node);
        let Some(grad) = grads.remove(&k) else { continue };
        sink.node_done(&node, &grad)?;
        let needs: Vec<bool> = node.next.iter().map(|e| e.is_some()).collect();
        let input_grads = {
            let mut fun = node.fun.lock().unwrap_or_else(|e| e.into_inner());
            let Some(f) = fun.as_ref() else {
                bail!(
                    Runtime,
                    "Trying to backward through the graph a second time (or directly access saved tensors after they have already been freed). Saved intermediate values of the graph are freed when you call .backward() or autograd.grad(). Specify retain_graph=True if you need to backward through the graph a second time or if you need to access saved tensors after calling backward. (node {})",
                    node.name()
                );
            };
            let out = f.apply(&grad, &needs)?;
            if !retain_graph && node.saves {
                *fun = None;
            }
            out
        };
        drop(grad);
        for ((edge, g), meta) in node.next.iter().zip(input_grads).zip(&node.inputs) {
            let (Some(edge), Some(mut g)) = (edge, g) else { continue };
            if g.shape() != meta.shape.as_slice() {
                bail!(Runtime, "internal error: {} returned a gradient of shape {:?} for an input of shape {:?}", node.name(), g.shape(), meta.shape);
            }
            if g.dtype() != meta.dtype {
                g = crate::ops::cast::to_dtype(&g, meta.dtype)?;
            }
            match edge {
                Edge::Leaf(t) => sink.leaf(t, g)?,
                Edge::Node(child) => {
                    let ck = key(child);
                    let total = match grads.remove(&ck) {
                        Some(old) => crate::ops::binary::add(&old, &g)?,
                        None => g,
                    };
                    grads.insert(ck, total);
                    let d = deps.get_mut(&ck).expect("every child was counted in the first walk");
                    *d -= 1;
                    if *d == 0 {
                        ready.push(child.clone());
                    }
                }
            }
        }
    }
    Ok(match sink {
        Sink::Accumulate => Vec::new(),
        Sink::Capture { found, .. } => found,
    })
}
