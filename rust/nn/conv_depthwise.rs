//! Depthwise convolution (groups = input channels: each output channel reads one input
//! channel), and grouped convolution of up to `MAX_GROUP_CHANNELS` input channels a group,
//! computed directly, one plane at a time.
//!
//! im2col + gemm runs one product per group, and for a depthwise 3x3 convolution each is a
//! (1 x 9) by (9 x L) product: gemm's packing and per-call cost for nine multiply-adds an output
//! (32 x 64 x 32 x 32, forward + backward, 2 threads: 2.1x PyTorch's time). Here:
//!
//! - each input plane is copied into a zeroed box that also holds its padding, split into
//!   phases by the stride (`Plan`), so that no tap needs a bounds check and every tap reads
//!   its phase at a fixed offset from the output;
//! - the output is computed at the phases' row pitch ("wide" rows, whose extra columns are
//!   dropped when the plane is written out): each tap is then one multiply-add over the whole
//!   plane, `acc[i] += w[t] * box[i + offset[t]]`, vectorised across rows however narrow they
//!   are (a 7 x 7 plane is one run of 61, not seven of 7), a chunk of outputs summed in
//!   registers over all the taps.
//!
//! Backward runs per group, over the images in order (at stride 1, small planes of several
//! images end to end as one run). The input gradient is the same loop with the roles swapped,
//! each box position summing `w[t] * g[i - offset[t]]` over its phase's taps, with the output
//! gradient laid out in wide rows whose dropped columns are zeros; the weight gradient is one
//! dot product a tap, `sum_i g[i] * box[i + offset[t]]`, over the wide run when the input
//! planes are finite, else row by row (the dropped columns multiply inputs no output reads,
//! and 0 times an infinite one is NaN), summed in 16 lanes so that every SIMD copy gives the
//! same bits. Each output is one sum in a fixed order whatever the thread count.

use std::mem::MaybeUninit;

use crate::parallel::{for_each_chunk_init, map_claimed, DisjointPtr};
use crate::tensor::Float;

use super::conv::Geom;

/// Whether `g` runs here: more than one group (one group is a dense convolution) of at most
/// `MAX_GROUP_CHANNELS` input channels each.
pub(super) fn applies(g: &Geom) -> bool {
    g.groups > 1 && g.c / g.groups <= MAX_GROUP_CHANNELS && g.n > 0 && g.len() > 0
}

/// Input channels per group up to which the planes are computed directly: each output sums
/// C / groups x taps products, and past this many one gemm per group does better (64 channels
/// at 32 x 32, 3x3, train step, 2 threads: 8 a group 13.3 ms by gemm against 17.5 here; at 4 a
/// group the two were within the machine's noise, 9.5-14.5 ms; PyTorch took 32).
const MAX_GROUP_CHANNELS: usize = 4;

/// Multiply-adds a claim of forward work should hold at least, so that a 7 x 7 plane's 441 do
/// not each pay for a claim.
const WORK_PER_CLAIM: usize = 32 * 1024;

/// Box positions a stack of small planes holds at most (see `Plan::stack`).
const STACK_POSITIONS: usize = 1024;

/// Lanes of the weight gradient's dot products (see the module docs).
const LANES: usize = 16;

/// Outputs a wide run computes at once, held in registers over all the taps (four AVX-512
/// registers of float32, four chains of adds to hide their latency): the sums are loaded and
/// stored once, not once a tap.
const CHUNK: usize = 64;

