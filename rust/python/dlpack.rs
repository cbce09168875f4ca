//! DLPack, both ways: `Tensor.__dlpack__` / `__dlpack_device__` (export) and
//! `_core._from_dlpack(capsule)` (import), sharing memory with numpy, PyTorch, JAX ...
//!
//! The structs are DLPack's C ABI (dlpack.h, v1.0), written out here: the maintained binding,
//! the `dlpark` crate, builds against pyo3 0.30 from its 0.9 line on, and ferrograd is on 0.29.
//! The protocol: the producer returns a PyCapsule named "dltensor_versioned" (DLPack >= 1.0,
//! when the consumer passes `max_version >= (1, 0)`) or "dltensor" (legacy) holding a managed
//! tensor; the consumer renames it "used_..." and calls the managed tensor's deleter when done
//! with the memory. A capsule nobody consumed calls the deleter from its own destructor.

use std::ffi::{c_void, CStr};
use std::sync::Arc;

use pyo3::exceptions::{PyBufferError, PyTypeError, PyValueError};
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::PyTuple;

use super::tensor::PyTensor;
use crate::tensor::{DType, Data, Element, Layout, Storage, Tensor};
use crate::with_dtype;

#[repr(C)]
#[derive(Clone, Copy)]
struct DLDevice {
    device_type: i32,
    device_id: i32,
}

#[repr(C)]
#[derive(Clone, Copy)]
struct DLDataType {
    code: u8,
    bits: u8,
    lanes: u16,
}

#[repr(C)]
struct DLTensor {
    data: *mut c_void,
    device: DLDevice,
    ndim: i32,
    dtype: DLDataType,
    shape: *mut i64,
    strides: *mut i64,
    byte_offset: u64,
}

#[repr(C)]
struct DLManagedTensor {
    dl_tensor: DLTensor,
    manager_ctx: *mut c_void,
    deleter: Option<unsafe extern "C" fn(*mut DLManagedTensor)>,
}

#[repr(C)]
struct DLPackVersion {
    major: u32,
    minor: u32,
}

#[repr(C)]
struct DLManagedTensorVersioned {
    version: DLPackVersion,
    manager_ctx: *mut c_void,
    deleter: Option<unsafe extern "C" fn(*mut DLManagedTensorVersioned)>,
    flags: u64,
    dl_tensor: DLTensor,
}

const K_DL_CPU: i32 = 1;
const FLAG_READ_ONLY: u64 = 1;
const FLAG_IS_COPIED: u64 = 1 << 1;
const CODE_INT: u8 = 0;
const CODE_UINT: u8 = 1;
const CODE_FLOAT: u8 = 2;
const CODE_BFLOAT: u8 = 4;
const CODE_BOOL: u8 = 6;

const VERSIONED: &CStr = c"dltensor_versioned";
const LEGACY: &CStr = c"dltensor";
const USED_VERSIONED: &CStr = c"used_dltensor_versioned";
const USED_LEGACY: &CStr = c"used_dltensor";

fn dl_dtype(d: DType) -> DLDataType {
    let (code, bits) = match d {
        DType::Bool => (CODE_BOOL, 8),
        DType::U8 => (CODE_UINT, 8),
        DType::I8 => (CODE_INT, 8),
        DType::I16 => (CODE_INT, 16),
        DType::I32 => (CODE_INT, 32),
        DType::I64 => (CODE_INT, 64),
        DType::F16 => (CODE_FLOAT, 16),
        DType::BF16 => (CODE_BFLOAT, 16),
        DType::F32 => (CODE_FLOAT, 32),
        DType::F64 => (CODE_FLOAT, 64),
    };
    DLDataType { code, bits, lanes: 1 }
}

fn from_dl_dtype(t: DLDataType) -> PyResult<DType> {
    Ok(match (t.code, t.bits, t.lanes) {
        (CODE_BOOL, 8, 1) => DType::Bool,
        (CODE_UINT, 8, 1) => DType::U8,
        (CODE_INT, 8, 1) => DType::I8,
        (CODE_INT, 16, 1) => DType::I16,
        (CODE_INT, 32, 1) => DType::I32,
        (CODE_INT, 64, 1) => DType::I64,
        (CODE_FLOAT, 16, 1) => DType::F16,
        (CODE_BFLOAT, 16, 1) => DType::BF16,
        (CODE_FLOAT, 32, 1) => DType::F32,
        (CODE_FLOAT, 64, 1) => DType::F64,
        (code, bits, lanes) => {
            return Err(PyBufferError::new_err(format!(
                "from_dlpack: unsupported DLPack dtype (code {code}, bits {bits}, lanes {lanes}); ferrograd has bool, uint8, int8-64, float16, bfloat16, float32, float64"
            )))
        }
    })
}

