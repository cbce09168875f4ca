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
}
