//! Pooling over 1, 2 or 3 spatial axes of (N, C, *S) or unbatched (C, *S) inputs: max (keeping
//! the argmax indices backward needs), average, adaptive average, adaptive max, and max_unpool.
//!
//! Every kernel works on volumes (D, H, W): a 2-D pool is a volume of depth 1 and a 1-D pool one
//! of height 1 as well, with a window of 1 at stride 1 along the added axes, so one set of loops
//! serves the three ranks (as PyTorch runs its 1-D pools through the 2-D kernels). Each volume
//! (one channel of one sample) is independent, so volumes run in parallel; backward writes each
//! input volume's gradient from its own output volume only, in a fixed order, so results do not
//! depend on the thread count.
//!
//! Output sizes, window clipping, the checks and the tie and NaN rules follow PyTorch's CPU
//! kernels (`pooling_output_shape`, `pool2d_shape_check`, `pool3d_shape_check`, MaxPoolKernel.cpp,
//! AvgPoolKernel.cpp, AdaptiveMaxPoolKernel.cpp, MaxUnpoolKernel.cpp).
//!
//! This file holds what the ops share (arguments, shapes, checks, the per-volume loop and the
//! backward that routes gradients by argmax index); the ops live in pool_max.rs (max and adaptive
//! max), pool_avg.rs (average and adaptive average: both sum boxes) and pool_unpool.rs.

use std::marker::PhantomData;

use crate::autograd::{record, Backward, Saved};
use crate::bail;
use crate::error::Result;
use crate::nn::conv::with_grad;
use crate::parallel::{for_each_chunk_mut, for_each_task};
use crate::tensor::alloc::filled;
use crate::tensor::iter::GRAIN;
use crate::tensor::{Element, Float, Tensor};
use crate::with_float;

#[path = "pool_avg.rs"]
mod avg;
#[path = "pool_max.rs"]
mod max;
#[cfg(test)]
#[path = "pool_tests.rs"]
mod tests;
#[path = "pool_unpool.rs"]
mod unpool;

pub use avg::{adaptive_avg_pool, avg_pool};
pub use max::{adaptive_max_pool, max_pool};
pub use unpool::max_unpool;

/// Window parameters as the caller gave them, one entry per spatial axis (1 to 3 axes, all four
/// of the same length); PyTorch's stride=None is resolved to the kernel size before this point.
#[derive(Clone, Debug)]
pub struct PoolArgs {
    pub kernel: Vec<i64>,
    pub stride: Vec<i64>,
    pub padding: Vec<i64>,
    pub dilation: Vec<i64>,
    pub ceil_mode: bool,
}

impl PoolArgs {
    /// The window parameters for a trace.
    pub fn attrs(&self) -> crate::autograd::trace::Attrs {
        crate::attrs![("kernel_size", &self.kernel), ("stride", &self.stride), ("padding", &self.padding), ("dilation", &self.dilation), ("ceil_mode", self.ceil_mode)]
    }
    pub fn attrs_avg(&self, count_include_pad: bool, divisor_override: Option<i64>) -> crate::autograd::trace::Attrs {
        let mut a = self.attrs();
        a.push(("count_include_pad", count_include_pad.into()));
        a.push(("divisor_override", crate::autograd::trace::Attr::Int(divisor_override.unwrap_or(0))));
        a
    }
}

/// The pooling ops, for their names in messages (`max_pool2d` ...) by rank.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Kind {
    Max,
    Avg,
    AdaptiveAvg,
    AdaptiveMax,
    Unpool,
}

impl Kind {
    pub(crate) fn name(self, rank: usize) -> &'static str {
        const NAMES: [[&str; 3]; 5] = [
            ["max_pool1d", "max_pool2d", "max_pool3d"],
            ["avg_pool1d", "avg_pool2d", "avg_pool3d"],
            ["adaptive_avg_pool1d", "adaptive_avg_pool2d", "adaptive_avg_pool3d"],
            ["adaptive_max_pool1d", "adaptive_max_pool2d", "adaptive_max_pool3d"],
            ["max_unpool1d", "max_unpool2d", "max_unpool3d"],
        ];
        NAMES[self as usize][rank.clamp(1, 3) - 1]
    }
}

