//! DLPack, both ways: `Tensor.__dlpack__` / `__dlpack_device__` (export) and
//! `_core._from_dlpack(capsule)` (import), sharing memory with numpy, PyTorch, JAX ...
//!
//! The protocol: the producer returns a PyCapsule named "dltensor_versioned" (DLPack >= 1.0,
//! when the consumer passes `max_version >= (1, 0)`) or "dltensor" (legacy) holding a managed
//! tensor; the consumer renames it "used_..." and calls the managed tensor's deleter when done
//! with the memory. A capsule nobody consumed calls the deleter from its own destructor.
//!
//! The `dlpark` crate does the protocol's mechanics: the C structs (`dlpark::ffi`), the managed
//! tensor's allocation, deleter and owning context (`metadata::Dynamic`), the capsule with its
//! destructor (`IntoPyObject for Managed`), and consuming a capsule (`python::from_dlpack`, which
//! renames it and checks the version and metadata). It is pinned to 0.9.0, the last release on
//! pyo3 0.29 (0.9.1 and 0.10 need pyo3 0.30). What stays here is ferrograd's side:
//! - the dtype table, and the `__dlpack__` argument checks: dlpark's `ExportRequest` serves
//!   zero-copy producers and refuses `copy=True`, which ferrograd honours with a copy (flagged
//!   IS_COPIED in a versioned capsule);
//! - a name check before consuming, so that a used or foreign capsule is a ValueError in
//!   ferrograd's words (dlpark words the first its own way and takes the second for a producer
//!   object without `__dlpack__`: a TypeError). Later refusals (device, dtype, negative strides)
//!   come after dlpark consumed the capsule: the producer's deleter is called right away and the
//!   capsule is used up (it was left for its destructor before);
//! - handing the imported tensor's deleter (`AllocationDeleter`) to the storage as the owner of
//!   the foreign memory (`Data::foreign`): it calls the producer's deleter when the storage
//!   drops, on any thread.
//!
//! dlpark cannot build the storage itself: its adapters import into ndarray/candle/image types,
//! and ferrograd's storage keeps foreign memory through `Data::foreign`, so the pointer, layout
//! and deleter are read out of dlpark's validated view here.

use std::ffi::CStr;
use std::sync::Arc;

use dlpark::allocation::dynamic;
use dlpark::ffi::{DLDataType, DLDevice, DLDeviceType, DLManagedTensor, DLManagedTensorVersioned, DLPackVersion};
use dlpark::metadata::Dynamic;
use dlpark::{DlpackFlags, ManagedTensorBase};
use pyo3::exceptions::{PyBufferError, PyRuntimeError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyCapsule;

use super::tensor::PyTensor;
use crate::tensor::{DType, Data, Element, Layout, Storage, Tensor};
use crate::with_dtype;

const VERSIONED: &CStr = c"dltensor_versioned";
const LEGACY: &CStr = c"dltensor";
/// The version a versioned export declares, as before dlpark (which would stamp its headers'
/// 1.3): every 1.x consumer reads it, and nothing exported needs a later minor version.
const EXPORT_VERSION: DLPackVersion = DLPackVersion { major: 1, minor: 0 };

fn dl_dtype(d: DType) -> DLDataType {
    match d {
        DType::Bool => DLDataType::BOOL,
        DType::U8 => DLDataType::U8,
        DType::I8 => DLDataType::I8,
        DType::I16 => DLDataType::I16,
        DType::I32 => DLDataType::I32,
        DType::I64 => DLDataType::I64,
        DType::F16 => DLDataType::F16,
        DType::BF16 => DLDataType::BF16,
        DType::F32 => DLDataType::F32,
        DType::F64 => DLDataType::F64,
    }
}

fn from_dl_dtype(t: DLDataType) -> PyResult<DType> {
    DType::ALL.into_iter().find(|&d| dl_dtype(d).matches(t)).ok_or_else(|| {
        PyBufferError::new_err(format!(
            "from_dlpack: unsupported DLPack dtype (code {}, bits {}, lanes {}); ferrograd has bool, uint8, int8-64, float16, bfloat16, float32, float64",
            t.code.0, t.bits, t.lanes
        ))
    })
}

// ---- export ----------------------------------------------------------------------------------

/// A managed tensor over `t`'s memory whose context owns `t`'s storage: the memory stays alive
/// until the consumer calls the deleter (or the unconsumed capsule is collected).
fn managed<M: ManagedTensorBase>(t: &Tensor) -> PyResult<dynamic::Initialized<M>> {
    let storage = t.storage().clone();
    // SAFETY: the offset lies inside the storage's buffer, whose address never changes.
    let data = unsafe { storage.data_ptr().add(t.layout().offset * t.dtype().size_of()) };
    let mut m = Dynamic::new(t.shape(), t.strides())
        .initialize_as::<M>(storage)
        .map_err(|e| PyBufferError::new_err(format!("__dlpack__: shape {:?}, strides {:?}: {e}", t.shape(), t.strides())))?;
    m.set_data(data.cast_mut().cast()).set_dtype(dl_dtype(t.dtype())).set_device(DLDevice::CPU);
    Ok(m)
}

fn to_capsule(py: Python<'_>, t: &Tensor, versioned: bool, copied: bool) -> PyResult<Py<PyAny>> {
    if versioned {
        let mut m = managed::<DLManagedTensorVersioned>(t)?;
        m.set_version(EXPORT_VERSION).map_err(|e| PyBufferError::new_err(format!("__dlpack__: {e}")))?;
        if copied {
            // SAFETY: `t` is a fresh deep copy nothing else references (see `__dlpack__`).
            unsafe { m.set_flags_unchecked(DlpackFlags::IS_COPIED) };
        }
        // SAFETY: data, shape and strides point into memory the context owns, the strides are
        // explicit, and the flags say what is true (writable; copied only when it is a copy).
        Ok(unsafe { m.finish() }.into_pyobject(py)?.unbind())
    } else {
        let m = managed::<DLManagedTensor>(t)?;
        // SAFETY: as above.
        Ok(unsafe { m.finish() }.into_pyobject(py)?.unbind())
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
            if u32::try_from(kind).ok() != Some(DLDeviceType::CPU.0) || id != DLDevice::CPU.device_id {
                return Err(PyBufferError::new_err(format!("__dlpack__: cannot export a CPU tensor to device ({kind}, {id})")));
            }
        }
        let versioned = max_version.is_some_and(|(major, _)| major >= 1);
        let copied = copy == Some(true);
        let t = if copied { super::error::guarded(|| Ok(self.t.deep_copy()))? } else { self.t.clone() };
        to_capsule(py, &t, versioned, copied)
    }

    /// (device type, device id): (1, 0), DLPack's CPU.
    fn __dlpack_device__(&self) -> (u32, i32) {
        DLDevice::CPU.into()
    }
}

