//! Fused cross-entropy: log-softmax, class weights, ignore_index, label smoothing and the
//! reduction in one pass over the logits, saving only the per-row log-sum-exp for backward.
//!
//! For row i with target t, log-probabilities l = x - lse(x), smoothing e and C classes:
//!   loss_i = (1 - e) * w[t] * (-l[t]) + (e / C) * sum_c w[c] * (-l[c])
//! Mean reduction divides by sum of w[t_i] over rows not ignored (PyTorch's rule for both terms).

use crate::autograd::{record, Backward, Saved};
use crate::bail;
use crate::error::Result;
use crate::tensor::{DType, Element, Float, Tensor};
use crate::with_float;

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

/// Logits laid out as rows of C (class dim moved last) and the matching flat targets.
fn rows(input: &Tensor, target: &Tensor) -> Result<(Tensor, Vec<i64>, Vec<usize>, usize)> {
    if !input.dtype().is_float() {
        bail!(Runtime, "cross_entropy: expected floating point logits, got {}", input.dtype().name());
    }
    if target.dtype() != DType::I64 {
        bail!(Runtime, "cross_entropy: expected class indices of dtype int64 (or probabilities of the input's shape), got target of dtype {}", target.dtype().name());
    }
    let (x, out_shape) = match input.ndim() {
        1 => (input.unsqueeze(0)?, vec![]),
        0 => bail!(Runtime, "cross_entropy: input must have a class dimension, got a 0-d tensor"),
        _ => {
            let mut shape = vec![input.shape()[0]];
            shape.extend_from_slice(&input.shape()[2..]);
            (input.clone(), shape)
        }
    };
    let expected: Vec<usize> = if input.ndim() == 1 { vec![] } else { out_shape.clone() };
    if input.ndim() > 1 && target.ndim() > 0 && target.shape()[0] != input.shape()[0] {
        bail!(Value, "Expected input batch_size ({}) to match target batch_size ({}) (cross_entropy input {:?}, target {:?}).", input.shape()[0], target.shape()[0], input.shape(), target.shape());
    }
    if target.shape() != expected.as_slice() {
        bail!(
            Runtime,
            "cross_entropy: expected target of shape {expected:?} for input of shape {:?} (class dim 1), got target shape {:?}",
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

pub fn cross_entropy(input: &Tensor, target: &Tensor, a: &CrossEntropyArgs<'_>) -> Result<Tensor> {
    if !(0.0..=1.0).contains(&a.label_smoothing) {
        bail!(Value, "cross_entropy: label_smoothing must be between 0.0 and 1.0, got {}", a.label_smoothing);
    }
    let (x, t, out_shape, c) = rows(input, target)?;
    if let Some(w) = a.weight {
        if w.shape() != [c] {
            bail!(Runtime, "cross_entropy: weight tensor should be defined either for all {c} classes or no classes but got weight tensor of shape: {:?}", w.shape());
        }
    }
    for &ti in &t {
        if ti != a.ignore_index && (ti < 0 || ti as usize >= c) {
            bail!(Index, "Target {ti} is out of bounds (cross_entropy with {c} classes).");
        }
    }
    let w: Vec<f64> = match a.weight {
        Some(w) => w.to_vec::<f64>(),
        None => vec![1.0; c],
    };
    let (losses, lse, denom) = with_float!(x.dtype(), "cross_entropy", T => forward::<T>(&x, &t, &w, a))?;
    let out = match a.reduction {
        Reduction::None => with_float!(x.dtype(), "cross_entropy", T => Tensor::from_vec_unchecked(losses.iter().map(|&v| T::from_f64(v)).collect::<Vec<T>>(), &out_shape)),
        Reduction::Sum => Tensor::full(&[], losses.iter().sum(), x.dtype()),
        Reduction::Mean => Tensor::full(&[], losses.iter().sum::<f64>() / denom, x.dtype()),
    };
    record(out, &[input], || {
        Ok(Box::new(CrossEntropyBackward {
            x: Saved::new(&x)?,
            input_shape: input.shape().to_vec(),
            target: t,
            weight: w,
            lse,
            denom,
            ignore_index: a.ignore_index,
            smoothing: a.label_smoothing,
            reduction: a.reduction,
        }))
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
        let m = row.iter().fold(f64::NEG_INFINITY, |m, &v| m.max(Element::to_f64(v)));
        let m = if m.is_finite() { m } else { 0.0 };
        let lse = m + row.iter().map(|&v| (Element::to_f64(v) - m).exp()).sum::<f64>().ln();
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

struct CrossEntropyBackward {
    x: Saved,
    input_shape: Vec<usize>,
    target: Vec<i64>,
    weight: Vec<f64>,
    lse: Vec<f64>,
    denom: f64,
    ignore_index: i64,
    smoothing: f64,
    reduction: Reduction,
}

impl Backward for CrossEntropyBackward {
    fn name(&self) -> &'static str {
        "CrossEntropyLossBackward0"
    }
    fn apply(&self, g: &Tensor, _needs: &[bool]) -> Result<Vec<Option<Tensor>>> {
        let x = self.x.get()?;
        let gi = with_float!(x.dtype(), "cross_entropy backward", T => self.run::<T>(x, g)?);
        Ok(vec![Some(gi)])
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
            if ti == self.ignore_index {
                continue;
            }
            let gi = match self.reduction {
                Reduction::None => gv[i],
                Reduction::Sum => gv[0],
                Reduction::Mean => gv[0] / self.denom,
            };
            let wt = self.weight[ti as usize];
            let (row, orow) = (&data[i * c..(i + 1) * c], &mut out[i * c..(i + 1) * c]);
            for k in 0..c {
                let p = (Element::to_f64(row[k]) - self.lse[i]).exp();
                let hard = (1.0 - e) * wt * (p - if k == ti as usize { 1.0 } else { 0.0 });
                let soft = if e > 0.0 { e / c as f64 * (wsum * p - self.weight[k]) } else { 0.0 };
                orow[k] = T::from_f64(gi * (hard + soft));
            }
        }
        // rows (N, d..., C) back to the input's (N, C, d...) layout
        let moved = Tensor::from_vec_unchecked(out, x.shape());
        let nd = moved.ndim();
        if nd == 2 {
            return moved.reshape(&self.input_shape);
        }
        let mut perm: Vec<isize> = vec![0, nd as isize - 1];
        perm.extend(1..nd as isize - 1);
        moved.permute(&perm)?.contiguous()
    }
}

/// PyTorch's clamp of x (1 - x) in BCE's gradient: 1e-12 as a float32 constant (its CPU kernel's
/// value, 9.99999996e-13), kept bit-compatible so saturated gradients match PyTorch exactly.
const BCE_EPS: f64 = 1e-12_f32 as f64;

/// Elementwise binary cross-entropy of probabilities `x` against targets `y`:
/// -(y * max(log x, -100) + (1 - y) * max(log(1 - x), -100)), the log clamp as PyTorch's.
/// Backward uses PyTorch's form (x - y) / max(x (1 - x), 1e-12), finite at x = 0 and 1.
pub fn binary_cross_entropy(x: &Tensor, y: &Tensor) -> Result<Tensor> {
    if x.shape() != y.shape() {
        bail!(Value, "binary_cross_entropy: target shape {:?} differs from input shape {:?}", y.shape(), x.shape());
    }
    let dtype = x.dtype();
    let yc = crate::ops::cast::to_dtype(&y.detach(), dtype)?;
    let out = with_float!(dtype, "binary_cross_entropy", T => {
        let (xv, yv) = (x.to_vec::<T>(), yc.to_vec::<T>());
        if xv.iter().any(|&v| !(v >= T::from_f64(0.0) && v <= T::from_f64(1.0))) {
            bail!(Runtime, "all elements of input should be between 0 and 1");
        }
        let loss: Vec<T> = xv.iter().zip(&yv).map(|(&p, &t)| {
            let (p, t) = (Element::to_f64(p), Element::to_f64(t));
            T::from_f64(-(t * p.ln().max(-100.0) + (1.0 - t) * (1.0 - p).ln().max(-100.0)))
        }).collect();
        Tensor::from_vec_unchecked(loss, x.shape())
    });
    record(out, &[x, y], || Ok(Box::new(BceBackward { x: Saved::new(x)?, y: Saved::new(&yc)? })))
}

struct BceBackward {
    x: Saved,
    y: Saved,
}

impl Backward for BceBackward {
    fn name(&self) -> &'static str {
        "BinaryCrossEntropyBackward0"
    }
    fn apply(&self, g: &Tensor, needs: &[bool]) -> Result<Vec<Option<Tensor>>> {
        let (x, y) = (self.x.get()?, self.y.get()?);
        let (xv, yv, gv) = (x.to_vec::<f64>(), y.to_vec::<f64>(), g.to_vec::<f64>());
        let make = |vals: Vec<f64>| crate::ops::cast::to_dtype(&Tensor::from_vec_unchecked(vals, x.shape()), x.dtype());
        let gx = if needs[0] {
            Some(make(xv.iter().zip(&yv).zip(&gv).map(|((&p, &t), &gi)| gi * (p - t) / (p * (1.0 - p)).max(BCE_EPS)).collect())?)
        } else {
            None
        };
        let gy = if needs[1] {
            Some(make(xv.iter().zip(&gv).map(|(&p, &gi)| gi * ((1.0 - p).ln().max(-100.0) - p.ln().max(-100.0))).collect())?)
        } else {
            None
        };
        Ok(vec![gx, gy])
    }
}
