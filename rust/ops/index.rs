//! `x[idx]` and `x[idx] = v` with numpy's rules: ints, slices, None and Ellipsis give views;
//! integer tensors and boolean masks ("advanced" indices) gather, and their backward scatters.

#[allow(unused_imports)]
use num_traits::{Float as _, One as _, Zero as _};
use std::sync::Arc;

use crate::autograd::{is_recording, record, Backward};
use crate::ops::positions::{gather_positions, scatter_positions};
use crate::bail;
use crate::error::Result;
use crate::ops::cast::to_dtype;
use super::index_grid::Grid;
use crate::tensor::iter::Walk;
use crate::tensor::shape::{broadcast_shapes, contiguous_strides};
use crate::tensor::{DType, Element, Tensor};
use crate::with_dtype;

#[derive(Clone)]
pub enum Index {
    Int(isize),
    Slice { start: Option<isize>, stop: Option<isize>, step: isize },
    NewAxis,
    Ellipsis,
    Tensor(Tensor),
}

/// Python's slice.indices(): clamped start/stop for a positive step.
fn slice_bounds(start: Option<isize>, stop: Option<isize>, n: usize) -> (usize, usize) {
    let n = n as isize;
    let norm = |v: isize| if v < 0 { (v + n).max(0) } else { v.min(n) };
    let s = start.map(norm).unwrap_or(0);
    let e = stop.map(norm).unwrap_or(n);
    (s as usize, e.max(s) as usize)
}

/// The basic part as a view, plus the advanced indices with the view dim each applies to.
fn basic(x: &Tensor, idx: &[Index]) -> Result<(Tensor, Vec<(usize, Tensor)>)> {
    let consumed: usize = idx
        .iter()
        .map(|i| match i {
            Index::Int(_) | Index::Slice { .. } => 1,
            Index::Tensor(t) if t.dtype() == DType::Bool => t.ndim(),
            Index::Tensor(_) => 1,
            Index::NewAxis | Index::Ellipsis => 0,
        })
        .sum();
    if consumed > x.ndim() {
        bail!(Index, "too many indices for tensor of dimension {} (got {consumed} indices for shape {:?})", x.ndim(), x.shape());
    }
    if idx.iter().filter(|i| matches!(i, Index::Ellipsis)).count() > 1 {
        bail!(Index, "an index can only have a single ellipsis ('...')");
    }
    let mut v = x.clone();
    let mut dim = 0usize;
    let mut adv = Vec::new();
    for i in idx {
        // PyTorch applies integers as `select` before any advanced index, even next to one
        // (numpy would make them advanced: `x[0, :, [1, 2]]` is (4, 2) in PyTorch, (2, 4) in
        // numpy for x of shape (3, 4, 5)). A 0-d integer tensor is an integer to PyTorch:
        // `x[tensor(0)]` is a view, bounds-checked though another dim is empty.
        if let Some(k) = as_integer(i) {
            if dim >= v.ndim() {
                bail!(Index, "too many indices for tensor of dimension {} (shape {:?})", x.ndim(), x.shape());
            }
            v = v.select(dim as isize, k)?;
            continue;
        }
        match i {
            Index::Ellipsis => {
                dim += x.ndim() - consumed;
            }
            Index::NewAxis => {
                v = v.unsqueeze(dim as isize)?;
                dim += 1;
            }
            Index::Int(_) => unreachable!("integers are selected above"),
            Index::Tensor(t) if t.dtype() == DType::Bool && t.ndim() == 0 => {
                // `x[True]` / `x[False]`: a new dim of size 1, indexed by the advanced index
                // [0] or [] (PyTorch's boolToIndexingTensor). It is advanced, not a view, so it
                // broadcasts with the other advanced indices: `x[True, [0, 1]]` is `x[[0, 1]]`.
                v = v.unsqueeze(dim as isize)?;
                let rows: Vec<i64> = if t.item_f64()? != 0.0 { vec![0] } else { Vec::new() };
                let n = rows.len();
                adv.push((dim, Tensor::from_vec_unchecked(rows, &[n])));
                dim += 1;
            }
            Index::Slice { start, stop, step } => {
                if *step <= 0 {
                    bail!(Value, "step must be greater than zero (got {step}); negative steps are not supported, as in PyTorch");
                }
                let (s, e) = slice_bounds(*start, *stop, v.shape()[dim]);
                v = v.slice(dim, s, e, *step as usize)?;
                dim += 1;
            }
            Index::Tensor(t) if t.dtype() == DType::Bool => {
                let shape = &v.shape()[dim..dim + t.ndim()];
                if t.shape() != shape {
                    bail!(Index, "The shape of the mask {:?} at index {dim} does not match the shape of the indexed tensor {:?} at index {dim}", t.shape(), shape);
                }
                for coords in nonzero(t) {
                    adv.push((dim, coords));
                    dim += 1;
                }
            }
            Index::Tensor(t) => {
                if t.dtype() != DType::I64 {
                    bail!(Index, "tensors used as indices must be long, int, byte or bool tensors (got {})", t.dtype().name());
                }
                adv.push((dim, t.clone()));
                dim += 1;
            }
        }
    }
    Ok((v, adv))
}

