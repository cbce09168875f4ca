//! `scaled_dot_product_attention` (PyTorch 2.15's semantics): softmax(Q K^T * scale + mask) V
//! with boolean or additive masks, top-left causal masking, grouped-query attention and dropout
//! on the attention weights, as one fused op whose backward is fused too.
//!
//! The kernels are in `attention_kernel.rs`: tiled, with an online softmax, so memory grows
//! linearly in the sequence length. Saved for backward: q, k, v (the inputs, no copies), the
//! output and one logsumexp per query row; the dropout mask is redrawn from its seed.
//!
//! # Shapes
//! query (..., L, E), key (..., S, E), value (..., S, Ev) -> (..., L, Ev); the batch dims
//! broadcast, as PyTorch's matmul-based path does. attn_mask broadcasts to (..., L, S).
//!
//! A query row whose keys are all masked out gives an output row of zeros and no gradient, as
//! PyTorch 2.15 does on the CPU (its flash kernel and its `_safe_softmax` math path both).

use super::attention_kernel::{self as kernel, AttnFloat, DropMask, Operand, Problem};
use crate::autograd::{record, Backward, Saved};
use crate::bail;
use crate::error::Result;
use crate::ops::cast::to_dtype;
use crate::ops::reduce::{sum, sum_to};
use crate::tensor::shape::broadcast_shapes;
use crate::tensor::{DType, Tensor};

const OP: &str = "scaled_dot_product_attention";

/// The optional arguments, PyTorch's names and defaults.
#[derive(Clone, Copy, Default)]
pub struct SdpaArgs<'a> {
    pub attn_mask: Option<&'a Tensor>,
    pub dropout_p: f64,
    pub is_causal: bool,
    pub scale: Option<f64>,
    pub enable_gqa: bool,
}

/// How the inputs map onto the (batch, head) matrices of the output.
#[derive(Clone)]
struct Plan {
    batch: Vec<usize>,
    l: usize,
    s: usize,
    e: usize,
    ev: usize,
    /// Query heads per key head and per value head (1 without GQA).
    group_k: usize,
    group_v: usize,
}

impl Plan {
    fn bh(&self) -> usize {
        self.batch.iter().product()
    }
}

