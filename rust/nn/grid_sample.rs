//! `F.grid_sample` bilinear on 4-D input, forward and backward as kernels, with PyTorch's CPU
//! kernel's arithmetic (GridSamplerKernel.cpp): the same unnormalising, padding, weights and
//! order of sums, so that the side a point on a pixel centre takes, and the gradients' bits,
//! match. The composed form in Python (an index_select per corner and a graph of weights) took
//! 2.6x PyTorch's time forward and backward; it still serves other modes, 5-D input, grids
//! holding non-finite coordinates, and gradients of gradients (Python's `_functional_grid`).
//!
//! Each output point's four corners and weights are worked out once per image and shared by
//! its channels; the channels' planes are then independent (forward and the input's gradient),
//! and the grid's gradient sums over channels point by point, channels in order, as PyTorch's.

use num_traits::Zero as _;

use crate::error::Result;
use crate::parallel::{for_each_part, DisjointPtr};
use crate::tensor::iter::GRAIN;
use crate::tensor::{DType, Element, Float, Tensor};
use crate::{bail, with_float};

/// PyTorch's padding modes: what a coordinate outside the input reads.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Padding {
    Zeros,
    Border,
    Reflection,
}

impl Padding {
    pub fn from_name(name: &str) -> Result<Padding> {
        Ok(match name {
            "zeros" => Padding::Zeros,
            "border" => Padding::Border,
            "reflection" => Padding::Reflection,
            other => bail!(Value, "grid_sample: padding_mode must be 'zeros', 'border' or 'reflection', got '{other}'"),
        })
    }
}

/// How grid coordinates map onto one axis of the input.
#[derive(Clone, Copy)]
struct Axis {
    size: usize,
    padding: Padding,
    align_corners: bool,
}

impl Axis {
    /// The source position of grid coordinate `c` and d(position)/d(c), the padding's zero or
    /// sign included (PyTorch's `compute_coordinates` and `apply_get_grad`).
    #[inline(always)]
    fn source<T: Float>(self, c: T) -> (T, T) {
        let s = T::from_f64(self.size as f64);
        let (one, two) = (T::one(), T::one() + T::one());
        let (mut x, mut mult) = if self.align_corners {
            ((c + one) / two * (s - one), (s - one) / two)
        } else {
            // One rounding of (c + 1) size - 1, as the compiled kernel's fused multiply-add
            // (it decides a tie between two pixels: -1/3 on 3 rows).
            ((c + one).mul_add(s, -one) / two, s / two)
        };
        if self.padding == Padding::Reflection {
            let size = self.size as f64;
            let (twice_low, twice_high) = if self.align_corners { (0.0, 2.0 * (size - 1.0)) } else { (-1.0, 2.0 * size - 1.0) };
            if twice_low == twice_high {
                x = T::zero();
                mult *= T::zero();
            } else {
                let (low, span) = (T::from_f64(twice_low / 2.0), T::from_f64((twice_high - twice_low) / 2.0));
                let shifted = x - low;
                let sign = if shifted < T::zero() { -one } else { one };
                let dist = shifted * sign;
                let flips = (dist / span).floor();
                let extra = dist - flips * span;
                let even = flips % two == T::zero();
                x = if even { extra + low } else { span - extra + low };
                mult *= if even { sign } else { -sign };
            }
        }
        if self.padding != Padding::Zeros {
            // Clipped into the input, with a zero gradient on and beyond the border (times the
            // incoming gradient: an infinite one becomes NaN there, as PyTorch's).
            if !(x > T::zero() && x < s - one) {
                x = if x <= T::zero() { T::zero() } else { s - one };
                mult *= T::zero();
            }
        }
        (x, mult)
    }
}

/// One output point: its four corners (nw, ne, sw, se) as offsets in a plane, which of them lie
/// inside, their weights, the fractions (e, w, s, n in PyTorch's names) and the gradient
/// multipliers of x and y.
#[derive(Clone, Copy, Default)]
struct Point<T> {
    at: [usize; 4],
    inside: [bool; 4],
    weight: [T; 4],
    frac: [T; 4],
    mult: [T; 2],
}

