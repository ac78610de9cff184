//! The per-example audit of one deletion against retraining (docs/audit.md, sections 2 and 3), on
//! plain numbers: the statistic phi of every model on every audited example, in, and the
//! likelihood-ratio test, its verdict, the per-example epsilon and the forgetting quality F
//! out. Nothing here knows a network, so the audit of any model's outputs can use it.
//!
//! Conventions: a [`Sides`] matrix is `[model][example]`; the **unlearned** side is the
//! positive class of every ROC and AUC (an AUC above 0.5 means the unlearned models can be told
//! from the retrained ones).

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::selectivity::Interval;
use crate::{roc_curve, tpr_at_fpr_checked, MetricError, RocPoint};

/// The equivalence margin of the verdict: "indistinguishable" needs an AUC upper bound at or
/// below `0.5 + MARGIN`, "distinguishable" a lower bound above it.
pub const MARGIN: f64 = 0.05;
/// The do-nothing control must reach an AUC lower bound above this for the audit to have power.
pub const POWER_FLOOR: f64 = 0.6;
/// Fewer models than this per side: the audit is not run (docs/audit.md, section 1).
pub const MIN_MODELS: usize = 16;
/// Fewer audited examples than this: the pooled shift and variances are not estimable, and
/// every verdict is "inconclusive".
pub const MIN_EXAMPLES: usize = 10;
/// A side with fewer samples per example than this gets one variance pooled across examples
/// (Carlini et al.'s advice for few shadow models).
pub const PER_EXAMPLE_VARIANCE_FROM: usize = 64;
/// The competition's `DELTA`, `EPSILON_CAP` and threshold density (`metric.py`).
pub const DELTA: f64 = 1e-5;
/// The largest epsilon an example can get.
pub const EPSILON_CAP: f64 = 50.0;
const THRESHOLDS_PER_UNIT: f64 = 100.0;

/// The logit-scaled true-class confidence `ln p_y - ln (1 - p_y)` from one row of logits, in
/// f64: `z_y - logsumexp` of the other classes' logits, which never saturates (`metric.py`
/// computes the same quantity from probabilities floored at 1e-45, which stops at about 103).
pub fn phi(logits: &[f32], label: usize) -> f64 {
    let others = || logits.iter().enumerate().filter(|&(c, _)| c != label).map(|(_, &z)| z as f64);
    let top = others().fold(f64::NEG_INFINITY, f64::max);
    logits[label] as f64 - (top + others().map(|z| (z - top).exp()).sum::<f64>().ln())
}

/// phi of the unlearned and the retrained models on the audited examples, `[model][example]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sides {
    /// U_1..U_N.
    pub unlearned: Vec<Vec<f64>>,
    /// R_1..R_N.
    pub retrained: Vec<Vec<f64>>,
}

impl Sides {
    /// Models per side and examples, after checking that the matrices are rectangular, equally
    /// sized, finite and large enough for `folds` folds.
    fn shape(&self, folds: usize) -> Result<(usize, usize), MetricError> {
        let n = self.unlearned.len();
        if n != self.retrained.len() {
            return Err(MetricError::LengthMismatch { what: "unlearned / retrained models", left: n, right: self.retrained.len() });
        }
        if folds < 2 || n < folds {
            return Err(MetricError::Degenerate("the test needs at least two folds and a model per fold on each side"));
        }
        let examples = self.unlearned[0].len();
        if examples == 0 {
            return Err(MetricError::Degenerate("no audited example"));
        }
        for row in self.unlearned.iter().chain(&self.retrained) {
            if row.len() != examples {
                return Err(MetricError::LengthMismatch { what: "examples per model", left: examples, right: row.len() });
            }
            if row.iter().any(|v| !v.is_finite()) {
                return Err(MetricError::Degenerate("a model's phi is not finite (NaN outputs?)"));
            }
        }
        Ok((n, examples))
    }
}

/// The Gaussians of one fold, fitted on the other folds' models: the retrained side's mean per
/// example, the unlearned side's shift from it, and each side's variance (pooled across
/// examples below [`PER_EXAMPLE_VARIANCE_FROM`] samples).
struct Fit {
    mean_r: Vec<f64>,
    shift: f64,
    var_r: Vec<f64>,
    var_u: Vec<f64>,
}

