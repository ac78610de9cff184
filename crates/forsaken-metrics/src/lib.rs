//! # forsaken-metrics
//!
//! Pure numbers, no tensors: the **forgetting rate** (docs/method.md, "Forgetting rate"), accuracy,
//! ROC curves, AUC, TPR at a fixed FPR, balanced accuracy, membership advantage, and
//! mean / standard deviation over seeds.
//!
//! Everything here works on plain slices so it can be tested with hand-made numbers and used
//! by every layer above (oracles, methods, the reproduction harness) without a backend.
//!
//! Conventions:
//! * In ROC / AUC functions `labels[i] == true` is the **positive** class (for membership
//!   inference: a member of the training set), and a **higher** score means "more positive".
//! * Ties in scores are handled exactly: tied samples move the ROC curve diagonally, and AUC
//!   counts a tied positive/negative pair as one half (the Mann-Whitney convention).

#![warn(missing_docs)]

pub mod audit;
pub mod selectivity;

use serde::{Deserialize, Serialize};

/// Errors raised on inconsistent inputs (lengths, empty sets).
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum MetricError {
    /// Two slices that must describe the same samples have different lengths.
    #[error("length mismatch: {what} ({left} vs {right})")]
    LengthMismatch {
        /// Which pair of inputs disagreed.
        what: &'static str,
        /// Length of the first input.
        left: usize,
        /// Length of the second input.
        right: usize,
    },
    /// A metric needs at least one positive and one negative sample.
    #[error("{0}")]
    Degenerate(&'static str),
}

/// The four counts behind the forgetting rate (docs/method.md, "Forgetting rate").
///
/// `b_*` are the oracle's decisions on the forget set for the **original** model, `a_*` for the
/// **unlearned** model; `*_t` counts "member", `*_f` "non-member".
///
/// ```
/// use forsaken_metrics::{FrCounts, ForgettingRate};
/// // one oracle's decisions (true = member) on four forget samples, before and after
/// let c = FrCounts::from_decisions(&[true, true, true, false], &[false, true, false, false]).unwrap();
/// assert_eq!((c.b_t, c.b_f, c.a_t, c.a_f), (3, 1, 1, 3));
/// // FR = (A_F - B_F) / B_T = (3 - 1) / 3
/// assert_eq!(c.forgetting_rate(), ForgettingRate::Value(2.0 / 3.0));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct FrCounts {
    /// Members on the original model.
    pub b_t: usize,
    /// Non-members on the original model.
    pub b_f: usize,
    /// Members on the unlearned model.
    pub a_t: usize,
    /// Non-members on the unlearned model.
    pub a_f: usize,
}

impl FrCounts {
    /// Count decisions (true = member) before and after unlearning on the same samples.
    pub fn from_decisions(before: &[bool], after: &[bool]) -> Result<Self, MetricError> {
        if before.len() != after.len() {
            return Err(MetricError::LengthMismatch { what: "decisions before / after", left: before.len(), right: after.len() });
        }
        let b_t = before.iter().filter(|&&m| m).count();
        let a_t = after.iter().filter(|&&m| m).count();
        Ok(Self { b_t, b_f: before.len() - b_t, a_t, a_f: after.len() - a_t })
    }

    /// The forgetting rate `FR = (A_F - B_F) / B_T`.
    pub fn forgetting_rate(&self) -> ForgettingRate {
        forgetting_rate(*self)
    }
}

/// A forgetting rate: a number (at most 1, possibly negative) or typed "undefined" when the
/// oracle called no forget sample a member on the original model (`B_T = 0`).
///
/// Serialized as a JSON number, or `null` when undefined.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(from = "Option<f64>", into = "Option<f64>")]
pub enum ForgettingRate {
    /// A defined value; 1.0 = every memorized sample now looks unseen.
    Value(f64),
    /// `B_T = 0`: nothing was memorized according to the oracle, so nothing can be forgotten.
    Undefined,
}

