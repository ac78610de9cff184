//! Tests on the CPU backend (Flex): tiny data, seconds.

use burn::backend::{Autodiff, Flex};
use burn::module::AutodiffModule;
use burn::tensor::{Distribution, Tensor, TensorData};

use forsaken_data::{Dataset, ModelFamily};

use crate::*;

type B = Autodiff<Flex>;
type I = Flex;

fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

fn random_masks(sizes: &[usize], seed: u64) -> Vec<Vec<f32>> {
    use rand::{Rng, SeedableRng};
    let mut r = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    sizes.iter().map(|&s| (0..s).map(|_| r.random_range(0.0..1.0f32)).collect()).collect()
}

fn check_fold(cfg: NetConfig, n: usize) {
    let dev = Default::default();
    let net: Net<I> = train::fresh(&cfg, 3, &dev).unwrap();
    let x = Tensor::<I, 2>::random([n, cfg.input_dim()], Distribution::Uniform(0.0, 1.0), &dev);
    let masks = random_masks(&cfg.mask_sizes(), 9);
    let mt: Vec<Tensor<I, 1>> = masks.iter().map(|m| Tensor::from_data(TensorData::new(m.clone(), [m.len()]), &dev)).collect();
    let masked = to_vec(net.forward_masked(x.clone(), Some(&mt)));
    let plain_before = to_vec(net.forward(x.clone()));
    let folded = net.fold_neuron_masks(&masks).unwrap();
    let out = to_vec(folded.forward(x));
    let scale = masked.iter().fold(1.0f32, |m, v| m.max(v.abs()));
    let diff = max_abs_diff(&masked, &out);
    assert!(diff < 1e-4 * scale, "fold error {diff} (scale {scale})");
    // the masks really changed something, so the test can fail
    assert!(max_abs_diff(&masked, &plain_before) > 1e-3);
}

#[test]
fn fold_is_exact_for_the_mlp() {
    check_fold(NetConfig::for_family(ModelFamily::Mlp, &[20], 5), 16);
}

#[test]
fn fold_is_exact_for_the_cnn() {
    check_fold(NetConfig::for_family(ModelFamily::Cnn, &[1, 14, 14], 4), 8);
}

#[test]
fn ones_mask_is_identity_and_wrong_mask_sizes_are_errors() {
    let dev = Default::default();
    let cfg = NetConfig::for_family(ModelFamily::Mlp, &[6], 3);
    let net: Net<I> = train::fresh(&cfg, 1, &dev).unwrap();
    let x = Tensor::<I, 2>::random([4, 6], Distribution::Default, &dev);
    let ones: Vec<Tensor<I, 1>> = cfg.mask_sizes().iter().map(|&s| Tensor::ones([s], &dev)).collect();
    assert_eq!(to_vec(net.forward(x.clone())), to_vec(net.forward_masked(x, Some(&ones))));
    assert!(net.fold_neuron_masks(&[vec![1.0; 3]]).is_err());
}

/// Two well separated blobs per class: a few epochs must fit them.
pub(crate) fn blobs(n: usize, dim: usize, classes: usize, seed: u64) -> Dataset {
    use rand::{Rng, SeedableRng};
    let mut r = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let mut f = Vec::new();
    let mut l = Vec::new();
    for i in 0..n {
        let c = i % classes;
        for j in 0..dim {
            let centre = if j % classes == c { 1.0 } else { 0.0 };
            f.push(centre + r.random_range(-0.3..0.3f32));
        }
        l.push(c as u32);
    }
    Dataset::new("blobs", f, l, vec![dim], classes).unwrap()
}

#[test]
fn training_fits_separable_data_and_is_deterministic() {
    let dev = Default::default();
    let data = blobs(120, 12, 3, 0);
    let idx: Vec<usize> = (0..120).collect();
    let cfg = NetConfig::for_family(ModelFamily::Mlp, &[12], 3);
    let tc = TrainConfig { epochs: 5, batch_size: 16, lr: 1e-2, seed: 4, early_stop_acc: None };
    let a = train(train::fresh::<B>(&cfg, 4, &dev).unwrap(), &data, &idx, &tc, "t").unwrap();
    let acc = predict(&a.valid(), &data, &idx).accuracy();
    assert!(acc > 0.95, "accuracy {acc}");
    let b = train(train::fresh::<B>(&cfg, 4, &dev).unwrap(), &data, &idx, &tc, "t").unwrap();
    assert_eq!(predict(&a.valid(), &data, &idx).probs, predict(&b.valid(), &data, &idx).probs);
}

