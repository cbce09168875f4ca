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

use rayon::prelude::*;

use crate::ops::gemm::Mat;
use crate::ops::gemm_packed::{self, panel_index, PackedRhs};
use crate::parallel::DisjointPtr;
use crate::tensor::{DType, Float};

use super::conv::Geom;
use super::conv_packed::{f32s, f32s_mut};

/// Positions of a transformed tile.
const XI: usize = 16;
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
}

/// One pass over images of `c` channels, h x w, read with leading padding (py, px) (zero
/// outside the image), into outputs of oh x ow.
#[derive(Clone, Copy, Debug)]
struct Pass {
    n: usize,
    c: usize,
    h: usize,
    w: usize,
    py: usize,
    px: usize,
    oh: usize,
    ow: usize,
}

impl Pass {
    fn forward(g: &Geom) -> Pass {
        Pass { n: g.n, c: g.c, h: g.h, w: g.w, py: g.ph, px: g.pw, oh: g.oh, ow: g.ow }
    }
    /// The input gradient's pass: over the output gradient, into the input's size.
    fn backward(g: &Geom) -> Pass {
        Pass { n: g.n, c: g.o, h: g.oh, w: g.ow, py: 2 - g.ph, px: 2 - g.pw, oh: g.h, ow: g.w }
    }
    fn tiles_x(&self) -> usize {
        self.ow.div_ceil(2)
    }
    fn tiles_per_image(&self) -> usize {
        self.oh.div_ceil(2) * self.tiles_x()
    }
    fn tiles(&self) -> usize {
        self.n * self.tiles_per_image()
    }
}

/// Tiles per chunk, a multiple of the panel width: a chunk's transformed inputs and products
/// are 16 (C + O) floats per tile, 2 MiB in all, so that one position's product (a 16th of
/// them) works inside L2. A quarter of this was slower at 64 channels, four times as much no
/// faster.
fn chunk_tiles(c: usize, o: usize) -> usize {
    ((32768 / (c + o)) / 16 * 16).clamp(16, 512)
}

