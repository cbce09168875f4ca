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

// ------------------------------------------------------------------------------------ forward

/// Per-channel (mean, biased variance) in one pass. Each block of S values is summed shifted by
/// the channel's first value (the shift removes the cancellation that makes E[x^2] - E[x]^2
/// inaccurate), and blocks are combined in f64.
pub fn channel_stats<T: Float>(x: &[T], (n, c, s): Dims) -> Vec<(f64, f64)> {
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
    build_pointwise(x.len(), |start, out| normalise_chunk(x, start, out, d, a))
}

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

/// Per-channel constants of the input gradient dx = k1 (dy - mean_dy) + k2 (x - center) + k3
/// (batch statistics), or dx = k1 dy (running statistics: constants, so an inf in x must not
/// turn into 0 * inf = NaN).
pub struct InputGrad<'a, T> {
    /// [k1, k2, k3, center, mean_dy] per channel.
    pub k: &'a [[T; 5]],
    pub batch_stats: bool,
}

pub fn input_grad<T: Float>(x: &[T], g: &[T], d: Dims, k: &InputGrad<'_, T>) -> Vec<T> {
    build_pointwise(x.len(), |start, out| input_grad_chunk(x, g, start, out, d, k))
}

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