/// Each example's variance of `resid` over `models`, pooled across examples below
/// [`PER_EXAMPLE_VARIANCE_FROM`] models; `means` is how many means the residuals were taken
/// around (one per example, or one shift for all), the degrees of freedom they cost.
fn variances(resid: impl Fn(usize, usize) -> f64, models: &[usize], examples: usize, means: usize) -> Vec<f64> {
    let per_example: Vec<f64> = (0..examples).map(|x| models.iter().map(|&j| resid(j, x).powi(2)).sum::<f64>()).collect();
    let floor = |v: f64| v.max(1e-12);
    let m = models.len();
    if m >= PER_EXAMPLE_VARIANCE_FROM {
        per_example.iter().map(|s| floor(s / (m - means / examples) as f64)).collect()
    } else {
        let pooled = per_example.iter().sum::<f64>() / (examples * m - means).max(1) as f64;
        vec![floor(pooled); examples]
    }
}

impl Fit {
    /// The unlearned side is modelled as the retrained side's per-example mean plus one shift
    /// shared by all examples. A per-example mean of the unlearned side would also fit the
    /// original model's own seed: every U_j starts from the one O, so "doing nothing" would be
    /// detected even where O memorized nothing (see docs/audit.md).
    fn on(s: &Sides, train: &[usize]) -> Self {
        let examples = s.retrained[0].len();
        let mean_r: Vec<f64> = (0..examples).map(|x| train.iter().map(|&j| s.retrained[j][x]).sum::<f64>() / train.len() as f64).collect();
        let cells = (train.len() * examples) as f64;
        let shift = train.iter().map(|&j| (0..examples).map(|x| s.unlearned[j][x] - mean_r[x]).sum::<f64>()).sum::<f64>() / cells;
        // a held-out retrained model varies around the estimated mean by its own variance and
        // the mean's (1/m of it); the unlearned residuals, taken around that same estimate,
        // include both already
        let inflate = 1.0 + 1.0 / train.len() as f64;
        let var_r = variances(|j, x| s.retrained[j][x] - mean_r[x], train, examples, examples).iter().map(|v| v * inflate).collect();
        let var_u = variances(|j, x| s.unlearned[j][x] - mean_r[x] - shift, train, examples, 1);
        Self { mean_r, shift, var_r, var_u }
    }

    /// The log-likelihood ratio "unlearned" over "retrained" of value `v` on example `x`.
    fn score(&self, x: usize, v: f64) -> f64 {
        let log_normal = |v: f64, mean: f64, var: f64| -0.5 * ((v - mean).powi(2) / var + var.ln());
        log_normal(v, self.mean_r[x] + self.shift, self.var_u[x]) - log_normal(v, self.mean_r[x], self.var_r[x])
    }
}

/// The per-example likelihood-ratio test (docs/audit.md, section 2) and what it found.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LrTest {
    /// AUC of the held-out scores, unlearned = positive.
    pub auc: f64,
    /// 95% bootstrap interval of the AUC over models (and examples within).
    pub auc_ci: Interval,
    /// TPR at 1% FPR, when there are at least 100 retrained samples.
    pub tpr_at_1pct_fpr: Option<f64>,
    /// Balanced accuracy of the held-out samples at the thresholds chosen on the training folds.
    pub balanced_accuracy: f64,
    /// The unlearned side's mean shift of phi from the retrained side's, averaged over folds.
    pub shift: f64,
    /// ROC of the held-out scores.
    pub roc: Vec<RocPoint>,
    /// Held-out scores, `[model][example]`.
    pub scores: Sides,
    /// Fold of model j (both sides).
    pub fold: Vec<usize>,
}

