//! The numeric kernels behind convolution, its transpose and fold/unfold, on contiguous slices
//! and a validated `Geom`: one gemm per group and image, images in parallel (rayon over the batch,
//! gemm single-threaded inside) when there are at least as many images as threads, otherwise one
//! image at a time with gemm's own threads.

use std::mem::MaybeUninit;

use crate::ops::gemm::{gemm, Mat};
use crate::ops::kernel::sum_slice;
use crate::parallel::{for_each_chunk_init, for_each_chunk_mut, map_claimed};
use crate::tensor::{hint_huge_pages, Element, Float};

use super::conv::Geom;
use super::conv_packed;
use super::im2col::{col2im, im2col};

/// A matrix operand: pointer and (row, column) strides in elements.
type Operand<T> = (*const T, usize, usize);

/// dst[m, n] (rows `dst_rs` apart) = (accumulate ? dst : 0) + lhs[m, k] @ rhs[k, n].
///
/// # Safety
/// The pointers must address matrices of the given sizes and strides; `dst` must not overlap
/// the operands.
unsafe fn gemm_into<T: Element>(dst: *mut T, dst_rs: usize, lhs: Operand<T>, rhs: Operand<T>, mkn: (usize, usize, usize), accumulate: bool, threads: usize) {
    let mat = |(ptr, rs, cs): Operand<T>| Mat { ptr, rs: rs as isize, cs: cs as isize };
    gemm(Mat::rows(dst as *const T, dst_rs), mat(lhs), mat(rhs), mkn, accumulate, threads);
}

/// Threads for each product: one when the images already run in parallel.
fn gemm_threads(g: &Geom) -> usize {
    if g.batch_parallel() { 1 } else { rayon::current_num_threads() }
}

/// An uninitialised scratch buffer (every user writes before reading).
pub(super) fn scratch<T>(n: usize) -> Vec<MaybeUninit<T>> {
    let mut v = Vec::with_capacity(n);
    // SAFETY: MaybeUninit needs no initialisation.
    unsafe { v.set_len(n) };
    v
}

/// Reads initialised MaybeUninit elements as T.
///
/// # Safety
/// Every element of `s` must have been written.
pub(super) unsafe fn assume_init<T>(s: &[MaybeUninit<T>]) -> &[T] {
    std::slice::from_raw_parts(s.as_ptr() as *const T, s.len())
}

/// Runs `image(i, chunk_i, state)` over the `per`-sized chunks of `out`, in parallel when the
/// geometry says so, with a state from `init` per worker (kept from image to image).
fn per_image<T: Send, W>(g: &Geom, out: &mut [T], per: usize, init: impl Fn() -> W + Sync + Send, image: impl Fn(usize, &mut [T], &mut W) + Sync) {
    if g.batch_parallel() {
        for_each_chunk_init(out, per, 1, &init, &|s, i, o| image(i, o, s));
    } else {
        let mut s = init();
        out.chunks_mut(per.max(1)).enumerate().for_each(|(i, o)| image(i, o, &mut s));
    }
}

/// Each of an image's (O, L) output rows set to its channel's bias, for the product to add to.
fn fill_bias<T: Copy>(out_i: &mut [MaybeUninit<T>], bias: &[T], l: usize) {
    for (row, &bo) in out_i.chunks_mut(l.max(1)).zip(bias) {
        row.iter_mut().for_each(|v| {
            v.write(bo);
        });
    }
}