/// An integer index: a Python int, or a 0-d int64 tensor (int32 ones are int64 by now).
fn as_integer(i: &Index) -> Option<isize> {
    match i {
        Index::Int(k) => Some(*k),
        Index::Tensor(t) if t.ndim() == 0 && t.dtype() == DType::I64 => Some(t.to_vec::<i64>()[0] as isize),
        _ => None,
    }
}

pub use crate::ops::nonzero::nonzero;

/// Where each gathered element lives, as offsets into `v`'s storage walked in the result's
/// order (`Grid`), and that result's shape.
struct Plan {
    offsets: Grid,
    /// The result's shape, numpy's: [dims before the advanced indices..., broadcast index
    /// shape..., remaining dims...] when the advanced indices are adjacent, else the index
    /// shape first.
    shape: Vec<usize>,
    /// The same positions as offsets into a contiguous tensor of `v`'s shape (for backward).
    dense: Grid,
}

fn plan(v: &Tensor, adv: &[(usize, Tensor)]) -> Result<Plan> {
    let mut bshape: Vec<usize> = Vec::new();
    for (_, t) in adv {
        // PyTorch's type for index tensors that do not broadcast: IndexError.
        bshape = broadcast_shapes(&bshape, t.shape(), "index").map_err(|_| {
            let shapes: Vec<String> = adv.iter().map(|(_, t)| format!("{:?}", t.shape())).collect();
            crate::error::Error::Index(format!("shape mismatch: indexing tensors could not be broadcast together with shapes {}", shapes.join(", ")))
        })?;
    }
    let nb: usize = bshape.iter().product();
    let l = v.layout();
    let dense_strides = contiguous_strides(&l.shape);
    let mut base = vec![l.offset; nb];
    let mut dense_base = vec![0usize; nb];
    // When another dim is empty nothing is gathered, and PyTorch checks no index (x of shape
    // (0, 2): x[:, [5]] is an empty (0, 1) result, not an IndexError).
    let gathers_nothing = l.shape.iter().enumerate().any(|(d, &n)| n == 0 && !adv.iter().any(|(a, _)| *a == d));
    for (d, t) in adv.iter().filter(|_| !gathers_nothing) {
        let n = l.shape[*d] as i64;
        let vals = t.expand(&bshape)?.to_vec::<i64>();
        for ((b, db), &k) in base.iter_mut().zip(dense_base.iter_mut()).zip(&vals) {
            if k < -n || k >= n {
                bail!(Index, "index {k} is out of bounds for dimension {d} with size {n}");
            }
            let k = if k < 0 { k + n } else { k } as usize;
            *b += k * l.strides[*d];
            *db += k * dense_strides[*d];
        }
    }
    let adv_dims: Vec<usize> = adv.iter().map(|(d, _)| *d).collect();
    // numpy: advanced indices next to each other keep their place (the dims before them stay
    // first); otherwise they go first. The grid walks the result in that order directly.
    let adjacent = adv_dims.windows(2).all(|w| w[1] == w[0] + 1);
    let first = if adjacent { adv_dims[0] } else { 0 };
    let rest = |keep: &dyn Fn(usize) -> bool| -> Vec<usize> { (0..l.shape.len()).filter(|&d| !adv_dims.contains(&d) && keep(d)).collect() };
    let (before, after) = (rest(&|d| d < first), rest(&|d| d >= first));
    let ((outer, outer_dense), (inner, inner_dense)) = (rest_offsets(l, &dense_strides, &before), rest_offsets(l, &dense_strides, &after));
    let (offsets, dense) = (Grid::new(outer, base, inner), Grid::new(outer_dense, dense_base, inner_dense));
    let mut shape: Vec<usize> = before.iter().map(|&d| l.shape[d]).collect();
    shape.extend(&bshape);
    shape.extend(after.iter().map(|&d| l.shape[d]));
    Ok(Plan { offsets, shape, dense })
}

