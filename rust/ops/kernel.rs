//! Elementwise kernel drivers shared by the op families: map one tensor, zip two with
//! broadcasting. Contiguous operands take a flat loop, split across the pool when the work's
//! measured cost says so (`build_pointwise`); other layouts walk coalesced rows (tensor::iter),
//! split in tasks of about GRAIN elements.

#[allow(unused_imports)]
use num_traits::{Float as _, One as _, Zero as _};
use std::mem::MaybeUninit;


use crate::error::Result;
use crate::tensor::iter::{Walk, GRAIN};
use crate::tensor::shape::{broadcast_shapes, broadcast_strides, contiguous_strides};
use crate::tensor::{Element, Tensor};

/// Builds a Vec of `n` elements by letting `fill(start, chunk)` initialise each chunk, in
/// parallel when large. Skips zero-filling the output, which would cost a full extra write pass.
pub fn build<U: Send>(n: usize, chunk: usize, fill: impl Fn(usize, &mut [MaybeUninit<U>]) + Sync) -> Vec<U> {
    build_weighted(n, 1, chunk, fill)
}

/// `build` for outputs whose every element costs `weight` elements of work (a row's
/// log-sum-exp): parallel when the work, not the output, passes the grain.
pub fn build_weighted<U: Send>(n: usize, weight: usize, chunk: usize, fill: impl Fn(usize, &mut [MaybeUninit<U>]) + Sync) -> Vec<U> {
    let chunk = chunk.max(1);
    uninit_output(n, |spare| {
        if n.saturating_mul(weight) > GRAIN {
            crate::parallel::for_each_chunk_mut(spare, chunk, &|i, c| fill(i * chunk, c));
        } else {
            spare.chunks_mut(chunk).enumerate().for_each(|(i, c)| fill(i * chunk, c));
        }
    })
}

/// `build` for pointwise fills (every element's value its own, whatever the chunk it is in),
/// split by the work's measured cost instead of a fixed grain (`parallel::for_each_chunk_by_cost`).
pub fn build_pointwise<U: Send>(n: usize, fill: impl Fn(usize, &mut [MaybeUninit<U>]) + Sync) -> Vec<U> {
    uninit_output(n, |spare| crate::parallel::for_each_chunk_by_cost(spare, &fill))
}

/// A Vec of `n` elements that `write_all` initialises, every one of them (the builders' callers
/// promise it of their fills).
pub(crate) fn uninit_output<U>(n: usize, write_all: impl FnOnce(&mut [MaybeUninit<U>])) -> Vec<U> {
    // An output the machine cannot hold (a huge broadcast or expanded view) unwinds with
    // `alloc::OutOfMemory` for the binding guard, instead of aborting the process.
    let mut out: Vec<U> = crate::tensor::alloc::with_capacity(n);
    crate::tensor::hint_huge_pages(&mut out);
    write_all(&mut out.spare_capacity_mut()[..n]);
    // SAFETY: every caller's `fill` writes every element of each chunk it is given.
    unsafe { out.set_len(n) };
    out
}

/// A function of one element that the loops below call per element. Closures take it through
/// `Closure`; the op tables' rules implement it with an `#[inline(always)]` body, which is then
/// compiled inside the loop's AVX2 copy whatever its size (a closure is inlined only when
/// small, and a large one, erf's polynomials, stayed a scalar call per element).
///
/// `apply_fused` is what the AVX2 + FMA copy of a loop calls: a rule whose body uses `vmath`
/// overrides it with the same body on the fused forms (`unary_op!` writes both).
pub trait Apply1<T, U>: Sync {
    fn apply(&self, x: T) -> U;
    #[inline(always)]
    fn apply_fused(&self, x: T) -> U {
        self.apply(x)
    }
    /// A whole slice at once, for a rule with its own kernel where the CPU has one (exact
    /// GELU's table on AVX-512); false, writing nothing, runs the element loop (the default).
    #[inline(always)]
    fn slice(&self, _out: &mut [MaybeUninit<U>], _src: &[T]) -> bool {
        false
    }
}

