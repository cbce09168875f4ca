//! Max pooling and adaptive max pooling, each returning the values and, per output element, the
//! flat position of its maximum within the input volume ((d * H + h) * W + w; PyTorch's
//! `return_indices`). Both follow PyTorch's CPU rule: a NaN wins over any number (a later NaN
//! over an earlier one), and of equal maxima the first in row-major order wins.

use std::hint::select_unpredictable;
use std::marker::PhantomData;

use super::{each_volume_pair, geometry, layout, out_shape, rank_of, to_volume, with_input, Geom, Kind, PoolArgs, ScatterByIndex};
use crate::autograd::{record, Saved};
use crate::bail;
use crate::error::Result;
use crate::nn::im2col::valid_range;
use crate::tensor::alloc::{filled, numel, try_with_capacity, vec_filled};
use crate::tensor::{Element, Float, Tensor};
use crate::with_float;

/// `F.max_pool1d/2d/3d` (rank = the arguments' length) on (N, C, *S) or (C, *S): the output and
/// the int64 indices of the maxima. A window wholly in padding gives -inf and points at its first
/// tap, as in PyTorch.
pub fn max_pool(x: &Tensor, a: &PoolArgs) -> Result<(Tensor, Tensor)> {
    let rank = a.kernel.len();
    let g = geometry(Kind::Max, x, a)?;
    let shape = out_shape(x, rank, g.out);
    let axis = |i: usize| max_windows(g.out[i], g.stride[i], g.padding[i], g.kernel[i], g.dilation[i], g.size[i]);
    let windows = [axis(0), axis(1), axis(2)];
    let taps = row_taps(&g);
    with_float!(x.dtype(), Kind::Max.name(rank), T => {
        let (vin, vout) = (g.in_len(), g.out_len());
        let mut vals = filled(g.volumes * vout, T::from_f64(0.0));
        let mut idx = filled(g.volumes * vout, 0i64);
        with_input::<T, _>(x, |xs| {
            each_volume_pair(&mut vals, &mut idx, vout, vin + vout * g.taps(), |p, vv, iv| {
                max_volume(&xs[p * vin..(p + 1) * vin], &g, &windows, &taps, vv, iv);
            })
        });
        let indices = Tensor::from_vec_unchecked(idx, &shape);
        let out = record(Tensor::from_vec_unchecked(vals, &shape), &[x], || {
            let name = if rank == 3 { "MaxPool3DWithIndicesBackward0" } else { "MaxPool2DWithIndicesBackward0" };
            Ok(Box::new(ScatterByIndex::<T> {
                name, volumes: g.volumes, in_len: vin, out_len: vout, input_shape: x.shape().to_vec(), indices: Saved::new(&indices)?, input: Saved::new(x)?, attrs: a.attrs(), t: PhantomData,
            }))
        })?;
        Ok((out, indices))
    })
}

/// Each window's taps along one axis: the first in-bounds one and the end of the range (taps
/// step by the dilation). A window wholly in padding has start >= end.
fn max_windows(out: usize, stride: usize, pad: usize, k: usize, dilation: usize, size: usize) -> Vec<(usize, usize)> {
    (0..out)
        .map(|o| {
            let first = (o * stride) as i64 - pad as i64;
            let end = (first + ((k - 1) * dilation) as i64 + 1).min(size as i64);
            let d = dilation as i64;
            let start = if first < 0 { first + (-first + d - 1) / d * d } else { first };
            (start as usize, end.max(0) as usize)
        })
        .collect()
}

/// For each tap kx of a window row: the outputs whose tap lands inside the input row
/// (ox * sW + kx * dW - pW in [0, W)), as (first ox, end ox, input column of the first).
/// The same for every row of every volume, so computed once (its divisions cost more than
/// the compares of a 2x2 window).
fn row_taps(g: &Geom) -> Vec<(usize, usize, usize)> {
    let (w, ow, kw, sw, pw, dw) = (g.size[2], g.out[2], g.kernel[2], g.stride[2], g.padding[2], g.dilation[2]);
    (0..kw)
        .map(|kx| {
            let (lo, hi) = valid_range(kx * dw, pw, sw, w, ow);
            (lo, hi, if lo < hi { lo * sw + kx * dw - pw } else { 0 })
        })
        .filter(|&(lo, hi, _)| lo < hi)
        .collect()
}

/// The common CNN pool, 2x2 windows at stride 2 in each (H, W) plane without padding or
/// dilation and every window inside the input (ceil mode can add a partial last one), with a
/// depth window of 1 (any 2-D pool; a 3-D one of kernel (1, 2, 2)).
fn is_2x2(g: &Geom) -> bool {
    g.kernel == [1, 2, 2] && g.stride[1..] == [2, 2] && g.padding == [0; 3] && g.dilation[1..] == [1, 1] && 2 * g.out[1] <= g.size[1] && 2 * g.out[2] <= g.size[2]
}

