//! Unit tests of the fused optimizer kernels: hand-computed steps, chunked (parallel) runs
//! against a per-element reference, layouts and the tensor checks.

use super::*;
use crate::tensor::DType;

fn t64(v: &[f64]) -> Tensor {
    Tensor::from_vec(v.to_vec(), &[v.len()]).unwrap()
}

fn close(a: &[f64], b: &[f64]) {
    assert_eq!(a.len(), b.len());
    for (x, y) in a.iter().zip(b) {
        assert!((x - y).abs() <= 1e-12 * (1.0 + y.abs()), "{a:?} vs {b:?}");
    }
}

fn sgd_args(momentum: f64, dampening: f64, nesterov: bool, first_step: bool) -> SgdArgs {
    SgdArgs { lr: 0.1, momentum, dampening, weight_decay: 0.0, nesterov, maximize: false, first_step }
}

#[test]
fn sgd_plain_step_with_weight_decay_and_maximize() {
    let p = t64(&[1.0, -2.0]);
    let a = SgdArgs { weight_decay: 0.5, maximize: true, ..sgd_args(0.0, 0.0, false, true) };
    sgd(&p, &t64(&[0.2, 0.4]), None, &a).unwrap();
    // d = -g + 0.5 p = [0.3, -1.4]; p -= 0.1 d
    close(&p.to_vec(), &[0.97, -1.86]);
}

#[test]
fn sgd_momentum_buffer_starts_as_the_gradient_then_blends() {
    let (p, buf) = (t64(&[1.0]), t64(&[0.0]));
    sgd(&p, &t64(&[2.0]), Some(&buf), &sgd_args(0.9, 0.5, false, true)).unwrap();
    close(&buf.to_vec(), &[2.0]);
    close(&p.to_vec(), &[0.8]);
    sgd(&p, &t64(&[1.0]), Some(&buf), &sgd_args(0.9, 0.5, false, false)).unwrap();
    close(&buf.to_vec(), &[0.9 * 2.0 + 0.5 * 1.0]);
    close(&p.to_vec(), &[0.8 - 0.1 * 2.3]);
}

#[test]
fn sgd_nesterov_adds_momentum_times_buffer() {
    let (p, buf) = (t64(&[0.0]), t64(&[1.0]));
    sgd(&p, &t64(&[2.0]), Some(&buf), &sgd_args(0.5, 0.0, true, false)).unwrap();
    // buf = 0.5 * 1 + 2 = 2.5; d = 2 + 0.5 * 2.5 = 3.25
    close(&buf.to_vec(), &[2.5]);
    close(&p.to_vec(), &[-0.325]);
}

fn adam_args(step: f64, decoupled: bool, weight_decay: f64) -> AdamArgs {
    AdamArgs { lr: 0.01, beta1: 0.9, beta2: 0.999, eps: 1e-8, weight_decay, decoupled_weight_decay: decoupled, maximize: false, step }
}

#[test]
fn adam_first_step_moves_by_lr_times_the_sign() {
    let p = t64(&[1.0, 1.0, 1.0]);
    let (m, v) = (t64(&[0.0; 3]), t64(&[0.0; 3]));
    adam(&p, &t64(&[3.0, -0.5, 1e-3]), &m, &v, None, &adam_args(1.0, false, 0.0)).unwrap();
    let out = p.to_vec::<f64>();
    assert!((out[0] - 0.99).abs() < 1e-9 && (out[1] - 1.01).abs() < 1e-9 && (out[2] - 0.99).abs() < 1e-7, "{out:?}");
    close(&m.to_vec(), &[0.3, -0.05, 1e-4]);
}

#[test]
fn adamw_decays_the_parameter_without_touching_the_moments() {
    let p = t64(&[2.0]);
    let (m, v) = (t64(&[0.0]), t64(&[0.0]));
    adam(&p, &t64(&[0.0]), &m, &v, None, &adam_args(1.0, true, 0.5)).unwrap();
    close(&p.to_vec(), &[2.0 * (1.0 - 0.01 * 0.5)]);
    close(&m.to_vec(), &[0.0]);
}

