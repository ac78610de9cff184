//! LiRA, offline variant (Carlini et al., "Membership Inference Attacks From First Principles",
//! IEEE S&P 2022).
//!
//! For a sample `(x, y)` and a model, `phi = ln p_y - ln(sum_{j != y} p_j)` (the logit-scaled
//! true-class confidence, computed without cancellation). Over the shadow models that did
//! **not** train on `x`, fit a Gaussian `N(mu_x, sigma_x^2)` of `phi`; the member score of the
//! model under test is the one-sided likelihood-ratio statistic `Phi((phi - mu_x) / sigma_x)`:
//! close to 1 when the model is far more confident on `x` than models that never saw it.
//! Decisions: member when the one-sided p-value `1 - score` is below `alpha` (the stated FPR
//! under the Gaussian null; default 5%).
//!
//! Per-example variances from few shadows are noisy; each is floored at a quarter of the
//! median per-example standard deviation.

use std::collections::{HashMap, HashSet};

use serde::{Deserialize, Serialize};

use forsaken_models::settings::{self, SettingError};
use forsaken_models::{MembershipOracle, ModelError, Outputs};

use crate::pool::ShadowEvidence;

/// LiRA settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LiraConfig {
    /// Decision level: member iff the one-sided p-value is below this.
    pub alpha: f64,
}

impl Default for LiraConfig {
    fn default() -> Self {
        Self { alpha: 0.05 }
    }
}

impl LiraConfig {
    /// Check the range: `alpha` in (0, 1].
    pub fn check(&self) -> Result<(), SettingError> {
        settings::fraction("alpha", self.alpha)
    }
}

/// Logit-scaled confidence of the true class.
pub fn phi(p: &[f32], y: u32) -> f64 {
    let py = (p[y as usize] as f64).max(1e-30);
    let rest: f64 = p.iter().enumerate().filter(|(j, _)| *j != y as usize).map(|(_, &v)| v as f64).sum();
    py.ln() - rest.max(1e-30).ln()
}

/// Standard normal CDF (Abramowitz-Stegun 7.1.26 through erf; |error| < 1.5e-7).
pub fn normal_cdf(z: f64) -> f64 {
    let x = z / std::f64::consts::SQRT_2;
    let t = 1.0 / (1.0 + 0.327_591_1 * x.abs());
    let poly = t * (0.254_829_592 + t * (-0.284_496_736 + t * (1.421_413_741 + t * (-1.453_152_027 + t * 1.061_405_429))));
    let erf = 1.0 - poly * (-x * x).exp();
    let erf = if x >= 0.0 { erf } else { -erf };
    0.5 * (1.0 + erf)
}

/// The fitted offline LiRA oracle: per-sample `(mu, sigma)` of `phi` over the shadow models
/// that did not train on the sample, for every sample it may be asked about.
pub struct LiraOracle {
    cfg: LiraConfig,
    stats: HashMap<usize, (f64, f64)>,
}

impl LiraOracle {
    /// Fit from the shadow evidence: the pool's outputs on its own split (for the sigma floor)
    /// and every shadow model's outputs on the samples to be queried.
    pub fn fit(evidence: &ShadowEvidence, cfg: LiraConfig) -> Result<Self, ModelError> {
        cfg.check().map_err(|e| e.within("oracles.lira"))?;
        // sigma floor from the pool's own out-phis per shadow sample
        let mut by_sample: HashMap<usize, Vec<f64>> = HashMap::new();
        for r in evidence.outputs.records.iter().filter(|r| !r.member) {
            by_sample.entry(r.sample).or_default().push(phi(&r.probs, r.class));
        }
        let mut sds: Vec<f64> = by_sample.values().filter(|v| v.len() >= 2).map(|v| mean_sd(v).1).collect();
        sds.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
        let median = sds.get(sds.len() / 2).copied().unwrap_or(1.0);
        let sigma_floor = (0.25 * median).max(1e-3);
        let in_sets: Vec<HashSet<usize>> = evidence.in_sets.iter().map(|s| s.iter().copied().collect()).collect();
        let mut stats = HashMap::new();
        for q in evidence.queries {
            if q.per_model.len() != in_sets.len() {
                return Err(ModelError::Request(format!(
                    "lira: query outputs of {} shadow models for a pool of {}",
                    q.per_model.len(),
                    in_sets.len()
                )));
            }
            for (k, &i) in q.samples.iter().enumerate() {
                let phis: Vec<f64> = q
                    .per_model
                    .iter()
                    .zip(&in_sets)
                    .filter(|(_, ins)| !ins.contains(&i))
                    .map(|(o, _)| phi(o.row(k), o.labels[k]))
                    .collect();
                let (mu, sd) = if phis.len() >= 2 { mean_sd(&phis) } else { (phis.first().copied().unwrap_or(0.0), sigma_floor) };
                stats.entry(i).or_insert((mu, sd.max(sigma_floor)));
            }
        }
        Ok(Self { cfg, stats })
    }

    fn scores(&self, o: &Outputs, samples: &[usize]) -> Result<Vec<f64>, ModelError> {
        samples
            .iter()
            .enumerate()
            .map(|(k, i)| {
                let (mu, sd) = self.stats.get(i).ok_or_else(|| {
                    ModelError::Request(format!(
                        "lira: no shadow outputs on sample {i}; fit LiRA with the pool's outputs on every sample it judges"
                    ))
                })?;
                Ok(normal_cdf((phi(o.row(k), o.labels[k]) - mu) / sd))
            })
            .collect()
    }
}

fn mean_sd(v: &[f64]) -> (f64, f64) {
    let n = v.len() as f64;
    let m = v.iter().sum::<f64>() / n;
    let var = v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (n - 1.0).max(1.0);
    (m, var.sqrt())
}

impl MembershipOracle for LiraOracle {
    fn id(&self) -> &str {
        "lira"
    }
    fn score(&self, o: &Outputs, samples: &[usize]) -> Result<Vec<f64>, ModelError> {
        self.scores(o, samples)
    }
    fn decide(&self, o: &Outputs, samples: &[usize]) -> Result<Vec<bool>, ModelError> {
        Ok(self.scores(o, samples)?.into_iter().map(|s| 1.0 - s < self.cfg.alpha).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cdf_and_phi() {
        assert!((normal_cdf(0.0) - 0.5).abs() < 1e-7);
        assert!((normal_cdf(1.96) - 0.975).abs() < 1e-4);
        assert!((normal_cdf(-1.0) - 0.158_655).abs() < 1e-4);
        assert!(phi(&[0.9, 0.05, 0.05], 0) > phi(&[0.5, 0.25, 0.25], 0));
        assert!((phi(&[0.5, 0.5], 0)).abs() < 1e-12);
    }
}
