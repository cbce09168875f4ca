//! `gemm_packed`'s tests: products against a float64 loop at every tail and layout, the AVX2 and
//! AVX-512 blocks bit for bit, repacking into a kept allocation, and left rows 4 KiB apart.

use super::*;

fn naive(a: &[f32], b: &[f32], (m, k, n): (usize, usize, usize)) -> Vec<f64> {
    let mut c = vec![0f64; m * n];
    for i in 0..m {
        for j in 0..n {
            c[i * n + j] = (0..k).map(|p| a[i * k + p] as f64 * b[p * n + j] as f64).sum();
        }
    }
    c
}

fn transpose(v: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    (0..rows * cols).map(|i| v[(i % rows) * cols + i / rows]).collect()
}

/// Every tail (rows, columns, k blocks), both layouts of both operands, accumulation, and
/// the row and column splits; exact, since the values are multiples of 1/8 with short sums.
#[test]
fn products_match_naive_at_every_tail() {
    if !usable() {
        return;
    }
    for &(m, k, n) in &[(1, 1, 1), (5, 3, 17), (6, 16, 16), (7, 9, 33), (16, 40, 48), (13, 2, 15), (4, 0, 5), (200, 300, 40), (400, 20, 130)] {
        let a: Vec<f32> = (0..m * k).map(|i| ((i * 37 % 11) as f32 - 5.0) * 0.25).collect();
        let b: Vec<f32> = (0..k * n).map(|i| ((i * 13 % 7) as f32 - 3.0) * 0.5).collect();
        let (at, bt) = (transpose(&a, m, k), transpose(&b, k, n));
        let want = naive(&a, &b, (m, k, n));
        for threads in [1, 3] {
            for (src, b_t) in [(&b, false), (&bt, true)] {
                let p = PackedRhs::new(src, b_t, k, n, threads).unwrap();
                for a_t in [false, true] {
                    let am = if a_t { Mat::rows_t(at.as_ptr(), m) } else { Mat::rows(a.as_ptr(), k) };
                    let mut c = vec![1f32; m * n];
                    // SAFETY: am addresses m x k, c is its own m x n Vec.
                    unsafe { p.product(c.as_mut_ptr(), n, am, m, true, threads) };
                    assert!(c.iter().zip(&want).all(|(&x, &w)| x as f64 == w + 1.0), "{m}x{k}x{n} accumulate, b_t {b_t} a_t {a_t}");
                }
                let mut c = vec![f32::NAN; m * n];
                p.mm(&mut c, &a, m, false, threads);
                assert!(c.iter().zip(&want).all(|(&x, &w)| x as f64 == w), "{m}x{k}x{n}, b_t {b_t}");
            }
        }
    }
}

/// Left rows a multiple of 4 KiB apart (copied block by block on AVX-512): whole and
/// partial row blocks (MC tails), k blocks with tails, k shorter than the row stride, and
/// the column split; exact, as above.
#[test]
fn left_rows_4k_apart_match_naive() {
    if !usable() {
        return;
    }
    for &(m, k, lda, n) in &[(30, 1024, 1024, 20), (13, 300, 1024, 17), (100, 2048, 2048, 40), (9, 1000, 2048, 33)] {
        let stored: Vec<f32> = (0..m * lda).map(|i| ((i * 37 % 11) as f32 - 5.0) * 0.25).collect();
        let a: Vec<f32> = (0..m * k).map(|i| stored[i / k * lda + i % k]).collect();
        let b: Vec<f32> = (0..k * n).map(|i| ((i * 13 % 7) as f32 - 3.0) * 0.5).collect();
        let want = naive(&a, &b, (m, k, n));
        for threads in [1, 2] {
            let p = PackedRhs::new(&b, false, k, n, threads).unwrap();
            let mut c = vec![f32::NAN; m * n];
            // SAFETY: rows of k elements lda apart inside `stored`; c is its own m x n Vec.
            unsafe { p.product(c.as_mut_ptr(), n, Mat::rows(stored.as_ptr(), lda), m, false, threads) };
            assert!(c.iter().zip(&want).all(|(&x, &w)| x as f64 == w), "{m}x{k}x{n}, row stride {lda}, {threads} threads");
        }
    }
}

/// The AVX2 and AVX-512 blocks (the machine runs one of them through `product`) give the
/// same bits at every row tail, both layouts of the left operand, with and without adding.
#[test]
fn wide_and_narrow_blocks_agree_bit_for_bit() {
    if !crate::simd::has_avx512() {
        return;
    }
    for &(m, k, n) in &[(1, 3, 16), (11, 7, 20), (12, 300, 33), (25, 17, 48), (97, 260, 40), (20, 1024, 24)] {
        let a: Vec<f32> = (0..m * k).map(|i| ((i * 2654435761usize) % 1000) as f32 / 997.0 - 0.5).collect();
        let b: Vec<f32> = (0..k * n).map(|i| ((i * 40503usize) % 1000) as f32 / 991.0 - 0.5).collect();
        let p = PackedRhs::new(&b, false, k, n, 1).unwrap();
        let at = transpose(&a, m, k);
        let panels = n.div_ceil(NR);
        for a_t in [false, true] {
            for add in [false, true] {
                let am = if a_t { Mat::rows_t(at.as_ptr(), m) } else { Mat::rows(a.as_ptr(), k) };
                let (mut c1, mut c2) = (vec![0.25f32; m * n], vec![0.25f32; m * n]);
                // SAFETY: AVX-512 (checked above); am addresses m x k, each c is m x n.
                unsafe {
                    blocked_narrow(c1.as_mut_ptr(), n, am, &p, add, (0, m), (0, panels));
                    blocked_wide(c2.as_mut_ptr(), n, am, &p, add, (0, m), (0, panels));
                }
                assert!(c1.iter().zip(&c2).all(|(x, y)| x.to_bits() == y.to_bits()), "{m}x{k}x{n} a_t {a_t} add {add}");
            }
        }
    }
}

/// Repacking row by row into a kept allocation: a narrower matrix after a wider one must not
/// see the wider one's columns in its last panel.
#[test]
fn pack_rows_reuses_and_matches_naive() {
    let Some(mut p) = PackedRhs::empty() else { return };
    let mut buf = Vec::new();
    for &(m, k, n) in &[(7, 5, 40), (5, 3, 17), (9, 30, 33), (2, 4, 3)] {
        let a: Vec<f32> = (0..m * k).map(|i| ((i * 37 % 11) as f32 - 5.0) * 0.25).collect();
        let b: Vec<f32> = (0..k * n).map(|i| ((i * 13 % 7) as f32 - 3.0) * 0.5).collect();
        p.pack_rows(k, n, &mut buf, |kk, row| row.copy_from_slice(&b[kk * n..(kk + 1) * n]));
        let mut c = vec![f32::NAN; m * n];
        p.mm(&mut c, &a, m, false, 1);
        let want = naive(&a, &b, (m, k, n));
        assert!(c.iter().zip(&want).all(|(&x, &w)| x as f64 == w), "{m}x{k}x{n}");
    }
}
