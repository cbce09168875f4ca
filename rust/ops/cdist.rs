//! Euclidean `cdist` (p = 2) as one op: the distances between the rows of x1 (..., P, M) and of
//! x2 (..., R, M), as (..., P, R), each summed from its own coordinate differences.
//!
//! Written out of `x1[:, :, None] - x2[:, None]` and a norm it built the (B, P, R, M) difference
//! tensor, and again in backward: 11x PyTorch's time for 512 x 512 rows of 64. PyTorch itself,
//! past 25 rows, takes `sqrt(|x1|^2 + |x2|^2 - 2 x1 x2^T)` from a matrix product, which cancels
//! catastrophically for near points (rows 1e-4 apart at norm 8 come out 0 or 3e-3 in float32, and
//! their gradient with them). Here every distance is the sum of its squared differences, as
//! PyTorch's small-input path computes it, at any size: 4 rows by 16 columns of the result at a
//! time, x2 turned to (M, R) so the 16 columns are one vector.
//!
//! Backward is PyTorch's `_cdist_backward` for p = 2: with W = g / d (0 where d is 0),
//! dx1_i = sum_j W_ij (x1_i - x2_j) and dx2_j = sum_i W_ij (x2_j - x1_i), again from the
//! differences (the product form x1_i rowsum(W) - W x2 cancels the same way).

use std::mem::MaybeUninit;

use crate::autograd::{is_recording, record, Backward, Saved};
use crate::error::Result;
use crate::ops::expr::{ex, Ex};
use crate::ops::{binary, reduce};
use crate::parallel::{for_each_part, DisjointPtr};
use crate::tensor::{Float, Layout, Tensor};
use crate::vmath::madd;
use crate::{bail, with_float};

/// Result rows and columns one block of the forward holds in registers.
const ROWS: usize = 4;
const COLS: usize = 16;

/// Pair-coordinates (P R M) below which an op runs on the calling thread.
const PARALLEL_FROM: usize = 1 << 16;

/// The distances between x1's rows (..., P, M) and x2's (..., R, M), as (..., P, R): float32 or
/// float64 of one dtype, the same batch dims (the Python layer broadcasts them).
pub fn cdist_euclid(x1: &Tensor, x2: &Tensor) -> Result<Tensor> {
    let (s1, s2) = (x1.shape(), x2.shape());
    let n = s1.len();
    if n < 2 || s2.len() != n || s1[..n - 2] != s2[..n - 2] || s1[n - 1] != s2[n - 1] {
        bail!(Runtime, "cdist: expected x1 (..., P, M) and x2 (..., R, M) with the same batch dims, got {s1:?} and {s2:?}");
    }
    if x1.dtype() != x2.dtype() {
        bail!(Runtime, "cdist: X1 and X2 must have the same dtype, got {} and {}", x1.dtype().torch_name(), x2.dtype().torch_name());
    }
    let d = Dims { b: s1[..n - 2].iter().product(), p: s1[n - 2], r: s2[n - 2], m: s1[n - 1] };
    let mut shape = s1[..n - 2].to_vec();
    shape.extend([d.p, d.r]);
    let out = with_float!(x1.dtype(), "cdist", T => Tensor::from_vec_unchecked(forward::<T>(&x1.to_vec(), &x2.to_vec(), d), &shape));
    let saved = out.clone();
    record(out, &[x1, x2], || Ok(Box::new(CdistBackward { x1: Saved::new(x1)?, x2: Saved::new(x2)?, out: Saved::output(&saved)?, d })))
}

#[derive(Clone, Copy, Debug)]
struct Dims {
    b: usize,
    p: usize,
    r: usize,
    m: usize,
}

/// (M, R) of each batch's (R, M) rows: the tiled (and for 4-byte elements register-transposed)
/// gather of `x.t().contiguous()`.
fn turned<T: Float>(x: &[T], batches: usize, r: usize, m: usize) -> Vec<T> {
    let layout = Layout { shape: vec![batches, m, r], strides: vec![r * m, 1, m], offset: 0 };
    crate::tensor::iter::gather(x, &layout)
}

fn forward<T: Float>(x1: &[T], x2: &[T], d: Dims) -> Vec<T> {
    let Dims { b, p, r, m } = d;
    let x2t = turned(x2, b, r, m);
    let mut out = crate::tensor::alloc::with_capacity::<T>(b * p * r);
    let dst = DisjointPtr(out.spare_capacity_mut().as_mut_ptr());
    let blocks = p.div_ceil(ROWS);
    let block = |item: usize| {
        let (bi, i0) = (item / blocks, item % blocks * ROWS);
        let rows = ROWS.min(p - i0);
        let a = &x1[(bi * p + i0) * m..(bi * p + i0 + rows) * m];
        // SAFETY: block (bi, i0) writes rows i0 .. i0 + rows of batch bi's result, its own.
        let o = unsafe { std::slice::from_raw_parts_mut(dst.get().add((bi * p + i0) * r), rows * r) };
        distance_rows(a, rows, m, &x2t[bi * m * r..(bi + 1) * m * r], r, o);
    };
    run(b * blocks, b * p * r * m, &block);
    // SAFETY: every block wrote its rows, and the blocks cover every batch's P rows.
    unsafe { out.set_len(b * p * r) };
    out
}

