//! The data-free control `scale` (FORSAKEN.md section 4): every neuron mask of the last hidden
//! layer multiplied by one factor (the knob; default 0.6), folded into the output layer. It
//! reads no training data at all, so anything it "forgets" is a global drop in confidence, not
//! forgetting of D_u in particular. A method that does no better than `scale` on selectivity has
//! not forgotten the deleted data in particular. Searching the smallest factor that reaches a
//! target FR is the harness's strength search, not this method's.

use burn::tensor::backend::AutodiffBackend;

use forsaken_models::{ModelError, UnlearnOutcome, UnlearnRequest, Unlearner};

/// Scale the last hidden layer by `factor`.
#[derive(Debug, Clone)]
pub struct Scale {
    /// Default factor when the request gives no strength.
    pub factor: f64,
}

impl Default for Scale {
    fn default() -> Self {
        Self { factor: 0.6 }
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
        if !(0.0..=1.0).contains(&factor) {
            return Err(ModelError::Request(format!("scale: factor {factor} must be in [0, 1]")));
        }
        let sizes = req.original.config.mask_sizes();
        let last = sizes.len().checked_sub(1).ok_or_else(|| ModelError::Request("scale: the network has no hidden layer".into()))?;
        let masks: Vec<Vec<f32>> = sizes.iter().enumerate().map(|(i, &s)| vec![if i == last { factor as f32 } else { 1.0 }; s]).collect();
        let model = req.original.clone().fold_neuron_masks(&masks)?;
        Ok(UnlearnOutcome::finished(model, 0, format!("last hidden layer scaled by {factor} (no data read)"), factor))
    }
}
