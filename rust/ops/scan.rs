//! Scans and products along one dim: cumsum, cumprod and prod, each forward beside its
//! backward. Integer and bool inputs give int64 results (PyTorch's), float ones keep their dtype.

#[allow(unused_imports)]
use num_traits::{Float as _, One as _, Zero as _};

use crate::autograd::{record, Backward, Saved};
use crate::bail;
use crate::error::Result;
use crate::ops::cast::to_dtype;
use crate::tensor::shape::wrap_dim;
use crate::tensor::{DType, Element, Float, Tensor};
use crate::with_float;

/// `t` viewed as `outer x n x inner` around `dim`: element (o, i, k) of the contiguous data
/// sits at `(o * n + i) * inner + k`.
#[derive(Clone, Copy)]
struct Lines {
    outer: usize,
    n: usize,
    inner: usize,
}

impl Lines {
    fn new(shape: &[usize], dim: usize) -> Lines {
        if shape.is_empty() {
            return Lines { outer: 1, n: 1, inner: 1 };
        }
        Lines { outer: shape[..dim].iter().product(), n: shape[dim], inner: shape[dim + 1..].iter().product() }
    }
    /// Calls `f` with the flat positions of each line, in order along the dim.
    fn for_each(&self, mut f: impl FnMut(&mut dyn Iterator<Item = usize>)) {
        for o in 0..self.outer {
            for k in 0..self.inner {
                let (base, step) = (o * self.n * self.inner + k, self.inner);
                f(&mut (0..self.n).map(move |i| base + i * step));
            }
        }
    }
}

/// The dtype a sum or product of `t` accumulates in: int64 for integers and bool.
fn accumulate_dtype(t: &Tensor, dtype: Option<DType>) -> DType {
    dtype.unwrap_or(if t.dtype().is_float() { t.dtype() } else { DType::I64 })
}

/// Runs `f` on every line of `x` (cast to `dtype`), writing the results into a new tensor.
fn scan_lines<T: Element>(x: &Tensor, dim: usize, f: impl Fn(&[T], &mut [T])) -> Result<Tensor> {
    let lines = Lines::new(x.shape(), dim);
    let data = x.to_vec::<T>();
    let mut out = vec![T::default(); data.len()];
    let (mut src, mut dst) = (Vec::with_capacity(lines.n), vec![T::default(); lines.n]);
    lines.for_each(|idx| {
        let pos: Vec<usize> = idx.collect();
        src.clear();
        src.extend(pos.iter().map(|&p| data[p]));
        f(&src, &mut dst);
        for (&p, &v) in pos.iter().zip(&dst) {
            out[p] = v;
        }
    });
    Tensor::from_vec(out, x.shape())
}

fn cumsum_line<T: Element + std::ops::Add<Output = T>>(src: &[T], dst: &mut [T]) {
    let mut acc = T::default();
    for (d, &s) in dst.iter_mut().zip(src) {
        acc = acc + s;
        *d = acc;
    }
}

/// `cumsum(dim, dtype=None)`: running sums along `dim`.
pub fn cumsum(t: &Tensor, dim: isize, dtype: Option<DType>) -> Result<Tensor> {
    let d = wrap_dim(dim, t.ndim(), "cumsum")?;
    let dt = accumulate_dtype(t, dtype);
    let x = to_dtype(t, dt)?;
    let out = match dt {
        DType::I64 => scan_lines::<i64>(&x, d, |s, o| {
            let mut acc = 0i64;
            for (d, &v) in o.iter_mut().zip(s) {
                acc = acc.wrapping_add(v);
                *d = acc;
            }
        })?,
        DType::F32 => scan_lines::<f32>(&x, d, cumsum_line)?,
        DType::F64 => scan_lines::<f64>(&x, d, cumsum_line)?,
        other => bail!(NotImplemented, "cumsum: not implemented for '{}' (shape {:?})", other.torch_name(), t.shape()),
    };
    record(out, &[&x], || Ok(Box::new(CumsumBackward { dim: d })))
}

