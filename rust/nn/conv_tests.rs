//! Convolution, its transpose and fold/unfold against direct loops, and the adjointness of their
//! gradients (all three are linear in each argument: <f(x, w), g> = <x, dL/dx> = <w, dL/dw>).

use super::conv::{conv, ConvArgs};
use super::conv_fold::{fold, unfold, FoldArgs};
use super::conv_transpose::{conv_transpose, ConvTransposeArgs};
use crate::autograd::engine;
use crate::tensor::{DType, Tensor};

/// A shape's spatial dims as a 3-D triple (missing leading dims are 1).
fn sp3(shape: &[usize]) -> [usize; 3] {
    let mut t = [1; 3];
    t[5 - shape.len()..].copy_from_slice(&shape[2..]);
    t
}

fn pad3<T: Copy>(v: &[T], fill: T) -> [T; 3] {
    let mut t = [fill; 3];
    t[3 - v.len()..].copy_from_slice(v);
    t
}

/// Every (z, y, x) of a 3-D box.
fn positions(size: [usize; 3]) -> impl Iterator<Item = [usize; 3]> {
    (0..size[0]).flat_map(move |z| (0..size[1]).flat_map(move |y| (0..size[2]).map(move |x| [z, y, x])))
}

fn flat(p: [usize; 3], size: [usize; 3]) -> usize {
    (p[0] * size[1] + p[1]) * size[2] + p[2]
}

/// Direct loops over the padded input: the definition of cross-correlation.
fn naive_conv(x: &[f64], xs: &[usize], w: &[f64], ws: &[usize], a: &ConvArgs) -> (Vec<f64>, Vec<usize>) {
    let (n, c, o, cg, gr) = (xs[0], xs[1], ws[0], ws[1], a.groups as usize);
    let (xsp, k) = (sp3(xs), sp3(ws));
    let s = pad3(&a.stride, 1).map(|v| v as usize);
    let d = pad3(&a.dilation, 1).map(|v| v as usize);
    let p = pad3(&a.padding, [0, 0]);
    let out: [usize; 3] = std::array::from_fn(|i| (xsp[i] + (p[i][0] + p[i][1]) as usize - d[i] * (k[i] - 1) - 1) / s[i] + 1);
    let og = o / gr;
    let (ol, il, kl) = (out.iter().product::<usize>(), xsp.iter().product::<usize>(), k.iter().product::<usize>());
    let mut y = vec![0.0; n * o * ol];
    for b in 0..n {
        for oc in 0..o {
            for q in positions(out) {
                let mut acc = 0.0;
                for ci in 0..cg {
                    let ic = oc / og * cg + ci;
                    for t in positions(k) {
                        let at: [i64; 3] = std::array::from_fn(|i| (q[i] * s[i] + t[i] * d[i]) as i64 - p[i][0]);
                        if (0..3).all(|i| at[i] >= 0 && (at[i] as usize) < xsp[i]) {
                            let at = at.map(|v| v as usize);
                            acc += x[(b * c + ic) * il + flat(at, xsp)] * w[(oc * cg + ci) * kl + flat(t, k)];
                        }
                    }
                }
                y[(b * o + oc) * ol + flat(q, out)] = acc;
            }
        }
    }
    let dims = xs.len() - 2;
    (y, [vec![n, o], out[3 - dims..].to_vec()].concat())
}

