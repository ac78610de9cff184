//! Fine-tuning the original on the retained set only ("catastrophic forgetting" baseline).

use burn::tensor::backend::AutodiffBackend;

use forsaken_models::{train, train_with, ModelError, SweepVisit, TrainConfig, UnlearnOutcome, UnlearnRequest, Unlearner};

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

    /// One fine-tuning trajectory: the model after `k` epochs is the outcome of strength `k`
    /// (bit-identical to a run of `k` epochs), timed up to that epoch.
    fn sweep(&self, req: &UnlearnRequest<'_, B>, strengths: &[f64], visit: &mut SweepVisit<'_, B>) -> Result<(), ModelError> {
        let targets: Vec<usize> = strengths.iter().map(|e| e.round().max(1.0) as usize).collect();
        let Some(&last) = targets.iter().max() else { return Ok(()) };
        let recipe = TrainConfig { epochs: last, seed: req.seed.wrapping_add(0xf1_7e), early_stop_acc: None, ..req.train.clone() };
        let start = std::time::Instant::now();
        let mut excluded = 0.0;
        let mut next = 0;
        train_with(req.original.clone(), req.data, req.retain, &recipe, "fine-tune sweep", &mut |done, net| {
            while next < targets.len() && targets[next] == done {
                let secs = (start.elapsed().as_secs_f64() - excluded).max(0.0);
                let tv = std::time::Instant::now();
                let o = UnlearnOutcome::finished(net.clone(), done, format!("{done} epochs done"), done as f64);
                let go_on = visit(o, secs)?;
                excluded += tv.elapsed().as_secs_f64();
                next += 1;
                if !go_on {
                    return Ok(false);
                }
            }
            Ok(true)
        })?;
        Ok(())
    }
}