/// The gradient of a cumulative sum is the reversed cumulative sum of the gradient.
struct CumsumBackward {
    dim: usize,
}
impl Backward for CumsumBackward {
    fn attrs(&self) -> crate::autograd::trace::Attrs {
        crate::attrs![("dim", self.dim)]
    }
    fn name(&self) -> &'static str {
        "CumsumBackward0"
    }
    fn saves_tensors(&self) -> bool {
        false
    }
    fn apply(&self, g: &Tensor, _needs: &[bool]) -> Result<Vec<Option<Tensor>>> {
        if crate::autograd::is_recording() {
            // The reversed running sum as recorded ops: total - cumsum(g) + g.
            use crate::ops::expr::ex;
            let dim = self.dim as isize;
            let total = crate::ops::reduce::sum(g, &[dim], true)?;
            let running = cumsum(g, dim, None)?;
            return Ok(vec![Some((ex(&total) - ex(&running) + ex(g)).done()?)]);
        }
        let d = with_float!(g.dtype(), "cumsum", T => scan_lines::<T>(g, self.dim, |s, o| {
            let mut acc = T::zero();
            for i in (0..s.len()).rev() {
                acc += s[i];
                o[i] = acc;
            }
        })?);
        Ok(vec![Some(d)])
    }
    fn differentiable(&self) -> bool {
        true
    }
}

/// `cumprod(dim, dtype=None)`: running products along `dim`.
pub fn cumprod(t: &Tensor, dim: isize, dtype: Option<DType>) -> Result<Tensor> {
    let d = wrap_dim(dim, t.ndim(), "cumprod")?;
    let dt = accumulate_dtype(t, dtype);
    let x = to_dtype(t, dt)?;
    let out = match dt {
        DType::I64 => scan_lines::<i64>(&x, d, |s, o| {
            let mut acc = 1i64;
            for (d, &v) in o.iter_mut().zip(s) {
                acc = acc.wrapping_mul(v);
                *d = acc;
            }
        })?,
        d2 if d2.is_float() => with_float!(d2, "cumprod", T => scan_lines::<T>(&x, d, |s, o| {
            let mut acc = T::one();
            for (d, &v) in o.iter_mut().zip(s) {
                acc *= v;
                *d = acc;
            }
        })?),
        other => bail!(NotImplemented, "cumprod: not implemented for '{}' (shape {:?})", other.torch_name(), t.shape()),
    };
    record(out, &[&x], || Ok(Box::new(CumprodBackward { x: Saved::new(&x)?, dim: d })))
}

/// d out_j / d x_i = prod_{k <= j, k != i} x_k for j >= i, in O(n) also when the line has
/// zeros. Before the first zero z, x_i is nonzero and the sum is (sum_{i <= j < z} g_j out_j) / x_i
/// (later outputs hold the zero factor); at z it is a running product that skips x_z; after z
/// every product holds x_z, so the gradient is 0.
fn cumprod_grad_line<T: Float>(x: &[T], g: &[T], out: &mut [T]) {
    let n = x.len();
    if n == 1 {
        // d x / d x: exact also for a NaN or infinite x (PyTorch's shortcut).
        out[0] = g[0];
        return;
    }
    let z = x.iter().position(|&v| v == T::zero()).unwrap_or(n);
    let mut prefix = T::one();
    let mut outs = Vec::with_capacity(z);
    for &v in &x[..z] {
        prefix *= v;
        outs.push(prefix);
    }
    let mut acc = T::zero();
    for i in (0..z).rev() {
        acc += g[i] * outs[i];
        out[i] = acc / x[i];
    }
    if z < n {
        // prefix = prod_{k < z} x_k
        let (mut running, mut acc) = (prefix, g[z] * prefix);
        for j in z + 1..n {
            running *= x[j];
            acc += g[j] * running;
        }
        out[z] = acc;
        out[z + 1..].iter_mut().for_each(|o| *o = T::zero());
    }
}

struct CumprodBackward {
    x: Saved,
    dim: usize,
}
impl Backward for CumprodBackward {
    fn name(&self) -> &'static str {
        "CumprodBackward0"
    }
    fn apply(&self, g: &Tensor, _needs: &[bool]) -> Result<Vec<Option<Tensor>>> {
        let x = &self.x.get()?;
        if crate::autograd::is_recording() {
            return Ok(vec![Some(cumprod_grad_recorded(x, g, self.dim)?)]);
        }
        let d = with_float!(g.dtype(), "cumprod", T => pair_lines::<T>(x, g, self.dim, cumprod_grad_line)?);
        Ok(vec![Some(d)])
    }
    fn differentiable(&self) -> bool {
        true
    }
}

