//! The direct convolution's register block (`conv_direct`): a block of output rows times 16
//! output channels kept in registers over all its taps and channels, on AVX2 (6 x 16) or
//! AVX-512 (12 x 16), and where it writes.

use std::mem::MaybeUninit;

#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::*;

#[cfg(target_arch = "x86_64")]
use crate::ops::gemm_packed::store_row;
use crate::parallel::DisjointPtr;

use super::conv_direct::{Block, MR_WIDE, NR};
#[cfg(target_arch = "x86_64")]
use super::conv_direct::MR;

/// Where a block writes: columns col..col + width of the rows of a matrix with row stride ldc.
#[derive(Clone, Copy)]
pub(super) struct Dst {
    pub(super) ptr: DisjointPtr<f32>,
    pub(super) ldc: usize,
    pub(super) col: usize,
    pub(super) width: usize,
}

/// How a block walks its two operands within one segment: `count` steps, the broadcast one
/// (`x`) moving by `x_stride` and the vector one (`panel`) by `panel_stride` elements a step.
#[derive(Clone, Copy, Debug)]
pub(super) struct Steps {
    pub(super) count: usize,
    pub(super) x_stride: isize,
    pub(super) panel_stride: usize,
}

/// The block's rows x dst's columns [+]= sum over `segments` (x offset a, panel offset p) and
/// their steps kk of x[row + a + kk x_stride] * panel[p + kk panel_stride..][..16].
///
/// # Safety
/// AVX2 and FMA; every read of every row lies inside `x`, and every read of the panel inside
/// it; the block's rows and columns of dst are the caller's to write.
pub(super) unsafe fn block(x: *const f32, b: &Block, segments: &[(isize, usize)], steps: Steps, panel: *const f32, dst: Dst, add: bool) {
    #[cfg(target_arch = "x86_64")]
    {
        // Rows of a block narrower than NR channels go through this scratch. It is zeroed only
        // then: zeroing it on every call (a 768-byte memset) was 3% of a ResNet-18 train step.
        let mut tmp = MaybeUninit::<[f32; MR_WIDE * NR]>::uninit();
        let full = dst.width == NR;
        let scratch = tmp.as_mut_ptr() as *mut f32;
        if !full {
            scratch.write_bytes(0, MR_WIDE * NR);
        }
        let at = |r: usize| dst.ptr.get().add(b.output[r] * dst.ldc + dst.col);
        let out: [*mut f32; MR_WIDE] = std::array::from_fn(|r| if !full { scratch.add(r * NR) } else if r < b.rows { at(r) } else { std::ptr::null_mut() });
        if !full && add {
            (0..b.rows).for_each(|r| std::ptr::copy_nonoverlapping(at(r), out[r], dst.width));
        }
        let input: [*const f32; MR_WIDE] = std::array::from_fn(|r| x.wrapping_offset(b.input[r]));
        macro_rules! by_rows {
            ($kernel:ident, $most:expr, $($r:literal)*) => {
                match b.rows {
                    $($r => $kernel::<$r>(&input, segments, steps, panel, &out, add),)*
                    _ => $kernel::<$most>(&input, segments, steps, panel, &out, add),
                }
            };
        }
        // Blocks hold more than MR rows only where `block_rows` saw AVX-512.
        if b.rows > MR || crate::simd::has_avx512() {
            by_rows!(kernel_wide, MR_WIDE, 1 2 3 4 5 6 7 8 9 10 11)
        } else {
            by_rows!(kernel, MR, 1 2 3 4 5)
        }
        if !full {
            (0..b.rows).for_each(|r| std::ptr::copy_nonoverlapping(out[r], at(r), dst.width));
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    unreachable!("conv_direct: {:?}", (x, b.rows, segments, steps, panel, dst.width, add))
}

/// out[r][0..16] [+]= sum over segments (a, p) and their steps kk of
/// input[r][a + kk x_stride] * panel[p + kk panel_stride..][..16], in registers throughout.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn kernel<const R: usize>(input: &[*const f32; MR_WIDE], segments: &[(isize, usize)], steps: Steps, panel: *const f32, out: &[*mut f32; MR_WIDE], add: bool) {
    let mut acc = [[_mm256_setzero_ps(); 2]; R];
    for &(a, p) in segments {
        let w = panel.add(p);
        let x: [*const f32; R] = std::array::from_fn(|r| input[r].wrapping_offset(a));
        for kk in 0..steps.count {
            let w0 = _mm256_loadu_ps(w.add(kk * steps.panel_stride));
            let w1 = _mm256_loadu_ps(w.add(kk * steps.panel_stride + 8));
            let step = kk as isize * steps.x_stride;
            for (r, row) in acc.iter_mut().enumerate() {
                let v = _mm256_broadcast_ss(&*x[r].offset(step));
                row[0] = _mm256_fmadd_ps(v, w0, row[0]);
                row[1] = _mm256_fmadd_ps(v, w1, row[1]);
            }
        }
    }
    for (r, row) in acc.iter().enumerate() {
        store_row(*row, out[r], add);
    }
}

/// `kernel` on AVX-512: one 512-bit accumulator per row, for up to MR_WIDE rows.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx2,fma")]
unsafe fn kernel_wide<const R: usize>(input: &[*const f32; MR_WIDE], segments: &[(isize, usize)], steps: Steps, panel: *const f32, out: &[*mut f32; MR_WIDE], add: bool) {
    let mut acc = [_mm512_setzero_ps(); R];
    for &(a, p) in segments {
        let w = panel.add(p);
        let x: [*const f32; R] = std::array::from_fn(|r| input[r].wrapping_offset(a));
        for kk in 0..steps.count {
            let wv = _mm512_loadu_ps(w.add(kk * steps.panel_stride));
            let step = kk as isize * steps.x_stride;
            for (r, row) in acc.iter_mut().enumerate() {
                *row = _mm512_fmadd_ps(_mm512_set1_ps(*x[r].offset(step)), wv, *row);
            }
        }
    }
    for (r, row) in acc.iter().enumerate() {
        // acc + c, `store_row`'s order.
        _mm512_storeu_ps(out[r], if add { _mm512_add_ps(*row, _mm512_loadu_ps(out[r])) } else { *row });
    }
}
