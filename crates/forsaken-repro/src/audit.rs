//! The deletion audit against retraining (docs/audit.md), on the populations of
//! [`crate::population`]: per side (the two controls, then each method) the per-example
//! likelihood-ratio test on D_u and on a D_r sample, its verdict, the competition's epsilon and
//! F, the relearning of the median member, and distances to O and to retraining; one
//! [`AuditRecord`] each, its per-example numbers exported as CSV, and table T5.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::{Context as _, Result};
use serde::{Deserialize, Serialize};

use forsaken_data::Dataset;
use forsaken_metrics::audit::{epsilons, forgetting_quality, judge, lr_test, phi, Controls, LrTest, Sides, Verdict, EPSILON_CAP};
use forsaken_metrics::selectivity::Interval;
use forsaken_metrics::{FrCounts, RocPoint};
use forsaken_models::MembershipOracle;

use crate::identity::Identity;
use crate::io::write_atomic;
use crate::population::{log_softmax, AuditRows, AuditSettings, Deletion, Population, Stop, View, DO_NOTHING, RETRAIN_CONTROL};
use crate::report::Table;

/// The likelihood-ratio test in a record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TestSummary {
    /// AUC, unlearned = positive.
    pub auc: f64,
    /// 95% bootstrap interval.
    pub auc_low: f64,
    /// See `auc_low`.
    pub auc_high: f64,
    /// TPR at 1% FPR (with at least 100 retrained samples).
    pub tpr_at_1pct_fpr: Option<f64>,
    /// Held-out balanced accuracy at the training folds' threshold.
    pub balanced_accuracy: f64,
    /// Mean phi of the unlearned side minus the retrained side's.
    pub shift: f64,
}

impl TestSummary {
    fn of(t: &LrTest) -> Self {
        Self {
            auc: t.auc,
            auc_low: t.auc_ci.low,
            auc_high: t.auc_ci.high,
            tpr_at_1pct_fpr: t.tpr_at_1pct_fpr,
            balanced_accuracy: t.balanced_accuracy,
            shift: t.shift,
        }
    }

    /// The interval.
    pub fn ci(&self) -> Interval {
        Interval { low: self.auc_low, high: self.auc_high }
    }
}

/// The relearning attack on the median member of each side (docs/audit.md, section 4).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Relearning {
    /// Forget accuracy of the unlearned median over fine-tune epochs on D_r (epoch 0: before).
    pub unlearned: Vec<f64>,
    /// The same for the retrained median.
    pub retrained: Vec<f64>,
    /// The few-shot variant (D_r plus 10% of D_u), measured on the other 90%: unlearned.
    pub few_shot_unlearned: Vec<f64>,
    /// ... and retrained.
    pub few_shot_retrained: Vec<f64>,
    /// FR of the unlearned median under the reporting oracle on the audited rows, before and
    /// after the fine-tune on D_r.
    pub fr_before: Option<f64>,
    /// See `fr_before`.
    pub fr_after: Option<f64>,
}

impl Relearning {
    /// Forget accuracy of unlearned minus retrained, before the fine-tune.
    pub fn gap_before(&self) -> f64 {
        self.unlearned[0] - self.retrained[0]
    }
    /// ... and after it: the headline.
    pub fn gap_after(&self) -> f64 {
        self.unlearned.last().copied().unwrap_or(f64::NAN) - self.retrained.last().copied().unwrap_or(f64::NAN)
    }
    /// The few-shot variant's gap after.
    pub fn few_shot_gap_after(&self) -> f64 {
        self.few_shot_unlearned.last().copied().unwrap_or(f64::NAN) - self.few_shot_retrained.last().copied().unwrap_or(f64::NAN)
    }
}

