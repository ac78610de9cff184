//! The report of a suite (docs/protocol.md, "Tables" and "Figures"): tables T1 to T4 as
//! CSV and Markdown under `tables/`, and `REPORT.md` with the setup, every table, links to the
//! figures and the check of the paper's three headline claims plus our selectivity check.
//!
//! Aggregation (mean and standard deviation over seeds) is the polars summary frame of
//! [`crate::tables::summary_frame`]; this module only picks rows and formats them.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use anyhow::Result;
use polars::prelude::*;

use forsaken_models::Role;

use crate::audit::AuditRecord;
use crate::io::write_atomic;
use crate::methods;
use crate::population::{DO_NOTHING, RETRAIN_CONTROL};
use crate::record::RunRecord;
use crate::suite::Suite;
use crate::tables::{f64_at, fmt_ms, str_at, summary_frame};
use forsaken_metrics::audit::Verdict;

/// A table: header and rows of formatted cells.
#[derive(Debug, Clone, Default)]
pub struct Table {
    /// Column names.
    pub header: Vec<String>,
    /// Rows.
    pub rows: Vec<Vec<String>>,
}

impl Table {
    fn new(header: &[&str]) -> Self {
        Self { header: header.iter().map(|s| s.to_string()).collect(), rows: vec![] }
    }

    /// GitHub Markdown.
    pub fn markdown(&self) -> String {
        let mut s = format!("| {} |\n|", self.header.join(" | "));
        for (i, _) in self.header.iter().enumerate() {
            s.push_str(if i < 2 { "---|" } else { "---:|" });
        }
        s.push('\n');
        for r in &self.rows {
            s.push_str(&format!("| {} |\n", r.join(" | ")));
        }
        s
    }

    /// CSV through a polars frame of string columns.
    pub fn csv(&self) -> Result<Vec<u8>> {
        let cols: Vec<Column> = self
            .header
            .iter()
            .enumerate()
            .map(|(j, h)| {
                Column::new(h.as_str().into(), self.rows.iter().map(|r| r.get(j).cloned().unwrap_or_default()).collect::<Vec<_>>())
            })
            .collect();
        let mut df = DataFrame::new(self.rows.len(), cols)?;
        let mut out = Vec::new();
        CsvWriter::new(&mut out).finish(&mut df)?;
        Ok(out)
    }
}

/// Rows of the summary frame by (dataset, model, forget, method).
struct Summary {
    df: DataFrame,
    index: BTreeMap<(String, String, String, String), usize>,
}

impl Summary {
    fn new(records: &[RunRecord]) -> Result<Self> {
        let df = summary_frame(records)?;
        let mut index = BTreeMap::new();
        for i in 0..df.height() {
            index.insert((str_at(&df, "dataset", i), str_at(&df, "model", i), str_at(&df, "forget", i), str_at(&df, "method", i)), i);
        }
        Ok(Self { df, index })
    }
    fn row(&self, g: &Group, method: &str) -> Option<usize> {
        self.index.get(&(g.dataset.clone(), g.model.clone(), g.forget.clone(), method.to_string())).copied()
    }
    fn mean(&self, g: &Group, method: &str, col: &str) -> Option<f64> {
        self.row(g, method).and_then(|i| f64_at(&self.df, col, i))
    }
    /// `mean ± std` (std only with several seeds), `n/a`, or `–` when the method has no row.
    fn cell(&self, g: &Group, method: &str, col: &str, digits: usize) -> String {
        self.row(g, method).map_or("–".into(), |i| fmt_ms(&self.df, col, i, digits))
    }
}

/// One dataset / model / forget set of a suite.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Group {
    dataset: String,
    model: String,
    forget: String,
}

fn groups(records: &[RunRecord], suite: &Suite, forget: Option<&str>) -> Vec<Group> {
    let order = |d: &str| suite.entries.iter().position(|e| e.dataset == d).unwrap_or(usize::MAX);
    let all = suite.all_forget_sets();
    let forder = |f: &str| all.iter().position(|x| x.to_string() == f).unwrap_or(usize::MAX);
    let mut g: Vec<Group> = records
        .iter()
        .filter(|r| forget.is_none_or(|f| r.forget == f))
        .map(|r| Group { dataset: r.dataset.clone(), model: r.model.clone(), forget: r.forget.clone() })
        .collect();
    g.sort_by_key(|x| (order(&x.dataset), x.model.clone(), forder(&x.forget)));
    g.dedup();
    g
}

/// The forget set of the headline tables and figures: 10% at random when the suite has it,
/// else its first.
pub(crate) fn headline_forget(suite: &Suite) -> String {
    suite.all_forget_sets().iter().map(|f| f.to_string()).find(|f| f == "random-10pct").unwrap_or_else(|| suite.forget[0].to_string())
}

/// Is the reporting oracle able to see membership on this group's original model?
fn oracle_sees(records: &[RunRecord], g: &Group, oracle: &str) -> Option<bool> {
    let aucs: Vec<f64> = records
        .iter()
        .filter(|r| r.dataset == g.dataset && r.model == g.model && r.forget == g.forget)
        .filter_map(|r| r.oracle_strength.get(oracle).map(|s| s.auc))
        .collect();
    (!aucs.is_empty()).then(|| aucs.iter().sum::<f64>() / aucs.len() as f64 >= forsaken_mia::WEAK_ORACLE_AUC)
}

/// One claim checked on the numbers.
#[derive(Debug, Clone)]
pub struct Claim {
    /// Method checked.
    pub method: String,
    /// What is claimed.
    pub claim: String,
    /// Met or not (`None`: not measurable, e.g. no dataset where the oracle sees membership).
    pub met: Option<bool>,
    /// The numbers behind the verdict.
    pub evidence: String,
}

/// The methods of the headline tables (T1, T4): the masking methods beside the reference and the
/// data-free control, in that order.
fn headline_methods() -> Vec<&'static str> {
    methods::with_roles(&[Role::Masking, Role::Reference, Role::Control])
}

/// T1's header.
const T1_HEADER: [&str; 10] =
    ["dataset", "method", "FR", "FR on retained", "selectivity", "test acc before", "test acc after", "acc loss", "seconds", "speed-up"];

/// T1's summary columns after dataset and method, with the digits of a method's cell (the
/// average rows print two digits everywhere).
fn t1_columns(rep: &str) -> [(String, usize); 8] {
    [
        (format!("fr.{rep}"), 1),
        (format!("fr_retained.{rep}"), 1),
        (format!("selectivity.{rep}"), 2),
        ("orig_test_acc".into(), 1),
        ("acc_test".into(), 1),
        ("acc_loss".into(), 1),
        ("seconds".into(), 2),
        ("speedup".into(), 1),
    ]
}

/// T1, the headline table, and the claims checked on it.
pub fn t1(records: &[RunRecord], suite: &Suite) -> Result<(Table, Vec<Claim>)> {
    let h = Headline::new(records, suite)?;
    let mut t = Table::new(&T1_HEADER);
    t.rows = h.method_rows();
    let mut claims = Vec::new();
    for m in methods::with_roles(&[Role::Masking]) {
        let have = h.groups_with(m);
        if have.is_empty() {
            continue;
        }
        t.rows.push(h.average_row(&have, m));
        claims.extend(h.claims(&have, m));
    }
    Ok((t, claims))
}