#[inline(always)]
fn point<T: Float>(gx: T, gy: T, w_axis: Axis, h_axis: Axis) -> Point<T> {
    let (x, mx) = w_axis.source(gx);
    let (y, my) = h_axis.source(gy);
    let (x_w, y_n) = (x.floor(), y.floor());
    let w = x - x_w;
    let e = T::one() - w;
    let n = y - y_n;
    let s = T::one() - n;
    let width = w_axis.size;
    // The floored position as integers (the coordinates are moderate: `Geometry::moderate`);
    // x_w may be -1 with its east corner inside, so signed.
    let (c0, r0) = (Element::to_i64(x_w), Element::to_i64(y_n));
    // One unsigned compare per side: -1 wraps to a huge value.
    let (col0, col1) = ((c0 as u64) < width as u64, ((c0 + 1) as u64) < width as u64);
    let (row0, row1) = ((r0 as u64) < h_axis.size as u64, ((r0 + 1) as u64) < h_axis.size as u64);
    let inside = [col0 && row0, col1 && row0, col0 && row1, col1 && row1];
    let base = r0.wrapping_mul(width as i64).wrapping_add(c0) as usize;
    // Read only where inside (then in range).
    let at = [base, base.wrapping_add(1), base.wrapping_add(width), base.wrapping_add(width + 1)];
    Point { at, inside, weight: [s * e, s * w, n * e, n * w], frac: [e, w, s, n], mult: [mx, my] }
}

/// Output points worked out at a time: their corners and weights stay in L1 while every
/// channel reads them.
const CHUNK: usize = 256;

/// The sampling geometry: input (N, C, H, W), grid (N, Ho, Wo, 2).
#[derive(Clone, Copy)]
struct Geometry {
    n: usize,
    c: usize,
    plane: usize,
    points: usize,
    w_axis: Axis,
    h_axis: Axis,
}

impl Geometry {
    fn new(input: &Tensor, grid: &Tensor, padding: Padding, align_corners: bool) -> Result<Geometry> {
        let (is, gs) = (input.shape(), grid.shape());
        if is.len() != 4 || gs.len() != 4 || gs[3] != 2 || gs[0] != is[0] || input.dtype() != grid.dtype() {
            bail!(Runtime, "grid_sample: expected input (N, C, H, W) and grid (N, Ho, Wo, 2) of one dtype, got {:?} {} and {:?} {}", is, input.dtype().name(), gs, grid.dtype().name());
        }
        if !matches!(input.dtype(), DType::F32 | DType::F64) {
            bail!(Type, "grid_sample kernel: float32 or float64, got {}", input.dtype().name());
        }
        Ok(Geometry {
            n: is[0],
            c: is[1],
            plane: is[2] * is[3],
            points: gs[1] * gs[2],
            w_axis: Axis { size: is[3], padding, align_corners },
            h_axis: Axis { size: is[2], padding, align_corners },
        })
    }

    /// Whether every grid coordinate unnormalises to a finite position (the kernels' domain; the
    /// composed form gives NaN coordinates PyTorch's treatment).
    fn moderate<T: Float>(&self, grid: &[T]) -> bool {
        let limit = 1e30 / (self.w_axis.size.max(self.h_axis.size) as f64 + 1.0);
        grid.iter().all(|&v| Element::to_f64(v).abs() < limit)
    }

    /// Tasks of up to CHUNK points of one image: (image, first point, end).
    fn chunks(&self) -> impl Iterator<Item = (usize, usize, usize)> + '_ {
        let per = self.points.div_ceil(CHUNK);
        (0..self.n * per).map(move |t| (t / per, t % per * CHUNK, ((t % per + 1) * CHUNK).min(self.points)))
    }
}

#[inline(always)]
fn read<T: Float>(plane: &[T], p: &Point<T>, k: usize) -> T {
    if p.inside[k] { plane[p.at[k]] } else { T::zero() }
}

/// The points q0..q1 of one image from its grid (x, y pairs).
#[inline(always)]
fn points_of<T: Float>(geo: &Geometry, grid: &[T], q0: usize, q1: usize, pts: &mut [Point<T>]) {
    for (p, q) in pts.iter_mut().zip(q0..q1) {
        *p = point(grid[2 * q], grid[2 * q + 1], geo.w_axis, geo.h_axis);
    }
}

/// A block of output points as a structure of arrays: each corner's offset in the plane (0 where
/// the corner lies outside, so that every read is in range), whether it lies inside, and its
/// weight. Worked out in a loop the compiler vectorises (a point at a time it was about 40
/// scalar instructions, the forward's whole cost on images of 3 channels).
struct Corners<T> {
    /// 32-bit, so that a vector gathers 16 float32 values rather than 8 (`forward` leaves
    /// planes of 2^32 values or more to the composed form).
    at: [[u32; CHUNK]; 4],
    inside: [[bool; CHUNK]; 4],
    weight: [[T; CHUNK]; 4],
}

impl<T: Float> Corners<T> {
    fn new() -> Box<Corners<T>> {
        Box::new(Corners { at: [[0; CHUNK]; 4], inside: [[false; CHUNK]; 4], weight: [[T::zero(); CHUNK]; 4] })
    }

