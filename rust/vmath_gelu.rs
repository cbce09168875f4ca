//! Exact GELU's forward, x Phi(x), over float32 slices on AVX-512: Phi read from a table of
//! polynomials instead of computed from an exponential and a division.
//!
//! `vmath_phi`'s branch-free Phi costs about 27 operations a lane, and GELU's forward is bound
//! by how many there are. Here Phi(-|x|) is one of 32 degree-7 polynomials in |x|, one per
//! quarter unit up to 7.875 (`tools/fit_erf.py`), and Phi(x) is that or 1 minus it. Each
//! coefficient comes from a two-register permute (`vpermt2ps`: 32 entries, one instruction), so
//! a lane costs about 24 operations with no division and no exponential. 4M values at 1 thread
//! on Zen 4: 0.49 -> 0.39-0.43 ns each, the same for inputs of standard deviation 0.5, 1 or 2
//! (PyTorch 0.53-0.66 in the same runs).
//!
//! Values below -7.87 (where Phi < 2e-15) and NaN take `vmath_phi`'s form. The table runs over
//! every vector first and lists those with such a lane; each listed vector then computes the form
//! and keeps the table's result in its lanes inside, so each value's result depends on it alone,
//! never on its neighbours or the thread count. With a normal sample of standard deviation 3,
//! 0.4% of values and 7% of vectors are below the table (0.50 ns a value, rustc 1.95); at 5,
//! 5.8% and 61% (0.80 ns). The table's x Phi(x) is within 3.5 ulp above
//! -5.6 and 3e-7 relative (about 5 ulp) below (test below), inside `vmath_phi`'s bounds, but not
//! the same bits: exact GELU's forward (with float16 and bfloat16's, which compute in float32)
//! is the one op whose AVX-512 result differs from its AVX2 one, by an ulp or two of float32
//! (`tests/test_simd_copies.py`). AVX2's 8-entry permute would need four
//! permutes and three blends a coefficient, slower than the form, so AVX2 and older CPUs keep it.

use std::mem::MaybeUninit;

/// x Phi(x) for every x, into `out`; false (doing nothing) when the CPU has no AVX-512.
pub fn gelu_f32(out: &mut [MaybeUninit<f32>], x: &[f32]) -> bool {
    assert_eq!(out.len(), x.len(), "gelu: output and input lengths");
    #[cfg(target_arch = "x86_64")]
    if crate::simd::has_avx512() {
        // SAFETY: the CPU has AVX-512 F/VL/BW/DQ, AVX2 and FMA (checked just above).
        unsafe { gelu_avx512(out, x) };
        return true;
    }
    false
}

/// `vmath_phi`'s x Phi(x), for lanes outside the table (and the test's reference).
#[inline(always)]
fn gelu_formula(x: f32) -> f32 {
    x * crate::vmath_phi::phi_pdf_f32::<true>(x).0
}

/// The table's 32 intervals end at 7.875 in |x|. A larger positive value is held at its last
/// one (where 1 - q is 1); a more negative one takes the form.
const TABLE_END: f32 = 7.87;

/// `gelu_formula` on 16 lanes, compiled for AVX-512 but kept out of the kernel's loop (see
/// `table_run`): it is the rare path.
#[cfg(target_arch = "x86_64")]
#[inline(never)]
#[target_feature(enable = "avx512f,avx512vl,avx512bw,avx512dq,avx2,fma")]
fn formula_avx512(v: std::arch::x86_64::__m512) -> std::arch::x86_64::__m512 {
    // SAFETY: __m512 and [f32; 16] have the same size, and every bit pattern is valid in both.
    let lanes: [f32; 16] = unsafe { std::mem::transmute(v) };
    let mut y = [0f32; 16];
    // A plain loop (a closure given to `map` may be compiled outside the kernel's features).
    for (y, &x) in y.iter_mut().zip(&lanes) {
        *y = gelu_formula(x);
    }
    // SAFETY: as above.
    unsafe { std::mem::transmute::<[f32; 16], std::arch::x86_64::__m512>(y) }
}

