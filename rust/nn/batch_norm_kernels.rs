//! The passes of batch normalisation over an (N, C, S) input (N blocks of C channels of S
//! values), forward and backward side by side: per-channel sums (statistics, gradient sums) and
//! per-channel affine maps (the normalised output, the input gradient).
//!
//! Each loop is written once and compiled for AVX2 and AVX-512 as well as the baseline
//! (`crate::multiversion!`): the crate's baseline is SSE2, and the eval forward, a memory-bound
//! affine map, ran at 0.83-0.89x PyTorch's time at 1 thread that way. Sums run in 8 lanes of T
//! in a fixed order, and the maps are the same operations in the same order whatever the CPU
//! (Rust never contracts them into FMAs), so every CPU gets the same bits.
//!
//! The maps split by measured cost (`build_pointwise`) into chunks that may start and end in
//! the middle of a channel's block; every element's result is its own, so the split never
//! changes a result. The sums split by channel.
//!
//! Short blocks (S below `SHORT`, 32: BatchNorm1d on (N, C) is S = 1) take a layout of their own.
//! Walking them block by block strode through memory C S apart per channel and paid a loop per
//! value: (4096, 512) ran at 7x PyTorch's time in eval and 10x in training. There the sums
//! run along each batch row of C S values into f64 partials per position, in parts of whole
//! rows summed in order (their count depends on the shape alone, not on the threads), and the
//! maps zip each row with the per-channel constants spread to one row's length.

use crate::ops::kernel::build_pointwise;
use crate::parallel::map_claimed;
use crate::tensor::iter::GRAIN;
use crate::tensor::{Element, Float};
use std::mem::MaybeUninit;

/// (N, C, S): batch, channels, spatial size.
pub type Dims = (usize, usize, usize);

/// The channel blocks that elements start..start + len cross: (channel, first element, length).
#[inline(always)]
fn blocks(start: usize, len: usize, (_, c, s): Dims) -> impl Iterator<Item = (usize, usize, usize)> {
    let mut at = start;
    let end = start + len;
    std::iter::from_fn(move || {
        if at >= end {
            return None;
        }
        let n = (s - at % s).min(end - at);
        let block = (at / s % c, at, n);
        at += n;
        Some(block)
    })
}

/// Per-channel sums over every block of channel `ch`, combined in f64, in parallel over
/// channels when the input is large.
fn per_channel<R: Send>(len: usize, c: usize, sums: &(dyn Fn(usize) -> R + Sync)) -> Vec<R> {
    if len > GRAIN { map_claimed(c, sums) } else { (0..c).map(sums).collect() }
}

/// Blocks shorter than this take the short path (see the module's docs). At 7 x 7 (S = 49) the
/// block walk was faster: spreading 512 channels' constants over 25088 positions was a large
/// share of a 16-image eval forward (1.34x PyTorch's time at 1 thread, 0.56x by blocks), while
/// at 4 x 4 the short path's training forward was (0.52x against 0.72x).
const SHORT: usize = 32;

fn is_short((_, c, s): Dims) -> bool {
    s < SHORT && c > 0
}

/// Adds batch row `r`'s terms to two f64 partials, one per position of the row.
type AddRow<'a> = dyn Fn(usize, &mut [f64], &mut [f64]) + Sync + 'a;

/// Per position of a batch row (C S values), sums over all rows of `add(row, sums)`: parts of
/// whole rows in parallel, added in order.
fn row_sums(n: usize, width: usize, add: &AddRow<'_>) -> (Vec<f64>, Vec<f64>) {
    // At least 64 rows a part, so the partials (16 bytes a position) stay a sixteenth of the
    // input's bytes at most.
    let rows = (32_768 / width.max(1)).max(64);
    let part = |p: usize| {
        let (mut a, mut b) = (vec![0.0; width], vec![0.0; width]);
        (p * rows..((p + 1) * rows).min(n)).for_each(|r| add(r, &mut a, &mut b));
        (a, b)
    };
    let parts = n.div_ceil(rows);
    let partials = if n * width > GRAIN { map_claimed(parts, &part) } else { (0..parts).map(part).collect() };
    let (mut a, mut b) = (vec![0.0; width], vec![0.0; width]);
    for (pa, pb) in partials {
        a.iter_mut().zip(&pa).for_each(|(x, y)| *x += y);
        b.iter_mut().zip(&pb).for_each(|(x, y)| *x += y);
    }
    (a, b)
}

