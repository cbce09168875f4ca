//! Fused batch normalisation over (N, C, *) inputs.
//!
//! Forward makes one pass over the data for the per-channel statistics (shifted sums in f64,
//! so float32 data loses nothing to cancellation), one pass to normalise, and updates the
//! running statistics in place, off the graph. It saves the input, mean and inverse std for the
//! fused backward. Which statistics normalise (`use_batch_stats`) and whether the running ones
//! update (`update_running`) are separate switches; the Module decides both from its mode.
//! The passes themselves are in `batch_norm_kernels.rs`.

use super::batch_norm_kernels as kernels;
use crate::autograd::{record, Backward, Saved};
use crate::bail;
use crate::error::Result;
use crate::tensor::{Element, Float, Tensor};
use crate::with_float;

pub struct BatchNormArgs<'a> {
    pub weight: Option<&'a Tensor>,
    pub bias: Option<&'a Tensor>,
    pub running_mean: Option<&'a Tensor>,
    pub running_var: Option<&'a Tensor>,
    /// Normalise with this batch's statistics (training, or no running stats tracked).
    pub use_batch_stats: bool,
    /// Blend this batch's statistics into the running ones with `momentum`.
    pub update_running: bool,
    pub momentum: f64,
    pub eps: f64,
}

/// (N, C, S): batch, channels, spatial size.
fn dims(x: &Tensor) -> Result<(usize, usize, usize)> {
    if x.ndim() < 2 {
        bail!(Value, "batch_norm: expected an input of shape (N, C, ...), got shape {:?}", x.shape());
    }
    let (n, c) = (x.shape()[0], x.shape()[1]);
    Ok((n, c, x.shape()[2..].iter().product()))
}

fn check_param(name: &str, t: Option<&Tensor>, c: usize, x: &Tensor) -> Result<()> {
    if let Some(t) = t {
        if t.numel() != c {
            bail!(Runtime, "{name} should contain {c} elements not {} (input shape {:?})", t.numel(), x.shape());
        }
        if t.dtype() != x.dtype() {
            bail!(Runtime, "batch_norm: {name} is {} but the input is {}; convert the module with .to(dtype)", t.dtype().name(), x.dtype().name());
        }
    }
    Ok(())
}

fn values<T: Element>(t: Option<&Tensor>, c: usize, default: f64) -> Vec<T> {
    match t {
        Some(t) => t.to_vec::<T>(),
        None => vec![T::from_f64(default); c],
    }
}

pub fn batch_norm(x: &Tensor, a: &BatchNormArgs<'_>) -> Result<Tensor> {
    let (n, c, s) = dims(x)?;
    check_param("running_mean", a.running_mean, c, x)?;
    check_param("running_var", a.running_var, c, x)?;
    check_param("weight", a.weight, c, x)?;
    check_param("bias", a.bias, c, x)?;
    if a.use_batch_stats && n * s <= 1 {
        bail!(Value, "Expected more than 1 value per channel when training, got input size {:?}", x.shape());
    }
    if !a.use_batch_stats && (a.running_mean.is_none() || a.running_var.is_none()) {
        bail!(Runtime, "batch_norm: running_mean and running_var are required when not using batch statistics");
    }
    if a.eps.is_nan() || a.eps <= 0.0 {
        bail!(Value, "batch_norm: eps must be positive, got {}", a.eps);
    }
    let (out, mean, invstd) = with_float!(x.dtype(), "batch_norm", T => forward::<T>(x, a, (n, c, s))?);
    let saved = (mean, invstd);
    let mut inputs = vec![x];
    inputs.extend(a.weight);
    inputs.extend(a.bias);
    record(out, &inputs, || {
        Ok(Box::new(BatchNormBackward {
            x: Saved::new(x)?,
            weight: a.weight.map(Saved::new).transpose()?,
            has_bias: a.bias.is_some(),
            mean: saved.0.clone(),
            invstd: saved.1.clone(),
            use_batch_stats: a.use_batch_stats,
            eps: a.eps,
            traced: crate::autograd::trace::is_tracing().then(|| {
                let mut t = crate::attrs![("momentum", a.momentum), ("has_weight", a.weight.is_some()), ("has_bias", a.bias.is_some())];
                t.extend(a.running_mean.map(|r| ("running_mean", r.into())));
                t.extend(a.running_var.map(|r| ("running_var", r.into())));
                t
            }),
        }))
    })
}

