//! # forsaken-mia
//!
//! Membership-inference oracles behind one trait, [`forsaken_models::MembershipOracle`]: fit
//! once on the auditor's shadow *outputs*, then `score` and `decide` per sample from **any**
//! model's outputs, so the same oracle judges the original and the unlearned model (docs/method.md,
//! "Forgetting rate"). [`oracles`] is their registry: id, settings, constructor.
//!
//! Oracles (ids as in docs/method.md, "Membership oracles"), all fitted on the auditor's shadow
//! data, never on the target's:
//! * `shadow` ([`shadow`]): the shadow-model attack of Shokri et al. (2017), the default
//!   reporting oracle;
//! * `loss`, `confidence`, `entropy`, `m-entropy` ([`metric`]): threshold attacks of Yeom et al.
//!   (2018) and Song and Mittal (2021); `loss` is the default stopping oracle;
//! * `lira` ([`lira`]): offline LiRA (Carlini et al. 2022), per-example Gaussian tests.
//!
//! They share one [`pool::ShadowPool`] of shadow models (each trained on an independent random
//! half of the shadow split), cached on disk by configuration hash.

#![warn(missing_docs)]

pub mod lira;
pub mod logreg;
pub mod metric;
pub mod mlp_attack;
pub mod pool;
pub mod shadow;

use forsaken_metrics::{OracleStrength, RocPoint};
use forsaken_models::{MembershipOracle, ModelError, Outputs};

pub use lira::{LiraConfig, LiraOracle};
pub use metric::{Metric, MetricOracle};
pub use pool::{shadow_pool, shadow_stem, QueryOutputs, ShadowEvidence, ShadowPool};
pub use shadow::{AttackClassifier, AttackInput, ShadowConfig, ShadowOracle, ShadowOutputs};

/// Strength summary and the ROC curve it came from (for log-log ROC figures).
#[derive(Debug, Clone)]
pub struct Strength {
    /// AUC, balanced accuracy, TPR at low FPR, advantage.
    pub summary: OracleStrength,
    /// ROC points.
    pub roc: Vec<RocPoint>,
}

/// An oracle's strength from a model's outputs on known members and non-members (for the
/// original model: target_train vs target_test), each with its sample indices.
pub fn strength(
    oracle: &dyn MembershipOracle,
    members: (&Outputs, &[usize]),
    non_members: (&Outputs, &[usize]),
) -> Result<Strength, ModelError> {
    let metric = |e: forsaken_metrics::MetricError| ModelError::Request(format!("{}: {e}", oracle.id()));
    let ms = oracle.score(members.0, members.1)?;
    let ns = oracle.score(non_members.0, non_members.1)?;
    let md = oracle.decide(members.0, members.1)?;
    let nd = oracle.decide(non_members.0, non_members.1)?;
    let summary = OracleStrength::compute(&ms, &ns, &md, &nd).map_err(metric)?;
    let mut scores = ms;
    scores.extend(ns);
    let mut labels = vec![true; members.1.len()];
    labels.extend(std::iter::repeat_n(false, non_members.1.len()));
    let roc = forsaken_metrics::roc_curve(&scores, &labels).map_err(metric)?;
    Ok(Strength { summary, roc })
}

/// AUC below which an oracle "cannot see membership here" (issue text; flagged in reports).
pub const WEAK_ORACLE_AUC: f64 = 0.55;

/// The settings oracles are fitted with (each oracle reads its own part).
#[derive(Debug, Clone, Copy)]
pub struct OracleSettings<'a> {
    /// The shadow attack's.
    pub shadow: &'a ShadowConfig,
    /// LiRA's.
    pub lira: &'a LiraConfig,
}

/// A fitted oracle, boxed.
pub type BoxedOracle = Box<dyn MembershipOracle>;

/// One oracle of the registry: its id, what it is, whether it calibrates per example (then the
/// evidence must hold the shadow models' outputs on every sample it will judge) and its
/// constructor.
pub struct OracleDef {
    /// Oracle id (docs/method.md, "Membership oracles").
    pub id: &'static str,
    /// One line for help and reports.
    pub about: &'static str,
    /// Calibrates per example (needs [`ShadowEvidence::queries`]).
    pub per_example: bool,
    /// Fit on shadow outputs.
    pub fit: fn(&ShadowEvidence, OracleSettings) -> Result<BoxedOracle, ModelError>,
}

/// A metric attack's entry (its thresholds read the shadow outputs only).
macro_rules! metric_oracle {
    ($m:expr, $about:expr) => {
        OracleDef { id: $m.id(), about: $about, per_example: false, fit: |e, _| Ok(Box::new(MetricOracle::fit($m, e.outputs)?)) }
    };
}

