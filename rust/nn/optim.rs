//! Fused optimizer steps: one pass over a parameter, its gradient and its state tensors, updating
//! the parameter and the state in place (through their storages: no autograd, versions bumped).
//!
//! The formulas are PyTorch's single-tensor implementations (torch/optim/*.py), step by step, in
//! the parameter's dtype. Hyperparameter checks with PyTorch's messages live in the Python
//! optimizers; these kernels check the tensors: same dtype and shape as the parameter, state
//! contiguous, no two written tensors sharing memory. A non-contiguous parameter is gathered and
//! scattered back; a non-contiguous gradient, or one that aliases a written tensor, is copied.
//!
//! Locks are taken in one order: gradient (read), parameter, then state in argument order.

use crate::bail;
use crate::error::Result;
use crate::parallel::for_each_task;
use crate::tensor::iter::{gather, scatter, GRAIN};
use crate::tensor::{Element, Float, Tensor, View};
use crate::with_float;

/// `SGD(lr, momentum, dampening, weight_decay, nesterov, maximize)`.
#[derive(Clone, Debug)]
pub struct SgdArgs {
    pub lr: f64,
    pub momentum: f64,
    pub dampening: f64,
    pub weight_decay: f64,
    pub nesterov: bool,
    pub maximize: bool,
    /// The momentum buffer is new (PyTorch's `buf is None`): it becomes the gradient.
    pub first_step: bool,
}

/// `Adam`/`AdamW`. `step` is the step count after this step's increment (1 on the first step).
#[derive(Clone, Debug)]
pub struct AdamArgs {
    pub lr: f64,
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
    pub weight_decay: f64,
    /// AdamW: `p *= 1 - lr * weight_decay` instead of adding `weight_decay * p` to the gradient.
    pub decoupled_weight_decay: bool,
    pub maximize: bool,
    pub step: f64,
}

#[derive(Clone, Debug)]
pub struct RmspropArgs {
    pub lr: f64,
    pub alpha: f64,
    pub eps: f64,
    pub weight_decay: f64,
    pub momentum: f64,
    pub maximize: bool,
}

/// `Adagrad`. `step` counts from 1 (it scales the learning-rate decay).
#[derive(Clone, Debug)]
pub struct AdagradArgs {
    pub lr: f64,
    pub lr_decay: f64,
    pub weight_decay: f64,
    pub eps: f64,
    pub maximize: bool,
    pub step: f64,
}

#[derive(Clone, Debug)]
pub struct AdadeltaArgs {
    pub lr: f64,
    pub rho: f64,
    pub eps: f64,
    pub weight_decay: f64,
    pub maximize: bool,
}

/// `start + weight * (end - start)`, evaluated as PyTorch's lerp does (from the nearer end).
#[inline(always)]
fn lerp<T: Float>(start: T, end: T, weight: T) -> T {
    if weight < T::from_f64(0.5) {
        start + weight * (end - start)
    } else {
        end - (end - start) * (T::one() - weight)
    }
}

/// `torch.maximum`: NaN wins.
#[inline(always)]
fn maximum<T: Float>(a: T, b: T) -> T {
    if a.is_nan() || b.is_nan() {
        T::nan()
    } else if a > b {
        a
    } else {
        b
    }
}

/// The gradient as the update sees it: negated when maximizing, plus L2 weight decay.
#[inline(always)]
fn effective_grad<T: Float>(g: T, p: T, maximize: bool, weight_decay: T) -> T {
    let g = if maximize { -g } else { g };
    if weight_decay != T::zero() { g + weight_decay * p } else { g }
}

/// SGD with optional momentum (buffer given exactly when `momentum != 0`) and Nesterov.
pub fn sgd(param: &Tensor, grad: &Tensor, momentum_buffer: Option<&Tensor>, a: &SgdArgs) -> Result<()> {
    if (a.momentum != 0.0) != momentum_buffer.is_some() {
        bail!(Value, "sgd: a momentum buffer is needed exactly when momentum != 0 (momentum={}, buffer given: {})", a.momentum, momentum_buffer.is_some());
    }
    with_float!(param.dtype(), "sgd", T => {
        let c = <T as Element>::from_f64;
        let (lr, mom, keep, wd) = (c(a.lr), c(a.momentum), c(1.0 - a.dampening), c(a.weight_decay));
        run::<T, 0, 1>("sgd", param, grad, [], [("momentum_buffer", momentum_buffer)], |p, g, [], [buf]| {
            // Everything the loops read is copied into locals first: read through the captured
            // references, LLVM reloads it on every element and the loop stays scalar (3x slower).
            let (maximize, nesterov, first) = (a.maximize, a.nesterov, a.first_step);
            let (lr, mom, keep, wd) = (lr, mom, keep, wd);
            let g = &g[..p.len()];
            match buf.map(|b| &mut b[..g.len()]) {
                None => {
                    for (p, &g) in p.iter_mut().zip(g) {
                        *p -= lr * effective_grad(g, *p, maximize, wd);
                    }
                }
                Some(b) => {
                    for ((p, &g), b) in p.iter_mut().zip(g).zip(b.iter_mut()) {
                        let d = effective_grad(g, *p, maximize, wd);
                        *b = if first { d } else { *b * mom + keep * d };
                        *p -= lr * if nesterov { d + mom * *b } else { *b };
                    }
                }
            }
        })
    })
}