#[test]
fn training_rejects_wrong_feature_count() {
    let dev = Default::default();
    let data = blobs(10, 5, 2, 0);
    let cfg = NetConfig::for_family(ModelFamily::Mlp, &[7], 2);
    let e = train(train::fresh::<B>(&cfg, 0, &dev).unwrap(), &data, &[0, 1], &TrainConfig::default(), "x").unwrap_err();
    assert!(e.to_string().contains("5 features"), "{e}");
}

#[test]
fn checkpoint_roundtrip_gives_identical_outputs() {
    let dev = Default::default();
    let cfg = NetConfig::for_family(ModelFamily::Cnn, &[1, 12, 12], 3);
    let net: Net<I> = train::fresh(&cfg, 5, &dev).unwrap();
    let dir = std::env::temp_dir().join(format!("forsaken-ck-{}", std::process::id()));
    let stem = dir.join("model");
    checkpoint::save(&net, &stem).unwrap();
    let back: Net<I> = checkpoint::load(&stem, &dev).unwrap();
    let x = Tensor::<I, 2>::random([3, 144], Distribution::Default, &dev);
    assert_eq!(to_vec(net.forward(x.clone())), to_vec(back.forward(x)));
    std::fs::write(stem.with_extension("mpk"), b"garbage").unwrap();
    let e = checkpoint::load::<I>(&stem, &dev).unwrap_err().to_string();
    assert!(e.contains("model.mpk"), "{e}");
    std::fs::remove_dir_all(&dir).ok();
}

fn check_weight_fold(cfg: NetConfig, n: usize) {
    let dev = Default::default();
    let net: Net<I> = train::fresh(&cfg, 3, &dev).unwrap();
    let x = Tensor::<I, 2>::random([n, cfg.input_dim()], Distribution::Uniform(0.0, 1.0), &dev);
    let sizes: Vec<usize> = net.weight_mask_shapes().iter().map(|s| s.iter().product()).collect();
    // ones are the identity
    let ones: Vec<Tensor<I, 1>> = sizes.iter().map(|&s| Tensor::ones([s], &dev)).collect();
    let plain = to_vec(net.forward(x.clone()));
    assert!(max_abs_diff(&plain, &to_vec(net.forward_weight_masked(x.clone(), &ones))) < 1e-5);
    let masks = random_masks(&sizes, 7);
    let mt: Vec<Tensor<I, 1>> = masks.iter().map(|m| Tensor::from_data(TensorData::new(m.clone(), [m.len()]), &dev)).collect();
    let masked = to_vec(net.forward_weight_masked(x.clone(), &mt));
    let folded = net.fold_weight_masks(&masks).unwrap();
    let out = to_vec(folded.forward(x));
    let scale = masked.iter().fold(1.0f32, |m, v| m.max(v.abs()));
    assert!(max_abs_diff(&masked, &out) < 1e-4 * scale, "weight-mask fold error");
    assert!(max_abs_diff(&masked, &plain) > 1e-3, "the masks changed nothing");
}

#[test]
fn weight_masks_fold_exactly_for_the_mlp() {
    let cfg = NetConfig::for_family(ModelFamily::Mlp, &[20], 5);
    check_weight_fold(cfg, 16);
    let net: Net<I> = train::fresh(&NetConfig::for_family(ModelFamily::Mlp, &[20], 5), 3, &Default::default()).unwrap();
    assert_eq!(net.weight_mask_shapes(), vec![vec![20, 128], vec![128, 64], vec![64, 5]]);
    assert!(net.fold_weight_masks(&[vec![1.0; 3]]).is_err());
}

#[test]
fn weight_masks_fold_exactly_for_the_cnn() {
    check_weight_fold(NetConfig::for_family(ModelFamily::Cnn, &[1, 14, 14], 4), 8);
}

