//! EmbeddingBag's "sum" and "mean" (`F.embedding_bag`): each bag's output row is the sum of its
//! entries' weight rows, each scaled by its per-sample weight, divided by the bag's entry count
//! for "mean", without the (entries x D) tensor of looked-up rows.
//!
//! Composed, it took a gather, an index_add and a division forward and as many passes again
//! backward: 1.7-2x PyTorch's time for 256 bags of 16 rows of 256. Here the forward reads each
//! entry's row straight into its bag's sum, bags in parallel; the weight's gradient adds each
//! entry's share of its bag's gradient into the entry's row, split between threads by columns
//! so that every row's additions stay in entry order (the bits do not depend on the thread
//! count); a per-sample weight's gradient is g[bag] . weight[index].

use crate::autograd::{is_recording, record, Backward, Saved};
use crate::bail;
use crate::error::Result;
use crate::ops::index::Index;
use crate::parallel::{for_each_chunk_mut, for_each_part, DisjointPtr};
use crate::tensor::{Float, Tensor};
use crate::with_float;

/// Bags over a list of entries: entry k looks up weight row `index[k]`; bag b holds entries
/// `bounds[b]..bounds[b + 1]`.
#[derive(Clone, Debug)]
pub struct Bags {
    pub index: Vec<usize>,
    pub bounds: Vec<usize>,
    /// Divide each bag's sum by its entry count (an empty bag stays 0).
    pub mean: bool,
}

impl Bags {
    fn count(&self) -> usize {
        self.bounds.len().saturating_sub(1)
    }
    /// The bag of each entry.
    fn bag_of(&self) -> Vec<usize> {
        let mut of = vec![0; self.index.len()];
        for b in 0..self.count() {
            of[self.bounds[b]..self.bounds[b + 1]].fill(b);
        }
        of
    }
    /// What bag b's sum is divided by.
    fn divisor(&self, b: usize) -> usize {
        if self.mean { (self.bounds[b + 1] - self.bounds[b]).max(1) } else { 1 }
    }
}

/// (bags, D): bag b's row is sum_k scale[k] * weight[index[k]] over its entries (scale 1 when
/// absent), over its entry count for mean.
pub fn embedding_bag(weight: &Tensor, bags: Bags, scale: Option<&Tensor>) -> Result<Tensor> {
    if weight.ndim() != 2 {
        bail!(Runtime, "embedding_bag: weight has to be a 2D Tensor, got shape {:?}", weight.shape());
    }
    let (num, d) = (weight.shape()[0], weight.shape()[1]);
    let entries = bags.index.len();
    if let Some(&bad) = bags.index.iter().find(|&&i| i >= num) {
        bail!(Index, "embedding_bag: index {bad} is out of range for a weight of {num} rows");
    }
    if bags.bounds.first().is_some_and(|&b| b != 0) || bags.bounds.last().is_some_and(|&b| b != entries) || bags.bounds.windows(2).any(|w| w[0] > w[1]) {
        bail!(Runtime, "embedding_bag: bag bounds must rise from 0 to the {entries} entries, got {:?}", bags.bounds);
    }
    if let Some(s) = scale {
        if s.shape() != [entries] || s.dtype() != weight.dtype() {
            bail!(Runtime, "embedding_bag: per-sample weights must be {} values of the weight's dtype {}, got shape {:?} of {}", entries, weight.dtype().name(), s.shape(), s.dtype().name());
        }
    }
    let mut inputs = vec![weight];
    inputs.extend(scale);
    let out = with_float!(weight.dtype(), "embedding_bag", T => {
        let sv = scale.map(|s| s.to_vec::<T>());
        let data = Tensor::with_slices::<T, _>(&[weight], |w| forward(w[0], d, &bags, sv.as_deref()));
        Tensor::from_vec_unchecked(data, &[bags.count(), d])
    });
    record(out, &inputs, || {
        let keep_weight = scale.is_some_and(|s| s.requires_grad());
        Ok(Box::new(EmbeddingBagBackward { bags, num, d, weight: if keep_weight { Some(Saved::new(weight)?) } else { None }, scale: scale.map(Saved::new).transpose()? }))
    })
}

