//! The pools against direct loops written from PyTorch's definitions: every window visited tap by
//! tap over the padded volume, for 1-, 2- and 3-D geometries (with ties, NaN, ceil mode,
//! dilation and padding), and backward checked through the adjoint identity.

use super::*;
use crate::autograd::engine::run;
use crate::tensor::DType;

/// Deterministic data: values from a small set (many ties) or spread out, some NaN.
fn data(n: usize, seed: u64, ties: bool, nan: bool) -> Vec<f64> {
    let mut s = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
    (0..n)
        .map(|_| {
            s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            let u = (s >> 11) as f64 / (1u64 << 53) as f64;
            if nan && u < 0.05 {
                f64::NAN
            } else if ties {
                (u * 4.0).floor() - 1.0
            } else {
                u * 4.0 - 2.0
            }
        })
        .collect()
}

fn args(k: &[i64], s: &[i64], p: &[i64], d: &[i64], ceil: bool) -> PoolArgs {
    PoolArgs { kernel: k.to_vec(), stride: s.to_vec(), padding: p.to_vec(), dilation: d.to_vec(), ceil_mode: ceil }
}

/// Every output position of a volume pool as (output flat index, per-axis window start).
fn positions(out: [usize; 3]) -> impl Iterator<Item = [usize; 3]> {
    (0..out[0]).flat_map(move |a| (0..out[1]).flat_map(move |b| (0..out[2]).map(move |c| [a, b, c])))
}

/// Max pooling by definition: taps in (d, h, w) order, NaN wins, first of equal maxima wins, the
/// index of an empty window is its first in-bounds-or-past tap (PyTorch's while-loop start).
fn naive_max(x: &[f64], volumes: usize, size: [usize; 3], a: &PoolArgs) -> (Vec<f64>, Vec<i64>, [usize; 3]) {
    let rank = a.kernel.len();
    let (k, s, p, d) = (to_volume(&a.kernel, 1), to_volume(&a.stride, 1), to_volume(&a.padding, 0), to_volume(&a.dilation, 1));
    let size_i = size.map(|v| v as i64);
    let out = [0, 1, 2].map(|i| if i < 3 - rank { 1 } else { output_size(size_i[i], k[i], p[i], s[i], d[i], a.ceil_mode) as usize });
    let vin: usize = size.iter().product();
    let (mut vals, mut idx) = (vec![], vec![]);
    for v in 0..volumes {
        for o in positions(out) {
            let start = [0, 1, 2].map(|i| {
                let mut st = o[i] as i64 * s[i] - p[i];
                while st < 0 {
                    st += d[i];
                }
                st
            });
            let (mut best, mut at) = (f64::NEG_INFINITY, (start[0] * size_i[1] + start[1]) * size_i[2] + start[2]);
            for t0 in 0..k[0] {
                for t1 in 0..k[1] {
                    for t2 in 0..k[2] {
                        let pos = [t0, t1, t2];
                        let c = [0, 1, 2].map(|i| o[i] as i64 * s[i] - p[i] + pos[i] * d[i]);
                        if (0..3).any(|i| c[i] < 0 || c[i] >= size_i[i]) {
                            continue;
                        }
                        let flat = (c[0] * size_i[1] + c[1]) * size_i[2] + c[2];
                        let val = x[v * vin + flat as usize];
                        if val > best || val.is_nan() {
                            (best, at) = (val, flat);
                        }
                    }
                }
            }
            vals.push(best);
            idx.push(at);
        }
    }
    (vals, idx, out)
}

fn same(a: &[f64], b: &[f64]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x == y || (x.is_nan() && y.is_nan()) || (x - y).abs() <= 1e-12 * (1.0 + y.abs()))
}

fn tensor(v: Vec<f64>, shape: &[usize]) -> Tensor {
    Tensor::from_vec(v, shape).unwrap()
}

/// Geometries over the three ranks: (input shape, kernel, stride, padding, dilation, ceil).
type Case = (Vec<usize>, Vec<i64>, Vec<i64>, Vec<i64>, Vec<i64>, bool);

