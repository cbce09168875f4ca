//! float32 grouped convolutions of stride 1 with 5 to 32 channels a group (ResNeXt-50 32x4d's
//! stages 2 to 4: 8, 16 and 32 a group), run straight from each group's zero-bordered planes.
//! Train steps, 2 threads: 256 channels in 32 groups at 14 x 14, batch 16, 7.0 -> 3.1-3.4 ms
//! (PyTorch 3.3-3.7); 64 in 8 groups at 32 x 32, batch 32, 11.7-15.4 -> 6.4-6.9 (PyTorch
//! 9.7-10); 32 a group, 0.67-0.77 of the time group by group (`conv_groups.rs`) at 14 x 14 to
//! 56 x 56; 24 a group, 0.70-0.99 of the products' time.
//!
//! The products' path unfolds every image into its full column matrix and multiplies each
//! group's 8 or 16 rows of weight by it: the unfolding was a third of such a train step (256
//! channels in 32 groups at 14 x 14), and the gemm kernel's 16-row block half idle. Here:
//!
//! - each (image, group) copies its channels into zero-bordered planes of width
//!   Wp = ow + dw (kw - 1), so that every output position q = y Wp + x reads tap (i, j) at
//!   q + i dh Wp + j dw of its plane: one shifted run per tap for the whole map, and
//!   outputs computed on the padded width (the kw - 1 extra columns are dropped);
//! - 16 positions at a time, the group's output channels (16 a pass) stay in registers over
//!   its input channels and taps (a vector load, then a broadcast weight and an FMA per output
//!   channel);
//! - the weight gradient sums, per group, grad_out (on the same padded width, zero in the
//!   extra columns) times each tap's shifted run, image after image: the groups are the
//!   threads' shares, so every sum runs in one fixed order whatever the thread count;
//! - the input gradient is the forward over grad_out with each kernel turned
//!   (`conv_kernels::grad_input_by_conv`), which lands here again.

use crate::parallel::{for_each_part, DisjointPtr};
use crate::tensor::{DType, Float};

use super::conv::Geom;
use super::conv_packed::{f32s, f32s_mut};


/// Positions a step: one AVX-512 vector (two on AVX2).
const LANES: usize = 16;
/// Channels a group at most, in and out (output channels 16 a pass, their accumulators in
/// registers).
const MAX_GROUP_CHANNELS: usize = 32;
/// Channels a group at least: 4 or fewer go plane by plane (`conv_depthwise.rs`).
const MIN_GROUP_CHANNELS: usize = 5;

/// Whether `g` runs here.
pub(super) fn applies<T: Float>(g: &Geom) -> bool {
    let (cg, og) = (g.c / g.groups.max(1), g.o / g.groups.max(1));
    T::DTYPE == DType::F32
        && avx512()
        && g.groups > 1
        && (MIN_GROUP_CHANNELS..=MAX_GROUP_CHANNELS).contains(&cg)
        && (1..=MAX_GROUP_CHANNELS).contains(&og)
        && (g.d, g.kd, g.od) == (1, 1, 1)
        && (g.sh, g.sw) == (1, 1)
        && g.n > 0
        && g.len() > 0
}

/// Written for AVX-512 only: elsewhere the products' path stays.
fn avx512() -> bool {
    #[cfg(target_arch = "x86_64")]
    return crate::simd::has_avx512();
    #[cfg(not(target_arch = "x86_64"))]
    false
}

/// One group's planes on the padded width: sizes and the taps' offsets.
struct Grid {
    /// Padded width and height: ow + dw (kw - 1), oh + dh (kh - 1).
    wp: usize,
    hp: usize,
    /// Elements between two channels' planes: hp wp, plus room for the last step's overrun.
    plane: usize,
    /// Output positions computed per channel: oh wp rounded up to whole steps.
    steps: usize,
    /// Each tap's offset in a plane, (i, j) in row order.
    taps: Vec<usize>,
}

