//! Reductions: sum, mean, max/min (with indices), argmax/argmin, var, std, logsumexp (the
//! 2-norm is `vector_norm`).
//! The kernels see the input as [A, n, B]: the dims before, inside and after one contiguous run
//! of reduced dims, and fold the middle one.

#[allow(unused_imports)]
use num_traits::{Float as _, One as _, Zero as _};

use crate::autograd::{record, Backward, Saved};
use crate::bail;
use crate::error::Result;
use crate::ops::cast::to_dtype;
use crate::ops::kernel::build_weighted;
use crate::ops::{binary, unary};
use crate::tensor::iter::GRAIN;
use crate::tensor::shape::wrap_dims;
use crate::tensor::{DType, Element, Float, Tensor};

pub use crate::ops::extremum::{argmax, max_all, max_dim};
use crate::with_float;

/// Output shape of reducing `dims` (sorted) of `shape`.
pub(crate) fn reduced_shape(shape: &[usize], dims: &[usize], keepdim: bool) -> Vec<usize> {
    shape
        .iter()
        .enumerate()
        .filter_map(|(i, &n)| if dims.contains(&i) { keepdim.then_some(1) } else { Some(n) })
        .collect()
}

/// Folds the middle axis of a contiguous [a, n, b] array. `fold(acc, value, j)` with j in 0..n.
pub(crate) fn fold_mid<T: Element, A: Copy + Send + Sync>(
    data: &[T],
    (a, n, b): (usize, usize, usize),
    init: A,
    fold: impl Fn(A, T, usize) -> A + Sync,
) -> Vec<A> {
    let block = |ai: usize, out: &mut [A]| {
        out.fill(init);
        let base = ai * n * b;
        for j in 0..n {
            let row = &data[base + j * b..base + (j + 1) * b];
            for (o, &v) in out.iter_mut().zip(row) {
                *o = fold(*o, v, j);
            }
        }
    };
    let mut out = vec![init; a * b];
    if a * n * b > GRAIN && a > 1 && b > 0 {
        // Blocks of whole outer indices of about GRAIN elements of work each, on the project's
        // pool (`parallel`): one rayon task per outer index woke sleeping threads per row.
        let per = (GRAIN / (n * b).max(1)).max(1);
        crate::parallel::for_each_chunk_mut(&mut out, per * b, &|p, o| {
            for (k, ob) in o.chunks_mut(b).enumerate() {
                block(p * per + k, ob);
            }
        });
    } else if b > 0 {
        out.chunks_mut(b).enumerate().for_each(|(ai, o)| block(ai, o));
    }
    out
}

/// Splits a reduction over the contiguous run `dims` (sorted, consecutive) into (a, n, b).
pub(crate) fn amb(shape: &[usize], first: usize, last: usize) -> (usize, usize, usize) {
    (shape[..first].iter().product(), shape[first..=last].iter().product(), shape[last + 1..].iter().product())
}

fn is_run(dims: &[usize]) -> bool {
    dims.windows(2).all(|w| w[1] == w[0] + 1)
}

/// Sum over `dims` (empty = all). Integer and bool inputs sum to int64, as PyTorch.
pub fn sum(x: &Tensor, dims: &[isize], keepdim: bool) -> Result<Tensor> {
    if x.dtype().is_half() {
        return crate::ops::half::unary(x, |x| sum(x, dims, keepdim));
    }
    let d = wrap_dims(dims, x.ndim(), "sum")?;
    let out = sum_kernel(x, &d, keepdim)?;
    record(out, &[x], || Ok(Box::new(SumBackward { input: x.shape().to_vec(), dims: d, all_implicit: dims.is_empty(), scale: None })))
}

