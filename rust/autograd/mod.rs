//! Reverse-mode autograd. An op that ran with recording on and an input requiring grad gets a
//! `Node`: its backward rule (a `Backward` written beside the op's forward) and one edge per
//! input. `engine::backward` walks the nodes in Rust.

pub mod engine;
pub mod grad_mode;
pub mod recompute;
pub mod trace;
pub(crate) mod views;

use std::any::Any;
use std::cell::RefCell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};

pub use grad_mode::{is_anomaly_enabled, is_grad_enabled, is_inference_mode_enabled, is_recording, set_anomaly_enabled, set_grad_enabled, set_inference_mode, GradModeGuard};

use crate::bail;
use crate::error::Result;
use crate::tensor::{DType, Shape, Tensor, TensorImpl};

/// An op's backward rule. `apply` gets the gradient of the op's output and returns one gradient
/// per input (None where `needs[i]` is false or the input has no gradient).
pub trait Backward: Send + Sync {
    /// PyTorch's grad_fn name, e.g. "MulBackward0".
    fn name(&self) -> &'static str;
    fn apply(&self, grad: &Tensor, needs: &[bool]) -> Result<Vec<Option<Tensor>>>;
    /// A node with several outputs (a custom Function) gets one gradient per output, None where
    /// an output received none. Single-output rules keep the default.
    fn apply_outputs(&self, grads: &[Option<Tensor>], needs: &[bool]) -> Result<Vec<Option<Tensor>>> {
        match grads.first() {
            Some(Some(g)) => self.apply(g, needs),
            _ => Ok(vec![None; needs.len()]),
        }
    }
    /// True when the rule holds saved tensors; such a node can run once unless retain_graph.
    fn saves_tensors(&self) -> bool {
        true
    }
    /// True when `apply`, run with grad mode on, is built only from recorded ops (and reads its
    /// saved tensors through `Saved::get`), so its result can be differentiated again
    /// (`create_graph=True`). A rule that says false runs as a fused kernel even then, and its
    /// results get a node that refuses a further backward instead of a silently wrong gradient.
    fn differentiable(&self) -> bool {
        false
    }
    /// What an exporter needs to know about the op beyond its inputs' and outputs' shapes (a
    /// convolution's stride, a softmax's dim), for `trace`. Only ops that export need them.
    fn attrs(&self) -> trace::Attrs {
        Vec::new()
    }
}

/// A gradient hook (`Tensor.register_hook`): may return a replacement for the gradient.
pub type GradHook = Arc<dyn Fn(&Tensor) -> Result<Option<Tensor>> + Send + Sync>;
/// `register_post_accumulate_grad_hook`: called with the leaf once its `.grad` is updated.
pub type PostAccumulateHook = Arc<dyn Fn(&Tensor) -> Result<()> + Send + Sync>;

static NEXT_HOOK_ID: AtomicU64 = AtomicU64::new(1);

/// A fresh id for a hook, so a handle can remove exactly the hook it registered.
pub fn next_hook_id() -> u64 {
    NEXT_HOOK_ID.fetch_add(1, Ordering::Relaxed)
}

/// Where a saved tensor's value came from in the graph: what `create_graph` reattaches on unpack.
enum History {
    /// A constant (did not require grad when saved).
    None,
    /// A leaf that requires grad: the leaf itself.
    Leaf(Tensor),
    /// An intermediate: its node and output number.
    Node(Arc<Node>, usize),
    /// An output of the very node that saved it. Holding that node would be a reference cycle;
    /// it is the node being run whenever the value is unpacked (see `CURRENT`).
    Output(usize),
}

thread_local! {
    /// The node the engine is running, for unpacking saved outputs with their history.
    static CURRENT: RefCell<Option<Arc<Node>>> = const { RefCell::new(None) };
    /// While set, every saved tensor unpacked with history is also recorded here (the engine's
    /// guard for rules that cannot be differentiated again).
    static TOUCHED: RefCell<Option<Vec<Tensor>>> = const { RefCell::new(None) };
}

