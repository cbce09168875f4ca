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
/// as a value; the lanes folded in halves. One select testing both (`b > a || b.is_nan()`)
/// compiled to 2-lane vectors filled element by element: rows of 64 (attention written out,
/// (B, H, 64, 64)) took 1.8x PyTorch's time.
#[inline(always)]
fn row_max<T: VMath>(row: &[T]) -> T {
    const L: usize = 32;
    let mut lanes = [T::neg_infinity(); L];
    let mut nans = [T::zero(); L];
    let (blocks, rest) = row.as_chunks::<L>();
    for c in blocks {
        for k in 0..L {
            let v = c[k];
            lanes[k] = if v > lanes[k] { v } else { lanes[k] };
            nans[k] = if v.is_nan() { v } else { nans[k] };
        }
    }
    let mut w = L / 2;
    while w > 0 {
        for k in 0..w {
            lanes[k] = if lanes[k + w] > lanes[k] { lanes[k + w] } else { lanes[k] };
            nans[k] = if nans[k + w].is_nan() { nans[k + w] } else { nans[k] };
        }
        w /= 2;
    }
    let pick = |a: T, b: T| if b > a || b.is_nan() { b } else { a };
    let m = rest.iter().fold(lanes[0], |a, &b| pick(a, b));
    if nans[0].is_nan() && !m.is_nan() { nans[0] } else { m }
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
    rest.iter().fold(fold_halves(sums), |a, &b| a + b)
}

/// The sum of 64 lanes, folded in halves (as `row_max`'s).
#[inline(always)]
fn fold_halves<T: VMath>(mut sums: [T; 64]) -> T {
    let mut w = 32;
    while w > 0 {
        for k in 0..w {
            sums[k] += sums[k + w];
        }
        w /= 2;
    }
    sums[0]
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
        let (mut m, mut part, mut s) = (vec![T::zero(); inner], vec![T::zero(); inner], vec![0f64; inner]);
        for (b, o) in out.chunks_mut(block).enumerate() {
            column(&x[start + b * block..][..block], o, &mut m, &mut part, &mut s, log);
        }
    })
}

#[inline(always)]
fn column_body<T: VMath, const FMA: bool>(x: &[T], o: &mut [MaybeUninit<T>], m: &mut [T], part: &mut [T], s: &mut [f64], log: bool) {
    let inner = m.len();
    // The max of each lane, NaN if the lane holds one (as `row_max`).
    m.fill(T::neg_infinity());
    for row in x.chunks_exact(inner) {
        for (mk, &v) in m.iter_mut().zip(row) {
            *mk = if v > *mk || (v.is_nan() && !mk.is_nan()) { v } else { *mk };
        }
    }
    s.fill(0.0);
    part.fill(T::zero());
    for (r, (row, orow)) in x.chunks_exact(inner).zip(o.chunks_exact_mut(inner)).enumerate() {
        for (((ok, &v), &mk), pk) in orow.iter_mut().zip(row).zip(m.iter()).zip(part.iter_mut()) {
            let e = (v - mk).exp_nonpositive_as::<FMA>();
            ok.write(e);
            *pk += e;
        }
        flush_every_64(r, part, s);
    }
    flush_every_64(63, part, s);
    // SAFETY: every element of `o` was written just above.
    let e: &mut [T] = unsafe { &mut *(o as *mut [MaybeUninit<T>] as *mut [T]) };
    if log {
        // (x - max) - log(sum), PyTorch's order of the two roundings.
        // s's lanes then hold values of T (log(sum), 1 / sum), exact in float64.
        s.iter_mut().for_each(|sk| *sk = T::from_f64(*sk).ln().to_f64());
        for (row, erow) in x.chunks_exact(inner).zip(e.chunks_exact_mut(inner)) {
            for (((ek, &v), &mk), &ls) in erow.iter_mut().zip(row).zip(m.iter()).zip(s.iter()) {
                *ek = v - mk - T::from_f64(ls);
            }
        }
    } else {
        s.iter_mut().for_each(|sk| *sk = (T::one() / T::from_f64(*sk)).to_f64());
        for erow in e.chunks_exact_mut(inner) {
            for (ek, &inv) in erow.iter_mut().zip(s.iter()) {
                *ek *= T::from_f64(inv);
            }
        }
    }
}

crate::multiversion!(column_body, column_avx2, column, VMath, (x: &[T], o: &mut [MaybeUninit<T>], m: &mut [T], part: &mut [T], s: &mut [f64], log: bool) -> ());

