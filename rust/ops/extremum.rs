//! max, min, argmax and argmin: over one dim with their indices, or over everything. NaN wins
//! and the first of tied extremes is taken, as in PyTorch.

use num_traits::Zero as _;

use crate::autograd::{record, Backward, Saved};
use crate::bail;
use crate::error::Result;
use crate::ops::binary;
use crate::ops::kernel::build_weighted;
use crate::ops::reduce::{amb, fold_mid, reduced_shape};
use crate::tensor::iter::GRAIN;
use crate::tensor::{Element, Tensor};
use crate::{with_dtype, with_float};

/// Index of the first max (or min) along the middle axis; NaN wins, as in PyTorch.
fn arg_extremum<T: Element>(data: &[T], amb: (usize, usize, usize), is_max: bool) -> Vec<(T, i64)> {
    let (a, n, b) = amb;
    if a == 1 && b == 1 && n > GRAIN {
        // One long row (max() of everything): pieces in parallel, then the first best of theirs.
        let piece = GRAIN;
        let parts = build_weighted(n.div_ceil(piece), piece, 1, |start, out| {
            for (p, o) in out.iter_mut().enumerate() {
                let at = (start + p) * piece;
                let row = &data[at..(at + piece).min(n)];
                let (v, i) = if is_max { row_extremum::<T, true>(row) } else { row_extremum::<T, false>(row) };
                o.write((v, i + at as i64));
            }
        });
        #[allow(clippy::eq_op)]
        let is_nan = |v: T| v != v;
        let best = parts.into_iter().reduce(|best, p| {
            let better = if is_max { p.0 > best.0 } else { p.0 < best.0 };
            if !is_nan(best.0) && (is_nan(p.0) || better) { p } else { best }
        });
        return best.into_iter().collect();
    }
    if b == 1 && n >= 16 {
        // Rows of the last dim: the fold below is one dependent, branchy chain per row.
        return build_weighted(a, n, (GRAIN / n).max(1), |start, out| {
            for (r, o) in out.iter_mut().enumerate() {
                let row = &data[(start + r) * n..][..n];
                o.write(if is_max { row_extremum::<T, true>(row) } else { row_extremum::<T, false>(row) });
            }
        });
    }
    let first = T::default();
    fold_mid(data, amb, (first, -1i64), move |(best, bi), v, j| {
        #[allow(clippy::eq_op)]
        let v_nan = v != v;
        #[allow(clippy::eq_op)]
        let best_nan = best != best;
        let take = bi < 0 || (!best_nan && (v_nan || if is_max { v > best } else { v < best }));
        if take { (v, j as i64) } else { (best, bi) }
    })
}

/// (value, index) of a row's first max (or min); NaN wins. Two passes that vectorise: the
/// extreme value in 16 lanes (and whether any lane saw a NaN), then the first position holding
/// it. The value returned is the element itself, so -0 and 0 come back as found.
#[inline(always)]
fn row_extremum<T: Element, const MAX: bool>(row: &[T]) -> (T, i64) {
    #[allow(clippy::eq_op)]
    let is_nan = |v: T| v != v;
    let better = |a: T, b: T| if MAX { b > a } else { b < a };
    let (mut lanes, mut nan) = ([row[0]; 16], [false; 16]);
    let (blocks, rest) = row.as_chunks::<16>();
    for c in blocks {
        for k in 0..16 {
            lanes[k] = if better(lanes[k], c[k]) { c[k] } else { lanes[k] };
            nan[k] |= is_nan(c[k]);
        }
    }
    let i = if !nan.contains(&true) && !rest.iter().any(|&v| is_nan(v)) {
        let m = rest.iter().chain(&lanes).fold(row[0], |a, &v| if better(a, v) { v } else { a });
        first_where(row, |v| v == m)
    } else {
        first_where(row, is_nan)
    };
    (row[i], i as i64)
}

