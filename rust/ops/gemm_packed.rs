//! float32 products on AVX2 + FMA (AVX-512 where the CPU has it) with the right operand packed
//! once: the per-step products of the recurrent layers ((b, H_out) @ W_hh^T forward, (b, G*H)
//! @ W_hh backward, 64 of them per call against the same weights) and their whole-sequence
//! products.
//!
//! Why not the `gemm` crate: at 16-32 rows its 16 x 6 register block leaves most of the block
//! empty, and it re-decides packing and blocking at every call. At 16 x 256 x 1024 on one Zen 3
//! core it ran 36-54 GFLOP/s; the 6 x 16 block here, with the weights packed once per call,
//! ran 80-88 (a standalone program timing both on the recurrent benchmarks' shapes). On the
//! whole-sequence products (2048 rows) the crate spent a tenth of its time packing both
//! operands; here the left operand is read in place when its rows are contiguous.
//!
//! Layout: the right operand is stored as panels of 16 columns, each k rows of 16 contiguous
//! values, zero past n. The product runs in blocks of KC steps of k (a panel's block stays in
//! L1 while every row block passes over it) and MC rows (the left operand's block stays in L2
//! while the panels pass).

use super::gemm::Mat;
use crate::parallel::DisjointPtr;
#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::*;

/// Rows and columns of one register block: 12 accumulators, two loads and six broadcasts per
/// step of k, which keeps both FMA ports busy.
const MR: usize = 6;
const NR: usize = 16;
/// Rows of the AVX-512 block: a panel row is one 512-bit vector, so 12 rows keep 12
/// accumulators, with one load and twelve broadcasts per step of k. Each element is the same
/// sum in the same order as in the AVX2 block (its own FMA chain over k), so the bits agree.
const MR_WIDE: usize = 12;
/// Steps of k per block: a panel's block is KC x 16 floats (16 KiB, half of L1).
const KC: usize = 256;
/// Rows per block of the left operand (MC x KC floats, 96 KiB, in L2).
const MC: usize = 96;
/// The row stride of a copied left block (`blocked_body`): KC and a cache line, so that
/// consecutive rows fall in different L1 sets.
const ALIASED_PAD: usize = KC + 16;

/// A (k, n) right operand in panels of NR columns.
pub struct PackedRhs {
    panels: Vec<f32>,
    k: usize,
    n: usize,
}

/// Whether this CPU runs the kernels here (AVX2 and FMA).
pub fn usable() -> bool {
    #[cfg(target_arch = "x86_64")]
    return crate::simd::has_avx2_fma();
    #[cfg(not(target_arch = "x86_64"))]
    false
}

impl PackedRhs {
    /// Packs B = `b` stored (k, n) row-major, or B = `b`^T for `b` stored (n, k) when `b_t`.
    /// None when the CPU lacks AVX2 or FMA (the caller keeps its general product then).
    pub fn new(b: &[f32], b_t: bool, k: usize, n: usize, threads: usize) -> Option<PackedRhs> {
        let mut p = PackedRhs::empty()?;
        p.pack(b, b_t, k, n, threads);
        Some(p)
    }

    /// `new` into this operand's allocation (see `repack`).
    pub fn pack(&mut self, b: &[f32], b_t: bool, k: usize, n: usize, threads: usize) {
        assert!(b.len() >= k * n, "gemm_packed: operand shorter than {k} x {n}");
        let mat = if b_t { Mat::rows_t(b.as_ptr(), k) } else { Mat::rows(b.as_ptr(), n) };
        // SAFETY: `mat` addresses the k x n elements of `b`, checked just above.
        unsafe { self.repack(mat, k, n, threads) }
    }

    /// Packs a strided (k, n) matrix, its panels split over up to `threads` threads.
    ///
    /// # Safety
    /// `b` must address a k x n matrix.
    pub unsafe fn from_mat(b: Mat<f32>, k: usize, n: usize, threads: usize) -> Option<PackedRhs> {
        let mut p = PackedRhs::empty()?;
        // SAFETY: the caller's contract.
        unsafe { p.repack(b, k, n, threads) };
        Some(p)
    }

