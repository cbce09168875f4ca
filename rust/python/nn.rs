//! Bindings of the fused nn kernels. Mode logic (train/eval, momentum=None, counting batches)
//! lives in the Python modules; these take explicit flags.

use pyo3::prelude::*;

use super::error::{off_gil_guarded};
use super::tensor::PyTensor;
use crate::nn::batch_norm::{batch_norm, BatchNormArgs};
use crate::nn::dropout::{check_p, dropout, Kind};
use crate::nn::linear::linear;
use crate::nn::loss::{cross_entropy, nll_loss, pointwise_loss, CrossEntropyArgs, PointwiseLoss, Reduction};
use crate::nn::group_norm::group_norm;
use crate::nn::norm::layer_norm;
use crate::ops::{activation, inplace, unary};
use crate::tensor::Tensor;

/// Training-mode dropout. `unit` elements share one mask bit (1, or the spatial size for
/// channel dropout); `inplace` writes the result into `input`.
#[pyfunction]
#[pyo3(signature = (input, p, alpha, unit, inplace))]
pub fn _dropout(py: Python<'_>, input: PyRef<'_, PyTensor>, p: f64, alpha: bool, unit: usize, inplace: bool) -> PyResult<PyTensor> {
    let kind = if alpha { Kind::Alpha } else { Kind::Standard };
    let x = input.t.clone();
    if inplace {
        off_gil_guarded(py, x.numel(), || inplace::apply(&x, "dropout_", |t| dropout(t, p, kind, unit)))?;
        return Ok(x.into());
    }
    Ok(off_gil_guarded(py, x.numel(), || dropout(&x, p, kind, unit))?.into())
}

#[pyfunction]
pub fn _check_dropout_p(p: f64) -> PyResult<()> {
    Ok(check_p(p)?)
}

#[pyfunction]
#[pyo3(signature = (input, weight, bias, running_mean, running_var, use_batch_stats, update_running, momentum, eps))]
#[allow(clippy::too_many_arguments)]
pub fn _batch_norm(
    py: Python<'_>,
    input: PyRef<'_, PyTensor>,
    weight: Option<PyRef<'_, PyTensor>>,
    bias: Option<PyRef<'_, PyTensor>>,
    running_mean: Option<PyRef<'_, PyTensor>>,
    running_var: Option<PyRef<'_, PyTensor>>,
    use_batch_stats: bool,
    update_running: bool,
    momentum: f64,
    eps: f64,
) -> PyResult<PyTensor> {
    let x = input.t.clone();
    let (w, b) = (weight.map(|t| t.t.clone()), bias.map(|t| t.t.clone()));
    let (rm, rv) = (running_mean.map(|t| t.t.clone()), running_var.map(|t| t.t.clone()));
    let args = BatchNormArgs {
        weight: w.as_ref(),
        bias: b.as_ref(),
        running_mean: rm.as_ref(),
        running_var: rv.as_ref(),
        use_batch_stats,
        update_running,
        momentum,
        eps,
    };
    Ok(off_gil_guarded(py, x.numel(), || batch_norm(&x, &args))?.into())
}

#[pyfunction]
pub fn _leaky_relu(py: Python<'_>, input: PyRef<'_, PyTensor>, slope: f64) -> PyResult<PyTensor> {
    let x = input.t.clone();
    Ok(off_gil_guarded(py, x.numel(), || unary::leaky_relu(&x, slope))?.into())
}

#[pyfunction]
pub fn _leaky_relu_(py: Python<'_>, input: PyRef<'_, PyTensor>, slope: f64) -> PyResult<()> {
    let x = input.t.clone();
    off_gil_guarded(py, x.numel(), || unary::leaky_relu_(&x, slope))
}

