//! Unfolding images into column matrices (im2col) for convolution, and its adjoint (col2im).
//!
//! Row ((c * kD + t) * kH + i) * kW + j of an image's column matrix holds, for every output
//! position (oz, oy, ox), the input value under kernel tap (t, i, j) of channel c: input depth
//! oz * sD + t * dD - pD, row oy * sH + i * dH - pH, column ox * sW + j * dW - pW, or zero where
//! that lies in the padding. 2-D and 1-D geometries have depth 1 (and height 1), so their rows
//! are one (oH, oW) plane each.

use std::mem::MaybeUninit;

use super::conv::Geom;
use crate::tensor::Float;

/// Output positions `o` in [lo, hi) whose input position o*stride + offset - pad lies in [0, size).
pub(super) fn valid_range(offset: usize, pad: usize, stride: usize, size: usize, out: usize) -> (usize, usize) {
    let lo = if offset >= pad { 0 } else { (pad - offset).div_ceil(stride) };
    let hi = if size + pad <= offset { 0 } else { ((size + pad - offset - 1) / stride + 1).min(out) };
    (lo.min(hi), hi)
}

/// `dst.copy_from_slice(src)` for the short runs of small maps. A run of 8 values is one
/// fixed-size copy; one of 4 to 16 two, the second ending at the run's end (overlapping the
/// first). A loop of fixed-size copies is turned into a memcpy call by the
/// compiler: at 8 x 8 maps that call per output row was half of the unfolding's time (a
/// seventh of a Conv3d train step on 8^3 volumes). Longer runs take the call.
#[inline(always)]
fn copy_run<T: Copy>(dst: &mut [T], src: &[T]) {
    #[inline(always)]
    fn two<T: Copy, const K: usize>(dst: &mut [T], src: &[T]) {
        let n = dst.len();
        let (head, tail) = (src[..K].as_chunks::<K>().0[0], src[n - K..n].as_chunks::<K>().0[0]);
        dst[..K].as_chunks_mut::<K>().0[0] = head;
        dst[n - K..].as_chunks_mut::<K>().0[0] = tail;
    }
    match dst.len() {
        8 => dst.as_chunks_mut::<8>().0[0] = src[..8].as_chunks::<8>().0[0],
        9..=16 => two::<T, 8>(dst, src),
        4..=7 => two::<T, 4>(dst, src),
        _ => dst.copy_from_slice(&src[..dst.len()]),
    }
}

fn fill<T: Copy>(s: &mut [MaybeUninit<T>], v: T) {
    s.iter_mut().for_each(|x| {
        x.write(v);
    });
}

/// Unfolds one (C, D, H, W) image into its (C*kD*kH*kW, oD*oH*oW) column matrix, writing every
/// element.
pub(super) fn im2col<T: Float>(x: &[T], g: &Geom, cols: &mut [MaybeUninit<T>]) {
    let l = g.len();
    if l == 0 {
        return;
    }
    if PaddedGather::applies(g) {
        let gather = PaddedGather::new(g);
        let mut scratch = gather.scratch();
        for (c, rows) in cols.chunks_mut(g.taps() * l).take(g.c).enumerate() {
            gather.unfold_channel(&x[c * g.volume()..][..g.volume()], g, &mut scratch, rows, l);
        }
        return;
    }
    let taps = Taps::new(g);
    for (r, row) in cols.chunks_mut(l).take(g.rows()).enumerate() {
        taps.unfold_row(x, g, r, row);
    }
}

/// `PaddedGather`'s padded volume at most this many times the values its rows read.
const MAX_PADDED_PER_READ: usize = 4;