/// The registry of oracles, in report order: the one place where oracles are listed.
pub fn oracles() -> Vec<OracleDef> {
    vec![
        OracleDef {
            id: "shadow",
            about: "shadow-model attack (Shokri et al. 2017): a classifier per class on the sorted softmax",
            per_example: false,
            fit: |e, s| Ok(Box::new(ShadowOracle::fit(e.outputs, s.shadow)?)),
        },
        metric_oracle!(Metric::Loss, "loss threshold (Yeom et al. 2018)"),
        metric_oracle!(Metric::Confidence, "true-class confidence threshold per class (Song and Mittal 2021)"),
        metric_oracle!(Metric::Entropy, "prediction entropy threshold per class (Song and Mittal 2021)"),
        metric_oracle!(Metric::MEntropy, "modified entropy threshold per class (Song and Mittal 2021)"),
        OracleDef {
            id: "lira",
            about: "offline LiRA (Carlini et al. 2022): per-example Gaussian tests on shadow logits",
            per_example: true,
            fit: |e, s| Ok(Box::new(LiraOracle::fit(e, s.lira.clone())?)),
        },
    ]
}

/// Every oracle id, in report order.
pub fn oracle_ids() -> Vec<&'static str> {
    oracles().iter().map(|o| o.id).collect()
}

/// An error naming an unknown oracle id and the known ones.
pub fn unknown_oracle(id: &str) -> ModelError {
    ModelError::Request(format!("unknown oracle `{id}`; known: {}, all", oracle_ids().join(", ")))
}

/// Whether the selection `ids` (empty or `all` = every oracle) includes `id`.
pub fn selects(ids: &[String], id: &str) -> bool {
    ids.is_empty() || ids.iter().any(|i| i == id || i == "all")
}

/// A set of fitted oracles, all judging with the same shadow pool.
pub struct OracleSet {
    /// `(id, oracle)` in registry order.
    pub oracles: Vec<(String, BoxedOracle)>,
}

impl OracleSet {
    /// Fit the oracles selected by `ids` (empty or `all` = every one) on `evidence`.
    pub fn fit(evidence: &ShadowEvidence, ids: &[String], settings: OracleSettings) -> Result<Self, ModelError> {
        if let Some(bad) = ids.iter().find(|i| *i != "all" && !oracle_ids().contains(&i.as_str())) {
            return Err(unknown_oracle(bad));
        }
        let oracles = oracles()
            .into_iter()
            .filter(|d| selects(ids, d.id))
            .map(|d| Ok((d.id.to_string(), (d.fit)(evidence, settings)?)))
            .collect::<Result<_, ModelError>>()?;
        Ok(Self { oracles })
    }

    /// The oracle with this id.
    pub fn get(&self, id: &str) -> Option<&dyn MembershipOracle> {
        self.oracles.iter().find(|(i, _)| i == id).map(|(_, o)| o.as_ref())
    }
}

#[cfg(test)]
mod tests {
    use burn::backend::{Autodiff, Flex};
    use burn::module::AutodiffModule;
    use forsaken_data::{Dataset, ModelFamily};
    use forsaken_metrics::{roc_curve, tpr_at_fpr};
    use forsaken_models::{predict, train, Net, NetConfig, TrainConfig};

    use super::*;

    type B = Autodiff<Flex>;
    type I = Flex;

    /// Half "easy" samples (class prototype + small noise: every model gets them right, member
    /// or not) and half "hard" ones (random features and labels: only memorized). A global
    /// loss threshold fits such data poorly; per-example calibration (LiRA) does not care.
    fn mixed_difficulty(n: usize, dim: usize, classes: usize, seed: u64) -> Dataset {
        use rand::{Rng, SeedableRng};
        let mut r = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let mut f = Vec::with_capacity(n * dim);
        let mut l = Vec::with_capacity(n);
        for i in 0..n {
            let c = r.random_range(0..classes);
            let easy = i % 2 == 0;
            for j in 0..dim {
                let v = if easy {
                    (if j % classes == c { 1.0 } else { 0.0 }) + r.random_range(-0.1..0.1f32)
                } else {
                    r.random_range(0.0..1.0f32)
                };
                f.push(v);
            }
            l.push(c as u32);
        }
        Dataset::new("mixed", f, l, vec![dim], classes).unwrap()
    }