/// An average as a claim's evidence prints it: one decimal and its unit, or `n/a` when no
/// dataset defines it (never a NaN in REPORT.md); with the number of datasets averaged.
fn evidence_average(avg: Option<(f64, usize)>, unit: &str) -> (String, usize) {
    avg.map_or(("n/a".into(), 0), |(v, n)| (format!("{v:.1}{unit}"), n))
}

/// What T1's rows and claims read: the summary frame, the groups of the headline forget set,
/// and the reporting oracle.
struct Headline<'a> {
    records: &'a [RunRecord],
    s: Summary,
    groups: Vec<Group>,
    rep: &'a str,
}

impl<'a> Headline<'a> {
    fn new(records: &'a [RunRecord], suite: &'a Suite) -> Result<Self> {
        let groups = groups(records, suite, Some(&headline_forget(suite)));
        Ok(Self { records, s: Summary::new(records)?, groups, rep: &suite.reporting_oracle })
    }

    /// One row per group and headline method that has results; a group whose reporting
    /// oracle cannot see membership is flagged ⚠.
    fn method_rows(&self) -> Vec<Vec<String>> {
        let mut rows = Vec::new();
        for g in &self.groups {
            let weak = if oracle_sees(self.records, g, self.rep) == Some(false) { " ⚠" } else { "" };
            for m in headline_methods() {
                if self.s.row(g, m).is_none() {
                    continue;
                }
                let mut row = vec![format!("{} ({}){weak}", g.dataset, g.model), m.into()];
                row.extend(t1_columns(self.rep).iter().map(|(col, digits)| self.s.cell(g, m, col, *digits)));
                rows.push(row);
            }
        }
        rows
    }

    /// The groups where method `m` has results.
    fn groups_with(&self, m: &str) -> Vec<&Group> {
        self.groups.iter().filter(|g| self.s.row(g, m).is_some()).collect()
    }

    /// Mean of `col` for method `m` over the groups where it is defined, and their number.
    fn average(&self, have: &[&Group], m: &str, col: &str) -> Option<(f64, usize)> {
        let v: Vec<f64> = have.iter().filter_map(|g| self.s.mean(g, m, col)).collect();
        (!v.is_empty()).then(|| (v.iter().sum::<f64>() / v.len() as f64, v.len()))
    }

    /// The average row of method `m`; a column defined on fewer groups says on how many.
    fn average_row(&self, have: &[&Group], m: &str) -> Vec<String> {
        let mut row = vec![format!("average over {} datasets", have.len()), m.to_string()];
        for (col, _) in t1_columns(self.rep) {
            row.push(self.average(have, m, &col).map_or("n/a".into(), |(v, n)| {
                if n < have.len() {
                    format!("{v:.2} (of {n})")
                } else {
                    format!("{v:.2}")
                }
            }));
        }
        row
    }

    /// The paper's three claims and our selectivity check, for masking method `m`.
    fn claims(&self, have: &[&Group], m: &str) -> Vec<Claim> {
        vec![self.fr_claim(have, m), self.loss_claim(have, m), self.speed_claim(have, m), self.selectivity_claim(have, m)]
    }

    fn fr_claim(&self, have: &[&Group], m: &str) -> Claim {
        let rep = self.rep;
        let avg = self.average(have, m, &format!("fr.{rep}"));
        let (fr_avg, fr_n) = evidence_average(avg, "%");
        Claim {
            method: m.into(),
            claim: "average FR > 90% (paper)".into(),
            met: avg.map(|(v, _)| v > 90.0),
            evidence: format!("average FR under `{rep}` {fr_avg} over {fr_n} datasets with a defined FR"),
        }
    }

    fn loss_claim(&self, have: &[&Group], m: &str) -> Claim {
        let avg = self.average(have, m, "acc_loss");
        let (loss, n) = evidence_average(avg, " points");
        Claim {
            method: m.into(),
            claim: "average accuracy loss < 5 points (paper)".into(),
            met: avg.map(|(v, _)| v < 5.0),
            evidence: format!("average test-accuracy loss {loss} over {n} datasets"),
        }
    }

    /// Faster than retraining on every group with a speed-up; the slower ones are named.
    fn speed_claim(&self, have: &[&Group], m: &str) -> Claim {
        let faster: Vec<(String, f64)> = have.iter().filter_map(|g| self.s.mean(g, m, "speedup").map(|v| (g.dataset.clone(), v))).collect();
        let nfast = faster.iter().filter(|(_, v)| *v > 1.0).count();
        let slow: Vec<String> = faster.iter().filter(|(_, v)| *v <= 1.0).map(|(d, v)| format!("{d} {v:.2}x")).collect();
        Claim {
            method: m.into(),
            claim: "faster than retraining (paper)".into(),
            met: (!faster.is_empty()).then_some(nfast == faster.len()),
            evidence: format!(
                "faster on {nfast} of {} datasets{}",
                faster.len(),
                if slow.is_empty() { String::new() } else { format!(" (not on: {})", slow.join(", ")) }
            ),
        }
    }

    /// Selectivity >= 0.5 on every group whose reporting oracle sees membership (the others'
    /// FR is noise, so they are left out).
    fn selectivity_claim(&self, have: &[&Group], m: &str) -> Claim {
        let (s, rep) = (&self.s, self.rep);
        let sel = format!("selectivity.{rep}");
        let seeing: Vec<&&Group> = have.iter().filter(|g| oracle_sees(self.records, g, rep) == Some(true)).collect();
        let sel_ok: Vec<String> =
            seeing.iter().filter(|g| s.mean(g, m, &sel).is_some_and(|v| v >= 0.5)).map(|g| g.dataset.clone()).collect();
        let sel_vals: Vec<String> =
            seeing.iter().map(|g| format!("{} {}", g.dataset, s.mean(g, m, &sel).map_or("n/a".into(), |v| format!("{v:.2}")))).collect();
        Claim {
            method: m.into(),
            claim: "selective: selectivity >= 0.5 where the oracle sees membership (ours, docs/method.md, Selectivity)".into(),
            met: (!seeing.is_empty()).then_some(sel_ok.len() == seeing.len()),
            evidence: format!(
                "{} of {} datasets whose `{rep}` AUC >= {} ({})",
                sel_ok.len(),
                seeing.len(),
                forsaken_mia::WEAK_ORACLE_AUC,
                sel_vals.join(", ")
            ),
        }
    }
}

/// T2: every method at matched FR (the weakest swept strength reaching the target under the
/// stopping oracle), per dataset.
pub fn t2(records: &[RunRecord], suite: &Suite) -> Result<Table> {
    let s = Summary::new(records)?;
    let stop = format!("fr.{}", suite.stopping_oracle);
    let mut t = Table::new(&[
        "dataset",
        "method",
        "strength",
        &format!("FR({})", suite.stopping_oracle),
        "reached",
        &format!("FR({})", suite.reporting_oracle),
        "acc loss",
        "seconds",
        "speed-up",
        "gap to retrain",
    ]);
    for g in groups(records, suite, Some(&headline_forget(suite))) {
        for m in &suite.methods {
            if s.row(&g, m).is_none() {
                continue;
            }
            let reached = match s.mean(&g, m, &stop) {
                _ if matches!(methods::role(m), Some(Role::Reference | Role::Exact)) => "exact".into(),
                Some(v) if v >= 100.0 * suite.target_fr => "yes".into(),
                Some(_) => "not reached".into(),
                None => "n/a".into(),
            };
            t.rows.push(vec![
                format!("{} ({})", g.dataset, g.model),
                m.clone(),
                s.cell(&g, m, "strength", 2),
                s.cell(&g, m, &stop, 1),
                reached,
                s.cell(&g, m, &format!("fr.{}", suite.reporting_oracle), 1),
                s.cell(&g, m, "acc_loss", 1),
                s.cell(&g, m, "seconds", 2),
                s.cell(&g, m, "speedup", 1),
                s.cell(&g, m, "gap_retrain", 1),
            ]);
        }
    }
    Ok(t)
}