/// Where one plane's work reads and writes.
///
/// The box holds the padded input plane, as much of it as some output reads, split by the
/// stride into phases: with stride (sD, sH, sW), box position (z, y, x) is in phase
/// (z % sD, y % sH, x % sW) at (z / sD, y / sH, x / sW). Output (od, oh, ow) then reads tap
/// (kd, kh, kw) at (od, oh, ow) + (kd dD / sD, kh dH / sH, kw dW / sW) of the tap's phase: a
/// fixed offset from the output's position in the phase's layout, whatever the stride. Outputs
/// are computed at the phase planes' pitch ("wide" rows and slices, the extra positions
/// dropped when the plane is written out), so each tap is one multiply-add over the whole
/// plane. At stride 1 there is one phase, the padded plane itself.
#[derive(Clone, Debug)]
struct Plan {
    g: Geom,
    /// Input and output channels per group.
    cg: usize,
    og: usize,
    /// The padded extents (depth, height, width) some output reads: leading padding, then as
    /// much of the input and trailing padding as the last output's taps reach.
    padded: [usize; 3],
    /// One phase plane's extents: the padded ones divided by the stride, rounded up.
    phase: [usize; 3],
    /// Elements from one phase plane to the next: its size, rounded up to whole chunks when
    /// there are several, so that the input gradient's chunks of one phase never reach into
    /// the next.
    phase_stride: usize,
    /// Images whose boxes lie end to end and are computed as one run (backward, one phase
    /// only: small planes, so that a 7 x 7 plane's 81 box positions do not each pay for a
    /// pass's setup and a chunk's rounding; 64 x 512 x 7 x 7 train step 8.4-16 -> 6.9-7.4 ms). An output of image s reads its own box: its taps reach at most
    /// the end of it, and whatever an image's last outputs reach past it is dropped.
    stack: usize,
    /// Outputs of a wide run, from the first to the last (dropped positions included).
    span: usize,
    /// Per input row some output reads, in order: its start in the plane, and where it goes in
    /// the box (at stride 1 in width, its first column's position; otherwise its row's start,
    /// to which `column_phases` add).
    input_rows: Vec<(usize, usize)>,
    /// At a stride in width: per column phase that holds any input column, the first such
    /// column and where it sits from its row's start (the phase's next columns, every sW-th of
    /// the row, follow it there).
    column_phases: Vec<(usize, usize)>,
    /// Where each output row starts in a wide run, in order.
    output_rows: Vec<usize>,
}

