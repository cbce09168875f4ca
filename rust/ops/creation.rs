//! Factories: arange, linspace, eye and the seeded random ones.

use crate::bail;
use crate::error::Result;
use crate::random::{fill, fill_normal, fill_normal_f32, uniform_f32, uniform_f64};
use crate::tensor::alloc::{numel, vec_filled};
use crate::tensor::{DType, Element, Scalar, Tensor};
use crate::with_dtype;

/// Converts in place of a second full-size Vec when the dtype is float64 already.
fn from_f64s(v: Vec<f64>, shape: &[usize], dtype: DType) -> Result<Tensor> {
    if dtype == DType::F64 {
        return Ok(Tensor::from_vec_unchecked(v, shape));
    }
    with_dtype!(dtype, T => {
        let mut out: Vec<T> = crate::tensor::alloc::try_with_capacity(v.len())?;
        out.extend(v.into_iter().map(T::from_f64));
        Ok(Tensor::from_vec_unchecked(out, shape))
    })
}

/// The element count of a 1-D result of `n` elements, checked like any user shape.
fn length(n: f64, dtype: DType, op: &str) -> Result<usize> {
    // NaN fails this test too (hence not `n >= MAX`).
    if n.partial_cmp(&(usize::MAX as f64)) != Some(std::cmp::Ordering::Less) {
        bail!(Runtime, "{op}: Storage size calculation overflowed with sizes=[{n}]");
    }
    numel(&[n as usize], dtype.size_of().max(8), op)
}

pub fn arange(start: Scalar, end: Scalar, step: Scalar, dtype: DType) -> Result<Tensor> {
    if let (Scalar::Int(s0), Scalar::Int(e), Scalar::Int(st), true) = (start, end, step, dtype.is_integer()) {
        return arange_ints(s0, e, st, dtype);
    }
    let (start, end, step) = (start.as_f64(), end.as_f64(), step.as_f64());
    if step == 0.0 {
        bail!(Runtime, "arange: step must be nonzero");
    }
    if !(start.is_finite() && end.is_finite()) {
        bail!(Runtime, "arange: unsupported range: {start} -> {end}");
    }
    if (end - start) * step < 0.0 {
        bail!(Runtime, "arange: upper bound and lower bound inconsistent with step sign (start={start}, end={end}, step={step})");
    }
    let n = length(((end - start) / step).ceil().max(0.0), dtype, "arange")?;
    if dtype == DType::I64 {
        // PyTorch counts in doubles but steps in the integer type: arange(-1, 0, 0.5,
        // dtype=int64) is [-1, -1] (the step truncates to 0), not [-1, 0].
        let (s0, st) = (start as i64, step as i64);
        let mut v = vec_filled(n, 0i64)?;
        v.iter_mut().enumerate().for_each(|(i, x)| *x = s0.wrapping_add((i as i64).wrapping_mul(st)));
        return Ok(Tensor::from_vec_unchecked(v, &[n]));
    }
    let mut v = vec_filled(n, 0.0)?;
    v.iter_mut().enumerate().for_each(|(i, x)| *x = start + i as f64 * step);
    from_f64s(v, &[n], dtype)
}

/// Integer bounds into an integer dtype count in integers, as PyTorch's: in doubles,
/// `arange(2**60, 2**60 + 3)` would be empty (both bounds round to 2^60).
fn arange_ints(start: i64, end: i64, step: i64, dtype: DType) -> Result<Tensor> {
    if step == 0 {
        bail!(Runtime, "arange: step must be nonzero");
    }
    // PyTorch checks the direction in doubles and counts in integers: arange(2**60, 2**60 - 1)
    // passes the check (both bounds round to 2^60) and is empty.
    if (end as f64 - start as f64) * (step as f64) < 0.0 {
        bail!(Runtime, "arange: upper bound and lower bound inconsistent with step sign (start={start}, end={end}, step={step})");
    }
    // ceil(span / step), in i128 so no bound overflows.
    let n = (end as i128 - start as i128 + step as i128 - step.signum() as i128) / step as i128;
    if n < 0 {
        bail!(Runtime, "arange: invalid size {n}, possible overflow? (start={start}, end={end}, step={step})");
    }
    let n = length(n as f64, dtype, "arange")?;
    with_dtype!(dtype, T => {
        let mut v = vec_filled(n, T::from_i64(0))?;
        v.iter_mut().enumerate().for_each(|(i, x)| *x = T::from_i64(start.wrapping_add((i as i64).wrapping_mul(step))));
        Ok(Tensor::from_vec_unchecked(v, &[n]))
    })
}