/// Unfolding a channel at a time: the channel's volume is copied once into a zero-bordered
/// scratch volume, and each of its kD*kH*kW rows is then read through one table of output
/// positions, moved by the tap's offset, a whole output row at a time. `unfold_row` (per tap,
/// the range checks and zero fills of the borders) spent its time on those checks at small
/// maps: at 4 x 4 about 18 ns a row for 16 values, a twelfth of a ResNet stage's step.
///
/// Each padded row is stored split by phase under the width stride s: padded column x at
/// (x % s) * ceil(W' / s) + x / s. A tap then reads every output row as one contiguous run of
/// its phase at any stride, where a stride-2 row was gathered an element at a time (a seventh of
/// a stride-2 3x3 Conv2d's train step on 16 x 16 outputs).
///
/// It once stopped at 600 output positions, past which `unfold_row`'s long copies won; with
/// whole rows copied and added (`fold_channel`) it is at least as fast at every size measured.
/// Train step at 1 thread: the 7x7 stride-2 stem on 16 x 3 x 64 x 64 9.3 -> 8.6 ms, 16 to 32
/// channels 3x3 on 8 x 64 x 64 with the input's gradient 14.3 -> 13.3, Conv3d 1 to 8 channels
/// on 16^3 1.17 -> 1.09; 5x5 on 40 x 40, 28 x 28 and Conv1d over 1024 unchanged.
pub(super) struct PaddedGather {
    /// Each output position's offset in the padded volume, at tap (0, 0, 0).
    positions: Vec<usize>,
    /// Each tap's offset in the padded volume, in row order (kz, ki, kj).
    shifts: Vec<usize>,
    /// The padded volume's height, its phase-split row length and one phase's length.
    padded: [usize; 3],
    len: usize,
}

impl PaddedGather {
    /// Whether `g` has outputs and a padded volume not much larger than what its rows read (a
    /// large stride or dilation over a large input would copy mostly unread values).
    pub(super) fn applies(g: &Geom) -> bool {
        // Checked: a huge padding or stride would wrap the product round to a small number.
        let padded = Self::extents(g).iter().try_fold(1usize, |a, &e| a.checked_mul(e));
        g.len() > 0 && padded.is_some_and(|p| p <= MAX_PADDED_PER_READ * g.taps() * g.len())
    }

    /// The padded volume's depth, height and width: the input with its leading padding, up to
    /// the last tap read ('same' padding with an even kernel pads one more at the end).
    fn extents(g: &Geom) -> [usize; 3] {
        let end = |size: usize, pad: usize, out: usize, s: usize, k: usize, dil: usize| (size + pad).max((out - 1) * s + (k - 1) * dil + 1);
        [end(g.d, g.pd, g.od, g.sd, g.kd, g.dd), end(g.h, g.ph, g.oh, g.sh, g.kh, g.dh), end(g.w, g.pw, g.ow, g.sw, g.kw, g.dw)]
    }

    pub(super) fn new(g: &Geom) -> PaddedGather {
        let [ed, eh, ew] = Self::extents(g);
        let phase = ew.div_ceil(g.sw);
        let row = phase * g.sw;
        let mut positions = Vec::with_capacity(g.len());
        for oz in 0..g.od {
            for oy in 0..g.oh {
                positions.extend((0..g.ow).map(|ox| ((oz * g.sd) * eh + oy * g.sh) * row + ox));
            }
        }
        let mut shifts = Vec::with_capacity(g.taps());
        for kz in 0..g.kd {
            for ki in 0..g.kh {
                shifts.extend((0..g.kw).map(|kj| ((kz * g.dd) * eh + ki * g.dh) * row + (kj * g.dw) % g.sw * phase + kj * g.dw / g.sw));
            }
        }
        PaddedGather { positions, shifts, padded: [eh, row, phase], len: ed * eh * row }
    }

    /// A scratch volume for `unfold_channel`, its border zero (only the interior is rewritten).
    pub(super) fn scratch<T: Float>(&self) -> Vec<T> {
        vec![T::from_f64(0.0); self.len]
    }

    /// Where input row (z, y) of a channel starts inside the padded volume (its first padded
    /// column, which holds the leading padding).
    fn padded_row(&self, g: &Geom, z: usize, y: usize) -> usize {
        let [eh, row, _] = self.padded;
        ((z + g.pd) * eh + y + g.ph) * row
    }

    /// For each phase of the width stride: the first input column of that phase and where it
    /// goes within the padded row (see the type's docs). Columns x, x + s, x + 2s, ... follow it
    /// contiguously.
    fn phases(&self, g: &Geom) -> impl Iterator<Item = (usize, usize)> {
        let (s, phase, pw) = (g.sw, self.padded[2], g.pw);
        (0..s).map(move |p| {
            let x0 = (p + s - pw % s) % s;
            (x0, p * phase + (x0 + pw) / s)
        })
    }

