//! Fused layer normalisation over the last dims (rows of M values), with optional elementwise
//! affine. GroupNorm reuses it (Python reshapes groups into rows, then applies its per-channel
//! affine with broadcasting ops).

use crate::autograd::{record, Backward, Saved};
use crate::bail;
use crate::error::Result;
use crate::ops::kernel::build;
use crate::tensor::iter::GRAIN;
use crate::tensor::{Element, Float, Tensor};
use rayon::prelude::*;
use std::mem::MaybeUninit;
use crate::with_float;

pub fn layer_norm(x: &Tensor, normalized: &[usize], weight: Option<&Tensor>, bias: Option<&Tensor>, eps: f64) -> Result<Tensor> {
    let k = normalized.len();
    if k == 0 || x.ndim() < k || x.shape()[x.ndim() - k..] != *normalized {
        bail!(
            Runtime,
            "layer_norm: given normalized_shape={normalized:?}, expected input with shape [*, {}], but got input of size {:?}",
            normalized.iter().map(|d| d.to_string()).collect::<Vec<_>>().join(", "),
            x.shape()
        );
    }
    for (name, t) in [("weight", weight), ("bias", bias)] {
        if let Some(t) = t {
            if t.shape() != normalized {
                bail!(Runtime, "layer_norm: {name} of shape {:?} does not match normalized_shape {normalized:?}", t.shape());
            }
        }
    }
    if eps.is_nan() || eps <= 0.0 {
        bail!(Value, "layer_norm: eps must be positive, got {eps}");
    }
    let m: usize = normalized.iter().product();
    let (out, mean, rstd) = with_float!(x.dtype(), "layer_norm", T => forward::<T>(x, m, weight, bias, eps));
    let mut inputs = vec![x];
    inputs.extend(weight);
    inputs.extend(bias);
    record(out, &inputs, || {
        Ok(Box::new(LayerNormBackward {
            x: Saved::new(x)?,
            weight: weight.map(Saved::new).transpose()?,
            has_bias: bias.is_some(),
            mean,
            rstd,
            m,
            wshape: normalized.to_vec(),
            eps,
        }))
    })
}

/// Rows per parallel task: a fixed count (not one per thread), so the order of the weight
/// gradients' partial sums, and with it their bits, does not depend on the thread count.
fn rows_per_task(m: usize) -> usize {
    (GRAIN / m.max(1)).max(1)
}

/// A row's (mean, 1 / sqrt(var + eps)), accumulated in float64 (two passes: the variance of
/// x - mean, not E[x^2] - mean^2, which cancels for rows far from 0).
#[inline(always)]
fn row_stats_body<T: Float>(row: &[T], eps: f64) -> (f64, f64) {
    let m = row.len() as f64;
    let mean = row.iter().map(|&v| Element::to_f64(v)).sum::<f64>() / m;
    let var = row.iter().map(|&v| (Element::to_f64(v) - mean) * (Element::to_f64(v) - mean)).sum::<f64>() / m;
    (mean, 1.0 / (var + eps).sqrt())
}

crate::multiversion!(row_stats_body, row_stats_avx2, row_stats, Float, (row: &[T], eps: f64) -> (f64, f64));

/// One output row: (x - mean) rstd, times w, plus b.
#[inline(always)]
fn row_out_body<T: Float>(row: &[T], (mean, rstd): (f64, f64), w: Option<&[T]>, b: Option<&[T]>, o: &mut [MaybeUninit<T>]) {
    for (oi, &v) in o.iter_mut().zip(row) {
        oi.write(T::from_f64((Element::to_f64(v) - mean) * rstd));
    }
    // SAFETY: every element of `o` was written just above.
    let o: &mut [T] = unsafe { &mut *(o as *mut [MaybeUninit<T>] as *mut [T]) };
    if let Some(w) = w {
        o.iter_mut().zip(w).for_each(|(v, &w)| *v *= w);
    }
    if let Some(b) = b {
        o.iter_mut().zip(b).for_each(|(v, &b)| *v += b);
    }
}