/// Adam (L2 weight decay) or AdamW (decoupled), with AMSGrad when `max_exp_avg_sq` is given.
pub fn adam(param: &Tensor, grad: &Tensor, exp_avg: &Tensor, exp_avg_sq: &Tensor, max_exp_avg_sq: Option<&Tensor>, a: &AdamArgs) -> Result<()> {
    if a.step.is_nan() || a.step < 1.0 {
        bail!(Value, "adam: step must be at least 1 (the count after this step), got {}", a.step);
    }
    let bias_correction1 = 1.0 - a.beta1.powf(a.step);
    let bias_correction2_sqrt = (1.0 - a.beta2.powf(a.step)).sqrt();
    let decay_factor = if a.decoupled_weight_decay { 1.0 - a.lr * a.weight_decay } else { 1.0 };
    let l2 = if a.decoupled_weight_decay { 0.0 } else { a.weight_decay };
    with_float!(param.dtype(), "adam", T => {
        let c = <T as Element>::from_f64;
        let (w1, b2, w2, eps, wd) = (c(1.0 - a.beta1), c(a.beta2), c(1.0 - a.beta2), c(a.eps), c(l2));
        let (decay, bc2_sqrt, neg_step_size) = (c(decay_factor), c(bias_correction2_sqrt), c(-a.lr / bias_correction1));
        let states = [("exp_avg", exp_avg), ("exp_avg_sq", exp_avg_sq)];
        run::<T, 2, 1>("adam", param, grad, states, [("max_exp_avg_sq", max_exp_avg_sq)], |p, g, [m, v], [vmax]| {
            let n = p.len();
            let (g, m, v) = (&g[..n], &mut m[..n], &mut v[..n]);
            // Locals, as in sgd: `a.maximize` read through the captured reference was reloaded
            // for every element and kept the loop scalar (4.3 ns per parameter).
            let (maximize, decays) = (a.maximize, decay_factor != 1.0);
            let (w1, b2, w2, eps, wd, decay, bc2_sqrt, neg_step_size) = (w1, b2, w2, eps, wd, decay, bc2_sqrt, neg_step_size);
            // The element update takes its operands as arguments (capturing the slices would
            // lose their no-alias guarantee and with it vectorisation); one loop per state
            // combination, so the update has no per-element branch.
            let one = |p: &mut T, g: T, m: &mut T, v: &mut T, vmax: Option<&mut T>| {
                let p0 = if decays { *p * decay } else { *p };
                let d = effective_grad(g, p0, maximize, wd);
                *m = lerp(*m, d, w1);
                *v = *v * b2 + w2 * d * d;
                let second = match vmax {
                    Some(vm) => {
                        *vm = maximum(*vm, *v);
                        *vm
                    }
                    None => *v,
                };
                *p = p0 + neg_step_size * (*m / (second.sqrt() / bc2_sqrt + eps));
            };
            match vmax.map(|vm| &mut vm[..n]) {
                Some(vm) => {
                    for i in 0..n {
                        one(&mut p[i], g[i], &mut m[i], &mut v[i], Some(&mut vm[i]));
                    }
                }
                None => {
                    for i in 0..n {
                        one(&mut p[i], g[i], &mut m[i], &mut v[i], None);
                    }
                }
            }
        })
    })
}

