//! Depthwise convolution (groups = input channels: each output channel reads one input
//! channel), computed directly, one plane at a time.
//!
//! im2col + gemm runs one product per group, and for a depthwise 3x3 convolution each is a
//! (1 x 9) by (9 x L) product: gemm's packing and per-call cost for nine multiply-adds an output
//! (32 x 64 x 32 x 32, forward + backward, 2 threads: 2.1x PyTorch's time). Here:
//!
//! - each input plane is copied into a zeroed box that also holds its padding (`Plan`), so no
//!   tap needs a bounds check;
//! - at stride 1 the output is computed at the box's row pitch ("wide" rows, whose last
//!   columns are dropped when the plane is written out): each tap is then one multiply-add
//!   over the whole plane, `acc[i] += w[t] * box[i + offset[t]]`, vectorised across rows,
//!   however narrow they are (a 7 x 7 plane is one run of 61, not seven of 7);
//! - other strides go row by row, reading the box at the stride.
//!
//! Backward runs per input channel, over the images in order. The input gradient is the same
//! loop with the roles swapped, `gbox[i + offset[t]] += w[t] * g[i]`, with the output gradient
//! laid out in wide rows whose dropped columns are zeros; the weight gradient is one dot
//! product a tap, `sum_i g[i] * box[i + offset[t]]`, over the wide run when the input plane is
//! finite, else row by row (the dropped columns multiply inputs no output reads, and 0 times
//! an infinite one is NaN), summed in 16 lanes so that every SIMD copy gives the same bits.
//! Each output is one sum in a fixed order whatever the thread count.

use std::mem::MaybeUninit;

use crate::parallel::{for_each_chunk_init, map_claimed, DisjointPtr};
use crate::tensor::Float;

use super::conv::Geom;

/// Whether `g` is depthwise: one input channel a group, more than one group (one group is a
/// dense convolution).
pub(super) fn applies(g: &Geom) -> bool {
    g.groups == g.c && g.c > 1 && g.n > 0 && g.len() > 0
}

/// Multiply-adds a claim of planes should hold at least, so that a 7 x 7 plane's 441 do not
/// each pay for a claim.
const WORK_PER_CLAIM: usize = 32 * 1024;

/// Lanes of the weight gradient's dot products (see the module docs).
const LANES: usize = 16;

/// Outputs a wide run computes at once, held in registers over all the taps (four AVX-512
/// registers of float32, four chains of adds to hide their latency): the sums are loaded and
/// stored once, not once a tap.
const CHUNK: usize = 64;

/// Where one plane's work reads and writes.
#[derive(Clone, Copy, Debug)]
struct Plan {
    g: Geom,
    /// Output channels per input channel.
    mult: usize,
    /// The box's extents (depth, height, width): leading padding, then as much of the input
    /// and trailing padding as some output reads.
    bx: [usize; 3],
    /// Stride 1 in every dim: outputs at the box's pitch, one run a tap.
    wide: bool,
    /// Outputs one tap's run covers: wide, from the first output to the last (dropped columns
    /// included); otherwise one row's.
    span: usize,
}

