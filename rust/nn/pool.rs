//! 2-D pooling over (N, C, H, W): max (keeping argmax indices for backward), average, and
//! adaptive average. Every (n, c) plane is independent, so planes run in parallel; backward
//! scatters each output gradient back onto its window of the input plane, plane by plane in a
//! fixed order, so results do not depend on the thread count.
//!
//! Output sizes, window clipping and the checks follow PyTorch's CPU kernels
//! (`pooling_output_shape`, `pool2d_shape_check`, MaxPoolKernel.cpp, AvgPoolKernel.cpp).

use std::marker::PhantomData;

use std::hint::select_unpredictable;

use rayon::prelude::*;

use crate::autograd::{record, Backward, Saved};
use crate::bail;
use crate::error::Result;
use crate::nn::conv::with_grad;
use crate::nn::im2col::valid_range;
use crate::tensor::iter::GRAIN;
use crate::tensor::{Element, Float, Tensor};
use crate::with_float;

/// Window parameters as the caller gave them (PyTorch's stride=None is resolved to the kernel
/// size before this point); validated by each op.
#[derive(Clone, Copy, Debug)]
pub struct PoolArgs {
    pub kernel: [i64; 2],
    pub stride: [i64; 2],
    pub padding: [i64; 2],
    pub dilation: [i64; 2],
    pub ceil_mode: bool,
}

#[derive(Clone, Copy, Debug)]
struct Geom {
    planes: usize,
    h: usize,
    w: usize,
    oh: usize,
    ow: usize,
    kh: usize,
    kw: usize,
    sh: usize,
    sw: usize,
    ph: usize,
    pw: usize,
    dh: usize,
    dw: usize,
}

impl Geom {
    /// The common CNN pool: 2x2 windows at stride 2, no padding or dilation, every window
    /// inside the input (ceil_mode can add a partial last one).
    fn is_2x2(&self) -> bool {
        (self.kh, self.kw, self.sh, self.sw, self.ph, self.pw, self.dh, self.dw) == (2, 2, 2, 2, 0, 0, 1, 1)
            && 2 * self.oh <= self.h
            && 2 * self.ow <= self.w
    }

    fn out_shape(&self, x: &Tensor) -> [usize; 4] {
        [x.shape()[0], x.shape()[1], self.oh, self.ow]
    }
}

/// PyTorch's `pooling_output_shape`: floor (or ceil) division, and in ceil mode the last window
/// must start inside the input or its leading padding.
fn output_size(size: i64, k: i64, pad: i64, stride: i64, dilation: i64, ceil: bool) -> i64 {
    let span = size + 2 * pad - dilation * (k - 1) - 1 + if ceil { stride - 1 } else { 0 };
    let mut out = span.div_euclid(stride) + 1;
    if ceil && (out - 1) * stride >= size + pad {
        out -= 1;
    }
    out
}

fn check_4d(op: &str, x: &Tensor) -> Result<()> {
    if x.ndim() != 4 {
        bail!(Runtime, "{op}: expected a 4-D input (N, C, H, W), got shape {:?}", x.shape());
    }
    if x.shape()[1..].contains(&0) {
        bail!(Runtime, "{op}: Expected 3D or 4D (batch mode) tensor with optional 0 dim batch size for input, but got: {:?}", x.shape());
    }
    Ok(())
}

