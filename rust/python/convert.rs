//! Conversions between Python objects and core values: dtypes, scalars, shapes, numpy arrays.

use numpy::{PyArrayDyn, PyArrayMethods, PyUntypedArrayMethods};
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBool, PyFloat, PyInt, PyTuple};

use crate::tensor::{DType, Element, Scalar, Tensor};

/// `fg.float32`, `fg.int64` ...: one object per dtype (see `dtype_object`), compared by value.
#[pyclass(name = "dtype", module = "ferrograd", frozen, eq, hash, from_py_object)]
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct PyDType(pub DType);

/// The one Python object of dtype `d`, which `fg.float32`, `x.dtype` and every other dtype
/// handed to Python are. PyTorch's dtypes are singletons and ported code tests them with `is`
/// (`if x.dtype is torch.float16`): with a fresh object per `x.dtype` that was False, silently.
pub fn dtype_object(py: Python<'_>, d: DType) -> PyResult<Py<PyDType>> {
    static OBJECTS: PyOnceLock<Vec<Py<PyDType>>> = PyOnceLock::new();
    let all = OBJECTS.get_or_try_init(py, || DType::ALL.iter().map(|&d| Py::new(py, PyDType(d))).collect::<PyResult<Vec<_>>>())?;
    match DType::ALL.iter().position(|&x| x == d) {
        Some(i) => Ok(all[i].clone_ref(py)),
        None => Err(pyo3::exceptions::PyRuntimeError::new_err(format!("internal error in ferrograd: dtype {} is missing from DType::ALL", d.short_name()))),
    }
}

#[pymethods]
impl PyDType {
    fn __repr__(&self) -> String {
        format!("ferrograd.{}", self.0.short_name())
    }
    #[getter]
    fn is_floating_point(&self) -> bool {
        self.0.is_float()
    }
    #[getter]
    fn is_signed(&self) -> bool {
        self.0.is_signed()
    }
    #[getter]
    fn itemsize(&self) -> usize {
        self.0.size_of()
    }
    /// The matching numpy dtype name ("bfloat16", which numpy lacks, for bfloat16).
    #[getter]
    fn numpy_name(&self) -> &'static str {
        self.0.short_name()
    }
    /// PyTorch's scalar-type name, as its error messages print it ("Float", "Long").
    #[getter]
    fn _torch_name(&self) -> &'static str {
        self.0.torch_name()
    }
    /// The dtype `obj` names (see `dtype_arg`): the one parser the Python side uses too.
    #[staticmethod]
    fn _parse(obj: &Bound<'_, PyAny>) -> PyResult<Py<PyDType>> {
        dtype_object(obj.py(), dtype_arg(obj)?)
    }
    /// Pickled and copied as the module attribute it is (a name: `ferrograd.float32`), so the
    /// copy is the same object, as PyTorch's dtypes are.
    fn __reduce__(&self) -> &'static str {
        self.0.short_name()
    }
}

/// The casts named after PyTorch's legacy types: `.byte()`, `.char()`, `.short()`, `.int()`,
/// `.half()`, `.bfloat16()` (the older `.float()` ... sit with the Tensor class).
#[pymethods]
impl super::tensor::PyTensor {
    fn byte(&self) -> PyResult<super::tensor::PyTensor> {
        self.cast_to(DType::U8)
    }
    fn char(&self) -> PyResult<super::tensor::PyTensor> {
        self.cast_to(DType::I8)
    }
    fn short(&self) -> PyResult<super::tensor::PyTensor> {
        self.cast_to(DType::I16)
    }
    fn int(&self) -> PyResult<super::tensor::PyTensor> {
        self.cast_to(DType::I32)
    }
    fn half(&self) -> PyResult<super::tensor::PyTensor> {
        self.cast_to(DType::F16)
    }
    fn bfloat16(&self) -> PyResult<super::tensor::PyTensor> {
        self.cast_to(DType::BF16)
    }
}

impl super::tensor::PyTensor {
    fn cast_to(&self, dtype: DType) -> PyResult<super::tensor::PyTensor> {
        Ok(super::error::guarded(|| crate::ops::cast::to_dtype(&self.t, dtype))?.into())
    }
}

/// Accepts fg dtypes, Python's float/int/bool types, numpy dtypes and their names.
pub fn dtype_arg(obj: &Bound<'_, PyAny>) -> PyResult<DType> {
    if let Ok(d) = obj.cast::<PyDType>() {
        return Ok(d.get().0);
    }
    let py = obj.py();
    // Python's float is a double: `dtype=float` is float64, as in PyTorch.
    if obj.is(py.get_type::<PyFloat>()) {
        return Ok(DType::F64);
    }
    if obj.is(py.get_type::<PyBool>()) {
        return Ok(DType::Bool);
    }
    if obj.is(py.get_type::<PyInt>()) {
        return Ok(DType::I64);
    }
    // A string, a numpy dtype (its .name) or a numpy scalar type such as np.uint8 (its __name__).
    let name: String = match obj.extract::<String>() {
        Ok(s) => s,
        Err(_) => obj
            .getattr("name")
            .or_else(|_| obj.getattr("__name__"))
            .and_then(|n| n.extract())
            .map_err(|_| PyTypeError::new_err(format!("expected a dtype (e.g. ferrograd.float32), got {obj}")))?,
    };
    // PyTorch's names and aliases (torch.int is int32, torch.half float16) and numpy's.
    Ok(match name.trim_start_matches("torch.").trim_start_matches("ferrograd.") {
        "float32" | "float" => DType::F32,
        "float64" | "double" => DType::F64,
        "float16" | "half" => DType::F16,
        "bfloat16" => DType::BF16,
        "int64" | "long" => DType::I64,
        "int32" | "int" => DType::I32,
        "int16" | "short" => DType::I16,
        "int8" => DType::I8,
        "uint8" => DType::U8,
        "bool" => DType::Bool,
        other => {
            let names: Vec<&str> = DType::ALL.iter().map(|d| d.short_name()).collect();
            return Err(PyTypeError::new_err(format!("unsupported dtype {other:?}: ferrograd has {}", names.join(", "))));
        }
    })
}