impl Plan {
    fn new(g: &Geom) -> Plan {
        let reach = |o: usize, s: usize, k: usize, d: usize| (o - 1) * s + (k - 1) * d + 1;
        let bx = [reach(g.od, g.sd, g.kd, g.dd), reach(g.oh, g.sh, g.kh, g.dh), reach(g.ow, g.sw, g.kw, g.dw)];
        let wide = (g.sd, g.sh, g.sw) == (1, 1, 1);
        let span = if wide { ((g.od - 1) * bx[1] + g.oh - 1) * bx[2] + g.ow } else { g.ow };
        Plan { g: *g, mult: g.o / g.c, bx, wide, span }
    }
    fn box_len(&self) -> usize {
        self.bx.iter().product()
    }
    /// The box's buffer: a chunk of zeros past the box, read by the last chunk of a wide run.
    fn box_buf(&self) -> usize {
        self.box_len() + CHUNK
    }
    /// A wide run's buffer: whole chunks.
    fn run_buf(&self) -> usize {
        self.span.next_multiple_of(CHUNK)
    }
    /// Each tap's offset in the box from the position of the output it serves, in the
    /// weight's (kD, kH, kW) order.
    fn offsets(&self) -> Vec<usize> {
        let (g, [_, hp, wp]) = (&self.g, self.bx);
        let mut off = Vec::with_capacity(g.taps());
        for kd in 0..g.kd {
            for kh in 0..g.kh {
                for kw in 0..g.kw {
                    off.push((kd * g.dd * hp + kh * g.dh) * wp + kw * g.dw);
                }
            }
        }
        off
    }
    /// Where output row (od, oh) reads the box at tap offset 0.
    fn row_base(&self, od: usize, oh: usize) -> usize {
        (od * self.g.sd * self.bx[1] + oh * self.g.sh) * self.bx[2]
    }
    /// Where output row (od, oh) sits in a wide run.
    fn wide_row(&self, od: usize, oh: usize) -> usize {
        (od * self.bx[1] + oh) * self.bx[2]
    }
    /// (od, oh) of every output row, in order.
    fn rows(&self) -> impl Iterator<Item = (usize, usize)> + '_ {
        (0..self.g.od).flat_map(move |od| (0..self.g.oh).map(move |oh| (od, oh)))
    }
    /// For each input row (d, h) held in the box: its start in the plane and in the box.
    fn input_rows(&self) -> impl Iterator<Item = (usize, usize)> + '_ {
        let (g, [dp, hp, wp]) = (&self.g, self.bx);
        (0..g.d).filter(move |id| g.pd + id < dp).flat_map(move |id| {
            (0..g.h).filter(move |ih| g.ph + ih < hp).map(move |ih| ((id * g.h + ih) * g.w, ((g.pd + id) * hp + g.ph + ih) * wp + g.pw))
        })
    }
    /// Input columns held in the box.
    fn input_cols(&self) -> usize {
        self.g.w.min(self.bx[2].saturating_sub(self.g.pw))
    }
    /// Copies one input plane into the zeroed box.
    fn fill_box<T: Float>(&self, plane: &[T], bx: &mut [T]) {
        bx.fill(T::zero());
        let cols = self.input_cols();
        for (src, dst) in self.input_rows() {
            bx[dst..dst + cols].copy_from_slice(&plane[src..src + cols]);
        }
    }
    /// The input plane's gradient from the box's: inputs outside the box are read by no output.
    fn write_input_grad<T: Float>(&self, gbox: &[T], plane: &mut [MaybeUninit<T>]) {
        let cols = self.input_cols();
        if cols < self.g.w || self.input_rows().count() < self.g.d * self.g.h {
            plane.fill(MaybeUninit::new(T::zero()));
        }
        for (src, dst) in self.input_rows() {
            plane[src..src + cols].copy_from_slice(as_uninit(&gbox[dst..dst + cols]));
        }
    }
    /// The output gradient plane laid out as a wide run (zeros in the dropped columns) that
    /// starts `lead` zeros into `run`.
    fn widen<T: Float>(&self, plane: &[T], lead: usize, run: &mut [T]) {
        run.fill(T::zero());
        let ow = self.g.ow;
        for (r, (od, oh)) in self.rows().enumerate() {
            let at = lead + self.wide_row(od, oh);
            run[at..at + ow].copy_from_slice(&plane[r * ow..][..ow]);
        }
    }
}

/// Depthwise forward: (N, O, *out) from input (N, C, *in), weight (O, 1, *k) and bias (O).
pub(super) fn forward<T: Float>(xs: &[T], w: &[T], bias: Option<&[T]>, g: &Geom) -> Vec<T> {
    let (p, len, taps, vol) = (Plan::new(g), g.len(), g.taps(), g.volume());
    let off = p.offsets();
    let mut out: Vec<MaybeUninit<T>> = Vec::with_capacity(g.n * g.o * len);
    // SAFETY: MaybeUninit needs no initialisation; every plane is written below.
    unsafe { out.set_len(g.n * g.o * len) };
    let group = WORK_PER_CLAIM.div_ceil(len * taps);
    let scratch = || (vec![T::zero(); p.box_buf()], vec![T::zero(); if p.wide { p.run_buf() } else { g.ow }]);
    for_each_chunk_init(&mut out, len, group, &scratch, &|(bx, acc), k, plane| {
        let (n, o) = (k / g.o, k % g.o);
        p.fill_box(&xs[(n * g.c + o / p.mult) * vol..][..vol], bx);
        let b = bias.map_or(T::zero(), |b| b[o]);
        forward_plane(bx, &w[o * taps..][..taps], b, &off, &p, acc, plane);
    });
    // SAFETY: every plane was written (`forward_plane` writes all of its `len` outputs).
    unsafe { std::mem::transmute::<Vec<MaybeUninit<T>>, Vec<T>>(out) }
}

