//! Direct float32 convolution on small feature maps: each output sums only the kernel taps
//! that land inside the input.
//!
//! im2col multiplies the zeros of the padding like any other column: on a 4 x 4 map with a
//! 3 x 3 kernel and padding 1 they are 31% of the products, on 2 x 2 56%, on a 4^3 volume 42%.
//! PyTorch's direct kernels skip them, and on a CPU with AVX-512 its forward of 256 channels
//! at 4 x 4 ran in 0.58 of ferrograd's im2col time. Here:
//!
//! - the input is moved to channels-last, (N, *in, C), so that a tap's C values of one input
//!   position are contiguous;
//! - the weight is packed as panels of 16 output channels, each (C x taps) rows of 16 values
//!   (8 x 8 blocks transposed in registers), a tap's run over the channels taps rows apart;
//! - output positions are grouped by the set of taps inside the input ("classes": at 4 x 4, the
//!   corners, the edges and the middle), and each class's (image, position) pairs are cut in
//!   blocks of up to 6 (12 on AVX-512), each output row of a block having the same taps;
//! - a block's 6 x 16 outputs stay in registers over all its taps and channels: per channel
//!   step two loads of weights, six broadcasts of inputs and twelve FMAs (the same register
//!   block as `gemm_packed`); on AVX-512, 12 x 16 outputs with one load and twelve broadcasts
//!   (train step of 512 channels at 7 x 7, batch 8, 1 thread: 42 -> 37.5 ms, mostly in the
//!   weight gradient).
//!
//! The input gradient is the same computation the other way: each input position sums the
//! output gradient at the output positions whose taps reach it (1, 2 or 4 of a 3 x 3 kernel's
//! 9 taps at stride 2), with the weight's channel dims swapped (`grad_input`). The weight
//! gradient sums, per tap and block of 6 (12) x 16 channels, over the (image, position) pairs the
//! tap reaches inside the input (`grad_weight`).
//!
//! Each output is one sum in a fixed order (per block of 256 channels, taps in order and
//! channels in order within a tap, the blocks added in order; the weight gradient's over
//! positions, then images), however the work is split between threads: the bits do not
//! depend on the thread count.
//!
//! This file plans the work (layouts, classes, blocks, threads); the register block itself is
//! in `conv_direct_kernels.rs`.

use std::collections::HashMap;
use std::mem::MaybeUninit;

use crate::ops::gemm_packed;
use crate::parallel::{for_each_part, DisjointPtr};
use crate::tensor::{DType, Float};

use super::conv::Geom;
use super::conv_direct_kernels::{block, Dst, Steps};
use super::conv_packed::f32s;
#[cfg(target_arch = "x86_64")]
use crate::ops::gemm_packed::transpose_block;

/// Output rows (image, position pairs) and output channels of one register block: 6 x 16 on
/// AVX2 (two 256-bit accumulators a row), 12 x 16 on AVX-512 (one 512-bit accumulator a row,
/// a load and twelve broadcasts a step for twelve FMAs). Each output is the same FMA chain in
/// the same order either way, so the two give the same bits.
pub(super) const MR: usize = 6;
pub(super) const MR_WIDE: usize = 12;
pub(super) const NR: usize = 16;
/// Input channels per pass over a block's taps: a panel's weights for all taps of one pass
/// (9 x 256 x 16 floats for a 3 x 3 kernel, 144 KiB) stay in L2.
const KC: usize = 256;
/// Rows whose inputs stay close (in L1 or L2) while every panel passes over them: a block of
/// 6 rows reads at most 6 x taps x C floats of the input, 14 KiB at 9 taps and 64 channels.
const ROWS_PER_PASS: usize = 24;

/// Rows per register block on this CPU.
fn block_rows() -> usize {
    #[cfg(target_arch = "x86_64")]
    if crate::simd::has_avx512() {
        return MR_WIDE;
    }
    MR
}

/// One direct convolution in 3-D (absent leading dims 1): `c` input and `o` output channels;
/// padding is leading only (trailing padding only sets the output size).
#[derive(Clone, Copy, Debug)]
struct Shape {
    n: usize,
    c: usize,
    o: usize,
    input: [usize; 3],
    output: [usize; 3],
    kernel: [usize; 3],
    stride: [usize; 3],
    dilation: [usize; 3],
    pad: [usize; 3],
}

