//! Gather and scatter-add by flat positions: a pair of linear maps, each the other's adjoint,
//! so each is the other's backward. Backward rules that move gradient elements around (advanced
//! indexing, index assignment, max/min along a dim) use them when their own backward must be
//! recorded (`create_graph=True`), which makes those rules differentiable to any order.

use std::sync::Arc;

use crate::autograd::{record, Backward};
use crate::error::Result;
use crate::tensor::{Float, Tensor};

/// `out.flat[k] = g.flat[pos[k]]`, shaped `shape` (g's elements in logical order).
pub fn gather_positions(g: &Tensor, pos: &Arc<Vec<usize>>, shape: &[usize]) -> Result<Tensor> {
    let out = crate::with_float!(g.dtype(), "gather", T => gather::<T>(g, pos, shape));
    let (pos, from) = (pos.clone(), g.shape().to_vec());
    record(out, &[g], || Ok(gather_rule("IndexBackward0", pos, from)))
}

/// The backward rule of a gather by positions from a tensor of shape `from` (a scatter-add
/// back), named as the op the user called (IndexBackward0, AsStridedBackward0 ...).
pub(crate) fn gather_rule(name: &'static str, pos: Arc<Vec<usize>>, from: Vec<usize>) -> Box<dyn Backward> {
    Box::new(GatherPositionsBackward { name, pos, from })
}

/// `zeros(shape)` with `out.flat[pos[k]] += g.flat[k]` (repeated positions accumulate).
pub fn scatter_positions(g: &Tensor, pos: &Arc<Vec<usize>>, shape: &[usize]) -> Result<Tensor> {
    let out = crate::with_float!(g.dtype(), "scatter", T => scatter::<T>(g, pos, shape));
    let (pos, from) = (pos.clone(), g.shape().to_vec());
    record(out, &[g], || Ok(Box::new(ScatterPositionsBackward { pos, from })))
}

fn gather<T: Float>(g: &Tensor, pos: &[usize], shape: &[usize]) -> Tensor {
    let gv = g.to_vec::<T>();
    Tensor::from_vec_unchecked(pos.iter().map(|&p| gv[p]).collect::<Vec<T>>(), shape)
}

fn scatter<T: Float>(g: &Tensor, pos: &[usize], shape: &[usize]) -> Tensor {
    let gv = g.to_vec::<T>();
    let mut out = vec![T::zero(); shape.iter().product()];
    for (&p, &v) in pos.iter().zip(&gv) {
        out[p] += v;
    }
    Tensor::from_vec_unchecked(out, shape)
}

struct GatherPositionsBackward {
    name: &'static str,
    pos: Arc<Vec<usize>>,
    from: Vec<usize>,
}
impl Backward for GatherPositionsBackward {
    fn name(&self) -> &'static str {
        self.name
    }
    fn saves_tensors(&self) -> bool {
        false
    }
    fn apply(&self, g: &Tensor, _needs: &[bool]) -> Result<Vec<Option<Tensor>>> {
        Ok(vec![Some(scatter_positions(g, &self.pos, &self.from)?)])
    }
    fn differentiable(&self) -> bool {
        true
    }
}

struct ScatterPositionsBackward {
    pos: Arc<Vec<usize>>,
    from: Vec<usize>,
}
impl Backward for ScatterPositionsBackward {
    fn name(&self) -> &'static str {
        "IndexPutBackward0"
    }
    fn saves_tensors(&self) -> bool {
        false
    }
    fn apply(&self, g: &Tensor, _needs: &[bool]) -> Result<Vec<Option<Tensor>>> {
        Ok(vec![Some(gather_positions(g, &self.pos, &self.from)?)])
    }
    fn differentiable(&self) -> bool {
        true
    }
}