/// A tensor kept for backward. It is stored without history (no reference cycle through the
/// output's own grad_fn) and remembers the storage version, so an in-place change made after
/// saving is caught instead of giving a wrong gradient. Its place in the graph is remembered
/// too: a backward that records (`create_graph=True`) unpacks it with that history, as
/// PyTorch's SavedVariable does, so gradients of gradients reach through it.
pub struct Saved {
    /// The value; a stand-in with no elements when `packed` holds it.
    tensor: Tensor,
    version: u64,
    history: History,
    /// What a `saved_tensors_hooks` pack hook made of the value, and the hooks to unpack it.
    packed: Option<Packed>,
}

/// A value packed by saved-tensor hooks, with the hooks that unpack it.
type Packed = (Arc<dyn SavedHooks>, Box<dyn Any + Send + Sync>);

/// `autograd.graph.saved_tensors_hooks`: turns a tensor saved for backward into anything (pack,
/// at save time) and back (unpack, when backward needs it), e.g. to keep activations elsewhere.
pub trait SavedHooks: Send + Sync {
    fn pack(&self, t: &Tensor) -> Result<Box<dyn Any + Send + Sync>>;
    fn unpack(&self, packed: &(dyn Any + Send + Sync)) -> Result<Tensor>;
}

thread_local! {
    /// The innermost `saved_tensors_hooks` in force on this thread (a stack: contexts nest).
    static SAVED_HOOKS: RefCell<Vec<Arc<dyn SavedHooks>>> = const { RefCell::new(Vec::new()) };
}

pub fn push_saved_hooks(h: Arc<dyn SavedHooks>) {
    SAVED_HOOKS.with(|s| s.borrow_mut().push(h));
}
pub fn pop_saved_hooks() {
    SAVED_HOOKS.with(|s| s.borrow_mut().pop());
}

/// Packs `t` with the innermost hooks, if any. The hooks are out of force while they run, so a
/// pack hook's own ops save nothing through it (as PyTorch does).
fn pack_with_hooks(t: &Tensor) -> Result<Option<Packed>> {
    let Some(h) = SAVED_HOOKS.with(|s| s.borrow().last().cloned()) else { return Ok(None) };
    let stack = SAVED_HOOKS.with(|s| std::mem::take(&mut *s.borrow_mut()));
    let packed = h.pack(t);
    SAVED_HOOKS.with(|s| *s.borrow_mut() = stack);
    Ok(Some((h, packed?)))
}

impl Saved {
    pub fn new(t: &Tensor) -> Result<Saved> {
        let history = if !t.requires_grad() {
            History::None
        } else {
            match t.grad_fn_nr() {
                Some((n, nr)) => History::Node(n, nr),
                None => History::Leaf(t.clone()),
            }
        };
        Saved::with_history(t, history)
    }
    /// For an op's own output, saved before its node exists (`exp` saves `exp(x)`).
    pub fn output(t: &Tensor) -> Result<Saved> {
        Saved::output_at(t, 0)
    }
    /// For output `nr` of a node with several outputs (a custom Function's).
    pub fn output_at(t: &Tensor, nr: usize) -> Result<Saved> {
        Saved::with_history(t, History::Output(nr))
    }
    fn with_history(t: &Tensor, history: History) -> Result<Saved> {
        if t.is_inference() {
            bail!(
                Runtime,
                "Inference tensors cannot be saved for backward. To work around you can make a clone to get a normal tensor and use it in autograd."
            );
        }
        let packed = pack_with_hooks(t)?;
        // A packed value is held by the hooks' result alone (that is the point of them: the
        // memory can go elsewhere); an empty stand-in keeps dtype and version counter.
        let tensor = if packed.is_some() { Tensor::zeros(&[0], t.dtype()) } else { t.detach() };
        Ok(Saved { tensor, version: t.version(), history, packed })
    }
    /// The saved value; with its history when grad mode is on (a backward with create_graph).
    pub fn get(&self) -> Result<Tensor> {
        let unpacked;
        let value = match &self.packed {
            Some((hooks, data)) => {
                unpacked = hooks.unpack(data.as_ref())?.detach();
                &unpacked
            }
            None => &self.tensor,
        };
        if self.packed.is_none() && self.tensor.version() != self.version {
            bail!(
                Runtime,
                "one of the variables needed for gradient computation has been modified by an inplace operation: [{}{:?}] is at version {}; expected version {} instead.",
                self.tensor.dtype().short_name(), self.tensor.shape(), self.tensor.version(), self.version
            );
        }
        let collecting = TOUCHED.with(|t| t.borrow().is_some());
        if !collecting && !is_recording() {
            return Ok(value.clone());
        }
        let linked = match &self.history {
            History::None => return Ok(value.clone()),
            History::Leaf(t) => t.clone(),
            History::Node(n, nr) => value.detach().with_history(n.clone(), *nr),
            History::Output(nr) => match CURRENT.with(|c| c.borrow().clone()) {
                Some(n) => value.detach().with_history(n, *nr),
                None => return Ok(value.clone()),
            },
        };
        if collecting {
            TOUCHED.with(|t| t.borrow_mut().as_mut().map(|v| v.push(linked.clone())));
            if !is_recording() {
                return Ok(value.clone());
            }
        }
        Ok(linked)
    }
}