/// The input gradient (when `w` is given) and the weight gradient (when `xs` is).
pub(super) fn backward<T: Float>(gs: &[T], w: Option<&[T]>, xs: Option<&[T]>, g: &Geom) -> (Option<Vec<T>>, Option<Vec<T>>) {
    let (p, len, taps, vol) = (Plan::new(g), g.len(), g.taps(), g.volume());
    let off = p.offsets();
    // The input gradient's box position i sums w[t] * grad[i - off[t]]: in a run that starts
    // `lead` zeros in, at i + back[t].
    let lead = off.last().copied().unwrap_or(0);
    let back: Vec<usize> = off.iter().map(|o| lead - o).collect();
    let mut gx: Option<Vec<MaybeUninit<T>>> = w.map(|_| {
        let mut v = Vec::with_capacity(g.n * g.c * vol);
        // SAFETY: MaybeUninit needs no initialisation; every plane is written below.
        unsafe { v.set_len(g.n * g.c * vol) };
        v
    });
    let gx_ptr = gx.as_mut().map(|v| DisjointPtr(v.as_mut_ptr()));
    let channel = |c: usize| -> Vec<T> {
        let mut bx = vec![T::zero(); if xs.is_some() { p.box_buf() } else { 0 }];
        let mut gbox = vec![T::zero(); if w.is_some() { p.box_buf() } else { 0 }];
        // Wide runs serve the input gradient when the weights are finite, the weight gradient
        // when the input plane is (see `backward_plane_body`).
        let finite_weights = w.is_some_and(|w| all_finite(&w[c * p.mult * taps..][..p.mult * taps]));
        // The run with `lead` zeros before it and enough after that every chunk of the box
        // reads inside it.
        let mut run = vec![T::zero(); if p.wide { p.box_len().next_multiple_of(CHUNK) + lead } else { 0 }];
        let mut gw = vec![T::zero(); if xs.is_some() { p.mult * taps } else { 0 }];
        for n in 0..g.n {
            let mut finite_input = false;
            if let Some(xs) = xs {
                let plane = &xs[(n * g.c + c) * vol..][..vol];
                p.fill_box(plane, &mut bx);
                finite_input = p.wide && all_finite(plane);
            }
            let (input, weight) = (p.wide && finite_weights, finite_input);
            gbox.fill(T::zero());
            for j in 0..p.mult {
                let o = c * p.mult + j;
                let plane = &gs[(n * g.o + o) * len..][..len];
                if input || weight {
                    p.widen(plane, lead, &mut run);
                }
                let wide = WideGrad { run: &run, lead, back: &back, input, weight };
                let weights = w.map(|w| &w[o * taps..][..taps]);
                let input_box = (!bx.is_empty()).then_some(&bx[..]);
                let out = PlaneGrads { input: (!gbox.is_empty()).then_some(&mut gbox[..]), weight: (!gw.is_empty()).then(|| &mut gw[j * taps..][..taps]) };
                backward_plane(plane, &wide, weights, input_box, &off, &p, out);
            }
            if let Some(ptr) = gx_ptr {
                // SAFETY: plane (n, c) of the input gradient is written by channel c's task
                // alone, and the buffer outlives `map_claimed`.
                let plane = unsafe { std::slice::from_raw_parts_mut(ptr.get().add((n * g.c + c) * vol), vol) };
                p.write_input_grad(&gbox, plane);
            }
        }
        gw
    };
    let per_channel = map_claimed(g.c, &channel);
    // SAFETY: every plane (n, c) was written by channel c's task.
    let gx = gx.map(|v| unsafe { std::mem::transmute::<Vec<MaybeUninit<T>>, Vec<T>>(v) });
    (gx, xs.map(|_| per_channel.concat()))
}

crate::multiversion!(forward_plane_body, forward_plane_avx2, forward_plane, Float, (bx: &[T], w: &[T], bias: T, off: &[usize], p: &Plan, acc: &mut [T], out: &mut [MaybeUninit<T>]) -> ());