/// A Python number as a core scalar (bool is checked first: it is an int subclass).
pub fn scalar_arg(obj: &Bound<'_, PyAny>) -> Option<Scalar> {
    if obj.is_instance_of::<PyBool>() {
        return obj.extract::<bool>().ok().map(Scalar::Bool);
    }
    if obj.is_instance_of::<PyInt>() {
        return obj.extract::<i64>().ok().map(Scalar::Int);
    }
    if obj.is_instance_of::<PyFloat>() {
        return obj.extract::<f64>().ok().map(Scalar::Float);
    }
    None
}

/// A number argument (`full` and `fill_` values, `arange` bounds): a Python number as it is;
/// otherwise an integer through `__index__` (numpy ints, 0-d integer tensors), so exactly, and
/// anything else through `__float__`.
pub fn number_arg(obj: &Bound<'_, PyAny>) -> PyResult<Scalar> {
    if let Some(s) = scalar_arg(obj) {
        return Ok(s);
    }
    if obj.is_instance_of::<PyInt>() {
        // Beyond int64: PyTorch takes an unsigned 64-bit value (as a double here, which only a
        // float dtype holds) and refuses anything wider, with its messages.
        return match obj.extract::<u64>() {
            Ok(u) => Ok(Scalar::Float(u as f64)),
            Err(_) if obj.lt(0)? => Err(pyo3::exceptions::PyOverflowError::new_err("can't convert negative int to unsigned")),
            Err(_) => Err(pyo3::exceptions::PyOverflowError::new_err("int too big to convert")),
        };
    }
    if let Ok(i) = obj.extract::<i64>() {
        return Ok(Scalar::Int(i));
    }
    Ok(Scalar::Float(obj.extract::<f64>()?))
}

/// A scalar as an operand: a wrapped-number 0-d tensor, which the core promotes as PyTorch
/// promotes Python numbers (`_like`, the other operand's dtype, no longer decides it).
pub fn scalar_tensor(s: Scalar, _like: DType) -> Tensor {
    Tensor::wrapped_scalar(s)
}

/// Shapes given as `f(2, 3)`, `f((2, 3))` or `f([2, 3])`.
pub fn shape_args(args: &Bound<'_, PyTuple>) -> PyResult<Vec<isize>> {
    if args.len() == 1 {
        let first = args.get_item(0)?;
        if let Ok(v) = first.extract::<Vec<isize>>() {
            return Ok(v);
        }
    }
    args.extract::<Vec<isize>>().map_err(|_| PyTypeError::new_err("expected a shape: ints, or one tuple/list of ints"))
}

fn from_array<T: Element + numpy::Element>(arr: &Bound<'_, PyArrayDyn<T>>) -> PyResult<Tensor> {
    let a = arr.readonly();
    let shape = a.shape().to_vec();
    // as_slice also accepts a Fortran-ordered array (`a.T` of a C array) and hands back its
    // memory in that order; only a C-ordered buffer can be taken as is.
    let data = match a.as_slice() {
        Ok(s) if a.is_c_contiguous() => s.to_vec(),
        _ => a.as_array().iter().copied().collect(),
    };
    Ok(Tensor::from_vec(data, &shape)?)
}

/// A numpy array of one of ferrograd's dtypes, kept as it is (a uint8 image stays uint8); the
/// Python side normalises the others.
pub fn tensor_from_numpy(arr: &Bound<'_, PyAny>) -> PyResult<Tensor> {
    // Each cast compares dtypes in C; `arr.dtype.name`, a Python property, had made
    // `fg.tensor([1.0, 2.0])` twice PyTorch's time.
    macro_rules! first_of {
        ($($t:ty),*) => {
            $(if let Ok(a) = arr.cast::<PyArrayDyn<$t>>() {
                return from_array(a);
            })*
        };
    }
    first_of!(f32, f64, i64, bool, u8, i32, half::f16, i16, i8);
    let kind: String = arr.getattr("dtype")?.getattr("name")?.extract()?;
    Err(PyTypeError::new_err(format!("from_numpy: unsupported numpy dtype {kind}")))
}

/// `tolist()`: Python numbers, through numpy (bfloat16 through float32, which holds its values).
pub fn tensor_to_list<'py>(py: Python<'py>, t: &Tensor) -> PyResult<Bound<'py, PyAny>> {
    let t = if t.dtype() == DType::BF16 { crate::ops::cast::to_dtype(&t.detach(), DType::F32)? } else { t.clone() };
    tensor_to_numpy(py, &t)?.call_method0("tolist")
}

/// A numpy array sharing the tensor's memory (see `interop::share_as_numpy`).
pub fn tensor_to_numpy<'py>(py: Python<'py>, t: &Tensor) -> PyResult<Bound<'py, PyAny>> {
    super::interop::share_as_numpy(py, t)
}