/// Run the test with `folds` folds over models (model j in fold `j % folds`) and a bootstrap of
/// `rounds` resamples seeded by `seed`.
pub fn lr_test(s: &Sides, folds: usize, rounds: usize, seed: u64) -> Result<LrTest, MetricError> {
    let (n, examples) = s.shape(folds)?;
    let fold: Vec<usize> = (0..n).map(|j| j % folds).collect();
    let mut scores = Sides { unlearned: vec![vec![]; n], retrained: vec![vec![]; n] };
    let (mut shift, mut decided): (f64, Vec<(bool, bool)>) = (0.0, Vec::new());
    for k in 0..folds {
        let train: Vec<usize> = (0..n).filter(|&j| fold[j] != k).collect();
        let fit = Fit::on(s, &train);
        shift += fit.shift / folds as f64;
        let in_sample = |side: &Vec<Vec<f64>>| -> Vec<f64> {
            train.iter().flat_map(|&j| (0..examples).map(move |x| (j, x))).map(|(j, x)| fit.score(x, side[j][x])).collect()
        };
        let (u, r) = (in_sample(&s.unlearned), in_sample(&s.retrained));
        let labels: Vec<bool> = u.iter().map(|_| true).chain(r.iter().map(|_| false)).collect();
        let threshold = crate::best_threshold(&[u, r].concat(), &labels);
        for j in (0..n).filter(|&j| fold[j] == k) {
            scores.unlearned[j] = (0..examples).map(|x| fit.score(x, s.unlearned[j][x])).collect();
            scores.retrained[j] = (0..examples).map(|x| fit.score(x, s.retrained[j][x])).collect();
            decided.extend(scores.unlearned[j].iter().map(|&v| (true, v >= threshold)));
            decided.extend(scores.retrained[j].iter().map(|&v| (false, v >= threshold)));
        }
    }
    let (flat, labels) = flatten(&scores);
    let roc = roc_curve(&flat, &labels)?;
    let negatives = n * examples;
    let (decisions, truth): (Vec<bool>, Vec<bool>) = decided.iter().map(|&(t, d)| (d, t)).unzip();
    Ok(LrTest {
        auc: crate::auc_from_roc(&roc),
        auc_ci: bootstrap_auc(&scores, rounds, seed)?,
        tpr_at_1pct_fpr: tpr_at_fpr_checked(&roc, 0.01, negatives),
        balanced_accuracy: crate::balanced_accuracy(&decisions, &truth)?,
        shift,
        roc,
        scores,
        fold,
    })
}

fn flatten(s: &Sides) -> (Vec<f64>, Vec<bool>) {
    let u = s.unlearned.iter().flatten().map(|&v| (v, true));
    let r = s.retrained.iter().flatten().map(|&v| (v, false));
    u.chain(r).unzip()
}

/// 95% percentile interval of the AUC over `rounds` resamples: models of each side drawn with
/// replacement (a model's examples move together), and examples drawn with replacement. Each
/// resample weighs the once-sorted samples by their multiplicity, so no resample sorts.
fn bootstrap_auc(scores: &Sides, rounds: usize, seed: u64) -> Result<Interval, MetricError> {
    if rounds == 0 {
        return Err(MetricError::Degenerate("a bootstrap needs at least one round"));
    }
    let (n, examples) = (scores.unlearned.len(), scores.unlearned[0].len());
    // (score, positive, model, example), ascending
    let mut sorted: Vec<(f64, bool, usize, usize)> = Vec::with_capacity(2 * n * examples);
    for (side, positive) in [(&scores.unlearned, true), (&scores.retrained, false)] {
        for (j, row) in side.iter().enumerate() {
            sorted.extend(row.iter().enumerate().map(|(x, &v)| (v, positive, j, x)));
        }
    }
    sorted.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut aucs = Vec::with_capacity(rounds);
    let draw = |rng: &mut ChaCha8Rng, len: usize| {
        let mut c = vec![0.0f64; len];
        (0..len).for_each(|_| c[rng.random_range(0..len)] += 1.0);
        c
    };
    for _ in 0..rounds {
        let (mu, mr, mx) = (draw(&mut rng, n), draw(&mut rng, n), draw(&mut rng, examples));
        let (mut neg_below, mut area, mut i) = (0.0, 0.0, 0);
        while i < sorted.len() {
            let (t, mut pos_here, mut neg_here) = (sorted[i].0, 0.0, 0.0);
            while i < sorted.len() && sorted[i].0 == t {
                let (_, positive, j, x) = sorted[i];
                if positive {
                    pos_here += mu[j] * mx[x];
                } else {
                    neg_here += mr[j] * mx[x];
                }
                i += 1;
            }
            area += pos_here * (neg_below + 0.5 * neg_here);
            neg_below += neg_here;
        }
        let total = (n * examples) as f64 * (n * examples) as f64;
        aucs.push(area / total);
    }
    aucs.sort_by(f64::total_cmp);
    let at = |q: f64| aucs[((q * (rounds - 1) as f64).round() as usize).min(rounds - 1)];
    Ok(Interval { low: at(0.025), high: at(0.975) })
}

