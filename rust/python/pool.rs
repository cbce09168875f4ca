//! Bindings of the pools (rust/nn/pool.rs). nn.functional normalises int/tuple arguments and
//! resolves stride=None; these take one value per spatial axis, and the spatial rank (1 to 3)
//! is the length of those lists. Inputs are (N, C, *S) or unbatched (C, *S).

use pyo3::prelude::*;

use super::error::off_gil_guarded;
use super::tensor::PyTensor;
use crate::nn::pool::{adaptive_avg_pool, adaptive_max_pool, avg_pool, max_pool, max_unpool, PoolArgs};

/// Returns (output, indices); the indices are flat positions within each input plane/volume.
#[pyfunction]
#[pyo3(signature = (input, kernel_size, stride, padding, dilation, ceil_mode))]
pub fn _max_pool(
    py: Python<'_>,
    input: PyRef<'_, PyTensor>,
    kernel_size: Vec<i64>,
    stride: Vec<i64>,
    padding: Vec<i64>,
    dilation: Vec<i64>,
    ceil_mode: bool,
) -> PyResult<(PyTensor, PyTensor)> {
    let x = input.t.clone();
    let args = PoolArgs { kernel: kernel_size, stride, padding, dilation, ceil_mode };
    let (out, idx) = off_gil_guarded(py, x.numel(), || max_pool(&x, &args))?;
    Ok((out.into(), idx.into()))
}

#[pyfunction]
#[pyo3(signature = (input, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override))]
#[allow(clippy::too_many_arguments)]
pub fn _avg_pool(
    py: Python<'_>,
    input: PyRef<'_, PyTensor>,
    kernel_size: Vec<i64>,
    stride: Vec<i64>,
    padding: Vec<i64>,
    ceil_mode: bool,
    count_include_pad: bool,
    divisor_override: Option<i64>,
) -> PyResult<PyTensor> {
    let x = input.t.clone();
    let dilation = vec![1; kernel_size.len()];
    let args = PoolArgs { kernel: kernel_size, stride, padding, dilation, ceil_mode };
    Ok(off_gil_guarded(py, x.numel(), || avg_pool(&x, &args, count_include_pad, divisor_override))?.into())
}

#[pyfunction]
pub fn _adaptive_avg_pool(py: Python<'_>, input: PyRef<'_, PyTensor>, output_size: Vec<i64>) -> PyResult<PyTensor> {
    let x = input.t.clone();
    Ok(off_gil_guarded(py, x.numel(), || adaptive_avg_pool(&x, &output_size))?.into())
}

/// Returns (output, indices) as `_max_pool`.
#[pyfunction]
pub fn _adaptive_max_pool(py: Python<'_>, input: PyRef<'_, PyTensor>, output_size: Vec<i64>) -> PyResult<(PyTensor, PyTensor)> {
    let x = input.t.clone();
    let (out, idx) = off_gil_guarded(py, x.numel(), || adaptive_max_pool(&x, &output_size))?;
    Ok((out.into(), idx.into()))
}

#[pyfunction]
pub fn _max_unpool(py: Python<'_>, input: PyRef<'_, PyTensor>, indices: PyRef<'_, PyTensor>, output_size: Vec<i64>) -> PyResult<PyTensor> {
    let (x, idx) = (input.t.clone(), indices.t.clone());
    Ok(off_gil_guarded(py, x.numel(), || max_unpool(&x, &idx, &output_size))?.into())
}