/// One pooling problem in volume form: `volumes` independent (D, H, W) inputs, each pooled to
/// `out` by windows of `kernel` taps at `stride`, `padding` and `dilation` per axis.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Geom {
    pub volumes: usize,
    pub size: [usize; 3],
    pub out: [usize; 3],
    pub kernel: [usize; 3],
    pub stride: [usize; 3],
    pub padding: [usize; 3],
    pub dilation: [usize; 3],
}

impl Geom {
    pub fn in_len(&self) -> usize {
        self.size.iter().product()
    }
    pub fn out_len(&self) -> usize {
        self.out.iter().product()
    }
    pub fn taps(&self) -> usize {
        self.kernel.iter().product()
    }
}

/// PyTorch's `pooling_output_shape`: floor (or ceil) division, and in ceil mode the last window
/// must start inside the input or its leading padding.
pub(crate) fn output_size(size: i64, k: i64, pad: i64, stride: i64, dilation: i64, ceil: bool) -> i64 {
    let span = size + 2 * pad - dilation * (k - 1) - 1 + if ceil { stride - 1 } else { 0 };
    let mut out = span.div_euclid(stride) + 1;
    if ceil && (out - 1) * stride >= size + pad {
        out -= 1;
    }
    out
}

/// `v` (one value per spatial axis, the last axes) in volume form, `fill` on the missing
/// leading axes.
pub(crate) fn to_volume<T: Copy>(v: &[T], fill: T) -> [T; 3] {
    let mut out = [fill; 3];
    out[3 - v.len()..].copy_from_slice(v);
    out
}

/// The spatial axes' letters in PyTorch's messages (kT kH kW, padW ...).
fn letters(rank: usize) -> &'static [&'static str] {
    &["T", "H", "W"][3 - rank..]
}

/// "kH: 2 kW: 3" for prefix "k"; reversed ("padW = 1, padH = 0") as pool2d_shape_check writes
/// its padding message.
fn listed(prefix: &str, v: &[i64], reversed: bool) -> String {
    let names = letters(v.len());
    let mut items: Vec<String> = names.iter().zip(v).map(|(n, x)| if reversed { format!("{prefix}{n} = {x}") } else { format!("{prefix}{n}: {x}") }).collect();
    if reversed {
        items.reverse();
        items.join(", ")
    } else {
        items.join(" ")
    }
}

/// The spatial rank of an op's arguments: 1 to 3, the same for every per-axis argument.
pub(crate) fn rank_of(kind: Kind, lens: &[usize]) -> Result<usize> {
    let rank = lens[0];
    if !(1..=3).contains(&rank) || lens.iter().any(|&l| l != rank) {
        bail!(Runtime, "{}: expected 1 to 3 spatial sizes per argument, all the same length, got lengths {lens:?}", kind.name(rank));
    }
    Ok(rank)
}

/// The leading (batch and channel) dims of a (N, C, *S) or unbatched (C, *S) input flattened to
/// a count of volumes, and the spatial sizes in volume form.
pub(crate) fn layout(op: &str, x: &Tensor, rank: usize) -> Result<(usize, [usize; 3])> {
    let nd = x.ndim();
    if nd != rank + 1 && nd != rank + 2 {
        let axes = ["L", "H, W", "D, H, W"][rank - 1];
        bail!(
            Runtime,
            "{op}: expected a {}-D (unbatched C, {axes}) or {}-D (batched N, C, {axes}) input, but got input of size: {:?}",
            rank + 1,
            rank + 2,
            x.shape()
        );
    }
    let (lead, spatial) = x.shape().split_at(nd - rank);
    Ok((lead.iter().product(), to_volume(spatial, 1)))
}

/// The output shape: the input's leading dims, then the spatial output sizes.
pub(crate) fn out_shape(x: &Tensor, rank: usize, out: [usize; 3]) -> Vec<usize> {
    let mut shape = x.shape()[..x.ndim() - rank].to_vec();
    shape.extend_from_slice(&out[3 - rank..]);
    shape
}

