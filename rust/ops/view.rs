//! Shape ops. Wherever the strides allow, the result is a view sharing the input's storage (as
//! in PyTorch); the backward rule undoes the shape change on the gradient.

use crate::autograd::trace::Attrs;
use crate::autograd::{record, rename_grad_fn, Backward};
use crate::bail;
use crate::error::Result;
use crate::ops::reduce::sum_to;
use crate::parallel::for_each_chunk_mut;
use crate::tensor::shape::{contiguous_strides, existing_dim, infer_shape, wrap_dim, Layout};
use crate::tensor::iter::GRAIN;
use crate::tensor::{iter, Element, Tensor};
use crate::tensor::copy::{copy_raw, copy_values};
use crate::with_dtype;

/// Strides for viewing `layout` as `shape` without copying, if possible (PyTorch's
/// computeStride): each group of merged/split dims must be contiguous within itself.
fn view_strides(layout: &Layout, shape: &[usize]) -> Option<Vec<usize>> {
    if layout.is_contiguous() {
        return Some(contiguous_strides(shape));
    }
    let (old, olds) = (&layout.shape, &layout.strides);
    let numel: usize = old.iter().product();
    if numel == 0 {
        return Some(contiguous_strides(shape));
    }
    let mut new_strides = vec![0; shape.len()];
    let mut view_d = shape.len() as isize - 1;
    let mut chunk_base_stride = *olds.last().unwrap_or(&1);
    let mut tensor_numel = 1;
    let mut view_numel = 1;
    for tensor_d in (0..old.len()).rev() {
        tensor_numel *= old[tensor_d];
        if tensor_d == 0 || (old[tensor_d - 1] != 1 && olds[tensor_d - 1] != tensor_numel * chunk_base_stride) {
            while view_d >= 0 && (view_numel < tensor_numel || shape[view_d as usize] == 1) {
                new_strides[view_d as usize] = view_numel * chunk_base_stride;
                view_numel *= shape[view_d as usize];
                view_d -= 1;
            }
            if view_numel != tensor_numel {
                return None;
            }
            if tensor_d > 0 {
                chunk_base_stride = olds[tensor_d - 1];
                tensor_numel = 1;
                view_numel = 1;
            }
        }
    }
    if view_d != -1 {
        return None;
    }
    Some(new_strides)
}

impl Tensor {
    /// `view`: never copies; fails like PyTorch when the strides do not allow it.
    pub fn view(&self, shape: &[isize]) -> Result<Tensor> {
        let shape = infer_shape(shape, self.numel(), self.shape(), "view")?;
        let Some(strides) = view_strides(self.layout(), &shape) else {
            bail!(
                Runtime,
                "view size is not compatible with input tensor's size and stride (at least one dimension spans across two contiguous subspaces): input shape {:?}, requested {:?}. Use .reshape(...) instead.",
                self.shape(),
                shape
            );
        };
        self.reshaped(shape, strides)
    }

    /// `reshape` with a -1 allowed: a view when possible, else a copy.
    pub fn reshape_infer(&self, shape: &[isize]) -> Result<Tensor> {
        let shape = infer_shape(shape, self.numel(), self.shape(), "reshape")?;
        self.reshape(&shape)
    }

    pub fn reshape(&self, shape: &[usize]) -> Result<Tensor> {
        if shape.iter().product::<usize>() != self.numel() {
            bail!(Runtime, "reshape: shape '{shape:?}' is invalid for input of size {} (input shape {:?})", self.numel(), self.shape());
        }
        if shape == self.shape() {
            return Ok(self.clone());
        }
        match view_strides(self.layout(), shape) {
            Some(strides) => self.reshaped(shape.to_vec(), strides),
            None => {
                let c = self.contiguous()?;
                c.reshaped(shape.to_vec(), contiguous_strides(shape))
            }
        }
    }

    fn reshaped(&self, shape: Vec<usize>, strides: Vec<usize>) -> Result<Tensor> {
        let from = self.shape().to_vec();
        let out = self.view_with(Layout { shape, strides, offset: self.layout().offset });
        record(out, &[self], || Ok(Box::new(ViewBackward { from })))
    }