/// out = W @ cols (+ bias) for every image: the convolution's forward, (N, O, L).
pub(super) fn conv_forward<T: Float>(xs: &[T], wv: &[T], bv: Option<&[T]>, g: &Geom) -> Vec<T> {
    let (rows, l, rg, og) = (g.rows(), g.len(), g.group_rows(), g.o / g.groups);
    let zero = T::from_f64(0.0);
    if g.n * g.o == 0 {
        return Vec::new();
    }
    let (vol, ol) = (g.c * g.volume(), g.o * l);
    let par = gemm_threads(g);
    let mut out: Vec<T> = Vec::with_capacity(g.n * ol);
    hint_huge_pages(&mut out);
    let image = |i: usize, out_i: &mut [MaybeUninit<T>], cols_i: &mut [MaybeUninit<T>]| {
        let x_i = &xs[i * vol..(i + 1) * vol];
        let cols_i: &[T] = if g.pointwise() {
            x_i
        } else {
            im2col(x_i, g, cols_i);
            // SAFETY: im2col wrote every element.
            unsafe { assume_init(cols_i) }
        };
        if let Some(bv) = bv {
            fill_bias(out_i, bv, l);
        } else if rg == 0 {
            // An empty reduction: gemm writes nothing.
            out_i.iter_mut().for_each(|v| {
                v.write(zero);
            });
        }
        for gi in 0..g.groups {
            // SAFETY: out_i is (O, L) and cols_i (rows, L), both contiguous; the weight is
            // (O, rg). gemm writes every dst element (reading it only when bias filled it).
            unsafe {
                gemm_into(
                    out_i.as_mut_ptr().add(gi * og * l) as *mut T,
                    l,
                    (wv.as_ptr().add(gi * og * rg), rg, 1),
                    (cols_i.as_ptr().add(gi * rg * l), l, 1),
                    (og, rg, l),
                    bv.is_some() || rg == 0,
                    par,
                );
            }
        }
    };
    let out_sp = &mut out.spare_capacity_mut()[..g.n * ol];
    let ol1 = ol.max(1);
    if conv_packed::applies::<T>(g) {
        let (xs, wv) = (conv_packed::f32s(xs), conv_packed::f32s(wv));
        let packed = |i: usize, out_i: &mut [MaybeUninit<T>], u: &mut conv_packed::Workspace| {
            if let Some(bv) = bv {
                fill_bias(out_i, bv, l);
            }
            // SAFETY: out_i is this image's (O, L) block, borrowed mutably; with no bias the
            // product only writes it.
            unsafe { conv_packed::forward(&xs[i * vol..(i + 1) * vol], wv, g, out_i.as_mut_ptr() as *mut f32, bv.is_some(), par, u) }
        };
        per_image(g, out_sp, ol1, conv_packed::Workspace::new, packed);
    } else {
        let unfold = !g.pointwise();
        per_image(g, out_sp, ol1, || scratch::<T>(if unfold { rows * l } else { 0 }), |i, o, s| image(i, o, s));
    }
    // SAFETY: every image wrote its whole output block.
    unsafe { out.set_len(g.n * ol) };
    out
}

/// grad_input = col2im(W^T @ grad_out) per image: the convolution's input gradient, and the
/// transposed convolution's forward. Grouped ones of stride 1 run as a convolution instead
/// (`grad_input_by_conv`).
pub(super) fn grad_input<T: Float>(gs: &[T], w: &[T], g: &Geom) -> Vec<T> {
    if g.groups > 1 {
        if let Some(gx) = grad_input_by_conv(gs, w, g) {
            return gx;
        }
    }
    let (l, rg, og, vol) = (g.len(), g.group_rows(), g.o / g.groups, g.c * g.volume());
    let par = gemm_threads(g);
    let mut gx = vec![T::from_f64(0.0); g.n * vol];
    if og == 0 {
        return gx;
    }
    let packed = conv_packed::applies::<T>(g);
    // Per worker: the columns' gradient for col2im, and the packed products' panels.
    type State<T> = (Vec<MaybeUninit<T>>, Option<conv_packed::Workspace>);
    let image = |i: usize, gx_i: &mut [T], (dcols, ws): &mut State<T>| {
        let dst = if g.pointwise() { gx_i.as_mut_ptr() } else { dcols.as_mut_ptr() as *mut T };
        if let Some(ws) = ws {
            let gout = conv_packed::f32s(&gs[i * g.o * l..(i + 1) * g.o * l]);
            // SAFETY: dst is this image's gradient or its own scratch, (rows, L) either way.
            unsafe { conv_packed::grad_columns(gout, conv_packed::f32s(w), g, dst as *mut f32, par, ws) };
        } else {
            for gi in 0..g.groups {
                // SAFETY: dst is (rows, L); the weight viewed transposed is (rg, og) with strides
                // (1, rg); grad_out of image i is (O, L). gemm writes every dst element.
                unsafe {
                    gemm_into(dst.add(gi * rg * l), l, (w.as_ptr().add(gi * og * rg), 1, rg), (gs.as_ptr().add((i * g.o + gi * og) * l), l, 1), (rg, og, l), false, par);
                }
            }
        }
        if !g.pointwise() {
            // SAFETY: the gemms above wrote all rows * L elements.
            col2im(unsafe { assume_init(dcols) }, g, gx_i);
        }
    };
    let init = || (scratch::<T>(if g.pointwise() { 0 } else { g.rows() * l }), packed.then(conv_packed::Workspace::new));
    per_image(g, &mut gx, vol, init, image);
    gx
}

