//! Baseline properties on tiny fixtures (Flex CPU backend).

use burn::backend::{Autodiff, Flex};
use burn::module::AutodiffModule;

use forsaken_data::{Dataset, ModelFamily};
use forsaken_metrics::selectivity::{retained_vs_forget_auc, selectivity};
use forsaken_metrics::FrCounts;
use forsaken_mia::{shadow_pool, Metric, MetricOracle};
use forsaken_models::{predict, to_vec, train, Net, NetConfig, TrainConfig, UnlearnRequest, Unlearner};

use crate::{Retrain, Scale};

type B = Autodiff<Flex>;
type I = Flex;

fn noisy(n: usize, dim: usize, classes: usize, seed: u64) -> Dataset {
    use rand::{Rng, SeedableRng};
    let mut r = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let f = (0..n * dim).map(|_| if r.random_bool(0.2) { 1.0 } else { 0.0 }).collect();
    let l = (0..n).map(|_| r.random_range(0..classes as u32)).collect();
    Dataset::new("noisy", f, l, vec![dim], classes).unwrap()
}

fn request<'a>(
    net: &'a Net<B>,
    data: &'a Dataset,
    forget: &'a [usize],
    retain: &'a [usize],
    reference: &'a [usize],
    recipe: &'a TrainConfig,
    strength: Option<f64>,
) -> UnlearnRequest<'a, B> {
    UnlearnRequest { original: net, data, forget, retain, reference, train: recipe, stopping: None, observer: None, seed: 0, strength }
}

#[test]
fn scale_reads_no_data() {
    let dev = Default::default();
    let cfg = NetConfig::for_family(ModelFamily::Mlp, &[6], 3);
    let net = train::fresh::<B>(&cfg, 1, &dev).unwrap();
    let empty = Dataset { name: "empty".into(), features: vec![], labels: vec![], shape: vec![6], num_classes: 3, ..noisy(1, 6, 3, 0) };
    let recipe = TrainConfig::default();
    let out = Scale::default().unlearn(&request(&net, &empty, &[], &[], &[], &recipe, Some(0.5))).unwrap();
    let probe = noisy(4, 6, 3, 9);
    let idx = [0, 1, 2, 3];
    let before = predict(&net.valid(), &probe, &idx);
    let after = predict(&out.model.valid().into_net("test").unwrap(), &probe, &idx);
    assert_ne!(before.probs, after.probs);
    // the hidden weights are untouched; only the head's input rows are scaled
    assert_eq!(to_vec(net.valid().dense[0].weight.val()), to_vec(out.model.valid().into_net("test").unwrap().dense[0].weight.val()));
    assert!(Scale::default().unlearn(&request(&net, &empty, &[], &[], &[], &recipe, Some(1.5))).is_err());
}

/// Random features with random labels (only memorization fits them), an MLP overfit on the
/// first 200 samples (D_u = the first 40), and a loss oracle fitted on 4 shadow models.
struct Fixture {
    data: Dataset,
    recipe: TrainConfig,
    forget: Vec<usize>,
    retain: Vec<usize>,
    reference: Vec<usize>,
    net: Net<B>,
    oracle: MetricOracle,
}

fn overfit_fixture() -> Fixture {
    let dev = Default::default();
    let data = noisy(700, 40, 4, 1);
    let cfg = NetConfig::for_family(ModelFamily::Mlp, &[40], 4);
    let recipe = TrainConfig { epochs: 100, batch_size: 32, lr: 5e-3, seed: 0, early_stop_acc: None };
    let forget: Vec<usize> = (0..40).collect();
    let retain: Vec<usize> = (40..200).collect();
    let members: Vec<usize> = (0..200).collect();
    let reference: Vec<usize> = (200..300).collect();
    let shadow: Vec<usize> = (300..700).collect();
    let net = train(train::fresh::<B>(&cfg, 11, &dev).unwrap(), &data, &members, &recipe, "target").unwrap();
    let pool = shadow_pool::<B>(&data, &shadow, &cfg, &recipe, 4, 3, None, &dev).unwrap();
    let oracle = MetricOracle::fit(Metric::Loss, &pool.outputs).unwrap();
    Fixture { data, recipe, forget, retain, reference, net, oracle }
}

