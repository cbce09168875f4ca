//! Convolution over 1, 2 or 3 spatial dims, (N, C, L), (N, C, H, W) or (N, C, D, H, W), by
//! im2col + gemm.
//!
//! Every call is described by one 3-D geometry (`Geom`): a 2-D convolution is a 3-D one of
//! depth 1 and a 1-D one has height 1, as PyTorch itself runs conv1d as conv2d. Forward unfolds
//! each image into a (C*kD*kH*kW, oD*oH*oW) column matrix and multiplies the weight, viewed as
//! (O, C/groups*kD*kH*kW), by it (`conv_kernels.rs`). Backward keeps the input, not the columns
//! (kH*kW times larger, for the whole step), and unfolds each image again:
//!
//! * grad_weight = sum over images of grad_out @ cols^T (per-image partials added in index order,
//!   so the result does not depend on the thread count),
//! * grad_input = col2im(W^T @ grad_out),
//! * grad_bias = grad_out summed over everything but the channel.
//!
//! A 1x1 convolution with stride 1 and no padding needs no unfolding: its columns are the input.
//! Small feature maps multiply the whole batch at once (`conv_batched.rs`), and float32 3x3
//! convolutions of stride 1 take Winograd's F(2x2, 3x3) (`winograd.rs`). float32 outputs of at
//! most 64 positions run directly, each output summing only the taps inside the input
//! (`conv_direct.rs`); larger dilated ones of stride 1 take Winograd too, over the input's
//! phases (`conv_dilated.rs`). Depthwise convolutions (one input channel a group) run plane by plane
//! (`conv_depthwise.rs`); float32 groups of 5 to 32 channels at stride 1 from zero-bordered
//! planes (`conv_small_groups.rs`, on AVX-512); other grouped ones whose single group takes one
//! of these paths, group by group (`conv_groups.rs`).
//! The transposed convolution (`conv_transpose.rs`) runs the same paths the other way round
//! (`forward_by_path`, `backward_by_path`).

use crate::autograd::{needs_record, record, Backward, Saved};
use crate::bail;
use crate::error::Result;
use crate::tensor::{Element, Float, Tensor};
use crate::with_float;

use super::conv_batched;
use super::conv_depthwise;
use super::conv_dilated;
use super::conv_direct;
use super::conv_grad::{conv_part, Part};
use super::conv_groups;
use super::conv_kernels::{channel_sum, conv_forward, grad_input, grad_weight};
use super::conv_small_groups;
use super::winograd;

/// stride, padding, dilation and groups as the caller gave them, one entry per spatial dim
/// (1, 2 or 3 of them); `conv` validates them.
#[derive(Clone, Debug)]
pub struct ConvArgs {
    pub stride: Vec<i64>,
    /// (before, after) per spatial dim. PyTorch's `padding=p` is (p, p); padding='same' with an
    /// even effective kernel pads one more after, as PyTorch does.
    pub padding: Vec<[i64; 2]>,
    pub dilation: Vec<i64>,
    pub groups: i64,
}

impl ConvArgs {
    /// PyTorch's defaults for `dims` spatial dims: stride 1, no padding, dilation 1, one group.
    pub fn new(dims: usize) -> ConvArgs {
        ConvArgs { stride: vec![1; dims], padding: vec![[0, 0]; dims], dilation: vec![1; dims], groups: 1 }
    }
}

