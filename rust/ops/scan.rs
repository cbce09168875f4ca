//! Scans and products along one dim: cumsum, cumprod and prod, each forward beside its
//! backward. Integer and bool inputs give int64 results (PyTorch's), float ones keep their dtype.
//!
//! Running sums and products of float32 accumulate in float64, as PyTorch's CPU kernels do
//! (`acc_type<float>` is double there): a float32 running sum of 1M uniforms drifts by units in
//! the last place, PyTorch's by 0.02. `prod` accumulates in the input's dtype, as PyTorch's.

#[allow(unused_imports)]
use num_traits::{Float as _, One as _, Zero as _};
use std::mem::MaybeUninit;

use crate::autograd::{record, Backward, Saved};
use crate::bail;
use crate::error::Result;
use crate::ops::cast::to_dtype;
use crate::ops::kernel::build_weighted;
use crate::ops::reduce::{amb, fold_mid};
use crate::tensor::iter::GRAIN;
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
    /// Outer blocks per parallel task: about GRAIN elements of input each.
    fn blocks_per_task(&self) -> usize {
        (GRAIN / (self.n * self.inner).max(1)).max(1)
    }
}

/// A running fold along the dim: `step` takes an element into an accumulator, `emit` gives the
/// output element; `reverse` folds from the end of each line.
struct Fold<A, S, E> {
    init: A,
    step: S,
    emit: E,
    reverse: bool,
}

/// Every line's running fold, in parallel over blocks of lines. When the dim is not the last,
/// the `inner` lines of a block advance together a row at a time (contiguous, so the loop
/// vectorises); on the last dim each line is one sequential pass.
fn fold_lines<T: Element, A: Copy + Sync>(x: &Tensor, dim: usize, fold: Fold<A, impl Fn(A, T) -> A + Sync, impl Fn(A) -> T + Sync>) -> Tensor {
    let l = Lines::new(x.shape(), dim);
    let (n, inner) = (l.n, l.inner);
    let block = n * inner;
    if block == 0 {
        return Tensor::from_vec_unchecked(Vec::<T>::new(), x.shape());
    }
    let at = |i: usize| if fold.reverse { n - 1 - i } else { i };
    let out = x.with_view::<T, _>(|v| {
        let src = v.contiguous();
        build_weighted(l.outer * block, 1, l.blocks_per_task() * block, |start, out: &mut [MaybeUninit<T>]| {
            let mut acc = vec![fold.init; inner];
            for (b, d) in out.chunks_mut(block).enumerate() {
                let s = &src[start + b * block..][..block];
                if inner == 1 {
                    let mut a = fold.init;
                    let mut each = |(o, &v): (&mut MaybeUninit<T>, &T)| {
                        a = (fold.step)(a, v);
                        o.write((fold.emit)(a));
                    };
                    if fold.reverse {
                        d.iter_mut().zip(s).rev().for_each(&mut each);
                    } else {
                        d.iter_mut().zip(s).for_each(&mut each);
                    }
                    continue;
                }
                acc.fill(fold.init);
                for i in (0..n).map(at) {
                    let (row, drow) = (&s[i * inner..][..inner], &mut d[i * inner..][..inner]);
                    for ((a, &v), o) in acc.iter_mut().zip(row).zip(drow) {
                        *a = (fold.step)(*a, v);
                        o.write((fold.emit)(*a));
                    }
                }
            }
        })
    });
    Tensor::from_vec_unchecked(out, x.shape())
}

/// The dtype a sum or product of `t` accumulates in: int64 for integers and bool.
fn accumulate_dtype(t: &Tensor, dtype: Option<DType>) -> DType {
    dtype.unwrap_or(if t.dtype().is_float() { t.dtype() } else { DType::I64 })
}

/// Running sums of a float line in float64, from the end when `reverse` (the backward).
fn running_sums<T: Float>(x: &Tensor, dim: usize, reverse: bool) -> Tensor {
    fold_lines::<T, f64>(x, dim, Fold { init: 0.0, step: |a, v: T| a + Element::to_f64(v), emit: T::from_f64, reverse })
}

