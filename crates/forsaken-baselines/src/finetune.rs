//! Fine-tuning the original on the retained set only ("catastrophic forgetting" baseline).

use burn::tensor::backend::AutodiffBackend;

use crate::trajectory::Trajectory;
use serde::{Deserialize, Serialize};

use forsaken_models::settings::{self, Knob, Method, Role, SettingError, Stronger};
use forsaken_models::{train, train_with, ModelError, SweepVisit, TrainConfig, UnlearnOutcome, UnlearnRequest, Unlearner};

/// Fine-tune for `epochs` (the knob) at the original learning rate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FineTune {
    /// Default epochs when the request gives no strength.
    pub epochs: usize,
}

/// The original recipe for `epochs`, seeded for fine-tuning. The knob is the epoch count: no
/// early stop (the original already fits the retained set).
fn recipe<B: AutodiffBackend>(req: &UnlearnRequest<'_, B>, epochs: usize) -> TrainConfig {
    TrainConfig { epochs, seed: req.seed.wrapping_add(0xf1_7e), early_stop_acc: None, ..req.train.clone() }
}

impl Default for FineTune {
    fn default() -> Self {
        Self { epochs: 5 }
    }
}

impl Method for FineTune {
    const ID: &'static str = "finetune";
    const ABOUT: &'static str = "continue training the original on the retained set";
    const ROLE: Role = Role::Baseline;
    const KNOB: Knob = Knob { setting: Some("epochs"), unit: "epochs", stronger: Stronger::Up, sweep: &[1.0, 2.0, 4.0, 8.0, 16.0, 32.0] };
    const HELP: &'static [(&'static str, &'static str)] = &[("epochs", "fine-tuning epochs")];
    fn check(&self) -> Result<(), SettingError> {
        settings::at_least("epochs", self.epochs, 1)
    }
    fn build<B: AutodiffBackend>(&self) -> Box<dyn Unlearner<B>> {
        Box::new(self.clone())
    }
}

impl<B: AutodiffBackend> Unlearner<B> for FineTune {
    fn id(&self) -> &'static str {
        "finetune"
    }
    fn strength_knob(&self) -> &'static str {
        "epochs"
    }
    fn unlearn(&self, req: &UnlearnRequest<'_, B>) -> Result<UnlearnOutcome<B>, ModelError> {
        let epochs = req.strength.map_or(Ok(self.epochs), |e| settings::count("finetune.epochs", e))?;
        let model = train(req.original.clone(), req.data, req.retain, &recipe(req, epochs), "fine-tune on retained")?;
        Ok(UnlearnOutcome::finished(model, epochs, format!("{epochs} epochs done"), epochs as f64))
    }

    /// One fine-tuning trajectory: the model after `k` epochs is the outcome of strength `k`
    /// (bit-identical to a run of `k` epochs), timed up to that epoch.
    fn sweep(&self, req: &UnlearnRequest<'_, B>, strengths: &[f64], visit: &mut SweepVisit<'_, B>) -> Result<(), ModelError> {
        let mut traj = Trajectory::new(strengths, "finetune.epochs", visit)?;
        let Some(last) = traj.last() else { return Ok(()) };
        train_with(req.original.clone(), req.data, req.retain, &recipe(req, last), "fine-tune sweep", &mut |done, net| {
            traj.at(done, |k| UnlearnOutcome::finished(net.clone(), k, format!("{k} epochs done"), k as f64))
        })?;
        Ok(())
    }
}