#[test]
fn ensembles_average_or_vote_and_round_trip_through_disk() {
    let dev = Default::default();
    let data = blobs(12, 6, 3, 1);
    let idx: Vec<usize> = (0..12).collect();
    let cfg = NetConfig::for_family(ModelFamily::Mlp, &[6], 3);
    let members: Vec<Net<I>> = (0..3).map(|s| train::fresh(&cfg, s, &dev).unwrap()).collect();
    let outs: Vec<Outputs> = members.iter().map(|m| predict(m, &data, &idx)).collect();
    let mean = Ensemble { members: members.clone(), aggregation: Aggregation::Mean }.outputs(&data, &idx);
    for (k, p) in mean.probs.iter().enumerate() {
        let want = outs.iter().map(|o| o.probs[k]).sum::<f32>() / 3.0;
        assert!((p - want).abs() < 1e-6);
    }
    let vote = Ensemble { members: members.clone(), aggregation: Aggregation::Vote }.outputs(&data, &idx);
    for i in 0..idx.len() {
        let row = vote.row(i);
        assert!((row.iter().sum::<f32>() - 1.0).abs() < 1e-6);
        for c in 0..3 {
            let votes = outs.iter().filter(|o| o.predictions()[i] == c as u32).count() as f32 / 3.0;
            assert!((row[c] - votes).abs() < 1e-6);
        }
    }
    let dir = std::env::temp_dir().join(format!("forsaken-ens-{}", std::process::id()));
    let u = Unlearned::Ensemble(Ensemble { members, aggregation: Aggregation::Vote });
    u.save(&dir).unwrap();
    let back = Unlearned::<I>::load(&dir, &dev).unwrap();
    assert_eq!(back.outputs(&data, &idx).probs, vote.probs);
    assert!(back.into_net("folding").unwrap_err().to_string().contains("ensemble of 3"));
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn early_stop_ends_training_at_the_first_epoch_that_fits() {
    let dev = Default::default();
    let data = blobs(120, 12, 3, 0);
    let idx: Vec<usize> = (0..120).collect();
    let cfg = NetConfig::for_family(ModelFamily::Mlp, &[12], 3);
    let run = |epochs, stop| {
        let tc = TrainConfig { epochs, batch_size: 16, lr: 1e-2, seed: 4, early_stop_acc: stop };
        predict(&train(train::fresh::<B>(&cfg, 4, &dev).unwrap(), &data, &idx, &tc, "t").unwrap().valid(), &data, &idx).probs
    };
    let stopped = run(50, Some(0.99));
    // the same as a plain run of some smaller number of epochs, bit for bit
    let k = (1..50).find(|&k| run(k, None) == stopped).expect("early stop must equal a shorter plain run");
    assert!(k < 50);
    assert_ne!(stopped, run(50, None));
}

/// Naive 2D convolution (NCHW, groups) and its gradients against `r`, the weights of a linear
/// loss `sum(conv(x, w, b) * r)`: (output, dx, dw, db), in f64.
#[allow(clippy::too_many_arguments)]
fn naive_conv2d(
    x: &[f32],
    xs: [usize; 4],
    w: &[f32],
    ws: [usize; 4],
    b: &[f32],
    r: &[f32],
    stride: [usize; 2],
    pad: [usize; 2],
    dil: [usize; 2],
    groups: usize,
) -> (Vec<f64>, Vec<f64>, Vec<f64>, Vec<f64>, [usize; 4]) {
    let [n, ci, h, wd] = xs;
    let [co, cig, kh, kw] = ws;
    let ho = (h + 2 * pad[0] - dil[0] * (kh - 1) - 1) / stride[0] + 1;
    let wo = (wd + 2 * pad[1] - dil[1] * (kw - 1) - 1) / stride[1] + 1;
    let cog = co / groups;
    let mut out = vec![0f64; n * co * ho * wo];
    let (mut dx, mut dw, mut db) = (vec![0f64; x.len()], vec![0f64; w.len()], vec![0f64; co]);
    for s in 0..n {
        for o in 0..co {
            let grp = o / cog;
            for oy in 0..ho {
                for ox in 0..wo {
                    let oi = ((s * co + o) * ho + oy) * wo + ox;
                    let mut acc = b[o] as f64;
                    let g = r[oi] as f64;
                    db[o] += g;
                    for c in 0..cig {
                        let cin = grp * cig + c;
                        for ky in 0..kh {
                            for kx in 0..kw {
                                let iy = (oy * stride[0] + ky * dil[0]) as isize - pad[0] as isize;
                                let ix = (ox * stride[1] + kx * dil[1]) as isize - pad[1] as isize;
                                if iy < 0 || ix < 0 || iy >= h as isize || ix >= wd as isize {
                                    continue;
                                }
                                let xi = ((s * ci + cin) * h + iy as usize) * wd + ix as usize;
                                let wi = ((o * cig + c) * kh + ky) * kw + kx;
                                acc += x[xi] as f64 * w[wi] as f64;
                                dx[xi] += g * w[wi] as f64;
                                dw[wi] += g * x[xi] as f64;
                            }
                        }
                    }
                    out[oi] = acc;
                }
            }
        }
    }
    (out, dx, dw, db, [n, co, ho, wo])
}

fn assert_close(label: &str, got: &[f32], want: &[f64]) {
    assert_eq!(got.len(), want.len(), "{label}: length");
    let scale = want.iter().fold(1.0f64, |m, v| m.max(v.abs()));
    let err = got.iter().zip(want).map(|(g, w)| (*g as f64 - w).abs()).fold(0.0, f64::max);
    assert!(err < 1e-4 * scale, "{label}: max error {err} (scale {scale})");
}

/// The conv2d forward and all three gradients of the patched flex backend (vendor/burn-flex,
/// ops/conv_train.rs) equal a naive reference, for the layers of our CNNs and for strides,
/// padding, dilation and groups.
#[test]
fn conv2d_and_its_gradients_match_a_naive_reference() {
    use burn::tensor::module::conv2d;
    use burn::tensor::ops::ConvOptions;
    use rand::{Rng, SeedableRng};
    let dev = Default::default();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(5);
    let cases: [([usize; 4], [usize; 4], [usize; 2], [usize; 2], [usize; 2], usize); 5] = [
        ([3, 1, 12, 10], [4, 1, 3, 3], [1, 1], [0, 0], [1, 1], 1), // first layer, one channel
        ([2, 6, 9, 9], [5, 6, 3, 3], [1, 1], [0, 0], [1, 1], 1),   // second layer
        ([2, 3, 11, 8], [4, 3, 3, 2], [2, 1], [1, 2], [1, 1], 1),  // stride and padding
        ([2, 2, 10, 10], [3, 2, 3, 3], [1, 2], [2, 1], [2, 1], 1), // dilation
        ([2, 4, 7, 6], [6, 2, 3, 3], [1, 1], [1, 1], [1, 1], 2),   // groups
    ];
    for (xs, ws, stride, pad, dil, groups) in cases {
        let mut draw = |len: usize| (0..len).map(|_| rng.random_range(-1.0..1.0f32)).collect::<Vec<f32>>();
        let (x, w, b) = (draw(xs.iter().product()), draw(ws.iter().product()), draw(ws[0]));
        let xt = Tensor::<B, 4>::from_data(TensorData::new(x.clone(), xs), &dev).require_grad();
        let wt = Tensor::<B, 4>::from_data(TensorData::new(w.clone(), ws), &dev).require_grad();
        let bt = Tensor::<B, 1>::from_data(TensorData::new(b.clone(), [ws[0]]), &dev).require_grad();
        let y = conv2d(xt.clone(), wt.clone(), Some(bt.clone()), ConvOptions::new(stride, pad, dil, groups));
        let ys = y.dims();
        let r = draw(ys.iter().product());
        let (out, dx, dw, db, os) = naive_conv2d(&x, xs, &w, ws, &b, &r, stride, pad, dil, groups);
        assert_eq!(ys, os, "output shape");
        let rt = Tensor::<B, 4>::from_data(TensorData::new(r, ys), &dev);
        let grads = (y.clone() * rt).sum().backward();
        let label = format!("x {xs:?} w {ws:?} stride {stride:?} pad {pad:?} dil {dil:?} groups {groups}");
        assert_close(&format!("{label}: output"), &to_vec(y.inner()), &out);
        assert_close(&format!("{label}: dx"), &to_vec(xt.grad(&grads).unwrap()), &dx);
        assert_close(&format!("{label}: dw"), &to_vec(wt.grad(&grads).unwrap()), &dw);
        assert_close(&format!("{label}: db"), &to_vec(bt.grad(&grads).unwrap()), &db);
    }
}

/// 2x2 stride-2 max-pooling (the patched fast path) on odd and even sizes: the maximum of each
/// window, ties to the first position, and the gradient routed to that position only.
#[test]
fn max_pool_2x2_and_its_gradient_match_a_naive_reference() {
    use burn::tensor::module::max_pool2d;
    let dev = Default::default();
    for (h, w) in [(6usize, 4usize), (7, 5)] {
        // values with ties: integers in 0..4
        let x: Vec<f32> = (0..2 * 3 * h * w).map(|i| ((i * 7 + i / 5) % 4) as f32).collect();
        let xt = Tensor::<B, 4>::from_data(TensorData::new(x.clone(), [2, 3, h, w]), &dev).require_grad();
        let y = max_pool2d(xt.clone(), [2, 2], [2, 2], [0, 0], [1, 1], false);
        let (ho, wo) = (h / 2, w / 2);
        assert_eq!(y.dims(), [2, 3, ho, wo]);
        let r: Vec<f32> = (0..2 * 3 * ho * wo).map(|i| 1.0 + i as f32).collect();
        let grads = (y.clone() * Tensor::<B, 4>::from_data(TensorData::new(r.clone(), [2, 3, ho, wo]), &dev)).sum().backward();
        let (got, dx) = (to_vec(y.inner()), to_vec(xt.grad(&grads).unwrap()));
        let mut want_dx = vec![0f32; x.len()];
        for pl in 0..6 {
            for oy in 0..ho {
                for ox in 0..wo {
                    let cands = [(2 * oy, 2 * ox), (2 * oy, 2 * ox + 1), (2 * oy + 1, 2 * ox), (2 * oy + 1, 2 * ox + 1)];
                    let mut best = pl * h * w + cands[0].0 * w + cands[0].1;
                    for (yy, xx) in cands {
                        let i = pl * h * w + yy * w + xx;
                        if x[i] > x[best] {
                            best = i;
                        }
                    }
                    let o = (pl * ho + oy) * wo + ox;
                    assert_eq!(got[o], x[best], "max of window {o}");
                    want_dx[best] += r[o];
                }
            }
        }
        assert_eq!(dx, want_dx, "gradient routed to the first maximum ({h}x{w})");
    }
}

/// A CNN trained for a few steps in a 1-thread and in a 3-thread compute pool ends with
/// bit-identical weights: results (runs.jsonl) do not depend on `--jobs` or on the machine's
/// core count. The batch (20) spans several of the patched kernels' work chunks.
#[test]
fn cnn_training_is_bit_identical_whatever_the_thread_count() {
    let data = {
        use rand::{Rng, SeedableRng};
        let mut r = rand_chacha::ChaCha8Rng::seed_from_u64(11);
        let n = 40;
        let f: Vec<f32> = (0..n * 2 * 10 * 10).map(|_| r.random_range(0.0..1.0f32)).collect();
        let l: Vec<u32> = (0..n).map(|i| (i % 3) as u32).collect();
        Dataset::new("tiny-images", f, l, vec![2, 10, 10], 3).unwrap()
    };
    let idx: Vec<usize> = (0..40).collect();
    let cfg = NetConfig::for_family(ModelFamily::Cnn, &[2, 10, 10], 3);
    let recipe = TrainConfig { epochs: 2, batch_size: 20, lr: 1e-2, seed: 4, early_stop_acc: None };
    let run = |threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
        pool.install(|| {
            let dev = Default::default();
            let net = train(train::fresh::<B>(&cfg, 1, &dev).unwrap(), &data, &idx, &recipe, "t").unwrap();
            let x = Tensor::<I, 2>::from_data(TensorData::new(data.features.clone(), [40, 200]), &dev);
            to_vec(net.valid().forward(x))
        })
    };
    let (one, three) = (run(1), run(3));
    assert!(one.iter().any(|v| *v != 0.0));
    assert_eq!(one.iter().map(|v| v.to_bits()).collect::<Vec<_>>(), three.iter().map(|v| v.to_bits()).collect::<Vec<_>>());
}