/// The audit of one side of one deletion.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditRecord {
    /// Dataset id.
    pub dataset: String,
    /// Model family.
    pub model: String,
    /// Seed of the experiment.
    pub seed: u64,
    /// Forget set.
    pub forget: String,
    /// A method id, or a control (`retrain-control`, `do-nothing`).
    pub side: String,
    /// N.
    pub models: usize,
    /// n_A.
    pub examples: usize,
    /// Every unlearned model is the same one (deterministic, or doing nothing): its epsilon
    /// is the cap by construction.
    pub identical: bool,
    /// The strength a swept method ran at (its cell's matched strength).
    pub strength: Option<f64>,
    /// The test on the audited D_u rows.
    pub test: TestSummary,
    /// Its verdict...
    pub verdict: Verdict,
    /// ... and why.
    pub reason: String,
    /// The same test on as many D_r rows (retained privacy).
    pub retained: TestSummary,
    /// The competition's forgetting quality F at this N (not comparable with its 512 models).
    pub quality: f64,
    /// Examples whose epsilon is the cap.
    pub capped: usize,
    /// (RA_U / RA_R)(TA_U / TA_R), means over the populations.
    #[serde(deserialize_with = "crate::record::nan_if_null")]
    pub utility: f64,
    /// The relearning attack.
    pub relearning: Relearning,
    /// Mean L2 distance of the unlearned weights to O's...
    pub l2: f64,
    /// ... and of the retrained ones.
    pub l2_retrained: f64,
    /// Mean KL(R_j || U_j) on the audited D_u rows...
    pub kl_forget: f64,
    /// ... and test rows.
    pub kl_test: f64,
    /// Mean accuracy of the unlearned models on D_u, D_r and target_test.
    pub acc: [f64; 3],
    /// Seconds the side's population took (0 when cached).
    pub seconds: f64,
    /// The record's identity (its populations' keys and the audit settings).
    pub identity: Identity,
    /// Git commit (provenance).
    pub git_commit: String,
    /// Backend.
    pub backend: String,
}

/// One part of a view's outputs (the audited forget, retained or test rows).
type Part = fn(&View) -> &Vec<f32>;

/// phi of every member of `pop` on one part of the audited rows.
fn phi_matrix(pop: &Population, part: Part, rows: &[usize], data: &Dataset) -> Vec<Vec<f64>> {
    let c = data.num_classes;
    pop.views
        .iter()
        .map(|v| rows.iter().enumerate().map(|(k, &i)| phi(&part(v)[k * c..(k + 1) * c], data.labels[i] as usize)).collect())
        .collect()
}

fn mean(v: impl Iterator<Item = f64>) -> f64 {
    let (s, n) = v.fold((0.0, 0usize), |(s, n), x| (s + x, n + 1));
    s / n.max(1) as f64
}

/// Mean over pairs j and rows of KL(R_j || U_j), from the logits in f64.
fn kl(u: &Population, r: &Population, part: Part, classes: usize) -> f64 {
    let pair = |a: &[f32], b: &[f32]| {
        mean(a.chunks(classes).zip(b.chunks(classes)).map(|(zr, zu)| {
            let (lr, lu) = (log_softmax(zr), log_softmax(zu));
            lr.iter().zip(&lu).map(|(p, q)| p.exp() * (p - q)).sum::<f64>()
        }))
    };
    mean(r.views.iter().zip(&u.views).map(|(rv, uv)| pair(part(rv), part(uv))))
}

/// The reporting oracle's view of the relearning: the oracle and O's decisions on the audited
/// D_u rows.
pub struct Reporting<'a> {
    /// The oracle.
    pub oracle: &'a dyn MembershipOracle,
    /// O's decisions on `rows.forget`.
    pub before: Vec<bool>,
}

impl Reporting<'_> {
    fn fr(&self, v: &View, rows: &AuditRows, data: &Dataset) -> Option<f64> {
        let after = self.oracle.decide(&v.outputs(&v.forget, &rows.forget, data), &rows.forget).ok()?;
        FrCounts::from_decisions(&self.before, &after).ok()?.forgetting_rate().value()
    }
}

/// What [`assess`] computes besides the record: the per-example numbers behind it.
pub struct Evidence {
    /// The test on D_u (its held-out scores and ROC).
    pub test: LrTest,
    /// phi on the audited D_u rows, `[model][example]`.
    pub sides: Sides,
    /// Each audited example's epsilon.
    pub epsilons: Vec<f64>,
}

/// Where the record of a side stands in its deletion.
pub struct Context<'a> {
    /// The audit's settings.
    pub settings: &'a AuditSettings,
    /// The rows audited.
    pub rows: &'a AuditRows,
    /// The data.
    pub data: &'a Dataset,
    /// R_1..R_N.
    pub retrained: &'a Population,
    /// The controls' AUC intervals on D_u.
    pub controls: Controls,
    /// The reporting oracle, for FR before and after relearning.
    pub reporting: Option<Reporting<'a>>,
}