impl Plan {
    /// `stacking`: whether small planes may run several images to a run (see `stack`).
    fn new(g: &Geom, stacking: bool) -> Plan {
        let reach = |o: usize, s: usize, k: usize, d: usize| (o - 1) * s + (k - 1) * d + 1;
        let padded = [reach(g.od, g.sd, g.kd, g.dd), reach(g.oh, g.sh, g.kh, g.dh), reach(g.ow, g.sw, g.kw, g.dw)];
        let phase = [padded[0].div_ceil(g.sd), padded[1].div_ceil(g.sh), padded[2].div_ceil(g.sw)];
        let plane: usize = phase.iter().product();
        let one_phase = (g.sd, g.sh, g.sw) == (1, 1, 1);
        let phase_stride = if one_phase { plane } else { plane.next_multiple_of(CHUNK) };
        let stack = if one_phase && stacking { (STACK_POSITIONS / plane).clamp(1, g.n.max(1)) } else { 1 };
        let span = ((g.od - 1) * phase[1] + g.oh - 1) * phase[2] + g.ow;
        let mut p = Plan { g: *g, cg: g.c / g.groups, og: g.o / g.groups, padded, phase, phase_stride, stack, span, input_rows: Vec::new(), column_phases: Vec::new(), output_rows: Vec::new() };
        // Tables of the positions each plane's copies use, so that no copy divides by a stride.
        let (sw, pw, cols) = (g.sw, g.pw, p.input_cols());
        let first = if sw == 1 { pw } else { 0 };
        for id in (0..g.d).filter(|id| g.pd + id < padded[0]) {
            for ih in (0..g.h).filter(|ih| g.ph + ih < padded[1]) {
                p.input_rows.push(((id * g.h + ih) * g.w, p.at(g.pd + id, g.ph + ih, first).0));
            }
        }
        if sw > 1 {
            p.column_phases = (0..sw).map(|px| (px + sw - pw % sw) % sw).filter(|&iw0| iw0 < cols).map(|iw0| (iw0, p.at(0, 0, pw + iw0).0)).collect();
        }
        p.output_rows = (0..g.od).flat_map(|od| (0..g.oh).map(move |oh| (od * phase[1] + oh) * phase[2])).collect();
        p
    }
    fn phases(&self) -> usize {
        self.g.sd * self.g.sh * self.g.sw
    }
    /// One image's box.
    fn box_len(&self) -> usize {
        self.phases() * self.phase_stride
    }
    /// One input channel's boxes for a stack of images, in whole chunks, and a chunk of zeros
    /// past them, read by the last chunk of a wide run.
    fn box_buf(&self) -> usize {
        (self.stack * self.box_len()).next_multiple_of(CHUNK) + CHUNK
    }
    /// Outputs of the wide run over `count` stacked images, from the first to the last.
    fn run_span(&self, count: usize) -> usize {
        (count - 1) * self.box_len() + self.span
    }
    /// The box positions of one phase (of all `count` images) that the input gradient computes
    /// chunk by chunk.
    fn region(&self, count: usize) -> usize {
        if self.phases() == 1 { (count * self.box_len()).next_multiple_of(CHUNK) } else { self.phase_stride }
    }
    /// Each tap's offset for every input channel of a group, whose boxes lie `box_buf()` apart,
    /// in the weight's (C / groups, kD, kH, kW) order.
    fn group_offsets(&self, off: &[usize]) -> Vec<usize> {
        (0..self.cg).flat_map(|ci| off.iter().map(move |o| ci * self.box_buf() + o)).collect()
    }
    /// Copies the input planes of images n0.. n0 + count, channels c0.. c0 + cg, into their
    /// boxes (channel by channel, the images of each end to end).
    fn fill_boxes<T: Float>(&self, xs: &[T], n0: usize, count: usize, c0: usize, bx: &mut [T]) {
        let vol = self.g.volume();
        for (ci, boxes) in bx.chunks_exact_mut(self.box_buf()).enumerate() {
            for s in 0..count {
                let plane = &xs[((n0 + s) * self.g.c + c0 + ci) * vol..][..vol];
                self.fill_box(plane, &mut boxes[s * self.box_len()..][..self.box_len()]);
            }
        }
    }
    /// A wide run's buffer: whole chunks.
    fn run_buf(&self) -> usize {
        self.run_span(self.stack).next_multiple_of(CHUNK)
    }
    /// Where padded position (z, y, x) sits in the box, and its phase.
    fn at(&self, z: usize, y: usize, x: usize) -> (usize, usize) {
        let (g, [_, hq, wq]) = (&self.g, self.phase);
        let phase = ((z % g.sd) * g.sh + y % g.sh) * g.sw + x % g.sw;
        (phase * self.phase_stride + ((z / g.sd) * hq + y / g.sh) * wq + x / g.sw, phase)
    }
    /// Each tap's offset in the box from the wide position of the output it serves, and its
    /// phase, in the weight's (kD, kH, kW) order.
    fn taps(&self) -> (Vec<usize>, Vec<usize>) {
        let g = &self.g;
        let mut taps = (Vec::with_capacity(g.taps()), Vec::with_capacity(g.taps()));
        for kd in 0..g.kd {
            for kh in 0..g.kh {
                for kw in 0..g.kw {
                    let (off, phase) = self.at(kd * g.dd, kh * g.dh, kw * g.dw);
                    taps.0.push(off);
                    taps.1.push(phase);
                }
            }
        }
        taps
    }
    /// Input columns some output reads.
    fn input_cols(&self) -> usize {
        self.g.w.min(self.padded[2].saturating_sub(self.g.pw))
    }
    /// Copies one input plane into the box. Every plane writes the same positions, so the
    /// padding stays as the box was allocated: zeros.
    fn fill_box<T: Float>(&self, plane: &[T], bx: &mut [T]) {
        let (cols, sw) = (self.input_cols(), self.g.sw);
        for &(src, base) in &self.input_rows {
            let row = &plane[src..src + cols];
            if sw == 1 {
                copy_row(&mut bx[base..base + cols], row);
                continue;
            }
            if let [(0, even), (1, odd)] | [(1, odd), (0, even)] = self.column_phases[..] {
                let (even, odd) = (base + even, base + odd);
                // Stride 2, the common case, in pairs rather than a strided walk.
                let (pairs, last) = (cols / 2, cols % 2);
                let (e, o) = two_runs(bx, (even, pairs + last), (odd, pairs));
                for (k, pair) in row.chunks_exact(2).enumerate() {
                    e[k] = pair[0];
                    o[k] = pair[1];
                }
                if last == 1 {
                    e[pairs] = row[cols - 1];
                }
                continue;
            }
            for &(iw0, dst) in &self.column_phases {
                let dst = base + dst;
                for (d, &v) in bx[dst..].iter_mut().zip(row[iw0..].iter().step_by(sw)) {
                    *d = v;
                }
            }
        }
    }
    /// The input plane's gradient from the box's: inputs outside the box are read by no output.
    fn write_input_grad<T: Float>(&self, gbox: &[T], plane: &mut [MaybeUninit<T>]) {
        let (cols, sw) = (self.input_cols(), self.g.sw);
        if cols < self.g.w || self.input_rows.len() < self.g.d * self.g.h {
            plane.fill(MaybeUninit::new(T::zero()));
        }
        for &(dst, base) in &self.input_rows {
            let row = &mut plane[dst..dst + cols];
            if sw == 1 {
                copy_row(row, as_uninit(&gbox[base..base + cols]));
                continue;
            }
            if let [(0, even), (1, odd)] | [(1, odd), (0, even)] = self.column_phases[..] {
                let (even, odd) = (base + even, base + odd);
                let (pairs, last) = (cols / 2, cols % 2);
                let (e, o) = (&gbox[even..even + pairs + last], &gbox[odd..odd + pairs]);
                for (k, pair) in row.chunks_exact_mut(2).enumerate() {
                    pair[0].write(e[k]);
                    pair[1].write(o[k]);
                }
                if last == 1 {
                    row[cols - 1].write(e[pairs]);
                }
                continue;
            }
            for &(iw0, src) in &self.column_phases {
                let src = base + src;
                for (v, &g) in row[iw0..].iter_mut().step_by(sw).zip(&gbox[src..]) {
                    v.write(g);
                }
            }
        }
    }
    /// Output channel o's gradient planes of images n0.. n0 + count laid out as one wide run
    /// that starts `lead` zeros into `run`. Every pass writes the same positions, so the
    /// dropped ones stay as `run` was allocated: zeros.
    fn widen<T: Float>(&self, gs: &[T], n0: usize, count: usize, o: usize, lead: usize, run: &mut [T]) {
        let (ow, len) = (self.g.ow, self.g.len());
        for s in 0..count {
            let plane = &gs[((n0 + s) * self.g.o + o) * len..][..len];
            for (r, &at) in self.output_rows.iter().enumerate() {
                let at = lead + s * self.box_len() + at;
                copy_row(&mut run[at..at + ow], &plane[r * ow..][..ow]);
            }
        }
    }
    /// Where each output row of `count` stacked images starts in their wide run, in order.
    fn stacked_rows(&self, count: usize) -> impl Iterator<Item = usize> + '_ {
        (0..count).flat_map(move |s| self.output_rows.iter().map(move |&at| s * self.box_len() + at))
    }
}

