//! sort, argsort and topk along one dim. Each element of a line is packed with its index into
//! one integer whose order is PyTorch's (NaN above every number, -0 equal to 0, equal values
//! in index order, so the sort is stable) and the line is sorted as integers; topk selects its
//! k first. Lines run in parallel. These went through numpy's argsort and a gather: topk(10)
//! of 512 rows of 2048 took 30x PyTorch's time.
//!
//! Among equal values PyTorch's topk picks an index that depends on its selection algorithm;
//! this one picks the first in stable sorted order (the value is the same).

use std::mem::MaybeUninit;
use std::sync::Arc;

use half::{bf16, f16};

use crate::autograd::record;
use crate::bail;
use crate::error::Result;
use crate::ops::kernel::{build, build_weighted};
use crate::ops::positions::gather_rule;
use crate::tensor::iter::GRAIN;
use crate::tensor::{Element, Tensor};
use crate::with_dtype;

/// An element's place in PyTorch's sort order, packed above its index in the line.
trait SortKey: Element {
    type Packed: Ord + Copy + Send + Sync;
    /// Whether the key fits 32 bits (`key32`, `key32_of`); topk's block filter needs it.
    const KEY32: bool;
    fn packed(self, index: u32, descending: bool) -> Self::Packed;
    fn index(p: Self::Packed) -> u32;
    /// The key alone, as `packed` puts it above the index (32-bit keys only).
    fn key32(self, descending: bool) -> u32;
    /// The key of a packed element (32-bit keys only).
    fn key32_of(p: Self::Packed) -> u32;
}

/// float32's order as an unsigned integer: negatives below positives, -0 as +0, NaN on top.
#[inline(always)]
fn f32_key(v: f32) -> u32 {
    let b = (v + 0.0).to_bits(); // -0 + 0 is +0
    // Negatives flipped whole, positives' sign bit set; without a branch, which random signs
    // mispredict half the time.
    let k = b ^ (((b as i32) >> 31) as u32 | 0x8000_0000);
    if v.is_nan() { u32::MAX } else { k }
}

#[inline(always)]
fn f64_key(v: f64) -> u64 {
    let b = (v + 0.0).to_bits();
    let k = b ^ (((b as i64) >> 63) as u64 | 0x8000_0000_0000_0000);
    if v.is_nan() { u64::MAX } else { k }
}

macro_rules! sort_key {
    ($t:ty, $packed:ty, $key:ty, |$v:ident| $k:expr) => {
        impl SortKey for $t {
            type Packed = $packed;
            const KEY32: bool = <$key>::BITS == 32;
            #[inline(always)]
            fn packed(self, index: u32, descending: bool) -> $packed {
                let $v = self;
                let k: $key = $k;
                // Descending: the key's complement, the index still ascending (stable).
                let k = if descending { !k } else { k };
                ((k as $packed) << 32) | index as $packed
            }
            #[inline(always)]
            fn index(p: $packed) -> u32 {
                p as u32
            }
            #[inline(always)]
            fn key32(self, descending: bool) -> u32 {
                let $v = self;
                let k: $key = $k;
                (if descending { !k } else { k }) as u32
            }
            #[inline(always)]
            fn key32_of(p: $packed) -> u32 {
                (p >> 32) as u32
            }
        }
    };
}
sort_key!(f32, u64, u32, |v| f32_key(v));
sort_key!(f16, u64, u32, |v| f32_key(v.to_f32()));
sort_key!(bf16, u64, u32, |v| f32_key(v.to_f32()));
sort_key!(i32, u64, u32, |v| (v as u32) ^ 0x8000_0000);
sort_key!(i16, u64, u32, |v| (v as i32 as u32) ^ 0x8000_0000);
sort_key!(i8, u64, u32, |v| (v as i32 as u32) ^ 0x8000_0000);
sort_key!(u8, u64, u32, |v| v as u32);
sort_key!(bool, u64, u32, |v| v as u32);
sort_key!(f64, u128, u64, |v| f64_key(v));
sort_key!(i64, u128, u64, |v| (v as u64) ^ 0x8000_0000_0000_0000);