/// The validated shape of one call, always in 3-D: absent leading spatial dims are 1 (with
/// kernel 1, stride 1, no padding). `pd`/`ph`/`pw` are the leading paddings; the trailing ones
/// only change the output size. `c` is the channel count of the columns' source (the input of a
/// convolution, the output of a transposed one), `o` that of the gemm's product.
#[derive(Clone, Copy, Debug)]
pub(super) struct Geom {
    /// Spatial dims of the caller's tensors (1, 2 or 3); only shapes and messages depend on it.
    pub(super) dims: usize,
    pub(super) n: usize,
    pub(super) c: usize,
    pub(super) o: usize,
    pub(super) groups: usize,
    pub(super) d: usize,
    pub(super) h: usize,
    pub(super) w: usize,
    pub(super) kd: usize,
    pub(super) kh: usize,
    pub(super) kw: usize,
    pub(super) od: usize,
    pub(super) oh: usize,
    pub(super) ow: usize,
    pub(super) sd: usize,
    pub(super) sh: usize,
    pub(super) sw: usize,
    pub(super) pd: usize,
    pub(super) ph: usize,
    pub(super) pw: usize,
    pub(super) dd: usize,
    pub(super) dh: usize,
    pub(super) dw: usize,
}

impl Geom {
    /// stride, padding and dilation per spatial dim of the caller's tensors, and groups (for a
    /// trace).
    pub(super) fn attrs(&self) -> crate::autograd::trace::Attrs {
        let last = |v: [usize; 3]| v[3 - self.dims..].to_vec();
        crate::attrs![
            ("stride", &last([self.sd, self.sh, self.sw])),
            ("padding", &last([self.pd, self.ph, self.pw])),
            ("dilation", &last([self.dd, self.dh, self.dw])),
            ("groups", self.groups),
        ]
    }
    /// Taps of one kernel: kD * kH * kW.
    pub(super) fn taps(&self) -> usize {
        self.kd * self.kh * self.kw
    }
    /// Rows of one group's column matrix: C/groups * taps.
    pub(super) fn group_rows(&self) -> usize {
        self.c / self.groups * self.taps()
    }
    pub(super) fn rows(&self) -> usize {
        self.c * self.taps()
    }
    /// Output positions per image: oD * oH * oW.
    pub(super) fn len(&self) -> usize {
        self.od * self.oh * self.ow
    }
    /// Input positions per channel: D * H * W.
    pub(super) fn volume(&self) -> usize {
        self.d * self.h * self.w
    }
    /// 1x1(x1), stride 1, no padding: the input already is the column matrix.
    pub(super) fn pointwise(&self) -> bool {
        self.taps() == 1 && self.len() == self.volume() && (self.sd, self.sh, self.sw, self.pd, self.ph, self.pw) == (1, 1, 1, 0, 0, 0)
    }
    /// Rayon over images when there are enough of them; otherwise gemm's own threads.
    pub(super) fn batch_parallel(&self) -> bool {
        let threads = rayon::current_num_threads();
        threads > 1 && self.n >= threads
    }
    /// The caller's spatial dims of a 3-D triple (the last `dims` of them).
    pub(super) fn spatial(&self, dhw: [usize; 3]) -> Vec<usize> {
        dhw[3 - self.dims..].to_vec()
    }
    /// (N, C, *spatial input).
    pub(super) fn input_shape(&self) -> Vec<usize> {
        [vec![self.n, self.c], self.spatial([self.d, self.h, self.w])].concat()
    }
    /// (N, O, *spatial output).
    pub(super) fn output_shape(&self) -> Vec<usize> {
        [vec![self.n, self.o], self.spatial([self.od, self.oh, self.ow])].concat()
    }
    /// (O, C / groups, *kernel).
    pub(super) fn weight_shape(&self) -> Vec<usize> {
        [vec![self.o, self.c / self.groups], self.spatial([self.kd, self.kh, self.kw])].concat()
    }
}

/// `xs` as "(a x b x c)", PyTorch's way of printing per-channel sizes.
pub(super) fn by(xs: &[usize]) -> String {
    format!("({})", xs.iter().map(|v| v.to_string()).collect::<Vec<_>>().join(" x "))
}

/// The last `dims` entries of a 3-D triple, padded in front with `fill`.
pub(super) fn triple(v: &[usize], fill: usize) -> [usize; 3] {
    let mut t = [fill; 3];
    t[3 - v.len()..].copy_from_slice(v);
    t
}

