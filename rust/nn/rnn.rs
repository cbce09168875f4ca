//! One recurrent layer in one direction over a whole sequence (LSTM, GRU, Elman RNN), as one op
//! with one backward node, the way PyTorch's CPU LSTM runs (`MkldnnRnnLayerBackward0`).
//!
//! Built from per-step ops, a 64-step LSTM records some 20 nodes a step and backward walks them
//! one by one. Here forward makes the input part of every step one product, and each step is a
//! product with W_hh and one fused pointwise pass; the gate activations and cell states are
//! kept, and backward is the mirror image: per step the pointwise gate gradients and a product
//! with W_hh, then dW_ih, dW_hh and d input each as one product over all rows (`rnn_kernels.rs`).
//!
//! Gate order and layout are PyTorch's: LSTM (i, f, g, o), GRU (r, z, n) stacked along the
//! weights' rows, n = tanh(W_in x + b_in + r * (W_hn h + b_hn)); an LSTM with w_hr
//! (proj_size, H) outputs h = w_hr @ (o * tanh(c)).
//!
//! Backward is a fused kernel, which leaves no history. With `create_graph=True` (a gradient
//! penalty, MAML through an LSTM) the node instead reruns the layer written in recorded ops
//! (`rnn_composed.rs`) and differentiates that (`autograd::recompute`), so second derivatives
//! work as they do through PyTorch's CPU LSTM.

use crate::autograd::trace::{self, Attrs};
use crate::autograd::{needs_record, recompute, record_outputs, trace_outputs, Backward, Saved};
use crate::bail;
use crate::error::Result;
use crate::tensor::Tensor;
use crate::with_float;

pub use super::rnn_kernels::{Cell, Steps};
use crate::vmath::VMath;
use super::rnn_kernels::{backward, forward, Dims, Params, Trace, Wanted};

/// The tensors of one layer call. `batch_sizes` makes `input` a packed (sum(batch_sizes), I)
/// sequence; otherwise it is (T, B, I), time-major.
pub struct RnnArgs<'a> {
    pub cell: Cell,
    pub input: &'a Tensor,
    pub h0: &'a Tensor,
    /// LSTM only.
    pub c0: Option<&'a Tensor>,
    pub w_ih: &'a Tensor,
    pub w_hh: &'a Tensor,
    pub b_ih: Option<&'a Tensor>,
    pub b_hh: Option<&'a Tensor>,
    /// LSTM only: the projection (proj_size, H).
    pub w_hr: Option<&'a Tensor>,
    pub batch_sizes: Option<&'a [i64]>,
    pub reverse: bool,
}

impl Cell {
    fn op(self) -> &'static str {
        match self {
            Cell::Lstm => "lstm",
            Cell::Gru => "gru",
            Cell::RnnTanh => "rnn_tanh",
            Cell::RnnRelu => "rnn_relu",
        }
    }
}