/// The patched flex broadcast (vendor/burn-flex, ops/binary.rs): a per-block shared row, as a
/// stack's bias `[K, 1, N]` over `[K, M, N]`, equals the elementwise definition for the four
/// ops, whether the left operand is shared (kept for backward) or not, and the upstream shapes
/// (one shared row, one per-row scalar) still do.
#[test]
fn broadcast_of_one_row_per_block_matches_the_definition() {
    let dev = Default::default();
    let (k, m, n) = (3, 5, 7);
    let lhs = Tensor::<I, 3>::random([k, m, n], Distribution::Uniform(1.0, 2.0), &dev);
    let l = to_vec(lhs.clone());
    for (rhs_shape, index) in [
        ([k, 1, n], (|a: usize, _b: usize, c: usize| a * 7 + c) as fn(usize, usize, usize) -> usize),
        ([1, 1, n], |_, _, c| c),
        ([k, m, 1], |a, b, _| a * 5 + b),
    ] {
        let rhs = Tensor::<I, 3>::random(rhs_shape, Distribution::Uniform(1.0, 2.0), &dev);
        let r = to_vec(rhs.clone());
        let ops: [(fn(Tensor<I, 3>, Tensor<I, 3>) -> Tensor<I, 3>, fn(f32, f32) -> f32); 4] =
            [(|a, b| a + b, |a, b| a + b), (|a, b| a - b, |a, b| a - b), (|a, b| a * b, |a, b| a * b), (|a, b| a / b, |a, b| a / b)];
        for (op, want) in ops {
            let expected: Vec<f32> = (0..k * m * n).map(|i| want(l[i], r[index(i / (m * n), i / n % m, i % n)])).collect();
            let shared = op(lhs.clone(), rhs.clone());
            let _keep = lhs.clone();
            let unique = op(Tensor::from_data(lhs.to_data(), &dev), rhs.clone());
            assert_eq!(to_vec(shared), expected, "{rhs_shape:?}");
            assert_eq!(to_vec(unique), expected, "{rhs_shape:?}");
        }
    }
}

