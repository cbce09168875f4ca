//! Unary elementwise ops. Each forward and its backward rule are one macro row, side by side.
//! Float-only ops given an integer tensor compute in float32, as PyTorch does (`exp(int)`).

#[allow(unused_imports)]
use num_traits::{Float as _, One as _, Zero as _};
use crate::autograd::{is_recording, record, Backward, Saved};
use crate::ops::expr::{ex, times_piecewise_constant, Ex};
use crate::error::Result;
use crate::ops::cast::to_dtype;
use crate::ops::kernel::{map, zip};
use crate::tensor::{DType, Element, Float, Numeric, Scalar, Tensor};

use crate::{with_float, with_numeric};

#[inline(always)]
pub(crate) fn c<T: Float>(v: f64) -> T {
    T::from_f64(v)
}

pub(crate) fn float_input(t: &Tensor) -> Result<Tensor> {
    if t.dtype().is_float() { Ok(t.clone()) } else { to_dtype(t, DType::F32) }
}

/// One float unary op: forward `|x| ...`, and backward `|g, s| ...` where `s` is the saved input
/// (`save: input`) or output (`save: output`). The optional `graph: |g, s| ...` is the same
/// backward written with `ops::expr::Ex` (recorded ops), used when the backward itself is
/// recorded (`create_graph=True`); a row without it cannot be differentiated twice (its rule
/// says `differentiable: false`, as `binary_float_op!` rows do). The optional `slice: name`
/// names a `VMath` method that runs the forward over a whole slice where the CPU has a kernel
/// for it (`VMath::gelu_slice`); the element form stays the reference and the fallback.
macro_rules! unary_op {
    // `in_place: name` (rows that save their output only) adds `name(t)`, the in-place form that
    // writes into t's own memory (`inplace::map_saving_result`).
    ($name:ident, $Back:ident, $gname:literal, save: output, in_place: $iname:ident, $(slice: $slice:ident,)? |$x:ident| $fwd:expr, |$g:ident, $s:ident| $bwd:expr, graph: |$gg:ident, $gs:ident| $graph:expr) => {
        $crate::ops::unary::unary_op!($name, $Back, $gname, save: output, $(slice: $slice,)? |$x| $fwd, |$g, $s| $bwd, graph: |$gg, $gs| $graph);
        pub fn $iname(t: &$crate::tensor::Tensor) -> $crate::error::Result<()> {
            $crate::ops::unary::unary_op!(@rule [$($slice)?], |$x| $fwd);
            $crate::ops::inplace::map_saving_result(
                t,
                stringify!($iname),
                $name,
                |t| {
                    $crate::with_float!(t.dtype(), stringify!($iname), T => $crate::ops::inplace::map_in_place::<T, _>(t, &Rule));
                    Ok(())
                },
                |s| Box::new($Back { s }),
            )
        }
    };
    ($name:ident, $Back:ident, $gname:literal, save: $save:ident, $(slice: $slice:ident,)? |$x:ident| $fwd:expr, |$g:ident, $s:ident| $bwd:expr) => {
        $crate::ops::unary::unary_op!(@op $name, $Back, $gname, save: $save, [$($slice)?], |$x| $fwd, |$g, $s| $bwd,
            differentiable: false, graph: |_g, _s| Ex::c(0.0));
    };
    ($name:ident, $Back:ident, $gname:literal, save: $save:ident, $(slice: $slice:ident,)? |$x:ident| $fwd:expr, |$g:ident, $s:ident| $bwd:expr, graph: |$gg:ident, $gs:ident| $graph:expr) => {
        $crate::ops::unary::unary_op!(@op $name, $Back, $gname, save: $save, [$($slice)?], |$x| $fwd, |$g, $s| $bwd,
            differentiable: true, graph: |$gg, $gs| $graph);
    };
    (@op $name:ident, $Back:ident, $gname:literal, save: $save:ident, [$($slice:ident)?], |$x:ident| $fwd:expr, |$g:ident, $s:ident| $bwd:expr,
     differentiable: $diff:literal, graph: |$gg:ident, $gs:ident| $graph:expr) => {
        $crate::ops::unary::unary_op!(@forward $name, $Back, $save, [$($slice)?], |$x| $fwd);
        impl $crate::autograd::Backward for $Back {
            fn name(&self) -> &'static str {
                $gname
            }
            /// The forward's name: several rows share a grad_fn name (both GELUs).
            fn attrs(&self) -> $crate::autograd::trace::Attrs {
                $crate::attrs![("op", stringify!($name))]
            }
            fn apply(&self, g: &$crate::tensor::Tensor, _needs: &[bool]) -> $crate::error::Result<Vec<Option<$crate::tensor::Tensor>>> {
                let s = &self.s.get()?;
                if $diff && $crate::autograd::is_recording() {
                    #[allow(unused_imports)]
                    use $crate::ops::expr::Ex;
                    let ($gg, $gs) = ($crate::ops::expr::ex(g), $crate::ops::expr::ex(s));
                    return Ok(vec![Some(($graph).done()?)]);
                }
                // A rule type, not a closure, so that its body is compiled inside the
                // kernel's AVX2 loop (`kernel::Apply2`).
                struct Rule;
                impl<T: $crate::vmath::VMath> $crate::ops::kernel::Apply2<T, T> for Rule {
                    #[inline(always)]
                    #[allow(unused_imports)]
                    fn apply(&self, $g: T, $s: T) -> T {
                        use $crate::vmath::plain::*;
                        use num_traits::{Float as _, One as _, Zero as _};
                        $bwd
                    }
                    #[inline(always)]
                    #[allow(unused_imports)]
                    fn apply_fused(&self, $g: T, $s: T) -> T {
                        use $crate::vmath::fused::*;
                        use num_traits::{Float as _, One as _, Zero as _};
                        $bwd
                    }
                }
                let d = $crate::with_float!(g.dtype(), $gname, T => $crate::ops::kernel::zip_with::<T, T>(g, s, $gname, &Rule)?);
                Ok(vec![Some(d)])
            }
            fn differentiable(&self) -> bool {
                $diff
            }
        }
    };
    // The forward as a rule type, as the backward's: `Rule`, in the caller's scope.
    (@rule [$($slice:ident)?], |$x:ident| $fwd:expr) => {
        struct Rule;
        impl<T: $crate::vmath::VMath> $crate::ops::kernel::Apply1<T, T> for Rule {
            #[inline(always)]
            #[allow(unused_imports)]
            fn apply(&self, $x: T) -> T {
                use $crate::vmath::plain::*;
                use num_traits::{Float as _, One as _, Zero as _};
                $fwd
            }
            #[inline(always)]
            #[allow(unused_imports)]
            fn apply_fused(&self, $x: T) -> T {
                use $crate::vmath::fused::*;
                use num_traits::{Float as _, One as _, Zero as _};
                $fwd
            }
            $(
                fn slice(&self, out: &mut [std::mem::MaybeUninit<T>], src: &[T]) -> bool {
                    <T as $crate::vmath::VMath>::$slice(out, src)
                }
            )?
        }
    };
    (@forward $name:ident, $Back:ident, $save:ident, [$($slice:ident)?], |$x:ident| $fwd:expr) => {
        pub fn $name(t: &$crate::tensor::Tensor) -> $crate::error::Result<$crate::tensor::Tensor> {
            if t.dtype().is_half() {
                return $crate::ops::half::unary(t, $name);
            }
            let t = &$crate::ops::unary::float_input(t)?;
            $crate::ops::unary::unary_op!(@rule [$($slice)?], |$x| $fwd);
            let out = $crate::with_float!(t.dtype(), stringify!($name), T => $crate::ops::kernel::map_with::<T, T>(t, &Rule));
            let saved = if stringify!($save) == "output" { out.clone() } else { t.clone() };
            let output = stringify!($save) == "output";
            $crate::autograd::record(out, &[t], || {
                let s = if output { $crate::autograd::Saved::output(&saved)? } else { $crate::autograd::Saved::new(&saved)? };
                Ok(Box::new($Back { s }))
            })
        }
        struct $Back {
            s: $crate::autograd::Saved,
        }
    };
}

