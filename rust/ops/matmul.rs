//! matmul with PyTorch's rules: 1-D x 1-D dot, 2-D products, batched with broadcast batch dims.
//! The products run on `ops::gemm`, which reads strided operands directly.

use crate::autograd::{record, Backward, Saved};
use crate::bail;
use crate::error::Result;
use crate::ops::cast::to_dtype;
use crate::ops::gemm::{gemm, Mat};
use crate::ops::reduce::sum_to;
use crate::tensor::shape::broadcast_shapes;
use crate::tensor::{DType, Element, Tensor};

fn check(a: &Tensor, b: &Tensor) -> Result<DType> {
    if a.ndim() == 0 || b.ndim() == 0 {
        bail!(Runtime, "matmul: both arguments to matmul need to be at least 1D, but they are {}D and {}D", a.ndim(), b.ndim());
    }
    if a.dtype() != b.dtype() {
        bail!(Runtime, "matmul: expected both tensors to have the same dtype, but got {} and {} (shapes {:?} and {:?})", a.dtype().name(), b.dtype().name(), a.shape(), b.shape());
    }
    if a.dtype() == DType::Bool {
        bail!(NotImplemented, "matmul: \"addmm\" not implemented for 'Bool' (shapes {:?} and {:?}; use .long() or .float())", a.shape(), b.shape());
    }
    let ka = a.shape()[a.ndim() - 1];
    let kb = if b.ndim() == 1 { b.shape()[0] } else { b.shape()[b.ndim() - 2] };
    if ka != kb {
        bail!(Runtime, "matmul: mat1 and mat2 shapes cannot be multiplied ({}x{} and {}x{}) (shapes {:?} and {:?})",
            a.numel() / ka.max(1), ka, kb, b.shape()[b.ndim() - 1], a.shape(), b.shape());
    }
    Ok(a.dtype())
}

pub fn matmul(a: &Tensor, b: &Tensor) -> Result<Tensor> {
    check(a, b)?;
    if a.dtype().is_half() {
        return crate::ops::half::binary(a, b, a.dtype(), matmul);
    }
    if a.dtype().is_integer() && a.dtype() != DType::I64 {
        // Wrapping int64 products narrowed are the narrow type's wrapping products.
        let wide = matmul(&to_dtype(a, DType::I64)?, &to_dtype(b, DType::I64)?)?;
        return to_dtype(&wide, a.dtype());
    }
    // Promote 1-D operands to matrices, multiply, then drop the added dims (PyTorch's rule).
    let a2 = if a.ndim() == 1 { a.unsqueeze(0)? } else { a.clone() };
    let b2 = if b.ndim() == 1 { b.unsqueeze(1)? } else { b.clone() };
    let out = batched(&a2, &b2)?;
    let out = match (a.ndim() == 1, b.ndim() == 1) {
        (true, true) => out.reshape(&[])?,
        (true, false) => out.squeeze(Some(&[-2]))?,
        (false, true) => out.squeeze(Some(&[-1]))?,
        _ => out,
    };
    Ok(out)
}

/// Matrices with broadcast batch dims: [..., m, k] @ [..., k, n].
fn batched(a: &Tensor, b: &Tensor) -> Result<Tensor> {
    let (ra, rb) = (a.ndim(), b.ndim());
    let (m, k, n) = (a.shape()[ra - 2], a.shape()[ra - 1], b.shape()[rb - 1]);
    let batch = broadcast_shapes(&a.shape()[..ra - 2], &b.shape()[..rb - 2], "matmul")?;
    let mut ashape = batch.clone();
    ashape.extend([m, k]);
    let mut bshape = batch.clone();
    bshape.extend([k, n]);
    let (ae, be) = (a.detach().expand(&ashape)?, b.detach().expand(&bshape)?);
    let nb: usize = batch.iter().product();
    let mut oshape = batch.clone();
    oshape.extend([m, n]);
    crate::tensor::alloc::numel(&oshape, 8, "matmul")?;
    if a.dtype() == DType::I64 {
        return Ok(batched_int(&ae, &be, &oshape));
    }
    let out = crate::with_float!(a.dtype(), "matmul", T => {
        let mut c = crate::tensor::alloc::filled(nb * m * n, T::from_f64(0.0));
        if k == 0 || nb * m * n == 0 {
            Tensor::from_vec_unchecked(c, &oshape)
        } else {
            ae.with_view::<T, _>(|va| be.with_view::<T, _>(|vb| {
                let (la, lb) = (va.layout, vb.layout);
                let nd = batch.len();
                let off = |l: &crate::tensor::Layout, bi: usize| {
                    let mut rem = bi;
                    let mut o = l.offset;
                    for d in (0..nd).rev() {
                        o += (rem % batch[d]) * l.strides[d];
                        rem /= batch[d];
                    }
                    o
                };
                let (ars, acs) = (la.strides[nd] as isize, la.strides[nd + 1] as isize);
                let (brs, bcs) = (lb.strides[nd] as isize, lb.strides[nd + 1] as isize);
                let (pa, pb) = (va.data.as_ptr() as usize, vb.data.as_ptr() as usize);
                // SAFETY: `off` gives each batch's start inside the expanded operands' storages and
                // (ars, acs)/(brs, bcs) are their strides, so both (m, k) and (k, n) matrices lie
                // within their buffers (broadcast batches read the same memory, never write it);
                // `cm` is this batch's own m x n slice of the output, disjoint from the inputs.
                // Edges (k == 0, empty batches) return before this point; tests below cover
                // strided, transposed and broadcast operands.
                let run = |bi: usize, cm: &mut [T], threads: usize| unsafe {
                    gemm(
                        Mat::rows(cm.as_mut_ptr() as *const T, n),
                        Mat { ptr: (pa as *const T).add(off(la, bi)), rs: ars, cs: acs },
                        Mat { ptr: (pb as *const T).add(off(lb, bi)), rs: brs, cs: bcs },
                        (m, k, n), false, threads,
                    )
                };
                // Many small products: one per task. Few large ones: split inside each.
                if nb > 1 && m * n * k < 128 * 128 * 128 {
                    crate::parallel::for_each_chunk_mut(&mut c, m * n, &|bi, cm| run(bi, cm, 1));
                } else {
                    let threads = rayon::current_num_threads();
                    c.chunks_mut(m * n).enumerate().for_each(|(bi, cm)| run(bi, cm, threads));
                }
            }));
            Tensor::from_vec_unchecked(c, &oshape)
        }
    });
    record(out, &[a, b], || {
        Ok(Box::new(MatmulBackward {
            a: if b.requires_grad() { Some(Saved::new(a)?) } else { None },
            b: if a.requires_grad() { Some(Saved::new(b)?) } else { None },
            sa: a.shape().to_vec(),
            sb: b.shape().to_vec(),
        }))
    })
}