fn sum_kernel(x: &Tensor, dims: &[usize], keepdim: bool) -> Result<Tensor> {
    let out_shape = reduced_shape(x.shape(), dims, keepdim);
    if dims.is_empty() {
        // A 0-d input: nothing to add up, but the dtype rule holds (a bool or integer sum is int64).
        let widen = x.dtype() == DType::Bool || (x.dtype().is_integer() && x.dtype() != DType::I64);
        let copy = if widen { to_dtype(x, DType::I64)? } else { x.deep_copy() };
        return Ok(copy.reshape(&out_shape)?.detach());
    }
    if !is_run(dims) {
        // Reduce the last run first, keep dims so the others keep their positions.
        let mut t = x.clone();
        let mut rest = dims.to_vec();
        while !rest.is_empty() {
            let mut start = rest.len() - 1;
            while start > 0 && rest[start - 1] + 1 == rest[start] {
                start -= 1;
            }
            t = sum_kernel(&t, &rest[start..], true)?;
            rest.truncate(start);
        }
        return t.reshape(&out_shape).map(|t| t.detach());
    }
    let (a, n, b) = amb(x.shape(), dims[0], dims[dims.len() - 1]);
    let out = match x.dtype() {
        DType::F32 => Tensor::from_vec_unchecked(sum_float::<f32>(x, (a, n, b)), &out_shape),
        DType::F64 => Tensor::from_vec_unchecked(sum_float::<f64>(x, (a, n, b)), &out_shape),
        _ => {
            let v = to_dtype(x, DType::I64)?.to_vec::<i64>();
            Tensor::from_vec_unchecked(fold_mid(&v, (a, n, b), 0i64, |acc, v, _| acc.wrapping_add(v)), &out_shape)
        }
    };
    Ok(out)
}

fn sum_float<T: Float>(x: &Tensor, (a, n, b): (usize, usize, usize)) -> Vec<T> {
    if n == 0 {
        // +0.0, as PyTorch (an empty f64 iterator sums to -0.0 in Rust).
        return vec![T::zero(); a * b];
    }
    x.with_view::<T, _>(|v| {
        if b == 1 && !v.layout.is_contiguous() {
            return crate::ops::kernel::sum_view_runs(v.data, v.layout, a, n);
        }
        let data = v.contiguous();
        if b == 1 {
            return crate::ops::kernel::sum_rows(&data, a, n);
        }
        fold_mid(&data, (a, n, b), T::zero(), |acc, v, _| acc + v)
    })
}

/// Mean over `dims`; float tensors only, as PyTorch.
pub fn mean(x: &Tensor, dims: &[isize], keepdim: bool) -> Result<Tensor> {
    if x.dtype().is_half() {
        return crate::ops::half::unary(x, |x| mean(x, dims, keepdim));
    }
    if !x.dtype().is_float() {
        // NotImplementedError with PyTorch's scalar-type name ("Got: Long"), as PyTorch.
        bail!(
            NotImplemented,
            "mean(): could not infer output dtype. Input dtype must be either a floating point or complex dtype. Got: {}",
            x.dtype().torch_name()
        );
    }
    let d = wrap_dims(dims, x.ndim(), "mean")?;
    let n: usize = d.iter().map(|&i| x.shape()[i]).product();
    let s = sum_kernel(x, &d, keepdim)?;
    let out = unary::mul_scalar(&s, 1.0 / n as f64)?;
    record(out, &[x], || Ok(Box::new(SumBackward { input: x.shape().to_vec(), dims: d, all_implicit: dims.is_empty(), scale: Some(1.0 / n as f64) })))
}

struct SumBackward {
    input: Vec<usize>,
    dims: Vec<usize>,
    /// Called without dims (`x.sum()`): PyTorch's ...Backward0; any dim argument is ...Backward1.
    all_implicit: bool,
    /// Some(1/n) for mean.
    scale: Option<f64>,
}
impl Backward for SumBackward {
    fn attrs(&self) -> crate::autograd::trace::Attrs {
        crate::attrs![("dims", &self.dims), ("mean", self.scale.is_some())]
    }
    fn name(&self) -> &'static str {
        match (self.scale.is_some(), self.all_implicit) {
            (true, true) => "MeanBackward0",
            (true, false) => "MeanBackward1",
            (false, true) => "SumBackward0",
            (false, false) => "SumBackward1",
        }
    }
    fn saves_tensors(&self) -> bool {
        false
    }
    fn apply(&self, g: &Tensor, _needs: &[bool]) -> Result<Vec<Option<Tensor>>> {
        let kept = reduced_shape(&self.input, &self.dims, true);
        // keepdim or not, the gradient has the kept dims' sizes in order: put the 1s back.
        let mut g = g.reshape(&kept)?;
        if let Some(s) = self.scale {
            g = if crate::autograd::is_recording() { binary::mul(&g, &Tensor::wrapped_scalar(crate::tensor::Scalar::Float(s)))? } else { unary::mul_scalar(&g, s)? };
        }
        Ok(vec![Some(g.expand(&self.input)?)])
    }
    fn differentiable(&self) -> bool {
        true
    }
}