    /// `from_mat` into this operand's allocation: a convolution's backward packs one output
    /// gradient per image, and a fresh buffer each time was zeroed page by page first.
    ///
    /// # Safety
    /// `b` must address a k x n matrix.
    pub unsafe fn repack(&mut self, b: Mat<f32>, k: usize, n: usize, threads: usize) {
        let np = n.div_ceil(NR);
        self.panels.resize(np * k * NR, 0.0);
        (self.k, self.n) = (k, n);
        let out = DisjointPtr(self.panels.as_mut_ptr());
        let parts = if k * n < 1 << 16 { 1 } else { threads.clamp(1, np.max(1)) };
        let src = &b; // captured whole: a closure capturing the raw pointer field is not Sync
        let pack = |pi: usize| {
            for p in np * pi / parts..np * (pi + 1) / parts {
                let cols = p * NR..((p + 1) * NR).min(n);
                let width = cols.len();
                // SAFETY: as below; `usable` held when this operand was made.
                let done = unsafe { transposed_panel(src, k, p, width, out) };
                for kk in done..k {
                    // SAFETY: panel p's row kk is inside `panels`; parts pack disjoint panels;
                    // (kk, j) is inside b (the caller's contract).
                    unsafe {
                        let row = out.get().add((p * k + kk) * NR);
                        for (c, j) in cols.clone().enumerate() {
                            *row.add(c) = *src.ptr.offset(kk as isize * src.rs + j as isize * src.cs);
                        }
                        // Columns past n (stale from an earlier, wider matrix).
                        std::ptr::write_bytes(row.add(width), 0, NR - width);
                    }
                }
            }
        };
        run_parts(parts, &pack);
    }

    /// An empty operand, for `pack_rows` to fill (None when the CPU lacks AVX2 or FMA).
    pub fn empty() -> Option<PackedRhs> {
        usable().then(|| PackedRhs { panels: Vec::new(), k: 0, n: 0 })
    }

    /// Repacks as the (k, n) matrix whose row kk `row(kk, buf)` writes into `buf` (all n
    /// values), keeping the allocation: a convolution unfolds its column matrix row by row
    /// straight into panels, with no column matrix to pack afterwards.
    pub fn pack_rows(&mut self, k: usize, n: usize, buf: &mut Vec<f32>, mut row: impl FnMut(usize, &mut [f32])) {
        let np = n.div_ceil(NR);
        self.panels.resize(np * k * NR, 0.0);
        (self.k, self.n) = (k, n);
        buf.resize(n, 0.0);
        for kk in 0..k {
            row(kk, buf);
            let (whole, tail) = buf.as_chunks::<NR>();
            for (p, vals) in whole.iter().enumerate() {
                // A fixed-size copy: two register moves, where a slice copy was a memcpy call.
                let dst: &mut [f32; NR] = (&mut self.panels[(p * k + kk) * NR..][..NR]).try_into().unwrap();
                *dst = *vals;
            }
            if !tail.is_empty() {
                let dst = &mut self.panels[(whole.len() * k + kk) * NR..][..NR];
                dst[..tail.len()].copy_from_slice(tail);
                // Columns past n (stale from an earlier, wider matrix).
                dst[tail.len()..].fill(0.0);
            }
        }
    }

    /// The panels of a (k, n) operand for the caller to write in place, element (kk, j) at
    /// `panel_index(k, kk, j)`, keeping the allocation: Winograd's transforms write each
    /// transformed tile straight where the kernel reads it. The columns past n read as zero;
    /// every other element must be written before the next product.
    pub fn panels_mut(&mut self, k: usize, n: usize) -> &mut [f32] {
        let np = n.div_ceil(NR);
        self.panels.resize(np * k * NR, 0.0);
        (self.k, self.n) = (k, n);
        if !n.is_multiple_of(NR) {
            // The last panel, whose columns past n may be stale from an earlier, wider matrix.
            self.panels[(np - 1) * k * NR..].fill(0.0);
        }
        &mut self.panels
    }

    /// dst (m, n) [+]= a (m, k) @ B, `a` and `dst` row-major and contiguous, on up to `threads`
    /// threads. See `product`.
    pub fn mm(&self, dst: &mut [f32], a: &[f32], m: usize, accumulate: bool, threads: usize) {
        let (k, n) = (self.k, self.n);
        assert!(dst.len() >= m * n && a.len() >= m * k, "gemm_packed: operands shorter than {m} x {k} and {m} x {n}");
        // SAFETY: both are row-major and as long as checked; dst is borrowed mutably, so it
        // overlaps nothing else.
        unsafe { self.product(dst.as_mut_ptr(), n, Mat::rows(a.as_ptr(), k), m, accumulate, threads) }
    }

