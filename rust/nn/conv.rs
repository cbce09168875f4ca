//! 2-D convolution over (N, C, H, W) by im2col + gemm.
//!
//! Forward unfolds each image into a (C*kH*kW, oH*oW) column matrix and multiplies the weight,
//! viewed as (O, C/groups*kH*kW), by it: one gemm per group, images in parallel (rayon over the
//! batch, gemm single-threaded inside). The columns are kept for backward when the weight needs a
//! gradient, so backward never unfolds again:
//!
//! * grad_weight = sum over images of grad_out @ cols^T (per-image partials added in index order,
//!   so the result does not depend on the thread count),
//! * grad_input = col2im(W^T @ grad_out),
//! * grad_bias = grad_out summed over everything but the channel.
//!
//! A 1x1 convolution with stride 1 and no padding needs no unfolding: its columns are the input.

use std::mem::MaybeUninit;

use rayon::prelude::*;

use crate::autograd::{needs_record, record, Backward, Saved};
use crate::bail;
use crate::error::Result;
use crate::ops::gemm::{gemm, Mat};
use crate::ops::kernel::sum_slice;
use crate::tensor::{hint_huge_pages, Element, Float, Tensor};
use crate::with_float;

use super::im2col::{col2im, im2col};

/// stride, padding, dilation and groups as the caller gave them; `conv2d` validates them.
#[derive(Clone, Copy, Debug)]
pub struct Conv2dArgs {
    pub stride: [i64; 2],
    /// (before, after) for H, then for W. PyTorch's `padding=p` is (p, p); padding='same' with an
    /// even effective kernel pads one more after, as PyTorch does.
    pub padding: [[i64; 2]; 2],
    pub dilation: [i64; 2],
    pub groups: i64,
}

impl Conv2dArgs {
    /// PyTorch's defaults: stride 1, no padding, dilation 1, one group.
    pub fn new() -> Conv2dArgs {
        Conv2dArgs { stride: [1, 1], padding: [[0, 0], [0, 0]], dilation: [1, 1], groups: 1 }
    }
}

impl Default for Conv2dArgs {
    fn default() -> Self {
        Conv2dArgs::new()
    }
}

/// The validated shape of one call. `ph`/`pw` are the leading paddings; the trailing ones only
/// change the output size.
#[derive(Clone, Copy, Debug)]
pub(super) struct Geom {
    pub(super) n: usize,
    pub(super) c: usize,
    pub(super) h: usize,
    pub(super) w: usize,
    pub(super) o: usize,
    pub(super) kh: usize,
    pub(super) kw: usize,
    pub(super) oh: usize,
    pub(super) ow: usize,
    pub(super) sh: usize,
    pub(super) sw: usize,
    pub(super) ph: usize,
    pub(super) pw: usize,
    pub(super) dh: usize,
    pub(super) dw: usize,
    pub(super) groups: usize,
}

impl Geom {
    /// Rows of one group's column matrix: C/groups * kH * kW.
    fn group_rows(&self) -> usize {
        self.c / self.groups * self.kh * self.kw
    }
    fn rows(&self) -> usize {
        self.c * self.kh * self.kw
    }
    /// Output positions per image: oH * oW.
    pub(super) fn len(&self) -> usize {
        self.oh * self.ow
    }
    /// 1x1, stride 1, no padding: the input already is the column matrix.
    fn pointwise(&self) -> bool {
        self.kh == 1 && self.kw == 1 && self.sh == 1 && self.sw == 1 && self.oh == self.h && self.ow == self.w && self.ph == 0 && self.pw == 0
    }
    /// Rayon over images when there are enough of them; otherwise gemm's own threads.
    fn batch_parallel(&self) -> bool {
        let threads = rayon::current_num_threads();
        threads > 1 && self.n >= threads
    }
}

