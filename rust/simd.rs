//! Loops compiled three times, for baseline x86-64, for AVX2 + FMA and for AVX-512, with the
//! widest copy the CPU runs picked at run time.
//!
//! The wheel targets baseline x86-64 (SSE2) so that it runs on any x86-64 CPU. A pointwise
//! loop compiled that way uses 4-lane vectors and no fused multiply-add. The same source
//! compiled with `#[target_feature(enable = "avx2,fma")]` gets 8 lanes and FMA. That is twice
//! the width for the gate passes of the recurrent layers and for the softmax rows of attention.
//! The body must be `#[inline(always)]`, and so must every helper it calls, so that all of it
//! is compiled inside the AVX2 copy. The AVX-512 copy (F, VL, BW, DQ) gets 16 lanes: on Zen 4,
//! whose 512-bit operations take two 256-bit halves, the loops still ran 1.3-1.7x faster, as
//! half as many instructions fill the scheduler (4M float32 sigmoid 1.04 -> 0.70 ms, tanh 1.81 ->
//! 1.07). Each lane does the same operations in either copy, so both give the same bits; the one
//! exception is exact GELU's forward (float32, and float16 and bfloat16 through it), whose
//! AVX-512 kernel reads a table (`vmath_gelu`).

/// Whether the CPU has AVX2 and FMA (checked once).
#[cfg(target_arch = "x86_64")]
pub fn has_avx2_fma() -> bool {
    use std::sync::OnceLock;
    static HAS: OnceLock<bool> = OnceLock::new();
    *HAS.get_or_init(|| is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma"))
}

/// Whether the CPU has AVX-512 (F, VL, BW, DQ) besides AVX2 and FMA (checked once, at the first
/// kernel call); FG_AVX512=0 in the environment before that turns it off.
#[cfg(target_arch = "x86_64")]
pub fn has_avx512() -> bool {
    use std::sync::OnceLock;
    static HAS: OnceLock<bool> = OnceLock::new();
    *HAS.get_or_init(|| {
        has_avx2_fma()
            && is_x86_feature_detected!("avx512f")
            && is_x86_feature_detected!("avx512vl")
            && is_x86_feature_detected!("avx512bw")
            && is_x86_feature_detected!("avx512dq")
            && std::env::var_os("FG_AVX512").is_none_or(|v| v != "0")
    })
}

/// `multiversion!(body, avx_copy, name, Bound, (args) -> ret)` defines `fn name<T: Bound>(args)
/// -> ret`, which calls `body::<T, true>(args)` compiled for AVX-512 when the CPU has it, else
/// for AVX2 + FMA when the CPU has both, and `body::<T, false>` otherwise. The body's
/// `const FMA: bool` tells it which copy it is in,
/// for the `vmath` forms that fuse multiply-adds (`VMath::exp_as::<FMA>`).
#[macro_export]
macro_rules! multiversion {
    ($body:ident, $avx:ident, $plain:ident, $bound:path, ($($arg:ident: $ty:ty),*) -> $ret:ty) => {
        #[cfg(target_arch = "x86_64")]
        #[target_feature(enable = "avx2,fma")]
        unsafe fn $avx<T: $bound>($($arg: $ty),*) -> $ret {
            $body::<T, true>($($arg),*)
        }
        fn $plain<T: $bound>($($arg: $ty),*) -> $ret {
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx512f,avx512vl,avx512bw,avx512dq,avx2,fma")]
                unsafe fn avx512<T: $bound>($($arg: $ty),*) -> $ret {
                    $body::<T, true>($($arg),*)
                }
                if $crate::simd::has_avx512() {
                    // SAFETY: the CPU has AVX-512, AVX2 and FMA (checked at run time just above).
                    return unsafe { avx512::<T>($($arg),*) };
                }
            }
            #[cfg(target_arch = "x86_64")]
            if $crate::simd::has_avx2_fma() {
                // SAFETY: the CPU has AVX2 and FMA (checked at run time just above).
                return unsafe { $avx::<T>($($arg),*) };
            }
            $body::<T, false>($($arg),*)
        }
    };
}
