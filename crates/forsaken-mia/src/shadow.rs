//! The shadow-model attack (Shokri et al., IEEE S&P 2017), the default reporting oracle.
//!
//! The first `k` models of the [`crate::pool::ShadowPool`] (each trained with the target's
//! architecture and recipe on an independent random half of the shadow split) provide the
//! attack data: every shadow sample's softmax vector on every one of those models, labelled
//! in / out. One attack classifier per true class (a global one where a class has too few
//! examples) maps the attack input to a member probability.
//!
//! Configurable: `k`; the classifier (`logreg`, or a small `mlp`); the input (`sorted`: the
//! whole sorted softmax vector, `top-k`: its top `top_k` entries, `label`: the top `top_k`
//! entries plus the true class's probability and whether it is the arg-max). Probabilities enter
//! on a log scale (floored at 1e-30), which spreads the confident end where members sit.

use serde::{Deserialize, Serialize};

use forsaken_models::settings::{self, SettingError};
use forsaken_models::{MembershipOracle, ModelError, Outputs};

use crate::logreg::LogReg;
use crate::mlp_attack::SmallMlp;

/// The attack classifier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum AttackClassifier {
    /// Logistic regression per class.
    #[default]
    Logreg,
    /// One-hidden-layer MLP (8 tanh units) per class.
    Mlp,
}

/// What the attack classifier reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum AttackInput {
    /// The whole sorted softmax vector.
    Sorted,
    /// The top `top_k` entries of the sorted softmax vector.
    #[default]
    TopK,
    /// Top `top_k` entries, the true class's probability, and whether it is the arg-max.
    Label,
}

/// Settings of the shadow attack.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShadowConfig {
    /// Number of shadow models the attack learns from (the first `k` of the pool).
    pub k: usize,
    /// Entries of the sorted softmax vector for `top-k` and `label` inputs.
    pub top_k: usize,
    /// Seed for the shadows' in/out halves and initializations.
    pub seed: u64,
    /// Attack classifier.
    #[serde(default)]
    pub classifier: AttackClassifier,
    /// Attack input.
    #[serde(default)]
    pub input: AttackInput,
}

impl Default for ShadowConfig {
    fn default() -> Self {
        Self { k: 4, top_k: 10, seed: 0, classifier: AttackClassifier::Logreg, input: AttackInput::TopK }
    }
}

impl ShadowConfig {
    /// Check the ranges: `k >= 1` shadow models, `top_k >= 1` entries.
    pub fn check(&self) -> Result<(), SettingError> {
        settings::at_least("k", self.k, 1)?;
        settings::at_least("top_k", self.top_k, 1)
    }
}

/// Every shadow model's softmax outputs on every shadow sample, with in/out flags.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShadowOutputs {
    /// Classes.
    pub num_classes: usize,
    /// One entry per (shadow model, shadow sample).
    pub records: Vec<ShadowRecord>,
    /// Mean train accuracy of the shadows.
    pub shadow_train_acc: f64,
    /// Mean accuracy of the shadows on their "out" half.
    pub shadow_test_acc: f64,
}

impl ShadowOutputs {
    /// The records of shadow models on the shadow samples `rows`: `per_model[k]` holds model
    /// `k`'s outputs on `rows` in that order, and a record is a member when the sample is in
    /// `in_sets[k]`. Records go model by model, each in `rows` order; the accuracies are the
    /// mean over models of each one's accuracy on its members and on its non-members.
    pub fn from_outputs(per_model: &[Outputs], rows: &[usize], in_sets: &[Vec<usize>]) -> Self {
        let num_classes = per_model.first().map_or(0, |o| o.num_classes);
        let mut records = Vec::with_capacity(per_model.len() * rows.len());
        let (mut tr, mut te) = (0.0, 0.0);
        for (model, (o, inside)) in per_model.iter().zip(in_sets).enumerate() {
            let inside: std::collections::HashSet<usize> = inside.iter().copied().collect();
            let predicted = o.predictions();
            let mut hits = [(0usize, 0usize); 2];
            for (i, &sample) in rows.iter().enumerate() {
                let member = inside.contains(&sample);
                let h = &mut hits[member as usize];
                h.0 += (predicted[i] == o.labels[i]) as usize;
                h.1 += 1;
                records.push(ShadowRecord { class: o.labels[i], probs: o.row(i).to_vec(), member, model, sample });
            }
            let rate = |(hit, all): (usize, usize)| hit as f64 / all.max(1) as f64 / per_model.len() as f64;
            tr += rate(hits[1]);
            te += rate(hits[0]);
        }
        Self { num_classes, records, shadow_train_acc: tr, shadow_test_acc: te }
    }
}

/// One attack example.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShadowRecord {
    /// True class of the sample.
    pub class: u32,
    /// Softmax vector of the shadow model on the sample.
    pub probs: Vec<f32>,
    /// Whether the shadow model trained on it.
    pub member: bool,
    /// Which shadow model.
    pub model: usize,
    /// Pooled-dataset index of the sample.
    pub sample: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
