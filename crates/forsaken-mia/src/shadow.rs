//! The shadow-model attack (Shokri et al., IEEE S&P 2017), the default oracle.
//!
//! Each of `k` shadow models has the target's architecture and training recipe and trains on
//! an independent random half of the shadow split ("in"); the other half is "out". The attack
//! data is every shadow sample's softmax vector on every shadow model, labelled in / out. One
//! logistic regression per true class (a global one where a class has too few examples) maps
//! the **sorted** softmax vector (its top `k` entries, on a log scale) to a member probability.
//!
//! The expensive part, training shadows, is separated from fitting the attack: the harness
//! caches [`ShadowOutputs`] and every oracle built on the same shadows reuses them.

use burn::module::AutodiffModule;
use burn::tensor::backend::{AutodiffBackend, Backend};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use forsaken_data::Dataset;
use forsaken_models::{
    predict, train, MembershipJudge, ModelError, Net, NetConfig, Outputs, TrainConfig,
};

use crate::logreg::LogReg;
use crate::MembershipOracle;

/// Settings of the shadow attack.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShadowConfig {
    /// Number of shadow models.
    pub k: usize,
    /// Entries of the sorted softmax vector fed to the attack.
    pub top_k: usize,
    /// Seed for the shadows' in/out halves and initializations.
    pub seed: u64,
}

impl Default for ShadowConfig {
    fn default() -> Self {
        Self {
            k: 4,
            top_k: 10,
            seed: 0,
        }
    }
}

/// Every shadow model's softmax outputs on every shadow sample, with in/out flags.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShadowOutputs {
    /// Classes.
    pub num_classes: usize,
    /// One entry per (shadow model, shadow sample).
    pub records: Vec<ShadowRecord>,
    /// Mean train / test accuracy of the shadows (to compare with the target's).
    pub shadow_train_acc: f64,
    /// Mean accuracy of the shadows on their "out" half.
    pub shadow_test_acc: f64,
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
}

/// Train `cfg.k` shadow models on random halves of `shadow_idx` and collect their outputs.
pub fn shadow_outputs<B: AutodiffBackend>(
    data: &Dataset,
    shadow_idx: &[usize],
    net: &NetConfig,
    recipe: &TrainConfig,
    cfg: &ShadowConfig,
    device: &B::Device,
) -> Result<ShadowOutputs, ModelError> {
    if shadow_idx.len() < 4 || cfg.k == 0 {
        return Err(ModelError::Request(format!(
            "shadow attack needs k >= 1 and at least 4 shadow samples (got k = {}, {} samples)",
            cfg.k,
            shadow_idx.len()
        )));
    }
    let mut records = Vec::with_capacity(cfg.k * shadow_idx.len());
    let (mut tr_acc, mut te_acc) = (0.0, 0.0);
    for s in 0..cfg.k {
        let mut rng =
            ChaCha8Rng::seed_from_u64(cfg.seed.wrapping_mul(1_000_003).wrapping_add(s as u64 + 1));
        let mut order = shadow_idx.to_vec();
        order.shuffle(&mut rng);
        let half = order.len() / 2;
        let (inside, outside) = order.split_at(half);
        let seed = cfg.seed.wrapping_mul(7919).wrapping_add(1000 + s as u64);
        let fresh = forsaken_models::train::fresh::<B>(net, seed, device)?;
        let recipe = TrainConfig {
            seed,
            ..recipe.clone()
        };
        let model = train(
            fresh,
            data,
            inside,
            &recipe,
            &format!("shadow model {}/{}", s + 1, cfg.k),
        )?
        .valid();
        let out_in = predict(&model, data, inside);
        let out_out = predict(&model, data, outside);
        tr_acc += out_in.accuracy() / cfg.k as f64;
        te_acc += out_out.accuracy() / cfg.k as f64;
        for (o, member) in [(&out_in, true), (&out_out, false)] {
            for i in 0..o.len() {
                records.push(ShadowRecord {
                    class: o.labels[i],
                    probs: o.row(i).to_vec(),
                    member,
                });
            }
        }
    }
    Ok(ShadowOutputs {
        num_classes: net.num_classes,
        records,
        shadow_train_acc: tr_acc,
        shadow_test_acc: te_acc,
    })
}

