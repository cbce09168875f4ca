//! One recurrent layer written step by step in recorded ops: the form a second derivative
//! differentiates (`autograd::recompute`). It computes what `rnn_kernels::forward` does, with
//! PyTorch's cell equations, and is run only by a backward with `create_graph=True`.

use super::rnn::RnnArgs;
use super::rnn_kernels::{Cell, Steps};
use crate::error::Result;
use crate::ops::binary::{add, mul, sub};
use crate::ops::join::{cat, chunk};
use crate::ops::matmul::matmul;
use crate::ops::unary::{relu, sigmoid, tanh};
use crate::tensor::Tensor;

/// a @ w^T (+ b).
fn affine(a: &Tensor, w: &Tensor, b: Option<&Tensor>) -> Result<Tensor> {
    let y = matmul(a, &w.t()?)?;
    match b {
        Some(b) => add(&y, b),
        None => Ok(y),
    }
}

/// The new state rows [0, b) on top of the rows [b, batch) that this step leaves alone (a packed
/// sequence's shorter sequences, which have ended or not yet begun).
fn with_rest(new: Tensor, old: &Tensor) -> Result<Tensor> {
    let (b, batch) = (new.shape()[0], old.shape()[0]);
    if b == batch {
        return Ok(new);
    }
    cat(&[new, old.narrow(0, b as isize, (batch - b) as isize)?], 0)
}

/// (output, h_n, c_n) of the layer, c_n for the LSTM only; `input` is (T, B, I) or packed
/// (N, I), with `steps` saying which rows each step holds and in which order (so `a`'s
/// batch_sizes and reverse are not read).
pub(super) fn layer(a: &RnnArgs<'_>, steps: &Steps) -> Result<(Tensor, Tensor, Option<Tensor>)> {
    let cell = a.cell;
    let rows = steps.rows();
    let x = a.input.reshape(&[rows, a.input.shape()[a.input.ndim() - 1]])?;
    let gx = affine(&x, a.w_ih, a.b_ih)?;
    let (mut h, mut c) = (a.h0.clone(), a.c0.cloned());
    let mut outputs: Vec<Option<Tensor>> = vec![None; steps.sizes.len()];
    for t in steps.order() {
        let (b, off) = (steps.sizes[t], steps.offsets[t]);
        let gx_t = gx.narrow(0, off as isize, b as isize)?;
        let h_prev = h.narrow(0, 0, b as isize)?;
        let gh_t = affine(&h_prev, a.w_hh, a.b_hh)?;
        let h_new = match cell {
            Cell::Lstm => {
                let c_all = c.as_ref().expect("rnn: the LSTM has c0 (checked by the op)");
                let c_prev = c_all.narrow(0, 0, b as isize)?;
                let g = chunk(&add(&gx_t, &gh_t)?, 4, 1)?;
                let (i, f, gg, o) = (sigmoid(&g[0])?, sigmoid(&g[1])?, tanh(&g[2])?, sigmoid(&g[3])?);
                let c_new = add(&mul(&f, &c_prev)?, &mul(&i, &gg)?)?;
                let h_new = mul(&o, &tanh(&c_new)?)?;
                c = Some(with_rest(c_new, c_all)?);
                match a.w_hr {
                    Some(w_hr) => matmul(&h_new, &w_hr.t()?)?,
                    None => h_new,
                }
            }
            Cell::Gru => {
                let (xs, hs) = (chunk(&gx_t, 3, 1)?, chunk(&gh_t, 3, 1)?);
                let r = sigmoid(&add(&xs[0], &hs[0])?)?;
                let z = sigmoid(&add(&xs[1], &hs[1])?)?;
                let n = tanh(&add(&xs[2], &mul(&r, &hs[2])?)?)?;
                // (1 - z) n + z h
                add(&n, &mul(&z, &sub(&h_prev, &n)?)?)?
            }
            Cell::RnnTanh => tanh(&add(&gx_t, &gh_t)?)?,
            Cell::RnnRelu => relu(&add(&gx_t, &gh_t)?)?,
        };
        outputs[t] = Some(h_new.clone());
        h = with_rest(h_new, &h)?;
    }
    let outputs: Vec<Tensor> = outputs.into_iter().flatten().collect();
    let output = if outputs.is_empty() { Tensor::zeros(&[0, h.shape()[1]], h.dtype()) } else { cat(&outputs, 0)? };
    let output = if a.input.ndim() == 3 { output.reshape(&[a.input.shape()[0], a.input.shape()[1], h.shape()[1]])? } else { output };
    Ok((output, h, c))
}
