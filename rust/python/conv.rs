//! Bindings of conv2d and the 2-D pools. The Python layer (nn.functional) normalises int/tuple
//! arguments, resolves padding='same' and stride=None, and handles unbatched (C, H, W) inputs;
//! these take explicit per-axis values.

use pyo3::prelude::*;

use super::error::off_gil_guarded;
use super::tensor::PyTensor;
use crate::nn::conv::{conv2d, Conv2dArgs};
use crate::nn::pool::{adaptive_avg_pool2d, avg_pool2d, max_pool2d, PoolArgs};

/// `padding` is (top, bottom, left, right).
#[pyfunction]
#[pyo3(signature = (input, weight, bias, stride, padding, dilation, groups))]
#[allow(clippy::too_many_arguments)]
pub fn _conv2d(
    py: Python<'_>,
    input: PyRef<'_, PyTensor>,
    weight: PyRef<'_, PyTensor>,
    bias: Option<PyRef<'_, PyTensor>>,
    stride: [i64; 2],
    padding: [i64; 4],
    dilation: [i64; 2],
    groups: i64,
) -> PyResult<PyTensor> {
    let (x, w, b) = (input.t.clone(), weight.t.clone(), bias.map(|b| b.t.clone()));
    let args = Conv2dArgs { stride, padding: [[padding[0], padding[1]], [padding[2], padding[3]]], dilation, groups };
    Ok(off_gil_guarded(py, x.numel().saturating_mul(w.numel().max(1)), || conv2d(&x, &w, b.as_ref(), &args))?.into())
}

/// Returns (output, indices); the indices are flat h * W + w positions in each input plane.
#[pyfunction]
#[pyo3(signature = (input, kernel_size, stride, padding, dilation, ceil_mode))]
pub fn _max_pool2d(
    py: Python<'_>,
    input: PyRef<'_, PyTensor>,
    kernel_size: [i64; 2],
    stride: [i64; 2],
    padding: [i64; 2],
    dilation: [i64; 2],
    ceil_mode: bool,
) -> PyResult<(PyTensor, PyTensor)> {
    let x = input.t.clone();
    let args = PoolArgs { kernel: kernel_size, stride, padding, dilation, ceil_mode };
    let (out, idx) = off_gil_guarded(py, x.numel(), || max_pool2d(&x, &args))?;
    Ok((out.into(), idx.into()))
}

#[pyfunction]
#[pyo3(signature = (input, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override))]
#[allow(clippy::too_many_arguments)]
pub fn _avg_pool2d(
    py: Python<'_>,
    input: PyRef<'_, PyTensor>,
    kernel_size: [i64; 2],
    stride: [i64; 2],
    padding: [i64; 2],
    ceil_mode: bool,
    count_include_pad: bool,
    divisor_override: Option<i64>,
) -> PyResult<PyTensor> {
    let x = input.t.clone();
    let args = PoolArgs { kernel: kernel_size, stride, padding, dilation: [1, 1], ceil_mode };
    Ok(off_gil_guarded(py, x.numel(), || avg_pool2d(&x, &args, count_include_pad, divisor_override))?.into())
}

#[pyfunction]
pub fn _adaptive_avg_pool2d(py: Python<'_>, input: PyRef<'_, PyTensor>, output_size: [i64; 2]) -> PyResult<PyTensor> {
    let x = input.t.clone();
    Ok(off_gil_guarded(py, x.numel(), || adaptive_avg_pool2d(&x, output_size))?.into())
}