fn geometry(x: &Tensor, w: &Tensor, b: Option<&Tensor>, a: &Conv2dArgs) -> Result<Geom> {
    if x.ndim() != 4 {
        bail!(Runtime, "conv2d: expected a 4-D input (N, C, H, W), got shape {:?}", x.shape());
    }
    if w.ndim() != 4 {
        bail!(Runtime, "conv2d: expected a 4-D weight (out_channels, in_channels / groups, kH, kW), got shape {:?}", w.shape());
    }
    if x.dtype() != w.dtype() {
        bail!(Runtime, "conv2d: input type ({}) and weight type ({}) should be the same (input {:?}, weight {:?})", x.dtype().name(), w.dtype().name(), x.shape(), w.shape());
    }
    if let Some(b) = b {
        if b.dtype() != x.dtype() {
            bail!(Runtime, "conv2d: input type ({}) and bias type ({}) should be the same", x.dtype().name(), b.dtype().name());
        }
    }
    if a.stride.iter().any(|&s| s <= 0) {
        bail!(Runtime, "conv2d: non-positive stride is not supported (stride={:?})", a.stride);
    }
    if a.padding.iter().flatten().any(|&p| p < 0) {
        bail!(Runtime, "conv2d: negative padding is not supported (padding={:?})", a.padding);
    }
    if a.dilation.iter().any(|&d| d <= 0) {
        bail!(Runtime, "conv2d: dilation should be greater than zero (dilation={:?})", a.dilation);
    }
    if a.groups <= 0 {
        bail!(Runtime, "conv2d: non-positive groups is not supported (groups={})", a.groups);
    }
    let (xs, ws) = (x.shape(), w.shape());
    let groups = a.groups as usize;
    if ws[0] % groups != 0 {
        bail!(Runtime, "conv2d: given groups={groups}, expected weight to be divisible by {groups} at dimension 0, but got weight of size {ws:?} instead");
    }
    if ws[1] * groups != xs[1] {
        bail!(Runtime, "conv2d: given groups={groups}, weight of size {ws:?}, expected input{xs:?} to have {} channels, but got {} channels instead", ws[1] * groups, xs[1]);
    }
    if let Some(b) = b {
        if b.ndim() != 1 || b.shape()[0] != ws[0] {
            bail!(Runtime, "conv2d: given weight of size {ws:?}, expected bias to be 1-dimensional with {} elements, but got bias of size {:?} instead", ws[0], b.shape());
        }
    }
    let [sh, sw] = a.stride.map(|s| s as usize);
    let [dh, dw] = a.dilation.map(|d| d as usize);
    let [[ph0, ph1], [pw0, pw1]] = a.padding.map(|p| p.map(|v| v as usize));
    let (hp, wp) = (xs[2] + ph0 + ph1, xs[3] + pw0 + pw1);
    // The dilated ("effective") kernel; an empty kernel dim covers nothing.
    let (ekh, ekw) = (dh * ws[2].saturating_sub(1) + 1, dw * ws[3].saturating_sub(1) + 1);
    if ws[2] == 0 || ws[3] == 0 || hp < ekh || wp < ekw {
        bail!(Runtime, "conv2d: calculated padded input size per channel: ({hp} x {wp}). Kernel size: ({ekh} x {ekw}). Kernel size can't be greater than actual input size (input {xs:?}, weight {ws:?})");
    }
    Ok(Geom {
        n: xs[0], c: xs[1], h: xs[2], w: xs[3], o: ws[0], kh: ws[2], kw: ws[3],
        oh: (hp - ekh) / sh + 1, ow: (wp - ekw) / sw + 1,
        sh, sw, ph: ph0, pw: pw0, dh, dw, groups,
    })
}

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
fn scratch<T>(n: usize) -> Vec<MaybeUninit<T>> {
    let mut v = Vec::with_capacity(n);
    // SAFETY: MaybeUninit needs no initialisation.
    unsafe { v.set_len(n) };
    v
}

/// Reads initialised MaybeUninit elements as T.
///
/// # Safety
/// Every element of `s` must have been written.
unsafe fn assume_init<T>(s: &[MaybeUninit<T>]) -> &[T] {
    std::slice::from_raw_parts(s.as_ptr() as *const T, s.len())
}

/// 2-D convolution (PyTorch's `F.conv2d`, cross-correlation).
///
/// # Shapes
/// input (N, C, H, W), weight (O, C / groups, kH, kW), bias (O) -> (N, O, oH, oW) with
/// oH = (H + pad_top + pad_bottom - dilation * (kH - 1) - 1) / stride + 1, and the same for W.
pub fn conv2d(x: &Tensor, w: &Tensor, b: Option<&Tensor>, a: &Conv2dArgs) -> Result<Tensor> {
    let g = geometry(x, w, b, a)?;
    let mut inputs = vec![x, w];
    inputs.extend(b);
    let keep_cols = needs_record(&inputs) && w.requires_grad();
    with_float!(x.dtype(), "conv2d", T => {
        let (out, cols) = forward::<T>(x, w, b, &g, keep_cols && !g.pointwise());
        record(out, &inputs, || {
            let cols = match (keep_cols, cols) {
                (false, _) => None,
                (true, Some(c)) => Some(Columns::Owned(c)),
                (true, None) => Some(Columns::Input(Saved::new(x)?)),
            };
            let weight = if x.requires_grad() { Some(Saved::new(w)?) } else { None };
            Ok(Box::new(Conv2dBackward::<T> { g, cols, weight, has_bias: b.is_some() }))
        })
    })
}