/// Grouped forward: (N, O, *out) from input (N, C, *in), weight (O, C / groups, *k) and bias
/// (O), one (image, group) at a time: its input planes boxed once for all its output planes.
pub(super) fn forward<T: Float>(xs: &[T], w: &[T], bias: Option<&[T]>, g: &Geom) -> Vec<T> {
    // Not stacked: a unit's input planes then lie side by side in memory, while a stack's are
    // C planes apart; stacked, 7 x 7 and 14 x 14 forwards took 1.4-1.7x as long.
    let (p, len) = (Plan::new(g, false), g.len());
    let off = p.group_offsets(&p.taps().0);
    let k = off.len();
    let mut out: Vec<MaybeUninit<T>> = Vec::with_capacity(g.n * g.o * len);
    // SAFETY: MaybeUninit needs no initialisation; every plane is written below.
    unsafe { out.set_len(g.n * g.o * len) };
    let per_claim = WORK_PER_CLAIM.div_ceil(p.og * len * k);
    let scratch = || (vec![T::zero(); p.cg * p.box_buf()], vec![T::zero(); p.run_buf()]);
    // A unit: an image and one group, whose output planes lie side by side.
    for_each_chunk_init(&mut out, p.og * len, per_claim, &scratch, &|(bx, acc), unit, planes| {
        let (n, grp) = (unit / g.groups, unit % g.groups);
        p.fill_boxes(xs, n, 1, grp * p.cg, bx);
        for (j, plane) in planes.chunks_exact_mut(len).enumerate() {
            let o = grp * p.og + j;
            let b = bias.map_or(T::zero(), |b| b[o]);
            forward_plane(bx, &w[o * k..][..k], b, &off, &p, acc, plane);
        }
    });
    // SAFETY: every plane was written (`forward_plane` writes all of its `len` outputs).
    unsafe { std::mem::transmute::<Vec<MaybeUninit<T>>, Vec<T>>(out) }
}