pub(crate) use unary_op;

unary_op!(exp, ExpBackward, "ExpBackward0", save: output, in_place: exp_, |x| vexp(x), |g, y| g * y, graph: |g, y| g * y);
unary_op!(log, LogBackward, "LogBackward0", save: input, |x| vlog(x), |g, x| g / x, graph: |g, x| g / x);
unary_op!(sqrt, SqrtBackward, "SqrtBackward0", save: output, in_place: sqrt_, |x| x.sqrt(), |g, y| g / (c::<T>(2.0) * y), graph: |g, y| g / (2.0 * y));
// sin and cos: ops/trig.rs (vectorised float32 with its own argument reduction).
pub use crate::ops::trig::{cos, sin};
unary_op!(tanh, TanhBackward, "TanhBackward0", save: output, in_place: tanh_, |x| vtanh(x), |g, y| g * (T::one() - y * y), graph: |g, y| g * (1.0 - y.clone() * y));
unary_op!(
    sigmoid,
    SigmoidBackward,
    "SigmoidBackward0",
    save: output,
    in_place: sigmoid_,
    |x| vsigmoid(x),
    |g, y| g * y * (T::one() - y),
    graph: |g, y| g * y.clone() * (1.0 - y)
);
/// `t.relu_()`; an integer tensor keeps its dtype, as in `relu`.
pub fn relu_(t: &Tensor) -> Result<()> {
    if t.dtype().is_float() { relu_float_(t) } else { crate::ops::inplace::apply_elementwise(t, "relu_", relu) }
}