/// The output, and the column matrices of all images when `keep_cols`.
fn forward<T: Float>(x: &Tensor, w: &Tensor, b: Option<&Tensor>, g: &Geom, keep_cols: bool) -> (Tensor, Option<Vec<T>>) {
    let (rows, l, rg, og) = (g.rows(), g.len(), g.group_rows(), g.o / g.groups);
    if g.n * g.o == 0 {
        // No output to drive the per-image loop; the (unused) columns are all zero.
        let cols = keep_cols.then(|| vec![T::from_f64(0.0); g.n * rows * l]);
        return (Tensor::from_vec_unchecked(Vec::<T>::new(), &[g.n, g.o, g.oh, g.ow]), cols);
    }
    let wv = w.to_vec::<T>();
    let bv = b.map(|b| b.to_vec::<T>());
    let (chw, ol) = (g.c * g.h * g.w, g.o * l);
    let par = gemm_threads(g);
    let mut out: Vec<T> = Vec::with_capacity(g.n * ol);
    hint_huge_pages(&mut out);
    let mut cols: Vec<T> = Vec::with_capacity(if keep_cols { g.n * rows * l } else { 0 });
    hint_huge_pages(&mut cols);
    x.with_view::<T, _>(|v| {
        let xs = v.contiguous();
        let image = |i: usize, out_i: &mut [MaybeUninit<T>], cols_i: &mut [MaybeUninit<T>]| {
            let x_i = &xs[i * chw..(i + 1) * chw];
            let cols_i: &[T] = if g.pointwise() {
                x_i
            } else {
                im2col(x_i, g, cols_i);
                // SAFETY: im2col wrote every element.
                unsafe { assume_init(cols_i) }
            };
            if let Some(bv) = &bv {
                for (row, &bo) in out_i.chunks_mut(l.max(1)).zip(bv) {
                    row.iter_mut().for_each(|v| { v.write(bo); });
                }
            }
            for gi in 0..g.groups {
                // SAFETY: out_i is (O, L) and cols_i (rows, L), both contiguous; the weight is
                // (O, rg). gemm writes every dst element (reading it only when bias filled it).
                unsafe {
                    gemm_into(
                        out_i.as_mut_ptr().add(gi * og * l) as *mut T, l,
                        (wv.as_ptr().add(gi * og * rg), rg, 1),
                        (cols_i.as_ptr().add(gi * rg * l), l, 1),
                        (og, rg, l), bv.is_some(), par,
                    );
                }
            }
        };
        let out_sp = &mut out.spare_capacity_mut()[..g.n * ol];
        let ol1 = ol.max(1);
        match (keep_cols && !g.pointwise(), g.batch_parallel()) {
            (true, parallel) => {
                let cols_sp = &mut cols.spare_capacity_mut()[..g.n * rows * l];
                let rl = (rows * l).max(1);
                if parallel {
                    out_sp.par_chunks_mut(ol1).zip(cols_sp.par_chunks_mut(rl)).enumerate().for_each(|(i, (o, c))| image(i, o, c));
                } else {
                    out_sp.chunks_mut(ol1).zip(cols_sp.chunks_mut(rl)).enumerate().for_each(|(i, (o, c))| image(i, o, c));
                }
            }
            (false, true) => {
                let size = if g.pointwise() { 0 } else { rows * l };
                out_sp.par_chunks_mut(ol1).enumerate().for_each_init(|| scratch::<T>(size), |s, (i, o)| image(i, o, s));
            }
            (false, false) => {
                let mut s = scratch::<T>(if g.pointwise() { 0 } else { rows * l });
                out_sp.chunks_mut(ol1).enumerate().for_each(|(i, o)| image(i, o, &mut s));
            }
        }
    });
    // SAFETY: every image wrote its whole output block and, when kept, its whole column block.
    unsafe {
        out.set_len(g.n * ol);
        if keep_cols {
            cols.set_len(g.n * rows * l);
        }
    }
    let out = Tensor::from_vec_unchecked(out, &[g.n, g.o, g.oh, g.ow]);
    (out, keep_cols.then_some(cols))
}

