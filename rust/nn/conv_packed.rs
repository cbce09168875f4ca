//! float32 convolution products on AVX2 + FMA through `gemm_packed`, for one image at a time.
//!
//! The general path unfolds each image into a column matrix and hands it to the gemm crate,
//! which then packs that matrix again into its own panels: a ResNet basic block spent 15% of
//! its train step in that packing and 10% in the unfolding. Here the forward unfolds each row
//! of the column matrix straight into the panels the kernel reads, and the two backward
//! products pack only the output gradient (O x L, a ninth of the columns of a 3x3
//! convolution), reading the weight and the columns in place:
//!
//! - forward: out (O, L) = W (O, R) @ cols (R, L), cols unfolded into panels;
//! - input gradient: dcols (R, L) = W^T @ gout (O, L), W read transposed in place;
//! - weight gradient: dW^T (R, O) += cols (R, L) @ gout^T, then one transpose at the end.
//!
//! Every element is the same sum in the same order whatever the thread count
//! (`PackedRhs::product`).

use std::mem::MaybeUninit;

use crate::ops::gemm::Mat;
use crate::ops::gemm_packed::{self, PackedRhs};
use crate::tensor::dtype::{as_f32, as_f32_mut};
use crate::tensor::{DType, Float};

use super::conv::Geom;
use super::im2col::{PaddedGather, Taps};

/// Whether these products serve a convolution of element type T: float32, one group, and a
/// CPU with AVX2 and FMA.
pub(super) fn applies<T: Float>(g: &Geom) -> bool {
    T::DTYPE == DType::F32 && g.groups == 1 && gemm_packed::usable()
}

/// `v` as float32 (T is float32 wherever `applies` said yes).
pub(super) fn f32s<T: Float>(v: &[T]) -> &[f32] {
    as_f32(v).expect("conv_packed: float32 only")
}

/// A worker's panels, kept from image to image: the forward's unfolded columns (and one row
/// of them as it is unfolded), or a backward product's packed output gradient.
pub(super) struct Workspace {
    panels: PackedRhs,
    row: Vec<f32>,
}

impl Workspace {
    pub(super) fn new() -> Workspace {
        Workspace { panels: PackedRhs::empty().expect("conv_packed: used without AVX2 and FMA"), row: Vec::new() }
    }
}

/// out (O, L) [+]= W @ cols(x) for one image; with `accumulate` false `out` is only written.
///
/// # Safety
/// `out` must address O x L writable floats that nothing else touches meanwhile.
pub(super) unsafe fn forward(x: &[f32], w: &[f32], g: &Geom, out: *mut f32, accumulate: bool, threads: usize, u: &mut Workspace) {
    let (rows, l) = (g.rows(), g.len());
    assert!(w.len() >= g.o * rows, "conv_packed: weight shorter than {} x {rows}", g.o);
    let uninit = |buf: &mut [f32]| {
        // SAFETY: the unfolds write only initialised values, so `buf` stays initialised.
        unsafe { &mut *(buf as *mut [f32] as *mut [MaybeUninit<f32>]) }
    };
    if PaddedGather::applies(g) {
        let (gather, taps) = (PaddedGather::new(g), g.taps());
        let mut scratch = gather.scratch::<f32>();
        u.panels.pack_rows(rows, l, &mut u.row, |r, buf| {
            // pack_rows asks for rows in order, so a channel's first tap loads it.
            if r % taps == 0 {
                gather.load_channel(&x[r / taps * g.volume()..][..g.volume()], g, &mut scratch);
            }
            gather.unfold_tap(&scratch, r % taps, g, uninit(buf));
        });
    } else {
        let taps = Taps::new(g);
        u.panels.pack_rows(rows, l, &mut u.row, |r, buf| taps.unfold_row(x, g, r, uninit(buf)));
    }
    // SAFETY: W is (O, rows) row-major (checked above); `out` is the caller's.
    unsafe { u.panels.product(out, l, Mat::rows(w.as_ptr(), rows), g.o, accumulate, threads) }
}

/// dcols (R, L) = W^T @ gout for one image (only written).
///
/// # Safety
/// `dcols` must address R x L writable floats that nothing else touches meanwhile.
pub(super) unsafe fn grad_columns(gout: &[f32], w: &[f32], g: &Geom, dcols: *mut f32, threads: usize, u: &mut Workspace) {
    let (rows, l) = (g.rows(), g.len());
    assert!(w.len() >= g.o * rows, "conv_packed: weight shorter than {} x {rows}", g.o);
    u.panels.pack(gout, false, g.o, l, threads);
    // SAFETY: W^T is W (O, rows) read transposed in place; `dcols` is the caller's.
    unsafe { u.panels.product(dcols, l, Mat::rows_t(w.as_ptr(), rows), rows, false, threads) }
}

/// acc_t (R, O) += cols (R, L) @ gout^T for one image: the weight gradient, transposed.
pub(super) fn add_grad_weight_t(gout: &[f32], cols: &[f32], g: &Geom, acc_t: &mut [f32], threads: usize, u: &mut Workspace) {
    let (rows, l) = (g.rows(), g.len());
    assert!(cols.len() >= rows * l && acc_t.len() >= rows * g.o, "conv_packed: columns or gradient shorter than {rows} x {l}");
    u.panels.pack(gout, true, l, g.o, threads);
    // SAFETY: cols is (rows, L) row-major and acc_t (rows, O), a Vec of its own (checked above).
    unsafe { u.panels.product(acc_t.as_mut_ptr(), g.o, Mat::rows(cols.as_ptr(), l), rows, true, threads) }
}

/// `f32s`, mutably.
pub(super) fn f32s_mut<T: Float>(v: &mut [T]) -> &mut [f32] {
    as_f32_mut(v).expect("conv_packed: float32 only")
}
