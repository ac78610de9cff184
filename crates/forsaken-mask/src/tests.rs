//! Forsaken's properties (docs/method.md, "Forsaken", What the tests check),
//! on tiny data with the Flex CPU backend.

use std::collections::BTreeMap;

use burn::backend::{Autodiff, Flex};
use burn::module::{AutodiffModule, Module};
use burn::tensor::{Tensor, TensorData};

use forsaken_data::{Dataset, ModelFamily};
use forsaken_models::{
    predict, to_vec, train, MembershipOracle, ModelError, Net, NetConfig, Outputs, StoppingRule, TrainConfig, UnlearnRequest, Unlearner,
};

use crate::*;

type B = Autodiff<Flex>;
type I = Flex;

fn noisy(n: usize, shape: &[usize], classes: usize, seed: u64) -> Dataset {
    use rand::{Rng, SeedableRng};
    let mut r = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let dim: usize = shape.iter().product();
    let f = (0..n * dim).map(|_| r.random_range(0.0..1.0f32)).collect();
    let l = (0..n).map(|_| r.random_range(0..classes as u32)).collect();
    Dataset::new("noisy", f, l, shape.to_vec(), classes).unwrap()
}

struct Fixture {
    data: Dataset,
    net: Net<B>,
    forget: Vec<usize>,
    retain: Vec<usize>,
    reference: Vec<usize>,
    recipe: TrainConfig,
}

fn fixture(family: ModelFamily, shape: &[usize], epochs: usize) -> Fixture {
    fixture_on(noisy(260, shape, 3, 5), family, shape, epochs)
}

/// Sparse binary features (10% ones) with random labels: like Location's check-in vectors, each
/// sample lights its own few inputs, so memorization has sample-specific weights to live in.
fn sparse(n: usize, shape: &[usize], classes: usize, seed: u64) -> Dataset {
    use rand::{Rng, SeedableRng};
    let mut r = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let dim: usize = shape.iter().product();
    let f = (0..n * dim).map(|_| if r.random_bool(0.1) { 1.0 } else { 0.0 }).collect();
    let l = (0..n).map(|_| r.random_range(0..classes as u32)).collect();
    Dataset::new("sparse", f, l, shape.to_vec(), classes).unwrap()
}

fn fixture_on(data: Dataset, family: ModelFamily, shape: &[usize], epochs: usize) -> Fixture {
    let dev = Default::default();
    let cfg = NetConfig::for_family(family, shape, data.num_classes);
    let recipe = TrainConfig { epochs, batch_size: 32, lr: 3e-3, seed: 1, early_stop_acc: None };
    let members: Vec<usize> = (0..160).collect();
    let net = train(train::fresh::<B>(&cfg, 1, &dev).unwrap(), &data, &members, &recipe, "fixture").unwrap();
    Fixture { forget: (0..20).collect(), retain: (20..160).collect(), reference: (160..260).collect(), data, net, recipe }
}

fn weights(net: &Net<B>) -> Vec<Vec<f32>> {
    let v = net.valid();
    let mut out: Vec<Vec<f32>> = v.convs.iter().map(|c| to_vec(c.weight.val())).collect();
    out.extend(v.dense.iter().map(|d| to_vec(d.weight.val())));
    out.push(to_vec(v.head.weight.val()));
    out
}

fn masked_vs_folded(f: &Fixture, steps: usize) {
    let mut st =
        ForsakenState::new(ForsakenConfig { eta: 0.2, ..Default::default() }, &f.net, &f.data, &f.forget, &f.retain, &f.reference, 3)
            .unwrap();
    for _ in 0..steps {
        st.step(true);
    }
    // the classifier's weights are bit-identical before folding
    assert_eq!(weights(st.network()), weights(&f.net));
    let masks = st.masks();
    assert!(masks.iter().flatten().all(|&m| (0.0..=1.0).contains(&m)), "masks must stay in [0, 1]");
    assert!(masks.iter().flatten().any(|&m| m < 0.999), "masks should have moved");
    let inner = f.net.valid();
    let dev = Default::default();
    let mt: Vec<Tensor<I, 1>> = masks.iter().map(|m| Tensor::from_data(TensorData::new(m.clone(), [m.len()]), &dev)).collect();
    let (x, _) = forsaken_models::train::to_tensors::<I>(&f.data, &f.forget, &dev);
    let masked = to_vec(inner.forward_masked(x.clone(), Some(&mt)));
    let folded = to_vec(inner.clone().fold_neuron_masks(&masks).unwrap().forward(x));
    let scale = masked.iter().fold(1.0f32, |m, v| m.max(v.abs()));
    let diff = masked.iter().zip(&folded).map(|(a, b)| (a - b).abs()).fold(0.0, f32::max);
    assert!(diff < 1e-4 * scale, "fold differs by {diff}");
}