/// The table's coefficient rows, each as two registers: intervals 0-15 and 16-31.
#[cfg(target_arch = "x86_64")]
type Rows = [(std::arch::x86_64::__m512, std::arch::x86_64::__m512); 8];

#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn load_rows() -> Rows {
    use std::arch::x86_64::*;
    // A plain loop: `array::from_fn`'s closure is compiled outside the caller's features, and
    // each load became a call.
    // SAFETY: the caller has AVX-512 F. Each row holds 32 floats; unaligned loads.
    unsafe {
        let mut rows = [(_mm512_setzero_ps(), _mm512_setzero_ps()); 8];
        for (row, coefficients) in rows.iter_mut().zip(&PHI_TABLE) {
            *row = (_mm512_loadu_ps(coefficients.as_ptr()), _mm512_loadu_ps(coefficients.as_ptr().add(16)));
        }
        rows
    }
}

/// x Phi(x) from the table, for lanes inside it (>= -7.87, not NaN); other lanes get garbage.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn table(rows: &Rows, v: std::arch::x86_64::__m512) -> std::arch::x86_64::__m512 {
    use std::arch::x86_64::*;
    // SAFETY: the caller has AVX-512 F/DQ.
    unsafe {
        // a = min(|x|, TABLE_END) in one instruction (vrangeps: the smaller magnitude, sign
        // cleared).
        let a = _mm512_range_ps::<0b1010>(v, _mm512_set1_ps(TABLE_END));
        // k = 4 a rounded to the nearest integer, in the low mantissa bits of 4 a + 1.5 * 2^23
        // (the permute reads the low five bits); a's interval is centred on k / 4, and
        // v = a - k / 4 is exact.
        const ROUND: f32 = 12_582_912.0;
        let rounded = _mm512_fmadd_ps(a, _mm512_set1_ps(4.0), _mm512_set1_ps(ROUND));
        let index = _mm512_castps_si512(rounded);
        let offset = _mm512_fmadd_ps(_mm512_sub_ps(rounded, _mm512_set1_ps(ROUND)), _mm512_set1_ps(-0.25), a);
        let mut q = _mm512_permutex2var_ps(rows[0].0, index, rows[0].1);
        for row in &rows[1..] {
            q = _mm512_fmadd_ps(q, offset, _mm512_permutex2var_ps(row.0, index, row.1));
        }
        // Phi = q below 0, 1 - q above (the sign bit: -0 takes q, and -0 q = -0 as the form
        // gives); 1 - q is 1 past 5.5, so +inf gives inf.
        let negative = _mm512_movepi32_mask(_mm512_castps_si512(v));
        _mm512_mul_ps(v, _mm512_mask_sub_ps(q, !negative, _mm512_set1_ps(1.0), q))
    }
}

/// The lanes inside the table; below its end a value takes the form, and NaN fails the test too.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn inside(v: std::arch::x86_64::__m512) -> std::arch::x86_64::__mmask16 {
    use std::arch::x86_64::*;
    // SAFETY: the caller has AVX-512 F.
    unsafe { _mm512_cmp_ps_mask::<_CMP_GE_OQ>(v, _mm512_set1_ps(-TABLE_END)) }
}

/// How many vectors with a lane outside the table `table_run` lists before it returns.
const PENDING: usize = 64;

