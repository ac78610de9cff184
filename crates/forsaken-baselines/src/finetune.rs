//! Fine-tuning the original on the retained set only ("catastrophic forgetting" baseline).

use burn::tensor::backend::AutodiffBackend;

use forsaken_models::{train, ModelError, TrainConfig, UnlearnOutcome, UnlearnRequest, Unlearner};

/// Fine-tune for `epochs` (the knob) at the original learning rate.
#[derive(Debug, Clone)]
pub struct FineTune {
    /// Default epochs when the request gives no strength.
    pub epochs: usize,
}

impl Default for FineTune {
    fn default() -> Self {
        Self { epochs: 5 }
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
        let epochs = req.strength.map_or(self.epochs, |e| e.round().max(1.0) as usize);
        // the knob is the epoch count: no early stop (the original already fits the retained set)
        let recipe = TrainConfig { epochs, seed: req.seed.wrapping_add(0xf1_7e), early_stop_acc: None, ..req.train.clone() };
        let model = train(req.original.clone(), req.data, req.retain, &recipe, "fine-tune on retained")?;
        Ok(UnlearnOutcome::finished(model, epochs, format!("{epochs} epochs done"), epochs as f64))
    }
}
