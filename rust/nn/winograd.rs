//! float32 3x3 convolutions of stride 1 by Winograd's minimal filtering F(2x2, 3x3) (Lavin and
//! Gray, "Fast Algorithms for Convolutional Neural Networks", 2016), forward and both gradients.
//!
//! A 2x2 block of outputs needs 36 multiplications per channel pair done directly and 16 this
//! way: each 4x4 input tile d and each 3x3 kernel g are transformed,
//!
//!   Y = A^T [(G g G^T) . (B^T d B)] A,
//!
//! and the elementwise product summed over input channels is, for each of the 16 positions xi
//! of a transformed tile, one matrix product: M[xi] (O, tiles) = U[xi] (O, C) @ V[xi] (C, tiles).
//! The 3x3 convolutions of a ResNet are nine tenths of its arithmetic, and their products here
//! are a 2.25th of im2col's.
//!
//! - forward: U from the weight once per call, V from the input per chunk of tiles;
//! - input gradient: the same forward over the output gradient, with each kernel turned by 180
//!   degrees and its two channel dims swapped, padded by 2 - p (full correlation);
//! - weight gradient: the adjoint of the forward, dU[xi] = (A dY A^T)[xi] @ V[xi]^T summed over
//!   tiles, then dW = G^T dU G.
//!
//! Tiles of all images are numbered in one sequence and taken in chunks of a fixed size, so a
//! product is wide even when each image has a single tile (ResNet's last stage at 64 x 64), and
//! the chunks, not the images, are what threads share. The weight gradient sums fixed runs of
//! chunks and adds those partials in index order: its bits do not depend on the thread count.
//!
//! The transforms add and subtract neighbouring inputs, so rounding grows with the spread of
//! magnitudes inside a tile: on unit normal data the results stay within a few float32 ulp of
//! the sum's scale (the tests compare with a float64 direct convolution).
//!
//! The transforms themselves, in vectors over a chunk, are in `winograd_transforms.rs`; this file
//! decides where the method applies, cuts the work into chunks and runs the products.

use crate::ops::gemm::Mat;
use crate::ops::gemm_packed::{self, panel_index, PackedRhs};
use crate::parallel::{for_each_claimed, map_claimed, DisjointPtr};
use crate::tensor::{DType, Float};

use super::conv::Geom;
use super::winograd_transforms::{transform_grad_output, transform_input, transform_output, transform_weight};
use super::conv_packed::{f32s, f32s_mut};

/// Positions of a transformed tile.
pub(super) const XI: usize = 16;
/// Below this many input or output channels the transforms outweigh the saving.
const MIN_CHANNELS: usize = 32;
/// Elements of weight-gradient partials held at once (as `conv_kernels::PARTIAL_BUDGET`), and
/// at most this many partials: each is a fresh buffer the size of 16/9 of the weight, and adding
/// them up costs a pass each.
const PARTIAL_BUDGET: usize = 1 << 22;
const MAX_PARTIALS: usize = 8;

/// Whether `g` runs here: float32 on AVX2 + FMA, one group, a 2-D 3x3 kernel with stride and
/// dilation 1, leading padding of at most 2 (the input gradient pads by 2 - p; any trailing
/// padding), enough channels and at least one tile (2 x 2 outputs) of the batch per channel.
pub(super) fn applies<T: Float>(g: &Geom) -> bool {
    T::DTYPE == DType::F32
        && gemm_packed::usable()
        && g.groups == 1
        && (g.kd, g.kh, g.kw) == (1, 3, 3)
        && (g.d, g.od, g.pd) == (1, 1, 0)
        && (g.sh, g.sw, g.dh, g.dw) == (1, 1, 1, 1)
        && g.ph <= 2
        && g.pw <= 2
        && g.c >= MIN_CHANNELS
        && g.o >= MIN_CHANNELS
        // Below one tile of the whole batch per channel, the transformed kernels (16/9 of the
        // weight, made for every call and read once per chunk) outweigh the saving. Measured on
        // 3x3 convolutions, forward and each gradient, against im2col in one process taking
        // turns (time ratios, 2 threads / 1 thread): 64 channels at 32 x 32 and 56 x 56 and 128
        // at 28 x 28, 0.52-0.62; 256 at 14 x 14 (1.5 tiles per channel), 0.73-0.91; 128 at 8 x 8
        // (2), 1.0 / 0.77-0.86; 32 at 16 x 16 (64), 0.9-1.05; 256 at 4 x 4 and 512 at 7 x 7
        // (0.25), 1.1-2.0.
        && g.n * g.oh.div_ceil(2) * g.ow.div_ceil(2) >= g.c.max(g.o)
        // Odd maps compute a row and a column of outputs no one asked for: at 7 x 7, 64 for 49.
        // Where the direct kernel also applies (maps of 64 outputs or fewer) it is faster then:
        // train step of 256 channels at 7 x 7, batch 16, 11.6 against 14.1 ms at 2 threads,
        // 23.0 against 25.7 at 1. On even maps Winograd stays ahead (the same at 8 x 8: 13.9
        // against 15.3 ms, and 0.96-1.0 of the direct time at 64 and 512 channels).
        && (4 * 4 * g.oh.div_ceil(2) * g.ow.div_ceil(2) <= 5 * g.oh * g.ow || !super::conv_direct::applies::<T>(g))
}