    /// Fit the oracles `ids` on the pool, with its outputs on every sample set in `judged`.
    fn fit(pool: &ShadowPool<I>, data: &Dataset, judged: &[&[usize]], ids: &[String], sc: &ShadowConfig) -> OracleSet {
        let queries: Vec<QueryOutputs> = judged.iter().map(|idx| pool.query(data, idx)).collect();
        let evidence = ShadowEvidence { outputs: &pool.outputs, in_sets: &pool.in_sets, queries: &queries };
        OracleSet::fit(&evidence, ids, OracleSettings { shadow: sc, lira: &LiraConfig::default() }).unwrap()
    }

    fn recipe() -> TrainConfig {
        TrainConfig { epochs: 60, batch_size: 32, lr: 5e-3, seed: 0, early_stop_acc: None }
    }

    #[test]
    fn lira_beats_the_global_loss_attack_at_low_fpr_when_difficulty_varies() {
        let dev = Default::default();
        let data = mixed_difficulty(1200, 24, 4, 1);
        let cfg = NetConfig::for_family(ModelFamily::Mlp, &[24], 4);
        let members: Vec<usize> = (0..200).collect();
        let non_members: Vec<usize> = (200..400).collect();
        let shadow: Vec<usize> = (400..1200).collect();
        let target = train(train::fresh::<B>(&cfg, 11, &dev).unwrap(), &data, &members, &recipe(), "target").unwrap().valid();
        let pool = shadow_pool::<B>(&data, &shadow, &cfg, &recipe(), 8, 3, None, &dev).unwrap();
        assert_eq!(pool.trained_now, 8);
        let ids = vec!["loss".to_string(), "lira".to_string()];
        let set = fit(&pool, &data, &[&members, &non_members], &ids, &ShadowConfig::default());
        let tpr = |id: &str| {
            let o = set.get(id).unwrap();
            let mut scores = o.score(&predict(&target, &data, &members), &members).unwrap();
            scores.extend(o.score(&predict(&target, &data, &non_members), &non_members).unwrap());
            let labels: Vec<bool> = (0..400).map(|i| i < 200).collect();
            tpr_at_fpr(&roc_curve(&scores, &labels).unwrap(), 0.01)
        };
        let (lira, loss) = (tpr("lira"), tpr("loss"));
        assert!(lira > loss, "LiRA TPR@1%FPR {lira} must beat the loss attack's {loss}");
    }

    /// Noisy labels on random binary features: only memorization fits them.
    fn noisy(n: usize, dim: usize, classes: usize, seed: u64) -> Dataset {
        use rand::{Rng, SeedableRng};
        let mut r = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let f = (0..n * dim).map(|_| if r.random_bool(0.2) { 1.0 } else { 0.0 }).collect();
        let l = (0..n).map(|_| r.random_range(0..classes as u32)).collect();
        Dataset::new("noisy", f, l, vec![dim], classes).unwrap()
    }

    /// A target that memorized 150 noisy members, 150 non-members, 400 shadow samples, and
    /// the recipe that overfits them.
    struct Overfit {
        data: Dataset,
        cfg: NetConfig,
        r: TrainConfig,
        members: Vec<usize>,
        non_members: Vec<usize>,
        shadow: Vec<usize>,
        target: Net<I>,
    }

    fn overfit() -> Overfit {
        let data = noisy(700, 40, 4, 1);
        let cfg = NetConfig::for_family(ModelFamily::Mlp, &[40], 4);
        let r = TrainConfig { epochs: 100, batch_size: 32, lr: 5e-3, seed: 0, early_stop_acc: None };
        let members: Vec<usize> = (0..150).collect();
        let fresh = train::fresh::<B>(&cfg, 11, &Default::default()).unwrap();
        let target = train(fresh, &data, &members, &r, "target").unwrap().valid();
        Overfit { data, cfg, r, members, non_members: (150..300).collect(), shadow: (300..700).collect(), target }
    }