#[test]
fn mlp_weights_frozen_masks_clamped_and_fold_exact() {
    masked_vs_folded(&fixture(ModelFamily::Mlp, &[24], 30), 15);
}

#[test]
fn cnn_weights_frozen_masks_clamped_and_fold_exact() {
    masked_vs_folded(&fixture(ModelFamily::Cnn, &[1, 10, 10], 3), 5);
}

#[test]
fn generator_lowers_the_forget_kl_with_masks_fixed() {
    let f = fixture(ModelFamily::Mlp, &[24], 30);
    // a forget set no larger than one batch and a retained set of one batch: fixed batches
    let cfg = ForsakenConfig { eta: 0.5, lambda: 0.0, alpha: 0.0, generator_lr: 1e-2, retain_batches: 1, ..Default::default() };
    producer_learns(&f, cfg, &f.retain[..64]);
}

/// With the masks held fixed, a learned producer's own training lowers the forget KL of the
/// update it proposes.
fn producer_learns(f: &Fixture, cfg: ForsakenConfig, retain: &[usize]) {
    let mut st = ForsakenState::new(cfg, &f.net, &f.data, &f.forget, retain, &f.reference, 0).unwrap();
    let first = st.step(false).kl_forget;
    let mut last = first;
    for _ in 0..60 {
        last = st.step(false).kl_forget;
    }
    assert!(st.masks().iter().flatten().all(|&m| m == 1.0), "masks were held fixed");
    assert!(last < 0.8 * first, "forget KL should fall: {first} -> {last}");
}

#[test]
fn same_seed_same_masks() {
    let f = fixture(ModelFamily::Mlp, &[24], 10);
    let run = |seed| {
        let mut st = ForsakenState::new(ForsakenConfig::default(), &f.net, &f.data, &f.forget, &f.retain, &f.reference, seed).unwrap();
        for _ in 0..10 {
            st.step(true);
        }
        st.masks()
    };
    assert_eq!(run(7), run(7));
    assert_ne!(run(7), run(8));
}

/// A loss-threshold judge for tests: member when the loss is below the median training loss
/// would put it.
struct LossJudge(f64);
impl MembershipOracle for LossJudge {
    fn id(&self) -> &str {
        "test-loss"
    }
    fn score(&self, o: &Outputs, _samples: &[usize]) -> Result<Vec<f64>, ModelError> {
        Ok(o.losses().into_iter().map(|l| -l).collect())
    }
    fn decide(&self, o: &Outputs, _samples: &[usize]) -> Result<Vec<bool>, ModelError> {
        Ok(o.losses().into_iter().map(|l| l < self.0).collect())
    }
}

impl LossJudge {
    /// Decisions on a network's outputs.
    fn on(&self, net: &Net<I>, data: &Dataset, idx: &[usize]) -> Vec<bool> {
        self.decide(&predict(net, data, idx), idx).unwrap()
    }
}

