//! The tiled kernels behind `attention::scaled_dot_product_attention` (FlashAttention-2 on the
//! CPU): a task takes a block of query rows and streams the keys through in blocks, keeping per
//! row only the running max, the running sum of exponentials and the output accumulator (the
//! online softmax), so no L x S score matrix ever exists. Backward recomputes each tile's
//! probabilities from the saved per-row logsumexp, with D = rowsum(dO * O) and
//! dS = P * (dP - D).
//!
//! The tile products run on `ops::gemm` (single-threaded each; the parallelism is across tasks).
//! The softmax of a tile is the other hot loop: a polynomial exp in float32, written so it
//! vectorises, and compiled again for AVX2 + FMA and for AVX-512 (`crate::multiversion!`, picked
//! at run time: the crate targets baseline x86-64).

use crate::ops::gemm::{gemm, Mat};
use crate::tensor::Float;

mod tile;

/// Query rows and key rows per forward tile: a 132 x 128 float32 score tile is 66 KiB (L2);
/// 132 query rows share each packing of a K and V block (64 rows: twice the packings). 132,
/// not 128: the AVX2 tile products work in panels of 6 rows, and 128 would pad to 132 anyway.
const BR: usize = 132;
const BC: usize = 128;
/// Backward tiles: three score-sized buffers per task.
const BR_BWD: usize = 64;
const BC_BWD: usize = 64;
/// Below this many multiply-adds the whole op runs on the calling thread (a wake-up costs more).
const SERIAL_MACS: usize = 1 << 18;

/// The f32 exp the tiles use (a polynomial that vectorises; libm's expf does not); f64 keeps std.
pub(crate) trait AttnFloat: Float {
    /// `FMA`: inside a loop's AVX2 + FMA copy (see `VMath`).
    fn fast_exp_as<const FMA: bool>(self) -> Self;
    #[inline(always)]
    fn fast_exp(self) -> Self {
        self.fast_exp_as::<false>()
    }
    /// The keys of every matrix packed once for `forward_block_fast`, when its path takes them
    /// and `query_blocks` blocks of query rows would each pack them again.
    fn pack_keys(_pb: &Problem<Self>, _query_blocks: usize) -> Option<Vec<Self>> {
        None
    }
    /// Runs `forward_block` on a faster path for this type and CPU, if there is one (`keys`:
    /// from `pack_keys`).
    fn forward_block_fast(_pb: &Problem<Self>, _keys: Option<&[Self]>, _b: usize, _i0: usize, _i1: usize, _o: &mut [Self], _lse: &mut [Self]) -> bool {
        false
    }
}

impl AttnFloat for f64 {
    #[inline(always)]
    fn fast_exp_as<const FMA: bool>(self) -> f64 {
        self.exp()
    }
}

impl AttnFloat for f32 {
    fn pack_keys(pb: &Problem<f32>, query_blocks: usize) -> Option<Vec<f32>> {
        #[cfg(target_arch = "x86_64")]
        if query_blocks > 1 && tile::usable(pb) {
            return Some(tile::pack_keys(pb));
        }
        let _ = (pb, query_blocks);
        None
    }

    fn forward_block_fast(pb: &Problem<f32>, keys: Option<&[f32]>, b: usize, i0: usize, i1: usize, o: &mut [f32], lse: &mut [f32]) -> bool {
        #[cfg(target_arch = "x86_64")]
        if tile::usable(pb) {
            // SAFETY: the CPU has AVX2 and FMA and the value layout fits (`usable`); the operands
            // keep the `Operand` contract, and `keys` came from `pack_keys` of this problem.
            unsafe { tile::forward_block(pb, keys, b, i0, i1, o, lse) };
            return true;
        }
        let _ = (pb, keys, b, i0, i1, o, lse);
        false
    }

    /// `vmath::exp_nonpositive_f32`: branch-free, so a row loop of these vectorises; 0 below
    /// -87.3 (and at -inf, a masked score); NaN stays NaN. Every argument here is a score minus
    /// its row's max or logsumexp: at most a rounding above 0, far inside its range.
    #[inline(always)]
    fn fast_exp_as<const FMA: bool>(self) -> f32 {
        crate::vmath::exp_nonpositive_f32::<FMA>(self)
    }
}

