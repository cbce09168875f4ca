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

use std::mem::MaybeUninit;

use rayon::prelude::*;

use crate::ops::gemm::{gemm_fixed_blocks, Mat};
use crate::ops::gemm_packed::{self, PackedRhs};
use crate::tensor::dtype::as_f32_mut;
use crate::tensor::Float;

use super::conv::Geom;
use super::im2col::{col2im, Taps};

/// Output positions per image up to which the batch is multiplied at once. Measured on one
/// 3x3 convolution's forward+backward, batch 16 (per image -> batched, ms, 1 / 2 threads):
/// 4 positions (512 channels) 46 -> 22 / 26 -> 16; 36 (128) 11.3 -> 9.2 / 10.9 -> 7.0;
/// 16 (256) 17.7 -> 15.4 / 9.8 -> 10.1; 64 (128) 14.5 -> 15.2 / 8.0 -> 10.3, where the
/// per-image products, run on both threads one image each, are already wide enough.
/// Since the batched products run on the packed kernel, 7 x 7 maps (49 positions; ResNet's last
/// stage at 224 x 224) gain too: train step, batch 8, 2 / 1 threads, 512 channels 42 -> 35 /
/// 62 -> 53 ms, 256 channels 13 -> 11 / 18-23 -> 14-17; batch 4 at 512 channels 25 -> 15 / 44
/// -> 29. At 8 x 8 (64) it was even, at 12 x 12 (144) slower.
const MAX_LEN: usize = 49;
/// The batch's column matrix at most this many elements (64 MiB of float32).
const MAX_COLUMNS: usize = 1 << 24;

/// Whether `g` takes this path.
pub(super) fn applies(g: &Geom) -> bool {
    g.groups == 1 && g.n > 1 && g.len() > 0 && g.len() <= MAX_LEN && g.rows().saturating_mul(g.n * g.len()) <= MAX_COLUMNS && g.o > 0
}

/// The batch's column matrices side by side, (rows, N * L): image i's in columns i L..(i+1) L,
/// unfolded straight into place, rows in parallel.
fn columns<T: Float>(xs: &[T], g: &Geom) -> Vec<T> {
    let (rows, l, vol) = (g.rows(), g.len(), g.c * g.volume());
    let nl = g.n * l;
    let mut cols: Vec<T> = Vec::with_capacity(rows * nl);
    let taps = Taps::new(g);
    let row = |(r, all_r): (usize, &mut [MaybeUninit<T>])| {
        for (i, dst) in all_r.chunks_mut(l).enumerate() {
            let x_i = &xs[i * vol..(i + 1) * vol];
            if g.pointwise() {
                dst.iter_mut().zip(&x_i[r * l..(r + 1) * l]).for_each(|(d, &v)| {
                    d.write(v);
                });
            } else {
                taps.unfold_row(x_i, g, r, dst);
            }
        }
    };
    let all = &mut cols.spare_capacity_mut()[..rows * nl];
    all.par_chunks_mut(nl).enumerate().with_min_len(ELEMENTS_PER_TASK.div_ceil(nl)).for_each(row);
    // SAFETY: every row wrote the L columns of every image.
    unsafe { cols.set_len(rows * nl) };
    cols
}

/// Elements per parallel task of the moves around the products (a few pages' worth).
const ELEMENTS_PER_TASK: usize = 1 << 14;

/// (N, C, L)-laid-out `a` as (C, N * L), or back when `back`.
fn swap_batch<T: Float>(a: &[T], n: usize, c: usize, l: usize, back: bool) -> Vec<T> {
    let mut out = vec![T::from_f64(0.0); a.len()];
    if a.is_empty() {
        return out;
    }
    // Each task fills whole blocks of the result: an image's (C, L) going back, a channel's
    // (N, L) going to the batched layout.
    let inner = if back { c } else { n };
    let fill = |(x, block): (usize, &mut [T])| {
        for (y, dst) in block.chunks_mut(l).enumerate() {
            let (i, ch) = if back { (x, y) } else { (y, x) };
            let src = if back { (ch * n + i) * l } else { (i * c + ch) * l };
            dst.copy_from_slice(&a[src..src + l]);
        }
    };
    out.par_chunks_mut(inner * l).enumerate().with_min_len(ELEMENTS_PER_TASK.div_ceil(inner * l)).for_each(fill);
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
    if let (Some(d), true) = (as_f32_mut(dst), gemm_packed::usable()) {
        // float32 on AVX2: the right operand packed once, each element's sum in a fixed order
        // whatever the thread count (`PackedRhs::product`). The gemm crate split these
        // products in two 128-row blocks at 2 threads, and ran them at 1.6 times PyTorch's time.
        let threads = rayon::current_num_threads();
        let f = |m: Mat<T>| Mat { ptr: m.ptr as *const f32, rs: m.rs, cs: m.cs };
        // SAFETY: T is f32 (as_f32_mut said so); the caller's contract covers the sizes.
        unsafe {
            let packed = PackedRhs::from_mat(f(mat(rhs)), k, n, threads).expect("conv_batched: AVX2 checked");
            packed.product(d.as_mut_ptr(), n, f(mat(lhs)), m, false, threads);
        }
        return;
    }
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
        gx.par_chunks_mut(vol.max(1)).enumerate().for_each(|(i, gx_i)| col2im(&per_image[i * rows * l..(i + 1) * rows * l], g, gx_i));
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
