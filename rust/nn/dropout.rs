//! Dropout, channel dropout (Dropout1d/2d/3d) and alpha dropout in one kernel.
//!
//! The keep-mask is one bit per element (or per channel), drawn from per-chunk xoshiro streams
//! (`random::fill`), so it is reproducible under `manual_seed` whatever the thread count. The
//! output is `x * scale + shift`, with (scale, shift) = (s1, c1) where kept and (0, c0) where
//! dropped; backward is `g * scale`.

use std::sync::Arc;

use rand_core::Rng;

use crate::autograd::{record, Backward};
use crate::bail;
use crate::error::Result;
use crate::ops::kernel::build;
use crate::random;
use crate::tensor::iter::GRAIN;
use crate::tensor::{Float, Tensor};
use crate::with_float;

/// SELU's negative saturation value, -scale * alpha (PyTorch's alpha_dropout constant).
const SELU_ALPHA: f64 = 1.7580993408473766;

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Kind {
    /// Dropout: zero with probability p, scale the rest by 1/(1-p).
    Standard,
    /// AlphaDropout: dropped values go to SELU's saturation, affine-corrected to keep mean 0, std 1.
    Alpha,
}

pub fn check_p(p: f64) -> Result<()> {
    if !(0.0..=1.0).contains(&p) {
        bail!(Value, "dropout probability has to be between 0 and 1, but got {p}");
    }
    Ok(())
}

/// Two interleaved generators: their state updates are independent, so the CPU overlaps them
/// (one xoshiro alone is latency-bound at one draw per ~1.5 ns).
type Streams = [rand_xoshiro::Xoshiro256PlusPlus; 2];

fn streams(seed: u64, task: usize) -> Streams {
    [random::stream(seed, 2 * task), random::stream(seed, 2 * task + 1)]
}

/// 64 keep bits from 32 draws: a unit is kept when its 32-bit uniform is >= `thr` (= p * 2^32).
#[inline(always)]
fn keep_word(r: &mut Streams, thr: u64) -> u64 {
    let mut bits = 0u64;
    for k in 0..16 {
        let (v, w) = (r[0].next_u64(), r[1].next_u64());
        let b = ((v & 0xFFFF_FFFF >= thr) as u64)
            | (((v >> 32) >= thr) as u64) << 1
            | ((w & 0xFFFF_FFFF >= thr) as u64) << 2
            | (((w >> 32) >= thr) as u64) << 3;
        bits |= b << (4 * k);
    }
    bits
}

/// Mask words per random stream (and per parallel task): 512 words = 32K units.
const WORDS_PER_STREAM: usize = 512;

/// The keep-mask of `units` units, one stream per WORDS_PER_STREAM words.
fn keep_mask(units: usize, p: f64) -> Vec<u64> {
    let thr = threshold(p);
    let seed = random::next_seed();
    let mut words = vec![0u64; units.div_ceil(64)];
    let fill = |(i, chunk): (usize, &mut [u64])| {
        let mut r = streams(seed, i);
        chunk.iter_mut().for_each(|w| *w = keep_word(&mut r, thr));
    };
    if units > GRAIN {
        crate::parallel::for_each_chunk_mut(&mut words, WORDS_PER_STREAM, &|i, c| fill((i, c)));
    } else {
        words.chunks_mut(WORDS_PER_STREAM).enumerate().for_each(fill);
    }
    words
}

fn threshold(p: f64) -> u64 {
    (p * 4294967296.0).min(4294967295.0) as u64
}

#[inline(always)]
fn bit(mask: &[u64], i: usize) -> bool {
    (mask[i >> 6] >> (i & 63)) & 1 == 1
}

/// For each mask byte, the 8 (scale, shift) pairs it selects: applying a word becomes 8 table
/// lookups and straight-line multiply-adds the compiler vectorises, instead of 64 bit tests.
struct ByteTable<T> {
    scale: Vec<[T; 8]>,
    shift: Vec<[T; 8]>,
}

impl<T: Float> ByteTable<T> {
    fn new((s1, c1, c0): (f64, f64, f64)) -> Self {
        let pick = |byte: usize, j: usize, on: f64, off: f64| T::from_f64(if (byte >> j) & 1 == 1 { on } else { off });
        ByteTable {
            scale: (0..256).map(|b| std::array::from_fn(|j| pick(b, j, s1, 0.0))).collect(),
            shift: (0..256).map(|b| std::array::from_fn(|j| pick(b, j, c1, c0))).collect(),
        }
    }