#[test]
fn outputs_are_a_stable_softmax_of_the_logits() {
    let logits = [1.0f32, 2.0, 3.0, 1.0e4, -1.0e4, 0.0, -5.0, -5.0, -5.0];
    let o = Outputs::from_logits(&logits, vec![0, 1, 2], 3);
    for i in 0..3 {
        let sum: f32 = o.row(i).iter().sum();
        assert!((sum - 1.0).abs() < 1e-6 && o.row(i).iter().all(|p| p.is_finite()), "row {i}: {:?}", o.row(i));
    }
    assert_eq!(o.predictions(), vec![2, 0, 0]);
    assert_eq!(o.row(1), &[1.0, 0.0, 0.0], "no overflow at 1e4");
    assert!((o.row(0)[2] - 0.665_240_9).abs() < 1e-6);
}

/// The audit of a model folder and `forsaken predict` read a network's logits on different
/// sets and orders of rows: a row's logits (so its outputs) must not depend on which other rows
/// share its batch, or saved logits would not give back the audited outputs.
fn check_rows_are_independent(cfg: NetConfig, data: &Dataset) {
    let net: Net<I> = train::fresh(&cfg, 5, &Default::default()).unwrap();
    let all: Vec<usize> = (0..data.len()).collect();
    let saved = SavedLogits { logits: net.logits(data, &all), num_classes: cfg.num_classes };
    let some: Vec<usize> = (0..data.len()).rev().step_by(3).collect();
    assert_eq!(saved.outputs(data, &some), predict(&net, data, &some));
    assert_eq!(saved.logits(data, &some[..1]), net.logits(data, &some[..1]));
}

