//! The data-free control `scale` (docs/method.md, "Selectivity"): every neuron mask of the last
//! hidden layer multiplied by one factor (the knob; default 0.6), folded into the output layer. It
//! reads no training data at all, so anything it "forgets" is a global drop in confidence, not
//! forgetting of D_u in particular. A method that does no better than `scale` on selectivity has
//! not forgotten the deleted data in particular. Searching the smallest factor that reaches a
//! target FR is the harness's strength search, not this method's.

use burn::tensor::backend::AutodiffBackend;

use serde::{Deserialize, Serialize};

use forsaken_models::settings::{self, Knob, Method, Role, SettingError, Stronger};
use forsaken_models::{ModelError, UnlearnOutcome, UnlearnRequest, Unlearner};

/// Scale the last hidden layer by `factor`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scale {
    /// Default factor when the request gives no strength.
    pub factor: f64,
}

impl Default for Scale {
    fn default() -> Self {
        Self { factor: 0.6 }
    }
}

impl Method for Scale {
    const ID: &'static str = "scale";
    const ABOUT: &'static str = "data-free control: the last hidden layer times a factor (reads no data)";
    const ROLE: Role = Role::Control;
    // docs/method.md, "Selectivity": the mildest of 0.9, 0.8, ..., 0.1 that reaches the target FR
    const KNOB: Knob =
        Knob { setting: Some("factor"), unit: "factor", stronger: Stronger::Down, sweep: &[0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1] };
    const HELP: &'static [(&'static str, &'static str)] = &[("factor", "the factor in [0, 1]")];
    fn check(&self) -> Result<(), SettingError> {
        settings::unit_interval("factor", self.factor)
    }
    fn build<B: AutodiffBackend>(&self) -> Box<dyn Unlearner<B>> {
        Box::new(self.clone())
    }
}

impl<B: AutodiffBackend> Unlearner<B> for Scale {
    fn id(&self) -> &'static str {
        "scale"
    }
    fn strength_knob(&self) -> &'static str {
        "factor"
    }
    fn unlearn(&self, req: &UnlearnRequest<'_, B>) -> Result<UnlearnOutcome<B>, ModelError> {
        let factor = req.strength.unwrap_or(self.factor);
        settings::unit_interval("scale.factor", factor)?;
        let sizes = req.original.config.mask_sizes();
        let last = sizes.len().checked_sub(1).ok_or_else(|| ModelError::Request("scale: the network has no hidden layer".into()))?;
        let masks: Vec<Vec<f32>> = sizes.iter().enumerate().map(|(i, &s)| vec![if i == last { factor as f32 } else { 1.0 }; s]).collect();
        let model = req.original.clone().fold_neuron_masks(&masks)?;
        Ok(UnlearnOutcome::finished(model, 0, format!("last hidden layer scaled by {factor} (no data read)"), factor))
    }
}
