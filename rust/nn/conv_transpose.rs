//! Transposed convolution (PyTorch's `F.conv_transpose1d/2d/3d`): the adjoint of a convolution
//! in its input, run on the same kernels the other way round.
//!
//! A transposed convolution with weight (C_in, C_out / groups, *k) maps (N, C_in, *in) to
//! (N, C_out, *out) exactly as a convolution with the same weight, taken from (N, C_out, *out) to
//! (N, C_in, *in), maps its output gradient to its input gradient. So, with that convolution's
//! geometry (`Geom` with c = C_out, o = C_in):
//!
//! * forward = col2im(W^T @ x) (the convolution's grad_input) plus the bias,
//! * grad_input = W @ im2col(grad_out) (the convolution's forward),
//! * grad_weight = sum over images of x @ im2col(grad_out)^T (the convolution's grad_weight),
//! * grad_bias = grad_out summed over everything but the channel.
//!
//! Each runs by the path the convolution's own would take (`conv::forward_by_path` and
//! `backward_by_path`): a stride-1 3x3 one by Winograd, one onto a map of 64 positions or fewer
//! directly, and so on, rather than always by the products and col2im.

use crate::autograd::{record, Backward, Saved};
use crate::bail;
use crate::error::Result;
use crate::tensor::{Float, Tensor};
use crate::with_float;

use super::conv::{backward_by_path, bias_grad, by, check_common, forward_by_path, triple, with_grad, Geom};
use super::conv_grad::{conv_part, Part};
use super::conv_kernels::{add_channel_bias, channel_sum};

/// stride, padding, output_padding, dilation and groups as the caller gave them, one entry per
/// spatial dim; `conv_transpose` validates them.
#[derive(Clone, Debug)]
pub struct ConvTransposeArgs {
    pub stride: Vec<i64>,
    /// Removed from both ends of every spatial dim of the full output (PyTorch's `padding`).
    pub padding: Vec<i64>,
    /// Added at the end of every spatial dim; smaller than the stride or the dilation.
    pub output_padding: Vec<i64>,
    pub dilation: Vec<i64>,
    pub groups: i64,
}

impl ConvTransposeArgs {
    /// PyTorch's defaults for `dims` spatial dims.
    pub fn new(dims: usize) -> ConvTransposeArgs {
        ConvTransposeArgs { stride: vec![1; dims], padding: vec![0; dims], output_padding: vec![0; dims], dilation: vec![1; dims], groups: 1 }
    }
}

/// The geometry of the convolution this transposes (see the module doc).
fn geometry(op: &str, x: &Tensor, w: &Tensor, b: Option<&Tensor>, a: &ConvTransposeArgs) -> Result<Geom> {
    let dims = check_common(op, x, w, b, &a.stride, &a.dilation, a.groups)?;
    if a.padding.len() != dims || a.output_padding.len() != dims {
        bail!(Runtime, "{op}: expected padding and output_padding with {dims} values each, got padding={:?}, output_padding={:?}", a.padding, a.output_padding);
    }
    if a.padding.iter().chain(&a.output_padding).any(|&p| p < 0) {
        bail!(Runtime, "{op}: negative padding is not supported (padding={:?}, output_padding={:?})", a.padding, a.output_padding);
    }
    let (xs, ws) = (x.shape(), w.shape());
    let groups = a.groups as usize;
    if xs[1] != ws[0] {
        bail!(Runtime, "{op}: Given transposed=1, weight of size {ws:?}, expected input{xs:?} to have {} channels, but got {} channels instead", ws[0], xs[1]);
    }
    let c_out = ws[1] * groups;
    if let Some(b) = b {
        if b.ndim() != 1 || b.shape()[0] != c_out {
            bail!(Runtime, "{op}: Given transposed=1, weight of size {ws:?}, expected bias to be 1-dimensional with {c_out} elements, but got bias of size {:?} instead", b.shape());
        }
    }
    if (0..dims).any(|i| a.output_padding[i] >= a.stride[i] && a.output_padding[i] >= a.dilation[i]) {
        bail!(Runtime, "{op}: output padding must be smaller than either stride or dilation, but got output_padding={:?}, stride={:?}, dilation={:?}", a.output_padding, a.stride, a.dilation);
    }
    let out: Vec<i64> = (0..dims)
        .map(|i| (xs[2 + i] as i64 - 1) * a.stride[i] - 2 * a.padding[i] + a.dilation[i] * (ws[2 + i] as i64 - 1) + a.output_padding[i] + 1)
        .collect();
    if out.iter().any(|&o| o < 1) || ws[2..].contains(&0) {
        let text = format!("({})", out.iter().map(|v| v.to_string()).collect::<Vec<_>>().join(" x "));
        bail!(Runtime, "{op}: Given input size per channel: {}. Calculated output size per channel: {text}. Output size is too small (input {xs:?}, weight {ws:?})", by(&xs[2..]));
    }
    let us = |v: &[i64]| v.iter().map(|&x| x as usize).collect::<Vec<_>>();
    let [d, h, wd] = triple(&us(&out), 1);
    let [kd, kh, kw] = triple(&ws[2..], 1);
    let [od, oh, ow] = triple(&xs[2..], 1);
    let [sd, sh, sw] = triple(&us(&a.stride), 1);
    let [pd, ph, pw] = triple(&us(&a.padding), 0);
    let [dd, dh, dw] = triple(&us(&a.dilation), 1);
    Ok(Geom { dims, n: xs[0], c: c_out, o: ws[0], groups, d, h, w: wd, kd, kh, kw, od, oh, ow, sd, sh, sw, pd, ph, pw, dd, dh, dw })
}