/// `x` seen as (outer, n, inner) around the sorted dim, and k outputs kept per line.
#[derive(Clone, Copy)]
struct Lines {
    outer: usize,
    n: usize,
    inner: usize,
    k: usize,
}

/// `(values, int64 indices)` of `x` sorted along `dim`, the first `k` of each line when given
/// (topk: the k smallest, or largest when `descending`). `name` is the values' grad_fn.
pub fn sort(x: &Tensor, dim: usize, descending: bool, k: Option<usize>, name: &'static str) -> Result<(Tensor, Tensor)> {
    let shape = x.shape();
    if dim >= shape.len().max(1) {
        bail!(Index, "{}: dim {dim} out of range for a tensor of {} dims", op_name(name), shape.len());
    }
    let (outer, n, inner) = match shape.len() {
        0 => (1, 1, 1),
        _ => (shape[..dim].iter().product(), shape[dim], shape[dim + 1..].iter().product()),
    };
    let k = k.unwrap_or(n);
    if k > n {
        bail!(Runtime, "{}: selected index k out of range (k = {k}, dim {dim} has size {n})", op_name(name));
    }
    // Every selection of a 0-d tensor is the tensor itself, topk(0) included (PyTorch's).
    let k = if shape.is_empty() { 1 } else { k };
    if n > u32::MAX as usize {
        bail!(Runtime, "{}: lines longer than 2^32 elements are not supported (shape {shape:?})", op_name(name));
    }
    let lines = Lines { outer, n, inner, k };
    let mut out_shape = shape.to_vec();
    if let Some(s) = out_shape.get_mut(dim) {
        *s = k;
    }
    let (values, idx) = with_dtype!(x.dtype(), T => x.with_view::<T, _>(|v| {
        let xs = v.contiguous();
        let idx = line_orders::<T>(&xs, lines, descending);
        (Tensor::from_vec_unchecked(take_lines(&idx, lines, |p| xs[p]), &out_shape), idx)
    }));
    let values = record(values, &[x], || Ok(gather_rule(name, Arc::new(take_lines(&idx, lines, |p| p)), shape.to_vec())))?;
    Ok((values, Tensor::from_vec_unchecked(idx, &out_shape)))
}

fn op_name(grad_fn: &str) -> &'static str {
    if grad_fn.starts_with("Topk") { "topk" } else { "sort" }
}

