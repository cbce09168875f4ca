//! Dilated float32 3x3 convolutions of stride 1 as undilated ones over phases ("space to
//! batch", as TensorFlow runs atrous convolutions), so that they take Winograd's F(2x2, 3x3).
//!
//! Along an axis of dilation d and leading padding p = d*a + e (e = p mod d), output y = d*Y + r
//! reads the inputs y + d*i - p for taps i < k, that is x[d*(Y + i - a) + r - e]: all of them in
//! one phase of the input shifted by e (the positions congruent to r modulo d). So output phase r
//! is an undilated convolution of input phase r, padded by a. The shifted input is cut into its
//! d_h * d_w phases, stacked along the batch: one undilated convolution of N * d_h * d_w images
//! of ceil((h + e) / d) rows computes every output phase, ceil(oh / d) rows each, and the output
//! is interleaved back from them (rows past oh dropped).
//!
//! Backward is the same decomposition: the output gradient is cut into phases (zero past oh,
//! where the outputs were dropped), the phase convolution's input gradient interleaved back into
//! the input's, and its weight gradient, summed over all the phase images, is the dilated one.
//!
//! im2col multiplies every tap: a 64-channel 3x3 convolution at dilation 2 on 32 x 32 maps spent
//! 62% of its train step in the gemm kernel, at the CPU's FMA rate, where Winograd does a 2.25th
//! of the products. Cutting and interleaving are copies of the input and the output.

use std::mem::MaybeUninit;

use crate::ops::kernel::build;
use crate::tensor::Float;

use super::conv::Geom;
use super::winograd;

/// One axis of the decomposition: a tensor axis of `len` positions, shifted by `shift` zeros in
/// front, cut into `d` phases of `phase_len` positions each (the last ones may lie past the end).
#[derive(Clone, Copy, Debug)]
struct Axis {
    len: usize,
    d: usize,
    shift: usize,
    phase_len: usize,
}

impl Axis {
    /// The entries of phase `r` inside the axis, `lo..hi`, and where the first of them is in it
    /// (entry j at d*j + r - shift; the axis's end for a phase wholly outside it).
    fn inside(&self, r: usize) -> (usize, usize, usize) {
        let hi = (self.len + self.shift).saturating_sub(r).div_ceil(self.d).min(self.phase_len);
        let lo = self.shift.saturating_sub(r).div_ceil(self.d).min(hi);
        (lo, hi, (self.d * lo + r).saturating_sub(self.shift).min(self.len))
    }
}

/// The input's and the output's axes, and the undilated convolution over the phases.
struct Phases {
    input: [Axis; 2],
    output: [Axis; 2],
    geom: Geom,
}

impl Phases {
    fn new(g: &Geom) -> Phases {
        let axis = |len: usize, d: usize, p: usize, out: usize| {
            let e = p % d;
            (Axis { len, d, shift: e, phase_len: (len + e).div_ceil(d) }, Axis { len: out, d, shift: 0, phase_len: out.div_ceil(d) }, p / d)
        };
        let (ih, oh, ph) = axis(g.h, g.dh, g.ph, g.oh);
        let (iw, ow, pw) = axis(g.w, g.dw, g.pw, g.ow);
        let geom = Geom { n: g.n * g.dh * g.dw, h: ih.phase_len, w: iw.phase_len, oh: oh.phase_len, ow: ow.phase_len, ph, pw, dh: 1, dw: 1, ..*g };
        Phases { input: [ih, iw], output: [oh, ow], geom }
    }
}

