//! The op tracer's binding (`autograd::trace`), for `ferrograd.onnx`: start a trace, end it and
//! get its ops as plain Python values, and a tensor's identity to follow values between ops.

use pyo3::prelude::*;
use pyo3::types::PyDict;

use super::tensor::PyTensor;
use crate::autograd::trace::{self, Attr, TracedOp};
use crate::tensor::Tensor;

#[pyfunction]
pub fn _trace_begin() -> PyResult<()> {
    Ok(trace::begin()?)
}

/// The ops since `_trace_begin`, in order: (grad_fn name, inputs, outputs, attrs), inputs and
/// outputs lists of tensors (None where an optional one was absent).
#[pyfunction]
pub fn _trace_end(py: Python<'_>) -> PyResult<Vec<Py<PyAny>>> {
    trace::end().into_iter().map(|op| op_to_py(py, op)).collect()
}

/// Whether a trace is active on this thread (for Python functions that log themselves).
#[pyfunction]
pub fn _is_tracing() -> bool {
    trace::is_tracing()
}

/// Logs a composite op: a Python function made of other (already logged) ops, logged once more
/// as a whole so an exporter can map it to one node (`F.pad` to Pad). `attrs` values are ints,
/// floats, bools, strings, int lists or tensors.
#[pyfunction]
pub fn _trace_op(name: String, inputs: Vec<Option<PyRef<'_, PyTensor>>>, outputs: Vec<Option<PyRef<'_, PyTensor>>>, attrs: &Bound<'_, PyDict>) -> PyResult<()> {
    let mut parsed = Vec::new();
    for (k, v) in attrs.iter() {
        let key = super::autograd::intern(k.extract::<String>()?);
        let value = if let Ok(t) = v.cast::<PyTensor>() {
            Attr::Tensor(t.get().t.clone())
        } else if v.is_instance_of::<pyo3::types::PyBool>() {
            Attr::Bool(v.extract()?)
        } else if let Ok(i) = v.extract::<i64>() {
            Attr::Int(i)
        } else if let Ok(f) = v.extract::<f64>() {
            Attr::Float(f)
        } else if let Ok(s) = v.extract::<String>() {
            Attr::Str(s)
        } else {
            Attr::Ints(v.extract::<Vec<i64>>()?)
        };
        parsed.push((key, value));
    }
    let tensors = |ts: Vec<Option<PyRef<'_, PyTensor>>>| ts.into_iter().map(|t| t.map(|t| t.t.clone())).collect();
    trace::log(super::autograd::intern(name), tensors(inputs), tensors(outputs), parsed);
    Ok(())
}

/// Marks the start ("enter") or end ("exit") of a module's forward in the trace, with its path.
#[pyfunction]
pub fn _trace_module(enter: bool, path: &str) {
    trace::mark(if enter { "module_enter" } else { "module_exit" }, crate::attrs![("path", path)]);
}

/// (tensor identity, storage identity): two handles to one tensor share the first; a view
/// shares the second with its base.
#[pyfunction]
pub fn _trace_ids(t: PyRef<'_, PyTensor>) -> (usize, usize) {
    (std::sync::Arc::as_ptr(&t.t.0) as usize, std::sync::Arc::as_ptr(t.t.storage()) as usize)
}

fn tensors(py: Python<'_>, ts: Vec<Option<Tensor>>) -> PyResult<Vec<Option<Py<PyTensor>>>> {
    ts.into_iter().map(|t| t.map(|t| Py::new(py, PyTensor::from(t))).transpose()).collect()
}

fn op_to_py(py: Python<'_>, op: TracedOp) -> PyResult<Py<PyAny>> {
    let attrs = PyDict::new(py);
    for (name, value) in op.attrs {
        match value {
            Attr::Int(v) => attrs.set_item(name, v)?,
            Attr::Ints(v) => attrs.set_item(name, v)?,
            Attr::Float(v) => attrs.set_item(name, v)?,
            Attr::Bool(v) => attrs.set_item(name, v)?,
            Attr::Str(v) => attrs.set_item(name, v)?,
            Attr::Tensor(t) => attrs.set_item(name, PyTensor::from(t))?,
        }
    }
    Ok((op.name, tensors(py, op.inputs)?, tensors(py, op.outputs)?, attrs).into_pyobject(py)?.into_any().unbind())
}
