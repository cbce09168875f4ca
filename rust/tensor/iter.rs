//! Walking strided operands row by row. Kernels coalesce the layout first (`shape::coalesce`), so
//! a "row" is the longest run the innermost dim allows, and the per-element work stays a tight
//! loop over `row[i * stride]`. Parallel kernels split the rows into chunks; each chunk starts its
//! own walker at its first row, so results never depend on the thread count.

use std::mem::MaybeUninit;

use super::shape::{coalesce, Layout};

/// Elements per task below which a kernel stays on the calling thread (the rayon hand-off costs
/// more than the work). About 32K elements, as the foundation issue measured.
pub const GRAIN: usize = 1 << 15;

/// Offsets of N operands at the start of consecutive rows of an N-d walk (the last dim excluded).
pub struct RowWalker {
    outer: Vec<usize>,
    strides: Vec<Vec<usize>>,
    index: Vec<usize>,
    pub offsets: Vec<usize>,
}

impl RowWalker {
    /// `outer` is the shape without its last dim; `strides[k]` the matching strides of operand k.
    pub fn new(outer: &[usize], strides: Vec<Vec<usize>>, base: &[usize], start_row: usize) -> RowWalker {
        let mut index = vec![0; outer.len()];
        let mut rem = start_row;
        for d in (0..outer.len()).rev() {
            index[d] = rem % outer[d].max(1);
            rem /= outer[d].max(1);
        }
        let offsets = (0..strides.len())
            .map(|k| base[k] + index.iter().zip(&strides[k]).map(|(i, s)| i * s).sum::<usize>())
            .collect();
        RowWalker { outer: outer.to_vec(), strides, index, offsets }
    }

    #[inline]
    pub fn advance(&mut self) {
        for d in (0..self.outer.len()).rev() {
            self.index[d] += 1;
            for (k, off) in self.offsets.iter_mut().enumerate() {
                *off += self.strides[k][d];
            }
            if self.index[d] < self.outer[d] {
                return;
            }
            for (k, off) in self.offsets.iter_mut().enumerate() {
                *off -= self.strides[k][d] * self.outer[d];
            }
            self.index[d] = 0;
        }
    }
}

/// The coalesced walk of one output shape over several operands: row length, each operand's
/// innermost stride, number of rows, and the outer dims.
pub struct Walk {
    pub row_len: usize,
    pub inner: Vec<usize>,
    pub rows: usize,
    outer: Vec<usize>,
    outer_strides: Vec<Vec<usize>>,
    base: Vec<usize>,
}

impl Walk {
    pub fn new(shape: &[usize], operands: &[(&[usize], usize)]) -> Walk {
        let strides: Vec<Vec<usize>> = operands.iter().map(|(s, _)| s.to_vec()).collect();
        let (cs, cst) = coalesce(shape, &strides);
        let last = cs.len() - 1;
        let row_len = cs[last];
        let inner = cst.iter().map(|s| s[last]).collect();
        let outer = cs[..last].to_vec();
        let outer_strides = cst.iter().map(|s| s[..last].to_vec()).collect();
        let numel: usize = shape.iter().product();
        let rows = if numel == 0 { 0 } else { outer.iter().product() };
        Walk { row_len, inner, rows, outer, outer_strides, base: operands.iter().map(|(_, o)| *o).collect() }
    }

    pub fn walker(&self, start_row: usize) -> RowWalker {
        RowWalker::new(&self.outer, self.outer_strides.clone(), &self.base, start_row)
    }

    /// Rows per parallel task so that each task has about GRAIN elements.
    pub fn rows_per_task(&self) -> usize {
        (GRAIN / self.row_len.max(1)).max(1)
    }
}

/// Copies a strided view into a new contiguous Vec, in logical (row-major) order.
pub fn gather<T: Copy + Send + Sync + Default>(src: &[T], layout: &Layout) -> Vec<T> {
    let numel = layout.numel();
    if numel == 0 {
        // Nothing to walk (and a 0-size dim would make the row chunks 0 long).
        return Vec::new();
    }
    if let Some((cs, cst)) = transposed(layout) {
        return gather_transposed(src, layout.offset, &cs, &cst);
    }
    // Written straight into uninitialised memory (`kernel::build`): zero-filling first was a
    // whole extra pass, a third of the time of gathering an expanded gradient. Contiguous
    // views are copied in parallel chunks into a fresh (huge-page hinted) block too: one
    // thread's memcpy took `clone()` of 6 MB to 1.7x PyTorch's time, where two reach memory speed.
    crate::ops::kernel::uninit_output(numel, |out| gather_into(out, src, layout))
}

