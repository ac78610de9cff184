//! Unlearning a trained network with Forsaken, on the vendored digits data.
//!
//! `cargo run -p forsaken-mask --example unlearn_a_net` (seconds)
//!
//! Trains the MLP on 600 digits, then asks Forsaken to make 60 of them look unseen to a stopping
//! oracle: here one of our own, a threshold on the true class's confidence. Any
//! `MembershipOracle` works; the fitted oracles of the toolkit are in `forsaken-mia`. Forsaken
//! changes only masks on the neurons and folds them into the weights at the end, so the result
//! is a plain network of the original architecture.

use std::path::Path;

use burn::backend::{Autodiff, Flex};

use forsaken_data::{registry, ModelFamily};
use forsaken_mask::Forsaken;
use forsaken_models::{
    predict, train, MembershipOracle, ModelError, NetConfig, Outputs, StoppingRule, TrainConfig, UnlearnRequest, Unlearner,
};

type B = Autodiff<Flex>;

/// "Member" when the model's confidence in the true class is at least `threshold`.
struct Confidence {
    threshold: f64,
}

impl MembershipOracle for Confidence {
    fn id(&self) -> &str {
        "confidence-threshold"
    }
    fn score(&self, o: &Outputs, _samples: &[usize]) -> Result<Vec<f64>, ModelError> {
        Ok((0..o.len()).map(|i| o.row(i)[o.labels[i] as usize] as f64).collect())
    }
    fn decide(&self, o: &Outputs, samples: &[usize]) -> Result<Vec<bool>, ModelError> {
        Ok(self.score(o, samples)?.into_iter().map(|s| s >= self.threshold).collect())
    }
}

fn accuracy(o: &Outputs) -> f64 {
    o.predictions().iter().zip(&o.labels).filter(|(p, y)| p == y).count() as f64 / o.len() as f64
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut data = registry::load("digits", &Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data"))?;
    let members: Vec<usize> = (0..600).collect();
    // the owner's held-out rows: what an unseen digit looks like to the model
    let reference: Vec<usize> = (600..1000).collect();
    data.standardize_on(&members);
    let (forget, retain) = (members[..60].to_vec(), members[60..].to_vec());

    let recipe = TrainConfig { epochs: 40, batch_size: 64, lr: 1e-3, seed: 0, early_stop_acc: None };
    let config = NetConfig::for_family(ModelFamily::Mlp, &data.shape, data.num_classes);
    let fresh = forsaken_models::train::fresh::<B>(&config, 0, &Default::default())?;
    let original = train(fresh, &data, &members, &recipe, "original")?;

    // the oracle's threshold: halfway between the mean confidence on training rows and on unseen ones
    let mean = |v: Vec<f64>| v.iter().sum::<f64>() / v.len() as f64;
    let conf = |idx: &[usize]| Confidence { threshold: 0.0 }.score(&predict(&original, &data, idx), idx).map(mean);
    let oracle = Confidence { threshold: (conf(&retain)? + conf(&reference)?) / 2.0 };
    let before = oracle.decide(&predict(&original, &data, &forget), &forget)?;

    let request = UnlearnRequest {
        original: &original,
        data: &data,
        forget: &forget,
        retain: &retain,
        reference: &reference,
        train: &recipe,
        stopping: Some(StoppingRule { oracle: &oracle, target_fr: 0.9, before: before.clone() }),
        observer: None,
        seed: 0,
        strength: None,
    };
    let outcome = Forsaken::default().unlearn(&request)?;
    let unlearned = outcome.model.as_net().expect("Forsaken returns one network");

    let after = oracle.decide(&predict(unlearned, &data, &forget), &forget)?;
    let fr = forsaken_metrics::FrCounts::from_decisions(&before, &after)?.forgetting_rate();
    println!("Forsaken: {} after {} steps; FR under `{}`: {fr}%", outcome.stop_reason, outcome.steps, oracle.id());
    for (name, rows) in [("forget", &forget), ("retained", &retain), ("held-out", &reference)] {
        let (o, u) = (predict(&original, &data, rows), predict(unlearned, &data, rows));
        println!("accuracy on the {name} rows: {:.3} before, {:.3} after", accuracy(&o), accuracy(&u));
    }
    Ok(())
}
