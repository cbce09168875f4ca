//! softmax / log_softmax along one dim: one fused pass per row (max, sum of exp, write), with
//! their backward rules from the saved output.

#[allow(unused_imports)]
use num_traits::{Float as _, One as _, Zero as _};
use crate::autograd::{record, Backward, Saved};
use crate::error::Result;
use crate::ops::kernel::build;
use crate::ops::{binary, reduce, unary};
use crate::tensor::iter::GRAIN;
use crate::tensor::shape::wrap_dim;
use crate::tensor::{DType, Float, Tensor};
use crate::with_float;

fn rows<T: Float>(x: &[T], n: usize, log: bool) -> Vec<T> {
    let total = x.len();
    build(total, ((GRAIN / n.max(1)).max(1)) * n.max(1), |start, out| {
        for (r, o) in out.chunks_mut(n).enumerate() {
            let row = &x[start + r * n..start + (r + 1) * n];
            // The row's max, NaN if any element is NaN. Not replaced when infinite, as PyTorch:
            // a +inf entry makes x - max NaN and the whole row NaN; an all -inf row is NaN too.
            let m = row.iter().fold(T::neg_infinity(), |a, &b| if b > a || b.is_nan() { b } else { a });
            if log {
                let s: T = row.iter().map(|&v| (v - m).exp()).sum();
                let ls = s.ln();
                for (oi, &v) in o.iter_mut().zip(row) {
                    oi.write(v - m - ls);
                }
            } else {
                // exp once per element: written to the output, then scaled in place.
                let mut s = T::zero();
                for (oi, &v) in o.iter_mut().zip(row) {
                    let e = (v - m).exp();
                    s += e;
                    oi.write(e);
                }
                let inv = T::one() / s;
                for oi in o.iter_mut() {
                    // SAFETY: every element of this row was written just above.
                    unsafe { *oi.assume_init_mut() = *oi.assume_init_ref() * inv };
                }
            }
        }
    })
}

pub fn softmax(x: &Tensor, dim: isize, log: bool) -> Result<Tensor> {
    if x.dtype().is_half() {
        return crate::ops::half::unary(x, |x| softmax(x, dim, log));
    }
    let x = &if x.dtype().is_float() { x.clone() } else { crate::ops::cast::to_dtype(x, DType::F32)? };
    // A 0-d tensor takes dim 0 or -1, as PyTorch (which wraps dims as if it had one dim).
    let d = wrap_dim(dim, x.ndim().max(1), if log { "log_softmax" } else { "softmax" })?;
    let last = x.ndim().saturating_sub(1);
    // Work on rows: move `dim` last, compute, move it back (a view, no second copy).
    let moved = if d == last { x.detach() } else { x.detach().transpose(d as isize, last as isize)? };
    let n = if x.ndim() == 0 { 1 } else { moved.shape()[last] };
    let y = with_float!(x.dtype(), "softmax", T => {
        let data = moved.with_view::<T, _>(|v| rows(&v.contiguous(), n, log));
        Tensor::from_vec_unchecked(data, moved.shape())
    });
    let y = if d == last { y } else { y.transpose(d as isize, last as isize)? };
    let ys = y.clone();
    record(y, &[x], || Ok(Box::new(SoftmaxBackward { y: Saved::output(&ys)?, dim: d as isize, log })))
}

struct SoftmaxBackward {
    y: Saved,
    dim: isize,
    log: bool,
}
impl Backward for SoftmaxBackward {
    fn name(&self) -> &'static str {
        if self.log { "LogSoftmaxBackward0" } else { "SoftmaxBackward0" }
    }
    fn apply(&self, g: &Tensor, _needs: &[bool]) -> Result<Vec<Option<Tensor>>> {
        let y = &self.y.get()?;
        let dims: &[isize] = if y.ndim() == 0 { &[] } else { std::slice::from_ref(&self.dim) };
        let gi = if self.log {
            // g - softmax * sum(g)
            let s = reduce::sum(g, dims, true)?;
            binary::sub(g, &binary::mul(&unary::exp(y)?, &s)?)?
        } else {
            // y * (g - sum(g * y))
            let s = reduce::sum(&binary::mul(g, y)?, dims, true)?;
            binary::mul(y, &binary::sub(g, &s)?)?
        };
        Ok(vec![Some(gi)])
    }
    fn differentiable(&self) -> bool {
        true
    }
}
