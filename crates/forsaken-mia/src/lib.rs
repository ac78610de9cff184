//! # forsaken-mia
//!
//! Membership-inference oracles behind one trait, [`MembershipOracle`]: fit once on the
//! auditor's shadow data, then `score` and `decide` per sample for **any** model, so the same
//! oracle judges the original and the unlearned model (FORSAKEN.md section 1).
//!
//! The default oracle is the shadow-model attack of Shokri et al. (2017), [`shadow`]: `k`
//! shadow models of the target's architecture, each trained with the target's recipe on an
//! independent random half of the shadow split, and one logistic-regression attack classifier
//! per class on the sorted softmax vector.

pub mod logreg;
pub mod shadow;

use burn::tensor::backend::Backend;
use forsaken_data::Dataset;
use forsaken_metrics::{MetricError, OracleStrength, RocPoint};
use forsaken_models::{MembershipJudge, Net};

pub use shadow::{ShadowConfig, ShadowOracle, ShadowOutputs};

/// A membership oracle: member scores (higher = more likely a member) and decisions.
pub trait MembershipOracle<B: Backend>: MembershipJudge<B> {
    /// Member score per sample.
    fn score(&self, net: &Net<B>, data: &Dataset, idx: &[usize]) -> Vec<f64>;

    /// The oracle's strength on `net` with known members and non-members (for the original
    /// model: target_train vs target_test).
    fn strength(
        &self,
        net: &Net<B>,
        data: &Dataset,
        members: &[usize],
        non_members: &[usize],
    ) -> Result<Strength, MetricError> {
        let ms = self.score(net, data, members);
        let ns = self.score(net, data, non_members);
        let md = self.decide(net, data, members);
        let nd = self.decide(net, data, non_members);
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

#[cfg(test)]
mod tests {
    use burn::backend::{Autodiff, Flex};
    use burn::module::AutodiffModule;
    use forsaken_data::{Dataset, ModelFamily};
    use forsaken_models::{train, NetConfig, TrainConfig};

    use super::*;

    type B = Autodiff<Flex>;

    /// Noisy labels on random binary features: a model can only memorize them, so members
    /// and non-members differ in confidence.
    fn noisy(n: usize, dim: usize, classes: usize, seed: u64) -> Dataset {
        use rand::{Rng, SeedableRng};
        let mut r = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let f = (0..n * dim)
            .map(|_| if r.random_bool(0.2) { 1.0 } else { 0.0 })
            .collect();
        let l = (0..n).map(|_| r.random_range(0..classes as u32)).collect();
        Dataset::new("noisy", f, l, vec![dim], classes).unwrap()
    }

    #[test]
    fn shadow_oracle_beats_chance_on_an_overfit_model() {
        let dev = Default::default();
        let data = noisy(600, 40, 4, 1);
        let cfg = NetConfig::for_family(ModelFamily::Mlp, &[40], 4);
        let recipe = TrainConfig {
            epochs: 100,
            batch_size: 32,
            lr: 5e-3,
            seed: 0,
        };
        let members: Vec<usize> = (0..150).collect();
        let non_members: Vec<usize> = (150..300).collect();
        let shadow: Vec<usize> = (300..600).collect();
        let target = train(
            train::fresh::<B>(&cfg, 11, &dev).unwrap(),
            &data,
            &members,
            &recipe,
            "target",
        )
        .unwrap()
        .valid();
        let sc = ShadowConfig {
            k: 2,
            top_k: 4,
            seed: 3,
        };
        let outs = shadow::shadow_outputs::<B>(&data, &shadow, &cfg, &recipe, &sc, &dev).unwrap();
        assert!(
            outs.shadow_train_acc > 0.9,
            "shadows must overfit: {}",
            outs.shadow_train_acc
        );
        let oracle = ShadowOracle::fit(&outs, &sc).unwrap();
        let s = MembershipOracle::<Flex>::strength(&oracle, &target, &data, &members, &non_members)
            .unwrap();
        assert!(s.summary.auc > 0.75, "AUC {}", s.summary.auc);
        assert!(
            s.summary.balanced_accuracy > 0.65,
            "balanced accuracy {}",
            s.summary.balanced_accuracy
        );
    }
}