pub fn linspace(start: f64, end: f64, steps: usize, dtype: DType) -> Result<Tensor> {
    let mut v = vec_filled(length(steps as f64, dtype, "linspace")?, start)?;
    if steps > 1 {
        // Symmetric like PyTorch: the second half counts back from `end`, so both ends are exact.
        // float32 and float64 as PyTorch's kernel computes them, in the dtype itself: the ends
        // and the step rounded to it, each value one fused multiply-add (its compiler contracts
        // `start + step * i`). The bits matter beyond the last digit: affine_grid's identity
        // grid must unnormalise to the very pixel coordinates PyTorch's does, or grid_sample
        // takes the other one-sided derivative there (an STN initialised at identity).
        let half = steps / 2;
        let k = |i: usize| if i < half { i } else { steps - 1 - i };
        match dtype {
            DType::F32 => {
                let (s, e) = (start as f32, end as f32);
                let step = (e - s) / (steps - 1) as f32;
                for (i, x) in v.iter_mut().enumerate() {
                    *x = if i < half { step.mul_add(k(i) as f32, s) } else { (-step).mul_add(k(i) as f32, e) } as f64;
                }
            }
            DType::F64 => {
                let step = (end - start) / (steps - 1) as f64;
                for (i, x) in v.iter_mut().enumerate() {
                    *x = if i < half { step.mul_add(k(i) as f64, start) } else { (-step).mul_add(k(i) as f64, end) };
                }
            }
            _ => {
                let step = (end - start) / (steps - 1) as f64;
                for (i, x) in v.iter_mut().enumerate() {
                    *x = if i < half { start + step * k(i) as f64 } else { end - step * k(i) as f64 };
                }
            }
        }
    }
    from_f64s(v, &[steps], dtype)
}

pub fn eye(n: usize, m: Option<usize>, dtype: DType) -> Result<Tensor> {
    let m = m.unwrap_or(n);
    let out = Tensor::try_full(&[n, m], crate::tensor::Scalar::Int(0), dtype)?;
    with_dtype!(dtype, T => {
        let mut guard = out.storage().write_unversioned();
        let v = T::slice_mut(&mut guard);
        for i in 0..n.min(m) {
            v[i * m + i] = T::from_f64(1.0);
        }
    });
    Ok(out)
}

/// Uniform [0, 1).
pub fn rand(shape: &[usize], dtype: DType) -> Result<Tensor> {
    let n = numel(shape, dtype.size_of(), "rand")?;
    Ok(match dtype {
        DType::F32 => {
            let mut v = vec_filled(n, 0f32)?;
            fill(&mut v, |r, c| c.iter_mut().for_each(|x| *x = uniform_f32(r)));
            Tensor::from_vec_unchecked(v, shape)
        }
        DType::F64 => {
            let mut v = vec_filled(n, 0f64)?;
            fill(&mut v, |r, c| c.iter_mut().for_each(|x| *x = uniform_f64(r)));
            Tensor::from_vec_unchecked(v, shape)
        }
        d => bail!(Runtime, "rand: \"check_uniform_bounds\" not implemented for '{}'", d.short_name()),
    })
}

/// Standard normal.
pub fn randn(shape: &[usize], dtype: DType) -> Result<Tensor> {
    if !dtype.is_float() {
        bail!(Runtime, "randn: \"normal_kernel_cpu\" not implemented for '{}'", dtype.short_name());
    }
    let n = numel(shape, 8, "randn")?;
    if dtype == DType::F64 {
        let mut v = vec_filled(n, 0f64)?;
        fill_normal(&mut v);
        return Ok(Tensor::from_vec_unchecked(v, shape));
    }
    // float32 and the half types: float32 lanes (the same draws; halves round from those).
    let mut v = vec_filled(n, 0f32)?;
    fill_normal_f32(&mut v);
    let t = Tensor::from_vec_unchecked(v, shape);
    if dtype == DType::F32 { Ok(t) } else { crate::ops::cast::to_dtype(&t, dtype) }
}

/// Integers uniform in [low, high).
pub fn randint(low: i64, high: i64, shape: &[usize], dtype: DType) -> Result<Tensor> {
    if high <= low {
        bail!(Runtime, "random_ expects 'from' to be less than 'to', but got from={low} >= to={high}");
    }
    let span = (high as i128 - low as i128) as u128;
    let n = numel(shape, 8, "randint")?;
    let mut v = vec_filled(n, 0i64)?;
    fill(&mut v, |r, c| {
        use rand_core::Rng;
        // Multiply-shift (Lemire): bias below 2^-64 * span, negligible for any tensor size.
        c.iter_mut().for_each(|x| *x = low + ((r.next_u64() as u128 * span) >> 64) as i64)
    });
    let t = Tensor::from_vec_unchecked(v, shape);
    if dtype == DType::I64 { Ok(t) } else { crate::ops::cast::to_dtype(&t, dtype) }
}

/// A random permutation of 0..n: indices sorted by random keys, so the result is the same
/// whatever the thread count.
pub fn randperm(n: usize) -> Result<Tensor> {
    let n = numel(&[n], 16, "randperm")?;
    let mut keys = vec_filled(n, 0u64)?;
    crate::random::fill(&mut keys, |r, c| {
        use rand_core::Rng;
        c.iter_mut().for_each(|x| *x = r.next_u64())
    });
    let mut idx = vec_filled(n, 0i64)?;
    idx.iter_mut().enumerate().for_each(|(i, x)| *x = i as i64);
    idx.sort_unstable_by_key(|&i| (keys[i as usize], i));
    Ok(Tensor::from_vec_unchecked(idx, &[n]))
}
