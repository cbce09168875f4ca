//! Fused cross-entropy: log-softmax, class weights, ignore_index, label smoothing and the
//! reduction in one pass over the logits, saving only the per-row log-sum-exp for backward.
//!
//! For row i with target t, log-probabilities l = x - lse(x), smoothing e and C classes:
//!   loss_i = (1 - e) * w[t] * (-l[t]) + (e / C) * sum_c w[c] * (-l[c])
//! Mean reduction divides by sum of w[t_i] over rows not ignored (PyTorch's rule for both terms).

use rayon::prelude::*;

use crate::autograd::{record, Backward, Saved};
use crate::bail;
use crate::ops::kernel::build;
use crate::tensor::iter::GRAIN;
use crate::error::Result;
use crate::tensor::{DType, Element, Float, Tensor};
use crate::with_float;

#[path = "loss_recorded.rs"]
mod recorded;

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

/// Per-row losses, per-row log-sum-exp, and the mean's denominator.
fn forward<T: Float>(x: &Tensor, t: &[i64], w: &[f64], a: &CrossEntropyArgs<'_>) -> Result<(Vec<f64>, Vec<f64>, f64)> {
    let c = w.len();
    let e = a.label_smoothing;
    let data = x.to_vec::<T>();
    let mut losses = Vec::with_capacity(t.len());
    let mut lses = Vec::with_capacity(t.len());
    let mut denom = 0.0;
    for (i, &ti) in t.iter().enumerate() {
        let row = &data[i * c..(i + 1) * c];
        let lse = row_lse(row);
        lses.push(lse);
        if ti == a.ignore_index {
            losses.push(0.0);
            continue;
        }
        let wt = w[ti as usize];
        denom += wt;
        let nll = -(Element::to_f64(row[ti as usize]) - lse);
        let smooth = if e > 0.0 { row.iter().zip(w).map(|(&v, &wc)| -wc * (Element::to_f64(v) - lse)).sum::<f64>() } else { 0.0 };
        losses.push((1.0 - e) * wt * nll + e / c as f64 * smooth);
    }
    Ok((losses, lses, denom))
}

/// log(sum(exp(row))) as PyTorch's log_softmax sees it: NaN when the row holds a NaN or a +inf
/// (x - max is then NaN), -inf for an all -inf row (whose log-probabilities are then NaN).
fn row_lse<T: Float>(row: &[T]) -> f64 {
    let m = row.iter().fold(f64::NEG_INFINITY, |m, &v| {
        let v = Element::to_f64(v);
        if v > m || v.is_nan() || m.is_nan() { if m.is_nan() { m } else { v } } else { m }
    });
    if m.is_nan() || m == f64::INFINITY {
        return f64::NAN;
    }
    let m0 = if m.is_finite() { m } else { 0.0 };
    m0 + row.iter().map(|&v| (Element::to_f64(v) - m0).exp()).sum::<f64>().ln()
}

