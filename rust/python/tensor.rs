//! The Python `Tensor` class: identity, conversion and autograd methods. Math and shape
//! methods live in `tensor_math.rs` and `tensor_shape.rs` (more #[pymethods] blocks).

use pyo3::exceptions::{PyRuntimeError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyTuple, PyType};

use super::convert::{dtype_arg, tensor_to_numpy, PyDType};
use super::error::{guarded, off_gil_guarded};
use super::node::{NodeRef, PyNode};
use crate::autograd::engine;
use crate::ops::cast::to_dtype;
use crate::tensor::{DType, Scalar, Tensor};

#[pyclass(name = "Tensor", module = "ferrograd", frozen, subclass, weakref, skip_from_py_object)]
#[derive(Clone)]
pub struct PyTensor {
    pub t: Tensor,
}

impl From<Tensor> for PyTensor {
    fn from(t: Tensor) -> Self {
        PyTensor { t }
    }
}

/// A `Tensor` argument of a binding: the core tensor inside the Python object, with PyTorch's
/// TypeError when it is something else.
impl<'a, 'py> FromPyObject<'a, 'py> for Tensor {
    type Error = PyErr;
    fn extract(obj: Borrowed<'a, 'py, PyAny>) -> PyResult<Self> {
        match obj.cast::<PyTensor>() {
            Ok(t) => Ok(t.get().t.clone()),
            Err(_) => Err(PyTypeError::new_err(format!("expected Tensor, got {}", obj.get_type().name()?))),
        }
    }
}

/// A core tensor returned from a binding becomes a Python `Tensor`.
impl<'py> IntoPyObject<'py> for Tensor {
    type Target = PyTensor;
    type Output = Bound<'py, PyTensor>;
    type Error = PyErr;
    fn into_pyobject(self, py: Python<'py>) -> PyResult<Self::Output> {
        Bound::new(py, PyTensor { t: self })
    }
}

/// A cached attribute of a Python module of the package (for the few slow paths written in
/// Python, like the repr).
pub fn py_helper<'py>(py: Python<'py>, cell: &'static PyOnceLock<Py<PyAny>>, module: &str, name: &str) -> PyResult<Bound<'py, PyAny>> {
    let f = cell.get_or_try_init(py, || -> PyResult<Py<PyAny>> { Ok(py.import(module)?.getattr(name)?.unbind()) })?;
    Ok(f.bind(py).clone())
}

#[pymethods]
impl PyTensor {
    /// `Tensor(t[, requires_grad])` shares `t`'s storage (used by `nn.Parameter`); `Tensor()` is
    /// an empty float32; any other arguments are PyTorch's legacy constructor (`Tensor([1, 2])`,
    /// `Tensor(2, 3)`), written in Python (`ferrograd._legacy.tensor_new`).
    #[new]
    #[pyo3(signature = (*args, **kwargs))]
    fn new(args: &Bound<'_, PyTuple>, kwargs: Option<&Bound<'_, PyDict>>) -> PyResult<Self> {
        let kw = |name: &str| -> PyResult<Option<Bound<'_, PyAny>>> { kwargs.map(|k| k.get_item(name)).transpose().map(Option::flatten) };
        let data = match args.len() {
            0 => kw("data")?,
            _ => Some(args.get_item(0)?),
        };
        let share = match &data {
            None => kwargs.is_none_or(|k| k.is_empty()),
            Some(d) => (d.is_none() || d.cast::<PyTensor>().is_ok()) && args.len() <= 2,
        };
        if share {
            let requires_grad = match (args.len(), kw("requires_grad")?) {
                (2, _) => args.get_item(1)?.extract::<bool>()?,
                (_, Some(r)) => r.extract::<bool>()?,
                _ => false,
            };
            let t = match data {
                Some(d) if !d.is_none() => d.cast::<PyTensor>()?.get().t.detach(),
                _ => Tensor::zeros(&[0], DType::F32),
            };
            t.set_requires_grad(requires_grad)?;
            return Ok(PyTensor { t });
        }
        static LEGACY: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
        let made = py_helper(args.py(), &LEGACY, "ferrograd._legacy", "tensor_new")?.call(args, kwargs)?;
        Ok(PyTensor { t: made.extract::<Tensor>()? })
    }

    /// numpy defers `ndarray op tensor` to the tensor's reflected operator.
    #[classattr]
    fn __array_priority__() -> f64 {
        1000.0
    }