#[test]
fn retraining_is_selective_and_the_data_free_control_is_not() {
    let Fixture { data, recipe, forget, retain, reference, net, oracle } = overfit_fixture();
    let orig = net.valid();
    let b_u = oracle.decide_outputs(&predict(&orig, &data, &forget));
    let b_r = oracle.decide_outputs(&predict(&orig, &data, &retain));
    let measure = |m: &Net<I>| {
        let fr_u = FrCounts::from_decisions(&b_u, &oracle.decide_outputs(&predict(m, &data, &forget))).unwrap().forgetting_rate().value();
        let fr_r = FrCounts::from_decisions(&b_r, &oracle.decide_outputs(&predict(m, &data, &retain))).unwrap().forgetting_rate().value();
        let auc =
            retained_vs_forget_auc(&oracle.score_outputs(&predict(m, &data, &retain)), &oracle.score_outputs(&predict(m, &data, &forget)))
                .unwrap();
        (fr_u, fr_r, auc)
    };
    let (_, _, auc0) = measure(&orig);
    assert!((auc0 - 0.5).abs() <= 0.1, "original model: retained-vs-forget AUC {auc0}");
    let rt = Retrain::default()
        .unlearn(&request(&net, &data, &forget, &retain, &reference, &recipe, None))
        .unwrap()
        .model
        .valid()
        .into_net("test")
        .unwrap();
    let (rfu, rfr, rauc) = measure(&rt);
    assert!(rauc >= 0.8, "retrain: retained-vs-forget AUC {rauc}");
    // scale: the mildest factor of 0.9, 0.8, ..., 0.1 that reaches FR 90% on D_u
    let target = 0.9;
    let mut reached = None;
    for k in (1..=9).rev() {
        let f = k as f64 / 10.0;
        let m = Scale::default()
            .unlearn(&request(&net, &data, &[], &[], &[], &recipe, Some(f)))
            .unwrap()
            .model
            .valid()
            .into_net("test")
            .unwrap();
        let r = measure(&m);
        if r.0.is_some_and(|v| v >= target) {
            reached = Some((f, r));
            break;
        }
    }
    let (factor, (sfu, sfr, sauc)) = reached.expect("scale reaches the target FR at some factor");
    assert!(sauc <= 0.6, "scale x{factor}: retained-vs-forget AUC {sauc}");
    let sel = selectivity(sfu, sfr, rfu, rfr).expect("retrain gap is large on an overfit model");
    assert!(sel <= 0.2, "scale x{factor}: selectivity {sel}");
    assert!((selectivity(rfu, rfr, rfu, rfr).unwrap() - 1.0).abs() < 1e-12);
}

#[test]
fn every_baseline_forgets_at_default_strength_deterministically_and_never_in_place() {
    use crate::{NegGrad, NegGradPlus, RandomLabels, SalUn};
    // every single-network method at its default strength (fine-tune: the suites' 5 epochs);
    // SISA's member-rate drop is tested on its retrained shard below
    let Fixture { data, recipe, forget, retain, reference, net, oracle } = overfit_fixture();
    let rate = |m: &Net<I>| oracle.decide_outputs(&predict(m, &data, &forget)).iter().filter(|&&x| x).count() as f64 / forget.len() as f64;
    let before = rate(&net.valid());
    let weights_before = to_vec(net.valid().head.weight.val());
    let methods: Vec<Box<dyn Unlearner<B>>> = vec![
        Box::new(NegGrad::default()),
        Box::new(NegGradPlus::default()),
        Box::new(RandomLabels::default()),
        Box::new(SalUn::default()),
        Box::new(crate::FineTune { epochs: 5 }),
        Box::new(crate::Retrain::default()),
    ];
    for m in &methods {
        let req = request(&net, &data, &forget, &retain, &reference, &recipe, None);
        let a = m.unlearn(&req).unwrap();
        let b = m.unlearn(&req).unwrap();
        let after = rate(&a.model.valid().into_net("test").unwrap());
        assert!(before - after >= 0.3, "{}: member rate on D_u {before} -> {after}", m.id());
        assert_eq!(
            to_vec(a.model.valid().into_net("test").unwrap().head.weight.val()),
            to_vec(b.model.valid().into_net("test").unwrap().head.weight.val()),
            "{} is not deterministic",
            m.id()
        );
        assert_eq!(to_vec(net.valid().head.weight.val()), weights_before, "{} changed the original in place", m.id());
    }
}

