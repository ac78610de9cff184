//! What an unlearning method returns: one plain network, or (SISA) an ensemble of networks whose
//! predictions are aggregated. Everything downstream (accuracies, oracles, audits) reads a model
//! through its softmax [`Outputs`], so both kinds are measured by the same code ([`Predict`]).

use std::path::Path;

use burn::module::AutodiffModule;
use burn::tensor::backend::{AutodiffBackend, Backend};
use serde::{Deserialize, Serialize};

use forsaken_data::Dataset;

use crate::eval::logits;
use crate::{checkpoint, predict, ModelError, Net, Outputs};

/// Anything that gives per-sample softmax-like outputs on rows of a dataset.
pub trait Predict {
    /// Outputs on the rows `idx` of `data`.
    fn outputs(&self, data: &Dataset, idx: &[usize]) -> Outputs;
    /// Logits on the rows `idx`, `[n, classes]` row-major, whose softmax gives `outputs`: a
    /// network's raw outputs; for an ensemble, the logarithm of its aggregated outputs (floored
    /// at 1e-12, so that a class no member votes for stays finite).
    fn logits(&self, data: &Dataset, idx: &[usize]) -> Vec<f32> {
        self.outputs(data, idx).probs.iter().map(|p| p.max(1e-12).ln()).collect()
    }
}

impl<B: Backend> Predict for Net<B> {
    fn outputs(&self, data: &Dataset, idx: &[usize]) -> Outputs {
        predict(self, data, idx)
    }
    fn logits(&self, data: &Dataset, idx: &[usize]) -> Vec<f32> {
        logits(self, data, idx)
    }
}

/// A model known only by its logits on every row of a dataset (a model trained elsewhere, read
/// from docs/logits.md's layout): it answers from its table. Rows index the table.
#[derive(Debug, Clone, PartialEq)]
pub struct SavedLogits {
    /// `[rows, classes]`, row-major.
    pub logits: Vec<f32>,
    /// Classes.
    pub num_classes: usize,
}

impl Predict for SavedLogits {
    /// Panics on a row outside the table (callers check their rows first).
    fn outputs(&self, data: &Dataset, idx: &[usize]) -> Outputs {
        Outputs::from_logits(&self.logits(data, idx), idx.iter().map(|&i| data.labels[i]).collect(), self.num_classes)
    }
    fn logits(&self, _: &Dataset, idx: &[usize]) -> Vec<f32> {
        let c = self.num_classes;
        idx.iter().flat_map(|&i| self.logits[i * c..(i + 1) * c].iter().copied()).collect()
    }
}

/// How an ensemble combines its members.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Aggregation {
    /// Mean of the members' softmax vectors (the default: oracles see a probability vector).
    #[default]
    Mean,
    /// Majority vote: the output row is the fraction of members voting for each class.
    Vote,
}

impl std::str::FromStr for Aggregation {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "mean" => Ok(Self::Mean),
            "vote" => Ok(Self::Vote),
            o => Err(format!("unknown aggregation `{o}` (mean or vote)")),
        }
    }
}

/// Networks of one architecture whose outputs are aggregated.
#[derive(Debug, Clone)]
pub struct Ensemble<B: Backend> {
    /// The members (SISA: one per shard).
    pub members: Vec<Net<B>>,
    /// How their outputs combine.
    pub aggregation: Aggregation,
}

impl<B: Backend> Predict for Ensemble<B> {
    fn outputs(&self, data: &Dataset, idx: &[usize]) -> Outputs {
        let c = data.num_classes;
        let mut acc = vec![0.0f64; idx.len() * c];
        for m in &self.members {
            let o = predict(m, data, idx);
            match self.aggregation {
                Aggregation::Mean => acc.iter_mut().zip(&o.probs).for_each(|(a, &p)| *a += p as f64),
                Aggregation::Vote => {
                    for (i, y) in o.predictions().into_iter().enumerate() {
                        acc[i * c + y as usize] += 1.0;
                    }
                }
            }
        }
        let k = self.members.len().max(1) as f64;
        Outputs {
            probs: acc.into_iter().map(|a| (a / k) as f32).collect(),
            labels: idx.iter().map(|&i| data.labels[i]).collect(),
            num_classes: c,
        }
    }
}