    /// The shape as a `ferrograd.Size` (a tuple, as torch.Size).
    #[getter]
    fn shape<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        super::size::size_object(py, self.t.shape())
    }

    #[pyo3(signature = (dim=None))]
    fn size<'py>(&self, py: Python<'py>, dim: Option<isize>) -> PyResult<Bound<'py, PyAny>> {
        match dim {
            None => self.shape(py),
            Some(d) => {
                let w = crate::tensor::shape::existing_dim(d, self.t.ndim(), "size")?;
                Ok(self.t.shape()[w].into_pyobject(py)?.into_any())
            }
        }
    }

    #[getter]
    fn ndim(&self) -> usize {
        self.t.ndim()
    }
    fn dim(&self) -> usize {
        self.t.ndim()
    }
    fn numel(&self) -> usize {
        self.t.numel()
    }
    /// `stride()`, or `stride(dim)` (one int, as `size(dim)`).
    #[pyo3(signature = (dim=None))]
    fn stride<'py>(&self, py: Python<'py>, dim: Option<isize>) -> PyResult<Bound<'py, PyAny>> {
        match dim {
            None => Ok(PyTuple::new(py, self.t.strides())?.into_any()),
            Some(d) => {
                let w = crate::tensor::shape::existing_dim(d, self.t.ndim(), "stride")?;
                Ok(self.t.strides()[w].into_pyobject(py)?.into_any())
            }
        }
    }
    fn __len__(&self) -> PyResult<usize> {
        match self.t.shape().first() {
            Some(&n) => Ok(n),
            None => Err(PyTypeError::new_err("len() of a 0-d tensor")),
        }
    }
    #[getter]
    fn dtype(&self, py: Python<'_>) -> PyResult<Py<PyDType>> {
        super::convert::dtype_object(py, self.t.dtype())
    }
    fn is_floating_point(&self) -> bool {
        self.t.dtype().is_float()
    }
    fn element_size(&self) -> usize {
        self.t.dtype().size_of()
    }
    fn is_contiguous(&self) -> bool {
        self.t.is_contiguous()
    }
    fn is_inference(&self) -> bool {
        self.t.is_inference()
    }
    /// The offset of the first element in the storage, in elements.
    fn storage_offset(&self) -> usize {
        self.t.layout().offset
    }
    /// A view with the given sizes and strides (in elements) over this tensor's storage.
    #[pyo3(signature = (size, stride, storage_offset=None))]
    fn as_strided(&self, size: Vec<usize>, stride: Vec<usize>, storage_offset: Option<usize>) -> PyResult<Tensor> {
        guarded(|| self.t.as_strided(&size, &stride, storage_offset))
    }
    fn data_ptr(&self) -> usize {
        // The address of the first element, as PyTorch's: equal to `.numpy()`'s data pointer.
        self.t.storage().data_ptr() as usize + self.t.layout().offset * self.t.dtype().size_of()
    }

    // ---- conversion -------------------------------------------------------------------

    fn tolist<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        super::convert::tensor_to_list(py, &self.t)
    }

    fn item<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        Ok(match self.t.item()? {
            Scalar::Float(v) => v.into_pyobject(py)?.into_any(),
            Scalar::Int(v) => v.into_pyobject(py)?.into_any(),
            Scalar::Bool(v) => pyo3::types::PyBool::new(py, v).to_owned().into_any(),
        })
    }

    fn __float__(&self) -> PyResult<f64> {
        self.one_element()?;
        Ok(self.t.item_f64()?)
    }
    /// Python's own int(): exact for int64, truncation for floats, and Python's ValueError /
    /// OverflowError for NaN and inf (a cast would give i64::MIN silently).
    fn __int__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.one_element()?;
        self.item(py)?.call_method0("__int__")
    }
    fn __index__(&self) -> PyResult<i64> {
        match self.t.item()? {
            Scalar::Int(v) => Ok(v),
            Scalar::Bool(v) => Ok(v as i64),
            Scalar::Float(_) => Err(PyTypeError::new_err("only integer tensors of a single element can be converted to an index")),
        }
    }
    fn __bool__(&self) -> PyResult<bool> {
        if self.t.numel() != 1 {
            return Err(PyRuntimeError::new_err(format!(
                "Boolean value of Tensor with more than one value is ambiguous (shape {:?})",
                self.t.shape()
            )));
        }
        Ok(self.t.item_f64()? != 0.0)
    }
    fn __hash__(slf: &Bound<'_, Self>) -> isize {
        slf.as_ptr() as isize
    }

    fn __repr__(slf: &Bound<'_, Self>) -> PyResult<String> {
        static REPR: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
        py_helper(slf.py(), &REPR, "ferrograd._tensor_str", "tensor_repr")?.call1((slf,))?.extract()
    }

    /// `.to(dtype)`, `.to("cpu")`, `.to(device)`, `.to(other_tensor)`, `.to(device, dtype)`.
    #[pyo3(signature = (*args, dtype=None, device=None, non_blocking=false, copy=false))]
    fn to(&self, args: &Bound<'_, PyTuple>, dtype: Option<&Bound<'_, PyAny>>, device: Option<&Bound<'_, PyAny>>, non_blocking: bool, copy: bool) -> PyResult<PyTensor> {
        let _ = non_blocking;
        let mut target = None;
        if let Some(d) = device {
            check_device(d)?;
        }
        for a in args.iter() {
            if let Ok(other) = a.cast::<PyTensor>() {
                target = Some(other.get().t.dtype());
            } else if let Ok(d) = dtype_arg(&a) {
                target = Some(d);
            } else {
                check_device(&a)?;
            }
        }
        if let Some(d) = dtype {
            target = Some(dtype_arg(d)?);
        }
        let out = match target {
            Some(d) => guarded(|| to_dtype(&self.t, d))?,
            None => self.t.clone(),
        };
        if copy && out.same_tensor(&self.t) {
            return Ok(guarded(|| out.clone_tensor())?.into());
        }
        Ok(out.into())
    }
    fn float(&self) -> PyResult<PyTensor> {
        Ok(guarded(|| to_dtype(&self.t, DType::F32))?.into())
    }
    fn double(&self) -> PyResult<PyTensor> {
        Ok(guarded(|| to_dtype(&self.t, DType::F64))?.into())
    }
    fn long(&self) -> PyResult<PyTensor> {
        Ok(guarded(|| to_dtype(&self.t, DType::I64))?.into())
    }
    fn bool(&self) -> PyResult<PyTensor> {
        Ok(guarded(|| to_dtype(&self.t, DType::Bool))?.into())
    }
    fn type_as(&self, other: PyRef<'_, PyTensor>) -> PyResult<PyTensor> {
        Ok(guarded(|| to_dtype(&self.t, other.t.dtype()))?.into())
    }
    fn cpu(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }
    #[pyo3(signature = (*_args, **_kwargs))]
    fn cuda(&self, _args: &Bound<'_, PyTuple>, _kwargs: Option<&Bound<'_, pyo3::types::PyDict>>) -> PyResult<PyTensor> {
        Err(PyRuntimeError::new_err("ferrograd runs on the CPU only: there is no CUDA device (fg.cuda.is_available() is False)"))
    }
    #[getter]
    fn device<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        static CPU: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
        py_helper(py, &CPU, "ferrograd._device", "CPU")
    }
    #[getter]
    fn is_cuda(&self) -> bool {
        false
    }

    // ---- autograd ---------------------------------------------------------------------

    #[getter]
    fn get_requires_grad(&self) -> bool {
        self.t.requires_grad()
    }
    #[setter]
    fn set_requires_grad(&self, flag: bool) -> PyResult<()> {
        Ok(self.t.set_requires_grad(flag)?)
    }
    #[pyo3(signature = (requires_grad=true))]
    fn requires_grad_(slf: PyRef<'_, Self>, requires_grad: bool) -> PyResult<PyRef<'_, Self>> {
        slf.t.set_requires_grad(requires_grad)?;
        Ok(slf)
    }
    #[getter]
    fn get_grad(&self) -> Option<PyTensor> {
        self.t.grad().map(Into::into)
    }
    #[setter]
    fn set_grad(&self, grad: Option<PyRef<'_, PyTensor>>) -> PyResult<()> {
        Ok(self.t.set_grad(grad.map(|g| g.t.clone()))?)
    }
    #[getter]
    fn grad_fn(&self) -> Option<PyNode> {
        self.t.grad_fn().map(|n| PyNode(NodeRef::Op(n)))
    }
    #[getter]
    fn is_leaf(&self) -> bool {
        self.t.is_leaf()
    }
    fn retain_grad(&self) {
        self.t.retain_grad();
    }
    #[getter]
    fn retains_grad(&self) -> bool {
        self.t.retains_grad()
    }
    fn detach_(slf: PyRef<'_, Self>) -> PyResult<PyRef<'_, Self>> {
        slf.t.detach_in_place()?;
        Ok(slf)
    }
    fn detach(&self) -> PyTensor {
        self.t.detach().into()
    }
    /// `.data`: the same storage without history (PyTorch's legacy escape hatch).
    #[getter]
    fn get_data(&self) -> PyTensor {
        self.t.data().into()
    }
    #[setter]
    fn set_data(&self, value: PyRef<'_, PyTensor>) -> PyResult<()> {
        let _g = crate::autograd::GradModeGuard::new(false);
        if value.t.shape() != self.t.shape() {
            return Err(PyValueError::new_err(format!(
                "data assignment: shape {:?} does not match the tensor's shape {:?}", value.t.shape(), self.t.shape()
            )));
        }
        Ok(crate::ops::view::write_into(&self.t, &value.t)?)
    }

    /// Computes gradients of this tensor w.r.t. the leaves and adds them to their `.grad`.
    #[pyo3(signature = (gradient=None, retain_graph=None, create_graph=false, inputs=None))]
    fn backward(
        &self,
        py: Python<'_>,
        gradient: Option<PyRef<'_, PyTensor>>,
        retain_graph: Option<bool>,
        create_graph: bool,
        inputs: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        // `inputs=` takes a tensor or a sequence of them.
        let inputs: Option<Vec<Tensor>> = match inputs {
            None => None,
            Some(i) => Some(match i.extract::<PyRef<'_, PyTensor>>() {
                Ok(t) => vec![t.t.clone()],
                Err(_) => i.extract::<Vec<PyRef<'_, PyTensor>>>()?.iter().map(|t| t.t.clone()).collect(),
            }),
        };
        let grad = implicit_grad(&self.t, gradient.map(|g| g.t.clone()), 0)?;
        let root = [(self.t.clone(), grad)];
        // PyTorch's default: a graph that was just extended by create_graph is kept.
        let retain = retain_graph.unwrap_or(create_graph);
        match inputs {
            None => off_gil_guarded(py, usize::MAX, || engine::run(&root, retain, create_graph, None).map(|_| ()))?,
            Some(ins) => off_gil_guarded(py, usize::MAX, || engine::backward_into(&root, retain, create_graph, &ins))?,
        }
        Ok(())
    }

    fn __reduce__<'py>(slf: &Bound<'py, Self>) -> PyResult<Reduced<'py>> {
        let py = slf.py();
        let t = &slf.get().t;
        let f = py.import("ferrograd._creation")?.getattr("_rebuild")?;
        Ok((f, (tensor_to_numpy(py, &t.detach())?, t.requires_grad())))
    }

    #[classmethod]
    fn __class_getitem__(cls: &Bound<'_, PyType>, _item: &Bound<'_, PyAny>) -> Py<PyType> {
        cls.clone().unbind()
    }
}