impl<'a> Context<'a> {
    /// The context of a deletion whose do-nothing and retrain-control populations are
    /// `nothing` and `control`: their tests come first, as every verdict reads them.
    pub fn new(
        settings: &'a AuditSettings,
        rows: &'a AuditRows,
        data: &'a Dataset,
        retrained: &'a Population,
        reporting: Option<Reporting<'a>>,
        [nothing, control]: [&Population; 2],
    ) -> Result<Self> {
        let ci = |side, u| forget_test(settings, rows, data, retrained, side, u).map(|(_, t)| t.auc_ci);
        let controls = Controls { do_nothing: ci(DO_NOTHING, nothing)?, retrain: ci(RETRAIN_CONTROL, control)? };
        Ok(Self { settings, rows, data, retrained, controls, reporting })
    }
}

/// A side's test seed, from its name.
fn side_seed(side: &str) -> u64 {
    side.bytes().fold(0u64, |h, b| h.wrapping_mul(31).wrapping_add(b as u64))
}

/// phi of `u` and of R on the audited D_u rows, and the test telling them apart.
fn forget_test(
    settings: &AuditSettings,
    rows: &AuditRows,
    data: &Dataset,
    r: &Population,
    side: &str,
    u: &Population,
) -> Result<(Sides, LrTest)> {
    let forget: Part = |v| &v.forget;
    let sides = Sides { unlearned: phi_matrix(u, forget, &rows.forget, data), retrained: phi_matrix(r, forget, &rows.forget, data) };
    let test = lr_test(&sides, settings.folds, settings.bootstrap, side_seed(side))?;
    Ok((sides, test))
}

/// Assess side `side` (population `u`) against R; the caller fills in the identity.
pub fn assess(cx: &Context, side: &str, u: &Population, identity: Identity) -> Result<(AuditRecord, Evidence)> {
    let (r, rows, data) = (cx.retrained, cx.rows, cx.data);
    let (forget, retained): (Part, Part) = (|v| &v.forget, |v| &v.retained);
    let (sides, test) = forget_test(cx.settings, rows, data, r, side, u)?;
    let on_retained =
        Sides { unlearned: phi_matrix(u, retained, &rows.retained, data), retrained: phi_matrix(r, retained, &rows.retained, data) };
    let retained_test = lr_test(&on_retained, cx.settings.folds, cx.settings.bootstrap, side_seed(side) ^ 1)?;
    let (verdict, reason) = judge(test.auc_ci, cx.controls, rows.forget.len());
    let eps = epsilons(&sides);
    let mean_of = |p: &Population, f: fn(&View) -> f64| mean(p.views.iter().map(f));
    let utility = (mean_of(u, |v| v.acc_retain) / mean_of(r, |v| v.acc_retain)) * (mean_of(u, |v| v.acc_test) / mean_of(r, |v| v.acc_test));
    let fr = |v: &View| cx.reporting.as_ref().and_then(|rep| rep.fr(v, rows, data));
    let relearning = Relearning {
        unlearned: u.relearned.curve.clone(),
        retrained: r.relearned.curve.clone(),
        few_shot_unlearned: u.relearned.few_shot_curve.clone(),
        few_shot_retrained: r.relearned.few_shot_curve.clone(),
        fr_before: fr(&u.views[u.relearned.member]),
        fr_after: fr(&u.relearned.retain_only),
    };
    let c = data.num_classes;
    let record = AuditRecord {
        dataset: String::new(),
        model: String::new(),
        seed: 0,
        forget: String::new(),
        side: side.to_string(),
        models: u.views.len(),
        examples: rows.forget.len(),
        identical: u.identical,
        strength: None,
        test: TestSummary::of(&test),
        verdict,
        reason,
        retained: TestSummary::of(&retained_test),
        quality: forgetting_quality(&eps, u.views.len()),
        capped: eps.iter().filter(|&&e| e >= EPSILON_CAP).count(),
        utility,
        relearning,
        l2: mean_of(u, |v| v.l2_to_original),
        l2_retrained: mean_of(r, |v| v.l2_to_original),
        kl_forget: kl(u, r, forget, c),
        kl_test: kl(u, r, |v: &View| &v.test, c),
        acc: [mean_of(u, |v| v.acc_forget), mean_of(u, |v| v.acc_retain), mean_of(u, |v| v.acc_test)],
        seconds: u.seconds,
        identity,
        git_commit: String::new(),
        backend: String::new(),
    };
    Ok((record, Evidence { test, sides, epsilons: eps }))
}