impl Shape {
    fn forward(g: &Geom) -> Shape {
        Shape {
            n: g.n,
            c: g.c,
            o: g.o,
            input: [g.d, g.h, g.w],
            output: [g.od, g.oh, g.ow],
            kernel: [g.kd, g.kh, g.kw],
            stride: [g.sd, g.sh, g.sw],
            dilation: [g.dd, g.dh, g.dw],
            pad: [g.pd, g.ph, g.pw],
        }
    }

    fn taps(&self) -> usize {
        self.kernel.iter().product()
    }
    fn in_len(&self) -> usize {
        self.input.iter().product()
    }
    fn out_len(&self) -> usize {
        self.output.iter().product()
    }
}

/// Whether a convolution takes the direct path: float32 on AVX2 + FMA, one group, more than
/// one tap, small outputs (up to `MAX_LEN` positions per image) and enough channels for each
/// tap's run of products.
pub(super) fn applies<T: Float>(g: &Geom) -> bool {
    T::DTYPE == DType::F32 && gemm_packed::usable() && g.groups == 1 && g.taps() > 1 && g.len() > 0 && g.len() <= MAX_LEN && g.c >= MIN_CHANNELS && g.o > 0 && g.n > 0
}

/// Whether the input gradient of `g` (taking the direct forward) takes it too: enough output
/// channels, which are its input channels.
pub(super) fn applies_to_input_gradient<T: Float>(g: &Geom) -> bool {
    applies::<T>(g) && g.o >= MIN_CHANNELS
}

/// Output positions per image up to which the direct path is taken: where the padding's share
/// of the taps is large. Past it the unfolding paths are faster: train step, 2 threads, 64 to
/// 128 channels at stride 2 to 16 x 16 (256 positions) 8.0 -> 11.2 ms, Conv1d of 64 channels
/// over 128 positions 2.8 -> 5.0 ms, 16 to 32 channels on an 8^3 volume (512) 1.7 -> 2.0 ms.
const MAX_LEN: usize = 64;
/// Input channels at least: each tap is one run of C steps of the register block.
const MIN_CHANNELS: usize = 16;

/// Elements between images in the channels-last buffers: C L and one spare cache line. Steps
/// from image to image at the same place were otherwise a multiple of 4 KiB apart whenever C L
/// is (256 x 4 x 4 floats is 16 KiB), and all fell in one L1 set: the weight gradient's loop
/// over 16 images ran at half speed.
fn image_stride(c: usize, l: usize) -> usize {
    c * l + NR
}

/// A Vec of `len` elements of T (float32 here), filled in parallel chunks of `chunk` by
/// `fill(index, chunk)`, with no zeroing pass first (the kernel's zeroing of fresh pages and
/// memset were a tenth of the direct forward).
///
/// # Safety
/// `fill` must write every element of every chunk it is given.
unsafe fn written<T: Float>(len: usize, chunk: usize, fill: &(dyn Fn(usize, &mut [MaybeUninit<f32>]) + Sync)) -> Vec<T> {
    assert_eq!(T::DTYPE, DType::F32, "conv_direct: float32 only");
    let mut v: Vec<T> = Vec::with_capacity(len);
    let spare = &mut v.spare_capacity_mut()[..len];
    // SAFETY: T is f32 (asserted above), so the two slices have the same layout.
    let spare = unsafe { &mut *(spare as *mut [MaybeUninit<T>] as *mut [MaybeUninit<f32>]) };
    crate::parallel::for_each_chunk_mut(spare, chunk, fill);
    // SAFETY: `fill` wrote every element (the caller's promise).
    unsafe { v.set_len(len) };
    v
}

/// (N, C, L) as (N, L, C), images `image_stride` apart (the spare line zero, and also read
/// past the last channel by the weight gradient's vectors).
fn channels_last(x: &[f32], n: usize, c: usize, l: usize) -> Vec<f32> {
    let stride = image_stride(c, l);
    let image = |i: usize, dst: &mut [MaybeUninit<f32>]| {
        let src = &x[i * c * l..(i + 1) * c * l];
        for ch in 0..c {
            for (p, &v) in src[ch * l..(ch + 1) * l].iter().enumerate() {
                dst[p * c + ch].write(v);
            }
        }
        dst[c * l..].iter_mut().for_each(|v| {
            v.write(0.0);
        });
    };
    // SAFETY: each image writes its C L values and its spare line.
    unsafe { written(n * stride, stride, &image) }
}

