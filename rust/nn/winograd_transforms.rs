//! Winograd F(2x2, 3x3)'s transforms (see `winograd.rs`): the kernels' G g G^T, the inputs'
//! B^T d B and the output gradients' A dY A^T into the products' operands, and the products'
//! A^T m A into the output, each over a whole chunk of tiles in eight-lane vectors.

#[cfg(target_arch = "x86_64")]
use crate::ops::gemm_packed::transpose_block;
use crate::ops::gemm_packed::panel_index;
use crate::parallel::{for_each_part, DisjointPtr};

use super::winograd::{Pass, Workspace, XI};

/// G g G^T of every 3x3 kernel of `w` (O, C, 3, 3), as (16, O, C), or of `w` turned by 180
/// degrees with O and C swapped, as (16, C, O), when `turned`: rows of u in parallel, eight
/// kernels of a row at a time in vectors (a kernel at a time took 48 ns each, a few percent of a
/// ResNet step).
pub(super) fn transform_weight(w: &[f32], o: usize, c: usize, turned: bool) -> Vec<f32> {
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
        for_each_part(rows, &row);
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
pub(super) fn transform_input(x: &[f32], p: &Pass, (t0, t1): (usize, usize), ws: &mut Workspace, mut sink: impl FnMut(usize, usize, &[f32])) {
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

/// A^T m A (+ bias) of every (output channel, tile) of chunk [t0, t1), m[xi] = M[xi][o][t]
/// from ws.m, into the output's in-range positions.
///
/// # Safety
/// `out` addresses the (N, O, oh, ow) output; nothing else writes these tiles' elements.
#[allow(clippy::too_many_arguments)]
pub(super) unsafe fn transform_output(ws: &mut Workspace, tb: usize, stride: usize, o: usize, p: &Pass, (t0, t1): (usize, usize), bias: Option<&[f32]>, out: DisjointPtr<f32>) {
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
pub(super) fn transform_grad_output(gout: &[f32], o: usize, p: &Pass, (t0, t1): (usize, usize), dst: &mut [&mut [f32]], ws: &mut Workspace) {
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
