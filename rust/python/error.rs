//! The one place core errors become Python exceptions (candle's `wrap_err`), and the one helper
//! that releases the GIL around heavy kernels.

use pyo3::exceptions::{PyIndexError, PyRuntimeError, PyTypeError, PyValueError};
use pyo3::prelude::*;

use crate::error::Error;
use crate::tensor::iter::GRAIN;

pub fn to_py(e: Error) -> PyErr {
    match e {
        Error::Runtime(m) => PyRuntimeError::new_err(m),
        Error::Value(m) => PyValueError::new_err(m),
        Error::Index(m) => PyIndexError::new_err(m),
        Error::Type(m) => PyTypeError::new_err(m),
    }
}

pub trait IntoPyResult<T> {
    fn py(self) -> PyResult<T>;
}

impl<T> IntoPyResult<T> for crate::error::Result<T> {
    #[inline]
    fn py(self) -> PyResult<T> {
        self.map_err(to_py)
    }
}

/// Runs `f` with the GIL released when the work is large (`elements` above the parallel grain),
/// so other Python threads run meanwhile; small ops skip the release, which costs more than them.
pub fn heavy<T: Send>(py: Python<'_>, elements: usize, f: impl FnOnce() -> crate::error::Result<T> + Send) -> PyResult<T> {
    if elements > GRAIN {
        py.detach(f).py()
    } else {
        f().py()
    }
}
