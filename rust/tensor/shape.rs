//! Shapes, strides and broadcasting. Strides count elements and are never negative
//! (PyTorch has no negative-step slicing either).

use crate::bail;
use crate::error::Result;

pub type Shape = Vec<usize>;

#[derive(Debug, Clone, PartialEq)]
pub struct Layout {
    pub shape: Shape,
    pub strides: Vec<usize>,
    pub offset: usize,
}

impl Layout {
    pub fn contiguous(shape: &[usize]) -> Layout {
        Layout { shape: shape.to_vec(), strides: contiguous_strides(shape), offset: 0 }
    }
    /// One value, or one expanded to every element (all strides 0: the gradient of a sum), so
    /// the element at `offset` is every element's value.
    pub fn is_one_value(&self) -> bool {
        let n = self.numel();
        n == 1 || (n > 0 && self.strides.iter().all(|&s| s == 0))
    }
    pub fn numel(&self) -> usize {
        self.shape.iter().product()
    }
    pub fn is_contiguous(&self) -> bool {
        if self.shape.contains(&0) {
            return true; // no elements, nothing out of order (PyTorch says the same)
        }
        let mut expected = 1;
        for (&n, &s) in self.shape.iter().zip(&self.strides).rev() {
            if n != 1 && s != expected {
                return false;
            }
            expected *= n;
        }
        true
    }
}

/// Whether (shape, strides) tile one block of memory exactly, each element once (c10's
/// `compute_non_overlapping_and_dense`; dims of size 0 or 1 need no particular stride).
pub fn is_non_overlapping_and_dense(shape: &[usize], strides: &[usize]) -> bool {
    let mut dims: Vec<usize> = (0..shape.len()).filter(|&d| shape[d] > 1).collect();
    dims.sort_by_key(|&d| strides[d]);
    let mut expected = 1;
    for d in dims {
        if strides[d] != expected {
            return false;
        }
        expected *= shape[d];
    }
    true
}

/// The strides PyTorch's `preserve_format` gives a new tensor made like (shape, strides) (c10's
/// `empty_like`): these when dense, else dense strides ordering the dims as these do (its
/// `infer_dense_strides`: an insertion sort in which a zero stride keeps its place and, of equal
/// strides, the smaller size goes inside).
pub fn preserved_strides(shape: &[usize], strides: &[usize]) -> Vec<usize> {
    if is_non_overlapping_and_dense(shape, strides) {
        return strides.to_vec();
    }
    let n = shape.len();
    let mut perm: Vec<usize> = (0..n).rev().collect(); // innermost first
    let swap = |a: usize, b: usize| -> std::cmp::Ordering {
        use std::cmp::Ordering::*;
        if strides[a] == 0 || strides[b] == 0 {
            Equal
        } else if strides[a] != strides[b] {
            strides[a].cmp(&strides[b])
        } else if shape[a] > shape[b] {
            Greater
        } else {
            Equal
        }
    };
    for i in 1..n {
        let mut j = i;
        for k in (0..i).rev() {
            match swap(perm[k], perm[j]) {
                std::cmp::Ordering::Greater => {
                    perm.swap(k, j);
                    j = k;
                }
                std::cmp::Ordering::Less => break,
                std::cmp::Ordering::Equal => {}
            }
        }
    }
    let mut out = vec![0; n];
    let mut step = 1;
    for d in perm {
        out[d] = step;
        step *= shape[d].max(1);
    }
    out
}

pub fn contiguous_strides(shape: &[usize]) -> Vec<usize> {
    let mut strides = vec![0; shape.len()];
    let mut acc = 1;
    for i in (0..shape.len()).rev() {
        strides[i] = acc;
        acc *= shape[i].max(1);
    }
    strides
}

