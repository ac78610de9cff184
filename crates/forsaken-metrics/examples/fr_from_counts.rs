//! The forgetting rate from a membership oracle's decisions, with its interval.
//!
//! `cargo run -p forsaken-metrics --example fr_from_counts`
//!
//! FR compares one oracle's decisions on the forget set before and after unlearning:
//! `FR = (A_F - B_F) / B_T` (docs/method.md, "Forgetting rate"). Nothing here needs a model or a
//! backend: the decisions may come from any oracle on any model.

use forsaken_metrics::selectivity::fr_bootstrap_ci;
use forsaken_metrics::{forgetting_rate, ForgettingRate, FrCounts, MetricError};

fn main() -> Result<(), MetricError> {
    // "member" (true) or "non-member" for the same ten forget samples, on the original model
    // and on the unlearned one
    let before = [true, true, true, true, true, true, true, true, false, false];
    let after = [false, false, false, true, false, false, true, false, false, true];
    let counts = FrCounts::from_decisions(&before, &after)?;
    let fr = counts.forgetting_rate();
    println!("B_T = {}, B_F = {}, A_T = {}, A_F = {}", counts.b_t, counts.b_f, counts.a_t, counts.a_f);
    println!("FR = (A_F - B_F) / B_T = ({} - {}) / {} = {fr}%", counts.a_f, counts.b_f, counts.b_t);
    assert_eq!(fr, ForgettingRate::Value(0.625));

    // resampling the ten (before, after) pairs: with so few samples the interval is wide
    if let Some(ci) = fr_bootstrap_ci(&before, &after, 1000, 0)? {
        println!("95% bootstrap interval: [{:.1}, {:.1}]%", 100.0 * ci.low, 100.0 * ci.high);
    }

    // an oracle that sees no member on the original model leaves nothing to forget
    let unseen = forgetting_rate(FrCounts { b_t: 0, b_f: 10, a_t: 0, a_f: 10 });
    assert_eq!(unseen, ForgettingRate::Undefined);
    println!("no member before unlearning: FR is {unseen}, not 0 or 100");
    Ok(())
}