impl Grid {
    fn new(g: &Geom) -> Grid {
        let (wp, hp) = (g.ow + g.dw * (g.kw - 1), g.oh + g.dh * (g.kh - 1));
        let steps = (g.oh * wp).div_ceil(LANES) * LANES;
        let taps = (0..g.kh).flat_map(|i| (0..g.kw).map(move |j| i * g.dh * wp + j * g.dw)).collect::<Vec<_>>();
        // The last step reads up to `steps` past the largest tap offset.
        let plane = (steps + taps.last().copied().unwrap_or(0)).max(hp * wp);
        Grid { wp, hp, plane, steps, taps }
    }

    /// Channels `first..first + count` of image `x` (channels of h x w) into zero-bordered
    /// planes: input row y at padded row y + ph, column x at x + pw (rows and columns past the
    /// padded size, which no output reads, are left out).
    fn planes(&self, x: &[f32], g: &Geom, (first, count): (usize, usize), out: &mut Vec<f32>) {
        out.clear();
        out.resize(count * self.plane, 0.0);
        let cols = g.w.min(self.wp.saturating_sub(g.pw));
        for c in 0..count {
            let src = &x[(first + c) * g.h * g.w..][..g.h * g.w];
            for y in 0..g.h.min(self.hp.saturating_sub(g.ph)) {
                let at = c * self.plane + (y + g.ph) * self.wp + g.pw;
                out[at..at + cols].copy_from_slice(&src[y * g.w..y * g.w + cols]);
            }
        }
    }
}

/// One (image, group): out (og, steps) on the padded width, from the group's planes and its
/// weight as (cg, taps) runs of OG output channels `wstride` apart (zero past og): per step of
/// 16 positions, OG accumulators over the group's input channels and taps.
///
/// # Safety
/// The CPU must have AVX-512 F (`applies`).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx2,fma")]
unsafe fn forward_group<const OG: usize>(planes: &[f32], (wt, wstride): (&[f32], usize), cg: usize, og: usize, grid: &Grid, out: &mut [f32]) {
    use std::arch::x86_64::*;
    let taps = grid.taps.len();
    assert!(planes.len() >= cg * grid.plane && wt.len() >= (cg * taps - 1) * wstride + OG && og <= OG && out.len() >= og * grid.steps);
    for q in (0..grid.steps).step_by(LANES) {
        let mut acc = [_mm512_setzero_ps(); OG];
        for c in 0..cg {
            let base = planes[c * grid.plane + q..].as_ptr();
            for (t, &off) in grid.taps.iter().enumerate() {
                // SAFETY: q + off + 16 <= steps + the largest offset <= plane (`Grid`): inside
                // channel c's plane.
                let v = unsafe { _mm512_loadu_ps(base.add(off)) };
                let w = &wt[(c * taps + t) * wstride..][..OG];
                for o in 0..OG {
                    acc[o] = _mm512_fmadd_ps(_mm512_set1_ps(w[o]), v, acc[o]);
                }
            }
        }
        for (o, a) in acc.iter().enumerate().take(og) {
            // SAFETY: positions q..q + 16 of row o, inside `out` (asserted above).
            unsafe { _mm512_storeu_ps(out.as_mut_ptr().add(o * grid.steps + q), *a) };
        }
    }
}