/// Bags per parallel part: about 16K multiply-adds.
fn bags_per_part(bags: &Bags, d: usize) -> usize {
    let per_bag = (bags.index.len() / bags.count().max(1)).max(1) * d.max(1);
    (16 * 1024usize).div_ceil(per_bag)
}

fn forward<T: Float>(w: &[T], d: usize, bags: &Bags, scale: Option<&[T]>) -> Vec<T> {
    let mut out = vec![T::zero(); bags.count() * d];
    if d == 0 {
        return out;
    }
    let per = bags_per_part(bags, d);
    for_each_chunk_mut(&mut out, per * d, &|part, rows| {
        for (i, row) in rows.chunks_exact_mut(d).enumerate() {
            let b = part * per + i;
            for k in bags.bounds[b]..bags.bounds[b + 1] {
                let src = &w[bags.index[k] * d..][..d];
                match scale {
                    Some(s) => row.iter_mut().zip(src).for_each(|(o, &v)| *o += s[k] * v),
                    None => row.iter_mut().zip(src).for_each(|(o, &v)| *o += v),
                }
            }
            let n = bags.divisor(b);
            if n > 1 {
                let n = T::from_f64(n as f64);
                row.iter_mut().for_each(|o| *o = *o / n);
            }
        }
    });
    out
}

struct EmbeddingBagBackward {
    bags: Bags,
    num: usize,
    d: usize,
    /// Kept when the per-sample weights need a gradient.
    weight: Option<Saved>,
    scale: Option<Saved>,
}

impl Backward for EmbeddingBagBackward {
    fn name(&self) -> &'static str {
        "EmbeddingBagBackward0"
    }
    fn apply(&self, g: &Tensor, needs: &[bool]) -> Result<Vec<Option<Tensor>>> {
        if is_recording() {
            return self.recorded(g, needs);
        }
        let need = |i: usize| needs.get(i).copied().unwrap_or(false);
        let (bags, d) = (&self.bags, self.d);
        let scale = self.scale.as_ref().map(Saved::get).transpose()?;
        let weight = match (&self.weight, need(1)) {
            (Some(w), true) => Some(w.get()?),
            _ => None,
        };
        with_float!(g.dtype(), "embedding_bag backward", T => {
            let sv = scale.as_ref().map(|s| s.to_vec::<T>());
            let gv = g.to_vec::<T>();
            let bag_of = bags.bag_of();
            let gw = need(0).then(|| Tensor::from_vec_unchecked(weight_grad(&gv, d, self.num, bags, &bag_of, sv.as_deref()), &[self.num, d]));
            let gs = weight.as_ref().map(|w| Tensor::from_vec_unchecked(Tensor::with_slices::<T, _>(&[w], |w| scale_grad(&gv, w[0], d, bags, &bag_of)), &[bags.index.len()]));
            let mut out = vec![gw];
            if self.scale.is_some() {
                out.push(gs);
            }
            Ok(out)
        })
    }
    fn differentiable(&self) -> bool {
        true
    }
}