fn check(q: &Tensor, k: &Tensor, v: &Tensor, args: &SdpaArgs) -> Result<Plan> {
    let shapes = format!("query {:?}, key {:?}, value {:?}", q.shape(), k.shape(), v.shape());
    if q.ndim() < 2 || k.ndim() < 2 || v.ndim() < 2 {
        bail!(Runtime, "{OP}: Expected query, key, and value to all be at least 2 dimensional, but got query.dim: {} key.dim: {} and value.dim: {} instead ({shapes}).", q.ndim(), k.ndim(), v.ndim());
    }
    if q.dtype() != k.dtype() || q.dtype() != v.dtype() {
        bail!(Runtime, "{OP}: Expected query, key, and value to have the same dtype, but got query.dtype: {} key.dtype: {} and value.dtype: {} instead.", q.dtype().name(), k.dtype().name(), v.dtype().name());
    }
    if !q.dtype().is_float() {
        bail!(Type, "{OP}: expected floating point query, key and value (float32, float64, float16 or bfloat16), got {} ({shapes})", q.dtype().name());
    }
    let last = |t: &Tensor, i: usize| t.shape()[t.ndim() - i];
    let (l, e, s, ev) = (last(q, 2), last(q, 1), last(k, 2), last(v, 1));
    if last(k, 1) != e {
        bail!(Runtime, "{OP}: query and key must have the same embedding size (last dim), got {e} and {} ({shapes})", last(k, 1));
    }
    if last(v, 2) != s {
        bail!(Runtime, "{OP}: key and value must have the same sequence length (dim -2), got {s} and {} ({shapes})", last(v, 2));
    }
    if let Some(m) = args.attn_mask {
        if m.ndim() < 2 {
            bail!(Runtime, "{OP}: attn_mask must be at least 2-D (broadcastable to (..., L, S)), got shape {:?} ({shapes})", m.shape());
        }
        if args.is_causal {
            bail!(Runtime, "{OP}: Explicit attn_mask should not be set when is_causal=True (attn_mask {:?})", m.shape());
        }
        if m.dtype() != DType::Bool && m.dtype() != q.dtype() {
            bail!(Runtime, "{OP}: Expected attn_mask dtype to be bool or float or to match query dtype, but got attn_mask.dtype: {} and query.dtype: {} instead (attn_mask {:?}).", m.dtype().name(), q.dtype().name(), m.shape());
        }
    }
    if !(0.0..=1.0).contains(&args.dropout_p) {
        bail!(Runtime, "{OP}: dropout probability has to be between 0 and 1, but got {}", args.dropout_p);
    }
    let (mut kb, mut vb) = (k.shape()[..k.ndim() - 2].to_vec(), v.shape()[..v.ndim() - 2].to_vec());
    let (mut group_k, mut group_v) = (1, 1);
    if args.enable_gqa && q.ndim() >= 3 && k.ndim() >= 3 && v.ndim() >= 3 {
        let (hq, hk, hv) = (last(q, 3), last(k, 3), last(v, 3));
        if hk == 0 || hv == 0 || hq % hk != 0 || hq % hv != 0 {
            bail!(Runtime, "{OP}: Number of heads in key and value must divide the number of heads in query (enable_gqa=True; {shapes})");
        }
        (group_k, group_v) = (hq / hk, hq / hv);
        for b in [&mut kb, &mut vb] {
            if let Some(h) = b.last_mut() {
                *h = hq;
            }
        }
    }
    let qb = &q.shape()[..q.ndim() - 2];
    let batch = broadcast_shapes(qb, &kb, OP)
        .and_then(|b| broadcast_shapes(&b, &vb, OP))
        .map_err(|_| crate::error::Error::Runtime(format!("{OP}: the batch dims of query, key and value do not broadcast ({shapes}{})", if args.enable_gqa { "" } else { "; key/value with fewer heads than query need enable_gqa=True" })))?;
    if let Some(m) = args.attn_mask {
        let mut full = batch.clone();
        full.extend([l, s]);
        if m.ndim() > full.len() || broadcast_shapes(m.shape(), &full, OP).ok().as_deref() != Some(&full[..]) {
            bail!(Runtime, "{OP}: attn_mask of shape {:?} does not broadcast to the attention weights' shape {full:?} ({shapes})", m.shape());
        }
    }
    crate::tensor::alloc::numel(&[batch.iter().product(), l.max(s), e.max(ev)], 8, OP)?;
    Ok(Plan { batch, l, s, e, ev, group_k, group_v })
}

/// For every output matrix, the element offset of its (0, 0) entry in tensor `t` (broadcast
/// dims read index 0; under GQA the head dim, the last batch dim, reads head / group).
fn offsets(plan: &Plan, (shape, strides, base): (&[usize], &[usize], usize), group: usize) -> Vec<usize> {
    let nb = plan.batch.len();
    let tb = shape.len() - 2;
    (0..plan.bh())
        .map(|flat| {
            let (mut rem, mut off) = (flat, base);
            for d in (0..nb).rev() {
                let idx = rem % plan.batch[d];
                rem /= plan.batch[d];
                if d + tb >= nb {
                    let td = d + tb - nb;
                    let idx = if d == nb - 1 { idx / group } else { idx };
                    if shape[td] != 1 {
                        off += idx * strides[td];
                    }
                }
            }
            off
        })
        .collect()
}

fn operand<T>(plan: &Plan, t: &Tensor, ptr: *const T, group: usize) -> Operand<T> {
    let n = t.ndim();
    let (rs, cs) = (t.strides()[n - 2] as isize, t.strides()[n - 1] as isize);
    Operand { ptr, off: offsets(plan, (t.shape(), t.strides(), t.layout().offset), group), rs, cs }
}

/// The mask as additive float values in its own shape (bool: 0 where attending, -inf elsewhere).
fn additive_mask<T: AttnFloat>(m: &Tensor) -> Vec<T> {
    if m.dtype() == DType::Bool {
        m.to_vec::<bool>().into_iter().map(|b| if b { T::zero() } else { T::neg_infinity() }).collect()
    } else {
        m.to_vec::<T>()
    }
}

