//! dtype conversion (`.to(dtype)`, `.float()`, `.long()` ...), differentiable between floats.
//! Element conversions are PyTorch's on x86-64 (`tensor::dtype::cast`): floats truncate toward
//! zero into integers (NaN and out-of-range values as its cvttsd2si gives them), integers wrap.

use crate::autograd::{record, Backward};
use crate::error::Result;
use crate::tensor::dtype::cast;
use std::mem::MaybeUninit;

use crate::tensor::iter::GRAIN;
use crate::tensor::{DType, Element, Tensor};
use crate::with_dtype;

fn convert<S: Element, D: Element>(x: &Tensor) -> Tensor {
    super::kernel::map::<S, D>(x, cast::<S, D>)
}

/// float32 to and from float16/bfloat16 in parallel chunks of vectorised conversions (see
/// `halves`). One element at a time they were a call each: `.half()` of 1M floats took 27x
/// PyTorch's time, and every float16 op computes in float32 between two of these.
fn convert_halves(x: &Tensor, to: DType) -> Option<Tensor> {
    fn run<S: Element, D: Element>(x: &Tensor, f: fn(&[S], &mut [MaybeUninit<D>])) -> Tensor {
        x.with_view::<S, _>(|v| {
            let src = v.contiguous();
            let out = crate::ops::kernel::build(src.len(), GRAIN, |start, c| f(&src[start..][..c.len()], c));
            Tensor::from_vec_unchecked(out, x.shape())
        })
    }
    Some(match (x.dtype(), to) {
        (DType::F32, DType::F16) => run(x, halves::f32_to_f16),
        (DType::F32, DType::BF16) => run(x, halves::f32_to_bf16),
        (DType::F16, DType::F32) => run(x, halves::f16_to_f32),
        (DType::BF16, DType::F32) => run(x, halves::bf16_to_f32),
        _ => return None,
    })
}

/// Slice conversions between float32 and the halves. float16 goes through F16C, 8 lanes an
/// instruction, when the CPU has it (`half`'s own slice conversions do 4); bfloat16 is
/// PyTorch's bit arithmetic (round to nearest even, a NaN becomes 0x7FC0) in loops compiled
/// for AVX2.
mod halves {
    use half::{bf16, f16};
    use std::mem::MaybeUninit;

    #[cfg(target_arch = "x86_64")]
    fn has_f16c() -> bool {
        crate::simd::has_avx2_fma() && is_x86_feature_detected!("f16c")
    }