    /// `expand`: broadcast to `shape` without copying (stride 0 on expanded dims).
    pub fn expand(&self, shape: &[usize]) -> Result<Tensor> {
        if shape == self.shape() && !crate::autograd::needs_record(&[self]) {
            return Ok(self.clone()); // off the graph the tensor itself serves (no view to make)
        }
        if shape.len() < self.ndim() {
            bail!(
                Runtime,
                "expand: the number of sizes provided ({}) must be greater or equal to the number of dimensions in the tensor ({}) (tensor shape {:?})",
                shape.len(), self.ndim(), self.shape()
            );
        }
        // A view of any size is fine (it reads the same memory), but its element count must be
        // a number: every later op computes it.
        crate::tensor::alloc::numel(shape, 1, "expand")?;
        let pad = shape.len() - self.ndim();
        let mut strides = vec![0; shape.len()];
        for i in 0..shape.len() {
            if i < pad {
                continue;
            }
            let (n, s) = (self.shape()[i - pad], self.strides()[i - pad]);
            if n == shape[i] {
                strides[i] = s;
            } else if n != 1 {
                bail!(
                    Runtime,
                    "expand: the expanded size of the tensor ({}) must match the existing size ({n}) at non-singleton dimension {i}. Target sizes: {shape:?}. Tensor sizes: {:?}",
                    shape[i], self.shape()
                );
            }
        }
        let from = self.shape().to_vec();
        let out = self.view_with(Layout { shape: shape.to_vec(), strides, offset: self.layout().offset });
        record(out, &[self], || Ok(Box::new(ExpandBackward { from })))
    }

    /// `expand` as Python calls it: -1 keeps a dim's size.
    pub fn expand_infer(&self, shape: &[isize]) -> Result<Tensor> {
        let pad = shape.len() as isize - self.ndim() as isize;
        let mut out = Vec::with_capacity(shape.len());
        for (i, &s) in shape.iter().enumerate() {
            let j = i as isize - pad;
            out.push(match s {
                -1 if j >= 0 => self.shape()[j as usize],
                s if s < 0 => bail!(Runtime, "expand: invalid size {s} at dimension {i} for new leading dims (shape {shape:?})"),
                s => s as usize,
            });
        }
        self.expand(&out)
    }

    pub fn permute(&self, dims: &[isize]) -> Result<Tensor> {
        if dims.len() != self.ndim() {
            bail!(
                Runtime,
                "permute(sparse_coo): number of dimensions in the tensor input does not match the length of the desired ordering of dimensions i.e. input.dim() = {} is not equal to len(dims) = {}",
                self.ndim(), dims.len()
            );
        }
        let mut perm = Vec::with_capacity(dims.len());
        for &d in dims {
            let w = wrap_dim(d, self.ndim(), "permute")?;
            if perm.contains(&w) {
                bail!(Runtime, "permute: duplicate dims are not allowed (dims {dims:?})");
            }
            perm.push(w);
        }
        let l = self.layout();
        let out = self.view_with(Layout {
            shape: perm.iter().map(|&p| l.shape[p]).collect(),
            strides: perm.iter().map(|&p| l.strides[p]).collect(),
            offset: l.offset,
        });
        record(out, &[self], || Ok(Box::new(PermuteBackward { perm })))
    }

    pub fn transpose(&self, d0: isize, d1: isize) -> Result<Tensor> {
        let n = self.ndim();
        let (a, b) = (wrap_dim(d0, n, "transpose")?, wrap_dim(d1, n, "transpose")?);
        if n < 2 {
            return Ok(self.clone());
        }
        let mut perm: Vec<isize> = (0..n as isize).collect();
        perm.swap(a, b);
        Ok(rename_grad_fn(self.permute(&perm)?, self, "TransposeBackward0"))
    }

    /// `t()`: 2-D transpose; 0-D and 1-D tensors come back as they are.
    pub fn t(&self) -> Result<Tensor> {
        if self.ndim() > 2 {
            bail!(Runtime, "t() expects a tensor with <= 2 dimensions, but self is {}D (shape {:?})", self.ndim(), self.shape());
        }
        if self.ndim() < 2 {
            return Ok(self.clone());
        }
        Ok(rename_grad_fn(self.transpose(0, 1)?, self, "TBackward0"))
    }

