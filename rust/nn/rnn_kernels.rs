//! The loops of one recurrent layer over a whole sequence (see `rnn.rs` for the op and its
//! node). Every step's input part, x @ W_ih^T + b_ih, is one product over all rows before the
//! loop; a step is then one (b, H_out) @ (H_out, G*H) product and one pointwise pass that
//! applies the gates and writes what backward needs. Backward walks the steps the other way,
//! keeping each step's gate gradients, so the weight and input gradients are each one product
//! over all rows after the loop.

use super::rnn_steps::{fill_rows, mm, mm_on, part_rows, step_split, Rows, StepWeight};
use crate::vmath::VMath;
use crate::tensor::Float;

/// The recurrence: PyTorch's LSTM (gates i, f, g, o), GRU (r, z, n) or Elman RNN.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cell {
    Lstm,
    Gru,
    RnnTanh,
    RnnRelu,
}

impl Cell {
    /// Gates stacked in the weights' rows (the G of G*H).
    pub fn gates(self) -> usize {
        match self {
            Cell::Lstm => 4,
            Cell::Gru => 3,
            Cell::RnnTanh | Cell::RnnRelu => 1,
        }
    }
}

/// The time steps in PyTorch's PackedSequence layout: step t is rows [offsets[t], offsets[t] +
/// sizes[t]) and holds the first sizes[t] sequences (sizes never grow). A padded (T, B, I)
/// input is T steps of B rows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Steps {
    pub sizes: Vec<usize>,
    pub offsets: Vec<usize>,
    /// Run from the last step to the first (the backward direction of a bidirectional layer).
    pub reverse: bool,
}

impl Steps {
    pub fn padded(steps: usize, batch: usize, reverse: bool) -> Steps {
        Steps { sizes: vec![batch; steps], offsets: (0..steps).map(|t| t * batch).collect(), reverse }
    }

    /// From batch sizes that the caller checked (positive, never growing).
    pub fn packed(sizes: &[usize], reverse: bool) -> Steps {
        let offsets = sizes.iter().scan(0, |acc, &b| {
            let off = *acc;
            *acc += b;
            Some(off)
        });
        Steps { offsets: offsets.collect(), sizes: sizes.to_vec(), reverse }
    }

    pub fn rows(&self) -> usize {
        self.sizes.iter().sum()
    }

    /// Time indices in the order the recurrence runs them.
    pub fn order(&self) -> Vec<usize> {
        let n = self.sizes.len();
        if self.reverse { (0..n).rev().collect() } else { (0..n).collect() }
    }
}

/// Sizes of one layer: input features, hidden units, output features (proj_size or hidden),
/// and the batch (the rows of h0).
#[derive(Clone, Copy, Debug)]
pub struct Dims {
    pub cell: Cell,
    pub input: usize,
    pub hidden: usize,
    pub out: usize,
    pub batch: usize,
}

/// Row-major weights: w_ih (G*H, I), w_hh (G*H, H_out), w_hr (H_out, H).
pub struct Params<'a, T> {
    pub w_ih: &'a [T],
    pub w_hh: &'a [T],
    pub b_ih: Option<&'a [T]>,
    pub b_hh: Option<&'a [T]>,
    pub w_hr: Option<&'a [T]>,
}

/// What the forward pass keeps for backward, one row per input row.
pub struct Trace<T> {
    /// Gate activations (N, G*H); for the plain RNN the output h itself.
    pub gates: Vec<T>,
    /// The state each row's step started from (N, H_out).
    pub h_prev: Vec<T>,
    /// LSTM: the cell state each step started from, and tanh of the new one (N, H).
    pub c_prev: Vec<T>,
    pub tanh_c: Vec<T>,
    /// GRU: W_hn h + b_hn (N, H), which r multiplies.
    pub hn: Vec<T>,
}

pub struct Forward<T> {
    pub output: Vec<T>,
    pub h_n: Vec<T>,
    pub c_n: Vec<T>,
    pub trace: Trace<T>,
}