/// The gradient along the dim, from the saved output y and the incoming g (both contiguous):
/// y (g - sum(g y)) for softmax, g - exp(y) sum(g) for log_softmax, PyTorch's formulas. One
/// pass for the sums and one for the result, a block of `n` rows of `inner` values at a time
/// (`inner` 1: one row); the rule in ops took four passes and three temporaries (softmax(1) of
/// 512 x 2048, forward and backward: 3.6x PyTorch's time).
fn gradient<T: VMath>(y: &[T], g: &[T], n: usize, inner: usize, log: bool) -> Vec<T> {
    let block = n * inner;
    if block == 0 {
        return vec![T::zero(); y.len()];
    }
    build(y.len(), (GRAIN / block).max(1) * block, |start, out| {
        let (mut part, mut sums) = (vec![T::zero(); inner], vec![0f64; inner]);
        for (b, o) in out.chunks_mut(block).enumerate() {
            let at = start + b * block;
            gradient_block(&y[at..at + block], &g[at..at + block], o, &mut part, &mut sums, log);
        }
    })
}

#[inline(always)]
fn gradient_block_body<T: VMath, const FMA: bool>(y: &[T], g: &[T], o: &mut [MaybeUninit<T>], part: &mut [T], sums: &mut [f64], log: bool) {
    let inner = sums.len();
    if inner == 1 {
        let s = if log { row_sum(g) } else { row_dot(g, y) };
        for ((oi, &gi), &yi) in o.iter_mut().zip(g).zip(y) {
            oi.write(if log { gi - yi.exp_nonpositive_as::<FMA>() * s } else { yi * (gi - s) });
        }
        return;
    }
    sums.fill(0.0);
    part.fill(T::zero());
    for (r, (yr, gr)) in y.chunks_exact(inner).zip(g.chunks_exact(inner)).enumerate() {
        if log {
            part.iter_mut().zip(gr).for_each(|(s, &gk)| *s += gk);
        } else {
            part.iter_mut().zip(gr).zip(yr).for_each(|((s, &gk), &yk)| *s += gk * yk);
        }
        flush_every_64(r, part, sums);
    }
    flush_every_64(63, part, sums);
    for ((orow, gr), yr) in o.chunks_exact_mut(inner).zip(g.chunks_exact(inner)).zip(y.chunks_exact(inner)) {
        for (((ok, &gk), &yk), &s) in orow.iter_mut().zip(gr).zip(yr).zip(sums.iter()) {
            let s = T::from_f64(s);
            ok.write(if log { gk - yk.exp_nonpositive_as::<FMA>() * s } else { yk * (gk - s) });
        }
    }
}

crate::multiversion!(gradient_block_body, gradient_block_avx2, gradient_block, VMath, (y: &[T], g: &[T], o: &mut [MaybeUninit<T>], part: &mut [T], sums: &mut [f64], log: bool) -> ());

/// sum(a b) of a row in 64 lanes, as `row_sum`.
#[inline(always)]
fn row_dot<T: VMath>(a: &[T], b: &[T]) -> T {
    const L: usize = 64;
    let mut sums = [T::zero(); L];
    let (ab, ar) = a.as_chunks::<L>();
    let (bb, br) = b.as_chunks::<L>();
    for (x, y) in ab.iter().zip(bb) {
        for k in 0..L {
            sums[k] += x[k] * y[k];
        }
    }
    ar.iter().zip(br).fold(fold_halves(sums), |s, (&x, &y)| s + x * y)
}

/// Each lane of a column walk adds all n rows of its column one after the other: in T over 64
/// rows at a time (`part`), those sums added in float64 (`total`), so that a long dim (70000)
/// keeps T's precision (a float32 sum lost 5e-5 of log_softmax's output there) at T's speed
/// (summing every value in float64 was 1.4x slower).
#[inline(always)]
fn flush_every_64<T: VMath>(row: usize, part: &mut [T], total: &mut [f64]) {
    if row % 64 == 63 {
        for (t, p) in total.iter_mut().zip(part.iter_mut()) {
            *t += p.to_f64();
            *p = T::zero();
        }
    }
}

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
        let plain = matches!(y.dtype(), DType::F32 | DType::F64) && g.dtype() == y.dtype();
        if plain && !crate::autograd::is_recording() && y.ndim() > 0 && y.layout().is_contiguous() {
            let d = self.dim as usize;
            let (n, inner) = (y.shape()[d], y.shape()[d + 1..].iter().product::<usize>());
            let gi = with_float!(y.dtype(), "softmax backward", T => {
                let data = y.with_view::<T, _>(|yv| g.with_view::<T, _>(|gv| {
                    let y = &yv.data[yv.layout.offset..][..yv.layout.numel()];
                    gradient(y, &gv.contiguous(), n, inner, self.log)
                }));
                Tensor::from_vec_unchecked(data, y.shape())
            });
            return Ok(vec![Some(gi)]);
        }
        // While recording (create_graph), the rule in differentiable ops.
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