impl From<Option<f64>> for ForgettingRate {
    fn from(v: Option<f64>) -> Self {
        v.map_or(ForgettingRate::Undefined, ForgettingRate::Value)
    }
}
impl From<ForgettingRate> for Option<f64> {
    fn from(v: ForgettingRate) -> Self {
        v.value()
    }
}

impl ForgettingRate {
    /// The value, or `None` when undefined.
    pub fn value(&self) -> Option<f64> {
        match self {
            ForgettingRate::Value(v) => Some(*v),
            ForgettingRate::Undefined => None,
        }
    }
    /// Percent with one decimal, or `undefined`.
    pub fn display_percent(&self) -> String {
        match self {
            ForgettingRate::Value(v) => format!("{:.1}", v * 100.0),
            ForgettingRate::Undefined => "undefined".to_string(),
        }
    }
}

impl std::fmt::Display for ForgettingRate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.display_percent())
    }
}

/// `FR = (A_F - B_F) / B_T`, exactly as docs/method.md, "Forgetting rate": never clipped, undefined
/// when `B_T = 0`. Equivalent to `1 - A_T / B_T` when both decisions cover the same samples.
///
/// ```
/// use forsaken_metrics::{forgetting_rate, FrCounts, ForgettingRate};
/// // unlearning that makes forgotten samples look *more* memorized gives a negative FR
/// assert_eq!(forgetting_rate(FrCounts { b_t: 5, b_f: 5, a_t: 7, a_f: 3 }), ForgettingRate::Value(-0.4));
/// // no member before: nothing to forget, and FR says so instead of a number
/// assert_eq!(forgetting_rate(FrCounts { b_t: 0, b_f: 4, a_t: 0, a_f: 4 }), ForgettingRate::Undefined);
/// ```
pub fn forgetting_rate(c: FrCounts) -> ForgettingRate {
    if c.b_t == 0 {
        return ForgettingRate::Undefined;
    }
    ForgettingRate::Value((c.a_f as f64 - c.b_f as f64) / c.b_t as f64)
}

/// Fraction of `predicted[i] == labels[i]`; `None` for empty input.
pub fn accuracy(predicted: &[u32], labels: &[u32]) -> Result<Option<f64>, MetricError> {
    if predicted.len() != labels.len() {
        return Err(MetricError::LengthMismatch { what: "predictions / labels", left: predicted.len(), right: labels.len() });
    }
    if labels.is_empty() {
        return Ok(None);
    }
    let ok = predicted.iter().zip(labels).filter(|(p, l)| p == l).count();
    Ok(Some(ok as f64 / labels.len() as f64))
}

/// Balanced accuracy of binary decisions: the mean of the true-positive rate and the
/// true-negative rate.
pub fn balanced_accuracy(decisions: &[bool], labels: &[bool]) -> Result<f64, MetricError> {
    if decisions.len() != labels.len() {
        return Err(MetricError::LengthMismatch { what: "decisions / labels", left: decisions.len(), right: labels.len() });
    }
    let (mut tp, mut p, mut tn, mut n) = (0usize, 0usize, 0usize, 0usize);
    for (&d, &l) in decisions.iter().zip(labels) {
        if l {
            p += 1;
            tp += d as usize;
        } else {
            n += 1;
            tn += (!d) as usize;
        }
    }
    if p == 0 || n == 0 {
        return Err(MetricError::Degenerate("balanced accuracy needs positives and negatives"));
    }
    Ok(0.5 * (tp as f64 / p as f64 + tn as f64 / n as f64))
}

/// One point of a ROC curve: classify as positive every sample with `score >= threshold`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RocPoint {
    /// False-positive rate.
    pub fpr: f64,
    /// True-positive rate.
    pub tpr: f64,
    /// Score threshold (`+inf` for the first point, where nothing is positive).
    pub threshold: f64,
}

