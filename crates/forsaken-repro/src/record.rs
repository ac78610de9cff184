//! One result record per (dataset, seed, forget spec, method, strength): the row format of
//! `runs.jsonl` (PROTOCOL.md, "Names, records and conventions").

use serde::{Deserialize, Serialize};

use forsaken_models::TracePoint;

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
    /// The oracle that decided when to stop (None: the method does not stop on FR).
    pub stopping_oracle: Option<String>,
    /// Why the method stopped.
    pub stop_reason: String,
    /// Steps or epochs run.
    pub steps: usize,
    /// Forgetting rate on D_u under the shadow oracle (null when undefined).
    #[serde(rename = "fr.shadow")]
    pub fr_shadow: Option<f64>,
    /// B_T: forget samples the shadow oracle calls members of the original.
    pub forget_members_before: usize,
    /// A_T: the same on the unlearned model.
    pub forget_members_after: usize,
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
    /// Shadow oracle's AUC on the original (target_train vs target_test).
    #[serde(deserialize_with = "nan_if_null")]
    pub oracle_auc: f64,
    /// Shadow oracle's balanced accuracy on the original.
    #[serde(deserialize_with = "nan_if_null")]
    pub oracle_balanced_accuracy: f64,
    /// Shadow oracle's TPR at 1% FPR (null with fewer than 100 non-members).
    pub oracle_tpr_at_1pct_fpr: Option<f64>,
    /// Shadow oracle's advantage (max TPR - FPR).
    #[serde(deserialize_with = "nan_if_null")]
    pub oracle_advantage: f64,
    /// Sizes.
    pub n_train: usize,
    /// |D_u|.
    pub n_forget: usize,
    /// |target_test|.
    pub n_test: usize,
    /// Method trajectory (Forsaken: every check).
    pub trace: Vec<TracePoint>,
    /// The full configuration of this run.
    pub config: serde_json::Value,
    /// Hash of `config`.
    pub config_hash: String,
    /// Code version.
    pub git_commit: String,
    /// Backend name (`flex`, `ndarray`, `cuda`).
    pub backend: String,
    /// Build profile (`debug` = dev profile, `release`).
    pub profile: String,
}

impl RunRecord {
    /// The key a resumed run uses to skip finished work.
    pub fn key(&self) -> (String, u64, String, String, String) {
        (
            self.dataset.clone(),
            self.seed,
            self.forget.clone(),
            self.method.clone(),
            self.config_hash.clone(),
        )
    }
}

/// JSON has no NaN: serde_json writes a non-finite float as `null`. Read it back as NaN.
fn nan_if_null<'de, D: serde::Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
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
