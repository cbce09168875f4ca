//! Unfolding images into column matrices (im2col) for conv2d, and its adjoint (col2im).
//!
//! Row (c * kH + i) * kW + j of an image's column matrix holds, for every output position
//! (oy, ox), the input value under kernel tap (i, j) of channel c: input row
//! oy * sH + i * dH - pH, column ox * sW + j * dW - pW, or zero where that lies in the padding.

use std::mem::MaybeUninit;

use super::conv::Geom;
use crate::tensor::Float;

/// Output positions `o` in [lo, hi) whose input position o*stride + offset - pad lies in [0, size).
pub(super) fn valid_range(offset: usize, pad: usize, stride: usize, size: usize, out: usize) -> (usize, usize) {
    let lo = if offset >= pad { 0 } else { (pad - offset).div_ceil(stride) };
    let hi = if size + pad <= offset { 0 } else { ((size + pad - offset - 1) / stride + 1).min(out) };
    (lo.min(hi), hi)
}

/// Unfolds one (C, H, W) image into its (C*kH*kW, oH*oW) column matrix, writing every element.
pub(super) fn im2col<T: Float>(x: &[T], g: &Geom, cols: &mut [MaybeUninit<T>]) {
    let (l, zero) = (g.len(), T::from_f64(0.0));
    for c in 0..g.c {
        let plane = &x[c * g.h * g.w..(c + 1) * g.h * g.w];
        for ki in 0..g.kh {
            let (hlo, hhi) = valid_range(ki * g.dh, g.ph, g.sh, g.h, g.oh);
            for kj in 0..g.kw {
                let (wlo, whi) = valid_range(kj * g.dw, g.pw, g.sw, g.w, g.ow);
                let row = &mut cols[((c * g.kh + ki) * g.kw + kj) * l..][..l];
                if g.sh == 1 && g.sw == 1 && g.ow == g.w && hlo < hhi && wlo < whi {
                    // Output rows as wide as input rows ('same' padding): the valid block is one
                    // contiguous run of the plane, shifted; one long copy instead of a short one
                    // per output row, then the positions that wrapped across rows are zeroed.
                    let shift = (hlo + ki * g.dh - g.ph) * g.w + kj * g.dw;
                    let (start, end) = (hlo * g.ow, hhi * g.ow);
                    row[..start].iter_mut().for_each(|v| { v.write(zero); });
                    row[end..].iter_mut().for_each(|v| { v.write(zero); });
                    if shift >= g.pw {
                        let src = &plane[shift - g.pw..];
                        for (v, &s) in row[start..end].iter_mut().zip(src) {
                            v.write(s);
                        }
                        // The run may end past the plane: those positions are wrapped ones.
                        let copied = (end - start).min(src.len());
                        row[start + copied..end].iter_mut().for_each(|v| { v.write(zero); });
                    } else {
                        row[start..start + g.pw - shift].iter_mut().for_each(|v| { v.write(zero); });
                        for (v, &s) in row[start + g.pw - shift..end].iter_mut().zip(plane) {
                            v.write(s);
                        }
                    }
                    for out in row[start..end].chunks_mut(g.ow) {
                        out[..wlo].iter_mut().for_each(|v| { v.write(zero); });
                        out[whi..].iter_mut().for_each(|v| { v.write(zero); });
                    }
                    continue;
                }
                for (oy, out) in row.chunks_mut(g.ow).enumerate() {
                    if oy < hlo || oy >= hhi {
                        out.iter_mut().for_each(|v| { v.write(zero); });
                        continue;
                    }
                    let src = &plane[(oy * g.sh + ki * g.dh - g.ph) * g.w..][..g.w];
                    out[..wlo].iter_mut().for_each(|v| { v.write(zero); });
                    out[whi..].iter_mut().for_each(|v| { v.write(zero); });
                    if wlo < whi {
                        let start = wlo * g.sw + kj * g.dw - g.pw;
                        if g.sw == 1 {
                            for (v, &s) in out[wlo..whi].iter_mut().zip(&src[start..start + whi - wlo]) {
                                v.write(s);
                            }
                        } else {
                            for (k, v) in out[wlo..whi].iter_mut().enumerate() {
                                v.write(src[start + k * g.sw]);
                            }
                        }
                    }
                }
            }
        }
    }
}

/// The adjoint of im2col: adds each column entry back onto the input position it came from.
pub(super) fn col2im<T: Float>(cols: &[T], g: &Geom, x: &mut [T]) {
    let l = g.len();
    for c in 0..g.c {
        let plane = &mut x[c * g.h * g.w..(c + 1) * g.h * g.w];
        for ki in 0..g.kh {
            let (hlo, hhi) = valid_range(ki * g.dh, g.ph, g.sh, g.h, g.oh);
            for kj in 0..g.kw {
                let (wlo, whi) = valid_range(kj * g.dw, g.pw, g.sw, g.w, g.ow);
                if wlo >= whi {
                    continue;
                }
                let row = &cols[((c * g.kh + ki) * g.kw + kj) * l..][..l];
                for oy in hlo..hhi {
                    let dst = &mut plane[(oy * g.sh + ki * g.dh - g.ph) * g.w..][..g.w];
                    let src = &row[oy * g.ow..][..g.ow];
                    let start = wlo * g.sw + kj * g.dw - g.pw;
                    if g.sw == 1 {
                        for (d, &v) in dst[start..start + whi - wlo].iter_mut().zip(&src[wlo..whi]) {
                            *d += v;
                        }
                    } else {
                        for (k, &v) in src[wlo..whi].iter().enumerate() {
                            dst[start + k * g.sw] += v;
                        }
                    }
                }
            }
        }
    }
}