/// One pass over images of `c` channels, h x w, read with leading padding (py, px) (zero
/// outside the image), into outputs of oh x ow.
#[derive(Clone, Copy, Debug)]
pub(super) struct Pass {
    pub(super) n: usize,
    pub(super) c: usize,
    pub(super) h: usize,
    pub(super) w: usize,
    pub(super) py: usize,
    pub(super) px: usize,
    pub(super) oh: usize,
    pub(super) ow: usize,
}

impl Pass {
    fn forward(g: &Geom) -> Pass {
        Pass { n: g.n, c: g.c, h: g.h, w: g.w, py: g.ph, px: g.pw, oh: g.oh, ow: g.ow }
    }
    /// The input gradient's pass: over the output gradient, into the input's size.
    fn backward(g: &Geom) -> Pass {
        Pass { n: g.n, c: g.o, h: g.oh, w: g.ow, py: 2 - g.ph, px: 2 - g.pw, oh: g.h, ow: g.w }
    }
    pub(super) fn tiles_x(&self) -> usize {
        self.ow.div_ceil(2)
    }
    pub(super) fn tiles_per_image(&self) -> usize {
        self.oh.div_ceil(2) * self.tiles_x()
    }
    fn tiles(&self) -> usize {
        self.n * self.tiles_per_image()
    }
}

/// Tiles per chunk, a multiple of the panel width: a chunk's transformed inputs and products
/// are 16 (C + O) floats per tile, 2 MiB in all, so that one position's product (a 16th of
/// them) works inside L2. A quarter of this was slower at 64 channels, four times as much no
/// faster. A batch of fewer tiles is still cut into `MIN_CHUNKS` chunks (of 64 tiles at
/// least), so that every thread transforms its own share: a single chunk left one thread
/// transforming the whole batch while both shared its narrow products (64 channels at 8 x 8,
/// batch 16: a train step of 3.9 ms, 1.2 cut in four). The count is fixed rather than the
/// pool's size, as the weight gradient's partial sums follow the chunks and its bits must not
/// depend on the thread count.
fn chunk_tiles(c: usize, o: usize, tiles: usize) -> usize {
    let share = (tiles.div_ceil(MIN_CHUNKS).div_ceil(16) * 16).max(64);
    ((32768 / (c + o)) / 16 * 16).clamp(16, 512).min(share)
}

/// Chunks a call is cut into at least, when it has the tiles: an even share for two or four
/// threads.
const MIN_CHUNKS: usize = 4;

/// A worker's buffers, kept from chunk to chunk.
pub(super) struct Workspace {
    /// The forward's transformed inputs, one packed operand per position; the weight
    /// gradient's transformed output gradients.
    pub(super) v: Vec<PackedRhs>,
    /// Products (forward, (16, O, chunk)) or transformed inputs (weight gradient, (16, C,
    /// chunk)), position blocks `block_stride` apart.
    pub(super) m: Vec<f32>,
    /// A channel's tiles' inputs (or output gradients) as rows over the chunk, and (`run`) their
    /// 16 transformed rows before they go to their operand.
    pub(super) rows: Vec<f32>,
    pub(super) run: Vec<f32>,
    /// The chunk's runs of tiles (see `runs`).
    pub(super) runs: Vec<[usize; 5]>,
    /// Each tile's top left output element, for the output transform.
    pub(super) corners: Vec<(usize, bool, bool)>,
}

