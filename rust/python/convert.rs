//! Conversions between Python objects and core values: dtypes, scalars, shapes, numpy arrays.

use numpy::{PyArray1, PyArrayDyn, PyArrayMethods, PyUntypedArrayMethods};
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyFloat, PyInt, PyTuple};

use crate::tensor::{DType, Element, Scalar, Tensor};
use crate::with_dtype;

/// `fg.float32`, `fg.int64` ...: one object per dtype, compared by value.
#[pyclass(name = "dtype", module = "ferrograd", frozen, eq, hash, from_py_object)]
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct PyDType(pub DType);

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
    fn itemsize(&self) -> usize {
        self.0.size_of()
    }
    /// The matching numpy dtype name.
    #[getter]
    fn numpy_name(&self) -> &'static str {
        self.0.short_name()
    }
}

/// Accepts fg dtypes, Python's float/int/bool types, numpy dtypes and their names.
pub fn dtype_arg(obj: &Bound<'_, PyAny>) -> PyResult<DType> {
    if let Ok(d) = obj.cast::<PyDType>() {
        return Ok(d.get().0);
    }
    let py = obj.py();
    if obj.is(py.get_type::<PyFloat>()) {
        return Ok(DType::F32);
    }
    if obj.is(py.get_type::<PyBool>()) {
        return Ok(DType::Bool);
    }
    if obj.is(py.get_type::<PyInt>()) {
        return Ok(DType::I64);
    }
    let name: String = match obj.extract::<String>() {
        Ok(s) => s,
        Err(_) => obj.getattr("name").and_then(|n| n.extract()).map_err(|_| PyTypeError::new_err(format!("expected a dtype (e.g. ferrograd.float32), got {obj}")))?,
    };
    Ok(match name.trim_start_matches("torch.").trim_start_matches("ferrograd.") {
        "float32" | "float" => DType::F32,
        "float64" | "double" => DType::F64,
        "int64" | "long" => DType::I64,
        "bool" => DType::Bool,
        other => return Err(PyTypeError::new_err(format!("unsupported dtype {other:?}: ferrograd has float32, float64, int64 and bool"))),
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

/// A scalar as a 0-d tensor of the dtype it takes next to `like` (PyTorch's promotion).
pub fn scalar_tensor(s: Scalar, like: DType) -> Tensor {
    Tensor::full(&[], s.as_f64(), s.result_dtype(like))
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

fn from_array<T: Element + numpy::Element>(arr: &Bound<'_, PyAny>) -> PyResult<Tensor> {
    let a = arr.cast::<PyArrayDyn<T>>()?.readonly();
    let shape = a.shape().to_vec();
    // as_slice also accepts a Fortran-ordered array (`a.T` of a C array) and hands back its
    // memory in that order; only a C-ordered buffer can be taken as is.
    let data = match a.as_slice() {
        Ok(s) if a.is_c_contiguous() => s.to_vec(),
        _ => a.as_array().iter().copied().collect(),
    };
    Ok(Tensor::from_vec(data, &shape)?)
}

/// A numpy array of float32/float64/int64/bool (the Python side normalises other dtypes).
pub fn tensor_from_numpy(arr: &Bound<'_, PyAny>) -> PyResult<Tensor> {
    let kind: String = arr.getattr("dtype")?.getattr("name")?.extract()?;
    match kind.as_str() {
        "float32" => from_array::<f32>(arr),
        "float64" => from_array::<f64>(arr),
        "int64" => from_array::<i64>(arr),
        "bool" => from_array::<bool>(arr),
        other => Err(PyTypeError::new_err(format!("from_numpy: unsupported numpy dtype {other}"))),
    }
}

/// A new numpy array holding a copy of the tensor's elements.
pub fn tensor_to_numpy<'py>(py: Python<'py>, t: &Tensor) -> PyResult<Bound<'py, PyAny>> {
    with_dtype!(t.dtype(), T => {
        let v = super::error::guarded(|| Ok(t.to_vec::<T>()))?;
        let arr = PyArray1::<T>::from_vec(py, v);
        Ok(arr.reshape(t.shape().to_vec())?.into_any())
    })
}