fn geometry(op: &str, x: &Tensor, a: &PoolArgs) -> Result<Geom> {
    let ([kh, kw], [sh, sw], [ph, pw], [dh, dw]) = (a.kernel, a.stride, a.padding, a.dilation);
    if kh <= 0 || kw <= 0 {
        bail!(Runtime, "{op}: kernel size should be greater than zero, but got kH: {kh} kW: {kw}");
    }
    if sh <= 0 || sw <= 0 {
        bail!(Runtime, "{op}: stride should be greater than zero, but got dH: {sh} dW: {sw}");
    }
    if dh <= 0 || dw <= 0 {
        bail!(Runtime, "{op}: dilation should be greater than zero, but got dilationH: {dh} dilationW: {dw}");
    }
    if ph < 0 || pw < 0 {
        bail!(Runtime, "{op}: pad must be non-negative, but got padH: {ph} padW: {pw}");
    }
    check_4d(op, x)?;
    if kw / 2 < pw || kh / 2 < ph {
        bail!(Runtime, "{op}: pad should be smaller than or equal to half of kernel size, but got padW = {pw}, padH = {ph}, kW = {kw}, kH = {kh}");
    }
    let (c, h, w) = (x.shape()[1], x.shape()[2] as i64, x.shape()[3] as i64);
    let oh = output_size(h, kh, ph, sh, dh, a.ceil_mode);
    let ow = output_size(w, kw, pw, sw, dw, a.ceil_mode);
    if oh < 1 || ow < 1 {
        bail!(Runtime, "{op}: Given input size: ({c}x{h}x{w}). Calculated output size: ({c}x{oh}x{ow}). Output size is too small");
    }
    let u = |v: i64| v as usize;
    Ok(Geom {
        planes: x.shape()[0] * c, h: u(h), w: u(w), oh: u(oh), ow: u(ow),
        kh: u(kh), kw: u(kw), sh: u(sh), sw: u(sw), ph: u(ph), pw: u(pw), dh: u(dh), dw: u(dw),
    })
}

/// Runs `f(plane, out_plane)` for every plane of `out` (`per` elements each), in parallel
/// tasks of about GRAIN elements of work when the whole is large.
fn each_plane<T: Send>(out: &mut [T], per: usize, work_per_plane: usize, f: impl Fn(usize, &mut [T]) + Sync) {
    let per = per.max(1);
    let planes_per_task = (GRAIN / work_per_plane.max(1)).max(1);
    let task = |(t, chunk): (usize, &mut [T])| {
        for (k, plane) in chunk.chunks_mut(per).enumerate() {
            f(t * planes_per_task + k, plane);
        }
    };
    if out.len() / per * work_per_plane > GRAIN {
        out.par_chunks_mut(planes_per_task * per).enumerate().for_each(task);
    } else {
        out.chunks_mut(planes_per_task * per).enumerate().for_each(task);
    }
}

/// The elements of a (N, C, H, W) input as one contiguous slice.
fn with_input<T: Element, R>(x: &Tensor, f: impl FnOnce(&[T]) -> R) -> R {
    x.with_view::<T, _>(|v| f(&v.contiguous()))
}

// ---- max pool ----------------------------------------------------------------------------

/// `F.max_pool2d` on (N, C, H, W): returns the output and, per output element, the flat index
/// h * W + w of its maximum within its input plane (PyTorch's `return_indices`). NaN wins over
/// any number, and ties go to the first position in row-major order, as in PyTorch.
pub fn max_pool2d(x: &Tensor, a: &PoolArgs) -> Result<(Tensor, Tensor)> {
    let g = geometry("max_pool2d", x, a)?;
    let shape = g.out_shape(x);
    let rows = max_windows(g.oh, g.sh, g.ph, g.kh, g.dh, g.h);
    let cols = max_windows(g.ow, g.sw, g.pw, g.kw, g.dw, g.w);
    let taps = row_taps(&g);
    with_float!(x.dtype(), "max_pool2d", T => {
        let (hw, ohw) = (g.h * g.w, g.oh * g.ow);
        let mut vals = vec![T::from_f64(0.0); g.planes * ohw];
        let mut idx = vec![0i64; g.planes * ohw];
        with_input::<T, _>(x, |xs| {
            let per_task = (GRAIN / (hw + ohw * g.kh * g.kw)).max(1);
            let task = |(t, (v, i)): (usize, (&mut [T], &mut [i64]))| {
                for (k, (vp, ip)) in v.chunks_mut(ohw).zip(i.chunks_mut(ohw)).enumerate() {
                    let p = t * per_task + k;
                    if g.is_2x2() {
                        max_plane_2x2(&xs[p * hw..(p + 1) * hw], &g, vp, ip);
                    } else {
                        max_plane(&xs[p * hw..(p + 1) * hw], &g, (&rows, &cols), &taps, vp, ip);
                    }
                }
            };
            let chunk = per_task * ohw;
            if g.planes > per_task {
                vals.par_chunks_mut(chunk).zip(idx.par_chunks_mut(chunk)).enumerate().for_each(task);
            } else {
                vals.chunks_mut(chunk).zip(idx.chunks_mut(chunk)).enumerate().for_each(task);
            }
        });
        let indices = Tensor::from_vec_unchecked(idx, &shape);
        let out = record(Tensor::from_vec_unchecked(vals, &shape), &[x], || {
            Ok(Box::new(MaxPool2dBackward::<T> { g, input: [shape[0], shape[1], g.h, g.w], indices: Saved::new(&indices)?, t: PhantomData }))
        })?;
        Ok((out, indices))
    })
}

