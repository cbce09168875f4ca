//! The one place core errors become Python exceptions (candle's `wrap_err`), and the one helper
//! that releases the GIL around heavy kernels.

use std::io::ErrorKind;

use pyo3::exceptions::{
    PyFileExistsError, PyFileNotFoundError, PyIndexError, PyNotImplementedError, PyOSError, PyPermissionError, PyRuntimeError, PyTypeError,
    PyValueError,
};
use pyo3::prelude::*;

use crate::error::Error;
use crate::tensor::alloc::OutOfMemory;
use crate::tensor::iter::GRAIN;

/// `?` turns a core error into the Python exception PyTorch raises for the same mistake.
impl From<Error> for PyErr {
    fn from(e: Error) -> PyErr {
        match e {
            Error::Runtime(m) => PyRuntimeError::new_err(m),
            Error::Value(m) => PyValueError::new_err(m),
            Error::Index(m) => PyIndexError::new_err(m),
            Error::Type(m) => PyTypeError::new_err(m),
            Error::NotImplemented(m) => PyNotImplementedError::new_err(m),
            Error::Io(kind, m) => match kind {
                ErrorKind::NotFound => PyFileNotFoundError::new_err(m),
                ErrorKind::PermissionDenied => PyPermissionError::new_err(m),
                ErrorKind::AlreadyExists => PyFileExistsError::new_err(m),
                _ => PyOSError::new_err(m),
            },
            Error::External(e) => match e.value.downcast_ref::<PyErr>() {
                Some(err) => Python::attach(|py| err.clone_ref(py)),
                None => PyRuntimeError::new_err(e.message),
            },
        }
    }
}

/// Runs a kernel `f` guarded against panics, and with the GIL released when the work is large
/// (`elements` above the parallel grain) so other Python threads run meanwhile; small ops keep
/// the GIL, since releasing it costs more than they do.
pub fn off_gil_guarded<T: Send>(py: Python<'_>, elements: usize, f: impl FnOnce() -> crate::error::Result<T> + Send) -> PyResult<T> {
    // A panic is a ferrograd bug, or an allocation the machine refused (`tensor::alloc`); either
    // must reach Python as an ordinary exception, not as PanicException (a BaseException that
    // `except Exception` does not catch), and leave the interpreter usable.
    if elements > GRAIN {
        Ok(py.detach(move || catch_panics(f))?)
    } else {
        Ok(catch_panics(f)?)
    }
}

/// The guard alone, for work that must keep the GIL (it builds Python objects).
pub fn guarded<T>(f: impl FnOnce() -> crate::error::Result<T>) -> PyResult<T> {
    Ok(catch_panics(f)?)
}

fn catch_panics<T>(f: impl FnOnce() -> crate::error::Result<T>) -> crate::error::Result<T> {
    crate::parallel::ensure_worker();
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).unwrap_or_else(|payload| Err(panic_to_error(payload)))
}

fn panic_to_error(payload: Box<dyn std::any::Any + Send>) -> crate::error::Error {
    if let Some(oom) = payload.downcast_ref::<OutOfMemory>() {
        return (*oom).into();
    }
    let msg = payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into());
    crate::error::Error::Runtime(format!("internal error in ferrograd (please report it): {msg}"))
}

/// A refused allocation is an ordinary error, not a crash: keep the default panic hook from
/// printing "thread panicked" and a backtrace for it (every other panic still prints).
pub fn quiet_out_of_memory_panics() {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if info.payload().downcast_ref::<OutOfMemory>().is_none() {
            previous(info);
        }
    }));
}

/// A Python exception raised inside a callback the engine made (hook, custom Function), carried
/// through the core to the caller unchanged.
pub fn external(err: PyErr) -> Error {
    let message = err.to_string();
    Error::External(crate::error::External { value: std::sync::Arc::new(err), message })
}

/// File reads and writes always release the GIL: a disk (or a network folder) can stall for any
/// length of time, whatever the size of the data.
pub fn blocking_io<T: Send>(py: Python<'_>, f: impl FnOnce() -> crate::error::Result<T> + Send) -> PyResult<T> {
    off_gil_guarded(py, usize::MAX, f)
}