/// Transposed convolution, by the weight's rank (1 to 3 spatial dims).
///
/// # Shapes
/// input (N, C_in, *in), weight (C_in, C_out / groups, *k), bias (C_out) -> (N, C_out, *out) with,
/// per spatial dim, out = (in - 1) * stride - 2 * padding + dilation * (k - 1) + output_padding + 1.
pub fn conv_transpose(x: &Tensor, w: &Tensor, b: Option<&Tensor>, a: &ConvTransposeArgs) -> Result<Tensor> {
    let op = format!("conv_transpose{}d", w.ndim().saturating_sub(2));
    let g = geometry(&op, x, w, b, a)?;
    let mut inputs = vec![x, w];
    inputs.extend(b);
    with_float!(x.dtype(), op, T => {
        let wv = w.to_vec::<T>();
        let mut out = x.with_view::<T, _>(|v| backward_by_path(&v.contiguous(), Some(&wv), None, &g).0.expect("asked for"));
        if let Some(b) = b {
            add_channel_bias(&mut out, &b.to_vec::<T>(), g.volume());
        }
        let out = Tensor::from_vec_unchecked(out, &g.input_shape());
        record(out, &inputs, || {
            let input = if w.requires_grad() { Some(Saved::new(x)?) } else { None };
            let weight = if x.requires_grad() { Some(Saved::new(w)?) } else { None };
            Ok(Box::new(ConvTransposeBackward::<T> { g, input, weight, has_bias: b.is_some(), _t: std::marker::PhantomData }))
        })
    })
}

struct ConvTransposeBackward<T> {
    g: Geom,
    /// Present when the weight needs a gradient.
    input: Option<Saved>,
    /// Present when the input needs a gradient.
    weight: Option<Saved>,
    has_bias: bool,
    _t: std::marker::PhantomData<fn() -> T>,
}

impl<T: Float> Backward for ConvTransposeBackward<T> {
    fn name(&self) -> &'static str {
        "ConvolutionBackward0"
    }
    fn attrs(&self) -> crate::autograd::trace::Attrs {
        let mut a = self.g.attrs();
        a.push(("transposed", true.into()));
        a
    }
    fn apply(&self, grad: &Tensor, needs: &[bool]) -> Result<Vec<Option<Tensor>>> {
        if crate::autograd::is_recording() {
            return self.apply_recorded(grad, needs);
        }
        let g = self.g;
        let need = |i: usize| needs.get(i).copied().unwrap_or(false);
        let weight = match (&self.weight, need(0)) {
            (Some(w), true) => Some(w.get()?.to_vec::<T>()),
            _ => None,
        };
        let input = match (&self.input, need(1)) {
            (Some(x), true) => Some(x.get()?.to_vec::<T>()),
            _ => None,
        };
        let mut out = with_grad::<T, _>(grad, |gs| {
            // Each gradient unfolds grad_out image by image for itself: keeping the columns of
            // every image for both held kH*kW times grad_out at once (64 MB for 32 images of
            // 32 channels at 64 x 64 and a 4 x 4 kernel), and took the products that read them
            // as given instead of the packed ones.
            let gx = weight.as_ref().map(|w| Tensor::from_vec_unchecked(forward_by_path(gs, w, None, &g), &g.output_shape()));
            let gw = input.as_ref().map(|x| {
                // The weight's layout is the convolution's: (C_in, C_out / groups, *k).
                let gw = backward_by_path(x, None, Some(gs), &g).1.expect("asked for");
                Tensor::from_vec_unchecked(gw, &g.weight_shape())
            });
            let gb = (self.has_bias && need(2)).then(|| Tensor::from_vec_unchecked(channel_sum(gs, g.n, g.c, g.volume()), &[g.c]));
            vec![gx, gw, gb]
        });
        if !self.has_bias {
            out.pop();
        }
        Ok(out)
    }
    fn differentiable(&self) -> bool {
        true
    }
}

impl<T> ConvTransposeBackward<T> {
    /// The gradients as recorded ops (see `conv_grad.rs`): the forward is the convolution's
    /// input part, so its input gradient is the convolution and its weight gradient the
    /// convolution's weight part with the roles of input and gradient swapped.
    fn apply_recorded(&self, grad: &Tensor, needs: &[bool]) -> Result<Vec<Option<Tensor>>> {
        let need = |i: usize| needs.get(i).copied().unwrap_or(false);
        let gx = match (&self.weight, need(0)) {
            (Some(w), true) => Some(conv_part(Part::Forward, grad, &w.get()?, &self.g)?),
            _ => None,
        };
        let gw = match (&self.input, need(1)) {
            (Some(x), true) => Some(conv_part(Part::Weight, grad, &x.get()?, &self.g)?),
            _ => None,
        };
        let mut out = vec![gx, gw];
        if self.has_bias {
            out.push(if need(2) { Some(bias_grad(grad)?) } else { None });
        }
        Ok(out)
    }
}
