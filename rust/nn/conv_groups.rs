//! Grouped convolutions whose groups, each taken alone, are convolutions a fast path takes:
//! run group by group on that path.
//!
//! A grouped convolution is `groups` independent convolutions side by side: group k maps input
//! channels k C/g..(k+1) C/g to output channels k O/g..(k+1) O/g with weight rows k O/g..(k+1)
//! O/g. The paths for one group (Winograd, the direct kernel, Winograd over dilation phases,
//! the whole-batch product) each beat the grouped products and unfolding by more than it costs
//! to copy a group's channels out of every image and its result back in (ResNeXt-style 3x3
//! convolutions of 32 channels a group at stride 1 take Winograd this way). Where the group
//! alone would take the products too, nothing is gained and `applies` says no: the grouped
//! products (`conv_kernels.rs`) handle those, groups of 4 channels or fewer go plane by plane
//! (`conv_depthwise.rs`), and float32 groups of at most 32 at stride 1 run from zero-bordered
//! planes (`conv_small_groups.rs`), which is checked first: at 32 channels a group it took
//! 0.67-0.77 of this path's time on maps of 14 x 14 to 56 x 56.
//!
//! Each group's results are the single-group path's, so its bits are that path's, whatever
//! the thread count.

use std::mem::MaybeUninit;

use crate::parallel::{for_each_part, DisjointPtr};
use crate::tensor::Float;

use super::conv::{backward_by_path, forward_by_path, Geom};
use super::{conv_batched, conv_dilated, conv_direct, winograd};

/// Channels a group at least. Train steps of 3x3 convolutions, 2 threads, group by group
/// against the grouped products in one process taking turns (time ratios): 64 to 256
/// channels a group 0.56-0.80 (8 x 256 x 28 x 28 in 2 groups 0.66, 16 x 512 x 14 x 14 in 2
/// 0.56, 16 x 256 x 8 x 8 in 2 0.61); 32 a group 0.81-1.03 (0.81 at 256 channels on 56 x 56,
/// 1.03 at 128 on 28 x 28); 16 a group 1.54 (512 channels in 32 groups at 7 x 7: the groups'
/// small products one after another, each shared by the threads).
const MIN_GROUP_CHANNELS: usize = 32;

/// One group's convolution.
fn group(g: &Geom) -> Geom {
    Geom { c: g.c / g.groups, o: g.o / g.groups, groups: 1, ..*g }
}

/// Whether `g` runs group by group: more than one group of `MIN_GROUP_CHANNELS` input and
/// output channels or more, and one group alone takes a path of its own rather than the
/// products.
pub(super) fn applies<T: Float>(g: &Geom) -> bool {
    let one = group(g);
    g.groups > 1
        && g.n > 0
        && one.c.min(one.o) >= MIN_GROUP_CHANNELS
        && (winograd::applies::<T>(&one) || conv_direct::applies::<T>(&one) || conv_dilated::applies::<T>(&one) || conv_batched::applies(&one))
}

/// Channels `first..first + count` of each of the `n` images of `a` (images of `total` channels
/// of `per` elements each), as images of their own.
fn take<T: Float>(a: &[T], n: usize, (total, per): (usize, usize), (first, count): (usize, usize)) -> Vec<T> {
    let run = count * per;
    assert!(a.len() >= n * total * per && first + count <= total, "conv_groups: channels {first}+{count} of {total} outside the buffer");
    let mut out: Vec<T> = Vec::with_capacity(n * run);
    let dst = DisjointPtr(out.as_mut_ptr());
    for_each_part(n, &|i| {
        let src = &a[(i * total + first) * per..][..run];
        // SAFETY: image i's run is elements i run..(i + 1) run of the buffer, written by this
        // part alone.
        unsafe { std::ptr::copy_nonoverlapping(src.as_ptr(), dst.get().add(i * run), run) };
    });
    // SAFETY: the n parts wrote all n runs.
    unsafe { out.set_len(n * run) };
    out
}

/// Copies images of `count` channels (`src`) into channels `first..first + count` of each of
/// the `n` images of `dst` (images of `total` channels of `per` elements).
fn put<T: Float>(dst: &mut [MaybeUninit<T>], src: &[T], n: usize, (total, per): (usize, usize), (first, count): (usize, usize)) {
    let run = count * per;
    assert!(dst.len() >= n * total * per && src.len() >= n * run, "conv_groups: group result of the wrong size");
    let out = DisjointPtr(dst.as_mut_ptr() as *mut T);
    for_each_part(n, &|i| {
        // SAFETY: channels first..first + count of image i, which only this part writes.
        unsafe { std::ptr::copy_nonoverlapping(src[i * run..].as_ptr(), out.get().add((i * total + first) * per), run) };
    });
}

/// A Vec of `len` elements that `fill` writes every one of.
fn written<T: Float>(len: usize, fill: impl FnOnce(&mut [MaybeUninit<T>])) -> Vec<T> {
    let mut v: Vec<T> = Vec::with_capacity(len);
    fill(&mut v.spare_capacity_mut()[..len]);
    // SAFETY: every caller's `fill` puts every group's channels of every image: all of it.
    unsafe { v.set_len(len) };
    v
}

/// conv(x, w) (+ bias), (N, O, *out), group by group.
pub(super) fn forward<T: Float>(xs: &[T], w: &[T], bias: Option<&[T]>, g: &Geom) -> Vec<T> {
    let one = group(g);
    let (cg, og) = (one.c, one.o);
    written(g.n * g.o * g.len(), |out| {
        for k in 0..g.groups {
            let x = take(xs, g.n, (g.c, g.volume()), (k * cg, cg));
            let wk = &w[k * og * one.group_rows()..(k + 1) * og * one.group_rows()];
            let y = forward_by_path(&x, wk, bias.map(|b| &b[k * og..(k + 1) * og]), &one);
            put(out, &y, g.n, (g.o, g.len()), (k * og, og));
        }
    })
}

/// The input gradient (when `w` is given) and the weight gradient (when `xs` is), group by
/// group.
pub(super) fn backward<T: Float>(gs: &[T], w: Option<&[T]>, xs: Option<&[T]>, g: &Geom) -> (Option<Vec<T>>, Option<Vec<T>>) {
    let one = group(g);
    let (cg, og, wrows) = (one.c, one.o, one.o * one.group_rows());
    let mut gx = w.map(|_| Vec::<T>::with_capacity(g.n * g.c * g.volume()));
    let mut gw = xs.map(|_| Vec::<T>::with_capacity(g.o * g.group_rows()));
    for k in 0..g.groups {
        let gsk = take(gs, g.n, (g.o, g.len()), (k * og, og));
        let xk = xs.map(|xs| take(xs, g.n, (g.c, g.volume()), (k * cg, cg)));
        let (gxk, gwk) = backward_by_path(&gsk, w.map(|w| &w[k * wrows..(k + 1) * wrows]), xk.as_deref(), &one);
        if let Some(dst) = gx.as_mut() {
            let gxk = gxk.expect("conv_groups: the input gradient was asked for");
            put(&mut dst.spare_capacity_mut()[..g.n * g.c * g.volume()], &gxk, g.n, (g.c, g.volume()), (k * cg, cg));
        }
        if let Some(dst) = gw.as_mut() {
            // Group k's weight rows follow group k - 1's.
            dst.extend_from_slice(&gwk.expect("conv_groups: the weight gradient was asked for"));
        }
    }
    if let Some(v) = gx.as_mut() {
        // SAFETY: every group put its channels of every image: all n C volume elements.
        unsafe { v.set_len(g.n * g.c * g.volume()) };
    }
    (gx, gw)
}