/// Runs the layer over every step. `c0` is empty for GRU and RNN.
pub fn forward<T: VMath>(x: &[T], h0: &[T], c0: &[T], p: &Params<'_, T>, d: &Dims, steps: &Steps) -> Forward<T> {
    let (h, po, gh) = (d.hidden, d.out, d.cell.gates() * d.hidden);
    let n = steps.rows();
    let lstm = d.cell == Cell::Lstm;
    let per_row = |on: bool, w: usize| if on { vec![T::zero(); n * w] } else { Vec::new() };
    // Seeded with the bias, every row written once (zeroing 8 MB first was a wasted pass). `build`
    // takes every element as written, so only a bias exactly one row long goes there (`rnn.rs`
    // checks that it is; the guard keeps this sound on its own).
    let mut gates = match p.b_ih {
        Some(b) if b.len() == gh => crate::ops::kernel::build(n * gh, gh * (crate::tensor::iter::GRAIN / gh).max(1), |_, rows| {
            for row in rows.chunks_mut(gh) {
                row.iter_mut().zip(b).for_each(|(o, &v)| {
                    o.write(v);
                });
            }
        }),
        _ => {
            let mut zeros = vec![T::zero(); n * gh];
            if let Some(b) = p.b_ih {
                fill_rows(&mut zeros, b);
            }
            zeros
        }
    };
    mm(&mut gates, x, false, p.w_ih, true, (n, d.input, gh), p.b_ih.is_some());
    let mut output = vec![T::zero(); n * po];
    let mut h_prev = vec![T::zero(); n * po];
    let (mut c_prev, mut tanh_c, mut hn) = (per_row(lstm, h), per_row(lstm, h), per_row(d.cell == Cell::Gru, h));
    let (mut hs, mut cs) = (h0.to_vec(), c0.to_vec());
    let mut rec = vec![T::zero(); d.batch * gh];
    let w_hh_t = StepWeight::new(p.w_hh, true, po, gh);
    let mut hc = vec![T::zero(); if p.w_hr.is_some() { d.batch * h } else { 0 }];
    for t in steps.order() {
        let (b, off) = (steps.sizes[t], steps.offsets[t]);
        let rows = |w: usize| off * w..(off + b) * w;
        h_prev[rows(po)].copy_from_slice(&hs[..b * po]);
        if lstm {
            c_prev[rows(h)].copy_from_slice(&cs[..b * h]);
        }
        let hp = &h_prev[rows(po)];
        let (rec_r, g_r, c_r, tc_r) = (Rows::of(&mut rec, gh), Rows::of(&mut gates, gh), Rows::of(&mut cs, h), Rows::of(&mut tanh_c, h));
        let (out_r, hc_r, hn_r) = (Rows::of(&mut output, po), Rows::of(&mut hc, h), Rows::of(&mut hn, h));
        let (parts, gemm_threads) = step_split(b, po, gh);
        let part = |pi: usize| {
            let (r0, r1) = part_rows(pi, parts, b);
            let (m, hp) = (r1 - r0, &hp[r0 * po..r1 * po]);
            // SAFETY: this part alone touches rows r0..r1 of the step (rows off + r0.. of the
            // per-row buffers), and each `get` below is the only live reference to its rows.
            unsafe {
                let rec = rec_r.get(r0, r1);
                if let Some(bias) = p.b_hh {
                    fill_rows(rec, bias);
                }
                w_hh_t.mm(rec, hp, (m, po, gh), p.b_hh.is_some(), gemm_threads);
                let (g, out) = (g_r.get(off + r0, off + r1), out_r.get(off + r0, off + r1));
                match d.cell {
                    Cell::Lstm => {
                        let dst = if p.w_hr.is_some() { hc_r.get(r0, r1) } else { &mut *out };
                        lstm_cell(g, rec, c_r.get(r0, r1), tc_r.get(off + r0, off + r1), dst, h);
                        if let Some(w_hr) = p.w_hr {
                            mm_on(out, hc_r.get(r0, r1), false, w_hr, true, (m, h, po), false, gemm_threads);
                        }
                    }
                    Cell::Gru => gru_cell(g, rec, hp, hn_r.get(off + r0, off + r1), out, h),
                    Cell::RnnTanh | Cell::RnnRelu => rnn_cell(g, rec, out, d.cell == Cell::RnnRelu),
                }
            }
        };
        crate::parallel::for_each_part(parts, &part);
        hs[..b * po].copy_from_slice(&output[rows(po)]);
    }
    Forward { output, h_n: hs, c_n: cs, trace: Trace { gates, h_prev, c_prev, tanh_c, hn } }
}