/// Runs `f` with `node` as the node whose saved outputs unpack with history.
pub(crate) fn with_current<R>(node: &Arc<Node>, f: impl FnOnce() -> R) -> R {
    let prev = CURRENT.with(|c| c.replace(Some(node.clone())));
    let r = f();
    CURRENT.with(|c| *c.borrow_mut() = prev);
    r
}

/// Runs `f` and returns, with its result, the saved tensors with history it unpacked.
pub(crate) fn collect_touched<R>(f: impl FnOnce() -> R) -> (R, Vec<Tensor>) {
    let prev = TOUCHED.with(|t| t.replace(Some(Vec::new())));
    let r = f();
    let touched = TOUCHED.with(|t| std::mem::replace(&mut *t.borrow_mut(), prev)).unwrap_or_default();
    (r, touched)
}

pub enum Edge {
    /// A node and which of its outputs the input was.
    Node(Arc<Node>, usize),
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
    pub(crate) num_outputs: usize,
    /// Outputs that called retain_grad() (output number, tensor); weak, the tensor owns the node.
    retained: Mutex<Vec<(usize, Weak<TensorImpl>)>>,
    /// Hooks registered on the outputs of this node (`register_hook` on a non-leaf), in order.
    hooks: Mutex<Vec<(usize, u64, GradHook)>>,
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
    pub fn num_outputs(&self) -> usize {
        self.num_outputs
    }
    pub(crate) fn set_retained(&self, nr: usize, t: &Tensor) {
        let mut r = self.retained.lock().unwrap_or_else(|e| e.into_inner());
        r.retain(|(n, _)| *n != nr);
        r.push((nr, Arc::downgrade(&t.0)));
    }
    pub(crate) fn clear_retained(&self, nr: usize) {
        self.retained.lock().unwrap_or_else(|e| e.into_inner()).retain(|(n, _)| *n != nr);
    }
    pub(crate) fn retained(&self, nr: usize) -> Option<Tensor> {
        let r = self.retained.lock().unwrap_or_else(|e| e.into_inner());
        r.iter().find(|(n, _)| *n == nr)?.1.upgrade().map(Tensor)
    }
    pub(crate) fn add_hook(&self, nr: usize, id: u64, hook: GradHook) {
        self.hooks.lock().unwrap_or_else(|e| e.into_inner()).push((nr, id, hook));
    }
    pub(crate) fn remove_hook(&self, id: u64) -> bool {
        let mut h = self.hooks.lock().unwrap_or_else(|e| e.into_inner());
        let before = h.len();
        h.retain(|(_, i, _)| *i != id);
        h.len() != before
    }
    /// The hooks of output `nr`, in registration order (cloned: a hook may register another).
    pub(crate) fn hooks_of(&self, nr: usize) -> Vec<GradHook> {
        let h = self.hooks.lock().unwrap_or_else(|e| e.into_inner());
        h.iter().filter(|(n, _, _)| *n == nr).map(|(_, _, f)| f.clone()).collect()
    }
}