/// The model an unlearning method returns.
#[derive(Debug, Clone)]
pub enum Unlearned<B: Backend> {
    /// A plain network of the original architecture (every method but SISA).
    Single(Net<B>),
    /// An aggregated ensemble (SISA).
    Ensemble(Ensemble<B>),
}

impl<B: Backend> Unlearned<B> {
    /// The network, when the model is a single one.
    pub fn as_net(&self) -> Option<&Net<B>> {
        match self {
            Self::Single(n) => Some(n),
            Self::Ensemble(_) => None,
        }
    }

    /// The network, or an error naming what the caller needed it for.
    pub fn into_net(self, purpose: &str) -> Result<Net<B>, ModelError> {
        match self {
            Self::Single(n) => Ok(n),
            Self::Ensemble(e) => {
                Err(ModelError::Request(format!("{purpose} needs a single network; this model is an ensemble of {}", e.members.len())))
            }
        }
    }

    /// Save under `dir`: `model.mpk` for a single network, `shard-<k>.mpk` and
    /// `ensemble.json` for an ensemble.
    pub fn save(&self, dir: &Path) -> Result<(), ModelError> {
        match self {
            Self::Single(n) => checkpoint::save(n, &dir.join("model")),
            Self::Ensemble(e) => {
                for (k, m) in e.members.iter().enumerate() {
                    checkpoint::save(m, &dir.join(format!("shard-{k}")))?;
                }
                let meta = EnsembleMeta { members: e.members.len(), aggregation: e.aggregation };
                let path = dir.join("ensemble.json");
                let tmp = dir.join(".ensemble.json.tmp");
                let err =
                    |p: &Path, e: &dyn std::fmt::Display| ModelError::Checkpoint { path: p.display().to_string(), msg: e.to_string() };
                std::fs::write(&tmp, serde_json::to_string_pretty(&meta).map_err(|e| err(&path, &e))?).map_err(|e| err(&tmp, &e))?;
                std::fs::rename(&tmp, &path).map_err(|e| err(&path, &e))
            }
        }
    }

    /// Load what [`Unlearned::save`] wrote.
    pub fn load(dir: &Path, device: &B::Device) -> Result<Self, ModelError> {
        let meta_path = dir.join("ensemble.json");
        if !meta_path.exists() {
            return Ok(Self::Single(checkpoint::load(&dir.join("model"), device)?));
        }
        let err = |e: &dyn std::fmt::Display| ModelError::Checkpoint { path: meta_path.display().to_string(), msg: e.to_string() };
        let meta: EnsembleMeta = serde_json::from_str(&std::fs::read_to_string(&meta_path).map_err(|e| err(&e))?).map_err(|e| err(&e))?;
        let members =
            (0..meta.members).map(|k| checkpoint::load(&dir.join(format!("shard-{k}")), device)).collect::<Result<Vec<_>, _>>()?;
        Ok(Self::Ensemble(Ensemble { members, aggregation: meta.aggregation }))
    }
}

impl<B: AutodiffBackend> Unlearned<B> {
    /// The inference view (no autodiff).
    pub fn valid(&self) -> Unlearned<B::InnerBackend> {
        match self {
            Self::Single(n) => Unlearned::Single(n.valid()),
            Self::Ensemble(e) => {
                Unlearned::Ensemble(Ensemble { members: e.members.iter().map(|m| m.valid()).collect(), aggregation: e.aggregation })
            }
        }
    }
}

impl<B: Backend> Predict for Unlearned<B> {
    fn outputs(&self, data: &Dataset, idx: &[usize]) -> Outputs {
        match self {
            Self::Single(n) => predict(n, data, idx),
            Self::Ensemble(e) => e.outputs(data, idx),
        }
    }
    fn logits(&self, data: &Dataset, idx: &[usize]) -> Vec<f32> {
        match self {
            Self::Single(n) => logits(n, data, idx),
            Self::Ensemble(e) => e.logits(data, idx),
        }
    }
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct EnsembleMeta {
    members: usize,
    aggregation: Aggregation,
}