fn forward<T: Float>(x: &Tensor, a: &BatchNormArgs<'_>, d: (usize, usize, usize)) -> Result<(Tensor, Vec<f64>, Vec<f64>)> {
    let (n, c, s) = d;
    let w: Vec<T> = values(a.weight, c, 1.0);
    let b: Vec<T> = values(a.bias, c, 0.0);
    let (out, mean, invstd) = x.with_view::<T, _>(|v| {
        let data = v.contiguous();
        let (mean, var): (Vec<f64>, Vec<f64>) = if a.use_batch_stats {
            kernels::channel_stats(&data, d).into_iter().unzip()
        } else {
            (values::<f64>(a.running_mean, c, 0.0), values::<f64>(a.running_var, c, 1.0))
        };
        let invstd: Vec<f64> = var.iter().map(|v| 1.0 / (v + a.eps).sqrt()).collect();
        let scale: Vec<T> = (0..c).map(|k| T::from_f64(invstd[k] * w[k].to_f64())).collect();
        let center: Vec<T> = mean.iter().map(|&m| T::from_f64(m)).collect();
        // The part of the mean that rounding it to T lost goes into the shift, in f64.
        let shift: Vec<T> = (0..c).map(|k| T::from_f64(b[k].to_f64() - (mean[k] - center[k].to_f64()) * invstd[k] * w[k].to_f64())).collect();
        let out = kernels::normalise(&data, d, &kernels::Affine { center: &center, scale: &scale, shift: &shift });
        if a.update_running && a.use_batch_stats {
            let m = a.momentum;
            let count = (n * s) as f64;
            if let Some(rm) = a.running_mean {
                blend::<T>(rm, &mean, m);
            }
            if let Some(rv) = a.running_var {
                let unbiased: Vec<f64> = var.iter().map(|v| v * count / (count - 1.0)).collect();
                blend::<T>(rv, &unbiased, m);
            }
        }
        (out, mean, invstd)
    });
    Ok((Tensor::from_vec_unchecked(out, x.shape()), mean, invstd))
}

/// running = (1 - m) * running + m * stat, in place (the buffer's storage, no autograd).
fn blend<T: Float>(running: &Tensor, stat: &[f64], m: f64) {
    let layout = running.layout().clone();
    let mut guard = running.write();
    let data = T::slice_mut(&mut guard);
    for (k, &st) in stat.iter().enumerate() {
        let i = layout.offset + k * layout.strides.first().copied().unwrap_or(1);
        data[i] = T::from_f64((1.0 - m) * data[i].to_f64() + m * st);
    }
}

struct BatchNormBackward {
    x: Saved,
    weight: Option<Saved>,
    has_bias: bool,
    mean: Vec<f64>,
    invstd: Vec<f64>,
    use_batch_stats: bool,
    eps: f64,
    /// For a trace only: momentum, which affine inputs are present, the running statistics.
    traced: Option<crate::autograd::trace::Attrs>,
}

impl Backward for BatchNormBackward {
    fn name(&self) -> &'static str {
        "NativeBatchNormBackward0"
    }
    fn attrs(&self) -> crate::autograd::trace::Attrs {
        let mut a = crate::attrs![("eps", self.eps), ("training", self.use_batch_stats)];
        a.extend(self.traced.iter().flatten().cloned());
        a
    }
    fn apply(&self, g: &Tensor, needs: &[bool]) -> Result<Vec<Option<Tensor>>> {
        let x = &self.x.get()?;
        let w = self.weight.as_ref().map(|w| w.get()).transpose()?;
        if crate::autograd::is_recording() {
            return self.apply_recorded(x, w.as_ref(), g, needs);
        }
        with_float!(x.dtype(), "batch_norm backward", T => self.run::<T>(x, w.as_ref(), g, needs))
    }
    fn differentiable(&self) -> bool {
        true
    }
}

/// `v` (one value per channel) as a constant of shape (1, C, 1, ...) for an input of `ndim` dims.
fn per_channel(v: &[f64], ndim: usize, dtype: crate::tensor::DType) -> Result<Tensor> {
    let mut shape = vec![1; ndim];
    shape[1] = v.len();
    crate::ops::cast::to_dtype(&Tensor::from_vec(v.to_vec(), &shape)?, dtype)
}