/// One (batch, head) matrix per entry of `off`: element (b, i, j) at `ptr + off[b] + i rs + j cs`.
pub(crate) struct Operand<T> {
    pub ptr: *const T,
    pub off: Vec<usize>,
    pub rs: isize,
    pub cs: isize,
}

// SAFETY: read-only pointers into storages the caller keeps read-locked while the kernel runs.
unsafe impl<T> Send for Operand<T> {}
// SAFETY: as Send.
unsafe impl<T> Sync for Operand<T> {}

impl<T> Operand<T> {
    /// Rows `row..` of matrix `b`.
    fn at(&self, b: usize, row: usize) -> Mat<T> {
        // SAFETY: (the caller's contract) off[b] + row * rs stays inside the operand's storage.
        let ptr = unsafe { self.ptr.add(self.off[b]).offset(row as isize * self.rs) };
        Mat { ptr, rs: self.rs, cs: self.cs }
    }
    /// The transpose of rows `row..` of matrix `b`, read in place.
    fn at_t(&self, b: usize, row: usize) -> Mat<T> {
        let m = self.at(b, row);
        Mat { ptr: m.ptr, rs: m.cs, cs: m.rs }
    }
}

/// Dropout on the attention weights: element (b, i, j) is kept when a hash of (seed, b, i, j)
/// clears the threshold, so forward and backward draw the same mask without storing it.
#[derive(Clone, Copy)]
pub(crate) struct DropMask {
    pub seed: u64,
    /// Kept when the hash's high 32 bits are >= this (p * 2^32).
    pub threshold: u64,
    /// 1 / (1 - p), or 0 when p = 1 (everything dropped).
    pub inv_keep: f64,
}

impl DropMask {
    pub fn new(p: f64, seed: u64) -> DropMask {
        let threshold = (p * 4294967296.0).min(4294967295.0) as u64;
        DropMask { seed, threshold, inv_keep: if p >= 1.0 { 0.0 } else { 1.0 / (1.0 - p) } }
    }
    /// The keep-scale (0 or 1/(1-p)) of the element with flat index `counter` = (b L + i) S + j.
    #[inline(always)]
    fn factor<T: AttnFloat>(&self, counter: u64, inv: T) -> T {
        // MurmurHash3's 64-bit finaliser of a Weyl step: every input bit reaches every output bit.
        let mut h = self.seed.wrapping_add(counter.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        h ^= h >> 33;
        h = h.wrapping_mul(0xFF51_AFD7_ED55_8CCD);
        h ^= h >> 33;
        h = h.wrapping_mul(0xC4CE_B9FE_1A85_EC53);
        h ^= h >> 33;
        if (h >> 32) >= self.threshold { inv } else { T::zero() }
    }
    /// `factor` as f64, for the recorded form (`attention_composed.rs`).
    pub(super) fn factor_f64(&self, counter: u64) -> f64 {
        self.factor(counter, self.inv_keep)
    }
    fn apply<T: AttnFloat>(&self, row: &mut [T], first: u64) {
        let inv = T::from_f64(self.inv_keep);
        for (c, x) in row.iter_mut().enumerate() {
            *x *= self.factor(first + c as u64, inv);
        }
    }
}

/// The whole problem: `bh` (batch, head) matrices, query (L, E), key (S, E), value (S, Ev),
/// an additive float mask (already converted from bool), causal masking and dropout.
pub(crate) struct Problem<T> {
    pub q: Operand<T>,
    pub k: Operand<T>,
    pub v: Operand<T>,
    pub mask: Option<Operand<T>>,
    pub bh: usize,
    pub l: usize,
    pub s: usize,
    pub e: usize,
    pub ev: usize,
    pub scale: T,
    pub causal: bool,
    pub dropout: Option<DropMask>,
}

impl<T: AttnFloat> Problem<T> {
    /// Key columns of query row `i` that causal masking leaves (top-left aligned: j <= i).
    fn causal_end(&self, i: usize) -> usize {
        if self.causal { (i + 1).min(self.s) } else { self.s }
    }

    /// Turns raw scores `row` (keys j0..j0+len of query row i of matrix b) into logits:
    /// score * scale + mask, -inf past the causal edge.
    #[inline(always)]
    fn logits(&self, row: &mut [T], b: usize, i: usize, j0: usize) {
        self.logits_scaled_by(row, b, i, j0, self.scale);
    }