/// int64 products (PyTorch multiplies integer matrices exactly, wrapping on overflow). `a` and `b`
/// are already expanded to [batch.., m, k] and [batch.., k, n]; there is no gradient to record.
fn batched_int(a: &Tensor, b: &Tensor, oshape: &[usize]) -> Tensor {
    let (r, sa) = (a.ndim(), a.shape());
    let (m, k, n) = (sa[r - 2], sa[r - 1], b.shape()[r - 1]);
    let (av, bv) = (a.to_vec::<i64>(), b.to_vec::<i64>());
    let mut c = crate::tensor::alloc::filled(oshape.iter().product(), 0i64);
    if m * n > 0 {
        crate::parallel::for_each_chunk_mut(&mut c, m * n, &|bi, cm| {
            let (ab, bb) = (&av[bi * m * k..(bi + 1) * m * k], &bv[bi * k * n..(bi + 1) * k * n]);
            for i in 0..m {
                let row = &mut cm[i * n..(i + 1) * n];
                for p in 0..k {
                    let x = ab[i * k + p];
                    for (o, &y) in row.iter_mut().zip(&bb[p * n..(p + 1) * n]) {
                        *o = o.wrapping_add(x.wrapping_mul(y));
                    }
                }
            }
        });
    }
    Tensor::from_vec_unchecked(c, oshape)
}

struct MatmulBackward {
    a: Option<Saved>,
    b: Option<Saved>,
    sa: Vec<usize>,
    sb: Vec<usize>,
}
impl Backward for MatmulBackward {
    fn name(&self) -> &'static str {
        if self.sa.len() == 2 && self.sb.len() == 2 { "MmBackward0" } else { "BmmBackward0" }
    }
    fn apply(&self, g: &Tensor, needs: &[bool]) -> Result<Vec<Option<Tensor>>> {
        // dA = dC @ B^T, dB = A^T @ dC, summed over broadcast batch dims.
        let ga = match (&self.b, needs[0]) {
            (Some(b), true) => Some(sum_to(&batched(g, &b.get()?.transpose(-1, -2)?)?, &self.sa)?),
            _ => None,
        };
        let gb = match (&self.a, needs[1]) {
            (Some(a), true) => Some(sum_to(&batched(&a.get()?.transpose(-1, -2)?, g)?, &self.sb)?),
            _ => None,
        };
        Ok(vec![ga, gb])
    }
    fn differentiable(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(a: &[f64], b: &[f64], m: usize, k: usize, n: usize) -> Vec<f64> {
        let mut c = crate::tensor::alloc::filled(m * n, 0.0);
        for i in 0..m {
            for j in 0..n {
                for p in 0..k {
                    c[i * n + j] += a[i * k + p] * b[p * n + j];
                }
            }
        }
        c
    }

    #[test]
    fn matmul_matches_naive_including_transposed_views() {
        let (m, k, n) = (7, 5, 3);
        let av: Vec<f64> = (0..m * k).map(|i| (i as f64 * 0.37).sin()).collect();
        let bv: Vec<f64> = (0..k * n).map(|i| (i as f64 * 0.11).cos()).collect();
        let a = Tensor::from_vec(av.clone(), &[m, k]).unwrap();
        let b = Tensor::from_vec(bv.clone(), &[k, n]).unwrap();
        let c = matmul(&a, &b).unwrap().to_vec::<f64>();
        let r = naive(&av, &bv, m, k, n);
        for (x, y) in c.iter().zip(&r) {
            assert!((x - y).abs() < 1e-12);
        }
        // (B^T)^T through strides
        let bt = Tensor::from_vec(bv.clone(), &[k, n]).unwrap().t().unwrap().contiguous().unwrap().t().unwrap();
        let c2 = matmul(&a, &bt).unwrap().to_vec::<f64>();
        for (x, y) in c.iter().zip(&c2) {
            assert!((x - y).abs() < 1e-12);
        }
    }
}