impl BatchNormBackward {
    /// The gradients as recorded ops of the saved input and weight, so they can be
    /// differentiated again. With batch statistics the mean and variance are recomputed from x
    /// (their dependence on x is what the second derivative needs); running statistics are
    /// constants.
    fn apply_recorded(&self, x: &Tensor, w: Option<&Tensor>, g: &Tensor, needs: &[bool]) -> Result<Vec<Option<Tensor>>> {
        use crate::ops::expr::{ex, Ex};
        use crate::ops::reduce::{mean, sum};
        let nd = x.ndim();
        let dims: Vec<isize> = (0..nd as isize).filter(|&d| d != 1).collect();
        let mut channel_shape = vec![1; nd];
        channel_shape[1] = x.shape()[1];
        let w = w.map(|w| w.reshape(&channel_shape)).transpose()?;
        let gw = match &w {
            Some(w) => (ex(g) * ex(w)).done()?,
            None => g.clone(),
        };
        let (xhat, gx) = if self.use_batch_stats {
            let mu = mean(x, &dims, true)?;
            let xc = (ex(x) - ex(&mu)).done()?;
            let var = mean(&(ex(&xc) * ex(&xc)).done()?, &dims, true)?;
            let invstd = (Ex::c(1.0) / (ex(&var) + self.eps).sqrt()).done()?;
            let xhat = (ex(&xc) * ex(&invstd)).done()?;
            let gx = if needs[0] {
                let m1 = mean(&gw, &dims, true)?;
                let m2 = mean(&(ex(&gw) * ex(&xhat)).done()?, &dims, true)?;
                Some((ex(&invstd) * (ex(&gw) - ex(&m1) - ex(&xhat) * ex(&m2))).done()?)
            } else {
                None
            };
            (xhat, gx)
        } else {
            let (mu, invstd) = (per_channel(&self.mean, nd, x.dtype())?, per_channel(&self.invstd, nd, x.dtype())?);
            let xhat = ((ex(x) - ex(&mu)) * ex(&invstd)).done()?;
            let gx = if needs[0] { Some((ex(&gw) * ex(&invstd)).done()?) } else { None };
            (xhat, gx)
        };
        let mut out = vec![gx];
        if self.weight.is_some() {
            out.push(if needs.get(1).copied().unwrap_or(false) { Some(sum(&(ex(g) * ex(&xhat)).done()?, &dims, false)?) } else { None });
        }
        if self.has_bias {
            let i = out.len();
            out.push(if needs.get(i).copied().unwrap_or(false) { Some(sum(g, &dims, false)?) } else { None });
        }
        Ok(out)
    }
}

impl BatchNormBackward {
    fn run<T: Float>(&self, x: &Tensor, w: Option<&Tensor>, g: &Tensor, needs: &[bool]) -> Result<Vec<Option<Tensor>>> {
        let (n, c, s) = dims(x)?;
        let w: Vec<f64> = values(w, c, 1.0);
        x.with_view::<T, _>(|xv| g.with_view::<T, _>(|gv| self.fused::<T>(&xv.contiguous(), &gv.contiguous(), &w, (n, c, s), needs, x.shape())))
    }

    fn fused<T: Float>(&self, xv: &[T], gv: &[T], w: &[f64], (n, c, s): (usize, usize, usize), needs: &[bool], shape: &[usize]) -> Result<Vec<Option<Tensor>>> {
        let stats = kernels::grad_sums(xv, gv, (n, c, s), &self.mean);
        let m = (n * s) as f64;
        // dx = k1 * (dy - mean_dy) + k2 * (x - center) + k3 per channel: the training formula
        // folded into an affine map of the centred dy and x (each centred in T by its mean rounded
        // to T, the rest of both means carried in k3 in f64, as in the forward). Centring dy
        // first matters where invstd is large: with k1 * dy + k3, a channel of equal values
        // (invstd = 1 / sqrt(eps), 316) cancelled two terms near 284 in float32 and kept 1.5e-5
        // of relative error in a gradient of 0.57, where PyTorch's was 4e-8.
        let zero = T::from_f64(0.0);
        let mut k = vec![[zero; 5]; c];
        for ch in 0..c {
            let (is, wc) = (self.invstd[ch], w[ch]);
            let center = T::from_f64(self.mean[ch]);
            if self.use_batch_stats {
                let (sd, sdx) = stats[ch];
                let a2 = -is * is * is * sdx / m * wc;
                let lost = self.mean[ch] - center.to_f64();
                let mean_dy = T::from_f64(sd / m);
                let k3 = -is * wc * (sd / m - mean_dy.to_f64()) - a2 * lost;
                k[ch] = [T::from_f64(is * wc), T::from_f64(a2), T::from_f64(k3), center, mean_dy];
            } else {
                k[ch] = [T::from_f64(is * wc), zero, zero, center, zero];
            }
        }
        let gx = if needs[0] {
            let data = kernels::input_grad(xv, gv, (n, c, s), &kernels::InputGrad { k: &k, batch_stats: self.use_batch_stats });
            Some(Tensor::from_vec_unchecked(data, shape))
        } else {
            None
        };
        let mut out = vec![gx];
        if self.weight.is_some() {
            let gw: Vec<T> = (0..c).map(|ch| T::from_f64(stats[ch].1 * self.invstd[ch])).collect();
            out.push(needs.get(1).copied().unwrap_or(false).then(|| Tensor::from_vec_unchecked(gw, &[c])));
        }
        if self.has_bias {
            let gb: Vec<T> = (0..c).map(|ch| T::from_f64(stats[ch].0)).collect();
            let i = out.len();
            out.push(needs.get(i).copied().unwrap_or(false).then(|| Tensor::from_vec_unchecked(gb, &[c])));
        }
        Ok(out)
    }
}