struct CrossEntropyBackward {
    /// The logits as rows (N, d..., C), for the fused backward.
    x: Saved,
    /// The logits as given, with their history, for a backward that records.
    input: Saved,
    input_shape: Vec<usize>,
    target: Vec<i64>,
    weight: Vec<f64>,
    lse: Vec<f64>,
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
    fn run<T: Float>(&self, x: &Tensor, g: &Tensor) -> Result<Tensor> {
        let c = self.weight.len();
        let e = self.smoothing;
        let wsum: f64 = self.weight.iter().sum();
        let gv = g.to_vec::<f64>();
        let data = x.to_vec::<T>();
        let mut out = vec![T::from_f64(0.0); data.len()];
        for (i, &ti) in self.target.iter().enumerate() {
            let (row, orow) = (&data[i * c..(i + 1) * c], &mut out[i * c..(i + 1) * c]);
            if ti == self.ignore_index {
                // log_softmax's backward still runs on this row with a zero incoming gradient:
                // 0 - exp(l) * 0, NaN wherever the log-probability l is NaN (as in PyTorch).
                for (o, &v) in orow.iter_mut().zip(row) {
                    if (Element::to_f64(v) - self.lse[i]).is_nan() {
                        *o = T::from_f64(f64::NAN);
                    }
                }
                continue;
            }
            let gi = match self.reduction {
                Reduction::None => gv[i],
                Reduction::Sum => gv[0],
                Reduction::Mean => gv[0] / self.denom,
            };
            let wt = self.weight[ti as usize];
            for k in 0..c {
                let p = (Element::to_f64(row[k]) - self.lse[i]).exp();
                let hard = (1.0 - e) * wt * (p - if k == ti as usize { 1.0 } else { 0.0 });
                let soft = if e > 0.0 { e / c as f64 * (wsum * p - self.weight[k]) } else { 0.0 };
                orow[k] = T::from_f64(gi * (hard + soft));
            }
        }
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

/// PyTorch's clamp of x (1 - x) in BCE's gradient: 1e-12 as a float32 constant (its CPU kernel's
/// value, 9.99999996e-13), kept bit-compatible so saturated gradients match PyTorch exactly.
const BCE_EPS: f64 = 1e-12_f32 as f64;

/// The elementwise losses PyTorch computes as one op each (and so names one grad_fn each).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum PointwiseLoss {
    /// -(y * max(log x, -100) + (1 - y) * max(log(1 - x), -100)) of probabilities x.
    Bce,
    /// (1 - y) x + (1 + (pw - 1) y) softplus(-x) of logits x, softplus(-x) without overflow.
    BceWithLogits,
    /// (x - y)^2
    Mse,
    /// 0.5 d^2 / beta where |d| < beta, else |d| - 0.5 beta, for d = x - y (beta > 0).
    SmoothL1 { beta: f64 },
}

/// Binds `$f` to the loss's (x, y, pos_weight) -> (loss, d/dx, d/dy) as a closure of its own
/// type per kind, so the loop in `$body` is compiled once per loss with the formula inlined.
macro_rules! dispatch {
    ($kind:expr, $T:ty, $f:ident => $body:expr) => {
        match $kind {
            PointwiseLoss::Bce => { let $f = |x: $T, y: $T, pw: $T| PointwiseLoss::Bce.at(x, y, pw); $body }
            PointwiseLoss::BceWithLogits => { let $f = |x: $T, y: $T, pw: $T| PointwiseLoss::BceWithLogits.at(x, y, pw); $body }
            PointwiseLoss::Mse => { let $f = |x: $T, y: $T, pw: $T| PointwiseLoss::Mse.at(x, y, pw); $body }
            k @ PointwiseLoss::SmoothL1 { .. } => { let $f = move |x: $T, y: $T, pw: $T| k.at(x, y, pw); $body }
        }
    };
}

impl PointwiseLoss {
    fn name(self) -> &'static str {
        match self {
            PointwiseLoss::Bce => "BinaryCrossEntropyBackward0",
            PointwiseLoss::BceWithLogits => "BinaryCrossEntropyWithLogitsBackward0",
            PointwiseLoss::Mse => "MseLossBackward0",
            PointwiseLoss::SmoothL1 { .. } => "SmoothL1LossBackward0",
        }
    }
    fn op(self) -> &'static str {
        match self {
            PointwiseLoss::Bce => "binary_cross_entropy",
            PointwiseLoss::BceWithLogits => "binary_cross_entropy_with_logits",
            PointwiseLoss::Mse => "mse_loss",
            PointwiseLoss::SmoothL1 { .. } => "smooth_l1_loss",
        }
    }
    /// (loss, d loss / dx, d loss / dy) at one element, before the weight; pw is pos_weight.
    /// Computed in the tensor's dtype, as PyTorch's kernels.
    #[inline(always)]
    fn at<T: Float>(self, x: T, y: T, pw: T) -> (T, T, T) {
        let (zero, one) = (T::zero(), T::one());
        match self {
            PointwiseLoss::Bce => {
                // PyTorch's CPU forms (which fix the signs of zero losses): loss
                // (y - 1) max(log1p(-x), -100) - y max(log x, -100); target gradient -logit(x),
                // unclamped (+-inf at x = 0 or 1).
                let m100 = T::from_f64(-100.0);
                let (lx, l1x) = (x.ln().max(m100), (-x).ln_1p().max(m100));
                ((y - one) * l1x - y * lx, (x - y) / (x * (one - x)).max(T::from_f64(BCE_EPS)), -(x / (one - x)).ln())
            }
            PointwiseLoss::BceWithLogits => {
                let softplus_neg = (-x.abs()).exp().ln_1p() + (-x).max(zero);
                let sig = one / (one + (-x).exp());
                let dy = if pw == one { -x } else { -x + (pw - one) * softplus_neg };
                ((one - y) * x + (one + (pw - one) * y) * softplus_neg, (pw * y + one - y) * sig - pw * y, dy)
            }
            PointwiseLoss::Mse => {
                let d = x - y;
                (d * d, (d + d), -(d + d))
            }
            PointwiseLoss::SmoothL1 { beta } => {
                let (d, beta) = (x - y, T::from_f64(beta));
                let half = T::from_f64(0.5);
                let (loss, g) = if d.abs() < beta {
                    (half * d * d / beta, d / beta)
                } else {
                    (d.abs() - half * beta, if d > zero { one } else if d < zero { -one } else { zero })
                };
                (loss, g, -g)
            }
        }
    }
}