/// A worker's buffers, kept from chunk to chunk.
struct Workspace {
    /// The forward's transformed inputs, one packed operand per position; the weight
    /// gradient's transformed output gradients.
    v: Vec<PackedRhs>,
    /// Products (forward, (16, O, chunk)) or transformed inputs (weight gradient, (16, C,
    /// chunk)), position blocks `block_stride` apart.
    m: Vec<f32>,
    /// A channel's tiles' inputs (or output gradients) as rows over the chunk, and (`run`) their
    /// 16 transformed rows before they go to their operand.
    rows: Vec<f32>,
    run: Vec<f32>,
    /// The chunk's runs of tiles (see `runs`).
    runs: Vec<[usize; 5]>,
    /// Each tile's top left output element, for the output transform.
    corners: Vec<(usize, bool, bool)>,
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
        (0..chunks).into_par_iter().for_each(|i| with_workspace(|ws| chunk(i, ws, 1)));
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

/// G g G^T of every 3x3 kernel of `w` (O, C, 3, 3), as (16, O, C), or of `w` turned by 180
/// degrees with O and C swapped, as (16, C, O), when `turned`: rows of u in parallel, eight
/// kernels of a row at a time in vectors (a kernel at a time took 48 ns each, a few percent of a
/// ResNet step).
fn transform_weight(w: &[f32], o: usize, c: usize, turned: bool) -> Vec<f32> {
    let (rows, cols) = if turned { (c, o) } else { (o, c) };
    assert!(w.len() >= o * c * 9, "winograd: weight shorter than {o} x {c} x 3 x 3");
    let mut u: Vec<f32> = Vec::with_capacity(XI * rows * cols);
    let out = DisjointPtr(u.as_mut_ptr());
    let row = |r: usize| {
        // SAFETY: AVX2 (`applies`); row r of each position block is this task's alone, and the
        // weight is long enough (checked above).
        unsafe { weight_row(w, c, turned, r, rows, cols, out) }
    };
    if rows * cols >= 1 << 12 {
        (0..rows).into_par_iter().for_each(row);
    } else {
        (0..rows).for_each(row);
    }
    // SAFETY: every row of every position block was written.
    unsafe { u.set_len(XI * rows * cols) };
    u
}

/// Row r of `transform_weight`'s 16 position blocks (rows x cols each).
///
/// # Safety
/// AVX2; `out` must address 16 * rows * cols floats whose row r of each block nothing else
/// touches meanwhile; `w` must hold the O x C kernels.
#[cfg_attr(target_arch = "x86_64", target_feature(enable = "avx2,fma"))]
unsafe fn weight_row(w: &[f32], c: usize, turned: bool, r: usize, rows: usize, cols: usize, out: DisjointPtr<f32>) {
    for col0 in (0..cols).step_by(8) {
        let lanes = (cols - col0).min(8);
        // Tap (i, j) of the eight kernels, zero past the row's end.
        let tap = |i: usize, j: usize| -> Lanes {
            std::array::from_fn(|l| {
                if l >= lanes {
                    return 0.0;
                }
                let (oi, ci) = if turned { (col0 + l, r) } else { (r, col0 + l) };
                let k = (oi * c + ci) * 9;
                if turned { w[k + (2 - i) * 3 + 2 - j] } else { w[k + i * 3 + j] }
            })
        };
        let half = |v: Lanes| v.map(|x| 0.5 * x);
        // G g: rows g0, (g0 + g1 + g2) / 2, (g0 - g1 + g2) / 2, g2; then the same along rows.
        let g = |j: usize| {
            let (a, b, d) = (tap(0, j), tap(1, j), tap(2, j));
            [a, half(add(add(a, b), d)), half(add(sub(a, b), d)), d]
        };
        let [g0, g1, g2] = [g(0), g(1), g(2)];
        for (i, ((a, b), d)) in g0.into_iter().zip(g1).zip(g2).enumerate() {
            let row = [a, half(add(add(a, b), d)), half(add(sub(a, b), d)), d];
            for (j, v) in row.iter().enumerate() {
                let at = ((i * 4 + j) * rows + r) * cols + col0;
                std::ptr::copy_nonoverlapping(v.as_ptr(), out.get().add(at), lanes);
            }
        }
    }
}

/// The chunk [t0, t1)'s runs of tiles inside one tile row: (image, tile row, first tile
/// column, tiles, first tile's place in the chunk).
fn runs(p: &Pass, (t0, t1): (usize, usize), out: &mut Vec<[usize; 5]>) {
    let (per_image, tiles_x) = (p.tiles_per_image(), p.tiles_x());
    out.clear();
    let mut t = t0;
    while t < t1 {
        let (img, ty, tx0) = (t / per_image, t % per_image / tiles_x, t % tiles_x);
        let run = (tiles_x - tx0).min(t1 - t);
        out.push([img, ty, tx0, run, t - t0]);
        t += run;
    }
}

/// B^T d B of every (channel, tile) for tiles [t0, t1) of `p` over `x` (N, C, h, w), channel
/// by channel: `sink(xi, c, values)` gets position xi of channel c for all the chunk's tiles.
///
/// Each channel first gathers its tiles' 4 x 4 inputs as 16 rows over the chunk (zero in the
/// padding), so that the arithmetic runs in whole vectors even where a tile row has only a
/// few tiles (ResNet's 8 x 8 maps have 4).
fn transform_input(x: &[f32], p: &Pass, (t0, t1): (usize, usize), ws: &mut Workspace, mut sink: impl FnMut(usize, usize, &[f32])) {
    let n = t1 - t0;
    // Whole vectors over the chunk; the lanes past it are computed and dropped.
    let np = n.next_multiple_of(8);
    runs(p, (t0, t1), &mut ws.runs);
    let (patch, out) = (&mut ws.rows, &mut ws.run);
    patch.resize(XI * np, 0.0);
    out.resize(XI * np, 0.0);
    for c in 0..p.c {
        for &[img, ty, tx0, run, at] in &ws.runs {
            let plane = &x[(img * p.c + c) * p.h * p.w..][..p.h * p.w];
            let x_start = (2 * tx0) as isize - p.px as isize;
            // Tiles k in [lo, hi) read all four columns inside the image; the others meet the
            // padding.
            let lo = if x_start >= 0 { 0 } else { x_start.unsigned_abs().div_ceil(2) }.min(run);
            let hi = if p.w as isize - 4 - x_start < 0 { 0 } else { ((p.w as isize - 4 - x_start) / 2 + 1) as usize }.clamp(lo, run);
            for r in 0..4 {
                let y = (2 * ty + r) as isize - p.py as isize;
                // Input row r's columns j = 0..4 of the run's tiles: rows r * 4 + j of `patch`.
                let (d0, rest) = patch[r * 4 * np..(r + 1) * 4 * np].split_at_mut(np);
                let (d1, rest) = rest.split_at_mut(np);
                let (d2, d3) = rest.split_at_mut(np);
                let [d0, d1, d2, d3] = [d0, d1, d2, d3].map(|d| &mut d[at..at + run]);
                if y < 0 || y >= p.h as isize {
                    [d0, d1, d2, d3].into_iter().for_each(|d| d.fill(0.0));
                    continue;
                }
                let line = &plane[y as usize * p.w..][..p.w];
                let get = |xx: isize| if xx >= 0 && xx < p.w as isize { line[xx as usize] } else { 0.0 };
                for k in (0..lo).chain(hi..run) {
                    let xx = x_start + 2 * k as isize;
                    (d0[k], d1[k], d2[k], d3[k]) = (get(xx), get(xx + 1), get(xx + 2), get(xx + 3));
                }
                if lo < hi {
                    // (A trailing padding past 2 puts whole tiles beyond the row: none inside.)
                    let inside = &line[(x_start + 2 * lo as isize) as usize..];
                    let dst = d0[lo..hi].iter_mut().zip(&mut d1[lo..hi]).zip(d2[lo..hi].iter_mut().zip(&mut d3[lo..hi]));
                    for (((a, b), (c, d)), v) in dst.zip(inside.windows(4).step_by(2)) {
                        (*a, *b, *c, *d) = (v[0], v[1], v[2], v[3]);
                    }
                }
            }
        }
        // SAFETY: only runs where the CPU has AVX2 and FMA (`applies`).
        unsafe { input_tiles(patch, out, np) };
        for (xi, vals) in out.chunks(np).enumerate() {
            sink(xi, c, &vals[..n]);
        }
    }
}

/// Eight lanes, which the AVX2 copies below turn into one register.
type Lanes = [f32; 8];

#[inline(always)]
fn load(s: &[f32], at: usize) -> Lanes {
    s[at..at + 8].try_into().unwrap()
}
#[inline(always)]
fn store(s: &mut [f32], at: usize, v: Lanes) {
    s[at..at + 8].copy_from_slice(&v);
}
#[inline(always)]
fn add(a: Lanes, b: Lanes) -> Lanes {
    std::array::from_fn(|i| a[i] + b[i])
}
#[inline(always)]
fn sub(a: Lanes, b: Lanes) -> Lanes {
    std::array::from_fn(|i| a[i] - b[i])
}

/// B^T d B for `np` tiles (a multiple of 8) from their inputs d[r][j] as the 16 rows
/// r * 4 + j of `patch`, into 16 rows of `out`; rows `np` apart.
///
/// # Safety
/// The CPU must have AVX2 and FMA.
#[cfg_attr(target_arch = "x86_64", target_feature(enable = "avx2,fma"))]
unsafe fn input_tiles(patch: &[f32], out: &mut [f32], np: usize) {
    for k in (0..np).step_by(8) {
        // by_row[r][j]: B^T along input row r, tile column j; d[j][r] the same transposed.
        let by_row: [[Lanes; 4]; 4] = std::array::from_fn(|r| {
            let v: [Lanes; 4] = std::array::from_fn(|j| load(patch, (r * 4 + j) * np + k));
            [sub(v[0], v[2]), add(v[1], v[2]), sub(v[2], v[1]), sub(v[1], v[3])]
        });
        let d: [[Lanes; 4]; 4] = std::array::from_fn(|j| std::array::from_fn(|r| by_row[r][j]));
        for (j, d) in d.iter().enumerate() {
            store(out, j * np + k, sub(d[0], d[2]));
            store(out, (4 + j) * np + k, add(d[1], d[2]));
            store(out, (8 + j) * np + k, sub(d[2], d[1]));
            store(out, (12 + j) * np + k, sub(d[1], d[3]));
        }
    }
}

/// A^T m A + b for `np` tiles (a multiple of 8): m[xi] at `m[xi * stride + k]`, into the four
/// rows y00, y01, y10, y11 of `y`, `np` apart.
///
/// # Safety
/// The CPU must have AVX2 and FMA.
#[cfg_attr(target_arch = "x86_64", target_feature(enable = "avx2,fma"))]
unsafe fn output_tiles(m: &[f32], stride: usize, np: usize, b: f32, y: &mut [f32]) {
    let b = [b; 8];
    for k in (0..np).step_by(8) {
        let v = |xi: usize| load(m, xi * stride + k);
        // [1 1 1 0; 0 1 -1 -1] down the columns, then along the rows.
        let s0: [Lanes; 4] = std::array::from_fn(|j| add(add(v(j), v(4 + j)), v(8 + j)));
        let s1: [Lanes; 4] = std::array::from_fn(|j| sub(sub(v(4 + j), v(8 + j)), v(12 + j)));
        for (i, s) in [s0, s1].iter().enumerate() {
            store(y, 2 * i * np + k, add(add(add(s[0], s[1]), s[2]), b));
            store(y, (2 * i + 1) * np + k, add(sub(sub(s[1], s[2]), s[3]), b));
        }
    }
}

/// The forward pass: out (N, O, oh, ow) = A^T [U . V] A (+ bias) over `x` (N, C, h, w), with
/// U the transformed kernels (16, O, C).
///
/// # Safety
/// `out` must address N x O x oh x ow writable floats that nothing else touches meanwhile;
/// every one of them is written.
unsafe fn run_forward(x: &[f32], u: &[f32], o: usize, bias: Option<&[f32]>, p: Pass, out: *mut f32) {
    let tb = chunk_tiles(p.c, o);
    let tiles = p.tiles();
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

/// A^T m A (+ bias) of every (output channel, tile) of chunk [t0, t1), m[xi] = M[xi][o][t]
/// from ws.m, into the output's in-range positions.
///
/// # Safety
/// `out` addresses the (N, O, oh, ow) output; nothing else writes these tiles' elements.
#[allow(clippy::too_many_arguments)]
unsafe fn transform_output(ws: &mut Workspace, tb: usize, stride: usize, o: usize, p: &Pass, (t0, t1): (usize, usize), bias: Option<&[f32]>, out: DisjointPtr<f32>) {
    let (n, plane) = (t1 - t0, p.oh * p.ow);
    corners(p, o, (t0, t1), &mut ws.corners);
    let np = n.next_multiple_of(8);
    ws.run.resize(4 * np, 0.0);
    let (y, m) = (&mut ws.run, &ws.m);
    for oc in 0..o {
        // SAFETY: only runs where the CPU has AVX2 and FMA (`applies`); the lanes past n read
        // inside the chunk's tb columns (np <= tb).
        unsafe { output_tiles(&m[oc * tb..], stride, np, bias.map_or(0.0, |b| b[oc]), y) };
        let (y00, y01, y10, y11) = (&y[..n], &y[np..np + n], &y[2 * np..2 * np + n], &y[3 * np..3 * np + n]);
        let base = oc * plane;
        for (k, &(corner, last_row, last_col)) in ws.corners.iter().enumerate() {
            let at = out.get().add(corner + base);
            *at = y00[k];
            if !last_col {
                *at.add(1) = y01[k];
            }
            if !last_row {
                *at.add(p.ow) = y10[k];
                if !last_col {
                    *at.add(p.ow + 1) = y11[k];
                }
            }
        }
    }
}

/// Each tile's top left element in (N, O, oh, ow) outputs, at channel 0, for tiles [t0, t1),
/// and whether its second row and its second column lie past the output's edge.
fn corners(p: &Pass, o: usize, (t0, t1): (usize, usize), out: &mut Vec<(usize, bool, bool)>) {
    let (per_image, tiles_x) = (p.tiles_per_image(), p.tiles_x());
    out.clear();
    out.extend((t0..t1).map(|t| {
        let (img, ty, tx) = (t / per_image, t % per_image / tiles_x, t % tiles_x);
        (img * o * p.oh * p.ow + 2 * ty * p.ow + 2 * tx, 2 * ty + 1 >= p.oh, 2 * tx + 1 >= p.ow)
    }));
}

/// A dY A^T of every (output channel, tile) of chunk [t0, t1) of the output gradient `gout`
/// (N, O, oh, ow), zero past its edges, into the packed operands `dst` as (tiles, O).
///
/// Eight channels at a time: each channel's tiles' 2 x 2 gradients are gathered as 4 rows over
/// the chunk and transformed in whole vectors, then each 8 x 8 block of (channel, tile) values
/// is transposed in registers, so that the operands, whose rows hold 16 channels of one tile,
/// take a vector per row rather than a scalar store per value.
fn transform_grad_output(gout: &[f32], o: usize, p: &Pass, (t0, t1): (usize, usize), dst: &mut [&mut [f32]], ws: &mut Workspace) {
    let plane = p.oh * p.ow;
    let n = t1 - t0;
    let np = n.next_multiple_of(8);
    let need = panel_index(n, n - 1, o - 1) + 1;
    assert!(dst.iter().all(|d| d.len() >= need), "winograd: operands shorter than {n} x {o}");
    let dst: [*mut f32; XI] = std::array::from_fn(|xi| dst[xi].as_mut_ptr());
    runs(p, (t0, t1), &mut ws.runs);
    let (rows, out) = (&mut ws.rows, &mut ws.run);
    rows.resize(4 * np, 0.0);
    out.resize(8 * XI * np, 0.0);
    for oc0 in (0..o).step_by(8) {
        let group = (o - oc0).min(8);
        for g in 0..group {
            let oc = oc0 + g;
            for &[img, ty, tx0, run, at] in &ws.runs {
                let grad = &gout[(img * o + oc) * plane..][..plane];
                // Rows d00, d01, d10, d11 of the run's tiles.
                for r in 0..2 {
                    let (left, right) = rows[2 * r * np..2 * (r + 1) * np].split_at_mut(np);
                    let (left, right) = (&mut left[at..at + run], &mut right[at..at + run]);
                    let y = 2 * ty + r;
                    if y >= p.oh {
                        left.fill(0.0);
                        right.fill(0.0);
                        continue;
                    }
                    let line = &grad[y * p.ow + 2 * tx0..(y + 1) * p.ow];
                    // Tiles with both columns inside; the last one of an odd width has one.
                    let full = run.min(line.len() / 2);
                    for ((l, r), pair) in left.iter_mut().zip(right.iter_mut()).zip(line.as_chunks::<2>().0) {
                        (*l, *r) = (pair[0], pair[1]);
                    }
                    if full < run {
                        (left[full], right[full]) = (line[2 * full], 0.0);
                    }
                }
            }
            // SAFETY: only runs where the CPU has AVX2 and FMA (`applies`).
            unsafe { grad_tiles(rows, &mut out[g * XI * np..], np) };
        }
        for (xi, &d) in dst.iter().enumerate() {
            let value = |g: usize, k: usize| out[(g * XI + xi) * np + k];
            let mut k0 = 0;
            #[cfg(target_arch = "x86_64")]
            if group == 8 {
                while k0 + 8 <= n {
                    // SAFETY: AVX2 (`applies`); rows g of `out` hold np >= k0 + 8 values; tiles
                    // k0..k0 + 8 < n and channels oc0..oc0 + 8 <= o, eight contiguous values of
                    // a panel row (oc0 is a multiple of 8), inside every operand (checked above).
                    unsafe { transpose_block(&out[xi * np + k0..], XI * np, d, |kk| panel_index(n, k0 + kk, oc0)) };
                    k0 += 8;
                }
            }
            for k in k0..n {
                for g in 0..group {
                    // SAFETY: as above, one value at a time.
                    unsafe { *d.add(panel_index(n, k, oc0 + g)) = value(g, k) };
                }
            }
        }
    }
}

/// Writes the 8 x 8 block src[g * stride + kk] (g, kk < 8) transposed: row kk, the eight
/// values src[0..8][kk], to dst + at(kk).
///
/// # Safety
/// The CPU must have AVX2; `src` must hold 7 * stride + 8 values and each dst + at(kk) eight
/// writable floats.
#[cfg(target_arch = "x86_64")]
#[cfg_attr(target_arch = "x86_64", target_feature(enable = "avx2,fma"))]
unsafe fn transpose_block(src: &[f32], stride: usize, dst: *mut f32, at: impl Fn(usize) -> usize) {
    use std::arch::x86_64::*;
    assert!(src.len() >= 7 * stride + 8);
    let r: [__m256; 8] = std::array::from_fn(|g| _mm256_loadu_ps(src.as_ptr().add(g * stride)));
    let t = [
        _mm256_unpacklo_ps(r[0], r[1]),
        _mm256_unpackhi_ps(r[0], r[1]),
        _mm256_unpacklo_ps(r[2], r[3]),
        _mm256_unpackhi_ps(r[2], r[3]),
        _mm256_unpacklo_ps(r[4], r[5]),
        _mm256_unpackhi_ps(r[4], r[5]),
        _mm256_unpacklo_ps(r[6], r[7]),
        _mm256_unpackhi_ps(r[6], r[7]),
    ];
    let s = [
        _mm256_shuffle_ps::<0x44>(t[0], t[2]),
        _mm256_shuffle_ps::<0xEE>(t[0], t[2]),
        _mm256_shuffle_ps::<0x44>(t[1], t[3]),
        _mm256_shuffle_ps::<0xEE>(t[1], t[3]),
        _mm256_shuffle_ps::<0x44>(t[4], t[6]),
        _mm256_shuffle_ps::<0xEE>(t[4], t[6]),
        _mm256_shuffle_ps::<0x44>(t[5], t[7]),
        _mm256_shuffle_ps::<0xEE>(t[5], t[7]),
    ];
    let rows = [
        _mm256_permute2f128_ps::<0x20>(s[0], s[4]),
        _mm256_permute2f128_ps::<0x20>(s[1], s[5]),
        _mm256_permute2f128_ps::<0x20>(s[2], s[6]),
        _mm256_permute2f128_ps::<0x20>(s[3], s[7]),
        _mm256_permute2f128_ps::<0x31>(s[0], s[4]),
        _mm256_permute2f128_ps::<0x31>(s[1], s[5]),
        _mm256_permute2f128_ps::<0x31>(s[2], s[6]),
        _mm256_permute2f128_ps::<0x31>(s[3], s[7]),
    ];
    for (kk, row) in rows.iter().enumerate() {
        _mm256_storeu_ps(dst.add(at(kk)), *row);
    }
}

/// A dY A^T for `np` tiles (a multiple of 8) from the rows of `rows`, (d00, d01, d10, d11)
/// each `np` long, into 16 rows of `out`, `np` apart.
///
/// # Safety
/// The CPU must have AVX2 and FMA.
#[cfg_attr(target_arch = "x86_64", target_feature(enable = "avx2,fma"))]
unsafe fn grad_tiles(rows: &[f32], out: &mut [f32], np: usize) {
    for k in (0..np).step_by(8) {
        let (d00, d01, d10, d11) = (load(rows, k), load(rows, np + k), load(rows, 2 * np + k), load(rows, 3 * np + k));
        // A = [1 0; 1 1; 1 -1; 0 -1] on the left and A^T on the right.
        let neg = |v: Lanes| v.map(|x| -x);
        let c0 = [d00, add(d00, d10), sub(d00, d10), neg(d10)];
        let c1 = [d01, add(d01, d11), sub(d01, d11), neg(d11)];
        for i in 0..4 {
            let (a, b) = (c0[i], c1[i]);
            store(out, (i * 4) * np + k, a);
            store(out, (i * 4 + 1) * np + k, add(a, b));
            store(out, (i * 4 + 2) * np + k, sub(a, b));
            store(out, (i * 4 + 3) * np + k, neg(b));
        }
    }
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
    let tb = chunk_tiles(c, o);
    let tiles = p.tiles();
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
    let partials: Vec<Vec<f32>> = if parts >= threads && threads > 1 { (0..parts).into_par_iter().map(partial).collect() } else { (0..parts).map(partial).collect() };
    let mut iter = partials.into_iter();
    let mut du = iter.next().unwrap_or_else(|| vec![0f32; size]);
    for part in iter {
        du.iter_mut().zip(&part).for_each(|(t, &v)| *t += v);
    }
    // dW = G^T dU G, G^T = [1 1/2 1/2 0; 0 1/2 -1/2 0; 0 1/2 1/2 1].
    let gt = |v: [f32; 4]| [v[0] + 0.5 * (v[1] + v[2]), 0.5 * (v[1] - v[2]), 0.5 * (v[1] + v[2]) + v[3]];
    let mut dw = vec![T::from_f64(0.0); o * c * 9];
    for (pair, k) in f32s_mut(&mut dw).chunks_mut(9).enumerate() {
        // dU^T is (C, O): pair (o, c) sits at c * O + o.
        let x = |xi: usize| du[xi * o * c + (pair % c) * o + pair / c];
        let cols: Vec<[f32; 3]> = (0..4).map(|j| gt([x(j), x(4 + j), x(8 + j), x(12 + j)])).collect();
        for i in 0..3 {
            let row = gt([cols[0][i], cols[1][i], cols[2][i], cols[3][i]]);
            k[i * 3..i * 3 + 3].copy_from_slice(&row);
        }
    }
    dw
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