/// The weight (O, C, taps) as panels of NR output channels, each (C x taps) rows of NR
/// values in the weight's own order (so that packing reads runs of it). `turned`: the panels
/// of the input gradient instead, whose output channels are the weight's C and input
/// channels its O.
fn pack(w: &[f32], (o, c, taps): (usize, usize, usize), turned: bool) -> Vec<f32> {
    // Output and input channels of the convolution the panels are for.
    let (outs, ins) = if turned { (c, o) } else { (o, c) };
    let (k, np) = (taps * ins, outs.div_ceil(NR));
    assert!(w.len() >= o * c * taps, "conv_direct: weight shorter than {o} x {c} x {taps}");
    let fill = |p: usize, panel: &mut [MaybeUninit<f32>]| {
        let width = NR.min(outs - p * NR);
        // Weight element (the panel's output channel j, input channel i, tap t) is at
        // first + j jstride + i istride + t, and goes to panel row i taps + t, column j.
        let (first, jstride, istride) = if turned { (p * NR * taps, taps, c * taps) } else { (p * NR * c * taps, c * taps, taps) };
        let dst = panel.as_mut_ptr() as *mut f32;
        if width < NR {
            for i in 0..ins {
                for t in 0..taps {
                    for j in 0..NR {
                        let v = if j < width { w[first + j * jstride + i * istride + t] } else { 0.0 };
                        // SAFETY: row i taps + t of the panel's k rows of NR.
                        unsafe { dst.add((i * taps + t) * NR + j).write(v) };
                    }
                }
            }
            return;
        }
        // Runs of consecutive weight elements for one j: the whole row (i, t) = k / taps,
        // k % taps in the forward, one input channel's taps when turned. 8 x 8 blocks of
        // (8 channels j, 8 steps of a run) are transposed in registers into 8 panel rows.
        // Element by element from 16 rows 9 KiB apart into tap-major rows, the packing was 13%
        // of a 256-channel forward at 4 x 4, and 35% at 512 channels on 2 x 2; this way 3%.
        let (runs, run, rstride) = if turned { (ins, taps, istride) } else { (1, ins * taps, 0) };
        let row = |r: usize, k: usize| if turned { r * taps + k } else { k };
        for r in 0..runs {
            for k0 in (0..run).step_by(8) {
                let kn = 8.min(run - k0);
                for jb in (0..NR).step_by(8) {
                    let src = first + jb * jstride + r * rstride + k0;
                    #[cfg(target_arch = "x86_64")]
                    if kn == 8 {
                        // SAFETY: AVX2 (`applies`); transpose_block checks that the 8 runs of 8
                        // are inside w; each column goes to its own panel row, in the panel.
                        unsafe { transpose_block(&w[src..], jstride, dst, |kk| row(r, k0 + kk) * NR + jb) };
                        continue;
                    }
                    for kk in 0..kn {
                        for j in 0..8 {
                            // SAFETY: row(r, k0 + kk) is one of the panel's k rows of NR.
                            unsafe { dst.add(row(r, k0 + kk) * NR + jb + j).write(w[src + j * jstride + kk]) };
                        }
                    }
                }
            }
        }
    };
    // SAFETY: each panel writes all its rows, each whole (zeros past the last channel).
    unsafe { written(np * k * NR, k * NR, &fill) }
}

/// Up to `block_rows()` rows of a product block that read with the same offsets: where each
/// reads its input and which row of the result it writes.
pub(super) struct Block {
    pub(super) rows: usize,
    pub(super) input: [isize; MR_WIDE],
    pub(super) output: [usize; MR_WIDE],
}

/// Blocks of up to `block_rows()` of `rows` (input offset, output row), of near-equal size: 16
/// rows as 6 + 5 + 5, not 6 + 6 + 4, on AVX2, and 8 + 8 on AVX-512 (a block of few rows has too
/// few accumulators to hide the FMA latency).
fn blocks(rows: &[(isize, usize)]) -> Vec<Block> {
    let count = rows.len().div_ceil(block_rows());
    (0..count)
        .map(|b| {
            let part = &rows[rows.len() * b / count..rows.len() * (b + 1) / count];
            let mut block = Block { rows: part.len(), input: [0; MR_WIDE], output: [0; MR_WIDE] };
            for (r, &(input, output)) in part.iter().enumerate() {
                (block.input[r], block.output[r]) = (input, output);
            }
            block
        })
        .collect()
}

