//! Retraining from scratch on the retained set (exact unlearning by definition).

use burn::tensor::backend::AutodiffBackend;

use serde::{Deserialize, Serialize};

use forsaken_models::settings::{self, Knob, Method, Role, SettingError, Stronger};
use forsaken_models::{train, ModelError, TrainConfig, UnlearnOutcome, UnlearnRequest, Unlearner};

/// Retrain with the original recipe (knob: epochs; default = the original's).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Retrain {
    /// Epochs; `None` (default): the original recipe's.
    pub epochs: Option<usize>,
}

impl Method for Retrain {
    const ID: &'static str = "retrain";
    const ABOUT: &'static str = "from scratch on the retained set with the original recipe: exact";
    const ROLE: Role = Role::Reference;
    const KNOB: Knob = Knob { setting: Some("epochs"), unit: "epochs", stronger: Stronger::Up, sweep: &[] };
    const HELP: &'static [(&'static str, &'static str)] = &[("epochs", "training epochs (default: the original's)")];
    fn check(&self) -> Result<(), SettingError> {
        self.epochs.map_or(Ok(()), |e| settings::at_least("epochs", e, 1))
    }
    fn build<B: AutodiffBackend>(&self) -> Box<dyn Unlearner<B>> {
        Box::new(self.clone())
    }
}

impl<B: AutodiffBackend> Unlearner<B> for Retrain {
    fn id(&self) -> &'static str {
        "retrain"
    }
    fn strength_knob(&self) -> &'static str {
        "epochs"
    }
    fn unlearn(&self, req: &UnlearnRequest<'_, B>) -> Result<UnlearnOutcome<B>, ModelError> {
        let epochs = match req.strength {
            Some(e) => settings::count("retrain.epochs", e)?,
            None => self.epochs.unwrap_or(req.train.epochs),
        };
        let recipe = TrainConfig { epochs, seed: req.seed.wrapping_add(0x2e7_2a1), ..req.train.clone() };
        let device = req.original.head.weight.device();
        let fresh = forsaken_models::train::fresh::<B>(&req.original.config, recipe.seed, &device)?;
        let model = train(fresh, req.data, req.retain, &recipe, "retrain (from scratch)")?;
        Ok(UnlearnOutcome::finished(model, epochs, format!("{epochs} epochs done"), epochs as f64))
    }
}
