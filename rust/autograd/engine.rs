//! The backward pass: a topological walk over the nodes reachable from the roots, entirely in
//! Rust. Each node runs once all of its consumers have delivered their gradients; its saved
//! tensors are freed right after it runs unless `retain_graph`.
//!
//! With `create_graph` the walk runs with grad mode on: every rule that says it is
//! `differentiable` records its gradient computation, so the gradients it returns have a history
//! of their own and can be differentiated again. A rule that cannot (a fused kernel with no
//! recorded form yet) still computes its gradients, and they get a node that refuses a further
//! backward (PyTorch's `once_differentiable`): an error, never a silently wrong second derivative.

use std::collections::HashMap;
use std::sync::Arc;

use super::{collect_touched, with_current, Backward, Edge, GradModeGuard, Node};
use crate::bail;
use crate::error::Result;
use crate::tensor::Tensor;

fn key(n: &Arc<Node>) -> usize {
    Arc::as_ptr(n) as usize
}

/// Where gradients go: into leaves' `.grad` (`backward`), into the `.grad` of the given tensors
/// only (`backward(inputs=...)`), or back to the caller (`autograd.grad`).
enum Sink<'a> {
    Accumulate { only: Option<&'a [Tensor]> },
    Capture { inputs: &'a [Tensor], found: Vec<Option<Tensor>> },
}

impl Sink<'_> {
    fn leaf(&mut self, leaf: &Tensor, g: Tensor) -> Result<()> {
        if let Sink::Accumulate { only: Some(only) } = self {
            if !only.iter().any(|t| t.same_tensor(leaf)) {
                return Ok(()); // not asked for: its AccumulateGrad (and hooks) never run
            }
        }
        let hooks: Vec<_> = leaf.meta().hooks.iter().map(|(_, h)| h.clone()).collect();
        let g = run_hooks(&hooks, g)?;
        match self {
            Sink::Accumulate { .. } => {
                accumulate(leaf, g)?;
                let post: Vec<_> = leaf.meta().post_accumulate_hooks.iter().map(|(_, h)| h.clone()).collect();
                for h in post {
                    h(leaf)?;
                }
                Ok(())
            }
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
    /// The gradient of output `nr` of `node` is final (hooks already ran on it).
    fn node_done(&mut self, node: &Arc<Node>, nr: usize, g: &Tensor) -> Result<()> {
        match self {
            Sink::Accumulate { .. } => {
                if let Some(t) = node.retained(nr) {
                    accumulate(&t, g.clone())?;
                }
            }
            Sink::Capture { inputs, found } => {
                for (i, t) in inputs.iter().enumerate() {
                    if t.grad_fn_nr().is_some_and(|(f, n)| Arc::ptr_eq(&f, node) && n == nr) {
                        found[i] = Some(g.clone());
                    }
                }
            }
        }
        Ok(())
    }
}

/// Runs gradient hooks in order, each on the previous one's result.
fn run_hooks(hooks: &[super::GradHook], mut g: Tensor) -> Result<Tensor> {
    for h in hooks {
        if let Some(new) = h(&g)? {
            if new.shape() != g.shape() {
                bail!(Runtime, "hook has changed the size of value: expected a gradient of shape {:?}, the hook returned {:?}", g.shape(), new.shape());
            }
            g = new;
        }
    }
    Ok(g)
}

/// Adds `g` into `t.grad`, as PyTorch's AccumulateGrad does.
///
/// The first gradient is taken over only when nothing else holds it (neither its tensor nor its
/// storage: a clone shares the first, a view the second), else copied: it may be the tensor the
/// caller passed to backward, or one a rule handed to two inputs (`x + y`), and `.grad` must
/// never alias either. From then on `.grad` is ferrograd's own, so off the graph the next
/// gradients are added into it in place, whoever else holds it: `g = x.grad; loss.backward()`
/// leaves `g` holding the sum, as in PyTorch, and accumulating over micro-batches allocates
/// nothing. With history (create_graph) the sum is a new tensor, so the graph stays intact.
///
/// The read, the sum and the write happen under the tensor's autograd lock: two threads running
/// backward into the same leaf must each see the other's contribution (as PyTorch's
/// AccumulateGrad does under its mutex), or elements of one gradient are lost.
fn accumulate(t: &Tensor, g: Tensor) -> Result<()> {
    let mut meta = t.meta();
    let new = match meta.grad.take() {
        Some(old) if adds_in_place(&old, &g) => match crate::ops::inplace::binary(&old, &g, crate::ops::inplace::BinOp::Add) {
            Ok(()) => old,
            Err(e) => {
                meta.grad = Some(old);
                return Err(e);
            }
        },
        Some(old) => match crate::ops::binary::add(&old, &g) {
            Ok(sum) => sum,
            Err(e) => {
                meta.grad = Some(old);
                return Err(e);
            }
        },
        // A gradient with history (create_graph) is kept as it is: copying would cut it off.
        None if g.requires_grad() => g,
        None if Arc::strong_count(&g.0) > 1 || Arc::strong_count(g.storage()) > 1 || !g.is_contiguous() => g.deep_copy(),
        None => g,
    };
    meta.grad = Some(new);
    Ok(())
}

/// Whether `old + g` may be written into `old` (see `accumulate`): off the graph, with the
/// same shape and dtype (else the sum is a new tensor, as a broadcast or a promotion needs).
fn adds_in_place(old: &Tensor, g: &Tensor) -> bool {
    !crate::autograd::is_recording() && !old.requires_grad() && !g.requires_grad() && old.shape() == g.shape() && old.dtype() == g.dtype()
}

/// The node given to gradients computed by a rule that cannot be differentiated again.
struct NotDifferentiableBackward {
    name: &'static str,
}

impl Backward for NotDifferentiableBackward {
    fn name(&self) -> &'static str {
        "NotImplemented"
    }
    fn apply(&self, _grad: &Tensor, _needs: &[bool]) -> Result<Vec<Option<Tensor>>> {
        bail!(
            NotImplemented,
            "the derivative of {}'s gradient is not implemented: a gradient computed by it (backward with create_graph=True) cannot be differentiated again",
            self.name
        )
    }
    fn saves_tensors(&self) -> bool {
        false
    }
}

/// Anomaly mode's check, with PyTorch's message: the first node whose gradient holds a NaN is
/// where the NaN was made (its inputs, checked before, had none).
fn check_nan(node: &Arc<Node>, grads: &[Option<Tensor>]) -> Result<()> {
    for (i, g) in grads.iter().enumerate() {
        if let Some(g) = g.as_ref().filter(|g| g.dtype().is_float()) {
            if g.to_vec::<f64>().iter().any(|v| v.is_nan()) {
                bail!(Runtime, "Function '{}' returned nan values in its {i}th output.", node.name());
            }
        }
    }
    Ok(())
}

/// Runs one node's rule. With `create_graph`, a rule that is not differentiable runs without
/// recording, and what it returns is tied to its inputs (the incoming gradients and the saved
/// tensors it read) through a node that refuses a further backward.
fn apply_node(node: &Arc<Node>, f: &dyn Backward, grads: &[Option<Tensor>], needs: &[bool], create_graph: bool) -> Result<Vec<Option<Tensor>>> {
    if !create_graph || f.differentiable() {
        return with_current(node, || f.apply_outputs(grads, needs));
    }
    let (out, touched) = collect_touched(|| {
        let _off = GradModeGuard::new(false);
        with_current(node, || f.apply_outputs(grads, needs))
    });
    let out = out?;
    let sources: Vec<&Tensor> = grads.iter().flatten().chain(touched.iter()).filter(|t| t.requires_grad()).collect();
    if sources.is_empty() {
        return Ok(out);
    }
    out.into_iter()
        .map(|g| match g {
            Some(g) => Ok(Some(super::record(g.detach(), &sources, || Ok(Box::new(NotDifferentiableBackward { name: f.name() })))?)),
            None => Ok(None),
        })
        .collect()
}

/// Runs backward from `roots` (output, gradient of the output). With `inputs`, returns the
/// gradients of those tensors instead of accumulating into `.grad` (`autograd.grad`). With
/// `create_graph`, the gradients are recorded so they can be differentiated again.
pub fn run(roots: &[(Tensor, Tensor)], retain_graph: bool, create_graph: bool, inputs: Option<&[Tensor]>) -> Result<Vec<Option<Tensor>>> {
    let sink = match inputs {
        None => Sink::Accumulate { only: None },
        Some(inputs) => Sink::Capture { inputs, found: vec![None; inputs.len()] },
    };
    run_into(roots, retain_graph, create_graph, sink)
}

/// `backward(inputs=...)`: accumulates into the `.grad` of `inputs` (leaves or not) only.
pub fn backward_into(roots: &[(Tensor, Tensor)], retain_graph: bool, create_graph: bool, inputs: &[Tensor]) -> Result<()> {
    if inputs.is_empty() {
        bail!(Runtime, "'inputs' argument to backward() cannot be empty.");
    }
    if let Some(i) = inputs.iter().position(|t| !t.requires_grad()) {
        bail!(Runtime, "backward: inputs[{i}] (shape {:?}) does not require grad", inputs[i].shape());
    }
    // A non-leaf named here gets its gradient in `.grad`, now and in later backward calls: PyTorch
    // calls retain_grad() on it.
    for t in inputs {
        t.retain_grad();
    }
    run_into(roots, retain_graph, create_graph, Sink::Accumulate { only: Some(inputs) }).map(|_| ())
}

fn run_into(roots: &[(Tensor, Tensor)], retain_graph: bool, create_graph: bool, mut sink: Sink<'_>) -> Result<Vec<Option<Tensor>>> {
    let _mode = GradModeGuard::new(create_graph);

    // Count, for every reachable node, how many edges point at it.
    let mut deps: HashMap<usize, usize> = HashMap::new();
    let mut stack: Vec<Arc<Node>> = Vec::new();
    let mut grads: HashMap<usize, Vec<Option<Tensor>>> = HashMap::new();
    let mut ready: Vec<Arc<Node>> = Vec::new();
    let mut root_nodes: Vec<Arc<Node>> = Vec::new();
    let mut leaves = Leaves::default();
    for (i, (out, g)) in roots.iter().enumerate() {
        if !out.requires_grad() {
            bail!(Runtime, "element {i} of tensors does not require grad and does not have a grad_fn");
        }
        if g.shape() != out.shape() {
            bail!(Runtime, "Mismatch in shape: grad_output[{i}] has a shape of {:?} and output[{i}] has a shape of {:?}.", g.shape(), out.shape());
        }
        match out.grad_fn_nr() {
            None => leaves.add(out, g.clone())?,
            Some((node, nr)) => {
                let k = key(&node);
                add_into(&mut grads, &node, nr, g.clone())?;
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
            match e {
                Edge::Node(child, _) => {
                    let k = key(child);
                    let seen = deps.contains_key(&k);
                    *deps.entry(k).or_insert(0) += 1;
                    if !seen {
                        stack.push(child.clone());
                    }
                }
                Edge::Leaf(t) => *leaves.deps.entry(leaf_key(t)).or_insert(0) += 1,
            }
        }
    }
    // A root that is itself a leaf no node feeds has its gradient now.
    for (out, _) in roots {
        if out.grad_fn().is_none() && !leaves.deps.contains_key(&leaf_key(out)) {
            if let Some(total) = leaves.pending.remove(&leaf_key(out)) {
                sink.leaf(out, total)?;
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
        let Some(mut outs) = grads.remove(&k) else {
            // Nothing reached this node (every consumer returned None for it): its inputs get
            // nothing from it either, but they must still learn that it is done.
            for edge in node.next.iter().flatten() {
                release(edge, None, &mut grads, &mut deps, &mut ready, &mut leaves, &mut sink)?;
            }
            continue;
        };
        for (nr, slot) in outs.iter_mut().enumerate() {
            if let Some(g) = slot.take() {
                let g = run_hooks(&node.hooks_of(nr), g)?;
                sink.node_done(&node, nr, &g)?;
                *slot = Some(g);
            }
        }
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
            let out = apply_node(&node, f.as_ref(), &outs, &needs, create_graph)?;
            if !retain_graph && node.saves {
                *fun = None;
            }
            out
        };
        drop(outs);
        if super::is_anomaly_enabled() {
            check_nan(&node, &input_grads)?;
        }
        if input_grads.len() != node.next.len() {
            bail!(Runtime, "function {} returned an incorrect number of gradients (expected {}, got {})", node.name(), node.next.len(), input_grads.len());
        }
        for ((edge, g), meta) in node.next.iter().zip(input_grads).zip(&node.inputs) {
            let Some(edge) = edge else { continue };
            let g = match g {
                Some(g) if g.shape() != meta.shape.as_slice() => {
                    bail!(Runtime, "internal error: {} returned a gradient of shape {:?} for an input of shape {:?}", node.name(), g.shape(), meta.shape)
                }
                Some(g) if g.dtype() != meta.dtype => Some(crate::ops::cast::to_dtype(&g, meta.dtype)?),
                g => g,
            };
            release(edge, g, &mut grads, &mut deps, &mut ready, &mut leaves, &mut sink)?;
        }
    }
    Ok(match sink {
        Sink::Accumulate { .. } => Vec::new(),
        Sink::Capture { found, .. } => found,
    })
}

/// Delivers one edge's gradient (None: the producer had none for it) and, once every edge into
/// a node or a leaf has delivered, makes it ready (a node) or final (a leaf).
#[allow(clippy::too_many_arguments)]
fn release(
    edge: &Edge,
    g: Option<Tensor>,
    grads: &mut HashMap<usize, Vec<Option<Tensor>>>,
    deps: &mut HashMap<usize, usize>,
    ready: &mut Vec<Arc<Node>>,
    leaves: &mut Leaves,
    sink: &mut Sink<'_>,
) -> Result<()> {
    match edge {
        Edge::Leaf(t) => leaves.arrive(t, g, sink),
        Edge::Node(child, nr) => {
            if let Some(g) = g {
                add_into(grads, child, *nr, g)?;
            }
            let d = deps.get_mut(&key(child)).expect("every child was counted in the first walk");
            *d -= 1;
            if *d == 0 {
                ready.push(child.clone());
            }
            Ok(())
        }
    }
}

fn leaf_key(t: &Tensor) -> usize {
    Arc::as_ptr(&t.0) as usize
}

/// Gradients on their way to leaves. A leaf fed by several edges (`x * x`) gets their sum once
/// the last one arrives, as PyTorch's AccumulateGrad node does: its hooks see the whole gradient,
/// and its post-accumulate hooks run once, at the moment it is final (what lets a distributed
/// wrapper start reducing it while the rest of backward goes on).
#[derive(Default)]
struct Leaves {
    deps: HashMap<usize, usize>,
    pending: HashMap<usize, Tensor>,
}

impl Leaves {
    fn add(&mut self, t: &Tensor, g: Tensor) -> Result<()> {
        let k = leaf_key(t);
        let total = match self.pending.remove(&k) {
            Some(old) => crate::ops::binary::add(&old, &g)?,
            None => g,
        };
        self.pending.insert(k, total);
        Ok(())
    }
    fn arrive(&mut self, t: &Tensor, g: Option<Tensor>, sink: &mut Sink<'_>) -> Result<()> {
        if let Some(g) = g {
            self.add(t, g)?;
        }
        let k = leaf_key(t);
        let left = self.deps.get_mut(&k).map(|d| {
            *d = d.saturating_sub(1);
            *d
        });
        if left.unwrap_or(0) == 0 {
            if let Some(total) = self.pending.remove(&k) {
                sink.leaf(t, total)?;
            }
        }
        Ok(())
    }
}

/// Adds `g` to the gradient collected so far for output `nr` of `node`.
fn add_into(grads: &mut HashMap<usize, Vec<Option<Tensor>>>, node: &Arc<Node>, nr: usize, g: Tensor) -> Result<()> {
    let slots = grads.entry(key(node)).or_insert_with(|| vec![None; node.num_outputs.max(1)]);
    slots[nr] = Some(match slots[nr].take() {
        Some(old) => crate::ops::binary::add(&old, &g)?,
        None => g,
    });
    Ok(())
}