impl Workspace {
    fn new() -> Workspace {
        let v = (0..XI).map(|_| PackedRhs::empty().expect("winograd: used without AVX2 and FMA")).collect();
        Workspace { v, m: Vec::new(), rows: Vec::new(), run: Vec::new(), runs: Vec::new(), corners: Vec::new() }
    }
}

/// The distance between position blocks of `rows` x `tb` floats: two cache lines past a whole
/// block, so that the 16 positions of one element do not all fall in the same L1 set (blocks a
/// multiple of 4 KiB apart would, and 16 of them exceed its 8 ways).
fn block_stride(rows: usize, tb: usize) -> usize {
    rows * tb + 32
}

/// Runs `chunk(i, workspace)` for every chunk, in parallel when there are enough of them for
/// every thread, passing the threads each chunk's products may use.
fn for_each_chunk(chunks: usize, chunk: impl Fn(usize, &mut Workspace, usize) + Sync + Send) {
    let threads = rayon::current_num_threads();
    if threads > 1 && chunks >= threads {
        // Claimed one by one, the caller never sleeping (see `parallel::for_each_claimed`).
        for_each_claimed(chunks, &|| (), &|i, _| with_workspace(|ws| chunk(i, ws, 1)));
    } else {
        with_workspace(|ws| (0..chunks).for_each(|i| chunk(i, ws, threads)));
    }
}

thread_local! {
    /// Each thread's workspace, kept from call to call: fresh buffers of a few MiB cost more in
    /// page faults than a small convolution's transforms.
    static KEPT: std::cell::RefCell<Option<Workspace>> = const { std::cell::RefCell::new(None) };
}

/// Runs `f` with this thread's kept workspace, or a fresh one while that is in use (by a call
/// this thread interrupted to help another, inside a parallel product).
fn with_workspace<R>(f: impl FnOnce(&mut Workspace) -> R) -> R {
    KEPT.with(|kept| match kept.try_borrow_mut() {
        Ok(mut slot) => {
            // A call that panicked (a bug) may have left the operands taken out: start afresh.
            if slot.as_ref().is_some_and(|ws| ws.v.len() != XI) {
                *slot = None;
            }
            f(slot.get_or_insert_with(Workspace::new))
        }
        Err(_) => f(&mut Workspace::new()),
    })
}

/// The forward pass: out (N, O, oh, ow) = A^T [U . V] A (+ bias) over `x` (N, C, h, w), with
/// U the transformed kernels (16, O, C).
///
/// # Safety
/// `out` must address N x O x oh x ow writable floats that nothing else touches meanwhile;
/// every one of them is written.
unsafe fn run_forward(x: &[f32], u: &[f32], o: usize, bias: Option<&[f32]>, p: Pass, out: *mut f32) {
    let tiles = p.tiles();
    let tb = chunk_tiles(p.c, o, tiles);
    let out = DisjointPtr(out);
    let stride = block_stride(o, tb);
    for_each_chunk(tiles.div_ceil(tb), |ci, ws, threads| {
        let (t0, t1) = (ci * tb, ((ci + 1) * tb).min(tiles));
        let n = t1 - t0;
        let mut panels = std::mem::take(&mut ws.v);
        {
            let mut dst: Vec<&mut [f32]> = panels.iter_mut().map(|v| v.panels_mut(p.c, n)).collect();
            transform_input(x, &p, (t0, t1), ws, |xi, c, vals| {
                // Panel by panel, 16 tiles at a time.
                for (i, piece) in vals.chunks(16).enumerate() {
                    let at = panel_index(p.c, c, 16 * i);
                    dst[xi][at..at + piece.len()].copy_from_slice(piece);
                }
            });
        }
        ws.v = panels;
        ws.m.resize(XI * stride, 0.0);
        for (xi, v) in ws.v.iter().enumerate() {
            // SAFETY: U[xi] is (O, C) row-major inside `u`; M[xi] is (O, tb) inside ws.m.
            unsafe { v.product(ws.m.as_mut_ptr().add(xi * stride), tb, Mat::rows(u.as_ptr().add(xi * o * p.c), p.c), o, false, threads) };
        }
        // SAFETY: this chunk's tiles cover output elements no other chunk's do.
        unsafe { transform_output(ws, tb, stride, o, &p, (t0, t1), bias, out) };
    });
}

