//! The float32 forward tile products written for AVX2 + FMA, replacing the two `ops::gemm` calls
//! per tile when the CPU has both.
//!
//! Why not the `gemm` crate here: a 128 x 64 x 128 product is small enough that its per-call
//! work (packing both operands, choosing blockings) was a fifth of the kernel's time, and the
//! query block was repacked for every key block although it never changes. Here the query block
//! is packed once per task, each key block once per tile, and the value rows are read in place;
//! the products themselves are one 6 x 16 register-blocked loop (12 accumulators, the shape
//! that keeps two FMA ports busy with two loads and six broadcasts per step).

use super::{max_body, AttnFloat, Problem, BC};
use std::mem::MaybeUninit;
#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::*;

/// Rows and columns of one register block.
const MR: usize = 6;
const NR: usize = 16;

/// Whether this problem can take the AVX2 path: the CPU has AVX2 and FMA, and value rows are
/// contiguous with a width that is a whole number of register blocks (head dims 16, 32, 64, 128).
pub(super) fn usable(pb: &Problem<f32>) -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        use std::sync::OnceLock;
        static HAS: OnceLock<bool> = OnceLock::new();
        let has = *HAS.get_or_init(|| is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma"));
        has && pb.v.cs == 1 && pb.ev.is_multiple_of(NR) && pb.ev > 0
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = pb;
        false
    }
}

// A key block starts at a whole panel, so blocks can be cut from keys packed whole.
const _: () = assert!(BC.is_multiple_of(NR));

/// Floats of one matrix's packed keys: S rounded up to whole panels of NR, times E.
#[cfg(target_arch = "x86_64")]
fn packed_keys_len(pb: &Problem<f32>) -> usize {
    pb.s.div_ceil(NR) * NR * pb.e
}

/// Key rows j of matrix b into panels of NR: (p e + k) NR + c holds key[p NR + c, k], zero past
/// S. The layout `forward_block` packs a key block into, for a block starting at a whole panel.
#[cfg(target_arch = "x86_64")]
fn pack_key_panels(pb: &Problem<f32>, b: usize, j0: usize, w: usize, dst: &mut [MaybeUninit<f32>]) {
    // The key reads below are in bounds only for these (the Operand contract covers b < bh and
    // rows below S).
    assert!(b < pb.bh && j0 + w <= pb.s, "sdpa: key block {j0}..{} of matrix {b} outside {} x {}", j0 + w, pb.bh, pb.s);
    let (e, kmat) = (pb.e, pb.k.at(b, j0));
    for c in 0..w.div_ceil(NR) * NR {
        let (p, cc) = (c / NR, c % NR);
        for k in 0..e {
            // SAFETY: (the Operand contract) key rows j0..j0+w of matrix b, columns 0..e.
            dst[(p * e + k) * NR + cc].write(if c < w { unsafe { *kmat.ptr.offset(c as isize * kmat.rs + k as isize * kmat.cs) } } else { 0.0 });
        }
    }
}

/// Every matrix's keys packed, matrices in parallel: a task per block of query rows packed its
/// key blocks itself, so at L = 1024 each key was packed eight times (a twentieth of the
/// forward's time). As large as the keys: memory stays linear in the sequence length. Written
/// once, never zeroed first (that was a pass over 8 MB at B 4, H 8, L 1024).
#[cfg(target_arch = "x86_64")]
pub(super) fn pack_keys(pb: &Problem<f32>) -> Vec<f32> {
    let per = packed_keys_len(pb).max(1);
    // pack_key_panels writes every element of a matrix's `per` (padding included).
    crate::ops::kernel::build(pb.bh * per, per, |at, dst| pack_key_panels(pb, at / per, 0, pb.s, dst))
}