/// One volume: the maximum of each window and its flat index. Each depth slice a window covers
/// is folded into the running maxima of its output plane in turn (`max_plane`), so taps are
/// visited in (d, h, w) order for every window, which is what makes the first of equal maxima win.
fn max_volume<T: Float>(x: &[T], g: &Geom, [deps, rows, cols]: &[Vec<(usize, usize)>; 3], taps: &[(usize, usize, usize)], vals: &mut [T], idx: &mut [i64]) {
    let ([_, h, w], [_, oh, ow]) = (g.size, g.out);
    let (hw, ohw) = (h * w, oh * ow);
    for (oz, &(z0, z1)) in deps.iter().enumerate() {
        let (best, at) = (&mut vals[oz * ohw..(oz + 1) * ohw], &mut idx[oz * ohw..(oz + 1) * ohw]);
        if is_2x2(g) {
            max_plane_2x2(&x[z0 * hw..(z0 + 1) * hw], g, best, at, (z0 * hw) as i64);
            continue;
        }

        // Every window starts at -inf pointing at its first tap: PyTorch's index for a window
        // wholly in padding.
        for ((b, a), &(y0, _)) in best.chunks_exact_mut(ow).zip(at.chunks_exact_mut(ow)).zip(rows) {
            for ((b, a), &(x0, _)) in b.iter_mut().zip(a.iter_mut()).zip(cols) {
                (*b, *a) = (T::neg_infinity(), ((z0 * h + y0) * w + x0) as i64);
            }
        }
        for z in (z0..z1).step_by(g.dilation[0]) {
            max_plane(&x[z * hw..(z + 1) * hw], g, rows, taps, best, at, (z * hw) as i64);
        }
    }
}

/// Folds one (H, W) plane, whose first element has flat index `base`, into the running maxima of
/// an output plane. The loops run tap by tap across a run of an output row rather than window by
/// window: each tap's inputs are first gathered (stride sW) into a contiguous block, then folded
/// into the run's maxima and indices in vector registers (with AVX2, 8 float32 or 4 float64
/// outputs at a time, twice that with AVX-512). Each output still sees its taps in (h, w)
/// order. A window at a time, the fold was a 9-deep chain of dependent compares and moves per
/// output: ResNet's stem pool (3x3, stride 2, padding 1) ran at 32 ns per output, about as long
/// as PyTorch.
#[inline(always)]
fn max_plane_body<T: Float, const FMA: bool>(x: &[T], g: &Geom, rows: &[(usize, usize)], taps: &[(usize, usize, usize)], best: &mut [T], at: &mut [i64], base: i64) {
    const RUN: usize = 64;
    let (w, ow, sw) = (g.size[2], g.out[2], g.stride[2]);
    let mut gathered = [T::zero(); RUN];
    for ((best, at), &(y0, y1)) in best.chunks_exact_mut(ow).zip(at.chunks_exact_mut(ow)).zip(rows) {
        for y in (y0..y1).step_by(g.dilation[1]) {
            let row = &x[y * w..(y + 1) * w];
            for &(lo, hi, first) in taps {
                for run in (lo..hi).step_by(RUN) {
                    let n = RUN.min(hi - run);
                    let col = first + (run - lo) * sw;
                    for (k, v) in gathered[..n].iter_mut().enumerate() {
                        *v = row[col + k * sw];
                    }
                    let start = base + (y * w + col) as i64;
                    let folded = best[run..run + n].iter_mut().zip(&mut at[run..run + n]).zip(&gathered[..n]);
                    for (k, ((b, a), &v)) in folded.enumerate() {
                        // `|`, not `||`: no branch, so the loop vectorises. A NaN tap wins.
                        #[allow(clippy::eq_op)]
                        let take = (v > *b) | (v != v);
                        *b = if take { v } else { *b };
                        *a = if take { start + (k * sw) as i64 } else { *a };
                    }
                }
            }
        }
    }
}
crate::multiversion!(max_plane_body, max_plane_avx2, max_plane, Float, (x: &[T], g: &Geom, rows: &[(usize, usize)], taps: &[(usize, usize, usize)], best: &mut [T], at: &mut [i64], base: i64) -> ());

/// The 2x2 stride-2 case of `max_volume` on one (H, W) plane whose first element has flat index
/// `base`: a window at a time, its four taps in registers, in the same order and with the same
/// rule. Branch-free and without the per-tap memory round trip: 0.55 ns per tap against 3.5 for
/// the tap-at-a-time loop `max_plane` had before it gathered (a micro-benchmark of the two on
/// 1024 planes of 28x28).
fn max_plane_2x2<T: Float>(x: &[T], g: &Geom, vals: &mut [T], idx: &mut [i64], base: i64) {
    let (w, ow) = (g.size[2], g.out[2]);
    for (oy, (best, at)) in vals.chunks_exact_mut(ow).zip(idx.chunks_exact_mut(ow)).enumerate() {
        let r0 = &x[2 * oy * w..][..2 * ow];
        let r1 = &x[(2 * oy + 1) * w..][..2 * ow];
        let row_base = base + (2 * oy * w) as i64;
        let taps = ((best.iter_mut().zip(at.iter_mut())).zip(r0.chunks_exact(2).zip(r1.chunks_exact(2)))).enumerate();
        for (ox, ((b, a), (p0, p1))) in taps {
            let (mut m, mut which) = (p0[0], 0i64);
            for (t, v) in [(1, p0[1]), (w as i64, p1[0]), (w as i64 + 1, p1[1])] {
                let take = (v > m) | v.is_nan();
                m = T::select(take, v, m);
                which = select_unpredictable(take, t, which);
            }
            *b = m;
            *a = row_base + 2 * ox as i64 + which;
        }
    }
}