/// One elementwise loss with its optional weight and pos_weight (already of the input's shape)
/// and the reduction, as one op with PyTorch's backward. The weights are constants (PyTorch
/// refuses ones that require grad). 'mean' divides by the element count: NaN when empty.
pub fn pointwise_loss(x: &Tensor, y: &Tensor, weight: Option<&Tensor>, pos_weight: Option<&Tensor>, kind: PointwiseLoss, reduction: Reduction) -> Result<Tensor> {
    let op = kind.op();
    if x.shape() != y.shape() {
        bail!(Value, "{op}: target shape {:?} differs from input shape {:?}", y.shape(), x.shape());
    }
    for (name, t) in [("weight", weight), ("pos_weight", pos_weight)] {
        if let Some(t) = t {
            if t.shape() != x.shape() {
                bail!(Value, "{op}: {name} of shape {:?} must be expanded to the input's shape {:?}", t.shape(), x.shape());
            }
        }
    }
    if let PointwiseLoss::SmoothL1 { beta } = kind {
        if beta.is_nan() || beta <= 0.0 {
            bail!(Value, "smooth_l1_loss: the fused kernel needs beta > 0, got {beta}");
        }
    }
    let dtype = x.dtype();
    let yc = crate::ops::cast::to_dtype(&y.detach(), dtype)?;
    let out = with_float!(dtype, op, T => pointwise_forward::<T>(x, &yc, weight, pos_weight, kind, reduction)?);
    let w = match weight {
        Some(t) => Some(crate::ops::cast::to_dtype(&t.detach(), dtype)?.contiguous()?),
        None => None,
    };
    let pw = match pos_weight {
        Some(t) => Some(crate::ops::cast::to_dtype(&t.detach(), dtype)?.contiguous()?),
        None => None,
    };
    record(out, &[x, y], || {
        // The target itself when no cast was needed, so a backward that records reaches it.
        let y_saved = if y.dtype() == dtype { Saved::new(y)? } else { Saved::new(&yc)? };
        Ok(Box::new(PointwiseLossBackward { x: Saved::new(x)?, y: y_saved, y_dtype: y.dtype(), weight: w, pos_weight: pw, kind, reduction }))
    })
}

/// An optional per-element factor as a slice, empty when absent (read as 1).
fn factor<T: Float>(t: Option<&Tensor>) -> Vec<T> {
    t.map(|t| t.to_vec::<T>()).unwrap_or_default()
}

fn pointwise_forward<T: Float>(x: &Tensor, y: &Tensor, weight: Option<&Tensor>, pos_weight: Option<&Tensor>, kind: PointwiseLoss, reduction: Reduction) -> Result<Tensor> {
    let (xv, yv) = (x.to_vec::<T>(), y.to_vec::<T>());
    let (w, pw) = (factor::<T>(weight), factor::<T>(pos_weight));
    if kind == PointwiseLoss::Bce && xv.iter().any(|&v| !(v >= T::zero() && v <= T::one())) {
        bail!(Runtime, "all elements of input should be between 0 and 1");
    }
    let n = xv.len();
    // One monomorphised loop per loss (the kind is matched once, outside the loop).
    let data: Vec<T> = if w.is_empty() && pw.is_empty() {
        dispatch!(kind, T, f => zipped(&xv, &yv, |a, b| f(a, b, T::one()).0))
    } else {
        dispatch!(kind, T, f => elementwise(n, |i| {
            let l = f(xv[i], yv[i], if pw.is_empty() { T::one() } else { pw[i] }).0;
            if w.is_empty() { l } else { l * w[i] }
        }))
    };
    Ok(match reduction {
        Reduction::None => Tensor::from_vec_unchecked(data, x.shape()),
        Reduction::Sum | Reduction::Mean => {
            // Partial sums in f64 per fixed-size chunk, added in order (thread-count independent).
            let part = |c: &[T]| c.iter().fold(0.0f64, |s, &v| s + Element::to_f64(v));
            let parts: Vec<f64> = if n > GRAIN { data.par_chunks(GRAIN).map(part).collect() } else { data.chunks(GRAIN).map(part).collect() };
            let total = parts.iter().fold(0.0, |s, &v| s + v);
            Tensor::full(&[], if reduction == Reduction::Mean { total / n as f64 } else { total }, x.dtype())
        }
    })
}

