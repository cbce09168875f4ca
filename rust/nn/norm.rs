//! Fused layer normalisation over the last dims (rows of M values), with optional elementwise
//! affine. GroupNorm (`group_norm.rs`) takes its row statistics from here.

use crate::autograd::{record, Backward, Saved};
use crate::bail;
use crate::error::Result;
use crate::nn::conv::with_grad;
use crate::ops::kernel::build;
use crate::parallel::DisjointPtr;
use crate::vmath::madd;
use crate::tensor::iter::GRAIN;
use crate::tensor::{Element, Float, Tensor};
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

/// A row's (mean, 1 / sqrt(var + eps)), accumulated in float64 in 16 lanes (a single running
/// sum is a chain of dependent adds that does not vectorise, and 8 lanes, two vectors, still
/// waited on the adds' latency: a fifth of LayerNorm's forward + backward at 1 thread). Two
/// passes: the variance of x - mean, not E[x^2] - mean^2, which cancels for rows far from 0.
#[inline(always)]
fn row_stats_body<T: Float, const FMA: bool>(row: &[T], eps: f64) -> (f64, f64) {
    const LANES: usize = 16;
    let m = row.len() as f64;
    let (blocks, rest) = row.as_chunks::<LANES>();
    let mut acc = [0.0f64; LANES];
    for c in blocks {
        for k in 0..LANES {
            acc[k] += Element::to_f64(c[k]);
        }
    }
    let mean = (acc.iter().sum::<f64>() + rest.iter().map(|&v| Element::to_f64(v)).sum::<f64>()) / m;
    let mut acc = [0.0f64; LANES];
    for c in blocks {
        for k in 0..LANES {
            // Not fused: the same bits on CPUs with and without FMA.
            let d = Element::to_f64(c[k]) - mean;
            acc[k] += d * d;
        }
    }
    let var = (acc.iter().sum::<f64>() + rest.iter().map(|&v| (Element::to_f64(v) - mean) * (Element::to_f64(v) - mean)).sum::<f64>()) / m;
    (mean, 1.0 / (var + eps).sqrt())
}

crate::multiversion!(row_stats_body, row_stats_avx2, row_stats, Float, (row: &[T], eps: f64) -> (f64, f64));

/// A row's (mean, 1 / sqrt(var + eps)) as LayerNorm takes them, for GroupNorm's rows.
pub(super) fn stats_of_row<T: Float>(row: &[T], eps: f64) -> (f64, f64) {
    row_stats(row, eps)
}

/// One output row: (x - mean) rstd, times w, plus b, in the tensor's precision.
#[inline(always)]
fn row_out_body<T: Float, const FMA: bool>(row: &[T], (mean, rstd): (f64, f64), w: Option<&[T]>, b: Option<&[T]>, o: &mut [MaybeUninit<T>]) {
    let (mean, rstd) = (T::from_f64(mean), T::from_f64(rstd));
    match (w, b) {
        (Some(w), Some(b)) => o.iter_mut().zip(row).zip(w.iter().zip(b)).for_each(|((o, &v), (&w, &b))| {
            o.write(madd::<T, FMA>((v - mean) * rstd, w, b));
        }),
        (Some(w), None) => o.iter_mut().zip(row).zip(w).for_each(|((o, &v), &w)| {
            o.write((v - mean) * rstd * w);
        }),
        (None, Some(b)) => o.iter_mut().zip(row).zip(b).for_each(|((o, &v), &b)| {
            o.write(madd::<T, FMA>(v - mean, rstd, b));
        }),
        (None, None) => o.iter_mut().zip(row).for_each(|(o, &v)| {
            o.write((v - mean) * rstd);
        }),
    }
}

crate::multiversion!(row_out_body, row_out_avx2, row_out, Float, (row: &[T], stats: (f64, f64), w: Option<&[T]>, b: Option<&[T]>, o: &mut [MaybeUninit<T>]) -> ());