/// The coalesced layout when its last two dims are a transposed matrix (stride 1 down the
/// rows), which `gather` copies in tiles.
fn transposed(layout: &Layout) -> Option<(Vec<usize>, Vec<usize>)> {
    if layout.is_contiguous() {
        return None;
    }
    let (cs, mut cst) = coalesce(&layout.shape, std::slice::from_ref(&layout.strides));
    let nd = cs.len();
    (nd >= 2 && cst[0][nd - 2] == 1 && cst[0][nd - 1] != 1).then(|| (cs, cst.swap_remove(0)))
}

/// `gather` into `dst` (the view's numel long), every element written: parallel over chunks
/// of whole rows. Walks transposed views row by row too (`gather` tiles those).
pub fn gather_into<T: Copy + Send + Sync>(dst: &mut [MaybeUninit<T>], src: &[T], layout: &Layout) {
    let numel = dst.len();
    debug_assert_eq!(numel, layout.numel());
    // Chunks of `chunk` elements in parallel when large, `fill(start, chunk)` writing each.
    fn split<T: Send>(dst: &mut [MaybeUninit<T>], chunk: usize, fill: &(dyn Fn(usize, &mut [MaybeUninit<T>]) + Sync)) {
        if dst.len() > GRAIN {
            crate::parallel::for_each_chunk_mut(dst, chunk, &|i, c| fill(i * chunk, c));
        } else {
            fill(0, dst);
        }
    }
    if numel == 0 {
        return;
    }
    if layout.is_contiguous() {
        let s = &src[layout.offset..layout.offset + numel];
        // Split by cost (a few long parts, the same stretch for each thread): 128 KB parts
        // took `clone()` of 4 MB to 1.5x PyTorch's time.
        return crate::parallel::for_each_chunk_by_cost(dst, &|start, part| super::copy::write_values(part, &s[start..start + part.len()]));
    }
    let walk = Walk::new(&layout.shape, &[(&layout.strides, layout.offset)]);
    let (len, s) = (walk.row_len, walk.inner[0]);
    split(dst, walk.rows_per_task() * len, &|start, chunk| {
        let (len, s) = (len, s); // locals: see gather_transposed
        let mut w = walk.walker(start / len);
        for row in chunk.chunks_mut(len) {
            write_row(row, src, w.offsets[0], s);
            w.advance();
        }
    })
}

/// `row.len()` values of `src` from `base`, `step` apart.
#[inline]
fn write_row<T: Copy>(row: &mut [MaybeUninit<T>], src: &[T], base: usize, step: usize) {
    match step {
        // An expanded dim (the gradient of a sum, a broadcast bias) and a plain run: shapes
        // the compiler turns into vector stores and a copy.
        0 => row.iter_mut().for_each(|o| {
            o.write(src[base]);
        }),
        1 => super::copy::write_values(row, &src[base..base + row.len()]),
        _ => every_nth(row, &src[base..base + (row.len() - 1) * step + 1], step),
    }
}

/// The logical elements `start .. start + dst.len()` of `walk`'s one operand into `dst`, rows
/// cut wherever the span begins and ends: a block of a strided view copied into a buffer small
/// enough to stay in L1 while it is used (`kernel::sum_view_runs`).
pub fn gather_span<T: Copy>(dst: &mut [MaybeUninit<T>], src: &[T], walk: &Walk, start: usize) {
    let (len, step) = (walk.row_len, walk.inner[0]);
    if dst.is_empty() {
        return;
    }
    let mut w = walk.walker(start / len);
    let (mut col, mut done) = (start % len, 0);
    while done < dst.len() {
        let take = (len - col).min(dst.len() - done);
        write_row(&mut dst[done..done + take], src, w.offsets[0] + col * step, step);
        (done, col) = (done + take, 0);
        w.advance();
    }
}