/// The in-place activations that save their result (`ops::activation_in_place`): writes `value`
/// into `input` with the rule `kind` ("hardtanh" with params (min, max); "elu" or "celu" with
/// (alpha, scale, input_scale)); false when that path does not apply.
#[pyfunction]
pub fn _assign_saving_result(py: Python<'_>, input: PyRef<'_, PyTensor>, value: PyRef<'_, PyTensor>, kind: &str, params: Vec<f64>) -> PyResult<bool> {
    use crate::ops::activation_in_place::{assign_saving_result, ResultRule};
    let rule = match (kind, params.as_slice()) {
        ("hardtanh", &[min, max]) => ResultRule::Hardtanh { min, max },
        ("elu" | "celu", &[alpha, scale, input_scale]) => ResultRule::Elu { alpha, scale, input_scale, celu: kind == "celu" },
        _ => return Err(pyo3::exceptions::PyValueError::new_err(format!("_assign_saving_result: unknown rule {kind:?} with {} parameters", params.len()))),
    };
    let (x, v) = (input.t.clone(), value.t.clone());
    off_gil_guarded(py, x.numel(), || assign_saving_result(&x, &v, rule))
}

#[pyfunction]
pub fn _gelu(py: Python<'_>, input: PyRef<'_, PyTensor>, tanh: bool) -> PyResult<PyTensor> {
    let x = input.t.clone();
    Ok(off_gil_guarded(py, x.numel(), || if tanh { unary::gelu_tanh(&x) } else { unary::gelu(&x) })?.into())
}

#[pyfunction]
pub fn _silu(py: Python<'_>, input: PyRef<'_, PyTensor>) -> PyResult<PyTensor> {
    let x = input.t.clone();
    Ok(off_gil_guarded(py, x.numel(), || unary::silu(&x))?.into())
}

/// Class-index cross_entropy of logits, or with `log_probs=True` nll_loss of log-probabilities
/// (the same loss without the log_softmax; label_smoothing must then be 0).
#[pyfunction]
#[pyo3(signature = (input, target, weight, ignore_index, label_smoothing, reduction, log_probs=false))]
#[allow(clippy::too_many_arguments)]
pub fn _cross_entropy(
    py: Python<'_>,
    input: PyRef<'_, PyTensor>,
    target: PyRef<'_, PyTensor>,
    weight: Option<PyRef<'_, PyTensor>>,
    ignore_index: i64,
    label_smoothing: f64,
    reduction: &str,
    log_probs: bool,
) -> PyResult<PyTensor> {
    let (x, t, w) = (input.t.clone(), target.t.clone(), weight.map(|w| w.t.clone()));
    let reduction = Reduction::parse(reduction)?;
    if log_probs {
        return Ok(off_gil_guarded(py, x.numel(), || nll_loss(&x, &t, w.as_ref(), ignore_index, reduction))?.into());
    }
    let args = CrossEntropyArgs { weight: w.as_ref(), ignore_index, label_smoothing, reduction };
    Ok(off_gil_guarded(py, x.numel(), || cross_entropy(&x, &t, &args))?.into())
}

/// `F.linear` for a 2-D weight and a 1-D (or no) bias.
#[pyfunction]
#[pyo3(signature = (input, weight, bias))]
pub fn _linear(py: Python<'_>, input: PyRef<'_, PyTensor>, weight: PyRef<'_, PyTensor>, bias: Option<PyRef<'_, PyTensor>>) -> PyResult<PyTensor> {
    let (x, w, b) = (input.t.clone(), weight.t.clone(), bias.map(|t| t.t.clone()));
    let work = (x.numel() / w.shape().get(1).copied().unwrap_or(1).max(1)).saturating_mul(w.numel());
    Ok(off_gil_guarded(py, work, || linear(&x, &w, b.as_ref()))?.into())
}

#[pyfunction]
#[pyo3(signature = (input, normalized_shape, weight, bias, eps))]
pub fn _layer_norm(
    py: Python<'_>,
    input: PyRef<'_, PyTensor>,
    normalized_shape: Vec<usize>,
    weight: Option<PyRef<'_, PyTensor>>,
    bias: Option<PyRef<'_, PyTensor>>,
    eps: f64,
) -> PyResult<PyTensor> {
    let (x, w, b) = (input.t.clone(), weight.map(|t| t.t.clone()), bias.map(|t| t.t.clone()));
    Ok(off_gil_guarded(py, x.numel(), || layer_norm(&x, &normalized_shape, w.as_ref(), b.as_ref(), eps))?.into())
}

