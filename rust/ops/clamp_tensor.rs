//! clamp with tensor bounds (`x.clamp(min=lo, max=hi)` where a bound is a tensor): the bounds
//! broadcast against x, take part in type promotion and take gradients. One bound alone is
//! `maximum(x, min)` or `minimum(x, max)`, as in PyTorch (a tie splits the gradient; NaN
//! anywhere gives NaN). Both bounds: `minimum(maximum(x, min), max)` (a min above the max gives
//! the max), with the gradient PyTorch 2.15 gives, read off its results over every order of
//! x, min and max and NaN in each (`ClampTensorBackward::apply`).

use crate::autograd::{record, Backward, GradModeGuard, Saved};
use crate::bail;
use crate::error::Result;
use crate::ops::binary::{compare, logical, maximum, minimum, where_, Cmp, Logical};
use crate::ops::reduce::sum_to;
use crate::ops::unary::logical_not;
use crate::tensor::Tensor;

pub fn clamp_tensor(x: &Tensor, min: Option<&Tensor>, max: Option<&Tensor>) -> Result<Tensor> {
    match (min, max) {
        (None, None) => bail!(Runtime, "torch.clamp: At least one of 'min' or 'max' must not be None"),
        (Some(lo), None) => maximum(x, lo),
        (None, Some(hi)) => minimum(x, hi),
        (Some(lo), Some(hi)) => {
            let out = {
                let _off = GradModeGuard::new(false);
                minimum(&maximum(x, lo)?, hi)?
            };
            record(out, &[x, lo, hi], || {
                Ok(Box::new(ClampTensorBackward {
                    x: Saved::new(x)?,
                    lo: Saved::new(lo)?,
                    hi: Saved::new(hi)?,
                    shapes: [x.shape().to_vec(), lo.shape().to_vec(), hi.shape().to_vec()],
                }))
            })
        }
    }
}

struct ClampTensorBackward {
    x: Saved,
    lo: Saved,
    hi: Saved,
    shapes: [Vec<usize>; 3],
}
impl Backward for ClampTensorBackward {
    fn name(&self) -> &'static str {
        "ClampBackward0"
    }
    /// Each input's share of the gradient: the max takes all of it when it is below the min;
    /// otherwise a bound takes all of it where x passes it (the min only when it is not above
    /// the max), and x where it is within both; x on a bound of a proper interval (min < max)
    /// splits it half and half with that bound; a NaN x keeps its share, and a NaN bound takes
    /// none.
    fn apply(&self, g: &Tensor, needs: &[bool]) -> Result<Vec<Option<Tensor>>> {
        let (x, lo, hi) = (&self.x.get()?, &self.lo.get()?, &self.hi.get()?);
        let (or, and) = (|a: &Tensor, b: &Tensor| logical(a, b, Logical::Or), |a: &Tensor, b: &Tensor| logical(a, b, Logical::And));
        let (below, above) = (compare(x, lo, Cmp::Lt)?, compare(x, hi, Cmp::Gt)?);
        let (proper, crossed) = (compare(lo, hi, Cmp::Lt)?, compare(lo, hi, Cmp::Gt)?);
        let ordered = compare(lo, hi, Cmp::Le)?;
        let tie_lo = and(&compare(x, lo, Cmp::Eq)?, &proper)?;
        let tie_hi = and(&compare(x, hi, Cmp::Eq)?, &proper)?;
        let c = |v: f64| Tensor::full(&[], v, g.dtype());
        // a share of 1, 1/2 or 0 of the gradient, elementwise
        let weight = |whole: &Tensor, half: &Tensor| -> Result<Tensor> { where_(whole, &c(1.0), &where_(half, &c(0.5), &c(0.0))?) };
        let inside = logical_not(&or(&below, &above)?)?;
        let x_nan = compare(x, x, Cmp::Ne)?;
        let share = |i: usize| -> Result<Tensor> {
            match i {
                0 => {
                    let tied = or(&tie_lo, &tie_hi)?;
                    weight(&or(&x_nan, &and(&inside, &logical_not(&tied)?)?)?, &and(&inside, &tied)?)
                }
                1 => weight(&and(&ordered, &below)?, &tie_lo),
                _ => weight(&or(&crossed, &and(&above, &ordered)?)?, &tie_hi),
            }
        };
        // where(w == 0, 0, g * w): an infinite gradient where an input has no share is 0, not
        // the NaN of inf * 0.
        (0..3)
            .map(|i| -> Result<Option<Tensor>> {
                if !needs[i] {
                    return Ok(None);
                }
                let w = share(i)?;
                let scaled = where_(&compare(&w, &c(0.0), Cmp::Eq)?, &c(0.0), &crate::ops::binary::mul(g, &w)?)?;
                Ok(Some(sum_to(&scaled, &self.shapes[i])?))
            })
            .collect()
    }
    fn differentiable(&self) -> bool {
        true
    }
}