/// RMSprop; `momentum_buffer` given exactly when `momentum > 0`, `grad_avg` when centered.
pub fn rmsprop(param: &Tensor, grad: &Tensor, square_avg: &Tensor, momentum_buffer: Option<&Tensor>, grad_avg: Option<&Tensor>, a: &RmspropArgs) -> Result<()> {
    if (a.momentum > 0.0) != momentum_buffer.is_some() {
        bail!(Value, "rmsprop: a momentum buffer is needed exactly when momentum > 0 (momentum={}, buffer given: {})", a.momentum, momentum_buffer.is_some());
    }
    with_float!(param.dtype(), "rmsprop", T => {
        let c = <T as Element>::from_f64;
        let (lr, alpha, w, eps, wd, mom) = (c(a.lr), c(a.alpha), c(1.0 - a.alpha), c(a.eps), c(a.weight_decay), c(a.momentum));
        let optional = [("momentum_buffer", momentum_buffer), ("grad_avg", grad_avg)];
        run::<T, 1, 2>("rmsprop", param, grad, [("square_avg", square_avg)], optional, |p, g, [sq], [buf, ga]| {
            let n = p.len();
            let (g, sq) = (&g[..n], &mut sq[..n]);
            // As in adam: locals, operands as arguments, one loop per state combination.
            let (maximize, lr, alpha, w, eps, wd, mom) = (a.maximize, lr, alpha, w, eps, wd, mom);
            let one = |p: &mut T, g: T, sq: &mut T, buf: Option<&mut T>, ga: Option<&mut T>| {
                let d = effective_grad(g, *p, maximize, wd);
                *sq = *sq * alpha + w * d * d;
                let avg = match ga {
                    Some(ga) => {
                        *ga = lerp(*ga, d, w);
                        (*sq - *ga * *ga).sqrt()
                    }
                    None => sq.sqrt(),
                } + eps;
                match buf {
                    Some(b) => {
                        *b = *b * mom + d / avg;
                        *p -= lr * *b;
                    }
                    None => *p -= lr * (d / avg),
                }
            };
            match (buf.map(|b| &mut b[..n]), ga.map(|ga| &mut ga[..n])) {
                (Some(b), Some(ga)) => {
                    for i in 0..n {
                        one(&mut p[i], g[i], &mut sq[i], Some(&mut b[i]), Some(&mut ga[i]));
                    }
                }
                (Some(b), None) => {
                    for i in 0..n {
                        one(&mut p[i], g[i], &mut sq[i], Some(&mut b[i]), None);
                    }
                }
                (None, Some(ga)) => {
                    for i in 0..n {
                        one(&mut p[i], g[i], &mut sq[i], None, Some(&mut ga[i]));
                    }
                }
                (None, None) => {
                    for i in 0..n {
                        one(&mut p[i], g[i], &mut sq[i], None, None);
                    }
                }
            }
        })
    })
}

pub fn adagrad(param: &Tensor, grad: &Tensor, sum: &Tensor, a: &AdagradArgs) -> Result<()> {
    if a.step.is_nan() || a.step < 1.0 {
        bail!(Value, "adagrad: step must be at least 1 (the count after this step), got {}", a.step);
    }
    let clr = a.lr / (1.0 + (a.step - 1.0) * a.lr_decay);
    with_float!(param.dtype(), "adagrad", T => {
        let c = <T as Element>::from_f64;
        let (neg_clr, eps, wd) = (c(-clr), c(a.eps), c(a.weight_decay));
        run::<T, 1, 0>("adagrad", param, grad, [("sum", sum)], [], |p, g, [s], []| {
            let n = p.len();
            let (g, s) = (&g[..n], &mut s[..n]);
            // Locals, as in adam.
            let (maximize, neg_clr, eps, wd) = (a.maximize, neg_clr, eps, wd);
            for i in 0..n {
                let d = effective_grad(g[i], p[i], maximize, wd);
                s[i] += d * d;
                p[i] += neg_clr * (d / (s[i].sqrt() + eps));
            }
        })
    })
}

pub fn adadelta(param: &Tensor, grad: &Tensor, square_avg: &Tensor, acc_delta: &Tensor, a: &AdadeltaArgs) -> Result<()> {
    with_float!(param.dtype(), "adadelta", T => {
        let c = <T as Element>::from_f64;
        let (lr, rho, w, eps, wd) = (c(a.lr), c(a.rho), c(1.0 - a.rho), c(a.eps), c(a.weight_decay));
        let states = [("square_avg", square_avg), ("acc_delta", acc_delta)];
        run::<T, 2, 0>("adadelta", param, grad, states, [], |p, g, [sq, acc], []| {
            let n = p.len();
            let (g, sq, acc) = (&g[..n], &mut sq[..n], &mut acc[..n]);
            // Locals, as in adam.
            let (maximize, lr, rho, w, eps, wd) = (a.maximize, lr, rho, w, eps, wd);
            for i in 0..n {
                let d = effective_grad(g[i], p[i], maximize, wd);
                sq[i] = sq[i] * rho + w * d * d;
                let std = (sq[i] + eps).sqrt();
                let delta = (acc[i] + eps).sqrt() / std * d;
                acc[i] = acc[i] * rho + w * delta * delta;
                p[i] -= lr * delta;
            }
        })
    })
}

// ---- the driver -----------------------------------------------------------------------------

