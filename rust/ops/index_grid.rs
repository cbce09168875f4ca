//! The elements an advanced index selects, kept as a grid: the offsets of the dims before the
//! indexed ones, one base offset per indexed position (over the index tensors' broadcast
//! shape), and the offsets of the dims after them, each list once. `x[idx]` on a (512, 2048)
//! tensor with 4096 indices is 4096 bases and 2048 offsets of a row, where a flat list was 8M
//! offsets, twice (the storage's and, for backward, a contiguous tensor's): 128 MB built element
//! by element for a 32 MB result, and a gather 8 times slower than a clone of the same size.
//! Walked in the result's own order, so `x[:, idx]` (index_select, reflect padding) needs no
//! permute and copy after.



use crate::ops::kernel::build;
use crate::parallel::for_each_chunk_mut;
use crate::tensor::iter::GRAIN;
use crate::tensor::copy::{copy_values, write_values};
use crate::tensor::Float;

/// Offsets `outer[a] + base[b] + inner[c]`, element (a, b, c) of the gather in row-major order.
pub(super) struct Grid {
    pub outer: Vec<usize>,
    pub base: Vec<usize>,
    pub inner: Vec<usize>,
    /// With one inner offset, and bases that mostly step by one (reflect padding's table): per
    /// b, how many bases from b on step by one (so those elements are copied as one run).
    /// Empty otherwise.
    runs: Vec<usize>,
}

impl Grid {
    pub fn new(outer: Vec<usize>, base: Vec<usize>, inner: Vec<usize>) -> Grid {
        let mut runs = Vec::new();
        if inner.len() == 1 && !base.is_empty() {
            runs = vec![1; base.len()];
            for b in (0..base.len() - 1).rev() {
                if base[b + 1] == base[b] + 1 {
                    runs[b] = runs[b + 1] + 1;
                }
            }
            // Runs of 4 or more on average, else element by element is as fast.
            let count = runs.iter().enumerate().filter(|&(b, _)| b == 0 || base[b] != base[b - 1] + 1).count();
            if base.len() < 4 * count {
                runs.clear();
            }
        }
        Grid { outer, base, inner, runs }
    }

    pub fn len(&self) -> usize {
        self.rows() * self.inner.len()
    }

    /// Runs of `inner` (one per (a, b)).
    fn rows(&self) -> usize {
        self.outer.len() * self.base.len()
    }

    /// The first inner offset, when the inner offsets are one contiguous run (rows copied whole).
    fn run(&self) -> Option<usize> {
        let first = *self.inner.first()?;
        self.inner.iter().enumerate().all(|(i, &o)| o == first + i).then_some(first)
    }

    /// Every offset, in order: the recorded backward's scatter takes a list.
    pub fn flat(&self) -> Vec<usize> {
        let mut out = Vec::with_capacity(self.len());
        self.for_each_piece(0, self.rows(), |_, piece| match piece {
            Piece::Run(src, len) => out.extend(src..src + len),
            Piece::Row(start) => out.extend(self.inner.iter().map(|&c| start + c)),
            Piece::Bases(start, b, len) => out.extend(self.base[b..b + len].iter().map(|&o| start + o)),
        });
        out
    }

    /// Calls `f(k, piece)` for rows q0..q1 in order, k being the piece's first element counted
    /// from row q0's first. With one element per row (`x[..., idx]`, reflect padding) a piece
    /// spans a stretch of bases, or a run of them, not one element.
    fn for_each_piece(&self, q0: usize, q1: usize, mut f: impl FnMut(usize, Piece)) {
        let (n, nb) = (self.inner.len(), self.base.len());
        let (mut a, mut b, mut q) = (q0 / nb.max(1), q0 % nb.max(1), q0);
        let run = self.run();
        while q < q1 {
            let start = self.outer[a] + self.base[b];
            let k = (q - q0) * n;
            let take = if n == 1 {
                let most = (nb - b).min(q1 - q);
                if self.runs.is_empty() {
                    f(k, Piece::Bases(self.outer[a] + self.inner[0], b, most));
                    most
                } else {
                    let len = self.runs[b].min(most);
                    f(k, Piece::Run(start + self.inner[0], len));
                    len
                }
            } else {
                f(k, run.map_or(Piece::Row(start), |first| Piece::Run(start + first, n)));
                1
            };
            q += take;
            b += take;
            if b == nb {
                (a, b) = (a + 1, 0);
            }
        }
    }

    /// `data` at every offset, in order; parallel in whole rows when large.
    pub fn gather<T: Copy + Send + Sync>(&self, data: &[T]) -> Vec<T> {
        let n = self.inner.len();
        if self.len() == 0 {
            return Vec::new();
        }
        build(self.len(), n * (GRAIN / n).max(1), |at, dst| {
            let q0 = at / n;
            self.for_each_piece(q0, q0 + dst.len() / n, |k, piece| match piece {
                Piece::Run(src, len) => write_values(&mut dst[k..k + len], &data[src..src + len]),
                Piece::Row(start) => dst[k..k + n].iter_mut().zip(&self.inner).for_each(|(o, &c)| {
                    o.write(data[start + c]);
                }),
                Piece::Bases(start, b, len) => dst[k..k + len].iter_mut().zip(&self.base[b..b + len]).for_each(|(o, &r)| {
                    o.write(data[start + r]);
                }),
            });
        })
    }