/// The input gradient of a convolution of stride 1 as the convolution of the output gradient
/// with each group's kernels turned by 180 degrees and their two channel dims swapped, padded in
/// front by dilation * (k - 1) - padding (None when that is negative). For few channels a group,
/// W^T @ grad_out sums og terms per column and then folds the columns back (col2im): with 64
/// channels in 8 groups, 8 terms, and the gradient took 1.5x the forward's time. This sums
/// og * taps terms per output with nothing to fold, as the forward does.
fn grad_input_by_conv<T: Float>(gs: &[T], w: &[T], g: &Geom) -> Option<Vec<T>> {
    let lead = |d: usize, k: usize, p: usize| (d * (k - 1)).checked_sub(p);
    if (g.sd, g.sh, g.sw) != (1, 1, 1) {
        return None;
    }
    let (pd, ph, pw) = (lead(g.dd, g.kd, g.pd)?, lead(g.dh, g.kh, g.ph)?, lead(g.dw, g.kw, g.pw)?);
    let turned_geom = Geom { c: g.o, o: g.c, d: g.od, h: g.oh, w: g.ow, od: g.d, oh: g.h, ow: g.w, pd, ph, pw, ..*g };
    let (cg, og, taps) = (g.c / g.groups, g.o / g.groups, g.taps());
    // (O, cg, taps) -> (C, og, taps), taps reversed.
    let mut turned = Vec::with_capacity(w.len());
    for (gi, c, o) in (0..g.groups).flat_map(|gi| (0..cg).flat_map(move |c| (0..og).map(move |o| (gi, c, o)))) {
        let kernel = &w[((gi * og + o) * cg + c) * taps..][..taps];
        turned.extend(kernel.iter().rev());
    }
    Some(super::conv::forward_by_path(gs, &turned, None, &turned_geom))
}

/// Elements of per-image weight-gradient partials held at once; past it, consecutive images
/// share one partial. The split depends on the shapes only, never on the thread count.
const PARTIAL_BUDGET: usize = 1 << 22;