/// `dst[i] = src[i * step]`: every other value (`x[:, ::2]`, a real part) through pairs the
/// compiler turns into vector shuffles, other steps without a bounds check per value (the
/// indexed loop took `x[:, ::2].contiguous()` to 3.4x PyTorch's time).
#[inline]
fn every_nth<T: Copy>(dst: &mut [MaybeUninit<T>], src: &[T], step: usize) {
    if step == 2 {
        let (pairs, last) = src.as_chunks::<2>();
        for (o, p) in dst.iter_mut().zip(pairs) {
            o.write(p[0]);
        }
        if let (Some(o), [v]) = (dst.last_mut(), last) {
            o.write(*v);
        }
        return;
    }
    for (o, &v) in dst.iter_mut().zip(src.iter().step_by(step)) {
        o.write(v);
    }
}

/// Side of the square tiles `gather_transposed` copies: 32 source columns of 32 elements each
/// stay in L1 while the tile is written row by row.
const TILE: usize = 32;

/// gather for a (coalesced) layout whose last two dims are a transposed matrix: stride 1 down
/// the rows, stride `sc` along them (`x.t().contiguous()`, a transposed weight). Walking it row
/// by row would touch a new cache line per element; tiles read and write whole lines (5-10x
/// faster on a 784x256 weight).
fn gather_transposed<T: Copy + Send + Sync + Default>(src: &[T], offset: usize, shape: &[usize], strides: &[usize]) -> Vec<T> {
    let nd = shape.len();
    let (r, c, sc) = (shape[nd - 2], shape[nd - 1], strides[nd - 1]);
    let (outer, outer_strides) = (&shape[..nd - 2], &strides[..nd - 2]);
    let numel: usize = shape.iter().product();
    let mut out = vec![T::default(); numel];
    // 4-byte elements (float32, int32) go through 8 x 8 register transposes: one 32-byte load
    // and store per eight values, where the element loop stored one at a time (1.56x PyTorch's
    // time on `x.t().contiguous()` of 512 x 2048 float32 at one thread).
    #[cfg(target_arch = "x86_64")]
    let blocks8 = std::mem::size_of::<T>() == 4 && std::mem::align_of::<T>() >= std::mem::align_of::<f32>() && crate::simd::has_avx2_fma();
    #[cfg(not(target_arch = "x86_64"))]
    let blocks8 = false;
    // Every (matrix, band of TILE output rows) is one task.
    let band = |(task, chunk): (usize, &mut [T])| {
        // Locals, not captures: read through the closure's references, LLVM reloads them for
        // every element (5 cycles each instead of 1).
        let (r, c, sc, offset) = (r, c, sc, offset);
        let bands = r.div_ceil(TILE);
        let (mut rem, mut base) = (task / bands, offset);
        for d in (0..outer.len()).rev() {
            base += (rem % outer[d]) * outer_strides[d];
            rem /= outer[d];
        }
        let rows = chunk.len() / c;
        let first = base + (task % bands) * TILE;
        // Column j of the band, rows `is`: contiguous in the source, strided by c in the output.
        let columns = |chunk: &mut [T], js: std::ops::Range<usize>, is: std::ops::Range<usize>| {
            let (c, sc, first, rows) = (c, sc, first, rows);
            for j in js {
                let col = &src[first + j * sc..first + j * sc + rows];
                for (i, &v) in is.clone().zip(&col[is.clone()]) {
                    chunk[i * c + j] = v;
                }
            }
        };
        for j0 in (0..c).step_by(TILE) {
            let end = (j0 + TILE).min(c);
            let (rows8, end8) = if blocks8 { (rows / 8 * 8, j0 + (end - j0) / 8 * 8) } else { (0, j0) };
            #[cfg(target_arch = "x86_64")]
            for j in (j0..end8).step_by(8) {
                for i in (0..rows8).step_by(8) {
                    // SAFETY: `blocks8`: AVX2, and T is 4 bytes with at least f32's alignment (any
                    // bits move unchanged through float registers); columns j..j + 8 hold rows i..i + 8 each, and output rows
                    // i..i + 8 of this band hold columns j..j + 8.
                    unsafe {
                        let from = std::slice::from_raw_parts(src.as_ptr().add(first + j * sc + i).cast::<f32>(), 7 * sc + 8);
                        crate::ops::gemm_packed::transpose_block(from, sc, chunk.as_mut_ptr().cast::<f32>(), |kk| (i + kk) * c + j);
                    }
                }
            }
            columns(chunk, j0..end8, rows8..rows);
            columns(chunk, end8..end, 0..rows);
        }
    };
    let tasks: Vec<(usize, &mut [T])> = out.chunks_mut((r * c).max(1)).flat_map(|m| m.chunks_mut(TILE * c)).enumerate().collect();
    if numel > GRAIN {
        crate::parallel::for_each_task(tasks, &band);
    } else {
        tasks.into_iter().for_each(band);
    }
    out
}

