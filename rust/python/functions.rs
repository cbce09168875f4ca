//! Module-level functions of `ferrograd._core`: factories, joins, RNG and grad-mode switches.
//! The Python package wraps the factories to give them PyTorch's flexible signatures.

use pyo3::exceptions::{PyIndexError, PyRuntimeError, PyTypeError};
use pyo3::prelude::*;
use pyo3::types::PyBytes;

use super::convert::{dtype_object, number_arg, scalar_arg, tensor_from_numpy, PyDType};
use super::error::{off_gil_guarded};
use super::tensor::{implicit_grad, PyTensor};
use crate::autograd::{self, engine};
use crate::ops::{binary, creation, join};
use crate::tensor::shape::contiguous_strides;
use crate::tensor::Tensor;

fn to_core(list: Vec<PyRef<'_, PyTensor>>) -> Vec<Tensor> {
    list.iter().map(|t| t.t.clone()).collect()
}

#[pyfunction]
pub fn from_numpy(arr: &Bound<'_, PyAny>) -> PyResult<PyTensor> {
    Ok(tensor_from_numpy(arr)?.into())
}
#[pyfunction]
pub fn full(py: Python<'_>, shape: Vec<usize>, value: &Bound<'_, PyAny>, dtype: PyDType) -> PyResult<PyTensor> {
    let value = number_arg(value)?;
    Ok(off_gil_guarded(py, shape.iter().product(), || Tensor::try_full(&shape, value, dtype.0))?.into())
}
/// `torch.promote_types(a, b)`: the dtype both convert to (PyTorch's table, `DType::promote`).
#[pyfunction]
pub fn _promote_types(py: Python<'_>, a: PyDType, b: PyDType) -> PyResult<Py<PyDType>> {
    dtype_object(py, a.0.promote(b.0))
}
/// `torch.can_cast(from_, to)`: whether an op may write a `from_` result into a `to` tensor.
#[pyfunction]
pub fn _can_cast(from_: PyDType, to: PyDType) -> bool {
    from_.0.can_cast_to(to.0)
}
/// `torch.result_type(a, b)`: the dtype of `a op b`, tensors or Python numbers, by the rules
/// every binary op uses (a number or a 0-d tensor does not widen within its category).
#[pyfunction]
pub fn _result_type(py: Python<'_>, a: &Bound<'_, PyAny>, b: &Bound<'_, PyAny>) -> PyResult<Py<PyDType>> {
    let as_operand = |x: &Bound<'_, PyAny>| -> PyResult<Tensor> {
        if let Ok(t) = x.cast::<PyTensor>() {
            return Ok(t.get().t.clone());
        }
        match scalar_arg(x) {
            Some(s) => Ok(Tensor::wrapped_scalar(s)),
            None => Err(PyTypeError::new_err(format!("result_type(): expected a Tensor or a number, got {}", x.get_type().name()?))),
        }
    };
    dtype_object(py, binary::result_type(&as_operand(a)?, &as_operand(b)?))
}
/// The tensor's version counter (`x._version`): in-place writes bump it.
#[pyfunction]
pub fn _version_of(t: PyRef<'_, PyTensor>) -> u64 {
    t.t.version()
}
/// `shape::preserved_strides` for Python (`_memory_format.like_strides`): the layout PyTorch's
/// `preserve_format` gives a copy of a tensor with these sizes and strides.
#[pyfunction]
pub fn _preserved_strides(shape: Vec<usize>, strides: Vec<usize>) -> PyResult<Vec<usize>> {
    if shape.len() != strides.len() {
        return Err(PyTypeError::new_err(format!("_preserved_strides: {} strides for shape {shape:?}", strides.len())));
    }
    Ok(crate::tensor::shape::preserved_strides(&shape, &strides))
}
/// `full_like`'s core: the input's shape read here rather than through a Python `Size`.
/// `preserve`: laid out as PyTorch's `preserve_format` lays out a tensor made like the input
/// (`shape::preserved_strides`); a constant reads the same in any order, so the fill is all.
#[pyfunction]
#[pyo3(signature = (input, value, dtype, preserve=false))]
pub fn _full_like(py: Python<'_>, input: PyRef<'_, PyTensor>, value: &Bound<'_, PyAny>, dtype: Option<PyDType>, preserve: bool) -> PyResult<PyTensor> {
    let value = number_arg(value)?;
    let (shape, dtype) = (input.t.shape().to_vec(), dtype.map_or(input.t.dtype(), |d| d.0));
    let strides = if preserve { crate::tensor::shape::preserved_strides(&shape, input.t.strides()) } else { contiguous_strides(&shape) };
    if strides == contiguous_strides(&shape) {
        return Ok(off_gil_guarded(py, input.t.numel(), || Tensor::try_full(&shape, value, dtype))?.into());
    }
    let extent = if shape.contains(&0) { 0 } else { 1 + shape.iter().zip(&strides).map(|(&n, &s)| (n - 1) * s).sum::<usize>() };
    Ok(off_gil_guarded(py, extent, || {
        let flat = Tensor::try_full(&[extent], value, dtype)?;
        Tensor::from_storage(flat.0.storage.clone(), crate::tensor::Layout { shape, strides, offset: 0 })
    })?
    .into())
}
#[pyfunction]
pub fn arange(py: Python<'_>, start: &Bound<'_, PyAny>, end: &Bound<'_, PyAny>, step: &Bound<'_, PyAny>, dtype: PyDType) -> PyResult<PyTensor> {
    let (start, end, step) = (number_arg(start)?, number_arg(end)?, number_arg(step)?);
    Ok(off_gil_guarded(py, 0, || creation::arange(start, end, step, dtype.0))?.into())
}
#[pyfunction]
pub fn linspace(py: Python<'_>, start: f64, end: f64, steps: usize, dtype: PyDType) -> PyResult<PyTensor> {
    Ok(off_gil_guarded(py, steps, || creation::linspace(start, end, steps, dtype.0))?.into())
}
#[pyfunction]
#[pyo3(signature = (n, m, dtype))]
pub fn eye(py: Python<'_>, n: usize, m: Option<usize>, dtype: PyDType) -> PyResult<PyTensor> {
    Ok(off_gil_guarded(py, 0, || creation::eye(n, m, dtype.0))?.into())
}
#[pyfunction]
pub fn rand(py: Python<'_>, shape: Vec<usize>, dtype: PyDType) -> PyResult<PyTensor> {
    Ok(off_gil_guarded(py, usize::MAX, || creation::rand(&shape, dtype.0))?.into())
}
#[pyfunction]
pub fn randn(py: Python<'_>, shape: Vec<usize>, dtype: PyDType) -> PyResult<PyTensor> {
    Ok(off_gil_guarded(py, usize::MAX, || creation::randn(&shape, dtype.0))?.into())
}
#[pyfunction]
pub fn randint(py: Python<'_>, low: i64, high: i64, shape: Vec<usize>, dtype: PyDType) -> PyResult<PyTensor> {
    Ok(off_gil_guarded(py, 0, || creation::randint(low, high, &shape, dtype.0))?.into())
}
#[pyfunction]
pub fn randperm(py: Python<'_>, n: usize) -> PyResult<PyTensor> {
    Ok(off_gil_guarded(py, n, || creation::randperm(n))?.into())
}
/// The number of threads ops run on (rayon's pool, sized once at start-up).
#[pyfunction]
pub fn get_num_threads() -> usize {
    rayon::current_num_threads()
}
#[pyfunction]
pub fn manual_seed(seed: u64) {
    crate::random::manual_seed(seed);
}
#[pyfunction]
pub fn get_rng_state(py: Python<'_>) -> Bound<'_, PyBytes> {
    PyBytes::new(py, &crate::random::get_state())
}
#[pyfunction]
pub fn set_rng_state(state: &[u8]) -> PyResult<()> {
    Ok(crate::random::set_state(state)?)
}

#[pyfunction]
#[pyo3(signature = (tensors, dim=0))]
pub fn cat(py: Python<'_>, tensors: Vec<PyRef<'_, PyTensor>>, dim: isize) -> PyResult<PyTensor> {
    let ts = to_core(tensors);
    Ok(off_gil_guarded(py, usize::MAX, || join::cat(&ts, dim))?.into())
}
#[pyfunction]
#[pyo3(signature = (tensors, dim=0))]
pub fn stack(py: Python<'_>, tensors: Vec<PyRef<'_, PyTensor>>, dim: isize) -> PyResult<PyTensor> {
    let ts = to_core(tensors);
    Ok(off_gil_guarded(py, usize::MAX, || join::stack(&ts, dim))?.into())
}
#[pyfunction]
#[pyo3(name = "where")]
pub fn where_(py: Python<'_>, condition: PyRef<'_, PyTensor>, x: PyRef<'_, PyTensor>, y: PyRef<'_, PyTensor>) -> PyResult<PyTensor> {
    let (c, x, y) = (condition.t.clone(), x.t.clone(), y.t.clone());
    let n = c.numel().max(x.numel()).max(y.numel());
    Ok(off_gil_guarded(py, n, || binary::where_(&c, &x, &y))?.into())
}

/// The 2-norm over `dims` (empty = all) in one op, for `norm` and `linalg.vector_norm`'s p = 2
/// (`_methods/reductions.py`).
#[pyfunction]
#[pyo3(signature = (input, dims, keepdim=false))]
pub fn _l2_norm(py: Python<'_>, input: PyRef<'_, PyTensor>, dims: Vec<isize>, keepdim: bool) -> PyResult<PyTensor> {
    let x = input.t.clone();
    Ok(off_gil_guarded(py, x.numel(), || crate::ops::vector_norm::l2_norm(&x, &dims, keepdim))?.into())
}

/// `torch.flip` and `torch.roll` with dims wrapped and checked in Python (`_methods/shape.py`).
#[pyfunction]
pub fn _flip(py: Python<'_>, input: PyRef<'_, PyTensor>, dims: Vec<usize>) -> PyResult<PyTensor> {
    let x = input.t.clone();
    Ok(off_gil_guarded(py, x.numel(), || crate::ops::reorder::flip(&x, &dims))?.into())
}
#[pyfunction]
pub fn _roll(py: Python<'_>, input: PyRef<'_, PyTensor>, shifts: Vec<i64>, dims: Vec<usize>) -> PyResult<PyTensor> {
    let x = input.t.clone();
    Ok(off_gil_guarded(py, x.numel(), || crate::ops::reorder::roll(&x, &shifts, &dims))?.into())
}
/// `torch.tril` (`lower`) and `torch.triu` with `diagonal` checked as an int in Python.
#[pyfunction]
pub fn _tri(py: Python<'_>, input: PyRef<'_, PyTensor>, diagonal: i64, lower: bool) -> PyResult<PyTensor> {
    let x = input.t.clone();
    Ok(off_gil_guarded(py, x.numel(), || crate::ops::triangle::tri(&x, diagonal, lower))?.into())
}

/// sort/argsort/topk along `dim` (already wrapped): (values, int64 indices).
#[pyfunction]
#[pyo3(signature = (input, dim, descending, k=None, topk=false))]
pub fn _sort(py: Python<'_>, input: PyRef<'_, PyTensor>, dim: usize, descending: bool, k: Option<usize>, topk: bool) -> PyResult<(PyTensor, PyTensor)> {
    let x = input.t.clone();
    let name = if topk { "TopkBackward0" } else { "SortBackward0" };
    let (v, i) = off_gil_guarded(py, x.numel(), || crate::ops::sort::sort(&x, dim, descending, k, name))?;
    Ok((v.into(), i.into()))
}

/// scatter_add's kernel: `input` with `values` added at flat `positions` (int64, checked by
/// the Python layer; repeated ones accumulate).
#[pyfunction]
pub fn _add_at(py: Python<'_>, input: PyRef<'_, PyTensor>, positions: PyRef<'_, PyTensor>, values: PyRef<'_, PyTensor>) -> PyResult<PyTensor> {
    let (x, v) = (input.t.clone(), values.t.clone());
    let pos = positions.t.to_vec::<i64>().into_iter().map(usize::try_from).collect::<Result<Vec<usize>, _>>();
    let pos = pos.map_err(|_| PyIndexError::new_err("_add_at: a negative position"))?;
    Ok(off_gil_guarded(py, x.numel(), || crate::ops::positions::add_at_positions(&x, std::sync::Arc::new(pos), &v))?.into())
}

/// `input.index_add(dim, index, source)` on float32 and float64 (`ops/index_add.rs`); `dim` wrapped
/// and `index` checked, wrapped and int64, by the Python layer.
#[pyfunction]
pub fn _index_add(py: Python<'_>, input: PyRef<'_, PyTensor>, dim: usize, index: PyRef<'_, PyTensor>, source: PyRef<'_, PyTensor>) -> PyResult<PyTensor> {
    let (x, i, s) = (input.t.clone(), index.t.clone(), source.t.clone());
    Ok(off_gil_guarded(py, x.numel() + s.numel(), || crate::ops::index_add::index_add(&x, dim, &i, &s))?.into())
}

/// `cdist(x1, x2, p=2)` on float32 and float64 (`ops/cdist.rs`): x1 (..., P, M) and x2 (..., R, M),
/// the batch dims broadcast by the Python layer.
#[pyfunction]
pub fn _cdist(py: Python<'_>, x1: PyRef<'_, PyTensor>, x2: PyRef<'_, PyTensor>) -> PyResult<PyTensor> {
    let (a, b) = (x1.t.clone(), x2.t.clone());
    Ok(off_gil_guarded(py, a.numel() + b.numel(), || crate::ops::cdist::cdist_euclid(&a, &b))?.into())
}

/// `input.gather(dim, index)` for an int64 or int32 index with input's number of dims (`dim` already
/// wrapped by the Python layer, which handles 0-d and empty cases).
#[pyfunction]
pub fn _gather(py: Python<'_>, input: PyRef<'_, PyTensor>, dim: usize, index: PyRef<'_, PyTensor>) -> PyResult<PyTensor> {
    let (x, i) = (input.t.clone(), index.t.clone());
    Ok(off_gil_guarded(py, i.numel(), || crate::ops::positions::gather_along(&x, dim, &i))?.into())
}

/// `input.scatter_add(dim, index, src)` for float32/float64 with an int64 or int32 index and
/// src of input's number of dims (`dim` already wrapped by the Python layer).
#[pyfunction]
pub fn _scatter_add(py: Python<'_>, input: PyRef<'_, PyTensor>, dim: usize, index: PyRef<'_, PyTensor>, src: PyRef<'_, PyTensor>) -> PyResult<PyTensor> {
    let (x, i, s) = (input.t.clone(), index.t.clone(), src.t.clone());
    Ok(off_gil_guarded(py, x.numel(), || crate::ops::positions::scatter_add_along(&x, dim, &i, &s))?.into())
}

/// Constant padding by non-negative `(before, after)` amounts, the last dim first (F.pad's
/// order; the Python layer takes negative amounts as crops first).
#[pyfunction]
pub fn _pad(py: Python<'_>, input: PyRef<'_, PyTensor>, pads: Vec<(usize, usize)>, value: f64) -> PyResult<PyTensor> {
    let x = input.t.clone();
    Ok(off_gil_guarded(py, x.numel(), || crate::ops::pad::constant_pad(&x, &pads, value))?.into())
}

/// Reflect or replicate padding of the last `tables.len()` dims (`ops/pad_edges.rs`): output
/// position j of padded dim k shows input position `tables[k][j]` (the Python layer builds them).
#[pyfunction]
pub fn _pad_edges(py: Python<'_>, input: PyRef<'_, PyTensor>, tables: Vec<Vec<usize>>, mode: String) -> PyResult<PyTensor> {
    let x = input.t.clone();
    Ok(off_gil_guarded(py, x.numel(), || crate::ops::pad_edges::edge_pad(&x, tables, &mode))?.into())
}

/// EmbeddingBag's "sum" and "mean" (`ops/embedding_bag.rs`): entry k looks up weight row
/// `index[k]`, bag b holds entries `bounds[b]..bounds[b + 1]` (both int64, checked there), each
/// entry scaled by `per_sample_weights[k]` when given.
#[pyfunction]
#[pyo3(signature = (weight, index, bounds, mean, per_sample_weights=None))]
pub fn _embedding_bag(py: Python<'_>, weight: PyRef<'_, PyTensor>, index: PyRef<'_, PyTensor>, bounds: PyRef<'_, PyTensor>, mean: bool, per_sample_weights: Option<PyRef<'_, PyTensor>>) -> PyResult<PyTensor> {
    let positions = |t: &Tensor, what: &str| -> PyResult<Vec<usize>> {
        if t.dtype() != crate::tensor::DType::I64 || t.ndim() != 1 {
            return Err(PyTypeError::new_err(format!("_embedding_bag: {what} must be a 1-D int64 tensor, got {} of shape {:?}", t.dtype().name(), t.shape())));
        }
        t.to_vec::<i64>().into_iter().map(|v| usize::try_from(v).map_err(|_| PyIndexError::new_err(format!("_embedding_bag: negative {what} value {v}")))).collect()
    };
    let bags = crate::ops::embedding_bag::Bags { index: positions(&index.t, "index")?, bounds: positions(&bounds.t, "bounds")?, mean };
    let (w, s) = (weight.t.clone(), per_sample_weights.map(|s| s.t.clone()));
    Ok(off_gil_guarded(py, bags.index.len() * w.shape().last().copied().unwrap_or(1), || crate::ops::embedding_bag::embedding_bag(&w, bags, s.as_ref()))?.into())
}

/// F.grid_sample's bilinear kernel for 4-D float32/float64 input (`nn/grid_sample.rs`), no
/// autograd: None when the grid holds a coordinate that is not finite.
#[pyfunction]
pub fn _grid_sample_bilinear(py: Python<'_>, input: PyRef<'_, PyTensor>, grid: PyRef<'_, PyTensor>, padding_mode: &str, align_corners: bool) -> PyResult<Option<PyTensor>> {
    use crate::nn::grid_sample::{forward, Padding};
    let (x, g, padding) = (input.t.detach(), grid.t.detach(), Padding::from_name(padding_mode)?);
    let out_hw = [g.shape().get(1).copied().unwrap_or(0), g.shape().get(2).copied().unwrap_or(0)];
    Ok(off_gil_guarded(py, x.numel() + g.numel(), || forward(&x, &g, padding, align_corners, out_hw))?.map(Into::into))
}

/// The gradients of `_grid_sample_bilinear` for (input, grid), each when asked for; None when the
/// grid holds a coordinate that is not finite.
#[pyfunction]
#[allow(clippy::too_many_arguments)]
pub fn _grid_sample_bilinear_backward(py: Python<'_>, grad: PyRef<'_, PyTensor>, input: PyRef<'_, PyTensor>, grid: PyRef<'_, PyTensor>, padding_mode: &str, align_corners: bool, need_input: bool, need_grid: bool) -> PyResult<Option<(Option<PyTensor>, Option<PyTensor>)>> {
    use crate::nn::grid_sample::{backward, Padding};
    let (g, x, gr, padding) = (grad.t.detach(), input.t.detach(), grid.t.detach(), Padding::from_name(padding_mode)?);
    let res = off_gil_guarded(py, x.numel() + g.numel(), || backward(&g, &x, &gr, padding, align_corners, [need_input, need_grid]))?;
    Ok(res.map(|(a, b)| (a.map(Into::into), b.map(Into::into))))
}

/// `nonzero()` of a bool tensor: the (n, ndim) int64 coordinates of its true elements.
#[pyfunction]
pub fn _nonzero(py: Python<'_>, mask: PyRef<'_, PyTensor>) -> PyResult<PyTensor> {
    let m = mask.t.clone();
    if m.dtype() != crate::tensor::DType::Bool {
        return Err(pyo3::exceptions::PyTypeError::new_err(format!("_nonzero: expected a bool tensor, got {}", m.dtype().name())));
    }
    Ok(off_gil_guarded(py, m.numel(), || Ok(crate::ops::nonzero::nonzero_rows(&m)))?.into())
}

#[pyfunction]
pub fn is_grad_enabled() -> bool {
    autograd::is_grad_enabled()
}
#[pyfunction]
pub fn _set_grad_enabled(mode: bool) {
    autograd::set_grad_enabled(mode);
}
#[pyfunction]
pub fn is_anomaly_enabled() -> bool {
    autograd::is_anomaly_enabled()
}
#[pyfunction]
pub fn _set_anomaly_enabled(mode: bool) {
    autograd::set_anomaly_enabled(mode);
}
#[pyfunction]
pub fn is_inference_mode_enabled() -> bool {
    autograd::is_inference_mode_enabled()
}
#[pyfunction]
pub fn _set_inference_mode(mode: bool) {
    autograd::set_inference_mode(mode);
}

fn roots(outputs: &[Tensor], grads: Vec<Option<PyRef<'_, PyTensor>>>) -> PyResult<Vec<(Tensor, Tensor)>> {
    if grads.len() != outputs.len() {
        return Err(PyRuntimeError::new_err(format!("grad_outputs has {} tensors but outputs has {}", grads.len(), outputs.len())));
    }
    outputs
        .iter()
        .zip(grads)
        .enumerate()
        .map(|(i, (o, g))| Ok((o.clone(), implicit_grad(o, g.map(|g| g.t.clone()), i)?)))
        .collect()
}

/// `autograd.backward(tensors, grad_tensors, retain_graph, create_graph, inputs)`.
#[pyfunction]
#[pyo3(signature = (outputs, grads, retain_graph, create_graph=false, inputs=None))]
pub fn _backward(
    py: Python<'_>,
    outputs: Vec<PyRef<'_, PyTensor>>,
    grads: Vec<Option<PyRef<'_, PyTensor>>>,
    retain_graph: bool,
    create_graph: bool,
    inputs: Option<Vec<PyRef<'_, PyTensor>>>,
) -> PyResult<()> {
    let r = roots(&to_core(outputs), grads)?;
    match inputs.map(to_core) {
        None => off_gil_guarded(py, usize::MAX, || engine::run(&r, retain_graph, create_graph, None))?,
        Some(ins) => off_gil_guarded(py, usize::MAX, || engine::backward_into(&r, retain_graph, create_graph, &ins).map(|_| Vec::new()))?,
    };
    Ok(())
}

/// `autograd.grad`: gradients of `outputs` w.r.t. `inputs`, returned instead of accumulated.
#[pyfunction]
#[pyo3(signature = (outputs, grads, inputs, retain_graph, create_graph=false))]
pub fn _grad(
    py: Python<'_>,
    outputs: Vec<PyRef<'_, PyTensor>>,
    grads: Vec<Option<PyRef<'_, PyTensor>>>,
    inputs: Vec<PyRef<'_, PyTensor>>,
    retain_graph: bool,
    create_graph: bool,
) -> PyResult<Vec<Option<PyTensor>>> {
    let r = roots(&to_core(outputs), grads)?;
    let ins = to_core(inputs);
    for (i, t) in ins.iter().enumerate() {
        if !t.requires_grad() {
            return Err(PyRuntimeError::new_err(format!("One of the differentiated Tensors (input {i}) does not require grad")));
        }
    }
    let found = off_gil_guarded(py, usize::MAX, || engine::run(&r, retain_graph, create_graph, Some(&ins)))?;
    Ok(found.into_iter().map(|g| g.map(Into::into)).collect())
}

/// Bytes held by live tensors (parameters, activations, saved tensors of the graph).
#[pyfunction]
pub fn memory_allocated() -> usize {
    crate::tensor::memory_allocated()
}
#[pyfunction]
pub fn max_memory_allocated() -> usize {
    crate::tensor::max_memory_allocated()
}
#[pyfunction]
pub fn reset_peak_memory_stats() {
    crate::tensor::reset_peak_memory();
}
