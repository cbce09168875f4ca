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

/// Bits of one keep-mask: bit i set means unit i is kept (probability 1 - p).
fn keep_mask(units: usize, p: f64) -> Vec<u64> {
    let mut words = vec![0u64; units.div_ceil(64)];
    // keep when a 32-bit uniform is >= p * 2^32 (resolution 2^-32)
    let thr = (p * 4294967296.0).min(4294967295.0) as u64;
    random::fill(&mut words, |r, chunk| {
        for w in chunk.iter_mut() {
            let mut bits = 0u64;
            for k in 0..32 {
                let v = r.next_u64();
                bits |= ((v & 0xFFFF_FFFF >= thr) as u64) << (2 * k);
                bits |= (((v >> 32) >= thr) as u64) << (2 * k + 1);
            }
            *w = bits;
        }
    });
    words
}

#[inline(always)]
fn bit(mask: &[u64], i: usize) -> bool {
    (mask[i >> 6] >> (i & 63)) & 1 == 1
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
    let mask = Arc::new(if p >= 1.0 { vec![0u64; units.div_ceil(64)] } else { keep_mask(units, p) });
    let out = with_float!(x.dtype(), "dropout", T => apply::<T>(x, &mask, unit, (s1, c1, c0)));
    record(out, &[x], || Ok(Box::new(DropoutBackward { mask: mask.clone(), unit, scale: s1, kind })))
}

fn apply<T: Float>(x: &Tensor, mask: &[u64], unit: usize, (s1, c1, c0): (f64, f64, f64)) -> Tensor {
    let (s1, c1, c0) = (T::from_f64(s1), T::from_f64(c1), T::from_f64(c0));
    let zero = T::from_f64(0.0);
    let data = x.with_view::<T, _>(|v| {
        let src = v.contiguous();
        let src: &[T] = &src;
        build(src.len(), GRAIN, |start, out| {
            for (i, o) in out.iter_mut().enumerate() {
                let g = start + i;
                let keep = bit(mask, g / unit);
                o.write(if keep { src[g] * s1 + c1 } else { src[g] * zero + c0 });
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
}

impl Backward for DropoutBackward {
    fn name(&self) -> &'static str {
        match self.kind {
            Kind::Standard => "NativeDropoutBackward0",
            Kind::Alpha => "AlphaDropoutBackward0",
        }
    }
    fn apply(&self, g: &Tensor, _needs: &[bool]) -> Result<Vec<Option<Tensor>>> {
        let gi = with_float!(g.dtype(), "dropout backward", T => apply::<T>(g, &self.mask, self.unit, (self.scale, 0.0, 0.0)));
        Ok(vec![Some(gi)])
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