/// T3: FR of the masking methods and retrain under each oracle, with each oracle's strength.
pub fn t3(records: &[RunRecord], suite: &Suite) -> Result<Table> {
    let s = Summary::new(records)?;
    // FR of the masking methods and the reference, selectivity of the masking methods
    let masking = methods::with_roles(&[Role::Masking]);
    let fr_of = methods::with_roles(&[Role::Masking, Role::Reference]);
    let mut header: Vec<String> = ["dataset", "oracle", "AUC", "TPR@1%FPR"].map(String::from).to_vec();
    header.extend(fr_of.iter().map(|m| format!("FR {m}")));
    header.extend(masking.iter().map(|m| format!("selectivity {m}")));
    let mut t = Table::new(&header.iter().map(String::as_str).collect::<Vec<_>>());
    for g in groups(records, suite, Some(&headline_forget(suite))) {
        let any = methods::with_roles(&[Role::Reference, Role::Masking])
            .into_iter()
            .find(|m| s.row(&g, m).is_some())
            .unwrap_or(methods::reference());
        for id in forsaken_mia::oracle_ids() {
            if s.mean(&g, any, &format!("oracle_auc.{id}")).is_none() {
                continue;
            }
            let mut row = vec![
                format!("{} ({})", g.dataset, g.model),
                id.to_string(),
                s.cell(&g, any, &format!("oracle_auc.{id}"), 3),
                s.cell(&g, any, &format!("oracle_tpr_1pct.{id}"), 1),
            ];
            row.extend(fr_of.iter().map(|m| s.cell(&g, m, &format!("fr.{id}"), 1)));
            row.extend(masking.iter().map(|m| s.cell(&g, m, &format!("selectivity.{id}"), 2)));
            t.rows.push(row);
        }
    }
    Ok(t)
}

/// T4: FR and accuracy loss by forget set (1%, 10%, 20%, one class).
pub fn t4(records: &[RunRecord], suite: &Suite) -> Result<Table> {
    let s = Summary::new(records)?;
    let rep = &suite.reporting_oracle;
    let mut t = Table::new(&["dataset", "forget set", "n forget", "method", "FR", "FR on retained", "selectivity", "acc loss", "speed-up"]);
    for g in groups(records, suite, None) {
        for m in headline_methods() {
            if s.row(&g, m).is_none() {
                continue;
            }
            t.rows.push(vec![
                format!("{} ({})", g.dataset, g.model),
                g.forget.clone(),
                s.cell(&g, m, "n_forget", 0),
                m.into(),
                s.cell(&g, m, &format!("fr.{rep}"), 1),
                s.cell(&g, m, &format!("fr_retained.{rep}"), 1),
                s.cell(&g, m, &format!("selectivity.{rep}"), 2),
                s.cell(&g, m, "acc_loss", 1),
                s.cell(&g, m, "speedup", 1),
            ]);
        }
    }
    Ok(t)
}

/// One `reproduce` invocation that computed records, as kept in `timing.json` beside
/// `runs.jsonl`: the report's wall time and stage timings survive a later invocation that only
/// re-renders the tables and figures (all records cached), and an interrupted run that was
/// resumed shows each of its parts.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Invocation {
    /// Wall time, seconds.
    pub wall_seconds: f64,
    /// Parallel jobs.
    pub jobs: usize,
    /// Records it computed.
    pub records_computed: usize,
    /// Trained models it loaded from the cache instead of training them (targets and shadow
    /// models): 0 for a run from an empty cache.
    pub models_from_cache: usize,
    /// Stage timings (`stage`, seconds, count) of what it computed.
    pub stages: Vec<(String, f64, usize)>,
    /// Code commit.
    pub git_commit: String,
}

/// Facts about the run for the report's setup section: the invocations that computed the
/// records (oldest first).
#[derive(Debug, Clone, Default)]
pub struct RunFacts {
    /// See [`Invocation`].
    pub invocations: Vec<Invocation>,
}

impl RunFacts {
    /// Stage timings summed over the invocations, slowest first.
    pub fn stages(&self) -> Vec<(String, f64, usize)> {
        let mut sum: std::collections::BTreeMap<String, (f64, usize)> = std::collections::BTreeMap::new();
        for inv in &self.invocations {
            for (st, secs, n) in &inv.stages {
                let e = sum.entry(st.clone()).or_insert((0.0, 0));
                e.0 += secs;
                e.1 += n;
            }
        }
        stage_rows(&sum)
    }
}

/// Stage timings (`stage` -> seconds, count) as rows, slowest first.
pub(crate) fn stage_rows(stages: &std::collections::BTreeMap<String, (f64, usize)>) -> Vec<(String, f64, usize)> {
    let mut rows: Vec<(String, f64, usize)> = stages.iter().map(|(k, (s, n))| (k.clone(), *s, *n)).collect();
    rows.sort_by(|a, b| b.1.total_cmp(&a.1));
    rows
}

fn cache_note(models: usize) -> String {
    if models == 0 {
        "no trained model loaded from a cache".to_string()
    } else {
        format!("{models} trained model(s) loaded from the cache")
    }
}

/// The CPU's model name (Linux), for the report's setup line.
fn cpu_model() -> Option<String> {
    let info = std::fs::read_to_string("/proc/cpuinfo").ok()?;
    info.lines().find_map(|l| l.strip_prefix("model name").and_then(|r| r.split_once(':')).map(|(_, v)| v.trim().to_string()))
}

/// A table of the report: file stem under `tables/`, section title, the table.
type NamedTable = (&'static str, &'static str, Table);

/// T1 to T4 with their file stems and titles, and the claims checked on T1.
fn report_tables(records: &[RunRecord], suite: &Suite) -> Result<(Vec<NamedTable>, Vec<Claim>)> {
    let (t1, claims) = t1(records, suite)?;
    let tables = vec![
        ("T1_headline", "T1. Headline: the masking methods beside retrain and the data-free `scale` control", t1),
        ("T2_matched_fr", "T2. Every method at matched forgetting rate", t2(records, suite)?),
        ("T3_oracles", "T3. Each oracle: its strength on the original model, and FR after unlearning", t3(records, suite)?),
        ("T4_forget_size", "T4. Forget-set size: 1%, 10%, 20% and one class", t4(records, suite)?),
    ];
    Ok((tables, claims))
}

/// Each table as `tables/<stem>.csv` and `tables/<stem>.md` under `dir`.
fn write_tables(dir: &Path, tables: &[NamedTable]) -> Result<()> {
    for (name, _, t) in tables {
        write_atomic(&dir.join("tables").join(format!("{name}.csv")), &t.csv()?)?;
        write_atomic(&dir.join("tables").join(format!("{name}.md")), t.markdown().as_bytes())?;
    }
    Ok(())
}