/// The input gradient (when `w` is given) and the weight gradient (when `xs` is).
pub(super) fn backward<T: Float>(gs: &[T], w: Option<&[T]>, xs: Option<&[T]>, g: &Geom) -> (Option<Vec<T>>, Option<Vec<T>>) {
    let (p, vol) = (Plan::new(g, true), g.volume());
    let (off, phase) = p.taps();
    let all = p.group_offsets(&off);
    let k = all.len();
    // Box position i of phase f sums w[t] * grad[i - off[t]] over the taps t of phase f: in a
    // run that starts `lead` zeros in, at (i - f * phase_stride) + back[t].
    let rel: Vec<usize> = off.iter().zip(&phase).map(|(o, f)| o - f * p.phase_stride).collect();
    let lead = rel.iter().copied().max().unwrap_or(0);
    let back: Vec<usize> = rel.iter().map(|r| lead - r).collect();
    let mut gx: Option<Vec<MaybeUninit<T>>> = w.map(|_| {
        let mut v = Vec::with_capacity(g.n * g.c * vol);
        // SAFETY: MaybeUninit needs no initialisation; every plane is written below.
        unsafe { v.set_len(g.n * g.c * vol) };
        v
    });
    let gx_ptr = gx.as_mut().map(|v| DisjointPtr(v.as_mut_ptr()));
    // One group a task, its images in order.
    let group = |grp: usize| -> Vec<T> {
        let (c0, o0) = (grp * p.cg, grp * p.og);
        let mut bx = vec![T::zero(); if xs.is_some() { p.cg * p.box_buf() } else { 0 }];
        let mut gbox = vec![T::zero(); if w.is_some() { p.cg * p.box_buf() } else { 0 }];
        // Wide runs serve the input gradient when the weights are finite, the weight gradient
        // when the input planes are (see `backward_plane_body`).
        let finite_weights = w.is_some_and(|w| all_finite(&w[o0 * k..][..p.og * k]));
        // `lead` zeros, the run, and zeros up to where a phase's last chunk reads.
        let mut run = vec![T::zero(); lead + p.region(p.stack)];
        let mut gw = vec![T::zero(); if xs.is_some() { p.og * k } else { 0 }];
        for n0 in (0..g.n).step_by(p.stack) {
            let count = p.stack.min(g.n - n0);
            if count < p.stack {
                // The last, short stack: what the images past it left must not be read (a
                // weight gradient's last piece reads a little past its run).
                bx.fill(T::zero());
                run.fill(T::zero());
            }
            let finite_input = xs.is_some_and(|xs| {
                p.fill_boxes(xs, n0, count, c0, &mut bx);
                (0..count).all(|s| all_finite(&xs[((n0 + s) * g.c + c0) * vol..][..p.cg * vol]))
            });
            for j in 0..p.og {
                let o = o0 + j;
                p.widen(gs, n0, count, o, lead, &mut run);
                let wide = WideGrad { run: &run, lead, back: &back, phase: &phase, count, input: finite_weights, weight: finite_input };
                let weights = w.map(|w| &w[o * k..][..k]);
                let input_box = (!bx.is_empty()).then_some(&bx[..]);
                let out = PlaneGrads { input: (!gbox.is_empty()).then_some(&mut gbox[..]), fresh: j == 0, weight: (!gw.is_empty()).then(|| &mut gw[j * k..][..k]) };
                backward_plane(&wide, weights, input_box, &all, &p, out);
            }
            if let Some(ptr) = gx_ptr {
                for (ci, gb) in gbox.chunks_exact(p.box_buf()).enumerate() {
                    for s in 0..count {
                        // SAFETY: plane (n0 + s, c0 + ci) of the input gradient is written by
                        // this group's task alone, and the buffer outlives `map_claimed`.
                        let plane = unsafe { std::slice::from_raw_parts_mut(ptr.get().add(((n0 + s) * g.c + c0 + ci) * vol), vol) };
                        p.write_input_grad(&gb[s * p.box_len()..][..p.box_len()], plane);
                    }
                }
            }
        }
        gw
    };
    let per_group = map_claimed(g.groups, &group);
    // SAFETY: every plane (n, c) was written by its group's task.
    let gx = gx.map(|v| unsafe { std::mem::transmute::<Vec<MaybeUninit<T>>, Vec<T>>(v) });
    (gx, xs.map(|_| per_group.concat()))
}