/// The first position where `hit` holds (0 if none), testing 16 at a time so the scan
/// vectorises (`position` is a scalar loop: most of argmax's time).
#[inline(always)]
fn first_where<T: Copy>(row: &[T], hit: impl Fn(T) -> bool) -> usize {
    let (blocks, _) = row.as_chunks::<16>();
    let block = blocks.iter().position(|c| c.iter().fold(false, |any, &v| any | hit(v))).unwrap_or(blocks.len());
    row[block * 16..].iter().position(|&v| hit(v)).map_or(0, |p| block * 16 + p)
}

fn extremum_plan(x: &Tensor, dim: Option<isize>, op: &str) -> Result<(usize, (usize, usize, usize))> {
    match dim {
        None => {
            if x.numel() == 0 {
                // PyTorch's types: IndexError for argmax/argmin, RuntimeError for max/min.
                let msg = format!("{op}(): Expected reduction dim to be specified for input.numel() == 0. Specify the reduction dim with the 'dim' argument.");
                return Err(if op.starts_with("arg") { crate::error::Error::Index(msg) } else { crate::error::Error::Runtime(msg) });
            }
            Ok((usize::MAX, (1, x.numel(), 1)))
        }
        Some(d) => {
            let d = crate::tensor::shape::wrap_dim(d, x.ndim(), op)?;
            if x.ndim() == 0 {
                return Ok((0, (1, 1, 1)));
            }
            if x.shape()[d] == 0 {
                bail!(Index, "{op}(): Expected reduction dim {d} to have non-zero size (input shape {:?}).", x.shape());
            }
            Ok((d, amb(x.shape(), d, d)))
        }
    }
}

/// max/min over one dim: (values, int64 indices), as `torch.max(x, dim)`.
pub fn max_dim(x: &Tensor, dim: isize, keepdim: bool, is_max: bool) -> Result<(Tensor, Tensor)> {
    let op = if is_max { "max" } else { "min" };
    let (d, plan) = extremum_plan(x, Some(dim), op)?;
    let out_shape = if x.ndim() == 0 { vec![] } else { reduced_shape(x.shape(), &[d], keepdim) };
    let (vals, idx) = with_dtype!(x.dtype(), T => {
        let r = x.with_view::<T, _>(|v| arg_extremum(&v.contiguous(), plan, is_max));
        let vals: Vec<T> = r.iter().map(|p| p.0).collect();
        let idx: Vec<i64> = r.iter().map(|p| p.1).collect();
        (Tensor::from_vec_unchecked(vals, &out_shape), Tensor::from_vec_unchecked(idx, &out_shape))
    });
    let idx_saved = idx.clone();
    let vals = record(vals, &[x], || {
        Ok(Box::new(IndexedReduceBackward { input: x.shape().to_vec(), dim: d, keepdim, indices: Saved::new(&idx_saved)?, is_max }))
    })?;
    Ok((vals, idx))
}

struct IndexedReduceBackward {
    input: Vec<usize>,
    dim: usize,
    keepdim: bool,
    indices: Saved,
    is_max: bool,
}
impl Backward for IndexedReduceBackward {
    fn attrs(&self) -> crate::autograd::trace::Attrs {
        crate::attrs![("dim", self.dim), ("keepdim", self.keepdim)]
    }
    fn name(&self) -> &'static str {
        if self.is_max { "MaxBackward0" } else { "MinBackward0" }
    }
    fn apply(&self, g: &Tensor, _needs: &[bool]) -> Result<Vec<Option<Tensor>>> {
        let _ = self.keepdim;
        let idx = self.indices.get()?.to_vec::<i64>();
        let (a, n, b) = if self.input.is_empty() { (1, 1, 1) } else { amb(&self.input, self.dim, self.dim) };
        if crate::autograd::is_recording() {
            let pos: Vec<usize> = (0..a * b).map(|k| ((k / b) * n + idx[k] as usize) * b + k % b).collect();
            return Ok(vec![Some(crate::ops::positions::scatter_positions(g, &std::sync::Arc::new(pos), &self.input)?)]);
        }
        let gi = with_float!(g.dtype(), "max backward", T => {
            let gv = g.to_vec::<T>();
            let mut out = vec![T::zero(); a * n * b];
            for ai in 0..a {
                for bi in 0..b {
                    let k = ai * b + bi;
                    out[(ai * n + idx[k] as usize) * b + bi] += gv[k];
                }
            }
            Tensor::from_vec_unchecked(out, &self.input)
        });
        Ok(vec![Some(gi)])
    }
    fn differentiable(&self) -> bool {
        true
    }
}

