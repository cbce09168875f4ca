//! Gather and scatter-add by flat positions: a pair of linear maps, each the other's adjoint,
//! so each is the other's backward. Backward rules that move gradient elements around (advanced
//! indexing, index assignment, max/min along a dim) use them when their own backward must be
//! recorded (`create_graph=True`), which makes those rules differentiable to any order.

use std::sync::Arc;

use crate::autograd::{record, Backward};
use crate::error::Result;
use crate::tensor::{Float, Tensor};

/// `out.flat[k] = g.flat[pos[k]]`, shaped `shape` (g's elements in logical order).
pub fn gather_positions(g: &Tensor, pos: &Arc<Vec<usize>>, shape: &[usize]) -> Result<Tensor> {
    let out = crate::with_float!(g.dtype(), "gather", T => gather::<T>(g, pos, shape));
    let (pos, from) = (pos.clone(), g.shape().to_vec());
    record(out, &[g], || Ok(gather_rule("IndexBackward0", pos, from)))
}

/// The backward rule of a gather by positions from a tensor of shape `from` (a scatter-add
/// back), named as the op the user called (IndexBackward0, AsStridedBackward0 ...).
pub(crate) fn gather_rule(name: &'static str, pos: Arc<Vec<usize>>, from: Vec<usize>) -> Box<dyn Backward> {
    Box::new(GatherPositionsBackward { name, pos, from })
}

/// `zeros(shape)` with `out.flat[pos[k]] += g.flat[k]` (repeated positions accumulate).
pub fn scatter_positions(g: &Tensor, pos: &Arc<Vec<usize>>, shape: &[usize]) -> Result<Tensor> {
    let out = crate::with_float!(g.dtype(), "scatter", T => scatter::<T>(g, pos, shape));
    let (pos, from) = (pos.clone(), g.shape().to_vec());
    record(out, &[g], || Ok(Box::new(ScatterPositionsBackward { pos, from })))
}

fn gather<T: Float>(g: &Tensor, pos: &[usize], shape: &[usize]) -> Tensor {
    let gv = g.to_vec::<T>();
    Tensor::from_vec_unchecked(pos.iter().map(|&p| gv[p]).collect::<Vec<T>>(), shape)
}

fn scatter<T: Float>(g: &Tensor, pos: &[usize], shape: &[usize]) -> Tensor {
    let gv = g.to_vec::<T>();
    let mut out = vec![T::zero(); shape.iter().product()];
    for (&p, &v) in pos.iter().zip(&gv) {
        out[p] += v;
    }
    Tensor::from_vec_unchecked(out, shape)
}

struct GatherPositionsBackward {
    name: &'static str,
    pos: Arc<Vec<usize>>,
    from: Vec<usize>,
}
impl Backward for GatherPositionsBackward {
    fn name(&self) -> &'static str {
        self.name
    }
    fn saves_tensors(&self) -> bool {
        false
    }
    fn apply(&self, g: &Tensor, _needs: &[bool]) -> Result<Vec<Option<Tensor>>> {
        Ok(vec![Some(scatter_positions(g, &self.pos, &self.from)?)])
    }
    fn differentiable(&self) -> bool {
        true
    }
}

struct ScatterPositionsBackward {
    pos: Arc<Vec<usize>>,
    from: Vec<usize>,
}
impl Backward for ScatterPositionsBackward {
    fn name(&self) -> &'static str {
        "IndexPutBackward0"
    }
    fn saves_tensors(&self) -> bool {
        false
    }
    fn apply(&self, g: &Tensor, _needs: &[bool]) -> Result<Vec<Option<Tensor>>> {
        Ok(vec![Some(gather_positions(g, &self.pos, &self.from)?)])
    }
    fn differentiable(&self) -> bool {
        true
    }
}