#[test]
fn neggrad_divergence_guard_fires() {
    use crate::NegGrad;
    let dev = Default::default();
    let data = noisy(200, 20, 3, 2);
    let cfg = NetConfig::for_family(ModelFamily::Mlp, &[20], 3);
    let idx: Vec<usize> = (0..100).collect();
    let net = train(
        train::fresh::<B>(&cfg, 1, &dev).unwrap(),
        &data,
        &idx,
        &TrainConfig { epochs: 30, batch_size: 32, lr: 5e-3, seed: 0, early_stop_acc: None },
        "t",
    )
    .unwrap();
    // a learning rate made to diverge
    let wild = TrainConfig { epochs: 1, batch_size: 32, lr: 5.0, seed: 0, early_stop_acc: None };
    let out = NegGrad { steps: 200 }.unlearn(&request(&net, &data, &idx[..20], &idx[20..], &[], &wild, None)).unwrap();
    assert!(out.stop_reason.starts_with("divergence guard"), "{}", out.stop_reason);
    assert!(out.steps < 200);
    let probe = predict(&out.model.valid().into_net("test").unwrap(), &data, &idx);
    assert!(probe.probs.iter().all(|p| p.is_finite()));
}

fn params(net: &Net<I>) -> Vec<Vec<f32>> {
    let mut v = vec![];
    for l in net.dense.iter().chain(std::iter::once(&net.head)) {
        v.push(to_vec(l.weight.val()));
        v.push(to_vec(l.bias.as_ref().unwrap().val()));
    }
    v
}

#[test]
fn sisa_retrains_only_the_affected_shard_from_its_last_clean_slice() {
    use crate::{SisaConfig, SisaModel};
    use forsaken_models::Predict;
    let Fixture { data, recipe, net, oracle, .. } = overfit_fixture();
    let dev = Default::default();
    let members: Vec<usize> = (0..200).collect();
    let cfg = SisaConfig { shards: 4, slices: 2, ..SisaConfig::default() };
    let (model, cost) = SisaModel::<B>::train(&cfg, &net.config, &data, &members, &recipe, 3, &dev).unwrap();
    assert_eq!(cost.stages_trained, 8);
    // shards are disjoint and cover the training set
    let mut all: Vec<usize> = model.shards.iter().flat_map(|s| s.data()).collect();
    all.sort_unstable();
    assert_eq!(all, members);

    // a forget set inside slice 2 of shard 1: one shard, one stage, from the slice-1 checkpoint
    let forget: Vec<usize> = model.shards[1].slices[1][..10].to_vec();
    let (after, cost) = model.unlearn(&data, &forget).unwrap();
    assert_eq!(cost.shards_retrained, vec![1]);
    assert_eq!(cost.stages_trained, 1);
    for k in [0, 2, 3] {
        assert_eq!(params(&after.shards[k].model().valid()), params(&model.shards[k].model().valid()), "shard {k} changed");
    }
    assert_eq!(params(&after.shards[1].checkpoints[0].valid()), params(&model.shards[1].checkpoints[0].valid()));
    assert_ne!(params(&after.shards[1].model().valid()), params(&model.shards[1].model().valid()));
    for s in &after.shards {
        assert!(s.data().iter().all(|i| !forget.contains(i)), "a forget sample is still in a shard's data");
    }
    // the shard that memorized D_u no longer does: the oracle's member rate on it drops
    let rate = |m: &Net<I>| oracle.decide_outputs(&predict(m, &data, &forget)).iter().filter(|&&x| x).count() as f64 / forget.len() as f64;
    let (r0, r1) = (rate(&model.shards[1].model().valid()), rate(&after.shards[1].model().valid()));
    assert!(r0 - r1 >= 0.3, "member rate of D_u on its shard: {r0} -> {r1}");
    // the aggregate is an ensemble of 4; its accuracy on D_u falls
    let acc = |m: &SisaModel<B>| {
        let e = m.ensemble();
        let e = forsaken_models::Ensemble { members: e.members.iter().map(|n| n.valid()).collect(), aggregation: e.aggregation };
        e.outputs(&data, &forget).accuracy()
    };
    assert!(acc(&after) < acc(&model), "ensemble accuracy on D_u did not fall");

    // a forget sample in the first slice retrains that shard from scratch (both stages)
    let (_, cost) = model.unlearn(&data, &model.shards[2].slices[0][..1]).unwrap();
    assert_eq!((cost.shards_retrained, cost.stages_trained), (vec![2], 2));
}