/// relu keeps integer dtypes (no gradient there) and refuses bool, as PyTorch.
pub fn relu(t: &Tensor) -> Result<Tensor> {
    match t.dtype() {
        d if d.is_integer() => Ok(with_numeric!(d, "relu", T => map::<T, T>(t, |x: T| if x < T::default() { T::default() } else { x }))),
        DType::Bool => crate::bail!(NotImplemented, "relu: Boolean inputs not supported for relu (shape {:?})", t.shape()),
        _ => relu_float(t),
    }
}

unary_op!(
    relu_float,
    ReluBackward,
    "ReluBackward0",
    save: output,
    in_place: relu_float_,
    // `x < 0` (not `x > 0`) keeps NaN as NaN, as PyTorch does.
    |x| if x < T::zero() { T::zero() } else { x },
    // PyTorch's threshold_backward: zero where y <= 0, so a NaN passes its gradient through.
    |g, y| if y <= T::zero() { T::zero() } else { g },
    // The same where (an infinite g times a zero mask would be NaN, and y <= 0 is false at a
    // NaN), and y stays in the graph: threshold_backward's derivative in y is zeros_like(grad).
    graph: |g, y| Ex::select(y.clone().le(0.0), Ex::c(0.0), g).zero_grad_to(y)
);
unary_op!(
    softplus,
    SoftplusBackward,
    "SoftplusBackward0",
    save: input,
    // log(1 + e^x) without overflow, keeping e^x's relative accuracy far below 0 (vectorised:
    // `vmath_log1p`); its derivative is sigmoid(x) everywhere (also at 0).
    |x| x.max(T::zero()) + vlog1p_unit(vexp(-x.abs())),
    |g, x| g * vsigmoid(x),
    graph: |g, x| g * x.sigmoid()
);
unary_op!(
    silu,
    SiluBackward,
    "SiluBackward0",
    save: input,
    // From e^-|x| (no overflow select), as sigmoid: `VMath::silu_as`.
    |x| vsilu(x),
    |g, x| {
        let s = vsigmoid(x);
        g * s * (T::one() + x * (T::one() - s))
    },
    graph: |g, x| {
        let s = x.clone().sigmoid();
        g * s.clone() * (1.0 + x * (1.0 - s))
    }
);
unary_op!(
    gelu,
    GeluBackward,
    "GeluBackward0",
    save: input,
    // On AVX-512 float32 reads Phi from a table of polynomials (`vmath_gelu`).
    slice: gelu_slice,
    // exact (erf) form, PyTorch's default approximate='none'
    // x Phi(x), with Phi's lower tail kept (`vmath_phi::phi_pdf_f32`).
    |x| x * vphi(x),
    |g, x| {
        let (cdf, pdf) = vphi_pdf(x);
        g * (cdf + x * pdf)
    },
    graph: |g, x| {
        let cdf = 0.5 * (1.0 + (x.clone() * std::f64::consts::FRAC_1_SQRT_2).erf());
        let pdf = (x.clone() * x.clone() * -0.5).exp() * 0.3989422804014327;
        g * (cdf + x * pdf)
    }
);
unary_op!(
    gelu_tanh,
    GeluTanhBackward,
    "GeluBackward0",
    save: input,
    |x| {
        let k = c::<T>(0.7978845608028654);
        // (1 + tanh(u)) / 2 as sigmoid(2u): no cancellation for negative x.
        x * vsigmoid(c::<T>(2.0) * k * (x + c::<T>(0.044715) * x * x * x))
    },
    |g, x| {
        let k = c::<T>(0.7978845608028654);
        let inner = k * (x + c::<T>(0.044715) * x * x * x);
        // s = (1 + tanh(inner)) / 2 = sigmoid(2 inner), and (1 - tanh^2) / 2 = 2 s (1 - s).
        let s = vsigmoid(c::<T>(2.0) * inner);
        let dinner = k * (T::one() + c::<T>(3.0 * 0.044715) * x * x);
        g * (s + c::<T>(2.0) * x * s * (T::one() - s) * dinner)
    },
    graph: |g, x| {
        let k = 0.7978845608028654;
        let t = ((x.clone() + x.clone() * x.clone() * x.clone() * 0.044715) * k).tanh();
        let dinner = (1.0 + x.clone() * x.clone() * (3.0 * 0.044715)) * k;
        g * (0.5 * (1.0 + t.clone()) + 0.5 * x * (1.0 - t.clone() * t) * dinner)
    }
);

