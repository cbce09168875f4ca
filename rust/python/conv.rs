//! Bindings of conv2d (the pools are in pool.rs). The Python layer (nn.functional) normalises int/tuple
//! arguments, resolves padding='same' and stride=None, and handles unbatched (C, H, W) inputs;
//! these take explicit per-axis values.

use pyo3::prelude::*;

use super::error::off_gil_guarded;
use super::tensor::PyTensor;
use crate::nn::conv::{conv2d, Conv2dArgs};

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
