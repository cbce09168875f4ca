//! Bindings of the convolutions (1 to 3 spatial dims, plain and transposed) and fold/unfold (the
//! pools are in pool.rs). The Python layer (nn.functional) normalises int/tuple arguments, resolves
//! padding='same', output_size= and stride=None, and handles unbatched inputs; these take
//! explicit per-axis values.

use pyo3::prelude::*;

use super::error::off_gil_guarded;
use crate::nn::conv::{conv, ConvArgs};
use crate::nn::conv_fold::{fold, unfold, FoldArgs};
use crate::nn::conv_transpose::{conv_transpose, ConvTransposeArgs};
use crate::tensor::Tensor;

/// Convolution over 1 to 3 spatial dims (by the weight's rank). `padding` holds (before, after)
/// per spatial dim, flattened: (top, bottom, left, right) for 2-D.
#[pyfunction]
#[pyo3(signature = (input, weight, bias, stride, padding, dilation, groups))]
#[allow(clippy::too_many_arguments)]
pub fn _conv(py: Python<'_>, input: Tensor, weight: Tensor, bias: Option<Tensor>, stride: Vec<i64>, padding: Vec<i64>, dilation: Vec<i64>, groups: i64) -> PyResult<Tensor> {
    if !padding.len().is_multiple_of(2) {
        return Err(pyo3::exceptions::PyValueError::new_err(format!("_conv: padding holds (before, after) pairs, got {padding:?}")));
    }
    let padding = padding.chunks_exact(2).map(|p| [p[0], p[1]]).collect();
    let args = ConvArgs { stride, padding, dilation, groups };
    off_gil_guarded(py, work(&input, &weight), || conv(&input, &weight, bias.as_ref(), &args))
}

/// Transposed convolution over 1 to 3 spatial dims (by the weight's rank).
#[pyfunction]
#[pyo3(signature = (input, weight, bias, stride, padding, output_padding, dilation, groups))]
#[allow(clippy::too_many_arguments)]
pub fn _conv_transpose(
    py: Python<'_>,
    input: Tensor,
    weight: Tensor,
    bias: Option<Tensor>,
    stride: Vec<i64>,
    padding: Vec<i64>,
    output_padding: Vec<i64>,
    dilation: Vec<i64>,
    groups: i64,
) -> PyResult<Tensor> {
    let args = ConvTransposeArgs { stride, padding, output_padding, dilation, groups };
    off_gil_guarded(py, work(&input, &weight), || conv_transpose(&input, &weight, bias.as_ref(), &args))
}

/// A size hint for releasing the GIL: input elements times weight elements.
fn work(x: &Tensor, w: &Tensor) -> usize {
    x.numel().saturating_mul(w.numel().max(1))
}

/// F.unfold on a 4-D input: (N, C, H, W) -> (N, C * kH * kW, L).
#[pyfunction]
#[pyo3(signature = (input, kernel_size, dilation, padding, stride))]
pub fn _unfold(py: Python<'_>, input: Tensor, kernel_size: [i64; 2], dilation: [i64; 2], padding: [i64; 2], stride: [i64; 2]) -> PyResult<Tensor> {
    let args = FoldArgs { kernel_size, dilation, padding, stride };
    off_gil_guarded(py, input.numel(), || unfold(&input, &args))
}

/// F.fold on a 3-D input: (N, C * kH * kW, L) -> (N, C, *output_size).
#[pyfunction]
#[pyo3(signature = (input, output_size, kernel_size, dilation, padding, stride))]
pub fn _fold(py: Python<'_>, input: Tensor, output_size: [i64; 2], kernel_size: [i64; 2], dilation: [i64; 2], padding: [i64; 2], stride: [i64; 2]) -> PyResult<Tensor> {
    let args = FoldArgs { kernel_size, dilation, padding, stride };
    off_gil_guarded(py, input.numel(), || fold(&input, output_size, &args))
}
