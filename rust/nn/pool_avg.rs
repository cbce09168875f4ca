//! Average pooling and adaptive average pooling. Both are a scaled sum over a box of each input
//! volume, the boxes the same for every volume, so both are a `Boxes` and share forward and
//! backward; they differ only in where the boxes lie and what divides the sum.

use std::marker::PhantomData;
use std::sync::Arc;

use super::max::adaptive_bins;
use super::{each_volume, geometry, layout, out_shape, plus_zero_from, rank_of, to_volume, with_input, Kind, PoolArgs};
use crate::autograd::{record, Backward, Saved};
use crate::bail;
use crate::error::Result;
use crate::nn::conv::with_grad;
use crate::tensor::alloc::{filled, numel, try_with_capacity, vec_filled};
use crate::tensor::{Float, Tensor};
use crate::with_float;

/// The boxes of one output volume: per axis, each output position's [start, end) of inputs;
/// and per output element the factor 1 / divisor (0 for a box with no input position).
#[derive(Clone, Debug)]
struct Boxes {
    axes: [Vec<(usize, usize)>; 3],
    scale: Vec<f64>,
}

impl Boxes {
    /// `avg_pool`'s windows, clipped to the input. The divisor is `divisor_override` when given,
    /// else the window's size counting padding (`count_include_pad`) or only the input
    /// positions it covers; in ceil mode a window running past the end of the padding counts
    /// only up to there, as in PyTorch.
    fn pooled(g: &super::Geom, count_include_pad: bool, divisor_override: Option<i64>) -> Result<Boxes> {
        // (clipped start, clipped end, length counting padding) along one axis.
        let axis = |i: usize| -> Vec<(usize, usize, usize)> {
            let (s, p, k, size) = (g.stride[i] as i64, g.padding[i] as i64, g.kernel[i] as i64, g.size[i] as i64);
            (0..g.out[i] as i64)
                .map(|o| {
                    let start = o * s - p;
                    let end = (start + k).min(size + p);
                    (start.max(0) as usize, end.min(size).max(0) as usize, (end - start) as usize)
                })
                .collect()
        };
        let [ad, ah, aw] = [axis(0), axis(1), axis(2)];
        let mut scale = try_with_capacity(g.out_len())?;
        for &(z0, z1, pz) in &ad {
            for &(y0, y1, py) in &ah {
                for &(x0, x1, px) in &aw {
                    let inside = z1.saturating_sub(z0) * y1.saturating_sub(y0) * x1.saturating_sub(x0);
                    let div = match divisor_override {
                        Some(d) => d as f64,
                        None if count_include_pad => (pz * py * px) as f64,
                        None => inside as f64,
                    };
                    scale.push(if inside == 0 { 0.0 } else { 1.0 / div });
                }
            }
        }
        let clip = |a: Vec<(usize, usize, usize)>| a.into_iter().map(|(s, e, _)| (s, e)).collect();
        Ok(Boxes { axes: [clip(ad), clip(ah), clip(aw)], scale })
    }

    /// Adaptive pooling's boxes (see `adaptive_bins`), each divided by its own size.
    fn adaptive(out: [usize; 3], size: [usize; 3]) -> Result<Boxes> {
        let axes = [adaptive_bins(out[0], size[0])?, adaptive_bins(out[1], size[1])?, adaptive_bins(out[2], size[2])?];
        let mut scale = try_with_capacity(out.iter().product())?;
        for z in &axes[0] {
            for y in &axes[1] {
                for x in &axes[2] {
                    scale.push(1.0 / ((z.1 - z.0) * (y.1 - y.0) * (x.1 - x.0)) as f64);
                }
            }
        }
        Ok(Boxes { axes, scale })
    }

    fn out_len(&self) -> usize {
        self.scale.len()
    }

    /// Output elements per depth position (the boxes of one (H, W) plane).
    fn per_plane(&self) -> usize {
        self.axes[1].len() * self.axes[2].len()
    }

