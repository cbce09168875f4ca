//! Fused cross-entropy: log-softmax, class weights, ignore_index, label smoothing and the
//! reduction in one pass over the logits, saving only the per-row log-sum-exp for backward.
//!
//! For row i with target t, log-probabilities l = x - lse(x), smoothing e and C classes:
//!   loss_i = (1 - e) * w[t] * (-l[t]) + (e / C) * sum_c w[c] * (-l[c])
//! Mean reduction divides by sum of w[t_i] over rows not ignored (PyTorch's rule for both terms).
//!
//! nll_loss shares the class-index layout. The elementwise losses (BCE, MSE, smooth L1) are in
//! loss_pointwise.rs, and every loss's rule as recorded ops (create_graph) in loss_recorded.rs.

use crate::autograd::{record, Backward, Saved};
use crate::bail;
use crate::error::Result;
use crate::tensor::{DType, Element, Float, Tensor};
use crate::vmath::VMath;
use crate::with_float;

#[path = "loss_pointwise.rs"]
mod pointwise;
#[path = "loss_recorded.rs"]
mod recorded;
#[path = "loss_rows.rs"]
mod loss_rows;

pub use pointwise::{pointwise_loss, PointwiseLoss};
use pointwise::{PointwiseLossBackward, BCE_EPS};

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Reduction {
    None,
    Mean,
    Sum,
}

impl Reduction {
    pub fn parse(s: &str) -> Result<Reduction> {
        Ok(match s {
            "none" => Reduction::None,
            "mean" => Reduction::Mean,
            "sum" => Reduction::Sum,
            _ => bail!(Value, "{s} is not a valid value for reduction (expected 'none', 'mean' or 'sum')"),
        })
    }
}

pub struct CrossEntropyArgs<'a> {
    pub weight: Option<&'a Tensor>,
    pub ignore_index: i64,
    pub label_smoothing: f64,
    pub reduction: Reduction,
}

/// Logits (or log-probabilities) laid out as rows of C (class dim moved last), the matching flat
/// targets, the output shape of reduction='none', and C. `op` names the caller in errors.
fn rows(input: &Tensor, target: &Tensor, op: &str) -> Result<(Tensor, Vec<i64>, Vec<usize>, usize)> {
    if !input.dtype().is_float() {
        bail!(Runtime, "{op}: expected a floating point input, got {}", input.dtype().name());
    }
    if target.dtype() != DType::I64 {
        bail!(Runtime, "{op}: expected class indices of dtype int64 (or probabilities of the input's shape), got target of dtype {}", target.dtype().name());
    }
    let (x, out_shape) = match input.ndim() {
        1 => (input.unsqueeze(0)?, vec![]),
        0 => bail!(Runtime, "{op}: input must have a class dimension, got a 0-d tensor"),
        _ => {
            let mut shape = vec![input.shape()[0]];
            shape.extend_from_slice(&input.shape()[2..]);
            (input.clone(), shape)
        }
    };
    let expected: Vec<usize> = if input.ndim() == 1 { vec![] } else { out_shape.clone() };
    if input.ndim() > 1 && target.ndim() > 0 && target.shape()[0] != input.shape()[0] {
        bail!(Value, "Expected input batch_size ({}) to match target batch_size ({}) ({op} input {:?}, target {:?}).", input.shape()[0], target.shape()[0], input.shape(), target.shape());
    }
    if target.shape() != expected.as_slice() {
        bail!(
            Runtime,
            "{op}: expected target of shape {expected:?} for input of shape {:?} (class dim 1), got target shape {:?}",
            input.shape(), target.shape()
        );
    }
    let c = x.shape()[1];
    // (N, C, d...) -> (N, d..., C): rows of classes.
    let nd = x.ndim() as isize;
    let mut perm: Vec<isize> = vec![0];
    perm.extend(2..nd);
    perm.push(1);
    let moved = x.detach().permute(&perm)?.contiguous()?;
    Ok((moved, target.to_vec::<i64>(), out_shape, c))
}