/// The layer over the whole sequence: (output, h_n, c_n), c_n only for the LSTM.
///
/// # Shapes
/// input (T, B, I) or packed (N, I); h0 (B, H_out); c0 (B, H); w_ih (G*H, I); w_hh (G*H, H_out);
/// b_ih, b_hh (G*H); w_hr (H_out, H) -> output (T, B, H_out) or (N, H_out), h_n (B, H_out),
/// c_n (B, H), where G is 4, 3 or 1 and H_out is proj_size with w_hr, else H.
pub fn rnn_layer(a: &RnnArgs<'_>) -> Result<(Tensor, Tensor, Option<Tensor>)> {
    let (d, steps) = check(a)?;
    let x = a.input;
    let out_shape = if a.batch_sizes.is_some() { vec![steps.rows(), d.out] } else { vec![x.shape()[0], d.batch, d.out] };
    let inputs = [Some(x), Some(a.h0), a.c0, Some(a.w_ih), Some(a.w_hh), a.b_ih, a.b_hh, a.w_hr];
    let present: Vec<&Tensor> = inputs.iter().flatten().copied().collect();
    let record = needs_record(&present);
    let packed = a.batch_sizes.is_some();
    with_float!(x.dtype(), a.cell.op(), T => {
        // The input and weights are read where they are (copying them cost 2-4% of an
        // LSTM(256) train step); every one has x's dtype (`check`).
        let f = Tensor::with_slices::<T, _>(&present, |s| {
            let mut at = s.iter().copied();
            let mut next = |present: bool| if present { at.next() } else { None };
            let (xs, h0, c0) = (next(true).unwrap_or_default(), next(true).unwrap_or_default(), next(a.c0.is_some()).unwrap_or_default());
            let (w_ih, w_hh) = (next(true).unwrap_or_default(), next(true).unwrap_or_default());
            let p = Params { w_ih, w_hh, b_ih: next(a.b_ih.is_some()), b_hh: next(a.b_hh.is_some()), w_hr: next(a.w_hr.is_some()) };
            forward::<T>(xs, h0, c0, &p, &d, &steps)
        });
        let output = Tensor::from_vec_unchecked(f.output, &out_shape);
        let h_n = Tensor::from_vec_unchecked(f.h_n, &[d.batch, d.out]);
        let c_n = (a.cell == Cell::Lstm).then(|| Tensor::from_vec_unchecked(f.c_n, &[d.batch, d.hidden]));
        if record || trace::is_tracing() {
            let saved = |t: Option<&Tensor>| t.map(Saved::new).transpose();
            let node = RnnLayerBackward::<T> {
                d,
                steps,
                trace: f.trace,
                input: Saved::new(x)?,
                h0: Saved::new(a.h0)?,
                c0: saved(a.c0)?,
                w_ih: Saved::new(a.w_ih)?,
                w_hh: Saved::new(a.w_hh)?,
                b_ih: saved(a.b_ih)?,
                b_hh: saved(a.b_hh)?,
                w_hr: saved(a.w_hr)?,
                packed,
            };
            let outputs = [Some(output.clone()), Some(h_n.clone()), c_n.clone()];
            if record {
                record_outputs(&outputs, &inputs, Box::new(node));
            } else {
                trace_outputs(&outputs, &inputs, &node);
            }
        }
        Ok((output, h_n, c_n))
    })
}

/// Checks every shape against the weights and returns the sizes and the steps.
fn check(a: &RnnArgs<'_>) -> Result<(Dims, Steps)> {
    let op = a.cell.op();
    let x = a.input;
    let all = [("input", Some(x)), ("h0", Some(a.h0)), ("c0", a.c0), ("w_ih", Some(a.w_ih)), ("w_hh", Some(a.w_hh)), ("b_ih", a.b_ih), ("b_hh", a.b_hh), ("w_hr", a.w_hr)];
    for (name, t) in all {
        if let Some(t) = t {
            if t.dtype() != x.dtype() {
                bail!(Runtime, "{op}: expected {name} to have the input's dtype {}, but got {} ({name} shape {:?})", x.dtype().name(), t.dtype().name(), t.shape());
            }
        }
    }
    let lstm = a.cell == Cell::Lstm;
    if !lstm && (a.c0.is_some() || a.w_hr.is_some()) {
        bail!(Runtime, "{op}: c0 and w_hr belong to the LSTM only");
    }
    if lstm && a.c0.is_none() {
        bail!(Runtime, "{op}: the LSTM needs c0 (B, hidden_size)");
    }
    let (w_ih, w_hh) = (a.w_ih.shape(), a.w_hh.shape());
    let gates = a.cell.gates();
    if w_ih.len() != 2 || w_ih[0] == 0 || w_ih[0] % gates != 0 {
        bail!(Runtime, "{op}: w_ih must be 2-D ({gates} * hidden_size, input_size) with hidden_size > 0, got shape {w_ih:?}");
    }
    let (hidden, input) = (w_ih[0] / gates, w_ih[1]);
    let out = match a.w_hr.map(|w| w.shape()) {
        None => hidden,
        Some([p, h]) if *h == hidden && *p > 0 => *p,
        Some(s) => bail!(Runtime, "{op}: w_hr must be (proj_size, hidden_size) = (*, {hidden}) with proj_size > 0, got shape {s:?} (w_ih {w_ih:?})"),
    };
    if w_hh != [gates * hidden, out] {
        bail!(Runtime, "{op}: w_hh must have shape [{}, {out}] ({gates} * hidden_size, {}), got {w_hh:?} (w_ih {w_ih:?})", gates * hidden, if a.w_hr.is_some() { "proj_size" } else { "hidden_size" });
    }
    for (name, b) in [("b_ih", a.b_ih), ("b_hh", a.b_hh)] {
        if let Some(b) = b {
            if b.shape() != [gates * hidden] {
                bail!(Runtime, "{op}: {name} must have shape [{}] ({gates} * hidden_size), got {:?}", gates * hidden, b.shape());
            }
        }
    }
    let packed = a.batch_sizes.is_some();
    let want_dims = if packed { 2 } else { 3 };
    if x.ndim() != want_dims {
        let what = if packed { "packed input (sum(batch_sizes), input_size)" } else { "input (seq_len, batch, input_size)" };
        bail!(Runtime, "{op}: expected a {want_dims}-D {what}, got shape {:?}", x.shape());
    }
    if x.shape()[want_dims - 1] != input {
        bail!(Runtime, "{op}: input.size(-1) must be equal to input_size. Expected {input}, got {} (input {:?}, w_ih {w_ih:?})", x.shape()[want_dims - 1], x.shape());
    }
    let steps = match a.batch_sizes {
        None => Steps::padded(x.shape()[0], x.shape()[1], a.reverse),
        Some(sizes) => Steps::packed(&check_batch_sizes(op, sizes, x.shape()[0])?, a.reverse),
    };
    let batch = if packed { steps.sizes.first().copied().unwrap_or(a.h0.shape().first().copied().unwrap_or(0)) } else { x.shape()[1] };
    if a.h0.shape() != [batch, out] {
        bail!(Runtime, "{op}: Expected hidden size [{batch}, {out}] (batch, {}), got h0 {:?} (input {:?})", if a.w_hr.is_some() { "proj_size" } else { "hidden_size" }, a.h0.shape(), x.shape());
    }
    if let Some(c0) = a.c0 {
        if c0.shape() != [batch, hidden] {
            bail!(Runtime, "{op}: Expected cell size [{batch}, {hidden}] (batch, hidden_size), got c0 {:?} (input {:?})", c0.shape(), x.shape());
        }
    }
    Ok((Dims { cell: a.cell, input, hidden, out, batch }, steps))
}

