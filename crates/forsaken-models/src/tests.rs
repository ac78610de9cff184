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