fn cases() -> Vec<Case> {
    vec![
        (vec![2, 3, 9], vec![3], vec![2], vec![1], vec![1], false),
        (vec![3, 7], vec![2], vec![2], vec![1], vec![2], true),
        (vec![1, 2, 5, 6], vec![2, 2], vec![2, 2], vec![0, 0], vec![1, 1], true),
        (vec![2, 2, 7, 5], vec![3, 2], vec![2, 1], vec![1, 1], vec![1, 2], false),
        (vec![1, 1, 4, 4], vec![2, 2], vec![1, 1], vec![1, 1], vec![2, 2], true),
        (vec![2, 5, 6, 7], vec![2, 3, 2], vec![2, 2, 1], vec![1, 1, 0], vec![1, 1, 2], true),
        (vec![1, 2, 4, 4, 4], vec![2, 2, 2], vec![2, 2, 2], vec![0, 0, 0], vec![1, 1, 1], false),
        (vec![1, 1, 3, 4, 5], vec![1, 2, 2], vec![2, 2, 2], vec![0, 0, 0], vec![1, 1, 1], true),
        (vec![1, 1, 1, 1, 1], vec![2, 2, 2], vec![1, 1, 1], vec![1, 1, 1], vec![2, 2, 2], false),
    ]
}

#[test]
fn output_size_follows_pytorchs_ceil_rule() {
    // floor: (5 - 2) / 2 + 1 = 2; ceil: 3, the last window starting inside the input.
    assert_eq!(output_size(5, 2, 0, 2, 1, false), 2);
    assert_eq!(output_size(5, 2, 0, 2, 1, true), 3);
    // ceil mode would start a fourth window wholly in the trailing padding: dropped.
    assert_eq!(output_size(5, 2, 1, 2, 1, true), 3);
    assert_eq!(output_size(5, 2, 1, 2, 1, false), 3);
}

#[test]
fn max_pool_matches_direct_loops_on_every_rank_with_ties_and_nan() {
    for (n, (shape, k, s, p, d, ceil)) in cases().into_iter().enumerate() {
        let a = args(&k, &s, &p, &d, ceil);
        let rank = k.len();
        let volumes: usize = shape[..shape.len() - rank].iter().product();
        let size = to_volume(&shape[shape.len() - rank..], 1);
        for (ties, nan) in [(true, false), (false, true), (true, true)] {
            let xs = data(shape.iter().product(), n as u64, ties, nan);
            let (vals, idx) = max_pool(&tensor(xs.clone(), &shape), &a).unwrap();
            let (rv, ri, out) = naive_max(&xs, volumes, size, &a);
            assert!(same(&vals.to_vec::<f64>(), &rv), "case {n} values");
            assert_eq!(idx.to_vec::<i64>(), ri, "case {n} indices");
            assert_eq!(&vals.shape()[shape.len() - rank..], &out[3 - rank..]);
        }
    }
}

#[test]
fn max_pool_gradient_goes_to_the_argmax_of_each_window() {
    for (n, (shape, k, s, p, d, ceil)) in cases().into_iter().enumerate() {
        let a = args(&k, &s, &p, &d, ceil);
        let xs = data(shape.iter().product(), 100 + n as u64, true, false);
        let x = tensor(xs, &shape);
        x.set_requires_grad(true).unwrap();
        let (y, idx) = max_pool(&x, &a).unwrap();
        let gy = data(y.numel(), 7, false, false);
        let g = run(&[(y.clone(), tensor(gy.clone(), y.shape()))], false, false, Some(std::slice::from_ref(&x))).unwrap();
        let volumes: usize = x.shape()[..x.ndim() - k.len()].iter().product();
        let (vin, vout) = (x.numel() / volumes, y.numel() / volumes);
        let mut want = vec![0.0; x.numel()];
        for (j, &i) in idx.to_vec::<i64>().iter().enumerate() {
            if (i as usize) < vin {
                want[j / vout * vin + i as usize] += gy[j];
            }
        }
        assert!(same(&g[0].as_ref().unwrap().to_vec::<f64>(), &want), "case {n}");
    }
}

/// `<pool(x), g> == <x, pool^T(g)>`: the backward of a linear pool is its adjoint.
fn check_adjoint(f: impl Fn(&Tensor) -> Tensor, shape: &[usize]) {
    let x = tensor(data(shape.iter().product(), 3, false, false), shape);
    x.set_requires_grad(true).unwrap();
    let y = f(&x);
    let gy = data(y.numel(), 4, false, false);
    let g = run(&[(y.clone(), tensor(gy.clone(), y.shape()))], false, false, Some(std::slice::from_ref(&x))).unwrap();
    let lhs: f64 = y.to_vec::<f64>().iter().zip(&gy).map(|(a, b)| a * b).sum();
    let rhs: f64 = x.to_vec::<f64>().iter().zip(g[0].as_ref().unwrap().to_vec::<f64>()).map(|(a, b)| a * b).sum();
    assert!((lhs - rhs).abs() < 1e-10 * (1.0 + lhs.abs()), "{lhs} vs {rhs}");
}