    pub fn unsqueeze(&self, dim: isize) -> Result<Tensor> {
        let d = wrap_dim(dim, self.ndim() + 1, "unsqueeze")?;
        let mut shape = self.shape().to_vec();
        shape.insert(d, 1);
        Ok(rename_grad_fn(self.reshape(&shape)?, self, "UnsqueezeBackward0"))
    }

    /// Removes the given size-1 dims (all of them when `dims` is None); other dims stay.
    pub fn squeeze(&self, dims: Option<&[isize]>) -> Result<Tensor> {
        let n = self.ndim();
        let drop: Vec<usize> = match dims {
            None => (0..n).filter(|&i| self.shape()[i] == 1).collect(),
            Some(ds) => {
                let mut v = Vec::new();
                for &d in ds {
                    let w = wrap_dim(d, n, "squeeze")?;
                    if w < n && self.shape()[w] == 1 {
                        v.push(w);
                    }
                }
                v
            }
        };
        let shape: Vec<usize> = (0..n).filter(|i| !drop.contains(i)).map(|i| self.shape()[i]).collect();
        let name = match dims {
            None => "SqueezeBackward0",
            Some([_]) => "SqueezeBackward1",
            Some(_) => "SqueezeBackward2",
        };
        Ok(rename_grad_fn(self.reshape(&shape)?, self, name))
    }

    pub fn flatten(&self, start: isize, end: isize) -> Result<Tensor> {
        if self.ndim() == 0 {
            return self.reshape(&[1]);
        }
        let (s, e) = (wrap_dim(start, self.ndim(), "flatten")?, wrap_dim(end, self.ndim(), "flatten")?);
        if s > e {
            bail!(Runtime, "flatten() has invalid args: start_dim ({start}) cannot come after end_dim ({end})");
        }
        let mut shape: Vec<usize> = self.shape()[..s].to_vec();
        shape.push(self.shape()[s..=e].iter().product());
        shape.extend_from_slice(&self.shape()[e + 1..]);
        self.reshape(&shape)
    }

    /// `contiguous()`: this tensor when already contiguous, else a contiguous copy.
    pub fn contiguous(&self) -> Result<Tensor> {
        if self.is_contiguous() {
            return Ok(self.clone());
        }
        self.clone_tensor()
    }

    /// `clone()`: a contiguous copy that stays on the graph.
    pub fn clone_tensor(&self) -> Result<Tensor> {
        let out = self.deep_copy();
        record(out, &[self], || Ok(Box::new(CloneBackward)))
    }

    /// Elements `start, start+step, ...` below `end` along `dim` (`x[a:b:step]`), as a view.
    pub fn slice(&self, dim: usize, start: usize, end: usize, step: usize) -> Result<Tensor> {
        let l = self.layout();
        if step == 0 || dim >= l.shape.len() {
            bail!(Value, "slice: step must be positive and dim existing (dim {dim}, step {step}, shape {:?})", l.shape);
        }
        let len = if end > start { (end - start).div_ceil(step) } else { 0 };
        // The callers clamp their bounds; this is the check that no view reaches past the dim.
        if len > 0 && start + (len - 1) * step >= l.shape[dim] {
            bail!(Index, "slice: elements {start}..{end} (step {step}) are out of range for dim {dim} of size {} (shape {:?})", l.shape[dim], l.shape);
        }
        let mut shape = l.shape.clone();
        let mut strides = l.strides.clone();
        shape[dim] = len;
        strides[dim] = l.strides[dim] * step;
        let offset = if len > 0 { l.offset + start * l.strides[dim] } else { l.offset };
        let out = self.view_with(Layout { shape, strides, offset });
        let input = l.shape.clone();
        record(out, &[self], || Ok(Box::new(SliceBackward { input, dim, start, step, select: false })))
    }