/// Write `tables/T*.{csv,md}` and `REPORT.md` under `dir` (figures are linked, drawn elsewhere).
pub fn write_report(records: &[RunRecord], audits: &[AuditRecord], suite: &Suite, dir: &Path, facts: &RunFacts) -> Result<()> {
    if records.is_empty() {
        anyhow::bail!("no run records to report in {}", dir.display());
    }
    let (mut tables, mut claims) = report_tables(records, suite)?;
    if !audits.is_empty() {
        tables.push(("T5_audit", "T5. The deletion audit against retraining (docs/audit.md)", crate::audit::t5(audits)));
        claims.extend(audit_claims(audits));
    }
    write_tables(dir, &tables)?;
    let mut md = String::new();
    write_intro(&mut md, records, suite)?;
    write_setup(&mut md, records, suite, facts)?;
    write_original_models(&mut md, records, &suite.reporting_oracle)?;
    if let Some(notes) = &suite.notes {
        writeln!(md, "\n### What this suite changes, and why\n\n{}", notes.trim())?;
    }
    write_stages(&mut md, &facts.stages())?;
    write_claims(&mut md, &claims, &suite.reporting_oracle)?;
    for (name, title, t) in &tables {
        writeln!(md, "## {title}\n\n[CSV](tables/{name}.csv)\n")?;
        if *name == "T5_audit" {
            write_audit_intro(&mut md, audits, facts, suite)?;
        }
        writeln!(md, "{}", t.markdown())?;
    }
    write_figure_links(&mut md, !audits.is_empty())?;
    writeln!(md, "\nStop reasons of every record are listed at the end of [summary.md](summary.md).")?;
    write_atomic(&dir.join("REPORT.md"), md.as_bytes())?;
    Ok(())
}

/// The report's title and where its numbers come from.
fn write_intro(md: &mut String, records: &[RunRecord], suite: &Suite) -> std::fmt::Result {
    writeln!(md, "# Reproduction report: suite `{}`\n", suite.name)?;
    writeln!(
        md,
        "Generated by `cargo xtask reproduce` from `runs.jsonl` ({} records). Every number comes from running the code at \
         commit `{}`; this is **our setup** (`docs/protocol.md`, `docs/method.md`), not the paper's tables, which are not available to \
         this project.\n",
        records.len(),
        records[0].git_commit
    )
}

/// The setup list: code, machine, wall time, seeds and forget sets, oracles.
fn write_setup(md: &mut String, records: &[RunRecord], suite: &Suite, facts: &RunFacts) -> std::fmt::Result {
    let r0 = &records[0];
    writeln!(md, "## Setup\n")?;
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    writeln!(
        md,
        "* code: forsaken {} at commit `{}`, burn 0.21.0, backend `{}`, `{}` profile",
        env!("CARGO_PKG_VERSION"),
        r0.git_commit,
        r0.backend,
        r0.profile
    )?;
    let mut codes: BTreeMap<String, usize> = BTreeMap::new();
    for r in records {
        *codes.entry(r.identity.as_ref().map_or("(none)".into(), |i| i.code.clone())).or_insert(0) += 1;
    }
    if codes.len() > 1 {
        // only a merge with --allow-mixed joins records of different code
        let list: Vec<String> = codes.iter().map(|(c, n)| format!("`{c}` ({n} records)")).collect();
        writeln!(md, "* **mixed code**: the records come from {} code identities: {}", codes.len(), list.join(", "))?;
    }
    writeln!(
        md,
        "* machine: {}{} CPU cores visible, {} {}",
        cpu_model().map(|m| format!("{m}, ")).unwrap_or_default(),
        cores,
        std::env::consts::OS,
        std::env::consts::ARCH
    )?;
    if let Some(line) = wall_time_line(&facts.invocations) {
        writeln!(md, "{line}")?;
    }
    writeln!(
        md,
        "* seeds: {:?}; forget sets: {}",
        suite.seeds,
        suite.all_forget_sets().iter().map(|f| f.canonical()).collect::<Vec<_>>().join(", ")
    )?;
    writeln!(
        md,
        "* stopping oracle `{}` (methods that stop, and the strength search), reporting oracle `{}`; target FR {:.0}%",
        suite.stopping_oracle,
        suite.reporting_oracle,
        100.0 * suite.target_fr
    )
}

/// The setup's wall-time line: one invocation, or each part of a resumed run (none: no line).
fn wall_time_line(invs: &[Invocation]) -> Option<String> {
    match invs {
        [] => None,
        [inv] => Some(format!(
            "* wall time: {:.1} min with {} parallel job(s), one `reproduce` run that computed {} record(s); {}",
            inv.wall_seconds / 60.0,
            inv.jobs.max(1),
            inv.records_computed,
            cache_note(inv.models_from_cache)
        )),
        invs => {
            let total: f64 = invs.iter().map(|i| i.wall_seconds).sum();
            let parts: Vec<String> = invs
                .iter()
                .map(|i| {
                    format!(
                        "{:.1} min, {} job(s), {} record(s), {}",
                        i.wall_seconds / 60.0,
                        i.jobs.max(1),
                        i.records_computed,
                        cache_note(i.models_from_cache)
                    )
                })
                .collect();
            Some(format!(
                "* wall time: {:.1} min over {} `reproduce` runs (an interrupted run resumed): {}",
                total / 60.0,
                invs.len(),
                parts.join("; ")
            ))
        }
    }
}

/// The table of original models, one row per dataset and model.
fn write_original_models(md: &mut String, records: &[RunRecord], reporting: &str) -> std::fmt::Result {
    writeln!(
        md,
        "\nThe original models, over seeds (lowest train accuracy; mean test accuracy; the reporting oracle's AUC on \
         target_train vs target_test, lowest and mean):\n\n| dataset | model | target_train | target_test | epochs | early stop \
         | train acc (min) | test acc (mean) | `{}` AUC (min / mean) |\n|---|---|---:|---:|---:|---:|---:|---:|---:|",
        reporting
    )?;
    for (dataset, model) in crate::record::dataset_models(records) {
        let rs: Vec<&RunRecord> = records.iter().filter(|r| r.dataset == dataset && r.model == model).collect();
        writeln!(md, "{}", original_model_row(&rs, reporting))?;
    }
    Ok(())
}

/// One dataset and model's row of the original-models table (`rs`: its records, not empty).
fn original_model_row(rs: &[&RunRecord], reporting: &str) -> String {
    let r = rs[0];
    let ep = r.config.pointer("/experiment/recipe/epochs").and_then(|v| v.as_u64()).unwrap_or(0);
    let stop = r.config.pointer("/experiment/recipe/early_stop_acc").and_then(|v| v.as_f64());
    let vals = per_seed_originals(rs, reporting);
    let n = vals.len() as f64;
    let train_min = vals.iter().map(|v| v.0).fold(f64::INFINITY, f64::min);
    let test_mean = vals.iter().map(|v| v.1).sum::<f64>() / n;
    let aucs: Vec<f64> = vals.iter().filter_map(|v| v.2).collect();
    let auc = if aucs.is_empty() {
        "–".to_string()
    } else {
        format!("{:.3} / {:.3}", aucs.iter().copied().fold(f64::INFINITY, f64::min), aucs.iter().sum::<f64>() / aucs.len() as f64)
    };
    format!(
        "| {} | {} | {} | {} | {ep} | {} | {:.1} | {:.1} | {auc} |",
        r.dataset,
        r.model,
        r.n_train,
        r.n_test,
        stop.map_or("–".to_string(), |a| format!("{:.0}%", 100.0 * a)),
        100.0 * train_min,
        100.0 * test_mean
    )
}

