//! Retraining from scratch on the retained set (exact unlearning by definition).

use burn::tensor::backend::AutodiffBackend;

use forsaken_models::{train, ModelError, TrainConfig, UnlearnOutcome, UnlearnRequest, Unlearner};

/// Retrain with the original recipe (knob: epochs; default = the original's).
#[derive(Debug, Clone, Default)]
pub struct Retrain;

impl<B: AutodiffBackend> Unlearner<B> for Retrain {
    fn id(&self) -> &'static str {
        "retrain"
    }
    fn strength_knob(&self) -> &'static str {
        "epochs"
    }
    fn unlearn(&self, req: &UnlearnRequest<'_, B>) -> Result<UnlearnOutcome<B>, ModelError> {
        let epochs = req.strength.map_or(req.train.epochs, |e| e.round().max(1.0) as usize);
        let recipe = TrainConfig { epochs, seed: req.seed.wrapping_add(0x2e7_2a1), ..req.train.clone() };
        let device = req.original.head.weight.device();
        let fresh = forsaken_models::train::fresh::<B>(&req.original.config, recipe.seed, &device)?;
        let model = train(fresh, req.data, req.retain, &recipe, "retrain (from scratch)")?;
        Ok(UnlearnOutcome::finished(model, epochs, format!("{epochs} epochs done"), epochs as f64))
    }
}