/// Each window's taps along one axis: the first in-bounds one and the end of the range (taps
/// step by the dilation). A window wholly in padding has start >= end.
fn max_windows(out: usize, stride: usize, pad: usize, k: usize, dilation: usize, size: usize) -> Vec<(usize, usize)> {
    (0..out)
        .map(|o| {
            let first = (o * stride) as i64 - pad as i64;
            let end = (first + ((k - 1) * dilation) as i64 + 1).min(size as i64);
            let d = dilation as i64;
            let start = if first < 0 { first + (-first + d - 1) / d * d } else { first };
            (start as usize, end.max(0) as usize)
        })
        .collect()
}

/// For each tap kx of a window row: the outputs whose tap lands inside the input row
/// (ox * sW + kx * dW - pW in [0, W)), as (first ox, end ox, input column of the first).
/// The same for every row of every plane, so computed once (its divisions cost more than
/// the compares of a 2x2 window).
fn row_taps(g: &Geom) -> Vec<(usize, usize, usize)> {
    (0..g.kw)
        .map(|kx| {
            let (lo, hi) = valid_range(kx * g.dw, g.pw, g.sw, g.w, g.ow);
            (lo, hi, if lo < hi { lo * g.sw + kx * g.dw - g.pw } else { 0 })
        })
        .filter(|&(lo, hi, _)| lo < hi)
        .collect()
}

/// Each output row's and column's [start, end) range of input rows or columns.
type RowColRanges<'a> = (&'a [(usize, usize)], &'a [(usize, usize)]);

/// One plane: the maximum of each window and its flat index (PyTorch's CPU kernel: NaN wins,
/// the first of equal maxima in row-major order wins, and an empty window points at its first
/// tap). The loops run tap by tap across a whole output row rather than window by window, so
/// consecutive windows' compare chains are independent and overlap (about 20% faster here).
fn max_plane<T: Float>(
    x: &[T],
    g: &Geom,
    (rows, cols): RowColRanges<'_>,
    taps: &[(usize, usize, usize)],
    vals: &mut [T],
    idx: &mut [i64],
) {
    let (w, ow, sw) = (g.w, g.ow, g.sw);
    for (oy, &(y0, y1)) in rows.iter().enumerate() {
        let best = &mut vals[oy * ow..(oy + 1) * ow];
        let at = &mut idx[oy * ow..(oy + 1) * ow];
        for (ox, &(x0, _)) in cols.iter().enumerate() {
            best[ox] = T::neg_infinity();
            at[ox] = (y0 * w + x0) as i64;
        }
        for y in (y0..y1).step_by(g.dh) {
            let row = &x[y * w..(y + 1) * w];
            for &(lo, hi, first) in taps {
                let base = (y * w + first) as i64;
                for (k, ox) in (lo..hi).enumerate() {
                    let v = row[first + k * sw];
                    // Which tap wins is data: as a branch it mispredicts on about every other
                    // window (3.5 ns per tap); as conditional moves (`|`, not `||`, which would
                    // branch) 0.5 ns.
                    let (b, a) = (best[ox], at[ox]);
                    let take = (v > b) | v.is_nan();
                    at[ox] = select_unpredictable(take, base + (k * sw) as i64, a);
                    best[ox] = T::select(take, v, b);
                }
            }
        }
    }
}