/// A function of two elements, as `Apply1`.
pub trait Apply2<T, U>: Sync {
    fn apply(&self, x: T, y: T) -> U;
    #[inline(always)]
    fn apply_fused(&self, x: T, y: T) -> U {
        self.apply(x, y)
    }
}

/// A closure as an `Apply1` or `Apply2`.
pub struct Closure<F>(pub F);

impl<T, U, F: Fn(T) -> U + Sync> Apply1<T, U> for Closure<F> {
    #[inline(always)]
    fn apply(&self, x: T) -> U {
        (self.0)(x)
    }
}

impl<T, U, F: Fn(T, T) -> U + Sync> Apply2<T, U> for Closure<F> {
    #[inline(always)]
    fn apply(&self, x: T, y: T) -> U {
        (self.0)(x, y)
    }
}

/// f(x, y) with y fixed (a broadcast single value on the right), or x fixed (on the left).
struct Right<'a, A, T>(&'a A, T);
struct Left<'a, A, T>(&'a A, T);

impl<T: Copy + Sync, U, A: Apply2<T, U>> Apply1<T, U> for Right<'_, A, T> {
    #[inline(always)]
    fn apply(&self, x: T) -> U {
        self.0.apply(x, self.1)
    }
    #[inline(always)]
    fn apply_fused(&self, x: T) -> U {
        self.0.apply_fused(x, self.1)
    }
}

impl<T: Copy + Sync, U, A: Apply2<T, U>> Apply1<T, U> for Left<'_, A, T> {
    #[inline(always)]
    fn apply(&self, y: T) -> U {
        self.0.apply(self.1, y)
    }
    #[inline(always)]
    fn apply_fused(&self, y: T) -> U {
        self.0.apply_fused(self.1, y)
    }
}

