//! Shape methods and indexing of the Python Tensor.

use pyo3::exceptions::{PyIndexError, PyTypeError};
use pyo3::prelude::*;
use pyo3::types::{PyEllipsis, PyList, PySlice, PyTuple};

use super::convert::shape_args;
use super::error::{guarded, off_gil_guarded};
use super::tensor::PyTensor;
use super::tensor_math::operand;
use crate::ops::index::{self, Index};
use crate::ops::join;
use crate::tensor::Tensor;

fn wrap(ts: Vec<Tensor>) -> Vec<PyTensor> {
    ts.into_iter().map(Into::into).collect()
}

fn one_index(this: &Tensor, item: &Bound<'_, PyAny>) -> PyResult<Index> {
    if item.is_none() {
        return Ok(Index::NewAxis);
    }
    if item.is_instance_of::<PyEllipsis>() {
        return Ok(Index::Ellipsis);
    }
    if let Ok(s) = item.cast::<PySlice>() {
        let get = |name: &str| -> PyResult<Option<isize>> {
            let v = s.getattr(name)?;
            if v.is_none() { Ok(None) } else { v.extract::<isize>().map(Some) }
        };
        return Ok(Index::Slice { start: get("start")?, stop: get("stop")?, step: get("step")?.unwrap_or(1) });
    }
    if let Ok(t) = item.cast::<PyTensor>() {
        return Ok(Index::Tensor(t.get().t.clone()));
    }
    if let Ok(b) = item.cast::<pyo3::types::PyBool>() {
        // `x[True]` / `x[False]`: a 0-d bool index, which `index::basic` turns into a new dim
        // indexed by [0] or [] (as PyTorch).
        return Ok(Index::Tensor(Tensor::scalar(b.is_true())));
    }
    if item.is_instance_of::<pyo3::types::PyInt>() {
        return Ok(Index::Int(item.extract::<isize>()?));
    }
    if item.cast::<PyList>().is_ok_and(|l| l.is_empty()) {
        // `x[[]]` selects nothing; an empty list has no elements to make it a float operand.
        return Ok(Index::Tensor(Tensor::from_vec_unchecked(Vec::<i64>::new(), &[0])));
    }
    if let Ok(i) = item.extract::<isize>() {
        // numpy integers and other objects with `__index__`.
        return Ok(Index::Int(i));
    }
    // lists and numpy arrays of ints or bools
    let t = operand(this, item).map_err(|_| {
        PyIndexError::new_err(format!(
            "only integers, slices (`:`), ellipsis (`...`), None and integer or boolean tensors are valid indices (got {})",
            item.get_type().name().map(|n| n.to_string()).unwrap_or_default()
        ))
    })?;
    Ok(Index::Tensor(t.into_owned()))
}

fn index_list(this: &Tensor, key: &Bound<'_, PyAny>) -> PyResult<Vec<Index>> {
    if let Ok(tup) = key.cast::<PyTuple>() {
        return tup.iter().map(|k| one_index(this, &k)).collect();
    }
    if let Ok(list) = key.cast::<PyList>() {
        if list_is_a_tuple(list) {
            return list.iter().map(|k| one_index(this, &k)).collect();
        }
    }
    Ok(vec![one_index(this, key)?])
}

/// PyTorch keeps numpy's old rule: a short list holding a sequence, tensor, slice, Ellipsis or
/// None is read as a tuple of indices (`x[[[0, 1], [2, 3]]]` is `x[[0, 1], [2, 3]]`, shape (2,
/// ...)), where today's numpy reads one 2-D index array.
fn list_is_a_tuple(list: &Bound<'_, PyList>) -> bool {
    list.len() < 32
        && list.iter().any(|k| {
            k.is_none()
                || k.is_instance_of::<PyEllipsis>()
                || k.is_instance_of::<PySlice>()
                || k.is_instance_of::<PyTensor>()
                || k.is_instance_of::<PyList>()
                || k.is_instance_of::<PyTuple>()
        })
}

