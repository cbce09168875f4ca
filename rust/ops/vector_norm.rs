//! The 2-norm over dims, sqrt(sum x^2), as one op: one read of x, the squares summed in vector
//! lanes. Written out of `x * x`, a sum and a guarded root it was five ops and a full-size
//! temporary (1.9x PyTorch's time on 1M values), and `clip_grad_norm_` takes one per parameter.

use crate::autograd::{record, Backward, Saved};
use crate::error::Result;
use crate::ops::expr::{ex, Ex};
use crate::ops::kernel::lanes_sum;
use crate::ops::reduce::{per_row, reduced_shape, rows_last};
use crate::tensor::shape::wrap_dims;
use crate::tensor::{Element, Float, Tensor};
use crate::{bail, with_float};

/// sqrt(sum x^2) over `dims` (empty = all), float inputs only (`norm` converts `dtype=` first).
/// The gradient is g x / norm, and 0 where the norm is 0, as PyTorch's norm backward.
pub fn l2_norm(x: &Tensor, dims: &[isize], keepdim: bool) -> Result<Tensor> {
    if x.dtype().is_half() {
        return crate::ops::half::unary(x, |x| l2_norm(x, dims, keepdim));
    }
    if !x.dtype().is_float() {
        bail!(Runtime, "linalg.vector_norm: Expected a floating point or complex tensor as input. Got {}", x.dtype().torch_name());
    }
    let d = wrap_dims(dims, x.ndim(), "linalg.vector_norm")?;
    let (rows, n, kept_shape) = rows_last(x, &d)?;
    let out = with_float!(x.dtype(), "linalg.vector_norm", T => {
        let norms: Vec<T> = rows.with_view::<T, _>(|v| {
            per_row(&v.contiguous(), n, kept_shape.iter().product(), T::from_f64(0.0), |sum| {
                T::from_f64(sum(&|r| sum_squares(r)).sqrt())
            })
        });
        Tensor::from_vec_unchecked(norms, &kept_shape)
    });
    let out = if keepdim { out } else { out.reshape(&reduced_shape(x.shape(), &d, false))?.detach() };
    let saved = out.clone();
    record(out, &[x], || Ok(Box::new(NormBackward { x: Saved::new(x)?, out: Saved::output(&saved)?, kept_shape })))
}

/// Sum of squares of a row: 64 lanes in the element type over blocks of 1024 (each lane adds
/// 16 squares), the blocks' sums added in float64, compiled for AVX2 and AVX-512. A float64
/// accumulator per lane would need each float32 widened first, which LLVM vectorised two
/// lanes at a time here; this keeps float32's 16 lanes and is within 1e-6 relative of the
/// exact sum (PyTorch's float32 norm accumulates in float32 too). No fused multiply-add, so
/// every CPU gives the same bits.
#[inline(always)]
fn sum_squares_body<T: Float, const FMA: bool>(x: &[T]) -> f64 {
    x.chunks(1024).fold(0.0, |total, block| total + lanes_sum::<T, T, 64>(block, |v| v * v).to_f64())
}

crate::multiversion!(sum_squares_body, sum_squares_avx2, sum_squares, Float, (x: &[T]) -> f64);

struct NormBackward {
    x: Saved,
    out: Saved,
    kept_shape: Vec<usize>,
}

impl Backward for NormBackward {
    fn name(&self) -> &'static str {
        "LinalgVectorNormBackward0"
    }
    fn attrs(&self) -> crate::autograd::trace::Attrs {
        crate::attrs![("kept_shape", &self.kept_shape)]
    }
    /// x (g / norm), the quotient 0 where the norm is 0; the quotient has the kept shape, so
    /// the one full-size pass is its product with x. Recorded ops, so that it can be
    /// differentiated again: the division is by 1 where the norm is 0, or the second
    /// derivative would meet 0 * inf there.
    fn apply(&self, g: &Tensor, _needs: &[bool]) -> Result<Vec<Option<Tensor>>> {
        let norm = ex(&self.out.get()?.reshape(&self.kept_shape)?);
        let zero = norm.clone().eq(0.0);
        let quotient = ex(&g.reshape(&self.kept_shape)?) / Ex::select(zero.clone(), Ex::c(1.0), norm);
        let scale = Ex::select(zero, Ex::c(0.0), quotient);
        Ok(vec![Some((ex(&self.x.get()?) * scale).done()?)])
    }
    fn differentiable(&self) -> bool {
        true
    }
}
