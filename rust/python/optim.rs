//! Bindings of the fused optimizer steps (`nn/optim.rs`). The Python optimizers validate the
//! hyperparameters, own the state and count steps; these convert and release the GIL.

use pyo3::prelude::*;

use super::error::off_gil_guarded;
use super::tensor::PyTensor;
use crate::nn::optim::{self, AdadeltaArgs, AdagradArgs, AdamArgs, RmspropArgs, SgdArgs};
use crate::tensor::Tensor;

fn opt(t: Option<PyRef<'_, PyTensor>>) -> Option<Tensor> {
    t.map(|t| t.t.clone())
}

#[pyfunction]
#[pyo3(signature = (param, grad, momentum_buffer, first_step, *, lr, momentum, dampening, weight_decay, nesterov, maximize))]
#[allow(clippy::too_many_arguments)]
pub fn _sgd_step(
    py: Python<'_>,
    param: PyRef<'_, PyTensor>,
    grad: PyRef<'_, PyTensor>,
    momentum_buffer: Option<PyRef<'_, PyTensor>>,
    first_step: bool,
    lr: f64,
    momentum: f64,
    dampening: f64,
    weight_decay: f64,
    nesterov: bool,
    maximize: bool,
) -> PyResult<()> {
    let (p, g, buf) = (param.t.clone(), grad.t.clone(), opt(momentum_buffer));
    let a = SgdArgs { lr, momentum, dampening, weight_decay, nesterov, maximize, first_step };
    off_gil_guarded(py, p.numel(), || optim::sgd(&p, &g, buf.as_ref(), &a))
}

#[pyfunction]
#[pyo3(signature = (param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, step, *, lr, beta1, beta2, eps, weight_decay, decoupled_weight_decay, maximize))]
#[allow(clippy::too_many_arguments)]
pub fn _adam_step(
    py: Python<'_>,
    param: PyRef<'_, PyTensor>,
    grad: PyRef<'_, PyTensor>,
    exp_avg: PyRef<'_, PyTensor>,
    exp_avg_sq: PyRef<'_, PyTensor>,
    max_exp_avg_sq: Option<PyRef<'_, PyTensor>>,
    step: f64,
    lr: f64,
    beta1: f64,
    beta2: f64,
    eps: f64,
    weight_decay: f64,
    decoupled_weight_decay: bool,
    maximize: bool,
) -> PyResult<()> {
    let (p, g, m, v, vmax) = (param.t.clone(), grad.t.clone(), exp_avg.t.clone(), exp_avg_sq.t.clone(), opt(max_exp_avg_sq));
    let a = AdamArgs { lr, beta1, beta2, eps, weight_decay, decoupled_weight_decay, maximize, step };
    off_gil_guarded(py, p.numel(), || optim::adam(&p, &g, &m, &v, vmax.as_ref(), &a))
}

#[pyfunction]
#[pyo3(signature = (param, grad, square_avg, momentum_buffer, grad_avg, *, lr, alpha, eps, weight_decay, momentum, maximize))]
#[allow(clippy::too_many_arguments)]
pub fn _rmsprop_step(
    py: Python<'_>,
    param: PyRef<'_, PyTensor>,
    grad: PyRef<'_, PyTensor>,
    square_avg: PyRef<'_, PyTensor>,
    momentum_buffer: Option<PyRef<'_, PyTensor>>,
    grad_avg: Option<PyRef<'_, PyTensor>>,
    lr: f64,
    alpha: f64,
    eps: f64,
    weight_decay: f64,
    momentum: f64,
    maximize: bool,
) -> PyResult<()> {
    let (p, g, sq, buf, ga) = (param.t.clone(), grad.t.clone(), square_avg.t.clone(), opt(momentum_buffer), opt(grad_avg));
    let a = RmspropArgs { lr, alpha, eps, weight_decay, momentum, maximize };
    off_gil_guarded(py, p.numel(), || optim::rmsprop(&p, &g, &sq, buf.as_ref(), ga.as_ref(), &a))
}

#[pyfunction]
#[pyo3(signature = (param, grad, sum, step, *, lr, lr_decay, weight_decay, eps, maximize))]
#[allow(clippy::too_many_arguments)]
pub fn _adagrad_step(
    py: Python<'_>,
    param: PyRef<'_, PyTensor>,
    grad: PyRef<'_, PyTensor>,
    sum: PyRef<'_, PyTensor>,
    step: f64,
    lr: f64,
    lr_decay: f64,
    weight_decay: f64,
    eps: f64,
    maximize: bool,
) -> PyResult<()> {
    let (p, g, s) = (param.t.clone(), grad.t.clone(), sum.t.clone());
    let a = AdagradArgs { lr, lr_decay, weight_decay, eps, maximize, step };
    off_gil_guarded(py, p.numel(), || optim::adagrad(&p, &g, &s, &a))
}

#[pyfunction]
#[pyo3(signature = (param, grad, square_avg, acc_delta, *, lr, rho, eps, weight_decay, maximize))]
#[allow(clippy::too_many_arguments)]
pub fn _adadelta_step(
    py: Python<'_>,
    param: PyRef<'_, PyTensor>,
    grad: PyRef<'_, PyTensor>,
    square_avg: PyRef<'_, PyTensor>,
    acc_delta: PyRef<'_, PyTensor>,
    lr: f64,
    rho: f64,
    eps: f64,
    weight_decay: f64,
    maximize: bool,
) -> PyResult<()> {
    let (p, g, sq, acc) = (param.t.clone(), grad.t.clone(), square_avg.t.clone(), acc_delta.t.clone());
    let a = AdadeltaArgs { lr, rho, eps, weight_decay, maximize };
    off_gil_guarded(py, p.numel(), || optim::adadelta(&p, &g, &sq, &acc, &a))
}
