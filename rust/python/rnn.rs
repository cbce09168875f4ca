//! Bindings of the fused recurrent layers (one layer, one direction, a whole sequence); the
//! Python modules nn.LSTM/GRU/RNN stack them over layers and directions.

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

use super::error::off_gil_guarded;
use crate::nn::rnn::{rnn_layer, Cell, RnnArgs};
use crate::tensor::Tensor;

/// `batch_sizes` as an int64 tensor (a PackedSequence's) or a list of ints.
fn sizes(batch_sizes: Option<&Bound<'_, PyAny>>) -> PyResult<Option<Vec<i64>>> {
    let Some(b) = batch_sizes else { return Ok(None) };
    if let Ok(t) = b.extract::<Tensor>() {
        if t.ndim() != 1 || t.dtype().is_float() {
            return Err(PyValueError::new_err(format!("batch_sizes must be a 1-D integer tensor, got {} of shape {:?}", t.dtype().name(), t.shape())));
        }
        return Ok(Some(t.to_vec::<i64>()));
    }
    Ok(Some(b.extract::<Vec<i64>>()?))
}

/// Runs one layer off the GIL; the work hint is the multiply-adds of the input product.
fn run(py: Python<'_>, a: RnnArgs<'_>) -> PyResult<(Tensor, Tensor, Option<Tensor>)> {
    let work = a.input.numel().saturating_mul(a.w_ih.shape().first().copied().unwrap_or(1));
    off_gil_guarded(py, work, || rnn_layer(&a))
}

/// One LSTM layer: (output, h_n, c_n).
#[pyfunction]
#[pyo3(signature = (input, h0, c0, w_ih, w_hh, b_ih=None, b_hh=None, w_hr=None, batch_sizes=None, reverse=false))]
#[allow(clippy::too_many_arguments)]
pub fn _lstm_layer(
    py: Python<'_>,
    input: Tensor,
    h0: Tensor,
    c0: Tensor,
    w_ih: Tensor,
    w_hh: Tensor,
    b_ih: Option<Tensor>,
    b_hh: Option<Tensor>,
    w_hr: Option<Tensor>,
    batch_sizes: Option<&Bound<'_, PyAny>>,
    reverse: bool,
) -> PyResult<(Tensor, Tensor, Tensor)> {
    let bs = sizes(batch_sizes)?;
    let args = RnnArgs {
        cell: Cell::Lstm,
        input: &input,
        h0: &h0,
        c0: Some(&c0),
        w_ih: &w_ih,
        w_hh: &w_hh,
        b_ih: b_ih.as_ref(),
        b_hh: b_hh.as_ref(),
        w_hr: w_hr.as_ref(),
        batch_sizes: bs.as_deref(),
        reverse,
    };
    let (out, h_n, c_n) = run(py, args)?;
    Ok((out, h_n, c_n.unwrap_or_else(|| c0.clone())))
}

/// One GRU layer: (output, h_n).
#[pyfunction]
#[pyo3(signature = (input, h0, w_ih, w_hh, b_ih=None, b_hh=None, batch_sizes=None, reverse=false))]
#[allow(clippy::too_many_arguments)]
pub fn _gru_layer(
    py: Python<'_>,
    input: Tensor,
    h0: Tensor,
    w_ih: Tensor,
    w_hh: Tensor,
    b_ih: Option<Tensor>,
    b_hh: Option<Tensor>,
    batch_sizes: Option<&Bound<'_, PyAny>>,
    reverse: bool,
) -> PyResult<(Tensor, Tensor)> {
    let bs = sizes(batch_sizes)?;
    let args = RnnArgs {
        cell: Cell::Gru,
        input: &input,
        h0: &h0,
        c0: None,
        w_ih: &w_ih,
        w_hh: &w_hh,
        b_ih: b_ih.as_ref(),
        b_hh: b_hh.as_ref(),
        w_hr: None,
        batch_sizes: bs.as_deref(),
        reverse,
    };
    let (out, h_n, _) = run(py, args)?;
    Ok((out, h_n))
}

/// One Elman RNN layer, h' = tanh or relu(W_ih x + b_ih + W_hh h + b_hh): (output, h_n).
#[pyfunction]
#[pyo3(signature = (input, h0, w_ih, w_hh, b_ih=None, b_hh=None, nonlinearity="tanh", batch_sizes=None, reverse=false))]
#[allow(clippy::too_many_arguments)]
pub fn _rnn_layer(
    py: Python<'_>,
    input: Tensor,
    h0: Tensor,
    w_ih: Tensor,
    w_hh: Tensor,
    b_ih: Option<Tensor>,
    b_hh: Option<Tensor>,
    nonlinearity: &str,
    batch_sizes: Option<&Bound<'_, PyAny>>,
    reverse: bool,
) -> PyResult<(Tensor, Tensor)> {
    let cell = match nonlinearity {
        "tanh" => Cell::RnnTanh,
        "relu" => Cell::RnnRelu,
        other => return Err(PyValueError::new_err(format!("_rnn_layer: Unknown nonlinearity '{other}'. Select from 'tanh' or 'relu'."))),
    };
    let bs = sizes(batch_sizes)?;
    let args = RnnArgs {
        cell,
        input: &input,
        h0: &h0,
        c0: None,
        w_ih: &w_ih,
        w_hh: &w_hh,
        b_ih: b_ih.as_ref(),
        b_hh: b_hh.as_ref(),
        w_hr: None,
        batch_sizes: bs.as_deref(),
        reverse,
    };
    let (out, h_n, _) = run(py, args)?;
    Ok((out, h_n))
}