/// grad_weight = sum_i grad_out_i @ cols_i^T: partials over fixed runs of images, added in
/// index order. Each image of the input `xs` is unfolded again when its turn comes, into a
/// buffer of one image's columns: keeping all columns from forward held kH*kW times the input
/// for the whole step (PyTorch keeps none).
pub(super) fn grad_weight<T: Float>(gs: &[T], xs: &[T], g: &Geom) -> Vec<T> {
    let (l, rg, og, rows, vol) = (g.len(), g.group_rows(), g.o / g.groups, g.rows(), g.c * g.volume());
    let size = g.o * rg;
    let parts = g.n.min((PARTIAL_BUDGET / size.max(1)).max(1)).max(1);
    let per = g.n.div_ceil(parts).max(1);
    let par = if parts < rayon::current_num_threads() { rayon::current_num_threads() } else { 1 };
    let unfold = !g.pointwise();
    // The packed products sum into the gradient transposed, (rows, O); see the end.
    let packed = conv_packed::applies::<T>(g);
    let partial = |p: usize| {
        let mut acc = vec![T::from_f64(0.0); size];
        let mut buf = scratch::<T>(if unfold { rows * l } else { 0 });
        let mut ws = packed.then(conv_packed::Workspace::new);
        for i in p * per..((p + 1) * per).min(g.n) {
            let x = &xs[i * vol..(i + 1) * vol];
            let cols: &[T] = if unfold {
                im2col(x, g, &mut buf);
                // SAFETY: im2col wrote every element.
                unsafe { assume_init(&buf) }
            } else {
                x
            };
            if let Some(ws) = &mut ws {
                let gout = conv_packed::f32s(&gs[i * g.o * l..(i + 1) * g.o * l]);
                conv_packed::add_grad_weight_t(gout, conv_packed::f32s(cols), g, conv_packed::f32s_mut(&mut acc), par, ws);
                continue;
            }
            for gi in 0..g.groups {
                // SAFETY: acc is (O, rg); grad_out of image i is (O, L); its columns (rows, L)
                // read transposed are (L, rg) with strides (1, L).
                unsafe {
                    gemm_into(acc.as_mut_ptr().add(gi * og * rg), rg, (gs.as_ptr().add((i * g.o + gi * og) * l), l, 1), (cols.as_ptr().add(gi * rg * l), 1, l), (og, l, rg), true, par);
                }
            }
        }
        acc
    };
    // One part runs on the calling thread alone.
    let partials: Vec<Vec<T>> = map_claimed(parts, &partial);
    let mut iter = partials.into_iter();
    let mut total = iter.next().unwrap_or_else(|| vec![T::from_f64(0.0); size]);
    for p in iter {
        total.iter_mut().zip(&p).for_each(|(t, &v)| *t += v);
    }
    if packed {
        // (rows, O) back to the weight's (O, rows).
        return (0..size).map(|j| total[(j % rg) * g.o + j / rg]).collect();
    }
    total
}

/// out[ch] = sum over images (in order) and positions of x[i, ch]: a bias gradient.
pub(super) fn channel_sum<T: Float>(xs: &[T], n: usize, channels: usize, len: usize) -> Vec<T> {
    let channel = |ch: usize| T::from_f64((0..n).map(|i| sum_slice(&xs[(i * channels + ch) * len..][..len]).to_f64()).sum());
    if xs.len() > crate::tensor::iter::GRAIN { map_claimed(channels, &channel) } else { (0..channels).map(channel).collect() }
}

/// out[i, ch, ...] += bias[ch]: the transposed convolution's bias.
pub(super) fn add_channel_bias<T: Float>(out: &mut [T], bias: &[T], len: usize) {
    let add = |(k, block): (usize, &mut [T])| {
        let b = bias[k % bias.len()];
        block.iter_mut().for_each(|v| *v += b);
    };
    if bias.is_empty() || len == 0 {
        return;
    }
    if out.len() > crate::tensor::iter::GRAIN {
        for_each_chunk_mut(out, len, &|k, block| add((k, block)));
    } else {
        out.chunks_mut(len).enumerate().for_each(add);
    }
}

/// The column matrices of all images, (N, rows, L): F.unfold, and the transposed convolution's
/// weight gradient.
pub(super) fn unfold_all<T: Float>(xs: &[T], g: &Geom) -> Vec<T> {
    let (vol, rl) = (g.c * g.volume(), g.rows() * g.len());
    let mut cols: Vec<T> = Vec::with_capacity(g.n * rl);
    hint_huge_pages(&mut cols);
    let sp = &mut cols.spare_capacity_mut()[..g.n * rl];
    if rl > 0 {
        per_image(g, sp, rl, || (), |i, c, _| im2col(&xs[i * vol..(i + 1) * vol], g, c));
    }
    // SAFETY: im2col wrote every element of every image's block.
    unsafe { cols.set_len(g.n * rl) };
    cols
}

/// The adjoint of `unfold_all`: F.fold.
pub(super) fn fold_all<T: Float>(cols: &[T], g: &Geom) -> Vec<T> {
    let (vol, rl) = (g.c * g.volume(), g.rows() * g.len());
    let mut x = vec![T::from_f64(0.0); g.n * vol];
    if vol > 0 {
        per_image(g, &mut x, vol, || (), |i, x_i, _| col2im(&cols[i * rl..(i + 1) * rl], g, x_i));
    }
    x
}