/// `input.gather(dim, index)`: `out[i][j][k] = input[i][index[i][j][k]][k]` for dim 1, in
/// index's shape, any dtype and any strides, with GatherBackward0 (the gradient added back at
/// the positions read). PyTorch's checks: an int64 or int32 index with as many dims as the
/// input, no larger than it apart from `dim`, every index in bounds. One pass over the index,
/// reading the input where it lies; it was numpy planning the positions and advanced indexing
/// reading them (60 us for 512 x 8 indices, 5.6x PyTorch's time).
pub fn gather_along(x: &Tensor, dim: usize, index: &Tensor) -> Result<Tensor> {
    let (xs, is) = (x.shape(), index.shape());
    let idx = checked_index("gather", x, dim, index)?;
    let layout = x.layout();
    let stored = along_positions(is, Some(dim), &idx, &layout.strides, layout.offset);
    let out = crate::with_dtype!(x.dtype(), T => x.with_view::<T, _>(|v| {
        Tensor::from_vec_unchecked(stored.iter().map(|&at| v.data[at]).collect::<Vec<T>>(), is)
    }));
    let (from, is) = (xs.to_vec(), is.to_vec());
    record(out, &[x], || {
        // The same elements' places in x's logical order, for the scatter back into x's shape.
        let pos = along_positions(&is, Some(dim), &idx, &crate::tensor::shape::contiguous_strides(&from), 0);
        Ok(gather_rule("GatherBackward0", Arc::new(pos), from))
    })
}

/// The index values of a gather or scatter along `dim`, after PyTorch's checks of the index
/// against the input: int64 or int32, as many dims, no larger apart from `dim`, in bounds.
fn checked_index(op: &str, x: &Tensor, dim: usize, index: &Tensor) -> Result<Vec<i64>> {
    let (xs, is) = (x.shape(), index.shape());
    if !matches!(index.dtype(), crate::tensor::DType::I64 | crate::tensor::DType::I32) {
        crate::bail!(Runtime, "{op}(): Expected dtype int32/int64 for index");
    }
    if xs.len() != is.len() || dim >= xs.len() {
        // PyTorch's words: gather's input is "input", scatter's "self".
        let what = if op == "gather" { "input" } else { "self" };
        crate::bail!(Runtime, "Index tensor must have the same number of dimensions as {what} tensor");
    }
    if let Some(d) = (0..is.len()).find(|&d| d != dim && is[d] > xs[d]) {
        crate::bail!(Runtime, "Size does not match at dimension {d} expected index {is:?} to be no larger than self {xs:?} apart from dimension {dim}");
    }
    let size = xs[dim];
    let idx = index.to_vec::<i64>();
    if let Some(&bad) = idx.iter().find(|&&v| v < 0 || v as usize >= size) {
        crate::bail!(Runtime, "index {bad} is out of bounds for dimension {dim} with size {size}");
    }
    Ok(idx)
}

/// `input.scatter_add(dim, index, src)` for float32/float64: src's index-shaped leading block
/// added into a copy of input at the places the index names (repeats accumulate), through
/// `add_at_positions` (ScatterAddBackward0). It was numpy planning the positions and a gather
/// of src's block (2.2x PyTorch's time for 512 x 8 values into 512 x 2048).
pub fn scatter_add_along(x: &Tensor, dim: usize, index: &Tensor, src: &Tensor) -> Result<Tensor> {
    if src.dtype() != x.dtype() {
        crate::bail!(Runtime, "scatter(): Expected self.dtype to be equal to src.dtype");
    }
    let (xs, is, ss) = (x.shape(), index.shape(), src.shape());
    if ss.len() != is.len() {
        crate::bail!(Runtime, "Index tensor must have the same number of dimensions as src tensor");
    }
    // One message for both, as PyTorch's scatter (gather's own names only the input).
    if (0..is.len().min(xs.len())).any(|d| (d != dim && is[d] > xs[d]) || is[d] > ss[d]) {
        crate::bail!(Runtime, "Expected index {is:?} to be no larger than self {xs:?} apart from dimension {dim} and to be no larger size than src {ss:?}");
    }
    let idx = checked_index("scatter", x, dim, index)?;
    let pos = along_positions(is, Some(dim), &idx, &crate::tensor::shape::contiguous_strides(xs), 0);
    let values = if ss == is {
        src.clone()
    } else {
        let block = along_positions(is, None, &idx, &crate::tensor::shape::contiguous_strides(ss), 0);
        gather_positions(src, &Arc::new(block), is)?
    };
    add_at_positions(x, Arc::new(pos), &values)
}