// ---- export ----------------------------------------------------------------------------------

/// What an exported capsule's manager context owns: the storage (the memory) and the shape and
/// strides arrays the DLTensor points into.
struct ExportCtx {
    _storage: Arc<Storage>,
    shape: Vec<i64>,
    strides: Vec<i64>,
}

fn export_tensor(t: &Tensor, ctx: &mut ExportCtx) -> DLTensor {
    let item = t.dtype().size_of();
    // SAFETY: the offset lies inside the storage's buffer, whose address never changes.
    let data = unsafe { ctx._storage.data_ptr().add(t.layout().offset * item) } as *mut c_void;
    DLTensor {
        data,
        device: DLDevice { device_type: K_DL_CPU, device_id: 0 },
        ndim: t.ndim() as i32,
        dtype: dl_dtype(t.dtype()),
        shape: ctx.shape.as_mut_ptr(),
        strides: ctx.strides.as_mut_ptr(),
        byte_offset: 0,
    }
}

unsafe extern "C" fn delete_versioned(m: *mut DLManagedTensorVersioned) {
    // SAFETY: `m` and its context were made by `to_capsule` with Box::into_raw, and DLPack calls
    // the deleter once.
    unsafe {
        let m = Box::from_raw(m);
        drop(Box::from_raw(m.manager_ctx as *mut ExportCtx));
    }
}

unsafe extern "C" fn delete_legacy(m: *mut DLManagedTensor) {
    // SAFETY: as `delete_versioned`.
    unsafe {
        let m = Box::from_raw(m);
        drop(Box::from_raw(m.manager_ctx as *mut ExportCtx));
    }
}

/// The destructor of a capsule: frees the managed tensor unless a consumer took it (renamed it).
unsafe extern "C" fn capsule_destructor(capsule: *mut ffi::PyObject) {
    // SAFETY: CPython calls this with the capsule, GIL held. IsValid checks the name without
    // raising; a valid name means nobody consumed it and the pointer is our managed tensor.
    unsafe {
        if ffi::PyCapsule_IsValid(capsule, VERSIONED.as_ptr()) == 1 {
            let m = ffi::PyCapsule_GetPointer(capsule, VERSIONED.as_ptr()) as *mut DLManagedTensorVersioned;
            if let Some(d) = (*m).deleter {
                d(m);
            }
        } else if ffi::PyCapsule_IsValid(capsule, LEGACY.as_ptr()) == 1 {
            let m = ffi::PyCapsule_GetPointer(capsule, LEGACY.as_ptr()) as *mut DLManagedTensor;
            if let Some(d) = (*m).deleter {
                d(m);
            }
        }
    }
}

fn to_capsule(py: Python<'_>, t: &Tensor, versioned: bool, copied: bool) -> PyResult<Py<PyAny>> {
    let item_strides = t.strides().iter().map(|&s| s as i64).collect();
    let ctx = Box::new(ExportCtx { _storage: t.storage().clone(), shape: t.shape().iter().map(|&n| n as i64).collect(), strides: item_strides });
    let ctx = Box::into_raw(ctx);
    // SAFETY: `ctx` is a live Box until the deleter frees it; the DLTensor points into it.
    let dl_tensor = export_tensor(t, unsafe { &mut *ctx });
    let (ptr, name) = if versioned {
        let flags = if copied { FLAG_IS_COPIED } else { 0 };
        let m = DLManagedTensorVersioned { version: DLPackVersion { major: 1, minor: 0 }, manager_ctx: ctx as *mut c_void, deleter: Some(delete_versioned), flags, dl_tensor };
        (Box::into_raw(Box::new(m)) as *mut c_void, VERSIONED)
    } else {
        let m = DLManagedTensor { dl_tensor, manager_ctx: ctx as *mut c_void, deleter: Some(delete_legacy) };
        (Box::into_raw(Box::new(m)) as *mut c_void, LEGACY)
    };
    // SAFETY: a non-null pointer and a static name; on failure nothing took the pointer, so it
    // is freed here through the deleter.
    unsafe {
        let cap = ffi::PyCapsule_New(ptr, name.as_ptr(), Some(capsule_destructor));
        if cap.is_null() {
            if versioned {
                delete_versioned(ptr as *mut DLManagedTensorVersioned);
            } else {
                delete_legacy(ptr as *mut DLManagedTensor);
            }
            return Err(PyErr::fetch(py));
        }
        Ok(Bound::from_owned_ptr(py, cap).unbind())
    }
}