/// f(a[i], b[i]) over two equal-length slices, in parallel chunks when large (zipped, so the
/// loop vectorises where `f` allows).
#[inline(always)]
fn zipped<T: Float>(a: &[T], b: &[T], f: impl Fn(T, T) -> T + Sync) -> Vec<T> {
    build(a.len(), GRAIN, |start, out| {
        let (ac, bc) = (&a[start..start + out.len()], &b[start..start + out.len()]);
        for ((o, &x), &y) in out.iter_mut().zip(ac).zip(bc) {
            o.write(f(x, y));
        }
    })
}

/// `n` values `f(i)`, in parallel chunks when large.
#[inline(always)]
fn elementwise<T: Float>(n: usize, f: impl Fn(usize) -> T + Sync) -> Vec<T> {
    build(n, GRAIN, |start, out| {
        for (k, o) in out.iter_mut().enumerate() {
            o.write(f(start + k));
        }
    })
}

struct PointwiseLossBackward {
    x: Saved,
    /// The target in the input's dtype.
    y: Saved,
    y_dtype: DType,
    /// Constants in the input's dtype, of its shape.
    weight: Option<Tensor>,
    pos_weight: Option<Tensor>,
    kind: PointwiseLoss,
    reduction: Reduction,
}

impl Backward for PointwiseLossBackward {
    fn name(&self) -> &'static str {
        self.kind.name()
    }
    fn apply(&self, g: &Tensor, needs: &[bool]) -> Result<Vec<Option<Tensor>>> {
        let (x, y) = (&self.x.get()?, &self.y.get()?);
        if crate::autograd::is_recording() {
            return self.apply_recorded(x, y, g, needs);
        }
        with_float!(x.dtype(), "pointwise loss backward", T => self.run::<T>(x, y, g, needs))
    }
    fn differentiable(&self) -> bool {
        true
    }
}

impl PointwiseLossBackward {
    fn run<T: Float>(&self, x: &Tensor, y: &Tensor, g: &Tensor, needs: &[bool]) -> Result<Vec<Option<Tensor>>> {
        let (xv, yv) = (x.to_vec::<T>(), y.to_vec::<T>());
        let (w, pw) = (factor::<T>(self.weight.as_ref()), factor::<T>(self.pos_weight.as_ref()));
        let n = xv.len();
        let gv: Vec<T> = match self.reduction {
            Reduction::None => g.to_vec::<T>(),
            Reduction::Sum => vec![T::from_f64(g.item_f64()?)],
            Reduction::Mean => vec![T::from_f64(g.item_f64()? / n as f64)],
        };
        let per_element = self.reduction == Reduction::None;
        // which = 1 for d/dx, 2 for d/dy.
        let grad = |which: usize| {
            if w.is_empty() && pw.is_empty() && !per_element && which == 1 {
                let u = gv[0];
                return dispatch!(self.kind, T, f => zipped(&xv, &yv, |a, b| u * f(a, b, T::one()).1));
            }
            dispatch!(self.kind, T, f => elementwise(n, |i| {
                let (_, dx, dy) = f(xv[i], yv[i], if pw.is_empty() { T::one() } else { pw[i] });
                let u = if per_element { gv[i] } else { gv[0] };
                let u = if w.is_empty() { u } else { u * w[i] };
                u * if which == 1 { dx } else { dy }
            }))
        };
        let gx = if needs[0] { Some(Tensor::from_vec_unchecked(grad(1), x.shape())) } else { None };
        let gy = if needs[1] { Some(crate::ops::cast::to_dtype(&Tensor::from_vec_unchecked(grad(2), x.shape()), self.y_dtype)?) } else { None };
        Ok(vec![gx, gy])
    }
}