    /// dst (m, n, row stride ldc) [+]= a (m, k, strided) @ B on up to `threads` threads: by rows
    /// when there are several row blocks for each thread, else by column panels (each thread
    /// then reads only its panels of B, which matters when B is larger than L2). Every element
    /// is the same sum in the same order however the work is split, so the thread count does
    /// not change the bits.
    ///
    /// # Safety
    /// `a` must address an m x k matrix and `dst` an m x n one with row stride `ldc`, not
    /// overlapping `a`; with `accumulate` false dst is only written.
    pub unsafe fn product(&self, dst: *mut f32, ldc: usize, a: Mat<f32>, m: usize, accumulate: bool, threads: usize) {
        let (k, n) = (self.k, self.n);
        if m == 0 || n == 0 {
            return;
        }
        if k == 0 {
            if !accumulate {
                (0..m).for_each(|r| std::slice::from_raw_parts_mut(dst.add(r * ldc), n).fill(0.0));
            }
            return;
        }
        let panels = n.div_ceil(NR);
        let by_rows = m >= 2 * MC * threads;
        let small = m * k * n < 1 << 20;
        let parts = if small { 1 } else if by_rows { threads.max(1) } else { threads.clamp(1, panels) };
        let out = DisjointPtr(dst);
        let part = |pi: usize| {
            let (rows, cols) = if by_rows {
                ((m * pi / parts, m * (pi + 1) / parts), (0, panels))
            } else {
                ((0, m), (panels * pi / parts, panels * (pi + 1) / parts))
            };
            // SAFETY: `self` exists, so the CPU has AVX2 and FMA; parts write disjoint rows or
            // columns of dst (the caller's contract covers the rest).
            #[cfg(target_arch = "x86_64")]
            unsafe {
                blocked(out.get(), ldc, a, self, accumulate, rows, cols)
            }
            #[cfg(not(target_arch = "x86_64"))]
            unreachable!("gemm_packed: {:?} packed only on x86-64", (out.get(), rows, cols, &a))
        };
        run_parts(parts, &part);
    }
}

/// Where element (kk, j) of a (k, n) right operand lives in its panels (see `panels_mut`).
#[inline(always)]
pub fn panel_index(k: usize, kk: usize, j: usize) -> usize {
    ((j / NR) * k + kk) * NR + j % NR
}

fn run_parts(parts: usize, f: &(dyn Fn(usize) + Sync)) {
    if parts <= 1 {
        f(0);
    } else {
        crate::parallel::for_each_part(parts, f);
    }
}

/// Rows r0..r1 and column panels p0..p1 of dst [+]= a @ B, in MC x KC blocks.
///
/// # Safety
/// AVX2 and FMA; as `PackedRhs::product`, and nothing else writes these rows and columns.
#[cfg(target_arch = "x86_64")]
unsafe fn blocked(dst: *mut f32, ldc: usize, a: Mat<f32>, b: &PackedRhs, accumulate: bool, rows: (usize, usize), panels: (usize, usize)) {
    if crate::simd::has_avx512() {
        blocked_wide(dst, ldc, a, b, accumulate, rows, panels)
    } else {
        blocked_narrow(dst, ldc, a, b, accumulate, rows, panels)
    }
}

/// `blocked` on AVX2 + FMA, in blocks of MR rows.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn blocked_narrow(dst: *mut f32, ldc: usize, a: Mat<f32>, b: &PackedRhs, accumulate: bool, rows: (usize, usize), panels: (usize, usize)) {
    blocked_body::<false>(dst, ldc, a, b, accumulate, rows, panels)
}

/// `blocked` on AVX-512, in blocks of MR_WIDE rows: on Zen 4 (whose 512-bit FMAs take two
/// halves, so the peak is the same) convolution products ran 2-3.5% faster, as the block
/// issues 25 instructions for 12 rows x 16 columns where the AVX2 one issues 40.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx2,fma")]
unsafe fn blocked_wide(dst: *mut f32, ldc: usize, a: Mat<f32>, b: &PackedRhs, accumulate: bool, rows: (usize, usize), panels: (usize, usize)) {
    blocked_body::<true>(dst, ldc, a, b, accumulate, rows, panels)
}