/// leaky_relu of one value, for both forms.
#[inline(always)]
fn leaky<T: Float>(x: T, slope: T) -> T {
    if x > T::zero() { x } else { x * slope }
}

pub fn leaky_relu(t: &Tensor, slope: f64) -> Result<Tensor> {
    let t = &float_input(t)?;
    let out = with_float!(t.dtype(), "leaky_relu", T => {
        let s = c::<T>(slope);
        map::<T, T>(t, move |x: T| leaky(x, s))
    });
    record(out, &[t], || Ok(Box::new(LeakyReluBackward { x: Saved::new(t)?, slope })))
}

/// `F.leaky_relu_(t, slope)`. With slope >= 0 it writes into t and saves t
/// (`inplace::map_saving_result`): y > 0 exactly where x > 0, so the backward reads the output
/// as well as the input. A negative slope breaks that (PyTorch refuses its backward); here it
/// takes the general path, which saves a copy of the input, and works.
pub fn leaky_relu_(t: &Tensor, slope: f64) -> Result<()> {
    let out_of_place = |t: &Tensor| leaky_relu(t, slope);
    if slope < 0.0 || slope.is_nan() {
        return crate::ops::inplace::apply_elementwise(t, "leaky_relu_", out_of_place);
    }
    let map = |t: &Tensor| {
        with_float!(t.dtype(), "leaky_relu_", T => {
            let s = c::<T>(slope);
            crate::ops::inplace::map_in_place::<T, _>(t, &crate::ops::kernel::Closure(move |x: T| leaky(x, s)))
        });
        Ok(())
    };
    crate::ops::inplace::map_saving_result(t, "leaky_relu_", out_of_place, map, |x| Box::new(LeakyReluBackward { x, slope }))
}

