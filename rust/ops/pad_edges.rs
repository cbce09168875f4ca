//! Reflect and replicate padding (`F.pad` modes, `nn.ReflectionPad*d`, `nn.ReplicationPad*d`):
//! every output position copies one input position, given per padded dim by a table (the Python
//! layer builds them, crops included). Each output row of the last dim is a few runs of its input
//! row (reflect's table 2, 1, 0, 1, ..., 31, 30, 29 is the runs [2], [1], [0..31], [30], [29]),
//! copied as slices; the gradient adds each run back, plane by plane in parallel, each input
//! element's additions in output order. It was one index_select per padded dim and a scatter per
//! dim in backward: 2.8x PyTorch's time for a 2-pixel pad of 32 x 64 x 32 x 32.

use crate::autograd::{is_recording, record, Backward};
use crate::error::Result;
use crate::ops::kernel::build;
use crate::parallel::DisjointPtr;
use crate::tensor::iter::GRAIN;
use crate::tensor::{Element, Float, Tensor};
use crate::{bail, with_dtype, with_float};

/// `x` padded along its last `tables.len()` dims (1 to 3): output position j of padded dim k
/// shows input position `tables[k][j]`. `mode` names the node: "reflect" or "replicate".
pub fn edge_pad(x: &Tensor, tables: Vec<Vec<usize>>, mode: &str) -> Result<Tensor> {
    let (nd, k) = (x.ndim(), tables.len());
    let name = match (mode, k) {
        ("reflect", 1) => "ReflectionPad1DBackward0",
        ("reflect", 2) => "ReflectionPad2DBackward0",
        ("reflect", 3) => "ReflectionPad3DBackward0",
        ("replicate", 1) => "ReplicationPad1DBackward0",
        ("replicate", 2) => "ReplicationPad2DBackward0",
        ("replicate", 3) => "ReplicationPad3DBackward0",
        _ => bail!(Runtime, "pad: mode {mode:?} over {k} dims is not an edge padding"),
    };
    if k > nd {
        bail!(Runtime, "pad: {k} padded dims for an input of shape {:?}", x.shape());
    }
    let in_dims = x.shape()[nd - k..].to_vec();
    for (t, &size) in tables.iter().zip(&in_dims) {
        if t.iter().any(|&i| i >= size) {
            bail!(Runtime, "pad: a position table reaches past its dim of size {size} (input shape {:?})", x.shape());
        }
    }
    let plan = Plan::new(x.shape()[..nd - k].iter().product(), in_dims, tables);
    let mut shape = x.shape()[..nd - k].to_vec();
    shape.extend(plan.tables.iter().map(Vec::len));
    let out = with_dtype!(x.dtype(), T => {
        let data = Tensor::with_slices::<T, _>(&[x], |s| plan.forward(s[0]));
        Tensor::from_vec_unchecked(data, &shape)
    });
    record(out, &[x], || Ok(Box::new(EdgePadBackward { plan, name, in_shape: x.shape().to_vec() })))
}

/// The tables, and the last dim's as runs of consecutive positions.
struct Plan {
    planes: usize,
    in_dims: Vec<usize>,
    tables: Vec<Vec<usize>>,
    /// (output start, input start, length) along the last dim.
    runs: Vec<(usize, usize, usize)>,
}

impl Plan {
    fn new(planes: usize, in_dims: Vec<usize>, tables: Vec<Vec<usize>>) -> Plan {
        let mut runs: Vec<(usize, usize, usize)> = Vec::new();
        for (j, &i) in tables.last().map(Vec::as_slice).unwrap_or(&[]).iter().enumerate() {
            match runs.last_mut() {
                Some((o, s, n)) if *o + *n == j && *s + *n == i => *n += 1,
                _ => runs.push((j, i, 1)),
            }
        }
        Plan { planes, in_dims, tables, runs }
    }
    fn in_row(&self) -> usize {
        self.in_dims.last().copied().unwrap_or(1)
    }
    fn out_row(&self) -> usize {
        self.tables.last().map_or(1, Vec::len)
    }
    /// Elements of one input plane and one output plane.
    fn plane_sizes(&self) -> (usize, usize) {
        (self.in_dims.iter().product(), self.tables.iter().map(Vec::len).product())
    }
    /// The offset within its input plane of output row `r` of a plane (rows over every padded
    /// dim but the last).
    fn in_row_start(&self, mut r: usize) -> usize {
        let k = self.tables.len();
        let (mut at, mut stride) = (0, self.in_row());
        for d in (0..k - 1).rev() {
            let n = self.tables[d].len();
            at += self.tables[d][r % n] * stride;
            r /= n;
            stride *= self.in_dims[d];
        }
        at
    }
    fn forward<T: Element>(&self, x: &[T]) -> Vec<T> {
        let ((in_plane, out_plane), w) = (self.plane_sizes(), self.out_row());
        let rows_per_plane = out_plane / w.max(1);
        build(self.planes * out_plane, (GRAIN / w.max(1)).max(1) * w, |start, out| {
            for (i, dst) in out.chunks_mut(w.max(1)).enumerate() {
                let row = start / w.max(1) + i;
                let (plane, r) = (row / rows_per_plane.max(1), row % rows_per_plane.max(1));
                let src = &x[plane * in_plane + self.in_row_start(r)..][..self.in_row()];
                for &(o, s, n) in &self.runs {
                    for (d, &v) in dst[o..o + n].iter_mut().zip(&src[s..s + n]) {
                        d.write(v);
                    }
                }
            }
        })
    }
    /// The input's gradient: each output row's runs added into the input row it shows, a plane
    /// per part.
    fn backward<T: Float>(&self, g: &[T]) -> Vec<T> {
        let ((in_plane, out_plane), w) = (self.plane_sizes(), self.out_row());
        let rows_per_plane = out_plane / w.max(1);
        let mut gin = vec![T::zero(); self.planes * in_plane];
        let dst = DisjointPtr(gin.as_mut_ptr());
        let plane = |p: usize| {
            // SAFETY: part p writes input plane p alone.
            let gp = unsafe { std::slice::from_raw_parts_mut(dst.get().add(p * in_plane), in_plane) };
            for r in 0..rows_per_plane {
                let (at, row) = (self.in_row_start(r), &g[p * out_plane + r * w..][..w]);
                for &(o, s, n) in &self.runs {
                    for (d, &v) in gp[at + s..at + s + n].iter_mut().zip(&row[o..o + n]) {
                        *d += v;
                    }
                }
            }
        };
        if self.planes * out_plane > GRAIN && self.planes > 1 {
            crate::parallel::for_each_part(self.planes, &plane);
        } else {
            (0..self.planes).for_each(plane);
        }
        gin
    }
}