/// How one side's population is made.
pub enum Make<'a> {
    /// N more retrainings (made with R, as one stack).
    RetrainControl,
    /// O, N times.
    DoNothing,
    /// N runs of a method on O: its resolved settings, its strength when it was swept, its
    /// stopping rule when it stops on a target FR.
    Method {
        /// Resolved settings.
        settings: &'a serde_json::Value,
        /// Strength (`None`: the settings' own, or the stopping rule's).
        strength: Option<f64>,
        /// Stopping rule.
        stop: Option<Stop<'a>>,
    },
}

/// One side to audit: its name, how its population is made, its record's identity.
pub struct SideJob<'a> {
    /// `retrain-control`, `do-nothing` or a method id.
    pub side: String,
    /// How.
    pub make: Make<'a>,
    /// The record's identity.
    pub identity: Identity,
}

/// A side's result, and the seconds its population took to make (`None`: from the cache).
pub struct Audited {
    /// The record (dataset, seed, forget set, commit and backend filled in).
    pub record: AuditRecord,
    /// The numbers behind it.
    pub evidence: Evidence,
    /// Seconds of making its population (`None`: cached).
    pub made_in: Option<f64>,
}

/// Audit deletion `d`: the retrained populations, then each of `sides` in order, handed to
/// `each` as it is done; the two controls' tests come first, as every verdict reads them.
/// Returns the seconds the retrained populations took (`None`: cached).
pub fn run_deletion<B: burn::tensor::backend::AutodiffBackend>(
    d: &Deletion<'_, B>,
    reporting: Option<Reporting<'_>>,
    sides: Vec<SideJob<'_>>,
    commit: &str,
    each: &mut dyn FnMut(Audited) -> Result<()>,
) -> Result<Option<f64>> {
    let t = std::time::Instant::now();
    let (reference, control, cached) = d.retrained()?;
    let retrained_in = (!cached).then(|| t.elapsed().as_secs_f64());
    let nothing = d.do_nothing()?;
    let cx = Context::new(d.settings, &d.rows, &d.p.data, &reference, reporting, [&nothing, &control])?;
    for job in sides {
        let t = std::time::Instant::now();
        let (made, strength) = match job.make {
            Make::RetrainControl => ((control.clone(), true), None),
            Make::DoNothing => ((nothing.clone(), true), None),
            Make::Method { settings, strength, stop } => {
                let made = d.unlearned(&job.side, settings, strength, stop).with_context(|| format!("audit of {}", job.side))?;
                (made, strength)
            }
        };
        let (pop, cached) = made;
        let (mut record, evidence) = assess(&cx, &job.side, &pop, job.identity)?;
        let spec = &d.p.spec;
        (record.dataset, record.model, record.seed, record.forget) =
            (spec.dataset.clone(), format!("{:?}", spec.family).to_lowercase(), spec.seed, d.forget_name.clone());
        (record.strength, record.git_commit, record.backend) = (strength, commit.to_string(), d.backend.to_string());
        each(Audited { record, evidence, made_in: (!cached).then(|| t.elapsed().as_secs_f64()) })?;
    }
    Ok(retrained_in)
}

/// At most ~400 points of a ROC curve, kept where it moves by 0.5% or 5% of its FPR: the
/// exported curve stays faithful on the log-log plot and small in the repository.
fn thin(roc: &[RocPoint]) -> Vec<RocPoint> {
    let mut out: Vec<RocPoint> = Vec::new();
    for (i, p) in roc.iter().enumerate() {
        let keep = match out.last() {
            None => true,
            Some(l) => i + 1 == roc.len() || p.tpr - l.tpr >= 0.005 || p.fpr - l.fpr >= 0.005 || p.fpr >= 1.05 * l.fpr.max(1e-9),
        };
        if keep {
            out.push(*p);
        }
    }
    out
}