#[pymethods]
impl PyTensor {
    /// The DLPack capsule of this tensor's memory (Python array API's `__dlpack__`): versioned
    /// (DLPack 1.0) when the consumer's `max_version` allows, the legacy one otherwise. CPU only,
    /// so `stream` must be None (or PyTorch's default -1); `copy=True` exports a copy.
    #[pyo3(signature = (*, stream=None, max_version=None, dl_device=None, copy=None))]
    fn __dlpack__(
        &self,
        py: Python<'_>,
        stream: Option<&Bound<'_, PyAny>>,
        max_version: Option<(u32, u32)>,
        dl_device: Option<(i32, i32)>,
        copy: Option<bool>,
    ) -> PyResult<Py<PyAny>> {
        if self.t.requires_grad() {
            return Err(PyBufferError::new_err("Can't export tensors that require gradient, use tensor.detach()"));
        }
        if let Some(s) = stream {
            if !s.is_none() && s.extract::<i64>().ok() != Some(-1) {
                return Err(PyBufferError::new_err(format!("__dlpack__: stream must be None on the CPU (got {s})")));
            }
        }
        if let Some((kind, id)) = dl_device {
            if (kind, id) != (K_DL_CPU, 0) {
                return Err(PyBufferError::new_err(format!("__dlpack__: cannot export a CPU tensor to device ({kind}, {id})")));
            }
        }
        let versioned = max_version.is_some_and(|(major, _)| major >= 1);
        let copied = copy == Some(true);
        let t = if copied { super::error::guarded(|| Ok(self.t.deep_copy()))? } else { self.t.clone() };
        to_capsule(py, &t, versioned, copied)
    }

    /// (device type, device id): (1, 0), DLPack's CPU.
    fn __dlpack_device__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyTuple>> {
        PyTuple::new(py, [K_DL_CPU, 0])
    }
}

// ---- import ----------------------------------------------------------------------------------

/// A consumed managed tensor; dropping it calls the producer's deleter (on any thread: DLPack
/// requires deleters to be callable without the GIL; numpy's and PyTorch's are).
struct Imported {
    managed: *mut c_void,
    versioned: bool,
}

// SAFETY: the producer's memory is only reached through the storage (behind its lock), and the
// deleter may run on any thread (see above).
unsafe impl Send for Imported {}
// SAFETY: &Imported gives access to nothing.
unsafe impl Sync for Imported {}

impl Drop for Imported {
    fn drop(&mut self) {
        // SAFETY: `managed` is the consumed capsule's pointer, of the kind `versioned` says, and
        // this is the one call to its deleter.
        unsafe {
            if self.versioned {
                let m = self.managed as *mut DLManagedTensorVersioned;
                if let Some(d) = (*m).deleter {
                    d(m);
                }
            } else {
                let m = self.managed as *mut DLManagedTensor;
                if let Some(d) = (*m).deleter {
                    d(m);
                }
            }
        }
    }
}