/// PackedSequence batch sizes: positive, never growing, adding up to the input's rows.
pub fn check_batch_sizes(op: &str, sizes: &[i64], rows: usize) -> Result<Vec<usize>> {
    if let Some(w) = sizes.windows(2).find(|w| w[1] > w[0]) {
        bail!(Runtime, "{op}: batch_sizes must be non-increasing (sequences sorted by decreasing length), got {} after {} in {sizes:?}", w[1], w[0]);
    }
    if sizes.iter().any(|&b| b <= 0) {
        bail!(Runtime, "{op}: batch_sizes must be positive, got {sizes:?}");
    }
    let total: i64 = sizes.iter().sum();
    if total as usize != rows {
        bail!(Runtime, "{op}: batch_sizes add up to {total}, but the packed input has {rows} rows (batch_sizes {sizes:?})");
    }
    Ok(sizes.iter().map(|&b| b as usize).collect())
}

struct RnnLayerBackward<T> {
    d: Dims,
    steps: Steps,
    trace: Trace<T>,
    input: Saved,
    /// The initial states and the biases: only the recorded form (`create_graph`) reads them.
    h0: Saved,
    c0: Option<Saved>,
    w_ih: Saved,
    w_hh: Saved,
    b_ih: Option<Saved>,
    b_hh: Option<Saved>,
    w_hr: Option<Saved>,
    /// The input was a PackedSequence's rows (for a trace: export needs the padded form).
    packed: bool,
}

