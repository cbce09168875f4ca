//! Activations that were compositions of several passes (`where`, `expm1`, comparisons), each
//! one fused pass forward and one backward: ELU and SELU, Softplus at PyTorch's defaults, Mish,
//! Hardswish and Hardsigmoid. Each row follows PyTorch's CPU kernel branch for branch, so a
//! NaN and the kinks take the same side as there (the cases the Python compositions they
//! replace were written to get right; see nn/_functional_activation.py). Forward and backward
//! are one `unary_op!` row each; `python/nn.rs` reaches them by name (`_activation`).

#[allow(unused_imports)]
use num_traits::{Float as _, One as _, Zero as _};

use crate::ops::unary::{c, unary_op};

/// SELU's constants (Klambauer et al. 2017), as PyTorch spells them.
const SELU_ALPHA: f64 = 1.673_263_242_354_377_2;
const SELU_SCALE: f64 = 1.050_700_987_355_480_5;
/// PyTorch's hardsigmoid_backward multiplies by the float literal 1.0f / 6 for every dtype.
const ONE_SIXTH_F32: f64 = 0.166_666_671_633_720_4;

/// min(max(x + 3, 0), 6) with PyTorch's comparisons, so a NaN stays NaN (the hard gates).
#[inline(always)]
fn shifted_clamp<T: crate::tensor::Float>(x: T) -> T {
    let r = x + c::<T>(3.0);
    let r = if r < T::zero() { T::zero() } else { r };
    if r > c::<T>(6.0) { c::<T>(6.0) } else { r }
}

unary_op!(
    elu,
    EluBackward,
    "EluBackward0",
    save: input,
    // PyTorch's elu kernel at alpha 1: x <= 0 ? expm1(x) : x (a NaN takes the linear side).
    |x| if x <= T::zero() { vexpm1(x) } else { x },
    |g, x| if x <= T::zero() { g * vexp(x) } else { g },
    graph: |g, x| Ex::select(x.clone().le(0.0), g.clone() * x.exp(), g)
);
unary_op!(
    selu,
    SeluBackward,
    "EluBackward0",
    save: input,
    |x| if x <= T::zero() { vexpm1(x) * c::<T>(SELU_ALPHA * SELU_SCALE) } else { x * c::<T>(SELU_SCALE) },
    |g, x| if x <= T::zero() { g * c::<T>(SELU_ALPHA * SELU_SCALE) * vexp(x) } else { g * c::<T>(SELU_SCALE) },
    graph: |g, x| Ex::select(x.clone().le(0.0), g.clone() * x.exp() * (SELU_ALPHA * SELU_SCALE), g * SELU_SCALE)
);
unary_op!(
    softplus_default,
    SoftplusDefaultBackward,
    "SoftplusBackward0",
    save: input,
    // beta 1, threshold 20 (PyTorch's defaults): x above 20, else max(x, 0) + ln(1 + e^-|x|),
    // which keeps e^x's relative accuracy far below 0. The derivative is sigmoid(x).
    |x| if x > c::<T>(20.0) { x } else { x.max(T::zero()) + vlog1p_unit(vexp(-x.abs())) },
    |g, x| if x > c::<T>(20.0) { g } else { g * vsigmoid(x) },
    graph: |g, x| Ex::select(x.clone().gt(20.0), g.clone(), g * x.sigmoid())
);
unary_op!(
    mish,
    MishBackward,
    "MishBackward0",
    save: input,
    // x tanh(ln(1 + n)) with n = e^x is x w / (w + 2), w = n (n + 2): one exp and a division.
    // Above 20 the factor is 1 in both float32 and float64 (and n^2 would overflow from 44).
    |x| {
        let n = vexp(if x > c::<T>(20.0) { c::<T>(20.0) } else { x });
        let w = n * (n + c::<T>(2.0));
        if x > c::<T>(20.0) { x } else { x * (w / (w + c::<T>(2.0))) }
    },
    // PyTorch's: t + x sigmoid(x) (1 - t^2) with t = tanh(softplus(x)); 1 - t^2 as written,
    // so that +-inf give NaN as there.
    |g, x| {
        let n = vexp(if x > c::<T>(20.0) { c::<T>(20.0) } else { x });
        let w = n * (n + c::<T>(2.0));
        let t = w / (w + c::<T>(2.0));
        g * (t + x * vsigmoid(x) * (T::one() - t * t))
    },
    graph: |g, x| {
        let t = (1.0 + x.clone().exp()).ln().tanh();
        g * (t.clone() + x.clone() * x.sigmoid() * (1.0 - t.clone() * t))
    }
);
unary_op!(
    hardswish,
    HardswishBackward,
    "HardswishBackward0",
    save: input,
    // x * min(max(x + 3, 0), 6) / 6, in PyTorch's order.
    |x| x * shifted_clamp(x) / c::<T>(6.0),
    // 0 up to -3, x / 3 + 1/2 strictly inside, g from 3 up and at a NaN.
    |g, x| if x <= c::<T>(-3.0) { T::zero() } else if x < c::<T>(3.0) { g * (x / c::<T>(3.0) + c::<T>(0.5)) } else { g },
    graph: |g, x| Ex::select(x.clone().le(-3.0), Ex::c(0.0), Ex::select(x.clone().lt(3.0), g.clone() * (x * (1.0 / 3.0) + 0.5), g))
);
unary_op!(
    hardsigmoid,
    HardsigmoidBackward,
    "HardsigmoidBackward0",
    save: input,
    |x| shifted_clamp(x) / c::<T>(6.0),
    // 1/6 (float32's literal) strictly inside (-3, 3); 0 elsewhere and at a NaN.
    |g, x| if x > c::<T>(-3.0) && x < c::<T>(3.0) { g * c::<T>(ONE_SIXTH_F32) } else { T::zero() },
    graph: |g, x| Ex::select(x.clone().gt(-3.0), Ex::select(x.lt(3.0), g * ONE_SIXTH_F32, Ex::c(0.0)), Ex::c(0.0))
);