/// The offsets (into the storage, and into a contiguous tensor of the same shape) of every
/// position of `dims`, in row-major order; [0] when there are none.
fn rest_offsets(l: &crate::tensor::Layout, dense_strides: &[usize], dims: &[usize]) -> (Vec<usize>, Vec<usize>) {
    let shape: Vec<usize> = dims.iter().map(|&d| l.shape[d]).collect();
    let strides: Vec<usize> = dims.iter().map(|&d| l.strides[d]).collect();
    let dense: Vec<usize> = dims.iter().map(|&d| dense_strides[d]).collect();
    let walk = Walk::new(&shape, &[(&strides, 0), (&dense, 0)]);
    let n: usize = shape.iter().product();
    let (mut off, mut dense_off) = (Vec::with_capacity(n), Vec::with_capacity(n));
    let mut w = walk.walker(0);
    for _ in 0..walk.rows {
        for i in 0..walk.row_len {
            off.push(w.offsets[0] + i * walk.inner[0]);
            dense_off.push(w.offsets[1] + i * walk.inner[1]);
        }
        w.advance();
    }
    (off, dense_off)
}

/// Index tensors as the kernels take them: uint8 ones are masks (PyTorch's deprecated
/// byte-mask rule), int32 ones int64 positions.
fn normalized(idx: &[Index]) -> Result<Vec<Index>> {
    idx.iter()
        .map(|i| match i {
            Index::Tensor(t) if t.dtype() == DType::U8 => Ok(Index::Tensor(to_dtype(t, DType::Bool)?)),
            // int32 positions as int64; int16 and int8 are refused by `basic`, as by PyTorch.
            Index::Tensor(t) if t.dtype() == DType::I32 => Ok(Index::Tensor(to_dtype(t, DType::I64)?)),
            other => Ok(other.clone()),
        })
        .collect()
}

/// An index into a dim of size 0 is out of bounds, though nothing is read or written, where
/// PyTorch says so: for getitem any index tensor; for setitem any when the value is a tensor or
/// there are several index tensors. A Python number through one index tensor takes PyTorch's
/// fill path, which checks nothing: `zeros(0, 0)[:, [0]] = 0.` writes nothing and says nothing,
/// while `= tensor(0.)` and `zeros(0, 0)[[0], [0]] = 0.` are IndexErrors. (A 0-d index is an
/// integer, a `select`, checked there.)
fn check_no_index_into_empty(v: &Tensor, adv: &[(usize, Tensor)], set_value: Option<&Tensor>) -> Result<()> {
    let fill = set_value.is_some_and(|t| t.is_wrapped_number()) && adv.len() == 1;
    // Index tensors that broadcast to no position at all (an empty mask beside [0]) index nothing.
    let broadcast = adv.iter().try_fold(Vec::new(), |s, (_, t)| broadcast_shapes(&s, t.shape(), "index").ok());
    if broadcast.is_some_and(|s| s.contains(&0)) {
        return Ok(());
    }
    let into_empty = |(d, t): &&(usize, Tensor)| v.shape()[*d] == 0 && t.numel() > 0 && !fill;
    if let Some((d, _)) = adv.iter().find(into_empty) {
        bail!(Index, "index is out of bounds for dimension {d} with size 0");
    }
    Ok(())
}

pub fn getitem(x: &Tensor, idx: &[Index]) -> Result<Tensor> {
    let idx = &normalized(idx)?;
    let (v, adv) = basic(x, idx)?;
    if adv.is_empty() {
        return Ok(v);
    }
    check_no_index_into_empty(&v, &adv, None)?;
    let p = plan(&v, &adv)?;
    let out = with_dtype!(v.dtype(), T => v.with_view::<T, _>(|view| Tensor::from_vec_unchecked(p.offsets.gather(view.data), &p.shape)));
    let input = v.shape().to_vec();
    // For a trace: one integer index tensor is a gather along its dim (an embedding lookup).
    let gather = match (adv.as_slice(), idx.iter().any(|i| matches!(i, Index::Tensor(t) if t.dtype() == DType::Bool))) {
        ([(d, t)], false) if crate::autograd::trace::is_tracing() => Some((*d, t.clone())),
        _ => None,
    };
    record(out, &[&v], || Ok(Box::new(IndexBackward { input, dense: p.dense, gather })))
}