/// Average pooling by definition: the sum over in-bounds taps, divided per PyTorch's rule.
fn naive_avg(x: &[f64], volumes: usize, size: [usize; 3], a: &PoolArgs, cip: bool, div: Option<i64>) -> Vec<f64> {
    let rank = a.kernel.len();
    let (k, s, p) = (to_volume(&a.kernel, 1), to_volume(&a.stride, 1), to_volume(&a.padding, 0));
    let size_i = size.map(|v| v as i64);
    let out = [0, 1, 2].map(|i| if i < 3 - rank { 1 } else { output_size(size_i[i], k[i], p[i], s[i], 1, a.ceil_mode) as usize });
    let vin: usize = size.iter().product();
    let mut res = vec![];
    for v in 0..volumes {
        for o in positions(out) {
            let (mut sum, mut count, mut padded) = (0.0, 0i64, 1i64);
            for i in 0..3 {
                let st = o[i] as i64 * s[i] - p[i];
                padded *= (st + k[i]).min(size_i[i] + p[i]) - st;
            }
            for t0 in 0..k[0] {
                for t1 in 0..k[1] {
                    for t2 in 0..k[2] {
                        let c = [0, 1, 2].map(|i| o[i] as i64 * s[i] - p[i] + [t0, t1, t2][i]);
                        if (0..3).all(|i| c[i] >= 0 && c[i] < size_i[i]) {
                            sum += x[v * vin + ((c[0] * size_i[1] + c[1]) * size_i[2] + c[2]) as usize];
                            count += 1;
                        }
                    }
                }
            }
            let d = div.unwrap_or(if cip { padded } else { count });
            res.push(if count == 0 { 0.0 } else { sum / d as f64 });
        }
    }
    res
}

#[test]
fn avg_pool_matches_direct_loops_and_its_backward_is_the_adjoint() {
    for (n, (shape, k, s, p, _, ceil)) in cases().into_iter().enumerate() {
        let rank = k.len();
        let a = args(&k, &s, &p, &vec![1; rank], ceil);
        if rank == 3 && shape[shape.len() - 3..].iter().zip(&k).any(|(&sz, &kk)| (sz as i64) < kk) {
            assert!(avg_pool(&tensor(vec![0.0; shape.iter().product()], &shape), &a, true, None).is_err());
            continue;
        }
        let volumes: usize = shape[..shape.len() - rank].iter().product();
        let size = to_volume(&shape[shape.len() - rank..], 1);
        let xs = data(shape.iter().product(), n as u64, false, false);
        for (cip, div) in [(true, None), (false, None), (true, Some(3))] {
            let y = avg_pool(&tensor(xs.clone(), &shape), &a, cip, div).unwrap();
            assert!(same(&y.to_vec::<f64>(), &naive_avg(&xs, volumes, size, &a, cip, div)), "case {n} cip {cip} div {div:?}");
            check_adjoint(|x| avg_pool(x, &a, cip, div).unwrap(), &shape);
        }
    }
}