/// Checks shared by convolution and its transpose: ranks, dtypes, argument lengths and signs.
/// Returns the number of spatial dims.
pub(super) fn check_common(op: &str, x: &Tensor, w: &Tensor, b: Option<&Tensor>, stride: &[i64], dilation: &[i64], groups: i64) -> Result<usize> {
    let dims = w.ndim().saturating_sub(2);
    if !(1..=3).contains(&dims) {
        bail!(Runtime, "{op}: expected a weight with 1 to 3 spatial dims (out_channels, in_channels / groups, *kernel), got shape {:?}", w.shape());
    }
    if x.ndim() != dims + 2 {
        bail!(Runtime, "{op}: expected a {}-D input (batched) for a {}-D weight of size {:?}, but got input of size: {:?}", dims + 2, w.ndim(), w.shape(), x.shape());
    }
    if x.dtype() != w.dtype() {
        bail!(Runtime, "{op}: Input type ({}) and weight type ({}) should be the same (input {:?}, weight {:?})", x.dtype().name(), w.dtype().name(), x.shape(), w.shape());
    }
    if let Some(b) = b {
        if b.dtype() != x.dtype() {
            bail!(Runtime, "{op}: Input type ({}) and bias type ({}) should be the same", x.dtype().name(), b.dtype().name());
        }
    }
    if stride.len() != dims || dilation.len() != dims {
        bail!(Runtime, "{op}: expected stride and dilation with {dims} values each, got stride={stride:?}, dilation={dilation:?}");
    }
    if stride.iter().any(|&s| s <= 0) {
        bail!(Runtime, "{op}: non-positive stride is not supported (stride={stride:?})");
    }
    if dilation.iter().any(|&d| d <= 0) {
        bail!(Runtime, "{op}: dilation should be greater than zero (dilation={dilation:?})");
    }
    if groups <= 0 {
        bail!(Runtime, "{op}: non-positive groups is not supported (groups={groups})");
    }
    if !w.shape()[0].is_multiple_of(groups as usize) {
        bail!(Runtime, "{op}: given groups={groups}, expected weight to be divisible by {groups} at dimension 0, but got weight of size {:?} instead", w.shape());
    }
    Ok(dims)
}

fn geometry(op: &str, x: &Tensor, w: &Tensor, b: Option<&Tensor>, a: &ConvArgs) -> Result<Geom> {
    let dims = check_common(op, x, w, b, &a.stride, &a.dilation, a.groups)?;
    if a.padding.len() != dims {
        bail!(Runtime, "{op}: expected padding with {dims} values, got padding={:?}", a.padding);
    }
    if a.padding.iter().flatten().any(|&p| p < 0) {
        bail!(Runtime, "{op}: negative padding is not supported (padding={:?})", a.padding);
    }
    let (xs, ws) = (x.shape(), w.shape());
    let groups = a.groups as usize;
    if ws[1] * groups != xs[1] {
        bail!(Runtime, "{op}: Given groups={groups}, weight of size {ws:?}, expected input{xs:?} to have {} channels, but got {} channels instead", ws[1] * groups, xs[1]);
    }
    if let Some(b) = b {
        if b.ndim() != 1 || b.shape()[0] != ws[0] {
            bail!(Runtime, "{op}: Given weight of size {ws:?}, expected bias to be 1-dimensional with {} elements, but got bias of size {:?} instead", ws[0], b.shape());
        }
    }
    let padded: Vec<usize> = (0..dims).map(|i| xs[2 + i] + (a.padding[i][0] + a.padding[i][1]) as usize).collect();
    // The dilated ("effective") kernel; an empty kernel dim covers nothing.
    let eff: Vec<usize> = (0..dims).map(|i| a.dilation[i] as usize * ws[2 + i].saturating_sub(1) + 1).collect();
    if ws[2..].contains(&0) || padded.iter().zip(&eff).any(|(p, e)| p < e) {
        bail!(Runtime, "{op}: Calculated padded input size per channel: {}. Kernel size: {}. Kernel size can't be greater than actual input size (input {xs:?}, weight {ws:?})", by(&padded), by(&eff));
    }
    let out: Vec<usize> = (0..dims).map(|i| (padded[i] - eff[i]) / a.stride[i] as usize + 1).collect();
    let us = |v: &[i64]| v.iter().map(|&x| x as usize).collect::<Vec<_>>();
    let [d, h, wd] = triple(&xs[2..], 1);
    let [kd, kh, kw] = triple(&ws[2..], 1);
    let [od, oh, ow] = triple(&out, 1);
    let [sd, sh, sw] = triple(&us(&a.stride), 1);
    let [pd, ph, pw] = triple(&a.padding.iter().map(|p| p[0] as usize).collect::<Vec<_>>(), 0);
    let [dd, dh, dw] = triple(&us(&a.dilation), 1);
    Ok(Geom { dims, n: xs[0], c: xs[1], o: ws[0], groups, d, h, w: wd, kd, kh, kw, od, oh, ow, sd, sh, sw, pd, ph, pw, dd, dh, dw })
}