/// A Vec of `len` elements of T (float32) that `fill` writes every one of.
///
/// # Safety
/// `fill` must write all `len` floats at the pointer it is given.
unsafe fn filled<T: Float>(len: usize, fill: impl FnOnce(*mut f32)) -> Vec<T> {
    assert!(T::DTYPE == DType::F32, "winograd: float32 only");
    let mut v: Vec<T> = Vec::with_capacity(len);
    fill(v.as_mut_ptr() as *mut f32);
    // SAFETY: T is f32, and `fill` wrote all `len` elements (its caller's promise).
    unsafe { v.set_len(len) };
    v
}

/// conv(x, w) (+ bias), (N, O, oh, ow), for a geometry `applies` accepted.
pub(super) fn forward<T: Float>(x: &[T], w: &[T], bias: Option<&[T]>, g: &Geom) -> Vec<T> {
    let u = transform_weight(f32s(w), g.o, g.c, false);
    // SAFETY: the buffer holds the whole output, and run_forward writes all of it.
    unsafe { filled(g.n * g.o * g.len(), |out| run_forward(f32s(x), &u, g.o, bias.map(f32s), Pass::forward(g), out)) }
}

/// The input gradient (N, C, h, w) from the output gradient (N, O, oh, ow).
pub(super) fn grad_input<T: Float>(gout: &[T], w: &[T], g: &Geom) -> Vec<T> {
    let u = transform_weight(f32s(w), g.o, g.c, true);
    // SAFETY: as `forward`, over the input's size.
    unsafe { filled(g.n * g.c * g.volume(), |gx| run_forward(f32s(gout), &u, g.c, None, Pass::backward(g), gx)) }
}

/// The weight gradient (O, C, 3, 3) from the input (N, C, h, w) and the output gradient.
pub(super) fn grad_weight<T: Float>(x: &[T], gout: &[T], g: &Geom) -> Vec<T> {
    let (x, gout) = (f32s(x), f32s(gout));
    let (p, o, c) = (Pass::forward(g), g.o, g.c);
    let tiles = p.tiles();
    let tb = chunk_tiles(c, o, tiles);
    let chunks = tiles.div_ceil(tb);
    let size = XI * o * c;
    let parts = chunks.min((PARTIAL_BUDGET / size).clamp(1, MAX_PARTIALS));
    let per = chunks.div_ceil(parts);
    let threads = rayon::current_num_threads();
    let partial = |pi: usize| {
        let inner = if parts < threads { threads } else { 1 };
        // dU[xi]^T, (C, O) each.
        let mut acc = vec![0f32; size];
        with_workspace(|ws| {
            for ci in pi * per..((pi + 1) * per).min(chunks) {
                add_chunk_grad_weight(x, gout, &p, o, (ci * tb, ((ci + 1) * tb).min(tiles)), tb, &mut acc, inner, ws);
            }
        });
        acc
    };
    let partials: Vec<Vec<f32>> = if parts >= threads && threads > 1 {
        map_claimed(parts, &partial)
    } else {
        (0..parts).map(partial).collect()
    };
    let du = sum_partials(partials, size);
    // dW = G^T dU G for every (o, c) pair, blocks of input channels in parallel. dU^T is (C, O)
    // per position: pair (o, c) at xi O C + c O + o. Within a block, o outermost: the block's
    // 16 x CB rows of dU are read along o (a line serves 16 pairs), and each o writes the
    // block's CB kernels as one run. Pair by pair in dW's order read one float per cache
    // line from 16 planes, on one thread: a tenth of a 256-channel 14 x 14 train step.
    const CB: usize = 16;
    let mut dw = vec![T::from_f64(0.0); o * c * 9];
    let out = DisjointPtr(f32s_mut(&mut dw).as_mut_ptr());
    let block = |cb: usize| {
        let (c0, c1) = (cb * CB, ((cb + 1) * CB).min(c));
        for oi in 0..o {
            for ci in c0..c1 {
                let x = |xi: usize| du[xi * o * c + ci * o + oi];
                let cols = [0, 1, 2, 3].map(|j| g_t([x(j), x(4 + j), x(8 + j), x(12 + j)]));
                // SAFETY: kernel (oi, ci) is 9 floats at (oi C + ci) 9 of the o C 9 in dw, and
                // only this block (ci in c0..c1) writes it.
                let k = unsafe { std::slice::from_raw_parts_mut(out.get().add((oi * c + ci) * 9), 9) };
                for i in 0..3 {
                    k[i * 3..i * 3 + 3].copy_from_slice(&g_t([cols[0][i], cols[1][i], cols[2][i], cols[3][i]]));
                }
            }
        }
    };
    crate::parallel::for_each_part(c.div_ceil(CB), &block);
    dw
}

