//! Factories: arange, linspace, eye and the seeded random ones.

use crate::bail;
use crate::error::Result;
use crate::random::{fill, fill_normal, uniform_f32, uniform_f64};
use crate::tensor::{DType, Element, Tensor};
use crate::with_dtype;

fn from_f64s(v: Vec<f64>, shape: &[usize], dtype: DType) -> Tensor {
    with_dtype!(dtype, T => Tensor::from_vec_unchecked(v.into_iter().map(T::from_f64).collect::<Vec<T>>(), shape))
}

pub fn arange(start: f64, end: f64, step: f64, dtype: DType) -> Result<Tensor> {
    if step == 0.0 {
        bail!(Runtime, "arange: step must be nonzero");
    }
    if !(start.is_finite() && end.is_finite()) {
        bail!(Runtime, "arange: unsupported range: {start} -> {end}");
    }
    if (end - start) * step < 0.0 {
        bail!(Runtime, "arange: upper bound and larger bound inconsistent with step sign (start={start}, end={end}, step={step})");
    }
    let n = ((end - start) / step).ceil().max(0.0) as usize;
    Ok(from_f64s((0..n).map(|i| start + i as f64 * step).collect(), &[n], dtype))
}

pub fn linspace(start: f64, end: f64, steps: usize, dtype: DType) -> Result<Tensor> {
    let v: Vec<f64> = match steps {
        0 => vec![],
        1 => vec![start],
        _ => {
            let step = (end - start) / (steps - 1) as f64;
            // Symmetric like PyTorch: the second half counts back from `end`, so both ends are exact.
            (0..steps).map(|i| if i < steps / 2 { start + step * i as f64 } else { end - step * (steps - 1 - i) as f64 }).collect()
        }
    };
    Ok(from_f64s(v, &[steps], dtype))
}

pub fn eye(n: usize, m: Option<usize>, dtype: DType) -> Tensor {
    let m = m.unwrap_or(n);
    let mut v = vec![0.0; n * m];
    for i in 0..n.min(m) {
        v[i * m + i] = 1.0;
    }
    from_f64s(v, &[n, m], dtype)
}

/// Uniform [0, 1).
pub fn rand(shape: &[usize], dtype: DType) -> Result<Tensor> {
    let n = shape.iter().product();
    Ok(match dtype {
        DType::F32 => {
            let mut v = vec![0f32; n];
            fill(&mut v, |r, c| c.iter_mut().for_each(|x| *x = uniform_f32(r)));
            Tensor::from_vec_unchecked(v, shape)
        }
        DType::F64 => {
            let mut v = vec![0f64; n];
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
    let n = shape.iter().product();
    let mut v = vec![0f64; n];
    fill_normal(&mut v);
    Ok(from_f64s(v, shape, dtype))
}

/// Integers uniform in [low, high).
pub fn randint(low: i64, high: i64, shape: &[usize], dtype: DType) -> Result<Tensor> {
    if high <= low {
        bail!(Runtime, "random_ expects 'from' to be less than 'to', but got from={low} >= to={high}");
    }
    let span = (high as i128 - low as i128) as u128;
    let n = shape.iter().product();
    let mut v = vec![0i64; n];
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
pub fn randperm(n: usize) -> Tensor {
    let mut keys = vec![0u64; n];
    crate::random::fill(&mut keys, |r, c| {
        use rand_core::Rng;
        c.iter_mut().for_each(|x| *x = r.next_u64())
    });
    let mut idx: Vec<i64> = (0..n as i64).collect();
    idx.sort_unstable_by_key(|&i| (keys[i as usize], i));
    Tensor::from_vec_unchecked(idx, &[n])
}