/// The mask's values are `data`, contiguous in the mask's shape (at least 2-D, checked).
fn mask_operand<T>(plan: &Plan, m: &Tensor, data: &[T]) -> Operand<T> {
    let n = m.ndim();
    let (rows, cols) = (m.shape()[n - 2], m.shape()[n - 1]);
    let rs = if rows == 1 { 0 } else { cols as isize };
    let cs = if cols == 1 { 0 } else { 1 };
    let strides = crate::tensor::shape::contiguous_strides(m.shape());
    Operand { ptr: data.as_ptr(), off: offsets(plan, (m.shape(), &strides, 0), 1), rs, cs }
}

/// Runs `f` with the inputs' storages read-locked (each storage once: locking one twice can
/// deadlock behind a waiting writer), given the base pointer of each tensor's storage.
fn with_storages<T: AttnFloat, R>(ts: &[&Tensor], f: impl FnOnce(&[*const T]) -> R) -> R {
    let mut guards: Vec<(&Tensor, _)> = Vec::new();
    let mut which = Vec::new();
    for &t in ts {
        match guards.iter().position(|(o, _)| o.shares_storage(t)) {
            Some(i) => which.push(i),
            None => {
                guards.push((t, t.storage().read()));
                which.push(guards.len() - 1);
            }
        }
    }
    let bases: Vec<*const T> = which.iter().map(|&i| T::slice(&guards[i].1).as_ptr()).collect();
    f(&bases)
}

struct Inputs<'a> {
    q: &'a Tensor,
    k: &'a Tensor,
    v: &'a Tensor,
    mask: Option<&'a Tensor>,
}

/// Builds the kernel's problem over the locked storages and runs `f` on it.
fn with_problem<T: AttnFloat, R>(plan: &Plan, x: &Inputs, scale: f64, causal: bool, dropout: Option<DropMask>, f: impl FnOnce(&Problem<T>) -> R) -> R {
    let mask_data: Option<Vec<T>> = x.mask.map(additive_mask::<T>);
    with_storages::<T, R>(&[x.q, x.k, x.v], |p| {
        let pb = Problem {
            q: operand(plan, x.q, p[0], 1),
            k: operand(plan, x.k, p[1], plan.group_k),
            v: operand(plan, x.v, p[2], plan.group_v),
            mask: x.mask.zip(mask_data.as_deref()).map(|(m, d)| mask_operand(plan, m, d)),
            bh: plan.bh(),
            l: plan.l,
            s: plan.s,
            e: plan.e,
            ev: plan.ev,
            scale: T::from_f64(scale),
            causal,
            dropout,
        };
        f(&pb)
    })
}

/// `F.scaled_dot_product_attention(query, key, value, attn_mask, dropout_p, is_causal, scale,
/// enable_gqa)`. dropout_p is applied whenever it is > 0 (train/eval is the caller's business).
pub fn scaled_dot_product_attention(q: &Tensor, k: &Tensor, v: &Tensor, args: &SdpaArgs) -> Result<Tensor> {
    let plan = check(q, k, v, args)?;
    if q.dtype().is_half() {
        // float16/bfloat16 compute in float32, as PyTorch's CPU kernels accumulate.
        let up = |t: &Tensor| to_dtype(t, DType::F32);
        let mask = args.attn_mask.map(|m| if m.dtype() == DType::Bool { Ok(m.clone()) } else { up(m) }).transpose()?;
        let out = scaled_dot_product_attention(&up(q)?, &up(k)?, &up(v)?, &SdpaArgs { attn_mask: mask.as_ref(), ..*args })?;
        return to_dtype(&out, q.dtype());
    }
    let scale = args.scale.unwrap_or(1.0 / (plan.e as f64).sqrt());
    let dropout = (args.dropout_p > 0.0).then(|| DropMask::new(args.dropout_p, crate::random::next_seed()));
    let x = Inputs { q, k, v, mask: args.attn_mask };
    let mut oshape = plan.batch.clone();
    oshape.extend([plan.l, plan.ev]);
    let (out, lse) = crate::with_float!(q.dtype(), OP, T => {
        let (o, lse) = with_problem::<T, _>(&plan, &x, scale, args.is_causal, dropout, kernel::forward);
        (Tensor::from_vec_unchecked(o, &oshape), Tensor::from_vec_unchecked(lse, &[plan.bh() * plan.l]))
    });
    let float_mask = args.attn_mask.filter(|m| m.dtype() != DType::Bool);
    let mut inputs = vec![q, k, v];
    inputs.extend(float_mask);
    let saved_out = out.clone();
    record(out, &inputs, || {
        Ok(Box::new(SdpaBackward {
            q: Saved::new(q)?,
            k: Saved::new(k)?,
            v: Saved::new(v)?,
            mask: args.attn_mask.map(Saved::new).transpose()?,
            mask_input: float_mask.is_some(),
            out: Saved::output(&saved_out)?,
            lse,
            plan,
            scale,
            causal: args.is_causal,
            dropout,
        }))
    })
}