/// Each line's order (the first k indices), in parallel over blocks of lines.
fn line_orders<T: SortKey>(xs: &[T], l: Lines, descending: bool) -> Vec<i64> {
    let width = l.k * l.inner; // outputs per outer block
    if width == 0 {
        return Vec::new();
    }
    let per_task = (GRAIN / (l.n * l.inner).max(1)).max(1);
    // About n log n of work per line for k outputs.
    let weight = (l.n / l.k).max(1) * (usize::BITS - l.n.leading_zeros()) as usize;
    build_weighted(l.outer * width, weight, per_task * width, |start, out: &mut [MaybeUninit<i64>]| {
        let first = start / width;
        let mut keys = Vec::with_capacity(l.n);
        for (b, block) in out.chunks_mut(width).enumerate() {
            let base = (first + b) * l.n * l.inner;
            for i in 0..l.inner {
                let key = |j: usize| xs[base + j * l.inner + i].packed(j as u32, descending);
                keys.clear();
                if l.k * 16 <= l.n {
                    // A few out of many (topk): keep the k first sorted as the line streams by;
                    // most elements fail the one comparison with the current k-th. Once k are
                    // kept, 32-bit keys are compared sixteen at a time, in vector lanes, and a
                    // block with none below the k-th's key is skipped whole (an equal key comes
                    // later in index order, so it never enters): most blocks, once a few hundred
                    // elements are in. topk(10) of 512 x 2048 float32 at one thread: 2.9 ms
                    // element by element (1.2x PyTorch's time), 2.0 ms so.
                    const BLOCK: usize = 16;
                    let mut j = 0;
                    while j < l.n {
                        if T::KEY32 && keys.len() == l.k && j + BLOCK <= l.n {
                            let mut k32 = [0u32; BLOCK];
                            if l.inner == 1 {
                                // A run: keys in vector lanes.
                                let run: &[T; BLOCK] = xs[base + j..base + j + BLOCK].try_into().unwrap_or_else(|_| unreachable!());
                                k32.iter_mut().zip(run).for_each(|(k, v)| *k = v.key32(descending));
                            } else {
                                k32.iter_mut().enumerate().for_each(|(q, k)| *k = xs[base + (j + q) * l.inner + i].key32(descending));
                            }
                            let worst = T::key32_of(keys[l.k - 1]);
                            // The lanes below the k-th, as bits; each is offered in turn (an
                            // earlier one may have raised the bar for the next).
                            let mut below = k32.iter().enumerate().fold(0u32, |m, (q, &v)| m | (((v < worst) as u32) << q));
                            while below != 0 {
                                let q = below.trailing_zeros() as usize;
                                keep(&mut keys, l.k, key(j + q));
                                below &= below - 1;
                            }
                            j += BLOCK;
                        } else {
                            keep(&mut keys, l.k, key(j));
                            j += 1;
                        }
                    }
                } else {
                    keys.extend((0..l.n).map(key));
                    if l.k < l.n {
                        keys.select_nth_unstable(l.k - 1);
                        keys.truncate(l.k);
                    }
                    keys.sort_unstable();
                }
                for (j, &p) in keys.iter().enumerate() {
                    block[j * l.inner + i].write(T::index(p) as i64);
                }
            }
        }
    })
}

/// `p` into `keys` (sorted, at most k long) if it is among the k smallest seen so far.
#[inline(always)]
fn keep<P: Ord + Copy>(keys: &mut Vec<P>, k: usize, p: P) {
    if keys.len() < k || p < keys[k - 1] {
        if keys.len() == k {
            keys.pop();
        }
        let at = keys.partition_point(|&q| q < p);
        keys.insert(at, p);
    }
}

/// `f(p)` for every output, p being the flat position in `x` of the element it takes.
fn take_lines<U: Send>(idx: &[i64], l: Lines, f: impl Fn(usize) -> U + Sync) -> Vec<U> {
    let width = l.k * l.inner;
    if width == 0 {
        return Vec::new();
    }
    build(l.outer * width, (GRAIN / width).max(1) * width, |start, out| {
        let first = start / width;
        for (b, block) in out.chunks_mut(width).enumerate() {
            let o = first + b;
            let order = &idx[o * width..][..width];
            for j in 0..l.k {
                for i in 0..l.inner {
                    let e = j * l.inner + i;
                    block[e].write(f((o * l.n + order[e] as usize) * l.inner + i));
                }
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_order_as_pytorch() {
        let xs = [f32::NEG_INFINITY, -1.5, -0.0, 0.0, 1e-45, 2.0, f32::INFINITY, f32::NAN, -f32::NAN];
        let keys: Vec<u32> = xs.iter().map(|&v| f32_key(v)).collect();
        assert!(keys[..7].windows(2).all(|w| w[0] <= w[1]));
        assert_eq!(keys[2], keys[3]); // -0 == 0
        assert!(keys[7] == u32::MAX && keys[8] == u32::MAX);
        assert!(f64_key(-0.0) == f64_key(0.0) && f64_key(-1.0) < f64_key(-0.5) && f64_key(f64::NAN) == u64::MAX);
        // Stable both ways: equal keys keep index order.
        assert!(1.0f32.packed(0, true) < 1.0f32.packed(1, true) && 2.0f32.packed(5, true) < 1.0f32.packed(0, true));
        assert!((-3i64).packed(0, false) < 2i64.packed(0, false) && i8::MIN.packed(0, false) < i8::MAX.packed(0, false));
    }
}