/// Per channel, the sums of `row_sums`' positions that belong to it.
fn by_channel((a, b): (Vec<f64>, Vec<f64>), (_, c, s): Dims) -> Vec<(f64, f64)> {
    (0..c).map(|ch| (a[ch * s..(ch + 1) * s].iter().sum(), b[ch * s..(ch + 1) * s].iter().sum())).collect()
}

/// Per-channel values spread to one batch row: each repeated S times. (Collected from a
/// `flat_map`, which gives no length up front, the Vec grew by reallocation: a third of a
/// 16 x 256 x 4 x 4 eval forward.)
fn spread<T: Copy>(v: &[T], s: usize) -> Vec<T> {
    let mut out = Vec::with_capacity(v.len() * s);
    for &x in v {
        out.extend(std::iter::repeat_n(x, s));
    }
    out
}

/// The runs of elements start..start + len cut at batch-row boundaries (`blocks` of a single
/// channel one row wide): (first element, its position in the row, length).
#[inline(always)]
fn row_runs(start: usize, len: usize, width: usize) -> impl Iterator<Item = (usize, usize, usize)> {
    blocks(start, len, (0, 1, width)).map(move |(_, at, n)| (at, at % width, n))
}

// ------------------------------------------------------------------------------------ forward

/// Per-channel (mean, biased variance) in one pass. Each block of S values is summed shifted by
/// the channel's first value (the shift removes the cancellation that makes E[x^2] - E[x]^2
/// inaccurate), and blocks are combined in f64.
pub fn channel_stats<T: Float>(x: &[T], (n, c, s): Dims) -> Vec<(f64, f64)> {
    if is_short((n, c, s)) && n > 0 {
        let (width, m) = (c * s, (n * s) as f64);
        let shift = spread(&x[..width].iter().step_by(s.max(1)).copied().collect::<Vec<T>>(), s);
        let sums = row_sums(n, width, &|r, a, b| shifted_row_sums(&x[r * width..(r + 1) * width], &shift, a, b));
        return by_channel(sums, (n, c, s))
            .into_iter()
            .enumerate()
            .map(|(ch, (sum, sq))| {
                let mean_d = sum / m;
                (shift[ch * s].to_f64() + mean_d, (sq / m - mean_d * mean_d).max(0.0))
            })
            .collect();
    }
    per_channel(x.len(), c, &|ch| {
        let shift = x[ch * s];
        let (mut sum, mut sq) = (0.0f64, 0.0f64);
        for b in 0..n {
            let (a, q) = shifted_sums(&x[(b * c + ch) * s..(b * c + ch + 1) * s], shift);
            sum += a;
            sq += q;
        }
        let m = (n * s) as f64;
        let mean_d = sum / m;
        (shift.to_f64() + mean_d, (sq / m - mean_d * mean_d).max(0.0))
    })
}

/// (sum of v - shift, sum of (v - shift)^2) over a block, in 8 lanes of T.
#[inline(always)]
fn shifted_sums_body<T: Float, const FMA: bool>(row: &[T], shift: T) -> (f64, f64) {
    let (mut a1, mut a2) = ([T::from_f64(0.0); 8], [T::from_f64(0.0); 8]);
    let chunks = row.chunks_exact(8);
    let rest = chunks.remainder();
    for ck in chunks {
        for k in 0..8 {
            let d = ck[k] - shift;
            a1[k] += d;
            a2[k] += d * d;
        }
    }
    for &v in rest {
        let d = v - shift;
        a1[0] += d;
        a2[0] += d * d;
    }
    (a1.iter().map(|&v| Element::to_f64(v)).sum(), a2.iter().map(|&v| Element::to_f64(v)).sum())
}

crate::multiversion!(shifted_sums_body, shifted_sums_avx2, shifted_sums, Float, (row: &[T], shift: T) -> (f64, f64));