/// `max_plane` for 2x2 windows at stride 2: a window at a time, its four taps in registers,
/// in the same order and with the same rule (NaN wins, first of equal maxima). Branch-free and
/// without the per-tap memory round trip: 0.55 ns per tap against 3.5 (a micro-benchmark of
/// the two loops on 1024 planes of 28x28).
fn max_plane_2x2<T: Float>(x: &[T], g: &Geom, vals: &mut [T], idx: &mut [i64]) {
    let (w, ow) = (g.w, g.ow);
    for (oy, (best, at)) in vals.chunks_exact_mut(ow).zip(idx.chunks_exact_mut(ow)).enumerate() {
        let r0 = &x[2 * oy * w..][..2 * ow];
        let r1 = &x[(2 * oy + 1) * w..][..2 * ow];
        let base = (2 * oy * w) as i64;
        let taps = ((best.iter_mut().zip(at.iter_mut())).zip(r0.chunks_exact(2).zip(r1.chunks_exact(2)))).enumerate();
        for (ox, ((b, a), (p0, p1))) in taps {
            let (mut m, mut which) = (p0[0], 0i64);
            for (t, v) in [(1, p0[1]), (w as i64, p1[0]), (w as i64 + 1, p1[1])] {
                let take = (v > m) | v.is_nan();
                m = T::select(take, v, m);
                which = select_unpredictable(take, t, which);
            }
            *b = m;
            *a = base + 2 * ox as i64 + which;
        }
    }
}

struct MaxPool2dBackward<T> {
    g: Geom,
    input: [usize; 4],
    indices: Saved,
    t: PhantomData<fn() -> T>,
}

impl<T: Float> Backward for MaxPool2dBackward<T> {
    fn name(&self) -> &'static str {
        "MaxPool2DWithIndicesBackward0"
    }
    fn apply(&self, grad: &Tensor, _needs: &[bool]) -> Result<Vec<Option<Tensor>>> {
        let g = self.g;
        let (hw, ohw) = (g.h * g.w, g.oh * g.ow);
        let idx = self.indices.get()?.to_vec::<i64>();
        let mut gx = vec![T::from_f64(0.0); g.planes * hw];
        with_grad::<T, _>(grad, |gs| {
            each_plane(&mut gx, hw, hw + ohw, |p, plane| {
                for (&d, &i) in gs[p * ohw..(p + 1) * ohw].iter().zip(&idx[p * ohw..(p + 1) * ohw]) {
                    // An empty window (all taps in padding) keeps its first tap's position,
                    // which can lie past the plane: nothing to route there.
                    if let Some(v) = usize::try_from(i).ok().and_then(|i| plane.get_mut(i)) {
                        *v += d;
                    }
                }
            })
        });
        Ok(vec![Some(Tensor::from_vec_unchecked(gx, &self.input))])
    }
}

// ---- average pool ------------------------------------------------------------------------

/// `F.avg_pool2d` on (N, C, H, W). The divisor is `divisor_override` when given, else the
/// window's size counting padding (`count_include_pad`) or only the input positions it covers.
pub fn avg_pool2d(x: &Tensor, a: &PoolArgs, count_include_pad: bool, divisor_override: Option<i64>) -> Result<Tensor> {
    if divisor_override == Some(0) {
        bail!(Runtime, "avg_pool2d: divisor must be not zero");
    }
    let g = geometry("avg_pool2d", x, &PoolArgs { dilation: [1, 1], ..*a })?;
    let shape = g.out_shape(x);
    let win = AvgWindows::new(&g, count_include_pad, divisor_override);
    with_float!(x.dtype(), "avg_pool2d", T => {
        let (hw, ohw) = (g.h * g.w, g.oh * g.ow);
        let mut out = vec![T::from_f64(0.0); g.planes * ohw];
        with_input::<T, _>(x, |xs| {
            each_plane(&mut out, ohw, hw + ohw * g.kh * g.kw, |p, o| {
                let plane = &xs[p * hw..(p + 1) * hw];
                win.each(|k, (y0, y1), (x0, x1), scale| {
                    let mut s = T::from_f64(0.0);
                    for y in y0..y1 {
                        s += plane[y * g.w + x0..y * g.w + x1].iter().copied().sum::<T>();
                    }
                    o[k] = s * T::from_f64(scale);
                });
            })
        });
        record(Tensor::from_vec_unchecked(out, &shape), &[x], || {
            Ok(Box::new(AvgPool2dBackward::<T> { win, input: [shape[0], shape[1], g.h, g.w], t: PhantomData }))
        })
    })
}

/// The clipped windows of one output plane, each with the factor 1 / divisor.
#[derive(Clone, Debug)]
struct AvgWindows {
    rows: Vec<(usize, usize)>,
    cols: Vec<(usize, usize)>,
    /// scale[oy * oW + ox]; 0 for a window with no input position.
    scale: Vec<f64>,
}