/// Where backward finds the column matrices.
enum Columns<T> {
    Owned(Vec<T>),
    /// A pointwise convolution's columns are its input.
    Input(Saved),
}

struct Conv2dBackward<T> {
    g: Geom,
    /// Present when the weight needs a gradient.
    cols: Option<Columns<T>>,
    /// Present when the input needs a gradient.
    weight: Option<Saved>,
    has_bias: bool,
}

/// Runs `f` on the gradient's elements as a contiguous slice of T.
pub(crate) fn with_grad<T: Element, R>(g: &Tensor, f: impl FnOnce(&[T]) -> R) -> R {
    if g.dtype() == T::DTYPE {
        g.with_view::<T, _>(|v| f(&v.contiguous()))
    } else {
        f(&g.to_vec::<T>())
    }
}

impl<T: Float> Backward for Conv2dBackward<T> {
    fn name(&self) -> &'static str {
        "ConvolutionBackward0"
    }
    fn apply(&self, grad: &Tensor, needs: &[bool]) -> Result<Vec<Option<Tensor>>> {
        let g = self.g;
        let need = |i: usize| needs.get(i).copied().unwrap_or(false);
        let weight = match (&self.weight, need(0)) {
            (Some(w), true) => Some(w.get()?.to_vec::<T>()),
            _ => None,
        };
        // Copied before the gradient is locked: the two may share storage.
        let input_cols = match (&self.cols, need(1)) {
            (Some(Columns::Input(x)), true) => Some(x.get()?.to_vec::<T>()),
            _ => None,
        };
        let cols: Option<&[T]> = match (&self.cols, &input_cols) {
            (_, Some(x)) => Some(x),
            (Some(Columns::Owned(c)), _) if need(1) => Some(c),
            _ => None,
        };
        let mut out = with_grad::<T, _>(grad, |gs| {
            let gx = weight.map(|w| Tensor::from_vec_unchecked(grad_input(gs, &w, &g), &[g.n, g.c, g.h, g.w]));
            let rg = g.group_rows() / (g.kh * g.kw);
            let gw = cols.map(|c| Tensor::from_vec_unchecked(grad_weight(gs, c, &g), &[g.o, rg, g.kh, g.kw]));
            let gb = (self.has_bias && need(2)).then(|| Tensor::from_vec_unchecked(grad_bias(gs, &g), &[g.o]));
            vec![gx, gw, gb]
        });
        if !self.has_bias {
            out.pop();
        }
        Ok(out)
    }
}

/// grad_input = col2im(W^T @ grad_out) per image, images in parallel.
fn grad_input<T: Float>(gs: &[T], w: &[T], g: &Geom) -> Vec<T> {
    let (l, rg, og, chw) = (g.len(), g.group_rows(), g.o / g.groups, g.c * g.h * g.w);
    let par = gemm_threads(g);
    let mut gx = vec![T::from_f64(0.0); g.n * chw];
    let image = |i: usize, gx_i: &mut [T], dcols: &mut [MaybeUninit<T>]| {
        let dst = if g.pointwise() { gx_i.as_mut_ptr() } else { dcols.as_mut_ptr() as *mut T };
        for gi in 0..g.groups {
            // SAFETY: dst is (rows, L); the weight viewed transposed is (rg, og) with strides
            // (1, rg); grad_out of image i is (O, L). gemm writes every dst element.
            unsafe {
                gemm_into(
                    dst.add(gi * rg * l), l,
                    (w.as_ptr().add(gi * og * rg), 1, rg),
                    (gs.as_ptr().add((i * g.o + gi * og) * l), l, 1),
                    (rg, og, l), false, par,
                );
            }
        }
        if !g.pointwise() {
            // SAFETY: the gemms above wrote all rows * L elements.
            col2im(unsafe { assume_init(dcols) }, g, gx_i);
        }
    };
    let size = if g.pointwise() { 0 } else { g.rows() * l };
    if g.batch_parallel() {
        gx.par_chunks_mut(chw.max(1)).enumerate().for_each_init(|| scratch::<T>(size), |s, (i, x)| image(i, x, s));
    } else {
        let mut s = scratch::<T>(size);
        gx.chunks_mut(chw.max(1)).enumerate().for_each(|(i, x)| image(i, x, &mut s));
    }
    gx
}