/// `src` with `value` written at `idx`, out of place and differentiable in both: the gradient of
/// `src` is the incoming one with the overwritten positions zeroed, the value's is the incoming
/// one gathered at those positions (then summed over any dims the value was broadcast along).
/// PyTorch's index_put_ rule: with an index tensor (advanced indexing), a value tensor must
/// have the destination's dtype. A Python number is cast, and so is a one-element value
/// written through a single bool mask beside basic indices only (PyTorch's masked_fill_ path,
/// `x[..., mask] = tensor(5)` included); basic indexing copies, which casts.
fn check_put_dtype(x: &Tensor, idx: &[Index], value: &Tensor) -> Result<()> {
    // Index tensors other than a 0-d integer (a `select`); a 0-d bool is an index, not a mask.
    let is_advanced = |i: &&Index| matches!(i, Index::Tensor(_)) && as_integer(i).is_none();
    let advanced_indices: Vec<&Index> = idx.iter().filter(is_advanced).collect();
    let mask_fill = matches!(advanced_indices.as_slice(), [Index::Tensor(t)] if t.dtype() == DType::Bool && t.ndim() > 0) && value.numel() == 1;
    let advanced = !advanced_indices.is_empty();
    if advanced && !mask_fill && !value.is_wrapped_number() && value.dtype() != x.dtype() {
        bail!(
            Runtime,
            "Index put requires the source and destination dtypes match, got {} for the destination and {} for the source. (Destination shape {:?}, source shape {:?}.)",
            x.dtype().torch_name(),
            value.dtype().torch_name(),
            x.shape(),
            value.shape()
        );
    }
    Ok(())
}

fn index_put(src: &Tensor, idx: &[Index], value: &Tensor) -> Result<Tensor> {
    // The positions `idx` selects, as offsets into a contiguous src: index a tensor of offsets
    // with the same key, so every indexing rule is getitem's own.
    let positions = {
        let _g = crate::autograd::GradModeGuard::new(false);
        let n = crate::tensor::alloc::numel(src.shape(), 8, "index assignment")?;
        let ids = Tensor::from_vec_unchecked((0..n as i64).collect::<Vec<_>>(), src.shape());
        getitem(&ids, idx)?
    };
    let target = positions.shape().to_vec();
    let value = to_dtype(value, src.dtype())?;
    let value = if value.shape() == target.as_slice() {
        value
    } else {
        match crate::tensor::shape::broadcast_shapes(value.shape(), &target, "index assignment") {
            Ok(s) if s == target => value.expand(&target)?,
            _ => bail!(Runtime, "shape mismatch: value tensor of shape {:?} cannot be broadcast to indexing result of shape {target:?}", value.shape()),
        }
    };
    let pos: Arc<Vec<usize>> = Arc::new(positions.to_vec::<i64>().into_iter().map(|p| p as usize).collect());
    let out = with_dtype!(src.dtype(), T => {
        let mut data = src.to_vec::<T>();
        for (&p, v) in pos.iter().zip(value.to_vec::<T>()) {
            data[p] = v;
        }
        Tensor::from_vec_unchecked(data, src.shape())
    });
    let name = if idx.iter().any(|i| matches!(i, Index::Tensor(_))) { "IndexPutBackward0" } else { "CopySlices" };
    record(out, &[src, &value], || Ok(Box::new(IndexPutBackward { name, pos, target })))
}

struct IndexPutBackward {
    name: &'static str,
    pos: Arc<Vec<usize>>,
    target: Vec<usize>,
}
impl Backward for IndexPutBackward {
    fn name(&self) -> &'static str {
        self.name
    }
    fn apply(&self, g: &Tensor, needs: &[bool]) -> Result<Vec<Option<Tensor>>> {
        if g.dtype().is_half() {
            return crate::ops::half::backward(g, |g| self.apply(g, needs));
        }
        if is_recording() {
            let g_value = if needs[1] { Some(gather_positions(g, &self.pos, &self.target)?) } else { None };
            let g_src = if needs[0] {
                let keep = crate::with_float!(g.dtype(), "index assignment backward", T => {
                    let mut m = vec![T::one(); g.numel()];
                    for &p in self.pos.iter() {
                        m[p] = T::zero();
                    }
                    Tensor::from_vec_unchecked(m, g.shape())
                });
                Some(crate::ops::binary::mul(g, &keep)?)
            } else {
                None
            };
            return Ok(vec![g_src, g_value]);
        }
        crate::with_float!(g.dtype(), "index assignment backward", T => {
            let gv = g.to_vec::<T>();
            let g_value = needs[1].then(|| {
                let vals: Vec<T> = self.pos.iter().map(|&p| gv[p]).collect();
                Tensor::from_vec_unchecked(vals, &self.target)
            });
            let g_src = needs[0].then(|| {
                let mut out = gv.clone();
                for &p in self.pos.iter() {
                    out[p] = T::zero();
                }
                Tensor::from_vec_unchecked(out, g.shape())
            });
            Ok(vec![g_src, g_value])
        })
    }
    fn differentiable(&self) -> bool {
        true
    }
}