    /// The kD*kH*kW rows of one channel's `volume`, row t written to out[t * stride..][..L].
    pub(super) fn unfold_channel<T: Float>(&self, volume: &[T], g: &Geom, scratch: &mut [T], out: &mut [MaybeUninit<T>], stride: usize) {
        self.load_channel(volume, g, scratch);
        for t in 0..self.shifts.len() {
            self.unfold_tap(scratch, t, g, &mut out[t * stride..][..self.positions.len()]);
        }
    }

    /// Copies one channel's `volume` into the interior of `scratch` (from `scratch()`).
    pub(super) fn load_channel<T: Float>(&self, volume: &[T], g: &Geom, scratch: &mut [T]) {
        for z in 0..g.d {
            for y in 0..g.h {
                let (at, src) = (self.padded_row(g, z, y), &volume[(z * g.h + y) * g.w..][..g.w]);
                if g.sw == 1 {
                    copy_run(&mut scratch[at + g.pw..][..g.w], src);
                } else {
                    for (x0, to) in self.phases(g) {
                        if x0 >= g.w {
                            // A phase past the row's end (stride above the width): no values.
                            continue;
                        }
                        let dst = &mut scratch[at + to..];
                        if g.sw == 2 {
                            // First of each pair, as `unfold_plane`: this form vectorises.
                            let pairs = src[x0..].as_chunks::<2>();
                            for (d, p) in dst.iter_mut().zip(pairs.0) {
                                *d = p[0];
                            }
                            if let [last] = pairs.1 {
                                dst[pairs.0.len()] = *last;
                            }
                        } else {
                            for (d, &v) in dst.iter_mut().zip(src[x0..].iter().step_by(g.sw)) {
                                *d = v;
                            }
                        }
                    }
                }
            }
        }
    }

    /// Row t (a tap) of the channel loaded in `scratch`, all L of it.
    pub(super) fn unfold_tap<T: Float>(&self, scratch: &[T], t: usize, g: &Geom, row: &mut [MaybeUninit<T>]) {
        let (src, ow) = (&scratch[self.shifts[t]..], g.ow);
        if ow >= 4 {
            // Each output row is a contiguous run of the padded volume: copied whole.
            for (dst, &p) in row.chunks_exact_mut(ow).zip(self.positions.iter().step_by(ow)) {
                // SAFETY: MaybeUninit<T> has T's layout; the run is only written.
                copy_run(unsafe { &mut *(dst as *mut [MaybeUninit<T>] as *mut [T]) }, &src[p..p + ow]);
            }
        } else {
            for (o, &p) in row.iter_mut().zip(&self.positions) {
                o.write(src[p]);
            }
        }
    }

    /// The adjoint of `unfold_channel`: adds row t of `cols` (at cols[t * stride..][..L]) onto
    /// the positions it was read from, taps in row order as `col2im`, into one channel's `volume`.
    pub(super) fn fold_channel<T: Float>(&self, cols: &[T], stride: usize, g: &Geom, scratch: &mut [T], volume: &mut [T]) {
        scratch.fill(T::from_f64(0.0));
        let ow = g.ow;
        for (t, &shift) in self.shifts.iter().enumerate() {
            let (dst, row) = (&mut scratch[shift..], &cols[t * stride..][..self.positions.len()]);
            if ow >= 4 {
                // Whole output rows at once, as `unfold_tap` reads them: within one tap no two
                // outputs share a position, so each element still takes its taps in order.
                for (src, &p) in row.chunks_exact(ow).zip(self.positions.iter().step_by(ow)) {
                    for (d, &v) in dst[p..p + ow].iter_mut().zip(src) {
                        *d += v;
                    }
                }
            } else {
                for (&v, &p) in row.iter().zip(&self.positions) {
                    dst[p] += v;
                }
            }
        }
        for z in 0..g.d {
            for y in 0..g.h {
                let at = self.padded_row(g, z, y);
                let dst = &mut volume[(z * g.h + y) * g.w..][..g.w];
                if g.sw == 1 {
                    for (d, &v) in dst.iter_mut().zip(&scratch[at + g.pw..at + g.pw + g.w]) {
                        *d += v;
                    }
                } else {
                    for (x0, from) in self.phases(g).filter(|&(x0, _)| x0 < g.w) {
                        for (d, &v) in dst[x0..].iter_mut().step_by(g.sw).zip(&scratch[at + from..]) {
                            *d += v;
                        }
                    }
                }
            }
        }
    }
}