/// LSTM gates of one step: `g` holds x W_ih^T + b_ih and becomes (i, f, g, o); `c` is the cell
/// state, read and updated; `h` gets o * tanh(c).
#[inline(always)]
fn lstm_cell_body<T: VMath, const FMA: bool>(g: &mut [T], rec: &[T], c: &mut [T], tc: &mut [T], h: &mut [T], width: usize) {
    let rows = g.chunks_exact_mut(4 * width).zip(rec.chunks_exact(4 * width));
    for ((g, r), ((c, tc), h)) in rows.zip(c.chunks_exact_mut(width).zip(tc.chunks_exact_mut(width)).zip(h.chunks_exact_mut(width))) {
        // Simple passes (sum, then one activation per gate, then the state) vectorise; one loop
        // doing all of it per unit did not.
        add_into(g, r);
        let (ifg, o) = g.split_at_mut(3 * width);
        let (i_f, gg) = ifg.split_at_mut(2 * width);
        sigmoid_all::<T, FMA>(i_f);
        tanh_all::<T, FMA>(gg);
        sigmoid_all::<T, FMA>(o);
        let (i, f) = i_f.split_at(width);
        for ((c, &i), (&f, &gv)) in c.iter_mut().zip(i).zip(f.iter().zip(gg.iter())) {
            *c = f * *c + i * gv;
        }
        tc.copy_from_slice(c);
        tanh_all::<T, FMA>(tc);
        for ((h, &o), &t) in h.iter_mut().zip(o.iter()).zip(tc.iter()) {
            *h = o * t;
        }
    }
}

crate::multiversion!(lstm_cell_body, lstm_cell_avx2, lstm_cell, VMath, (g: &mut [T], rec: &[T], c: &mut [T], tc: &mut [T], h: &mut [T], width: usize) -> ());

#[inline(always)]
fn add_into<T: Float>(dst: &mut [T], src: &[T]) {
    dst.iter_mut().zip(src).for_each(|(a, &b)| *a += b);
}

#[inline(always)]
fn sigmoid_all<T: VMath, const FMA: bool>(v: &mut [T]) {
    v.iter_mut().for_each(|x| *x = x.sigmoid_as::<FMA>());
}

#[inline(always)]
fn tanh_all<T: VMath, const FMA: bool>(v: &mut [T]) {
    v.iter_mut().for_each(|x| *x = x.tanh_as::<FMA>());
}

/// GRU gates of one step: `g` (x W_ih^T + b_ih) becomes (r, z, n); `hn` gets W_hn h + b_hn.
#[inline(always)]
fn gru_cell_body<T: VMath, const FMA: bool>(g: &mut [T], rec: &[T], hp: &[T], hn: &mut [T], h: &mut [T], width: usize) {
    let rows = g.chunks_exact_mut(3 * width).zip(rec.chunks_exact(3 * width));
    for ((g, r), ((hp, hn), h)) in rows.zip(hp.chunks_exact(width).zip(hn.chunks_exact_mut(width)).zip(h.chunks_exact_mut(width))) {
        let (rz, gn) = g.split_at_mut(2 * width);
        let (r_rz, rn) = r.split_at(2 * width);
        add_into(rz, r_rz);
        sigmoid_all::<T, FMA>(rz);
        let (rv, z) = rz.split_at(width);
        hn.copy_from_slice(rn);
        for ((n, &rv), &hn) in gn.iter_mut().zip(rv).zip(hn.iter()) {
            *n += rv * hn;
        }
        tanh_all::<T, FMA>(gn);
        for ((h, &z), (&nv, &hp)) in h.iter_mut().zip(z).zip(gn.iter().zip(hp)) {
            *h = (T::one() - z) * nv + z * hp;
        }
    }
}

crate::multiversion!(gru_cell_body, gru_cell_avx2, gru_cell, VMath, (g: &mut [T], rec: &[T], hp: &[T], hn: &mut [T], h: &mut [T], width: usize) -> ());

