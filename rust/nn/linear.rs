//! `F.linear` as one op (PyTorch's addmm): y = x @ W^T + b.
//!
//! Composed of matmul, transpose and add it costs an extra pass for the bias, and its backward
//! produces dW as the transpose of a (in, out) product that then has to be gathered into the
//! weight's (out, in) layout: 10% of an MLP training step. Here the bias seeds the output that
//! the product accumulates onto, and each gradient is one product written straight into its
//! final layout:
//!
//! * grad_input = grad @ W            (M, out) @ (out, in)
//! * grad_weight = grad^T @ input     (out, M) @ (M, in)
//! * grad_bias = grad summed over rows
//!
//! Inputs of any rank (*, in) are read as (M, in) matrices through their strides when they are
//! 2-D or contiguous; other layouts are gathered first.

use crate::autograd::{record, Backward, Saved};
use crate::bail;
use crate::error::Result;
use crate::ops::gemm::{gemm, Mat};
use crate::ops::reduce::sum;
use crate::tensor::{Float, Tensor};
use crate::with_float;

pub fn linear(x: &Tensor, w: &Tensor, b: Option<&Tensor>) -> Result<Tensor> {
    if w.ndim() != 2 {
        bail!(Runtime, "linear: weight must be 2-D (out_features, in_features), got shape {:?}", w.shape());
    }
    let (out_f, in_f) = (w.shape()[0], w.shape()[1]);
    if x.ndim() == 0 || x.shape()[x.ndim() - 1] != in_f {
        let rows = if x.ndim() == 0 { 1 } else { x.numel() / x.shape()[x.ndim() - 1].max(1) };
        bail!(
            Runtime,
            "linear: mat1 and mat2 shapes cannot be multiplied ({}x{} and {}x{}) (input shape {:?}, weight shape {:?})",
            rows, x.shape().last().copied().unwrap_or(1), in_f, out_f, x.shape(), w.shape()
        );
    }
    for (name, t) in [("weight", Some(w)), ("bias", b)] {
        if let Some(t) = t {
            if t.dtype() != x.dtype() {
                bail!(Runtime, "linear: expected {name} to have the input's dtype {}, but got {}", x.dtype().name(), t.dtype().name());
            }
        }
    }
    if let Some(b) = b {
        if b.ndim() != 1 || b.shape()[0] != out_f {
            bail!(Runtime, "linear: bias must have shape [{out_f}] (out_features), got {:?}", b.shape());
        }
    }
    let mut out_shape = x.shape().to_vec();
    *out_shape.last_mut().unwrap() = out_f;
    let out = with_float!(x.dtype(), "linear", T => {
        let bias = b.map(|b| b.to_vec::<T>());
        let x = Operand::plain(x)?;
        let y = product::<T>(x, Operand::transposed(w), bias.as_deref(), out_f);
        Tensor::from_vec_unchecked(y, &out_shape)
    });
    let mut inputs = vec![x, w];
    inputs.extend(b);
    record(out, &inputs, || {
        Ok(Box::new(LinearBackward {
            input: if w.requires_grad() { Some(Saved::new(x)?) } else { None },
            weight: if x.requires_grad() { Some(Saved::new(w)?) } else { None },
            x_shape: x.shape().to_vec(),
            has_bias: b.is_some(),
        }))
    })
}

struct LinearBackward {
    input: Option<Saved>,
    weight: Option<Saved>,
    x_shape: Vec<usize>,
    has_bias: bool,
}

impl Backward for LinearBackward {
    /// Its grad_fn names are those of addmm and mm; a trace must know the weight is (out, in).
    fn attrs(&self) -> crate::autograd::trace::Attrs {
        crate::attrs![("linear", true)]
    }
    fn name(&self) -> &'static str {
        if self.has_bias { "AddmmBackward0" } else { "MmBackward0" }
    }

    fn apply(&self, g: &Tensor, needs: &[bool]) -> Result<Vec<Option<Tensor>>> {
        if crate::autograd::is_recording() {
            return self.apply_recorded(g, needs);
        }
        let in_f = *self.x_shape.last().unwrap();
        let out_f = g.shape()[g.ndim() - 1];
        let gm = Operand::plain(g)?;
        let grad_input = match (&self.weight, needs[0]) {
            (Some(w), true) => {
                let w = &w.get()?;
                Some(with_float!(g.dtype(), "linear backward", T => {
                    Tensor::from_vec_unchecked(product::<T>(gm.clone(), Operand::plain(w)?, None, in_f), &self.x_shape)
                }))
            }
            _ => None,
        };
        let grad_weight = match (&self.input, needs[1]) {
            (Some(x), true) => {
                let x = Operand::plain(&x.get()?)?;
                Some(with_float!(g.dtype(), "linear backward", T => {
                    Tensor::from_vec_unchecked(product::<T>(gm.clone().t(), x, None, in_f), &[out_f, in_f])
                }))
            }
            _ => None,
        };
        let mut grads = vec![grad_input, grad_weight];
        if self.has_bias {
            grads.push(if needs[2] { Some(sum(&gm.t.reshape(&[gm.rows, out_f])?, &[0], false)?) } else { None });
        }
        Ok(grads)
    }
    fn differentiable(&self) -> bool {
        true
    }
}