// ---- import ----------------------------------------------------------------------------------

/// The tensor a DLPack capsule describes, over the producer's memory (a copy when the producer
/// marked it read-only: ferrograd's tensors are always writable).
#[pyfunction]
pub fn _from_dlpack(capsule: &Bound<'_, PyAny>) -> PyResult<PyTensor> {
    let Ok(cap) = capsule.cast_exact::<PyCapsule>() else {
        return Err(PyTypeError::new_err(format!("from_dlpack: expected a DLPack capsule or an object with __dlpack__, got {}", capsule.get_type().name()?)));
    };
    if !cap.is_valid_checked(Some(VERSIONED)) && !cap.is_valid_checked(Some(LEGACY)) {
        return Err(PyValueError::new_err("from_dlpack: the capsule is not a DLPack tensor, or was already consumed (a DLPack capsule can be used only once)"));
    }
    // Consumes the capsule (renames it "used_..."): from here on the managed tensor is ours, and
    // dropping `imported` on an error below calls the producer's deleter.
    let imported = dlpark::python::from_dlpack(capsule.as_borrowed(), None, None).map_err(|e| {
        // dlpark reports a major version other than 1 as a RuntimeError; ferrograd raises
        // BufferError for every tensor it cannot read.
        if e.is_instance_of::<PyRuntimeError>(capsule.py()) {
            PyBufferError::new_err(format!("from_dlpack: {}", e.value(capsule.py())))
        } else {
            e
        }
    })?;
    let flags = imported.flags();
    let dl = imported.validate().map_err(|e| PyValueError::new_err(format!("from_dlpack: {e}")))?;
    if dl.device().device_type != DLDeviceType::CPU {
        return Err(PyBufferError::new_err(format!("from_dlpack: only CPU tensors can be imported (device type {})", dl.device().device_type.0)));
    }
    let dtype = from_dl_dtype(dl.dtype())?;
    // Validated by dlpark: no negative sizes, and `ndim` strides when given.
    let shape: Vec<usize> = dl.shape().iter().map(|&n| n as usize).collect();
    let strides = dl.strides_or_compact().map_err(|e| PyValueError::new_err(format!("from_dlpack: {e}")))?;
    if strides.iter().any(|&x| x < 0) {
        return Err(PyBufferError::new_err(format!("from_dlpack: negative strides {strides:?} are not supported")));
    }
    let strides: Vec<usize> = strides.iter().map(|&x| x as usize).collect();
    let numel = dl.num_elements();
    // SAFETY: the address is only computed (data + byte_offset, checked not to overflow), not read.
    let ptr = unsafe { dl.offset_bytes_ptr() }.map_err(|e| PyBufferError::new_err(format!("from_dlpack: {e}")))?.cast_mut();
    if numel > 0 && !ptr.addr().is_multiple_of(dtype.size_of()) {
        return Err(PyBufferError::new_err(format!("from_dlpack: data at {ptr:p} is not aligned for {}", dtype.name())));
    }
    // Elements reachable from the first through the strides.
    let len = if numel == 0 {
        Some(0)
    } else {
        shape.iter().zip(&strides).try_fold(1usize, |acc, (&n, &s)| acc.checked_add((n - 1).checked_mul(s)?))
    };
    let len = len.ok_or_else(|| PyValueError::new_err(format!("from_dlpack: shape {shape:?} with strides {strides:?} overflows")))?;
    let ptr = if numel == 0 { std::ptr::null_mut() } else { ptr };
    let owner: Box<dyn Send + Sync> = Box::new(imported.into_deleter());
    let buf = with_dtype!(dtype, T => {
        // SAFETY: the producer's memory: aligned for T (checked), `len` elements reachable
        // through its strides, alive until `owner` calls the deleter. Read-only memory is
        // copied below before anything could write it.
        let data = unsafe { Data::foreign(ptr.cast::<T>(), len, owner) };
        <T as Element>::from_data(data)
    });
    let t = Tensor::from_storage(Arc::new(Storage::new(buf)), Layout { shape, strides, offset: 0 })?;
    let t = if flags.contains(DlpackFlags::READ_ONLY) { super::error::guarded(|| Ok(t.deep_copy()))? } else { t };
    Ok(t.into())
}
