//! Fused layer kernels: each saves exactly what its backward needs.

pub mod batch_norm;
pub mod conv;
pub mod dropout;
mod im2col;
pub mod pool;