/// The table's x Phi(x) for whole vectors from `i`, listing in `pending` each vector with a lane
/// outside the table (its outside lanes hold garbage until `gelu_avx512` redoes them); returns
/// where it stopped (fewer than 16 values left, or `pending` full) and how many it listed.
///
/// Its own function with no call in its loop, so the 16 table registers stay loaded: with
/// `formula_avx512`'s call in the loop (it clobbers every vector register) the compiler reloaded
/// each row at each use, and the loads, not the arithmetic, set the speed (rustc 1.95: 0.56 ns a
/// value here against 0.40).
#[cfg(target_arch = "x86_64")]
#[inline(never)]
#[target_feature(enable = "avx512f,avx512vl,avx512bw,avx512dq,avx2,fma")]
unsafe fn table_run(dst: *mut f32, src: *const f32, n: usize, mut i: usize, pending: &mut [usize; PENDING]) -> (usize, usize) {
    use std::arch::x86_64::*;
    let mut listed = 0;
    // SAFETY: this function's features; the caller's src and dst hold n values. Every access
    // below is within i + 32 <= n or i + 16 <= n.
    unsafe {
        let rows = load_rows();
        // Two vectors a step: each is a chain of eight dependent permute-FMA steps. The listing
        // is branch-free (a vector's position is written, and kept only if it is outside), so
        // a mix of vectors in and out of the table costs no mispredicted branches.
        while i + 32 <= n && listed + 2 <= PENDING {
            let (v0, v1) = (_mm512_loadu_ps(src.add(i)), _mm512_loadu_ps(src.add(i + 16)));
            _mm512_storeu_ps(dst.add(i), table(&rows, v0));
            _mm512_storeu_ps(dst.add(i + 16), table(&rows, v1));
            pending[listed] = i;
            listed += usize::from(inside(v0) != !0);
            pending[listed] = i + 16;
            listed += usize::from(inside(v1) != !0);
            i += 32;
        }
        while i + 16 <= n && listed < PENDING {
            let v = _mm512_loadu_ps(src.add(i));
            _mm512_storeu_ps(dst.add(i), table(&rows, v));
            pending[listed] = i;
            listed += usize::from(inside(v) != !0);
            i += 16;
        }
    }
    (i, listed)
}