/// The verdict of an equivalence test (docs/audit.md, section 2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    /// The AUC's upper bound is within the margin, and the audit has power.
    Indistinguishable,
    /// The AUC's lower bound is above the margin.
    Distinguishable,
    /// Neither: no power, or an interval that straddles the margin.
    Inconclusive,
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Verdict::Indistinguishable => "indistinguishable from retraining",
            Verdict::Distinguishable => "distinguishable",
            Verdict::Inconclusive => "inconclusive",
        })
    }
}

/// The two controls' AUC intervals on D_u: every verdict is read against them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Controls {
    /// Doing nothing: the audit has power when it is detected.
    pub do_nothing: Interval,
    /// N more retrainings: the test is calibrated when their interval covers 0.5.
    pub retrain: Interval,
}

/// The verdict on a method whose AUC interval on `examples` audited examples is `method`,
/// given the controls' intervals, with the reason in words.
///
/// Ours, beyond the audit's original design (docs/audit.md, section 2, "inconclusive:
/// miscalibrated"): a retrain control whose interval excludes 0.5 means that the shift and
/// variances fitted on some models do not carry over to the held-out ones (few examples, or phi far
/// from Gaussian), so no verdict of that test is trusted, either way.
pub fn judge(method: Interval, controls: Controls, examples: usize) -> (Verdict, String) {
    let bound = 0.5 + MARGIN;
    let (do_nothing, retrain) = (controls.do_nothing, controls.retrain);
    if examples < MIN_EXAMPLES {
        (
            Verdict::Inconclusive,
            format!("too few audited examples ({examples} < {MIN_EXAMPLES}) to estimate the test's shift and variances"),
        )
    } else if retrain.low > 0.5 || retrain.high < 0.5 {
        let why = format!(
            "miscalibrated: the retrain control's AUC interval [{:.3}, {:.3}] excludes 0.5 (the fitted test does not carry over to held-out models here)",
            retrain.low, retrain.high
        );
        (Verdict::Inconclusive, why)
    } else if method.low > bound {
        (Verdict::Distinguishable, format!("AUC lower bound {:.3} > {bound}", method.low))
    } else if do_nothing.low <= POWER_FLOOR {
        let why =
            format!("no power: doing nothing is not detected with an AUC lower bound above {POWER_FLOOR} here ({:.3})", do_nothing.low);
        (Verdict::Inconclusive, why)
    } else if method.high <= bound {
        (Verdict::Indistinguishable, format!("AUC upper bound {:.3} <= {bound}, and doing nothing is detected", method.high))
    } else {
        let why = format!("AUC interval [{:.3}, {:.3}] straddles {bound}: too few models or examples to decide", method.low, method.high);
        (Verdict::Inconclusive, why)
    }
}

/// `n` points from `a` to `b`, both included, as numpy's `linspace` spaces them.
fn linspace(a: f64, b: f64, n: usize) -> impl Iterator<Item = f64> {
    let step = if n > 1 { (b - a) / (n - 1) as f64 } else { 0.0 };
    (0..n).map(move |i| if i + 1 == n && n > 1 { b } else { a + i as f64 * step })
}

/// Count of `sorted` values `<= t` and `< t`.
fn at_most(sorted: &[f64], t: f64) -> usize {
    sorted.partition_point(|&v| v <= t)
}
fn below(sorted: &[f64], t: f64) -> usize {
    sorted.partition_point(|&v| v < t)
}

