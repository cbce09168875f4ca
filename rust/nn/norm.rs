//! Fused layer normalisation over the last dims (rows of M values), with optional elementwise
//! affine. GroupNorm reuses it (Python reshapes groups into rows, then applies its per-channel
//! affine with broadcasting ops).

use crate::autograd::{record, Backward, Saved};
use crate::bail;
use crate::error::Result;
use crate::ops::kernel::build;
use crate::tensor::iter::GRAIN;
use crate::tensor::{Element, Float, Tensor};
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

fn forward<T: Float>(x: &Tensor, m: usize, weight: Option<&Tensor>, bias: Option<&Tensor>, eps: f64) -> (Tensor, Vec<f64>, Vec<f64>) {
    let data = x.to_vec::<T>();
    let rows = data.len().checked_div(m).unwrap_or(0);
    let w: Option<Vec<T>> = weight.map(|t| t.to_vec());
    let b: Option<Vec<T>> = bias.map(|t| t.to_vec());
    let stats: Vec<(f64, f64)> = (0..rows)
        .map(|r| {
            let row = &data[r * m..(r + 1) * m];
            let mean = row.iter().map(|&v| Element::to_f64(v)).sum::<f64>() / m as f64;
            let var = row.iter().map(|&v| (Element::to_f64(v) - mean).powi(2)).sum::<f64>() / m as f64;
            (mean, 1.0 / (var + eps).sqrt())
        })
        .collect();
    let out = build(data.len(), (GRAIN / m.max(1)).max(1) * m.max(1), |start, o| {
        for (j, oi) in o.iter_mut().enumerate() {
            let i = start + j;
            let (r, c) = (i / m, i % m);
            let (mean, rstd) = stats[r];
            let mut v = T::from_f64((Element::to_f64(data[i]) - mean) * rstd);
            if let Some(w) = &w {
                v *= w[c];
            }
            if let Some(b) = &b {
                v += b[c];
            }
            oi.write(v);
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
        let (xv, gv) = (x.to_vec::<f64>(), g.to_vec::<f64>());
        let w: Vec<f64> = match w {
            Some(w) => w.to_vec(),
            None => vec![1.0; m],
        };
        let rows = self.mean.len();
        let mut gx = vec![T::from_f64(0.0); xv.len()];
        let (mut gw, mut gb) = (vec![0.0f64; m], vec![0.0f64; m]);
        for r in 0..rows {
            let (mean, rstd) = (self.mean[r], self.rstd[r]);
            let (xr, gr) = (&xv[r * m..(r + 1) * m], &gv[r * m..(r + 1) * m]);
            // dx = rstd * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat)), dxhat = dy * w
            let (mut s1, mut s2) = (0.0, 0.0);
            for c in 0..m {
                let xhat = (xr[c] - mean) * rstd;
                let dxhat = gr[c] * w[c];
                s1 += dxhat;
                s2 += dxhat * xhat;
                gw[c] += gr[c] * xhat;
                gb[c] += gr[c];
            }
            let (s1, s2) = (s1 / m as f64, s2 / m as f64);
            for c in 0..m {
                let xhat = (xr[c] - mean) * rstd;
                gx[r * m + c] = T::from_f64(rstd * (gr[c] * w[c] - s1 - xhat * s2));
            }
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