/// The tensor a DLPack capsule describes, over the producer's memory (a copy when the producer
/// marked it read-only: ferrograd's tensors are always writable).
#[pyfunction]
pub fn _from_dlpack(capsule: &Bound<'_, PyAny>) -> PyResult<PyTensor> {
    let cap = capsule.as_ptr();
    // SAFETY: the checks below only read the capsule's name; pointers are taken only for a
    // capsule whose name says what it holds (the DLPack protocol).
    let (managed, versioned) = unsafe {
        if ffi::PyCapsule_CheckExact(cap) == 0 {
            return Err(PyTypeError::new_err(format!("from_dlpack: expected a DLPack capsule or an object with __dlpack__, got {}", capsule.get_type().name()?)));
        }
        if ffi::PyCapsule_IsValid(cap, VERSIONED.as_ptr()) == 1 {
            (ffi::PyCapsule_GetPointer(cap, VERSIONED.as_ptr()), true)
        } else if ffi::PyCapsule_IsValid(cap, LEGACY.as_ptr()) == 1 {
            (ffi::PyCapsule_GetPointer(cap, LEGACY.as_ptr()), false)
        } else {
            return Err(PyValueError::new_err("from_dlpack: the capsule is not a DLPack tensor, or was already consumed (a DLPack capsule can be used only once)"));
        }
    };
    // SAFETY: a valid DLPack capsule holds a live managed tensor of the kind its name says.
    let (dl, flags) = unsafe {
        if versioned {
            let m = &*(managed as *const DLManagedTensorVersioned);
            if m.version.major != 1 {
                return Err(PyBufferError::new_err(format!("from_dlpack: DLPack version {}.{} is not supported (ferrograd reads 1.x)", m.version.major, m.version.minor)));
            }
            (&m.dl_tensor, m.flags)
        } else {
            (&(*(managed as *const DLManagedTensor)).dl_tensor, 0)
        }
    };
    if dl.device.device_type != K_DL_CPU {
        return Err(PyBufferError::new_err(format!("from_dlpack: only CPU tensors can be imported (device type {})", dl.device.device_type)));
    }
    let dtype = from_dl_dtype(dl.dtype)?;
    let ndim = usize::try_from(dl.ndim).map_err(|_| PyValueError::new_err("from_dlpack: negative ndim"))?;
    // SAFETY: shape (and strides, when not NULL) point to ndim int64s by the protocol.
    let (shape, strides) = unsafe {
        let shape: &[i64] = if ndim == 0 { &[] } else { std::slice::from_raw_parts(dl.shape, ndim) };
        let strides: Option<&[i64]> = if dl.strides.is_null() || ndim == 0 { None } else { Some(std::slice::from_raw_parts(dl.strides, ndim)) };
        (shape.to_vec(), strides.map(|s| s.to_vec()))
    };
    if shape.iter().any(|&n| n < 0) {
        return Err(PyValueError::new_err(format!("from_dlpack: negative size in shape {shape:?}")));
    }
    let shape: Vec<usize> = shape.iter().map(|&n| n as usize).collect();
    let strides: Vec<usize> = match strides {
        None => crate::tensor::shape::contiguous_strides(&shape),
        Some(s) if s.iter().any(|&x| x < 0) => {
            return Err(PyBufferError::new_err(format!("from_dlpack: negative strides {s:?} are not supported")));
        }
        Some(s) => s.iter().map(|&x| x as usize).collect(),
    };
    let item = dtype.size_of();
    let ptr = (dl.data as usize).wrapping_add(dl.byte_offset as usize);
    let numel: usize = shape.iter().product();
    if numel > 0 && !ptr.is_multiple_of(item) {
        return Err(PyBufferError::new_err(format!("from_dlpack: data at {ptr:#x} is not aligned for {}", dtype.name())));
    }
    let len = if numel == 0 { 0 } else { 1 + shape.iter().zip(&strides).map(|(&n, &s)| (n - 1) * s).sum::<usize>() };
    // The capsule is ours from here on: renamed, its destructor leaves the deleter to `owner`.
    let used = if versioned { USED_VERSIONED } else { USED_LEGACY };
    // SAFETY: a valid capsule and a static name.
    if unsafe { ffi::PyCapsule_SetName(cap, used.as_ptr()) } != 0 {
        return Err(PyErr::fetch(capsule.py()));
    }
    let owner: Box<dyn Send + Sync> = Box::new(Imported { managed, versioned });
    let ptr = if numel == 0 { std::ptr::null_mut::<u8>() } else { ptr as *mut u8 };
    let buf = with_dtype!(dtype, T => {
        // SAFETY: the producer's memory: aligned for T (checked), `len` elements reachable
        // through its strides, alive until `owner` calls the deleter. Read-only memory is
        // copied below before anything could write it.
        let data = unsafe { Data::foreign(ptr as *mut T, len, owner) };
        <T as Element>::from_data(data)
    });
    let t = Tensor::from_storage(Arc::new(Storage::new(buf)), Layout { shape, strides, offset: 0 })?;
    let t = if flags & FLAG_READ_ONLY != 0 { super::error::guarded(|| Ok(t.deep_copy()))? } else { t };
    Ok(t.into())
}