/// Sums a broadcast gradient back to `shape` (the input's shape before broadcasting).
pub fn sum_to(g: &Tensor, shape: &[usize]) -> Result<Tensor> {
    if g.shape() == shape {
        return Ok(g.clone());
    }
    let lead = g.ndim() - shape.len();
    let dims: Vec<isize> = (0..g.ndim())
        .filter(|&i| i < lead || (shape[i - lead] == 1 && g.shape()[i] != 1))
        .map(|i| i as isize)
        .collect();
    let s = if dims.is_empty() { g.clone() } else { sum(g, &dims, true)? };
    s.reshape(shape)
}

/// Variance with `correction` (1 = unbiased, PyTorch's default) over `dims` (empty = all).
pub fn var(x: &Tensor, dims: &[isize], correction: f64, keepdim: bool) -> Result<Tensor> {
    var_std(x, dims, correction, keepdim, false)
}

/// Standard deviation: the square root of `var`, with PyTorch's gradient (0 where it is 0).
pub fn std(x: &Tensor, dims: &[isize], correction: f64, keepdim: bool) -> Result<Tensor> {
    var_std(x, dims, correction, keepdim, true)
}

/// One fused op for var and std. Each output's mean and sum of squared deviations accumulate
/// in f64 (two passes), so a float32 run of equal values has variance exactly 0, as PyTorch's.
/// Divides by max(n - correction, 0): no degrees of freedom give inf (or NaN for 0 / 0).
fn var_std(x: &Tensor, dims: &[isize], correction: f64, keepdim: bool, take_sqrt: bool) -> Result<Tensor> {
    let op = if take_sqrt { "std" } else { "var" };
    if x.dtype().is_half() {
        return crate::ops::half::unary(x, |x| var_std(x, dims, correction, keepdim, take_sqrt));
    }
    if !x.dtype().is_float() {
        bail!(Runtime, "{op}(): input dtype should be a floating point type, got {}", x.dtype().short_name());
    }
    let d = wrap_dims(dims, x.ndim(), op)?;
    let (rows, n, kept_shape) = rows_last(x, &d)?;
    let dof = (n as f64 - correction).max(0.0);
    let (out, mean) = with_float!(x.dtype(), op, T => {
        let stats: Vec<(f64, f64)> = rows.with_view::<T, _>(|v| {
            per_row(&v.contiguous(), n, kept_shape.iter().product(), (f64::NAN, f64::NAN), |sum| {
                let m = sum(&|r| row_sum_f64(r, 0.0, false)) / n as f64;
                let ss = sum(&|r| row_sum_f64(r, m, true));
                (m, ss / dof)
            })
        });
        let out: Vec<T> = stats.iter().map(|&(_, v)| T::from_f64(if take_sqrt { v.sqrt() } else { v })).collect();
        let mean: Vec<T> = stats.iter().map(|&(m, _)| T::from_f64(m)).collect();
        (Tensor::from_vec_unchecked(out, &kept_shape), Tensor::from_vec_unchecked(mean, &kept_shape))
    });
    let out = if keepdim { out } else { out.reshape(&reduced_shape(x.shape(), &d, false))?.detach() };
    let saved_out = out.clone();
    record(out, &[x], || {
        Ok(Box::new(VarStdBackward { x: Saved::new(x)?, mean, out: Saved::output(&saved_out)?, kept_shape, dof, take_sqrt }))
    })
}

/// `x` (detached) with its kept dims first and the reduced dims `d` (sorted) last: each output
/// is one contiguous row of n values. (rows, n, the kept shape with 1s for `d`).
pub(crate) fn rows_last(x: &Tensor, d: &[usize]) -> Result<(Tensor, usize, Vec<usize>)> {
    let n: usize = d.iter().map(|&i| x.shape()[i]).product();
    let mut perm: Vec<isize> = (0..x.ndim()).filter(|i| !d.contains(i)).map(|i| i as isize).collect();
    perm.extend(d.iter().map(|&i| i as isize));
    Ok((x.detach().permute(&perm)?, n, reduced_shape(x.shape(), d, true)))
}

/// `stat(sum)` for each row of n values of `data` (`outputs` of them; `empty` each when n is 0),
/// where `sum(f)` adds up `f` over the row's pieces: one row alone (a reduction of everything)
/// is cut into pieces summed in parallel, and rows are shared out between threads otherwise.
pub(crate) fn per_row<T: Copy + Sync, R: Send + Clone>(
    data: &[T],
    n: usize,
    outputs: usize,
    empty: R,
    stat: impl Fn(&dyn Fn(&(dyn Fn(&[T]) -> f64 + Sync)) -> f64) -> R + Sync,
) -> Vec<R> {
    match data.len().checked_div(n) {
        None => vec![empty; outputs],
        Some(1) => vec![stat(&|f| pieces_f64(data, f))],
        Some(rows) => build_weighted(rows, n, (GRAIN / n).max(1), |start, out| {
            for (i, o) in out.iter_mut().enumerate() {
                let row = &data[(start + i) * n..(start + i + 1) * n];
                o.write(stat(&|f| f(row)));
            }
        }),
    }
}