/// The fitted shadow attack.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShadowOracle {
    top_k: usize,
    per_class: Vec<Option<LogReg>>,
    global: LogReg,
}

/// Minimum in and out examples for a class to get its own attack classifier.
const MIN_PER_SIDE: usize = 20;

impl ShadowOracle {
    /// Fit the attack classifiers on shadow outputs.
    pub fn fit(outputs: &ShadowOutputs, cfg: &ShadowConfig) -> Result<Self, ModelError> {
        let top_k = cfg.top_k.clamp(1, outputs.num_classes);
        let feats: Vec<Vec<f64>> = outputs
            .records
            .iter()
            .map(|r| attack_features(&r.probs, top_k))
            .collect();
        let ys: Vec<bool> = outputs.records.iter().map(|r| r.member).collect();
        if !ys.iter().any(|&m| m) || ys.iter().all(|&m| m) {
            return Err(ModelError::Request(
                "shadow outputs need both members and non-members".into(),
            ));
        }
        let global = LogReg::fit(&feats, &ys, 300, 1e-4);
        let mut per_class = Vec::with_capacity(outputs.num_classes);
        for c in 0..outputs.num_classes as u32 {
            let idx: Vec<usize> = (0..ys.len())
                .filter(|&i| outputs.records[i].class == c)
                .collect();
            let ins = idx.iter().filter(|&&i| ys[i]).count();
            if ins < MIN_PER_SIDE || idx.len() - ins < MIN_PER_SIDE {
                per_class.push(None);
                continue;
            }
            let x: Vec<Vec<f64>> = idx.iter().map(|&i| feats[i].clone()).collect();
            let y: Vec<bool> = idx.iter().map(|&i| ys[i]).collect();
            per_class.push(Some(LogReg::fit(&x, &y, 300, 1e-3)));
        }
        Ok(Self {
            top_k,
            per_class,
            global,
        })
    }

    /// Member probability from one softmax vector and its true class.
    pub fn score_probs(&self, probs: &[f32], class: u32) -> f64 {
        let f = attack_features(probs, self.top_k);
        match self.per_class.get(class as usize).and_then(Option::as_ref) {
            Some(m) => m.predict(&f),
            None => self.global.predict(&f),
        }
    }

    /// Member probabilities for precomputed outputs.
    pub fn score_outputs(&self, o: &Outputs) -> Vec<f64> {
        (0..o.len())
            .map(|i| self.score_probs(o.row(i), o.labels[i]))
            .collect()
    }
}

/// Sorted softmax vector, top `k`, as natural logs (floored at 1e-30 so underflow stays finite).
fn attack_features(probs: &[f32], k: usize) -> Vec<f64> {
    let mut p: Vec<f64> = probs.iter().map(|&v| v as f64).collect();
    p.sort_by(|a, b| b.partial_cmp(a).unwrap_or(std::cmp::Ordering::Equal));
    p.truncate(k);
    p.into_iter().map(|v| v.max(1e-30).ln()).collect()
}

impl<B: Backend> MembershipJudge<B> for ShadowOracle {
    fn name(&self) -> String {
        "shadow".into()
    }
    fn decide(&self, net: &Net<B>, data: &Dataset, idx: &[usize]) -> Vec<bool> {
        self.score(net, data, idx)
            .into_iter()
            .map(|s| s >= 0.5)
            .collect()
    }
}

impl<B: Backend> MembershipOracle<B> for ShadowOracle {
    fn score(&self, net: &Net<B>, data: &Dataset, idx: &[usize]) -> Vec<f64> {
        self.score_outputs(&predict(net, data, idx))
    }
}