/// One output plane: bias + sum over taps of w[t] * input, the taps in order.
#[inline(always)]
fn forward_plane_body<T: Float, const FMA: bool>(bx: &[T], w: &[T], bias: T, off: &[usize], p: &Plan, acc: &mut [T], out: &mut [MaybeUninit<T>]) {
    let (ow, sw) = (p.g.ow, p.g.sw);
    if p.wide {
        for (i, dst) in acc.chunks_exact_mut(CHUNK).enumerate() {
            let mut a = [bias; CHUNK];
            add_taps(&mut a, w, bx, i * CHUNK, off);
            dst.copy_from_slice(&a);
        }
        for (r, (od, oh)) in p.rows().enumerate() {
            out[r * ow..][..ow].copy_from_slice(as_uninit(&acc[p.wide_row(od, oh)..][..ow]));
        }
        return;
    }
    let row = &mut acc[..ow];
    for (r, (od, oh)) in p.rows().enumerate() {
        let base = p.row_base(od, oh);
        row.fill(bias);
        for (&wt, &o) in w.iter().zip(off) {
            let src = &bx[base + o..];
            for (j, a) in row.iter_mut().enumerate() {
                *a += wt * src[j * sw];
            }
        }
        for (o, &a) in out[r * ow..][..ow].iter_mut().zip(row.iter()) {
            o.write(a);
        }
    }
}

/// One output gradient plane as a wide run (`lead` zeros, the run, zeros to the end of `run`),
/// and which gradients may read it.
struct WideGrad<'a, T> {
    run: &'a [T],
    lead: usize,
    /// Where the input gradient's box position i reads the run for each tap: i + back[t].
    back: &'a [usize],
    /// Every weight is finite: the input gradient's chunks may read the dropped columns.
    input: bool,
    /// Every input of the plane is finite: so may the weight gradient's dot products.
    weight: bool,
}

/// Where one plane's backward adds its gradients: the input gradient's box, and the weight
/// gradient of its output channel.
struct PlaneGrads<'a, T> {
    input: Option<&'a mut [T]>,
    weight: Option<&'a mut [T]>,
}

/// Whether no value is infinite or NaN (no early exit, so that it vectorises).
fn all_finite<T: Float>(v: &[T]) -> bool {
    v.iter().fold(true, |ok, x| ok & x.is_finite())
}

crate::multiversion!(backward_plane_body, backward_plane_avx2, backward_plane, Float, (plane: &[T], wide: &WideGrad<T>, w: Option<&[T]>, bx: Option<&[T]>, off: &[usize], p: &Plan, out: PlaneGrads<T>) -> ());

/// One output plane's share of the backward: `gbox[i + off[t]] += w[t] * grad[i]` into the
/// input gradient's box, and `gw[t] += sum_i grad[i] * bx[i + off[t]]`, from the plane's rows;
/// or from the wide run where `wide` allows it: for the input gradient each chunk of the box in
/// registers, `gbox[i] += sum_t w[t] * run[i + back[t]]`, for the weight gradient
/// `wide_weight_grad`.
///
/// A wide run's dropped columns are zeros in the gradient, multiplied by weights (input
/// gradient) and by inputs no output reads through that tap (weight gradient): 0 times an
/// infinite or NaN value is NaN, so the caller allows each only when those values are finite
/// (PyTorch's differential test of non-finite inputs caught it).
#[inline(always)]
fn backward_plane_body<T: Float, const FMA: bool>(plane: &[T], wide: &WideGrad<T>, w: Option<&[T]>, bx: Option<&[T]>, off: &[usize], p: &Plan, out: PlaneGrads<T>) {
    let (ow, sw) = (p.g.ow, p.g.sw);
    let PlaneGrads { input: gbox, weight: gw } = out;
    if let (Some(w), Some(gbox)) = (w, gbox) {
        if wide.input {
            let run = wide.run;
            for (i, dst) in gbox[..p.box_len().next_multiple_of(CHUNK)].chunks_exact_mut(CHUNK).enumerate() {
                let mut a = [T::zero(); CHUNK];
                a.copy_from_slice(dst);
                add_taps(&mut a, w, run, i * CHUNK, wide.back);
                dst.copy_from_slice(&a);
            }
        } else {
            for (&wt, &o) in w.iter().zip(off) {
                for (r, (od, oh)) in p.rows().enumerate() {
                    let dst = &mut gbox[p.row_base(od, oh) + o..];
                    let grad = &plane[r * ow..][..ow];
                    if sw == 1 {
                        for (d, &g) in dst[..ow].iter_mut().zip(grad) {
                            *d += wt * g;
                        }
                    } else {
                        for (j, &g) in grad.iter().enumerate() {
                            dst[j * sw] += wt * g;
                        }
                    }
                }
            }
        }
    }
    if let (Some(bx), Some(gw)) = (bx, gw) {
        if wide.weight {
            wide_weight_grad(&wide.run[wide.lead..], bx, p.span, off, gw);
            return;
        }
        for (t, &o) in off.iter().enumerate() {
            let mut lanes = [T::zero(); LANES];
            for (r, (od, oh)) in p.rows().enumerate() {
                let src = &bx[p.row_base(od, oh) + o..];
                let grad = &plane[r * ow..][..ow];
                if sw == 1 {
                    add_products(&mut lanes, grad, &src[..ow]);
                } else {
                    for (j, &g) in grad.iter().enumerate() {
                        lanes[j % LANES] += g * src[j * sw];
                    }
                }
            }
            gw[t] += lane_sum(&lanes);
        }
    }
}

