//! The seeded generator behind rand/randn/randint/randperm and dropout masks.
//!
//! The global state is a (seed, counter) pair reset by `manual_seed`. Each random op draws one u64 from
//! it and fills its output in fixed-size chunks, chunk i from a stream seeded with (that u64, i):
//! results depend only on the seed and the call order, never on the thread count.

use std::sync::Mutex;

use rand_core::{Rng, SeedableRng};
use rand_xoshiro::{SplitMix64, Xoshiro256PlusPlus};

/// (seed, number of ops drawn so far): the whole generator state, so a checkpoint restores it
/// exactly.
static GLOBAL: Mutex<(u64, u64)> = Mutex::new((DEFAULT_SEED, 0));

/// Elements per independent stream.
pub const CHUNK: usize = 1 << 16;

/// PyTorch's default seed, used until `manual_seed` is called.
const DEFAULT_SEED: u64 = 67280421310721;

pub fn manual_seed(seed: u64) {
    *GLOBAL.lock().unwrap_or_else(|e| e.into_inner()) = (seed, 0);
}

/// Draws the seed of one random op: SplitMix64 of (seed, op counter).
pub fn next_seed() -> u64 {
    let mut g = GLOBAL.lock().unwrap_or_else(|e| e.into_inner());
    g.1 += 1;
    SplitMix64::seed_from_u64(g.0 ^ g.1.wrapping_mul(0xD1B5_4A32_D192_ED03)).next_u64()
}

/// The generator state as 16 bytes (seed, counter), for checkpoints; `set_state` restores it.
pub fn get_state() -> Vec<u8> {
    let g = GLOBAL.lock().unwrap_or_else(|e| e.into_inner());
    let mut out = g.0.to_le_bytes().to_vec();
    out.extend_from_slice(&g.1.to_le_bytes());
    out
}

pub fn set_state(state: &[u8]) -> crate::Result<()> {
    if state.len() != 16 {
        crate::bail!(Value, "set_rng_state: expected the 16-byte state returned by get_rng_state, got {} bytes", state.len());
    }
    let word = |i: usize| u64::from_le_bytes(state[i..i + 8].try_into().unwrap_or([0; 8]));
    *GLOBAL.lock().unwrap_or_else(|e| e.into_inner()) = (word(0), word(8));
    Ok(())
}