/// Whether `g` runs here: a 2-D float32 convolution of stride 1 dilated along a spatial axis,
/// of at least 64 channels in and out, whose phase convolution takes Winograd without computing
/// much more than the outputs asked for (each phase ceil(oh / d) rows, in 2 x 2 tiles). Against
/// im2col, train steps (forward and both gradients, 2 threads): 64 channels at 32 x 32 and
/// dilation 2, 0.77; 256 at 33 x 33 and 6 (19% more outputs), 0.85; but 128 at 28 x 28 and 4
/// (31% more, on 7 x 7 phases), 1.1, and 32 channels at 17 x 17 and 3, 1.5.
pub(super) fn applies<T: Float>(g: &Geom) -> bool {
    if (g.dh, g.dw) == (1, 1) || (g.d, g.kd, g.od) != (1, 1, 1) || (g.sh, g.sw) != (1, 1) || g.c.min(g.o) < 64 || g.len() == 0 {
        return false;
    }
    let p = Phases::new(g);
    let computed = g.dh * p.geom.oh.div_ceil(2) * 2 * g.dw * p.geom.ow.div_ceil(2) * 2;
    4 * computed <= 5 * g.oh * g.ow && winograd::applies::<T>(&p.geom)
}

/// The phases of `planes` planes shaped by `axes`: (d_h, d_w, planes, phase rows, phase columns),
/// zero where a phase lies outside the planes.
fn to_phases<T: Float>(src: &[T], planes: usize, [ah, aw]: [Axis; 2]) -> Vec<T> {
    let (rows, cols) = (ah.phase_len, aw.phase_len);
    let (size, plane_len) = (rows * cols, ah.len * aw.len);
    build(ah.d * aw.d * planes * size, size * planes_per_chunk(size), |start, chunk| {
        for (k, out) in chunk.chunks_exact_mut(size).enumerate() {
            let (phase, plane) = ((start / size + k) / planes, (start / size + k) % planes);
            let ((lo_h, hi_h, y), (lo, hi, x)) = (ah.inside(phase / aw.d), aw.inside(phase % aw.d));
            let (inside, after) = out.split_at_mut(hi_h * cols);
            let (before, inside) = inside.split_at_mut(lo_h * cols);
            before.fill(MaybeUninit::new(T::zero()));
            after.fill(MaybeUninit::new(T::zero()));
            let lines = src[plane * plane_len + y * aw.len..].chunks(ah.d * aw.len);
            for (row, line) in inside.chunks_exact_mut(cols).zip(lines) {
                row[..lo].fill(MaybeUninit::new(T::zero()));
                every_dth(&mut row[lo..hi], &line[x..aw.len], aw.d);
                row[hi..].fill(MaybeUninit::new(T::zero()));
            }
        }
    })
}

/// dst[i] = src[d * i].
fn every_dth<T: Copy>(dst: &mut [MaybeUninit<T>], src: &[T], d: usize) {
    match d {
        1 => dst.iter_mut().zip(src).for_each(|(o, &v)| _ = o.write(v)),
        // Pairs, so that the loop vectorises (a deinterleave).
        2 => {
            let pairs = src.chunks_exact(2);
            let n = pairs.len().min(dst.len());
            dst.iter_mut().zip(pairs).for_each(|(o, p)| _ = o.write(p[0]));
            dst[n..].iter_mut().zip(src[2 * n..].iter().step_by(2)).for_each(|(o, &v)| _ = o.write(v));
        }
        _ => dst.iter_mut().zip(src.iter().step_by(d)).for_each(|(o, &v)| _ = o.write(v)),
    }
}

/// The inverse of `to_phases`: `planes` planes shaped by `axes`, each position read from its
/// phase (what lies past the planes dropped).
fn from_phases<T: Float>(src: &[T], planes: usize, [ah, aw]: [Axis; 2]) -> Vec<T> {
    let (size, plane_len) = (ah.phase_len * aw.phase_len, ah.len * aw.len);
    build(planes * plane_len, plane_len * planes_per_chunk(plane_len), |start, chunk| {
        for (k, out) in chunk.chunks_exact_mut(plane_len).enumerate() {
            let plane = start / plane_len + k;
            // Each position of the plane is in exactly one phase's lo..hi along each axis.
            for rh in 0..ah.d {
                let (lo_h, hi_h, y) = ah.inside(rh);
                for rw in 0..aw.d {
                    let phase = &src[((rh * aw.d + rw) * planes + plane) * size..][..size];
                    let (lo, hi, x) = aw.inside(rw);
                    let lines = out[y * aw.len..].chunks_mut(ah.d * aw.len);
                    for (line, row) in lines.zip(phase[lo_h * aw.phase_len..hi_h * aw.phase_len].chunks_exact(aw.phase_len)) {
                        line[x..aw.len].iter_mut().step_by(aw.d).zip(&row[lo..hi]).for_each(|(o, &v)| _ = o.write(v));
                    }
                }
            }
        }
    })
}