    /// out[i] = x[i] * scale + shift for the (up to) 64 elements of one mask word.
    #[inline(always)]
    fn apply_word(&self, bits: u64, x: &[T], out: &mut [std::mem::MaybeUninit<T>]) {
        if x.len() == 64 {
            for b in 0..8 {
                let byte = ((bits >> (8 * b)) & 0xFF) as usize;
                let (sc, sh) = (&self.scale[byte], &self.shift[byte]);
                let (xs, os) = (&x[8 * b..8 * b + 8], &mut out[8 * b..8 * b + 8]);
                for j in 0..8 {
                    os[j].write(xs[j] * sc[j] + sh[j]);
                }
            }
        } else {
            for (j, (o, &v)) in out.iter_mut().zip(x).enumerate() {
                let byte = ((bits >> (j & !7)) & 0xFF) as usize;
                o.write(v * self.scale[byte][j & 7] + self.shift[byte][j & 7]);
            }
        }
    }
}

/// Dropout in training mode. `unit` is the number of consecutive elements sharing one mask bit:
/// 1 for element-wise dropout, the spatial size (prod of dims after 1) for channel dropout.
/// Callers handle eval mode and p == 0 by returning the input itself.
pub fn dropout(x: &Tensor, p: f64, kind: Kind, unit: usize) -> Result<Tensor> {
    check_p(p)?;
    let unit = unit.max(1);
    let units = x.numel().div_ceil(unit);
    let (s1, c1, c0) = if p >= 1.0 {
        (0.0, 0.0, 0.0)
    } else {
        match kind {
            Kind::Standard => (1.0 / (1.0 - p), 0.0, 0.0),
            Kind::Alpha => {
                let a = 1.0 / ((SELU_ALPHA * SELU_ALPHA * p + 1.0) * (1.0 - p)).sqrt();
                (a, SELU_ALPHA * a * p, SELU_ALPHA * a * (p - 1.0))
            }
        }
    };
    let (out, mask) = if unit == 1 && p < 1.0 {
        // Element-wise: draw the mask and apply it in the same pass over the data.
        with_float!(x.dtype(), "dropout", T => fused::<T>(x, p, (s1, c1, c0)))
    } else {
        let mask = if p >= 1.0 { vec![0u64; units.div_ceil(64)] } else { keep_mask(units, p) };
        (with_float!(x.dtype(), "dropout", T => apply::<T>(x, &mask, unit, (s1, c1, c0))), mask)
    };
    let mask = Arc::new(mask);
    record(out, &[x], || Ok(Box::new(DropoutBackward { mask, unit, scale: s1, kind, p })))
}

/// Element-wise dropout: each task draws its mask words from its own stream and writes the
/// 64 outputs of each word at once. The streams are those of `keep_mask`, so the mask is the
/// same as the two-pass path would draw.
fn fused<T: Float>(x: &Tensor, p: f64, (s1, c1, c0): (f64, f64, f64)) -> (Tensor, Vec<u64>) {
    let thr = threshold(p);
    let seed = random::next_seed();
    let n = x.numel();
    let mut words = vec![0u64; n.div_ceil(64)];
    let per_task = WORDS_PER_STREAM * 64;
    let table = ByteTable::<T>::new((s1, c1, c0));
    let data = x.with_view::<T, _>(|v| {
        let src = v.contiguous();
        let src: &[T] = &src;
        let mut out: Vec<T> = Vec::with_capacity(n);
        crate::tensor::hint_huge_pages(&mut out);
        let spare = &mut out.spare_capacity_mut()[..n];
        let task = |(i, (o, w)): (usize, (&mut [std::mem::MaybeUninit<T>], &mut [u64]))| {
            let mut r = streams(seed, i);
            let base = i * per_task;
            for (k, (ob, wk)) in o.chunks_mut(64).zip(w.iter_mut()).enumerate() {
                let bits = keep_word(&mut r, thr);
                *wk = bits;
                let start = base + k * 64;
                table.apply_word(bits, &src[start..start + ob.len()], ob);
            }
        };
        if n > GRAIN {
            crate::parallel::for_each_task(spare.chunks_mut(per_task).zip(words.chunks_mut(WORDS_PER_STREAM)).enumerate().collect(), &task);
        } else {
            spare.chunks_mut(per_task).zip(words.chunks_mut(WORDS_PER_STREAM)).enumerate().for_each(task);
        }
        // SAFETY: the tasks cover all n elements (chunks of 64 per word, every word visited).
        unsafe { out.set_len(n) };
        out
    });
    (Tensor::from_vec_unchecked(data, x.shape()), words)
}