/// ROC curve from scores (higher = more positive). Starts at (0, 0), ends at (1, 1); tied
/// scores form a single step (diagonal segment), so the curve does not depend on sample order.
pub fn roc_curve(scores: &[f64], labels: &[bool]) -> Result<Vec<RocPoint>, MetricError> {
    if scores.len() != labels.len() {
        return Err(MetricError::LengthMismatch { what: "scores / labels", left: scores.len(), right: labels.len() });
    }
    let p = labels.iter().filter(|&&l| l).count();
    let n = labels.len() - p;
    if p == 0 || n == 0 {
        return Err(MetricError::Degenerate("a ROC curve needs positives and negatives"));
    }
    let mut order: Vec<usize> = (0..scores.len()).collect();
    // NaN scores sort last (least positive).
    order.sort_by(|&a, &b| {
        let (sa, sb) = (scores[a], scores[b]);
        sb.partial_cmp(&sa).unwrap_or_else(|| sa.is_nan().cmp(&sb.is_nan()))
    });
    let mut points = vec![RocPoint { fpr: 0.0, tpr: 0.0, threshold: f64::INFINITY }];
    let (mut tp, mut fp) = (0usize, 0usize);
    let mut i = 0;
    while i < order.len() {
        let s = scores[order[i]];
        // consume the whole group of tied scores
        while i < order.len() && (scores[order[i]] == s || (s.is_nan() && scores[order[i]].is_nan())) {
            if labels[order[i]] {
                tp += 1;
            } else {
                fp += 1;
            }
            i += 1;
        }
        points.push(RocPoint { fpr: fp as f64 / n as f64, tpr: tp as f64 / p as f64, threshold: s });
    }
    Ok(points)
}

/// Area under the ROC curve (trapezoids; ties count one half).
pub fn auc(scores: &[f64], labels: &[bool]) -> Result<f64, MetricError> {
    let roc = roc_curve(scores, labels)?;
    Ok(auc_from_roc(&roc))
}

/// Trapezoidal area under given ROC points.
pub fn auc_from_roc(roc: &[RocPoint]) -> f64 {
    roc.windows(2).map(|w| (w[1].fpr - w[0].fpr) * (w[1].tpr + w[0].tpr) * 0.5).sum()
}

/// Highest TPR reachable at FPR <= `max_fpr` using a score threshold (no interpolation).
pub fn tpr_at_fpr(roc: &[RocPoint], max_fpr: f64) -> f64 {
    roc.iter().filter(|p| p.fpr <= max_fpr + 1e-12).map(|p| p.tpr).fold(0.0, f64::max)
}

/// TPR at `max_fpr`, reported only when there are enough negatives for that FPR to mean
/// something (docs/method.md, "Forgetting rate": at least 100 for 1%, 1,000 for 0.1%, i.e. `1 /
/// max_fpr`).
pub fn tpr_at_fpr_checked(roc: &[RocPoint], max_fpr: f64, negatives: usize) -> Option<f64> {
    let needed = (1.0 / max_fpr).round() as usize;
    (negatives >= needed).then(|| tpr_at_fpr(roc, max_fpr))
}

/// Membership advantage: `max over thresholds of TPR - FPR`.
pub fn advantage(roc: &[RocPoint]) -> f64 {
    roc.iter().map(|p| p.tpr - p.fpr).fold(0.0, f64::max)
}

/// The threshold `t` (positive iff score >= t) maximizing balanced accuracy on these samples
/// (`+inf` when no threshold beats 0.5).
pub fn best_threshold(scores: &[f64], labels: &[bool]) -> f64 {
    let p = labels.iter().filter(|&&m| m).count().max(1) as f64;
    let n = labels.iter().filter(|&&m| !m).count().max(1) as f64;
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[b].partial_cmp(&scores[a]).unwrap_or(std::cmp::Ordering::Equal));
    let (mut tp, mut fp) = (0.0, 0.0);
    let (mut best, mut best_t) = (0.5, f64::INFINITY);
    let mut i = 0;
    while i < order.len() {
        let s = scores[order[i]];
        while i < order.len() && scores[order[i]] == s {
            if labels[order[i]] {
                tp += 1.0;
            } else {
                fp += 1.0;
            }
            i += 1;
        }
        let bal = 0.5 * (tp / p + 1.0 - fp / n);
        if bal > best {
            best = bal;
            best_t = s;
        }
    }
    best_t
}