/// Direct scatter loops: every input position adds weight * value onto the output positions
/// it reaches, the definition of the transposed convolution.
fn naive_transpose(x: &[f64], xs: &[usize], w: &[f64], ws: &[usize], a: &ConvTransposeArgs) -> (Vec<f64>, Vec<usize>) {
    let (n, cin, gr) = (xs[0], xs[1], a.groups as usize);
    let (cog, cig) = (ws[1], cin / gr);
    let cout = cog * gr;
    let (xsp, k) = (sp3(xs), sp3(ws));
    let s = pad3(&a.stride, 1);
    let d = pad3(&a.dilation, 1);
    let p = pad3(&a.padding, 0);
    let op = pad3(&a.output_padding, 0);
    let k64 = k.map(|v| v as i64);
    let out: [usize; 3] = std::array::from_fn(|i| ((xsp[i] as i64 - 1) * s[i] - 2 * p[i] + d[i] * (k64[i] - 1) + op[i] + 1) as usize);
    let (ol, il, kl) = (out.iter().product::<usize>(), xsp.iter().product::<usize>(), k.iter().product::<usize>());
    let mut y = vec![0.0; n * cout * ol];
    for b in 0..n {
        for ic in 0..cin {
            for q in positions(xsp) {
                let v = x[(b * cin + ic) * il + flat(q, xsp)];
                for co in 0..cog {
                    let oc = ic / cig * cog + co;
                    for t in positions(k) {
                        let at: [i64; 3] = std::array::from_fn(|i| q[i] as i64 * s[i] + t[i] as i64 * d[i] - p[i]);
                        if (0..3).all(|i| at[i] >= 0 && (at[i] as usize) < out[i]) {
                            y[(b * cout + oc) * ol + flat(at.map(|v| v as usize), out)] += v * w[(ic * cog + co) * kl + flat(t, k)];
                        }
                    }
                }
            }
        }
    }
    let dims = xs.len() - 2;
    (y, [vec![n, cout], out[3 - dims..].to_vec()].concat())
}

