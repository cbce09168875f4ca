//! F.unfold (im2col) and F.fold (col2im) over (N, C, H, W) images: the convolution's column
//! matrices as ops of their own. Each is linear and the other's adjoint, so each one's backward
//! is the other (recorded, when the backward creates a graph); neither saves anything.

use crate::autograd::{record, Backward};
use crate::bail;
use crate::error::Result;
use crate::tensor::{Float, Tensor};
use crate::with_float;

use super::conv::{with_grad, Geom};
use super::conv_kernels::{fold_all, unfold_all};

/// The sliding-block parameters of F.unfold and F.fold, (h, w) each.
#[derive(Clone, Copy, Debug)]
pub struct FoldArgs {
    pub kernel_size: [i64; 2],
    pub dilation: [i64; 2],
    pub padding: [i64; 2],
    pub stride: [i64; 2],
}

fn fmt2(v: [i64; 2]) -> String {
    format!("({}, {})", v[0], v[1])
}

/// The geometry of blocks over an (n, c, h, w) image; checks PyTorch's im2col/col2im conditions.
fn geometry(op: &str, n: usize, c: usize, size: [usize; 2], a: &FoldArgs) -> Result<Geom> {
    let FoldArgs { kernel_size: k, dilation: d, padding: p, stride: s } = *a;
    if k.iter().any(|&v| v <= 0) {
        bail!(Runtime, "{op}: kernel size should be greater than zero, but got kernel_size={}", fmt2(k));
    }
    if d.iter().any(|&v| v <= 0) {
        bail!(Runtime, "{op}: dilation should be greater than zero, but got dilation={}", fmt2(d));
    }
    if p.iter().any(|&v| v < 0) {
        bail!(Runtime, "{op}: padding should be non-negative, but got padding={}", fmt2(p));
    }
    if s.iter().any(|&v| v <= 0) {
        bail!(Runtime, "{op}: stride should be greater than zero, but got stride={}", fmt2(s));
    }
    let blocks: Vec<i64> = (0..2).map(|i| (size[i] as i64 + 2 * p[i] - (d[i] * (k[i] - 1) + 1)).div_euclid(s[i]) + 1).collect();
    if blocks.iter().any(|&b| b < 1) {
        bail!(
            Runtime,
            "{op}: Given input with spatial size ({}, {}), kernel_size={}, dilation={}, padding={}, calculated shape of the array of sliding blocks as ({}, {}), but its components must be at least one.",
            size[0], size[1], fmt2(k), fmt2(d), fmt2(p), blocks[0], blocks[1]
        );
    }
    let u = |v: i64| v as usize;
    Ok(Geom {
        dims: 2, n, c, o: 1, groups: 1, d: 1, h: size[0], w: size[1], kd: 1, kh: u(k[0]), kw: u(k[1]),
        od: 1, oh: u(blocks[0]), ow: u(blocks[1]), sd: 1, sh: u(s[0]), sw: u(s[1]), pd: 0, ph: u(p[0]), pw: u(p[1]),
        dd: 1, dh: u(d[0]), dw: u(d[1]),
    })
}

/// F.unfold: (N, C, H, W) -> (N, C * kH * kW, L), L the number of blocks.
pub fn unfold(x: &Tensor, a: &FoldArgs) -> Result<Tensor> {
    if x.ndim() != 4 {
        bail!(Runtime, "unfold: expected a 4-D input (N, C, H, W), but got input of size: {:?}", x.shape());
    }
    let xs = x.shape();
    let g = geometry("unfold", xs[0], xs[1], [xs[2], xs[3]], a)?;
    unfold_geom(x, g)
}

fn unfold_geom(x: &Tensor, g: Geom) -> Result<Tensor> {
    with_float!(x.dtype(), "unfold", T => {
        let cols = with_grad::<T, _>(x, |v| unfold_all::<T>(v, &g));
        let out = Tensor::from_vec_unchecked(cols, &[g.n, g.rows(), g.len()]);
        record(out, &[x], || Ok(Box::new(UnfoldBackward::<T> { g, _t: std::marker::PhantomData })))
    })
}