/// The sum over a row of (v - shift)^2 when `square`, else of v, in float64 (`lanes_f64`),
/// compiled for AVX2 and AVX-512 (no fused multiply-add, so every CPU gives the same bits).
#[inline(always)]
fn row_sum_body<T: Float, const FMA: bool>(row: &[T], shift: f64, square: bool) -> f64 {
    if square {
        lanes_f64(row, |v| (Element::to_f64(v) - shift) * (Element::to_f64(v) - shift))
    } else {
        lanes_f64(row, Element::to_f64)
    }
}

crate::multiversion!(row_sum_body, row_sum_avx2, row_sum_f64, Float, (row: &[T], shift: f64, square: bool) -> f64);

/// The sum of `f(v)` over a row in 32 float64 lanes (`kernel::lanes_sum`).
#[inline(always)]
fn lanes_f64<T: Copy>(row: &[T], f: impl Fn(T) -> f64) -> f64 {
    crate::ops::kernel::lanes_sum::<T, f64, 32>(row, f)
}

/// `sum` of a long row's pieces, in parallel, added in order (the same result at any thread
/// count).
fn pieces_f64<T: Copy + Sync>(row: &[T], sum: &(dyn Fn(&[T]) -> f64 + Sync)) -> f64 {
    let parts = build_weighted(row.len().div_ceil(GRAIN), GRAIN, 1, |start, out| {
        for (i, o) in out.iter_mut().enumerate() {
            let at = (start + i) * GRAIN;
            o.write(sum(&row[at..(at + GRAIN).min(row.len())]));
        }
    });
    parts.iter().sum()
}

/// PyTorch's var_backward / std_backward:
///   var: dx = g * 2 / dof * (x - mean);  std: the same with g / (2 std), and 0 where std == 0.
///   With no degrees of freedom (dof <= 0): dx = g' * (x == mean ? NaN : inf).
struct VarStdBackward {
    x: Saved,
    /// The mean over the reduced dims, in the kept shape.
    mean: Tensor,
    out: Saved,
    kept_shape: Vec<usize>,
    dof: f64,
    take_sqrt: bool,
}
impl VarStdBackward {
    /// The rule as recorded ops (create_graph): the mean is recomputed from x with its history.
    fn apply_recorded(&self, x: &Tensor, g: &Tensor) -> Result<Vec<Option<Tensor>>> {
        use crate::ops::expr::{ex, Ex};
        let dims: Vec<isize> = self.kept_shape.iter().enumerate().filter(|(_, &n)| n == 1).map(|(i, _)| i as isize).collect();
        let dev = ex(x) - ex(&mean(x, &dims, true)?);
        let g = if self.take_sqrt {
            let s = self.out.get()?.reshape(&self.kept_shape)?;
            Ex::select(ex(&s).eq(0.0), Ex::c(0.0), ex(g) / (2.0 * ex(&s)))
        } else {
            ex(g)
        };
        Ok(vec![Some((dev * g * (2.0 / self.dof)).done()?)])
    }
}

impl Backward for VarStdBackward {
    fn attrs(&self) -> crate::autograd::trace::Attrs {
        crate::attrs![("kept_shape", &self.kept_shape), ("dof", self.dof)]
    }
    fn name(&self) -> &'static str {
        if self.take_sqrt { "StdBackward0" } else { "VarBackward0" }
    }
    fn apply(&self, g: &Tensor, _needs: &[bool]) -> Result<Vec<Option<Tensor>>> {
        let x = &self.x.get()?;
        let g = g.reshape(&self.kept_shape)?;
        if crate::autograd::is_recording() && self.dof > 0.0 {
            return self.apply_recorded(x, &g);
        }
        let g = if self.take_sqrt {
            // g / (2 std), masked to 0 where std == 0 (PyTorch's std_backward).
            let s = self.out.get()?.reshape(&self.kept_shape)?;
            with_float!(x.dtype(), "std backward", T => crate::ops::kernel::zip::<T, T>(&g, &s, "std backward", |gv, sv| {
                if sv == T::zero() { T::zero() } else { gv / (sv + sv) }
            })?)
        } else {
            g
        };
        let dev = binary::sub(x, &self.mean)?;
        let gi = if self.dof > 0.0 {
            binary::mul(&dev, &unary::mul_scalar(&g, 2.0 / self.dof)?)?
        } else {
            let blow_up = with_float!(x.dtype(), "var backward", T => crate::ops::kernel::map::<T, T>(&dev, |v: T| {
                if v == T::zero() { T::nan() } else { T::infinity() }
            }));
            binary::mul(&blow_up, &g)?
        };
        Ok(vec![Some(gi)])
    }
    fn differentiable(&self) -> bool {
        true
    }
}

