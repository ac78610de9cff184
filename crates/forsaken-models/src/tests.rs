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
    let tc = TrainConfig { epochs: 5, batch_size: 16, lr: 1e-2, seed: 4 };
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
