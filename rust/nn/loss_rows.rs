//! cross_entropy's gradient rows, in parallel over rows and vectorised within one (`vmath`'s
//! exp, compiled also for AVX2 + FMA and AVX-512); the forward's per-row log-sum-exp is
//! `softmax::row_logsumexp`. Through f64 libm both were a scalar exp per logit on one thread:
//! 12x PyTorch's time on 512 rows of 2048 classes.

use std::mem::MaybeUninit;

#[allow(unused_imports)]
use num_traits::{Float as _, One as _, Zero as _};

use crate::ops::kernel::build;
use crate::tensor::iter::GRAIN;
use crate::vmath::VMath;

/// One row's gradient: `o[k] = a p[k] - b w[k]` with p = exp((x - max) - logsum), then
/// `o[t] -= hit` (`t` None for an ignored row). With a = 0 (an ignored row) o is 0, NaN where
/// the log-probability is.
pub(super) struct GradRow<'a, T> {
    pub max: T,
    pub logsum: T,
    pub a: T,
    /// The smoothing term's factor (0 without label smoothing) and the class weights.
    pub b: T,
    pub w: &'a [T],
    pub t: Option<usize>,
    pub hit: T,
}

#[inline(always)]
fn grad_body<T: VMath, const FMA: bool>(row: &[T], o: &mut [MaybeUninit<T>], g: &GradRow<'_, T>) {
    for (oi, &v) in o.iter_mut().zip(row) {
        oi.write(g.a * ((v - g.max) - g.logsum).exp_as::<FMA>());
    }
    // SAFETY: every element of `o` was written just above.
    let o: &mut [T] = unsafe { &mut *(o as *mut [MaybeUninit<T>] as *mut [T]) };
    if g.b != T::zero() {
        for (oi, &wk) in o.iter_mut().zip(g.w) {
            *oi = *oi - g.b * wk;
        }
    }
    if let Some(t) = g.t {
        o[t] = o[t] - g.hit;
    }
}

crate::multiversion!(grad_body, grad_avx2, grad_row, VMath, (row: &[T], o: &mut [MaybeUninit<T>], g: &GradRow<'_, T>) -> ());

/// Every row's gradient (`make(i)` gives row i's constants), in parallel over rows.
pub(super) fn grad_rows<'w, T: VMath>(x: &[T], c: usize, make: impl Fn(usize) -> GradRow<'w, T> + Sync) -> Vec<T> {
    build(x.len(), (GRAIN / c.max(1)).max(1) * c.max(1), |start, out| {
        for (r, o) in out.chunks_mut(c).enumerate() {
            let i = start / c + r;
            grad_row(&x[i * c..(i + 1) * c], o, &make(i));
        }
    })
}