#[inline(always)]
fn rnn_cell_body<T: VMath, const FMA: bool>(g: &mut [T], rec: &[T], h: &mut [T], relu: bool) {
    add_into(g, rec);
    if relu {
        // Written so a NaN passes (f32::max would return the 0), as PyTorch's relu does.
        g.iter_mut().for_each(|v| *v = if *v <= T::zero() { T::zero() } else { *v });
    } else {
        tanh_all::<T, FMA>(g);
    }
    h.copy_from_slice(g);
}

crate::multiversion!(rnn_cell_body, rnn_cell_avx2, rnn_cell, VMath, (g: &mut [T], rec: &[T], h: &mut [T], relu: bool) -> ());

/// Gradients of one layer; None where not asked for.
#[derive(Default)]
pub struct Grads<T> {
    pub input: Option<Vec<T>>,
    pub h0: Vec<T>,
    pub c0: Vec<T>,
    pub w_ih: Option<Vec<T>>,
    pub w_hh: Option<Vec<T>>,
    pub b_ih: Option<Vec<T>>,
    pub b_hh: Option<Vec<T>>,
    pub w_hr: Option<Vec<T>>,
}

/// Which gradients backward computes (the state gradients always come out of the loop).
#[derive(Clone, Copy, Debug, Default)]
pub struct Wanted {
    /// The initial state's gradient (without it the last step's product with W_hh is skipped).
    pub h0: bool,
    pub input: bool,
    pub w_ih: bool,
    pub w_hh: bool,
    pub b_ih: bool,
    pub b_hh: bool,
    pub w_hr: bool,
}

/// The incoming gradients of (output (N, H_out), h_n (B, H_out), c_n (B, H)); None: zero.
pub type OutputGrads<'a, T> = (Option<&'a [T]>, Option<&'a [T]>, Option<&'a [T]>);

