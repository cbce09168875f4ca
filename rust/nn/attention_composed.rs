//! `scaled_dot_product_attention` written in recorded ops, for second derivatives
//! (`autograd::recompute`): softmax(Q K^T scale + mask) V with the fused kernel's semantics
//! (grouped-query heads, broadcast batch dims, boolean, additive and causal masks, the same
//! dropout mask, and a zero row with no gradient for a query whose keys are all masked). It runs
//! only in a backward with `create_graph=True`, where it materialises the L x S weights.
//! PyTorch's CPU flash kernel is once-differentiable; this makes ferrograd's twice.

use super::attention_kernel::DropMask;
use crate::error::Result;
use crate::ops::binary::{add, mul, where_};
use crate::ops::matmul::matmul;
use crate::ops::softmax::softmax;
use crate::tensor::{DType, Scalar, Tensor};

/// What the composed form needs of the fused op's call.
pub(super) struct Composed<'a> {
    /// The batch dims everything broadcasts to, and the sizes.
    pub batch: &'a [usize],
    pub l: usize,
    pub s: usize,
    pub group_k: usize,
    pub group_v: usize,
    pub scale: f64,
    pub causal: bool,
    pub dropout: Option<DropMask>,
    /// A boolean mask (no gradient): true where a query attends.
    pub bool_mask: Option<&'a Tensor>,
}

/// (..., H, S, E) with each head repeated `group` times in place (repeat_interleave on dim -3).
fn repeat_heads(t: &Tensor, group: usize) -> Result<Tensor> {
    if group == 1 {
        return Ok(t.clone());
    }
    let n = t.ndim();
    let mut wide = t.shape()[..n - 2].to_vec();
    wide.push(group);
    wide.extend_from_slice(&t.shape()[n - 2..]);
    let mut merged = t.shape()[..n - 3].to_vec();
    merged.extend([t.shape()[n - 3] * group, t.shape()[n - 2], t.shape()[n - 1]]);
    t.unsqueeze(-3)?.expand(&wide)?.reshape(&merged)
}

/// A constant tensor of the weights' shape (batch..., L, S) from `f(flat matrix, i, j)`.
fn constant(c: &Composed<'_>, dtype: DType, f: impl Fn(usize, usize, usize) -> f64) -> Result<Tensor> {
    let bh: usize = c.batch.iter().product();
    let mut v = Vec::with_capacity(bh * c.l * c.s);
    for b in 0..bh {
        for i in 0..c.l {
            for j in 0..c.s {
                v.push(f(b, i, j));
            }
        }
    }
    let mut shape = c.batch.to_vec();
    shape.extend([c.l, c.s]);
    crate::ops::cast::to_dtype(&Tensor::from_vec(v, &shape)?, dtype)
}

/// The attention output from q, k, v and the additive float mask (the node's inputs, in recorded
/// ops, with history where they have it).
pub(super) fn attention(q: &Tensor, k: &Tensor, v: &Tensor, float_mask: Option<&Tensor>, c: &Composed<'_>) -> Result<Tensor> {
    let (k, v) = (repeat_heads(k, c.group_k)?, repeat_heads(v, c.group_v)?);
    let mut full = c.batch.to_vec();
    full.extend([c.l, c.s]);
    // Expanded to every (batch, head) matrix, as the kernel sees them (v may add batch dims).
    let mut logits = mul(&matmul(q, &k.transpose(-2, -1)?)?, &Tensor::wrapped_scalar(Scalar::Float(c.scale)))?.expand(&full)?;
    if let Some(m) = float_mask {
        logits = add(&logits, m)?;
    }
    let bool_mask: Option<Vec<bool>> = c.bool_mask.map(|m| m.expand(&full).map(|m| m.to_vec::<bool>())).transpose()?;
    if bool_mask.is_some() || c.causal {
        let (l, s) = (c.l, c.s);
        let masked = |b: usize, i: usize, j: usize| (c.causal && j > i) || bool_mask.as_ref().is_some_and(|m| !m[(b * l + i) * s + j]);
        logits = add(&logits, &constant(c, q.dtype(), |b, i, j| if masked(b, i, j) { f64::NEG_INFINITY } else { 0.0 })?)?;
    }
    // A row whose keys are all masked: softmax would be 0/0; the kernel gives zeros and no
    // gradient, so its logits become 0 (finite) and its weights 0.
    let values = logits.to_vec::<f64>();
    let dead_rows: Vec<bool> = values.chunks(c.s.max(1)).map(|r| !r.is_empty() && r.iter().all(|&x| x == f64::NEG_INFINITY)).collect();
    let mut p = if dead_rows.iter().any(|&d| d) {
        let dead = constant(c, DType::Bool, |b, i, _| if dead_rows[b * c.l + i] { 1.0 } else { 0.0 })?;
        let zero = Tensor::zeros(&[], q.dtype());
        where_(&dead, &zero, &softmax(&where_(&dead, &zero, &logits)?, -1, false)?)?
    } else {
        softmax(&logits, -1, false)?
    };
    if let Some(d) = c.dropout {
        let (l, s) = (c.l as u64, c.s as u64);
        let keep = constant(c, q.dtype(), |b, i, j| d.factor_f64((b as u64 * l + i as u64) * s + j as u64))?;
        p = mul(&p, &keep)?;
    }
    matmul(&p, &v)
}