    /// `as_strided(size, stride, storage_offset)`: a view of any layout over this tensor's
    /// storage (offset in elements, the tensor's own when None), bounds-checked against the
    /// storage. On the graph the view must read only elements of this tensor (its gradient is
    /// scattered back to them, summed where the view reads one element several times).
    pub fn as_strided(&self, size: &[usize], stride: &[usize], storage_offset: Option<usize>) -> Result<Tensor> {
        if size.len() != stride.len() {
            bail!(Runtime, "as_strided: mismatch in length of strides and shape ({} and {})", stride.len(), size.len());
        }
        let offset = storage_offset.unwrap_or(self.layout().offset);
        let storage_len = self.storage().read().len();
        let needed = if size.contains(&0) { 0 } else { offset + 1 + size.iter().zip(stride).map(|(&n, &s)| (n - 1) * s).sum::<usize>() };
        if needed > storage_len {
            bail!(
                Runtime,
                "setStorage: sizes {size:?}, strides {stride:?}, storage offset {offset}, and itemsize {} requiring a storage size of {} are out of bounds for storage of size {}",
                self.dtype().size_of(),
                needed * self.dtype().size_of(),
                storage_len * self.dtype().size_of()
            );
        }
        let out = self.view_with(Layout { shape: size.to_vec(), strides: stride.to_vec(), offset });
        if crate::autograd::needs_record(&[self]) {
            let rule = crate::autograd::views::as_strided_backward(self, &out)?;
            return record(out, &[self], || Ok(rule));
        }
        Ok(out)
    }

    /// `narrow(dim, start, length)`. PyTorch's errors, in its order: a negative length is a
    /// runtime error, then a start outside [-n, n] an index error, then a length running past
    /// the end a runtime error (compared as `length > n - s`: `s + length` can overflow).
    pub fn narrow(&self, dim: isize, start: isize, length: isize) -> Result<Tensor> {
        if self.ndim() == 0 {
            bail!(Runtime, "narrow() cannot be applied to a 0-dim tensor.");
        }
        let d = existing_dim(dim, self.ndim(), "narrow")?;
        let n = self.shape()[d] as isize;
        if length < 0 {
            bail!(Runtime, "narrow(): length must be non-negative (got {length}).");
        }
        if start < -n || start > n {
            bail!(Index, "narrow: start out of range (expected to be in range of [{}, {n}], but got {start}) for dim {d} of shape {:?}", -n, self.shape());
        }
        let s = if start < 0 { start + n } else { start };
        if length > n - s {
            bail!(Runtime, "narrow: start ({s}) + length ({length}) exceeds dimension size ({n}) of dim {d} (shape {:?})", self.shape());
        }
        self.slice(d, s as usize, (s + length) as usize, 1)
    }

    /// `select(dim, index)` (`x[i]`): drops the dim.
    pub fn select(&self, dim: isize, index: isize) -> Result<Tensor> {
        let d = existing_dim(dim, self.ndim(), "select")?;
        let n = self.shape()[d] as isize;
        if index < -n || index >= n {
            bail!(Index, "index {index} is out of bounds for dimension {d} with size {n}");
        }
        let i = if index < 0 { index + n } else { index } as usize;
        let l = self.layout();
        let mut shape = l.shape.clone();
        let mut strides = l.strides.clone();
        shape.remove(d);
        strides.remove(d);
        let out = self.view_with(Layout { shape, strides, offset: l.offset + i * l.strides[d] });
        let input = l.shape.clone();
        record(out, &[self], || Ok(Box::new(SliceBackward { input, dim: d, start: i, step: 1, select: true })))
    }
}

struct ViewBackward {
    from: Vec<usize>,
}
impl Backward for ViewBackward {
    fn name(&self) -> &'static str {
        "ViewBackward0"
    }
    fn saves_tensors(&self) -> bool {
        false
    }
    fn apply(&self, g: &Tensor, _needs: &[bool]) -> Result<Vec<Option<Tensor>>> {
        Ok(vec![Some(g.reshape(&self.from)?)])
    }
    fn differentiable(&self) -> bool {
        true
    }
}

struct ExpandBackward {
    from: Vec<usize>,
}
impl Backward for ExpandBackward {
    fn name(&self) -> &'static str {
        "ExpandBackward0"
    }
    fn saves_tensors(&self) -> bool {
        false
    }
    fn apply(&self, g: &Tensor, _needs: &[bool]) -> Result<Vec<Option<Tensor>>> {
        Ok(vec![Some(sum_to(g, &self.from)?)])
    }
    fn differentiable(&self) -> bool {
        true
    }
}