/// `f(0) .. f(items - 1)`, across the pool when the work is large enough to gain from it.
fn run(items: usize, work: usize, f: &(dyn Fn(usize) + Sync)) {
    if work < PARALLEL_FROM || items < 2 {
        (0..items).for_each(f);
    } else {
        for_each_part(items, f);
    }
}

/// Distances from the `rows` rows of `a` (each M long) to the R columns of `bt` (M, R), into `out`
/// (rows, R). Each distance is sqrt of its squared differences added in coordinate order, the
/// same in a whole block as at the edges.
#[inline(always)]
fn distance_rows_body<T: Float, const FMA: bool>(a: &[T], rows: usize, m: usize, bt: &[T], r: usize, out: &mut [MaybeUninit<T>]) {
    let mut j0 = 0;
    while rows == ROWS && j0 + COLS <= r {
        let mut acc = [[T::zero(); COLS]; ROWS];
        for k in 0..m {
            let col: &[T; COLS] = bt[k * r + j0..k * r + j0 + COLS].try_into().expect("a whole block of columns");
            for (q, acc) in acc.iter_mut().enumerate() {
                let v = a[q * m + k];
                for (s, &w) in acc.iter_mut().zip(col) {
                    let diff = v - w;
                    *s = madd::<T, FMA>(diff, diff, *s);
                }
            }
        }
        for (q, acc) in acc.iter().enumerate() {
            for (o, s) in out[q * r + j0..q * r + j0 + COLS].iter_mut().zip(acc) {
                o.write(s.sqrt());
            }
        }
        j0 += COLS;
    }
    for q in 0..rows {
        for j in j0..r {
            let mut s = T::zero();
            for k in 0..m {
                let diff = a[q * m + k] - bt[k * r + j];
                s = madd::<T, FMA>(diff, diff, s);
            }
            out[q * r + j].write(s.sqrt());
        }
    }
}

crate::multiversion!(distance_rows_body, distance_rows_avx2, distance_rows, Float, (a: &[T], rows: usize, m: usize, bt: &[T], r: usize, out: &mut [MaybeUninit<T>]) -> ());

/// acc + w (b - v), lane by lane.
#[inline(always)]
fn weighted_gaps<T: Float, const FMA: bool>(mut acc: [T; COLS], w: &[T; COLS], b: &[T; COLS], v: T) -> [T; COLS] {
    for ((s, &wj), &bj) in acc.iter_mut().zip(w).zip(b) {
        *s = madd::<T, FMA>(wj, bj - v, *s);
    }
    acc
}

/// Coordinates of a row the backward kernel takes at once.
const KS: usize = 4;

/// One batch's gradient for 16 rows j0.. of x2 (fewer at the edge), turned: out (M, width) gets,
/// for each k and j, sum over i of w_ij (x2_jk - x1_ik), i in order, so w's rows are read as they
/// lie. `bt` holds x2 turned to (M, R). With the roles swapped (x2 for x1, W turned) the same
/// sums are x1's gradient.
#[inline(always)]
fn gradient_block_body<T: Float, const FMA: bool>(x1: &[T], m: usize, bt: &[T], w: &[T], r: usize, j0: usize, out: &mut [T]) {
    let width = COLS.min(r - j0);
    // w holds this batch's (P, R) weights.
    let p = w.len() / r.max(1);
    let mut k0 = 0;
    while k0 < m {
        let ks = KS.min(m - k0);
        let mut acc = [[T::zero(); COLS]; KS];
        let mut col = [[T::zero(); COLS]; KS];
        for (q, c) in col.iter_mut().enumerate().take(ks) {
            c[..width].copy_from_slice(&bt[(k0 + q) * r + j0..(k0 + q) * r + j0 + width]);
        }
        if ks == KS && width == COLS {
            // The whole block, with fixed-size loops that keep `acc` in registers (a variable
            // width or count kept it in memory, at a third of the speed).
            // Sums as values, not through `&mut acc`: through the references every step stored
            // all four to the stack (half the kernel's time).
            let [mut a0, mut a1, mut a2, mut a3] = acc;
            for (wrow, xrow) in w.chunks_exact(r).zip(x1.chunks_exact(m)).take(p) {
                let wv: &[T; COLS] = wrow[j0..j0 + COLS].try_into().expect("a whole block of columns");
                let v: &[T; KS] = xrow[k0..k0 + KS].try_into().expect("a whole block of coordinates");
                // One call per coordinate, each a 16-lane loop (as one loop over both, LLVM
                // vectorised across the four coordinates with gathers, 9x slower).
                a0 = weighted_gaps::<T, FMA>(a0, wv, &col[0], v[0]);
                a1 = weighted_gaps::<T, FMA>(a1, wv, &col[1], v[1]);
                a2 = weighted_gaps::<T, FMA>(a2, wv, &col[2], v[2]);
                a3 = weighted_gaps::<T, FMA>(a3, wv, &col[3], v[3]);
            }
            acc = [a0, a1, a2, a3];
        } else {
            gradient_edge::<T, FMA>(x1, m, w, r, (j0, width), (k0, ks), &col, &mut acc);
        }
        for (q, acc) in acc.iter().enumerate().take(ks) {
            out[(k0 + q) * width..(k0 + q + 1) * width].copy_from_slice(&acc[..width]);
        }
        k0 += ks;
    }
}