/// Writes `values` (contiguous, logical order) into a strided destination (in-place ops on views).
pub fn scatter<T: Copy>(dst: &mut [T], layout: &Layout, values: &[T]) {
    let walk = Walk::new(&layout.shape, &[(&layout.strides, layout.offset)]);
    let (len, s) = (walk.row_len, walk.inner[0]);
    let mut w = walk.walker(0);
    for row in values.chunks(len.max(1)).take(walk.rows) {
        let base = w.offsets[0];
        for (i, v) in row.iter().enumerate() {
            dst[base + i * s] = *v;
        }
        w.advance();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gather_of_a_shape_with_a_zero_dim_is_empty() {
        let layout = Layout::contiguous(&[2, 0, 3]);
        assert!(gather::<f32>(&[], &layout).is_empty());
    }

    #[test]
    fn gather_reads_a_transposed_view_in_logical_order() {
        let src: Vec<i32> = (0..6).collect(); // 2x3
        let t = Layout { shape: vec![3, 2], strides: vec![1, 3], offset: 0 };
        assert_eq!(gather(&src, &t), vec![0, 3, 1, 4, 2, 5]);
    }

    /// The tiled path: batches of transposed matrices with sizes off the tile grid, and an
    /// offset, against element-by-element indexing.
    #[test]
    fn gather_of_transposed_batches_matches_indexing() {
        for &(b, r, c) in &[(1, 70, 33), (3, 5, 100), (2, 64, 64), (1, 1, 40), (2, 17, 9), (1, 8, 8), (1, 300, 250)] {
            // 4-byte elements take the 8 x 8 register transposes: every bit pattern (a NaN's
            // payload, a subnormal) must come through unchanged.
            let src: Vec<u32> = (0..(b * r * c + 7) as u32).map(|v| v.wrapping_mul(0x9E37_79B9)).collect();
            // logical (b, r, c) read from a (b, c, r) buffer at offset 7
            let t = Layout { shape: vec![b, r, c], strides: vec![r * c, 1, r], offset: 7 };
            let want: Vec<u32> = (0..b * r * c).map(|e| src[7 + e / (r * c) * r * c + e % (r * c) / c + e % c * r]).collect();
            assert_eq!(gather(&src, &t), want, "{b}x{r}x{c}");
            // 8-byte elements keep the element loop.
            let wide: Vec<u64> = src.iter().map(|&v| v as u64 * 3).collect();
            assert_eq!(gather(&wide, &t), want.iter().map(|&v| v as u64 * 3).collect::<Vec<_>>(), "u64 {b}x{r}x{c}");
        }
    }

    #[test]
    fn gather_parallel_matches_serial_order() {
        let n = 300;
        let src: Vec<u32> = (0..(n * n) as u32).collect();
        let t = Layout { shape: vec![n, n], strides: vec![1, n], offset: 0 };
        let out = gather(&src, &t);
        for i in 0..n {
            for j in 0..n {
                assert_eq!(out[i * n + j], (j * n + i) as u32);
            }
        }
    }

    #[test]
    fn scatter_writes_through_strides() {
        let mut dst = vec![0; 6];
        let t = Layout { shape: vec![3, 2], strides: vec![1, 3], offset: 0 };
        scatter(&mut dst, &t, &[0, 3, 1, 4, 2, 5]);
        assert_eq!(dst, vec![0, 1, 2, 3, 4, 5]);
    }
}