struct PermuteBackward {
    perm: Vec<usize>,
}
impl Backward for PermuteBackward {
    fn name(&self) -> &'static str {
        "PermuteBackward0"
    }
    fn attrs(&self) -> Attrs {
        crate::attrs![("perm", &self.perm)]
    }
    fn saves_tensors(&self) -> bool {
        false
    }
    fn apply(&self, g: &Tensor, _needs: &[bool]) -> Result<Vec<Option<Tensor>>> {
        let mut inv = vec![0isize; self.perm.len()];
        for (i, &p) in self.perm.iter().enumerate() {
            inv[p] = i as isize;
        }
        Ok(vec![Some(g.permute(&inv)?)])
    }
    fn differentiable(&self) -> bool {
        true
    }
}

struct CloneBackward;
impl Backward for CloneBackward {
    fn name(&self) -> &'static str {
        "CloneBackward0"
    }
    fn saves_tensors(&self) -> bool {
        false
    }
    fn apply(&self, g: &Tensor, _needs: &[bool]) -> Result<Vec<Option<Tensor>>> {
        Ok(vec![Some(g.clone())])
    }
    fn differentiable(&self) -> bool {
        true
    }
}

/// Backward of slice/select/narrow: the gradient written into zeros of the input's shape.
struct SliceBackward {
    input: Vec<usize>,
    dim: usize,
    start: usize,
    step: usize,
    select: bool,
}
impl Backward for SliceBackward {
    fn name(&self) -> &'static str {
        if self.select { "SelectBackward0" } else { "SliceBackward0" }
    }
    fn attrs(&self) -> Attrs {
        crate::attrs![("dim", self.dim), ("start", self.start), ("step", self.step)]
    }
    fn saves_tensors(&self) -> bool {
        false
    }
    fn apply(&self, g: &Tensor, _needs: &[bool]) -> Result<Vec<Option<Tensor>>> {
        let count = if self.select { 1 } else { g.shape()[self.dim] };
        let at = crate::ops::slice_grad::Positions { start: self.start, step: self.step, count };
        let out = crate::ops::slice_grad::embedded(g, &self.input, self.dim, &at);
        // Recorded (create_graph): this embedding's own backward takes the same region back.
        let geometry = SliceBackward { input: g.shape().to_vec(), dim: self.dim, start: self.start, step: self.step, select: self.select };
        Ok(vec![Some(crate::autograd::record(out, &[g], || Ok(Box::new(SliceEmbedBackward(geometry))))?)])
    }
    fn differentiable(&self) -> bool {
        true
    }
}

impl SliceBackward {
    /// The part of `out` (input-shaped) that the slice or select of shape `part` viewed.
    fn region(&self, out: &Tensor, part: &[usize]) -> Result<Tensor> {
        if self.select {
            out.select(self.dim as isize, self.start as isize)
        } else {
            let len = part[self.dim];
            out.slice(self.dim, self.start, self.start + len * self.step, self.step)
        }
    }
}

/// The backward of a slice's backward: the slice again (its `input` is the sliced shape).
struct SliceEmbedBackward(SliceBackward);
impl Backward for SliceEmbedBackward {
    fn name(&self) -> &'static str {
        if self.0.select { "SelectBackwardBackward0" } else { "SliceBackwardBackward0" }
    }
    fn saves_tensors(&self) -> bool {
        false
    }
    fn apply(&self, g: &Tensor, _needs: &[bool]) -> Result<Vec<Option<Tensor>>> {
        Ok(vec![Some(self.0.region(g, &self.0.input)?.contiguous()?)])
    }
    fn differentiable(&self) -> bool {
        true
    }
}