/// G^T v for G^T = [1 1/2 1/2 0; 0 1/2 -1/2 0; 0 1/2 1/2 1].
#[inline(always)]
fn g_t(v: [f32; 4]) -> [f32; 3] {
    [v[0] + 0.5 * (v[1] + v[2]), 0.5 * (v[1] - v[2]), 0.5 * (v[1] + v[2]) + v[3]]
}

/// The partials added in index order, element ranges in parallel (each element's sum in the
/// same order whatever the thread count, so the bits do not depend on it).
fn sum_partials(partials: Vec<Vec<f32>>, size: usize) -> Vec<f32> {
    let mut iter = partials.into_iter();
    let mut du = iter.next().unwrap_or_else(|| vec![0f32; size]);
    let rest: Vec<Vec<f32>> = iter.collect();
    if !rest.is_empty() {
        crate::parallel::for_each_chunk_mut(&mut du, 1 << 14, &|i, d| {
            for part in &rest {
                d.iter_mut().zip(&part[i << 14..]).for_each(|(t, &v)| *t += v);
            }
        });
    }
    du
}

/// acc[xi] (C, O) += V[xi] (C, tiles) @ (A dY A^T)[xi]^T (tiles, O) over chunk [t0, t1).
#[allow(clippy::too_many_arguments)]
fn add_chunk_grad_weight(x: &[f32], gout: &[f32], p: &Pass, o: usize, (t0, t1): (usize, usize), tb: usize, acc: &mut [f32], threads: usize, ws: &mut Workspace) {
    let (c, n) = (p.c, t1 - t0);
    let stride = block_stride(c, tb);
    let mut m = std::mem::take(&mut ws.m);
    m.resize(XI * stride, 0.0);
    transform_input(x, p, (t0, t1), ws, |xi, ch, vals| {
        let at = xi * stride + ch * tb;
        m[at..at + vals.len()].copy_from_slice(vals);
    });
    let mut panels = std::mem::take(&mut ws.v);
    let mut dst: Vec<&mut [f32]> = panels.iter_mut().map(|v| v.panels_mut(n, o)).collect();
    transform_grad_output(gout, o, p, (t0, t1), &mut dst, ws);
    (ws.v, ws.m) = (panels, m);
    assert!(acc.len() >= XI * c * o, "winograd: gradient shorter than 16 x {c} x {o}");
    for (xi, v) in ws.v.iter().enumerate() {
        // SAFETY: V[xi] is (C, n) with row stride tb inside ws.m; dU[xi]^T is (C, O) inside
        // acc (checked above), which nothing else borrows.
        unsafe { v.product(acc.as_mut_ptr().add(xi * c * o), o, Mat::rows(ws.m.as_ptr().add(xi * stride), tb), c, true, threads) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Direct float64 convolution of `p` (output channels `o`) with `w` (O, C, 3, 3).
    fn direct(x: &[f32], w: &[f32], o: usize, p: &Pass) -> Vec<f64> {
        let mut out = vec![0f64; p.n * o * p.oh * p.ow];
        for n in 0..p.n {
            for oc in 0..o {
                for y in 0..p.oh {
                    for xx in 0..p.ow {
                        let mut s = 0f64;
                        for c in 0..p.c {
                            for i in 0..3 {
                                for j in 0..3 {
                                    let (iy, ix) = ((y + i) as isize - p.py as isize, (xx + j) as isize - p.px as isize);
                                    if iy >= 0 && ix >= 0 && (iy as usize) < p.h && (ix as usize) < p.w {
                                        s += x[((n * p.c + c) * p.h + iy as usize) * p.w + ix as usize] as f64 * w[(oc * p.c + c) * 9 + i * 3 + j] as f64;
                                    }
                                }
                            }
                        }
                        out[((n * o + oc) * p.oh + y) * p.ow + xx] = s;
                    }
                }
            }
        }
        out
    }

    fn values(len: usize, seed: u64) -> Vec<f32> {
        let mut s = seed;
        (0..len)
            .map(|_| {
                s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                ((s >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
            })
            .collect()
    }

    fn geom(n: usize, c: usize, o: usize, h: usize, w: usize, (pt, pb): (usize, usize), (pl, pr): (usize, usize)) -> Geom {
        let (oh, ow) = (h + pt + pb - 2, w + pl + pr - 2);
        Geom { dims: 2, n, c, o, groups: 1, d: 1, h, w, kd: 1, kh: 3, kw: 3, od: 1, oh, ow, sd: 1, sh: 1, sw: 1, pd: 0, ph: pt, pw: pl, dd: 1, dh: 1, dw: 1 }
    }

    fn close(got: &[f32], want: &[f64], what: &str) {
        let scale = want.iter().fold(1f64, |m, v| m.max(v.abs()));
        for (i, (&a, &b)) in got.iter().zip(want).enumerate() {
            assert!((a as f64 - b).abs() <= 2e-5 * scale, "{what}: element {i}: {a} vs {b}");
        }
        assert_eq!(got.len(), want.len(), "{what}");
    }

    /// Forward and both gradients against float64 direct sums (the gradients as the adjoint
    /// sums written out), at odd and even sizes, paddings 0 to 2 on either side, one tile per
    /// image, chunks that run across images and (at 128 channels, 128-tile chunks) ones that
    /// end inside a tile row.
    #[test]
    fn matches_direct_convolution() {
        if !gemm_packed::usable() {
            return;
        }
        for &(n, c, o, h, w, ph, pw) in &[(2, 16, 16, 5, 7, (1, 1), (1, 1)), (3, 17, 20, 4, 4, (0, 0), (2, 1)), (1, 16, 33, 9, 6, (2, 2), (0, 1)), (5, 24, 16, 2, 3, (1, 1), (2, 2)), (2, 40, 18, 12, 11, (1, 0), (1, 1)), (2, 128, 120, 21, 19, (1, 1), (0, 2)), (52, 32, 32, 7, 7, (1, 1), (0, 4)), (2, 32, 16, 3, 2, (0, 5), (2, 6))] {
            let g = geom(n, c, o, h, w, ph, pw);
            let x = values(n * c * h * w, 1 + h as u64);
            let wt = values(o * c * 9, 2 + c as u64);
            let bias = values(o, 3);
            let gout = values(n * o * g.oh * g.ow, 4 + o as u64);
            let what = format!("{n}x{c}x{h}x{w} -> {o}, pad {ph:?} {pw:?}");

            let out = forward(&x, &wt, Some(&bias[..]), &g);
            let mut want = direct(&x, &wt, o, &Pass::forward(&g));
            let ol = g.oh * g.ow;
            want.iter_mut().enumerate().for_each(|(i, v)| *v += bias[i / ol % o] as f64);
            close(&out, &want, &format!("forward {what}"));

            // grad_x[n, c, y, x] = sum gout[n, o, y + ph - i, x + pw - j] w[o, c, i, j].
            let mut gx_want = vec![0f64; n * c * h * w];
            let mut gw_want = vec![0f64; o * c * 9];
            for ni in 0..n {
                for oc in 0..o {
                    for y in 0..g.oh {
                        for xx in 0..g.ow {
                            let go = gout[((ni * o + oc) * g.oh + y) * g.ow + xx] as f64;
                            for ch in 0..c {
                                for i in 0..3 {
                                    for j in 0..3 {
                                        let (iy, ix) = ((y + i) as isize - g.ph as isize, (xx + j) as isize - g.pw as isize);
                                        if iy >= 0 && ix >= 0 && (iy as usize) < h && (ix as usize) < w {
                                            let xi = ((ni * c + ch) * h + iy as usize) * w + ix as usize;
                                            let wi = (oc * c + ch) * 9 + i * 3 + j;
                                            gx_want[xi] += go * wt[wi] as f64;
                                            gw_want[wi] += go * x[xi] as f64;
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            close(&grad_input(&gout, &wt, &g), &gx_want, &format!("grad_input {what}"));
            close(&grad_weight(&x, &gout, &g), &gw_want, &format!("grad_weight {what}"));
        }
    }
}