/// Convolution (PyTorch's `F.conv1d`/`conv2d`/`conv3d`, cross-correlation), by the weight's rank.
///
/// # Shapes
/// input (N, C, *in), weight (O, C / groups, *k), bias (O) -> (N, O, *out) with, per spatial dim,
/// out = (in + pad_before + pad_after - dilation * (k - 1) - 1) / stride + 1.
pub fn conv(x: &Tensor, w: &Tensor, b: Option<&Tensor>, a: &ConvArgs) -> Result<Tensor> {
    let op = format!("conv{}d", w.ndim().saturating_sub(2));
    let g = geometry(&op, x, w, b, a)?;
    let mut inputs = vec![x, w];
    inputs.extend(b);
    let keep_input = needs_record(&inputs) && w.requires_grad();
    with_float!(x.dtype(), op, T => {
        // Copies before any lock (see `with_weight`): the bias, and the weight only when it
        // shares the input's storage.
        let bv = b.map(|b| b.to_vec::<T>());
        let w_copy = w.shares_storage(x).then(|| w.to_vec::<T>());
        let out = x.with_view::<T, _>(|v| with_weight::<T, _>(w, w_copy.as_deref(), |wv| {
            forward_by_path(&v.contiguous(), wv, bv.as_deref(), &g)
        }));
        let out = Tensor::from_vec_unchecked(out, &g.output_shape());
        record(out, &inputs, || {
            // The input shares its storage, so keeping it costs no copy.
            let input = if keep_input { Some(Saved::new(x)?) } else { None };
            let weight = if x.requires_grad() { Some(Saved::new(w)?) } else { None };
            Ok(Box::new(ConvBackward::<T> { g, input, weight, has_bias: b.is_some(), dtype: std::marker::PhantomData }))
        })
    })
}

/// conv(x, w) (+ bias), (N, O, *out), by the fastest path that takes `g`. The transposed
/// convolution's input gradient is this too.
pub(super) fn forward_by_path<T: Float>(xs: &[T], w: &[T], bias: Option<&[T]>, g: &Geom) -> Vec<T> {
    if conv_depthwise::applies(g) {
        conv_depthwise::forward(xs, w, bias, g)
    } else if conv_small_groups::applies::<T>(g) {
        conv_small_groups::forward(xs, w, bias, g)
    } else if conv_groups::applies::<T>(g) {
        conv_groups::forward(xs, w, bias, g)
    } else if winograd::applies::<T>(g) {
        winograd::forward(xs, w, bias, g)
    } else if conv_direct::applies::<T>(g) {
        conv_direct::forward(xs, w, bias, g)
    } else if conv_dilated::applies::<T>(g) {
        conv_dilated::forward(xs, w, bias, g)
    } else if conv_batched::applies(g) {
        conv_batched::forward(xs, w, bias, g)
    } else {
        conv_forward::<T>(xs, w, bias, g)
    }
}