/// conv(x, w) (+ bias), (N, O, oh, ow), for a geometry `applies` accepted.
pub(super) fn forward<T: Float>(xs: &[T], w: &[T], bias: Option<&[T]>, g: &Geom) -> Vec<T> {
    let (x, w, bias) = (f32s(xs), f32s(w), bias.map(f32s));
    let (cg, og, taps) = (g.c / g.groups, g.o / g.groups, g.taps());
    let width = if og <= 8 { 8 } else { og.div_ceil(16) * 16 };
    let grid = Grid::new(g);
    // Each group's weight as (cg, taps, width): a step's output channels in one run.
    let mut wt = vec![0f32; g.groups * cg * taps * width];
    // Kernel r (output channel o of group k) is cg taps values, input channel c's tap t at
    // c taps + t, which goes to row k cg taps + c taps + t, column o.
    for (r, kernel) in w.chunks_exact(cg * taps).take(g.o).enumerate() {
        let (base, o) = (r / og * cg * taps, r % og);
        for (j, &v) in kernel.iter().enumerate() {
            wt[(base + j) * width + o] = v;
        }
    }
    let (l, len) = (g.len(), g.n * g.o * g.len());
    let mut y: Vec<T> = Vec::with_capacity(len);
    assert_eq!(T::DTYPE, DType::F32, "conv_small_groups: float32 only");
    // T is f32 (asserted above).
    let out = DisjointPtr(y.as_mut_ptr() as *mut f32);
    for_each_part(g.n * g.groups, &|item| {
        let (i, k) = (item / g.groups, item % g.groups);
        let (mut planes, mut grid_out) = (Vec::new(), vec![0f32; og * grid.steps]);
        grid.planes(&x[i * g.c * g.volume()..], g, (k * cg, cg), &mut planes);
        let wk = &wt[k * cg * taps * width..][..cg * taps * width];
        // SAFETY: AVX-512 (`applies`).
        #[cfg(target_arch = "x86_64")]
        unsafe {
            if width == 8 {
                forward_group::<8>(&planes, (wk, 8), cg, og, &grid, &mut grid_out);
            } else {
                // 16 output channels a pass (their accumulators fill half the registers).
                for half in (0..og).step_by(16) {
                    let rows = 16.min(og - half);
                    forward_group::<16>(&planes, (&wk[half..], width), cg, rows, &grid, &mut grid_out[half * grid.steps..]);
                }
            }
        }
        for o in 0..og {
            let ch = k * og + o;
            let b = bias.map_or(0.0, |b| b[ch]);
            for yy in 0..g.oh {
                let src = &grid_out[o * grid.steps + yy * grid.wp..][..g.ow];
                // SAFETY: row yy of channel ch of image i, written by this item alone.
                let dst = unsafe { std::slice::from_raw_parts_mut(out.get().add((i * g.o + ch) * l + yy * g.ow), g.ow) };
                dst.iter_mut().zip(src).for_each(|(d, &s)| *d = s + b);
            }
        }
    });
    // SAFETY: the items wrote every row of every channel of every image.
    unsafe { y.set_len(len) };
    y
}

/// Sums over the steps of a few images of grad_out rows (`go` of each image, 4 output
/// channels `steps` apart) times the CB shifted runs of its planes starting at `starts`:
/// out[o][b] += the sum for (o, b), the images' in order.
///
/// # Safety
/// The CPU must have AVX-512 F; each `go` must hold 4 rows of `steps` and each run `steps`
/// values.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx2,fma")]
unsafe fn weight_block<const CB: usize>(images: &[(&[f32], &[f32])], steps: usize, starts: [usize; CB], out: &mut [[f32; CB]; 4]) {
    use std::arch::x86_64::*;
    let mut acc = [[_mm512_setzero_ps(); CB]; 4];
    for &(planes, go) in images {
        assert!(go.len() >= 4 * steps && starts.iter().all(|&s| s + steps <= planes.len()));
        for q in (0..steps).step_by(LANES) {
            // SAFETY: q + 16 <= steps, inside each row and run (asserted above).
            let gv: [__m512; 4] = std::array::from_fn(|o| unsafe { _mm512_loadu_ps(go.as_ptr().add(o * steps + q)) });
            for b in 0..CB {
                // SAFETY: as gv, run b (asserted above).
                let v = unsafe { _mm512_loadu_ps(planes.as_ptr().add(starts[b] + q)) };
                for o in 0..4 {
                    acc[o][b] = _mm512_fmadd_ps(gv[o], v, acc[o][b]);
                }
            }
        }
    }
    for o in 0..4 {
        for b in 0..CB {
            out[o][b] += _mm512_reduce_add_ps(acc[o][b]);
        }
    }
}

/// Floats of planes and grad_out rows held for the images one pass of `weight_block` sums
/// over: the sums are reduced from their vectors once per pass, which on 7 x 7 maps (4 steps
/// an image) cost more than the products when it was once per image.
const WEIGHT_CHUNK: usize = 1 << 16;

