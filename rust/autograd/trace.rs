//! The op tracer, for export (`fg.onnx`). While a trace is active on a thread, every op that
//! passes through `autograd::record` (every differentiable op) is logged there with its name,
//! attributes, inputs and outputs, whether or not grad is enabled and whether or not any input
//! requires grad. Tracing never attaches history: a traced forward leaves the graph as it would
//! be without the trace.
//!
//! The log holds the tensors themselves, so a tensor's identity (`Arc` address) cannot be
//! reused by another tensor while the trace lives. An op whose forward runs other recorded ops
//! logs those first and itself last; a consumer keeps what the outputs need and drops the rest.
//! An in-place op logs the value it wrote as an op named `copy_` from the new value to the
//! tensor it changed, so a consumer that follows tensors by identity sees every version.

use std::cell::{Cell, RefCell};

use crate::bail;
use crate::error::Result;
use crate::tensor::Tensor;

/// One attribute of a traced op. A tensor attribute is an input the op does not differentiate
/// (an embedding's indices, BatchNorm's running statistics).
#[derive(Clone)]
pub enum Attr {
    Int(i64),
    Ints(Vec<i64>),
    Float(f64),
    Bool(bool),
    Str(String),
    Tensor(Tensor),
}

impl From<usize> for Attr {
    fn from(v: usize) -> Attr {
        Attr::Int(v as i64)
    }
}
impl From<isize> for Attr {
    fn from(v: isize) -> Attr {
        Attr::Int(v as i64)
    }
}
impl From<f64> for Attr {
    fn from(v: f64) -> Attr {
        Attr::Float(v)
    }
}
impl From<bool> for Attr {
    fn from(v: bool) -> Attr {
        Attr::Bool(v)
    }
}
impl From<&str> for Attr {
    fn from(v: &str) -> Attr {
        Attr::Str(v.to_string())
    }
}
impl From<&[usize]> for Attr {
    fn from(v: &[usize]) -> Attr {
        Attr::Ints(v.iter().map(|&x| x as i64).collect())
    }
}
impl From<&[i64]> for Attr {
    fn from(v: &[i64]) -> Attr {
        Attr::Ints(v.to_vec())
    }
}
impl From<&Vec<i64>> for Attr {
    fn from(v: &Vec<i64>) -> Attr {
        Attr::Ints(v.clone())
    }
}
impl From<&Vec<usize>> for Attr {
    fn from(v: &Vec<usize>) -> Attr {
        Attr::from(v.as_slice())
    }
}
impl From<&Tensor> for Attr {
    fn from(t: &Tensor) -> Attr {
        Attr::Tensor(t.clone())
    }
}

/// Named attributes: `attrs![("dim", d), ("eps", eps)]`.
pub type Attrs = Vec<(&'static str, Attr)>;

#[macro_export]
macro_rules! attrs {
    ($(($name:expr, $value:expr)),* $(,)?) => {
        vec![$(($name, $crate::autograd::trace::Attr::from($value))),*]
    };
}

/// One logged op: its grad_fn name (PyTorch's, e.g. "ConvolutionBackward0"), inputs (None
/// where an optional input was absent), outputs and attributes.
pub struct TracedOp {
    pub name: &'static str,
    pub inputs: Vec<Option<Tensor>>,
    pub outputs: Vec<Option<Tensor>>,
    pub attrs: Attrs,
}

thread_local! {
    static TRACE: RefCell<Option<Vec<TracedOp>>> = const { RefCell::new(None) };
    /// Whether TRACE holds a log: every op asks, so the answer is a plain flag.
    static ACTIVE: Cell<bool> = const { Cell::new(false) };
}

/// Whether a trace is active on this thread.
#[inline]
pub fn is_tracing() -> bool {
    ACTIVE.with(|a| a.get())
}

/// Starts a trace on this thread. Traces do not nest.
pub fn begin() -> Result<()> {
    TRACE.with(|t| {
        let mut t = t.borrow_mut();
        if t.is_some() {
            bail!(Runtime, "trace: a trace is already active on this thread (traces do not nest)");
        }
        *t = Some(Vec::new());
        ACTIVE.with(|a| a.set(true));
        Ok(())
    })
}

/// Ends the trace and returns its ops in the order they ran (empty when none was active).
pub fn end() -> Vec<TracedOp> {
    ACTIVE.with(|a| a.set(false));
    TRACE.with(|t| t.borrow_mut().take()).unwrap_or_default()
}

/// Logs one op when a trace is active.
pub fn log(name: &'static str, inputs: Vec<Option<Tensor>>, outputs: Vec<Option<Tensor>>, attrs: Attrs) {
    TRACE.with(|t| {
        if let Some(ops) = t.borrow_mut().as_mut() {
            ops.push(TracedOp { name, inputs, outputs, attrs });
        }
    });
}

/// Logs an op with no gradient (a comparison, a logical op), which `record` never sees.
pub fn log_op(name: &'static str, inputs: &[&Tensor], out: &Tensor) {
    if is_tracing() {
        log(name, inputs.iter().map(|t| Some((*t).clone())).collect(), vec![Some(out.clone())], Vec::new());
    }
}

/// Logs a mark that is not an op (`name` and its attributes): the Python side marks where each
/// module's forward starts and ends, so an exporter can name the module an op ran in.
pub fn mark(name: &'static str, attrs: Attrs) {
    log(name, Vec::new(), Vec::new(), attrs);
}

/// Logs that an in-place op gave `target` the value of `value`. A write into a view would change
/// its base, which a trace that follows tensors by identity cannot express: that is an error.
pub fn log_inplace(op: &str, target: &Tensor, value: &Tensor) -> Result<()> {
    if !is_tracing() {
        return Ok(());
    }
    if target.is_view() {
        bail!(NotImplemented, "trace: {op} writes into a view of another tensor (shape {:?}); export cannot follow in-place writes into views: write the result to a new tensor instead", target.shape());
    }
    log("copy_", vec![Some(value.clone())], vec![Some(target.clone())], Vec::new());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::autograd::GradModeGuard;
    use crate::tensor::DType;

    #[test]
    fn a_trace_logs_ops_with_grad_off_and_attaches_no_history() {
        let _g = GradModeGuard::new(false);
        let a = Tensor::full(&[2, 3], 1.0, DType::F32);
        let b = Tensor::full(&[2, 3], 2.0, DType::F32);
        begin().unwrap();
        assert!(begin().is_err(), "traces do not nest");
        let c = crate::ops::binary::add(&a, &b).unwrap();
        let d = crate::ops::softmax::softmax(&c, 1, false).unwrap();
        let ops = end();
        assert!(!is_tracing());
        // (Kernels detach their inputs internally; a trace logs those too.)
        let ops: Vec<_> = ops.into_iter().filter(|o| o.name != "detach").collect();
        let names: Vec<_> = ops.iter().map(|o| o.name).collect();
        assert_eq!(names, ["AddBackward0", "SoftmaxBackward0"]);
        assert!(ops[0].inputs[0].as_ref().unwrap().same_tensor(&a));
        assert!(ops[1].outputs[0].as_ref().unwrap().same_tensor(&d));
        assert!(matches!(ops[1].attrs.as_slice(), [("dim", Attr::Int(1))]));
        assert!(d.grad_fn().is_none() && !d.requires_grad());
    }
}
