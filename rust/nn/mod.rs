//! Fused layer kernels: each saves exactly what its backward needs; optimizer steps update their
//! tensors in place.

pub mod attention;
mod attention_composed;
mod attention_kernel;
pub mod batch_norm;
mod batch_norm_kernels;
pub mod conv;
mod conv_batched;
mod conv_depthwise;
mod conv_dilated;
mod conv_groups;
mod conv_small_groups;
mod conv_direct;
mod conv_direct_kernels;
pub mod conv_fold;
mod conv_grad;
mod conv_kernels;
mod conv_packed;
#[cfg(test)]
mod conv_tests;
pub mod conv_transpose;
pub mod dropout;
pub mod grid_sample;
pub mod group_norm;
mod im2col;
pub mod linear;
pub mod loss;
pub mod norm;
pub mod optim;
pub mod pool;
pub mod rnn;
mod rnn_composed;
mod rnn_kernels;
mod rnn_steps;
mod winograd;
mod winograd_transforms;