#[pyfunction]
#[pyo3(signature = (input, num_groups, weight, bias, eps))]
pub fn _group_norm(py: Python<'_>, input: PyRef<'_, PyTensor>, num_groups: usize, weight: Option<PyRef<'_, PyTensor>>, bias: Option<PyRef<'_, PyTensor>>, eps: f64) -> PyResult<PyTensor> {
    let (x, w, b) = (input.t.clone(), weight.map(|t| t.t.clone()), bias.map(|t| t.t.clone()));
    Ok(off_gil_guarded(py, x.numel(), || group_norm(&x, num_groups, w.as_ref(), b.as_ref(), eps))?.into())
}

/// The elementwise losses PyTorch fuses: `kind` is "bce" (the default), "bce_with_logits",
/// "mse", "smooth_l1" or "huber" (with `beta` > 0, huber's delta); weight and pos_weight come
/// expanded to the input's shape.
#[pyfunction]
#[pyo3(signature = (input, target, weight=None, pos_weight=None, reduction="none", kind="bce", beta=1.0))]
#[allow(clippy::too_many_arguments)]
pub fn _binary_cross_entropy(
    py: Python<'_>,
    input: PyRef<'_, PyTensor>,
    target: PyRef<'_, PyTensor>,
    weight: Option<PyRef<'_, PyTensor>>,
    pos_weight: Option<PyRef<'_, PyTensor>>,
    reduction: &str,
    kind: &str,
    beta: f64,
) -> PyResult<PyTensor> {
    let (x, y) = (input.t.clone(), target.t.clone());
    let (w, pw) = (weight.map(|t| t.t.clone()), pos_weight.map(|t| t.t.clone()));
    let reduction = Reduction::parse(reduction)?;
    let kind = match kind {
        "bce" => PointwiseLoss::Bce,
        "bce_with_logits" => PointwiseLoss::BceWithLogits,
        "mse" => PointwiseLoss::Mse,
        "smooth_l1" => PointwiseLoss::SmoothL1 { beta },
        "huber" => PointwiseLoss::Huber { delta: beta },
        other => return Err(pyo3::exceptions::PyValueError::new_err(format!("unknown pointwise loss {other:?}"))),
    };
    Ok(off_gil_guarded(py, x.numel(), || pointwise_loss(&x, &y, w.as_ref(), pw.as_ref(), kind, reduction))?.into())
}

/// The fused activations without parameters, by name: `F.elu` at alpha 1, `F.selu`,
/// `F.softplus` at its defaults, `F.mish`, `F.hardswish`, `F.hardsigmoid` (`ops/activation.rs`).
#[pyfunction]
pub fn _activation(py: Python<'_>, input: PyRef<'_, PyTensor>, name: &str) -> PyResult<PyTensor> {
    let f: fn(&Tensor) -> crate::error::Result<Tensor> = match name {
        "elu" => activation::elu,
        "selu" => activation::selu,
        "softplus" => activation::softplus_default,
        "mish" => activation::mish,
        "hardswish" => activation::hardswish,
        "hardsigmoid" => activation::hardsigmoid,
        other => return Err(pyo3::exceptions::PyValueError::new_err(format!("_activation: unknown activation {other:?}"))),
    };
    let x = input.t.clone();
    Ok(off_gil_guarded(py, x.numel(), || f(&x))?.into())
}

#[pyfunction]
pub fn _softplus(py: Python<'_>, input: PyRef<'_, PyTensor>) -> PyResult<PyTensor> {
    let x = input.t.clone();
    Ok(off_gil_guarded(py, x.numel(), || unary::softplus(&x))?.into())
}