crate::multiversion!(row_out_body, row_out_avx2, row_out, Float, (row: &[T], stats: (f64, f64), w: Option<&[T]>, b: Option<&[T]>, o: &mut [MaybeUninit<T>]) -> ());

fn forward<T: Float>(x: &Tensor, m: usize, weight: Option<&Tensor>, bias: Option<&Tensor>, eps: f64) -> (Tensor, Vec<f64>, Vec<f64>) {
    let data = x.to_vec::<T>();
    let w: Option<Vec<T>> = weight.map(|t| t.to_vec());
    let b: Option<Vec<T>> = bias.map(|t| t.to_vec());
    let stats: Vec<(f64, f64)> = if m == 0 {
        Vec::new()
    } else {
        data.par_chunks(m).with_min_len(rows_per_task(m)).map(|row| row_stats(row, eps)).collect()
    };
    let out = build(data.len(), rows_per_task(m) * m.max(1), |start, o| {
        for (r, orow) in o.chunks_mut(m.max(1)).enumerate() {
            let row = start / m.max(1) + r;
            row_out(&data[row * m..(row + 1) * m], stats[row], w.as_deref(), b.as_deref(), orow);
        }
    });
    let (mean, rstd) = stats.into_iter().unzip();
    (Tensor::from_vec_unchecked(out, x.shape()), mean, rstd)
}

struct LayerNormBackward {
    x: Saved,
    weight: Option<Saved>,
    has_bias: bool,
    mean: Vec<f64>,
    rstd: Vec<f64>,
    m: usize,
    wshape: Vec<usize>,
    eps: f64,
}

impl Backward for LayerNormBackward {
    fn name(&self) -> &'static str {
        "NativeLayerNormBackward0"
    }
    fn attrs(&self) -> crate::autograd::trace::Attrs {
        crate::attrs![("normalized_shape", &self.wshape), ("eps", self.eps), ("has_weight", self.weight.is_some()), ("has_bias", self.has_bias)]
    }
    fn apply(&self, g: &Tensor, needs: &[bool]) -> Result<Vec<Option<Tensor>>> {
        let x = &self.x.get()?;
        let w = self.weight.as_ref().map(|w| w.get()).transpose()?;
        if crate::autograd::is_recording() {
            return self.apply_recorded(x, w.as_ref(), g, needs);
        }
        with_float!(x.dtype(), "layer_norm backward", T => self.run::<T>(x, w.as_ref(), g, needs))
    }
    fn differentiable(&self) -> bool {
        true
    }
}

/// One row backwards: dx = rstd (dxhat - mean(dxhat) - xhat mean(dxhat xhat)) with
/// dxhat = dy w, into `gx`; dy xhat and dy added to the weight and bias sums.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn row_grad_body<T: Float>(x: &[T], g: &[T], w: &[T], (mean, rstd): (f64, f64), gx: &mut [T], gw: &mut [f64], gb: &mut [f64]) {
    let m = x.len() as f64;
    let (mut s1, mut s2) = (0.0, 0.0);
    for (((&xv, &gv), &wv), (gw, gb)) in x.iter().zip(g).zip(w).zip(gw.iter_mut().zip(gb.iter_mut())) {
        let (xv, gv) = (Element::to_f64(xv), Element::to_f64(gv));
        let xhat = (xv - mean) * rstd;
        let dxhat = gv * Element::to_f64(wv);
        s1 += dxhat;
        s2 += dxhat * xhat;
        *gw += gv * xhat;
        *gb += gv;
    }
    let (s1, s2) = (s1 / m, s2 / m);
    for (((&xv, &gv), &wv), o) in x.iter().zip(g).zip(w).zip(gx.iter_mut()) {
        let xhat = (Element::to_f64(xv) - mean) * rstd;
        *o = T::from_f64(rstd * (Element::to_f64(gv) * Element::to_f64(wv) - s1 - xhat * s2));
    }
}

crate::multiversion!(row_grad_body, row_grad_avx2, row_grad, Float, (x: &[T], g: &[T], w: &[T], stats: (f64, f64), gx: &mut [T], gw: &mut [f64], gb: &mut [f64]) -> ());

