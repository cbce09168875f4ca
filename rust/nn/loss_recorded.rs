//! The loss rules written as recorded ops, for a backward that creates a graph
//! (`create_graph=True`): the fused kernels in loss.rs leave no history, these leave one that
//! can be differentiated again. Cross-entropy and nll_loss are a softmax of the saved logits
//! (or nothing) times constants built from the targets and weights; the pointwise losses are
//! their formulas of `PointwiseLoss::at` in `Ex`.

use super::{to_input_layout, CrossEntropyBackward, NllLossBackward, PointwiseLoss, PointwiseLossBackward, Reduction, BCE_EPS};
use crate::error::Result;
use crate::ops::expr::{ex, Ex};
use crate::tensor::{DType, Tensor};

/// The shape of a class-index loss's input with the class dim made 1: per-row values in it
/// broadcast over the classes.
fn one_class(input_shape: &[usize]) -> Vec<usize> {
    let mut s = input_shape.to_vec();
    let class_dim = usize::from(s.len() > 1);
    s[class_dim] = 1;
    s
}

/// The incoming gradient of a class-index loss per row, shaped to broadcast over the classes
/// (a scalar for 'sum' and 'mean', whose 1 / denominator the constants carry).
fn grad_per_row(g: &Tensor, reduction: Reduction, input_shape: &[usize]) -> Result<Tensor> {
    match reduction {
        Reduction::None => g.reshape(&one_class(input_shape)),
        Reduction::Sum | Reduction::Mean => Ok(g.clone()),
    }
}

/// Per-row constants laid out as rows (N, d..., k) moved to the input's layout, as `dtype`; 'mean'
/// folds its 1 / denominator in (a zero stays zero, also when every row is ignored).
fn constants(v: Vec<f64>, rows_shape: &[usize], input_shape: &[usize], reduction: Reduction, denom: f64, dtype: DType) -> Result<Tensor> {
    let v = if reduction == Reduction::Mean { v.into_iter().map(|e| if e == 0.0 { 0.0 } else { e / denom }).collect() } else { v };
    crate::ops::cast::to_dtype(&to_input_layout::<f64>(v, rows_shape, input_shape)?, dtype)
}

/// (N, d..., C) rows of a class-index loss's input.
fn rows_shape_of(input_shape: &[usize]) -> Vec<usize> {
    match input_shape.len() {
        1 => vec![1, input_shape[0]],
        _ => {
            let mut s = vec![input_shape[0]];
            s.extend_from_slice(&input_shape[2..]);
            s.push(input_shape[1]);
            s
        }
    }
}

/// w[t] at the target class of each row not ignored (scaled by `hard`), plus `soft` * w[c] on
/// every class of those rows: the constant part of a class-index loss's gradient, as rows.
fn target_rows(target: &[i64], weight: &[f64], ignore_index: i64, hard: f64, soft: f64) -> Vec<f64> {
    let c = weight.len();
    let mut b = vec![0.0; target.len() * c];
    for (i, &ti) in target.iter().enumerate() {
        if ti == ignore_index {
            continue;
        }
        let row = &mut b[i * c..(i + 1) * c];
        if soft != 0.0 {
            row.iter_mut().zip(weight).for_each(|(v, &w)| *v = soft * w);
        }
        row[ti as usize] += hard * weight[ti as usize];
    }
    b
}

impl CrossEntropyBackward {
    /// g * (a * softmax(x) - b) per row, with a = (1 - e) w[t] + e / C * sum(w) and b the
    /// target row (see `target_rows`), both constants, and softmax a recorded op of the saved
    /// logits: differentiable again. Ignored rows have a = b = 0.
    pub(super) fn apply_recorded(&self, g: &Tensor) -> Result<Tensor> {
        let x = self.input.get()?;
        let (c, e) = (self.weight.len(), self.smoothing);
        let wsum: f64 = self.weight.iter().sum();
        let a: Vec<f64> = self.target.iter().map(|&t| if t == self.ignore_index { 0.0 } else { (1.0 - e) * self.weight[t as usize] + e / c as f64 * wsum }).collect();
        let b = target_rows(&self.target, &self.weight, self.ignore_index, 1.0 - e, e / c as f64);
        let rows = rows_shape_of(&self.input_shape);
        let mut rows1 = rows.clone();
        *rows1.last_mut().unwrap() = 1;
        let a = constants(a, &rows1, &one_class(&self.input_shape), self.reduction, self.denom, x.dtype())?;
        let b = constants(b, &rows, &self.input_shape, self.reduction, self.denom, x.dtype())?;
        let p = crate::ops::softmax::softmax(&x, if x.ndim() == 1 { 0 } else { 1 }, false)?;
        (ex(&grad_per_row(g, self.reduction, &self.input_shape)?) * (ex(&a) * ex(&p) - ex(&b))).done()
    }
}

