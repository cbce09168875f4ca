//! Bindings of `io`: safetensors files, read and written with the GIL released. The Python side
//! (`ferrograd/serialization.py`) turns nested objects into the flat tensors and metadata these
//! take.

use std::collections::HashMap;
use std::path::PathBuf;

use pyo3::prelude::*;

use super::error::blocking_io;
use super::tensor::PyTensor;
use crate::io;
use crate::tensor::Tensor;

/// Writes `tensors` (name, tensor) and the string `metadata` to `path`, atomically.
#[pyfunction]
pub fn _save_safetensors(py: Python<'_>, path: PathBuf, tensors: Vec<(String, PyRef<'_, PyTensor>)>, metadata: HashMap<String, String>) -> PyResult<()> {
    let tensors: Vec<(String, Tensor)> = tensors.into_iter().map(|(name, t)| (name, t.t.clone())).collect();
    blocking_io(py, || io::save(&path, &tensors, &metadata))
}

/// Reads `path`: ([(name, tensor)] in file order, metadata).
#[pyfunction]
#[allow(clippy::type_complexity)]
pub fn _load_safetensors(py: Python<'_>, path: PathBuf) -> PyResult<(Vec<(String, PyTensor)>, HashMap<String, String>)> {
    let loaded = blocking_io(py, || io::load(&path))?;
    Ok((loaded.tensors.into_iter().map(|(name, t)| (name, t.into())).collect(), loaded.metadata))
}