    #[test]
    fn every_oracle_beats_chance_on_an_overfit_model_and_not_on_an_unseen_one() {
        let dev = Default::default();
        let Overfit { data, cfg, r, members, non_members, shadow, target } = overfit();
        let pool = shadow_pool::<B>(&data, &shadow, &cfg, &r, 6, 3, None, &dev).unwrap();
        assert!(pool.outputs.shadow_train_acc > 0.9, "shadows must overfit: {}", pool.outputs.shadow_train_acc);
        let sc = ShadowConfig { k: 2, top_k: 4, ..ShadowConfig::default() };
        let set = fit(&pool, &data, &[&members, &non_members], &[], &sc);
        assert_eq!(set.oracles.len(), oracle_ids().len());
        // a model that never saw `members` or `non_members`: a shadow (trained on shadow data)
        let unseen = &pool.models[0];
        let on = |net: &Net<I>, o: &dyn MembershipOracle| {
            strength(o, (&predict(net, &data, &members), &members), (&predict(net, &data, &non_members), &non_members)).unwrap().summary
        };
        for (id, o) in &set.oracles {
            let s = on(&target, o.as_ref());
            assert!(s.auc > 0.6, "{id}: AUC {} on the overfit model", s.auc);
            let u = on(unseen, o.as_ref());
            assert!((u.auc - 0.5).abs() < 0.1, "{id}: AUC {} on a model that never saw the members", u.auc);
        }
        for classifier in [AttackClassifier::Logreg, AttackClassifier::Mlp] {
            let oracle = ShadowOracle::fit(&pool.outputs, &ShadowConfig { classifier, ..sc.clone() }).unwrap();
            let s = on(&target, &oracle);
            assert!(s.auc > 0.75, "{classifier:?}: AUC {}", s.auc);
            assert!(s.balanced_accuracy > 0.65, "{classifier:?}: balanced accuracy {}", s.balanced_accuracy);
        }
    }

    /// The pool trains its shadows as one stack; the oracles fitted on it must judge a target
    /// as well as oracles fitted on shadows trained one after another (same halves, seeds and
    /// recipe). On the CPU the two pools are bit-identical; elsewhere they agree to rounding.
    #[test]
    fn oracles_on_a_stacked_pool_see_membership_as_on_sequential_shadows() {
        let dev = Default::default();
        let Overfit { data, cfg, r, members, non_members, shadow, target } = overfit();
        let stacked = shadow_pool::<B>(&data, &shadow, &cfg, &r, 4, 3, None, &dev).unwrap();
        let models: Vec<Net<I>> = (0..4)
            .map(|s| {
                let seed = pool::member_seed(3, s);
                let fresh = train::fresh::<B>(&cfg, seed, &dev).unwrap();
                train(fresh, &data, &stacked.in_sets[s], &TrainConfig { seed, ..r.clone() }, "shadow").unwrap().valid()
            })
            .collect();
        let outputs = pool::collect_outputs(&models, &stacked.in_sets, &data, &shadow);
        assert!(outputs.shadow_train_acc > 0.9, "shadows must overfit: {}", outputs.shadow_train_acc);
        let sequential = ShadowPool { models, in_sets: stacked.in_sets.clone(), outputs, trained_now: 4, cache_path: None };
        let sc = ShadowConfig { k: 2, top_k: 4, ..ShadowConfig::default() };
        let auc = |pool: &ShadowPool<I>| {
            let set = fit(pool, &data, &[&members, &non_members], &[], &sc);
            let judged = (&predict(&target, &data, &members), members.as_slice());
            let unseen = (&predict(&target, &data, &non_members), non_members.as_slice());
            set.oracles.iter().map(|(id, o)| (id.clone(), strength(o.as_ref(), judged, unseen).unwrap().summary.auc)).collect::<Vec<_>>()
        };
        let (a, b) = (auc(&stacked), auc(&sequential));
        assert_eq!(a.len(), oracle_ids().len());
        for ((id, x), (_, y)) in a.iter().zip(&b) {
            assert!(*x > 0.6, "{id}: AUC {x} on the overfit target");
            assert!((x - y).abs() <= 0.02, "{id}: AUC {x} on the stacked pool, {y} on sequential shadows");
        }
    }

    #[test]
    fn shadow_pool_cache_is_hit_on_the_second_run() {
        let dev = Default::default();
        let data = mixed_difficulty(200, 8, 2, 2);
        let cfg = NetConfig::for_family(ModelFamily::Mlp, &[8], 2);
        let r = TrainConfig { epochs: 2, batch_size: 32, lr: 1e-3, seed: 0, early_stop_acc: None };
        let shadow: Vec<usize> = (0..200).collect();
        let dir = std::env::temp_dir().join(format!("forsaken-pool-{}", std::process::id()));
        let first = shadow_pool::<B>(&data, &shadow, &cfg, &r, 3, 5, Some(&dir), &dev).unwrap();
        assert_eq!(first.trained_now, 3);
        let second = shadow_pool::<B>(&data, &shadow, &cfg, &r, 3, 5, Some(&dir), &dev).unwrap();
        assert_eq!(second.trained_now, 0, "the second run must load every shadow from the cache");
        assert_eq!(first.outputs, second.outputs);
        // a changed configuration never reuses the entry
        let r2 = TrainConfig { epochs: 3, ..r };
        assert_eq!(shadow_pool::<B>(&data, &shadow, &cfg, &r2, 3, 5, Some(&dir), &dev).unwrap().trained_now, 3);
        std::fs::remove_dir_all(&dir).ok();
    }
}