/// cumprod's gradient as recorded ops (for `create_graph`): with P[i, j] = prod_{k <= j, k != i} x_k,
/// the running product of the line with x_i replaced by one, d_i = sum_{j >= i} g_j P[i, j]. Exact
/// when the line holds zeros, as the fused rule; it costs O(n^2) per line of n, and runs only when
/// a second derivative was asked for.
fn cumprod_grad_recorded(x: &Tensor, g: &Tensor, dim: usize) -> Result<Tensor> {
    use crate::ops::binary::{mul, where_};
    if x.ndim() == 0 {
        return Ok(g.clone());
    }
    let last = x.ndim() as isize - 1;
    let (xt, gt) = (x.transpose(dim as isize, last)?, g.transpose(dim as isize, last)?);
    let n = xt.shape()[last as usize];
    let mut square = xt.shape().to_vec();
    square.insert(square.len() - 1, n); // [..., i, k]
    let mask = |keep: fn(usize, usize) -> bool| Tensor::from_vec((0..n * n).map(|p| keep(p / n, p % n)).collect::<Vec<bool>>(), &[n, n]);
    let rows = xt.unsqueeze(-2)?.expand(&square)?;
    let p = cumprod(&where_(&mask(|i, k| i == k)?, &Tensor::full(&[], 1.0, x.dtype()), &rows)?, -1, None)?;
    let terms = where_(&mask(|i, j| j >= i)?, &mul(&p, &gt.unsqueeze(-2)?)?, &Tensor::full(&[], 0.0, x.dtype()))?;
    crate::ops::reduce::sum(&terms, &[-1], false)?.transpose(dim as isize, last)
}

/// `scan_lines` over two tensors of one shape (the input and the gradient).
fn pair_lines<T: Element>(x: &Tensor, g: &Tensor, dim: usize, f: impl Fn(&[T], &[T], &mut [T])) -> Result<Tensor> {
    let lines = Lines::new(x.shape(), dim);
    let (xd, gd) = (x.to_vec::<T>(), g.to_vec::<T>());
    let mut out = vec![T::default(); xd.len()];
    let mut dst = vec![T::default(); lines.n];
    lines.for_each(|idx| {
        let pos: Vec<usize> = idx.collect();
        let xs: Vec<T> = pos.iter().map(|&p| xd[p]).collect();
        let gs: Vec<T> = pos.iter().map(|&p| gd[p]).collect();
        f(&xs, &gs, &mut dst);
        for (&p, &v) in pos.iter().zip(&dst) {
            out[p] = v;
        }
    });
    Tensor::from_vec(out, x.shape())
}

/// `prod(dim=None, keepdim=False, dtype=None)`: the product of all elements, or along one dim.
pub fn prod(t: &Tensor, dim: Option<isize>, keepdim: bool, dtype: Option<DType>) -> Result<Tensor> {
    let (x, d) = match dim {
        Some(dim) => (t.clone(), wrap_dim(dim, t.ndim(), "prod")?),
        None => (t.reshape(&[t.numel()])?, 0),
    };
    let c = cumprod(&x, d as isize, dtype)?;
    // The product is the last running product; an empty dim has product 1.
    let n = x.shape().get(d).copied().unwrap_or(1);
    let mut out = if n == 0 {
        let mut shape = x.shape().to_vec();
        if !shape.is_empty() {
            shape.remove(d);
        }
        crate::ops::binary::add(&Tensor::full(&shape, 1.0, c.dtype()), &crate::ops::reduce::sum(&c, &[d as isize], false)?)?
    } else if x.ndim() == 0 {
        c
    } else {
        c.select(d as isize, n as isize - 1)?
    };
    if dim.is_none() {
        out = out.reshape(&[])?;
    } else if keepdim && t.ndim() > 0 {
        out = out.unsqueeze(d as isize)?;
    }
    Ok(crate::autograd::rename_grad_fn(out, t, "ProdBackward0"))
}