#[test]
fn unlearn_stops_on_the_target_and_returns_a_plain_model() {
    let f = fixture(ModelFamily::Mlp, &[24], 40);
    let inner = f.net.valid();
    let train_losses = predict(&inner, &f.data, &f.retain).losses();
    let test_losses = predict(&inner, &f.data, &f.reference).losses();
    let threshold =
        0.5 * (train_losses.iter().sum::<f64>() / train_losses.len() as f64 + test_losses.iter().sum::<f64>() / test_losses.len() as f64);
    let judge = LossJudge(threshold);
    let before = judge.on(&inner, &f.data, &f.forget);
    assert!(before.iter().filter(|&&m| m).count() >= 10, "fixture must memorize the forget set");
    let req = UnlearnRequest::<B> {
        original: &f.net,
        data: &f.data,
        forget: &f.forget,
        retain: &f.retain,
        reference: &f.reference,
        train: &f.recipe,
        stopping: Some(StoppingRule { oracle: &judge, target_fr: 0.5, before: before.clone() }),
        observer: Some(&|_net: &Net<I>| BTreeMap::from([("observed".to_string(), 1.0)])),
        seed: 0,
        strength: Some(0.5),
    };
    let out = Forsaken::neuron(ForsakenConfig { eta: 0.05, max_steps: 300, ..Default::default() }).unlearn(&req).unwrap();
    let model = out.model.valid().into_net("test").unwrap();
    assert_eq!(out.stopping_oracle.as_deref(), Some("test-loss"));
    assert!(out.trace.len() >= 2 && out.trace.iter().all(|p| p.values.contains_key("observed") && p.values.contains_key("fr_stop")));
    let after = judge.on(&model, &f.data, &f.forget);
    let fr = forsaken_metrics::FrCounts::from_decisions(&before, &after).unwrap().forgetting_rate().value().unwrap();
    if out.stop_reason.starts_with("target") {
        assert!(fr >= 0.5, "stopped on target but FR {fr}");
    }
    // the returned model has the original's architecture and no mask slots in use
    assert_eq!(model.config, f.net.config);
    assert_eq!(model.num_params(), inner.num_params());
}

fn weight_masked_vs_folded(f: &Fixture, cfg: ForsakenConfig, steps: usize) {
    let mut st = ForsakenState::new(cfg, &f.net, &f.data, &f.forget, &f.retain, &f.reference, 3).unwrap();
    for _ in 0..steps {
        st.step(true);
    }
    assert_eq!(weights(st.network()), weights(&f.net), "weights must stay frozen");
    let masks = st.masks();
    let shapes = f.net.weight_mask_shapes();
    assert_eq!(masks.iter().map(Vec::len).collect::<Vec<_>>(), shapes.iter().map(|s| s.iter().product::<usize>()).collect::<Vec<_>>());
    assert!(masks.iter().flatten().all(|&m| (0.0..=1.0).contains(&m)), "masks must stay in [0, 1]");
    assert!(masks.iter().flatten().any(|&m| m < 0.999), "masks should have moved");
    let inner = f.net.valid();
    let dev = Default::default();
    let mt: Vec<Tensor<I, 1>> = masks.iter().map(|m| Tensor::from_data(TensorData::new(m.clone(), [m.len()]), &dev)).collect();
    let (x, _) = forsaken_models::train::to_tensors::<I>(&f.data, &f.forget, &dev);
    let masked = to_vec(inner.forward_weight_masked(x.clone(), &mt));
    let folded = to_vec(fold(Granularity::Weight, inner.clone(), &masks).unwrap().forward(x));
    let scale = masked.iter().fold(1.0f32, |m, v| m.max(v.abs()));
    let diff = masked.iter().zip(&folded).map(|(a, b)| (a - b).abs()).fold(0.0, f32::max);
    assert!(diff < 1e-4 * scale, "fold differs by {diff}");
}

#[test]
fn forsaken_w_mlp_weights_frozen_masks_clamped_and_fold_exact() {
    let f = fixture(ModelFamily::Mlp, &[24], 30);
    weight_masked_vs_folded(&f, ForsakenConfig::forsaken_w(), 15);
    // the other producers drive per-weight masks too
    let lo = ForsakenConfig { producer: Producer::LearnedOptimizer, eta: 0.05, ..ForsakenConfig::forsaken_w() };
    weight_masked_vs_folded(&f, lo, 10);
}

#[test]
fn forsaken_w_cnn_weights_frozen_masks_clamped_and_fold_exact() {
    weight_masked_vs_folded(&fixture(ModelFamily::Cnn, &[1, 10, 10], 3), ForsakenConfig::forsaken_w(), 5);
}

