//! Autograd callbacks into Python: custom `autograd.Function` nodes, tensors they save, and
//! gradient hooks. Each is a core `Backward` or hook closure that takes the GIL only for the
//! Python call it makes; the engine itself runs without it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use pyo3::exceptions::{PyRuntimeError, PyTypeError};
use pyo3::prelude::*;
use pyo3::types::{PySequence, PyTuple};

use super::error::external;
use super::tensor::PyTensor;
use crate::autograd::{self, Backward, Saved};
use crate::error::Result;
use crate::tensor::Tensor;

/// grad_fn names are `&'static str` (every built-in one is a literal); a Function class's name
/// is made static once per distinct name.
pub(super) fn intern(name: String) -> &'static str {
    static NAMES: Mutex<Option<HashMap<String, &'static str>>> = Mutex::new(None);
    let mut names = NAMES.lock().unwrap_or_else(|e| e.into_inner());
    let map = names.get_or_insert_with(HashMap::new);
    if let Some(s) = map.get(&name) {
        return s;
    }
    let s: &'static str = Box::leak(name.clone().into_boxed_str());
    map.insert(name, s);
    s
}

/// A custom Function's node: its backward is a Python callable taking a tuple of output
/// gradients (None where an output got none) and returning one gradient per forward input.
struct FunctionBackward {
    name: &'static str,
    backward: Py<PyAny>,
    /// Shape of each tensor input; None for an argument that was not a tensor.
    inputs: Vec<Option<Vec<usize>>>,
}

impl FunctionBackward {
    fn call(&self, py: Python<'_>, grads: &[Option<Tensor>]) -> PyResult<Vec<Option<Tensor>>> {
        let args = PyTuple::new(py, grads.iter().map(|g| g.clone().map(PyTensor::from)))?;
        let result = self.backward.bind(py).call1((args,))?;
        let items: Vec<Bound<'_, PyAny>> = if result.is_none() || result.cast::<PyTensor>().is_ok() {
            vec![result]
        } else if let Ok(seq) = result.cast::<PySequence>() {
            seq.try_iter()?.collect::<PyResult<_>>()?
        } else {
            return Err(PyTypeError::new_err(format!("{}: backward must return a Tensor, None or a tuple of them, got {}", self.name, result.get_type().name()?)));
        };
        // PyTorch allows extra trailing Nones (a backward written for optional arguments).
        let mut items = items;
        while items.len() > self.inputs.len() && items.last().is_some_and(|x| x.is_none()) {
            items.pop();
        }
        if items.len() != self.inputs.len() {
            return Err(PyRuntimeError::new_err(format!(
                "function {} returned an incorrect number of gradients (expected {}, got {})",
                self.name,
                self.inputs.len(),
                items.len()
            )));
        }
        let mut out = Vec::with_capacity(items.len());
        for (i, (item, shape)) in items.iter().zip(&self.inputs).enumerate() {
            if item.is_none() {
                out.push(None);
                continue;
            }
            let Ok(g) = item.cast::<PyTensor>() else {
                return Err(PyTypeError::new_err(format!("function {} returned a gradient at position {i} that is not a Tensor or None (got {})", self.name, item.get_type().name()?)));
            };
            let Some(shape) = shape else {
                return Err(PyRuntimeError::new_err(format!(
                    "function {} returned a gradient different than None at position {}, but the corresponding forward input was not a Variable",
                    self.name,
                    i + 1
                )));
            };
            let g = g.get().t.clone();
            if g.shape() != shape.as_slice() {
                // PyTorch accepts a gradient that sums or expands to the input's shape.
                let g = crate::ops::reduce::sum_to(&g, shape).ok().filter(|r| r.shape() == shape.as_slice());
                match g {
                    Some(g) => out.push(Some(g)),
                    None => {
                        return Err(PyRuntimeError::new_err(format!(
                            "Function {} returned an invalid gradient at index {i} - got {:?} but expected shape compatible with {:?}",
                            self.name,
                            item.cast::<PyTensor>()?.get().t.shape(),
                            shape
                        )))
                    }
                }
                continue;
            }
            out.push(Some(g));
        }
        Ok(out)
    }
}

impl Backward for FunctionBackward {
    fn name(&self) -> &'static str {
        self.name
    }
    fn apply(&self, grad: &Tensor, needs: &[bool]) -> Result<Vec<Option<Tensor>>> {
        self.apply_outputs(&[Some(grad.clone())], needs)
    }
    fn apply_outputs(&self, grads: &[Option<Tensor>], _needs: &[bool]) -> Result<Vec<Option<Tensor>>> {
        Python::attach(|py| self.call(py, grads)).map_err(external)
    }
    /// Python's own ops record when grad mode is on; `once_differentiable` turns it off.
    fn differentiable(&self) -> bool {
        true
    }
}