struct SdpaBackward {
    q: Saved,
    k: Saved,
    v: Saved,
    mask: Option<Saved>,
    /// Whether the mask is the node's fourth input (a float mask; a bool one gets no gradient).
    mask_input: bool,
    out: Saved,
    lse: Tensor,
    plan: Plan,
    scale: f64,
    causal: bool,
    dropout: Option<DropMask>,
}

impl Backward for SdpaBackward {
    fn attrs(&self) -> crate::autograd::trace::Attrs {
        let mut a = crate::attrs![
            ("scale", self.scale),
            ("is_causal", self.causal),
            ("dropout_p", self.dropout.as_ref().map_or(0.0, |d| d.threshold as f64 / 4294967296.0)),
            ("gqa", self.plan.group_k > 1 || self.plan.group_v > 1),
            ("mask_input", self.mask_input),
        ];
        if !self.mask_input {
            a.extend(self.mask.as_ref().and_then(|m| m.get().ok()).map(|m| ("attn_mask", (&m).into())));
        }
        a
    }
    fn name(&self) -> &'static str {
        // PyTorch's name on the CPU (its flash kernel); PyTorch takes its math path, with a
        // chain of nodes, for dropout and for masks that require grad.
        "ScaledDotProductFlashAttentionForCpuBackward0"
    }
    /// With create_graph the gradients come from the op in recorded ops (`attention_composed.rs`).
    fn differentiable(&self) -> bool {
        true
    }
    fn apply(&self, g: &Tensor, needs: &[bool]) -> Result<Vec<Option<Tensor>>> {
        if crate::autograd::is_recording() {
            return self.recorded_grads(g, needs);
        }
        let (q, k, v) = (self.q.get()?, self.k.get()?, self.v.get()?);
        let mask = self.mask.as_ref().map(|m| m.get()).transpose()?;
        let out = self.out.get()?;
        let need = (needs[0], needs[1], needs[2], self.mask_input && needs.get(3).copied().unwrap_or(false));
        let x = Inputs { q: &q, k: &k, v: &v, mask: mask.as_ref() };
        let plan = &self.plan;
        let grads = crate::with_float!(q.dtype(), "scaled_dot_product_attention backward", T => {
            let (g, out, lse) = (to_dtype(g, q.dtype())?.to_vec::<T>(), out.to_vec::<T>(), self.lse.to_vec::<T>());
            let gr = with_problem::<T, _>(plan, &x, self.scale, self.causal, self.dropout, |pb| kernel::backward(pb, &g, &out, &lse, need));
            let tensor = |v: Option<Vec<T>>, rows: usize, cols: usize| {
                let mut shape = plan.batch.clone();
                shape.extend([rows, cols]);
                v.map(|v| Tensor::from_vec_unchecked(v, &shape))
            };
            [tensor(gr.dq, plan.l, plan.e), tensor(gr.dk, plan.s, plan.e), tensor(gr.dv, plan.s, plan.ev), tensor(gr.dmask, plan.l, plan.s)]
        });
        let [dq, dk, dv, dm] = grads;
        let mut res = vec![
            dq.map(|t| sum_to(&t, q.shape())).transpose()?,
            dk.map(|t| reduce_heads(&t, self.plan.group_k, k.shape())).transpose()?,
            dv.map(|t| reduce_heads(&t, self.plan.group_v, v.shape())).transpose()?,
        ];
        if self.mask_input {
            res.push(match (dm, &mask) {
                (Some(t), Some(m)) => Some(sum_to(&t, m.shape())?),
                _ => None,
            });
        }
        Ok(res)
    }
}