enum Classifier {
    Logreg(LogReg),
    Mlp(SmallMlp),
}

impl Classifier {
    fn fit(kind: AttackClassifier, x: &[Vec<f64>], y: &[bool], seed: u64) -> Self {
        match kind {
            AttackClassifier::Logreg => Classifier::Logreg(LogReg::fit(x, y, 300, 1e-3)),
            AttackClassifier::Mlp => Classifier::Mlp(SmallMlp::fit(x, y, 8, 300, seed)),
        }
    }
    fn predict(&self, x: &[f64]) -> f64 {
        match self {
            Classifier::Logreg(m) => m.predict(x),
            Classifier::Mlp(m) => m.predict(x),
        }
    }
}

/// The fitted shadow attack.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShadowOracle {
    cfg: ShadowConfig,
    num_classes: usize,
    per_class: Vec<Option<Classifier>>,
    global: Classifier,
}

/// Minimum in and out examples for a class to get its own attack classifier.
const MIN_PER_SIDE: usize = 20;

impl ShadowOracle {
    /// Fit the attack classifiers on the outputs of the first `cfg.k` shadow models.
    pub fn fit(outputs: &ShadowOutputs, cfg: &ShadowConfig) -> Result<Self, ModelError> {
        cfg.check().map_err(|e| e.within("oracles.shadow"))?;
        let recs: Vec<&ShadowRecord> = outputs.records.iter().filter(|r| r.model < cfg.k).collect();
        let feats: Vec<Vec<f64>> = recs.iter().map(|r| attack_features(cfg, &r.probs, r.class)).collect();
        let ys: Vec<bool> = recs.iter().map(|r| r.member).collect();
        if !ys.iter().any(|&m| m) || ys.iter().all(|&m| m) {
            return Err(ModelError::Request("shadow outputs need both members and non-members".into()));
        }
        let global = Classifier::fit(cfg.classifier, &feats, &ys, cfg.seed);
        let mut per_class = Vec::with_capacity(outputs.num_classes);
        for c in 0..outputs.num_classes as u32 {
            let idx: Vec<usize> = (0..ys.len()).filter(|&i| recs[i].class == c).collect();
            let ins = idx.iter().filter(|&&i| ys[i]).count();
            if ins < MIN_PER_SIDE || idx.len() - ins < MIN_PER_SIDE {
                per_class.push(None);
                continue;
            }
            let x: Vec<Vec<f64>> = idx.iter().map(|&i| feats[i].clone()).collect();
            let y: Vec<bool> = idx.iter().map(|&i| ys[i]).collect();
            per_class.push(Some(Classifier::fit(cfg.classifier, &x, &y, cfg.seed ^ c as u64)));
        }
        Ok(Self { cfg: cfg.clone(), num_classes: outputs.num_classes, per_class, global })
    }

    /// Member probability from one softmax vector and its true class.
    pub fn score_probs(&self, probs: &[f32], class: u32) -> f64 {
        let f = attack_features(&self.cfg, probs, class);
        match self.per_class.get(class as usize).and_then(Option::as_ref) {
            Some(m) => m.predict(&f),
            None => self.global.predict(&f),
        }
    }

    /// Member probabilities for precomputed outputs.
    pub fn score_outputs(&self, o: &Outputs) -> Vec<f64> {
        (0..o.len()).map(|i| self.score_probs(o.row(i), o.labels[i])).collect()
    }
}

/// The attack input of one softmax vector (log scale).
fn attack_features(cfg: &ShadowConfig, probs: &[f32], class: u32) -> Vec<f64> {
    let mut p: Vec<f64> = probs.iter().map(|&v| v as f64).collect();
    p.sort_by(|a, b| b.partial_cmp(a).unwrap_or(std::cmp::Ordering::Equal));
    if cfg.input != AttackInput::Sorted {
        p.truncate(cfg.top_k.clamp(1, probs.len()));
    }
    let mut f: Vec<f64> = p.into_iter().map(|v| v.max(1e-30).ln()).collect();
    if cfg.input == AttackInput::Label {
        let py = probs[class as usize] as f64;
        let argmax = probs.iter().enumerate().fold(0, |b, (i, &v)| if v > probs[b] { i } else { b });
        f.push(py.max(1e-30).ln());
        f.push(if argmax == class as usize { 1.0 } else { 0.0 });
    }
    f
}

impl MembershipOracle for ShadowOracle {
    fn id(&self) -> &str {
        "shadow"
    }
    fn score(&self, o: &Outputs, _samples: &[usize]) -> Result<Vec<f64>, ModelError> {
        Ok(self.score_outputs(o))
    }
    fn decide(&self, o: &Outputs, _samples: &[usize]) -> Result<Vec<bool>, ModelError> {
        Ok(self.score_outputs(o).into_iter().map(|s| s >= 0.5).collect())
    }
}
