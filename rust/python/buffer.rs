//! The buffer protocol on tensors: `memoryview(t)`, `np.frombuffer(t, ...)`, and what mpi4py
//! uses for in-place collectives. Built with the `buffer-protocol` feature (Py_buffer is in the
//! stable ABI from CPython 3.11 on; see Cargo.toml). Why the pointer stays valid: `tensor::Storage`.

use std::ffi::{c_int, CStr};
use std::sync::Arc;

use pyo3::exceptions::PyBufferError;
use pyo3::ffi;
use pyo3::prelude::*;

use super::tensor::PyTensor;
use crate::tensor::{DType, Storage};

/// The struct-module format character of a dtype, for the buffer protocol.
fn buffer_format(d: DType) -> Option<&'static CStr> {
    Some(match d {
        DType::Bool => c"?",
        DType::U8 => c"B",
        DType::I8 => c"b",
        DType::I16 => c"h",
        DType::I32 => c"i",
        DType::I64 => c"q",
        DType::F16 => c"e",
        DType::F32 => c"f",
        DType::F64 => c"d",
        DType::BF16 => return None,
    })
}

/// What a buffer view needs beyond the tensor: the storage and the shape/strides arrays the
/// view points into (freed by `__releasebuffer__`).
struct BufferView {
    _storage: Arc<Storage>,
    shape: Vec<ffi::Py_ssize_t>,
    strides: Vec<ffi::Py_ssize_t>,
}

#[pymethods]
impl PyTensor {
    /// The buffer protocol (`memoryview(t)`, `np.frombuffer(t, ...)`, mpi4py's in-place
    /// collectives): writable, C-contiguous tensors only, as a buffer's consumer may assume
    /// either layout without asking for strides.
    unsafe fn __getbuffer__(slf: Bound<'_, Self>, view: *mut ffi::Py_buffer, flags: c_int) -> PyResult<()> {
        let t = &slf.get().t;
        if t.requires_grad() {
            return Err(PyBufferError::new_err("Can't export tensors that require gradient, use tensor.detach()"));
        }
        if !t.is_contiguous() {
            return Err(PyBufferError::new_err(format!(
                "buffer protocol: the tensor is not contiguous (shape {:?}, strides {:?}); call .contiguous() first",
                t.shape(),
                t.strides()
            )));
        }
        let Some(format) = buffer_format(t.dtype()) else {
            return Err(PyBufferError::new_err("buffer protocol: bfloat16 has no buffer format; convert with .float() first"));
        };
        let item = t.dtype().size_of();
        let storage = t.storage().clone();
        // SAFETY: a contiguous tensor's elements are offset..offset + numel of its storage,
        // whose address never changes (`Storage`'s rules).
        let data = unsafe { storage.data_ptr().add(t.layout().offset * item) };
        let shape: Vec<ffi::Py_ssize_t> = t.shape().iter().map(|&n| n as ffi::Py_ssize_t).collect();
        let strides = crate::tensor::shape::contiguous_strides(t.shape()).iter().map(|&s| (s * item) as ffi::Py_ssize_t).collect();
        let mut internal = Box::new(BufferView { _storage: storage, shape, strides });
        // SAFETY: `view` is the Py_buffer CPython passed in, ours to fill. The pointers into
        // `internal` stay valid until `__releasebuffer__` frees it, and the storage it holds
        // keeps `data` alive as long; `obj` takes a reference to the tensor, which
        // PyBuffer_Release gives back.
        unsafe {
            let v = &mut *view;
            v.buf = data as *mut std::ffi::c_void;
            v.len = (t.numel() * item) as ffi::Py_ssize_t;
            v.readonly = 0;
            v.itemsize = item as ffi::Py_ssize_t;
            v.format = if flags & ffi::PyBUF_FORMAT != 0 { format.as_ptr() as *mut _ } else { std::ptr::null_mut() };
            v.ndim = t.ndim() as c_int;
            v.shape = if flags & ffi::PyBUF_ND != 0 { internal.shape.as_mut_ptr() } else { std::ptr::null_mut() };
            v.strides = if flags & ffi::PyBUF_STRIDES == ffi::PyBUF_STRIDES { internal.strides.as_mut_ptr() } else { std::ptr::null_mut() };
            v.suboffsets = std::ptr::null_mut();
            v.internal = Box::into_raw(internal) as *mut std::ffi::c_void;
            v.obj = slf.into_any().into_ptr();
        }
        Ok(())
    }

    unsafe fn __releasebuffer__(&self, view: *mut ffi::Py_buffer) {
        // SAFETY: `internal` was set by `__getbuffer__` from Box::into_raw, and CPython calls
        // this once per successful getbuffer.
        unsafe {
            let internal = (*view).internal as *mut BufferView;
            if !internal.is_null() {
                drop(Box::from_raw(internal));
                (*view).internal = std::ptr::null_mut();
            }
        }
    }
}
