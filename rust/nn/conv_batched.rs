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

use crate::ops::gemm::{gemm_fixed_blocks, Mat};
use crate::ops::gemm_packed::{self, PackedRhs};
use crate::parallel::{for_each_chunk_init, for_each_chunk_mut};
use crate::tensor::{DType, Float};

use super::conv::Geom;
use super::im2col::{col2im_strided, PaddedGather, Taps};

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
/// unfolded straight into place, channels in parallel.
fn columns<T: Float>(xs: &[T], g: &Geom) -> Vec<T> {
    let (rows, l, vol, taps) = (g.rows(), g.len(), g.c * g.volume(), g.taps());
    let nl = g.n * l;
    let mut cols: Vec<T> = Vec::with_capacity(rows * nl);
    let all = &mut cols.spare_capacity_mut()[..rows * nl];
    let per_task = ELEMENTS_PER_TASK.div_ceil(taps * nl);
    if g.pointwise() {
        for_each_chunk_init(all, nl, per_task, &|| (), &|_, r, all_r| {
            for (i, dst) in all_r.chunks_mut(l).enumerate() {
                dst.iter_mut().zip(&xs[i * vol + r * l..][..l]).for_each(|(d, &v)| {
                    d.write(v);
                });
            }
        });
    } else if PaddedGather::applies(g) {
        let gather = PaddedGather::new(g);
        let channel = |scratch: &mut Vec<T>, c: usize, rows_c: &mut [MaybeUninit<T>]| {
            for i in 0..g.n {
                let volume = &xs[i * vol + c * g.volume()..][..g.volume()];
                gather.unfold_channel(volume, g, scratch, &mut rows_c[i * l..], nl);
            }
        };
        for_each_chunk_init(all, taps * nl, per_task, &|| gather.scratch(), &channel);
    } else {
        let taps = Taps::new(g);
        for_each_chunk_init(all, nl, ELEMENTS_PER_TASK.div_ceil(nl), &|| (), &|_, r, all_r| {
            for (i, dst) in all_r.chunks_mut(l).enumerate() {
                taps.unfold_row(&xs[i * vol..(i + 1) * vol], g, r, dst);
            }
        });
    }
    // SAFETY: every row wrote the L columns of every image.
    unsafe { cols.set_len(rows * nl) };
    cols
}

/// Elements per parallel task of the moves around the products (a few pages' worth).
const ELEMENTS_PER_TASK: usize = 1 << 14;

/// A Vec of `len` elements, each written by `fill` before anything reads it: no zeroing pass
/// over buffers the products or moves overwrite (a tenth of a small-map ResNet stage's step
/// went to memset and to the kernel's zeroing of fresh pages).
///
/// # Safety
/// `fill` must write every one of the `len` elements it is given.
unsafe fn written<T>(len: usize, fill: impl FnOnce(&mut [MaybeUninit<T>])) -> Vec<T> {
    let mut v = Vec::with_capacity(len);
    fill(&mut v.spare_capacity_mut()[..len]);
    // SAFETY: the caller's `fill` wrote all `len` elements.
    unsafe { v.set_len(len) };
    v
}

/// (N, C, L)-laid-out `a` as (C, N * L), or back when `back`.
fn swap_batch<T: Float>(a: &[T], n: usize, c: usize, l: usize, back: bool) -> Vec<T> {
    // Each task fills whole blocks of the result: an image's (C, L) going back, a channel's
    // (N, L) going to the batched layout.
    let inner = if back { c } else { n };
    let fill = |(x, block): (usize, &mut [MaybeUninit<T>])| {
        for (y, dst) in block.chunks_mut(l).enumerate() {
            let (i, ch) = if back { (x, y) } else { (y, x) };
            let src = if back { (ch * n + i) * l } else { (i * c + ch) * l };
            dst.iter_mut().zip(&a[src..src + l]).for_each(|(d, &v)| {
                d.write(v);
            });
        }
    };
    // SAFETY: the blocks cover the whole result, and each copies all its elements.
    unsafe {
        written(a.len(), |out| {
            if !out.is_empty() {
                for_each_chunk_init(out, inner * l, ELEMENTS_PER_TASK.div_ceil(inner * l), &|| (), &|_, k, c| fill((k, c)));
            }
        })
    }
}