struct EdgePadBackward {
    plan: Plan,
    name: &'static str,
    in_shape: Vec<usize>,
}

impl Backward for EdgePadBackward {
    fn name(&self) -> &'static str {
        self.name
    }
    fn saves_tensors(&self) -> bool {
        false
    }
    fn apply(&self, g: &Tensor, _needs: &[bool]) -> Result<Vec<Option<Tensor>>> {
        if is_recording() {
            return Ok(vec![Some(self.recorded(g)?)]);
        }
        if g.dtype().is_half() {
            // float16 and bfloat16: added in float32, rounded back once.
            return crate::ops::half::backward(g, |g| self.apply(g, _needs));
        }
        let gin = with_float!(g.dtype(), "pad backward", T => {
            let data = Tensor::with_slices::<T, _>(&[g], |s| self.plan.backward(s[0]));
            Tensor::from_vec_unchecked(data, &self.in_shape)
        });
        Ok(vec![Some(gin)])
    }
    fn differentiable(&self) -> bool {
        true
    }
}

impl EdgePadBackward {
    /// The same gradient from recorded ops (a backward with create_graph): an index_add into
    /// zeros per padded dim, whose own gradient is the padding again.
    fn recorded(&self, g: &Tensor) -> Result<Tensor> {
        if g.dtype().is_half() {
            // index_add is float32/float64: through float32 and back, both casts recorded.
            let g32 = crate::ops::cast::to_dtype(g, crate::tensor::DType::F32)?;
            return crate::ops::cast::to_dtype(&self.recorded(&g32)?, g.dtype());
        }
        let (nd, k) = (self.in_shape.len(), self.plan.tables.len());
        let mut acc = g.clone();
        for (d, table) in self.plan.tables.iter().enumerate() {
            let dim = nd - k + d;
            let mut shape = acc.shape().to_vec();
            shape[dim] = self.in_shape[dim];
            let index = Tensor::from_vec_unchecked(table.iter().map(|&i| i as i64).collect::<Vec<_>>(), &[table.len()]);
            acc = crate::ops::index_add::index_add(&Tensor::zeros(&shape, g.dtype()), dim, &index, &acc)?;
        }
        Ok(acc)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reflect's runs, and forward then backward against the tables read element by element.
    #[test]
    fn runs_and_both_directions_follow_the_tables() {
        let reflect: Vec<usize> = [2, 1].into_iter().chain(0..8).chain([6, 5]).collect();
        let plan = Plan::new(3, vec![4, 8], vec![vec![1, 0, 1, 2, 3, 3], reflect.clone()]);
        assert_eq!(plan.runs, [(0, 2, 1), (1, 1, 1), (2, 0, 8), (10, 6, 1), (11, 5, 1)]);
        let x: Vec<f64> = (0..3 * 32).map(|v| v as f64 * 0.5 - 7.0).collect();
        let out = plan.forward(&x);
        let g: Vec<f64> = (0..out.len()).map(|v| (v % 13) as f64 - 6.0).collect();
        let gin = plan.backward(&g);
        let mut want = vec![0.0; x.len()];
        let rows = [1, 0, 1, 2, 3, 3];
        for p in 0..3 {
            for (r, &ir) in rows.iter().enumerate() {
                for (j, &ij) in reflect.iter().enumerate() {
                    let (o, i) = (p * 72 + r * 12 + j, p * 32 + ir * 8 + ij);
                    assert_eq!(out[o], x[i], "forward at plane {p} row {r} column {j}");
                    want[i] += g[o];
                }
            }
        }
        assert_eq!(gin, want);
    }
}