/// Checks the window arguments and the input as PyTorch's pool2d/pool3d_shape_check do, and
/// works out the output size. `avg` adds avg_pool3d's rule that the input be at least the kernel.
pub(crate) fn geometry(kind: Kind, x: &Tensor, a: &PoolArgs) -> Result<Geom> {
    let rank = rank_of(kind, &[a.kernel.len(), a.stride.len(), a.padding.len(), a.dilation.len()])?;
    let op = kind.name(rank);
    if a.kernel.iter().any(|&k| k <= 0) {
        bail!(Runtime, "{op}: kernel size should be greater than zero, but got {}", listed("k", &a.kernel, false));
    }
    if a.stride.iter().any(|&s| s <= 0) {
        bail!(Runtime, "{op}: stride should be greater than zero, but got {}", listed("d", &a.stride, false));
    }
    if a.dilation.iter().any(|&d| d <= 0) {
        bail!(Runtime, "{op}: dilation should be greater than zero, but got {}", listed("dilation", &a.dilation, false));
    }
    if a.padding.iter().any(|&p| p < 0) {
        bail!(Runtime, "{op}: pad must be non-negative, but got {}", listed("pad", &a.padding, false));
    }
    let (volumes, size) = layout(op, x, rank)?;
    // The batch may be empty; a channel or spatial size of zero may not.
    let batched = x.ndim() == rank + 2;
    if x.shape()[usize::from(batched)..].contains(&0) {
        bail!(
            Runtime,
            "{op}: Expected {}D or {}D (batch mode) tensor with optional 0 dim batch size for input, but got: {:?}",
            rank + 1,
            rank + 2,
            x.shape()
        );
    }
    let spatial = &x.shape()[x.ndim() - rank..];
    if kind == Kind::Avg && rank == 3 && spatial.iter().zip(&a.kernel).any(|(&s, &k)| (s as i64) < k) {
        let (s, k) = (spatial.iter().map(|&s| s as i64).collect::<Vec<_>>(), &a.kernel);
        bail!(Runtime, "{op}: input image ({}) smaller than kernel size ({})", listed("", &s, false), listed("k", k, false));
    }
    if a.padding.iter().zip(&a.kernel).any(|(&p, &k)| p > k / 2) {
        bail!(
            Runtime,
            "{op}: pad should be smaller than or equal to half of kernel size, but got {}, {}",
            listed("pad", &a.padding, true),
            listed("k", &a.kernel, true)
        );
    }
    let out: Vec<i64> = (0..rank).map(|i| output_size(spatial[i] as i64, a.kernel[i], a.padding[i], a.stride[i], a.dilation[i], a.ceil_mode)).collect();
    if out.iter().any(|&o| o < 1) {
        let c = x.shape()[x.ndim() - rank - 1];
        let dims = |v: &mut dyn Iterator<Item = i64>| v.map(|d| format!("x{d}")).collect::<String>();
        bail!(
            Runtime,
            "{op}: Given input size: ({c}{}). Calculated output size: ({c}{}). Output size is too small",
            dims(&mut spatial.iter().map(|&s| s as i64)),
            dims(&mut out.iter().copied())
        );
    }
    let u = |v: &[i64], fill: usize| to_volume(&v.iter().map(|&e| e as usize).collect::<Vec<_>>(), fill);
    Ok(Geom {
        volumes,
        size,
        out: u(&out, 1),
        kernel: u(&a.kernel, 1),
        stride: u(&a.stride, 1),
        padding: u(&a.padding, 0),
        dilation: u(&a.dilation, 1),
    })
}

/// Runs `f(volume, out_volume)` for every volume of `out` (`per` elements each), in parallel
/// tasks of about GRAIN elements of work when the whole is large.
pub(crate) fn each_volume<T: Send>(out: &mut [T], per: usize, work_per_volume: usize, f: impl Fn(usize, &mut [T]) + Sync) {
    if out.is_empty() || per == 0 {
        return;
    }
    let per_task = (GRAIN / work_per_volume.max(1)).max(1);
    let task = |(t, chunk): (usize, &mut [T])| {
        for (k, v) in chunk.chunks_mut(per).enumerate() {
            f(t * per_task + k, v);
        }
    };
    if out.len() / per * work_per_volume > GRAIN {
        for_each_chunk_mut(out, per_task * per, &|t, chunk| task((t, chunk)));
    } else {
        out.chunks_mut(per_task * per).enumerate().for_each(task);
    }
}

