//! The one way ferrograd calls the `gemm` crate: strided operands, optional accumulation, and
//! its own split of the work across threads.
//!
//! Why not `gemm::Parallelism::Rayon`: for the products small models make (a 64x784 batch times
//! a 784x256 weight, 12.8 M multiply-adds) the crate's internal threading synchronises per block
//! and ran at half the speed of one thread on the 2-core machine the benchmarks use (66 vs 134
//! GFLOP/s, timing the crate directly on that shape). Cutting the output into one slab per
//! thread, each a single-threaded product over whole rows or columns, has no synchronisation but
//! the final join and was as fast or faster at every size measured, up to 1024^3. The slabs run
//! under `parallel::for_each_part` (the caller spins rather than sleeps while they finish).

use crate::tensor::Element;

/// Below this many multiply-adds a product runs on the calling thread: handing work to another
/// thread costs a wake-up (tens of microseconds on a busy VM), more than a 1 M-MAC product takes.
const SPLIT_MIN_MACS: usize = 1 << 20;
/// A slab narrower than this wastes most of a microkernel tile.
const MIN_SLAB: usize = 16;

/// A strided matrix: element (i, j) at `ptr + i * rs + j * cs` (in elements).
#[derive(Clone, Copy, Debug)]
pub struct Mat<T> {
    pub ptr: *const T,
    pub rs: isize,
    pub cs: isize,
}

impl<T> Mat<T> {
    /// A row-major (C-contiguous) matrix with `cols` columns.
    pub fn rows(ptr: *const T, cols: usize) -> Mat<T> {
        Mat { ptr, rs: cols as isize, cs: 1 }
    }

    /// The transpose of a row-major matrix with `cols` columns, read in place.
    pub fn rows_t(ptr: *const T, cols: usize) -> Mat<T> {
        Mat { ptr, rs: 1, cs: cols as isize }
    }

    /// The same elements read as the transpose.
    fn t(self) -> Mat<T> {
        Mat { rs: self.cs, cs: self.rs, ..self }
    }

    /// # Safety
    /// The offset must stay inside the matrix's allocation.
    unsafe fn at(self, i: usize, j: usize) -> Mat<T> {
        Mat { ptr: self.ptr.offset(i as isize * self.rs + j as isize * self.cs), ..self }
    }
}

// SAFETY: the pointers are only dereferenced inside `gemm`, whose slabs write disjoint parts of dst.
unsafe impl<T> Send for Mat<T> {}
// SAFETY: as for Send; shared `Mat`s are only read through.
unsafe impl<T> Sync for Mat<T> {}

/// dst[m, n] = (accumulate ? dst : 0) + lhs[m, k] @ rhs[k, n], on up to `threads` threads.
///
/// `dst` is a mutable matrix given as a `Mat` (its pointer is written through). With
/// `accumulate` false dst is never read, so it may be uninitialised.
///
/// # Safety
/// Every pointer must address a matrix of the given size and strides; dst must not overlap
/// lhs or rhs, and no two of its elements may share memory.
pub unsafe fn gemm<T: Element>(dst: Mat<T>, lhs: Mat<T>, rhs: Mat<T>, (m, k, n): (usize, usize, usize), accumulate: bool, threads: usize) {
    let long = m.max(n);
    let parts = if m.saturating_mul(n).saturating_mul(k) < SPLIT_MIN_MACS { 1 } else { threads.min(long / MIN_SLAB).max(1) };
    split(dst, lhs, rhs, (m, k, n), accumulate, parts);
}

/// As `gemm`, cut into blocks of `block` rows or columns (along the longer side) whatever the
/// thread count, so that every element's bits depend on the shapes alone: the crate's kernels
/// differ with a product's size, and slabs cut per thread rounded differently at 1 and 2
/// threads.
///
/// # Safety
/// As `gemm`.
pub unsafe fn gemm_fixed_blocks<T: Element>(dst: Mat<T>, lhs: Mat<T>, rhs: Mat<T>, (m, k, n): (usize, usize, usize), accumulate: bool, block: usize) {
    let parts = if m.saturating_mul(n).saturating_mul(k) < SPLIT_MIN_MACS { 1 } else { m.max(n).div_ceil(block.max(MIN_SLAB)) };
    split(dst, lhs, rhs, (m, k, n), accumulate, parts);
}

/// The product as `parts` slabs of dst's rows (or columns, when it is wider than tall), each
/// single-threaded, under `parallel::for_each_part`.
unsafe fn split<T: Element>(dst: Mat<T>, lhs: Mat<T>, rhs: Mat<T>, (m, k, n): (usize, usize, usize), accumulate: bool, parts: usize) {
    if m == 0 || n == 0 {
        return;
    }
    let along_m = m >= n;
    let long = if along_m { m } else { n };
    let slab = |p: usize| {
        let (lo, hi) = (long * p / parts, long * (p + 1) / parts);
        // SAFETY: (the caller's contract) slabs are disjoint row (or column) ranges of dst.
        unsafe {
            if along_m {
                one(dst.at(lo, 0), lhs.at(lo, 0), rhs, (hi - lo, k, n), accumulate);
            } else {
                one(dst.at(0, lo), lhs, rhs.at(0, lo), (m, k, hi - lo), accumulate);
            }
        }
    };
    if parts == 1 {
        slab(0);
    } else {
        crate::parallel::for_each_part(parts, &slab);
    }
}

