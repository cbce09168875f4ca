//! `max_unpool1d/2d/3d`: the partial inverse of max pooling. Each input value is written at the
//! position its index names (flat within the output volume), every other output element is zero;
//! the gradient gathers the output gradient back from those positions.

use std::marker::PhantomData;

use super::{each_volume, gather, layout, out_shape, rank_of, to_volume, with_input, Kind, Route};
use crate::autograd::{record, Backward, Saved};
use crate::bail;
use crate::error::Result;
use crate::nn::conv::with_grad;
use crate::tensor::alloc::{filled, numel, vec_filled};
use crate::tensor::{DType, Element, Float, Tensor};
use crate::with_float;

/// `max_unpool{rank}d` of `x` (N, C, *S) or (C, *S) with int64 `indices` of the same shape into
/// spatial `output_size` (rank = its length). When two indices of a volume coincide the later
/// value wins (PyTorch's CPU loop; it calls the result nondeterministic).
pub fn max_unpool(x: &Tensor, indices: &Tensor, output_size: &[i64]) -> Result<Tensor> {
    let rank = rank_of(Kind::Unpool, &[output_size.len()])?;
    let op = Kind::Unpool.name(rank);
    if indices.dtype() != DType::I64 {
        bail!(Runtime, "{op}: elements in indices should be type int64 but got: {}", indices.dtype().torch_name());
    }
    if output_size.iter().any(|&s| s < 0) {
        bail!(Runtime, "{op}: output_size must contain non-negative spatial dimensions, but got {output_size:?}");
    }
    if x.ndim() != rank + 1 && x.ndim() != rank + 2 {
        bail!(Runtime, "Input to {op} should be a {}d or {}d Tensor, but got a tensor with {} dimensions.", rank + 1, rank + 2, x.ndim());
    }
    if x.shape() != indices.shape() {
        bail!(
            Runtime,
            "{op}: Expected shape of indices to be same as that of the input tensor ({:?}) but got indices tensor with shape: {:?}",
            x.shape(),
            indices.shape()
        );
    }
    if let Some(d) = (1..x.ndim()).find(|&d| x.shape()[d] == 0) {
        bail!(Runtime, "{op}(): Expected input to have non-zero size for non-batch dimensions, but got {:?} with dimension {d} being empty.", x.shape());
    }
    let (volumes, size) = layout(op, x, rank)?;
    let out = to_volume(&output_size.iter().map(|&s| s as usize).collect::<Vec<_>>(), 1);
    let shape = out_shape(x, rank, out);
    numel(&shape, 8, op)?;
    let (vin, vout) = (size.iter().product::<usize>(), out.iter().product::<usize>());
    let idx = with_input::<i64, _>(indices, |i| i.to_vec());
    // PyTorch checks the indices only when the output has elements.
    if let Some(&bad) = idx.iter().find(|&&i| vout > 0 && (i < 0 || i as u64 >= vout as u64)) {
        let dims: Vec<String> = output_size.iter().map(|s| s.to_string()).collect();
        let dims = if rank == 1 { format!("{}x1", dims[0]) } else { dims.join("x") };
        bail!(Runtime, "{op}: Found an invalid max index: {bad} (output volumes are of size {dims})");
    }
    with_float!(x.dtype(), op, T => {
        let mut y = vec_filled(volumes * vout, T::from_f64(0.0))?;
        with_input::<T, _>(x, |xs| {
            each_volume(&mut y, vout, vin + vout, |p, o| {
                for (&v, &i) in xs[p * vin..(p + 1) * vin].iter().zip(&idx[p * vin..(p + 1) * vin]) {
                    o[i as usize] = v;
                }
            })
        });
        let indices = Tensor::from_vec_unchecked(idx, x.shape());
        record(Tensor::from_vec_unchecked(y, &shape), &[x], || {
            let name = if rank == 3 { "MaxUnpool3DBackward0" } else { "MaxUnpool2DBackward0" };
            Ok(Box::new(MaxUnpoolBackward::<T> { name, vin, vout, input_shape: x.shape().to_vec(), output_shape: shape.clone(), indices: Saved::new(&indices)?, t: PhantomData }))
        })
    })
}

/// The gradient of an unpool: each input takes the output gradient at its index (a gather; an
/// input whose value a later duplicate overwrote still gets it, as in PyTorch).
struct MaxUnpoolBackward<T> {
    name: &'static str,
    vin: usize,
    vout: usize,
    input_shape: Vec<usize>,
    output_shape: Vec<usize>,
    indices: Saved,
    t: PhantomData<fn() -> T>,
}

impl<T: Float> Backward for MaxUnpoolBackward<T> {
    fn name(&self) -> &'static str {
        self.name
    }
    fn apply(&self, grad: &Tensor, _needs: &[bool]) -> Result<Vec<Option<Tensor>>> {
        let (vin, vout) = (self.vin, self.vout);
        if crate::autograd::is_recording() {
            let route = Route { volumes: self.input_shape.iter().product::<usize>() / vin.max(1), small: vin, large: vout, small_shape: self.input_shape.clone(), large_shape: self.output_shape.clone() };
            return Ok(vec![Some(route.gather(grad, &self.indices.get()?)?)]);
        }
        let mut gx = filled(self.input_shape.iter().product(), T::from_f64(0.0));
        with_input::<i64, _>(&self.indices.get()?, |idx| with_grad::<T, _>(grad, |gs| gather(&mut gx, gs, idx, vout, vin)));
        Ok(vec![Some(Tensor::from_vec_unchecked(gx, &self.input_shape))])
    }
    fn differentiable(&self) -> bool {
        true
    }
}