/// `x` is the input, or the output of the in-place form (`leaky_relu_`).
struct LeakyReluBackward {
    x: Saved,
    slope: f64,
}
impl Backward for LeakyReluBackward {
    fn attrs(&self) -> crate::autograd::trace::Attrs {
        crate::attrs![("negative_slope", self.slope)]
    }
    fn name(&self) -> &'static str {
        "LeakyReluBackward0"
    }
    fn apply(&self, g: &Tensor, _needs: &[bool]) -> Result<Vec<Option<Tensor>>> {
        let x = &self.x.get()?;
        let fused = |g: &Tensor| -> Result<Tensor> {
            Ok(with_float!(g.dtype(), "leaky_relu", T => {
                let s = c::<T>(self.slope);
                zip::<T, T>(g, x, "leaky_relu", move |gv: T, x: T| if x > T::zero() { gv } else { gv * s })?
            }))
        };
        // leaky_relu_backward's derivative in self is zeros_like(grad): x stays in the graph.
        let d = if is_recording() { times_piecewise_constant(g, x, fused)? } else { fused(g)? };
        Ok(vec![Some(d)])
    }
    fn differentiable(&self) -> bool {
        true
    }
}

pub fn neg(t: &Tensor) -> Result<Tensor> {
    if t.dtype() == DType::Bool {
        crate::bail!(NotImplemented, "Negation, the `-` operator, on a bool tensor is not supported. If you are trying to invert a mask, use the `~` or `logical_not()` operator instead. (neg: shape {:?})", t.shape());
    }
    if t.dtype().is_half() {
        return crate::ops::half::unary(t, neg);
    }
    let out = with_numeric!(t.dtype(), "neg", T => map::<T, T>(t, |x: T| T::default().wrapping_sub(x)));
    record(out, &[t], || Ok(Box::new(NegBackward)))
}

struct NegBackward;
impl Backward for NegBackward {
    fn name(&self) -> &'static str {
        "NegBackward0"
    }
    fn saves_tensors(&self) -> bool {
        false
    }
    fn apply(&self, g: &Tensor, _needs: &[bool]) -> Result<Vec<Option<Tensor>>> {
        Ok(vec![Some(neg(g)?)])
    }
    fn differentiable(&self) -> bool {
        true
    }
}

pub fn abs(t: &Tensor) -> Result<Tensor> {
    if t.dtype() == DType::Bool {
        crate::bail!(NotImplemented, "abs: not implemented for 'Bool' (shape {:?})", t.shape());
    }
    if t.dtype().is_half() {
        return crate::ops::half::unary(t, abs);
    }
    let out = with_numeric!(t.dtype(), "abs", T => map::<T, T>(t, |x: T| if x < T::default() { T::default().wrapping_sub(x) } else { x }));
    record(out, &[t], || Ok(Box::new(AbsBackward { x: Saved::new(t)? })))
}

struct AbsBackward {
    x: Saved,
}
impl Backward for AbsBackward {
    fn name(&self) -> &'static str {
        "AbsBackward0"
    }
    fn apply(&self, g: &Tensor, _needs: &[bool]) -> Result<Vec<Option<Tensor>>> {
        let x = &self.x.get()?;
        let fused = |g: &Tensor| -> Result<Tensor> {
            // g * sgn(x), a product as in PyTorch (sgn is 0 at 0 and at NaN): a NaN or infinite
            // gradient at x = 0 gives NaN, not a quiet 0.
            Ok(with_float!(g.dtype(), "abs", T => zip::<T, T>(g, x, "abs", |gv: T, x: T| {
                gv * if x > T::zero() { T::one() } else if x < T::zero() { -T::one() } else { T::zero() }
            })?))
        };
        // PyTorch's grad * sgn(x): sgn's derivative is zero, x stays in the graph.
        let d = if is_recording() { times_piecewise_constant(g, x, fused)? } else { fused(g)? };
        Ok(vec![Some(d)])
    }
    fn differentiable(&self) -> bool {
        true
    }
}