/// `_function_node(name, inputs, outputs, backward)`: attaches one node named `name` to the
/// non-None `outputs` (output i of the node is `outputs[i]`), with an edge to each tensor input.
#[pyfunction]
pub fn _function_node(
    name: String,
    inputs: Vec<Option<Tensor>>,
    outputs: Vec<Option<Tensor>>,
    backward: Py<PyAny>,
) -> PyResult<()> {
    let fun = FunctionBackward { name: intern(name), backward, inputs: inputs.iter().map(|t| t.as_ref().map(|t| t.shape().to_vec())).collect() };
    let refs: Vec<Option<&Tensor>> = inputs.iter().map(|t| t.as_ref()).collect();
    autograd::record_outputs(&outputs, &refs, Box::new(fun));
    Ok(())
}

/// A tensor a custom Function saved (`ctx.save_for_backward`): version-checked when unpacked,
/// and unpacked with its history under `create_graph`, like a built-in op's saved tensors.
#[pyclass(name = "SavedTensor", module = "ferrograd.autograd", frozen)]
pub struct PySavedTensor(Saved);

#[pymethods]
impl PySavedTensor {
    /// `output_nr` >= 0 marks one of the Function's own outputs (saved without a cycle).
    #[new]
    #[pyo3(signature = (tensor, output_nr=None))]
    fn new(tensor: Tensor, output_nr: Option<usize>) -> PyResult<Self> {
        Ok(PySavedTensor(match output_nr {
            Some(nr) => Saved::output_at(&tensor, nr)?,
            None => Saved::new(&tensor)?,
        }))
    }
    fn unpack(&self) -> PyResult<PyTensor> {
        Ok(self.0.get()?.into())
    }
}

fn py_grad_hook(hook: Py<PyAny>) -> autograd::GradHook {
    Arc::new(move |g: &Tensor| {
        Python::attach(|py| -> PyResult<Option<Tensor>> {
            let r = hook.bind(py).call1((PyTensor::from(g.clone()),))?;
            if r.is_none() {
                return Ok(None);
            }
            match r.cast::<PyTensor>() {
                Ok(t) => Ok(Some(t.get().t.clone())),
                Err(_) => Err(PyTypeError::new_err(format!("hook returned an object of type {}, expected a Tensor or None", r.get_type().name()?))),
            }
        })
        .map_err(external)
    })
}

#[pymethods]
impl PyTensor {
    /// The core of `register_hook`; returns the hook's id for its handle.
    fn _register_hook(&self, hook: Py<PyAny>) -> PyResult<u64> {
        Ok(self.t.register_hook(py_grad_hook(hook))?)
    }
    fn _register_post_accumulate_grad_hook(&self, hook: Py<PyAny>) -> PyResult<u64> {
        let f: autograd::PostAccumulateHook =
            Arc::new(move |t: &Tensor| Python::attach(|py| hook.bind(py).call1((PyTensor::from(t.clone()),)).map(|_| ())).map_err(external));
        Ok(self.t.register_post_accumulate_grad_hook(f)?)
    }
    fn _remove_hook(&self, id: u64) -> bool {
        self.t.remove_hook(id)
    }
}

/// `saved_tensors_hooks(pack_hook, unpack_hook)`: Python callables as the core's `SavedHooks`;
/// what `pack_hook` returns is kept (any Python object) and handed to `unpack_hook`.
struct PySavedHooks {
    pack: Py<PyAny>,
    unpack: Py<PyAny>,
}

impl autograd::SavedHooks for PySavedHooks {
    fn pack(&self, t: &Tensor) -> Result<Box<dyn std::any::Any + Send + Sync>> {
        Python::attach(|py| -> PyResult<Box<dyn std::any::Any + Send + Sync>> {
            let packed = self.pack.bind(py).call1((PyTensor::from(t.clone()),))?;
            Ok(Box::new(packed.unbind()))
        })
        .map_err(external)
    }
    fn unpack(&self, packed: &(dyn std::any::Any + Send + Sync)) -> Result<Tensor> {
        Python::attach(|py| -> PyResult<Tensor> {
            let Some(obj) = packed.downcast_ref::<Py<PyAny>>() else {
                return Err(PyRuntimeError::new_err("saved_tensors_hooks: a value packed by other hooks"));
            };
            let r = self.unpack.bind(py).call1((obj.clone_ref(py),))?;
            match r.cast::<PyTensor>() {
                Ok(t) => Ok(t.get().t.clone()),
                Err(_) => Err(PyTypeError::new_err(format!("Output of saved tensor unpack_hook expected to be a Tensor but got result of type {}", r.get_type().name()?))),
            }
        })
        .map_err(external)
    }
}

#[pyfunction]
pub fn _push_saved_tensors_hooks(pack_hook: Py<PyAny>, unpack_hook: Py<PyAny>) {
    autograd::push_saved_hooks(Arc::new(PySavedHooks { pack: pack_hook, unpack: unpack_hook }));
}

#[pyfunction]
pub fn _pop_saved_tensors_hooks() {
    autograd::pop_saved_hooks();
}