#[test]
fn amsgrad_keeps_the_largest_second_moment() {
    let p = t64(&[0.0]);
    let (m, v, vmax) = (t64(&[0.0]), t64(&[1.0]), t64(&[5.0]));
    adam(&p, &t64(&[1.0]), &m, &v, Some(&vmax), &adam_args(2.0, false, 0.0)).unwrap();
    close(&vmax.to_vec(), &[5.0]);
    let v_now = 0.999 + 0.001;
    close(&v.to_vec(), &[v_now]);
    let denom = 5.0f64.sqrt() / (1.0 - 0.999f64.powi(2)).sqrt() + 1e-8;
    close(&p.to_vec(), &[-0.01 / (1.0 - 0.81) * 0.1 / denom]);
}

#[test]
fn rmsprop_centered_with_momentum() {
    let p = t64(&[1.0]);
    let (sq, buf, ga) = (t64(&[0.5]), t64(&[0.2]), t64(&[0.1]));
    let a = RmspropArgs { lr: 0.01, alpha: 0.9, eps: 1e-8, weight_decay: 0.1, momentum: 0.5, maximize: false };
    rmsprop(&p, &t64(&[2.0]), &sq, Some(&buf), Some(&ga), &a).unwrap();
    let d: f64 = 2.0 + 0.1;
    let sq1 = 0.5 * 0.9 + 0.1 * d * d;
    let ga1 = 0.1 + 0.1 * (d - 0.1);
    let avg = (sq1 - ga1 * ga1).sqrt() + 1e-8;
    let b1 = 0.2 * 0.5 + d / avg;
    close(&sq.to_vec(), &[sq1]);
    close(&ga.to_vec(), &[ga1]);
    close(&buf.to_vec(), &[b1]);
    close(&p.to_vec(), &[1.0 - 0.01 * b1]);
}

#[test]
fn adagrad_decays_the_learning_rate_with_the_step() {
    let (p, s) = (t64(&[1.0]), t64(&[0.1]));
    let a = AdagradArgs { lr: 0.1, lr_decay: 0.5, weight_decay: 0.0, eps: 1e-10, maximize: false, step: 3.0 };
    adagrad(&p, &t64(&[2.0]), &s, &a).unwrap();
    close(&s.to_vec(), &[4.1]);
    close(&p.to_vec(), &[1.0 - 0.1 / 2.0 * 2.0 / (4.1f64.sqrt() + 1e-10)]);
}

#[test]
fn adadelta_one_step() {
    let p = t64(&[1.0]);
    let (sq, acc) = (t64(&[0.0]), t64(&[0.0]));
    let a = AdadeltaArgs { lr: 1.0, rho: 0.9, eps: 1e-6, weight_decay: 0.0, maximize: false };
    adadelta(&p, &t64(&[2.0]), &sq, &acc, &a).unwrap();
    let sq1 = 0.1 * 4.0;
    let delta = (1e-6f64).sqrt() / (sq1 + 1e-6f64).sqrt() * 2.0;
    close(&sq.to_vec(), &[sq1]);
    close(&acc.to_vec(), &[0.1 * delta * delta]);
    close(&p.to_vec(), &[1.0 - delta]);
}

#[test]
fn chunked_update_equals_the_per_element_formula() {
    let n = 3 * GRAIN + 17;
    let pv: Vec<f64> = (0..n).map(|i| (i as f64 * 0.37).sin()).collect();
    let gv: Vec<f64> = (0..n).map(|i| (i as f64 * 0.11).cos()).collect();
    let mv: Vec<f64> = (0..n).map(|i| (i % 7) as f64 * 0.01).collect();
    let vv: Vec<f64> = (0..n).map(|i| (i % 5) as f64 * 0.02).collect();
    let (p, g, m, v) = (t64(&pv), t64(&gv), t64(&mv), t64(&vv));
    let a = adam_args(4.0, true, 0.1);
    adam(&p, &g, &m, &v, None, &a).unwrap();
    let (bc1, bc2s) = (1.0 - 0.9f64.powf(4.0), (1.0 - 0.999f64.powf(4.0)).sqrt());
    let (pn, mn, vn) = (p.to_vec::<f64>(), m.to_vec::<f64>(), v.to_vec::<f64>());
    for i in 0..n {
        let pi = pv[i] * (1.0 - 0.01 * 0.1);
        let mi = lerp(mv[i], gv[i], 1.0 - 0.9);
        let vi = vv[i] * 0.999 + (1.0 - 0.999) * gv[i] * gv[i];
        let want = pi + (-0.01 / bc1) * (mi / (vi.sqrt() / bc2s + 1e-8));
        assert_eq!((pn[i], mn[i], vn[i]), (want, mi, vi), "element {i}");
    }
}