/// Elements of per-image weight-gradient partials held at once; past it, consecutive images
/// share one partial. The split depends on the shapes only, never on the thread count.
const PARTIAL_BUDGET: usize = 1 << 22;

/// grad_weight = sum_i grad_out_i @ cols_i^T: partials over fixed runs of images, added in
/// index order.
fn grad_weight<T: Float>(gs: &[T], cols: &[T], g: &Geom) -> Vec<T> {
    let (l, rg, og, rows) = (g.len(), g.group_rows(), g.o / g.groups, g.rows());
    let size = g.o * rg;
    let parts = g.n.min((PARTIAL_BUDGET / size.max(1)).max(1)).max(1);
    let per = g.n.div_ceil(parts).max(1);
    let par = if parts < rayon::current_num_threads() { rayon::current_num_threads() } else { 1 };
    let partial = |p: usize| {
        let mut acc = vec![T::from_f64(0.0); size];
        for i in p * per..((p + 1) * per).min(g.n) {
            for gi in 0..g.groups {
                // SAFETY: acc is (O, rg); grad_out of image i is (O, L); its columns (rows, L)
                // read transposed are (L, rg) with strides (1, L).
                unsafe {
                    gemm_into(
                        acc.as_mut_ptr().add(gi * og * rg), rg,
                        (gs.as_ptr().add((i * g.o + gi * og) * l), l, 1),
                        (cols.as_ptr().add(i * rows * l + gi * rg * l), 1, l),
                        (og, l, rg), true, par,
                    );
                }
            }
        }
        acc
    };
    let partials: Vec<Vec<T>> = if parts > 1 { (0..parts).into_par_iter().map(partial).collect() } else { (0..parts).map(partial).collect() };
    let mut iter = partials.into_iter();
    let mut total = iter.next().unwrap_or_else(|| vec![T::from_f64(0.0); size]);
    for p in iter {
        total.iter_mut().zip(&p).for_each(|(t, &v)| *t += v);
    }
    total
}