    /// Prepares raw scores for `exp_sum(row, m, k)` and returns k: without a mask and with a
    /// positive scale, only the causal edge is written and the scale is left to the exp pass
    /// (exp(x k - m)), one pass over the tile fewer; otherwise the full logits and k = 1.
    #[inline(always)]
    fn prepare(&self, row: &mut [T], b: usize, i: usize, j0: usize) -> T {
        if self.mask.is_none() && self.scale > T::zero() {
            self.logits_scaled_by(row, b, i, j0, T::one());
            self.scale
        } else {
            self.logits(row, b, i, j0);
            T::one()
        }
    }

    #[inline(always)]
    fn logits_scaled_by(&self, row: &mut [T], b: usize, i: usize, j0: usize, scale: T) {
        match &self.mask {
            None if scale == T::one() => {}
            None => row.iter_mut().for_each(|x| *x *= scale),
            Some(m) => {
                // SAFETY: (the Operand contract) the mask's (i, j) entries exist for j < S.
                let base = unsafe { m.ptr.add(m.off[b]).offset(i as isize * m.rs + j0 as isize * m.cs) };
                if m.cs == 1 {
                    // SAFETY: a contiguous run of row.len() mask entries (see above).
                    let mrow = unsafe { std::slice::from_raw_parts(base, row.len()) };
                    row.iter_mut().zip(mrow).for_each(|(x, &a)| *x = *x * scale + a);
                } else {
                    // SAFETY: cs == 0: one mask entry broadcast along the row.
                    let a = unsafe { *base };
                    row.iter_mut().for_each(|x| *x = *x * scale + a);
                }
            }
        }
        let keep = self.causal_end(i).saturating_sub(j0).min(row.len());
        row[keep..].iter_mut().for_each(|x| *x = T::neg_infinity());
    }
}

/// The running max of a row whose scores so far are all NaN or -inf with at least one NaN (a
/// NaN in the query makes every score of its row NaN, and the max ignores NaN): NaN, so the
/// row's sum, output and logsumexp come out NaN as in PyTorch instead of the zeros of a row
/// whose keys are all masked.
#[inline(always)]
fn nan_row_max<T: AttnFloat>() -> T {
    T::nan()
}

/// exp(x k - m) in place; returns the sum. Plain loops over fixed-width chunks, the shapes LLVM
/// vectorises.
#[inline(always)]
fn exp_sum_body<T: AttnFloat, const FMA: bool>(row: &mut [T], m: T, k: T) -> T {
    // One pass: each exponential is stored and added to one of 16 running sums (one AVX-512
    // register), so the row is read once, not twice.
    let mut acc = [T::zero(); 16];
    let mut chunks = row.chunks_exact_mut(16);
    for c in &mut chunks {
        for (a, x) in acc.iter_mut().zip(c.iter_mut()) {
            *x = (*x * k - m).fast_exp_as::<FMA>();
            *a += *x;
        }
    }
    let mut s = T::zero();
    for x in chunks.into_remainder() {
        *x = (*x * k - m).fast_exp_as::<FMA>();
        s += *x;
    }
    acc.iter().fold(s, |a, &b| a + b)
}
crate::multiversion!(exp_sum_body, exp_sum_avx2, exp_sum, AttnFloat, (row: &mut [T], m: T, k: T) -> T);

#[inline(always)]
fn max_body<T: AttnFloat, const FMA: bool>(row: &[T]) -> T {
    let mut acc = [T::neg_infinity(); 8];
    let mut chunks = row.chunks_exact(8);
    for c in &mut chunks {
        for (a, &x) in acc.iter_mut().zip(c) {
            *a = if x > *a { x } else { *a };
        }
    }
    let m = chunks.remainder().iter().fold(T::neg_infinity(), |a, &x| if x > a { x } else { a });
    acc.iter().fold(m, |a, &x| if x > a { x } else { a })
}
crate::multiversion!(max_body, max_avx2, row_max, AttnFloat, (row: &[T]) -> T);

/// Backward's dS = P * (dP - D) * scale, in place in `dp`.
#[inline(always)]
fn ds_body<T: AttnFloat, const FMA: bool>(p: &[T], dp: &mut [T], d: T, scale: T) {
    for (g, &pv) in dp.iter_mut().zip(p) {
        *g = pv * (*g - d) * scale;
    }
}
crate::multiversion!(ds_body, ds_avx2, ds_row, AttnFloat, (p: &[T], dp: &mut [T], d: T, scale: T) -> ());

/// Runs `task(0..n)` on the pool, or serially when the work is small.
fn run_tasks(n: usize, macs: usize, task: &(dyn Fn(usize) + Sync)) {
    if macs < SERIAL_MACS || rayon::current_num_threads() == 1 {
        (0..n).for_each(task);
    } else {
        crate::parallel::for_each_part(n, task);
    }
}

/// A mutable base pointer shared by tasks that write disjoint parts of one buffer.
#[derive(Clone, Copy)]
struct Out<T>(*mut T);
// SAFETY: each task writes only its own rows (see each use).
unsafe impl<T> Send for Out<T> {}
// SAFETY: as Send.
unsafe impl<T> Sync for Out<T> {}

impl<T> Out<T> {
    /// The pointer (a method, so closures capture the whole `Out`, which is Sync).
    fn get(self) -> *mut T {
        self.0
    }
}

/// Forward: returns the output (bh, L, Ev) and the per-row logsumexp (bh, L) of the logits,
/// +inf for a row whose keys are all masked out (its output is 0, its probabilities all 0).
pub(crate) fn forward<T: AttnFloat>(pb: &Problem<T>) -> (Vec<T>, Vec<T>) {
    let (l, s, ev) = (pb.l, pb.s, pb.ev);
    let mut out = crate::tensor::alloc::filled(pb.bh * l * ev, T::zero());
    let mut lse = crate::tensor::alloc::filled(pb.bh * l, T::infinity());
    let nqb = l.div_ceil(BR);
    let keys = T::pack_keys(pb, nqb);
    let (po, pl) = (Out(out.as_mut_ptr()), Out(lse.as_mut_ptr()));
    let task = |t: usize| {
        let (b, qb) = (t / nqb, t % nqb);
        let (i0, i1) = (qb * BR, ((qb + 1) * BR).min(l));
        // SAFETY: task (b, qb) alone writes rows i0..i1 of matrix b of `out` and `lse`.
        let (o, ls) = unsafe { (std::slice::from_raw_parts_mut(po.get().add((b * l + i0) * ev), (i1 - i0) * ev), std::slice::from_raw_parts_mut(pl.get().add(b * l + i0), i1 - i0)) };
        if !T::forward_block_fast(pb, keys.as_deref(), b, i0, i1, o, ls) {
            forward_block(pb, b, i0, i1, o, ls);
        }
    };
    let macs = pb.bh * l * s * (pb.e + ev);
    run_tasks(pb.bh * nqb, macs, &task);
    (out, lse)
}

/// Query rows i0..i1 of matrix b: `o` gets their output rows, `lse` their logsumexp.
fn forward_block<T: AttnFloat>(pb: &Problem<T>, b: usize, i0: usize, i1: usize, o: &mut [T], lse: &mut [T]) {
    let (br, s, e, ev) = (i1 - i0, pb.s, pb.e, pb.ev);
    let mut m = vec![T::neg_infinity(); br];
    let mut sum = vec![T::zero(); br];
    let mut tile = vec![T::zero(); br * BC.min(s).max(1)];
    // Keys past the last row's causal edge are masked for every row of the block.
    let s_end = pb.causal_end(i1 - 1);
    let mut j0 = 0;
    while j0 < s_end {
        let w = BC.min(s_end - j0);
        let st = &mut tile[..br * w];
        // SAFETY: q rows i0..i1 (br x e), k rows j0..j0+w read transposed (e x w), and the
        // br x w tile are all in bounds; the tile is this task's own.
        unsafe { gemm(Mat::rows(st.as_mut_ptr(), w), pb.q.at(b, i0), pb.k.at_t(b, j0), (br, e, w), false, 1) };
        for r in 0..br {
            let i = i0 + r;
            let row = &mut st[r * w..(r + 1) * w];
            let k = pb.prepare(row, b, i, j0);
            // k > 0, so the max of the raw scores times k is the max of the logits.
            let mut m_new = { let mx = row_max(row) * k; if mx > m[r] { mx } else { m[r] } };
            if m_new == T::neg_infinity() {
                if !row.iter().any(|x| x.is_nan()) {
                    row.iter_mut().for_each(|x| *x = T::zero());
                    continue;
                }
                m_new = nan_row_max();
            }
            let alpha = (m[r] - m_new).fast_exp();
            sum[r] = sum[r] * alpha + exp_sum(row, m_new, k);
            m[r] = m_new;
            if alpha != T::one() {
                o[r * ev..(r + 1) * ev].iter_mut().for_each(|x| *x *= alpha);
            }
            if let Some(d) = &pb.dropout {
                d.apply(row, ((b * pb.l + i) * s + j0) as u64);
            }
        }
        // SAFETY: o is br x ev (this task's rows), the tile br x w, v rows j0..j0+w (w x ev).
        unsafe { gemm(Mat::rows(o.as_ptr(), ev), Mat::rows(st.as_ptr(), w), pb.v.at(b, j0), (br, w, ev), true, 1) };
        j0 += w;
    }
    for r in 0..br {
        if sum[r] > T::zero() || sum[r].is_nan() {
            // sum > 0, or NaN (see `nan_row_max`): then the output row and lse are NaN too.
            let inv = T::one() / sum[r];
            o[r * ev..(r + 1) * ev].iter_mut().for_each(|x| *x *= inv);
            lse[r] = m[r] + sum[r].ln();
        }
    }
}

/// What backward computes: gradients for the matrices of the (expanded) problem, each
/// (bh, rows, cols) contiguous; None where not needed.
pub(crate) struct Grads<T> {
    pub dq: Option<Vec<T>>,
    pub dk: Option<Vec<T>>,
    pub dv: Option<Vec<T>>,
    /// The gradient of the logits (bh, L, S), for a float mask that requires grad.
    pub dmask: Option<Vec<T>>,
}

/// Backward, given dO and O (both (bh, L, Ev) contiguous) and the forward's logsumexp.
/// `need` = (dq, dk, dv, dmask).
pub(crate) fn backward<T: AttnFloat>(pb: &Problem<T>, d_out: &[T], out: &[T], lse: &[T], need: (bool, bool, bool, bool)) -> Grads<T> {
    let (bh, l, s, e, ev) = (pb.bh, pb.l, pb.s, pb.e, pb.ev);
    // D_i = rowsum(dO_i * O_i) = sum_j P_ij dP_ij.
    let dsum: Vec<T> = if ev == 0 {
        vec![T::zero(); bh * l]
    } else {
        d_out.chunks(ev).zip(out.chunks(ev)).map(|(g, o)| g.iter().zip(o).fold(T::zero(), |a, (&x, &y)| a + x * y)).collect()
    };
    let nkb = s.div_ceil(BC_BWD).max(1);
    // Tasks own key blocks (their dK, dV rows); dQ sums over key blocks, so when there are too
    // few matrices to keep every thread busy, key blocks are split into parts, each with its
    // own dQ buffer (summed at the end: linear memory, parts x bh x L x E).
    let threads = rayon::current_num_threads();
    let parts = if need.0 && bh < 2 * threads { (2 * threads).div_ceil(bh).min(nkb) } else { 1 }.max(1);
    let mut dq = need.0.then(|| crate::tensor::alloc::filled(parts * bh * l * e, T::zero()));
    let mut dk = need.1.then(|| crate::tensor::alloc::filled(bh * s * e, T::zero()));
    let mut dv = need.2.then(|| crate::tensor::alloc::filled(bh * s * ev, T::zero()));
    let mut dmask = need.3.then(|| crate::tensor::alloc::filled(bh * l * s, T::zero()));
    let ptr = |v: &mut Option<Vec<T>>| v.as_mut().map(|v| Out(v.as_mut_ptr()));
    let bufs = Bufs { dq: ptr(&mut dq), dk: ptr(&mut dk), dv: ptr(&mut dv), dmask: ptr(&mut dmask) };
    let task = |t: usize| {
        let (b, part) = (t / parts, t % parts);
        let (kb0, kb1) = (nkb * part / parts, nkb * (part + 1) / parts);
        backward_part(pb, b, (kb0 * BC_BWD, (kb1 * BC_BWD).min(s)), part, &bufs, d_out, lse, &dsum);
    };
    let macs = bh * l * s * (2 * e + 2 * ev);
    run_tasks(bh * parts, macs, &task);
    if let Some(buf) = dq.as_mut() {
        let n = bh * l * e;
        let (first, rest) = buf.split_at_mut(n);
        for p in rest.chunks(n.max(1)) {
            first.iter_mut().zip(p).for_each(|(a, &b)| *a += b);
        }
        buf.truncate(n);
    }
    Grads { dq, dk, dv, dmask }
}

struct Bufs<T> {
    dq: Option<Out<T>>,
    dk: Option<Out<T>>,
    dv: Option<Out<T>>,
    dmask: Option<Out<T>>,
}

/// Key rows keys.0..keys.1 of matrix b against every query block.
#[allow(clippy::too_many_arguments)]
fn backward_part<T: AttnFloat>(pb: &Problem<T>, b: usize, keys: (usize, usize), part: usize, bufs: &Bufs<T>, d_out: &[T], lse: &[T], dsum: &[T]) {
    let (bh, l, s, e, ev) = (pb.bh, pb.l, pb.s, pb.e, pb.ev);
    let mut p = crate::tensor::alloc::filled(BR_BWD * BC_BWD, T::zero());
    let mut pd = vec![T::zero(); if pb.dropout.is_some() { BR_BWD * BC_BWD } else { 0 }];
    let mut dp = crate::tensor::alloc::filled(BR_BWD * BC_BWD, T::zero());
    let mut j0 = keys.0;
    while j0 < keys.1 {
        let w = BC_BWD.min(keys.1 - j0);
        // Query rows before j0 see none of these keys under causal masking.
        let mut i0 = if pb.causal { j0.min(l) } else { 0 };
        while i0 < l {
            let br = BR_BWD.min(l - i0);
            let (pt, dpt) = (&mut p[..br * w], &mut dp[..br * w]);
            // SAFETY: in-bounds operand rows (as in forward); the tiles are this task's own.
            unsafe { gemm(Mat::rows(pt.as_mut_ptr(), w), pb.q.at(b, i0), pb.k.at_t(b, j0), (br, pb.e, w), false, 1) };
            for r in 0..br {
                let row = &mut pt[r * w..(r + 1) * w];
                let k = pb.prepare(row, b, i0 + r, j0);
                exp_sum(row, lse[b * l + i0 + r], k);
            }
            // The dropped-out probabilities feed dV; P itself feeds dS.
            let used: &[T] = match &pb.dropout {
                Some(d) => {
                    let pdt = &mut pd[..br * w];
                    pdt.copy_from_slice(pt);
                    for r in 0..br {
                        d.apply(&mut pdt[r * w..(r + 1) * w], ((b * l + i0 + r) * s + j0) as u64);
                    }
                    pdt
                }
                None => pt,
            };
            let d_o = Mat::rows(d_out[(b * l + i0) * ev..].as_ptr(), ev);
            if let Some(dv) = bufs.dv {
                // SAFETY: dV rows j0..j0+w of matrix b belong to this task alone; the tile is
                // read transposed (w x br), dO rows i0..i0+br are br x ev.
                unsafe { gemm(Mat::rows(dv.get().add((b * s + j0) * ev), ev), Mat { ptr: used.as_ptr(), rs: 1, cs: w as isize }, d_o, (w, br, ev), true, 1) };
            }
            if bufs.dq.is_none() && bufs.dk.is_none() && bufs.dmask.is_none() {
                i0 += br;
                continue;
            }
            // SAFETY: dP tile br x w; dO rows (br x ev); v rows j0..j0+w read transposed.
            unsafe { gemm(Mat::rows(dpt.as_mut_ptr(), w), d_o, pb.v.at_t(b, j0), (br, ev, w), false, 1) };
            for r in 0..br {
                let i = i0 + r;
                let g = &mut dpt[r * w..(r + 1) * w];
                if let Some(d) = &pb.dropout {
                    d.apply(g, ((b * l + i) * s + j0) as u64);
                }
                let ds_scale = if bufs.dmask.is_some() { T::one() } else { pb.scale };
                ds_row(&pt[r * w..(r + 1) * w], g, dsum[b * l + i], ds_scale);
                if let Some(dm) = bufs.dmask {
                    // SAFETY: (b, i, j0..j0+w) of dmask belongs to this task's key columns.
                    let dst = unsafe { std::slice::from_raw_parts_mut(dm.get().add((b * l + i) * s + j0), w) };
                    dst.copy_from_slice(g);
                    g.iter_mut().for_each(|x| *x *= pb.scale);
                }
            }
            if let Some(dq) = bufs.dq {
                // SAFETY: this part's own dQ buffer, rows i0..i0+br of matrix b (br x e).
                unsafe { gemm(Mat::rows(dq.get().add(((part * bh + b) * l + i0) * e), e), Mat::rows(dpt.as_ptr(), w), pb.k.at(b, j0), (br, w, e), true, 1) };
            }
            if let Some(dk) = bufs.dk {
                // SAFETY: dK rows j0..j0+w of matrix b are this task's; dS read transposed.
                unsafe { gemm(Mat::rows(dk.get().add((b * s + j0) * e), e), Mat { ptr: dpt.as_ptr(), rs: 1, cs: w as isize }, pb.q.at(b, i0), (w, br, e), true, 1) };
            }
            i0 += br;
        }
        j0 += w;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fast_exp_is_within_a_few_ulp_and_zero_at_minus_infinity() {
        let mut worst = 0.0f64;
        let mut x = -87.0f32;
        while x < 88.0 {
            let (got, want) = (x.fast_exp() as f64, (x as f64).exp());
            worst = worst.max(((got - want) / want).abs());
            x += 0.0137;
        }
        assert!(worst < 3e-7, "relative error {worst}");
        assert_eq!(f32::NEG_INFINITY.fast_exp(), 0.0);
        assert_eq!((-100.0f32).fast_exp(), 0.0);
        assert!(f32::NAN.fast_exp().is_nan());
        let mut row = vec![0.5f32; 21];
        let s = exp_sum(&mut row, 1.0, 2.0);
        assert!((s - 21.0).abs() < 1e-5 && row.iter().all(|&v| (v - 1.0).abs() < 1e-6));
    }

    #[test]
    fn drop_mask_keeps_about_one_minus_p() {
        let d = DropMask::new(0.25, 7);
        let kept = (0..100_000u64).filter(|&c| d.factor::<f64>(c, 1.0) > 0.0).count();
        assert!((kept as f64 / 1e5 - 0.75).abs() < 0.01, "{kept}");
    }

    #[test]
    #[cfg(target_arch = "x86_64")]
    fn exp_sum_is_within_two_ulp_and_keeps_the_edges() {
        if !(is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma")) {
            return;
        }
        let mut xs: Vec<f32> = (0..12_800).map(|i| -87.0 + i as f32 * 0.0137).collect();
        xs.extend([f32::NEG_INFINITY, -100.0, 0.0, 88.0, 1e-8, f32::NAN]);
        let mut got = xs.clone();
        // SAFETY: AVX2 and FMA checked above.
        let total = unsafe { exp_sum_avx2(&mut got, 0.0, 1.0) };
        assert!(total.is_nan(), "a NaN input makes the sum NaN");
        // The copy the CPU picks (AVX-512 here; backward's) gives the forward's AVX2 bits: the
        // same operations per lane and the sum's eight lanes in the same order, so forward and
        // backward evaluate their exponentials alike on any CPU.
        let mut picked = xs.clone();
        assert!(exp_sum(&mut picked, 0.0, 1.0).is_nan());
        assert!(got.iter().zip(&picked).all(|(a, b)| a.to_bits() == b.to_bits()), "exp_sum's copies differ");
        let mut tail: Vec<f32> = (0..1001).map(|i| (i as f32 - 500.0) / 37.0).collect();
        let mut tail2 = tail.clone();
        // SAFETY: as above.
        assert_eq!(unsafe { exp_sum_avx2(&mut tail, 3.0, 0.5) }.to_bits(), exp_sum(&mut tail2, 3.0, 0.5).to_bits());
        for (&x, &g) in xs.iter().zip(&got) {
            if x.is_nan() {
                assert!(g.is_nan());
            } else if x < -87.336_55 {
                assert_eq!(g, 0.0, "exp({x})");
            } else {
                let want = (x as f64).exp() as f32;
                let ulp = want.to_bits().abs_diff(g.to_bits());
                assert!(ulp <= 2, "exp({x}) = {g}, want {want} ({ulp} ulp)");
            }
        }
        // exp(x k - m) and the sum, over a length with a tail.
        let mut row: Vec<f32> = (0..1001).map(|i| (i as f32 - 500.0) / 37.0).collect();
        let want: f64 = row.iter().map(|&x| (x as f64 * 0.5 - 3.0).exp()).sum();
        // SAFETY: as above.
        let total = unsafe { exp_sum_avx2(&mut row, 3.0, 0.5) };
        assert!(((total as f64 - want) / want).abs() < 1e-6, "{total} vs {want}");
    }
}
