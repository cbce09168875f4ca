//! softmax / log_softmax along one dim: per row, vectorised passes (max, exp, sum, scale) over
//! data in cache, compiled also for AVX2 + FMA; their backward rules from the saved output.

#[allow(unused_imports)]
use num_traits::{Float as _, One as _, Zero as _};
use crate::autograd::{record, Backward, Saved};
use crate::error::Result;
use crate::ops::kernel::build;
use crate::ops::{binary, reduce, unary};
use crate::tensor::iter::GRAIN;
use crate::tensor::shape::wrap_dim;
use crate::tensor::{DType, Element, Tensor};
use crate::vmath::VMath;
use std::mem::MaybeUninit;
use crate::with_float;

fn rows<T: VMath>(x: &[T], n: usize, log: bool) -> Vec<T> {
    let total = x.len();
    build(total, ((GRAIN / n.max(1)).max(1)) * n.max(1), |start, out| {
        for (r, o) in out.chunks_mut(n).enumerate() {
            row(&x[start + r * n..start + (r + 1) * n], o, log);
        }
    })
}

/// The row's max, NaN if any element is NaN: the plain maximum in 32 lanes (two 512-bit
/// vectors of float32, so that two compare chains overlap) and, apart, each lane's last NaN kept
/// as a value. As 8 lanes with a bool per lane for the NaNs, the loop compiled to 128-bit halves
/// and extracts: a sixth of a 4096 x 1024 softmax.
#[inline(always)]
fn row_max<T: VMath>(row: &[T]) -> T {
    const L: usize = 32;
    let pick = |a: T, b: T| if b > a || b.is_nan() { b } else { a };
    let mut lanes = [T::neg_infinity(); L];
    let (blocks, rest) = row.as_chunks::<L>();
    for c in blocks {
        for k in 0..L {
            lanes[k] = pick(lanes[k], c[k]);
        }
    }
    rest.iter().fold(lanes.into_iter().fold(T::neg_infinity(), pick), |a, &b| pick(a, b))
}

/// The sum of `e` in 64 lanes (four vectors of float32 adding independently; one vector of 8
/// lanes waited on its own previous add at every step), then the lanes and the rest in order.
#[inline(always)]
fn row_sum<T: VMath>(e: &[T]) -> T {
    const L: usize = 64;
    let mut sums = [T::zero(); L];
    let (blocks, rest) = e.as_chunks::<L>();
    for c in blocks {
        for k in 0..L {
            sums[k] += c[k];
        }
    }
    rest.iter().fold(sums.into_iter().fold(T::zero(), |a, b| a + b), |a, &b| a + b)
}

/// One row, in lanes so that max and sum vectorise (and the exp is `vmath`'s).
#[inline(always)]
fn row_body<T: VMath, const FMA: bool>(row: &[T], o: &mut [MaybeUninit<T>], log: bool) {
    // Not replaced when infinite, as PyTorch: a +inf entry makes x - max NaN and the whole row
    // NaN; an all -inf row is NaN too.
    let m = row_max(row);
    // Simple passes, each of which vectorises (one loop doing exp, sum and write did not):
    // exp into the output, its sum in lanes, then the scale (or, for log_softmax, the output
    // replaced by x - max - log(sum)).
    for (oi, &v) in o.iter_mut().zip(row) {
        oi.write((v - m).exp_nonpositive_as::<FMA>());
    }
    // SAFETY: every element of `o` was written just above.
    let e: &mut [T] = unsafe { &mut *(o as *mut [MaybeUninit<T>] as *mut [T]) };
    let s = row_sum(e);
    if log {
        // (x - max) - log(sum), PyTorch's order of the two roundings.
        let ls = s.ln();
        for (oi, &v) in e.iter_mut().zip(row) {
            *oi = v - m - ls;
        }
    } else {
        let inv = T::one() / s;
        for oi in e.iter_mut() {
            *oi *= inv;
        }
    }
}

crate::multiversion!(row_body, row_avx2, row, VMath, (x: &[T], o: &mut [MaybeUninit<T>], log: bool) -> ());

/// Softmax along a dim that is not the last: each block of `n` rows of `inner` values, the rows
/// walked in order with `inner` lanes (max, then exp and sum, then the scale), so the output is
/// contiguous and every loop is over contiguous memory. It was a transposed copy, the row
/// kernel, and a transposed result (softmax(0) of 512 x 2048: 2.9x PyTorch's time).
fn columns<T: VMath>(x: &[T], n: usize, inner: usize, log: bool) -> Vec<T> {
    let block = n * inner;
    if block == 0 {
        return Vec::new();
    }
    crate::ops::kernel::build(x.len(), (GRAIN / block).max(1) * block, |start, out| {
        let mut stats = vec![T::zero(); 2 * inner];
        for (b, o) in out.chunks_mut(block).enumerate() {
            column(&x[start + b * block..][..block], o, &mut stats, log);
        }
    })
}