impl<T: VMath> Backward for RnnLayerBackward<T> {
    fn name(&self) -> &'static str {
        match self.d.cell {
            // PyTorch's CPU LSTM node; its GRU and RNN have no fused node, so these are ours.
            Cell::Lstm => "MkldnnRnnLayerBackward0",
            Cell::Gru => "GruLayerBackward0",
            Cell::RnnTanh => "RnnTanhLayerBackward0",
            Cell::RnnRelu => "RnnReluLayerBackward0",
        }
    }
    fn attrs(&self) -> Attrs {
        crate::attrs![("hidden_size", self.d.hidden), ("reverse", self.steps.reverse), ("packed", self.packed)]
    }

    fn apply(&self, grad: &Tensor, needs: &[bool]) -> Result<Vec<Option<Tensor>>> {
        self.apply_outputs(&[Some(grad.clone())], needs)
    }

    /// With `create_graph` the gradients come from the recorded form (see the module docs).
    fn differentiable(&self) -> bool {
        true
    }

    /// Inputs: input, h0, c0, w_ih, w_hh, b_ih, b_hh, w_hr (absent ones have no edge).
    fn apply_outputs(&self, grads: &[Option<Tensor>], needs: &[bool]) -> Result<Vec<Option<Tensor>>> {
        let need = |i: usize| needs.get(i).copied().unwrap_or(false);
        if grads.iter().all(Option::is_none) {
            return Ok(vec![None; needs.len()]);
        }
        if crate::autograd::is_recording() {
            return self.recorded_grads(grads, needs);
        }
        let vec_of = |i: usize| grads.get(i).cloned().flatten().map(|g| g.to_vec::<T>());
        let (dout, dh_n, dc_n) = (vec_of(0), vec_of(1), vec_of(2));
        let input = self.input.get()?;
        let want = Wanted { h0: need(1), input: need(0), w_ih: need(3), w_hh: need(4), b_ih: need(5), b_hh: need(6), w_hr: need(7) };
        let (w_ih, w_hh) = (self.w_ih.get()?, self.w_hh.get()?);
        let w_hr = self.w_hr.as_ref().map(Saved::get).transpose()?;
        let read: Vec<&Tensor> = [Some(&input), Some(&w_ih), Some(&w_hh), w_hr.as_ref()].into_iter().flatten().collect();
        let g = Tensor::with_slices::<T, _>(&read, |s| {
            // x only for dW_ih (it is read in place either way).
            let x = if want.w_ih { s[0] } else { &[] };
            let p = Params { w_ih: s[1], w_hh: s[2], b_ih: None, b_hh: None, w_hr: s.get(3).copied() };
            backward(x, &p, &self.d, &self.steps, &self.trace, (dout.as_deref(), dh_n.as_deref(), dc_n.as_deref()), want)
        });
        let (d, gh) = (self.d, self.d.cell.gates() * self.d.hidden);
        let tensor = |v: Option<Vec<T>>, shape: &[usize]| v.map(|v| Tensor::from_vec_unchecked(v, shape));
        Ok(vec![
            tensor(g.input, input.shape()),
            tensor(need(1).then_some(g.h0), &[d.batch, d.out]),
            tensor((need(2) && self.c0.is_some()).then_some(g.c0), &[d.batch, d.hidden]),
            tensor(g.w_ih, &[gh, d.input]),
            tensor(g.w_hh, &[gh, d.out]),
            tensor(g.b_ih, &[gh]),
            tensor(g.b_hh, &[gh]),
            tensor(g.w_hr, &[d.out, d.hidden]),
        ])
    }
}

impl<T> RnnLayerBackward<T> {
    /// The gradients by way of the layer in recorded ops, so they can be differentiated again.
    fn recorded_grads(&self, grads: &[Option<Tensor>], needs: &[bool]) -> Result<Vec<Option<Tensor>>> {
        let get = |s: &Option<Saved>| s.as_ref().map(Saved::get).transpose();
        let inputs = [Some(self.input.get()?), Some(self.h0.get()?), get(&self.c0)?, Some(self.w_ih.get()?), Some(self.w_hh.get()?), get(&self.b_ih)?, get(&self.b_hh)?, get(&self.w_hr)?];
        let (cell, steps) = (self.d.cell, &self.steps);
        recompute::grads_by_recompute(&inputs, grads, needs, |t| {
            let present = |i: usize| t[i].as_ref().expect("rnn: the layer's required inputs are present");
            let layer = RnnArgs {
                cell,
                input: present(0),
                h0: present(1),
                c0: t[2].as_ref(),
                w_ih: present(3),
                w_hh: present(4),
                b_ih: t[5].as_ref(),
                b_hh: t[6].as_ref(),
                w_hr: t[7].as_ref(),
                batch_sizes: None,
                reverse: steps.reverse,
            };
            let (output, h_n, c_n) = super::rnn_composed::layer(&layer, steps)?;
            Ok(vec![Some(output), Some(h_n), c_n])
        })
    }
}