/// `forward_block` (same contract) on AVX2 + FMA; `keys` is `pack_keys` of this problem, or
/// None to pack each key block here.
///
/// # Safety
/// `usable(pb)` must hold; the operands must satisfy the `Operand` contract.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn forward_block(pb: &Problem<f32>, keys: Option<&[f32]>, b: usize, i0: usize, i1: usize, o: &mut [f32], lse: &mut [f32]) {
    let (br, s, e, ev) = (i1 - i0, pb.s, pb.e, pb.ev);
    let brp = br.div_ceil(MR) * MR;
    let wpmax = BC.min(s).max(1).div_ceil(NR) * NR;
    // Query rows in panels of MR: qp[(p e + k) MR + r] = q[i0 + p MR + r, k], zero rows past br.
    let mut qp = vec![0f32; brp * e];
    let q = pb.q.at(b, i0);
    for r in 0..br {
        let (p, rr) = (r / MR, r % MR);
        for k in 0..e {
            qp[(p * e + k) * MR + rr] = *q.ptr.offset(r as isize * q.rs + k as isize * q.cs);
        }
    }
    let mut kp = if keys.is_some() { Vec::new() } else { crate::nn::conv_kernels::scratch::<f32>(wpmax * e) };
    // Every score tile is written whole by kernel_qk before it is read: never zeroed.
    let mut tile_buf = crate::nn::conv_kernels::scratch::<f32>(brp * wpmax);
    let tile_ptr = tile_buf.as_mut_ptr() as *mut f32;
    // The output rows accumulate here (padded to whole panels), scaled into `o` at the end.
    let mut acc = vec![0f32; brp * ev];
    let mut m = vec![f32::NEG_INFINITY; br];
    let mut sum = vec![0f32; br];
    let mut m_new = vec![0f32; br];
    // Per row, exp(m_old - m_new): the factor the accumulated output is rescaled by before a
    // key block adds to it. Padded to whole vectors (and the padding rows' factors are 1).
    let mut alpha = vec![0f32; brp.div_ceil(8) * 8];
    let s_end = pb.causal_end(i1 - 1);
    let mut j0 = 0;
    while j0 < s_end {
        let w = BC.min(s_end - j0);
        let wp = w.div_ceil(NR) * NR;
        // Key rows j0..j0+w in panels of NR (j0 is a whole number of panels: BC is).
        let kb: &[f32] = match keys {
            Some(all) => &all[b * packed_keys_len(pb) + j0 * e..][..wp * e],
            None => {
                pack_key_panels(pb, b, j0, w, &mut kp);
                // SAFETY: pack_key_panels wrote the first wp * e elements.
                std::slice::from_raw_parts(kp.as_ptr() as *const f32, wp * e)
            }
        };
        for rp in 0..brp / MR {
            for cp in 0..wp / NR {
                kernel_qk(qp.as_ptr().add(rp * MR * e), kb.as_ptr().add(cp * NR * e), e, tile_ptr.add(rp * MR * wp + cp * NR), wp);
            }
        }
        // SAFETY: the products above wrote all brp x wp scores (whole panels of MR rows and NR
        // columns), inside the buffer's brp * wpmax.
        let tile = std::slice::from_raw_parts_mut(tile_ptr, brp * wp);
        // The row maxima first, so the rescale factors exp(m_old - m_new) of the whole block
        // go through the vector exp together.
        let mut k = 1.0;
        for r in 0..br {
            let row = &mut tile[r * wp..r * wp + w];
            k = pb.prepare(row, b, i0 + r, j0);
            // k > 0, so the max of the raw scores times k is the max of the logits.
            let mx = max_body::<f32, true>(row) * k;
            m_new[r] = if mx > m[r] { mx } else { m[r] };
            if m_new[r] == f32::NEG_INFINITY && row.iter().any(|x| x.is_nan()) {
                m_new[r] = super::nan_row_max();
            }
            // A row with no key left so far keeps factor 1 (exp(-inf - -inf) would be NaN).
            alpha[r] = if m_new[r] == f32::NEG_INFINITY { 0.0 } else { m[r] - m_new[r] };
        }
        alpha[br..].fill(0.0);
        for a in alpha.iter_mut() {
            *a = a.fast_exp_as::<true>();
        }
        for r in 0..br {
            let row = &mut tile[r * wp..r * wp + w];
            if m_new[r] == f32::NEG_INFINITY {
                row.iter_mut().for_each(|x| *x = 0.0);
                continue;
            }
            // The dispatching copy, not the AVX2 one this function could inline: on an AVX-512
            // CPU its loop has half the instructions and no spills (the forward ran 3% faster).
            sum[r] = sum[r] * alpha[r] + super::exp_sum(row, m_new[r], k);
            m[r] = m_new[r];
            if let Some(d) = &pb.dropout {
                d.apply(row, ((b * pb.l + i0 + r) * s + j0) as u64);
            }
        }
        let v = pb.v.at(b, j0);
        for rp in 0..brp / MR {
            for cp in 0..ev / NR {
                let at = rp * MR;
                kernel_pv(tile.as_ptr().add(at * wp), wp, v.ptr.add(cp * NR), v.rs, w, acc.as_mut_ptr().add(at * ev + cp * NR), ev, alpha.as_ptr().add(at));
            }
        }
        j0 += w;
    }
    for r in 0..br {
        if sum[r] > 0.0 || sum[r].is_nan() {
            // sum > 0, or NaN (a NaN score): the output row and lse are NaN then.
            let inv = 1.0 / sum[r];
            o[r * ev..(r + 1) * ev].iter_mut().zip(&acc[r * ev..(r + 1) * ev]).for_each(|(x, &a)| *x = a * inv);
            lse[r] = m[r] + sum[r].ln();
        }
    }
}