/// `each_volume` over two outputs at once (values and argmax indices), volume p of each.
pub(crate) fn each_volume_pair<A: Send, B: Send>(a: &mut [A], b: &mut [B], per: usize, work_per_volume: usize, f: impl Fn(usize, &mut [A], &mut [B]) + Sync) {
    if a.is_empty() || per == 0 {
        return;
    }
    let per_task = (GRAIN / work_per_volume.max(1)).max(1);
    let task = |(t, (ca, cb)): (usize, (&mut [A], &mut [B]))| {
        for (k, (va, vb)) in ca.chunks_mut(per).zip(cb.chunks_mut(per)).enumerate() {
            f(t * per_task + k, va, vb);
        }
    };
    let chunk = per_task * per;
    if a.len() / per * work_per_volume > GRAIN {
        for_each_task(a.chunks_mut(chunk).zip(b.chunks_mut(chunk)).enumerate().collect(), &task);
    } else {
        a.chunks_mut(chunk).zip(b.chunks_mut(chunk)).enumerate().for_each(task);
    }
}

/// The elements of a tensor as one contiguous slice.
pub(crate) fn with_input<T: Element, R>(x: &Tensor, f: impl FnOnce(&[T]) -> R) -> R {
    x.with_view::<T, _>(|v| f(&v.contiguous()))
}

/// Backward of max pooling and adaptive max pooling: each output gradient added onto the input
/// position its index names (flat within the input volume).
pub(crate) struct ScatterByIndex<T> {
    pub name: &'static str,
    pub volumes: usize,
    pub in_len: usize,
    pub out_len: usize,
    pub input_shape: Vec<usize>,
    pub indices: Saved,
    /// The pooled input, only for the zero gradient a recorded backward gives it.
    pub input: Saved,
    /// The window parameters, for a trace (empty for adaptive pooling: the shapes say it all).
    pub attrs: crate::autograd::trace::Attrs,
    pub t: PhantomData<fn() -> T>,
}

impl<T: Float> Backward for ScatterByIndex<T> {
    fn name(&self) -> &'static str {
        self.name
    }
    fn attrs(&self) -> crate::autograd::trace::Attrs {
        self.attrs.clone()
    }
    fn apply(&self, grad: &Tensor, _needs: &[bool]) -> Result<Vec<Option<Tensor>>> {
        if crate::autograd::is_recording() {
            let route = Route { volumes: self.volumes, small: self.out_len, large: self.in_len, small_shape: grad.shape().to_vec(), large_shape: self.input_shape.clone() };
            return Ok(vec![Some(plus_zero_from(route.scatter(grad, &self.indices.get()?)?, &self.input.get()?)?)]);
        }
        let (vin, vout) = (self.in_len, self.out_len);
        let mut gx = filled(self.volumes * vin, T::from_f64(0.0));
        with_input::<i64, _>(&self.indices.get()?, |idx| {
            with_grad::<T, _>(grad, |gs| scatter_add(&mut gx, gs, idx, vin, vout))
        });
        Ok(vec![Some(Tensor::from_vec_unchecked(gx, &self.input_shape))])
    }
    fn differentiable(&self) -> bool {
        true
    }
}

/// `t` plus a zero that depends on `x` (when x has history): PyTorch's double backward of a
/// pooling rule gives the pooled input an explicit zero gradient (`self: zeros_like(self)`), so
/// what lies behind it gets a gradient of zeros rather than none (weight decay and momentum see
/// the difference). `where(false, x, 0)` is zero even where x is inf or NaN.
pub(crate) fn plus_zero_from(t: Tensor, x: &Tensor) -> Result<Tensor> {
    use crate::ops::binary::{add, where_};
    if !x.requires_grad() || t.shape() != x.shape() {
        return Ok(t);
    }
    let never = Tensor::zeros(&[], crate::tensor::DType::Bool);
    add(&t, &where_(&never, x, &Tensor::zeros(&[], x.dtype()))?)
}