impl LinearBackward {
    /// The gradients as recorded ops (linear itself, matmul, views, sum) of the saved input and
    /// weight with their history, so they can be differentiated again.
    fn apply_recorded(&self, g: &Tensor, needs: &[bool]) -> Result<Vec<Option<Tensor>>> {
        let in_f = *self.x_shape.last().unwrap();
        let out_f = g.shape()[g.ndim() - 1];
        let rows = self.x_shape[..self.x_shape.len() - 1].iter().product::<usize>();
        let grad_input = match (&self.weight, needs[0]) {
            // g @ W is linear(g, W^T).
            (Some(w), true) => Some(linear(g, &w.get()?.t()?, None)?),
            _ => None,
        };
        let g2 = g.reshape(&[rows, out_f])?;
        let grad_weight = match (&self.input, needs[1]) {
            (Some(x), true) => Some(crate::ops::matmul::matmul(&g2.t()?, &x.get()?.reshape(&[rows, in_f])?)?),
            _ => None,
        };
        let mut grads = vec![grad_input, grad_weight];
        if self.has_bias {
            grads.push(if needs[2] { Some(sum(&g2, &[0], false)?) } else { None });
        }
        Ok(grads)
    }
}

/// A tensor read as a matrix: (rows, cols) with strides, possibly transposed.
#[derive(Clone)]
struct Operand {
    t: Tensor,
    rows: usize,
    cols: usize,
    rs: isize,
    cs: isize,
}

impl Operand {
    /// (*, n) as (M, n): through its strides when 2-D (or 1-D), else a contiguous copy.
    fn plain(t: &Tensor) -> Result<Operand> {
        let n = *t.shape().last().unwrap();
        let t = if t.ndim() <= 2 || t.is_contiguous() { t.clone() } else { t.contiguous()? };
        let (rs, cs) = match *t.strides() {
            [r, c] => (r as isize, c as isize),
            [c] => (0, c as isize),
            _ => (n as isize, 1),
        };
        // Rows from the shape, not numel / n: with n == 0 a (2, 0) gradient still has 2 rows.
        let rows = t.shape()[..t.ndim().saturating_sub(1)].iter().product();
        Ok(Operand { rows, cols: n, rs, cs, t })
    }

    /// A 2-D tensor's transpose, read in place.
    fn transposed(t: &Tensor) -> Operand {
        let s = t.strides();
        Operand { rows: t.shape()[1], cols: t.shape()[0], rs: s[1] as isize, cs: s[0] as isize, t: t.clone() }
    }

    fn t(self) -> Operand {
        Operand { rows: self.cols, cols: self.rows, rs: self.cs, cs: self.rs, t: self.t }
    }
}

/// lhs @ rhs (+ bias on every row), as a new row-major Vec of lhs.rows x n.
fn product<T: Float>(lhs: Operand, rhs: Operand, bias: Option<&[T]>, n: usize) -> Vec<T> {
    let (m, k) = (lhs.rows, lhs.cols);
    debug_assert_eq!((rhs.rows, rhs.cols), (k, n));
    let mut y: Vec<T> = Vec::with_capacity(m * n);
    if let Some(bias) = bias {
        for _ in 0..m {
            y.extend_from_slice(bias);
        }
    }
    if k == 0 {
        // A sum over nothing: the bias rows as they are, or zeros (gemm is not asked to write it).
        y.resize(m * n, T::from_f64(0.0));
        return y;
    }
    let threads = rayon::current_num_threads();
    lhs.t.with_view::<T, _>(|a| {
        rhs.t.with_view::<T, _>(|b| {
            let dst = Mat::rows(y.as_mut_ptr() as *const T, n);
            // SAFETY: both operands address (rows, cols) matrices inside their storages (their
            // layouts say so); y has room for m x n elements and is its own allocation. Without
            // a bias gemm writes every element before anything reads it.
            unsafe {
                gemm(
                    dst,
                    Mat { ptr: a.data.as_ptr().add(a.layout.offset), rs: lhs.rs, cs: lhs.cs },
                    Mat { ptr: b.data.as_ptr().add(b.layout.offset), rs: rhs.rs, cs: rhs.cs },
                    (m, k, n), bias.is_some(), threads,
                );
                y.set_len(m * n); // written by the bias, or by gemm
            }
        })
    });
    y
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn linear_matches_naive_for_strided_and_batched_inputs() {
        let (m, k, n) = (6, 5, 4);
        let xv: Vec<f64> = (0..m * k).map(|i| (i as f64 * 0.37).sin()).collect();
        let wv: Vec<f64> = (0..n * k).map(|i| (i as f64 * 0.11).cos()).collect();
        let bv: Vec<f64> = (0..n).map(|i| i as f64 - 1.5).collect();
        let want: Vec<f64> = (0..m * n).map(|e| (0..k).map(|p| xv[e / n * k + p] * wv[e % n * k + p]).sum::<f64>() + bv[e % n]).collect();
        let x = Tensor::from_vec(xv.clone(), &[m, k]).unwrap();
        let w = Tensor::from_vec(wv, &[n, k]).unwrap();
        let b = Tensor::from_vec(bv, &[n]).unwrap();
        // the same input as (2, 3, k), and as a transposed view of a (k, m) tensor
        let x3 = x.reshape(&[2, 3, k]).unwrap();
        let xt = x.t().unwrap().contiguous().unwrap().t().unwrap();
        for input in [&x, &x3, &xt] {
            let y = linear(input, &w, Some(&b)).unwrap().to_vec::<f64>();
            for (g, r) in y.iter().zip(&want) {
                assert!((g - r).abs() < 1e-12, "{g} vs {r}");
            }
        }
    }
}