/// Group k's weight gradient (og, cg, taps) into `dw`, images in order, a few at a time.
///
/// # Safety
/// The CPU must have AVX-512 F (`applies`).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx2,fma")]
unsafe fn weight_group(x: &[f32], gs: &[f32], g: &Geom, grid: &Grid, k: usize, dw: &mut [f32]) {
    let (cg, og, taps, l) = (g.c / g.groups, g.o / g.groups, grid.taps.len(), g.len());
    let og4 = og.div_ceil(4) * 4;
    let starts: Vec<usize> = (0..cg).flat_map(|c| grid.taps.iter().map(move |&off| c * grid.plane + off)).collect();
    let per = (WEIGHT_CHUNK / (cg * grid.plane + og4 * grid.steps)).clamp(1, g.n);
    let mut held: Vec<(Vec<f32>, Vec<f32>)> = Vec::new();
    for i0 in (0..g.n).step_by(per) {
        let m = per.min(g.n - i0);
        held.resize_with(m, || (Vec::new(), vec![0f32; og4 * grid.steps]));
        for (j, (planes, go)) in held.iter_mut().enumerate().take(m) {
            let i = i0 + j;
            grid.planes(&x[i * g.c * g.volume()..], g, (k * cg, cg), planes);
            // grad_out on the padded width, zero in the extra columns and rows past og.
            for o in 0..og {
                let src = &gs[(i * g.o + k * og + o) * l..][..l];
                for y in 0..g.oh {
                    go[o * grid.steps + y * grid.wp..][..g.ow].copy_from_slice(&src[y * g.ow..(y + 1) * g.ow]);
                }
            }
        }
        for ob in (0..og4).step_by(4) {
            let images: Vec<(&[f32], &[f32])> = held[..m].iter().map(|(p, go)| (&p[..], &go[ob * grid.steps..])).collect();
            let mut b = 0;
            while b < starts.len() {
                let put = |sums: &[f32], o: usize, b: usize, dw: &mut [f32]| {
                    for (j, &v) in sums.iter().enumerate() {
                        if ob + o < og {
                            dw[(ob + o) * cg * taps + b + j] += v;
                        }
                    }
                };
                if b + 4 <= starts.len() {
                    let mut sums = [[0f32; 4]; 4];
                    // SAFETY: AVX-512 (this function's own requirement); each image's rows from
                    // ob hold og4 - ob >= 4 rows of steps, and every run starts at most the
                    // largest offset into a plane of steps + that offset.
                    unsafe { weight_block::<4>(&images, grid.steps, starts[b..b + 4].try_into().expect("four"), &mut sums) };
                    (0..4).for_each(|o| put(&sums[o], o, b, dw));
                    b += 4;
                } else {
                    let mut sums = [[0f32; 1]; 4];
                    // SAFETY: as above.
                    unsafe { weight_block::<1>(&images, grid.steps, [starts[b]], &mut sums) };
                    (0..4).for_each(|o| put(&sums[o], o, b, dw));
                    b += 1;
                }
            }
        }
    }
}

/// The weight gradient (O, cg, kh, kw) from the input and the output gradient; the groups are
/// the threads' shares.
pub(super) fn grad_weight<T: Float>(xs: &[T], gs: &[T], g: &Geom) -> Vec<T> {
    let (cg, og, taps) = (g.c / g.groups, g.o / g.groups, g.taps());
    let grid = Grid::new(g);
    let mut dw = vec![T::from_f64(0.0); g.o * cg * taps];
    let (x, gs) = (f32s(xs), f32s(gs));
    crate::parallel::for_each_chunk_mut(f32s_mut(&mut dw), og * cg * taps, &|k, dwk| {
        // SAFETY: AVX-512 (`applies`).
        #[cfg(target_arch = "x86_64")]
        unsafe {
            weight_group(x, gs, g, &grid, k, dwk)
        }
    });
    dw
}
