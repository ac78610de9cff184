//! Auditing a deletion from saved model outputs: fit a membership oracle on shadow outputs, then
//! judge the original and the unlearned model's outputs on the forget set.
//!
//! `cargo run -p forsaken-mia --example audit_saved_outputs`
//!
//! Oracles read softmax outputs, never a network, so the outputs may come from any model,
//! trained with this toolkit or elsewhere. Here they are synthetic stand-ins for saved arrays:
//! members get a confident true class, unseen samples a less confident one.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use forsaken_metrics::FrCounts;
use forsaken_mia::shadow::ShadowRecord;
use forsaken_mia::{strength, Metric, MetricOracle, ShadowOutputs};
use forsaken_models::{MembershipOracle, ModelError, Outputs};

const CLASSES: usize = 10;

/// A softmax vector putting probability `p` on class `y` and the rest evenly elsewhere.
fn softmax_with(p: f32, y: u32) -> Vec<f32> {
    (0..CLASSES).map(|c| if c == y as usize { p } else { (1.0 - p) / (CLASSES - 1) as f32 }).collect()
}

/// True-class confidence of a member (seen in training) or of an unseen sample.
fn confidence(member: bool, r: &mut ChaCha8Rng) -> f32 {
    if member {
        r.random_range(0.85..0.999)
    } else {
        r.random_range(0.3..0.95)
    }
}

/// Outputs on `n` samples, members or not.
fn outputs(n: usize, member: bool, r: &mut ChaCha8Rng) -> Outputs {
    let labels: Vec<u32> = (0..n).map(|i| (i % CLASSES) as u32).collect();
    let probs = labels.iter().flat_map(|&y| softmax_with(confidence(member, r), y)).collect();
    Outputs { probs, labels, num_classes: CLASSES }
}

fn main() -> Result<(), ModelError> {
    let mut r = ChaCha8Rng::seed_from_u64(0);
    // 1. the auditor's shadow models: 4 models, each trained on half of 400 shadow samples
    let records = (0..4)
        .flat_map(|model| (0..400).map(move |sample| (model, sample)))
        .map(|(model, sample)| {
            let (member, class) = ((sample + model) % 2 == 0, (sample % CLASSES) as u32);
            ShadowRecord { class, probs: softmax_with(confidence(member, &mut r), class), member, model, sample }
        })
        .collect();
    let shadow = ShadowOutputs { num_classes: CLASSES, records, shadow_train_acc: 1.0, shadow_test_acc: 0.8 };
    let oracle = MetricOracle::fit(Metric::Loss, &shadow)?;

    // 2. how well it sees membership on the original model: training rows vs held-out rows
    let rows: Vec<usize> = (0..200).collect();
    let (members, held_out) = (outputs(200, true, &mut r), outputs(200, false, &mut r));
    let s = strength(&oracle, (&members, &rows), (&held_out, &rows))?;
    let tpr = s.summary.tpr_at_1pct_fpr.map_or("n/a".to_string(), |t| format!("{t:.3}"));
    println!("oracle `{}` on the original model: AUC {:.3}, TPR at 1% FPR {tpr}", oracle.id(), s.summary.auc);

    // 3. the forget set's outputs before (memorized) and after unlearning (made to look unseen)
    let forget: Vec<usize> = (0..100).collect();
    let before = oracle.decide(&outputs(100, true, &mut r), &forget)?;
    let after = oracle.decide(&outputs(100, false, &mut r), &forget)?;
    let counts = FrCounts::from_decisions(&before, &after).map_err(|e| ModelError::Request(e.to_string()))?;
    println!("forget set: {counts:?}, FR = {}%", counts.forgetting_rate());
    Ok(())
}
