//! Sizes and allocations that fail with an error instead of killing the process.
//!
//! Rust's `Vec` aborts the whole interpreter when the allocator says no ("memory allocation
//! failed", SIGABRT), and a size product that overflows wraps silently in release builds
//! (`fg.ones(2**62, 8)` once came back with 0 elements). PyTorch raises RuntimeError in both cases
//! and the process goes on; so does ferrograd:
//!
//! - every size that comes from the user goes through `numel` (checked products, and the bytes
//!   must fit in an `isize`, which is what Rust and the C allocator can address);
//! - every buffer whose size a user controls is reserved with `try_reserve_exact`. Sites that
//!   return `Result` get `Error::Runtime` back (`vec_filled`, `try_with_capacity`); the kernels,
//!   which build their output inside closures that cannot return errors, reserve through
//!   `with_capacity`, which unwinds with an `OutOfMemory` payload. The binding layer's one guard
//!   (`python/error.rs`) turns that payload into the same RuntimeError, as C++'s `bad_alloc`
//!   reaches PyTorch's users. It is the only panic ferrograd raises on purpose.

use crate::bail;
use crate::error::{Error, Result};

/// The unwinding payload of a failed reservation (see the module docs).
#[derive(Debug, Clone, Copy)]
pub struct OutOfMemory {
    pub bytes: usize,
}

impl OutOfMemory {
    pub fn message(&self) -> String {
        format!("DefaultCPUAllocator: not enough memory: you tried to allocate {} bytes.", self.bytes)
    }
}

impl From<OutOfMemory> for Error {
    fn from(e: OutOfMemory) -> Error {
        Error::Runtime(e.message())
    }
}

/// The element count of `shape`, checked: the product and its size in bytes (`elem_size` each)
/// must fit in an `isize`. PyTorch's wording ("Storage size calculation overflowed").
pub fn numel(shape: &[usize], elem_size: usize, op: &str) -> Result<usize> {
    let n = shape.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d));
    match n.and_then(|n| n.checked_mul(elem_size.max(1)).map(|b| (n, b))) {
        Some((n, bytes)) if bytes <= isize::MAX as usize => Ok(n),
        _ => bail!(Runtime, "{op}: Storage size calculation overflowed with sizes={shape:?}"),
    }
}

/// `n` copies of `value`, or an error naming the bytes that could not be had.
pub fn vec_filled<T: Clone>(n: usize, value: T) -> Result<Vec<T>> {
    let mut v = try_with_capacity(n)?;
    v.resize(n, value);
    Ok(v)
}

/// An empty Vec with room for `n` elements, or an error.
pub fn try_with_capacity<T>(n: usize) -> std::result::Result<Vec<T>, OutOfMemory> {
    let bytes = n.saturating_mul(std::mem::size_of::<T>());
    let mut v = Vec::new();
    v.try_reserve_exact(n).map_err(|_| OutOfMemory { bytes })?;
    Ok(v)
}

/// An empty Vec with room for `n` elements; unwinds with `OutOfMemory` when the allocator refuses
/// (for the kernels that build outputs inside closures; see the module docs).
pub fn with_capacity<T>(n: usize) -> Vec<T> {
    try_with_capacity(n).unwrap_or_else(|oom| std::panic::panic_any(oom))
}

/// `n` copies of `value`; unwinds with `OutOfMemory` when the allocator refuses (see the module
/// docs). For kernels whose output size follows from tensors that already exist.
pub fn filled<T: Clone>(n: usize, value: T) -> Vec<T> {
    let mut v = with_capacity(n);
    v.resize(n, value);
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numel_refuses_overflowing_products() {
        assert_eq!(numel(&[2, 3], 4, "t").unwrap(), 6);
        assert_eq!(numel(&[], 4, "t").unwrap(), 1);
        assert_eq!(numel(&[0, usize::MAX], 4, "t").unwrap(), 0);
        assert!(numel(&[1 << 31, 1 << 31], 4, "t").is_err());
        assert!(numel(&[1 << 62, 8], 1, "t").is_err());
        // The product fits in usize but not its bytes.
        assert!(numel(&[1 << 62], 4, "t").is_err());
    }

    #[test]
    fn impossible_allocations_are_errors() {
        let e = vec_filled(isize::MAX as usize / 2, 0f32).unwrap_err();
        assert!(e.to_string().contains("not enough memory"), "{e}");
        assert_eq!(vec_filled(3, 1.5f64).unwrap(), vec![1.5; 3]);
    }

    #[test]
    fn with_capacity_unwinds_with_the_payload() {
        let r = std::panic::catch_unwind(|| with_capacity::<f64>(usize::MAX / 16));
        let payload = r.unwrap_err();
        assert!(payload.downcast_ref::<OutOfMemory>().is_some());
    }
}
