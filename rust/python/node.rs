//! `tensor.grad_fn` objects: read-only views of the graph for introspection (`name()`,
//! `next_functions`, as PyTorch exposes them).

use std::sync::Arc;

use pyo3::prelude::*;
use pyo3::types::PyTuple;

use super::tensor::PyTensor;
use crate::autograd::{Edge, Node};
use crate::tensor::Tensor;

#[pyclass(name = "Node", module = "ferrograd.autograd", frozen)]
pub struct PyNode(pub NodeRef);

pub enum NodeRef {
    Op(Arc<Node>),
    /// A leaf's gradient sink (PyTorch's AccumulateGrad), reached through next_functions.
    Accumulate(Tensor),
}

#[pymethods]
impl PyNode {
    fn name(&self) -> &'static str {
        match &self.0 {
            NodeRef::Op(n) => n.name(),
            NodeRef::Accumulate(_) => "AccumulateGrad",
        }
    }
    /// ((node or None, 0), ...) for each input of the op.
    #[getter]
    fn next_functions<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyTuple>> {
        let items: Vec<(Option<PyNode>, usize)> = match &self.0 {
            NodeRef::Op(n) => n
                .next_edges()
                .iter()
                .map(|e| {
                    match e {
                        Some(Edge::Node(n, nr)) => (Some(PyNode(NodeRef::Op(n.clone()))), *nr),
                        Some(Edge::Leaf(t)) => (Some(PyNode(NodeRef::Accumulate(t.clone()))), 0),
                        None => (None, 0),
                    }
                })
                .collect(),
            NodeRef::Accumulate(_) => Vec::new(),
        };
        PyTuple::new(py, items)
    }
    /// The leaf an AccumulateGrad node feeds.
    #[getter]
    fn variable(&self) -> Option<PyTensor> {
        match &self.0 {
            NodeRef::Accumulate(t) => Some(t.clone().into()),
            NodeRef::Op(_) => None,
        }
    }
    /// Shapes and dtypes of the op's inputs, and whether saved tensors are still held.
    #[getter]
    fn input_shapes(&self) -> Vec<Vec<usize>> {
        match &self.0 {
            NodeRef::Op(n) => n.input_meta().iter().map(|m| m.shape.clone()).collect(),
            NodeRef::Accumulate(t) => vec![t.shape().to_vec()],
        }
    }
    #[getter]
    fn holds_saved_tensors(&self) -> bool {
        match &self.0 {
            NodeRef::Op(n) => n.holds_saved(),
            NodeRef::Accumulate(_) => false,
        }
    }
    /// Identity of the underlying node (two grad_fn objects for one node compare equal).
    fn __eq__(&self, other: &PyNode) -> bool {
        self.key() == other.key()
    }
    fn __hash__(&self) -> usize {
        self.key()
    }
    fn __repr__(&self) -> String {
        format!("<{} object at {:#x}>", self.name(), self.key())
    }
}

impl PyNode {
    fn key(&self) -> usize {
        match &self.0 {
            NodeRef::Op(n) => Arc::as_ptr(n) as usize,
            NodeRef::Accumulate(t) => Arc::as_ptr(&t.0) as usize,
        }
    }
}