/// F.fold: (N, C * kH * kW, L) -> (N, C, *output_size), summing overlapping blocks.
pub fn fold(x: &Tensor, output_size: [i64; 2], a: &FoldArgs) -> Result<Tensor> {
    if x.ndim() != 3 {
        bail!(Runtime, "fold: expected a 3-D input (N, C * kH * kW, L), but got input of size: {:?}", x.shape());
    }
    let xs = x.shape();
    if output_size.iter().any(|&v| v <= 0) {
        bail!(Runtime, "fold: output size should be greater than zero, but got output_size={}", fmt2(output_size));
    }
    let taps = a.kernel_size.iter().map(|&v| v.max(1) as usize).product::<usize>();
    if !xs[1].is_multiple_of(taps) {
        bail!(Runtime, "fold: Expected size of input's dimension 1 to be divisible by the product of kernel_size, but got input.size(1)={} and kernel_size={}.", xs[1], fmt2(a.kernel_size));
    }
    let size = output_size.map(|v| v as usize);
    let g = geometry("fold", xs[0], xs[1] / taps, size, a)?;
    if xs[2] != g.len() {
        bail!(
            Runtime,
            "fold: Given output_size={}, kernel_size={}, dilation={}, padding={}, stride={}, expected size of input's dimension 2 to match the calculated number of sliding blocks {} * {} = {}, but got input.size(2)={}.",
            fmt2(output_size), fmt2(a.kernel_size), fmt2(a.dilation), fmt2(a.padding), fmt2(a.stride), g.oh, g.ow, g.len(), xs[2]
        );
    }
    fold_geom(x, g)
}

fn fold_geom(x: &Tensor, g: Geom) -> Result<Tensor> {
    with_float!(x.dtype(), "fold", T => {
        let img = with_grad::<T, _>(x, |v| fold_all::<T>(v, &g));
        let out = Tensor::from_vec_unchecked(img, &[g.n, g.c, g.h, g.w]);
        record(out, &[x], || Ok(Box::new(FoldBackward::<T> { g, _t: std::marker::PhantomData })))
    })
}

struct UnfoldBackward<T> {
    g: Geom,
    _t: std::marker::PhantomData<fn() -> T>,
}

impl<T: Float> Backward for UnfoldBackward<T> {
    fn name(&self) -> &'static str {
        "Im2ColBackward0"
    }
    fn apply(&self, grad: &Tensor, _needs: &[bool]) -> Result<Vec<Option<Tensor>>> {
        let g = self.g;
        if crate::autograd::is_recording() {
            return Ok(vec![Some(fold_geom(grad, g)?)]);
        }
        let gx = with_grad::<T, _>(grad, |gs| fold_all(gs, &g));
        Ok(vec![Some(Tensor::from_vec_unchecked(gx, &[g.n, g.c, g.h, g.w]))])
    }
    fn saves_tensors(&self) -> bool {
        false
    }
    fn differentiable(&self) -> bool {
        true
    }
}

struct FoldBackward<T> {
    g: Geom,
    _t: std::marker::PhantomData<fn() -> T>,
}

impl<T: Float> Backward for FoldBackward<T> {
    fn name(&self) -> &'static str {
        "Col2ImBackward0"
    }
    fn apply(&self, grad: &Tensor, _needs: &[bool]) -> Result<Vec<Option<Tensor>>> {
        let g = self.g;
        if crate::autograd::is_recording() {
            return Ok(vec![Some(unfold_geom(grad, g)?)]);
        }
        let gx = with_grad::<T, _>(grad, |gs| unfold_all(gs, &g));
        Ok(vec![Some(Tensor::from_vec_unchecked(gx, &[g.n, g.rows(), g.len()]))])
    }
    fn saves_tensors(&self) -> bool {
        false
    }
    fn differentiable(&self) -> bool {
        true
    }
}