/// max/min of all elements. The gradient is shared evenly between tied maxima (PyTorch's rule).
pub fn max_all(x: &Tensor, is_max: bool) -> Result<Tensor> {
    let op = if is_max { "max" } else { "min" };
    let (_, plan) = extremum_plan(x, None, op)?;
    let val = with_dtype!(x.dtype(), T => {
        let r = x.with_view::<T, _>(|v| arg_extremum(&v.contiguous(), plan, is_max));
        Tensor::from_vec_unchecked(vec![r[0].0], &[])
    });
    let val_saved = val.clone();
    record(val, &[x], || Ok(Box::new(MaxAllBackward { x: Saved::new(x)?, val: Saved::new(&val_saved)?, is_max })))
}

struct MaxAllBackward {
    x: Saved,
    val: Saved,
    is_max: bool,
}
impl Backward for MaxAllBackward {
    fn name(&self) -> &'static str {
        if self.is_max { "MaxBackward1" } else { "MinBackward1" }
    }
    fn apply(&self, g: &Tensor, _needs: &[bool]) -> Result<Vec<Option<Tensor>>> {
        // PyTorch's evenly_distribute_backward: the gradient is shared by every element equal to
        // the result, or by every NaN when the result is NaN (NaN == NaN is false).
        let x = &self.x.get()?;
        let val = self.val.get()?.item_f64()?;
        if crate::autograd::is_recording() {
            // The share of each element is a constant; only the product with g is recorded.
            let ones = Tensor::ones(&[], g.dtype());
            let share = self.share(x, val, &ones)?;
            return Ok(vec![Some(binary::mul(g, &share)?)]);
        }
        Ok(vec![Some(self.share(x, val, g)?)])
    }
    fn differentiable(&self) -> bool {
        true
    }
}

impl MaxAllBackward {
    fn share(&self, x: &Tensor, val: f64, g: &Tensor) -> Result<Tensor> {
        let g = g.item_f64()?;
        let gi = with_float!(x.dtype(), "max backward", T => x.with_view::<T, _>(|v| {
            let data = v.contiguous();
            let hit = |v: T| if val.is_nan() { v.is_nan() } else { Element::to_f64(v) == val };
            let count = data.iter().filter(|&&v| hit(v)).count();
            let share = T::from_f64(g / count.max(1) as f64);
            let out: Vec<T> = data.iter().map(|&v| if hit(v) { share } else { T::zero() }).collect();
            Tensor::from_vec_unchecked(out, x.shape())
        }));
        Ok(gi)
    }
}

/// argmax/argmin; `dim=None` indexes the flattened tensor.
pub fn argmax(x: &Tensor, dim: Option<isize>, keepdim: bool, is_max: bool) -> Result<Tensor> {
    let op = if is_max { "argmax" } else { "argmin" };
    let (d, plan) = extremum_plan(x, dim, op)?;
    let out_shape = match dim {
        None if keepdim => vec![1; x.ndim()],
        None => vec![],
        Some(_) if x.ndim() == 0 => vec![],
        Some(_) => reduced_shape(x.shape(), &[d], keepdim),
    };
    let idx: Vec<i64> = with_dtype!(x.dtype(), T => x.with_view::<T, _>(|v| {
        arg_extremum(&v.contiguous(), plan, is_max).into_iter().map(|p| p.1).collect()
    }));
    Ok(Tensor::from_vec_unchecked(idx, &out_shape))
}