/// Output positions that read their sources at the same offsets from a base.
struct Class {
    /// (offset from the base in the channels-last source, tap index), for every tap that
    /// lands inside the source.
    taps: Vec<(isize, usize)>,
    /// (output position, its base: an offset in one image of the channels-last source).
    positions: Vec<(usize, isize)>,
}

/// The row-major index of `v` in a volume of `dims`.
fn linear(v: [isize; 3], dims: [usize; 3]) -> isize {
    (v[0] * dims[1] as isize + v[1]) * dims[2] as isize + v[2]
}

/// The output positions of the convolution `s` (or, `transposed`, of its input gradient,
/// whose outputs are s's input positions and sources its output positions) grouped by the
/// taps they take, in order of first position.
fn classes(s: &Shape, transposed: bool) -> Vec<Class> {
    let [kd, kh, kw] = s.kernel;
    let tap = |t: usize| [t / (kh * kw), t / kw % kh, t % kw];
    let (outputs, sources, channels) = if transposed { (s.input, s.output, s.o) } else { (s.output, s.input, s.c) };
    let mut index: HashMap<Vec<(isize, usize)>, usize> = HashMap::new();
    let mut classes: Vec<Class> = Vec::new();
    for q in 0..outputs.iter().product() {
        let qv = [q / (outputs[1] * outputs[2]), q / outputs[2] % outputs[1], q % outputs[2]];
        // Per tap inside the source, the source position it reads.
        let read = |t: usize| -> Option<[isize; 3]> {
            let mut at = [0isize; 3];
            for d in 0..3 {
                let reach = (tap(t)[d] * s.dilation[d]) as isize;
                at[d] = if transposed {
                    // Input position q = o stride + reach - pad: o = (q + pad - reach) / stride.
                    let num = qv[d] as isize + s.pad[d] as isize - reach;
                    if num < 0 || num % s.stride[d] as isize != 0 {
                        return None;
                    }
                    num / s.stride[d] as isize
                } else {
                    (qv[d] * s.stride[d]) as isize - s.pad[d] as isize + reach
                };
                if at[d] < 0 || at[d] as usize >= sources[d] {
                    return None;
                }
            }
            Some(at)
        };
        let reads: Vec<(isize, usize)> = (0..kd * kh * kw).filter_map(|t| read(t).map(|v| (linear(v, sources) * channels as isize, t))).collect();
        let base = reads.first().map_or(0, |r| r.0);
        let taps: Vec<(isize, usize)> = reads.iter().map(|&(a, t)| (a - base, t)).collect();
        let k = *index.entry(taps.clone()).or_insert_with(|| {
            classes.push(Class { taps, positions: Vec::new() });
            classes.len() - 1
        });
        classes[k].positions.push((q, base));
    }
    classes
}

/// Splits `items` work items between the pool's threads (one part when there is little work):
/// `f(range)` for each part's contiguous range.
fn split(items: usize, flops: usize, f: &(dyn Fn(std::ops::Range<usize>) + Sync)) {
    let parts = if flops < 1 << 19 { 1 } else { rayon::current_num_threads().clamp(1, items.max(1)) };
    for_each_part(parts, &|pi| f(items * pi / parts..items * (pi + 1) / parts));
}

/// The sizes of one direct product: images, source channels and positions per image, output
/// channels and positions per image, taps.
#[derive(Clone, Copy)]
struct Sizes {
    n: usize,
    c: usize,
    sources: usize,
    o: usize,
    outputs: usize,
    taps: usize,
}