/// grad_weight[index[k]] += g[bag(k)] * scale[k] / count(bag(k)) for every entry in order,
/// columns split between threads.
fn weight_grad<T: Float>(g: &[T], d: usize, num: usize, bags: &Bags, bag_of: &[usize], scale: Option<&[T]>) -> Vec<T> {
    let mut gw = vec![T::zero(); num * d];
    let entries = bags.index.len();
    // For mean each bag's gradient row divided once, not once an entry: the same quotients.
    let divided: Vec<T>;
    let g = if bags.mean {
        divided = g.chunks(d.max(1)).enumerate().flat_map(|(b, row)| {
            let n = T::from_f64(bags.divisor(b) as f64);
            row.iter().map(move |&v| v / n)
        }).collect();
        &divided[..]
    } else {
        g
    };
    // Column blocks of at least 16 (a cache line of float32), one per thread when the work
    // pays for it.
    let parts = if entries * d >= 32 * 1024 { rayon::current_num_threads().min(d.div_ceil(16)).max(1) } else { 1 };
    let width = d.div_ceil(parts).next_multiple_of(16).min(d.max(1));
    let base = DisjointPtr(gw.as_mut_ptr());
    for_each_part(d.div_ceil(width.max(1)), &|p| {
        let (c0, c1) = (p * width, ((p + 1) * width).min(d));
        for k in 0..entries {
            let b = bag_of[k];
            let src = &g[b * d + c0..b * d + c1];
            // SAFETY: part p writes columns c0..c1 of the rows alone, and `gw` outlives the
            // parts.
            let dst = unsafe { std::slice::from_raw_parts_mut(base.get().add(bags.index[k] * d + c0), c1 - c0) };
            match scale {
                Some(s) => dst.iter_mut().zip(src).for_each(|(o, &v)| *o += v * s[k]),
                None => dst.iter_mut().zip(src).for_each(|(o, &v)| *o += v),
            }
        }
    });
    gw
}

/// d out / d scale[k] = g[bag(k)] . weight[index[k]] (per-sample weights come with "sum" alone).
fn scale_grad<T: Float>(g: &[T], w: &[T], d: usize, bags: &Bags, bag_of: &[usize]) -> Vec<T> {
    let mut gs = vec![T::zero(); bags.index.len()];
    for_each_chunk_mut(&mut gs, 1024, &|part, chunk| {
        for (i, o) in chunk.iter_mut().enumerate() {
            let k = part * 1024 + i;
            let (gr, wr) = (&g[bag_of[k] * d..][..d], &w[bags.index[k] * d..][..d]);
            *o = gr.iter().zip(wr).fold(T::zero(), |acc, (&a, &b)| acc + a * b);
        }
    });
    gs
}

impl EmbeddingBagBackward {
    /// The same gradients from recorded ops (a backward with create_graph): the weight's an
    /// index_add of the bags' gradient rows, scaled, into zeros; a per-sample weight's a row dot.
    fn recorded(&self, g: &Tensor, needs: &[bool]) -> Result<Vec<Option<Tensor>>> {
        use crate::ops::{binary, index::getitem, index_add::index_add, reduce};
        let need = |i: usize| needs.get(i).copied().unwrap_or(false);
        let bags = &self.bags;
        let as_tensor = |v: &[usize]| Tensor::from_vec_unchecked(v.iter().map(|&i| i as i64).collect::<Vec<_>>(), &[v.len()]);
        let of = bags.bag_of();
        let (index, bag_of) = (as_tensor(&bags.index), as_tensor(&of));
        let rows = getitem(g, &[Index::Tensor(bag_of)])?;
        let scale = self.scale.as_ref().map(Saved::get).transpose()?;
        let gw = if need(0) {
            let mut share = rows.clone();
            if let Some(s) = &scale {
                share = binary::mul(&share, &s.unsqueeze(1)?)?;
            }
            if bags.mean {
                // PyTorch divides by the count; 1 / count, rounded to g's dtype, is close, and
                // only a second derivative takes this path.
                let counts: Vec<f64> = of.iter().map(|&b| 1.0 / bags.divisor(b) as f64).collect();
                share = binary::mul(&share, &crate::ops::cast::to_dtype(&Tensor::from_vec_unchecked(counts, &[bags.index.len(), 1]), g.dtype())?)?;
            }
            Some(index_add(&Tensor::zeros(&[self.num, self.d], g.dtype()), 0, &index, &share)?)
        } else {
            None
        };
        let mut out = vec![gw];
        if self.scale.is_some() {
            out.push(match (&self.weight, need(1)) {
                (Some(w), true) => Some(reduce::sum(&binary::mul(&rows, &getitem(&w.get()?, &[Index::Tensor(index)])?)?, &[1], false)?),
                _ => None,
            });
        }
        Ok(out)
    }
}