/// One single-threaded product. The crate is slow on a column-major rhs when lhs has fewer rows
/// than rhs has columns, whichever way the destination is laid out: a linear layer's weight
/// read transposed in place, 16 x 512 by 512 x 1000, took 7x the time of the same product with
/// the weight row-major (1.1 ms against PyTorch's 0.26). The transposed product rhs^T lhs^T
/// into a row-major scratch reads that operand row-major and is fast; the scratch (n x m, the
/// small side) is then written into dst transposed.
unsafe fn one<T: Element>(dst: Mat<T>, lhs: Mat<T>, rhs: Mat<T>, (m, k, n): (usize, usize, usize), accumulate: bool) {
    if !(rhs.rs == 1 && rhs.cs != 1 && m < n && k > 0) {
        // SAFETY: the caller's contract, passed on.
        return unsafe { one_as_given(dst, lhs, rhs, (m, k, n), accumulate) };
    }
    let mut scratch = vec![T::default(); n * m];
    // SAFETY: rhs^T (n x k) and lhs^T (k x m) address the caller's operands; scratch is its own
    // n x m allocation.
    unsafe { one_as_given(Mat::rows(scratch.as_mut_ptr() as *const T, m), rhs.t(), lhs.t(), (n, k, m), false) };
    for i in 0..m {
        for (j, &v) in scratch[i..].iter().step_by(m).take(n).enumerate() {
            // SAFETY: (i, j) is inside dst (the caller's contract).
            let d = unsafe { &mut *(dst.ptr as *mut T).offset(i as isize * dst.rs + j as isize * dst.cs) };
            // A float32 sum rounded from float64 is float32's own sum.
            *d = if accumulate { T::from_f64(d.to_f64() + v.to_f64()) } else { v };
        }
    }
}

/// `one` in the orientation given (gemm's own convention: dst = alpha * dst + beta * lhs @ rhs,
/// with column stride before row stride).
unsafe fn one_as_given<T: Element>(dst: Mat<T>, lhs: Mat<T>, rhs: Mat<T>, (m, k, n): (usize, usize, usize), accumulate: bool) {
    if k == 0 {
        if !accumulate {
            for i in 0..m {
                for j in 0..n {
                    *(dst.ptr as *mut T).offset(i as isize * dst.rs + j as isize * dst.cs) = T::from_f64(0.0);
                }
            }
        }
        return;
    }
    ::gemm::gemm(
        m, n, k, dst.ptr as *mut T, dst.cs, dst.rs, accumulate, lhs.ptr, lhs.cs, lhs.rs, rhs.ptr, rhs.cs, rhs.rs,
        T::from_f64(if accumulate { 1.0 } else { 0.0 }), T::from_f64(1.0), false, false, false, ::gemm::Parallelism::None,
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(a: &[f64], b: &[f64], (m, k, n): (usize, usize, usize)) -> Vec<f64> {
        let mut c = vec![0.0; m * n];
        for i in 0..m {
            for j in 0..n {
                c[i * n + j] = (0..k).map(|p| a[i * k + p] * b[p * n + j]).sum();
            }
        }
        c
    }

    /// Sizes on both sides of the split threshold, split along m and along n, with transposed
    /// operands (each orientation `one` picks: m < n, m == n, m > n, lhs column-major too),
    /// accumulation, and k = 0.
    #[test]
    fn split_products_match_naive() {
        for &(m, k, n) in &[(3, 4, 5), (200, 130, 70), (40, 300, 210), (1, 2000, 600), (600, 2000, 1), (7, 0, 9), (64, 64, 64)] {
            let a: Vec<f64> = (0..m * k).map(|i| ((i * 7 % 13) as f64 - 6.0) / 8.0).collect();
            let b: Vec<f64> = (0..k * n).map(|i| ((i * 5 % 11) as f64 - 5.0) / 4.0).collect();
            let want = naive(&a, &b, (m, k, n));
            // b transposed in memory, read through strides
            let mut bt = vec![0.0; k * n];
            for p in 0..k {
                for j in 0..n {
                    bt[j * k + p] = b[p * n + j];
                }
            }
            // a transposed in memory too, for a column-major lhs
            let mut at = vec![0.0; m * k];
            for i in 0..m {
                for p in 0..k {
                    at[p * m + i] = a[i * k + p];
                }
            }
            for threads in [1, 2, 3] {
                for accumulate in [false, true] {
                    for lhs_t in [false, true] {
                        let mut c = vec![if accumulate { 1.5 } else { f64::NAN }; m * n];
                        let d = Mat::rows(c.as_mut_ptr() as *const f64, n);
                        let lhs = if lhs_t { Mat::rows_t(at.as_ptr(), m) } else { Mat::rows(a.as_ptr(), k) };
                        // SAFETY: a (or at) is m x k and bt is n x k (read as k x n) in their own
                        // Vecs; c is a separate m x n Vec.
                        unsafe { gemm(d, lhs, Mat::rows_t(bt.as_ptr(), k), (m, k, n), accumulate, threads) };
                        for (got, w) in c.iter().zip(&want) {
                            let w = if accumulate { w + 1.5 } else { *w };
                            assert!((got - w).abs() < 1e-9, "{m}x{k}x{n} threads {threads} accumulate {accumulate} lhs_t {lhs_t}: {got} vs {w}");
                        }
                    }
                }
            }
        }
    }
}