/// The epsilon of one threshold rule from its error rates, as `metric.py` scores it: `None`
/// for a rule to discard (one error rate zero, the other not), infinity for a perfect one.
fn rule_epsilon(fpr: f64, fnr: f64) -> Option<f64> {
    if fpr == 0.0 && fnr == 0.0 {
        return Some(f64::INFINITY);
    }
    if fpr == 0.0 || fnr == 0.0 {
        return None;
    }
    let candidates = [(1.0 - DELTA - fpr).ln() - fnr.ln(), (1.0 - DELTA - fnr).ln() - fpr.ln()];
    let best = candidates.iter().copied().filter(|v| !v.is_nan()).fold(f64::NAN, f64::max);
    (!best.is_nan()).then(|| best.max(0.0))
}

/// The per-example epsilon of the competition's `metric.py`: the best epsilon over a family of
/// single-threshold and double-threshold (band) attacks telling the samples of one side from
/// the other's, capped at [`EPSILON_CAP`]; the cap also when one side is "peaky" (its range
/// under 1% of the other's).
///
/// Departures, none of which changes a case of the tests: rates and logarithms in f64 (the
/// official code takes float32 rates), and an example no rule scores at all (both sides one
/// and the same constant, where the official code stops on an assertion) gets epsilon 0.
pub fn epsilon(unlearned: &[f64], retrained: &[f64]) -> f64 {
    let median = |v: &[f64]| {
        let mut s = v.to_vec();
        s.sort_by(f64::total_cmp);
        let m = s.len() / 2;
        if s.len() % 2 == 1 {
            s[m]
        } else {
            0.5 * (s[m - 1] + s[m])
        }
    };
    let (pos, neg) = if median(retrained) > median(unlearned) { (retrained, unlearned) } else { (unlearned, retrained) };
    let range = |v: &[f64]| v.iter().cloned().fold(f64::NEG_INFINITY, f64::max) - v.iter().cloned().fold(f64::INFINITY, f64::min);
    let (pos_range, neg_range) = (range(pos), range(neg));
    let (largest, smallest) = if pos_range > neg_range { (pos_range, neg_range) } else { (neg_range, pos_range) };
    // NaN (both ranges 0) is not below 1%, as in the official code
    if smallest / largest < 0.01 {
        return EPSILON_CAP;
    }
    let sorted = |v: &[f64]| {
        let mut s = v.to_vec();
        s.sort_by(f64::total_cmp);
        s
    };
    let (pos, neg) = (sorted(pos), sorted(neg));
    let best = double_threshold(&pos, &neg).max(single_threshold(&pos, &neg));
    if best.is_nan() {
        0.0
    } else {
        best.clamp(0.0, EPSILON_CAP)
    }
}

/// The error counts a family of rules reached, each pair once: `(false positives, false
/// negatives)` out of `negatives` and `positives` samples.
struct Rules {
    negatives: usize,
    positives: usize,
    seen: Vec<bool>,
}

impl Rules {
    fn new(negatives: usize, positives: usize) -> Self {
        Self { negatives, positives, seen: vec![false; (negatives + 1) * (positives + 1)] }
    }

    fn mark(&mut self, false_pos: usize, false_neg: usize) {
        self.seen[false_pos * (self.positives + 1) + false_neg] = true;
    }

    /// The best epsilon of the rules seen (NaN: every rule discarded).
    fn best(&self) -> f64 {
        let (nn, np) = (self.negatives as f64, self.positives as f64);
        (0..=self.negatives)
            .flat_map(|fp| (0..=self.positives).map(move |fne| (fp, fne)))
            .filter(|&(fp, fne)| self.seen[fp * (self.positives + 1) + fne])
            .filter_map(|(fp, fne)| rule_epsilon(fp as f64 / nn, fne as f64 / np))
            .fold(f64::NAN, f64::max)
    }
}

/// Single thresholds over the pooled range: "positive" when `value >= t`.
fn single_threshold(pos: &[f64], neg: &[f64]) -> f64 {
    let (lo, hi) = (pos[0].min(neg[0]), pos[pos.len() - 1].max(neg[neg.len() - 1]));
    let count = ((hi - lo) * THRESHOLDS_PER_UNIT).ceil() as usize;
    let mut rules = Rules::new(neg.len(), pos.len());
    for t in linspace(lo, hi, count) {
        rules.mark(neg.len() - below(neg, t), below(pos, t));
    }
    rules.best()
}