#[test]
fn learned_optimizer_lowers_the_forget_kl_with_masks_fixed() {
    let f = fixture(ModelFamily::Mlp, &[24], 30);
    let cfg = ForsakenConfig {
        producer: Producer::LearnedOptimizer,
        eta: 0.5,
        lambda: 0.0,
        alpha: 0.0,
        generator_lr: 1e-2,
        ..ForsakenConfig::forsaken_w()
    };
    producer_learns(&f, cfg, &f.retain);
}

/// Member rates of a loss judge on D_u and on the retained set, before and after `forsaken-w`.
fn member_rate_drops(f: &Fixture) -> (f64, f64, f64, f64) {
    let inner = f.net.valid();
    let train_losses = predict(&inner, &f.data, &f.retain).losses();
    let test_losses = predict(&inner, &f.data, &f.reference).losses();
    // the loss threshold that best separates retained (members) from reference (non-members)
    let balanced = |t: f64| {
        let tpr = train_losses.iter().filter(|&&l| l < t).count() as f64 / train_losses.len() as f64;
        let tnr = test_losses.iter().filter(|&&l| l >= t).count() as f64 / test_losses.len() as f64;
        tpr + tnr
    };
    let t = train_losses.iter().chain(&test_losses).copied().max_by(|&a, &b| balanced(a).total_cmp(&balanced(b))).unwrap();
    let judge = LossJudge(t);
    eprintln!("threshold {t}: balanced accuracy {}", balanced(t) / 2.0);
    let rate = |net: &Net<I>, idx: &[usize]| judge.on(net, &f.data, idx).iter().filter(|&&m| m).count() as f64 / idx.len() as f64;
    let before = judge.on(&inner, &f.data, &f.forget);
    let req = UnlearnRequest::<B> {
        original: &f.net,
        data: &f.data,
        forget: &f.forget,
        retain: &f.retain,
        reference: &f.reference,
        train: &f.recipe,
        stopping: Some(StoppingRule { oracle: &judge, target_fr: 0.9, before }),
        observer: None,
        seed: 0,
        strength: None,
    };
    let out = Forsaken::weight(ForsakenConfig { max_steps: 300, ..ForsakenConfig::forsaken_w() }).unlearn(&req).unwrap();
    eprintln!("{} after {} steps", out.stop_reason, out.steps);
    let model = out.model.valid().into_net("test").unwrap();
    (rate(&inner, &f.forget), rate(&model, &f.forget), rate(&inner, &f.retain), rate(&model, &f.retain))
}

#[test]
fn forsaken_w_forgets_the_forget_set_in_particular_mlp() {
    let f = fixture_on(sparse(260, &[100], 3, 5), ModelFamily::Mlp, &[100], 60);
    let (u0, u1, r0, r1) = member_rate_drops(&f);
    eprintln!("mlp: D_u {u0} -> {u1}; retained {r0} -> {r1}");
    assert!(u0 >= 0.7 && r0 >= 0.7, "the fixture must memorize: {u0} {r0}");
    assert!(u0 - u1 >= 0.6, "member rate on D_u fell only {u0} -> {u1}");
    assert!(r0 - r1 <= 0.1, "member rate on the retained set fell {r0} -> {r1}");
}

#[test]
fn forsaken_w_forgets_the_forget_set_in_particular_cnn() {
    let f = fixture_on(sparse(260, &[1, 10, 10], 3, 5), ModelFamily::Cnn, &[1, 10, 10], 30);
    let (u0, u1, r0, r1) = member_rate_drops(&f);
    eprintln!("cnn: D_u {u0} -> {u1}; retained {r0} -> {r1}");
    assert!(u0 >= 0.7 && r0 >= 0.7, "the fixture must memorize: {u0} {r0}");
    assert!(u0 - u1 >= 0.6, "member rate on D_u fell only {u0} -> {u1}");
    assert!(r0 - r1 <= 0.1, "member rate on the retained set fell {r0} -> {r1}");
}