/// numpy/PyTorch broadcasting of two shapes.
pub fn broadcast_shapes(a: &[usize], b: &[usize], op: &str) -> Result<Shape> {
    let n = a.len().max(b.len());
    let mut out = vec![0; n];
    for i in 0..n {
        let da = if i < n - a.len() { 1 } else { a[i - (n - a.len())] };
        let db = if i < n - b.len() { 1 } else { b[i - (n - b.len())] };
        out[i] = if da == db || db == 1 {
            da
        } else if da == 1 {
            db
        } else {
            bail!(
                Runtime,
                "{op}: shapes {a:?} and {b:?} cannot be broadcast together (size {da} vs {db} at dimension {i})"
            );
        };
    }
    // Two small operands can broadcast to more elements than memory can address.
    crate::tensor::alloc::numel(&out, 8, op)?;
    Ok(out)
}

/// Strides that read a tensor of `shape`/`strides` as if it had `target` shape (0 on broadcast dims).
pub fn broadcast_strides(shape: &[usize], strides: &[usize], target: &[usize]) -> Vec<usize> {
    let pad = target.len() - shape.len();
    (0..target.len())
        .map(|i| if i < pad || shape[i - pad] == 1 { 0 } else { strides[i - pad] })
        .collect()
}

/// Normalises a possibly negative dim against `ndim` (PyTorch's wrap_dim). A 0-d tensor accepts
/// dims -1 and 0.
pub fn wrap_dim(dim: isize, ndim: usize, op: &str) -> Result<usize> {
    let n = ndim.max(1) as isize;
    if dim < -n || dim >= n {
        bail!(Index, "{op}: dimension out of range (expected to be in range of [{}, {}], but got {dim})", -n, n - 1);
    }
    Ok(if dim < 0 { (dim + n) as usize } else { dim as usize })
}

/// A dim that must exist: ops that index the shape by it (`select narrow split chunk unbind
/// size`) cannot take a 0-d tensor, where `wrap_dim` would accept 0 and -1 (PyTorch's wording).
pub fn existing_dim(dim: isize, ndim: usize, op: &str) -> Result<usize> {
    if ndim == 0 {
        bail!(Index, "{op}: Dimension specified as {dim} but tensor has no dimensions");
    }
    wrap_dim(dim, ndim, op)
}

/// Sorted, de-duplicated dims; an empty list means every dim (PyTorch's `dim=None`).
pub fn wrap_dims(dims: &[isize], ndim: usize, op: &str) -> Result<Vec<usize>> {
    if dims.is_empty() {
        return Ok((0..ndim).collect());
    }
    let mut out = Vec::with_capacity(dims.len());
    for &d in dims {
        let w = wrap_dim(d, ndim, op)?;
        if out.contains(&w) {
            bail!(Runtime, "{op}: dim {w} appears multiple times in the list of dims");
        }
        out.push(w);
    }
    out.sort_unstable();
    // A 0-d tensor reduced over dim 0/-1 reduces nothing.
    out.retain(|&d| d < ndim);
    Ok(out)
}

/// Resolves one `-1` in a requested shape (reshape/view).
pub fn infer_shape(requested: &[isize], numel: usize, from: &[usize], op: &str) -> Result<Shape> {
    let mut infer = None;
    let mut known = 1usize;
    for (i, &d) in requested.iter().enumerate() {
        if d == -1 {
            if infer.is_some() {
                bail!(Runtime, "{op}: only one dimension can be inferred, got shape {requested:?}");
            }
            infer = Some(i);
        } else if d < 0 {
            bail!(Runtime, "{op}: invalid shape dimension {d} in {requested:?}");
        } else {
            // Checked: a product that wraps could equal numel (0 for an empty tensor) and pass.
            known = match known.checked_mul(d as usize) {
                Some(k) => k,
                None => bail!(Runtime, "{op}: shape {requested:?} has more elements than memory can address"),
            };
        }
    }
    let mut out: Shape = requested.iter().map(|&d| d.max(0) as usize).collect();
    if let Some(i) = infer {
        if known == 0 || !numel.is_multiple_of(known) {
            bail!(Runtime, "{op}: shape '{requested:?}' is invalid for input of size {numel} (input shape {from:?})");
        }
        out[i] = numel / known;
    } else if known != numel {
        bail!(Runtime, "{op}: shape '{requested:?}' is invalid for input of size {numel} (input shape {from:?})");
    }
    Ok(out)
}