/// `blocked` in register blocks of MR_WIDE rows on AVX-512 (WIDE), else MR.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn blocked_body<const WIDE: bool>(dst: *mut f32, ldc: usize, a: Mat<f32>, b: &PackedRhs, accumulate: bool, (r0, r1): (usize, usize), (p0, p1): (usize, usize)) {
    let mr = if WIDE { MR_WIDE } else { MR };
    let (k, n) = (b.k, b.n);
    // The left operand is read in place: by rows (contiguous along k) or, stored transposed,
    // by columns (a block's rows' values contiguous at each step of k).
    let k_major = a.cs != 1;
    let lda_in = if k_major { a.cs as usize } else { a.rs as usize };
    assert!(if k_major { a.rs == 1 } else { a.rs >= 0 }, "gemm_packed: the left operand needs rows or columns contiguous");
    // Rows a multiple of 4 KiB apart all map to one set of the 8-way L1, so a block's rows
    // (the AVX-512 block's 12 of them) evict each other at every step of k: a convolution's
    // weight gradient over 32 x 32 outputs (columns 1024 floats long) ran a quarter slower per
    // position than at 31 x 31 or 33 x 33. Such blocks are copied to rows ALIASED_PAD apart.
    let aliased = WIDE && !k_major && lda_in.is_multiple_of(1024) && r1 - r0 > 8;
    let mut copy: Vec<f32> = if aliased { Vec::with_capacity(MC * ALIASED_PAD) } else { Vec::new() };
    let lda = if aliased { ALIASED_PAD } else { lda_in };
    for mc0 in (r0..r1).step_by(MC) {
        let rows = MC.min(r1 - mc0);
        for kc0 in (0..k).step_by(KC) {
            let kc = KC.min(k - kc0);
            let add = accumulate || kc0 > 0;
            let ap = if k_major {
                a.ptr.add(kc0 * lda + mc0)
            } else if aliased {
                copy.clear();
                for r in 0..rows {
                    copy.extend_from_slice(std::slice::from_raw_parts(a.ptr.add((mc0 + r) * lda_in + kc0), kc));
                    copy.resize((r + 1) * ALIASED_PAD, 0.0);
                }
                copy.as_ptr()
            } else {
                a.ptr.add(mc0 * lda + kc0)
            };
            for p in p0..p1 {
                let panel = b.panels.as_ptr().add((p * k + kc0) * NR);
                let (c0, w) = (p * NR, NR.min(n - p * NR));
                // Row blocks of near-equal size: 16 rows as 6 + 5 + 5, not 6 + 6 + 4, on AVX2
                // (8 + 8 on AVX-512; a block of few rows has too few accumulators to hide the
                // FMA latency).
                let blocks = rows.div_ceil(mr);
                let mut r = 0;
                for bi in 0..blocks {
                    let h = rows * (bi + 1) / blocks - rows * bi / blocks;
                    let (ar, cr) = (if k_major { ap.add(r) } else { ap.add(r * lda) }, dst.add((mc0 + r) * ldc + c0));
                    let kernel = Kernel { lda, kc, k_major, add };
                    let run = |c: *mut f32, ldc: usize| if WIDE { kernel.block_wide(h, ar, panel, c, ldc) } else { kernel.block(h, ar, panel, c, ldc) };
                    if w == NR {
                        run(cr, ldc);
                    } else {
                        // The last panel of a width that is not a multiple of NR.
                        let mut tmp = [0f32; MR_WIDE * NR];
                        if add {
                            (0..h).for_each(|i| std::ptr::copy_nonoverlapping(cr.add(i * ldc), tmp.as_mut_ptr().add(i * NR), w));
                        }
                        run(tmp.as_mut_ptr(), NR);
                        (0..h).for_each(|i| std::ptr::copy_nonoverlapping(tmp.as_ptr().add(i * NR), cr.add(i * ldc), w));
                    }
                    r += h;
                }
            }
        }
    }
}

/// How one block product reads its operands: the left one's stride between rows (k_major
/// false) or between steps of k (k_major true), the steps of k, and whether to add to dst.
#[derive(Clone, Copy)]
struct Kernel {
    lda: usize,
    kc: usize,
    k_major: bool,
    add: bool,
}