/// The input gradient (from the weight, when given) and the weight gradient (from the input,
/// when given) of conv over `g`, by the path `forward_by_path` takes. The transposed
/// convolution's forward is the first and its weight gradient the second, with its input in
/// the place of `gs` and its output gradient in that of `xs`.
pub(super) fn backward_by_path<T: Float>(gs: &[T], weight: Option<&[T]>, xs: Option<&[T]>, g: &Geom) -> (Option<Vec<T>>, Option<Vec<T>>) {
    if conv_depthwise::applies(g) {
        conv_depthwise::backward(gs, weight, xs, g)
    } else if conv_small_groups::applies::<T>(g) {
        // The input gradient is the forward with the kernels turned, which comes back here.
        (weight.map(|w| grad_input(gs, w, g)), xs.map(|xs| conv_small_groups::grad_weight(xs, gs, g)))
    } else if conv_groups::applies::<T>(g) {
        conv_groups::backward(gs, weight, xs, g)
    } else if winograd::applies::<T>(g) {
        (weight.map(|w| winograd::grad_input(gs, w, g)), xs.map(|xs| winograd::grad_weight(xs, gs, g)))
    } else if conv_direct::applies::<T>(g) {
        // The input gradient's channels are the output's: below 16 of them, the products' paths.
        let gx = weight.map(|w| {
            if conv_direct::applies_to_input_gradient::<T>(g) {
                conv_direct::grad_input(gs, w, g)
            } else if conv_batched::applies(g) {
                conv_batched::backward(gs, Some(w), None, g).0.expect("asked for")
            } else {
                grad_input(gs, w, g)
            }
        });
        (gx, xs.map(|xs| conv_direct::grad_weight(xs, gs, g)))
    } else if conv_dilated::applies::<T>(g) {
        conv_dilated::backward(gs, weight, xs, g)
    } else if conv_batched::applies(g) {
        conv_batched::backward(gs, weight, xs, g)
    } else {
        (weight.map(|w| grad_input(gs, w, g)), xs.map(|xs| grad_weight(gs, xs, g)))
    }
}

struct ConvBackward<T> {
    g: Geom,
    /// Present when the weight needs a gradient.
    input: Option<Saved>,
    /// Present when the input needs a gradient.
    weight: Option<Saved>,
    has_bias: bool,
    dtype: std::marker::PhantomData<fn() -> T>,
}

/// Runs `f` on the weight's elements as a contiguous slice: its `copy` when the caller made one,
/// else read in place under the weight's own read lock (a ResNet-18 step copied its 45 MB of
/// weights twice). The caller copies, before taking any lock, every tensor that shares a
/// storage with another it reads: a storage is never read-locked twice (a second read can wait
/// behind a waiting writer while the first is held), and a copy takes that lock too.
fn with_weight<T: Element, R>(w: &Tensor, copy: Option<&[T]>, f: impl FnOnce(&[T]) -> R) -> R {
    match copy {
        Some(c) => f(c),
        None => w.with_view::<T, _>(|v| f(&v.contiguous())),
    }
}

/// `with_weight` for a weight that may be absent.
fn with_optional_weight<T: Element, R>(w: Option<&Tensor>, copy: Option<&[T]>, f: impl FnOnce(Option<&[T]>) -> R) -> R {
    match w {
        Some(w) => with_weight(w, copy, |wv| f(Some(wv))),
        None => f(None),
    }
}

/// Runs `f` on the gradient's elements as a contiguous slice of T.
pub(crate) fn with_grad<T: Element, R>(g: &Tensor, f: impl FnOnce(&[T]) -> R) -> R {
    if g.dtype() == T::DTYPE {
        g.with_view::<T, _>(|v| f(&v.contiguous()))
    } else {
        f(&g.to_vec::<T>())
    }
}