/// Bands `[left, right]` claiming the peakier side (the one of smaller range): a grid of right
/// edges, and for each a grid of left edges around `right - width`.
fn double_threshold(pos: &[f64], neg: &[f64]) -> f64 {
    let range = |v: &[f64]| v[v.len() - 1] - v[0];
    let (peaky, other) = if range(pos) >= range(neg) { (neg, pos) } else { (pos, neg) };
    let (buffer, width) = (2.0, range(peaky));
    let (min, max) = (peaky[0] + width - buffer, peaky[peaky.len() - 1] + buffer);
    let rights = ((max - min) * THRESHOLDS_PER_UNIT).ceil() as usize;
    let lefts = (2.0 * buffer * THRESHOLDS_PER_UNIT).ceil() as usize;
    let inside = |v: &[f64], l: f64, r: f64| at_most(v, r).saturating_sub(below(v, l));
    let mut rules = Rules::new(other.len(), peaky.len());
    for r in linspace(min, max, rights) {
        for l in linspace(r - width - buffer, r - width + buffer, lefts) {
            rules.mark(inside(other, l, r), peaky.len() - inside(peaky, l, r));
        }
    }
    rules.best()
}

/// Every example's epsilon: column x of each side.
pub fn epsilons(s: &Sides) -> Vec<f64> {
    let examples = s.unlearned.first().map_or(0, Vec::len);
    (0..examples)
        .map(|x| {
            let u: Vec<f64> = s.unlearned.iter().map(|m| m[x]).collect();
            let r: Vec<f64> = s.retrained.iter().map(|m| m[x]).collect();
            epsilon(&u, &r)
        })
        .collect()
}