/// Adds a batch row's (v - shift) and (v - shift)^2 to f64 partials, position by position.
#[inline(always)]
fn shifted_row_sums_body<T: Float, const FMA: bool>(row: &[T], shift: &[T], sum: &mut [f64], sq: &mut [f64]) {
    for (((&v, &sh), a), q) in row.iter().zip(shift).zip(sum.iter_mut()).zip(sq.iter_mut()) {
        let d = Element::to_f64(v - sh);
        *a += d;
        *q += d * d;
    }
}

crate::multiversion!(shifted_row_sums_body, shifted_row_sums_avx2, shifted_row_sums, Float, (row: &[T], shift: &[T], sum: &mut [f64], sq: &mut [f64]) -> ());

/// Per-channel constants of an affine map y = (x - center) * scale + shift.
pub struct Affine<'a, T> {
    pub center: &'a [T],
    pub scale: &'a [T],
    pub shift: &'a [T],
}

/// y = (x - center[c]) * scale[c] + shift[c]. Centering first (by the mean rounded to T) keeps
/// the precision of data far from zero: folding the mean into the shift, x * scale + (b - mean
/// * scale), cancels catastrophically when |mean| >> std.
pub fn normalise<T: Float>(x: &[T], d: Dims, a: &Affine<'_, T>) -> Vec<T> {
    if is_short(d) {
        let s = d.2;
        let (center, scale, shift) = (spread(a.center, s), spread(a.scale, s), spread(a.shift, s));
        let rows = Affine { center: &center, scale: &scale, shift: &shift };
        return build_pointwise(x.len(), |start, out| normalise_rows(x, start, out, &rows));
    }
    build_pointwise(x.len(), |start, out| normalise_chunk(x, start, out, d, a))
}

/// `normalise_chunk` with the constants spread to a batch row (`Affine` of C S values each).
#[inline(always)]
fn normalise_rows_body<T: Float, const FMA: bool>(x: &[T], start: usize, out: &mut [MaybeUninit<T>], a: &Affine<'_, T>) {
    for (at, pos, n) in row_runs(start, out.len(), a.center.len()) {
        let (o, xr) = (&mut out[at - start..at - start + n], &x[at..at + n]);
        let (ce, sc, sh) = (&a.center[pos..pos + n], &a.scale[pos..pos + n], &a.shift[pos..pos + n]);
        for ((((o, &v), &ce), &sc), &sh) in o.iter_mut().zip(xr).zip(ce).zip(sc).zip(sh) {
            o.write((v - ce) * sc + sh);
        }
    }
}

