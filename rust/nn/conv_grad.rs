//! The three bilinear maps a convolution is made of, as recorded ops, for gradients of
//! gradients (`create_graph=True`).
//!
//! For one geometry `g`, with x the input (N, C, *in), w the weight (O, C / groups, *k) and gy an
//! output gradient (N, O, *out):
//!
//! * `Part::Forward`: y = conv(x, w) (no bias),
//! * `Part::Input`: col2im(W^T @ gy), the input gradient (a transposed convolution's forward),
//! * `Part::Weight`: sum over images of gy @ im2col(x)^T, the weight gradient.
//!
//! Each is linear in both of its arguments, and <X, Input(gy, w)> = <Forward(X, w), gy> =
//! <Weight(X, gy), w>, so the gradients of each part are the other parts: the backward of any of
//! them is two calls of this same op. Unrecorded they run the fused kernels; recorded they give
//! gradients of any order.

use crate::autograd::{record, Backward, Saved};
use crate::error::Result;
use crate::tensor::{Float, Tensor};
use crate::with_float;

use super::conv::{with_grad, Geom};
use super::conv_kernels::{conv_forward, grad_input, grad_weight};

#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) enum Part {
    /// (x, w) -> y
    Forward,
    /// (gy, w) -> grad x
    Input,
    /// (x, gy) -> grad w
    Weight,
}

/// One part of the convolution of geometry `g` on (a, b) as listed on `Part`, recorded when
/// either requires grad.
pub(super) fn conv_part(part: Part, a: &Tensor, b: &Tensor, g: &Geom) -> Result<Tensor> {
    let g = *g;
    let out = with_float!(a.dtype(), "convolution backward", T => run::<T>(part, a, b, &g));
    record(out, &[a, b], || Ok(Box::new(ConvPartBackward { part, g, a: Saved::new(a)?, b: Saved::new(b)? })))
}

fn run<T: Float>(part: Part, a: &Tensor, b: &Tensor, g: &Geom) -> Tensor {
    // b is copied before a is locked: the two may share storage.
    let bv = b.to_vec::<T>();
    with_grad::<T, _>(a, |av| match part {
        Part::Forward => Tensor::from_vec_unchecked(conv_forward(av, &bv, None, g), &g.output_shape()),
        Part::Input => Tensor::from_vec_unchecked(grad_input(av, &bv, g), &g.input_shape()),
        Part::Weight => Tensor::from_vec_unchecked(grad_weight(&bv, av, g), &g.weight_shape()),
    })
}

struct ConvPartBackward {
    part: Part,
    g: Geom,
    a: Saved,
    b: Saved,
}

impl Backward for ConvPartBackward {
    fn name(&self) -> &'static str {
        match self.part {
            Part::Forward => "ConvolutionBackward0",
            Part::Input | Part::Weight => "ConvolutionBackwardBackward0",
        }
    }
    fn apply(&self, grad: &Tensor, needs: &[bool]) -> Result<Vec<Option<Tensor>>> {
        let g = &self.g;
        let need = |i: usize| needs.get(i).copied().unwrap_or(false);
        let (da, db) = match self.part {
            Part::Forward => (
                need(0).then(|| conv_part(Part::Input, grad, &self.b.get()?, g)).transpose()?,
                need(1).then(|| conv_part(Part::Weight, &self.a.get()?, grad, g)).transpose()?,
            ),
            Part::Input => (
                need(0).then(|| conv_part(Part::Forward, grad, &self.b.get()?, g)).transpose()?,
                need(1).then(|| conv_part(Part::Weight, grad, &self.a.get()?, g)).transpose()?,
            ),
            Part::Weight => (
                need(0).then(|| conv_part(Part::Input, &self.b.get()?, grad, g)).transpose()?,
                need(1).then(|| conv_part(Part::Forward, &self.a.get()?, grad, g)).transpose()?,
            ),
        };
        Ok(vec![da, db])
    }
    fn differentiable(&self) -> bool {
        true
    }
}