    pub fn f32_to_f16(src: &[f32], dst: &mut [MaybeUninit<f16>]) {
        #[cfg(target_arch = "x86_64")]
        if has_f16c() {
            // SAFETY: the CPU has AVX and F16C (checked just above).
            return unsafe { f32_to_f16_f16c(src, dst) };
        }
        dst.iter_mut().zip(src).for_each(|(d, &v)| {
            d.write(f16::from_f32(v));
        });
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,f16c")]
    unsafe fn f32_to_f16_f16c(src: &[f32], dst: &mut [MaybeUninit<f16>]) {
        use std::arch::x86_64::*;
        let (blocks, rest) = src.as_chunks::<8>();
        for (k, b) in blocks.iter().enumerate() {
            // SAFETY: 8 floats read from `b`, 8 halves written at dst[8k..8k + 8] (same length).
            unsafe {
                let h = _mm256_cvtps_ph::<_MM_FROUND_TO_NEAREST_INT>(_mm256_loadu_ps(b.as_ptr()));
                _mm_storeu_si128(dst[8 * k..8 * k + 8].as_mut_ptr() as *mut __m128i, h);
            }
        }
        let done = blocks.len() * 8;
        dst[done..].iter_mut().zip(rest).for_each(|(d, &v)| {
            d.write(f16::from_f32(v));
        });
    }

    pub fn f16_to_f32(src: &[f16], dst: &mut [MaybeUninit<f32>]) {
        #[cfg(target_arch = "x86_64")]
        if has_f16c() {
            // SAFETY: as f32_to_f16.
            return unsafe { f16_to_f32_f16c(src, dst) };
        }
        dst.iter_mut().zip(src).for_each(|(d, &v)| {
            d.write(v.to_f32());
        });
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,f16c")]
    unsafe fn f16_to_f32_f16c(src: &[f16], dst: &mut [MaybeUninit<f32>]) {
        use std::arch::x86_64::*;
        let (blocks, rest) = src.as_chunks::<8>();
        for (k, b) in blocks.iter().enumerate() {
            // SAFETY: 8 halves read from `b`, 8 floats written at dst[8k..8k + 8].
            unsafe {
                let f = _mm256_cvtph_ps(_mm_loadu_si128(b.as_ptr() as *const __m128i));
                _mm256_storeu_ps(dst[8 * k..8 * k + 8].as_mut_ptr() as *mut f32, f);
            }
        }
        let done = blocks.len() * 8;
        dst[done..].iter_mut().zip(rest).for_each(|(d, &v)| {
            d.write(v.to_f32());
        });
    }

    #[inline(always)]
    fn bf16_body<const FMA: bool>(src: &[f32], dst: &mut [MaybeUninit<bf16>]) {
        for (d, &v) in dst.iter_mut().zip(src) {
            let b = v.to_bits();
            let rounded = (b.wrapping_add(0x7fff + ((b >> 16) & 1)) >> 16) as u16;
            d.write(bf16::from_bits(if v.is_nan() { 0x7FC0 } else { rounded }));
        }
    }

    #[inline(always)]
    fn bf16_widen_body<const FMA: bool>(src: &[bf16], dst: &mut [MaybeUninit<f32>]) {
        for (d, &v) in dst.iter_mut().zip(src) {
            d.write(f32::from_bits((v.to_bits() as u32) << 16));
        }
    }

    pub fn f32_to_bf16(src: &[f32], dst: &mut [MaybeUninit<bf16>]) {
        #[cfg(target_arch = "x86_64")]
        if crate::simd::has_avx2_fma() {
            #[target_feature(enable = "avx2,fma")]
            unsafe fn avx2(src: &[f32], dst: &mut [MaybeUninit<bf16>]) {
                bf16_body::<true>(src, dst)
            }
            // SAFETY: the CPU has AVX2 (checked just above).
            return unsafe { avx2(src, dst) };
        }
        bf16_body::<false>(src, dst)
    }

    pub fn bf16_to_f32(src: &[bf16], dst: &mut [MaybeUninit<f32>]) {
        #[cfg(target_arch = "x86_64")]
        if crate::simd::has_avx2_fma() {
            #[target_feature(enable = "avx2,fma")]
            unsafe fn avx2(src: &[bf16], dst: &mut [MaybeUninit<f32>]) {
                bf16_widen_body::<true>(src, dst)
            }
            // SAFETY: the CPU has AVX2 (checked just above).
            return unsafe { avx2(src, dst) };
        }
        bf16_widen_body::<false>(src, dst)
    }
}

/// A new tensor of `dtype`; the same tensor when the dtype already matches (as PyTorch's `.to`).
pub fn to_dtype(x: &Tensor, dtype: DType) -> Result<Tensor> {
    if x.dtype() == dtype {
        return Ok(x.clone());
    }
    let out = match convert_halves(x, dtype) {
        Some(out) => out,
        None => with_dtype!(x.dtype(), S => with_dtype!(dtype, D => convert::<S, D>(x))),
    };
    if !dtype.is_float() {
        // No gradient into an integer or bool: no node, but a trace must see the cast.
        crate::autograd::trace::log_op("ToCopyBackward0", &[x], &out);
        return Ok(out);
    }
    let from = x.dtype();
    record(out, &[x], || Ok(Box::new(ToCopyBackward { from })))
}

struct ToCopyBackward {
    from: DType,
}

impl Backward for ToCopyBackward {
    fn name(&self) -> &'static str {
        "ToCopyBackward0"
    }
    fn saves_tensors(&self) -> bool {
        false
    }
    fn apply(&self, grad: &Tensor, _needs: &[bool]) -> Result<Vec<Option<Tensor>>> {
        Ok(vec![Some(to_dtype(grad, self.from)?)])
    }
    fn differentiable(&self) -> bool {
        true
    }
}