#[test]
fn saved_logits_answer_as_the_network_did_on_any_subset_of_rows() {
    check_rows_are_independent(NetConfig::for_family(ModelFamily::Mlp, &[12], 3), &blobs(2500, 12, 3, 4));
    let images = Dataset::new(
        "img",
        (0..300 * 144).map(|i| ((i * 31) % 17) as f32 / 17.0).collect(),
        (0..300).map(|i| i % 3).collect(),
        vec![1, 12, 12],
        3,
    )
    .unwrap();
    check_rows_are_independent(NetConfig::for_family(ModelFamily::Cnn, &[1, 12, 12], 3), &images);
}

/// The fixture of tests/fixtures (made with numpy and the safetensors package, no torch):
/// the architecture of each network, raw inputs and the logits numpy computed for them.
fn pytorch_fixture() -> serde_json::Value {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/expected.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn floats(v: &serde_json::Value) -> Vec<f32> {
    v.as_array().unwrap().iter().flat_map(|row| row.as_array().unwrap().iter().map(|x| x.as_f64().unwrap() as f32)).collect()
}

fn fixture_config(case: &serde_json::Value) -> NetConfig {
    let usizes = |k: &str| case[k].as_array().unwrap().iter().map(|x| x.as_u64().unwrap() as usize).collect::<Vec<_>>();
    NetConfig {
        input_shape: usizes("input_shape"),
        num_classes: case["num_classes"].as_u64().unwrap() as usize,
        conv_channels: usizes("conv_channels"),
        hidden: usizes("hidden"),
        activation: if case["activation"] == "relu" { Activation::Relu } else { Activation::Tanh },
    }
}

/// `(x - mean) / std` per feature, as the PyTorch module does.
fn standardized(x: &[f32], s: &InputStats) -> Vec<f32> {
    let d = s.mean.len();
    x.iter().enumerate().map(|(i, v)| (v - s.mean[i % d]) / s.std[i % d]).collect()
}

#[test]
fn pytorch_safetensors_import_gives_the_fixtures_logits_and_export_round_trips_bit_exactly() {
    let dev = Default::default();
    let fixture = pytorch_fixture();
    let dir = std::env::temp_dir().join(format!("forsaken-interop-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for name in ["mlp", "cnn"] {
        let case = &fixture[name];
        let config = fixture_config(case);
        let file = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("tests/fixtures/{name}.safetensors"));
        let (net, stats) = import_safetensors::<I>(&config, &file, &dev).unwrap();
        let stats = stats.expect("the fixture carries input.mean and input.std");
        let x = floats(&case["inputs"]);
        let n = x.len() / config.input_dim();
        let input = Tensor::<I, 2>::from_data(TensorData::new(standardized(&x, &stats), [n, config.input_dim()]), &dev);
        let got = to_vec(net.forward(input.clone()));
        let want = floats(&case["logits"]);
        assert!(max_abs_diff(&got, &want) < 1e-5, "{name}: imported logits differ by {}", max_abs_diff(&got, &want));
        // export, import again: the same bits
        let out = dir.join(format!("{name}.safetensors"));
        export_safetensors(&net, &stats, &out).unwrap();
        let (again, stats_again) = import_safetensors::<I>(&config, &out, &dev).unwrap();
        assert_eq!(stats_again.as_ref(), Some(&stats));
        assert_eq!(to_vec(again.forward(input)), got, "{name}: export then import changed the logits");
        let bits = |n: &Net<I>| checkpoint_bytes(n);
        assert_eq!(bits(&again), bits(&net), "{name}: export then import changed a weight");
    }
    // the wrong architecture is named, not loaded
    let mlp = fixture_config(&fixture["mlp"]);
    let file = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/mlp.safetensors");
    let wider = NetConfig { hidden: vec![4, 4], ..mlp.clone() };
    assert!(import_safetensors::<I>(&wider, &file, &dev).unwrap_err().to_string().contains("dense.1"));
    let deeper = NetConfig { hidden: vec![4, 3, 3], ..mlp };
    let err = import_safetensors::<I>(&deeper, &file, &dev).unwrap_err().to_string();
    assert!(err.contains("missing") && err.contains("dense.2"), "{err}");
    std::fs::remove_dir_all(&dir).ok();
}

/// Every parameter's values, in module order.
fn checkpoint_bytes(net: &Net<I>) -> Vec<f32> {
    let mut all = Vec::new();
    for c in &net.convs {
        all.extend(c.weight.val().into_data().iter::<f32>());
        all.extend(c.bias.as_ref().unwrap().val().into_data().iter::<f32>());
    }
    for l in net.dense.iter().chain(std::iter::once(&net.head)) {
        all.extend(l.weight.val().into_data().iter::<f32>());
        all.extend(l.bias.as_ref().unwrap().val().into_data().iter::<f32>());
    }
    all
}