/// out (N, O, L) = sum over each output's class's taps of the channels-last source `xt`
/// (N, L_src, C) times the packed weight, bias added.
fn run<T: Float>(s: Sizes, classes: &[Class], xt: &[f32], panels: &[f32], bias: Option<&[f32]>) -> Vec<T> {
    let (l, np, k, l_in) = (s.outputs, s.o.div_ceil(NR), s.taps * s.c, image_stride(s.c, s.sources) as isize);
    let c_blocks: Vec<usize> = (0..s.c).step_by(KC).collect();
    // Per class and block of channels, the class's taps as (input offset, panel offset).
    let segments: Vec<Vec<Vec<(isize, usize)>>> =
        classes.iter().map(|class| c_blocks.iter().map(|&c0| class.taps.iter().map(|&(a, t)| (a + c0 as isize, (c0 * s.taps + t) * NR)).collect()).collect()).collect();
    // Rows (image, position) in blocks, with their class.
    let work: Vec<(usize, Block)> = classes
        .iter()
        .enumerate()
        .flat_map(|(ci, class)| {
            let rows: Vec<(isize, usize)> = class.positions.iter().flat_map(|&(q, base)| (0..s.n).map(move |i| (i as isize * l_in + base, i * l + q))).collect();
            blocks(&rows).into_iter().map(move |b| (ci, b))
        })
        .collect();
    // (N L, O): row i L + q holds image i's outputs at position q.
    let mut rows_out: Vec<f32> = Vec::with_capacity(l * s.n * s.o);
    let dst = DisjointPtr(rows_out.as_mut_ptr());
    // The larger operand is read once: when the weight's panels outweigh the input (512
    // channels at 2 x 2: 2.4 M floats against 33 K), each panel stays in L2 while every block
    // passes; otherwise a few blocks' inputs stay close while every panel passes (a 3-D 32
    // channels on 4^3, batch 16: 28 K floats of panels, 33 K of input).
    let panels_outer = panels.len() >= xt.len();
    // Parts take panels when they come first and there are enough of them, else blocks.
    let by_panels = panels_outer && np >= rayon::current_num_threads();
    let items = if by_panels { np } else { work.len() };
    let steps = Steps { count: KC.min(s.c), x_stride: 1, panel_stride: s.taps * NR };
    let product = |p: usize, blocks: &[(usize, Block)]| {
        let panel = &panels[p * k * NR..(p + 1) * k * NR];
        let width = NR.min(s.o - p * NR);
        for (cb, &c0) in c_blocks.iter().enumerate() {
            let steps = Steps { count: KC.min(s.c - c0), ..steps };
            for (ci, b) in blocks {
                let dst = Dst { ptr: dst, ldc: s.o, col: p * NR, width };
                // SAFETY: AVX2 and FMA (`applies`); the block's rows read inputs inside xt at
                // its class's taps (made of taps inside the input) and write their own rows'
                // columns of this panel, which no other part writes.
                unsafe { block(xt.as_ptr(), b, &segments[*ci][cb], steps, panel.as_ptr(), dst, c0 > 0) };
            }
        }
    };
    split(items, s.n * l * s.o * k, &|range| {
        if by_panels {
            range.for_each(|p| product(p, &work));
        } else if panels_outer {
            (0..np).for_each(|p| product(p, &work[range.clone()]));
        } else {
            for chunk in work[range].chunks(ROWS_PER_PASS / block_rows()) {
                (0..np).for_each(|p| product(p, chunk));
            }
        }
    });
    // SAFETY: every (row, panel) pair was written above: every block for every panel.
    unsafe { rows_out.set_len(l * s.n * s.o) };
    // (N, L, O) -> (N, O, L), bias added: each image's (L, O) transposed.
    let image = |i: usize, img: &mut [MaybeUninit<f32>]| {
        for (o, row) in img.chunks_mut(l).enumerate() {
            let b = bias.map_or(0.0, |b| b[o]);
            for (q, v) in row.iter_mut().enumerate() {
                v.write(rows_out[(i * l + q) * s.o + o] + b);
            }
        }
    };
    // SAFETY: each image writes its O L values.
    unsafe { written(s.n * s.o * l, s.o * l, &image) }
}

/// The convolution's output (N, O, L), bias included.
pub(super) fn forward<T: Float>(xs: &[T], w: &[T], bias: Option<&[T]>, g: &Geom) -> Vec<T> {
    let s = Shape::forward(g);
    let xt = channels_last(f32s(xs), s.n, s.c, s.in_len());
    let z = Sizes { n: s.n, c: s.c, sources: s.in_len(), o: s.o, outputs: s.out_len(), taps: s.taps() };
    let panels = pack(f32s(w), (s.o, s.c, s.taps()), false);
    run(z, &classes(&s, false), &xt, &panels, bias.map(f32s))
}