crate::multiversion!(normalise_rows_body, normalise_rows_avx2, normalise_rows, Float, (x: &[T], start: usize, out: &mut [MaybeUninit<T>], a: &Affine<'_, T>) -> ());

#[inline(always)]
fn normalise_chunk_body<T: Float, const FMA: bool>(x: &[T], start: usize, out: &mut [MaybeUninit<T>], d: Dims, a: &Affine<'_, T>) {
    for (ch, at, n) in blocks(start, out.len(), d) {
        // Locals, not indexing into the constants, so the loop vectorises.
        let (ce, sc, sh) = (a.center[ch], a.scale[ch], a.shift[ch]);
        for (o, &v) in out[at - start..at - start + n].iter_mut().zip(&x[at..at + n]) {
            o.write((v - ce) * sc + sh);
        }
    }
}

crate::multiversion!(normalise_chunk_body, normalise_chunk_avx2, normalise_chunk, Float, (x: &[T], start: usize, out: &mut [MaybeUninit<T>], d: Dims, a: &Affine<'_, T>) -> ());

// ----------------------------------------------------------------------------------- backward

/// Per channel, (sum dy, sum dy * (x - mean)): each block in 8 lanes of T centred by the mean
/// rounded to T, blocks combined in f64, and the rounding's part taken out in f64.
pub fn grad_sums<T: Float>(x: &[T], g: &[T], (n, c, s): Dims, mean: &[f64]) -> Vec<(f64, f64)> {
    if is_short((n, c, s)) {
        let width = c * s;
        let center: Vec<T> = spread(&mean.iter().map(|&m| T::from_f64(m)).collect::<Vec<T>>(), s);
        let sums = row_sums(n, width, &|r, a, b| centred_row_dots(&x[r * width..(r + 1) * width], &g[r * width..(r + 1) * width], &center, a, b));
        return by_channel(sums, (n, c, s))
            .into_iter()
            .enumerate()
            .map(|(ch, (sd, sdx))| (sd, sdx - (mean[ch] - center[ch * s].to_f64()) * sd))
            .collect();
    }
    per_channel(x.len(), c, &|ch| {
        let mean_t = T::from_f64(mean[ch]);
        let (mut sd, mut sdx) = (0.0f64, 0.0f64);
        for b in 0..n {
            let o = (b * c + ch) * s;
            let (a, q) = centred_dot(&x[o..o + s], &g[o..o + s], mean_t);
            sd += a;
            sdx += q;
        }
        // sum(dy * (x - mean)) = sum(dy * (x - mean_t)) - (mean - mean_t) * sum(dy).
        (sd, sdx - (mean[ch] - mean_t.to_f64()) * sd)
    })
}

/// (sum of g, sum of g * (x - center)) over a block, in 8 lanes of T.
#[inline(always)]
fn centred_dot_body<T: Float, const FMA: bool>(x: &[T], g: &[T], center: T) -> (f64, f64) {
    let (mut a1, mut a2) = ([T::from_f64(0.0); 8], [T::from_f64(0.0); 8]);
    let (xc, gc) = (x.chunks_exact(8), g.chunks_exact(8));
    let (xrest, grest) = (xc.remainder(), gc.remainder());
    for (xk, gk) in xc.zip(gc) {
        for l in 0..8 {
            a1[l] += gk[l];
            a2[l] += gk[l] * (xk[l] - center);
        }
    }
    for (&xi, &dy) in xrest.iter().zip(grest) {
        a1[0] += dy;
        a2[0] += dy * (xi - center);
    }
    (a1.iter().map(|&v| Element::to_f64(v)).sum(), a2.iter().map(|&v| Element::to_f64(v)).sum())
}

crate::multiversion!(centred_dot_body, centred_dot_avx2, centred_dot, Float, (x: &[T], g: &[T], center: T) -> (f64, f64));

/// Adds a batch row's g and g (x - center) to f64 partials, position by position.
#[inline(always)]
fn centred_row_dots_body<T: Float, const FMA: bool>(x: &[T], g: &[T], center: &[T], sd: &mut [f64], sdx: &mut [f64]) {
    for ((((&xv, &gv), &ce), a), q) in x.iter().zip(g).zip(center).zip(sd.iter_mut()).zip(sdx.iter_mut()) {
        let gd = Element::to_f64(gv);
        *a += gd;
        *q += gd * Element::to_f64(xv - ce);
    }
}

crate::multiversion!(centred_row_dots_body, centred_row_dots_avx2, centred_row_dots, Float, (x: &[T], g: &[T], center: &[T], sd: &mut [f64], sdx: &mut [f64]) -> ());

/// Per-channel constants of the input gradient dx = k1 (dy - mean_dy) + k2 (x - center) + k3
/// (batch statistics), or dx = k1 dy (running statistics: constants, so an inf in x must not
/// turn into 0 * inf = NaN).
pub struct InputGrad<'a, T> {
    /// [k1, k2, k3, center, mean_dy] per channel.
    pub k: &'a [[T; 5]],
    pub batch_stats: bool,
}

pub fn input_grad<T: Float>(x: &[T], g: &[T], d: Dims, k: &InputGrad<'_, T>) -> Vec<T> {
    if is_short(d) {
        let rows = InputGrad { k: &spread(k.k, d.2), batch_stats: k.batch_stats };
        return build_pointwise(x.len(), |start, out| input_grad_rows(x, g, start, out, &rows));
    }
    build_pointwise(x.len(), |start, out| input_grad_chunk(x, g, start, out, d, k))
}

/// `input_grad_chunk` with the constants spread to a batch row (C S of them).
#[inline(always)]
fn input_grad_rows_body<T: Float, const FMA: bool>(x: &[T], g: &[T], start: usize, out: &mut [MaybeUninit<T>], k: &InputGrad<'_, T>) {
    for (at, pos, n) in row_runs(start, out.len(), k.k.len()) {
        let (o, gr, xr, kr) = (&mut out[at - start..at - start + n], &g[at..at + n], &x[at..at + n], &k.k[pos..pos + n]);
        if k.batch_stats {
            for (((oi, &dy), &xi), &[k1, k2, k3, ce, md]) in o.iter_mut().zip(gr).zip(xr).zip(kr) {
                oi.write(k1 * (dy - md) + k2 * (xi - ce) + k3);
            }
        } else {
            for ((oi, &dy), kk) in o.iter_mut().zip(gr).zip(kr) {
                oi.write(kk[0] * dy);
            }
        }
    }
}

crate::multiversion!(input_grad_rows_body, input_grad_rows_avx2, input_grad_rows, Float, (x: &[T], g: &[T], start: usize, out: &mut [MaybeUninit<T>], k: &InputGrad<'_, T>) -> ());

#[inline(always)]
fn input_grad_chunk_body<T: Float, const FMA: bool>(x: &[T], g: &[T], start: usize, out: &mut [MaybeUninit<T>], d: Dims, k: &InputGrad<'_, T>) {
    for (ch, at, n) in blocks(start, out.len(), d) {
        let [k1, k2, k3, ce, md] = k.k[ch];
        let (o, gr, xr) = (&mut out[at - start..at - start + n], &g[at..at + n], &x[at..at + n]);
        if k.batch_stats {
            for ((oi, &dy), &xi) in o.iter_mut().zip(gr).zip(xr) {
                oi.write(k1 * (dy - md) + k2 * (xi - ce) + k3);
            }
        } else {
            for (oi, &dy) in o.iter_mut().zip(gr) {
                oi.write(k1 * dy);
            }
        }
    }
}

crate::multiversion!(input_grad_chunk_body, input_grad_chunk_avx2, input_grad_chunk, Float, (x: &[T], g: &[T], start: usize, out: &mut [MaybeUninit<T>], d: Dims, k: &InputGrad<'_, T>) -> ());

#[cfg(test)]
mod tests {
    use super::*;

    /// Chunks that start and end inside blocks are walked block by block, with the channel of
    /// each (blocks cycle through the channels, batch after batch).
    #[test]
    fn blocks_cross_channels_and_batches() {
        let d = (2, 3, 4);
        let got: Vec<_> = blocks(2, 9, d).collect();
        assert_eq!(got, [(0, 2, 2), (1, 4, 4), (2, 8, 3)]);
        let got: Vec<_> = blocks(10, 6, d).collect();
        assert_eq!(got, [(2, 10, 2), (0, 12, 4)]);
        assert_eq!(blocks(5, 0, d).count(), 0);
    }

    /// Short blocks (S below `SHORT`, S = 1 for BatchNorm1d on (N, C)) give the long path's maps
    /// bit for bit and its sums to float64 rounding, at sizes on both sides of the parallel
    /// threshold.
    #[test]
    fn short_blocks_agree_with_the_block_walk() {
        for d in [(5, 7, 1), (4, 3, 5), (300, 200, 1), (70, 16, 31)] {
            let (n, c, s) = d;
            let len = n * c * s;
            let x: Vec<f32> = (0..len).map(|i| (i as f32 * 0.37).sin() * 4.0 + 100.0).collect();
            let g: Vec<f32> = (0..len).map(|i| (i as f32 * 0.11).cos()).collect();
            let want_stats: Vec<(f64, f64)> = (0..c)
                .map(|ch| {
                    let vals: Vec<f64> = (0..n).flat_map(|b| (0..s).map(move |j| (b, j))).map(|(b, j)| x[(b * c + ch) * s + j] as f64).collect();
                    let m = vals.iter().sum::<f64>() / vals.len() as f64;
                    (m, vals.iter().map(|v| (v - m) * (v - m)).sum::<f64>() / vals.len() as f64)
                })
                .collect();
            for ((m, v), (wm, wv)) in channel_stats(&x, d).into_iter().zip(&want_stats) {
                assert!((m - wm).abs() <= 1e-9 * wm.abs() && (v - wv).abs() <= 1e-6 * wv.max(1e-3), "stats {d:?}: {m} {v} vs {wm} {wv}");
            }
            let mean: Vec<f64> = want_stats.iter().map(|p| p.0).collect();
            for (ch, (sd, sdx)) in grad_sums(&x, &g, d, &mean).into_iter().enumerate() {
                let idx = (0..n).flat_map(|b| (0..s).map(move |j| (b * c + ch) * s + j));
                let want_sd: f64 = idx.clone().map(|i| g[i] as f64).sum();
                let want_sdx: f64 = idx.map(|i| g[i] as f64 * (x[i] as f64 - mean[ch])).sum();
                assert!((sd - want_sd).abs() <= 1e-9 * (1.0 + want_sd.abs()) && (sdx - want_sdx).abs() <= 1e-5 * (1.0 + want_sdx.abs()), "grad sums {d:?} channel {ch}");
            }
            let consts: Vec<f32> = (0..c).map(|ch| ch as f32 * 0.25 - 1.0).collect();
            let a = Affine { center: &consts, scale: &consts, shift: &consts };
            let mut y = vec![MaybeUninit::uninit(); len];
            normalise_chunk(&x, 0, &mut y, d, &a);
            let k: Vec<[f32; 5]> = (0..c).map(|ch| [ch as f32, 0.5, -0.25, 100.0, 0.01 * ch as f32]).collect();
            for (yi, zi) in y.iter().zip(normalise(&x, d, &a)) {
                // SAFETY: normalise_chunk wrote every element.
                assert_eq!(unsafe { yi.assume_init() }.to_bits(), zi.to_bits(), "normalise {d:?}");
            }
            for batch_stats in [true, false] {
                let kg = InputGrad { k: &k, batch_stats };
                let mut dx = vec![MaybeUninit::uninit(); len];
                input_grad_chunk(&x, &g, 0, &mut dx, d, &kg);
                for (a, b) in dx.iter().zip(input_grad(&x, &g, d, &kg)) {
                    // SAFETY: written.
                    assert_eq!(unsafe { a.assume_init() }.to_bits(), b.to_bits(), "input_grad {d:?}");
                }
            }
        }
    }

    /// The maps split anywhere give what one element at a time gives, bit for bit.
    #[test]
    fn maps_match_elementwise_whatever_the_split() {
        let d = (3, 5, 7);
        let len = 3 * 5 * 7;
        let x: Vec<f32> = (0..len).map(|i| (i as f32 * 0.37).sin() * 10.0 + 3.0).collect();
        let g: Vec<f32> = (0..len).map(|i| (i as f32 * 0.11).cos()).collect();
        let ch = |i: usize| i / 7 % 5;
        let (center, scale, shift): (Vec<f32>, Vec<f32>, Vec<f32>) = (0..5).map(|c| (c as f32 * 0.5, 1.0 + c as f32, -(c as f32))).fold((vec![], vec![], vec![]), |mut v, (a, b, c)| {
            v.0.push(a);
            v.1.push(b);
            v.2.push(c);
            v
        });
        let a = Affine { center: &center, scale: &scale, shift: &shift };
        let k: Vec<[f32; 5]> = (0..5).map(|c| [0.5 + c as f32, -0.25, 0.125 * c as f32, c as f32, 0.01]).collect();
        for batch_stats in [true, false] {
            let kg = InputGrad { k: &k, batch_stats };
            for (start, n) in [(0, len), (3, 11), (6, 1), (20, 64)] {
                let mut y = vec![MaybeUninit::uninit(); n];
                normalise_chunk(&x, start, &mut y, d, &a);
                let mut dx = vec![MaybeUninit::uninit(); n];
                input_grad_chunk(&x, &g, start, &mut dx, d, &kg);
                for j in 0..n {
                    let (i, c) = (start + j, ch(start + j));
                    // SAFETY: the chunks write every element.
                    let (y, dx) = unsafe { (y[j].assume_init(), dx[j].assume_init()) };
                    assert_eq!(y.to_bits(), ((x[i] - center[c]) * scale[c] + shift[c]).to_bits(), "normalise at {i}");
                    let [k1, k2, k3, ce, md] = k[c];
                    let want = if batch_stats { k1 * (g[i] - md) + k2 * (x[i] - ce) + k3 } else { k1 * g[i] };
                    assert_eq!(dx.to_bits(), want.to_bits(), "input_grad at {i}");
                }
            }
        }
    }
}