impl Kernel {
    /// c[0..rows, 0..16] [+]= a[0..rows, 0..kc] @ b for `rows` (1..=MR) rows.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    #[inline]
    unsafe fn block(self, rows: usize, a: *const f32, b: *const f32, c: *mut f32, ldc: usize) {
        if self.k_major {
            self.rows::<true>(rows, a, b, c, ldc)
        } else {
            self.rows::<false>(rows, a, b, c, ldc)
        }
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    #[inline]
    unsafe fn rows<const KM: bool>(self, rows: usize, a: *const f32, b: *const f32, c: *mut f32, ldc: usize) {
        match rows {
            1 => self.run::<1, KM>(a, b, c, ldc),
            2 => self.run::<2, KM>(a, b, c, ldc),
            3 => self.run::<3, KM>(a, b, c, ldc),
            4 => self.run::<4, KM>(a, b, c, ldc),
            5 => self.run::<5, KM>(a, b, c, ldc),
            _ => self.run::<MR, KM>(a, b, c, ldc),
        }
    }

    /// c[r, 0..16] [+]= sum_{k < kc} a[r, k] b[k, 0..16] for R rows; a[r, k] is at
    /// a + k lda + r when KM (k-major), else a + r lda + k; `b` is one panel block.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    #[inline]
    unsafe fn run<const R: usize, const KM: bool>(self, a: *const f32, b: *const f32, c: *mut f32, ldc: usize) {
        let Kernel { lda, kc, add, .. } = self;
        let mut acc = [[_mm256_setzero_ps(); 2]; R];
        for kk in 0..kc {
            let b0 = _mm256_loadu_ps(b.add(kk * NR));
            let b1 = _mm256_loadu_ps(b.add(kk * NR + 8));
            for (r, row) in acc.iter_mut().enumerate() {
                let at = if KM { kk * lda + r } else { r * lda + kk };
                let x = _mm256_broadcast_ss(&*a.add(at));
                row[0] = _mm256_fmadd_ps(x, b0, row[0]);
                row[1] = _mm256_fmadd_ps(x, b1, row[1]);
            }
        }
        for (r, row) in acc.iter().enumerate() {
            store_row(*row, c.add(r * ldc), add);
        }
    }
}

impl Kernel {
    /// `block` on AVX-512, for `rows` in 1..=MR_WIDE.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f,avx2,fma")]
    #[inline]
    unsafe fn block_wide(self, rows: usize, a: *const f32, b: *const f32, c: *mut f32, ldc: usize) {
        macro_rules! by_rows {
            ($($r:literal)*) => {
                match rows {
                    $($r => if self.k_major { self.run_wide::<$r, true>(a, b, c, ldc) } else { self.run_wide::<$r, false>(a, b, c, ldc) },)*
                    _ => if self.k_major { self.run_wide::<MR_WIDE, true>(a, b, c, ldc) } else { self.run_wide::<MR_WIDE, false>(a, b, c, ldc) },
                }
            };
        }
        by_rows!(1 2 3 4 5 6 7 8 9 10 11)
    }