/// PyTorch's grad_fn name for a class-index loss. cross_entropy is log_softmax + nll_loss_nd
/// there: (N, C) and (C,) inputs end in nll_loss, 4-D ones in nll_loss2d, other ranks are
/// reshaped to 4-D for nll_loss2d (and viewed back for reduction='none'); label smoothing adds
/// its term last.
fn nll_name(ndim: usize, smoothing: f64) -> &'static str {
    if smoothing > 0.0 {
        "AddBackward0"
    } else if ndim <= 2 {
        "NllLossBackward0"
    } else {
        "NllLoss2DBackward0"
    }
}

/// Shapes the per-row losses as PyTorch's output: for reduction='none' on a 3-D or >4-D input
/// (which PyTorch computes as 4-D and views back), made as (N, 1, rows) and then viewed, so the
/// output's grad_fn is ViewBackward0 as there.
fn shaped_output(losses: Tensor, out_shape: &[usize], ndim: usize, smoothing: f64, record_node: impl FnOnce(Tensor) -> Result<Tensor>) -> Result<Tensor> {
    // With label smoothing PyTorch's last op is the `+` of the smoothing term, whatever the rank.
    let viewed = (ndim == 3 || ndim > 4) && smoothing == 0.0;
    if !viewed {
        return record_node(losses.reshape(out_shape)?.detach());
    }
    let n = out_shape.first().copied().unwrap_or(1);
    let flat = record_node(losses.reshape(&[n, 1, losses.numel().checked_div(n).unwrap_or(0)])?.detach())?;
    flat.reshape(out_shape)
}

pub fn cross_entropy(input: &Tensor, target: &Tensor, a: &CrossEntropyArgs<'_>) -> Result<Tensor> {
    if !(0.0..=1.0).contains(&a.label_smoothing) {
        bail!(Value, "cross_entropy: label_smoothing must be between 0.0 and 1.0, got {}", a.label_smoothing);
    }
    let (x, t, out_shape, c) = rows(input, target, "cross_entropy")?;
    let w = class_weights(a.weight, c, &t, a.ignore_index, "cross_entropy")?;
    let (losses, lse, denom) = with_float!(x.dtype(), "cross_entropy", T => forward::<T>(&x, &t, &w, a))?;
    let name = nll_name(input.ndim(), a.label_smoothing);
    let make = |out: Tensor| {
        record(out, &[input], || {
            Ok(Box::new(CrossEntropyBackward {
                x: Saved::new(&x)?,
                input: Saved::new(input)?,
                input_shape: input.shape().to_vec(),
                target: t,
                weight: w,
                lse,
                denom,
                ignore_index: a.ignore_index,
                smoothing: a.label_smoothing,
                reduction: a.reduction,
                name,
            }))
        })
    };
    match a.reduction {
        Reduction::None => {
            let losses = with_float!(x.dtype(), "cross_entropy", T => Tensor::from_vec_unchecked(losses.iter().map(|&v| T::from_f64(v)).collect::<Vec<T>>(), &[losses.len()]));
            shaped_output(losses, &out_shape, input.ndim(), a.label_smoothing, make)
        }
        Reduction::Sum => make(Tensor::full(&[], losses.iter().fold(0.0, |s, &v| s + v), x.dtype())),
        Reduction::Mean => make(Tensor::full(&[], losses.iter().fold(0.0, |s, &v| s + v) / denom, x.dtype())),
    }
}

/// Class weights (ones when none are given), after checking their shape and every target.
fn class_weights(weight: Option<&Tensor>, c: usize, t: &[i64], ignore_index: i64, op: &str) -> Result<Vec<f64>> {
    if let Some(w) = weight {
        if w.shape() != [c] {
            bail!(Runtime, "{op}: weight tensor should be defined either for all {c} classes or no classes but got weight tensor of shape: {:?}", w.shape());
        }
    }
    for &ti in t {
        if ti != ignore_index && (ti < 0 || ti as usize >= c) {
            bail!(Index, "Target {ti} is out of bounds ({op} with {c} classes).");
        }
    }
    Ok(match weight {
        Some(w) => w.to_vec::<f64>(),
        None => vec![1.0; c],
    })
}

/// Per-row losses, per-row log-sum-exp as (max, log-sum), and the mean's denominator.
type Forward = (Vec<f64>, Vec<(f64, f64)>, f64);