    /// Forward: each box's sum times its scale, for `volumes` volumes of `size`. A box is summed
    /// plane by plane, so a 1-D or 2-D pool (one plane per box) runs the plain 2-D loop.
    fn sum<T: Float>(&self, x: &Tensor, volumes: usize, size: [usize; 3]) -> Result<Vec<T>> {
        let [_, h, w] = size;
        let (vin, vout, per) = (size.iter().product::<usize>(), self.out_len(), self.per_plane());
        let mut out = vec_filled(volumes * vout, T::from_f64(0.0))?;
        with_input::<T, _>(x, |xs| {
            each_volume(&mut out, vout, vin + vout * self.box_size(), |p, o| {
                let v = &xs[p * vin..(p + 1) * vin];
                for (dz, &(z0, z1)) in self.axes[0].iter().enumerate() {
                    let o = &mut o[dz * per..(dz + 1) * per];
                    for plane in v.chunks_exact(h * w).take(z1).skip(z0) {
                        let mut k = 0;
                        for &(y0, y1) in &self.axes[1] {
                            for &(x0, x1) in &self.axes[2] {
                                let mut s = T::from_f64(0.0);
                                for y in y0..y1 {
                                    s += plane[y * w + x0..y * w + x1].iter().copied().sum::<T>();
                                }
                                o[k] += s;
                                k += 1;
                            }
                        }
                    }
                    for (o, &scale) in o.iter_mut().zip(&self.scale[dz * per..(dz + 1) * per]) {
                        *o *= T::from_f64(scale);
                    }
                }
            })
        });
        Ok(out)
    }

    /// Backward: every output gradient times its scale, added onto each input position of its
    /// box (plane by plane, as `sum`).
    fn spread<T: Float>(&self, grad: &Tensor, input_shape: &[usize], size: [usize; 3]) -> Tensor {
        let [_, h, w] = size;
        let (vin, vout, per) = (size.iter().product::<usize>(), self.out_len(), self.per_plane());
        let mut gx = filled(input_shape.iter().product(), T::from_f64(0.0));
        with_grad::<T, _>(grad, |gs| {
            each_volume(&mut gx, vin, vin + vout * self.box_size(), |p, volume| {
                for (dz, &(z0, z1)) in self.axes[0].iter().enumerate() {
                    let go = &gs[p * vout + dz * per..p * vout + (dz + 1) * per];
                    let scale = &self.scale[dz * per..(dz + 1) * per];
                    for plane in volume.chunks_exact_mut(h * w).take(z1).skip(z0) {
                        let mut k = 0;
                        for &(y0, y1) in &self.axes[1] {
                            for &(x0, x1) in &self.axes[2] {
                                let d = go[k] * T::from_f64(scale[k]);
                                for y in y0..y1 {
                                    plane[y * w + x0..y * w + x1].iter_mut().for_each(|v| *v += d);
                                }
                                k += 1;
                            }
                        }
                    }
                }
            })
        });
        Tensor::from_vec_unchecked(gx, input_shape)
    }

    /// The largest box's element count (for the parallel grain).
    fn box_size(&self) -> usize {
        self.axes.iter().map(|a| a.iter().map(|r| r.1.saturating_sub(r.0)).max().unwrap_or(0)).product()
    }
}

// ---- average pool ------------------------------------------------------------------------

/// `F.avg_pool1d/2d/3d` (rank = the arguments' length; dilation must be all ones) on
/// (N, C, *S) or (C, *S). See `Boxes::pooled` for the divisor.
pub fn avg_pool(x: &Tensor, a: &PoolArgs, count_include_pad: bool, divisor_override: Option<i64>) -> Result<Tensor> {
    let rank = a.kernel.len();
    let op = Kind::Avg.name(rank);
    if divisor_override == Some(0) {
        bail!(Runtime, "{op}: divisor must be not zero");
    }
    let g = geometry(Kind::Avg, x, a)?;
    let boxes = Boxes::pooled(&g, count_include_pad, divisor_override)?;
    let shape = out_shape(x, rank, g.out);
    with_float!(x.dtype(), op, T => {
        let out = boxes.sum::<T>(x, g.volumes, g.size)?;
        record(Tensor::from_vec_unchecked(out, &shape), &[x], || {
            let name = if rank == 3 { "AvgPool3DBackward0" } else { "AvgPool2DBackward0" };
            Ok(Box::new(BoxBackward::<T> { name, input: Saved::new(x)?, pool: BoxPool { boxes: Arc::new(boxes), size: g.size, input_shape: x.shape().to_vec(), output_shape: shape.clone() }, attrs: a.attrs_avg(count_include_pad, divisor_override), t: PhantomData }))
        })
    })
}

// ---- adaptive average pool ---------------------------------------------------------------