impl<T: Float> Backward for ConvBackward<T> {
    fn name(&self) -> &'static str {
        "ConvolutionBackward0"
    }
    fn attrs(&self) -> crate::autograd::trace::Attrs {
        self.g.attrs()
    }
    fn apply(&self, grad: &Tensor, needs: &[bool]) -> Result<Vec<Option<Tensor>>> {
        if crate::autograd::is_recording() {
            return self.apply_recorded(grad, needs);
        }
        let g = self.g;
        let need = |i: usize| needs.get(i).copied().unwrap_or(false);
        let weight = match (&self.weight, need(0)) {
            (Some(w), true) => Some(w.get()?),
            _ => None,
        };
        let input = match (&self.input, need(1)) {
            (Some(x), true) => Some(x.get()?),
            _ => None,
        };
        // Copies before any lock (see `with_weight`): the input when it shares the gradient's
        // storage, the weight when it shares the gradient's or the input's.
        let x_copy = input.as_ref().filter(|x| x.shares_storage(grad)).map(|x| x.to_vec::<T>());
        let w_copy = weight.as_ref().filter(|w| w.shares_storage(grad) || input.as_ref().is_some_and(|x| x.shares_storage(w))).map(|w| w.to_vec::<T>());
        let run = |xs: Option<&[T]>| {
            with_grad::<T, _>(grad, |gs| with_optional_weight::<T, _>(weight.as_ref(), w_copy.as_deref(), |weight| {
                let (gx, gw) = backward_by_path(gs, weight, xs, &g);
                let gx = gx.map(|v| Tensor::from_vec_unchecked(v, &g.input_shape()));
                let gw = gw.map(|v| Tensor::from_vec_unchecked(v, &g.weight_shape()));
                let gb = (self.has_bias && need(2)).then(|| Tensor::from_vec_unchecked(channel_sum(gs, g.n, g.o, g.len()), &[g.o]));
                vec![gx, gw, gb]
            }))
        };
        // The input, the gradient and the weight are each read in place under their own read
        // lock, unless copied above.
        let mut out = match (&input, &x_copy) {
            (Some(_), Some(copy)) => run(Some(copy)),
            (Some(x), None) => x.with_view::<T, _>(|v| run(Some(&v.contiguous()))),
            (None, _) => run(None),
        };
        if !self.has_bias {
            out.pop();
        }
        Ok(out)
    }
    fn differentiable(&self) -> bool {
        true
    }
}

impl<T> ConvBackward<T> {
    /// The gradients as recorded ops of the saved input and weight (with their history), so
    /// they can be differentiated again: see `conv_grad.rs`.
    fn apply_recorded(&self, grad: &Tensor, needs: &[bool]) -> Result<Vec<Option<Tensor>>> {
        let need = |i: usize| needs.get(i).copied().unwrap_or(false);
        let gx = match (&self.weight, need(0)) {
            (Some(w), true) => Some(conv_part(Part::Input, grad, &w.get()?, &self.g)?),
            _ => None,
        };
        let gw = match (&self.input, need(1)) {
            (Some(x), true) => Some(conv_part(Part::Weight, &x.get()?, grad, &self.g)?),
            _ => None,
        };
        let mut out = vec![gx, gw];
        if self.has_bias {
            out.push(if need(2) { Some(bias_grad(grad)?) } else { None });
        }
        Ok(out)
    }
}

/// grad_out summed over everything but the channel (dim 1), as a recorded op.
pub(super) fn bias_grad(grad: &Tensor) -> Result<Tensor> {
    let dims: Vec<isize> = (0..grad.ndim() as isize).filter(|&d| d != 1).collect();
    crate::ops::reduce::sum(grad, &dims, false)
}