/// `cumsum(dim, dtype=None)`: running sums along `dim`.
pub fn cumsum(t: &Tensor, dim: isize, dtype: Option<DType>) -> Result<Tensor> {
    let d = wrap_dim(dim, t.ndim(), "cumsum")?;
    let dt = accumulate_dtype(t, dtype);
    if dt.is_half() {
        // The input cast to the half dtype first (as PyTorch's dtype= casts it), then in float32,
        // each running value rounded to the half dtype (PyTorch's opmath).
        return to_dtype(&cumsum(&to_dtype(&to_dtype(t, dt)?, DType::F32)?, dim, None)?, dt);
    }
    if dt.is_integer() && dt != DType::I64 {
        // Integers run in int64 and are cast back: the same wrapped values as running in `dt`.
        return to_dtype(&cumsum(t, dim, Some(DType::I64))?, dt);
    }
    let x = to_dtype(t, dt)?;
    let out = match dt {
        DType::I64 => fold_lines::<i64, i64>(&x, d, Fold { init: 0, step: i64::wrapping_add, emit: |a| a, reverse: false }),
        DType::F32 => running_sums::<f32>(&x, d, false),
        DType::F64 => running_sums::<f64>(&x, d, false),
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
        let d = with_float!(g.dtype(), "cumsum", T => running_sums::<T>(g, self.dim, true));
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
    if dt.is_half() {
        // The input cast to the half dtype first (as PyTorch's dtype= casts it), then in float32,
        // each running value rounded to the half dtype (PyTorch's opmath).
        return to_dtype(&cumprod(&to_dtype(&to_dtype(t, dt)?, DType::F32)?, dim, None)?, dt);
    }
    if dt.is_integer() && dt != DType::I64 {
        // Integers run in int64 and are cast back: the same wrapped values as running in `dt`.
        return to_dtype(&cumprod(t, dim, Some(DType::I64))?, dt);
    }
    let x = to_dtype(t, dt)?;
    let out = match dt {
        DType::I64 => fold_lines::<i64, i64>(&x, d, Fold { init: 1, step: i64::wrapping_mul, emit: |a| a, reverse: false }),
        d2 if d2.is_float() => with_float!(d2, "cumprod", T => fold_lines::<T, f64>(&x, d, Fold {
            init: 1.0,
            step: |a, v: T| a * Element::to_f64(v),
            emit: T::from_f64,
            reverse: false,
        })),
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
    // The first zero, found a block of 16 at a time (a compare and branch per element was a
    // third of the gradient's time).
    let block = x.chunks(16).position(|c| c.iter().fold(false, |any, &v| any | (v == T::zero())));
    let z = block.map_or(n, |b| b * 16 + x[b * 16..].iter().position(|&v| v == T::zero()).unwrap_or(0));
    // The running products first, in `out` (no buffer per line), then the sums over them from
    // the end, then the divisions as a loop of their own: one per element inside the sums' loop
    // they ran scalar, alone they vectorise.
    let mut prefix = T::one();
    for (o, &v) in out[..z].iter_mut().zip(&x[..z]) {
        prefix *= v;
        *o = prefix;
    }
    let mut acc = T::zero();
    for (o, &gv) in out[..z].iter_mut().zip(&g[..z]).rev() {
        acc += gv * *o;
        *o = acc;
    }
    for (o, &v) in out[..z].iter_mut().zip(&x[..z]) {
        *o = *o / v;
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
        Ok(vec![Some(cumprod_grad(&self.x.get()?, g, self.dim)?)])
    }
    fn differentiable(&self) -> bool {
        true
    }
}

/// cumprod's gradient: fused per line, or as recorded ops when a second derivative is asked for.
fn cumprod_grad(x: &Tensor, g: &Tensor, dim: usize) -> Result<Tensor> {
    if crate::autograd::is_recording() {
        return cumprod_grad_recorded(x, g, dim);
    }
    Ok(with_float!(g.dtype(), "cumprod", T => pair_lines::<T>(x, g, dim, cumprod_grad_line)))
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

/// `f(x_line, g_line, out_line)` on every line of two tensors of one shape (the input and the
/// gradient), in parallel over blocks of lines; lines off the last dim go through scratch copies.
fn pair_lines<T: Element>(x: &Tensor, g: &Tensor, dim: usize, f: impl Fn(&[T], &[T], &mut [T]) + Sync) -> Tensor {
    let l = Lines::new(x.shape(), dim);
    let (n, inner) = (l.n, l.inner);
    let block = n * inner;
    if block == 0 {
        return Tensor::from_vec_unchecked(vec![T::default(); x.numel()], x.shape());
    }
    let out = x.with_view::<T, _>(|xv| {
        g.with_view::<T, _>(|gv| {
            let (xs, gs) = (xv.contiguous(), gv.contiguous());
            build_weighted(l.outer * block, 1, l.blocks_per_task() * block, |start, out: &mut [MaybeUninit<T>]| {
                let (mut xl, mut gl, mut ol) = (vec![T::default(); n], vec![T::default(); n], vec![T::default(); n]);
                for (b, d) in out.chunks_mut(block).enumerate() {
                    let base = start + b * block;
                    for k in 0..inner {
                        if inner == 1 {
                            f(&xs[base..base + n], &gs[base..base + n], &mut ol);
                        } else {
                            for i in 0..n {
                                (xl[i], gl[i]) = (xs[base + i * inner + k], gs[base + i * inner + k]);
                            }
                            f(&xl, &gl, &mut ol);
                        }
                        for (i, &v) in ol.iter().enumerate() {
                            d[i * inner + k].write(v);
                        }
                    }
                }
            })
        })
    });
    Tensor::from_vec_unchecked(out, x.shape())
}

/// The product along `dim` (kept with size 1), in the input's dtype as PyTorch's; int64 wraps.
fn line_products(x: &Tensor, dim: usize) -> Result<Tensor> {
    let mut shape = x.shape().to_vec();
    let amb = if shape.is_empty() { (1, 1, 1) } else { amb(&shape, dim, dim) };
    if !shape.is_empty() {
        shape[dim] = 1;
    }
    Ok(match x.dtype() {
        DType::I64 => Tensor::from_vec_unchecked(products::<i64>(x, amb, 1, i64::wrapping_mul), &shape),
        d => with_float!(d, "prod", T => Tensor::from_vec_unchecked(products::<T>(x, amb, T::one(), |a, b| a * b), &shape)),
    })
}

/// Products over the middle axis of `x` seen as (a, n, b): a row of the last dim in 16 lanes
/// (independent chains, as PyTorch's vectorised product), otherwise rows of b at a time.
fn products<T: Element>(x: &Tensor, (a, n, b): (usize, usize, usize), one: T, mul: impl Fn(T, T) -> T + Sync + Copy) -> Vec<T> {
    x.with_view::<T, _>(|v| {
        let data = v.contiguous();
        if b != 1 {
            return fold_mid(&data, (a, n, b), one, |acc, v, _| mul(acc, v));
        }
        build_weighted(a, n, (GRAIN / n.max(1)).max(1), |start, out| {
            for (r, o) in out.iter_mut().enumerate() {
                let row = &data[(start + r) * n..][..n];
                let mut acc = [one; 16];
                let mut chunks = row.chunks_exact(16);
                for c in &mut chunks {
                    acc.iter_mut().zip(c).for_each(|(a, &v)| *a = mul(*a, v));
                }
                acc.iter_mut().zip(chunks.remainder()).for_each(|(a, &v)| *a = mul(*a, v));
                o.write(acc.into_iter().reduce(mul).unwrap_or(one));
            }
        })
    })
}

/// The product's gradient: g prod / x when no input is 0 (PyTorch's rule, one pass), else
/// cumprod's for a gradient on the last running product alone (exact at zeros).
struct ProdBackward {
    x: Saved,
    /// The products, the dim kept.
    out: Saved,
    dim: usize,
}
impl Backward for ProdBackward {
    fn name(&self) -> &'static str {
        "ProdBackward0"
    }
    fn apply(&self, g: &Tensor, _needs: &[bool]) -> Result<Vec<Option<Tensor>>> {
        let x = &self.x.get()?;
        let n = x.shape().get(self.dim).copied().unwrap_or(1);
        if n == 0 {
            return Ok(vec![Some(Tensor::zeros(x.shape(), x.dtype()))]);
        }
        let any_zero = with_float!(x.dtype(), "prod backward", T => Tensor::with_slices::<T, _>(&[x], |s| s[0].iter().any(|&v| v == T::zero())));
        if !any_zero {
            // Recorded ops, so the rule differentiates again (the saved product keeps its history).
            use crate::ops::expr::ex;
            return Ok(vec![Some((ex(g) * (ex(&self.out.get()?) / ex(x))).done()?)]);
        }
        // g (dim kept) placed at the last position of each line, zeros before it.
        let mut head = x.shape().to_vec();
        let g_full = if x.ndim() == 0 || n == 1 {
            g.reshape(x.shape())?
        } else {
            head[self.dim] = n - 1;
            crate::ops::join::cat(&[Tensor::zeros(&head, g.dtype()), g.clone()], self.dim as isize)?
        };
        Ok(vec![Some(cumprod_grad(x, &g_full, self.dim)?)])
    }
    fn differentiable(&self) -> bool {
        true
    }
}

/// `prod(dim=None, keepdim=False, dtype=None)`: the product of all elements, or along one dim.
pub fn prod(t: &Tensor, dim: Option<isize>, keepdim: bool, dtype: Option<DType>) -> Result<Tensor> {
    let dt = accumulate_dtype(t, dtype);
    if dt.is_half() {
        return to_dtype(&prod(&to_dtype(&to_dtype(t, dt)?, DType::F32)?, dim, keepdim, None)?, dt);
    }
    if dt.is_integer() && dt != DType::I64 {
        // As cumprod: int64, then cast back (the same wrapped product).
        return to_dtype(&prod(t, dim, keepdim, Some(DType::I64))?, dt);
    }
    let (x, d) = match dim {
        Some(dim) => (t.clone(), wrap_dim(dim, t.ndim(), "prod")?),
        None => (t.reshape(&[t.numel()])?, 0),
    };
    let x = to_dtype(&x, accumulate_dtype(&x, dtype))?;
    let products = line_products(&x, d)?;
    let saved = products.clone();
    let p = record(products, &[&x], || Ok(Box::new(ProdBackward { x: Saved::new(&x)?, out: Saved::output(&saved)?, dim: d })))?;
    let out = if dim.is_none() {
        p.reshape(&[])?
    } else if keepdim || t.ndim() == 0 {
        p
    } else {
        p.squeeze(Some(&[d as isize]))?
    };
    Ok(crate::autograd::rename_grad_fn(out, t, "ProdBackward0"))
}