/// `F.adaptive_avg_pool1d/2d/3d` on (N, C, *S) or (C, *S) to output_size (rank = its length):
/// output i along an axis averages inputs floor(i * size / out) .. ceil((i + 1) * size / out).
pub fn adaptive_avg_pool(x: &Tensor, output_size: &[i64]) -> Result<Tensor> {
    let rank = rank_of(Kind::AdaptiveAvg, &[output_size.len()])?;
    let op = Kind::AdaptiveAvg.name(rank);
    if output_size.iter().any(|&s| s < 0) {
        bail!(Runtime, "{op}: elements of output_size must be greater than or equal to 0 but received {output_size:?}");
    }
    let (volumes, size) = layout(op, x, rank)?;
    if let Some(d) = (x.ndim() - rank..x.ndim()).find(|&d| x.shape()[d] == 0) {
        bail!(Runtime, "{op}(): Expected input to have non-zero size for non-batch dimensions, but input has sizes {:?} with dimension {d} being empty", x.shape());
    }
    let out = to_volume(&output_size.iter().map(|&s| s as usize).collect::<Vec<_>>(), 1);
    let shape = out_shape(x, rank, out);
    numel(&shape, 8, op)?;
    numel(&out, 16, op)?;
    let boxes = Boxes::adaptive(out, size)?;
    with_float!(x.dtype(), op, T => {
        let out = boxes.sum::<T>(x, volumes, size)?;
        record(Tensor::from_vec_unchecked(out, &shape), &[x], || {
            let name = if rank == 3 { "AdaptiveAvgPool3DBackward0" } else { "AdaptiveAvgPool2DBackward0" };
            Ok(Box::new(BoxBackward::<T> { name, input: Saved::new(x)?, pool: BoxPool { boxes: Arc::new(boxes), size, input_shape: x.shape().to_vec(), output_shape: shape.clone() }, attrs: Vec::new(), t: PhantomData }))
        })
    })
}

struct BoxBackward<T> {
    name: &'static str,
    /// The pooled input, only for the zero gradient a recorded backward gives it.
    input: Saved,
    pool: BoxPool,
    /// The window parameters, for a trace (empty for adaptive pooling).
    attrs: crate::autograd::trace::Attrs,
    t: PhantomData<fn() -> T>,
}

impl<T: Float> Backward for BoxBackward<T> {
    fn name(&self) -> &'static str {
        self.name
    }
    fn attrs(&self) -> crate::autograd::trace::Attrs {
        self.attrs.clone()
    }
    fn apply(&self, grad: &Tensor, _needs: &[bool]) -> Result<Vec<Option<Tensor>>> {
        if crate::autograd::is_recording() {
            return Ok(vec![Some(plus_zero_from(self.pool.spread(grad)?, &self.input.get()?)?)]);
        }
        Ok(vec![Some(self.pool.boxes.spread::<T>(grad, &self.pool.input_shape, self.pool.size))])
    }
    fn differentiable(&self) -> bool {
        true
    }
}

/// One box pooling as a pair of recorded linear maps, for a backward that creates a graph: the
/// pooling (`sum`: input -> output) and its adjoint (`spread`: output -> input, the pooling's
/// backward). Each one's backward is the other.
#[derive(Clone)]
struct BoxPool {
    boxes: Arc<Boxes>,
    size: [usize; 3],
    input_shape: Vec<usize>,
    output_shape: Vec<usize>,
}

impl BoxPool {
    fn volumes(&self) -> usize {
        self.input_shape.iter().product::<usize>() / self.size.iter().product::<usize>().max(1)
    }
    fn sum(&self, x: &Tensor) -> Result<Tensor> {
        let out = with_float!(x.dtype(), "avg_pool backward", T => Tensor::from_vec_unchecked(self.boxes.sum::<T>(x, self.volumes(), self.size)?, &self.output_shape));
        record(out, &[x], || Ok(Box::new(BoxPair { pool: self.clone(), spread: false })))
    }
    fn spread(&self, g: &Tensor) -> Result<Tensor> {
        let out = with_float!(g.dtype(), "avg_pool backward", T => self.boxes.spread::<T>(g, &self.input_shape, self.size));
        record(out, &[g], || Ok(Box::new(BoxPair { pool: self.clone(), spread: true })))
    }
}

struct BoxPair {
    pool: BoxPool,
    /// The op was the spread (its backward pools), else the pooling.
    spread: bool,
}

impl Backward for BoxPair {
    fn name(&self) -> &'static str {
        if self.spread { "AvgPoolBackwardBackward0" } else { "AvgPoolBackward0" }
    }
    fn apply(&self, grad: &Tensor, _needs: &[bool]) -> Result<Vec<Option<Tensor>>> {
        Ok(vec![Some(if self.spread { self.pool.sum(grad)? } else { self.pool.spread(grad)? })])
    }
    fn saves_tensors(&self) -> bool {
        false
    }
    fn differentiable(&self) -> bool {
        true
    }
}