impl Drop for Node {
    /// Frees a long chain of nodes iteratively: the default recursive drop would overflow the
    /// stack for graphs tens of thousands of ops deep (e.g. a loss summed over many steps).
    fn drop(&mut self) {
        let mut stack: Vec<Arc<Node>> = Vec::new();
        let take = |next: &mut Vec<Option<Edge>>, stack: &mut Vec<Arc<Node>>| {
            for e in next.drain(..) {
                if let Some(Edge::Node(n, _)) = e {
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
    Some(match t.grad_fn_nr() {
        Some((f, nr)) => Edge::Node(f, nr),
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
    let tracing = trace::is_tracing();
    if !tracing && !needs_record(inputs) {
        return Ok(out);
    }
    let fun = make()?;
    if tracing {
        trace::log(fun.name(), inputs.iter().map(|t| Some((*t).clone())).collect(), vec![Some(out.clone())], fun.attrs());
        if !needs_record(inputs) {
            return Ok(out);
        }
    }
    let node = Node::new(fun, inputs.iter().map(|t| Some(*t)).collect::<Vec<_>>().as_slice(), 1);
    out.set_history(Arc::new(node));
    Ok(out)
}

/// Makes `fun` the history of `t`, which an in-place op has just written (PyTorch's
/// rebase_history): the node's inputs are taken with their history as it is now, so t's edge
/// leads to what t was before the write.
pub fn rebase(t: &Tensor, inputs: &[&Tensor], fun: Box<dyn Backward>) {
    let node = Node::new(fun, inputs.iter().map(|t| Some(*t)).collect::<Vec<_>>().as_slice(), 1);
    t.set_history(Arc::new(node));
}

/// Logs an op with several outputs when a trace is active. An op that attaches its node only
/// when `needs_record` calls this itself otherwise, so a trace sees it with grad off too.
pub fn trace_outputs(outputs: &[Option<Tensor>], inputs: &[Option<&Tensor>], fun: &dyn Backward) {
    if trace::is_tracing() {
        trace::log(fun.name(), inputs.iter().map(|t| t.cloned()).collect(), outputs.to_vec(), fun.attrs());
    }
}

/// Attaches one node with several outputs (a custom Function): `outputs[i]`, when present,
/// becomes output `i` of the node. Inputs that are None (not tensors) get no edge.
pub fn record_outputs(outputs: &[Option<Tensor>], inputs: &[Option<&Tensor>], fun: Box<dyn Backward>) -> Arc<Node> {
    trace_outputs(outputs, inputs, fun.as_ref());
    let node = Arc::new(Node::new(fun, inputs, outputs.len()));
    for (nr, out) in outputs.iter().enumerate() {
        if let Some(t) = out {
            t.set_history_at(node.clone(), nr);
            if inputs.iter().flatten().any(|i| i.shares_storage(t) && !i.same_tensor(t)) {
                // An in-place op on it would rewrite the input's history around the Function's
                // own backward (PyTorch forbids it with these words).
                t.meta().inplace_error = Some(format!(
                    "Output {nr} of {} is a view and is being modified inplace. This view was created inside a custom Function (or because an input was returned as-is) and the autograd logic to handle view+inplace would override the custom backward associated with the custom Function, leading to incorrect gradients. This behavior is forbidden. You can fix this by cloning the output of the custom Function.",
                    node.name()
                ));
            }
        }
    }
    node
}

impl Node {
    fn new(fun: Box<dyn Backward>, inputs: &[Option<&Tensor>], num_outputs: usize) -> Node {
        Node {
            name: fun.name(),
            saves: fun.saves_tensors(),
            fun: Mutex::new(Some(fun)),
            next: inputs.iter().map(|t| t.and_then(edge_of)).collect(),
            inputs: inputs
                .iter()
                .map(|t| match t {
                    Some(t) => InputMeta { shape: t.shape().to_vec(), dtype: t.dtype() },
                    None => InputMeta { shape: Vec::new(), dtype: DType::F32 },
                })
                .collect(),
            num_outputs,
            retained: Mutex::new(Vec::new()),
            hooks: Mutex::new(Vec::new()),
        }
    }
}
