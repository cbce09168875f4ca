//! Zero-copy interop with numpy: `t.numpy()`, `np.asarray(t)` and `fg.from_numpy` sharing the
//! array's memory. The buffer protocol lives in `buffer.rs`, DLPack in `dlpack.rs`. Why the pointers handed out here stay valid: `tensor::Storage`.

use std::ffi::c_int;
use std::sync::Arc;

use numpy::npyffi::{self, npy_intp, NPY_ARRAY_WRITEABLE, PY_ARRAY_API};
use numpy::{Element as NpElement, PyArrayDescrMethods, PyUntypedArray, PyUntypedArrayMethods};
use pyo3::exceptions::{PyRuntimeError, PyTypeError, PyValueError};
use pyo3::prelude::*;

use super::tensor::PyTensor;
use crate::tensor::{DType, Data, Element, Layout, Storage, Tensor};
use crate::with_dtype;

/// The base object of a numpy array made by `.numpy()`: it holds the storage, so the array
/// stays valid after the tensor is gone.
#[pyclass(name = "_StorageRef", module = "ferrograd._core", frozen)]
pub struct StorageRef {
    _storage: Arc<Storage>,
}

const REQUIRES_GRAD_NUMPY: &str = "Can't call numpy() on Tensor that requires grad. Use tensor.detach().numpy() instead.";

/// A numpy array over the tensor's own memory (any layout: strides become byte strides).
pub fn share_as_numpy<'py>(py: Python<'py>, t: &Tensor) -> PyResult<Bound<'py, PyAny>> {
    if t.dtype() == DType::BF16 {
        // numpy has no bfloat16 (PyTorch's message).
        return Err(PyTypeError::new_err("Got unsupported ScalarType BFloat16"));
    }
    let item = t.dtype().size_of();
    let layout = t.layout();
    let mut dims: Vec<npy_intp> = layout.shape.iter().map(|&n| n as npy_intp).collect();
    let mut strides: Vec<npy_intp> = layout.strides.iter().map(|&s| (s * item) as npy_intp).collect();
    let storage = t.storage().clone();
    // SAFETY: the offset lies inside the storage's buffer (a tensor's layout always does; an
    // empty tensor's offset is 0), whose address never changes (`Storage`'s rules).
    let data = unsafe { storage.data_ptr().add(layout.offset * item) } as *mut std::ffi::c_void;
    let descr = with_dtype!(t.dtype(), T => <T as NpElement>::get_dtype(py));
    let base = Bound::new(py, StorageRef { _storage: storage })?;
    // SAFETY: dims and strides have ndim entries each and outlive the call (numpy copies them);
    // the descriptor reference is stolen by NewFromDescr; `data` covers every element the
    // strides reach and stays valid while `base` (which owns the storage) lives, and
    // SetBaseObject makes the array own `base` (it steals the reference into_ptr gives).
    unsafe {
        let arr = PY_ARRAY_API.PyArray_NewFromDescr(
            py,
            npyffi::get_type_object(py, npyffi::NpyTypes::PyArray_Type),
            descr.into_dtype_ptr(),
            dims.len() as c_int,
            dims.as_mut_ptr(),
            strides.as_mut_ptr(),
            data,
            NPY_ARRAY_WRITEABLE,
            std::ptr::null_mut(),
        );
        let arr = Bound::from_owned_ptr_or_err(py, arr)?;
        if PY_ARRAY_API.PyArray_SetBaseObject(py, arr.as_ptr() as *mut npyffi::PyArrayObject, base.into_ptr()) < 0 {
            return Err(PyErr::fetch(py));
        }
        Ok(arr)
    }
}