/// `v` as maybe-uninitialised values, to copy into an output being written.
fn as_uninit<T>(v: &[T]) -> &[MaybeUninit<T>] {
    // SAFETY: MaybeUninit<T> has T's layout, and any T is a valid MaybeUninit<T>.
    unsafe { &*(v as *const [T] as *const [MaybeUninit<T>]) }
}

/// a[l] += w[t] * src[at + starts[t] + l] for every tap t in order.
#[inline(always)]
fn add_taps<T: Float>(a: &mut [T; CHUNK], w: &[T], src: &[T], at: usize, starts: &[usize]) {
    for (&wt, &s) in w.iter().zip(starts) {
        let s = &src[at + s..][..CHUNK];
        for l in 0..CHUNK {
            a[l] += wt * s[l];
        }
    }
}

/// Taps a pass of `wide_weight_grad` serves: a 3x3 kernel's nine, each summing in a register.
const GRAD_TAPS: usize = 9;

/// gw[t] += sum_i grad[i] * bx[i + off[t]] over a wide run (zeros past its end; element i in
/// lane i % LANES), `GRAD_TAPS` taps at a time so that each piece of the gradient is loaded
/// once for all of them.
#[inline(always)]
fn wide_weight_grad<T: Float>(run: &[T], bx: &[T], span: usize, off: &[usize], gw: &mut [T]) {
    let pieces = span.div_ceil(LANES);
    for (taps, out) in off.chunks(GRAD_TAPS).zip(gw.chunks_mut(GRAD_TAPS)) {
        // A short last pass repeats its last tap in the unused slots, whose sums are dropped.
        let mut at = [taps[taps.len() - 1]; GRAD_TAPS];
        at[..taps.len()].copy_from_slice(taps);
        let mut lanes = [[T::zero(); LANES]; GRAD_TAPS];
        for k in 0..pieces {
            let g = &run[k * LANES..][..LANES];
            for t in 0..GRAD_TAPS {
                let x = &bx[k * LANES + at[t]..][..LANES];
                for l in 0..LANES {
                    lanes[t][l] += g[l] * x[l];
                }
            }
        }
        for (o, l) in out.iter_mut().zip(&lanes) {
            *o += lane_sum(l);
        }
    }
}

/// lanes[i % LANES] += a[i] * b[i] for every i.
#[inline(always)]
fn add_products<T: Float>(lanes: &mut [T; LANES], a: &[T], b: &[T]) {
    let (ac, bc) = (a.chunks_exact(LANES), b[..a.len()].chunks_exact(LANES));
    let (at, bt) = (ac.remainder(), bc.remainder());
    for (x, y) in ac.zip(bc) {
        for l in 0..LANES {
            lanes[l] += x[l] * y[l];
        }
    }
    for l in 0..at.len() {
        lanes[l] += at[l] * bt[l];
    }
}

#[inline(always)]
fn lane_sum<T: Float>(lanes: &[T; LANES]) -> T {
    let mut s = T::zero();
    for &v in lanes {
        s += v;
    }
    s
}
