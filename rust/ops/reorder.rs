//! flip and roll: one copy pass per dim, blocks of the dim's neighbours moved whole. They were
//! advanced indexing with an index per position (15-18x PyTorch's time on 512 x 2048).
//!
//! The input is seen as (outer, n, inner) around the dim: flip writes block i from block
//! n - 1 - i, roll from block (i - shift) mod n (two runs). Backward is the same op undone:
//! flip again, roll by the opposite shift.

use crate::autograd::{record, Backward};
use crate::bail;
use crate::error::Result;
use crate::ops::kernel::build;
use crate::tensor::iter::GRAIN;
use crate::tensor::Tensor;
use crate::tensor::copy::write_values;
use crate::with_dtype;

/// How one dim's blocks move: reversed, or rotated right by a shift in 0..n.
#[derive(Clone, Copy)]
enum Move {
    Flip,
    Roll(usize),
}

/// `x` with the blocks along `dim` moved, into a fresh contiguous tensor.
fn moved(x: &Tensor, dim: usize, how: Move) -> Tensor {
    let shape = x.shape();
    let (n, inner) = (shape[dim], shape[dim + 1..].iter().product::<usize>());
    let block = n * inner;
    with_dtype!(x.dtype(), T => x.with_view::<T, _>(|v| {
        let src = v.contiguous();
        let out = build(src.len(), (GRAIN / block.max(1)).max(1) * block.max(1), |start, out| {
            for (o, dst) in out.chunks_mut(block.max(1)).enumerate() {
                let base = start + o * block;
                let from = &src[base..base + block];
                match how {
                    // The last dim: the row reversed (a loop that vectorises).
                    Move::Flip if inner == 1 => reversed(dst, from),
                    Move::Flip => {
                        for i in 0..n {
                            write_values(&mut dst[i * inner..(i + 1) * inner], &from[(n - 1 - i) * inner..(n - i) * inner]);
                        }
                    }
                    // Two runs: the last s blocks first, then the others.
                    Move::Roll(s) => {
                        let (head, tail) = dst.split_at_mut(s * inner);
                        write_values(head, &from[(n - s) * inner..]);
                        write_values(tail, &from[..(n - s) * inner]);
                    }
                }
            }
        });
        Tensor::from_vec_unchecked(out, shape)
    }))
}

fn reversed<T: Copy>(dst: &mut [std::mem::MaybeUninit<T>], src: &[T]) {
    for (d, &s) in dst.iter_mut().zip(src.iter().rev()) {
        d.write(s);
    }
}

/// `torch.flip(x, dims)`: `dims` already wrapped and distinct (the Python layer checks).
pub fn flip(x: &Tensor, dims: &[usize]) -> Result<Tensor> {
    if let Some(&d) = dims.iter().find(|&&d| d >= x.ndim().max(1)) {
        bail!(Index, "flip: dim {d} out of range for a tensor of {} dims", x.ndim());
    }
    let mut out = x.detach();
    for &d in dims {
        if x.ndim() > 0 && x.shape()[d] > 1 {
            out = moved(&out, d, Move::Flip);
        }
    }
    // Always a new tensor, as PyTorch's flip (even with nothing to reverse).
    let out = if out.shares_storage(x) { out.deep_copy() } else { out };
    record(out, &[x], || Ok(Box::new(FlipBackward { dims: dims.to_vec() })))
}

/// `torch.roll(x, shifts, dims)` with one shift per dim (the Python layer pairs them and rolls
/// the flattened tensor when no dims are given).
pub fn roll(x: &Tensor, shifts: &[i64], dims: &[usize]) -> Result<Tensor> {
    if shifts.len() != dims.len() {
        bail!(Runtime, "roll: shifts and dimensions must align. shifts: {}, dims: {}", shifts.len(), dims.len());
    }
    if let Some(&d) = dims.iter().find(|&&d| d >= x.ndim().max(1)) {
        bail!(Index, "roll: dim {d} out of range for a tensor of {} dims", x.ndim());
    }
    let mut out = x.detach();
    for (&s, &d) in shifts.iter().zip(dims) {
        let n = if x.ndim() == 0 { 1 } else { x.shape()[d] as i64 };
        if n > 1 && s.rem_euclid(n) != 0 {
            out = moved(&out, d, Move::Roll(s.rem_euclid(n) as usize));
        }
    }
    let out = if out.shares_storage(x) { out.deep_copy() } else { out };
    record(out, &[x], || Ok(Box::new(RollBackward { shifts: shifts.to_vec(), dims: dims.to_vec() })))
}

/// One value expanded to every element (the gradient of a sum): flipped or rolled, it is itself,
/// so the backward passes it on instead of copying it out in full (2.6x PyTorch's time). Not
/// while recording a graph (create_graph), whose rule must stay the flip or roll.
fn is_one_value(g: &Tensor) -> bool {
    !crate::autograd::is_recording() && g.layout().is_one_value()
}

struct FlipBackward {
    dims: Vec<usize>,
}
impl Backward for FlipBackward {
    fn name(&self) -> &'static str {
        "FlipBackward0"
    }
    fn attrs(&self) -> crate::autograd::trace::Attrs {
        crate::attrs![("dims", &self.dims)]
    }
    fn saves_tensors(&self) -> bool {
        false
    }
    fn apply(&self, g: &Tensor, _needs: &[bool]) -> Result<Vec<Option<Tensor>>> {
        if is_one_value(g) {
            return Ok(vec![Some(g.clone())]);
        }
        Ok(vec![Some(flip(g, &self.dims)?)])
    }
    fn differentiable(&self) -> bool {
        true
    }
}

struct RollBackward {
    shifts: Vec<i64>,
    dims: Vec<usize>,
}
impl Backward for RollBackward {
    fn name(&self) -> &'static str {
        "RollBackward0"
    }
    fn attrs(&self) -> crate::autograd::trace::Attrs {
        crate::attrs![("shifts", &self.shifts), ("dims", &self.dims)]
    }
    fn saves_tensors(&self) -> bool {
        false
    }
    fn apply(&self, g: &Tensor, _needs: &[bool]) -> Result<Vec<Option<Tensor>>> {
        if is_one_value(g) {
            return Ok(vec![Some(g.clone())]);
        }
        let back: Vec<i64> = self.shifts.iter().map(|&s| -s).collect();
        Ok(vec![Some(roll(g, &back, &self.dims)?)])
    }
    fn differentiable(&self) -> bool {
        true
    }
}