/// log(sum(exp(x))) over `dims`, shifted by the max so it never overflows (an infinite max
/// shifts by 0, as PyTorch's). One op with PyTorch's backward, g * exp(x - result); an empty
/// input gives -inf and still requires grad.
pub fn logsumexp(x: &Tensor, dims: &[isize], keepdim: bool) -> Result<Tensor> {
    if x.dtype().is_half() {
        return crate::ops::half::unary(x, |x| logsumexp(x, dims, keepdim));
    }
    let x = &if x.dtype().is_float() { x.clone() } else { to_dtype(x, DType::F32)? };
    let d = wrap_dims(dims, x.ndim(), "logsumexp")?;
    let kept_shape = reduced_shape(x.shape(), &d, true);
    let last = d.len() == 1 && d[0] + 1 == x.ndim();
    let out = if x.numel() == 0 {
        Tensor::full(&kept_shape, f64::NEG_INFINITY, x.dtype())
    } else if last {
        // Over the last dim (the usual case): one vectorised pass per row, in parallel.
        with_float!(x.dtype(), "logsumexp", T => last_dim_logsumexp::<T>(x, &kept_shape))
    } else {
        let xd = x.detach();
        let di: Vec<isize> = d.iter().map(|&i| i as isize).collect();
        let mut m = xd.clone();
        for &dim in d.iter().rev() {
            m = max_dim(&m, dim as isize, true, true)?.0;
        }
        let m = with_float!(m.dtype(), "logsumexp", T => crate::ops::kernel::map::<T, T>(&m, |v: T| if v.is_finite() { v } else { T::zero() }));
        let s = sum(&unary::exp(&binary::sub(&xd, &m)?)?, &di, true)?;
        binary::add(&unary::log(&s)?, &m)?
    };
    let out = if keepdim { out } else { out.reshape(&reduced_shape(x.shape(), &d, false))?.detach() };
    let saved_out = out.clone();
    record(out, &[x], || Ok(Box::new(LogsumexpBackward { x: Saved::new(x)?, out: Saved::output(&saved_out)?, kept_shape })))
}

/// logsumexp over the last dim by `softmax::row_logsumexp`. A row whose max is +inf is +inf
/// here (logsumexp shifts an infinite max by 0; log_softmax, which that kernel follows, makes
/// the row NaN), so rows it calls NaN without holding a NaN are +inf.
fn last_dim_logsumexp<T: crate::vmath::VMath>(x: &Tensor, kept_shape: &[usize]) -> Tensor {
    let c = x.shape()[x.ndim() - 1];
    // Read in place when contiguous (a copy of the input cost a third of the time).
    let out: Vec<T> = x.with_view::<T, _>(|v| {
        let data = v.contiguous();
        let parts = crate::ops::softmax::row_logsumexp(&data, c);
        parts
            .iter()
            .zip(data.chunks(c))
            .map(|(&(m, ls), row)| {
                let v = m + ls;
                if v.is_nan() && !row.iter().any(|r| r.is_nan()) { T::infinity() } else { T::from_f64(v) }
            })
            .collect()
    });
    Tensor::from_vec_unchecked(out, kept_shape)
}

struct LogsumexpBackward {
    x: Saved,
    out: Saved,
    kept_shape: Vec<usize>,
}
impl Backward for LogsumexpBackward {
    fn attrs(&self) -> crate::autograd::trace::Attrs {
        crate::attrs![("kept_shape", &self.kept_shape)]
    }
    fn name(&self) -> &'static str {
        "LogsumexpBackward0"
    }
    fn apply(&self, g: &Tensor, _needs: &[bool]) -> Result<Vec<Option<Tensor>>> {
        let (x, out) = (&self.x.get()?, self.out.get()?.reshape(&self.kept_shape)?);
        let p = unary::exp(&binary::sub(x, &out)?)?;
        Ok(vec![Some(binary::mul(&p, &g.reshape(&self.kept_shape)?)?)])
    }
    fn differentiable(&self) -> bool {
        true
    }
}