/// Adds each of the `small` values of a volume of `src` onto the position of the `large`-element
/// volume of `dst` its index names. A window wholly in padding (dilated taps stepping over the
/// input) keeps its first tap's position, which can lie past the volume: nothing to route there
/// (PyTorch writes out of bounds).
fn scatter_add<T: Float>(dst: &mut [T], src: &[T], idx: &[i64], large: usize, small: usize) {
    each_volume(dst, large, large + small, |p, volume| {
        for (&d, &i) in src[p * small..(p + 1) * small].iter().zip(&idx[p * small..(p + 1) * small]) {
            if let Some(v) = usize::try_from(i).ok().and_then(|i| volume.get_mut(i)) {
                *v += d;
            }
        }
    })
}

/// Each of the `small` elements of a volume of `dst` takes the value of `src`'s `large`-element
/// volume at its index (zero where the index lies outside): the adjoint of `scatter_add`.
pub(crate) fn gather<T: Float>(dst: &mut [T], src: &[T], idx: &[i64], large: usize, small: usize) {
    each_volume(dst, small, 2 * small, |p, out| {
        let vol = &src[p * large..(p + 1) * large];
        for (o, &i) in out.iter_mut().zip(&idx[p * small..(p + 1) * small]) {
            *o = usize::try_from(i).ok().and_then(|i| vol.get(i)).copied().unwrap_or(T::from_f64(0.0));
        }
    })
}

/// Routing by per-volume indices between tensors of `small` and `large` elements per volume:
/// max pooling's backward scatters its gradient (small, the output) onto the input (large), and
/// max_unpool's gathers it back. The two are each other's adjoint, so as recorded ops (for a
/// backward that creates a graph) each one's backward is the other.
#[derive(Clone)]
pub(crate) struct Route {
    pub volumes: usize,
    pub small: usize,
    pub large: usize,
    pub small_shape: Vec<usize>,
    pub large_shape: Vec<usize>,
}

impl Route {
    /// small -> large, adding.
    pub fn scatter(&self, src: &Tensor, idx: &Tensor) -> Result<Tensor> {
        let out = with_float!(src.dtype(), "max_pool backward", T => {
            let mut dst = filled(self.volumes * self.large, T::from_f64(0.0));
            with_input::<i64, _>(idx, |ix| with_grad::<T, _>(src, |s| scatter_add(&mut dst, s, ix, self.large, self.small)));
            Tensor::from_vec_unchecked(dst, &self.large_shape)
        });
        record(out, &[src], || Ok(Box::new(RouteBackward { route: self.clone(), gather: false, indices: Saved::new(idx)? })))
    }
    /// large -> small.
    pub fn gather(&self, src: &Tensor, idx: &Tensor) -> Result<Tensor> {
        let out = with_float!(src.dtype(), "max_unpool backward", T => {
            let mut dst = filled(self.volumes * self.small, T::from_f64(0.0));
            with_input::<i64, _>(idx, |ix| with_grad::<T, _>(src, |s| gather(&mut dst, s, ix, self.large, self.small)));
            Tensor::from_vec_unchecked(dst, &self.small_shape)
        });
        record(out, &[src], || Ok(Box::new(RouteBackward { route: self.clone(), gather: true, indices: Saved::new(idx)? })))
    }
}

struct RouteBackward {
    route: Route,
    /// The op was a gather (its backward scatters), else a scatter.
    gather: bool,
    indices: Saved,
}

impl Backward for RouteBackward {
    fn name(&self) -> &'static str {
        if self.gather { "MaxUnpoolBackwardBackward0" } else { "MaxPoolWithIndicesBackwardBackward0" }
    }
    fn apply(&self, grad: &Tensor, _needs: &[bool]) -> Result<Vec<Option<Tensor>>> {
        let idx = self.indices.get()?;
        Ok(vec![Some(if self.gather { self.route.scatter(grad, &idx)? } else { self.route.gather(grad, &idx)? })])
    }
    fn differentiable(&self) -> bool {
        true
    }
}