// ---- adaptive max pool -------------------------------------------------------------------

/// Adaptive pooling's window along one axis: output i covers inputs floor(i * size / out) to
/// ceil((i + 1) * size / out) (in u128: `out` comes from the caller and may be huge).
pub(crate) fn adaptive_bins(out: usize, size: usize) -> Result<Vec<(usize, usize)>> {
    let (o, s) = (out as u128, size as u128);
    let mut bins = try_with_capacity(out)?;
    bins.extend((0..o).map(|i| ((i * s / o) as usize, ((i + 1) * s).div_ceil(o) as usize)));
    Ok(bins)
}

/// `F.adaptive_max_pool1d/2d/3d` on (N, C, *S) or (C, *S) to output_size (rank = its length):
/// the maximum over each adaptive window (see `adaptive_bins`) and its flat index.
pub fn adaptive_max_pool(x: &Tensor, output_size: &[i64]) -> Result<(Tensor, Tensor)> {
    let rank = rank_of(Kind::AdaptiveMax, &[output_size.len()])?;
    let op = Kind::AdaptiveMax.name(rank);
    if output_size.iter().any(|&s| s < 0) {
        bail!(Runtime, "{op}: elements of output_size must be greater than or equal to 0 but received {output_size:?}");
    }
    let (volumes, size) = layout(op, x, rank)?;
    // PyTorch checks every dim after the first: a batched input's channels, not an unbatched one's.
    if let Some(d) = (1..x.ndim()).find(|&d| x.shape()[d] == 0) {
        bail!(Runtime, "{op}(): Expected input to have non-zero size for non-batch dimensions, but input has sizes {:?} with dimension {d} being empty", x.shape());
    }
    let out = to_volume(&output_size.iter().map(|&s| s as usize).collect::<Vec<_>>(), 1);
    let shape = out_shape(x, rank, out);
    numel(&shape, 8, op)?;
    numel(&out, 16, op)?;
    let [d_bins, h_bins, w_bins] = [adaptive_bins(out[0], size[0])?, adaptive_bins(out[1], size[1])?, adaptive_bins(out[2], size[2])?];
    let [_, h, w] = size;
    let (vin, vout) = (size.iter().product::<usize>(), out.iter().product::<usize>());
    with_float!(x.dtype(), op, T => {
        let mut vals = vec_filled(volumes * vout, T::from_f64(0.0))?;
        let mut idx = vec_filled(volumes * vout, 0i64)?;
        with_input::<T, _>(x, |xs| {
            each_volume_pair(&mut vals, &mut idx, vout, vin + vout, |p, vv, iv| {
                adaptive_max_volume(&xs[p * vin..(p + 1) * vin], [h, w], [&d_bins, &h_bins, &w_bins], vv, iv);
            })
        });
        let indices = Tensor::from_vec_unchecked(idx, &shape);
        let result = record(Tensor::from_vec_unchecked(vals, &shape), &[x], || {
            let name = if rank == 3 { "AdaptiveMaxPool3DBackward0" } else { "AdaptiveMaxPool2DBackward0" };
            Ok(Box::new(ScatterByIndex::<T> {
                name, volumes, in_len: vin, out_len: vout, input_shape: x.shape().to_vec(), indices: Saved::new(&indices)?, input: Saved::new(x)?, attrs: Vec::new(), t: PhantomData,
            }))
        })?;
        Ok((result, indices))
    })
}

/// One volume of adaptive max pooling: the maximum of each window and its flat index.
fn adaptive_max_volume<T: Float>(x: &[T], [h, w]: [usize; 2], [deps, rows, cols]: [&[(usize, usize)]; 3], vals: &mut [T], idx: &mut [i64]) {
    let mut k = 0;
    for &(z0, z1) in deps {
        for &(y0, y1) in rows {
            for &(x0, x1) in cols {
                let (mut best, mut at) = (T::neg_infinity(), (z0 * h + y0) * w + x0);
                for z in z0..z1 {
                    for y in y0..y1 {
                        let start = (z * h + y) * w;
                        for (i, &v) in x[start + x0..start + x1].iter().enumerate() {
                            if v > best || v.is_nan() {
                                best = v;
                                at = start + x0 + i;
                            }
                        }
                    }
                }
                (vals[k], idx[k]) = (best, at as i64);
                k += 1;
            }
        }
    }
}