fn forward<T: Float>(x: &Tensor, m: usize, weight: Option<&Tensor>, bias: Option<&Tensor>, eps: f64) -> (Tensor, Vec<f64>, Vec<f64>) {
    let w: Option<Vec<T>> = weight.map(|t| t.to_vec());
    let b: Option<Vec<T>> = bias.map(|t| t.to_vec());
    let rows = x.numel().checked_div(m).unwrap_or(0);
    let mut stats: Vec<(f64, f64)> = vec![(0.0, 0.0); rows];
    let at = DisjointPtr(stats.as_mut_ptr());
    // The input is read in place when contiguous. Each row's statistics and output in one go,
    // while the row is in L1: the input comes from memory once, not once for the statistics
    // and again for the output.
    let out = with_grad::<T, _>(x, |data| {
        build(data.len(), rows_per_task(m) * m.max(1), |start, o| {
            for (r, orow) in o.chunks_mut(m.max(1)).enumerate() {
                let row = start / m.max(1) + r;
                let xr = &data[row * m..(row + 1) * m];
                let st = row_stats(xr, eps);
                // SAFETY: row < rows, and each row belongs to exactly one chunk.
                unsafe { *at.get().add(row) = st };
                row_out(xr, st, w.as_deref(), b.as_deref(), orow);
            }
        })
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
/// dxhat = dy w, into `gx`; dy xhat and dy added to the weight and bias sums. In the tensor's
/// precision, as PyTorch's CPU kernel (float opmath for float), with the row sums in 8 lanes.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn row_grad_body<T: Float, const FMA: bool>(x: &[T], g: &[T], w: &[T], (mean, rstd): (T, T), gx: &mut [MaybeUninit<T>], gw: &mut [T], gb: &mut [T]) {
    let m = x.len();
    // Equal lengths and blocks of 8 up front, so the loops carry no bounds checks (with them
    // this loop stayed scalar).
    let (g, w, gw, gb, gx) = (&g[..m], &w[..m], &mut gw[..m], &mut gb[..m], &mut gx[..m]);
    let (xb, xr) = x.as_chunks::<8>();
    let (gbk, gr) = g.as_chunks::<8>();
    let (wb, wr) = w.as_chunks::<8>();
    let (gwb, gwr) = gw.as_chunks_mut::<8>();
    let (gbb, gbr) = gb.as_chunks_mut::<8>();
    let (mut s1, mut s2) = ([T::zero(); 8], [T::zero(); 8]);
    for ((((xc, gc), wc), gwc), gbc) in xb.iter().zip(gbk).zip(wb).zip(gwb.iter_mut()).zip(gbb.iter_mut()) {
        for k in 0..8 {
            let xhat = (xc[k] - mean) * rstd;
            let dxhat = gc[k] * wc[k];
            s1[k] += dxhat;
            s2[k] = madd::<T, FMA>(dxhat, xhat, s2[k]);
            gwc[k] = madd::<T, FMA>(gc[k], xhat, gwc[k]);
            gbc[k] += gc[k];
        }
    }
    let (mut t1, mut t2) = (T::zero(), T::zero());
    for ((((&xv, &gv), &wv), gwv), gbv) in xr.iter().zip(gr).zip(wr).zip(gwr.iter_mut()).zip(gbr.iter_mut()) {
        let xhat = (xv - mean) * rstd;
        let dxhat = gv * wv;
        t1 += dxhat;
        t2 += dxhat * xhat;
        *gwv += gv * xhat;
        *gbv += gv;
    }
    for k in 0..8 {
        t1 += s1[k];
        t2 += s2[k];
    }
    let inv_m = T::from_f64(1.0 / m as f64);
    let (a1, a2) = (t1 * inv_m, t2 * inv_m);
    // dx = rstd (g w - a1 - xhat a2) = (g w) rstd + xhat (-rstd a2) - rstd a1, as two
    // multiply-adds. Through xhat, not x: folding the mean into the constants would cancel
    // for rows far from 0.
    let (c1, c2) = (-(rstd * a2), -(rstd * a1));
    for (((&xv, &gv), &wv), o) in x.iter().zip(g).zip(w).zip(gx.iter_mut()) {
        let xhat = (xv - mean) * rstd;
        o.write(madd::<T, FMA>(gv * wv, rstd, madd::<T, FMA>(xhat, c1, c2)));
    }
}

crate::multiversion!(row_grad_body, row_grad_avx2, row_grad, Float, (x: &[T], g: &[T], w: &[T], stats: (T, T), gx: &mut [MaybeUninit<T>], gw: &mut [T], gb: &mut [T]) -> ());

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
        let w: Vec<T> = match w {
            Some(w) => w.to_vec(),
            None => vec![T::one(); m],
        };
        let rows = self.mean.len();
        // Each task: its rows' dx, and its partial sums of dw and db (in T over its few rows),
        // added in task order in float64, so the bits do not depend on the thread count.
        let per = rows_per_task(m);
        let tasks = if m == 0 { 0 } else { rows.div_ceil(per) };
        let partials: Vec<std::sync::OnceLock<(Vec<T>, Vec<T>)>> = (0..tasks).map(|_| std::sync::OnceLock::new()).collect();
        // The input and the gradient are read in place when contiguous (no copies); a gradient
        // that shares the input's storage is copied, so only one read lock is held at a time.
        let g_own = (g.shares_storage(x) || g.dtype() != T::DTYPE).then(|| g.to_vec::<T>());
        let gx = with_grad::<T, _>(x, |xv| {
            let body = |gv: &[T]| {
                build(rows * m, per * m.max(1), |start, o| {
                    let (mut gw, mut gb) = (vec![T::zero(); m], vec![T::zero(); m]);
                    for (i, gxr) in o.chunks_mut(m).enumerate() {
                        let r = start / m + i;
                        let span = r * m..(r + 1) * m;
                        let stats = (T::from_f64(self.mean[r]), T::from_f64(self.rstd[r]));
                        row_grad(&xv[span.clone()], &gv[span], &w, stats, gxr, &mut gw, &mut gb);
                    }
                    let _ = partials[start / (per * m)].set((gw, gb));
                })
            };
            match &g_own {
                Some(gv) => body(gv),
                None => with_grad::<T, _>(g, body),
            }
        });
        let (mut gw, mut gb) = (vec![0.0f64; m], vec![0.0f64; m]);
        for (pw, pb) in partials.iter().filter_map(|p| p.get()) {
            gw.iter_mut().zip(pw).for_each(|(a, &b)| *a += b.to_f64());
            gb.iter_mut().zip(pb).for_each(|(a, &b)| *a += b.to_f64());
        }
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