/// grad_bias[o] = sum over images (in order) and positions of grad_out[i, o].
fn grad_bias<T: Float>(gs: &[T], g: &Geom) -> Vec<T> {
    let l = g.len();
    let channel = |o: usize| T::from_f64((0..g.n).map(|i| sum_slice(&gs[(i * g.o + o) * l..][..l]).to_f64()).sum());
    if gs.len() > crate::tensor::iter::GRAIN { (0..g.o).into_par_iter().map(channel).collect() } else { (0..g.o).map(channel).collect() }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::autograd::engine;

    /// Direct loops over the padded input: the definition of cross-correlation.
    fn naive(x: &[f64], xs: [usize; 4], w: &[f64], ws: [usize; 4], a: &Conv2dArgs) -> (Vec<f64>, [usize; 4]) {
        let [n, c, h, wd] = xs;
        let [o, cg, kh, kw] = ws;
        let (s, d, p, gr) = (a.stride.map(|v| v as usize), a.dilation.map(|v| v as usize), a.padding, a.groups as usize);
        let oh = (h + (p[0][0] + p[0][1]) as usize - d[0] * (kh - 1) - 1) / s[0] + 1;
        let ow = (wd + (p[1][0] + p[1][1]) as usize - d[1] * (kw - 1) - 1) / s[1] + 1;
        let og = o / gr;
        let mut out = vec![0.0; n * o * oh * ow];
        for b in 0..n {
            for oc in 0..o {
                for y in 0..oh {
                    for xx in 0..ow {
                        let mut acc = 0.0;
                        for ci in 0..cg {
                            let ic = oc / og * cg + ci;
                            for i in 0..kh {
                                for j in 0..kw {
                                    let iy = (y * s[0] + i * d[0]) as i64 - p[0][0];
                                    let ix = (xx * s[1] + j * d[1]) as i64 - p[1][0];
                                    if iy >= 0 && ix >= 0 && (iy as usize) < h && (ix as usize) < wd {
                                        acc += x[((b * c + ic) * h + iy as usize) * wd + ix as usize] * w[((oc * cg + ci) * kh + i) * kw + j];
                                    }
                                }
                            }
                        }
                        out[((b * o + oc) * oh + y) * ow + xx] = acc;
                    }
                }
            }
        }
        (out, [n, o, oh, ow])
    }

    fn data(n: usize, seed: f64) -> Vec<f64> {
        (0..n).map(|i| ((i as f64 + seed) * 0.731).sin()).collect()
    }

    fn dot(a: &[f64], b: &[f64]) -> f64 {
        a.iter().zip(b).map(|(x, y)| x * y).sum()
    }

    #[test]
    fn conv2d_matches_direct_loops_and_its_gradients_are_adjoint() {
        let cases = [
            ([2, 4, 7, 6], [6, 2, 3, 2], Conv2dArgs { stride: [2, 1], padding: [[1, 2], [0, 1]], dilation: [1, 2], groups: 2 }),
            ([3, 3, 5, 5], [3, 1, 3, 3], Conv2dArgs { stride: [1, 1], padding: [[1, 1], [1, 1]], dilation: [1, 1], groups: 3 }),
            ([2, 3, 4, 5], [5, 3, 1, 1], Conv2dArgs::new()),
            ([4, 1, 6, 6], [2, 1, 3, 3], Conv2dArgs { stride: [3, 2], padding: [[1, 1], [1, 1]], dilation: [1, 1], groups: 1 }),
            // 'same'-shaped outputs take im2col's one-copy path, including taps wholly in padding.
            ([2, 2, 3, 1], [2, 2, 5, 5], Conv2dArgs { stride: [1, 1], padding: [[2, 2], [2, 2]], dilation: [1, 1], groups: 1 }),
            ([2, 2, 5, 4], [3, 2, 3, 3], Conv2dArgs { stride: [1, 1], padding: [[2, 2], [1, 1]], dilation: [2, 1], groups: 1 }),
            ([1, 1, 4, 4], [1, 1, 4, 4], Conv2dArgs { stride: [1, 1], padding: [[1, 2], [1, 2]], dilation: [1, 1], groups: 1 }),
        ];
        for (xs, ws, a) in cases {
            let (xv, wv) = (data(xs.iter().product(), 0.3), data(ws.iter().product(), 1.7));
            let x = Tensor::from_vec(xv.clone(), &xs).unwrap();
            let w = Tensor::from_vec(wv.clone(), &ws).unwrap();
            x.set_requires_grad(true).unwrap();
            w.set_requires_grad(true).unwrap();
            let y = conv2d(&x, &w, None, &a).unwrap();
            let (r, rs) = naive(&xv, xs, &wv, ws, &a);
            assert_eq!(y.shape(), &rs);
            let yv = y.to_vec::<f64>();
            assert!(yv.iter().zip(&r).all(|(p, q)| (p - q).abs() < 1e-12), "{xs:?} {ws:?}");
            // conv is bilinear: <conv(x, w), g> = <x, dL/dx> = <w, dL/dw>.
            let gv = data(yv.len(), 5.1);
            let gt = Tensor::from_vec(gv.clone(), y.shape()).unwrap();
            let grads = engine::run(&[(y, gt)], false, Some(&[x.clone(), w.clone()])).unwrap();
            let (gx, gw) = (grads[0].as_ref().unwrap().to_vec::<f64>(), grads[1].as_ref().unwrap().to_vec::<f64>());
            let lhs = dot(&r, &gv);
            assert!((dot(&xv, &gx) - lhs).abs() < 1e-9 && (dot(&wv, &gw) - lhs).abs() < 1e-9);
        }
    }

    #[test]
    fn conv2d_errors_name_the_shapes() {
        let x = Tensor::zeros(&[1, 3, 4, 4], crate::tensor::DType::F32);
        let w = Tensor::zeros(&[2, 2, 3, 3], crate::tensor::DType::F32);
        let e = conv2d(&x, &w, None, &Conv2dArgs::new()).unwrap_err().to_string();
        assert!(e.contains("[2, 2, 3, 3]") && e.contains("[1, 3, 4, 4]") && e.contains("to have 2 channels"), "{e}");
        let w5 = Tensor::zeros(&[1, 3, 5, 5], crate::tensor::DType::F32);
        let e = conv2d(&x, &w5, None, &Conv2dArgs::new()).unwrap_err().to_string();
        assert!(e.contains("(4 x 4)") && e.contains("(5 x 5)"), "{e}");
    }
}