/// The input gradient (N, C, *in) (`applies_to_input_gradient`): each input position sums
/// grad_out at the output positions whose taps reach it, times those taps' weights, the
/// weight's channel dims swapped. At stride 2 an input position is reached by 1, 2 or 4 of a
/// 3 x 3 kernel's 9 taps in 2-D, and only those are multiplied.
pub(super) fn grad_input<T: Float>(gs: &[T], w: &[T], g: &Geom) -> Vec<T> {
    let s = Shape::forward(g);
    let gt = channels_last(f32s(gs), s.n, s.o, s.out_len());
    let z = Sizes { n: s.n, c: s.o, sources: s.out_len(), o: s.c, outputs: s.in_len(), taps: s.taps() };
    let panels = pack(f32s(w), (s.o, s.c, s.taps()), true);
    run(z, &classes(&s, true), &gt, &panels, None)
}

/// The weight gradient (O, C, *kernel): for each tap, the sum over the (image, position) pairs
/// it reaches inside the input of grad_out[i, o, q] x[i, c, q's input at that tap]. Blocks of
/// 6 (12 on AVX-512) output channels x 16 input channels: grad_out is broadcast from its own layout, and the
/// channels-last input is the vector operand, read in place.
pub(super) fn grad_weight<T: Float>(xs: &[T], gs: &[T], g: &Geom) -> Vec<T> {
    let s = Shape::forward(g);
    let (l, taps, image) = (s.out_len(), s.taps(), image_stride(s.c, s.in_len()));
    let xt = channels_last(f32s(xs), s.n, s.c, s.in_len());
    // grad_out as (L, N, O): the output channels a block broadcasts are then contiguous.
    let gout = f32s(gs);
    // SAFETY: each position writes its N O values.
    let gt: Vec<f32> = unsafe {
        written(gout.len(), s.n * s.o, &|q, dst| {
            for (k, v) in dst.iter_mut().enumerate() {
                v.write(gout[k * l + q]);
            }
        })
    };
    // Per tap, the positions it reaches inside the input: (offset q N O of position q in gt,
    // offset of its input at that tap in one image of xt).
    let mut reach: Vec<Vec<(isize, usize)>> = vec![Vec::new(); taps];
    for class in classes(&s, false) {
        for &(a, t) in &class.taps {
            reach[t].extend(class.positions.iter().map(|&(q, base)| ((q * s.n * s.o) as isize, (base + a) as usize)));
        }
    }
    reach.iter_mut().for_each(|r| r.sort_unstable());
    // (O, taps C): row o holds the gradient of output channel o, tap by tap.
    let ldc = taps * s.c;
    let mut grad: Vec<f32> = Vec::with_capacity(s.o * ldc);
    let dst = DisjointPtr(grad.as_mut_ptr());
    let rows = blocks(&(0..s.o).map(|o| (o as isize, o)).collect::<Vec<_>>());
    let channel_panels = s.c.div_ceil(NR);
    let steps = Steps { count: s.n, x_stride: s.o as isize, panel_stride: image };
    // Work items: (tap, panel of channels), each writing its own columns of every row.
    split(taps * channel_panels, s.n * l * s.o * s.c * taps, &|range| {
        for item in range {
            let (t, c0) = (item / channel_panels, item % channel_panels * NR);
            let dst = Dst { ptr: dst, ldc, col: t * s.c + c0, width: NR.min(s.c - c0) };
            for b in &rows {
                // SAFETY: AVX2 and FMA (`applies`); the broadcasts read grad_out at
                // positions of every image, the vectors read 16 floats from channel c0 at
                // input positions inside every image (the spare zeros cover the last); the
                // item writes its own columns of every row of grad.
                unsafe { block(gt.as_ptr(), b, &reach[t], steps, xt[c0..].as_ptr(), dst, false) };
            }
        }
    });
    // SAFETY: every (row, tap, channel) element was written: all items, all row blocks.
    unsafe { grad.set_len(s.o * ldc) };
    let channel = |o: usize, w: &mut [MaybeUninit<f32>]| {
        let row = &grad[o * ldc..(o + 1) * ldc];
        for (c, dst) in w.chunks_mut(taps).enumerate() {
            dst.iter_mut().enumerate().for_each(|(t, v)| {
                v.write(row[t * s.c + c]);
            });
        }
    };
    // SAFETY: each output channel writes its C taps values.
    unsafe { written(s.o * ldc, ldc, &channel) }
}