impl LayerNormBackward {
    /// The gradients as recorded ops of the saved input and weight (the row statistics
    /// recomputed from x), so they can be differentiated again.
    fn apply_recorded(&self, x: &Tensor, w: Option<&Tensor>, g: &Tensor, needs: &[bool]) -> Result<Vec<Option<Tensor>>> {
        use crate::ops::expr::{ex, Ex};
        use crate::ops::reduce::{mean, sum_to};
        let dims: Vec<isize> = (1..=self.wshape.len() as isize).map(|k| -k).collect();
        let mu = mean(x, &dims, true)?;
        let xc = (ex(x) - ex(&mu)).done()?;
        let var = mean(&(ex(&xc) * ex(&xc)).done()?, &dims, true)?;
        let rstd = (Ex::c(1.0) / (ex(&var) + self.eps).sqrt()).done()?;
        let xhat = (ex(&xc) * ex(&rstd)).done()?;
        let gw = match w {
            Some(w) => (ex(g) * ex(w)).done()?,
            None => g.clone(),
        };
        let gx = if needs[0] {
            let m1 = mean(&gw, &dims, true)?;
            let m2 = mean(&(ex(&gw) * ex(&xhat)).done()?, &dims, true)?;
            Some((ex(&rstd) * (ex(&gw) - ex(&m1) - ex(&xhat) * ex(&m2))).done()?)
        } else {
            None
        };
        let mut out = vec![gx];
        if self.weight.is_some() {
            out.push(if needs[1] { Some(sum_to(&(ex(g) * ex(&xhat)).done()?, &self.wshape)?) } else { None });
        }
        if self.has_bias {
            let i = out.len();
            out.push(if needs[i] { Some(sum_to(g, &self.wshape)?) } else { None });
        }
        Ok(out)
    }
}

impl LayerNormBackward {
    fn run<T: Float>(&self, x: &Tensor, w: Option<&Tensor>, g: &Tensor, needs: &[bool]) -> Result<Vec<Option<Tensor>>> {
        let m = self.m;
        let (xv, gv) = (x.to_vec::<T>(), g.to_vec::<T>());
        let w: Vec<T> = match w {
            Some(w) => w.to_vec(),
            None => vec![T::one(); m],
        };
        let rows = self.mean.len();
        let mut gx = vec![T::zero(); xv.len()];
        // Each task: its rows' dx, and its partial sums of dw and db, added in task order.
        let per = rows_per_task(m);
        let partials: Vec<(Vec<f64>, Vec<f64>)> = if m == 0 {
            Vec::new()
        } else {
            gx.par_chunks_mut(per * m)
                .enumerate()
                .map(|(t, gx)| {
                    let (mut gw, mut gb) = (vec![0.0f64; m], vec![0.0f64; m]);
                    for (i, gxr) in gx.chunks_mut(m).enumerate() {
                        let r = t * per + i;
                        let span = r * m..(r + 1) * m;
                        row_grad(&xv[span.clone()], &gv[span], &w, (self.mean[r], self.rstd[r]), gxr, &mut gw, &mut gb);
                    }
                    (gw, gb)
                })
                .collect()
        };
        let (mut gw, mut gb) = (vec![0.0f64; m], vec![0.0f64; m]);
        for (pw, pb) in &partials {
            gw.iter_mut().zip(pw).for_each(|(a, b)| *a += b);
            gb.iter_mut().zip(pb).for_each(|(a, b)| *a += b);
        }
        debug_assert_eq!(rows * m, xv.len());
        let wshape = self.wshape.as_slice();
        let mut out = vec![needs[0].then(|| Tensor::from_vec_unchecked(gx, x.shape()))];
        if self.weight.is_some() {
            out.push(needs[1].then(|| Tensor::from_vec_unchecked(gw.iter().map(|&v| T::from_f64(v)).collect::<Vec<T>>(), wshape)));
        }
        if self.has_bias {
            let i = out.len();
            out.push(needs[i].then(|| Tensor::from_vec_unchecked(gb.iter().map(|&v| T::from_f64(v)).collect::<Vec<T>>(), wshape)));
        }
        Ok(out)
    }
}