    /// `out[offset k] += g[k]` for every k in order, so repeated offsets accumulate (as
    /// index_put_ with accumulate=True) in an order that does not depend on threads. With
    /// `block` Some(len), each outer position's offsets fall in its own block of `len`
    /// (`outer[a] = a len`: the dims before the indexed ones lead a contiguous tensor), and the
    /// blocks are summed in parallel.
    pub fn scatter_add<T: Float>(&self, g: &[T], out: &mut [T], block: Option<usize>) {
        let (n, nb) = (self.inner.len(), self.base.len());
        if self.len() == 0 {
            return;
        }
        // Rows q0..q1, whose gradients are g, into `dst`, whose element 0 is offset `shift`.
        let add = |q0: usize, q1: usize, g: &[T], dst: &mut [T], shift: usize| {
            self.for_each_piece(q0, q1, |k, piece| match piece {
                Piece::Run(src, len) => dst[src - shift..src - shift + len].iter_mut().zip(&g[k..k + len]).for_each(|(o, &v)| *o += v),
                Piece::Row(start) => self.inner.iter().zip(&g[k..k + n]).for_each(|(&c, &v)| dst[start + c - shift] += v),
                Piece::Bases(start, b, len) => self.base[b..b + len].iter().zip(&g[k..k + len]).for_each(|(&r, &v)| dst[start + r - shift] += v),
            });
        };
        match block {
            Some(len) if self.outer.len() > 1 && g.len() > GRAIN => {
                debug_assert!(self.outer.iter().enumerate().all(|(a, &o)| o == a * len));
                for_each_chunk_mut(&mut out[..self.outer.len() * len], len, &|a, dst| add(a * nb, (a + 1) * nb, &g[a * nb * n..(a + 1) * nb * n], dst, a * len));
            }
            _ => add(0, self.rows(), g, out, 0),
        }
    }

    /// `data[offset k] = vals[k]` for every k in order: of repeated offsets the last write wins.
    pub fn write<T: Copy>(&self, data: &mut [T], vals: &[T]) {
        let n = self.inner.len();
        if self.len() == 0 {
            return;
        }
        self.for_each_piece(0, self.rows(), |k, piece| match piece {
            Piece::Run(src, len) => copy_values(&mut data[src..src + len], &vals[k..k + len]),
            Piece::Row(start) => self.inner.iter().zip(&vals[k..k + n]).for_each(|(&c, &v)| data[start + c] = v),
            Piece::Bases(start, b, len) => self.base[b..b + len].iter().zip(&vals[k..k + len]).for_each(|(&r, &v)| data[start + r] = v),
        });
    }
}

/// A stretch of a grid's elements (`Grid::for_each_piece`).
enum Piece {
    /// `len` elements at offsets src, src + 1, ...
    Run(usize, usize),
    /// One row whose inner offsets do not run: offsets start + inner[c].
    Row(usize),
    /// Rows b..b + len of one element each (one inner offset): offsets start + base[b..].
    Bases(usize, usize, usize),
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every use of a grid against its flat offsets, for blocks of `block` (when outer's
    /// entries are a * block).
    fn check(grid: &Grid, data: &[f64], block: Option<usize>) {
        let flat = grid.flat();
        assert_eq!(flat.len(), grid.len());
        let want: Vec<f64> = flat.iter().map(|&o| data[o]).collect();
        assert_eq!(grid.gather(data), want);
        let g: Vec<f64> = (0..grid.len()).map(|k| (k % 13) as f64).collect();
        let mut expect = vec![0.0; data.len()];
        flat.iter().zip(&g).for_each(|(&o, &v)| expect[o] += v);
        for block in [None, block] {
            let mut got = vec![0.0; data.len()];
            grid.scatter_add(&g, &mut got, block);
            assert_eq!(got, expect);
        }
        let (mut got, mut expect) = (data.to_vec(), data.to_vec());
        grid.write(&mut got, &g);
        flat.iter().zip(&g).for_each(|(&o, &v)| expect[o] = v);
        assert_eq!(got, expect);
    }

    /// Reflect padding's table (runs of bases, one element per row), with the runs cut by the
    /// parallel chunks.
    #[test]
    fn runs_of_bases_match_the_flat_offsets() {
        let data: Vec<f64> = (0..80_000).map(|i| i as f64 * 0.25).collect();
        let reflect: Vec<usize> = [2, 1].into_iter().chain(0..32).chain([30, 29]).collect();
        for inner in [vec![0], vec![0, 1]] {
            let grid = Grid::new((0..1999).map(|a| a * 40).collect(), reflect.clone(), inner);
            assert_eq!(grid.runs.is_empty(), grid.inner.len() > 1, "the runs path is the one under test");
            check(&grid, &data, Some(40));
        }
    }

    /// Contiguous and scattered inner offsets, one and several outer blocks, repeated bases,
    /// against the flat list; large enough to take the parallel paths.
    #[test]
    fn grid_matches_its_flat_offsets() {
        let data: Vec<f64> = (0..200_000).map(|i| i as f64 * 0.5).collect();
        let base: Vec<usize> = (0..300).map(|i| (i * 7919) % 97 * 400).collect();
        for outer in [vec![0], (0..4).map(|a| a * 40_000).collect()] {
            for inner in [(10..260).collect::<Vec<usize>>(), (0..125).map(|i| 3 * i + 1).collect(), vec![0]] {
                let grid = Grid::new(outer.clone(), base.clone(), inner);
                check(&grid, &data, (grid.outer.len() > 1).then_some(40_000));
            }
        }
    }
}