fn forward<T: Float + VMath>(x: &Tensor, t: &[i64], w: &[f64], a: &CrossEntropyArgs<'_>) -> Result<Forward> {
    let e = a.label_smoothing;
    // The logits in place when contiguous (the rows usually are).
    x.with_view::<T, _>(|v| forward_rows(&v.contiguous(), t, w, e, a.ignore_index))
}

fn forward_rows<T: Float + VMath>(data: &[T], t: &[i64], w: &[f64], e: f64, ignore_index: i64) -> Result<Forward> {
    let c = w.len();
    let lses = crate::ops::softmax::row_logsumexp(data, c);
    let mut losses = Vec::with_capacity(t.len());
    let mut denom = 0.0;
    for (i, &ti) in t.iter().enumerate() {
        let row = &data[i * c..(i + 1) * c];
        // log p = (x - max) - logsum, in PyTorch's order: max + logsum first would round away
        // logsum beside a max of 1e20 (the loss came out 0).
        let (max, logsum) = lses[i];
        let logp = |v: T| (Element::to_f64(v) - max) - logsum;
        if ti == ignore_index {
            losses.push(0.0);
            continue;
        }
        let wt = w[ti as usize];
        denom += wt;
        let nll = -logp(row[ti as usize]);
        let smooth = if e > 0.0 { row.iter().zip(w).map(|(&v, &wc)| -wc * logp(v)).sum::<f64>() } else { 0.0 };
        losses.push((1.0 - e) * wt * nll + e / c as f64 * smooth);
    }
    Ok((losses, lses, denom))
}

struct CrossEntropyBackward {
    /// The logits as rows (N, d..., C), for the fused backward.
    x: Saved,
    /// The logits as given, with their history, for a backward that records.
    input: Saved,
    input_shape: Vec<usize>,
    target: Vec<i64>,
    weight: Vec<f64>,
    /// Each row's max and log(sum(exp(x - max))) (`loss_rows::row_lses`).
    lse: Vec<(f64, f64)>,
    denom: f64,
    ignore_index: i64,
    smoothing: f64,
    reduction: Reduction,
    name: &'static str,
}

impl Backward for CrossEntropyBackward {
    fn name(&self) -> &'static str {
        self.name
    }
    fn apply(&self, g: &Tensor, _needs: &[bool]) -> Result<Vec<Option<Tensor>>> {
        if crate::autograd::is_recording() {
            return Ok(vec![Some(self.apply_recorded(g)?)]);
        }
        let x = &self.x.get()?;
        let gi = with_float!(x.dtype(), "cross_entropy backward", T => self.run::<T>(x, g)?);
        Ok(vec![Some(gi)])
    }
    fn differentiable(&self) -> bool {
        true
    }
}

impl CrossEntropyBackward {
    /// Row i's gradient is gi ((1 - e) w[t] (p - onehot(t)) + (e / C) (wsum p - w)) with
    /// p = exp(x - lse): `a p - b w`, then `(1 - e) gi w[t]` off the target's entry. An ignored
    /// row is log_softmax's backward with a zero gradient: 0, NaN where x - lse is NaN (as in
    /// PyTorch).
    fn run<T: Float + VMath>(&self, x: &Tensor, g: &Tensor) -> Result<Tensor> {
        let c = self.weight.len();
        let e = self.smoothing;
        let wsum: f64 = self.weight.iter().sum();
        let gv = g.to_vec::<f64>();
        let w: Vec<T> = self.weight.iter().map(|&v| T::from_f64(v)).collect();
        let out = x.with_view::<T, _>(|v| loss_rows::grad_rows(&v.contiguous(), c, |i| {
            let ti = self.target[i];
            let (max, logsum) = (T::from_f64(self.lse[i].0), T::from_f64(self.lse[i].1));
            if ti == self.ignore_index {
                return loss_rows::GradRow { max, logsum, a: T::zero(), b: T::zero(), w: &w, t: None, hit: T::zero() };
            }
            let gi = match self.reduction {
                Reduction::None => gv[i],
                Reduction::Sum => gv[0],
                Reduction::Mean => gv[0] / self.denom,
            };
            let (hard, soft) = (gi * (1.0 - e) * self.weight[ti as usize], gi * e / c as f64);
            loss_rows::GradRow { max, logsum, a: T::from_f64(hard + soft * wsum), b: T::from_f64(soft), w: &w, t: Some(ti as usize), hit: T::from_f64(hard) }
        }));
        to_input_layout(out, x.shape(), &self.input_shape)
    }
}