#[test]
fn adaptive_pools_match_direct_loops() {
    for (shape, out) in [(vec![2, 3, 7], vec![3]), (vec![1, 2, 5, 4], vec![3, 6]), (vec![2, 4, 3, 5], vec![2, 2, 3]), (vec![3, 5, 6], vec![1, 1])] {
        let rank = out.len();
        let volumes: usize = shape[..shape.len() - rank].iter().product();
        let size = to_volume(&shape[shape.len() - rank..], 1);
        let o = to_volume(&out.iter().map(|&v| v as usize).collect::<Vec<_>>(), 1);
        let xs = data(shape.iter().product(), 11, true, true);
        let (mut mv, mut mi, mut av) = (vec![], vec![], vec![]);
        let vin: usize = size.iter().product();
        for v in 0..volumes {
            for q in positions(o) {
                let r = [0, 1, 2].map(|i| (q[i] * size[i] / o[i], ((q[i] + 1) * size[i]).div_ceil(o[i])));
                let (mut best, mut at, mut sum, mut cnt) = (f64::NEG_INFINITY, (r[0].0 * size[1] + r[1].0) * size[2] + r[2].0, 0.0, 0.0);
                for z in r[0].0..r[0].1 {
                    for y in r[1].0..r[1].1 {
                        for x in r[2].0..r[2].1 {
                            let f = (z * size[1] + y) * size[2] + x;
                            let val = xs[v * vin + f];
                            if val > best || val.is_nan() {
                                (best, at) = (val, f);
                            }
                            sum += val;
                            cnt += 1.0;
                        }
                    }
                }
                mv.push(best);
                mi.push(at as i64);
                av.push(sum / cnt);
            }
        }
        let (vals, idx) = adaptive_max_pool(&tensor(xs.clone(), &shape), &out).unwrap();
        assert!(same(&vals.to_vec::<f64>(), &mv));
        assert_eq!(idx.to_vec::<i64>(), mi);
        assert!(same(&adaptive_avg_pool(&tensor(xs, &shape), &out).unwrap().to_vec::<f64>(), &av));
        check_adjoint(|x| adaptive_avg_pool(x, &out).unwrap(), &shape);
    }
}

#[test]
fn max_unpool_scatters_by_index_and_its_gradient_gathers() {
    let x = tensor(vec![1.0, 2.0, 3.0, 4.0], &[1, 2, 2]);
    x.set_requires_grad(true).unwrap();
    let idx = Tensor::from_vec(vec![0i64, 3, 5, 5], &[1, 2, 2]).unwrap();
    let y = max_unpool(&x, &idx, &[6]).unwrap();
    // Channel 1 writes 3 then 4 at position 5: the later one stays.
    assert_eq!(y.to_vec::<f64>(), vec![1.0, 0.0, 0.0, 2.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 4.0]);
    let gy = tensor((0..12).map(f64::from).collect(), &[1, 2, 6]);
    let g = run(&[(y, gy)], false, false, Some(&[x])).unwrap();
    assert_eq!(g[0].as_ref().unwrap().to_vec::<f64>(), vec![0.0, 3.0, 11.0, 11.0]);
    let bad = Tensor::from_vec(vec![0i64, 6, 0, 0], &[1, 2, 2]).unwrap();
    let err = max_unpool(&tensor(vec![0.0; 4], &[1, 2, 2]), &bad, &[6]).unwrap_err();
    assert!(err.to_string().contains("invalid max index: 6"), "{err}");
}

#[test]
fn bad_arguments_are_errors_naming_the_op() {
    let x = tensor(vec![0.0; 16], &[1, 1, 4, 4]);
    let bad = |r: Result<(Tensor, Tensor)>, want: &str| {
        let e = r.unwrap_err().to_string();
        assert!(e.contains(want), "{e} lacks {want}");
    };
    bad(max_pool(&x, &args(&[3, 3], &[1, 1], &[2, 2], &[1, 1], false)), "max_pool2d: pad should be smaller than or equal to half");
    let flat = tensor(vec![0.0; 16], &[4, 4]);
    bad(max_pool(&flat, &args(&[2, 2, 2], &[1, 1, 1], &[0, 0, 0], &[1, 1, 1], false)), "max_pool3d: expected a 4-D (unbatched C, D, H, W)");
    bad(max_pool(&x, &args(&[2], &[1, 1], &[0], &[1], false)), "expected 1 to 3 spatial sizes");
    bad(max_pool(&tensor(vec![0.0; 4], &[1, 1, 1, 4]), &args(&[2, 2], &[1, 1], &[0, 0], &[1, 1], false)), "Output size is too small");
    bad(adaptive_max_pool(&tensor(vec![], &[1, 0, 3]), &[2]), "dimension 1 being empty");
    let e = avg_pool(&tensor(vec![0.0; 8], &[1, 1, 2, 2, 2]), &args(&[3, 3, 3], &[1, 1, 1], &[1, 1, 1], &[1, 1, 1], false), true, None).unwrap_err();
    assert!(e.to_string().contains("input image (T: 2 H: 2 W: 2) smaller than kernel size (kT: 3 kH: 3 kW: 3)"), "{e}");
    let ints = Tensor::zeros(&[1, 1, 4], DType::I64);
    assert!(max_pool(&ints, &args(&[2], &[2], &[0], &[1], false)).is_err());
}