#[inline(always)]
fn column_body<T: VMath, const FMA: bool>(x: &[T], o: &mut [MaybeUninit<T>], stats: &mut [T], log: bool) {
    let inner = stats.len() / 2;
    let (m, s) = stats.split_at_mut(inner);
    // The max of each lane, NaN if the lane holds one (as `row_max`).
    m.fill(T::neg_infinity());
    for row in x.chunks_exact(inner) {
        for (mk, &v) in m.iter_mut().zip(row) {
            *mk = if v > *mk || (v.is_nan() && !mk.is_nan()) { v } else { *mk };
        }
    }
    s.fill(T::zero());
    for (row, orow) in x.chunks_exact(inner).zip(o.chunks_exact_mut(inner)) {
        for (((ok, &v), &mk), sk) in orow.iter_mut().zip(row).zip(m.iter()).zip(s.iter_mut()) {
            let e = (v - mk).exp_nonpositive_as::<FMA>();
            ok.write(e);
            *sk += e;
        }
    }
    // SAFETY: every element of `o` was written just above.
    let e: &mut [T] = unsafe { &mut *(o as *mut [MaybeUninit<T>] as *mut [T]) };
    if log {
        // (x - max) - log(sum), PyTorch's order of the two roundings.
        s.iter_mut().for_each(|sk| *sk = sk.ln());
        for (row, erow) in x.chunks_exact(inner).zip(e.chunks_exact_mut(inner)) {
            for (((ek, &v), &mk), &ls) in erow.iter_mut().zip(row).zip(m.iter()).zip(s.iter()) {
                *ek = v - mk - ls;
            }
        }
    } else {
        s.iter_mut().for_each(|sk| *sk = T::one() / *sk);
        for erow in e.chunks_exact_mut(inner) {
            for (ek, &inv) in erow.iter_mut().zip(s.iter()) {
                *ek *= inv;
            }
        }
    }
}

crate::multiversion!(column_body, column_avx2, column, VMath, (x: &[T], o: &mut [MaybeUninit<T>], stats: &mut [T], log: bool) -> ());

/// log(sum(exp(row))) of every row of `c` logits as (max, log(sum(exp(row - max)))), the two
/// parts PyTorch's log_softmax subtracts one after the other (their float32 sum would round:
/// the rows of 1e4 lost 3e-4 of every probability). As log_softmax sees it: NaN when the row
/// holds a NaN or a +inf (x - max is then NaN), -inf for an all -inf row. The exponentials are
/// the input's precision (within 2 ulp), their sum float64.
pub(crate) fn row_logsumexp<T: VMath>(x: &[T], c: usize) -> Vec<(f64, f64)> {
    let rows = x.len().checked_div(c).unwrap_or(0);
    crate::ops::kernel::build_weighted(rows, c, (GRAIN / c.max(1)).max(1), |start, out| {
        // The row's exponentials go through a buffer: a loop that only writes them vectorises,
        // one that also summed them stayed scalar.
        let mut scratch = vec![T::zero(); c];
        for (r, o) in out.iter_mut().enumerate() {
            let i = start + r;
            o.write(lse(&x[i * c..(i + 1) * c], &mut scratch));
        }
    })
}

#[inline(always)]
fn lse_body<T: VMath, const FMA: bool>(row: &[T], scratch: &mut [T]) -> (f64, f64) {
    let m = row_max(row);
    if m.is_nan() || m == T::infinity() {
        return (f64::NAN, f64::NAN);
    }
    // An all -inf row sums e^(-inf - 0) = 0 and gives -inf.
    let m0 = if m.is_finite() { m } else { T::zero() };
    for (e, &v) in scratch.iter_mut().zip(row) {
        *e = (v - m0).exp_nonpositive_as::<FMA>();
    }
    // Summed in the input's precision in lanes over blocks of 64, each block's sum added in
    // float64.
    let (blocks, rest) = scratch[..row.len()].as_chunks::<8>();
    let mut s = 0f64;
    for group in blocks.chunks(8) {
        let mut sums = [T::zero(); 8];
        for b in group {
            for k in 0..8 {
                sums[k] += b[k];
            }
        }
        s += sums.iter().map(|&v| Element::to_f64(v)).sum::<f64>();
    }
    let s = rest.iter().fold(s, |s, &v| s + Element::to_f64(v));
    (Element::to_f64(m0), s.ln())
}

crate::multiversion!(lse_body, lse_avx2, lse, VMath, (row: &[T], scratch: &mut [T]) -> (f64, f64));

pub fn softmax(x: &Tensor, dim: isize, log: bool) -> Result<Tensor> {
    if x.dtype().is_half() {
        return crate::ops::half::unary(x, |x| softmax(x, dim, log));
    }
    let x = &if x.dtype().is_float() { x.clone() } else { crate::ops::cast::to_dtype(x, DType::F32)? };
    // A 0-d tensor takes dim 0 or -1, as PyTorch (which wraps dims as if it had one dim).
    let d = wrap_dim(dim, x.ndim().max(1), if log { "log_softmax" } else { "softmax" })?;
    let shape = x.shape();
    let n = shape.get(d).copied().unwrap_or(1);
    let inner: usize = shape.iter().skip(d + 1).product();
    let y = with_float!(x.dtype(), "softmax", T => {
        let data = x.with_view::<T, _>(|v| if inner == 1 { rows(&v.contiguous(), n, log) } else { columns(&v.contiguous(), n, inner, log) });
        Tensor::from_vec_unchecked(data, shape)
    });
    let ys = y.clone();
    record(y, &[x], || Ok(Box::new(SoftmaxBackward { y: Saved::output(&ys)?, dim: d as isize, log })))
}

struct SoftmaxBackward {
    y: Saved,
    dim: isize,
    log: bool,
}
impl Backward for SoftmaxBackward {
    fn attrs(&self) -> crate::autograd::trace::Attrs {
        crate::attrs![("dim", self.dim)]
    }
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
