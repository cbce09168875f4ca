//! Saving and loading tensors in the safetensors format (Hugging Face's `safetensors` crate does
//! the format; this module maps dtypes, checks every header field before trusting it, and makes
//! saves atomic).
//!
//! A file is an 8-byte little-endian header length, a JSON header naming each tensor's dtype,
//! shape and byte range, and the raw data. ferrograd writes float32, float64, int64 and bool;
//! it reads those and converts the common narrower types: F16 and BF16 become float32, I32, I16,
//! I8 and U8 become int64 (ferrograd has no narrower dtypes). Other dtypes are refused by name.

mod dtype;
mod header;
mod load;
mod save;
#[cfg(test)]
mod tests;

pub use load::{load, Loaded};
pub use save::save;

use std::path::Path;

use crate::error::Error;

/// An OS error with the operation and the file named, as Python's OSError messages do.
fn io_error(op: &str, path: &Path, e: std::io::Error) -> Error {
    Error::Io(e.kind(), format!("{op}: {e}: '{}'", path.display()))
}
