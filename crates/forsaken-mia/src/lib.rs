//! # forsaken-mia
//!
//! Membership-inference oracles behind one trait, [`MembershipOracle`]: fit once on the
//! auditor's shadow data, then `score` and `decide` per sample for **any** model, so the same
//! oracle judges the original and the unlearned model (FORSAKEN.md section 1).
//!
//! Oracles (PROTOCOL.md ids), all fitted on the auditor's shadow data, never on the target's:
//! * `shadow` ([`shadow`]): the shadow-model attack of Shokri et al. (2017), the default
//!   reporting oracle;
//! * `loss`, `confidence`, `entropy`, `m-entropy` ([`metric`]): threshold attacks of Yeom et al.
//!   (2018) and Song and Mittal (2021); `loss` is the default stopping oracle;
//! * `lira` ([`lira`]): offline LiRA (Carlini et al. 2022), per-example Gaussian tests.
//!
//! They share one [`pool::ShadowPool`] of shadow models (each trained on an independent random
//! half of the shadow split), cached on disk by configuration hash.

pub mod lira;
pub mod logreg;
pub mod metric;
pub mod mlp_attack;
pub mod pool;
pub mod shadow;

use burn::tensor::backend::Backend;
use forsaken_data::Dataset;
use forsaken_metrics::{MetricError, OracleStrength, RocPoint};
use forsaken_models::{predict, MembershipJudge, Net, Outputs};

pub use lira::{LiraConfig, LiraOracle};
pub use metric::{Metric, MetricOracle};
pub use pool::{shadow_pool, ShadowPool};
pub use shadow::{AttackClassifier, AttackInput, ShadowConfig, ShadowOracle, ShadowOutputs};

/// A membership oracle: member scores (higher = more likely a member) and decisions.
pub trait MembershipOracle<B: Backend>: MembershipJudge<B> {
    /// Member scores from the model's softmax outputs `o` on the samples `idx` of `data`
    /// (computing outputs once and asking several oracles is much cheaper than each oracle
    /// running the model).
    fn score_outputs(&self, o: &Outputs, data: &Dataset, idx: &[usize]) -> Vec<f64>;

    /// Member / non-member decisions from outputs, as [`MembershipOracle::score_outputs`].
    fn decide_outputs(&self, o: &Outputs, data: &Dataset, idx: &[usize]) -> Vec<bool>;

    /// Member score per sample (higher = more likely a member).
    fn score(&self, net: &Net<B>, data: &Dataset, idx: &[usize]) -> Vec<f64> {
        self.score_outputs(&predict(net, data, idx), data, idx)
    }

    /// The oracle's strength on `net` with known members and non-members (for the original
    /// model: target_train vs target_test).
    fn strength(&self, net: &Net<B>, data: &Dataset, members: &[usize], non_members: &[usize]) -> Result<Strength, MetricError> {
        let (om, on) = (predict(net, data, members), predict(net, data, non_members));
        let ms = self.score_outputs(&om, data, members);
        let ns = self.score_outputs(&on, data, non_members);
        let md = self.decide_outputs(&om, data, members);
        let nd = self.decide_outputs(&on, data, non_members);
        let summary = OracleStrength::compute(&ms, &ns, &md, &nd)?;
        let mut scores = ms;
        scores.extend(ns);
        let mut labels = vec![true; members.len()];
        labels.extend(std::iter::repeat_n(false, non_members.len()));
        let roc = forsaken_metrics::roc_curve(&scores, &labels)?;
        Ok(Strength { summary, roc })
    }
}

/// Strength summary and the ROC curve it came from (for log-log ROC figures).
#[derive(Debug, Clone)]
pub struct Strength {
    /// AUC, balanced accuracy, TPR at low FPR, advantage.
    pub summary: OracleStrength,
    /// ROC points.
    pub roc: Vec<RocPoint>,
}

/// AUC below which an oracle "cannot see membership here" (issue text; flagged in reports).
pub const WEAK_ORACLE_AUC: f64 = 0.55;

/// Every oracle id, in report order.
pub const ORACLE_IDS: &[&str] = &["shadow", "loss", "confidence", "entropy", "m-entropy", "lira"];

/// A set of fitted oracles, all judging with the same shadow pool.
pub struct OracleSet<B: Backend> {
    /// `(id, oracle)` in [`ORACLE_IDS`] order.
    pub oracles: Vec<(String, Box<dyn MembershipOracle<B>>)>,
}