    /// Points q0..q1 of an image's grid (x, y pairs), as `point` works them out.
    #[inline(always)]
    fn fill(&mut self, geo: &Geometry, grid: &[T], q0: usize, q1: usize) {
        let grid = &grid[2 * q0..2 * q1];
        for (i, xy) in grid.chunks_exact(2).enumerate() {
            let p = point(xy[0], xy[1], geo.w_axis, geo.h_axis);
            for k in 0..4 {
                self.at[k][i] = if p.inside[k] { p.at[k] as u32 } else { 0 };
                self.inside[k][i] = p.inside[k];
                self.weight[k][i] = p.weight[k];
            }
        }
    }

    /// One plane's samples at the first `out.len()` points, PyTorch's sum: nw, ne, sw, se in
    /// turn, a corner outside adding 0 (not 0 times what lies at offset 0).
    #[inline(always)]
    fn sample(&self, plane: &[T], out: &mut [T]) {
        assert!(out.len() <= CHUNK);
        if plane.is_empty() {
            // No pixel: every corner lies outside.
            return out.fill(T::zero());
        }
        for (i, o) in out.iter_mut().enumerate() {
            let mut v = T::zero();
            for k in 0..4 {
                // SAFETY: `fill` made every offset a valid one of this plane (inside, or 0).
                let read = unsafe { *plane.get_unchecked(self.at[k][i] as usize) };
                let term = if self.inside[k][i] { read } else { T::zero() } * self.weight[k][i];
                v = if k == 0 { term } else { v + term };
            }
            *o = v;
        }
    }
}

/// One task of the forward: points q0..q1 of image `img` for every channel, written into `out`
/// (N, C, P): the block's corners first, then each channel's plane over them. Compiled for
/// AVX2 + FMA too: the fused multiply-add and floor are instructions there, libm calls in the
/// baseline copy (which then took 5x PyTorch's time on 3 channels).
#[inline(always)]
fn forward_task_body<T: Float, const FMA: bool>(geo: &Geometry, x: &[T], grid: &[T], task: (usize, usize, usize), out: DisjointPtr<T>, table: &mut Corners<T>) {
    let (img, q0, q1) = task;
    table.fill(geo, &grid[img * geo.points * 2..], q0, q1);
    for ch in 0..geo.c {
        let pl = img * geo.c + ch;
        // SAFETY: out holds N * C * P values; (pl, q0..q1) is this task's (its image's points).
        let dst = unsafe { std::slice::from_raw_parts_mut(out.get().add(pl * geo.points + q0), q1 - q0) };
        table.sample(&x[pl * geo.plane..(pl + 1) * geo.plane], dst);
    }
}

crate::multiversion!(forward_task_body, forward_task_avx2, forward_task, Float, (geo: &Geometry, x: &[T], grid: &[T], task: (usize, usize, usize), out: DisjointPtr<T>, table: &mut Corners<T>) -> ());

/// The backward of one image: the input's gradient (its planes) and the grid's (its points),
/// chunk by chunk of points, channels in order for each (PyTorch's order of both sums).
#[inline(always)]
fn backward_image_body<T: Float, const FMA: bool>(geo: &Geometry, x: &[T], grid: &[T], g: &[T], img: usize, gx: Option<DisjointPtr<T>>, gg: Option<DisjointPtr<T>>) {
    let (c, plane, np) = (geo.c, geo.plane, geo.points);
    let mut pts = [Point::default(); CHUNK];
    let mut acc = [(T::zero(), T::zero()); CHUNK];
    for q0 in (0..np).step_by(CHUNK) {
        let q1 = (q0 + CHUNK).min(np);
        let pts = &mut pts[..q1 - q0];
        let acc = &mut acc[..q1 - q0];
        points_of(geo, &grid[img * np * 2..], q0, q1, pts);
        acc.fill((T::zero(), T::zero()));
        for ch in 0..c {
            let pl = img * c + ch;
            let src = &x[pl * plane..(pl + 1) * plane];
            let gout = &g[pl * np + q0..pl * np + q1];
            if let Some(gx) = gx {
                for (p, &go) in pts.iter().zip(gout) {
                    for k in 0..4 {
                        if p.inside[k] {
                            // SAFETY: gx holds N * C * H * W values; plane pl is this image's.
                            unsafe { *gx.get().add(pl * plane + p.at[k]) += p.weight[k] * go };
                        }
                    }
                }
            }
            if gg.is_some() {
                for ((p, &go), a) in pts.iter().zip(gout).zip(acc.iter_mut()) {
                    let (nw, ne, sw, se) = (read(src, p, 0), read(src, p, 1), read(src, p, 2), read(src, p, 3));
                    let [e, w, s, n] = p.frac;
                    a.0 += ((ne - nw) * s + (se - sw) * n) * go;
                    a.1 += ((sw - nw) * e + (se - ne) * w) * go;
                }
            }
        }
        if let Some(gg) = gg {
            for ((q, p), a) in (q0..q1).zip(pts.iter()).zip(acc.iter()) {
                let r = img * np + q;
                // SAFETY: gg holds N * P * 2 values; point r is this image's.
                unsafe {
                    *gg.get().add(2 * r) = a.0 * p.mult[0];
                    *gg.get().add(2 * r + 1) = a.1 * p.mult[1];
                }
            }
        }
    }
}