impl AvgWindows {
    fn new(g: &Geom, count_include_pad: bool, divisor_override: Option<i64>) -> AvgWindows {
        // (clipped start, clipped end, length counting padding) along one axis.
        let axis = |out: usize, s: usize, p: usize, k: usize, size: usize| -> Vec<(usize, usize, usize)> {
            (0..out)
                .map(|o| {
                    let start = (o * s) as i64 - p as i64;
                    let end = (start + k as i64).min((size + p) as i64);
                    let padded = (end - start) as usize;
                    (start.max(0) as usize, (end.min(size as i64).max(0)) as usize, padded)
                })
                .collect()
        };
        let (ry, rx) = (axis(g.oh, g.sh, g.ph, g.kh, g.h), axis(g.ow, g.sw, g.pw, g.kw, g.w));
        let mut scale = Vec::with_capacity(g.oh * g.ow);
        for &(y0, y1, py) in &ry {
            for &(x0, x1, px) in &rx {
                let inside = y1.saturating_sub(y0) * x1.saturating_sub(x0);
                let div = match divisor_override {
                    Some(d) => d as f64,
                    None if count_include_pad => (py * px) as f64,
                    None => inside as f64,
                };
                scale.push(if inside == 0 { 0.0 } else { 1.0 / div });
            }
        }
        AvgWindows { rows: ry.iter().map(|r| (r.0, r.1)).collect(), cols: rx.iter().map(|c| (c.0, c.1)).collect(), scale }
    }

    /// Calls `f(flat output index, rows, cols, scale)` for every window.
    fn each(&self, mut f: impl FnMut(usize, (usize, usize), (usize, usize), f64)) {
        let ow = self.cols.len();
        for (oy, &r) in self.rows.iter().enumerate() {
            for (ox, &c) in self.cols.iter().enumerate() {
                let k = oy * ow + ox;
                f(k, r, c, self.scale[k]);
            }
        }
    }

    fn out_len(&self) -> usize {
        self.rows.len() * self.cols.len()
    }
}

struct AvgPool2dBackward<T> {
    win: AvgWindows,
    input: [usize; 4],
    t: PhantomData<fn() -> T>,
}

impl<T: Float> Backward for AvgPool2dBackward<T> {
    fn name(&self) -> &'static str {
        "AvgPool2DBackward0"
    }
    fn apply(&self, grad: &Tensor, _needs: &[bool]) -> Result<Vec<Option<Tensor>>> {
        Ok(vec![Some(spread_windows::<T>(grad, &self.win, self.input))])
    }
}

/// Backward of a windowed average: every output gradient times its scale, added onto each
/// input position of its window.
fn spread_windows<T: Float>(grad: &Tensor, win: &AvgWindows, input: [usize; 4]) -> Tensor {
    let [n, c, h, w] = input;
    let (hw, ohw) = (h * w, win.out_len());
    let mut gx = vec![T::from_f64(0.0); n * c * hw];
    with_grad::<T, _>(grad, |gs| {
        each_plane(&mut gx, hw, hw + ohw, |p, plane| {
            let go = &gs[p * ohw..(p + 1) * ohw];
            win.each(|k, (y0, y1), (x0, x1), scale| {
                let d = go[k] * T::from_f64(scale);
                for y in y0..y1 {
                    plane[y * w + x0..y * w + x1].iter_mut().for_each(|v| *v += d);
                }
            });
        })
    });
    Tensor::from_vec_unchecked(gx, &input)
}

// ---- adaptive average pool ---------------------------------------------------------------