#[test]
fn float32_parameters_update_in_float32() {
    let p = Tensor::from_vec(vec![1.0f32, 2.0], &[2]).unwrap();
    let g = Tensor::from_vec(vec![0.5f32, -0.5], &[2]).unwrap();
    sgd(&p, &g, None, &sgd_args(0.0, 0.0, false, true)).unwrap();
    assert_eq!(p.to_vec::<f32>(), vec![0.95f32, 2.05]);
}

#[test]
fn transposed_parameter_and_gradient_update_in_logical_order() {
    let base = Tensor::from_vec((0..6).map(f64::from).collect(), &[2, 3]).unwrap();
    let p = base.t().unwrap(); // (3, 2), not contiguous
    let g = Tensor::from_vec(vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0], &[2, 3]).unwrap().t().unwrap();
    sgd(&p, &g, None, &SgdArgs { lr: 1.0, ..sgd_args(0.0, 0.0, false, true) }).unwrap();
    close(&base.to_vec(), &[-1.0, -1.0, -1.0, -1.0, -1.0, -1.0]);
}

#[test]
fn gradient_aliasing_the_parameter_is_read_before_the_write() {
    let p = t64(&[1.0, 2.0]);
    sgd(&p, &p.detach(), None, &SgdArgs { lr: 0.5, ..sgd_args(0.0, 0.0, false, true) }).unwrap();
    close(&p.to_vec(), &[0.5, 1.0]);
}

#[test]
fn the_update_bumps_the_versions_of_what_it_writes() {
    let (p, g, s) = (t64(&[1.0]), t64(&[1.0]), t64(&[0.0]));
    let (vp, vg, vs) = (p.version(), g.version(), s.version());
    let a = AdagradArgs { lr: 0.1, lr_decay: 0.0, weight_decay: 0.0, eps: 1e-10, maximize: false, step: 1.0 };
    adagrad(&p, &g, &s, &a).unwrap();
    assert!(p.version() > vp && s.version() > vs);
    assert_eq!(g.version(), vg);
}

#[test]
fn bad_tensors_are_clear_errors() {
    let p = t64(&[1.0, 2.0]);
    let a = AdagradArgs { lr: 0.1, lr_decay: 0.0, weight_decay: 0.0, eps: 1e-10, maximize: false, step: 1.0 };
    let msg = |r: Result<()>| match r {
        Err(e) => e.to_string(),
        Ok(()) => panic!("expected an error"),
    };
    assert!(msg(adagrad(&p, &t64(&[1.0]), &t64(&[0.0, 0.0]), &a)).contains("grad has shape [1] but the parameter has shape [2]"));
    let s32 = Tensor::zeros(&[2], DType::F32);
    assert!(msg(adagrad(&p, &t64(&[1.0, 1.0]), &s32, &a)).contains("sum is ferrograd.float32 but the parameter is ferrograd.float64"));
    assert!(msg(adagrad(&p, &t64(&[1.0, 1.0]), &p.detach(), &a)).contains("shares memory with the parameter"));
    let q = Tensor::zeros(&[2, 2], DType::F64);
    let strided = Tensor::zeros(&[2, 2], DType::F64).t().unwrap();
    assert!(msg(adagrad(&q, &q.deep_copy(), &strided, &a)).contains("sum must be contiguous"));
    let (m, v) = (t64(&[0.0, 0.0]), t64(&[0.0, 0.0]));
    assert!(msg(adam(&p, &p.deep_copy(), &m, &m.detach(), None, &adam_args(1.0, false, 0.0))).contains("states exp_avg and exp_avg_sq share memory"));
    assert!(msg(adam(&p, &p.deep_copy(), &m, &v, None, &adam_args(0.0, false, 0.0))).contains("step must be at least 1"));
    assert!(msg(sgd(&p, &p.deep_copy(), None, &sgd_args(0.9, 0.0, false, true))).contains("momentum buffer is needed"));
    let ints = Tensor::zeros(&[2], DType::I64);
    assert!(msg(sgd(&ints, &ints.deep_copy(), None, &sgd_args(0.0, 0.0, false, true))).contains("expected a floating point tensor"));
    let expanded = t64(&[1.0]).expand(&[3]).unwrap();
    assert!(msg(sgd(&expanded, &t64(&[1.0; 3]), None, &sgd_args(0.0, 0.0, false, true))).contains("expanded view"));
}