/// Backward through every step.
pub fn backward<T: Float>(
    x: &[T],
    p: &Params<'_, T>,
    d: &Dims,
    steps: &Steps,
    tr: &Trace<T>,
    (dout, dh_n, dc_n): OutputGrads<'_, T>,
    want: Wanted,
) -> Grads<T> {
    let (h, po, gh) = (d.hidden, d.out, d.cell.gates() * d.hidden);
    let n = steps.rows();
    let gru = d.cell == Cell::Gru;
    let mut dh = dh_n.map_or_else(|| vec![T::zero(); d.batch * po], |v| v.to_vec());
    let mut dc = if d.cell == Cell::Lstm { dc_n.map_or_else(|| vec![T::zero(); d.batch * h], |v| v.to_vec()) } else { Vec::new() };
    // Gate gradients of every row: towards the input (dgx) and, for the GRU whose n gate sees
    // r * (W_hn h + b_hn), towards the recurrence (dgh); the others share one.
    let mut dgx = vec![T::zero(); n * gh];
    let mut dgh = vec![T::zero(); if gru { n * gh } else { 0 }];
    let proj = p.w_hr.is_some();
    let mut dh_rows = vec![T::zero(); if proj && want.w_hr { n * po } else { 0 }];
    let mut dhc = vec![T::zero(); if proj { d.batch * h } else { 0 }];
    let w_hh = StepWeight::new(p.w_hh, false, gh, po);
    let order = steps.order();
    // The step the recurrence started from: its product with W_hh gives only dh0.
    let first = order.first().copied();
    for t in order.into_iter().rev() {
        let (b, off) = (steps.sizes[t], steps.offsets[t]);
        let dh_prev_wanted = want.h0 || Some(t) != first;
        let (dh_r, dc_r, dhc_r) = (Rows::of(&mut dh, po), Rows::of(&mut dc, h), Rows::of(&mut dhc, h));
        let (dgx_r, dgh_r, dh_rows_r) = (Rows::of(&mut dgx, gh), Rows::of(&mut dgh, gh), Rows::of(&mut dh_rows, po));
        let (parts, gemm_threads) = step_split(b, po, gh);
        let part = |pi: usize| {
            let (r0, r1) = part_rows(pi, parts, b);
            let (m, (s0, s1)) = (r1 - r0, (off + r0, off + r1));
            fn at<T>(v: &[T], w: usize, (s0, s1): (usize, usize)) -> &[T] {
                &v[s0 * w..s1 * w]
            }
            let step = (s0, s1);
            let g = at(&tr.gates, gh, step);
            // SAFETY: this part alone touches rows r0..r1 of the step (rows off + r0.. of the
            // per-row buffers), and each `get` below is the only live reference to its rows.
            unsafe {
                let dh = dh_r.get(r0, r1);
                if let Some(gout) = dout {
                    dh.iter_mut().zip(at(gout, po, step)).for_each(|(a, g)| *a += *g);
                }
                let dgx = dgx_r.get(s0, s1);
                match d.cell {
                    Cell::Lstm => {
                        if let Some(w_hr) = p.w_hr {
                            if want.w_hr {
                                dh_rows_r.get(s0, s1).copy_from_slice(dh);
                            }
                            mm_on(dhc_r.get(r0, r1), dh, false, w_hr, false, (m, po, h), false, gemm_threads);
                        }
                        let dhc: &[T] = if proj { dhc_r.get(r0, r1) } else { dh };
                        lstm_cell_grad(g, dhc, at(&tr.c_prev, h, step), at(&tr.tanh_c, h, step), dc_r.get(r0, r1), dgx, h);
                    }
                    Cell::Gru => gru_cell_grad(g, at(&tr.hn, h, step), at(&tr.h_prev, po, step), dh, dgx, dgh_r.get(s0, s1), h),
                    Cell::RnnTanh | Cell::RnnRelu => {
                        let relu = d.cell == Cell::RnnRelu;
                        for ((dg, &y), &dy) in dgx.iter_mut().zip(g).zip(dh.iter()) {
                            *dg = if relu { if y <= T::zero() { T::zero() } else { dy } } else { dy * (T::one() - y * y) };
                        }
                    }
                }
                if dh_prev_wanted {
                    let dg: &[T] = if gru { dgh_r.get(s0, s1) } else { dgx };
                    w_hh.mm(dh, dg, (m, gh, po), gru, gemm_threads);
                }
            }
        };
        crate::parallel::for_each_part(parts, &part);
    }
    let dgh = if gru { &dgh } else { &dgx };
    let mut out = Grads { h0: dh, c0: dc, ..Grads::default() };
    if want.input {
        let mut dx = vec![T::zero(); n * d.input];
        mm(&mut dx, &dgx, false, p.w_ih, false, (n, gh, d.input), false);
        out.input = Some(dx);
    }
    if want.w_ih {
        let mut dw = vec![T::zero(); gh * d.input];
        mm(&mut dw, &dgx, true, x, false, (gh, n, d.input), false);
        out.w_ih = Some(dw);
    }
    if want.w_hh {
        let mut dw = vec![T::zero(); gh * po];
        mm(&mut dw, dgh, true, &tr.h_prev, false, (gh, n, po), false);
        out.w_hh = Some(dw);
    }
    out.b_ih = want.b_ih.then(|| column_sums(&dgx, gh));
    out.b_hh = want.b_hh.then(|| column_sums(dgh, gh));
    if proj && want.w_hr {
        // The projection's input o * tanh(c), rebuilt from the trace rather than kept.
        let hc: Vec<T> = tr.gates.chunks_exact(gh).zip(tr.tanh_c.chunks_exact(h)).flat_map(|(g, tc)| g[3 * h..].iter().zip(tc).map(|(&o, &t)| o * t)).collect();
        let mut dw = vec![T::zero(); po * h];
        mm(&mut dw, &dh_rows, true, &hc, false, (po, n, h), false);
        out.w_hr = Some(dw);
    }
    out
}

fn column_sums<T: Float>(m: &[T], width: usize) -> Vec<T> {
    let mut s = vec![T::zero(); width];
    for row in m.chunks_exact(width.max(1)) {
        s.iter_mut().zip(row).for_each(|(a, &v)| *a += v);
    }
    s
}

