//! Convolution of small feature maps as one product over the whole batch.
//!
//! Per image, a convolution whose output has few positions is a very skinny product: ResNet's
//! last stage at 64 x 64 inputs multiplies a 512 x 4608 weight by a 4608 x 4 column matrix, 16
//! times a batch, and gemm packs the whole weight again for every one of them (its narrowest
//! micro-kernel then does the work). Side by side, the batch's column matrices are one
//! (rows, N * L) matrix, and the three products of a step become one each:
//!
//! * out (O, N * L) = W @ cols, then each image's block moved to (N, O, L),
//! * dcols (rows, N * L) = W^T @ grad_out (laid out the same way), then col2im per image,
//! * grad_weight (O, rows) = grad_out @ cols^T, the sum over images inside the product.
//!
//! Only for one group, more than one image and outputs of at most `MAX_LEN` positions, and only
//! while the batch's columns stay under `MAX_COLUMNS` elements; `conv_kernels` does the rest.

use crate::ops::gemm::{gemm_fixed_blocks, Mat};
use crate::tensor::Float;

use super::conv::Geom;
use super::conv_kernels::{assume_init, scratch};
use super::im2col::{col2im, im2col};

/// Output positions per image up to which the batch is multiplied at once. Measured on one
/// 3x3 convolution's forward+backward, batch 16 (per image -> batched, ms, 1 / 2 threads):
/// 4 positions (512 channels) 46 -> 22 / 26 -> 16; 36 (128) 11.3 -> 9.2 / 10.9 -> 7.0;
/// 16 (256) 17.7 -> 15.4 / 9.8 -> 10.1; 64 (128) 14.5 -> 15.2 / 8.0 -> 10.3, where the
/// per-image products, run on both threads one image each, are already wide enough.
const MAX_LEN: usize = 36;
/// The batch's column matrix at most this many elements (64 MiB of float32).
const MAX_COLUMNS: usize = 1 << 24;

/// Whether `g` takes this path.
pub(super) fn applies(g: &Geom) -> bool {
    g.groups == 1 && g.n > 1 && g.len() > 0 && g.len() <= MAX_LEN && g.rows().saturating_mul(g.n * g.len()) <= MAX_COLUMNS && g.o > 0
}

/// The batch's column matrices side by side, (rows, N * L): image i's in columns i L..(i+1) L.
fn columns<T: Float>(xs: &[T], g: &Geom) -> Vec<T> {
    let (rows, l, vol) = (g.rows(), g.len(), g.c * g.volume());
    let nl = g.n * l;
    let mut cols: Vec<T> = Vec::with_capacity(rows * nl);
    let mut one = scratch::<T>(if g.pointwise() { 0 } else { rows * l });
    let all = &mut cols.spare_capacity_mut()[..rows * nl];
    for i in 0..g.n {
        let x_i = &xs[i * vol..(i + 1) * vol];
        let c_i: &[T] = if g.pointwise() {
            x_i
        } else {
            im2col(x_i, g, &mut one);
            // SAFETY: im2col wrote every element.
            unsafe { assume_init(&one) }
        };
        for (r, src) in c_i.chunks_exact(l).enumerate() {
            for (d, &v) in all[r * nl + i * l..][..l].iter_mut().zip(src) {
                d.write(v);
            }
        }
    }
    // SAFETY: every image wrote its L columns of every row.
    unsafe { cols.set_len(rows * nl) };
    cols
}

/// (N, C, L)-laid-out `a` as (C, N * L), or back when `back`.
fn swap_batch<T: Float>(a: &[T], n: usize, c: usize, l: usize, back: bool) -> Vec<T> {
    let mut out = vec![T::from_f64(0.0); a.len()];
    for i in 0..n {
        for ch in 0..c {
            let (batched, split) = ((ch * n + i) * l, (i * c + ch) * l);
            let (src, dst) = if back { (batched, split) } else { (split, batched) };
            out[dst..dst + l].copy_from_slice(&a[src..src + l]);
        }
    }
    out
}

/// Rows (or columns) per block of a product: blocks of a fixed size, not one per thread, so the
/// bits do not depend on the thread count (`gemm_fixed_blocks`).
const BLOCK: usize = 128;

/// dst (m, n) row-major = lhs @ rhs, operands as (slice, row stride, column stride).
///
/// # Safety
/// As `ops::gemm::gemm`: the slices hold matrices of these sizes and strides.
unsafe fn product<T: Float>(dst: &mut [T], lhs: (&[T], usize, usize), rhs: (&[T], usize, usize), (m, k, n): (usize, usize, usize)) {
    let mat = |(s, rs, cs): (&[T], usize, usize)| Mat { ptr: s.as_ptr(), rs: rs as isize, cs: cs as isize };
    gemm_fixed_blocks(Mat::rows(dst.as_mut_ptr() as *const T, n), mat(lhs), mat(rhs), (m, k, n), false, BLOCK);
}

/// The convolution's output (N, O, L), bias included.
pub(super) fn forward<T: Float>(xs: &[T], w: &[T], bias: Option<&[T]>, g: &Geom) -> Vec<T> {
    let (rows, l, nl) = (g.rows(), g.len(), g.n * g.len());
    let cols = columns(xs, g);
    let mut out = vec![T::from_f64(0.0); g.o * nl];
    // SAFETY: w is (O, rows), cols (rows, N L), out (O, N L), all contiguous.
    unsafe { product(&mut out, (w, rows, 1), (&cols, nl, 1), (g.o, rows, nl)) };
    let mut out = swap_batch(&out, g.n, g.o, l, true);
    if let Some(b) = bias {
        for (k, block) in out.chunks_mut(l).enumerate() {
            let v = b[k % g.o];
            block.iter_mut().for_each(|o| *o += v);
        }
    }
    out
}

/// (grad_input (N, C, *in), grad_weight (O, rows)), each when its operand is given: the weight
/// for the input's gradient, the input for the weight's.
pub(super) fn backward<T: Float>(gs: &[T], w: Option<&[T]>, xs: Option<&[T]>, g: &Geom) -> (Option<Vec<T>>, Option<Vec<T>>) {
    let (rows, l, nl, vol) = (g.rows(), g.len(), g.n * g.len(), g.c * g.volume());
    let gb = swap_batch(gs, g.n, g.o, l, false);
    let gx = w.map(|w| {
        let mut dcols = vec![T::from_f64(0.0); rows * nl];
        // SAFETY: w read transposed is (rows, O) with strides (1, rows); gb is (O, N L).
        unsafe { product(&mut dcols, (w, 1, rows), (&gb, nl, 1), (rows, g.o, nl)) };
        let per_image = swap_batch(&dcols, g.n, rows, l, true);
        if g.pointwise() {
            return per_image;
        }
        let mut gx = vec![T::from_f64(0.0); g.n * vol];
        for (i, gx_i) in gx.chunks_mut(vol).enumerate() {
            col2im(&per_image[i * rows * l..(i + 1) * rows * l], g, gx_i);
        }
        gx
    });
    let gw = xs.map(|xs| {
        let cols = columns(xs, g);
        let mut gw = vec![T::from_f64(0.0); g.o * rows];
        // SAFETY: gb is (O, N L); cols read transposed is (N L, rows) with strides (1, N L).
        unsafe { product(&mut gw, (&gb, nl, 1), (&cols, 1, nl), (g.o, nl, rows)) };
        gw
    });
    (gx, gw)
}
