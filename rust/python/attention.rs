//! Binding of the fused scaled-dot-product-attention kernel. The train/eval policy for
//! `dropout_p` is the Python wrapper's (`F.scaled_dot_product_attention`): this applies dropout
//! whenever `dropout_p > 0`, as PyTorch's functional form does.

use pyo3::prelude::*;

use super::error::off_gil_guarded;
use super::tensor::PyTensor;
use crate::nn::attention::{scaled_dot_product_attention, SdpaArgs};

/// `_core._sdpa(query, key, value, attn_mask=None, dropout_p=0.0, is_causal=False, scale=None,
/// enable_gqa=False)`: PyTorch 2.15's `scaled_dot_product_attention`.
#[pyfunction]
#[pyo3(signature = (query, key, value, attn_mask=None, dropout_p=0.0, is_causal=false, scale=None, enable_gqa=false))]
#[allow(clippy::too_many_arguments)]
pub fn _sdpa(
    py: Python<'_>,
    query: PyRef<'_, PyTensor>,
    key: PyRef<'_, PyTensor>,
    value: PyRef<'_, PyTensor>,
    attn_mask: Option<PyRef<'_, PyTensor>>,
    dropout_p: f64,
    is_causal: bool,
    scale: Option<f64>,
    enable_gqa: bool,
) -> PyResult<PyTensor> {
    let (q, k, v, m) = (query.t.clone(), key.t.clone(), value.t.clone(), attn_mask.map(|m| m.t.clone()));
    // Work ~ L * S * (E + Ev) per matrix; releasing the GIL pays off well before that is large.
    let work = q.numel().saturating_mul(k.shape().get(k.ndim().wrapping_sub(2)).copied().unwrap_or(1));
    let args = SdpaArgs { attn_mask: m.as_ref(), dropout_p, is_causal, scale, enable_gqa };
    Ok(off_gil_guarded(py, work, || scaled_dot_product_attention(&q, &k, &v, &args))?.into())
}