struct IndexBackward {
    input: Vec<usize>,
    dense: Grid,
    /// For a trace only: the dim and index tensor of a single integer index.
    gather: Option<(usize, Tensor)>,
}
impl Backward for IndexBackward {
    fn attrs(&self) -> crate::autograd::trace::Attrs {
        match &self.gather {
            Some((d, t)) => crate::attrs![("dim", *d), ("indices", t)],
            None => Vec::new(),
        }
    }
    fn name(&self) -> &'static str {
        "IndexBackward0"
    }
    fn apply(&self, g: &Tensor, _needs: &[bool]) -> Result<Vec<Option<Tensor>>> {
        if g.dtype().is_half() {
            return crate::ops::half::backward(g, |g| Ok(vec![Some(self.scatter(g)?)]));
        }
        if is_recording() {
            return Ok(vec![Some(scatter_positions(g, &Arc::new(self.dense.flat()), &self.input)?)]);
        }
        Ok(vec![Some(self.scatter(g)?)])
    }
    fn differentiable(&self) -> bool {
        true
    }
}

impl IndexBackward {
    fn scatter(&self, g: &Tensor) -> Result<Tensor> {
        // Repeated indices accumulate, as index_put_(accumulate=True).
        Ok(crate::with_float!(g.dtype(), "index backward", T => {
            let total: usize = self.input.iter().product();
            let mut out = vec![T::zero(); total];
            // The outer offsets are the leading dims of this contiguous tensor (see `plan`):
            // blocks of total / outer positions, which parallel threads may sum apart.
            let block = (self.dense.outer.len() > 1).then(|| total / self.dense.outer.len());
            self.dense.scatter_add(&g.to_vec::<T>(), &mut out, block);
            Tensor::from_vec_unchecked(out, &self.input)
        }))
    }
}

/// `x[idx] = value` (value broadcast to the indexed shape). On a tensor in the graph (or with a
/// value that requires grad) x's history is rebased onto an index_put node, as PyTorch does:
/// `y = x.clone(); y[0] = 5.` gives x a gradient that is zero where y was overwritten.
pub fn setitem(x: &Tensor, idx: &[Index], value: &Tensor) -> Result<()> {
    crate::ops::inplace::check_inplace(x)?;
    // PyTorch drops a value's leading size-1 dims before broadcasting it (slicePrefix1sSize):
    // `x[0] = t.unsqueeze(0)` writes t, and `x[mask] = tensor([[5.]])` fills with 5.
    let ones = value.shape().iter().take_while(|&&n| n == 1).count();
    let value = &if ones > 0 { value.reshape(&value.shape()[ones..])? } else { value.clone() };
    let idx = &normalized(idx)?;
    check_put_dtype(x, idx, value)?;
    if value.is_wrapped_number() {
        // `x[i] = 300` on uint8 is refused, as PyTorch (a tensor value would wrap instead).
        let v = value.item_f64()?;
        if !crate::tensor::fits(v, x.dtype()) {
            bail!(Runtime, "value cannot be converted to type {} without overflow: {v} (index assignment)", crate::tensor::c_type_name(x.dtype()));
        }
    }
    // While tracing, too: the trace then sees the write (the direct writes below it would not).
    if is_recording() && (x.requires_grad() || value.requires_grad()) || crate::autograd::trace::is_tracing() {
        return crate::ops::inplace::apply(x, "index assignment", |src| index_put(src, idx, value));
    }
    let (v, adv) = {
        let _g = crate::autograd::GradModeGuard::new(false);
        basic(x, idx)?
    };
    if adv.is_empty() {
        // A Python number is a fill, which a self-overlapping (expanded) view may take; a tensor
        // value is a copy, which PyTorch refuses there even for one element (writing several
        // values would keep an arbitrary one).
        if !value.is_wrapped_number() {
            crate::ops::inplace::check_no_internal_overlap(&v)?;
        }
        return crate::ops::view::write_into(&v, value);
    }
    crate::ops::inplace::check_no_internal_overlap(x)?;
    check_no_index_into_empty(&v, &adv, Some(value))?;
    let p = plan(&v, &adv)?;
    let val = to_dtype(&value.detach(), v.dtype())?;
    let val = if val.shape() == p.shape.as_slice() { val } else { val.expand(&p.shape)? };
    with_dtype!(v.dtype(), T => {
        let vals = val.to_vec::<T>();
        let mut guard = v.write();
        p.offsets.write(T::slice_mut(&mut guard), &vals);
    });
    Ok(())
}