/// One LSTM step backwards: `dhc` is the gradient of o * tanh(c); `dc` the cell state's, read
/// and replaced by the previous step's; `dg` gets the pre-activation gate gradients.
#[inline(always)]
fn lstm_cell_grad_body<T: Float, const FMA: bool>(g: &[T], dhc: &[T], cp: &[T], tc: &[T], dc: &mut [T], dg: &mut [T], width: usize) {
    let rows = g.chunks_exact(4 * width).zip(dg.chunks_exact_mut(4 * width));
    let state = dhc.chunks_exact(width).zip(cp.chunks_exact(width)).zip(tc.chunks_exact(width).zip(dc.chunks_exact_mut(width)));
    for ((g, dg), ((dhc, cp), (tc, dc))) in rows.zip(state) {
        let one = T::one();
        for k in 0..width {
            let (i, f, gv, o) = (g[k], g[width + k], g[2 * width + k], g[3 * width + k]);
            let dct = dc[k] + dhc[k] * o * (one - tc[k] * tc[k]);
            dg[k] = dct * gv * i * (one - i);
            dg[width + k] = dct * cp[k] * f * (one - f);
            dg[2 * width + k] = dct * i * (one - gv * gv);
            dg[3 * width + k] = dhc[k] * tc[k] * o * (one - o);
            dc[k] = dct * f;
        }
    }
}

crate::multiversion!(lstm_cell_grad_body, lstm_cell_grad_avx2, lstm_cell_grad, Float, (g: &[T], dhc: &[T], cp: &[T], tc: &[T], dc: &mut [T], dg: &mut [T], width: usize) -> ());

/// One GRU step backwards: `dh` is read and replaced by its direct part z * dh (the product with
/// W_hh is added after); `dgx` and `dgh` get the gate gradients towards input and recurrence.
#[inline(always)]
fn gru_cell_grad_body<T: Float, const FMA: bool>(g: &[T], hn: &[T], hp: &[T], dh: &mut [T], dgx: &mut [T], dgh: &mut [T], width: usize) {
    let rows = g.chunks_exact(3 * width).zip(dgx.chunks_exact_mut(3 * width).zip(dgh.chunks_exact_mut(3 * width)));
    let state = hn.chunks_exact(width).zip(hp.chunks_exact(width)).zip(dh.chunks_exact_mut(width));
    for ((g, (dgx, dgh)), ((hn, hp), dh)) in rows.zip(state) {
        let one = T::one();
        for k in 0..width {
            let (r, z, nv) = (g[k], g[width + k], g[2 * width + k]);
            let d = dh[k];
            let dn = d * (one - z) * (one - nv * nv);
            let dr = dn * hn[k] * r * (one - r);
            let dz = d * (hp[k] - nv) * z * (one - z);
            (dgx[k], dgx[width + k], dgx[2 * width + k]) = (dr, dz, dn);
            (dgh[k], dgh[width + k], dgh[2 * width + k]) = (dr, dz, dn * r);
            dh[k] = d * z;
        }
    }
}

crate::multiversion!(gru_cell_grad_body, gru_cell_grad_avx2, gru_cell_grad, Float, (g: &[T], hn: &[T], hp: &[T], dh: &mut [T], dgx: &mut [T], dgh: &mut [T], width: usize) -> ());

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packed_steps_offsets_and_order() {
        let s = Steps::packed(&[3, 2, 2, 1], false);
        assert_eq!(s.offsets, [0, 3, 5, 7]);
        assert_eq!(s.rows(), 8);
        assert_eq!(s.order(), [0, 1, 2, 3]);
        assert_eq!(Steps::packed(&[3, 2, 2, 1], true).order(), [3, 2, 1, 0]);
        let p = Steps::padded(3, 4, false);
        assert_eq!((p.sizes, p.offsets), (vec![4; 3], vec![0, 4, 8]));
    }

    #[test]
    fn batch_sizes_are_checked() {
        use crate::nn::rnn::check_batch_sizes;
        assert_eq!(check_batch_sizes("gru", &[3, 1], 4).unwrap(), [3, 1]);
        assert!(check_batch_sizes("gru", &[1, 3], 4).is_err());
        assert!(check_batch_sizes("gru", &[3, 0], 3).is_err());
        assert!(check_batch_sizes("gru", &[3, 1], 5).is_err());
        assert_eq!(check_batch_sizes("gru", &[], 0).unwrap(), Vec::<usize>::new());
    }
}