/// Rows (or columns) per block of a product: blocks of a fixed size, not one per thread, so the
/// bits do not depend on the thread count (`gemm_fixed_blocks`).
const BLOCK: usize = 128;

/// dst (m, n) row-major = lhs @ rhs, operands as (slice, row stride, column stride).
///
/// # Safety
/// As `ops::gemm::gemm`: the slices hold matrices of these sizes and strides.
unsafe fn product<T: Float>(dst: &mut [MaybeUninit<T>], lhs: (&[T], usize, usize), rhs: (&[T], usize, usize), (m, k, n): (usize, usize, usize)) {
    let mat = |(s, rs, cs): (&[T], usize, usize)| Mat { ptr: s.as_ptr(), rs: rs as isize, cs: cs as isize };
    if T::DTYPE == DType::F32 && gemm_packed::usable() {
        // float32 on AVX2: the right operand packed once, each element's sum in a fixed order
        // whatever the thread count (`PackedRhs::product`). The gemm crate split these
        // products in two 128-row blocks at 2 threads, and ran them at 1.6 times PyTorch's time.
        let threads = rayon::current_num_threads();
        let f = |m: Mat<T>| Mat { ptr: m.ptr as *const f32, rs: m.rs, cs: m.cs };
        // SAFETY: T is f32 (checked just above); the caller's contract covers the sizes.
        unsafe {
            let packed = PackedRhs::from_mat(f(mat(rhs)), k, n, threads).expect("conv_batched: AVX2 checked");
            // Not accumulating: dst is only written.
            packed.product(dst.as_mut_ptr() as *mut f32, n, f(mat(lhs)), m, false, threads);
        }
        return;
    }
    // SAFETY (as above): not accumulating, so dst is only written.
    gemm_fixed_blocks(Mat::rows(dst.as_mut_ptr() as *const T, n), mat(lhs), mat(rhs), (m, k, n), false, BLOCK);
}

/// The convolution's output (N, O, L), bias included.
pub(super) fn forward<T: Float>(xs: &[T], w: &[T], bias: Option<&[T]>, g: &Geom) -> Vec<T> {
    let (rows, l, nl) = (g.rows(), g.len(), g.n * g.len());
    let cols = columns(xs, g);
    // SAFETY: w is (O, rows), cols (rows, N L), out (O, N L), all contiguous.
    // (and the product writes every element of out)
    let out = unsafe { written(g.o * nl, |out| product(out, (w, rows, 1), (&cols, nl, 1), (g.o, rows, nl))) };
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
        // SAFETY: w read transposed is (rows, O) with strides (1, rows); gb is (O, N L).
        // (and the product writes every element of dcols)
        let dcols = unsafe { written(rows * nl, |d| product(d, (w, 1, rows), (&gb, nl, 1), (rows, g.o, nl))) };
        if g.pointwise() {
            return swap_batch(&dcols, g.n, rows, l, true);
        }
        // Each image's block of dcols is folded where it lies (rows nl apart), not first moved.
        let mut gx = vec![T::from_f64(0.0); g.n * vol];
        for_each_chunk_mut(&mut gx, vol.max(1), &|i, gx_i| col2im_strided(&dcols[i * l..], nl, g, gx_i));
        gx
    });
    let gw = xs.map(|xs| {
        let cols = columns(xs, g);
        // SAFETY: gb is (O, N L); cols read transposed is (N L, rows) with strides (1, N L).
        // (and the product writes every element of gw)
        unsafe { written(g.o * rows, |gw| product(gw, (&gb, nl, 1), (&cols, 1, nl), (g.o, nl, rows))) }
    });
    (gx, gw)
}