/// The independent stream number `chunk` of a random op whose seed is `seed`.
pub fn stream(seed: u64, chunk: usize) -> Xoshiro256PlusPlus {
    let mut sm = SplitMix64::seed_from_u64(seed ^ (chunk as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    let mut s = [0u8; 32];
    for c in s.chunks_mut(8) {
        c.copy_from_slice(&sm.next_u64().to_le_bytes());
    }
    Xoshiro256PlusPlus::from_seed(s)
}

/// Fills `out` chunk by chunk, each chunk with its own stream, in parallel when large.
pub fn fill<T: Send>(out: &mut [T], f: impl Fn(&mut Xoshiro256PlusPlus, &mut [T]) + Sync) {
    let seed = next_seed();
    let run = |(i, c): (usize, &mut [T])| f(&mut stream(seed, i), c);
    if out.len() > CHUNK {
        crate::parallel::for_each_chunk_mut(out, CHUNK, &|i, c| run((i, c)));
    } else {
        out.chunks_mut(CHUNK).enumerate().for_each(run);
    }
}

/// Uniform in [0, 1) with 53 (f64) or 24 (f32) random bits.
#[inline]
pub fn uniform_f64(r: &mut Xoshiro256PlusPlus) -> f64 {
    (r.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}

#[inline]
pub fn uniform_f32(r: &mut Xoshiro256PlusPlus) -> f32 {
    (r.next_u32() >> 8) as f32 * (1.0 / (1u32 << 24) as f32)
}

/// Standard normal pairs by the Box-Muller transform.
pub fn fill_normal(out: &mut [f64]) {
    fill(out, |r, c| {
        for pair in c.chunks_mut(2) {
            let u1 = 1.0 - uniform_f64(r); // (0, 1]: log never sees 0
            let u2 = uniform_f64(r);
            let rad = (-2.0 * u1.ln()).sqrt();
            let th = 2.0 * std::f64::consts::PI * u2;
            pair[0] = rad * th.cos();
            if pair.len() > 1 {
                pair[1] = rad * th.sin();
            }
        }
    });
}

/// Standard normal float32 pairs by the same Box-Muller transform, from the same draws as
/// `fill_normal` (so a seed gives the float64 path's numbers to within 2 ulp), but in lanes: a
/// float64 log, sin and cos per pair through libm made randn 2.5-2.9x PyTorch's time. The draws
/// stay serial (each chunk is one stream); the transform runs on blocks of them. It never fuses
/// multiply-adds, in any of its compiled copies, so a seed gives the same bits on every CPU.
pub fn fill_normal_f32(out: &mut [f32]) {
    fill(out, |r, c| {
        let mut u = [[0f64; 2]; 64];
        for block in c.chunks_mut(2 * u.len()) {
            let pairs = &mut u[..block.len().div_ceil(2)];
            for p in pairs.iter_mut() {
                *p = [1.0 - uniform_f64(r), uniform_f64(r)];
            }
            normal_pairs::<f32>(pairs, block);
        }
    });
}

/// `out` from the pairs (u1 in (0, 1], u2 in [0, 1)); an odd `out` takes only the last pair's first.
#[inline(always)]
#[allow(clippy::extra_unused_type_parameters)] // `multiversion!` gives every body an element type
fn normal_pairs_body<T: crate::tensor::Float, const FMA: bool>(u: &[[f64; 2]], out: &mut [f32]) {
    let (pairs, last) = out.as_chunks_mut::<2>();
    for (o, &[u1, u2]) in pairs.iter_mut().zip(u) {
        let (a, b) = normal_pair(u1, u2);
        *o = [a, b];
    }
    if let ([x], Some(&[u1, u2])) = (last, u.get(pairs.len())) {
        *x = normal_pair(u1, u2).0;
    }
}

crate::multiversion!(normal_pairs_body, normal_pairs_avx2, normal_pairs, crate::tensor::Float, (u: &[[f64; 2]], out: &mut [f32]) -> ());

/// sqrt(-2 ln u1) (cos 2 pi u2, sin 2 pi u2) in float32 arithmetic, each within 2 ulp.
/// ln u1 is float32's log of u1 rounded, plus the first-order term of ln(u1 / rounded): without
/// it, every u1 within 2^-25 of 1 would round to 1 and give exactly 0 where the value is up to
/// 3e-4. The angle is reduced in turns, where it is exact (u2 - j / 4), then scaled by 2 pi.
#[inline(always)]
fn normal_pair(u1: f64, u2: f64) -> (f32, f32) {
    let rounded = u1 as f32;
    let ln = crate::vmath_log1p::log_f32::<false>(rounded) + ((u1 - rounded as f64) / rounded as f64) as f32;
    let rad = (-2.0 * ln).sqrt();
    let j = (4.0 * u2).round_ties_even();
    let (sin, cos) = crate::ops::trig::sincos_quadrant::<false>((u2 - 0.25 * j) * std::f64::consts::TAU, j);
    (rad * cos as f32, rad * sin as f32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_numbers_and_state_round_trips() {
        manual_seed(3);
        let mut a = vec![0.0; 200_000];
        fill(&mut a, |r, c| c.iter_mut().for_each(|v| *v = uniform_f64(r)));
        manual_seed(3);
        let mut b = vec![0.0; 200_000];
        fill(&mut b, |r, c| c.iter_mut().for_each(|v| *v = uniform_f64(r)));
        assert_eq!(a, b);
        let st = get_state();
        let x = next_seed();
        set_state(&st).unwrap();
        assert_eq!(next_seed(), x);
    }

    /// The float32 path against the float64 one on the same draws: within 2 ulp (or 1e-7
    /// absolute near 0, where cos or sin of the angle cancels), odd lengths included.
    #[test]
    fn float32_normals_match_float64_draws() {
        for len in [1, 7, 128, 129, 200_001] {
            let mut want = vec![0.0; len];
            let mut r = stream(11, 0);
            for pair in want.chunks_mut(2) {
                let (u1, u2) = (1.0 - uniform_f64(&mut r), uniform_f64(&mut r));
                let rad = (-2.0 * u1.ln()).sqrt();
                let th = std::f64::consts::TAU * u2;
                pair[0] = rad * th.cos();
                if pair.len() > 1 {
                    pair[1] = rad * th.sin();
                }
            }
            let mut r = stream(11, 0);
            let mut u = vec![[0f64; 2]; len.div_ceil(2)];
            u.iter_mut().for_each(|p| *p = [1.0 - uniform_f64(&mut r), uniform_f64(&mut r)]);
            let mut got = vec![0f32; len];
            normal_pairs::<f32>(&u, &mut got);
            for (i, (&g, &w)) in got.iter().zip(&want).enumerate() {
                let err = (g as f64 - w).abs();
                let ulp = (w as f32).abs().max(f32::MIN_POSITIVE) as f64 * f32::EPSILON as f64;
                assert!(err <= 2.0 * ulp || err <= 1e-7, "len {len}, element {i}: {g} against {w}");
            }
        }
    }

    /// u1 just below 1 (ln u1 tiny), u1 at its smallest (the far tail) and the quadrant edges.
    #[test]
    fn float32_normals_at_the_edges() {
        let cases = [[1.0 - 2f64.powi(-53), 0.0], [1.0 - 3e-9, 0.25], [2f64.powi(-53), 0.5], [0.5, 0.125], [0.5, 0.875], [1.0, 0.3]];
        let mut got = vec![0f32; 2 * cases.len()];
        normal_pairs::<f32>(&cases, &mut got);
        for (&[u1, u2], z) in cases.iter().zip(got.chunks(2)) {
            let rad = (-2.0 * u1.ln()).sqrt();
            let th = std::f64::consts::TAU * u2;
            for (g, w) in z.iter().zip([rad * th.cos(), rad * th.sin()]) {
                let err = (*g as f64 - w).abs();
                assert!(err <= 2.5e-7 * w.abs() || err <= 1e-7 * rad.max(1e-30), "u1 {u1}, u2 {u2}: {g} against {w}");
            }
        }
    }
}