/// clamp(min, max) with Python-number bounds; either may be absent. The result dtype is PyTorch's
/// result type of the tensor and the bounds (`int_tensor.clamp(0.5)` is float32). A NaN bound
/// gives NaN, as in PyTorch.
pub fn clamp_scalar(t: &Tensor, min: Option<Scalar>, max: Option<Scalar>) -> Result<Tensor> {
    let mut dtype = t.dtype();
    for s in min.iter().chain(max.iter()) {
        dtype = dtype.promote(s.result_dtype(t.dtype()));
    }
    let t = &to_dtype(t, dtype)?;
    if dtype.is_integer() && (min.is_some() || max.is_some()) {
        return clamp_integer(t, min, max);
    }
    clamp(t, min.map(Scalar::as_f64), max.map(Scalar::as_f64))
}

/// clamp of an integer tensor, in integers: through doubles a bound past 2^53 is rounded
/// (`clamp(min=2**60 + 3)` stored 2^60). Its bounds are integers (a float one promotes the
/// tensor to float).
/// Integer tensors take no gradient, so nothing is recorded.
fn clamp_integer(t: &Tensor, min: Option<Scalar>, max: Option<Scalar>) -> Result<Tensor> {
    let (range_lo, range_hi) = integer_range(t.dtype());
    let (range_lo, range_hi) = (range_lo as i64, range_hi as i64);
    let value = |s: Scalar| match s {
        Scalar::Int(i) => i,
        other => other.as_f64() as i64,
    };
    // PyTorch refuses a bound that would set every element outside the range (a min above it, a
    // max below it); one beyond the range on its own side clamps nothing there.
    let name = t.dtype().torch_name();
    if let Some(m) = min.map(value).filter(|&m| m > range_hi) {
        crate::bail!(Runtime, "Clamp min value {m} is outside the representable range of {name}");
    }
    if let Some(m) = max.map(value).filter(|&m| m < range_lo) {
        crate::bail!(Runtime, "Clamp max value {m} is outside the representable range of {name}");
    }
    let bound = |s: Scalar| value(s).clamp(range_lo, range_hi);
    let (lo, hi) = (min.map_or(range_lo, bound), max.map_or(range_hi, bound));
    Ok(crate::with_integer!(t.dtype(), "clamp", T => {
        // max then min: a min above the max gives the max everywhere, as PyTorch.
        map::<T, T>(t, move |x: T| T::from_i64(x.to_i64().max(lo).min(hi)))
    }))
}

/// clamp(min, max) in the tensor's dtype. The gradient passes where min < x < max strictly (PyTorch's rule: none at the bounds or at NaN).
pub fn clamp(t: &Tensor, min: Option<f64>, max: Option<f64>) -> Result<Tensor> {
    if min.is_none() && max.is_none() {
        crate::bail!(Runtime, "clamp: at least one of 'min' or 'max' must not be None");
    }
    if t.dtype() == DType::Bool {
        crate::bail!(NotImplemented, "clamp: not implemented for 'Bool' (shape {:?}); bool tensors clamp with int or float bounds", t.shape());
    }
    if t.dtype().is_half() {
        return crate::ops::half::unary(t, |t| clamp(t, min, max));
    }
    // An integer bound beyond the dtype's range clamps nothing on that side (uint8 clamp(0, 300)
    // keeps 250, as PyTorch), so bounds saturate into the range rather than wrap.
    let (min, max) = match t.dtype() {
        d if d.is_integer() => {
            let (lo, hi) = integer_range(d);
            (min.map(|v| if v.is_nan() { v } else { v.clamp(lo, hi) }), max.map(|v| if v.is_nan() { v } else { v.clamp(lo, hi) }))
        }
        _ => (min, max),
    };
    let out = with_numeric!(t.dtype(), "clamp", T => {
        let lo = min.map(T::from_f64);
        let hi = max.map(T::from_f64);
        map::<T, T>(t, move |x: T| {
            let mut v = x;
            // A bound that compares unordered with itself is NaN, and makes the result NaN.
            if let Some(l) = lo { if v < l || l.partial_cmp(&l).is_none() { v = l; } }
            if let Some(h) = hi { if v > h || h.partial_cmp(&h).is_none() { v = h; } }
            v
        })
    });
    record(out, &[t], || Ok(Box::new(ClampBackward { x: Saved::new(t)?, min, max })))
}