impl SdpaBackward {
    /// The gradients by way of the op in recorded ops, so they can be differentiated again:
    /// PyTorch's CPU kernel refuses this; a gradient penalty through attention works here.
    fn recorded_grads(&self, g: &Tensor, needs: &[bool]) -> Result<Vec<Option<Tensor>>> {
        let mask = self.mask.as_ref().map(|m| m.get()).transpose()?;
        let mut inputs = vec![Some(self.q.get()?), Some(self.k.get()?), Some(self.v.get()?)];
        if self.mask_input {
            inputs.push(mask.clone());
        }
        let bool_mask = mask.filter(|m| m.dtype() == DType::Bool);
        let c = super::attention_composed::Composed {
            batch: &self.plan.batch,
            l: self.plan.l,
            s: self.plan.s,
            group_k: self.plan.group_k,
            group_v: self.plan.group_v,
            scale: self.scale,
            causal: self.causal,
            dropout: self.dropout,
            bool_mask: bool_mask.as_ref(),
        };
        crate::autograd::recompute::grads_by_recompute(&inputs, &[Some(g.clone())], needs, |t| {
            let at = |i: usize| t[i].as_ref().expect("sdpa: q, k and v are present");
            Ok(vec![Some(super::attention_composed::attention(at(0), at(1), at(2), t.get(3).and_then(Option::as_ref), &c)?)])
        })
    }
}

/// A gradient over the expanded (..., Hq, rows, cols) sums back to an input with Hq / group
/// heads (repeat_interleave's adjoint) and then over its broadcast dims.
fn reduce_heads(g: &Tensor, group: usize, shape: &[usize]) -> Result<Tensor> {
    let g = if group > 1 {
        let n = g.ndim();
        let mut split = g.shape()[..n - 3].to_vec();
        split.extend([g.shape()[n - 3] / group, group, g.shape()[n - 2], g.shape()[n - 1]]);
        sum(&g.reshape(&split)?, &[-3], false)?
    } else {
        g.clone()
    };
    sum_to(&g, shape)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// softmax(q k^T * scale) v for one matrix, in f64.
    fn naive(q: &[f64], k: &[f64], v: &[f64], (l, s, e, ev): (usize, usize, usize, usize), causal: bool) -> Vec<f64> {
        let mut out = vec![0.0; l * ev];
        for i in 0..l {
            let sc: Vec<f64> = (0..s)
                .map(|j| if causal && j > i { f64::NEG_INFINITY } else { (0..e).map(|c| q[i * e + c] * k[j * e + c]).sum::<f64>() / (e as f64).sqrt() })
                .collect();
            let m = sc.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
            let p: Vec<f64> = sc.iter().map(|x| (x - m).exp()).collect();
            let z: f64 = p.iter().sum();
            for c in 0..ev {
                out[i * ev + c] = (0..s).map(|j| p[j] / z * v[j * ev + c]).sum();
            }
        }
        out
    }

    #[test]
    fn forward_matches_naive_across_tiles_and_causal() {
        let (l, s, e, ev) = (150, 300, 16, 8);
        let data = |n: usize, f: f64| (0..n).map(|i| ((i as f64) * f).sin()).collect::<Vec<f64>>();
        let (qv, kv, vv) = (data(l * e, 0.37), data(s * e, 0.11), data(s * ev, 0.23));
        for causal in [false, true] {
            let (q, k, v) = (Tensor::from_vec(qv.clone(), &[l, e]).unwrap(), Tensor::from_vec(kv.clone(), &[s, e]).unwrap(), Tensor::from_vec(vv.clone(), &[s, ev]).unwrap());
            let got = scaled_dot_product_attention(&q, &k, &v, &SdpaArgs { is_causal: causal, ..Default::default() }).unwrap().to_vec::<f64>();
            let want = naive(&qv, &kv, &vv, (l, s, e, ev), causal);
            for (a, b) in got.iter().zip(&want) {
                assert!((a - b).abs() < 1e-12, "causal {causal}: {a} vs {b}");
            }
        }
    }
}