/// Merges neighbouring dims that every operand walks contiguously, so kernels iterate over as few
/// (and as long) rows as possible. Returns the merged shape and each operand's merged strides.
pub fn coalesce(shape: &[usize], strides: &[Vec<usize>]) -> (Vec<usize>, Vec<Vec<usize>>) {
    let mut out_shape: Vec<usize> = Vec::with_capacity(shape.len());
    let mut out_strides: Vec<Vec<usize>> = vec![Vec::with_capacity(shape.len()); strides.len()];
    for (d, &n) in shape.iter().enumerate() {
        if n == 1 {
            continue;
        }
        if let Some(&last) = out_shape.last() {
            let merge = strides.iter().enumerate().all(|(k, s)| out_strides[k].last().copied() == Some(s[d] * n));
            if merge {
                *out_shape.last_mut().unwrap() = last * n;
                for (k, s) in strides.iter().enumerate() {
                    *out_strides[k].last_mut().unwrap() = s[d];
                }
                continue;
            }
        }
        out_shape.push(n);
        for (k, s) in strides.iter().enumerate() {
            out_strides[k].push(s[d]);
        }
    }
    if out_shape.is_empty() {
        out_shape.push(1);
        for s in out_strides.iter_mut() {
            s.push(1);
        }
    }
    (out_shape, out_strides)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn preserved_strides_follow_pytorchs_empty_like() {
        // Dense: kept as they are (a transpose, a channels-last layout, odd size-1 strides).
        assert_eq!(preserved_strides(&[5, 4], &[1, 5]), vec![1, 5]);
        assert_eq!(preserved_strides(&[2, 3, 4, 5], &[60, 1, 15, 3]), vec![60, 1, 15, 3]);
        assert_eq!(preserved_strides(&[5, 1], &[1, 5]), vec![1, 5]);
        assert!(is_non_overlapping_and_dense(&[2, 0, 3], &[3, 3, 1]) && !is_non_overlapping_and_dense(&[2, 0, 3], &[7, 7, 1]));
        // Not dense: dense strides in the dims' own order (values checked against PyTorch).
        assert_eq!(preserved_strides(&[5, 5], &[1, 6]), vec![1, 5]);
        assert_eq!(preserved_strides(&[4, 3], &[6, 2]), vec![3, 1]);
        assert_eq!(preserved_strides(&[2, 3, 2, 5], &[60, 1, 30, 3]), vec![30, 1, 15, 3]);
        // Overlapping (expanded): a zero stride keeps its place, so contiguous here.
        assert!(!is_non_overlapping_and_dense(&[4, 3], &[1, 0]));
        assert_eq!(preserved_strides(&[4, 3], &[1, 0]), vec![3, 1]);
    }

    #[test]
    fn broadcast_follows_numpy() {
        assert_eq!(broadcast_shapes(&[3, 1], &[4], "add").unwrap(), vec![3, 4]);
        assert_eq!(broadcast_shapes(&[], &[2, 2], "add").unwrap(), vec![2, 2]);
        assert!(broadcast_shapes(&[3], &[4], "add").is_err());
    }

    #[test]
    fn coalesce_merges_contiguous_dims() {
        let (s, st) = coalesce(&[2, 3, 4], &[vec![12, 4, 1]]);
        assert_eq!(s, vec![24]);
        assert_eq!(st, vec![vec![1]]);
        // a transposed operand blocks merging
        let (s, _) = coalesce(&[3, 4], &[vec![4, 1], vec![1, 3]]);
        assert_eq!(s, vec![3, 4]);
    }

    #[test]
    fn infer_shape_resolves_minus_one() {
        assert_eq!(infer_shape(&[-1, 4], 12, &[12], "view").unwrap(), vec![3, 4]);
        assert!(infer_shape(&[-1, 5], 12, &[12], "view").is_err());
        assert!(infer_shape(&[-1, -1], 12, &[12], "view").is_err());
    }
}