/// What `__reduce__` hands pickle: the rebuild function and its (array, requires_grad).
type Reduced<'py> = (Bound<'py, PyAny>, (Bound<'py, PyAny>, bool));

impl PyTensor {
    /// `int()` / `float()` of a tensor: ValueError unless it has one element (PyTorch's type;
    /// `.item()` keeps RuntimeError, as PyTorch's does).
    fn one_element(&self) -> PyResult<()> {
        if self.t.numel() != 1 {
            return Err(PyValueError::new_err(format!("only one element tensors can be converted to Python scalars (shape {:?})", self.t.shape())));
        }
        Ok(())
    }
}

/// The gradient of a root: the one given, or 1 for a single-element output.
pub fn implicit_grad(out: &Tensor, gradient: Option<Tensor>, i: usize) -> PyResult<Tensor> {
    match gradient {
        Some(g) => Ok(g),
        None if !out.requires_grad() => Err(PyRuntimeError::new_err(format!("element {i} of tensors does not require grad and does not have a grad_fn"))),
        None if out.numel() != 1 => Err(PyRuntimeError::new_err(format!(
            "grad can be implicitly created only for scalar outputs (output {i} has shape {:?})",
            out.shape()
        ))),
        None => Ok(Tensor::ones(out.shape(), out.dtype())),
    }
}

fn check_device(d: &Bound<'_, PyAny>) -> PyResult<()> {
    let s = d.str()?.to_string();
    let kind = s.split(':').next().unwrap_or("");
    if kind == "cpu" {
        Ok(())
    } else {
        Err(PyRuntimeError::new_err(format!("ferrograd runs on the CPU only; device {s:?} is not available")))
    }
}