crate::multiversion!(forward_plane_body, forward_plane_avx2, forward_plane, Float, (bx: &[T], w: &[T], bias: T, off: &[usize], p: &Plan, acc: &mut [T], out: &mut [MaybeUninit<T>]) -> ());

/// One output plane: bias + sum over taps of w[t] * input, the taps in order, as a wide run
/// whose rows are then written out.
#[inline(always)]
fn forward_plane_body<T: Float, const FMA: bool>(bx: &[T], w: &[T], bias: T, off: &[usize], p: &Plan, acc: &mut [T], out: &mut [MaybeUninit<T>]) {
    for (i, dst) in acc.chunks_exact_mut(CHUNK).enumerate() {
        let mut a = [bias; CHUNK];
        add_taps(&mut a, w, bx, i * CHUNK, off, None);
        dst.copy_from_slice(&a);
    }
    let ow = p.g.ow;
    for (r, &at) in p.output_rows.iter().enumerate() {
        copy_row(&mut out[r * ow..][..ow], as_uninit(&acc[at..at + ow]));
    }
}

/// One output gradient plane as a wide run (`lead` zeros, the run, zeros to the end of `run`),
/// and which gradients may read all of it.
struct WideGrad<'a, T> {
    run: &'a [T],
    lead: usize,
    /// Where the input gradient's box position i (within its phase) reads the run for each
    /// tap: i + back[t].
    back: &'a [usize],
    /// Each tap's phase.
    phase: &'a [usize],
    /// Images stacked in the run.
    count: usize,
    /// Every weight is finite: the input gradient's chunks may read the dropped positions.
    input: bool,
    /// Every input of the plane is finite: so may the weight gradient's dot products.
    weight: bool,
}

/// Where one plane's backward adds its gradients: the input gradient's box, and the weight
/// gradient of its output channel.
struct PlaneGrads<'a, T> {
    input: Option<&'a mut [T]>,
    /// The input gradient's box holds the last image's values, to be overwritten, not added to.
    fresh: bool,
    weight: Option<&'a mut [T]>,
}

/// Whether no value is infinite or NaN (no early exit, so that it vectorises).
fn all_finite<T: Float>(v: &[T]) -> bool {
    v.iter().fold(true, |ok, x| ok & x.is_finite())
}

crate::multiversion!(backward_plane_body, backward_plane_avx2, backward_plane, Float, (wide: &WideGrad<T>, w: Option<&[T]>, bx: Option<&[T]>, off: &[usize], p: &Plan, out: PlaneGrads<T>) -> ());

