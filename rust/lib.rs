//! ferrograd's core: tensors, kernels and reverse-mode autograd in plain Rust.
//! The PyO3 layer lives in `python/` behind the `python` feature.

// Every unsafe block says why it is sound, right above it (checked by `make lint`).
#![deny(clippy::undocumented_unsafe_blocks)]

pub mod autograd;
pub mod error;
pub mod io;
pub mod nn;
pub mod ops;
pub mod parallel;
pub mod random;
pub mod simd;
pub mod tensor;
pub mod vmath;
pub mod vmath_atan;
pub mod vmath_gamma;
pub mod vmath_gelu;
pub mod vmath_log1p;
pub mod vmath_phi;

#[cfg(feature = "python")]
mod python;

pub use error::{Error, Result};
pub use tensor::{DType, Tensor};

/// Tensor buffers come and go every op; see Cargo.toml for why this is mimalloc, and
/// `tensor::alloc` for the 64-byte alignment it adds.
#[global_allocator]
static GLOBAL: tensor::alloc::TensorAllocator = tensor::alloc::TensorAllocator;