/// Every kernel tap of a geometry with the output ranges that read inside the input, computed
/// once per image rather than once per row: the same kD*kH*kW taps recur for every channel,
/// and at small spatial sizes (ResNet's later stages) the divisions cost more than the copies.
pub(super) struct Taps {
    /// (the in-plane tap, the output depths [dlo, dhi) inside the input), by (kz, ki, kj).
    taps: Vec<(Tap, usize, usize)>,
}

impl Taps {
    pub(super) fn new(g: &Geom) -> Taps {
        let mut taps = Vec::with_capacity(g.taps());
        for kz in 0..g.kd {
            let (dlo, dhi) = valid_range(kz * g.dd, g.pd, g.sd, g.d, g.od);
            for ki in 0..g.kh {
                for kj in 0..g.kw {
                    taps.push((Tap::new(g, ki, kj), dlo, dhi));
                }
            }
        }
        Taps { taps }
    }

    /// Row `r` of one image's column matrix (see the module docs), all oD*oH*oW of it.
    pub(super) fn unfold_row<T: Float>(&self, x: &[T], g: &Geom, r: usize, row: &mut [MaybeUninit<T>]) {
        let (plane, out_plane, zero) = (g.h * g.w, g.oh * g.ow, T::from_f64(0.0));
        let (t, c) = (r % g.taps(), r / g.taps());
        let (tap, dlo, dhi) = &self.taps[t];
        let kz = t / (g.kh * g.kw);
        let volume = &x[c * g.volume()..(c + 1) * g.volume()];
        for (oz, block) in row.chunks_mut(out_plane.max(1)).enumerate() {
            if oz < *dlo || oz >= *dhi {
                fill(block, zero);
            } else {
                let iz = oz * g.sd + kz * g.dd - g.pd;
                unfold_plane(&volume[iz * plane..(iz + 1) * plane], g, tap, block);
            }
        }
    }
}

/// One in-plane kernel tap (ki, kj): the output rows [hlo, hhi) and columns [wlo, whi) that
/// read inside the input plane.
struct Tap {
    ki: usize,
    kj: usize,
    hlo: usize,
    hhi: usize,
    wlo: usize,
    whi: usize,
}

impl Tap {
    fn new(g: &Geom, ki: usize, kj: usize) -> Tap {
        let (hlo, hhi) = valid_range(ki * g.dh, g.ph, g.sh, g.h, g.oh);
        let (wlo, whi) = valid_range(kj * g.dw, g.pw, g.sw, g.w, g.ow);
        Tap { ki, kj, hlo, hhi, wlo, whi }
    }
}

