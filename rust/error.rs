//! One error type for the core. Each variant maps to the Python exception PyTorch raises for the
//! same mistake (see `python/error.rs`); messages name the op and the shapes involved.

use std::fmt;

#[derive(Debug, Clone, PartialEq)]
pub enum Error {
    /// Shape or state problems PyTorch reports as RuntimeError (incompatible shapes, backward twice).
    Runtime(String),
    /// Bad argument values (ValueError).
    Value(String),
    /// Index or dim out of range (IndexError).
    Index(String),
    /// Wrong dtype or argument kind (TypeError).
    Type(String),
    /// An op that has no kernel for this dtype (NotImplementedError, a RuntimeError subclass in
    /// Python, as PyTorch raises for `-` of bools or `&` of floats).
    NotImplemented(String),
    /// A file operation failed (OSError; the kind picks FileNotFoundError, PermissionError ...).
    Io(std::io::ErrorKind, String),
    /// An error raised by user code the engine called back into (a hook, a custom Function's
    /// backward): carried through the core unchanged, so the user sees their own exception.
    External(External),
}

/// A foreign error value (for the binding layer, a Python exception) with its message.
#[derive(Clone)]
pub struct External {
    pub value: std::sync::Arc<dyn std::any::Any + Send + Sync>,
    pub message: String,
}

impl fmt::Debug for External {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "External({})", self.message)
    }
}

impl PartialEq for External {
    fn eq(&self, other: &External) -> bool {
        std::sync::Arc::ptr_eq(&self.value, &other.value)
    }
}

pub type Result<T> = std::result::Result<T, Error>;

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Runtime(m) | Error::Value(m) | Error::Index(m) | Error::Type(m) | Error::NotImplemented(m) | Error::Io(_, m) => f.write_str(m),
            Error::External(e) => f.write_str(&e.message),
        }
    }
}

impl std::error::Error for Error {}

/// `bail!(Runtime, "fmt", args)` returns early with that error kind.
#[macro_export]
macro_rules! bail {
    ($kind:ident, $($arg:tt)*) => {
        return Err($crate::error::Error::$kind(format!($($arg)*)))
    };
}