/// c[r, 0..16] = sum_k a[k, r] b[k, 0..16] for the MR rows of one query panel (a: e x MR) and one
/// key panel (b: e x NR); c has row stride ldc.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
#[inline]
unsafe fn kernel_qk(a: *const f32, b: *const f32, e: usize, c: *mut f32, ldc: usize) {
    let mut acc = [[_mm256_setzero_ps(); 2]; MR];
    for k in 0..e {
        let b0 = _mm256_loadu_ps(b.add(k * NR));
        let b1 = _mm256_loadu_ps(b.add(k * NR + 8));
        for (r, row) in acc.iter_mut().enumerate() {
            let x = _mm256_broadcast_ss(&*a.add(k * MR + r));
            row[0] = _mm256_fmadd_ps(x, b0, row[0]);
            row[1] = _mm256_fmadd_ps(x, b1, row[1]);
        }
    }
    for (r, row) in acc.iter().enumerate() {
        _mm256_storeu_ps(c.add(r * ldc), row[0]);
        _mm256_storeu_ps(c.add(r * ldc + 8), row[1]);
    }
}

/// c[r, 0..16] = alpha[r] c[r, 0..16] + sum_j p[r, j] v[j, 0..16] for j < w: MR rows of
/// probabilities (row stride ldp) times w value rows (row stride ldv, contiguous within a row),
/// accumulated into c after the online softmax's rescale (folded in here: one pass fewer).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
#[inline]
#[allow(clippy::too_many_arguments)]
unsafe fn kernel_pv(p: *const f32, ldp: usize, v: *const f32, ldv: isize, w: usize, c: *mut f32, ldc: usize, alpha: *const f32) {
    let mut acc = [[_mm256_setzero_ps(); 2]; MR];
    for (r, row) in acc.iter_mut().enumerate() {
        let a = _mm256_broadcast_ss(&*alpha.add(r));
        row[0] = _mm256_mul_ps(a, _mm256_loadu_ps(c.add(r * ldc)));
        row[1] = _mm256_mul_ps(a, _mm256_loadu_ps(c.add(r * ldc + 8)));
    }
    for j in 0..w {
        let vj = v.offset(j as isize * ldv);
        let b0 = _mm256_loadu_ps(vj);
        let b1 = _mm256_loadu_ps(vj.add(8));
        for (r, row) in acc.iter_mut().enumerate() {
            let x = _mm256_broadcast_ss(&*p.add(r * ldp + j));
            row[0] = _mm256_fmadd_ps(x, b0, row[0]);
            row[1] = _mm256_fmadd_ps(x, b1, row[1]);
        }
    }
    for (r, row) in acc.iter().enumerate() {
        _mm256_storeu_ps(c.add(r * ldc), row[0]);
        _mm256_storeu_ps(c.add(r * ldc + 8), row[1]);
    }
}