/// One (oH, oW) block of a column row: one tap of an (H, W) input plane.
fn unfold_plane<T: Float>(plane: &[T], g: &Geom, tap: &Tap, row: &mut [MaybeUninit<T>]) {
    let zero = T::from_f64(0.0);
    let &Tap { ki, kj, hlo, hhi, wlo, whi } = tap;
    if g.sh == 1 && g.sw == 1 && g.ow == g.w && hlo < hhi && wlo < whi {
        // Output rows as wide as input rows ('same' padding, and every 1-D convolution's one
        // row): the valid block is one contiguous run of the plane, shifted; one long copy
        // instead of a short one per output row, then the positions that wrapped across rows
        // are zeroed.
        let shift = (hlo + ki * g.dh - g.ph) * g.w + kj * g.dw;
        let (start, end) = (hlo * g.ow, hhi * g.ow);
        fill(&mut row[..start], zero);
        fill(&mut row[end..], zero);
        if shift >= g.pw {
            let src = &plane[shift - g.pw..];
            for (v, &s) in row[start..end].iter_mut().zip(src) {
                v.write(s);
            }
            // The run may end past the plane: those positions are wrapped ones.
            let copied = (end - start).min(src.len());
            fill(&mut row[start + copied..end], zero);
        } else {
            fill(&mut row[start..start + g.pw - shift], zero);
            for (v, &s) in row[start + g.pw - shift..end].iter_mut().zip(plane) {
                v.write(s);
            }
        }
        for out in row[start..end].chunks_mut(g.ow) {
            fill(&mut out[..wlo], zero);
            fill(&mut out[whi..], zero);
        }
        return;
    }
    for (oy, out) in row.chunks_mut(g.ow.max(1)).enumerate() {
        if oy < hlo || oy >= hhi {
            fill(out, zero);
            continue;
        }
        let src = &plane[(oy * g.sh + ki * g.dh - g.ph) * g.w..][..g.w];
        fill(&mut out[..wlo], zero);
        fill(&mut out[whi..], zero);
        if wlo < whi {
            let start = wlo * g.sw + kj * g.dw - g.pw;
            if g.sw == 1 {
                for (v, &s) in out[wlo..whi].iter_mut().zip(&src[start..start + whi - wlo]) {
                    v.write(s);
                }
            } else if g.sw == 2 {
                // Every other element as the first of each pair: this form vectorises (two loads
                // and a shuffle per eight), where `step_by` ran one element at a time (a fifth of
                // ResNet's stride-2 stem convolution).
                let n = whi - wlo;
                let pairs = src[start..].as_chunks::<2>().0;
                let full = pairs.len().min(n);
                for (v, p) in out[wlo..wlo + full].iter_mut().zip(pairs) {
                    v.write(p[0]);
                }
                if full < n {
                    // The last one, whose pair would run past the row.
                    out[wlo + full].write(src[start + 2 * full]);
                }
            } else {
                // Strided without an index per element (which kept a bounds check in the loop).
                for (v, &s) in out[wlo..whi].iter_mut().zip(src[start..].iter().step_by(g.sw)) {
                    v.write(s);
                }
            }
        }
    }
}

/// The adjoint of im2col: adds each column entry back onto the input position it came from.
/// Every caller passes a zeroed `x`; on small outputs the sums are formed in a scratch volume
/// and then added, which is the same bits only from zero.
pub(super) fn col2im<T: Float>(cols: &[T], g: &Geom, x: &mut [T]) {
    col2im_strided(cols, g.len(), g, x);
}

/// `col2im` of a column matrix whose rows start `stride` elements apart: one image's block of
/// the whole batch's columns side by side (`conv_batched`), read where it lies.
pub(super) fn col2im_strided<T: Float>(cols: &[T], stride: usize, g: &Geom, x: &mut [T]) {
    if PaddedGather::applies(g) {
        let gather = PaddedGather::new(g);
        let mut scratch = gather.scratch();
        for c in 0..g.c {
            let volume = &mut x[c * g.volume()..(c + 1) * g.volume()];
            gather.fold_channel(&cols[c * g.taps() * stride..], stride, g, &mut scratch, volume);
        }
        return;
    }
    let (l, plane, out_plane) = (g.len(), g.h * g.w, g.oh * g.ow);
    let taps = Taps::new(g);
    for c in 0..g.c {
        let volume = &mut x[c * g.volume()..(c + 1) * g.volume()];
        for (t, (tap, dlo, dhi)) in taps.taps.iter().enumerate() {
            let row = &cols[(c * g.taps() + t) * stride..][..l];
            let kz = t / (g.kh * g.kw);
            for oz in *dlo..*dhi {
                let iz = oz * g.sd + kz * g.dd - g.pd;
                fold_plane(&row[oz * out_plane..(oz + 1) * out_plane], g, tap, &mut volume[iz * plane..(iz + 1) * plane]);
            }
        }
    }
}

/// The adjoint of `unfold_plane`.
fn fold_plane<T: Float>(block: &[T], g: &Geom, tap: &Tap, plane: &mut [T]) {
    let &Tap { ki, kj, hlo, hhi, wlo, whi } = tap;
    if wlo >= whi {
        return;
    }
    let start = wlo * g.sw + kj * g.dw - g.pw;
    for oy in hlo..hhi {
        let dst = &mut plane[(oy * g.sh + ki * g.dh - g.ph) * g.w..][..g.w];
        let src = &block[oy * g.ow..][..g.ow];
        if g.sw == 1 {
            for (d, &v) in dst[start..start + whi - wlo].iter_mut().zip(&src[wlo..whi]) {
                *d += v;
            }
        } else {
            for (d, &v) in dst[start..].iter_mut().step_by(g.sw).zip(&src[wlo..whi]) {
                *d += v;
            }
        }
    }
}
