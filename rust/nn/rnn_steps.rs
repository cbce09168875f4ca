//! The products and row bookkeeping of the recurrent layers' steps (`rnn_kernels.rs`): gemm on
//! row-major buffers, how a step is split across threads, the per-row buffers the parts write,
//! and W_hh prepared once per call for the per-step products.

use crate::ops::gemm::{gemm, Mat};
use crate::ops::gemm_packed::PackedRhs;
use crate::tensor::dtype::{as_f32, as_f32_mut};
use crate::tensor::Float;

/// dst (m, n) = [dst +] a @ b, where a is stored (m, k) row-major, or (k, m) when `a_t`, and b
/// (k, n), or (n, k) when `b_t`; on the pool's threads.
#[allow(clippy::too_many_arguments)]
pub(super) fn mm<T: Float>(dst: &mut [T], a: &[T], a_t: bool, b: &[T], b_t: bool, mkn: (usize, usize, usize), accumulate: bool) {
    mm_on(dst, a, a_t, b, b_t, mkn, accumulate, rayon::current_num_threads());
}

/// `mm` on up to `threads` threads (1 inside a step's row part).
#[allow(clippy::too_many_arguments)]
pub(super) fn mm_on<T: Float>(dst: &mut [T], a: &[T], a_t: bool, b: &[T], b_t: bool, (m, k, n): (usize, usize, usize), accumulate: bool, threads: usize) {
    assert!(dst.len() >= m * n && a.len() >= m * k && b.len() >= k * n, "rnn: product operands too short");
    if k == 0 {
        if !accumulate {
            dst[..m * n].fill(T::zero());
        }
        return;
    }
    let lhs = if a_t { Mat::rows_t(a.as_ptr(), m) } else { Mat::rows(a.as_ptr(), k) };
    let rhs = if b_t { Mat::rows_t(b.as_ptr(), k) } else { Mat::rows(b.as_ptr(), n) };
    // SAFETY: the lengths were checked above; dst is borrowed mutably, so it overlaps neither
    // operand, and a row-major destination has no two elements at one address.
    unsafe { gemm(Mat::rows(dst.as_mut_ptr() as *const T, n), lhs, rhs, (m, k, n), accumulate, threads) }
}

/// Below this many multiply-adds a step runs on the calling thread (a hand-off costs more).
const STEP_SPLIT_MACS: usize = 1 << 20;
/// Above this many W_hh elements (2 MiB of float32) a step is not split by rows: every row
/// part streams all of W_hh from L3 at every step, and LSTM(512) at batch 16 ran 1.2x
/// PyTorch's time that way.
const ROW_SPLIT_MAX_WEIGHTS: usize = 1 << 19;

/// How a step of `b` rows with a (gh, po) W_hh runs: (row parts, threads for each part's
/// product). Split by batch rows, each part does its rows' product and then their gates, so the
/// pointwise pass runs in parallel too and a step is one hand-off (a split by gate columns
/// would need every gate of a unit in one part). With few rows or a large W_hh, one part runs
/// the gates and the product is split by columns, each thread reading half of W_hh.
pub(super) fn step_split(b: usize, po: usize, gh: usize) -> (usize, usize) {
    let threads = rayon::current_num_threads();
    if b * po * gh < STEP_SPLIT_MACS {
        return (1, 1);
    }
    let rows = threads.min(b / 4);
    if rows >= 2 && gh * po <= ROW_SPLIT_MAX_WEIGHTS { (rows, 1) } else { (1, threads) }
}

/// Rows [r0, r1) of part `p` of `parts` over `b` rows.
pub(super) fn part_rows(p: usize, parts: usize, b: usize) -> (usize, usize) {
    (b * p / parts, b * (p + 1) / parts)
}

/// A row-major buffer that the parts of a step write, each its own rows.
#[derive(Clone, Copy)]
pub(super) struct Rows<T> {
    ptr: *mut T,
    width: usize,
    len: usize,
}
// SAFETY: parts write disjoint row ranges (see `get`); the buffer outlives the step.
unsafe impl<T> Send for Rows<T> {}
// SAFETY: as Send.
unsafe impl<T> Sync for Rows<T> {}

impl<T> Rows<T> {
    pub(super) fn of(v: &mut [T], width: usize) -> Rows<T> {
        Rows { ptr: v.as_mut_ptr(), width, len: v.len() }
    }
    /// Rows [r0, r1).
    ///
    /// # Safety
    /// No other live reference may overlap these rows (each part asks for its own).
    #[allow(clippy::mut_from_ref)]
    pub(super) unsafe fn get(&self, r0: usize, r1: usize) -> &mut [T] {
        assert!(r0 <= r1 && r1 * self.width <= self.len, "rnn: row range out of bounds");
        std::slice::from_raw_parts_mut(self.ptr.add(r0 * self.width), (r1 - r0) * self.width)
    }
}

/// The (cols, rows) transpose of a row-major (rows, cols) matrix.
fn transposed<T: Float>(m: &[T], rows: usize, cols: usize) -> Vec<T> {
    let mut t = vec![T::zero(); rows * cols];
    // Blocks of 32 x 32 keep both sides' lines in cache.
    for i0 in (0..rows).step_by(32) {
        for j0 in (0..cols).step_by(32) {
            for i in i0..(i0 + 32).min(rows) {
                for j in j0..(j0 + 32).min(cols) {
                    t[j * rows + i] = m[i * cols + j];
                }
            }
        }
    }
    t
}

/// The right operand of the per-step products, prepared once per call: packed for the float32
/// AVX2 kernel, else stored (k, n) row-major, which gemm reads in place (it would repack a
/// transposed operand at every step, about a tenth of the step's time at hidden 256).
pub(super) enum StepWeight<T> {
    Packed(PackedRhs),
    Rows(Vec<T>),
}

impl<T: Float> StepWeight<T> {
    /// B = `b` (k, n) row-major, or `b`^T for `b` stored (n, k) when `b_t`.
    pub(super) fn new(b: &[T], b_t: bool, k: usize, n: usize) -> StepWeight<T> {
        if let Some(p) = as_f32(b).and_then(|b| PackedRhs::new(b, b_t, k, n, rayon::current_num_threads())) {
            return StepWeight::Packed(p);
        }
        StepWeight::Rows(if b_t { transposed(b, n, k) } else { b[..k * n].to_vec() })
    }

    /// dst (m, n) [+]= a (m, k) @ B on up to `threads` threads.
    pub(super) fn mm(&self, dst: &mut [T], a: &[T], (m, k, n): (usize, usize, usize), accumulate: bool, threads: usize) {
        match self {
            StepWeight::Packed(p) => match (as_f32_mut(dst), as_f32(a)) {
                (Some(dst), Some(a)) => p.mm(dst, a, m, accumulate, threads),
                _ => unreachable!("rnn: a packed weight is float32, and so are its operands"),
            },
            StepWeight::Rows(b) => mm_on(dst, a, false, b, false, (m, k, n), accumulate, threads),
        }
    }
}

/// Each of `rows` rows of `dst` (width `row.len()`) set to `row`.
pub(super) fn fill_rows<T: Float>(dst: &mut [T], row: &[T]) {
    if !row.is_empty() {
        dst.chunks_exact_mut(row.len()).for_each(|r| r.copy_from_slice(row));
    }
}