crate::multiversion!(backward_image_body, backward_image_avx2, backward_image, Float, (geo: &Geometry, x: &[T], grid: &[T], g: &[T], img: usize, gx: Option<DisjointPtr<T>>, gg: Option<DisjointPtr<T>>) -> ());

/// The bilinear samples (N, C, Ho, Wo), or None when a grid coordinate is too large to
/// unnormalise (not finite). No autograd: the caller records.
pub fn forward(input: &Tensor, grid: &Tensor, padding: Padding, align_corners: bool, out_hw: [usize; 2]) -> Result<Option<Tensor>> {
    let geo = Geometry::new(input, grid, padding, align_corners)?;
    with_float!(input.dtype(), "grid_sample", T => Tensor::with_slices::<T, _>(&[input, grid], |s| {
        let (x, gr) = (s[0], s[1]);
        if !geo.moderate(gr) || geo.plane > u32::MAX as usize {
            return Ok(None);
        }
        let total = geo.n * geo.c * geo.points;
        let mut out: Vec<T> = crate::tensor::alloc::with_capacity(total);
        let dst = DisjointPtr(out.as_mut_ptr());
        let tasks: Vec<_> = geo.chunks().collect();
        // One table of points per thread, kept from task to task (a fresh one per task was a
        // 22 KB fill each time: a third of the forward on images of 3 channels).
        let table = Corners::<T>::new;
        let run = |t: usize, table: &mut Box<Corners<T>>| forward_task(&geo, x, gr, tasks[t], dst, table);
        if total > GRAIN && tasks.len() > 1 {
            crate::parallel::for_each_claimed(tasks.len(), &table, &run);
        } else {
            let mut one = table();
            (0..tasks.len()).for_each(|t| run(t, &mut one));
        }
        // SAFETY: the tasks cover every (image, point) and write it for every channel.
        unsafe { out.set_len(total) };
        Ok(Some(Tensor::from_vec_unchecked(out, &[geo.n, geo.c, out_hw[0], out_hw[1]])))
    }))
}

/// The gradients of `forward` for the input and for the grid, each when asked for, from the
/// incoming gradient `g` (N, C, Ho, Wo); images in parallel (as PyTorch's). None as `forward`.
pub fn backward(g: &Tensor, input: &Tensor, grid: &Tensor, padding: Padding, align_corners: bool, needs: [bool; 2]) -> Result<Option<(Option<Tensor>, Option<Tensor>)>> {
    let geo = Geometry::new(input, grid, padding, align_corners)?;
    let g = crate::ops::cast::to_dtype(g, input.dtype())?;
    with_float!(input.dtype(), "grid_sample backward", T => Tensor::with_slices::<T, _>(&[input, grid, &g], |s| {
        let (x, gr, gv) = (s[0], s[1], s[2]);
        if !geo.moderate(gr) {
            return Ok(None);
        }
        let mut gx = needs[0].then(|| crate::tensor::alloc::filled(geo.n * geo.c * geo.plane, T::zero()));
        let mut gg = needs[1].then(|| crate::tensor::alloc::filled(geo.n * geo.points * 2, T::zero()));
        let (px, pg) = (gx.as_mut().map(|v| DisjointPtr(v.as_mut_ptr())), gg.as_mut().map(|v| DisjointPtr(v.as_mut_ptr())));
        let run = |img: usize| backward_image(&geo, x, gr, gv, img, px, pg);
        if geo.n > 1 && gv.len() > GRAIN { for_each_part(geo.n, &run) } else { (0..geo.n).for_each(run) }
        Ok(Some((gx.map(|v| Tensor::from_vec_unchecked(v, input.shape())), gg.map(|v| Tensor::from_vec_unchecked(v, grid.shape())))))
    }))
}