/// Planes per part of a copy: about 16K elements, so that a part is worth handing to a thread.
fn planes_per_chunk(len: usize) -> usize {
    (16384 / len.max(1)).max(1)
}

/// conv(x, w) (+ bias), (N, O, oh, ow), for a geometry `applies` accepted.
pub(super) fn forward<T: Float>(x: &[T], w: &[T], bias: Option<&[T]>, g: &Geom) -> Vec<T> {
    let p = Phases::new(g);
    let out = winograd::forward(&to_phases(x, g.n * g.c, p.input), w, bias, &p.geom);
    from_phases(&out, g.n * g.o, p.output)
}

/// The input and weight gradients (each when its operand is given: the weight for the input's,
/// the input for the weight's) from the output gradient `gout`.
pub(super) fn backward<T: Float>(gout: &[T], w: Option<&[T]>, x: Option<&[T]>, g: &Geom) -> (Option<Vec<T>>, Option<Vec<T>>) {
    let p = Phases::new(g);
    let gq = to_phases(gout, g.n * g.o, p.output);
    let gx = w.map(|w| from_phases(&winograd::grad_input(&gq, w, &p.geom), g.n * g.c, p.input));
    let gw = x.map(|x| winograd::grad_weight(&to_phases(x, g.n * g.c, p.input), &gq, &p.geom));
    (gx, gw)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Phase r's entry j of a shifted axis, by the definition: position d*j + r - shift.
    fn naive(len: usize, d: usize, shift: usize, r: usize, j: usize) -> Option<usize> {
        (d * j + r).checked_sub(shift).filter(|&i| i < len)
    }

    #[test]
    fn phases_match_the_definition_and_interleave_back() {
        // Axes shorter than their dilation (whole phases outside), shifts, one phase.
        for (len, d, shift) in [(7, 2, 1), (5, 3, 0), (2, 3, 2), (1, 4, 3), (6, 1, 0), (9, 3, 2)] {
            let axis = Axis { len, d, shift, phase_len: (len + shift).div_ceil(d) };
            for r in 0..d {
                let (lo, hi, first) = axis.inside(r);
                let want: Vec<usize> = (0..axis.phase_len).filter_map(|j| naive(len, d, shift, r, j)).collect();
                assert_eq!((lo..hi).map(|j| first + (j - lo) * d).collect::<Vec<_>>(), want, "{len} {d} {shift} {r}");
                assert!((lo..hi).all(|j| naive(len, d, shift, r, j).is_some()));
            }
            for other in [Axis { len: 3, d: 1, shift: 0, phase_len: 3 }, Axis { len: 4, d: 2, shift: 1, phase_len: 3 }] {
                let planes = 2;
                let src: Vec<f64> = (0..planes * len * other.len).map(|v| v as f64 + 1.0).collect();
                let ph = to_phases(&src, planes, [axis, other]);
                for (k, &v) in ph.iter().enumerate() {
                    let (jw, jh) = (k % other.phase_len, k / other.phase_len % axis.phase_len);
                    let (plane, phase) = (k / other.phase_len / axis.phase_len % planes, k / other.phase_len / axis.phase_len / planes);
                    let at = naive(len, d, shift, phase / other.d, jh).zip(naive(other.len, other.d, other.shift, phase % other.d, jw));
                    assert_eq!(v, at.map_or(0.0, |(y, x)| src[(plane * len + y) * other.len + x]));
                }
                assert_eq!(from_phases(&ph, planes, [axis, other]), src);
            }
        }
    }
}
