//! Selectivity: did unlearning forget the deleted data **in particular**? (docs/method.md,
//! "Selectivity".) FR on D_u alone rewards any global drop in confidence; these numbers tell the
//! two apart.
//!
//! * FR on the retained set: the same formula and oracle on (a sample of) the retained data.
//!   Retraining gives about 0; a global confidence drop gives about FR on D_u.
//! * Selectivity = (FR_u - FR_r) / (FR_u(retrain) - FR_r(retrain)): 1 for retraining, about 0
//!   for a change that forgets everything equally; undefined where the retrain gap is under
//!   5 points (the retrained model itself does not separate the two, so there is no scale).
//! * Bootstrap confidence intervals for FR over the forget set: with 14 to 120 samples, one
//!   sample moves FR by 1 to 7 points.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::{FrCounts, MetricError};

/// Smallest retrain gap (FR_u - FR_r of the retrained model) for which selectivity is defined.
pub const MIN_RETRAIN_GAP: f64 = 0.05;

/// The selectivity ratio, or `None` ("undefined") when an input is undefined or the retrain gap
/// is under [`MIN_RETRAIN_GAP`].
pub fn selectivity(fr_u: Option<f64>, fr_r: Option<f64>, retrain_fr_u: Option<f64>, retrain_fr_r: Option<f64>) -> Option<f64> {
    let gap = retrain_fr_u? - retrain_fr_r?;
    if gap < MIN_RETRAIN_GAP {
        return None;
    }
    Some((fr_u? - fr_r?) / gap)
}

/// A two-sided percentile interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Interval {
    /// Lower bound.
    pub low: f64,
    /// Upper bound.
    pub high: f64,
}

/// 95% bootstrap interval of FR: resample the forget set's (before, after) decision pairs with
/// replacement `rounds` times (seeded), skip resamples with `B_T = 0`, take the 2.5th and 97.5th
/// percentiles. `None` when FR is undefined on the full set.
pub fn fr_bootstrap_ci(before: &[bool], after: &[bool], rounds: usize, seed: u64) -> Result<Option<Interval>, MetricError> {
    let full = FrCounts::from_decisions(before, after)?;
    if full.b_t == 0 || before.is_empty() {
        return Ok(None);
    }
    let n = before.len();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut values = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        let (mut bt, mut bf, mut af) = (0usize, 0usize, 0usize);
        for _ in 0..n {
            let i = rng.random_range(0..n);
            if before[i] {
                bt += 1;
            } else {
                bf += 1;
            }
            if !after[i] {
                af += 1;
            }
        }
        if bt > 0 {
            values.push((af as f64 - bf as f64) / bt as f64);
        }
    }
    if values.is_empty() {
        return Ok(None);
    }
    values.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
    let q = |p: f64| values[((p * (values.len() - 1) as f64).round() as usize).min(values.len() - 1)];
    Ok(Some(Interval { low: q(0.025), high: q(0.975) }))
}

/// Retained-vs-forget AUC (docs/method.md, "Selectivity"): positive class = retained samples, score
/// = the oracle's member score on the unlearned model. 0.5: the oracle cannot tell them apart (the
/// original model); high: D_u no longer looks memorized while the retained set still does.
pub fn retained_vs_forget_auc(retained_scores: &[f64], forget_scores: &[f64]) -> Result<f64, MetricError> {
    let mut s = retained_scores.to_vec();
    s.extend_from_slice(forget_scores);
    let mut l = vec![true; retained_scores.len()];
    l.extend(std::iter::repeat_n(false, forget_scores.len()));
    crate::auc(&s, &l)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selectivity_by_hand() {
        // retrain: FR_u 0.8, FR_r 0.1 (gap 0.7); method: FR_u 0.9, FR_r 0.55 -> 0.35 / 0.7 = 0.5
        let s = selectivity(Some(0.9), Some(0.55), Some(0.8), Some(0.1)).unwrap();
        assert!((s - 0.5).abs() < 1e-12);
        // retraining itself scores 1
        assert!((selectivity(Some(0.8), Some(0.1), Some(0.8), Some(0.1)).unwrap() - 1.0).abs() < 1e-12);
        // global drop: FR_u = FR_r -> 0
        assert_eq!(selectivity(Some(0.9), Some(0.9), Some(0.8), Some(0.1)), Some(0.0));
        // retrain gap under 5 points: undefined
        assert_eq!(selectivity(Some(0.9), Some(0.1), Some(0.3), Some(0.27)), None);
        assert_eq!(selectivity(None, Some(0.1), Some(0.8), Some(0.1)), None);
    }

    #[test]
    fn bootstrap_interval_contains_the_estimate_and_narrows_with_n() {
        // 20 members before, 10 of them forgotten: FR = 0.5
        let before = vec![true; 20];
        let after: Vec<bool> = (0..20).map(|i| i % 2 == 0).collect();
        let ci = fr_bootstrap_ci(&before, &after, 2000, 1).unwrap().unwrap();
        assert!(ci.low < 0.5 && ci.high > 0.5, "{ci:?}");
        let before_big = vec![true; 2000];
        let after_big: Vec<bool> = (0..2000).map(|i| i % 2 == 0).collect();
        let big = fr_bootstrap_ci(&before_big, &after_big, 500, 1).unwrap().unwrap();
        assert!(big.high - big.low < (ci.high - ci.low) / 4.0, "{big:?} vs {ci:?}");
        // same seed, same interval
        assert_eq!(fr_bootstrap_ci(&before, &after, 2000, 1).unwrap(), Some(ci));
        // undefined FR: no interval
        assert_eq!(fr_bootstrap_ci(&[false, false], &[false, true], 100, 0).unwrap(), None);
    }

    #[test]
    fn retained_vs_forget_auc_orientation() {
        // retained still look memorized (high scores), forget set no longer: AUC 1
        assert_eq!(retained_vs_forget_auc(&[0.9, 0.8], &[0.1, 0.2]).unwrap(), 1.0);
        assert_eq!(retained_vs_forget_auc(&[0.5, 0.5], &[0.5]).unwrap(), 0.5);
    }
}
