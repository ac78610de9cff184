//! One result record per (dataset, seed, forget spec, method, strength): the row format of
//! `runs.jsonl` (docs/protocol.md, "Metrics per run").

use serde::{Deserialize, Serialize};

use std::collections::BTreeMap;

use forsaken_metrics::OracleStrength;
use forsaken_models::TracePoint;

/// One oracle's view of one unlearned model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OracleView {
    /// FR on D_u (null when undefined: the oracle saw no member before).
    pub fr: Option<f64>,
    /// 95% bootstrap interval of FR over D_u.
    pub fr_ci_low: Option<f64>,
    /// See `fr_ci_low`.
    pub fr_ci_high: Option<f64>,
    /// FR on (a sample of) the retained set, same formula and oracle.
    pub fr_retained: Option<f64>,
    /// (FR_u - FR_r) / (FR_u(retrain) - FR_r(retrain)); null where undefined.
    pub selectivity: Option<f64>,
    /// AUC of the member score, retained (positive) vs forget.
    pub ret_vs_forget_auc: Option<f64>,
    /// B_T.
    pub members_before: usize,
    /// A_T.
    pub members_after: usize,
}

impl OracleView {
    /// The four counts FR comes from, on a forget set of `forget` samples.
    pub fn counts(&self, forget: usize) -> forsaken_metrics::FrCounts {
        forsaken_metrics::FrCounts {
            b_t: self.members_before,
            b_f: forget - self.members_before,
            a_t: self.members_after,
            a_f: forget - self.members_after,
        }
    }
}

/// A run's full result, with its config for re-derivation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    /// Dataset id.
    pub dataset: String,
    /// Model family used.
    pub model: String,
    /// Split / run seed.
    pub seed: u64,
    /// Forget spec, e.g. `random-10pct`.
    pub forget: String,
    /// Method id (`forsaken`, `retrain`, `finetune`).
    pub method: String,
    /// Strength used (target FR, epochs, ...).
    #[serde(deserialize_with = "nan_if_null")]
    pub strength: f64,
    /// What the strength means.
    pub strength_knob: String,
    /// The oracle that decided when to stop, or searched the strength (None: neither).
    pub stopping_oracle: Option<String>,
    /// Why the method stopped.
    pub stop_reason: String,
    /// Steps or epochs run.
    pub steps: usize,
    /// Every oracle's view of the unlearned model (`fr.<oracle>` etc. in tables).
    pub oracles: BTreeMap<String, OracleView>,
    /// Accuracy on D_u (UA = 1 - this).
    #[serde(deserialize_with = "nan_if_null")]
    pub acc_forget: f64,
    /// Accuracy on the retained set.
    #[serde(deserialize_with = "nan_if_null")]
    pub acc_retain: f64,
    /// Accuracy on target_test.
    #[serde(deserialize_with = "nan_if_null")]
    pub acc_test: f64,
    /// Mean top-class probability on target_test.
    #[serde(deserialize_with = "nan_if_null")]
    pub mean_top_prob_test: f64,
    /// Unlearning wall time in seconds (oracle checks included, figure observers excluded).
    #[serde(deserialize_with = "nan_if_null")]
    pub seconds: f64,
    /// Whole strength search (every sweep point run), seconds, for swept methods.
    #[serde(default)]
    pub search_seconds: Option<f64>,
    /// Time before the deletion request (SISA: training the sharded model), not in `seconds`.
    #[serde(default)]
    pub setup_seconds: Option<f64>,
    /// Retraining's wall time on the same request.
    #[serde(deserialize_with = "nan_if_null")]
    pub retrain_seconds: f64,
    /// Original model: accuracy on target_train.
    #[serde(deserialize_with = "nan_if_null")]
    pub orig_acc_train: f64,
    /// Original model: accuracy on target_test.
    #[serde(deserialize_with = "nan_if_null")]
    pub orig_acc_test: f64,
    /// Original model: accuracy on D_u.
    #[serde(deserialize_with = "nan_if_null")]
    pub orig_acc_forget: f64,
    /// Each oracle's strength on the original model (target_train vs target_test).
    pub oracle_strength: BTreeMap<String, OracleStrength>,
    /// Sizes.
    pub n_train: usize,
    /// |D_u|.
    pub n_forget: usize,
    /// Retained samples used for FR on retained (all up to 2,000).
    pub n_retained_sample: usize,
    /// |target_test|.
    pub n_test: usize,
    /// Method trajectory (Forsaken: every check).
    pub trace: Vec<TracePoint>,
    /// The full configuration of this run.
    pub config: serde_json::Value,
    /// Hash of `config`.
    pub config_hash: String,
    /// What determined this record (data, code, backend, settings) and its key: a resumed run
    /// reuses the record only under the same key. `None` in records made before keys existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity: Option<crate::identity::Identity>,
    /// Code version (provenance only: the code's identity is in `identity`).
    pub git_commit: String,
    /// Backend name (`flex`, `ndarray`, `cuda`).
    pub backend: String,
    /// Build profile (`debug` = dev profile, `release`).
    pub profile: String,
}

/// (dataset, model) pairs in the order of their first record: the report's setup rows and the
/// figures' panels.
pub(crate) fn dataset_models<'a>(records: impl IntoIterator<Item = &'a RunRecord>) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for r in records {
        if !out.iter().any(|(d, m)| *d == r.dataset && *m == r.model) {
            out.push((r.dataset.clone(), r.model.clone()));
        }
    }
    out
}

/// JSON has no NaN: serde_json writes a non-finite float as `null`. Read it back as NaN.
pub(crate) fn nan_if_null<'de, D: serde::Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    Ok(Option::<f64>::deserialize(d)?.unwrap_or(f64::NAN))
}

#[cfg(test)]
mod tests {
    #[test]
    fn non_finite_floats_survive_a_roundtrip_as_nan() {
        #[derive(serde::Serialize, serde::Deserialize)]
        struct T {
            #[serde(deserialize_with = "super::nan_if_null")]
            x: f64,
        }
        let j = serde_json::to_string(&T { x: f64::NAN }).unwrap();
        assert_eq!(j, r#"{"x":null}"#);
        assert!(serde_json::from_str::<T>(&j).unwrap().x.is_nan());
    }
}