/// The competition's forgetting quality F of per-example epsilons measured with `models`
/// unlearned models: buckets of width 0.5 up to `ceil(ln(models - 1))`, worth 1, 1/2, 1/4...;
/// an epsilon past the last bucket scores 0; F is the mean score. Its number of buckets grows
/// with `models`, so F at 32 models is not comparable with the competition's 512.
pub fn forgetting_quality(eps: &[f64], models: usize) -> f64 {
    if eps.is_empty() || models < 2 {
        return 0.0;
    }
    let max_epsilon = ((models - 1) as f64).ln().ceil();
    let buckets = (0..).map(|b| 0.5 * b as f64).take_while(|start| start + 0.5 <= max_epsilon).count();
    let score = |e: f64| (0..buckets).find(|&b| e < 0.5 * b as f64 + 0.5).map_or(0.0, |b| 0.5f64.powi(b as i32));
    eps.iter().map(|&e| score(e)).sum::<f64>() / eps.len() as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gauss(rng: &mut ChaCha8Rng) -> f64 {
        // Box-Muller
        let (u, v): (f64, f64) = (rng.random_range(1e-12..1.0), rng.random_range(0.0..1.0));
        (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
    }

    /// N models per side on `examples` examples: retrained phi = a per-example level + noise;
    /// unlearned = the same level + `shift` + noise, or with `one_model` the same level +
    /// `shift` + one draw of that noise per example, shared by every unlearned model (one
    /// original model copied N times, as "doing nothing" gives).
    fn sides(n: usize, examples: usize, shift: f64, one_model: bool, seed: u64) -> Sides {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let level: Vec<f64> = (0..examples).map(|_| 3.0 * gauss(&mut rng)).collect();
        let original: Vec<f64> = (0..examples).map(|x| level[x] + gauss(&mut rng)).collect();
        let retrained = (0..n).map(|_| (0..examples).map(|x| level[x] + gauss(&mut rng)).collect()).collect();
        let unlearned = (0..n)
            .map(|_| (0..examples).map(|x| shift + if one_model { original[x] } else { level[x] + gauss(&mut rng) }).collect())
            .collect();
        Sides { unlearned, retrained }
    }

    #[test]
    fn phi_is_the_logit_of_the_true_class_and_does_not_saturate() {
        let p = [0.7f64, 0.2, 0.1];
        let logits: Vec<f32> = p.iter().map(|v| (v.ln() + 3.0) as f32).collect();
        assert!((phi(&logits, 0) - (0.7f64 / 0.3).ln()).abs() < 1e-6);
        assert!((phi(&logits, 2) - (0.1f64 / 0.9).ln()).abs() < 1e-6);
        // a logit gap of 200: probabilities would underflow, phi is the gap
        assert!((phi(&[200.0, 0.0], 0) - 200.0).abs() < 1e-9 && (phi(&[200.0, 0.0], 1) + 200.0).abs() < 1e-9);
    }

    #[test]
    fn the_test_finds_a_shift_and_not_its_absence() {
        let same = lr_test(&sides(32, 100, 0.0, false, 1), 4, 300, 0).unwrap();
        assert!(same.auc_ci.low < 0.5 && 0.5 < same.auc_ci.high, "one distribution: {:?} {}", same.auc_ci, same.auc);
        let shifted = lr_test(&sides(32, 100, 1.0, false, 1), 4, 300, 0).unwrap();
        assert!(shifted.auc > 0.7 && shifted.auc_ci.low > 0.6, "{} {:?}", shifted.auc, shifted.auc_ci);
        assert!(shifted.balanced_accuracy > 0.6 && shifted.shift > 0.8, "{} {}", shifted.balanced_accuracy, shifted.shift);
        assert_eq!(shifted.fold[5], 1);
        // one model copied N times that memorized nothing: its own seed's offsets are no shift
        let copied = lr_test(&sides(32, 100, 0.0, true, 1), 4, 300, 0).unwrap();
        assert!(copied.auc_ci.low < 0.5 + MARGIN, "{} {:?}", copied.auc, copied.auc_ci);
        // ... and one that memorized is found
        let memorized = lr_test(&sides(32, 100, 1.5, true, 1), 4, 300, 0).unwrap();
        assert!(memorized.auc_ci.low > 0.6, "{} {:?}", memorized.auc, memorized.auc_ci);
        // deterministic: the same numbers again
        assert_eq!(lr_test(&sides(32, 100, 1.0, false, 1), 4, 300, 0).unwrap(), shifted);
    }

    #[test]
    fn the_test_refuses_what_it_cannot_judge() {
        let mut s = sides(4, 3, 0.0, false, 0);
        assert!(lr_test(&s, 8, 10, 0).is_err(), "more folds than models");
        s.unlearned[1][2] = f64::NAN;
        assert!(lr_test(&s, 2, 10, 0).unwrap_err().to_string().contains("not finite"));
        s.unlearned.pop();
        assert!(matches!(lr_test(&s, 2, 10, 0), Err(MetricError::LengthMismatch { .. })));
    }

    #[test]
    fn the_verdict_needs_power_to_say_indistinguishable() {
        let ci = |low, high| Interval { low, high };
        let with = |do_nothing| Controls { do_nothing, retrain: ci(0.46, 0.55) };
        assert_eq!(judge(ci(0.7, 0.8), with(ci(0.5, 0.6)), 40).0, Verdict::Distinguishable);
        assert_eq!(judge(ci(0.45, 0.54), with(ci(0.9, 1.0)), 40).0, Verdict::Indistinguishable);
        let (v, why) = judge(ci(0.45, 0.54), with(ci(0.48, 0.58)), 40);
        assert_eq!(v, Verdict::Inconclusive);
        assert!(why.contains("no power"), "{why}");
        let (v, why) = judge(ci(0.5, 0.62), with(ci(0.9, 1.0)), 40);
        assert_eq!(v, Verdict::Inconclusive);
        assert!(why.contains("straddles"), "{why}");
        let (v, why) = judge(ci(0.9, 1.0), with(ci(0.9, 1.0)), 3);
        assert_eq!(v, Verdict::Inconclusive, "three examples decide nothing");
        assert!(why.contains("too few audited examples"), "{why}");
    }

    #[test]
    fn a_retrain_control_away_from_one_half_withholds_every_verdict() {
        let ci = |low, high| Interval { low, high };
        // breast-cancer's full run: the retrain control at 0.380 [0.267, 0.499] (n_A = 14)
        for retrain in [ci(0.267, 0.499), ci(0.51, 0.6)] {
            let controls = Controls { do_nothing: ci(0.9, 1.0), retrain };
            for method in [ci(0.45, 0.54), ci(0.99, 1.0)] {
                let (v, why) = judge(method, controls, 40);
                assert_eq!(v, Verdict::Inconclusive, "{method:?} against {retrain:?}");
                assert!(why.contains("miscalibrated"), "{why}");
            }
        }
        // an interval that just covers 0.5 is calibrated
        let controls = Controls { do_nothing: ci(0.9, 1.0), retrain: ci(0.5, 0.56) };
        assert_eq!(judge(ci(0.45, 0.54), controls, 40).0, Verdict::Indistinguishable);
    }

    /// Cases worked out by hand from `metric.py`'s rules (google-deepmind/unlearning_evaluation).
    #[test]
    fn epsilon_matches_the_competitions_metric_on_cases_worked_by_hand() {
        // 1. Two samples of one distribution: every rule has fpr = 1 - fnr, so
        //    ln(1 - delta - fpr) - ln(fnr) < 0, clipped to 0.
        assert_eq!(epsilon(&[0.0, 1.0, 2.0, 3.0], &[0.0, 1.0, 2.0, 3.0]), 0.0);
        // 2. Overlap of one sample each way. Retrained has the larger median (4 vs 1.5), so it is
        //    the positive side. The best single threshold (t in (2.5, 3]) has tpr 3/4 and
        //    fpr 1/4; the best band (around [0, 2.6]) the same rates. No rule reaches fpr = fnr
        //    = 0, rules with one of them 0 are discarded, so
        //    epsilon = ln(1 - 1e-5 - 1/4) - ln(1/4).
        let e = epsilon(&[0.0, 1.0, 2.0, 3.0], &[2.5, 3.5, 4.5, 5.5]);
        assert!((e - ((0.75f64 - 1e-5).ln() - 0.25f64.ln())).abs() < 1e-12, "{e}");
        // 3. Perfect separation with comparable ranges: a threshold with fpr = fnr = 0, epsilon
        //    infinite, capped at 50.
        assert_eq!(epsilon(&[0.0, 1.0], &[5.0, 6.0]), EPSILON_CAP);
        // 4. A peaky side (range under 1% of the other's): the cap, whatever overlaps.
        assert_eq!(epsilon(&[1.0, 1.0, 1.001], &[0.0, 1.0, 2.0]), EPSILON_CAP);
        // 5. Both sides one constant: the official code stops on an assertion; ours says 0.
        assert_eq!(epsilon(&[2.0, 2.0], &[2.0, 2.0]), 0.0);
    }

    #[test]
    fn forgetting_quality_buckets_as_the_competition_does() {
        // N = 4: ceil(ln 3) = 2, buckets [0, .5), [.5, 1), [1, 1.5), [1.5, 2) worth 1, 1/2, 1/4,
        // 1/8
        let e = [0.0, 0.7, 1.0986, 1.6, 2.0, 50.0];
        assert_eq!(forgetting_quality(&e, 4), (1.0 + 0.5 + 0.25 + 0.125) / 6.0);
        // N = 32: ceil(ln 31) = 4, eight buckets; N = 16: ceil(ln 15) = 3, six
        assert_eq!(forgetting_quality(&[3.6], 32), 0.5f64.powi(7));
        assert_eq!(forgetting_quality(&[2.6], 16), 0.5f64.powi(5));
        assert_eq!(forgetting_quality(&[3.1], 16), 0.0);
        // N = 2: ln 1 = 0, no bucket at all
        assert_eq!(forgetting_quality(&[0.0], 2), 0.0);
    }

    #[test]
    fn epsilon_of_a_sample_against_itself_scores_full_quality() {
        let s = sides(16, 20, 0.0, false, 3);
        let same = Sides { unlearned: s.retrained.clone(), retrained: s.retrained.clone() };
        let eps = epsilons(&same);
        assert!(eps.iter().all(|&e| e == 0.0), "{eps:?}");
        assert_eq!(forgetting_quality(&eps, 16), 1.0);
    }
}