/// Copies `src` (broadcast to `dst`'s shape) into the elements `dst` views. No autograd.
pub fn write_into(dst: &Tensor, src: &Tensor) -> Result<()> {
    let src = crate::ops::cast::to_dtype(&src.detach(), dst.dtype())?;
    let one = src.numel() == 1 && src.shape().len() <= dst.shape().len();
    if dst.is_contiguous()
        && (one || (src.shape() == dst.shape() && src.is_contiguous()))
        && !std::sync::Arc::ptr_eq(src.storage(), dst.storage())
    {
        // fill_, zero_ and copy_ of a same-shaped contiguous tensor: one parallel pass, instead
        // of gathering src into a Vec and scattering it (three times as long on 20 MB).
        let (off, n) = (dst.layout().offset, dst.numel());
        with_dtype!(dst.dtype(), T => {
            if one {
                let v = src.to_vec::<T>()[0];
                let mut guard = dst.write();
                let d = &mut T::slice_mut(&mut guard)[off..off + n];
                if n > GRAIN { for_each_chunk_mut(d, GRAIN, &|_, c| c.fill(v)) } else { d.fill(v) }
            } else {
                src.with_view::<T, _>(|v| {
                    let s = &v.data[v.layout.offset..v.layout.offset + n];
                    let mut guard = dst.write();
                    let d = &mut T::slice_mut(&mut guard)[off..off + n];
                    if n > GRAIN {
                        for_each_chunk_mut(d, GRAIN, &|i, d| copy_values(d, &s[i * GRAIN..i * GRAIN + d.len()]));
                    } else {
                        copy_values(d, s);
                    }
                });
            }
        });
        return Ok(());
    }
    let src = if src.shape() == dst.shape() { src } else { src.expand(dst.shape())? };
    if !std::sync::Arc::ptr_eq(src.storage(), dst.storage()) && distinct_elements(dst.layout()) {
        with_dtype!(dst.dtype(), T => src.with_view::<T, _>(|v| strided_copy(dst, v.data, v.layout)));
        return Ok(());
    }
    // Sharing a storage (a copy between overlapping views): gathered first, then written.
    with_dtype!(dst.dtype(), T => {
        let vals = src.to_vec::<T>();
        let mut guard = dst.write();
        iter::scatter(T::slice_mut(&mut guard), dst.layout(), &vals);
    });
    Ok(())
}

/// Whether every element of `l` has a memory location of its own: each dim's stride, smallest
/// first, clears the extent of the dims inside it.
fn distinct_elements(l: &Layout) -> bool {
    let mut dims: Vec<(usize, usize)> = l.shape.iter().zip(&l.strides).filter(|(&n, _)| n > 1).map(|(&n, &s)| (s, n)).collect();
    dims.sort_unstable();
    let mut extent = 1;
    for (s, n) in dims {
        if s < extent {
            return false;
        }
        extent += s * (n - 1);
    }
    true
}

/// `src` (laid out by `sl`, at dst's shape: broadcast dims have stride 0) written into the
/// strided view `dst`, rows of the coalesced walk in parallel, with no gathered copy between: a
/// slice's backward (a sum's gradient into every other column) took 2x PyTorch's time through
/// one. `dst`'s elements are distinct (checked), so the rows write disjoint locations.
fn strided_copy<T: Element>(dst: &Tensor, src: &[T], sl: &Layout) {
    let dl = dst.layout().clone();
    let walk = iter::Walk::new(&dl.shape, &[(&dl.strides, dl.offset), (&sl.strides, sl.offset)]);
    let (len, di, si, rows) = (walk.row_len, walk.inner[0], walk.inner[1], walk.rows);
    let per = walk.rows_per_task();
    let mut guard = dst.write();
    let base = crate::parallel::DisjointPtr(T::slice_mut(&mut guard).as_mut_ptr());
    let task = |t: usize| {
        let (len, di, si, d) = (len, di, si, base.get());
        let mut w = walk.walker(t * per);
        for _ in t * per..((t + 1) * per).min(rows) {
            let (od, os) = (w.offsets[0], w.offsets[1]);
            let row = &src[os..=os + (len - 1) * si];
            // In each arm: od + i di for i < len are elements of dst (inside its storage, each
            // its own location: `distinct_elements`), written by this row alone; `row` holds the
            // source positions i si (its length checked just above).
            match (di, si) {
                // SAFETY: as above; a row of dst and of src, both contiguous, in two storages.
                (1, 1) => unsafe { copy_raw(row.as_ptr(), d.add(od), len) },
                // SAFETY: as above.
                (_, 0) => (0..len).for_each(|i| unsafe { *d.add(od + i * di) = row[0] }),
                // SAFETY: as above.
                _ => (0..len).for_each(|i| unsafe { *d.add(od + i * di) = *row.get_unchecked(i * si) }),
            }
            w.advance();
        }
    };
    let tasks = if len == 0 { 0 } else { rows.div_ceil(per) };
    if rows * len > GRAIN && tasks > 1 {
        crate::parallel::for_each_part(tasks, &task);
    } else {
        (0..tasks).for_each(task);
    }
}