fn data(n: usize, seed: f64) -> Vec<f64> {
    (0..n).map(|i| ((i as f64 + seed) * 0.731).sin()).collect()
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// Runs `f(x, w)` on leaves, checks it against the reference `r` and checks the gradients'
/// adjointness, plus the bias gradient (the sum of grad_out per channel).
fn check(xs: &[usize], ws: &[usize], bias: usize, f: impl Fn(&Tensor, &Tensor, Option<&Tensor>) -> Tensor, r: (Vec<f64>, Vec<usize>)) {
    let (xv, wv, bv) = (data(xs.iter().product(), 0.3), data(ws.iter().product(), 1.7), data(bias, 2.9));
    let x = Tensor::from_vec(xv.clone(), xs).unwrap();
    let w = Tensor::from_vec(wv.clone(), ws).unwrap();
    let b = Tensor::from_vec(bv.clone(), &[bias]).unwrap();
    for t in [&x, &w, &b] {
        t.set_requires_grad(true).unwrap();
    }
    let y = f(&x, &w, None);
    assert_eq!(y.shape(), &r.1[..], "{xs:?} {ws:?}");
    let yv = y.to_vec::<f64>();
    assert!(yv.iter().zip(&r.0).all(|(p, q)| (p - q).abs() < 1e-12), "{xs:?} {ws:?}");
    let gv = data(yv.len(), 5.1);
    let gt = Tensor::from_vec(gv.clone(), y.shape()).unwrap();
    let grads = engine::run(&[(y, gt.clone())], false, false, Some(&[x.clone(), w.clone()])).unwrap();
    let (gx, gw) = (grads[0].as_ref().unwrap().to_vec::<f64>(), grads[1].as_ref().unwrap().to_vec::<f64>());
    let lhs = dot(&r.0, &gv);
    assert!((dot(&xv, &gx) - lhs).abs() < 1e-9 && (dot(&wv, &gw) - lhs).abs() < 1e-9, "{xs:?} {ws:?}");
    // With a bias: its gradient is grad_out summed per channel; the others are unchanged.
    let yb = f(&x, &w, Some(&b));
    let (n, len) = (r.1[0], r.0.len() / (r.1[0] * bias).max(1));
    let shifted: Vec<f64> = r.0.iter().enumerate().map(|(i, v)| v + bv[i / len % bias]).collect();
    assert!(yb.to_vec::<f64>().iter().zip(&shifted).all(|(p, q)| (p - q).abs() < 1e-12));
    let grads = engine::run(&[(yb, gt)], false, false, Some(&[x.clone(), b.clone()])).unwrap();
    let gb = grads[1].as_ref().unwrap().to_vec::<f64>();
    for (ch, v) in gb.iter().enumerate() {
        let want: f64 = (0..n).map(|i| gv[(i * bias + ch) * len..][..len].iter().sum::<f64>()).sum();
        assert!((v - want).abs() < 1e-9);
    }
    assert_eq!(grads[0].as_ref().unwrap().to_vec::<f64>(), gx);
}

fn cargs(stride: &[i64], padding: &[[i64; 2]], dilation: &[i64], groups: i64) -> ConvArgs {
    ConvArgs { stride: stride.to_vec(), padding: padding.to_vec(), dilation: dilation.to_vec(), groups }
}

#[test]
fn conv_matches_direct_loops_in_1_2_and_3_dims_and_its_gradients_are_adjoint() {
    let cases: Vec<(Vec<usize>, Vec<usize>, ConvArgs)> = vec![
        (vec![2, 4, 7, 6], vec![6, 2, 3, 2], cargs(&[2, 1], &[[1, 2], [0, 1]], &[1, 2], 2)),
        (vec![3, 3, 5, 5], vec![3, 1, 3, 3], cargs(&[1, 1], &[[1, 1], [1, 1]], &[1, 1], 3)),
        (vec![2, 3, 4, 5], vec![5, 3, 1, 1], ConvArgs::new(2)),
        (vec![4, 1, 6, 6], vec![2, 1, 3, 3], cargs(&[3, 2], &[[1, 1], [1, 1]], &[1, 1], 1)),
        // 'same'-shaped outputs take im2col's one-copy path, including taps wholly in padding.
        (vec![2, 2, 3, 1], vec![2, 2, 5, 5], cargs(&[1, 1], &[[2, 2], [2, 2]], &[1, 1], 1)),
        (vec![2, 2, 5, 4], vec![3, 2, 3, 3], cargs(&[1, 1], &[[2, 2], [1, 1]], &[2, 1], 1)),
        (vec![1, 1, 4, 4], vec![1, 1, 4, 4], cargs(&[1, 1], &[[1, 2], [1, 2]], &[1, 1], 1)),
        // Grouped (over 4 channels a group), stride 1: the input gradient as a convolution with
        // turned kernels, unless the padding passes dilation * (k - 1).
        (vec![2, 12, 9, 8], vec![4, 6, 3, 2], cargs(&[1, 1], &[[2, 0], [1, 1]], &[1, 2], 2)),
        (vec![2, 10, 9, 9], vec![4, 5, 2, 2], cargs(&[1, 1], &[[2, 2], [0, 0]], &[1, 1], 2)),
        (vec![2, 10, 60], vec![4, 5, 3], cargs(&[1], &[[1, 1]], &[2], 2)),
        // 1-D: plain, strided and dilated with groups, 'same', pointwise.
        (vec![3, 2, 9], vec![4, 2, 3], ConvArgs::new(1)),
        (vec![2, 4, 11], vec![6, 2, 3], cargs(&[2], &[[1, 2]], &[2], 2)),
        (vec![2, 3, 6], vec![2, 3, 4], cargs(&[1], &[[1, 2]], &[1], 1)),
        (vec![5, 3, 6], vec![2, 3, 1], ConvArgs::new(1)),
        // 3-D: plain, strided, padded, dilated, grouped, pointwise, 'same'.
        (vec![2, 2, 4, 5, 3], vec![3, 2, 2, 3, 2], ConvArgs::new(3)),
        (vec![2, 4, 5, 6, 5], vec![4, 2, 3, 2, 3], cargs(&[2, 1, 2], &[[1, 1], [0, 1], [2, 0]], &[1, 2, 1], 2)),
        (vec![3, 2, 3, 3, 3], vec![2, 2, 1, 1, 1], ConvArgs::new(3)),
        (vec![2, 1, 3, 4, 4], vec![2, 1, 3, 3, 3], cargs(&[1, 1, 1], &[[1, 1], [1, 1], [1, 1]], &[1, 1, 1], 1)),
        (vec![1, 2, 6, 3, 2], vec![2, 1, 2, 2, 2], cargs(&[3, 1, 1], &[[0, 0], [1, 1], [0, 0]], &[2, 1, 1], 2)),
    ];
    for (xs, ws, a) in cases {
        let r = naive_conv(&data(xs.iter().product(), 0.3), &xs, &data(ws.iter().product(), 1.7), &ws, &a);
        check(&xs, &ws, ws[0], |x, w, b| conv(x, w, b, &a).unwrap(), r);
    }
}

fn targs(stride: &[i64], padding: &[i64], output_padding: &[i64], dilation: &[i64], groups: i64) -> ConvTransposeArgs {
    ConvTransposeArgs { stride: stride.to_vec(), padding: padding.to_vec(), output_padding: output_padding.to_vec(), dilation: dilation.to_vec(), groups }
}

#[test]
fn conv_transpose_matches_scatter_loops_and_its_gradients_are_adjoint() {
    let cases: Vec<(Vec<usize>, Vec<usize>, ConvTransposeArgs)> = vec![
        (vec![2, 3, 4], vec![3, 2, 3], ConvTransposeArgs::new(1)),
        (vec![2, 4, 5], vec![4, 3, 3], targs(&[2], &[1], &[1], &[1], 2)),
        (vec![3, 2, 4], vec![2, 2, 2], targs(&[1], &[0], &[1], &[2], 1)),
        (vec![2, 2, 3, 4], vec![2, 3, 3, 2], targs(&[2, 1], &[1, 0], &[1, 0], &[1, 2], 1)),
        (vec![2, 4, 3, 3], vec![4, 1, 3, 3], targs(&[3, 2], &[1, 1], &[2, 1], &[1, 1], 2)),
        (vec![4, 3, 2, 2], vec![3, 2, 1, 1], ConvTransposeArgs::new(2)),
        (vec![2, 2, 3, 3], vec![2, 2, 4, 4], targs(&[2, 2], &[1, 1], &[0, 0], &[1, 1], 1)),
        (vec![2, 2, 2, 3, 2], vec![2, 3, 2, 2, 3], ConvTransposeArgs::new(3)),
        (vec![2, 4, 2, 3, 3], vec![4, 1, 3, 2, 2], targs(&[2, 1, 2], &[1, 0, 1], &[1, 0, 0], &[1, 2, 1], 2)),
        (vec![3, 2, 2, 2, 2], vec![2, 2, 1, 1, 1], ConvTransposeArgs::new(3)),
    ];
    for (xs, ws, a) in cases {
        let r = naive_transpose(&data(xs.iter().product(), 0.3), &xs, &data(ws.iter().product(), 1.7), &ws, &a);
        let cout = ws[1] * a.groups as usize;
        check(&xs, &ws, cout, |x, w, b| conv_transpose(x, w, b, &a).unwrap(), r);
    }
}

#[test]
fn conv_transpose_is_the_adjoint_of_conv() {
    // <conv(x, w), y> = <x, conv_transpose(y, w)> for the same weight and parameters.
    let (xs, ws) = ([2usize, 4, 7, 6], [6usize, 2, 3, 2]);
    let a = cargs(&[2, 1], &[[1, 1], [0, 0]], &[1, 2], 2);
    let x = Tensor::from_vec(data(xs.iter().product(), 0.1), &xs).unwrap();
    let w = Tensor::from_vec(data(ws.iter().product(), 0.2), &ws).unwrap();
    let y = conv(&x, &w, None, &a).unwrap();
    let g = Tensor::from_vec(data(y.numel(), 0.5), y.shape()).unwrap();
    // The transposed output is as large as x again (no output_padding needed here).
    let t = targs(&[2, 1], &[1, 0], &[0, 0], &[1, 2], 2);
    let back = conv_transpose(&g, &w, None, &t).unwrap();
    assert_eq!(back.shape(), &xs);
    let (l, r) = (dot(&y.to_vec::<f64>(), &g.to_vec::<f64>()), dot(&x.to_vec::<f64>(), &back.to_vec::<f64>()));
    assert!((l - r).abs() < 1e-9, "{l} {r}");
}

#[test]
fn unfold_and_fold_are_adjoint_and_match_the_definition() {
    let a = FoldArgs { kernel_size: [2, 3], dilation: [1, 2], padding: [1, 0], stride: [2, 1] };
    let xs = [2usize, 3, 5, 7];
    let xv = data(xs.iter().product(), 0.4);
    let x = Tensor::from_vec(xv.clone(), &xs).unwrap();
    x.set_requires_grad(true).unwrap();
    let cols = unfold(&x, &a).unwrap();
    // Row (c, i, j), column (oy, ox): x[c, oy*2 + i - 1, ox + 2j] or 0.
    let (oh, ow) = ((5 + 2 - 2) / 2 + 1, (7 - 5) + 1);
    assert_eq!(cols.shape(), &[2, 18, oh * ow]);
    let cv = cols.to_vec::<f64>();
    for b in 0..2 {
        for row in 0..18 {
            let (c, i, j) = (row / 6, row / 3 % 2, row % 3);
            for (pos, v) in cv[(b * 18 + row) * oh * ow..][..oh * ow].iter().enumerate() {
                let (yy, xx) = ((pos / ow * 2 + i) as i64 - 1, pos % ow + 2 * j);
                let want = if (0..5).contains(&yy) { xv[((b * 3 + c) * 5 + yy as usize) * 7 + xx] } else { 0.0 };
                assert_eq!(*v, want);
            }
        }
    }
    let g = Tensor::from_vec(data(cols.numel(), 1.3), cols.shape()).unwrap();
    g.set_requires_grad(true).unwrap();
    let folded = fold(&g, [5, 7], &a).unwrap();
    assert_eq!(folded.shape(), &xs);
    let lhs = dot(&cv, &g.to_vec::<f64>());
    assert!((lhs - dot(&xv, &folded.to_vec::<f64>())).abs() < 1e-9);
    // Each one's backward is the other.
    let gx = engine::run(&[(cols, g.clone())], false, false, Some(std::slice::from_ref(&x))).unwrap();
    assert_eq!(gx[0].as_ref().unwrap().to_vec::<f64>(), folded.to_vec::<f64>());
    let gg = engine::run(&[(folded, x.clone())], false, false, Some(std::slice::from_ref(&g))).unwrap();
    assert_eq!(gg[0].as_ref().unwrap().to_vec::<f64>(), cv);
}

#[test]
fn conv_errors_name_the_op_and_the_shapes() {
    let x = Tensor::zeros(&[1, 3, 4, 4], DType::F32);
    let w = Tensor::zeros(&[2, 2, 3, 3], DType::F32);
    let e = conv(&x, &w, None, &ConvArgs::new(2)).unwrap_err().to_string();
    assert!(e.contains("conv2d") && e.contains("[2, 2, 3, 3]") && e.contains("[1, 3, 4, 4]") && e.contains("to have 2 channels"), "{e}");
    let w5 = Tensor::zeros(&[1, 3, 5, 5], DType::F32);
    let e = conv(&x, &w5, None, &ConvArgs::new(2)).unwrap_err().to_string();
    assert!(e.contains("(4 x 4)") && e.contains("(5 x 5)"), "{e}");
    let x3 = Tensor::zeros(&[1, 3, 2, 4, 4], DType::F32);
    let w3 = Tensor::zeros(&[1, 3, 3, 3, 3], DType::F32);
    let e = conv(&x3, &w3, None, &ConvArgs::new(3)).unwrap_err().to_string();
    assert!(e.contains("conv3d") && e.contains("(2 x 4 x 4)") && e.contains("(3 x 3 x 3)"), "{e}");
    let e = conv(&x3, &w, None, &ConvArgs::new(2)).unwrap_err().to_string();
    assert!(e.contains("conv2d") && e.contains("4-D input") && e.contains("[1, 3, 2, 4, 4]"), "{e}");
    let e = conv(&x, &w5, None, &ConvArgs::new(1)).unwrap_err().to_string();
    assert!(e.contains("stride") && e.contains("2 values"), "{e}");
    let wt = Tensor::zeros(&[3, 2, 3, 3], DType::F32);
    let e = conv_transpose(&x, &wt, None, &targs(&[1, 1], &[0, 0], &[1, 1], &[1, 1], 1)).unwrap_err().to_string();
    assert!(e.contains("conv_transpose2d") && e.contains("output padding must be smaller"), "{e}");
    let e = conv_transpose(&x, &w, None, &ConvTransposeArgs::new(2)).unwrap_err().to_string();
    assert!(e.contains("transposed=1") && e.contains("to have 2 channels, but got 3"), "{e}");
    let tiny = Tensor::zeros(&[1, 3, 1, 1], DType::F32);
    let e = conv_transpose(&tiny, &wt, None, &targs(&[1, 1], &[2, 2], &[0, 0], &[1, 1], 1)).unwrap_err().to_string();
    assert!(e.contains("(1 x 1)") && e.contains("(-1 x -1)") && e.contains("too small"), "{e}");
    let e = fold(&Tensor::zeros(&[2, 12, 8], DType::F32), [4, 4], &FoldArgs { kernel_size: [2, 2], dilation: [1, 1], padding: [0, 0], stride: [1, 1] })
        .unwrap_err()
        .to_string();
    assert!(e.contains("3 * 3 = 9") && e.contains("input.size(2)=8"), "{e}");
}
