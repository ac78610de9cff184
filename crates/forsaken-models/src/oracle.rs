//! The one membership-oracle trait. An oracle reads a model's per-sample outputs (softmax
//! vectors with their labels), never the model: computing outputs is the caller's job (through
//! [`crate::Predict`]), so the same oracle audits our networks, SISA's ensembles or a model
//! trained elsewhere. Fitting (on shadow outputs) and the registry of oracles live in
//! `forsaken-mia`; methods that stop on a target forgetting rate consult an oracle through
//! this trait.

use crate::{ModelError, Outputs};

/// A fitted membership oracle: member scores (higher = more likely a member of the model's
/// training set) and member / non-member decisions.
pub trait MembershipOracle {
    /// Oracle id (`shadow`, `loss`, `lira`...), reported with every result it judged.
    fn id(&self) -> &str;

    /// Member scores of outputs `o`, row `k` being the model's output on dataset sample
    /// `samples[k]` (per-example oracles such as LiRA look up their calibration by sample).
    fn score(&self, o: &Outputs, samples: &[usize]) -> Result<Vec<f64>, ModelError>;

    /// Decisions (`true` = member) on the same rows.
    fn decide(&self, o: &Outputs, samples: &[usize]) -> Result<Vec<bool>, ModelError>;
}