/// `gradient_block`'s sums for a block at the edge: fewer than 16 columns or 4 coordinates.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn gradient_edge<T: Float, const FMA: bool>(x1: &[T], m: usize, w: &[T], r: usize, (j0, width): (usize, usize), (k0, ks): (usize, usize), col: &[[T; COLS]; KS], acc: &mut [[T; COLS]; KS]) {
    for i in 0..w.len() / r.max(1) {
        let mut wv = [T::zero(); COLS];
        wv[..width].copy_from_slice(&w[i * r + j0..i * r + j0 + width]);
        for q in 0..ks {
            let v = x1[i * m + k0 + q];
            for ((s, &wj), &bj) in acc[q].iter_mut().zip(&wv).zip(&col[q]) {
                *s = madd::<T, FMA>(wj, bj - v, *s);
            }
        }
    }
}

crate::multiversion!(gradient_block_body, gradient_block_avx2, gradient_block, Float, (x1: &[T], m: usize, bt: &[T], w: &[T], r: usize, j0: usize, out: &mut [T]) -> ());

/// W = g / d over a stretch, 0 where d is 0 (PyTorch's rule: a zero distance passes no gradient).
#[inline(always)]
fn weights_body<T: Float, const FMA: bool>(g: &[T], dist: &[T], out: &mut [MaybeUninit<T>]) {
    for ((o, &gv), &d) in out.iter_mut().zip(g).zip(dist) {
        // A division by 1 where d is 0, then the select: both branch-free, so the loop vectorises.
        let q = gv / T::select(d == T::zero(), T::one(), d);
        o.write(T::select(d == T::zero(), T::zero(), q));
    }
}

crate::multiversion!(weights_body, weights_avx2, weights_part, Float, (g: &[T], dist: &[T], out: &mut [MaybeUninit<T>]) -> ());

fn weights<T: Float>(g: &[T], dist: &[T]) -> Vec<T> {
    const CHUNK: usize = 1 << 15;
    let mut w = crate::tensor::alloc::with_capacity(dist.len());
    crate::parallel::for_each_chunk_mut(&mut w.spare_capacity_mut()[..dist.len()], CHUNK, &|c, part| {
        let at = c * CHUNK;
        weights_part(&g[at..at + part.len()], &dist[at..at + part.len()], part);
    });
    // SAFETY: the chunks wrote every element.
    unsafe { w.set_len(dist.len()) };
    w
}

struct CdistBackward {
    x1: Saved,
    x2: Saved,
    out: Saved,
    d: Dims,
}

impl Backward for CdistBackward {
    fn name(&self) -> &'static str {
        "CdistBackward0"
    }
    fn apply(&self, g: &Tensor, needs: &[bool]) -> Result<Vec<Option<Tensor>>> {
        let (x1, x2, dist) = (self.x1.get()?, self.x2.get()?, self.out.get()?);
        if is_recording() {
            return recorded(g, &x1, &x2, &dist, needs);
        }
        with_float!(x1.dtype(), "cdist backward", T => Ok(fused::<T>(g, &x1, &x2, &dist, self.d, needs)))
    }
    fn differentiable(&self) -> bool {
        true
    }
}

/// dx1 and dx2 from the differences (see the module docs).
fn fused<T: Float>(g: &Tensor, x1: &Tensor, x2: &Tensor, dist: &Tensor, d: Dims, needs: &[bool]) -> Vec<Option<Tensor>> {
    // Read in place where contiguous (x1, x2 and the distances are; g often an expanded scalar).
    Tensor::with_slices::<T, _>(&[g, dist, x1, x2], |s| fused_on(s[0], s[1], s[2], s[3], (x1.shape(), x2.shape()), d, needs))
}