/// `out[i] = f(src[i])`, compiled also for AVX2 + FMA and for AVX-512 and picked at run time
/// (as `crate::multiversion!` does): arithmetic and `vmath` forms then run eight or sixteen
/// float32 lanes at a time instead of four.
#[inline(always)]
fn map_body<T: Copy, U, F: Apply1<T, U>, const FMA: bool>(out: &mut [MaybeUninit<U>], src: &[T], f: &F) {
    for (o, &s) in out.iter_mut().zip(src) {
        o.write(if FMA { f.apply_fused(s) } else { f.apply(s) });
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn map_avx2<T: Copy, U, F: Apply1<T, U>>(out: &mut [MaybeUninit<U>], src: &[T], f: &F) {
    map_body::<T, U, F, true>(out, src, f)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512vl,avx512bw,avx512dq,avx2,fma")]
unsafe fn map_avx512<T: Copy, U, F: Apply1<T, U>>(out: &mut [MaybeUninit<U>], src: &[T], f: &F) {
    map_body::<T, U, F, true>(out, src, f)
}

fn map_slice<T: Copy, U, F: Apply1<T, U>>(out: &mut [MaybeUninit<U>], src: &[T], f: &F) {
    if f.slice(out, src) {
        return;
    }
    #[cfg(target_arch = "x86_64")]
    if crate::simd::has_avx512() {
        // SAFETY: the CPU has AVX-512 F/VL/BW/DQ, AVX2 and FMA (checked just above).
        return unsafe { map_avx512(out, src, f) };
    }
    #[cfg(target_arch = "x86_64")]
    if crate::simd::has_avx2_fma() {
        // SAFETY: the CPU has AVX2 and FMA (checked just above).
        return unsafe { map_avx2(out, src, f) };
    }
    map_body::<T, U, F, false>(out, src, f)
}

/// `out[i] = f(a[i], b[i])`, compiled three times as `map_body`.
#[inline(always)]
fn zip_body<T: Copy, U, F: Apply2<T, U>, const FMA: bool>(out: &mut [MaybeUninit<U>], a: &[T], b: &[T], f: &F) {
    for ((o, &x), &y) in out.iter_mut().zip(a).zip(b) {
        o.write(if FMA { f.apply_fused(x, y) } else { f.apply(x, y) });
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn zip_avx2<T: Copy, U, F: Apply2<T, U>>(out: &mut [MaybeUninit<U>], a: &[T], b: &[T], f: &F) {
    zip_body::<T, U, F, true>(out, a, b, f)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512vl,avx512bw,avx512dq,avx2,fma")]
unsafe fn zip_avx512<T: Copy, U, F: Apply2<T, U>>(out: &mut [MaybeUninit<U>], a: &[T], b: &[T], f: &F) {
    zip_body::<T, U, F, true>(out, a, b, f)
}

fn zip_slices<T: Copy, U, F: Apply2<T, U>>(out: &mut [MaybeUninit<U>], a: &[T], b: &[T], f: &F) {
    #[cfg(target_arch = "x86_64")]
    if crate::simd::has_avx512() {
        // SAFETY: the CPU has AVX-512, AVX2 and FMA (checked just above).
        return unsafe { zip_avx512(out, a, b, f) };
    }
    #[cfg(target_arch = "x86_64")]
    if crate::simd::has_avx2_fma() {
        // SAFETY: the CPU has AVX2 and FMA (checked just above).
        return unsafe { zip_avx2(out, a, b, f) };
    }
    zip_body::<T, U, F, false>(out, a, b, f)
}

/// `map_slice` over one buffer in place. Each block goes through a copy on the stack: reading
/// and writing the same slice has no safe form, and the copy stays in L1.
pub(crate) fn map_slice_in_place<T: Copy, F: Apply1<T, T>>(data: &mut [T], f: &F) {
    const BLOCK: usize = 512;
    let mut tmp = [MaybeUninit::<T>::uninit(); BLOCK];
    for block in data.chunks_mut(BLOCK) {
        let n = block.len();
        // SAFETY: MaybeUninit<T> has T's layout; the n values are written before they are read.
        let src = unsafe {
            std::ptr::copy_nonoverlapping(block.as_ptr(), tmp.as_mut_ptr() as *mut T, n);
            std::slice::from_raw_parts(tmp.as_ptr() as *const T, n)
        };
        // SAFETY: the same layout; map_slice writes every element of `block` with a value.
        let out = unsafe { &mut *(block as *mut [T] as *mut [MaybeUninit<T>]) };
        map_slice(out, src, f);
    }
}

/// `f` applied to every element, in logical order.
pub fn map<T: Element, U: Element>(x: &Tensor, f: impl Fn(T) -> U + Sync) -> Tensor {
    map_with(x, &Closure(f))
}

/// `map` with an `Apply1`.
pub fn map_with<T: Element, U: Element>(x: &Tensor, f: &impl Apply1<T, U>) -> Tensor {
    let data = x.with_view::<T, _>(|v| {
        let src = v.contiguous();
        let src: &[T] = &src;
        build_pointwise(src.len(), |start, out| {
            let end = start + out.len();
            map_slice(out, &src[start..end], f);
        })
    });
    Tensor::from_vec_unchecked(data, x.shape())
}

/// `f(a, b)` with numpy broadcasting. Both operands must already have dtype T.
pub fn zip<T: Element, U: Element>(a: &Tensor, b: &Tensor, op: &str, f: impl Fn(T, T) -> U + Sync) -> Result<Tensor> {
    zip_with(a, b, op, &Closure(f))
}

/// `zip` with an `Apply2`.
pub fn zip_with<T: Element, U: Element>(a: &Tensor, b: &Tensor, op: &str, f: &impl Apply2<T, U>) -> Result<Tensor> {
    let shape = if a.shape() == b.shape() { a.shape().to_vec() } else { broadcast_shapes(a.shape(), b.shape(), op)? };
    let n: usize = shape.iter().product();
    let run = |da: &[T], db: &[T]| -> Vec<U> {
        let (la, lb) = (a.layout(), b.layout());
        // Fast paths: same-shape contiguous, or one side a single value (`Layout::is_one_value`).
        if la.is_contiguous() && lb.is_contiguous() && la.shape == lb.shape {
            let (sa, sb) = (&da[la.offset..la.offset + n], &db[lb.offset..lb.offset + n]);
            return build_pointwise(n, |start, out| {
                let end = start + out.len();
                zip_slices(out, &sa[start..end], &sb[start..end], f);
            });
        }
        if lb.is_one_value() && la.is_contiguous() && la.shape == shape {
            let (sa, y) = (&da[la.offset..la.offset + n], db[lb.offset]);
            return build_pointwise(n, |start, out| {
                let end = start + out.len();
                map_slice(out, &sa[start..end], &Right(f, y));
            });
        }
        if la.is_one_value() && lb.is_one_value() {
            // One value each side (an expanded gradient times a scalar): one result, written n
            // times; the strided loop below took 3x PyTorch's time for `g * 2` at 1M elements.
            // The value comes from the loop's own kernel, so that it has the same bits as when
            // the operands are materialised.
            let mut one = [std::mem::MaybeUninit::uninit()];
            zip_slices(&mut one, &[da[la.offset]], &[db[lb.offset]], f);
            // SAFETY: zip_slices wrote the one element.
            let v = unsafe { one[0].assume_init() };
            return build_pointwise(n, |_, out| {
                for o in out {
                    o.write(v);
                }
            });
        }
        if la.is_one_value() && lb.is_contiguous() && lb.shape == shape {
            let (x, sb) = (da[la.offset], &db[lb.offset..lb.offset + n]);
            return build_pointwise(n, |start, out| {
                let end = start + out.len();
                map_slice(out, &sb[start..end], &Left(f, x));
            });
        }
        let out_strides = contiguous_strides(&shape);
        let sa = broadcast_strides(&la.shape, &la.strides, &shape);
        let sb = broadcast_strides(&lb.shape, &lb.strides, &shape);
        let walk = Walk::new(&shape, &[(&out_strides, 0), (&sa, la.offset), (&sb, lb.offset)]);
        let (len, ia, ib) = (walk.row_len, walk.inner[1], walk.inner[2]);
        let rows_per_task = walk.rows_per_task();
        build(n, rows_per_task * len, |start, out| {
            let mut w = walk.walker(start / len);
            for row in out.chunks_mut(len) {
                let (oa, ob) = (w.offsets[1], w.offsets[2]);
                let k = row.len();
                // Rows that are runs on both sides (a bias along the last dim) or a run and one
                // value (a per-row statistic) take the vectorised loops: the strided loop below
                // was 6-7x PyTorch's time on `x + b[0]` and `x - x.mean(1, keepdim=True)`.
                match (ia, ib) {
                    (1, 1) if k >= 16 => zip_slices(row, &da[oa..oa + k], &db[ob..ob + k], f),
                    (1, 0) if k >= 16 => map_slice(row, &da[oa..oa + k], &Right(f, db[ob])),
                    (0, 1) if k >= 16 => map_slice(row, &db[ob..ob + k], &Left(f, da[oa])),
                    _ => {
                        for (i, o) in row.iter_mut().enumerate() {
                            o.write(f.apply(da[oa + i * ia], db[ob + i * ib]));
                        }
                    }
                }
                w.advance();
            }
        })
    };
    let data = if a.shares_storage(b) {
        // One read lock: taking the same RwLock twice can deadlock behind a waiting writer.
        a.with_view::<T, _>(|va| run(va.data, va.data))
    } else {
        a.with_view::<T, _>(|va| b.with_view::<T, _>(|vb| run(va.data, vb.data)))
    };
    Ok(Tensor::from_vec_shaped(data, shape))
}

/// `where`'s pick: `a` where `cond`, else `b`, all three already expanded to `shape` (a and b of
/// dtype T). An operand that is a single value (masked_fill's fill value, expanded) is read once;
/// the others are borrowed when contiguous and gathered once when not, then picked from in
/// parallel chunks by a branch-free loop. A branch per element mispredicted on random masks
/// (2x PyTorch's time on 512 x 2048).
pub fn select<T: Element>(cond: &Tensor, a: &Tensor, b: &Tensor, shape: &[usize]) -> Tensor {
    let n: usize = shape.iter().product();
    // Taking the same RwLock twice can deadlock behind a waiting writer: an operand sharing
    // storage with one locked before it (`where(m, x, x.t())`, or a bool x that is the mask's
    // storage) is copied first.
    let a = Operand::<T>::of(a, &[cond]);
    let held: Vec<&Tensor> = std::iter::once(cond).chain(a.run()).collect();
    let b = Operand::<T>::of(b, &held);
    let data = cond.with_view::<bool, _>(|vc| {
        let m = vc.contiguous();
        a.with_slice(|sa| {
            b.with_slice(|sb| {
                build(n, GRAIN, |start, out| {
                    let end = start + out.len();
                    // A single value stays one element long (a run's chunk of one reads the same).
                    let pa = if sa.len() == n { &sa[start..end] } else { sa };
                    let pb = if sb.len() == n { &sb[start..end] } else { sb };
                    select_slices(out, &m[start..end], pa, pb);
                })
            })
        })
    });
    Tensor::from_vec_unchecked(data, shape)
}

/// One value side of `select`: a single value, or a tensor of the result's shape.
enum Operand<T> {
    One(T),
    Run(Tensor),
}

impl<T: Element> Operand<T> {
    fn of(t: &Tensor, locked: &[&Tensor]) -> Self {
        let l = t.layout();
        if l.numel() == 1 || (l.numel() > 0 && l.strides.iter().all(|&s| s == 0)) {
            return Operand::One(t.with_view::<T, _>(|v| v.data[v.layout.offset]));
        }
        Operand::Run(if locked.iter().any(|o| o.shares_storage(t)) { t.deep_copy() } else { t.clone() })
    }
    /// The tensor whose lock `with_slice` holds (none for a single value, read already).
    fn run(&self) -> Option<&Tensor> {
        match self {
            Operand::One(_) => None,
            Operand::Run(t) => Some(t),
        }
    }
    fn with_slice<R>(&self, f: impl FnOnce(&[T]) -> R) -> R {
        match self {
            Operand::One(v) => f(std::slice::from_ref(v)),
            Operand::Run(t) => t.with_view::<T, _>(|v| f(&v.contiguous())),
        }
    }
}

/// `out[i] = if m[i] { a[i] } else { b[i] }`, `a` or `b` one element long when a single value.
/// Both sides are loaded and the choice is a select (blends in the AVX2 and AVX-512 copies), so
/// NaN payloads and -0.0 pass through bit for bit.
#[inline(always)]
fn select_body<T: Element, const FMA: bool>(out: &mut [MaybeUninit<T>], m: &[bool], a: &[T], b: &[T]) {
    let pick = |k: bool, p: T, q: T| if k { p } else { q };
    match (a, b) {
        (&[p], &[q]) => {
            for (o, &k) in out.iter_mut().zip(m) {
                o.write(pick(k, p, q));
            }
        }
        (&[p], _) => {
            for ((o, &k), &q) in out.iter_mut().zip(m).zip(b) {
                o.write(pick(k, p, q));
            }
        }
        (_, &[q]) => {
            for ((o, &k), &p) in out.iter_mut().zip(m).zip(a) {
                o.write(pick(k, p, q));
            }
        }
        _ => {
            for (((o, &k), &p), &q) in out.iter_mut().zip(m).zip(a).zip(b) {
                o.write(pick(k, p, q));
            }
        }
    }
}

crate::multiversion!(select_body, select_avx2, select_slices, Element, (out: &mut [MaybeUninit<T>], m: &[bool], a: &[T], b: &[T]) -> ());

/// Sum of `f(a[i], b[i])` over two equal-length slices, in float64, without storing the values
/// (a loss's reduction): blocks of 4096 summed in parallel, their sums added in order, so the
/// result does not depend on the thread count. It was a stored Vec of the values and one serial
/// float64 fold, bound by the add's latency (4.3x PyTorch's time for mse_loss of 512 x 2048).
pub fn zip_sum<T: crate::tensor::Float, F: Apply2<T, T>>(a: &[T], b: &[T], f: &F) -> f64 {
    const BLOCK: usize = 4096;
    let n = a.len().min(b.len());
    let block = |k: usize| {
        let end = (k + BLOCK).min(n);
        zip_sum_block(&a[k..end], &b[k..end], f)
    };
    if n <= BLOCK {
        return block(0);
    }
    let parts = build_weighted(n.div_ceil(BLOCK), BLOCK, GRAIN / BLOCK, |start, out| {
        for (i, o) in out.iter_mut().enumerate() {
            o.write(block((start + i) * BLOCK));
        }
    });
    parts.iter().sum()
}

/// One block of `zip_sum` in 32 float64 lanes (eight AVX2 or four AVX-512 chains of adds, as
/// `sum_lanes`), added as a tree at the end. Float64 lanes keep the accuracy of the float64
/// fold they replaced; converting float32 values costs less than the memory they come from.
#[inline(always)]
fn zip_sum_body<T: crate::tensor::Float, F: Apply2<T, T>, const FMA: bool>(a: &[T], b: &[T], f: &F) -> f64 {
    const LANES: usize = 32;
    let g = |x: T, y: T| if FMA { f.apply_fused(x, y) } else { f.apply(x, y) }.to_f64();
    let mut acc = [0.0f64; LANES];
    let ((ab, ar), (bb, br)) = (a.as_chunks::<LANES>(), b.as_chunks::<LANES>());
    for (ca, cb) in ab.iter().zip(bb) {
        for k in 0..LANES {
            acc[k] += g(ca[k], cb[k]);
        }
    }
    for ((s, &x), &y) in acc.iter_mut().zip(ar).zip(br) {
        *s += g(x, y);
    }
    let mut half = LANES / 2;
    while half > 0 {
        for k in 0..half {
            acc[k] += acc[k + half];
        }
        half /= 2;
    }
    acc[0]
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn zip_sum_avx2<T: crate::tensor::Float, F: Apply2<T, T>>(a: &[T], b: &[T], f: &F) -> f64 {
    zip_sum_body::<T, F, true>(a, b, f)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512vl,avx512bw,avx512dq,avx2,fma")]
unsafe fn zip_sum_avx512<T: crate::tensor::Float, F: Apply2<T, T>>(a: &[T], b: &[T], f: &F) -> f64 {
    zip_sum_body::<T, F, true>(a, b, f)
}

fn zip_sum_block<T: crate::tensor::Float, F: Apply2<T, T>>(a: &[T], b: &[T], f: &F) -> f64 {
    #[cfg(target_arch = "x86_64")]
    if crate::simd::has_avx512() {
        // SAFETY: the CPU has AVX-512, AVX2 and FMA (checked just above).
        return unsafe { zip_sum_avx512(a, b, f) };
    }
    #[cfg(target_arch = "x86_64")]
    if crate::simd::has_avx2_fma() {
        // SAFETY: the CPU has AVX2 and FMA (checked just above).
        return unsafe { zip_sum_avx2(a, b, f) };
    }
    zip_sum_body::<T, F, false>(a, b, f)
}

/// Sum of a contiguous slice with 8 independent accumulators (vectorises, and loses less
/// precision than one running sum); partial sums of large slices are added in f64.
pub fn sum_slice<T: crate::tensor::Float>(x: &[T]) -> T {
    sum_runs(1, x.len(), |start, len| sum_lanes(&x[start..start + len]))[0]
}

/// Elements a sum adds in one block (`sum_lanes`); longer runs add their blocks' float64 sums.
const SUM_BLOCK: usize = 4096;

/// The sums of `runs` runs of `n` consecutive elements, `block(start, len)` giving the float64
/// sum of elements start .. start + len (at most `SUM_BLOCK` of them). A run of one block is that
/// block's sum; a longer run adds its blocks' sums in order, serially, so no result depends on
/// how the work was split between threads. The one shape of every float sum: contiguous rows
/// and strided views take the same blocks and additions, so the same bits.
fn sum_runs<T: crate::tensor::Float>(runs: usize, n: usize, block: impl Fn(usize, usize) -> f64 + Sync) -> Vec<T> {
    if n <= SUM_BLOCK {
        return build_weighted(runs, n, (GRAIN / n.max(1)).max(1), |start, out| {
            for (i, o) in out.iter_mut().enumerate() {
                o.write(T::from_f64(block((start + i) * n, n)));
            }
        });
    }
    let blocks = n.div_ceil(SUM_BLOCK);
    let block_of = |r: usize, b: usize| block(r * n + b * SUM_BLOCK, SUM_BLOCK.min(n - b * SUM_BLOCK));
    if runs == 1 {
        // One long run: its blocks in parallel (partials collected in order, then added).
        let parts = build_weighted(blocks, SUM_BLOCK, GRAIN / SUM_BLOCK, |start, out| {
            for (i, o) in out.iter_mut().enumerate() {
                o.write(block_of(0, start + i));
            }
        });
        return vec![T::from_f64(parts.iter().sum())];
    }
    build_weighted(runs, n, 1, |start, out| {
        for (i, o) in out.iter_mut().enumerate() {
            o.write(T::from_f64((0..blocks).map(|b| block_of(start + i, b)).sum()));
        }
    })
}

/// `sum_runs` over a strided view: each block gathered into a buffer on the stack and summed
/// while it is in L1. Gathering the whole view first wrote and read it once more:
/// `x[:, ::2].sum()` took 1.8x PyTorch's time.
pub fn sum_view_runs<T: crate::tensor::Float>(src: &[T], layout: &crate::tensor::Layout, runs: usize, n: usize) -> Vec<T> {
    let walk = Walk::new(&layout.shape, &[(&layout.strides, layout.offset)]);
    sum_runs(runs, n, |start, len| {
        let mut buf = [MaybeUninit::<T>::uninit(); SUM_BLOCK];
        crate::tensor::iter::gather_span(&mut buf[..len], src, &walk, start);
        // SAFETY: gather_span wrote all `len` elements.
        sum_lanes(unsafe { std::slice::from_raw_parts(buf.as_ptr().cast::<T>(), len) })
    })
}

/// The sums of the `runs` consecutive runs of `n` elements of a contiguous slice.
pub fn sum_rows<T: crate::tensor::Float>(x: &[T], runs: usize, n: usize) -> Vec<T> {
    sum_runs(runs, n, |start, len| sum_lanes(&x[start..start + len]))
}

/// One block's sum in 64 lanes: four independent vector chains on AVX-512 (eight on AVX2; fewer
/// were bound by the add's latency), compiled for AVX2 and AVX-512. The lanes are then added
/// as a tree, in vectors: added one by one they cost more than the loop on a row of 2048.
#[inline(always)]
fn sum_lanes_body<T: crate::tensor::Float, const FMA: bool>(x: &[T]) -> f64 {
    lanes_sum::<T, T, 64>(x, |v| v).to_f64()
}

/// The sum of `f(v)` over `x` in LANES independent accumulators of type A (vector chains: one
/// running sum is bound by the add's latency), then added as a tree, in vectors. The one
/// accumulation loop of `sum`, the 2-norm's squares and var/std's float64 sums; inlined into
/// each caller's AVX2 and AVX-512 copies.
#[inline(always)]
pub(crate) fn lanes_sum<T: Copy, A: crate::tensor::Float, const LANES: usize>(x: &[T], f: impl Fn(T) -> A) -> A {
    let mut acc = [A::zero(); LANES];
    let (blocks, rest) = x.as_chunks::<LANES>();
    for c in blocks {
        for k in 0..LANES {
            acc[k] += f(c[k]);
        }
    }
    for (a, &v) in acc.iter_mut().zip(rest) {
        *a += f(v);
    }
    let mut half = LANES / 2;
    while half > 0 {
        for k in 0..half {
            acc[k] += acc[k + half];
        }
        half /= 2;
    }
    acc[0]
}

crate::multiversion!(sum_lanes_body, sum_lanes_avx2, sum_lanes, crate::tensor::Float, (x: &[T]) -> f64);