/// The lanes of `v` outside the table from the form, the others kept from `from_table`: each
/// value's result depends on it alone.
#[cfg(target_arch = "x86_64")]
#[inline(never)]
#[target_feature(enable = "avx512f,avx512vl,avx512bw,avx512dq,avx2,fma")]
fn mixed(v: std::arch::x86_64::__m512, from_table: std::arch::x86_64::__m512) -> std::arch::x86_64::__m512 {
    use std::arch::x86_64::*;
    // SAFETY: this function's features.
    unsafe { _mm512_mask_blend_ps(inside(v), formula_avx512(v), from_table) }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512vl,avx512bw,avx512dq,avx2,fma")]
unsafe fn gelu_avx512(out: &mut [MaybeUninit<f32>], x: &[f32]) {
    use std::arch::x86_64::*;
    let n = x.len();
    let (src, dst) = (x.as_ptr(), out.as_mut_ptr().cast::<f32>());
    let mut pending = [0; PENDING];
    let mut i = 0;
    while i + 16 <= n {
        // SAFETY: x and out hold n values; MaybeUninit<f32> has f32's layout. Each listed
        // position has 16 values from it.
        unsafe {
            let listed;
            (i, listed) = table_run(dst, src, n, i, &mut pending);
            for &j in &pending[..listed] {
                _mm512_storeu_ps(dst.add(j), mixed(_mm512_loadu_ps(src.add(j)), _mm512_loadu_ps(dst.add(j))));
            }
        }
    }
    if i < n {
        let mask: __mmask16 = (1u16 << (n - i)) - 1;
        // SAFETY: the mask keeps the load and the store within the n - i < 16 values from i.
        // The masked-off lanes load as 0, which is inside the table.
        unsafe {
            let v = _mm512_maskz_loadu_ps(mask, src.add(i));
            _mm512_mask_storeu_ps(dst.add(i), mask, mixed(v, table(&load_rows(), v)));
        }
    }
}

/// Phi(-a) = erfc(a / sqrt 2) / 2 on 32 intervals of a = |x| a quarter wide, centred on
/// k / 4 (the first is [0, 1/8]): row j holds every interval's coefficient of v^(7 - j),
/// v = a - k / 4. Printed by `tools/fit_erf.py` (`phi_table`), with the fit's relative error,
/// coefficients rounded to float32:
#[allow(clippy::excessive_precision)]
// fit relative error by interval: 3.2e-09, 2.6e-08, 1.6e-08, 1.7e-08, 2.2e-08, 2.9e-08, 2.7e-08, 1.2e-08, 1.7e-08, 4.2e-08, 2.1e-08, 6.2e-08, 2.7e-08, 4.0e-08, 2.7e-08, 1.7e-08, 6.9e-08, 6.5e-08, 8.8e-08, 2.6e-08, 9.9e-08, 5.1e-08, 3.0e-08, 1.4e-08, 1.1e-07, 3.6e-08, 9.0e-08, 5.7e-08, 9.3e-08, 9.6e-08, 1.3e-07, 1.9e-07
const PHI_TABLE: [[f32; 32]; 8] = [
    [0.0011680441675707698, 0.0009342216071672738, 0.0003226776607334614, -0.0003440635045990348, -0.0007666210294701159, -0.0008118798141367733, -0.0005539570702239871, -0.00018318348156753927, 0.00011878603254444897, 0.00026306157815270126, 0.0002613891556393355, 0.00017920506070367992, 8.347005496034399e-05, 1.3524283531296533e-05, -2.1462017684825696e-05, -3.014327558048535e-05, -2.5353703676955774e-05, -1.6872529158717953e-05, -9.573041097610258e-06, -4.787112175108632e-06, -2.143646725016879e-06, -8.691339417055133e-07, -3.220906705792004e-07, -1.0927180227326971e-07, -3.412766602650663e-08, -9.834932868102442e-09, -2.6146207421362533e-09, -6.469002000741852e-10, -1.481357397858929e-10, -3.153254046761589e-11, -6.25194037165433e-12, -1.1503671279444738e-12],
    [5.582786343438784e-06, 0.0019228671444579959, 0.0030608249362558126, 0.0030305658001452684, 0.0020127876196056604, 0.0005780844367109239, -0.0006520553724840283, -0.0013043566141277552, -0.001346299541182816, -0.0009904513135552406, -0.0005143897724337876, -0.00012073497055098414, 0.00010949093120871112, 0.00019101383804809302, 0.00018023911979980767, 0.0001324588229181245, 8.265267388196662e-05, 4.5369117287918925e-05, 2.232424412795808e-05, 9.96012931864243e-06, 4.055070803588023e-06, 1.5146782743613585e-06, 5.216523391027295e-07, 1.6582387729613401e-07, 4.880798343265269e-08, 1.3322037695218114e-08, 3.372886414609866e-09, 7.957426384486155e-10, 1.7452166101161737e-10, 3.5666060382855136e-11, 6.800050540017866e-12, 1.207691282048562e-12],
    [-0.009974273853003979, -0.008470851927995682, -0.004584093578159809, 0.00014709754032082856, 0.004032849799841642, 0.005987163167446852, 0.005868673790246248, 0.0043109809048473835, 0.0022495798766613007, 0.0004618354723788798, -0.000666412990540266, -0.0011227496434003115, -0.0011079341638833284, -0.0008655654382891953, -0.0005786014953628182, -0.0003419571730773896, -0.00018179025209974498, -8.78375067259185e-05, -3.8838312320876867e-05, -1.578987757966388e-05, -5.9230146689515095e-06, -2.055419599855668e-06, -6.612289666918514e-07, -1.9751674074086623e-07, -5.4858190878803725e-08, -1.4182231389270328e-08, -3.41595352004731e-09, -7.671812629617136e-10, -1.607617788890181e-10, -3.1450324983195443e-11, -5.747071221695599e-12, -9.813770889682827e-13],
    [4.892578431281436e-08, -0.011831563897430897, -0.020170310512185097, -0.022938106209039688, -0.020164193585515022, -0.013674920424818993, -0.006071194540709257, 0.00039314001332968473, 0.004499214701354504, 0.006137148942798376, 0.005934068467468023, 0.004754004999995232, 0.0033238984178751707, 0.0020779320038855076, 0.0011772157158702612, 0.0006094671553000808, 0.00028996425680816174, 0.00012727963621728122, 5.169659198145382e-05, 1.9472401618259028e-05, 6.813860636611935e-06, 2.2181361600814853e-06, 6.724968670823728e-07, 1.900721429137775e-07, 5.0119709271712054e-08, 1.2338212229678902e-08, 2.8373294824746154e-09, 6.097628513224151e-10, 1.2252564240977648e-10, 2.3027928522378893e-11, 4.0493081977788226e-12, 6.664448181682714e-13],
    [0.06649038195610046, 0.06041689217090607, 0.04400816559791565, 0.021957937628030777, -1.4470427633916927e-10, -0.017123350873589516, -0.026982830837368965, -0.02965782769024372, -0.02699548378586769, -0.021490389481186867, -0.015337263233959675, -0.009946084581315517, -0.005909131374210119, -0.0032337955199182034, -0.0016362800961360335, -0.0007676301756873727, -0.00033457553945481777, -0.0001356998400297016, -5.1281149353599176e-05, -1.807477747206576e-05, -5.9468707149790134e-06, -1.8277053186466219e-06, -5.250242338661337e-07, -1.4103397916187532e-07, -3.544244719932976e-08, -8.335635293121868e-09, -1.8353036868035133e-09, -3.7840039435188544e-10, -7.307657257094036e-11, -1.322153758004374e-11, -2.241542455122536e-12, -3.561643709994178e-13],
    [3.312092267115929e-11, 0.04833351448178291, 0.0880163311958313, 0.11292653530836105, 0.12098535895347595, 0.11415567994117737, 0.09713819622993469, 0.07549265772104263, 0.05399096757173538, 0.03570710867643356, 0.021910374984145164, 0.012503648176789284, 0.006647772621363401, 0.0032972029875963926, 0.0015271947486326098, 0.0006611169083043933, 0.0002676604490261525, 0.00010140210360987112, 3.596342139644548e-05, 1.1945081496378407e-05, 3.7167994832998374e-06, 1.0837239869943005e-06, 2.961685652280721e-07, 7.587829742305985e-08, 1.822766826364841e-08, 4.106261553005197e-09, 8.676071527879969e-10, 1.7195454782292785e-10, 3.1971609387726474e-11, 5.577219675673151e-12, 9.128747020456518e-13, 1.4020966191460177e-13],
    [-0.3989422917366028, -0.3866681158542633, -0.3520653247833252, -0.30113741755485535, -0.2419707179069519, -0.18264909088611603, -0.1295175999403, -0.0862773209810257, -0.05399096757173538, -0.031739652156829834, -0.01752830110490322, -0.00909356214106083, -0.004431848414242268, -0.0020290480460971594, -0.0008726827218197286, -0.0003525956708472222, -0.00013383022451307625, -4.771863677888177e-05, -1.598374183231499e-05, -5.029507519793697e-06, -1.486719497734157e-06, -4.128471005060419e-07, -1.0769760194762057e-07, -2.639243312785311e-08, -6.075883351996936e-09, -1.3140019072821474e-09, -2.6695567978407553e-10, -5.094939053984504e-11, -9.134722492309955e-12, -1.5385385023283793e-12, -2.4343217329067524e-13, -3.61829672940097e-14],
    [0.5, 0.40129366517066956, 0.3085375428199768, 0.22662734985351562, 0.15865525603294373, 0.10564977675676346, 0.06680720299482346, 0.040059156715869904, 0.0227501317858696, 0.012224473059177399, 0.006209665443748236, 0.0029797633178532124, 0.0013498980551958084, 0.0005770250572822988, 0.00023262908507604152, 8.84172841324471e-05, 3.16712430503685e-05, 1.0688525435398333e-05, 3.3976730264839716e-06, 1.017083263832319e-06, 2.8665158424701076e-07, 7.604960217122425e-08, 1.8989561922921894e-08, 4.462172409347431e-09, 9.86587589402177e-10, 2.052263359253459e-10, 4.0160003794698085e-11, 7.392257812821601e-12, 1.279812518982515e-12, 2.0838581240353177e-13, 3.190891358106386e-14, 4.594627307877861e-15],
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vmath::tests::{sweep, ulps};

    /// The table's x Phi(x) within 3.5 ulp of float64 above -5.6 and within 4e-7 relative
    /// down to -7.87, the table's end; below it and at NaN exactly `vmath_phi`'s form; the
    /// infinities, zeros and largest values exactly.
    #[test]
    fn gelu_table_within_three_and_a_half_ulp() {
        let mut xs = Vec::new();
        sweep(|x| xs.push(x));
        // Dense across the table and a little past it.
        xs.extend((0..3_000_000).map(|k| -8.5 + 17.0 * k as f32 / 3e6));
        let mut out = vec![MaybeUninit::uninit(); xs.len()];
        if !gelu_f32(&mut out, &xs) {
            eprintln!("gelu_table: no AVX-512 on this CPU, nothing to test");
            return;
        }
        let (mut worst, mut tail) = ((0f64, 0f32), (0f64, 0f32));
        for (&x, y) in xs.iter().zip(&out) {
            // SAFETY: gelu_f32 wrote every element.
            let y = unsafe { y.assume_init() };
            let want = x as f64 * 0.5 * libm::erfc(-(x as f64) * std::f64::consts::FRAC_1_SQRT_2);
            if x > -5.6 && x.is_finite() {
                let e = ulps(y, want);
                if e > worst.0 {
                    worst = (e, x);
                }
            } else if x >= -TABLE_END && x.is_finite() {
                let e = (y as f64 / want - 1.0).abs();
                if e > tail.0 {
                    tail = (e, x);
                }
            } else if x < -TABLE_END || x.is_nan() {
                let want = gelu_formula(x);
                assert!(y.to_bits() == want.to_bits() || (y.is_nan() && want.is_nan()), "gelu({x}): {y} where vmath_phi gives {want}");
            }
        }
        eprintln!("gelu table: {worst:?} ulp, tail {tail:?} relative");
        assert!(worst.0 <= 3.5, "gelu table: {} ulp at {}", worst.0, worst.1);
        assert!(tail.0 <= 4e-7, "gelu table: {} relative at {}", tail.0, tail.1);
        let specials = [(f32::INFINITY, f32::INFINITY), (0.0, 0.0), (-0.0, -0.0), (f32::MAX, f32::MAX), (1e-45, 0.0), (-1e-45, -0.0)];
        let xs: Vec<f32> = specials.iter().map(|s| s.0).collect();
        let mut out = vec![MaybeUninit::uninit(); xs.len()];
        assert!(gelu_f32(&mut out, &xs));
        for (&(x, want), y) in specials.iter().zip(&out) {
            // SAFETY: written.
            let y = unsafe { y.assume_init() };
            assert_eq!(y.to_bits(), want.to_bits(), "gelu({x:e}) = {y:e}, not {want:e}");
        }
    }

    /// Each value's result is its own, whatever its neighbours (values below the table, NaN,
    /// infinities mixed in), its slice position or the slice's length (the main loop's two
    /// vectors, the masked tail), and nothing is written past the slice.
    #[test]
    fn gelu_table_results_depend_on_the_value_alone() {
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = || {
            seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            (seed >> 33) as u32
        };
        let specials = [f32::NAN, f32::INFINITY, f32::NEG_INFINITY, -0.0, 0.0, -7.87, -7.870_001, -9.0, -30.0, 7.9, 1e30];
        let xs: Vec<f32> = (0..4096)
            .map(|_| match next() % 4 {
                0 => specials[next() as usize % specials.len()],
                _ => (next() as f32 / u32::MAX as f32 - 0.6) * 20.0,
            })
            .collect();
        let mut whole = vec![MaybeUninit::uninit(); xs.len()];
        if !gelu_f32(&mut whole, &xs) {
            eprintln!("gelu_table: no AVX-512 on this CPU, nothing to test");
            return;
        }
        // SAFETY: written.
        let whole: Vec<u32> = whole.iter().map(|y| unsafe { y.assume_init() }.to_bits()).collect();
        const GUARD: f32 = 12345.0;
        for len in 0..=70 {
            for start in [0, 1, 7, 15, 16, 17, 31, 100] {
                let mut buf = vec![MaybeUninit::new(GUARD); len + 32];
                assert!(gelu_f32(&mut buf[16..16 + len], &xs[start..start + len]));
                for (k, y) in buf.iter().enumerate() {
                    // SAFETY: the guards were initialised, the rest written.
                    let y = unsafe { y.assume_init() };
                    if (16..16 + len).contains(&k) {
                        assert_eq!(y.to_bits(), whole[start + k - 16], "gelu({}) at {start}+{} of {len}", xs[start + k - 16], k - 16);
                    } else {
                        assert_eq!(y, GUARD, "gelu wrote past a slice of {len} at {k}");
                    }
                }
            }
        }
    }
}
