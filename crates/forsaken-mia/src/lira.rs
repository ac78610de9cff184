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

use std::collections::HashMap;
use std::sync::Mutex;

use burn::tensor::backend::Backend;
use serde::{Deserialize, Serialize};

use forsaken_data::Dataset;
use forsaken_models::{predict, MembershipJudge, Net, Outputs};

use crate::pool::ShadowPool;
use crate::MembershipOracle;

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

/// The fitted offline LiRA oracle (holds the shadow models, inference backend).
pub struct LiraOracle<B: Backend> {
    models: Vec<Net<B>>,
    in_sets: Vec<std::collections::HashSet<usize>>,
    cfg: LiraConfig,
    /// Per-sample (mu, sigma) over out-shadows, computed on demand.
    stats: Mutex<HashMap<usize, (f64, f64)>>,
    sigma_floor: f64,
}

impl<B: Backend> LiraOracle<B> {
    /// Build from a shadow pool (the models are shared with the other oracles' fitting).
    pub fn new(pool: &ShadowPool<B>, cfg: LiraConfig) -> Self {
        // sigma floor from the pool's own out-phis per shadow sample
        let mut by_sample: HashMap<usize, Vec<f64>> = HashMap::new();
        for r in pool.outputs.records.iter().filter(|r| !r.member) {
            by_sample.entry(r.sample).or_default().push(phi(&r.probs, r.class));
        }
        let mut sds: Vec<f64> = by_sample.values().filter(|v| v.len() >= 2).map(|v| mean_sd(v).1).collect();
        sds.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
        let median = sds.get(sds.len() / 2).copied().unwrap_or(1.0);
        Self {
            models: pool.models.clone(),
            in_sets: pool.in_sets.iter().map(|s| s.iter().copied().collect()).collect(),
            cfg,
            stats: Mutex::new(HashMap::new()),
            sigma_floor: (0.25 * median).max(1e-3),
        }
    }

    fn ensure_stats(&self, data: &Dataset, idx: &[usize]) {
        let missing: Vec<usize> = {
            let st = self.stats.lock().expect("lira stats lock");
            idx.iter().copied().filter(|i| !st.contains_key(i)).collect()
        };
        if missing.is_empty() {
            return;
        }
        let outs: Vec<Outputs> = self.models.iter().map(|m| predict(m, data, &missing)).collect();
        let mut st = self.stats.lock().expect("lira stats lock");
        for (k, &i) in missing.iter().enumerate() {
            let phis: Vec<f64> =
                outs.iter().zip(&self.in_sets).filter(|(_, ins)| !ins.contains(&i)).map(|(o, _)| phi(o.row(k), o.labels[k])).collect();
            let (mu, sd) = if phis.len() >= 2 { mean_sd(&phis) } else { (phis.first().copied().unwrap_or(0.0), self.sigma_floor) };
            st.insert(i, (mu, sd.max(self.sigma_floor)));
        }
    }

    /// Scores of precomputed outputs of the model under test on samples `idx`.
    pub fn scores(&self, o: &Outputs, data: &Dataset, idx: &[usize]) -> Vec<f64> {
        self.ensure_stats(data, idx);
        let st = self.stats.lock().expect("lira stats lock");
        idx.iter()
            .enumerate()
            .map(|(k, i)| {
                let (mu, sd) = st[i];
                normal_cdf((phi(o.row(k), o.labels[k]) - mu) / sd)
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

impl<B: Backend> MembershipJudge<B> for LiraOracle<B> {
    fn name(&self) -> String {
        "lira".into()
    }
    fn decide(&self, net: &Net<B>, data: &Dataset, idx: &[usize]) -> Vec<bool> {
        self.decide_outputs(&predict(net, data, idx), data, idx)
    }
}

impl<B: Backend> MembershipOracle<B> for LiraOracle<B> {
    fn score_outputs(&self, o: &Outputs, data: &Dataset, idx: &[usize]) -> Vec<f64> {
        self.scores(o, data, idx)
    }
    fn decide_outputs(&self, o: &Outputs, data: &Dataset, idx: &[usize]) -> Vec<bool> {
        self.scores(o, data, idx).into_iter().map(|s| 1.0 - s < self.cfg.alpha).collect()
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