#[test]
fn sisa_as_an_unlearner_is_deterministic_and_returns_an_ensemble() {
    use crate::{Sisa, SisaConfig};
    use forsaken_models::{Predict, Unlearned};
    let Fixture { data, recipe, forget, retain, reference, net, .. } = overfit_fixture();
    let recipe = TrainConfig { epochs: 20, ..recipe };
    let sisa = Sisa { config: SisaConfig { shards: 3, slices: 2, ..SisaConfig::default() } };
    let req = request(&net, &data, &forget, &retain, &reference, &recipe, None);
    let a = Unlearner::<B>::unlearn(&sisa, &req).unwrap();
    let b = Unlearner::<B>::unlearn(&sisa, &req).unwrap();
    assert!(matches!(a.model, Unlearned::Ensemble(ref e) if e.members.len() == 3));
    assert!(a.setup_seconds > 0.0);
    let idx: Vec<usize> = (0..300).collect();
    assert_eq!(a.model.valid().outputs(&data, &idx).probs, b.model.valid().outputs(&data, &idx).probs);
}

#[test]
fn one_trajectory_sweeps_equal_separate_runs_bit_for_bit() {
    use crate::{FineTune, NegGrad, NegGradPlus, RandomLabels, SalUn};
    let Fixture { data, recipe, forget, retain, reference, net, .. } = overfit_fixture();
    let methods: Vec<Box<dyn Unlearner<B>>> = vec![
        Box::new(NegGrad::default()),
        Box::new(NegGradPlus::default()),
        Box::new(RandomLabels::default()),
        Box::new(SalUn::default()),
        Box::new(FineTune::default()),
    ];
    let req = request(&net, &data, &forget, &retain, &reference, &recipe, None);
    let head = |o: &forsaken_models::UnlearnOutcome<B>| to_vec(o.model.valid().into_net("test").unwrap().head.weight.val());
    for m in &methods {
        let strengths = [1.0, 3.0, 4.0];
        let mut seen = Vec::new();
        m.sweep(&req, &strengths, &mut |o, secs| {
            assert!(secs >= 0.0);
            seen.push((o.strength, head(&o)));
            Ok(true)
        })
        .unwrap();
        assert_eq!(seen.len(), 3, "{}", m.id());
        for (s, w) in &seen {
            let alone = m.unlearn(&request(&net, &data, &forget, &retain, &reference, &recipe, Some(*s))).unwrap();
            assert_eq!(&head(&alone), w, "{} at strength {s}: the sweep differs from a separate run", m.id());
        }
        // a visit returning false ends the sweep
        let mut n = 0;
        m.sweep(&req, &strengths, &mut |_, _| {
            n += 1;
            Ok(false)
        })
        .unwrap();
        assert_eq!(n, 1, "{}", m.id());
    }
}