/// `fg.from_numpy(a)`'s fast path: a tensor over a's memory that keeps `a` alive, strides
/// kept. Raises PyTorch's errors (not an ndarray: TypeError; negative strides, non-native byte
/// order: ValueError); returns None when the memory cannot be shared as is (a dtype ferrograd
/// lacks, a read-only array, misaligned data or strides), for the Python side to copy.
#[pyfunction]
pub fn _share_numpy(arr: &Bound<'_, PyAny>) -> PyResult<Option<PyTensor>> {
    let Ok(a) = arr.cast::<PyUntypedArray>() else {
        return Err(PyTypeError::new_err(format!("expected np.ndarray (got {})", arr.get_type().name()?)));
    };
    let descr = a.dtype();
    if descr.is_native_byteorder() == Some(false) {
        return Err(PyValueError::new_err(
            "given numpy array has byte order different from the native byte order. Conversion between byte orders is currently not supported.",
        ));
    }
    if a.strides().iter().any(|&s| s < 0) {
        return Err(PyValueError::new_err(NEGATIVE_STRIDES));
    }
    let dtype = match (descr.kind(), descr.itemsize()) {
        (b'b', 1) => DType::Bool,
        (b'u', 1) => DType::U8,
        (b'i', 1) => DType::I8,
        (b'i', 2) => DType::I16,
        (b'i', 4) => DType::I32,
        (b'i', 8) => DType::I64,
        (b'f', 2) => DType::F16,
        (b'f', 4) => DType::F32,
        (b'f', 8) => DType::F64,
        _ => return Ok(None),
    };
    // SAFETY: `a` is a live ndarray; its struct's flags and data fields are plain reads.
    let (flags, ptr) = unsafe {
        let raw = &*a.as_array_ptr();
        (raw.flags, raw.data as usize)
    };
    let item = dtype.size_of();
    if flags & NPY_ARRAY_WRITEABLE == 0 || !ptr.is_multiple_of(item) || a.strides().iter().any(|&s| !(s as usize).is_multiple_of(item)) {
        return Ok(None);
    }
    let shape = a.shape().to_vec();
    let strides: Vec<usize> = a.strides().iter().map(|&s| s as usize / item).collect();
    let len = if shape.contains(&0) { 0 } else { 1 + shape.iter().zip(&strides).map(|(&n, &s)| (n - 1) * s).sum::<usize>() };
    let owner: Box<dyn Send + Sync> = Box::new(arr.clone().unbind());
    let buf = with_dtype!(dtype, T => {
        // SAFETY: numpy's data pointer, aligned for T (checked above), with `len` elements
        // reachable through the array's own strides; the array is writeable (checked) and
        // `owner` holds a reference to it, so numpy frees nothing while it lives.
        let data = unsafe { Data::foreign(ptr as *mut T, len, owner) };
        <T as Element>::from_data(data)
    });
    let layout = Layout { shape, strides, offset: 0 };
    Ok(Some(Tensor::from_storage(Arc::new(Storage::new(buf)), layout)?.into()))
}

const NEGATIVE_STRIDES: &str = "At least one stride in the given numpy array is negative, and tensors with negative strides are not currently supported. (You can probably work around this by making a copy of your array  with array.copy().) ";

#[pymethods]
impl PyTensor {
    /// `t.numpy(force=False)`: a numpy array sharing the tensor's memory. `force=True` detaches
    /// first (PyTorch's; there is no device or conjugate bit to resolve here).
    #[pyo3(signature = (*, force=false))]
    fn numpy<'py>(&self, py: Python<'py>, force: bool) -> PyResult<Bound<'py, PyAny>> {
        if self.t.requires_grad() && !force {
            return Err(PyRuntimeError::new_err(REQUIRES_GRAD_NUMPY));
        }
        share_as_numpy(py, &self.t)
    }

    /// `np.asarray(t)`: shares the memory when the dtype stays and no copy is asked for. Works
    /// on tensors that require grad (numpy cannot backprop, so this is the explicit way out of
    /// the graph, as `detach().numpy()`).
    #[pyo3(signature = (dtype=None, copy=None))]
    fn __array__<'py>(&self, py: Python<'py>, dtype: Option<&Bound<'py, PyAny>>, copy: Option<bool>) -> PyResult<Bound<'py, PyAny>> {
        let arr = share_as_numpy(py, &self.t)?;
        let same = match dtype {
            None => true,
            Some(d) => arr.getattr("dtype")?.eq(py.import("numpy")?.call_method1("dtype", (d,))?)?,
        };
        match (same, copy) {
            (true, Some(true)) => arr.call_method0("copy"),
            (true, _) => Ok(arr),
            (false, Some(false)) => Err(PyValueError::new_err("Unable to avoid copy while creating an array as requested.")),
            (false, _) => arr.call_method1("astype", (dtype,)),
        }
    }
}