fn fused_on<T: Float>(g: &[T], dist: &[T], a: &[T], c: &[T], (s1, s2): (&[usize], &[usize]), Dims { b, p, r, m }: Dims, needs: &[bool]) -> Vec<Option<Tensor>> {
    let w = weights(g, dist);
    // x1's gradient is x2's with the roles swapped: W turned, x1 turned, x2's rows walked. (Row
    // by row over x1, with x2's (M, R) columns as the lanes, each step read a block of every
    // coordinate's column from L2: 3x the time of this form, which keeps its columns in registers.)
    let g1 = needs[0].then(|| Tensor::from_vec_unchecked(grad_by_columns(c, &turned(a, b, p, m), &turned(&w, b, p, r), (b, r, p, m)), s1));
    let g2 = needs[1].then(|| Tensor::from_vec_unchecked(grad_by_columns(a, &turned(c, b, r, m), &w, (b, p, r, m)), s2));
    vec![g1, g2]
}

/// The gradient of the N rows `own` turned to (B, M, N), against the Q rows `other` (B, Q, M)
/// with weights w (B, Q, N): row j gets the sum over i of w_ij (own_j - other_i), as (B, N, M).
/// Each item sums a block of 16 of own's rows turned, (M, 16), and writes it back as rows.
fn grad_by_columns<T: Float>(other: &[T], own_t: &[T], w: &[T], (b, q, n, m): (usize, usize, usize, usize)) -> Vec<T> {
    let blocks = n.div_ceil(COLS);
    let mut out = vec![T::zero(); b * n * m];
    let dst = DisjointPtr(out.as_mut_ptr());
    run(b * blocks, b * q * n * m, &|item| {
        let (bi, j0) = (item / blocks, item % blocks * COLS);
        let width = COLS.min(n - j0);
        let mut o = vec![T::zero(); m * width];
        let (ob, wb) = (&other[bi * q * m..(bi + 1) * q * m], &w[bi * q * n..(bi + 1) * q * n]);
        gradient_block(ob, m, &own_t[bi * m * n..(bi + 1) * m * n], wb, n, j0, &mut o);
        // SAFETY: item writes rows j0 .. j0 + width of batch bi, its own.
        let rows = unsafe { std::slice::from_raw_parts_mut(dst.get().add((bi * n + j0) * m), width * m) };
        for (l, row) in rows.chunks_exact_mut(m.max(1)).enumerate() {
            for (k, v) in row.iter_mut().enumerate() {
                *v = o[k * width + l];
            }
        }
    });
    out
}

/// The same rule from recorded ops (a backward with create_graph), through the (B, P, R, M)
/// differences: W is g / d with the division by 1 where d is 0 (as `NormBackward`), so the
/// second derivative meets no 0 * inf there.
fn recorded(g: &Tensor, x1: &Tensor, x2: &Tensor, dist: &Tensor, needs: &[bool]) -> Result<Vec<Option<Tensor>>> {
    let zero = ex(dist).eq(0.0);
    let w = Ex::select(zero.clone(), Ex::c(0.0), ex(g) / Ex::select(zero, Ex::c(1.0), ex(dist))).done()?;
    let diff = binary::sub(&x1.unsqueeze(-2)?, &x2.unsqueeze(-3)?)?;
    let weighted = binary::mul(&w.unsqueeze(-1)?, &diff)?;
    let g1 = if needs[0] { Some(reduce::sum(&weighted, &[-2], false)?) } else { None };
    let g2 = if needs[1] { Some((-ex(&reduce::sum(&weighted, &[-3], false)?)).done()?) } else { None };
    Ok(vec![g1, g2])
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each distance from the float64 sum of its squared differences, at sizes with whole
    /// blocks, edge rows and edge columns, several batches, and M = 0.
    #[test]
    fn distances_match_their_differences() {
        let mut seed = 7u64;
        let mut next = || {
            seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            ((seed >> 40) as f32 / (1u64 << 24) as f32) * 4.0 - 2.0
        };
        for (b, p, r, m) in [(1, 4, 16, 3), (2, 7, 37, 5), (3, 1, 1, 1), (1, 9, 50, 0), (2, 130, 70, 33)] {
            let x1: Vec<f32> = (0..b * p * m).map(|_| next()).collect();
            let x2: Vec<f32> = (0..b * r * m).map(|_| next()).collect();
            let out = forward(&x1, &x2, Dims { b, p, r, m });
            for bi in 0..b {
                for i in 0..p {
                    for j in 0..r {
                        let want: f64 = (0..m).map(|k| (x1[(bi * p + i) * m + k] as f64 - x2[(bi * r + j) * m + k] as f64).powi(2)).sum::<f64>().sqrt();
                        let got = out[(bi * p + i) * r + j] as f64;
                        assert!((got - want).abs() <= 1e-6 * (1.0 + want), "({b},{p},{r},{m}) [{bi},{i},{j}]: {got} vs {want}");
                    }
                }
            }
        }
    }
}
