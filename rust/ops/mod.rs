//! Op families, one file each; every differentiable op's backward rule sits beside its forward.

pub mod activation;
pub mod binary;
pub mod binary_math;
pub mod cast;
pub mod creation;
pub mod expr;
pub mod gemm;
pub mod gemm_packed;
pub mod half;
pub mod index;
pub mod inplace;
pub mod join;
pub mod kernel;
pub mod math;
pub mod matmul;
pub mod positions;
pub mod pow;
pub mod promotion;
pub mod reduce;
pub mod reorder;
pub mod scan;
pub mod sort;
pub mod softmax;
pub mod triangle;
pub mod unary;
pub mod view;