/// The original model's train accuracy, test accuracy and reporting-oracle AUC, once per seed
/// (the original model does not depend on the forget set or method), by seed.
fn per_seed_originals(rs: &[&RunRecord], reporting: &str) -> Vec<(f64, f64, Option<f64>)> {
    let mut per_seed: BTreeMap<u64, (f64, f64, Option<f64>)> = BTreeMap::new();
    for r in rs {
        let auc = r.oracle_strength.get(reporting).map(|s| s.auc);
        per_seed.entry(r.seed).or_insert((r.orig_acc_train, r.orig_acc_test, auc));
    }
    per_seed.into_values().collect()
}

/// Where the time went, when the run kept stage timings.
fn write_stages(md: &mut String, stages: &[(String, f64, usize)]) -> std::fmt::Result {
    if stages.is_empty() {
        return Ok(());
    }
    writeln!(
        md,
        "\nWhere the time went (the runs that computed these records; stages loaded from a cache are not counted; with \
         parallel jobs, stage seconds add up to more than the wall time):\n\n| stage | runs | seconds |\n|---|---:|---:|"
    )?;
    for (st, secs, n) in stages {
        writeln!(md, "| {st} | {n} | {secs:.1} |")?;
    }
    Ok(())
}

/// The claims section: what is checked, the verdicts, and how to read the FR numbers.
fn write_claims(md: &mut String, claims: &[Claim], reporting: &str) -> std::fmt::Result {
    writeln!(md, "\n## The claims, checked\n")?;
    writeln!(
        md,
        "The paper claims (abstract) an average forgetting rate above 90% over its eight datasets at under 5 points of \
         accuracy loss, faster than retraining. We add a fourth check (`docs/method.md`, \"Selectivity\"): is the forgetting **selective** \
         (selectivity >= 0.5 on the datasets whose reporting oracle can see membership, AUC >= {})? Under `{}`:\n",
        forsaken_mia::WEAK_ORACLE_AUC,
        reporting
    )?;
    writeln!(md, "| method | claim | verdict | numbers |\n|---|---|---|---|")?;
    for c in claims {
        writeln!(md, "| {} | {} | {} | {} |", c.method, c.claim, verdict(c.met), c.evidence)?;
    }
    writeln!(
        md,
        "\nRead every FR beside retrain's (the exact answer does not reach 100%: a model that generalizes still recognizes \
         unseen samples) and beside `scale`, which multiplies the last hidden layer by one factor without reading any data: a \
         method no more selective than `scale` has not forgotten D_u in particular. Rows marked ⚠ have a reporting oracle \
         with AUC < {} on the original model; their FR is noise.\n",
        forsaken_mia::WEAK_ORACLE_AUC
    )
}

fn verdict(met: Option<bool>) -> &'static str {
    match met {
        Some(true) => "**met**",
        Some(false) => "**missed**",
        None => "not measurable",
    }
}

/// The claims check's row "indistinguishable from retraining" per audited method: met when
/// every audited deletion says so, missed when one is distinguishable, else not measurable.
fn audit_claims(audits: &[AuditRecord]) -> Vec<Claim> {
    let mut methods: Vec<&str> = audits.iter().map(|r| r.side.as_str()).filter(|s| ![RETRAIN_CONTROL, DO_NOTHING].contains(s)).collect();
    methods.dedup();
    methods.sort_by_key(|m| methods::rank(m));
    methods.dedup();
    methods
        .into_iter()
        .map(|m| {
            let rs: Vec<&AuditRecord> = audits.iter().filter(|r| r.side == m).collect();
            let met = if rs.iter().any(|r| r.verdict == Verdict::Distinguishable) {
                Some(false)
            } else if rs.iter().all(|r| r.verdict == Verdict::Indistinguishable) {
                Some(true)
            } else {
                None
            };
            let each: Vec<String> = rs
                .iter()
                .map(|r| format!("{}: {} (AUC {:.3} [{:.3}, {:.3}])", r.dataset, r.verdict, r.test.auc, r.test.auc_low, r.test.auc_high))
                .collect();
            Claim {
                method: m.to_string(),
                claim: "indistinguishable from retraining (ours, docs/audit.md)".into(),
                met,
                evidence: each.join("; "),
            }
        })
        .collect()
}

/// What T5 measures, in plain words, with its N, n_A and cost.
fn write_audit_intro(md: &mut String, audits: &[AuditRecord], facts: &RunFacts, suite: &Suite) -> std::fmt::Result {
    let audit_secs: f64 = facts.stages().iter().filter(|(st, _, _)| st.starts_with("audit:")).map(|(_, s, _)| s).sum();
    let (a, n) = (&audits[0], audits[0].models);
    let (lo, hi) = audits.iter().fold((usize::MAX, 0), |(lo, hi), r| (lo.min(r.examples), hi.max(r.examples)));
    let n_a = if lo == hi { format!("{hi}") } else { format!("{lo} to {hi}") };
    writeln!(
        md,
        "One deletion per dataset (seed {}, forget set {}), audited as the NeurIPS 2023 unlearning competition does: N \
         models retrained without D_u against N runs of each method on the one original model, per example. **N = {n} \
         models per side, n_A = {n_a} audited examples of D_u (min(|D_u|, 200); as many of D_r); making the \
         audit's populations took {:.1} min** of compute (summed over jobs; nothing when cached).\n",
        a.seed,
        a.forget,
        audit_secs / 60.0
    )?;
    if let Some(notes) = suite.audit.as_ref().and_then(|a| a.notes.as_ref()) {
        writeln!(md, "{}\n", notes.trim())?;
    }
    let epochs = a.relearning.unlearned.len().saturating_sub(1);
    for line in [
        "* **LR-test AUC**: a likelihood-ratio test per example (U-LiRA's statistic: phi, the logit of the true class's \
         confidence) scores each held-out unlearned model's phi against each held-out retrained model's; 0.5 = cannot \
         tell them apart. The **verdict** is an equivalence test with margin 0.05: *indistinguishable from retraining* \
         only when the AUC's upper bound is <= 0.55 **and** the do-nothing control is detected (its lower bound > 0.6: \
         the audit has power here); *distinguishable* when the lower bound is > 0.55; otherwise *inconclusive*, with the \
         reason (no power, or an interval across the margin: too few models or examples). Every verdict of a deletion \
         is withheld (*inconclusive: miscalibrated*) when the retrain control's interval excludes 0.5: the test is off on \
         that data (our rule, docs/audit.md)."
            .to_string(),
        "* **F**: the competition's forgetting quality, from per-example epsilons of threshold attacks. At this N even two \
         samples of one distribution score far below 1, so read it only beside the retrain control's F (in brackets); its \
         buckets depend on N, so it is not comparable with the competition's 512-model F. Identical models (a \
         deterministic method, or doing nothing) get the epsilon cap on every example."
            .to_string(),
        "* **retrain control**: N more retrainings in the unlearned side's place: what \"indistinguishable\" looks like \
         at this N. **do-nothing control**: the original itself, N times: whether the audit can see anything here."
            .to_string(),
        format!(
            "* **retained-privacy AUC**: the same test on retained examples (unlearning should leave them as retraining \
             does). **Relearning**: each side's median model fine-tuned on D_r only ({epochs} epochs, the training recipe); \
             the gap is its forget accuracy minus the retrained median's, in points, after (and before) the fine-tune; \
             few-shot adds 10% of D_u to the fine-tune and measures on the rest. **L2**: the weights' distance to O over \
             the retrained models' distance to O."
        ),
        "* SISA is not audited: it is exact by construction, and its counterpart is a sharded retraining, not R. \
         Per-example exports (phi under every model, each column naming its fold, and each example's epsilon) and the \
         ROC points of F5: [audit/](audit/)."
            .to_string(),
    ] {
        writeln!(md, "{line}")?;
    }
    writeln!(md)
}