/// The exports of one side: `<stem>.csv` (per example: its row, its epsilon, phi under every
/// U_j and R_j, each column naming the model's fold) and `<stem>-roc.csv` (the test's ROC).
pub fn export(dir: &Path, stem: &str, rows: &AuditRows, ev: &Evidence) -> Result<()> {
    let n = ev.sides.unlearned.len();
    let mut csv = String::from("example,epsilon");
    for side in ["u", "r"] {
        for j in 0..n {
            write!(csv, ",{side}{j}_fold{}", ev.test.fold[j])?;
        }
    }
    csv.push('\n');
    for (x, &row) in rows.forget.iter().enumerate() {
        write!(csv, "{row},{}", ev.epsilons[x])?;
        for m in ev.sides.unlearned.iter().chain(&ev.sides.retrained) {
            write!(csv, ",{:.5}", m[x])?;
        }
        csv.push('\n');
    }
    write_atomic(&dir.join(format!("{stem}.csv")), csv.as_bytes())?;
    let mut roc = String::from("fpr,tpr\n");
    for p in thin(&ev.test.roc) {
        writeln!(roc, "{},{}", p.fpr, p.tpr)?;
    }
    write_atomic(&dir.join(format!("{stem}-roc.csv")), roc.as_bytes())
}

/// The file stem of a side's exports (a file forget set is named by its file; any character
/// a file name should not hold becomes `_`).
pub fn stem(r: &AuditRecord) -> String {
    // a file is named by its name and a hash of its path: two `forget.idx.txt` differ
    let forget = match r.forget.strip_prefix("file:") {
        Some(path) => {
            let name = Path::new(path).file_name().map_or(path.into(), |f| f.to_string_lossy());
            format!("file-{name}-{}", &crate::io::config_hash(&path)[..8])
        }
        None => r.forget.clone(),
    };
    let name = format!("{}-{}-s{}-{forget}-{}", r.dataset, r.model, r.seed, r.side);
    name.chars().map(|c| if c.is_ascii_alphanumeric() || "-_.%".contains(c) { c } else { '_' }).collect()
}

fn pct(v: f64) -> String {
    if v.is_nan() {
        "n/a".into()
    } else {
        format!("{:.1}", 100.0 * v)
    }
}

/// T5 (docs/audit.md, section 7): per dataset and side, controls first.
pub fn t5(audits: &[AuditRecord]) -> Table {
    let mut t = Table {
        header: [
            "dataset",
            "method",
            "LR-test AUC [95% CI]",
            "TPR@1%FPR",
            "verdict",
            "F (retrain control's F)",
            "retained-privacy AUC",
            "relearn gap after (before)",
            "few-shot gap after",
            "L2 to O / retrained's",
            "acc. on D_u",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect(),
        rows: vec![],
    };
    for r in audits {
        let control_f = audits
            .iter()
            .find(|c| c.side == RETRAIN_CONTROL && c.dataset == r.dataset && c.model == r.model && c.seed == r.seed && c.forget == r.forget)
            .map_or("?".into(), |c| format!("{:.3}", c.quality));
        let f = if r.identical { format!("{:.3} (cap: {} identical models)", r.quality, r.models) } else { format!("{:.3}", r.quality) };
        let name = match r.side.as_str() {
            RETRAIN_CONTROL => "retrain control".to_string(),
            DO_NOTHING => "do-nothing control".to_string(),
            m => r.strength.map_or(m.to_string(), |s| format!("{m} ({s})")),
        };
        t.rows.push(vec![
            format!("{} ({}, {}, N = {}, n_A = {})", r.dataset, r.model, r.forget, r.models, r.examples),
            name,
            format!("{:.3} [{:.3}, {:.3}]", r.test.auc, r.test.auc_low, r.test.auc_high),
            r.test.tpr_at_1pct_fpr.map_or("n/a".into(), pct),
            format!("**{}**", r.verdict),
            format!("{f} ({control_f})"),
            format!("{:.3} [{:.3}, {:.3}]", r.retained.auc, r.retained.auc_low, r.retained.auc_high),
            format!("{} ({})", pct(r.relearning.gap_after()), pct(r.relearning.gap_before())),
            pct(r.relearning.few_shot_gap_after()),
            format!("{:.2}", r.l2 / r.l2_retrained),
            pct(r.acc[0]),
        ]);
    }
    t
}