impl<B: Backend + 'static> OracleSet<B> {
    /// Fit the oracles named in `ids` (or all when `ids` is empty) on `pool`.
    pub fn fit(
        pool: &ShadowPool<B>,
        ids: &[String],
        shadow: &ShadowConfig,
        lira: &LiraConfig,
    ) -> Result<Self, forsaken_models::ModelError> {
        let want = |id: &str| ids.is_empty() || ids.iter().any(|i| i == id || i == "all");
        let mut oracles: Vec<(String, Box<dyn MembershipOracle<B>>)> = Vec::new();
        for id in ORACLE_IDS {
            if !want(id) {
                continue;
            }
            let o: Box<dyn MembershipOracle<B>> = match *id {
                "shadow" => Box::new(ShadowOracle::fit(&pool.outputs, shadow)?),
                "lira" => Box::new(LiraOracle::new(pool, lira.clone())),
                other => {
                    let m = Metric::ALL.into_iter().find(|m| m.id() == other).expect("metric id");
                    Box::new(MetricOracle::fit(m, &pool.outputs)?)
                }
            };
            oracles.push((id.to_string(), o));
        }
        if let Some(bad) = ids.iter().find(|i| *i != "all" && !ORACLE_IDS.contains(&i.as_str())) {
            return Err(forsaken_models::ModelError::Request(format!("unknown oracle `{bad}`; known: {}, all", ORACLE_IDS.join(", "))));
        }
        Ok(Self { oracles })
    }

    /// The oracle with this id.
    pub fn get(&self, id: &str) -> Option<&dyn MembershipOracle<B>> {
        self.oracles.iter().find(|(i, _)| i == id).map(|(_, o)| o.as_ref())
    }
}

#[cfg(test)]
mod tests {
    use burn::backend::{Autodiff, Flex};
    use burn::module::AutodiffModule;
    use forsaken_data::{Dataset, ModelFamily};
    use forsaken_metrics::{roc_curve, tpr_at_fpr};
    use forsaken_models::{train, NetConfig, TrainConfig};

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
        let set = OracleSet::<I>::fit(&pool, &ids, &ShadowConfig::default(), &LiraConfig::default()).unwrap();
        let tpr = |id: &str| {
            let o = set.get(id).unwrap();
            let mut scores = o.score(&target, &data, &members);
            scores.extend(o.score(&target, &data, &non_members));
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

    #[test]
    fn every_oracle_beats_chance_on_an_overfit_model_and_not_on_an_unseen_one() {
        let dev = Default::default();
        let data = noisy(700, 40, 4, 1);
        let cfg = NetConfig::for_family(ModelFamily::Mlp, &[40], 4);
        let r = TrainConfig { epochs: 100, batch_size: 32, lr: 5e-3, seed: 0, early_stop_acc: None };
        let members: Vec<usize> = (0..150).collect();
        let non_members: Vec<usize> = (150..300).collect();
        let shadow: Vec<usize> = (300..700).collect();
        let target = train(train::fresh::<B>(&cfg, 11, &dev).unwrap(), &data, &members, &r, "target").unwrap().valid();
        let pool = shadow_pool::<B>(&data, &shadow, &cfg, &r, 6, 3, None, &dev).unwrap();
        assert!(pool.outputs.shadow_train_acc > 0.9, "shadows must overfit: {}", pool.outputs.shadow_train_acc);
        let sc = ShadowConfig { k: 2, top_k: 4, ..ShadowConfig::default() };
        let set = OracleSet::<I>::fit(&pool, &[], &sc, &LiraConfig::default()).unwrap();
        assert_eq!(set.oracles.len(), ORACLE_IDS.len());
        // a model that never saw `members` or `non_members`: a shadow (trained on shadow data)
        let unseen = &pool.models[0];
        for (id, o) in &set.oracles {
            let s = o.strength(&target, &data, &members, &non_members).unwrap().summary;
            assert!(s.auc > 0.6, "{id}: AUC {} on the overfit model", s.auc);
            let u = o.strength(unseen, &data, &members, &non_members).unwrap().summary;
            assert!((u.auc - 0.5).abs() < 0.1, "{id}: AUC {} on a model that never saw the members", u.auc);
        }
        for classifier in [AttackClassifier::Logreg, AttackClassifier::Mlp] {
            let oracle = ShadowOracle::fit(&pool.outputs, &ShadowConfig { classifier, ..sc.clone() }).unwrap();
            let s = MembershipOracle::<I>::strength(&oracle, &target, &data, &members, &non_members).unwrap().summary;
            assert!(s.auc > 0.75, "{classifier:?}: AUC {}", s.auc);
            assert!(s.balanced_accuracy > 0.65, "{classifier:?}: balanced accuracy {}", s.balanced_accuracy);
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