impl PointwiseLossBackward {
    /// The formulas of `PointwiseLoss::at` as recorded ops of the saved input and target, so
    /// the gradients can be differentiated again; weights are constants.
    pub(super) fn apply_recorded(&self, x: &Tensor, y: &Tensor, g: &Tensor, needs: &[bool]) -> Result<Vec<Option<Tensor>>> {
        let mut u = match self.reduction {
            Reduction::None | Reduction::Sum => ex(g),
            Reduction::Mean => ex(g) / x.numel() as f64,
        };
        if let Some(w) = &self.weight {
            u = u * ex(w);
        }
        let (xe, ye) = (ex(x), ex(y));
        let (dx, dy) = match self.kind {
            PointwiseLoss::Mse => {
                let d = (xe - ye) * 2.0;
                (d.clone(), -d)
            }
            PointwiseLoss::Bce => {
                let xx = (xe.clone() * (Ex::c(1.0) - xe.clone())).done()?;
                let den = crate::ops::unary::clamp(&xx, Some(BCE_EPS), None)?;
                ((xe.clone() - ye) / ex(&den), (Ex::c(1.0) - xe.clone()).ln() - xe.ln())
            }
            PointwiseLoss::BceWithLogits => match &self.pos_weight {
                None => ((xe.clone().sigmoid() - ye), -xe),
                Some(pw) => {
                    let pw = ex(pw);
                    let neg = (-xe.clone()).done()?;
                    // softplus(-x) = max(-x, 0) + log(1 + exp(-|x|)), without overflow.
                    let softplus_neg = ex(&crate::ops::unary::relu(&neg)?) + (Ex::c(1.0) + (-xe.clone().abs()).exp()).ln();
                    let pwy = pw.clone() * ye.clone();
                    ((pwy.clone() + 1.0 - ye) * xe.clone().sigmoid() - pwy, -xe + (pw - 1.0) * softplus_neg)
                }
            },
            PointwiseLoss::SmoothL1 { beta } => {
                let d = (xe - ye).done()?;
                let sign = ex(&d).gt(0.0) - ex(&d).lt(0.0);
                let gd = Ex::select(ex(&d).abs().lt(beta), ex(&d) / beta, sign);
                (gd.clone(), -gd)
            }
            PointwiseLoss::Huber { delta } => {
                let d = (xe - ye).done()?;
                let sign = ex(&d).gt(0.0) - ex(&d).lt(0.0);
                let gd = Ex::select(ex(&d).abs().lt(delta), ex(&d), sign * delta);
                (gd.clone(), -gd)
            }
        };
        let gx = if needs[0] { Some((u.clone() * dx).done()?) } else { None };
        let gy = if needs.get(1).copied().unwrap_or(false) { Some(crate::ops::cast::to_dtype(&(u * dy).done()?, self.y_dtype)?) } else { None };
        Ok(vec![gx, gy])
    }
}

impl NllLossBackward {
    /// -g * w[t] at the target class: linear in g, the rest constants.
    pub(super) fn apply_recorded(&self, g: &Tensor) -> Result<Tensor> {
        let b = target_rows(&self.target, &self.weight, self.ignore_index, -1.0, 0.0);
        let b = constants(b, &self.rows_shape, &self.input_shape, self.reduction, self.denom, g.dtype())?;
        crate::ops::binary::mul(&grad_per_row(g, self.reduction, &self.input_shape)?, &b)
    }
}