/// Mean and (sample, n-1) standard deviation. `None` for empty input; std is 0 for one value.
pub fn mean_std(values: &[f64]) -> Option<(f64, f64)> {
    if values.is_empty() {
        return None;
    }
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    if values.len() == 1 {
        return Some((mean, 0.0));
    }
    let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0);
    Some((mean, var.sqrt()))
}

/// Strength of a membership oracle on members vs non-members (docs/method.md, "Forgetting rate").
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OracleStrength {
    /// Area under the ROC curve of the member score.
    pub auc: f64,
    /// Balanced accuracy of the oracle's hard decisions.
    pub balanced_accuracy: f64,
    /// TPR at 1% FPR (`None` with fewer than 100 non-members).
    pub tpr_at_1pct_fpr: Option<f64>,
    /// TPR at 0.1% FPR (`None` with fewer than 1,000 non-members).
    pub tpr_at_0_1pct_fpr: Option<f64>,
    /// max(TPR - FPR).
    pub advantage: f64,
    /// Members evaluated.
    pub members: usize,
    /// Non-members evaluated.
    pub non_members: usize,
}

impl OracleStrength {
    /// Strength from member / non-member scores and decisions.
    pub fn compute(
        member_scores: &[f64],
        non_member_scores: &[f64],
        member_decisions: &[bool],
        non_member_decisions: &[bool],
    ) -> Result<Self, MetricError> {
        let mut scores = member_scores.to_vec();
        scores.extend_from_slice(non_member_scores);
        let mut labels = vec![true; member_scores.len()];
        labels.extend(std::iter::repeat_n(false, non_member_scores.len()));
        let mut decisions = member_decisions.to_vec();
        decisions.extend_from_slice(non_member_decisions);
        let roc = roc_curve(&scores, &labels)?;
        Ok(Self {
            auc: auc_from_roc(&roc),
            balanced_accuracy: balanced_accuracy(&decisions, &labels)?,
            tpr_at_1pct_fpr: tpr_at_fpr_checked(&roc, 0.01, non_member_scores.len()),
            tpr_at_0_1pct_fpr: tpr_at_fpr_checked(&roc, 0.001, non_member_scores.len()),
            advantage: advantage(&roc),
            members: member_scores.len(),
            non_members: non_member_scores.len(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-12
    }

    #[test]
    fn fr_from_hand_made_counts() {
        // 10 forget samples; 8 members before; after: 2 members, 8 non-members.
        let c = FrCounts { b_t: 8, b_f: 2, a_t: 2, a_f: 8 };
        assert_eq!(c.forgetting_rate(), ForgettingRate::Value(6.0 / 8.0));
        // equivalently 1 - A_T / B_T
        assert!(close(c.forgetting_rate().value().unwrap(), 1.0 - 2.0 / 8.0));
    }

    #[test]
    fn fr_negative_is_kept_and_undefined_is_typed() {
        let c = FrCounts { b_t: 4, b_f: 6, a_t: 9, a_f: 1 };
        assert_eq!(c.forgetting_rate(), ForgettingRate::Value(-5.0 / 4.0));
        let u = FrCounts { b_t: 0, b_f: 5, a_t: 0, a_f: 5 };
        assert_eq!(u.forgetting_rate(), ForgettingRate::Undefined);
        assert_eq!(serde_json::to_string(&u.forgetting_rate()).unwrap(), "null");
        assert_eq!(u.forgetting_rate().display_percent(), "undefined");
    }

    #[test]
    fn fr_counts_from_decisions() {
        let before = [true, true, true, false];
        let after = [false, true, false, false];
        let c = FrCounts::from_decisions(&before, &after).unwrap();
        assert_eq!(c, FrCounts { b_t: 3, b_f: 1, a_t: 1, a_f: 3 });
        assert!(close(c.forgetting_rate().value().unwrap(), 2.0 / 3.0));
        assert!(FrCounts::from_decisions(&before, &after[..2]).is_err());
    }

    #[test]
    fn accuracy_and_balanced_accuracy() {
        assert_eq!(accuracy(&[1, 2, 3, 4], &[1, 2, 0, 0]).unwrap(), Some(0.5));
        assert_eq!(accuracy(&[], &[]).unwrap(), None);
        // 3 positives (2 found), 1 negative (correctly rejected): (2/3 + 1) / 2
        let b = balanced_accuracy(&[true, true, false, false], &[true, true, true, false]).unwrap();
        assert!(close(b, (2.0 / 3.0 + 1.0) / 2.0));
    }

    #[test]
    fn roc_and_auc_without_ties() {
        // positives 0.9, 0.6; negatives 0.7, 0.1 -> pairs (0.9>0.7,0.9>0.1,0.6<0.7,0.6>0.1) = 3/4
        let s = [0.9, 0.7, 0.6, 0.1];
        let l = [true, false, true, false];
        assert!(close(auc(&s, &l).unwrap(), 0.75));
        let roc = roc_curve(&s, &l).unwrap();
        assert_eq!(roc.len(), 5);
        assert_eq!((roc[1].fpr, roc[1].tpr), (0.0, 0.5));
        assert_eq!((roc[4].fpr, roc[4].tpr), (1.0, 1.0));
        assert!(close(tpr_at_fpr(&roc, 0.0), 0.5));
        assert!(close(advantage(&roc), 0.5));
    }

    #[test]
    fn auc_with_ties_counts_half() {
        // all scores tied: AUC = 0.5 whatever the order
        let l = [true, false, true, false, false];
        assert!(close(auc(&[0.3; 5], &l).unwrap(), 0.5));
        // positive 0.5 tied with one negative 0.5, above negative 0.2:
        // pairs: (0.5 vs 0.5) = 1/2, (0.5 vs 0.2) = 1 -> 1.5 / 2 = 0.75
        assert!(close(auc(&[0.5, 0.5, 0.2], &[true, false, false]).unwrap(), 0.75));
        // order must not matter
        assert!(close(auc(&[0.5, 0.2, 0.5], &[false, false, true]).unwrap(), 0.75));
    }

    #[test]
    fn tpr_at_fpr_requires_enough_negatives() {
        let roc = roc_curve(&[0.9, 0.1], &[true, false]).unwrap();
        assert_eq!(tpr_at_fpr_checked(&roc, 0.01, 99), None);
        assert_eq!(tpr_at_fpr_checked(&roc, 0.01, 100), Some(1.0));
        assert_eq!(tpr_at_fpr_checked(&roc, 0.001, 999), None);
    }

    #[test]
    fn mean_and_std() {
        let (m, s) = mean_std(&[2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0]).unwrap();
        assert!(close(m, 5.0));
        assert!(close(s, (32.0f64 / 7.0).sqrt()));
        assert_eq!(mean_std(&[3.0]), Some((3.0, 0.0)));
        assert_eq!(mean_std(&[]), None);
    }

    #[test]
    fn degenerate_inputs_are_errors() {
        assert!(auc(&[0.1, 0.2], &[true, true]).is_err());
        assert!(roc_curve(&[0.1], &[true, false]).is_err());
    }

    #[test]
    fn oracle_strength_perfect_separation() {
        let s = OracleStrength::compute(&[0.9, 0.8], &[0.2, 0.1], &[true, true], &[false, false]).unwrap();
        assert!(close(s.auc, 1.0));
        assert!(close(s.balanced_accuracy, 1.0));
        assert!(close(s.advantage, 1.0));
        assert_eq!(s.tpr_at_1pct_fpr, None);
    }
}