struct ClampBackward {
    x: Saved,
    min: Option<f64>,
    max: Option<f64>,
}
impl Backward for ClampBackward {
    fn attrs(&self) -> crate::autograd::trace::Attrs {
        let mut a = crate::autograd::trace::Attrs::new();
        a.extend(self.min.map(|v| ("min", v.into())));
        a.extend(self.max.map(|v| ("max", v.into())));
        a
    }
    fn name(&self) -> &'static str {
        "ClampBackward1"
    }
    fn apply(&self, g: &Tensor, _needs: &[bool]) -> Result<Vec<Option<Tensor>>> {
        let (lo, hi) = (self.min, self.max);
        let x = &self.x.get()?;
        let fused = |g: &Tensor| -> Result<Tensor> {
            Ok(with_float!(g.dtype(), "clamp", T => {
                let (lo, hi) = (lo.map(c::<T>), hi.map(c::<T>));
                zip::<T, T>(g, x, "clamp", move |gv: T, x: T| {
                    let inside = lo.is_none_or(|l| x > l) && hi.is_none_or(|h| x < h);
                    if inside { gv } else { T::zero() }
                })?
            }))
        };
        if is_recording() {
            // PyTorch's clamp_backward, where(inside, grad, 0): no edge to x (unlike abs and
            // leaky_relu), and an infinite grad outside gives 0, not the NaN of grad * 0.
            let inside = fused(&Tensor::ones(g.shape(), g.dtype()))?;
            return Ok(vec![Some(Ex::select(ex(&inside), ex(g), Ex::c(0.0)).done()?)]);
        }
        Ok(vec![Some(fused(g)?)])
    }
    fn differentiable(&self) -> bool {
        true
    }
}

/// `s - x` and `x * s` without autograd, for backward rules.
pub fn rsub_scalar(t: &Tensor, s: f64) -> Result<Tensor> {
    Ok(with_float!(t.dtype(), "rsub", T => map::<T, T>(t, move |x: T| c::<T>(s) - x)))
}
pub fn mul_scalar(t: &Tensor, s: f64) -> Result<Tensor> {
    if t.dtype().is_half() {
        return crate::ops::half::unary(t, |t| mul_scalar(t, s));
    }
    Ok(with_numeric!(t.dtype(), "mul", T => { let s = T::from_f64(s); map::<T, T>(t, move |x: T| x.wrapping_mul(s)) }))
}

/// The range of an integer dtype, as f64 (int64's ends round to +-2^63, which clamp nothing).
fn integer_range(d: DType) -> (f64, f64) {
    match d {
        DType::U8 => (0.0, u8::MAX as f64),
        DType::I8 => (i8::MIN as f64, i8::MAX as f64),
        DType::I16 => (i16::MIN as f64, i16::MAX as f64),
        DType::I32 => (i32::MIN as f64, i32::MAX as f64),
        _ => (i64::MIN as f64, i64::MAX as f64),
    }
}

/// `~x` / bitwise_not: bitwise on int64, logical on bool; floats have no bits to flip.
pub fn bitwise_not(t: &Tensor) -> Result<Tensor> {
    let out = match t.dtype() {
        d if d.is_integer() => crate::with_integer!(d, "bitwise_not", T => map::<T, T>(t, |x: T| T::from_i64(!x.to_i64()))),
        DType::Bool => map::<bool, bool>(t, |x| !x),
        d => crate::bail!(NotImplemented, "bitwise_not: not implemented for '{}' (shape {:?}); it takes integer or bool tensors", d.torch_name(), t.shape()),
    };
    crate::autograd::trace::log_op("bitwise_not", &[t], &out);
    Ok(out)
}

/// Logical not of a mask (nonzero is true).
pub fn logical_not(t: &Tensor) -> Result<Tensor> {
    let m = to_dtype(&t.detach(), DType::Bool)?;
    let out = map::<bool, bool>(&m, |x| !x);
    crate::autograd::trace::log_op("logical_not", &[t], &out);
    Ok(out)
}