/// The figures' list (drawn by [`crate::figures::draw_all`]), SVG with a PNG copy each.
fn write_figure_links(md: &mut String, audit: bool) -> std::fmt::Result {
    writeln!(md, "## Figures\n")?;
    let audit_figures = [
        ("F5_audit_roc", "F5. The per-example LR test's ROC per side of the audit, log-log"),
        ("F6_relearning", "F6. Relearning: forget accuracy over fine-tune epochs on D_r only, each side's median vs the retrained median"),
    ];
    for (f, what) in [
        ("F1_fr_vs_accuracy", "F1. Forgetting rate vs test accuracy: one panel per dataset, one curve per method (its strength sweep or its steps), retrain marked"),
        ("F2_forsaken_steps", "F2. FR, forget KL and test accuracy over the masking methods' steps"),
        ("F3_roc", "F3. The reporting oracle's ROC on D_u (vs test) before and after, log-log, with retrain's"),
        ("F4_time", "F4. Unlearning time per method relative to retraining"),
    ]
    .into_iter()
    .chain(audit_figures.into_iter().filter(|_| audit))
    {
        writeln!(md, "* [{what}](figures/{f}.svg) ([PNG](figures/{f}.png))")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use forsaken_metrics::OracleStrength;

    use super::*;
    use crate::record::OracleView;

    /// A suite of these datasets (only the keys every schema version has).
    fn suite(datasets: &[&str]) -> Suite {
        let mut text =
            "name = \"t\"\nseeds = [0]\nforget = [\"10%\"]\nmethods = [\"retrain\", \"forsaken\", \"forsaken-w\", \"scale\"]\n".to_string();
        for d in datasets {
            text.push_str(&format!("[[entries]]\ndataset = \"{d}\"\n"));
        }
        Suite::from_toml(&text, "test").unwrap()
    }

    /// One record of seed 0, 10% forgotten, under the `shadow` oracle; the original model has
    /// 90% train and 80% test accuracy, the oracle `auc` on it. FR values are fractions.
    fn rec(dataset: &str, method: &str, fr: Option<f64>, fr_retained: Option<f64>, acc_test: f64, seconds: f64, auc: f64) -> RunRecord {
        let view = OracleView {
            fr,
            fr_ci_low: None,
            fr_ci_high: None,
            fr_retained,
            selectivity: None,
            ret_vs_forget_auc: None,
            members_before: if fr.is_some() { 20 } else { 0 },
            members_after: 0,
        };
        let strength = OracleStrength {
            auc,
            balanced_accuracy: 0.6,
            tpr_at_1pct_fpr: Some(0.02),
            tpr_at_0_1pct_fpr: None,
            advantage: 0.2,
            members: 100,
            non_members: 100,
        };
        RunRecord {
            dataset: dataset.into(),
            model: "mlp".into(),
            seed: 0,
            forget: "random-10pct".into(),
            method: method.into(),
            strength: 0.9,
            strength_knob: "target FR".into(),
            stopping_oracle: Some("loss".into()),
            stop_reason: "target reached".into(),
            steps: 3,
            oracles: BTreeMap::from([("shadow".to_string(), view)]),
            acc_forget: 0.5,
            acc_retain: 0.85,
            acc_test,
            mean_top_prob_test: 0.7,
            seconds,
            search_seconds: None,
            setup_seconds: None,
            retrain_seconds: f64::NAN,
            orig_acc_train: 0.9,
            orig_acc_test: 0.8,
            orig_acc_forget: 0.9,
            oracle_strength: BTreeMap::from([("shadow".to_string(), strength)]),
            n_train: 100,
            n_forget: 10,
            n_retained_sample: 90,
            n_test: 50,
            trace: vec![],
            config: serde_json::Value::Null,
            identity: None,
            config_hash: "h".into(),
            git_commit: "abc123".into(),
            backend: "flex".into(),
            profile: "debug".into(),
        }
    }

    fn with_sel(mut r: RunRecord, sel: f64) -> RunRecord {
        r.oracles.get_mut("shadow").unwrap().selectivity = Some(sel);
        r
    }

    /// Retrain seconds from the group's retrain record, as the runner's `fill_relative` does.
    fn relate(mut rs: Vec<RunRecord>) -> Vec<RunRecord> {
        let rt: Vec<RunRecord> = rs.iter().filter(|r| r.method == "retrain").cloned().collect();
        for r in &mut rs {
            if let Some(t) = rt.iter().find(|t| t.dataset == r.dataset && t.model == r.model && t.seed == r.seed && t.forget == r.forget) {
                r.retrain_seconds = t.seconds;
            }
        }
        rs
    }

    /// Location, a strong oracle: forsaken clears every bar, forsaken-w misses every one.
    fn paper_fixture() -> Vec<RunRecord> {
        relate(vec![
            with_sel(rec("location", "retrain", Some(0.60), Some(0.05), 0.79, 10.0, 0.7), 1.0),
            with_sel(rec("location", "forsaken", Some(0.95), Some(0.10), 0.78, 2.0, 0.7), 0.8),
            with_sel(rec("location", "forsaken-w", Some(0.50), Some(0.40), 0.70, 20.0, 0.7), 0.2),
            with_sel(rec("location", "scale", Some(0.30), Some(0.30), 0.75, 0.5, 0.7), 0.0),
        ])
    }

    fn claim<'a>(claims: &'a [Claim], method: &str, starts: &str) -> &'a Claim {
        claims
            .iter()
            .find(|c| c.method == method && c.claim.starts_with(starts))
            .unwrap_or_else(|| panic!("no `{starts}` claim for {method}"))
    }

    fn row<'a>(t: &'a Table, first: &str, method: &str) -> &'a [String] {
        t.rows.iter().find(|r| r[0] == first && r[1] == method).unwrap_or_else(|| panic!("no row {first} / {method} in {t:?}"))
    }

    /// REPORT.md written by `write_report` into a fresh temporary folder, removed afterwards.
    fn render(records: &[RunRecord], suite: &Suite, tag: &str, facts: &RunFacts) -> (String, Vec<String>) {
        let dir = std::env::temp_dir().join(format!("forsaken-report-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        write_report(records, &[], suite, &dir, facts).unwrap();
        let md = std::fs::read_to_string(dir.join("REPORT.md")).unwrap();
        let mut tables: Vec<String> =
            std::fs::read_dir(dir.join("tables")).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().to_string()).collect();
        tables.sort();
        for name in &tables {
            assert!(!std::fs::read_to_string(dir.join("tables").join(name)).unwrap().contains("NaN"), "NaN in {name}");
        }
        std::fs::remove_dir_all(&dir).unwrap();
        (md, tables)
    }

    #[test]
    fn t1_rows_carry_the_summary_numbers() {
        let (t, claims) = t1(&paper_fixture(), &suite(&["location"])).unwrap();
        // four method rows, then one average row per masking method
        assert_eq!(t.rows.len(), 6);
        assert_eq!(t.rows[0], ["location (mlp)", "forsaken", "95.0", "10.0", "0.80", "80.0", "78.0", "2.0", "2.00", "5.0"]);
        assert_eq!(
            t.rows.iter().map(|r| r[1].as_str()).collect::<Vec<_>>(),
            ["forsaken", "forsaken-w", "retrain", "scale", "forsaken", "forsaken-w"]
        );
        assert_eq!(t.rows[4], ["average over 1 datasets", "forsaken", "95.00", "10.00", "0.80", "80.00", "78.00", "2.00", "2.00", "5.00"]);
        assert_eq!(claims.len(), 8);
    }

    #[test]
    fn claims_are_met_when_forsaken_clears_the_papers_bars() {
        let (_, claims) = t1(&paper_fixture(), &suite(&["location"])).unwrap();
        let fr = claim(&claims, "forsaken", "average FR");
        assert_eq!(fr.met, Some(true));
        assert_eq!(fr.evidence, "average FR under `shadow` 95.0% over 1 datasets with a defined FR");
        let loss = claim(&claims, "forsaken", "average accuracy loss");
        assert_eq!((loss.met, loss.evidence.as_str()), (Some(true), "average test-accuracy loss 2.0 points over 1 datasets"));
        assert_eq!(claim(&claims, "forsaken", "faster").met, Some(true));
        assert_eq!(claim(&claims, "forsaken", "selective").met, Some(true));
    }

    #[test]
    fn claims_are_missed_with_the_numbers_that_miss_them() {
        let (_, claims) = t1(&paper_fixture(), &suite(&["location"])).unwrap();
        let fr = claim(&claims, "forsaken-w", "average FR");
        assert_eq!(fr.met, Some(false));
        assert!(fr.evidence.contains("50.0%"), "{}", fr.evidence);
        let loss = claim(&claims, "forsaken-w", "average accuracy loss");
        assert_eq!(loss.met, Some(false));
        assert!(loss.evidence.contains("10.0 points"), "{}", loss.evidence);
        let sel = claim(&claims, "forsaken-w", "selective");
        assert_eq!((sel.met, sel.evidence.as_str()), (Some(false), "0 of 1 datasets whose `shadow` AUC >= 0.55 (location 0.20)"));
        // FR just at 90% is not above it
        let mut rs = paper_fixture();
        rs[1].oracles.get_mut("shadow").unwrap().fr = Some(0.9);
        let (_, claims) = t1(&rs, &suite(&["location"])).unwrap();
        assert_eq!(claim(&claims, "forsaken", "average FR").met, Some(false));
    }

    #[test]
    fn an_undefined_fr_is_n_a_and_left_out_of_the_averages() {
        let rs = relate(vec![
            rec("location", "retrain", Some(0.60), Some(0.05), 0.79, 10.0, 0.7),
            rec("location", "forsaken", None, Some(0.10), 0.78, 2.0, 0.7),
            rec("digits", "retrain", Some(0.60), Some(0.05), 0.79, 10.0, 0.7),
            rec("digits", "forsaken", Some(0.92), Some(0.10), 0.78, 2.0, 0.7),
        ]);
        let s = suite(&["location", "digits"]);
        let (t, claims) = t1(&rs, &s).unwrap();
        let undefined = row(&t, "location (mlp)", "forsaken");
        assert_eq!((undefined[2].as_str(), undefined[4].as_str()), ("n/a", "n/a"));
        let avg = row(&t, "average over 2 datasets", "forsaken");
        assert_eq!((avg[2].as_str(), avg[3].as_str(), avg[4].as_str()), ("92.00 (of 1)", "10.00", "n/a"));
        let fr = claim(&claims, "forsaken", "average FR");
        assert_eq!(fr.met, Some(true));
        assert!(fr.evidence.contains("92.0% over 1 datasets"), "{}", fr.evidence);
        for md in [t.markdown(), t2(&rs, &s).unwrap().markdown(), t3(&rs, &s).unwrap().markdown(), t4(&rs, &s).unwrap().markdown()] {
            assert!(!md.contains("NaN"), "{md}");
        }
        let (md, _) = render(&rs, &s, "undefined", &RunFacts::default());
        assert!(!md.contains("NaN"), "{md}");
        // no dataset with a defined FR: the FR claim cannot be judged
        let (_, claims) = t1(&rs[..2], &suite(&["location"])).unwrap();
        assert_eq!(claim(&claims, "forsaken", "average FR").met, None);
    }

    #[test]
    fn a_claim_without_a_defined_average_says_n_a_not_nan() {
        // no defined FR anywhere, and a test accuracy that is not a number: no average to judge
        let mut rs = relate(vec![
            rec("location", "retrain", Some(0.60), Some(0.05), 0.79, 10.0, 0.7),
            rec("location", "forsaken", None, Some(0.10), 0.78, 2.0, 0.7),
        ]);
        rs[1].acc_test = f64::NAN;
        let s = suite(&["location"]);
        let (_, claims) = t1(&rs, &s).unwrap();
        let fr = claim(&claims, "forsaken", "average FR");
        assert_eq!((fr.met, fr.evidence.as_str()), (None, "average FR under `shadow` n/a over 0 datasets with a defined FR"));
        let loss = claim(&claims, "forsaken", "average accuracy loss");
        assert_eq!((loss.met, loss.evidence.as_str()), (None, "average test-accuracy loss n/a over 0 datasets"));
        let (md, _) = render(&rs, &s, "no-average", &RunFacts::default());
        assert!(!md.contains("NaN"), "{md}");
    }

    #[test]
    fn weak_oracles_are_flagged_and_left_out_of_the_selectivity_claim() {
        let fixture = |digits_auc: f64| {
            relate(vec![
                with_sel(rec("location", "retrain", Some(0.60), Some(0.05), 0.79, 10.0, 0.7), 1.0),
                with_sel(rec("location", "forsaken", Some(0.95), Some(0.10), 0.78, 2.0, 0.7), 0.8),
                with_sel(rec("digits", "retrain", Some(0.20), Some(0.15), 0.79, 10.0, digits_auc), 1.0),
                with_sel(rec("digits", "forsaken", Some(0.95), Some(0.90), 0.78, 2.0, digits_auc), 0.1),
            ])
        };
        let s = suite(&["location", "digits"]);
        let (t, claims) = t1(&fixture(0.50), &s).unwrap();
        assert_eq!(
            t.rows.iter().map(|r| r[0].as_str()).take(4).collect::<Vec<_>>(),
            ["location (mlp)", "location (mlp)", "digits (mlp) ⚠", "digits (mlp) ⚠"]
        );
        let sel = claim(&claims, "forsaken", "selective");
        assert_eq!((sel.met, sel.evidence.as_str()), (Some(true), "1 of 1 datasets whose `shadow` AUC >= 0.55 (location 0.80)"));
        // an oracle at the threshold sees membership: digits counts, and its 0.10 misses the claim
        let (t, claims) = t1(&fixture(forsaken_mia::WEAK_ORACLE_AUC), &s).unwrap();
        assert!(t.rows.iter().all(|r| !r[0].contains('⚠')), "{t:?}");
        let sel = claim(&claims, "forsaken", "selective");
        assert_eq!(
            (sel.met, sel.evidence.as_str()),
            (Some(false), "1 of 2 datasets whose `shadow` AUC >= 0.55 (location 0.80, digits 0.10)")
        );
        // only weak oracles: nothing to judge selectivity on
        let weak_only: Vec<RunRecord> = fixture(0.50).into_iter().filter(|r| r.dataset == "digits").collect();
        let (_, claims) = t1(&weak_only, &suite(&["digits"])).unwrap();
        assert_eq!(claim(&claims, "forsaken", "selective").met, None);
        // no strength recorded for the reporting oracle: not flagged, and not counted as seeing
        let unknown: Vec<RunRecord> = weak_only.into_iter().map(|r| RunRecord { oracle_strength: BTreeMap::new(), ..r }).collect();
        let (t, claims) = t1(&unknown, &suite(&["digits"])).unwrap();
        assert_eq!(t.rows[0][0], "digits (mlp)");
        assert_eq!(claim(&claims, "forsaken", "selective").met, None);
    }

    #[test]
    fn speed_up_is_retrain_seconds_over_the_methods_seconds() {
        let rs = relate(vec![
            rec("location", "retrain", Some(0.60), Some(0.05), 0.79, 10.0, 0.7),
            rec("location", "forsaken", Some(0.95), Some(0.10), 0.78, 2.0, 0.7),
            rec("digits", "retrain", Some(0.60), Some(0.05), 0.79, 2.0, 0.7),
            rec("digits", "forsaken", Some(0.95), Some(0.10), 0.78, 4.0, 0.7),
        ]);
        let s = suite(&["location", "digits"]);
        let (t, claims) = t1(&rs, &s).unwrap();
        assert_eq!(row(&t, "location (mlp)", "forsaken")[9], "5.0");
        assert_eq!(row(&t, "digits (mlp)", "forsaken")[9], "0.5");
        assert_eq!(row(&t, "digits (mlp)", "retrain")[9], "1.0");
        assert_eq!(row(&t, "average over 2 datasets", "forsaken")[9], "2.75");
        let fast = claim(&claims, "forsaken", "faster");
        assert_eq!((fast.met, fast.evidence.as_str()), (Some(false), "faster on 1 of 2 datasets (not on: digits 0.50x)"));
        let (_, claims) = t1(&rs[..2], &suite(&["location"])).unwrap();
        let fast = claim(&claims, "forsaken", "faster");
        assert_eq!((fast.met, fast.evidence.as_str()), (Some(true), "faster on 1 of 1 datasets"));
        // without a retrain record there is no speed-up, and no verdict
        let alone = vec![rec("location", "forsaken", Some(0.95), Some(0.10), 0.78, 2.0, 0.7)];
        let (t, claims) = t1(&alone, &suite(&["location"])).unwrap();
        assert_eq!(t.rows[0][9], "n/a");
        assert_eq!(claim(&claims, "forsaken", "faster").met, None);
    }

    /// Problems of the Markdown tables in `md`: a header or row whose cell count differs
    /// from its delimiter row's (a `|` inside a cell splits it).
    fn table_shape_problems(md: &str) -> Vec<String> {
        let cells = |l: &str| l.trim().trim_matches('|').split('|').count();
        let lines: Vec<&str> = md.lines().collect();
        let mut problems = Vec::new();
        for (i, l) in lines.iter().enumerate().skip(1) {
            if !(l.starts_with('|') && l.contains("---") && l.chars().all(|c| "|-: ".contains(c))) {
                continue;
            }
            let n = cells(l);
            let body = lines[i + 1..].iter().take_while(|r| r.starts_with('|'));
            for row in std::iter::once(&lines[i - 1]).chain(body) {
                if cells(row) != n {
                    problems.push(format!("{} cells, delimiter {n}: {row}", cells(row)));
                }
            }
        }
        problems
    }

    #[test]
    fn every_markdown_table_has_as_many_cells_as_its_delimiter_row() {
        let dir = std::env::temp_dir().join(format!("forsaken-report-shape-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let (rs, s) = (paper_fixture(), suite(&["location"]));
        crate::tables::write_summary(&rs, &dir, &s.reporting_oracle).unwrap();
        write_report(&rs, &[], &s, &dir, &RunFacts::default()).unwrap();
        let mut files = vec![dir.join("REPORT.md"), dir.join("summary.md")];
        files.extend(
            std::fs::read_dir(dir.join("tables")).unwrap().map(|e| e.unwrap().path()).filter(|p| p.extension().is_some_and(|x| x == "md")),
        );
        assert_eq!(files.len(), 6);
        for f in &files {
            let md = std::fs::read_to_string(f).unwrap();
            assert!(md.contains("|---"), "no table in {}", f.display());
            assert_eq!(table_shape_problems(&md), Vec::<String>::new(), "in {}", f.display());
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn records_of_different_code_are_listed_in_the_setup() {
        let code = crate::identity::CodeIdentity::built();
        let mut rs = paper_fixture();
        assert!(!render(&rs, &suite(&["location"]), "one-code", &RunFacts::default()).0.contains("mixed code"));
        for (k, r) in rs.iter_mut().enumerate() {
            let mut c = code.clone();
            c.parts.insert("forsaken-mask".into(), format!("edit{}", k % 2));
            r.identity = Some(crate::identity::Identity::new(crate::identity::Kind::Cell, &k, "d", &c, "flex"));
        }
        let md = render(&rs, &suite(&["location"]), "mixed", &RunFacts::default()).0;
        assert!(md.contains("* **mixed code**: the records come from 2 code identities"), "{md}");
    }

    #[test]
    fn write_report_writes_the_tables_and_report_with_the_claims() {
        let facts = RunFacts {
            invocations: vec![Invocation {
                wall_seconds: 90.0,
                jobs: 2,
                records_computed: 4,
                models_from_cache: 0,
                stages: vec![("train".into(), 12.5, 3)],
                git_commit: "abc123".into(),
            }],
        };
        let (md, tables) = render(&paper_fixture(), &suite(&["location"]), "write", &facts);
        let names = ["T1_headline", "T2_matched_fr", "T3_oracles", "T4_forget_size"];
        assert_eq!(tables, names.iter().flat_map(|n| [format!("{n}.csv"), format!("{n}.md")]).collect::<Vec<_>>());
        for needle in [
            "# Reproduction report: suite `t`",
            "from `runs.jsonl` (4 records)",
            "* wall time: 1.5 min with 2 parallel job(s), one `reproduce` run that computed 4 record(s); no trained model loaded from a cache",
            "| train | 3 | 12.5 |",
            "| location | mlp | 100 | 50 | 0 | – | 90.0 | 80.0 | 0.700 / 0.700 |",
            "## The claims, checked",
            "| forsaken | average FR > 90% (paper) | **met** | average FR under `shadow` 95.0% over 1 datasets with a defined FR |",
            "| forsaken-w | average FR > 90% (paper) | **missed** |",
            "[CSV](tables/T1_headline.csv)",
        ] {
            assert!(md.contains(needle), "missing `{needle}` in:\n{md}");
        }
        assert!(!md.contains("NaN"), "{md}");
        let dir = std::env::temp_dir().join(format!("forsaken-report-empty-{}", std::process::id()));
        let e = write_report(&[], &[], &suite(&["location"]), &dir, &facts).unwrap_err();
        assert!(e.to_string().contains("no run records"), "{e}");
        assert!(!dir.exists());
    }
}