/// Rows (N, d..., C) back to the input's (N, C, d...) layout.
fn to_input_layout<T: Float>(out: Vec<T>, rows_shape: &[usize], input_shape: &[usize]) -> Result<Tensor> {
    let moved = Tensor::from_vec_unchecked(out, rows_shape);
    let nd = moved.ndim();
    if nd == 2 {
        return moved.reshape(input_shape);
    }
    let mut perm: Vec<isize> = vec![0, nd as isize - 1];
    perm.extend(1..nd as isize - 1);
    moved.permute(&perm)?.contiguous()
}

/// nll_loss of log-probabilities `input` ((N, C), (C,) or (N, C, d...)) at int64 class indices:
/// -w[t] * input[t] per row (0 for ignore_index); 'mean' divides by the summed weights of the
/// rows not ignored, so every row ignored gives NaN (0 / 0) with a zero gradient, as PyTorch's.
pub fn nll_loss(input: &Tensor, target: &Tensor, weight: Option<&Tensor>, ignore_index: i64, reduction: Reduction) -> Result<Tensor> {
    let (x, t, out_shape, c) = rows(input, target, "nll_loss")?;
    let w = class_weights(weight, c, &t, ignore_index, "nll_loss")?;
    let (losses, denom) = with_float!(x.dtype(), "nll_loss", T => {
        let data = x.to_vec::<T>();
        let mut denom = 0.0;
        let losses: Vec<f64> = t.iter().enumerate().map(|(i, &ti)| {
            if ti == ignore_index {
                return 0.0;
            }
            denom += w[ti as usize];
            -w[ti as usize] * Element::to_f64(data[i * c + ti as usize])
        }).collect();
        (losses, denom)
    });
    let name = nll_name(input.ndim(), 0.0);
    let make = |out: Tensor| {
        record(out, &[input], || {
            Ok(Box::new(NllLossBackward { rows_shape: x.shape().to_vec(), input_shape: input.shape().to_vec(), target: t, weight: w, denom, ignore_index, reduction, name }))
        })
    };
    let dtype = x.dtype();
    match reduction {
        Reduction::None => {
            let losses = with_float!(dtype, "nll_loss", T => Tensor::from_vec_unchecked(losses.iter().map(|&v| T::from_f64(v)).collect::<Vec<T>>(), &[losses.len()]));
            shaped_output(losses, &out_shape, input.ndim(), 0.0, make)
        }
        Reduction::Sum => make(Tensor::full(&[], losses.iter().fold(0.0, |s, &v| s + v), dtype)),
        Reduction::Mean => make(Tensor::full(&[], losses.iter().fold(0.0, |s, &v| s + v) / denom, dtype)),
    }
}

struct NllLossBackward {
    rows_shape: Vec<usize>,
    input_shape: Vec<usize>,
    target: Vec<i64>,
    weight: Vec<f64>,
    denom: f64,
    ignore_index: i64,
    reduction: Reduction,
    name: &'static str,
}

impl Backward for NllLossBackward {
    fn name(&self) -> &'static str {
        self.name
    }
    fn saves_tensors(&self) -> bool {
        false
    }
    fn apply(&self, g: &Tensor, _needs: &[bool]) -> Result<Vec<Option<Tensor>>> {
        if crate::autograd::is_recording() {
            return Ok(vec![Some(self.apply_recorded(g)?)]);
        }
        let gv = g.to_vec::<f64>();
        let c = self.weight.len();
        let gi = with_float!(g.dtype(), "nll_loss backward", T => {
            let mut out = vec![T::from_f64(0.0); self.target.len() * c];
            for (i, &ti) in self.target.iter().enumerate() {
                if ti == self.ignore_index {
                    continue;
                }
                let gi = match self.reduction {
                    Reduction::None => gv[i],
                    Reduction::Sum => gv[0],
                    Reduction::Mean => gv[0] / self.denom,
                };
                out[i * c + ti as usize] = T::from_f64(-self.weight[ti as usize] * gi);
            }
            to_input_layout(out, &self.rows_shape, &self.input_shape)?
        });
        Ok(vec![Some(gi)])
    }
    fn differentiable(&self) -> bool {
        true
    }
}