    /// `run` with one 512-bit accumulator per row.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f,avx2,fma")]
    #[inline]
    unsafe fn run_wide<const R: usize, const KM: bool>(self, a: *const f32, b: *const f32, c: *mut f32, ldc: usize) {
        let Kernel { lda, kc, add, .. } = self;
        let mut acc = [_mm512_setzero_ps(); R];
        for kk in 0..kc {
            let bv = _mm512_loadu_ps(b.add(kk * NR));
            for (r, row) in acc.iter_mut().enumerate() {
                let at = if KM { kk * lda + r } else { r * lda + kk };
                *row = _mm512_fmadd_ps(_mm512_set1_ps(*a.add(at)), bv, *row);
            }
        }
        for (r, row) in acc.iter().enumerate() {
            let cr = c.add(r * ldc);
            // acc + c, the AVX2 block's order.
            _mm512_storeu_ps(cr, if add { _mm512_add_ps(*row, _mm512_loadu_ps(cr)) } else { *row });
        }
    }
}

/// c[0..16] = a register block's row `acc`, added to c's values when `add`.
///
/// # Safety
/// Only inlined into AVX2 code; c..c + 16 writable (and readable when `add`).
#[cfg(target_arch = "x86_64")]
#[inline(always)]
pub(crate) unsafe fn store_row(acc: [__m256; 2], c: *mut f32, add: bool) {
    let (c0, c1) = (c, c.add(8));
    if add {
        _mm256_storeu_ps(c0, _mm256_add_ps(acc[0], _mm256_loadu_ps(c0)));
        _mm256_storeu_ps(c1, _mm256_add_ps(acc[1], _mm256_loadu_ps(c1)));
    } else {
        _mm256_storeu_ps(c0, acc[0]);
        _mm256_storeu_ps(c1, acc[1]);
    }
}

/// Rows 0..done of panel p packed from a B whose columns are contiguous (B = b^T of a
/// row-major b, as a convolution's weight gradient packs its output gradient), eight steps of
/// k at a time by 8 x 8 transposes in registers; returns `done` (0 when the panel is narrower
/// than NR or the columns are not contiguous). Element by element, with a load per value from
/// 16 rows apart, this packing was an eighth of a 7x7 stride-2 convolution's train step.
///
/// # Safety
/// AVX2; `b` must address a k x n matrix and `out` the panels of `repack`.
unsafe fn transposed_panel(b: &Mat<f32>, k: usize, p: usize, width: usize, out: DisjointPtr<f32>) -> usize {
    if b.rs != 1 || width < NR || k < 8 || b.cs <= 0 {
        return 0;
    }
    #[cfg(target_arch = "x86_64")]
    {
        let cs = b.cs as usize;
        let done = k - k % 8;
        for k0 in (0..done).step_by(8) {
            for jb in [0, 8] {
                // SAFETY: columns p NR + jb.. + 8 of B, steps k0..k0 + 8 of each, lie inside b
                // (7 cs + 8 values from the first); row k0 + kk of the panel takes 8 floats at jb.
                unsafe {
                    let src = std::slice::from_raw_parts(b.ptr.add((p * NR + jb) * cs + k0), 7 * cs + 8);
                    transpose_block(src, cs, out.get(), |kk| (p * k + k0 + kk) * NR + jb);
                }
            }
        }
        done
    }
    #[cfg(not(target_arch = "x86_64"))]
    0
}

/// Writes the 8 x 8 block src[g * stride + kk] (g, kk < 8) transposed: row kk, the eight
/// values src[0..8][kk], to dst + at(kk).
///
/// # Safety
/// The CPU must have AVX2; `src` must hold 7 * stride + 8 values and each dst + at(kk) eight
/// writable floats.
#[cfg(target_arch = "x86_64")]
#[cfg_attr(target_arch = "x86_64", target_feature(enable = "avx2,fma"))]
pub unsafe fn transpose_block(src: &[f32], stride: usize, dst: *mut f32, at: impl Fn(usize) -> usize) {
    use std::arch::x86_64::*;
    assert!(src.len() >= 7 * stride + 8);
    let r: [__m256; 8] = std::array::from_fn(|g| _mm256_loadu_ps(src.as_ptr().add(g * stride)));
    let t = [
        _mm256_unpacklo_ps(r[0], r[1]),
        _mm256_unpackhi_ps(r[0], r[1]),
        _mm256_unpacklo_ps(r[2], r[3]),
        _mm256_unpackhi_ps(r[2], r[3]),
        _mm256_unpacklo_ps(r[4], r[5]),
        _mm256_unpackhi_ps(r[4], r[5]),
        _mm256_unpacklo_ps(r[6], r[7]),
        _mm256_unpackhi_ps(r[6], r[7]),
    ];
    let s = [
        _mm256_shuffle_ps::<0x44>(t[0], t[2]),
        _mm256_shuffle_ps::<0xEE>(t[0], t[2]),
        _mm256_shuffle_ps::<0x44>(t[1], t[3]),
        _mm256_shuffle_ps::<0xEE>(t[1], t[3]),
        _mm256_shuffle_ps::<0x44>(t[4], t[6]),
        _mm256_shuffle_ps::<0xEE>(t[4], t[6]),
        _mm256_shuffle_ps::<0x44>(t[5], t[7]),
        _mm256_shuffle_ps::<0xEE>(t[5], t[7]),
    ];
    let rows = [
        _mm256_permute2f128_ps::<0x20>(s[0], s[4]),
        _mm256_permute2f128_ps::<0x20>(s[1], s[5]),
        _mm256_permute2f128_ps::<0x20>(s[2], s[6]),
        _mm256_permute2f128_ps::<0x20>(s[3], s[7]),
        _mm256_permute2f128_ps::<0x31>(s[0], s[4]),
        _mm256_permute2f128_ps::<0x31>(s[1], s[5]),
        _mm256_permute2f128_ps::<0x31>(s[2], s[6]),
        _mm256_permute2f128_ps::<0x31>(s[3], s[7]),
    ];
    for (kk, row) in rows.iter().enumerate() {
        _mm256_storeu_ps(dst.add(at(kk)), *row);
    }
}

#[cfg(test)]
#[path = "gemm_packed_tests.rs"]
mod tests;
