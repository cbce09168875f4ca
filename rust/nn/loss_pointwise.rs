//! The elementwise losses PyTorch computes as one op each (binary_cross_entropy and its
//! with_logits form, mse_loss, smooth_l1_loss, huber_loss): the loss and both gradients of one element in
//! `PointwiseLoss::at`, one fused loop per loss, the optional weight and pos_weight constants.

use super::Reduction;
use crate::autograd::{record, Backward, Saved};
use crate::bail;
use crate::error::Result;
use crate::ops::kernel::{build, zip_sum, Closure};
use crate::tensor::iter::GRAIN;
use crate::tensor::{DType, Element, Float, Tensor, View};
use crate::vmath::VMath;
use crate::with_float;

/// PyTorch's clamp of x (1 - x) in BCE's gradient: 1e-12 as a float32 constant (its CPU kernel's
/// value, 9.99999996e-13), kept bit-compatible so saturated gradients match PyTorch exactly.
pub(super) const BCE_EPS: f64 = 1e-12_f32 as f64;

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
    /// 0.5 d^2 where |d| < delta, else delta (|d| - 0.5 delta), for d = x - y (delta > 0).
    Huber { delta: f64 },
}

/// Binds `$f` to the loss's (x, y, pos_weight) -> (loss, d/dx, d/dy) as a closure of its own
/// type per kind, so the loop in `$body` is compiled once per loss with the formula inlined.
macro_rules! dispatch {
    ($kind:expr, $T:ty, $f:ident => $body:expr) => {
        match $kind {
            PointwiseLoss::Bce => { let $f = |x: $T, y: $T, pw: $T| PointwiseLoss::Bce.at(x, y, pw); $body }
            PointwiseLoss::BceWithLogits => { let $f = |x: $T, y: $T, pw: $T| PointwiseLoss::BceWithLogits.at(x, y, pw); $body }
            PointwiseLoss::Mse => { let $f = |x: $T, y: $T, pw: $T| PointwiseLoss::Mse.at(x, y, pw); $body }
            // The variant rebuilt inside the closure, so `at`'s match folds away (a captured
            // kind kept all four formulas in the loop, which then did not vectorise).
            PointwiseLoss::SmoothL1 { beta } => { let $f = move |x: $T, y: $T, pw: $T| PointwiseLoss::SmoothL1 { beta }.at(x, y, pw); $body }
            PointwiseLoss::Huber { delta } => { let $f = move |x: $T, y: $T, pw: $T| PointwiseLoss::Huber { delta }.at(x, y, pw); $body }
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
            PointwiseLoss::Huber { .. } => "HuberLossBackward0",
        }
    }
    fn op(self) -> &'static str {
        match self {
            PointwiseLoss::Bce => "binary_cross_entropy",
            PointwiseLoss::BceWithLogits => "binary_cross_entropy_with_logits",
            PointwiseLoss::Mse => "mse_loss",
            PointwiseLoss::SmoothL1 { .. } => "smooth_l1_loss",
            PointwiseLoss::Huber { .. } => "huber_loss",
        }
    }
    /// (loss, d loss / dx, d loss / dy) at one element, before the weight; pw is pos_weight.
    /// Computed in the tensor's dtype, as PyTorch's kernels.
    #[inline(always)]
    fn at<T: VMath>(self, x: T, y: T, pw: T) -> (T, T, T) {
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
                // From e = e^-|x| in (0, 1]: softplus(-x) = ln(1 + e) + max(-x, 0), and the
                // sigmoid (1 / (1 + e) above 0, e / (1 + e) below). vmath's forms, so the loop
                // vectorises: libm's exp and log1p were scalar calls, and forward + backward
                // of 1M elements took 3.5x PyTorch's time.
                let e = (-x.abs()).exp_nonpositive_as::<false>();
                let softplus_neg = e.log1p_unit_as::<false>() + (-x).max(zero);
                let sig = if x >= zero { one / (one + e) } else { e / (one + e) };
                let dy = if pw == one { -x } else { -x + (pw - one) * softplus_neg };
                ((one - y) * x + (one + (pw - one) * y) * softplus_neg, (pw * y + one - y) * sig - pw * y, dy)
            }
            PointwiseLoss::Mse => {
                let d = x - y;
                (d * d, (d + d), -(d + d))
            }
            PointwiseLoss::SmoothL1 { beta } => {
                let (d, beta) = (x - y, T::from_f64(beta));
                let (half, inside) = (T::from_f64(0.5), d.abs() < beta);
                // Both pieces computed and one picked: selects, which vectorise (a branch per
                // element mispredicts on data that falls either side of beta).
                let loss = if inside { half * d * d / beta } else { d.abs() - half * beta };
                // Outside beta and neither positive nor negative is NaN: its gradient stays NaN,
                // as PyTorch's (a 0 there would hide the NaN from the optimizer).
                let sign = if d > zero { one } else if d < zero { -one } else { d };
                let g = if inside { d / beta } else { sign };
                (loss, g, -g)
            }
            PointwiseLoss::Huber { delta } => {
                // PyTorch's forms: the loss from |d|, the gradient d inside, +-delta outside
                // (NaN for a NaN d), as selects (see SmoothL1).
                let (d, delta) = (x - y, T::from_f64(delta));
                let (half, z) = (T::from_f64(0.5), d.abs());
                let inside = z < delta;
                let loss = if inside { half * z * z } else { delta * (z - half * delta) };
                let sign = if d > zero { one } else if d < zero { -one } else { d };
                let g = if inside { d } else { delta * sign };
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
    if let PointwiseLoss::SmoothL1 { beta: b } | PointwiseLoss::Huber { delta: b } = kind {
        if b.is_nan() || b <= 0.0 {
            bail!(Value, "{op}: the fused kernel needs beta or delta > 0, got {b}");
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

fn pointwise_forward<T: VMath>(x: &Tensor, y: &Tensor, weight: Option<&Tensor>, pos_weight: Option<&Tensor>, kind: PointwiseLoss, reduction: Reduction) -> Result<Tensor> {
    let (w, pw) = (factor::<T>(weight), factor::<T>(pos_weight));
    with_pair::<T, _>(x, y, |xv, yv| {
        if kind == PointwiseLoss::Bce && xv.iter().any(|&v| !(v >= T::zero() && v <= T::one())) {
            bail!(Runtime, "all elements of input should be between 0 and 1");
        }
        let n = xv.len();
        let plain = w.is_empty() && pw.is_empty();
        // One monomorphised loop per loss (the kind is matched once, outside the loop).
        let data: Vec<T> = if plain && reduction != Reduction::None {
            // Summed as computed: the values are never stored.
            let total = dispatch!(kind, T, f => zip_sum(xv, yv, &Closure(|a, b| f(a, b, T::one()).0)));
            return Ok(reduced(total, n, reduction, x.dtype()));
        } else if plain {
            dispatch!(kind, T, f => zipped(xv, yv, |a, b| f(a, b, T::one()).0))
        } else {
            dispatch!(kind, T, f => elementwise(n, |i| {
                let l = f(xv[i], yv[i], if pw.is_empty() { T::one() } else { pw[i] }).0;
                if w.is_empty() { l } else { l * w[i] }
            }))
        };
        Ok(match reduction {
            Reduction::None => Tensor::from_vec_unchecked(data, x.shape()),
            _ => reduced(zip_sum(&data, &data, &Closure(|v: T, _| v)), n, reduction, x.dtype()),
        })
    })
}

/// A float64 sum of n losses as the 0-d result of 'sum' or 'mean' (NaN for the mean of none).
fn reduced(total: f64, n: usize, reduction: Reduction, dtype: DType) -> Tensor {
    Tensor::full(&[], if reduction == Reduction::Mean { total / n as f64 } else { total }, dtype)
}

/// `f` on the elements of two tensors of dtype T as contiguous slices, borrowed when contiguous.
/// Tensors sharing storage (`mse_loss(a, a)`) are read under one lock: taking the same RwLock
/// twice can deadlock behind a waiting writer.
fn with_pair<T: Element, R>(x: &Tensor, y: &Tensor, f: impl FnOnce(&[T], &[T]) -> R) -> R {
    let run = |dx: &[T], dy: &[T]| {
        let (vx, vy) = (View { data: dx, layout: x.layout() }, View { data: dy, layout: y.layout() });
        f(&vx.contiguous(), &vy.contiguous())
    };
    if x.shares_storage(y) {
        x.with_view::<T, _>(|v| run(v.data, v.data))
    } else {
        x.with_view::<T, _>(|vx| y.with_view::<T, _>(|vy| run(vx.data, vy.data)))
    }
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

/// The fields are `pub(super)` for its recorded rule in loss_recorded.rs.
pub(super) struct PointwiseLossBackward {
    x: Saved,
    /// The target in the input's dtype.
    y: Saved,
    pub(super) y_dtype: DType,
    /// Constants in the input's dtype, of its shape.
    pub(super) weight: Option<Tensor>,
    pub(super) pos_weight: Option<Tensor>,
    pub(super) kind: PointwiseLoss,
    pub(super) reduction: Reduction,
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
    fn run<T: VMath>(&self, x: &Tensor, y: &Tensor, g: &Tensor, needs: &[bool]) -> Result<Vec<Option<Tensor>>> {
        // Read in place (copies of both were a third of a 1M-element backward).
        with_pair::<T, _>(x, y, |xv, yv| self.run_on(xv, yv, x, g, needs))
    }

    fn run_on<T: VMath>(&self, xv: &[T], yv: &[T], x: &Tensor, g: &Tensor, needs: &[bool]) -> Result<Vec<Option<Tensor>>> {
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
                return dispatch!(self.kind, T, f => zipped(xv, yv, |a, b| u * f(a, b, T::one()).1));
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
