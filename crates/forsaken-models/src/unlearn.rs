//! The `Unlearner` trait: one concept, one trait. A method takes an [`UnlearnRequest`] (the
//! original model and what the method may use) and returns an [`UnlearnOutcome`].
//!
//! Methods that stop on a target forgetting rate consult a [`MembershipOracle`] on the outputs
//! of their current model; the oracles themselves live in `forsaken-mia`, one layer up.

use std::collections::BTreeMap;

use burn::tensor::backend::AutodiffBackend;
use serde::{Deserialize, Serialize};

use forsaken_data::Dataset;

use crate::{MembershipOracle, ModelError, Net, TrainConfig, Unlearned};

/// Stop when the forgetting rate on the forget set, judged by `oracle`, reaches `target_fr`.
/// How often to check and the step cap are the method's own settings.
pub struct StoppingRule<'a> {
    /// The stopping oracle (never re-fitted during the run).
    pub oracle: &'a dyn MembershipOracle,
    /// Target FR, e.g. 0.9.
    pub target_fr: f64,
    /// The oracle's decisions on the forget set for the original model (B_T / B_F).
    pub before: Vec<bool>,
}

/// Called at each check with the current (folded) model; returns named values recorded in
/// the trace (e.g. test accuracy for figures). Its time is measured and excluded from the
/// method's time by the caller.
pub type Observer<'a, B> = dyn Fn(&Net<B>) -> BTreeMap<String, f64> + 'a;

/// Everything a method may use (docs/architecture.md, "The main traits").
pub struct UnlearnRequest<'a, B: AutodiffBackend> {
    /// The trained original model.
    pub original: &'a Net<B>,
    /// The pooled dataset; the index lists below point into it.
    pub data: &'a Dataset,
    /// D_u, the samples to forget.
    pub forget: &'a [usize],
    /// target_train minus D_u.
    pub retain: &'a [usize],
    /// The owner's held-out reference split (non-members).
    pub reference: &'a [usize],
    /// The recipe the original was trained with (retraining reuses it).
    pub train: &'a TrainConfig,
    /// Optional stopping oracle with its target FR.
    pub stopping: Option<StoppingRule<'a>>,
    /// Optional observer for traces.
    pub observer: Option<&'a Observer<'a, B::InnerBackend>>,
    /// Seed of this run.
    pub seed: u64,
    /// The method's strength knob; `None` = the method's default.
    pub strength: Option<f64>,
}

/// One point of a method's trajectory (Forsaken: every stopping check).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TracePoint {
    /// Step count at this point.
    pub step: usize,
    /// Named values (`fr_stop`, `kl_forget`, `retain_acc`, observer values...).
    pub values: BTreeMap<String, f64>,
}

/// What a method returns.
#[derive(Debug)]
pub struct UnlearnOutcome<B: AutodiffBackend> {
    /// The unlearned model: a plain network of the original architecture, or (SISA) an
    /// ensemble.
    pub model: Unlearned<B>,
    /// Steps (or epochs) actually run.
    pub steps: usize,
    /// Name of the oracle that decided when to stop, if any.
    pub stopping_oracle: Option<String>,
    /// Why the run stopped (`target reached`, `step cap`, `epochs done`, ...).
    pub stop_reason: String,
    /// The trajectory, for figures.
    pub trace: Vec<TracePoint>,
    /// Seconds spent in the observer (to subtract from the method's wall time).
    pub observer_seconds: f64,
    /// Seconds spent before the deletion request could arrive (SISA: training the sharded
    /// deployment model), excluded from the method's unlearning time and reported apart.
    pub setup_seconds: f64,
    /// The strength actually used.
    pub strength: f64,
    /// The model the deletion was applied to, when the method trains its own instead of
    /// starting from the request's original (SISA's sharded ensemble); `None` = the original.
    /// Forgetting rates compare against this model's oracle decisions.
    pub deployed: Option<Unlearned<B>>,
}

impl<B: AutodiffBackend> UnlearnOutcome<B> {
    /// The outcome of a method that runs a fixed budget (no stopping oracle, no trace).
    pub fn finished(model: Net<B>, steps: usize, stop_reason: String, strength: f64) -> Self {
        Self {
            model: Unlearned::Single(model),
            steps,
            stopping_oracle: None,
            stop_reason,
            trace: vec![],
            observer_seconds: 0.0,
            setup_seconds: 0.0,
            strength,
            deployed: None,
        }
    }
}

/// An unlearning method.
pub trait Unlearner<B: AutodiffBackend> {
    /// Method id as in docs/protocol.md ("Methods compared") (`forsaken`, `retrain`, `finetune`,
    /// ...).
    fn id(&self) -> &'static str;
    /// What the strength knob means, e.g. `epochs` or `target FR`.
    fn strength_knob(&self) -> &'static str;
    /// Run the method.
    fn unlearn(&self, req: &UnlearnRequest<'_, B>) -> Result<UnlearnOutcome<B>, ModelError>;

    /// Run the method at each of `strengths` (increasing) for a strength search, handing each
    /// outcome to `visit` with the seconds it cost as if run alone; stop when `visit` returns
    /// `false`. The request's own strength and stopping rule are ignored. The default runs each
    /// strength separately; a method whose knob counts steps or epochs along one trajectory
    /// overrides it to run the trajectory once, with bit-identical outcomes.
    fn sweep(&self, req: &UnlearnRequest<'_, B>, strengths: &[f64], visit: &mut SweepVisit<'_, B>) -> Result<(), ModelError> {
        for &s in strengths {
            let r = UnlearnRequest {
                original: req.original,
                data: req.data,
                forget: req.forget,
                retain: req.retain,
                reference: req.reference,
                train: req.train,
                stopping: None,
                observer: req.observer,
                seed: req.seed,
                strength: Some(s),
            };
            let t = std::time::Instant::now();
            let o = self.unlearn(&r)?;
            let secs = (t.elapsed().as_secs_f64() - o.observer_seconds - o.setup_seconds).max(0.0);
            if !visit(o, secs)? {
                break;
            }
        }
        Ok(())
    }
}

/// The callback of [`Unlearner::sweep`]: an outcome and its stand-alone seconds; `Ok(false)`
/// ends the sweep.
pub type SweepVisit<'a, B> = dyn FnMut(UnlearnOutcome<B>, f64) -> Result<bool, ModelError> + 'a;