fn apply<T: Float>(x: &Tensor, mask: &[u64], unit: usize, (s1, c1, c0): (f64, f64, f64)) -> Tensor {
    let (kept, dropped) = ([T::from_f64(s1), T::from_f64(c1)], [T::from_f64(0.0), T::from_f64(c0)]);
    let data = x.with_view::<T, _>(|v| {
        let src = v.contiguous();
        let src: &[T] = &src;
        if unit == 1 {
            // One mask word covers 64 consecutive elements (GRAIN is a multiple of 64).
            let table = ByteTable::<T>::new((s1, c1, c0));
            return build(src.len(), GRAIN, |start, out| {
                for (k, ob) in out.chunks_mut(64).enumerate() {
                    let w = start / 64 + k;
                    table.apply_word(mask[w], &src[w * 64..w * 64 + ob.len()], ob);
                }
            });
        }
        // Chunks are whole units, so each run of `unit` elements reads one bit.
        build(src.len(), (GRAIN / unit).max(1) * unit, |start, out| {
            for (k, run) in out.chunks_mut(unit).enumerate() {
                let u = start / unit + k;
                let [sc, sh] = if bit(mask, u) { kept } else { dropped };
                let len = run.len();
                for (o, &v) in run.iter_mut().zip(&src[u * unit..u * unit + len]) {
                    o.write(v * sc + sh);
                }
            }
        })
    });
    Tensor::from_vec_unchecked(data, x.shape())
}

struct DropoutBackward {
    mask: Arc<Vec<u64>>,
    unit: usize,
    scale: f64,
    kind: Kind,
    /// The drop probability, for a trace.
    p: f64,
}

impl Backward for DropoutBackward {
    fn attrs(&self) -> crate::autograd::trace::Attrs {
        crate::attrs![("p", self.p), ("channel", self.unit > 1), ("alpha", matches!(self.kind, Kind::Alpha))]
    }
    fn name(&self) -> &'static str {
        // PyTorch's names on CPU, where F.dropout/dropoutNd compute input * mask (native_dropout
        // is its CUDA path) and alpha dropout ends in `+ b`.
        match self.kind {
            Kind::Standard => "MulBackward0",
            Kind::Alpha => "AddBackward0",
        }
    }
    fn apply(&self, g: &Tensor, _needs: &[bool]) -> Result<Vec<Option<Tensor>>> {
        if crate::autograd::is_recording() {
            // g * mask * scale: the mask is a constant, only the product is recorded.
            let gi = crate::ops::expr::times_constant_factor(g, |ones| {
                Ok(with_float!(ones.dtype(), "dropout backward", T => apply::<T>(ones, &self.mask, self.unit, (self.scale, 0.0, 0.0))))
            })?;
            return Ok(vec![Some(gi)]);
        }
        let gi = with_float!(g.dtype(), "dropout backward", T => apply::<T>(g, &self.mask, self.unit, (self.scale, 0.0, 0.0)));
        Ok(vec![Some(gi)])
    }
    fn differentiable(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dropout_zeroes_about_p_and_scales_the_rest() {
        random::manual_seed(0);
        let x = Tensor::ones(&[100_000], crate::tensor::DType::F64);
        let y = dropout(&x, 0.3, Kind::Standard, 1).unwrap().to_vec::<f64>();
        let zeros = y.iter().filter(|&&v| v == 0.0).count() as f64 / y.len() as f64;
        assert!((zeros - 0.3).abs() < 0.01, "{zeros}");
        assert!(y.iter().all(|&v| v == 0.0 || (v - 1.0 / 0.7).abs() < 1e-12));
    }

    #[test]
    fn channel_dropout_shares_one_bit_per_channel() {
        random::manual_seed(1);
        let x = Tensor::ones(&[8, 16, 5], crate::tensor::DType::F32);
        let y = dropout(&x, 0.5, Kind::Standard, 5).unwrap().to_vec::<f32>();
        for ch in y.chunks(5) {
            assert!(ch.iter().all(|&v| v == ch[0]));
        }
    }
}