/// Checks the tensors, locks them and calls `f` on matching chunks of the parameter, gradient,
/// required state (`K`) and optional state (`J`), in parallel over chunks of GRAIN elements.
fn run<T: Float, const K: usize, const J: usize>(
    op: &str,
    param: &Tensor,
    grad: &Tensor,
    required: [(&str, &Tensor); K],
    optional: [(&str, Option<&Tensor>); J],
    f: impl Fn(&mut [T], &[T], [&mut [T]; K], [Option<&mut [T]>; J]) + Sync,
) -> Result<()> {
    crate::ops::inplace::check_inplace(param)?;
    if param.strides().iter().zip(param.shape()).any(|(&s, &n)| s == 0 && n > 1) {
        bail!(Runtime, "{op}: the parameter (shape {:?}, strides {:?}) has several elements in one memory location (an expanded view); it cannot be updated in place", param.shape(), param.strides());
    }
    let states: Vec<(&str, &Tensor)> = required.iter().copied().chain(optional.iter().filter_map(|(n, t)| t.map(|t| (*n, t)))).collect();
    for &(name, t) in &states {
        check_like(op, name, t, param)?;
        if !t.is_contiguous() {
            bail!(Runtime, "{op}: state {name} must be contiguous (shape {:?}, strides {:?})", t.shape(), t.strides());
        }
        if t.shares_storage(param) {
            bail!(Runtime, "{op}: state {name} shares memory with the parameter");
        }
    }
    for (i, &(a, ta)) in states.iter().enumerate() {
        if let Some(&(b, _)) = states[i + 1..].iter().find(|(_, tb)| tb.shares_storage(ta)) {
            bail!(Runtime, "{op}: states {a} and {b} share memory");
        }
    }
    check_like(op, "grad", grad, param)?;
    // A gradient aliasing a written tensor would be read while being written (and its read lock
    // would wait on our own write lock): read a copy instead.
    let grad = if grad.shares_storage(param) || states.iter().any(|(_, t)| t.shares_storage(grad)) { grad.deep_copy() } else { grad.clone() };

    let n = param.numel();
    let g_guard = grad.storage().read();
    let g_view = View { data: T::slice(&g_guard), layout: grad.layout() };
    let g = g_view.contiguous();
    let mut p_guard = param.write();
    let mut req_locked = required.map(|(_, t)| (t.write(), t.layout().offset));
    let mut opt_locked = optional.map(|(_, t)| t.map(|t| (t.write(), t.layout().offset)));
    let req = req_locked.each_mut().map(|(guard, off)| &mut T::slice_mut(guard)[*off..*off + n]);
    let opt = opt_locked.each_mut().map(|o| o.as_mut().map(|(guard, off)| &mut T::slice_mut(guard)[*off..*off + n]));
    let layout = param.layout();
    let p_all = T::slice_mut(&mut p_guard);
    if layout.is_contiguous() {
        drive(&mut p_all[layout.offset..layout.offset + n], &g, req, opt, &f);
    } else {
        let mut p = gather(p_all, layout);
        drive(&mut p, &g, req, opt, &f);
        scatter(p_all, layout, &p);
    }
    Ok(())
}

fn check_like(op: &str, name: &str, t: &Tensor, param: &Tensor) -> Result<()> {
    if t.dtype() != param.dtype() {
        bail!(Runtime, "{op}: {name} is {} but the parameter is {}", t.dtype().name(), param.dtype().name());
    }
    if t.shape() != param.shape() {
        bail!(Runtime, "{op}: {name} has shape {:?} but the parameter has shape {:?}", t.shape(), param.shape());
    }
    Ok(())
}

type Task<'a, T, const K: usize, const J: usize> = (&'a mut [T], &'a [T], [&'a mut [T]; K], [Option<&'a mut [T]>; J]);

fn drive<T: Float, const K: usize, const J: usize>(
    p: &mut [T],
    g: &[T],
    req: [&mut [T]; K],
    opt: [Option<&mut [T]>; J],
    f: &(impl Fn(&mut [T], &[T], [&mut [T]; K], [Option<&mut [T]>; J]) + Sync),
) {
    if p.len() <= GRAIN {
        return f(p, g, req, opt);
    }
    let mut tasks: Vec<Task<'_, T, K, J>> = Vec::with_capacity(p.len().div_ceil(GRAIN));
    let (mut p, mut g, mut req, mut opt) = (p, g, req, opt);
    while !p.is_empty() {
        let at = GRAIN.min(p.len());
        let (ph, pt) = std::mem::take(&mut p).split_at_mut(at);
        let (gh, gt) = g.split_at(at);
        let mut rs = req.map(|s| s.split_at_mut(at));
        let mut os = opt.map(|s| s.map(|s| s.split_at_mut(at)));
        let rh = rs.each_mut().map(|(h, _)| std::mem::take(h));
        let oh = os.each_mut().map(|o| o.as_mut().map(|(h, _)| std::mem::take(h)));
        tasks.push((ph, gh, rh, oh));
        (p, g, req, opt) = (pt, gt, rs.map(|(_, t)| t), os.map(|o| o.map(|(_, t)| t)));
    }
    for_each_task(tasks, &|(p, g, r, o)| f(p, g, r, o));
}

#[cfg(test)]
mod tests;
