//! The elements an advanced index selects, kept as a grid: one base offset per indexed
//! position (over the index tensors' broadcast shape), plus the same offsets of the remaining
//! dims for each. `x[idx]` on a (512, 2048) tensor with 4096 indices is 4096 bases and 2048
//! offsets of a row, where a flat list was 8M offsets, twice (the storage's and, for backward,
//! a contiguous tensor's): 128 MB built element by element for a 32 MB result, and a gather 8
//! times slower than a clone of the same size.

use std::mem::MaybeUninit;

use crate::ops::kernel::build;
use crate::tensor::iter::GRAIN;
use crate::tensor::Float;

/// Offsets `base[b] + rest[r]`, b-major: element b * rest.len() + r of the gather.
pub(super) struct Grid {
    pub base: Vec<usize>,
    pub rest: Vec<usize>,
}

impl Grid {
    pub fn len(&self) -> usize {
        self.base.len() * self.rest.len()
    }

    /// The first offset, when the remaining dims are one contiguous run (a gather of whole rows,
    /// which copies slices).
    fn run(&self) -> Option<usize> {
        let first = *self.rest.first()?;
        self.rest.iter().enumerate().all(|(i, &o)| o == first + i).then_some(first)
    }

    /// Every offset, in order: the recorded backward's scatter takes a list.
    pub fn flat(&self) -> Vec<usize> {
        self.base.iter().flat_map(|&b| self.rest.iter().map(move |&r| b + r)).collect()
    }

    /// `data` at every offset, in order; parallel in whole rows when large.
    pub fn gather<T: Copy + Send + Sync>(&self, data: &[T]) -> Vec<T> {
        let n = self.rest.len();
        if self.len() == 0 {
            return Vec::new();
        }
        let run = self.run();
        let row = |b: usize, out: &mut [MaybeUninit<T>]| match run {
            Some(first) => out.iter_mut().zip(&data[b + first..b + first + n]).for_each(|(o, &v)| {
                o.write(v);
            }),
            None => out.iter_mut().zip(&self.rest).for_each(|(o, &r)| {
                o.write(data[b + r]);
            }),
        };
        // Chunks of whole rows, about GRAIN elements each.
        build(self.len(), n * (GRAIN / n).max(1), |at, dst| {
            for (k, out) in dst.chunks_mut(n).enumerate() {
                row(self.base[at / n + k], out);
            }
        })
    }

    /// `out[offset k] += g[k]` for every k in order, so repeated offsets accumulate (as
    /// index_put_ with accumulate=True) and the sums do not depend on threads.
    pub fn scatter_add<T: Float>(&self, g: &[T], out: &mut [T]) {
        let n = self.rest.len();
        match self.run() {
            Some(first) => {
                for (&b, gr) in self.base.iter().zip(g.chunks_exact(n)) {
                    out[b + first..b + first + n].iter_mut().zip(gr).for_each(|(o, &v)| *o += v);
                }
            }
            None => {
                for (&b, gr) in self.base.iter().zip(g.chunks_exact(n.max(1))) {
                    self.rest.iter().zip(gr).for_each(|(&r, &v)| out[b + r] += v);
                }
            }
        }
    }

    /// `data[offset k] = vals[k]` for every k in order: of repeated offsets the last write wins.
    pub fn write<T: Copy>(&self, data: &mut [T], vals: &[T]) {
        let (n, run) = (self.rest.len(), self.run());
        for (&b, vr) in self.base.iter().zip(vals.chunks_exact(n.max(1))) {
            match run {
                Some(first) => data[b + first..b + first + n].copy_from_slice(vr),
                None => self.rest.iter().zip(vr).for_each(|(&r, &v)| data[b + r] = v),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Both forms (a contiguous run and scattered offsets) against the flat list, with
    /// repeated bases; large enough to take the parallel gather.
    #[test]
    fn grid_matches_its_flat_offsets() {
        let data: Vec<f64> = (0..50_000).map(|i| i as f64 * 0.5).collect();
        let base: Vec<usize> = (0..300).map(|i| (i * 7919) % 97 * 400).collect();
        for rest in [(10..260).collect::<Vec<usize>>(), (0..125).map(|i| 3 * i + 1).collect(), vec![0]] {
            let grid = Grid { base: base.clone(), rest };
            let flat = grid.flat();
            assert_eq!(flat.len(), grid.len());
            let want: Vec<f64> = flat.iter().map(|&o| data[o]).collect();
            assert_eq!(grid.gather(&data), want);
            let g: Vec<f64> = (0..grid.len()).map(|k| (k % 13) as f64).collect();
            let (mut got, mut expect) = (vec![0.0; data.len()], vec![0.0; data.len()]);
            grid.scatter_add(&g, &mut got);
            flat.iter().zip(&g).for_each(|(&o, &v)| expect[o] += v);
            assert_eq!(got, expect);
            let (mut got, mut expect) = (data.clone(), data.clone());
            grid.write(&mut got, &g);
            flat.iter().zip(&g).for_each(|(&o, &v)| expect[o] = v);
            assert_eq!(got, expect);
        }
    }
}
