//! Reverse-mode autograd. An op that ran with recording on and an input requiring grad gets a
//! `Node`: its backward rule (a `Backward` written beside the op's forward) and one edge per
//! input. `engine::backward` walks the nodes in Rust.

pub mod engine;
pub mod grad_mode;

use std::sync::{Arc, Mutex, Weak};

pub use grad_mode::{is_grad_enabled, is_inference_mode_enabled, is_recording, set_grad_enabled, set_inference_mode, GradModeGuard};

use crate::bail;
use crate::error::Result;
use crate::tensor::{DType, Shape, Tensor, TensorImpl};

/// An op's backward rule. `apply` gets the gradient of the op's output and returns one gradient
/// per input (None where `needs[i]` is false or the input has no gradient).
pub trait Backward: Send + Sync {
    /// PyTorch's grad_fn name, e.g. "MulBackward0".
    fn name(&self) -> &'static str;
    fn apply(&self, grad: &Tensor, needs: &[bool]) -> Result<Vec<Option<Tensor>>>;
    /// True when the rule holds saved tensors; such a node can run once unless retain_graph.
    fn saves_tensors(&self) -> bool {
        true
    }
}

/// A tensor kept for backward. It is stored without history (no reference cycle through the
/// output's own grad_fn) and remembers the storage version, so an in-place change made after
/// saving is caught instead of giving a wrong gradient.
pub struct Saved {
    tensor: Tensor,
    version: u64,
}

impl Saved {
    pub fn new(t: &Tensor) -> Result<Saved> {
        if t.is_inference() {
            bail!(
                Runtime,
                "Inference tensors cannot be saved for backward. To work around you can make a clone to get a normal tensor and use it in autograd."
            );
        }
        Ok(Saved { tensor: t.detach(), version: t.version() })
    }
    pub fn get(&self) -> Result<&Tensor> {
        if self.tensor.version() != self.version {
            bail!(
                Runtime,
                "one of the variables needed for gradient computation has been modified by an inplace operation: [{}{:?}] is at version {}; expected version {} instead.",
                self.tensor.dtype().short_name(), self.tensor.shape(), self.tensor.version(), self.version
            );
        }
        Ok(&self.tensor)
    }
}

pub enum Edge {
    Node(Arc<Node>),
    /// A leaf that requires grad: its gradient accumulates into `.grad` (PyTorch's AccumulateGrad).
    Leaf(Tensor),
}

pub struct InputMeta {
    pub shape: Shape,
    pub dtype: DType,
}

pub struct Node {
    name: &'static str,
    saves: bool,
    /// None once the saved tensors were freed by a backward without retain_graph.
    fun: Mutex<Option<Box<dyn Backward>>>,
    pub(crate) next: Vec<Option<Edge>>,
    pub(crate) inputs: Vec<InputMeta>,
    /// The op's output when it called retain_grad(); weak, the tensor owns the node.
    retained: Mutex<Option<Weak<TensorImpl>>>,
}

impl Node {
    pub fn name(&self) -> &'static str {
        self.name
    }
    pub fn next_edges(&self) -> &[Option<Edge>] {
        &self.next
    }
    pub fn input_meta(&self) -> &[InputMeta] {
        &self.inputs
    }
    /// Whether saved tensors are still held (false after a backward without retain_graph).
    pub fn holds_saved(&self) -> bool {
        self.saves && self.fun.lock().map(|f| f.is_some()).unwrap_or(false)
    }
    pub(crate) fn set_retained(&self, t: &Tensor) {
        *self.retained.lock().unwrap_or_else(|e| e.into_inner()) = Some(Arc::downgrade(&t.0));
    }
    pub(crate) fn retained(&self) -> Option<Tensor> {
        self.retained.lock().ok()?.as_ref()?.upgrade().map(Tensor)
    }
}

impl Drop for Node {
    /// Frees a long chain of nodes iteratively: the default recursive drop would overflow the
    /// stack for graphs tens of thousands of ops deep (e.g. a loss summed over many steps).
    fn drop(&mut self) {
        let mut stack: Vec<Arc<Node>> = Vec::new();
        let take = |next: &mut Vec<Option<Edge>>, stack: &mut Vec<Arc<Node>>| {
            for e in next.drain(..) {
                if let Some(Edge::Node(n)) = e {
                    stack.push(n);
                }
            }
        };
        take(&mut self.next, &mut stack);
        while let Some(n) = stack.pop() {
            if let Ok(mut node) = Arc::try_unwrap(n) {
                take(&mut node.next, &mut stack);
            }
        }
    }
}

fn edge_of(t: &Tensor) -> Option<Edge> {
    if !t.requires_grad() {
        return None;
    }
    Some(match t.grad_fn() {
        Some(f) => Edge::Node(f),
        None => Edge::Leaf(t.clone()),
    })
}

/// Gives `out`'s node the name of the op the user called when that op is built from another
/// (`transpose` records a permute, `stack` a cat): PyTorch's users read TransposeBackward0 and
/// StackBackward0 in grad_fn. Only a node made for `out` is renamed, never `input`'s own (an op
/// that returned its input unchanged shares the input's node).
pub fn rename_grad_fn(out: Tensor, input: &Tensor, name: &'static str) -> Tensor {
    let before = input.grad_fn();
    {
        let mut meta = out.meta();
        if let Some(node) = meta.grad_fn.as_mut() {
            let fresh = before.as_ref().is_none_or(|b| !Arc::ptr_eq(b, node));
            if let (true, Some(n)) = (fresh, Arc::get_mut(node)) {
                n.name = name;
            }
        }
    }
    out
}

/// Whether an op with these inputs must record a node.
#[inline]
pub fn needs_record(inputs: &[&Tensor]) -> bool {
    inputs.iter().any(|t| t.requires_grad()) && is_recording()
}

/// Attaches a backward node to `out` when recording is needed; `make` builds the rule only then,
/// so ops save nothing when grad is off.
pub fn record(out: Tensor, inputs: &[&Tensor], make: impl FnOnce() -> Result<Box<dyn Backward>>) -> Result<Tensor> {
    if !needs_record(inputs) {
        return Ok(out);
    }
    let fun = make()?;
    let node = Node {
        name: fun.name(),
        saves: fun.saves_tensors(),
        fun: Mutex::new(Some(fun)),
        next: inputs.iter().map(|t| edge_of(t)).collect(),
        inputs: inputs.iter().map(|t| InputMeta { shape: t.shape().to_vec(), dtype: t.dtype() }).collect(),
        retained: Mutex::new(None),
    };
    out.set_history(Arc::new(node));
    Ok(out)
}