/// For each element of an index of shape `is` (values in bounds along `dim`), the position
/// `offset + sum of coordinate * stride` of the element it names, the index value standing in
/// for the coordinate along `dim` (with no `dim`, the element at the index's own coordinates):
/// a row of the last dim at a time.
fn along_positions(is: &[usize], dim: Option<usize>, idx: &[i64], strides: &[usize], offset: usize) -> Vec<usize> {
    let last = is.len() - 1;
    let inner = is[last];
    let mut out = Vec::with_capacity(idx.len());
    let mut coord = vec![0usize; last];
    for row in idx.chunks(inner.max(1)) {
        // This row's start, without dim's term (the index value gives that).
        let base = offset + coord.iter().enumerate().filter(|&(d, _)| Some(d) != dim).map(|(d, &c)| c * strides[d]).sum::<usize>();
        match dim {
            Some(d) if d == last => out.extend(row.iter().map(|&v| base + v as usize * strides[d])),
            Some(d) => out.extend(row.iter().enumerate().map(|(j, &v)| base + j * strides[last] + v as usize * strides[d])),
            None => out.extend((0..row.len()).map(|j| base + j * strides[last])),
        }
        for d in (0..last).rev() {
            coord[d] += 1;
            if coord[d] < is[d] {
                break;
            }
            coord[d] = 0;
        }
    }
    out
}

/// `input` with `values.flat[k]` added at its flat position `pos[k]` (repeated positions
/// accumulate, in order): scatter_add's kernel, one copy of the input and one pass over the
/// values. It was an add of a zero tensor built by a tree of gathers (13x PyTorch's time for
/// 4096 values into 1M). Gradients: g to the input, g gathered at `pos` to the values.
pub fn add_at_positions(input: &Tensor, pos: Arc<Vec<usize>>, values: &Tensor) -> Result<Tensor> {
    let n = input.numel();
    if pos.len() != values.numel() {
        crate::bail!(Runtime, "scatter_add: {} positions for {} values", pos.len(), values.numel());
    }
    if let Some(&p) = pos.iter().find(|&&p| p >= n) {
        crate::bail!(Index, "scatter_add: position {p} out of range for {n} elements");
    }
    let values = crate::ops::cast::to_dtype(values, input.dtype())?;
    let out = crate::with_float!(input.dtype(), "scatter_add", T => {
        let mut out = input.to_vec::<T>();
        values.with_view::<T, _>(|v| pos.iter().zip(v.contiguous().iter()).for_each(|(&p, &x)| out[p] += x));
        Tensor::from_vec_unchecked(out, input.shape())
    });
    let shape = values.shape().to_vec();
    record(out, &[input, &values], || Ok(Box::new(AddAtPositionsBackward { pos, values: shape })))
}

struct AddAtPositionsBackward {
    pos: Arc<Vec<usize>>,
    values: Vec<usize>,
}
impl Backward for AddAtPositionsBackward {
    fn name(&self) -> &'static str {
        "ScatterAddBackward0"
    }
    fn saves_tensors(&self) -> bool {
        false
    }
    fn apply(&self, g: &Tensor, needs: &[bool]) -> Result<Vec<Option<Tensor>>> {
        let to_values = if needs.get(1) == Some(&true) { Some(gather_positions(g, &self.pos, &self.values)?) } else { None };
        Ok(vec![Some(g.clone()), to_values])
    }
    fn differentiable(&self) -> bool {
        true
    }
}