/// One output plane's share of the backward: `gbox[i + off[t]] += w[t] * grad[i]` into the
/// input gradient's box, and `gw[t] += sum_i grad[i] * bx[i + off[t]]`.
///
/// Over the whole wide run where `wide` allows it: for the input gradient each chunk of a
/// phase of the box in registers, `gbox[i] += sum_t w[t] * run[i + back[t]]` over the phase's
/// taps; for the weight gradient `wide_weight_grad`. A wide run's dropped positions are zeros
/// in the gradient, multiplied by weights (input gradient) and by inputs no output reads
/// through that tap (weight gradient): 0 times an infinite or NaN value is NaN, so otherwise
/// each goes row by row over the valid outputs alone (PyTorch's differential test of
/// non-finite inputs caught it).
#[inline(always)]
fn backward_plane_body<T: Float, const FMA: bool>(wide: &WideGrad<T>, w: Option<&[T]>, bx: Option<&[T]>, off: &[usize], p: &Plan, out: PlaneGrads<T>) {
    let ow = p.g.ow;
    let grad = &wide.run[wide.lead..];
    if let (Some(w), Some(gbox)) = (w, out.input) {
        if wide.input {
            let taps = wide.back.len();
            for (ci, gb) in gbox.chunks_exact_mut(p.box_buf()).enumerate() {
                let w = &w[ci * taps..][..taps];
                for f in 0..p.phases() {
                    let region = &mut gb[f * p.phase_stride..][..p.region(wide.count)];
                    for (i, dst) in region.chunks_exact_mut(CHUNK).enumerate() {
                        let mut a = [T::zero(); CHUNK];
                        if !out.fresh {
                            a.copy_from_slice(dst);
                        }
                        add_taps(&mut a, w, wide.run, i * CHUNK, wide.back, Some((wide.phase, f)));
                        dst.copy_from_slice(&a);
                    }
                }
            }
        } else {
            if out.fresh {
                gbox.fill(T::zero());
            }
            for (&wt, &o) in w.iter().zip(off) {
                for at in p.stacked_rows(wide.count) {
                    for (d, &g) in gbox[at + o..][..ow].iter_mut().zip(&grad[at..at + ow]) {
                        *d += wt * g;
                    }
                }
            }
        }
    }
    if let (Some(bx), Some(gw)) = (bx, out.weight) {
        if wide.weight {
            wide_weight_grad(grad, bx, p.run_span(wide.count), off, gw);
            return;
        }
        for (t, &o) in off.iter().enumerate() {
            let mut lanes = [T::zero(); LANES];
            for at in p.stacked_rows(wide.count) {
                add_products(&mut lanes, &grad[at..at + ow], &bx[at + o..][..ow]);
            }
            gw[t] += lane_sum(&lanes);
        }
    }
}

/// `dst.copy_from_slice(src)` for a plane's rows, which are short: up to 32 elements as two
/// fixed-size copies that overlap (compiled inline), not a call to memcpy (a third of the time
/// of a 14 x 14 train step went to those calls and their returns).
#[inline(always)]
fn copy_row<U: Copy>(dst: &mut [U], src: &[U]) {
    let n = src.len();
    assert_eq!(dst.len(), n, "copy_row: lengths differ");
    macro_rules! two {
        ($k:literal) => {{
            dst[..$k].copy_from_slice(&src[..$k]);
            dst[n - $k..].copy_from_slice(&src[n - $k..]);
        }};
    }
    match n {
        0..4 => dst.copy_from_slice(src),
        4..8 => two!(4),
        8..16 => two!(8),
        16..=32 => two!(16),
        _ => dst.copy_from_slice(src),
    }
}

/// Two disjoint runs (start, length) of `v`, mutably.
fn two_runs<T>(v: &mut [T], a: (usize, usize), b: (usize, usize)) -> (&mut [T], &mut [T]) {
    if a.0 < b.0 {
        let (lo, hi) = v.split_at_mut(b.0);
        (&mut lo[a.0..a.0 + a.1], &mut hi[..b.1])
    } else {
        let (lo, hi) = v.split_at_mut(a.0);
        (&mut hi[..a.1], &mut lo[b.0..b.0 + b.1])
    }
}

/// `v` as maybe-uninitialised values, to copy into an output being written.
fn as_uninit<T>(v: &[T]) -> &[MaybeUninit<T>] {
    // SAFETY: MaybeUninit<T> has T's layout, and any T is a valid MaybeUninit<T>.
    unsafe { &*(v as *const [T] as *const [MaybeUninit<T>]) }
}

/// a[l] += w[t] * src[at + starts[t] + l] for every tap t in order (those of phase f alone,
/// given `Some((phases, f))`).
#[inline(always)]
fn add_taps<T: Float>(a: &mut [T; CHUNK], w: &[T], src: &[T], at: usize, starts: &[usize], only: Option<(&[usize], usize)>) {
    for (t, (&wt, &s)) in w.iter().zip(starts).enumerate() {
        if only.is_some_and(|(phases, f)| phases[t] != f) {
            continue;
        }
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