/// `F.adaptive_avg_pool2d` on (N, C, H, W) to (N, C, oH, oW): output row i averages input rows
/// floor(i * H / oH) .. ceil((i + 1) * H / oH), and the same for columns.
pub fn adaptive_avg_pool2d(x: &Tensor, output_size: [i64; 2]) -> Result<Tensor> {
    if output_size.iter().any(|&s| s < 0) {
        bail!(Runtime, "adaptive_avg_pool2d: elements of output_size must be greater than or equal to 0 but received {output_size:?}");
    }
    if x.ndim() != 4 {
        bail!(Runtime, "adaptive_avg_pool2d: expected a 4-D input (N, C, H, W), got shape {:?}", x.shape());
    }
    if let Some(d) = (1..4).find(|&d| x.shape()[d] == 0) {
        bail!(Runtime, "adaptive_avg_pool2d(): Expected input to have non-zero size for non-batch dimensions, but input has sizes {:?} with dimension {d} being empty", x.shape());
    }
    let [n, c, h, w] = [x.shape()[0], x.shape()[1], x.shape()[2], x.shape()[3]];
    let [oh, ow] = output_size.map(|s| s as usize);
    let bins = |out: usize, size: usize| -> Vec<(usize, usize)> { (0..out).map(|i| (i * size / out, ((i + 1) * size).div_ceil(out))).collect() };
    let (rows, cols) = (bins(oh, h), bins(ow, w));
    let scale = rows.iter().flat_map(|r| cols.iter().map(move |c| 1.0 / ((r.1 - r.0) * (c.1 - c.0)) as f64)).collect();
    let win = AvgWindows { rows, cols, scale };
    with_float!(x.dtype(), "adaptive_avg_pool2d", T => {
        let (hw, ohw) = (h * w, oh * ow);
        let mut out = vec![T::from_f64(0.0); n * c * ohw];
        with_input::<T, _>(x, |xs| {
            each_plane(&mut out, ohw, 2 * hw, |p, o| {
                let plane = &xs[p * hw..(p + 1) * hw];
                win.each(|k, (y0, y1), (x0, x1), scale| {
                    let mut s = T::from_f64(0.0);
                    for y in y0..y1 {
                        s += plane[y * w + x0..y * w + x1].iter().copied().sum::<T>();
                    }
                    o[k] = s * T::from_f64(scale);
                });
            })
        });
        record(Tensor::from_vec_unchecked(out, &[n, c, oh, ow]), &[x], || {
            Ok(Box::new(AdaptiveAvgPool2dBackward::<T> { win, input: [n, c, h, w], t: PhantomData }))
        })
    })
}

struct AdaptiveAvgPool2dBackward<T> {
    win: AvgWindows,
    input: [usize; 4],
    t: PhantomData<fn() -> T>,
}

impl<T: Float> Backward for AdaptiveAvgPool2dBackward<T> {
    fn name(&self) -> &'static str {
        "AdaptiveAvgPool2DBackward0"
    }
    fn apply(&self, grad: &Tensor, _needs: &[bool]) -> Result<Vec<Option<Tensor>>> {
        Ok(vec![Some(spread_windows::<T>(grad, &self.win, self.input))])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_size_follows_pytorchs_ceil_rule() {
        // floor: (5 - 2) / 2 + 1 = 2; ceil: 3, the last window starting inside the input.
        assert_eq!(output_size(5, 2, 0, 2, 1, false), 2);
        assert_eq!(output_size(5, 2, 0, 2, 1, true), 3);
        // ceil mode would start a fourth window wholly in the trailing padding: dropped.
        assert_eq!(output_size(5, 2, 1, 2, 1, true), 3);
        assert_eq!(output_size(5, 2, 1, 2, 1, false), 3);
    }

    #[test]
    fn max_pool_picks_first_maximum_and_routes_gradient_to_it() {
        let x = Tensor::from_vec(vec![1.0f64, 3.0, 3.0, 0.0, 5.0, 2.0, 7.0, 7.0, 1.0], &[1, 1, 3, 3]).unwrap();
        x.set_requires_grad(true).unwrap();
        let a = PoolArgs { kernel: [2, 2], stride: [1, 1], padding: [0, 0], dilation: [1, 1], ceil_mode: false };
        let (y, idx) = max_pool2d(&x, &a).unwrap();
        assert_eq!(y.to_vec::<f64>(), vec![5.0, 5.0, 7.0, 7.0]);
        assert_eq!(idx.to_vec::<i64>(), vec![4, 4, 6, 7]);
        let g = crate::autograd::engine::run(&[(y, Tensor::ones(&[1, 1, 2, 2], crate::tensor::DType::F64))], false, Some(&[x])).unwrap();
        assert_eq!(g[0].as_ref().unwrap().to_vec::<f64>(), vec![0.0, 0.0, 0.0, 0.0, 2.0, 0.0, 1.0, 1.0, 0.0]);
    }
}