#[pymethods]
impl PyTensor {
    #[pyo3(signature = (*shape))]
    fn view(&self, shape: &Bound<'_, PyTuple>) -> PyResult<PyTensor> {
        let shape = shape_args(shape)?;
        Ok(guarded(|| self.t.view(&shape))?.into())
    }
    #[pyo3(signature = (*shape))]
    fn reshape(&self, shape: &Bound<'_, PyTuple>) -> PyResult<PyTensor> {
        let shape = shape_args(shape)?;
        Ok(guarded(|| self.t.reshape_infer(&shape))?.into())
    }
    fn view_as(&self, other: PyRef<'_, PyTensor>) -> PyResult<PyTensor> {
        let s: Vec<isize> = other.t.shape().iter().map(|&d| d as isize).collect();
        Ok(guarded(|| self.t.view(&s))?.into())
    }
    fn reshape_as(&self, other: PyRef<'_, PyTensor>) -> PyResult<PyTensor> {
        Ok(guarded(|| self.t.reshape(other.t.shape()))?.into())
    }
    #[pyo3(signature = (*shape))]
    fn expand(&self, shape: &Bound<'_, PyTuple>) -> PyResult<PyTensor> {
        let shape = shape_args(shape)?;
        Ok(guarded(|| self.t.expand_infer(&shape))?.into())
    }
    fn expand_as(&self, other: PyRef<'_, PyTensor>) -> PyResult<PyTensor> {
        Ok(guarded(|| self.t.expand(other.t.shape()))?.into())
    }
    #[pyo3(signature = (start_dim=0, end_dim=-1))]
    fn flatten(&self, start_dim: isize, end_dim: isize) -> PyResult<PyTensor> {
        Ok(guarded(|| self.t.flatten(start_dim, end_dim))?.into())
    }
    fn unsqueeze(&self, dim: isize) -> PyResult<PyTensor> {
        Ok(guarded(|| self.t.unsqueeze(dim))?.into())
    }
    #[pyo3(signature = (dim=None))]
    fn squeeze(&self, dim: Option<&Bound<'_, PyAny>>) -> PyResult<PyTensor> {
        let dims = match dim {
            None => None,
            Some(d) => Some(super::tensor_math::dims_arg(Some(d))?),
        };
        Ok(guarded(|| self.t.squeeze(dims.as_deref()))?.into())
    }
    fn transpose(&self, dim0: isize, dim1: isize) -> PyResult<PyTensor> {
        Ok(guarded(|| self.t.transpose(dim0, dim1))?.into())
    }
    fn t(&self) -> PyResult<PyTensor> {
        Ok(guarded(|| self.t.t())?.into())
    }
    #[getter(T)]
    fn get_t(&self) -> PyResult<PyTensor> {
        let n = self.t.ndim() as isize;
        let rev: Vec<isize> = (0..n).rev().collect();
        Ok(guarded(|| self.t.permute(&rev))?.into())
    }
    #[getter(mT)]
    fn get_mt(&self) -> PyResult<PyTensor> {
        match self.t.ndim() {
            0 => Ok(self.t.clone().into()),
            1 => Err(pyo3::exceptions::PyRuntimeError::new_err("tensor.mT is only supported on matrices or batches of matrices. Got 1-D tensor.")),
            _ => Ok(guarded(|| self.t.transpose(-2, -1))?.into()),
        }
    }
    #[pyo3(signature = (*dims))]
    fn permute(&self, dims: &Bound<'_, PyTuple>) -> PyResult<PyTensor> {
        let shape = shape_args(dims)?;
        Ok(guarded(|| self.t.permute(&shape))?.into())
    }
    fn contiguous(&self, py: Python<'_>) -> PyResult<PyTensor> {
        Ok(off_gil_guarded(py, self.t.numel(), || self.t.contiguous())?.into())
    }
    fn clone(&self, py: Python<'_>) -> PyResult<PyTensor> {
        Ok(off_gil_guarded(py, self.t.numel(), || self.t.clone_tensor())?.into())
    }
    #[pyo3(signature = (split_size_or_sections, dim=0))]
    fn split<'py>(&self, py: Python<'py>, split_size_or_sections: &Bound<'py, PyAny>, dim: isize) -> PyResult<Bound<'py, PyTuple>> {
        let parts = match split_size_or_sections.extract::<usize>() {
            Ok(n) => join::split(&self.t, n, dim),
            Err(_) => {
                let sizes: Vec<usize> = split_size_or_sections
                    .extract()
                    .map_err(|_| PyTypeError::new_err("split: split_size_or_sections must be an int or a list of ints"))?;
                join::split_sizes(&self.t, &sizes, dim)
            }
        }
        ?;
        PyTuple::new(py, wrap(parts))
    }
    #[pyo3(signature = (chunks, dim=0))]
    fn chunk<'py>(&self, py: Python<'py>, chunks: usize, dim: isize) -> PyResult<Bound<'py, PyTuple>> {
        PyTuple::new(py, wrap(guarded(|| join::chunk(&self.t, chunks, dim))?))
    }
    #[pyo3(signature = (dim=0))]
    fn unbind<'py>(&self, py: Python<'py>, dim: isize) -> PyResult<Bound<'py, PyTuple>> {
        let d = crate::tensor::shape::existing_dim(dim, self.t.ndim(), "unbind")?;
        let parts: Vec<Tensor> = (0..self.t.shape()[d])
            .map(|i| Ok(crate::autograd::rename_grad_fn(self.t.select(d as isize, i as isize)?, &self.t, "UnbindBackward0")))
            .collect::<crate::Result<_>>()
            ?;
        PyTuple::new(py, wrap(parts))
    }
    fn narrow(&self, dim: isize, start: isize, length: isize) -> PyResult<PyTensor> {
        Ok(guarded(|| self.t.narrow(dim, start, length))?.into())
    }
    fn select(&self, dim: isize, index: isize) -> PyResult<PyTensor> {
        Ok(guarded(|| self.t.select(dim, index))?.into())
    }
    fn __iter__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        if self.t.ndim() == 0 {
            return Err(PyTypeError::new_err("iteration over a 0-d tensor"));
        }
        let items = self.unbind(py, 0)?;
        PyList::new(py, items.iter())?.into_any().try_iter().map(|i| i.into_any())
    }

    fn __getitem__(&self, py: Python<'_>, key: &Bound<'_, PyAny>) -> PyResult<PyTensor> {
        // Fast path for x[i], for Python ints only: a tensor also converts to an int (through
        // `__index__`) but indexes as a tensor (`x[fg.tensor([1])]` keeps its dim).
        if key.is_instance_of::<pyo3::types::PyInt>() && !key.is_instance_of::<pyo3::types::PyBool>() {
            if let Ok(i) = key.extract::<isize>() {
                if self.t.ndim() == 0 {
                    return Err(PyIndexError::new_err("invalid index of a 0-dim tensor. Use `tensor.item()` to convert a 0-dim tensor to a number"));
                }
                return Ok(guarded(|| self.t.select(0, i))?.into());
            }
        }
        let idx = index_list(&self.t, key)?;
        Ok(off_gil_guarded(py, self.t.numel(), || index::getitem(&self.t, &idx))?.into())
    }

    fn __setitem__(&self, py: Python<'_>, key: &Bound<'_, PyAny>, value: &Bound<'_, PyAny>) -> PyResult<()> {
        let v = operand(&self.t, value)?;
        // A bare Python bool is PyTorch's copy, not an index: `x[True] = v` writes v into
        // x.unsqueeze(0) (casting, as `x[None] = v`), `x[False] = v` writes nothing.
        let idx = match key.cast::<pyo3::types::PyBool>() {
            Ok(b) if !b.is_true() => return Ok(()),
            Ok(_) => vec![Index::NewAxis],
            Err(_) => index_list(&self.t, key)?,
        };
        off_gil_guarded(py, self.t.numel(), || index::setitem(&self.t, &idx, &v))
    }
}
