//! Metric attacks (Yeom et al., CSF 2018; Song and Mittal, USENIX Security 2021): one number per
//! sample from the model's softmax output, thresholded.
//!
//! * `loss`: cross-entropy of the true class (Yeom et al.); one global threshold.
//! * `confidence`: probability of the true class; a threshold per class (Song and Mittal).
//! * `entropy`: prediction entropy; a threshold per class.
//! * `m-entropy`: modified entropy `-(1 - p_y) ln p_y - sum_{i != y} p_i ln(1 - p_i)`, which,
//!   unlike the entropy, uses the label; a threshold per class.
//!
//! Scores are oriented so that **higher means member** (e.g. the loss attack scores `-loss`).
//! Thresholds are chosen on the shadow models' in/out outputs (never on the target's data): the
//! one maximizing balanced accuracy of in vs out.

use serde::{Deserialize, Serialize};

use forsaken_models::{MembershipOracle, ModelError, Outputs};

use crate::shadow::ShadowOutputs;

/// Which metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Metric {
    /// Cross-entropy of the true class.
    Loss,
    /// Probability of the true class.
    Confidence,
    /// Entropy of the prediction.
    Entropy,
    /// Modified entropy (Song and Mittal).
    MEntropy,
}

impl Metric {
    /// All metric attacks.
    pub const ALL: [Metric; 4] = [Metric::Loss, Metric::Confidence, Metric::Entropy, Metric::MEntropy];

    /// Oracle id (docs/method.md, "Membership oracles").
    pub fn id(self) -> &'static str {
        match self {
            Metric::Loss => "loss",
            Metric::Confidence => "confidence",
            Metric::Entropy => "entropy",
            Metric::MEntropy => "m-entropy",
        }
    }

    /// Whether the attack's paper thresholds per class.
    pub fn per_class(self) -> bool {
        !matches!(self, Metric::Loss)
    }

    /// Member score (higher = member) of one softmax vector with true class `y`.
    pub fn score(self, p: &[f32], y: u32) -> f64 {
        const EPS: f64 = 1e-30;
        let py = (p[y as usize] as f64).max(EPS);
        match self {
            Metric::Loss => py.ln(),
            Metric::Confidence => py,
            Metric::Entropy => p.iter().map(|&v| v as f64).filter(|&v| v > 0.0).map(|v| v * v.ln()).sum::<f64>(),
            Metric::MEntropy => {
                let mut m = -(1.0 - py) * py.ln();
                for (i, &v) in p.iter().enumerate() {
                    if i != y as usize {
                        let v = v as f64;
                        m -= v * (1.0 - v).max(EPS).ln();
                    }
                }
                -m
            }
        }
    }
}

/// A fitted threshold attack.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricOracle {
    metric: Metric,
    global: f64,
    per_class: Vec<Option<f64>>,
}

/// Minimum in and out examples of a class for its own threshold.
const MIN_PER_SIDE: usize = 10;

use forsaken_metrics::best_threshold;

impl MetricOracle {
    /// Fit thresholds on shadow outputs.
    pub fn fit(metric: Metric, outputs: &ShadowOutputs) -> Result<Self, ModelError> {
        let scores: Vec<f64> = outputs.records.iter().map(|r| metric.score(&r.probs, r.class)).collect();
        let members: Vec<bool> = outputs.records.iter().map(|r| r.member).collect();
        if !members.iter().any(|&m| m) || members.iter().all(|&m| m) {
            return Err(ModelError::Request("metric attack needs shadow members and non-members".into()));
        }
        let global = best_threshold(&scores, &members);
        let mut per_class = vec![None; outputs.num_classes];
        if metric.per_class() {
            for (c, slot) in per_class.iter_mut().enumerate() {
                let idx: Vec<usize> = (0..scores.len()).filter(|&i| outputs.records[i].class as usize == c).collect();
                let ins = idx.iter().filter(|&&i| members[i]).count();
                if ins >= MIN_PER_SIDE && idx.len() - ins >= MIN_PER_SIDE {
                    let s: Vec<f64> = idx.iter().map(|&i| scores[i]).collect();
                    let m: Vec<bool> = idx.iter().map(|&i| members[i]).collect();
                    *slot = Some(best_threshold(&s, &m));
                }
            }
        }
        Ok(Self { metric, global, per_class })
    }

    /// The metric.
    pub fn metric(&self) -> Metric {
        self.metric
    }

    /// Scores of precomputed outputs.
    pub fn score_outputs(&self, o: &Outputs) -> Vec<f64> {
        (0..o.len()).map(|i| self.metric.score(o.row(i), o.labels[i])).collect()
    }

    /// Decisions on precomputed outputs.
    pub fn decide_outputs(&self, o: &Outputs) -> Vec<bool> {
        (0..o.len())
            .map(|i| {
                let t = self.per_class.get(o.labels[i] as usize).copied().flatten().unwrap_or(self.global);
                self.metric.score(o.row(i), o.labels[i]) >= t
            })
            .collect()
    }
}

impl MembershipOracle for MetricOracle {
    fn id(&self) -> &str {
        self.metric.id()
    }
    fn score(&self, o: &Outputs, _samples: &[usize]) -> Result<Vec<f64>, ModelError> {
        Ok(self.score_outputs(o))
    }
    fn decide(&self, o: &Outputs, _samples: &[usize]) -> Result<Vec<bool>, ModelError> {
        Ok(self.decide_outputs(o))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scores_are_oriented_towards_members() {
        let confident = [0.98f32, 0.01, 0.01];
        let unsure = [0.4f32, 0.3, 0.3];
        for m in Metric::ALL {
            assert!(m.score(&confident, 0) > m.score(&unsure, 0), "{}", m.id());
        }
        // m-entropy uses the label: confidently wrong looks like a non-member
        assert!(Metric::MEntropy.score(&confident, 1) < Metric::MEntropy.score(&unsure, 1));
    }

    #[test]
    fn best_threshold_separates() {
        let s = [0.9, 0.8, 0.7, 0.2, 0.1];
        let m = [true, true, true, false, false];
        assert_eq!(best_threshold(&s, &m), 0.7);
    }
}
