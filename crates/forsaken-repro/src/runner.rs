//! The suite runner: for each dataset and seed, train the target (cached), fit every oracle on a
//! cached shadow pool, report each oracle's strength, select the forget set, run every method,
//! measure it under every oracle, and append a record to `runs.jsonl` (rewritten atomically
//! after each record). Selectivity is then filled in against the retrained model.
//!
//! **Resume**: records already in `runs.jsonl` with the same config hash are not recomputed;
//! killed at any point and run again, the runner continues where it stopped.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use burn::tensor::backend::AutodiffBackend;
use indicatif::ProgressBar;
use serde::Serialize;

use forsaken_data::split::{write_indices, ForgetSplit};
use forsaken_data::Dataset;
use forsaken_metrics::selectivity::selectivity;
use forsaken_metrics::FrCounts;
use forsaken_mia::OracleSet;
use forsaken_models::{ModelError, Net, Predict, Role, StoppingRule, TracePoint, UnlearnOutcome, UnlearnRequest, Unlearner};

use crate::audit::AuditRecord;
use crate::identity::{Identity, Kind};
use crate::io::{config_hash, git_commit, write_atomic};
use crate::pipeline::{self, inner, Baseline, ExperimentSpec};
use crate::plan::{Plan, Shard, Stage};
use crate::record::RunRecord;
use crate::suite::{Entry, Suite};

/// Where and how to run.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Data directory (flag / `FORSAKEN_DATA_DIR` / `data`).
    pub data_dir: PathBuf,
    /// Output folder (`results/<suite>`).
    pub out_dir: PathBuf,
    /// Cache of trained targets and shadow models; `None` disables caching.
    pub cache_dir: Option<PathBuf>,
    /// Backend name recorded in results.
    pub backend: String,
    /// Restrict to these datasets (empty = all of the suite's).
    pub datasets: Vec<String>,
    /// Print a line per finished run.
    pub verbose: bool,
    /// (dataset, seed) groups run in parallel (1 = one after another).
    pub jobs: usize,
    /// Which part of the plan to run (artefacts, cells or both).
    pub stage: Stage,
    /// Run only this shard of the stage (`None`: all of it).
    pub shard: Option<Shard>,
}

/// Read the records of an earlier (possibly interrupted) run.
pub fn read_records(path: &Path) -> Result<Vec<RunRecord>> {
    read_jsonl(path, "run record")
}

/// Read the audit records of an earlier run.
pub fn read_audits(path: &Path) -> Result<Vec<AuditRecord>> {
    read_jsonl(path, "audit record")
}

/// Records of one JSON line each (none when the file is absent); a line that is not one is an
/// error naming the file and line.
fn read_jsonl<T: serde::de::DeserializeOwned>(path: &Path, what: &str) -> Result<Vec<T>> {
    if !path.exists() {
        return Ok(vec![]);
    }
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            serde_json::from_str(l)
                .with_context(|| format!("{}: line {} is not a valid {what} (delete the file to start over)", path.display(), i + 1))
        })
        .collect()
}

fn write_records(path: &Path, records: &[RunRecord]) -> Result<()> {
    write_jsonl(path, records)
}

/// The per-method part of a run's configuration (hashed into each record).
#[derive(Serialize)]
struct RunConfig<'a> {
    experiment: &'a ExperimentSpec,
    forget: String,
    method: &'a str,
    oracles: &'a crate::pipeline::OracleConfig,
    stopping_oracle: &'a str,
    /// The method's settings, as its registry entry resolved them.
    settings: &'a serde_json::Value,
    sweep: Option<&'a [f64]>,
    target_fr: f64,
}

/// Put records in suite order (dataset entry, seed, forget set, method), whatever order the
/// jobs finished in; records of datasets or methods no longer in the suite go last.
pub(crate) fn sort_records(records: &mut [RunRecord], suite: &Suite) {
    let pos = |list: Vec<String>, x: &str| list.iter().position(|y| y == x).unwrap_or(usize::MAX);
    records.sort_by_cached_key(|r| {
        (
            pos(suite.entries.iter().map(|e| e.dataset.clone()).collect(), &r.dataset),
            r.model.clone(),
            r.seed,
            pos(suite.all_forget_sets().iter().map(|f| f.to_string()).collect(), &r.forget),
            pos(suite.methods.clone(), &r.method),
        )
    });
}

/// The configuration of one (experiment, forget set, method) run.
fn run_config<'a>(
    suite: &'a Suite,
    entry: &'a Entry,
    settings: &'a BTreeMap<String, serde_json::Value>,
    experiment: &'a ExperimentSpec,
    m: &'a str,
    forget: &str,
) -> RunConfig<'a> {
    RunConfig {
        experiment,
        forget: forget.to_string(),
        method: m,
        oracles: &suite.oracles,
        stopping_oracle: &suite.stopping_oracle,
        settings: &settings[m],
        sweep: entry.sweep_of(suite, m),
        target_fr: suite.target_fr,
    }
}

/// ROC points as CSV (`fpr,tpr,threshold`).
fn roc_csv(points: &[forsaken_metrics::RocPoint]) -> String {
    let mut csv = String::from("fpr,tpr,threshold\n");
    for pt in points {
        csv.push_str(&format!("{},{},{}\n", pt.fpr, pt.tpr, pt.threshold));
    }
    csv
}

/// Same group of runs: dataset, model, seed and forget set.
fn same_group(a: &RunRecord, b: &RunRecord) -> bool {
    a.dataset == b.dataset && a.model == b.model && a.seed == b.seed && a.forget == b.forget
}

/// Fill in retrain seconds and every oracle's selectivity from the group's retrain record.
pub fn fill_relative(records: &mut [RunRecord]) {
    let reference = crate::methods::reference();
    let retrains: Vec<RunRecord> = records.iter().filter(|r| r.method == reference).cloned().collect();
    for r in records.iter_mut() {
        let Some(rt) = retrains.iter().find(|x| same_group(x, r)) else { continue };
        r.retrain_seconds = rt.seconds;
        for (id, v) in r.oracles.iter_mut() {
            let base = rt.oracles.get(id);
            v.selectivity = selectivity(v.fr, v.fr_retained, base.and_then(|b| b.fr), base.and_then(|b| b.fr_retained));
        }
    }
}

/// Everything one invocation shares across its jobs: the records (earlier ones and new ones),
/// what it computed, what it loaded from the cache, and where its time went. Every new record
/// is written at once (with timing.json), so a killed run keeps what it did.
struct Ledger<'a> {
    suite: &'a Suite,
    runs_path: PathBuf,
    timing_path: PathBuf,
    /// The invocations that computed the records already in runs.jsonl.
    earlier: Vec<crate::report::Invocation>,
    store: Mutex<Vec<RunRecord>>,
    /// The audit's records (`audit.jsonl`).
    audits: Mutex<Vec<AuditRecord>>,
    audit_path: PathBuf,
    computed: AtomicUsize,
    from_cache: AtomicUsize,
    /// Records reused under an identical key, and why the others are recomputed.
    reused: AtomicUsize,
    reasons: Mutex<BTreeMap<String, usize>>,
    /// Seconds and counts per stage of this invocation (cached stages cost nothing, are absent).
    stages: Mutex<BTreeMap<String, (f64, usize)>>,
    timing_lock: Mutex<()>,
    started: Instant,
    commit: String,
    jobs: usize,
}

impl<'a> Ledger<'a> {
    /// Read an earlier run's records and timing from `dir` (a fresh runs.jsonl starts afresh).
    fn open(suite: &'a Suite, dir: &Path, jobs: usize) -> Result<Self> {
        let (runs_path, timing_path) = (dir.join("runs.jsonl"), dir.join("timing.json"));
        let earlier = if runs_path.exists() && timing_path.exists() {
            let text = std::fs::read_to_string(&timing_path).with_context(|| format!("reading {}", timing_path.display()))?;
            serde_json::from_str(&text)
                .with_context(|| format!("{} is not a timing file (delete it to start its history over)", timing_path.display()))?
        } else {
            vec![]
        };
        let audit_path = dir.join("audit.jsonl");
        Ok(Self {
            suite,
            store: Mutex::new(read_records(&runs_path)?),
            audits: Mutex::new(read_audits(&audit_path)?),
            audit_path,
            runs_path,
            timing_path,
            earlier,
            computed: AtomicUsize::new(0),
            from_cache: AtomicUsize::new(0),
            reused: AtomicUsize::new(0),
            reasons: Mutex::new(BTreeMap::new()),
            stages: Mutex::new(BTreeMap::new()),
            timing_lock: Mutex::new(()),
            started: Instant::now(),
            commit: git_commit(),
            jobs,
        })
    }

    fn stage(&self, name: &str, secs: f64) {
        let mut st = self.stages.lock().expect("stage timings");
        let e = st.entry(name.to_string()).or_insert((0.0, 0));
        e.0 += secs;
        e.1 += 1;
    }

    fn loaded_from_cache(&self, models: usize) {
        self.from_cache.fetch_add(models, Ordering::SeqCst);
    }

    /// Whether the record of this (group, method) can be reused under `wanted`; counts the
    /// answer (reused, or recomputed and why).
    /// `config` is the cell's config now, to name the setting that changed.
    fn reusable(&self, g: &GroupId, method: &str, wanted: &Identity, config: &serde_json::Value) -> bool {
        let store = self.store.lock().expect("record store");
        let why = match store.iter().find(|r| g.owns(r) && r.method == method) {
            None => Some("new".to_string()),
            Some(r) => match r.identity.as_ref().map(|have| have.differs(wanted)) {
                None => Some("recorded without a content key".into()),
                Some(Some("settings changed")) => Some(changed_setting(&r.config, config)),
                Some(why) => why.map(String::from),
            },
        };
        match &why {
            None => {
                self.reused.fetch_add(1, Ordering::SeqCst);
            }
            Some(why) => *self.reasons.lock().expect("reasons").entry(why.clone()).or_insert(0) += 1,
        }
        why.is_none()
    }

    /// Whether the audit record under `wanted` is there; counts the answer like [`Self::reusable`].
    fn audit_reusable(&self, g: &GroupId, side: &str, wanted: &Identity) -> bool {
        let audits = self.audits.lock().expect("audit store");
        let why = match audits.iter().find(|r| g.owns_audit(r) && r.side == side) {
            None => Some("new"),
            Some(r) => r.identity.differs(wanted),
        };
        match why {
            None => {
                self.reused.fetch_add(1, Ordering::SeqCst);
            }
            Some(why) => *self.reasons.lock().expect("reasons").entry(format!("audit: {why}")).or_insert(0) += 1,
        }
        why.is_none()
    }

    /// Add an audit record (replacing an older one of the same deletion and side) and write
    /// audit.jsonl.
    fn add_audit(&self, rec: AuditRecord) -> Result<()> {
        let mut audits = self.audits.lock().expect("audit store");
        audits.retain(|r| !(same_deletion(r, &rec) && r.side == rec.side));
        audits.push(rec);
        self.computed.fetch_add(1, Ordering::SeqCst);
        sort_audits(&mut audits, self.suite);
        write_jsonl(&self.audit_path, &audits)?;
        self.save_timing()?;
        Ok(())
    }

    /// The earlier invocations, and this one once it has computed a record.
    fn timing(&self) -> Vec<crate::report::Invocation> {
        let mut all = self.earlier.clone();
        let records_computed = self.computed.load(Ordering::SeqCst);
        // the artefact stage computes no record, but its training time is kept
        if records_computed > 0 || !self.stages.lock().expect("stage timings").is_empty() {
            all.push(crate::report::Invocation {
                wall_seconds: self.started.elapsed().as_secs_f64(),
                jobs: self.jobs,
                records_computed,
                models_from_cache: self.from_cache.load(Ordering::SeqCst),
                stages: crate::report::stage_rows(&self.stages.lock().expect("stage timings")),
                git_commit: self.commit.clone(),
            });
        }
        all
    }

    /// Write timing.json (when there is something to keep) and return what it holds.
    fn save_timing(&self) -> Result<Vec<crate::report::Invocation>> {
        // the jobs add run and audit records under different locks: one writer at a time, so
        // the file ends with the latest counts
        let _one = self.timing_lock.lock().expect("timing lock");
        let all = self.timing();
        if !all.is_empty() {
            write_atomic(&self.timing_path, serde_json::to_string_pretty(&all)?.as_bytes())?;
        }
        Ok(all)
    }

    /// Add a new record (replacing an older one of the same group and method) and write
    /// runs.jsonl and timing.json.
    fn add(&self, rec: RunRecord) -> Result<()> {
        let mut records = self.store.lock().expect("record store");
        records.retain(|r| !(same_group(r, &rec) && r.method == rec.method));
        records.push(rec);
        self.computed.fetch_add(1, Ordering::SeqCst);
        fill_relative(&mut records);
        sort_records(&mut records, self.suite);
        write_records(&self.runs_path, &records)?;
        self.save_timing()?;
        Ok(())
    }

    /// Write the final records, the tables, the figures and the report.
    fn finish(self, out_dir: &Path) -> Result<SuiteRun> {
        let facts = crate::report::RunFacts { invocations: self.save_timing()? };
        let mut records = self.store.into_inner().expect("record store");
        fill_relative(&mut records);
        sort_records(&mut records, self.suite);
        write_records(&self.runs_path, &records)?;
        let audits = self.audits.into_inner().expect("audit store");
        // the artefact stage, or a shard without cells, has nothing to render
        if !records.is_empty() {
            render(&records, &audits, self.suite, out_dir, &facts)?;
        }
        let reasons = self.reasons.into_inner().expect("reasons");
        Ok(SuiteRun { records, reused: self.reused.into_inner(), recomputed: reasons })
    }
}

/// Write the tables, the figures and the report of `records` and `audits`.
pub fn render(records: &[RunRecord], audits: &[AuditRecord], suite: &Suite, out_dir: &Path, facts: &crate::report::RunFacts) -> Result<()> {
    crate::tables::write_summary(records, out_dir, &suite.reporting_oracle)?;
    crate::figures::draw_all(records, audits, suite, out_dir)?;
    crate::report::write_report(records, audits, suite, out_dir, facts)
}

/// Write records one JSON line each, atomically.
pub(crate) fn write_jsonl<T: Serialize>(path: &Path, records: &[T]) -> Result<()> {
    let mut s = String::new();
    for r in records {
        s.push_str(&serde_json::to_string(r)?);
        s.push('\n');
    }
    write_atomic(path, s.as_bytes())
}

/// Same deletion: dataset, model, seed and forget set.
fn same_deletion(a: &AuditRecord, b: &AuditRecord) -> bool {
    a.dataset == b.dataset && a.model == b.model && a.seed == b.seed && a.forget == b.forget
}

/// Audit records in suite order (dataset entry, seed, then the audit's sides: controls first).
pub(crate) fn sort_audits(audits: &mut [AuditRecord], suite: &Suite) {
    let sides = suite.audit.as_ref().map(|a| a.sides()).unwrap_or_default();
    let pos = |list: &[String], x: &str| list.iter().position(|y| y == x).unwrap_or(usize::MAX);
    let datasets: Vec<String> = suite.entries.iter().map(|e| e.dataset.clone()).collect();
    audits.sort_by_cached_key(|r| (pos(&datasets, &r.dataset), r.model.clone(), r.seed, r.forget.clone(), pos(&sides, &r.side)));
}

/// What part of which plan an output folder holds (`plan.json`), for `forsaken merge`.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct PlanPart {
    /// The plan's id.
    pub plan: String,
    /// The stage run.
    pub stage: Stage,
    /// The shard run (`None`: the whole stage).
    pub shard: Option<Shard>,
    /// The datasets the run was restricted to (empty: all of the suite's).
    #[serde(default)]
    pub datasets: Vec<String>,
    /// The suite (what the merge renders with).
    pub suite: Suite,
}

/// `setting X changed`, X the first setting whose value differs between a record's config
/// and the config now (the reporting oracle, which the record adds, left out).
fn changed_setting(recorded: &serde_json::Value, now: &serde_json::Value) -> String {
    let flat = |v: &serde_json::Value| {
        let mut v = v.clone();
        if let Some(m) = v.as_object_mut() {
            m.remove("reporting_oracle");
        }
        crate::compare::flatten(&v)
    };
    let (was, is) = (flat(recorded), flat(now));
    let key = was.keys().chain(is.keys()).find(|k| was.get(*k) != is.get(*k));
    key.map_or("settings changed".into(), |k| format!("setting `{k}` changed"))
}

/// Which records a (dataset, model, seed, forget set) group owns.
struct GroupId {
    dataset: String,
    model: String,
    seed: u64,
    forget: String,
}

impl GroupId {
    fn owns(&self, r: &RunRecord) -> bool {
        r.dataset == self.dataset && r.model == self.model && r.seed == self.seed && r.forget == self.forget
    }
    fn owns_audit(&self, r: &AuditRecord) -> bool {
        r.dataset == self.dataset && r.model == self.model && r.seed == self.seed && r.forget == self.forget
    }
}

/// What an audit record's key covers besides data, code and backend: the deletion, the
/// audit's settings, the side and everything that fixes the side's models (a method's settings,
/// sweep grid, stopping oracle and target; its matched strength follows from them).
#[derive(Serialize)]
struct AuditConfig<'a> {
    experiment: &'a ExperimentSpec,
    audit: serde_json::Value,
    side: &'a str,
    settings: Option<&'a serde_json::Value>,
    sweep: Option<&'a [f64]>,
    oracles: &'a crate::pipeline::OracleConfig,
    stopping_oracle: &'a str,
    reporting_oracle: &'a str,
    target_fr: f64,
}

/// One (dataset, seed) group: its prepared data, every method's settings and its output label.
struct Group<'a> {
    suite: &'a Suite,
    entry: &'a Entry,
    opts: &'a RunOptions,
    p: pipeline::Prepared,
    settings: BTreeMap<String, serde_json::Value>,
    model_name: String,
    label: String,
}

impl<'a> Group<'a> {
    /// Load and split the data, write the splits.
    fn prepare(suite: &'a Suite, entry: &'a Entry, opts: &'a RunOptions, seed: u64) -> Result<Self> {
        let g = Self::load(suite, entry, opts, seed)?;
        g.p.splits.save(&opts.out_dir.join("splits").join(&g.label))?;
        Ok(g)
    }

    /// Load and split the data (nothing written).
    fn load(suite: &'a Suite, entry: &'a Entry, opts: &'a RunOptions, seed: u64) -> Result<Self> {
        let data = pipeline::load_data(&entry.dataset, entry.label.as_deref(), &opts.data_dir, entry.pool_limit, seed)?;
        let spec = ExperimentSpec::resolve(entry, seed, &data, suite.batch_size, suite.lr, entry.early_stop_train_acc(suite))?;
        let model_name = format!("{:?}", spec.family).to_lowercase();
        let p = pipeline::prepare(spec, data)?;
        let label = format!("{}-{}-s{}", p.spec.dataset, model_name, seed);
        let settings = suite.method_settings().map_err(anyhow::Error::msg)?;
        Ok(Self { suite, entry, opts, p, settings, model_name, label })
    }

    /// The key of every plan item of this group: its artefacts' (the target's and the pool's
    /// keys combined) and each cell's.
    fn keys(&self) -> Vec<(String, String)> {
        let backend = &self.opts.backend;
        let target = self.p.identity(Kind::Target, &self.p.spec, backend).key;
        let pool = self.p.identity(Kind::ShadowPool, &self.p.splits.target_train, backend).key;
        let mut keys = vec![(self.item("artefacts"), crate::identity::key(&[&target, &pool]))];
        for f in self.entry.forget_sets(self.suite) {
            for m in &self.suite.methods {
                keys.push((self.item(&format!("{f}/{m}")), self.identity(m, &f.to_string()).key));
            }
        }
        for (a, side) in self.audit_sides() {
            keys.push((self.item(&format!("audit/{}/{side}", a.forget)), self.audit_identity(a, &side).key));
        }
        keys
    }

    /// The audit's sides on this group (none when the audit does not cover it).
    fn audit_sides(&self) -> Vec<(&'a crate::population::AuditSettings, String)> {
        match self.suite.audit.as_ref().filter(|_| self.entry.audited(self.suite, self.p.spec.seed)) {
            Some(a) => a.sides().into_iter().map(|s| (a, s)).collect(),
            None => vec![],
        }
    }

    /// The identity of the audit record of `side`.
    fn audit_identity(&self, a: &crate::population::AuditSettings, side: &str) -> Identity {
        let suite = self.suite;
        let config = AuditConfig {
            experiment: &self.p.spec,
            audit: a.determining(),
            side,
            settings: self.settings.get(side),
            sweep: self.entry.sweep_of(suite, side),
            oracles: &suite.oracles,
            stopping_oracle: &suite.stopping_oracle,
            reporting_oracle: &suite.reporting_oracle,
            target_fr: suite.target_fr,
        };
        self.p.identity(Kind::Cell, &config, &self.opts.backend)
    }

    /// The audit's sides this run is to compute: selected, and without a reusable record.
    fn audit_todo(&self, ledger: &Ledger, selected: &BTreeSet<String>) -> Vec<String> {
        self.audit_sides()
            .into_iter()
            .filter(|(a, side)| selected.contains(&self.item(&format!("audit/{}/{side}", a.forget))))
            .filter(|(a, side)| !ledger.audit_reusable(&self.id(&a.forget.to_string()), side, &self.audit_identity(a, side)))
            .map(|(_, side)| side)
            .collect()
    }

    fn id(&self, forget: &str) -> GroupId {
        GroupId { dataset: self.p.spec.dataset.clone(), model: self.model_name.clone(), seed: self.p.spec.seed, forget: forget.into() }
    }

    fn config(&self, m: &'a str, forget: &str) -> RunConfig<'_> {
        run_config(self.suite, self.entry, &self.settings, &self.p.spec, m, forget)
    }

    /// The identity of the cell (method `m`, forget set `forget`): its config, the data's
    /// content, the code and the backend.
    fn identity(&self, m: &'a str, forget: &str) -> Identity {
        self.p.identity(Kind::Cell, &self.config(m, forget), &self.opts.backend)
    }

    /// The plan's id of this group's item `what` (`target`, `pool`, `FORGET/METHOD`).
    fn item(&self, what: &str) -> String {
        crate::plan::item_id(&self.p.spec.dataset, &self.model_name, self.p.spec.seed, what)
    }

    /// The suite's methods on forget set `forget` that this run is to compute: selected, and
    /// without a record that can be reused.
    fn todo(&self, ledger: &Ledger, forget: &str, selected: &BTreeSet<String>) -> Vec<&'a String> {
        self.suite
            .methods
            .iter()
            .filter(|m| selected.contains(&self.item(&format!("{forget}/{m}"))))
            .filter(|m| {
                let config = serde_json::to_value(self.config(m, forget)).expect("configs serialize");
                !ledger.reusable(&self.id(forget), m, &self.identity(m, forget), &config)
            })
            .collect()
    }

    /// Every forget set of the entry, selected and written to the splits folder.
    fn forget_sets(&self) -> Result<Vec<(String, ForgetSplit)>> {
        let dir = self.opts.out_dir.join("splits").join(&self.label);
        let mut out = Vec::new();
        for fspec in self.entry.forget_sets(self.suite) {
            let fsplit = fspec
                .select(&self.p.data, &self.p.splits.target_train, self.p.spec.seed)
                .with_context(|| format!("{}: forget set {fspec}", self.label))?;
            write_indices(&dir.join(format!("forget-{fspec}.idx.txt")), &fsplit.forget)?;
            out.push((fspec.to_string(), fsplit));
        }
        Ok(out)
    }
}

/// The original model of a group, with its oracles and their strength on it.
struct Fitted<B: AutodiffBackend> {
    target: Net<B>,
    orig: Net<B::InnerBackend>,
    set: OracleSet,
    strength: BTreeMap<String, forsaken_metrics::OracleStrength>,
    orig_train: f64,
}

/// Train (or load) the target and the shadow pool, fit the oracles, measure and write each
/// oracle's strength and ROC on the original.
fn fit_group<B: AutodiffBackend>(g: &Group, ledger: &Ledger, device: &B::Device) -> Result<Fitted<B>> {
    let (p, cache) = (&g.p, g.opts.cache_dir.as_deref());
    let ts = Instant::now();
    let may_train = g.opts.stage != Stage::Cells;
    let (target, _train_secs, cached) = pipeline::target_model::<B>(p, cache, &g.opts.backend, may_train, device)
        .with_context(|| format!("{}: run `reproduce --stage artefacts` with the same --cache-dir first (or --stage all)", g.label))?;
    if cached {
        ledger.loaded_from_cache(1);
    } else {
        ledger.stage(&format!("target model ({})", g.model_name), ts.elapsed().as_secs_f64());
    }
    let orig = inner(&target);
    let ts = Instant::now();
    let (set, pool) = pipeline::oracles::<B>(p, &g.suite.oracles, cache, &g.opts.backend, device)?;
    if pool.trained_now > 0 && g.opts.stage == Stage::Cells {
        forsaken_models::progress::println(&format!(
            "{}: trained {} shadow models that the artefact stage should have cached (is --cache-dir the same?)",
            g.label, pool.trained_now
        ));
    }
    if pool.trained_now > 0 {
        ledger.stage(&format!("shadow pool, {} models trained ({})", pool.trained_now, g.model_name), ts.elapsed().as_secs_f64());
    }
    ledger.loaded_from_cache(pool.models.len() - pool.trained_now);
    let (train_out, test_out) = (orig.outputs(&p.data, &p.splits.target_train), orig.outputs(&p.data, &p.splits.target_test));
    let mut strength = BTreeMap::new();
    for (id, o) in &set.oracles {
        let s = forsaken_mia::strength(o.as_ref(), (&train_out, &p.splits.target_train), (&test_out, &p.splits.target_test))?;
        write_atomic(&g.opts.out_dir.join("roc").join(format!("{}-{id}-original.csv", g.label)), roc_csv(&s.roc).as_bytes())?;
        strength.insert(id.clone(), s.summary);
    }
    Ok(Fitted { target, orig, set, strength, orig_train: train_out.accuracy() })
}

/// One forget set of a group: the split, the original's decisions and accuracies on it.
struct ForgetCase {
    name: String,
    split: ForgetSplit,
    retained: Vec<usize>,
    base: Baseline,
    orig_acc: pipeline::Accuracies,
}

impl ForgetCase {
    fn new<B: AutodiffBackend>(g: &Group, f: &Fitted<B>, name: String, split: ForgetSplit) -> Result<Self> {
        let p = &g.p;
        let retained = pipeline::retained_sample(&split.retain, p.spec.seed);
        let base = Baseline::new(&f.set, &f.orig, &p.data, &split.forget, &retained)?;
        let orig_acc = pipeline::accuracies(&f.orig, &p.data, &split.forget, &split.retain, &p.splits.target_test);
        Ok(Self { name, split, retained, base, orig_acc })
    }

    /// FR on D_u of `model` under oracle `id` (of the set the baseline was computed with).
    fn fr(&self, set: &OracleSet, id: &str, data: &Dataset, model: &dyn Predict) -> Result<Option<f64>, ModelError> {
        let oracle = set.get(id).expect("validated oracle");
        let after = oracle.decide(&model.outputs(data, &self.split.forget), &self.split.forget)?;
        let before = self.base.on_forget(id).expect("baseline decisions of every oracle");
        Ok(FrCounts::from_decisions(before, &after).map_err(|e| ModelError::Request(e.to_string()))?.forgetting_rate().value())
    }

    /// The figures' view of a model: test accuracy and the reporting oracle's FR.
    fn observe(&self, g: &Group, set: &OracleSet, m: &dyn Predict) -> BTreeMap<String, f64> {
        let p = &g.p;
        let mut v = BTreeMap::from([("test_acc".to_string(), m.outputs(&p.data, &p.splits.target_test).accuracy())]);
        if let Ok(Some(fr)) = self.fr(set, &g.suite.reporting_oracle, &p.data, m) {
            v.insert("fr_report".to_string(), fr);
        }
        v
    }

    /// F3: the reporting oracle's ROC on D_u (members) against target_test.
    fn roc(&self, g: &Group, set: &OracleSet, model: &dyn Predict) -> Result<String> {
        let (p, o) = (&g.p, set.get(&g.suite.reporting_oracle).expect("validated reporting oracle"));
        let test = &p.splits.target_test;
        let mut scores = o.score(&model.outputs(&p.data, &self.split.forget), &self.split.forget)?;
        scores.extend(o.score(&model.outputs(&p.data, test), test)?);
        let mut labels = vec![true; self.split.forget.len()];
        labels.extend(std::iter::repeat_n(false, test.len()));
        Ok(roc_csv(&forsaken_metrics::roc_curve(&scores, &labels)?))
    }

    fn roc_path(&self, g: &Group, which: &str) -> PathBuf {
        g.opts.out_dir.join("roc").join(format!("{}-{}-{}-forget-{which}.csv", g.label, self.name, g.suite.reporting_oracle))
    }
}

/// What running one method gave: the outcome, its seconds, the whole search's seconds (when
/// swept) and the search's points.
type MethodRun<B> = (UnlearnOutcome<B>, f64, Option<f64>, Vec<TracePoint>);

/// The matched-FR strength search: weakest first, stop at the first strength reaching the target
/// under the stopping oracle (judged on D_u only, never on target_test); every point is kept for
/// the FR-vs-accuracy curves. Returns the weakest strength that reached the target, else the
/// one with the best FR.
fn strength_search<B: AutodiffBackend>(
    g: &Group,
    f: &Fitted<B>,
    case: &ForgetCase,
    method: &dyn Unlearner<B>,
    grid: &[f64],
) -> Result<MethodRun<B>> {
    let suite = g.suite;
    let t = Instant::now();
    let mut trace = Vec::new();
    let mut chosen: Option<(UnlearnOutcome<B>, f64, f64)> = None;
    let mut reached = false;
    let mut observed = 0.0;
    let req = request::<B>(&f.target, &g.p, &case.split, None, None, g.p.spec.seed, None);
    method.sweep(&req, grid, &mut |o, run_secs| {
        let ts = Instant::now();
        let model = o.model.valid();
        let fr = case.fr(&f.set, &suite.stopping_oracle, &g.p.data, &model)?;
        let mut values = case.observe(g, &f.set, &model);
        values.insert("strength".into(), o.strength);
        values.insert("seconds".into(), run_secs);
        if let Some(v) = fr {
            values.insert("fr_stop".into(), v);
        }
        trace.push(TracePoint { step: trace.len(), values });
        let v = fr.unwrap_or(f64::NAN);
        reached = v >= suite.target_fr;
        if reached || chosen.as_ref().is_none_or(|(_, best, _)| v > *best || best.is_nan()) {
            chosen = Some((o, v, run_secs));
        }
        observed += ts.elapsed().as_secs_f64();
        Ok(!reached)
    })?;
    let (mut o, best, run_secs) = chosen.expect("a sweep has at least one point");
    o.stop_reason = if reached {
        format!(
            "{}; weakest of {} swept strengths reaching FR {} under `{}`",
            o.stop_reason,
            grid.len(),
            suite.target_fr,
            suite.stopping_oracle
        )
    } else {
        format!(
            "{}; target FR {} not reached by any of {} swept strengths (best FR {best:.3} here)",
            o.stop_reason,
            suite.target_fr,
            grid.len()
        )
    };
    o.stopping_oracle = Some(suite.stopping_oracle.clone());
    let search = (t.elapsed().as_secs_f64() - observed).max(0.0);
    Ok((o, run_secs, Some(search), trace))
}

/// One run at the method's own settings; a masking method stops on the suite's target FR.
fn single_run<B: AutodiffBackend>(
    g: &Group,
    f: &Fitted<B>,
    case: &ForgetCase,
    method: &dyn Unlearner<B>,
    masking: bool,
) -> Result<MethodRun<B>> {
    let suite = g.suite;
    let stop_oracle = f.set.get(&suite.stopping_oracle).expect("validated stopping oracle");
    let before = case.base.on_forget(&suite.stopping_oracle).expect("stopping oracle decisions").to_vec();
    let rule = masking.then(|| StoppingRule { oracle: stop_oracle, target_fr: suite.target_fr, before });
    let observe = |net: &Net<B::InnerBackend>| case.observe(g, &f.set, net);
    let req = request::<B>(&f.target, &g.p, &case.split, rule, Some(&observe), g.p.spec.seed, masking.then_some(suite.target_fr));
    let t = Instant::now();
    let o = method.unlearn(&req)?;
    let secs = (t.elapsed().as_secs_f64() - o.observer_seconds - o.setup_seconds).max(0.0);
    Ok((o, secs, None, vec![]))
}

/// Run method `m` on one forget set and measure it under every oracle.
fn run_method<'a, B: AutodiffBackend>(g: &Group<'a>, f: &Fitted<B>, case: &ForgetCase, m: &'a str, ledger: &Ledger) -> Result<RunRecord> {
    let (suite, p) = (g.suite, &g.p);
    let method = crate::methods::build::<B>(m, &g.settings[m])?;
    let t = Instant::now();
    let (out, secs, search_seconds, extra_trace) = match g.entry.sweep_of(suite, m) {
        Some(grid) => strength_search(g, f, case, method.as_ref(), grid).with_context(|| format!("{}: strength search of {m}", g.label))?,
        None => single_run(g, f, case, method.as_ref(), crate::methods::role(m) == Some(Role::Masking))
            .with_context(|| format!("{}: method {m}", g.label))?,
    };
    ledger.stage(&format!("unlearning: {m} ({})", g.model_name), t.elapsed().as_secs_f64());
    let after = out.model.valid();
    if crate::methods::with_roles(&[Role::Reference, Role::Masking]).contains(&m) {
        write_atomic(&case.roc_path(g, &format!("after-{m}")), case.roc(g, &f.set, &after)?.as_bytes())?;
    }
    let acc = pipeline::accuracies(&after, &p.data, &case.split.forget, &case.split.retain, &p.splits.target_test);
    // a method that trained its own deployed model (SISA) is compared with that model
    let own_base =
        out.deployed.as_ref().map(|d| Baseline::new(&f.set, &d.valid(), &p.data, &case.split.forget, &case.retained)).transpose()?;
    let views = pipeline::oracle_views(
        &f.set,
        own_base.as_ref().unwrap_or(&case.base),
        &after,
        &p.data,
        &case.split.forget,
        &case.retained,
        p.spec.seed,
    )?;
    let mut trace = out.trace;
    trace.extend(extra_trace);
    // the record's config: what its hash covers, plus the reporting oracle
    let mut config = serde_json::to_value(g.config(m, &case.name))?;
    config["reporting_oracle"] = serde_json::json!(suite.reporting_oracle);
    Ok(RunRecord {
        dataset: p.spec.dataset.clone(),
        model: g.model_name.clone(),
        seed: p.spec.seed,
        forget: case.name.clone(),
        method: m.to_string(),
        strength: out.strength,
        strength_knob: method.strength_knob().into(),
        stopping_oracle: out.stopping_oracle.clone(),
        stop_reason: out.stop_reason.clone(),
        steps: out.steps,
        oracles: views,
        acc_forget: acc.forget,
        acc_retain: acc.retain,
        acc_test: acc.test,
        mean_top_prob_test: acc.mean_top_prob_test,
        seconds: secs,
        search_seconds,
        setup_seconds: (out.setup_seconds > 0.0).then_some(out.setup_seconds),
        retrain_seconds: f64::NAN,
        orig_acc_train: f.orig_train,
        orig_acc_test: case.orig_acc.test,
        orig_acc_forget: case.orig_acc.forget,
        oracle_strength: f.strength.clone(),
        n_train: p.splits.target_train.len(),
        n_forget: case.split.forget.len(),
        n_retained_sample: case.retained.len(),
        n_test: p.splits.target_test.len(),
        trace,
        config,
        config_hash: config_hash(&g.config(m, &case.name)),
        identity: Some(g.identity(m, &case.name)),
        git_commit: ledger.commit.clone(),
        backend: g.opts.backend.clone(),
        profile: if cfg!(debug_assertions) { "dev" } else { "release" }.to_string(),
    })
}

/// The line `--verbose` prints per finished record.
fn summary_line(rec: &RunRecord, label: &str, reporting: &str) -> String {
    let v = rec.oracles.get(reporting);
    let pct = |x: Option<f64>| x.map_or("undef".to_string(), |v| format!("{:.1}", 100.0 * v));
    format!(
        "{label:<22} {:<12} {:<13} FR({reporting}) {:>6} FR_r {:>6} UA {:5.1} RA {:5.1} TA {:5.1} ({:.1} s; {})",
        rec.forget,
        rec.method,
        pct(v.and_then(|v| v.fr)),
        pct(v.and_then(|v| v.fr_retained)),
        100.0 * (1.0 - rec.acc_forget),
        100.0 * rec.acc_retain,
        100.0 * rec.acc_test,
        rec.seconds,
        rec.stop_reason
    )
}

/// Run every method of the suite not yet recorded on one forget set.
fn run_forget_set<B: AutodiffBackend>(
    g: &Group,
    f: &Fitted<B>,
    name: String,
    split: ForgetSplit,
    todo: &[&String],
    ledger: &Ledger,
) -> Result<()> {
    let suite = g.suite;
    if todo.is_empty() {
        return Ok(());
    }
    let case = ForgetCase::new(g, f, name, split)?;
    let roc_methods = crate::methods::with_roles(&[Role::Reference, Role::Masking]);
    if todo.iter().any(|m| roc_methods.contains(&m.as_str())) {
        write_atomic(&case.roc_path(g, "before"), case.roc(g, &f.set, &f.orig)?.as_bytes())?;
    }
    for m in todo {
        let rec = run_method(g, f, &case, m.as_str(), ledger)?;
        if g.opts.verbose {
            forsaken_models::progress::println(&summary_line(&rec, &g.label, &suite.reporting_oracle));
        }
        ledger.add(rec)?;
    }
    Ok(())
}

/// One (dataset, seed) group: prepare, and unless every record is there (or no cell of it is
/// selected), fit and run each forget set; the artefact stage fits only.
fn run_group<B: AutodiffBackend>(
    suite: &Suite,
    opts: &RunOptions,
    entry: &Entry,
    seed: u64,
    ledger: &Ledger,
    selected: &BTreeSet<String>,
    overall: &ProgressBar,
    device: &B::Device,
) -> Result<()> {
    let g = Group::prepare(suite, entry, opts, seed)?;
    overall.set_prefix(format!("{} ({}), seed {seed}", entry.dataset, g.model_name));
    // every split, forget sets included, is written even when all records are there
    let cases: Vec<_> = g.forget_sets()?.into_iter().map(|(name, split)| (g.todo(ledger, &name, selected), name, split)).collect();
    let audit_todo = g.audit_todo(ledger, selected);
    if cases.iter().all(|(todo, _, _)| todo.is_empty()) && audit_todo.is_empty() {
        if opts.stage == Stage::Artefacts && selected.contains(&g.item("artefacts")) {
            // the models land in the cache that the cell stage reads
            fit_group::<B>(&g, ledger, device)?;
        }
        overall.inc(cases.len() as u64);
        return Ok(());
    }
    let fitted = fit_group::<B>(&g, ledger, device)?;
    for (todo, name, split) in cases {
        overall.set_prefix(format!("{} ({}), seed {seed}, forget {name}", entry.dataset, g.model_name));
        run_forget_set(&g, &fitted, name, split, &todo, ledger)?;
        overall.inc(1);
    }
    if let Some((a, _)) = g.audit_sides().first().filter(|_| !audit_todo.is_empty()) {
        overall.set_prefix(format!("{} ({}), seed {seed}, audit of forget {}", entry.dataset, g.model_name, a.forget));
        run_audit(&g, &fitted, a, &audit_todo, ledger)?;
    }
    Ok(())
}

/// The strength a swept method is audited at: its cell's matched strength (the record's, when
/// it is there under its key; else the same search, run again).
fn matched_strength<B: AutodiffBackend>(
    g: &Group,
    f: &Fitted<B>,
    case: &ForgetCase,
    m: &str,
    grid: &[f64],
    ledger: &Ledger,
) -> Result<f64> {
    let wanted = g.identity(m, &case.name);
    let recorded = ledger
        .store
        .lock()
        .expect("record store")
        .iter()
        .find(|r| r.method == m && r.identity.as_ref() == Some(&wanted))
        .map(|r| r.strength);
    if let Some(s) = recorded {
        return Ok(s);
    }
    let method = crate::methods::build::<B>(m, &g.settings[m])?;
    Ok(strength_search(g, f, case, method.as_ref(), grid)?.0.strength)
}

/// The deletion audit of one group (docs/audit.md): each side to compute, swept methods at their
/// cells' matched strength, masking methods stopping as in their cells.
fn run_audit<B: AutodiffBackend>(
    g: &Group,
    f: &Fitted<B>,
    a: &crate::population::AuditSettings,
    todo: &[String],
    ledger: &Ledger,
) -> Result<()> {
    use crate::audit::{Make, SideJob};
    use crate::population::{Deletion, Stop, DO_NOTHING, RETRAIN_CONTROL};
    let (suite, p) = (g.suite, &g.p);
    let split = a
        .forget
        .select(&p.data, &p.splits.target_train, p.spec.seed)
        .with_context(|| format!("{}: audit forget set {}", g.label, a.forget))?;
    let case = ForgetCase::new(g, f, a.forget.to_string(), split)?;
    let d = Deletion::new(p, &f.target, &case.split, case.name.clone(), a, g.opts.cache_dir.as_deref(), &g.opts.backend);
    let stop_id = &suite.stopping_oracle;
    // the fitted stopping oracle follows from its configuration and its shadow pool
    let pool = p.identity(Kind::ShadowPool, &p.splits.target_train, &g.opts.backend).key;
    let oracle_key = crate::io::config_hash(&(&suite.oracles, pool));
    let mut sides = Vec::new();
    // the do-nothing control's identity leads: it is always assessed (every verdict's power)
    for side in std::iter::once(&DO_NOTHING.to_string()).chain(todo.iter().filter(|s| *s != DO_NOTHING)) {
        let make = match side.as_str() {
            RETRAIN_CONTROL => Make::RetrainControl,
            DO_NOTHING => Make::DoNothing,
            m => {
                let strength = g.entry.sweep_of(suite, m).map(|grid| matched_strength(g, f, &case, m, grid, ledger)).transpose()?;
                let masking = crate::methods::role(m) == Some(Role::Masking) && strength.is_none();
                let before = case.base.on_forget(stop_id).expect("stopping oracle decisions");
                let oracle = f.set.get(stop_id).expect("validated stopping oracle");
                let stop = masking.then(|| Stop { oracle, oracle_key: oracle_key.clone(), target_fr: suite.target_fr, before });
                Make::Method { settings: &g.settings[m], strength, stop }
            }
        };
        sides.push(SideJob { side: side.clone(), make, identity: g.audit_identity(a, side) });
    }
    let oracle = f.set.get(&suite.reporting_oracle).expect("validated reporting oracle");
    let before = oracle.decide(&f.orig.outputs(&p.data, &d.rows.forget), &d.rows.forget)?;
    let reporting = Some(crate::audit::Reporting { oracle, before });
    let dir = g.opts.out_dir.join("audit");
    let model = &g.model_name;
    let retrained_in = crate::audit::run_deletion(&d, reporting, sides, &ledger.commit, &mut |done| {
        let rec = done.record;
        match done.made_in {
            Some(secs) if rec.side != RETRAIN_CONTROL && rec.side != DO_NOTHING => {
                ledger.stage(&format!("audit: {}, {} runs ({model})", rec.side, a.models), secs)
            }
            _ => {}
        }
        if !todo.contains(&rec.side) {
            return Ok(());
        }
        crate::audit::export(&dir, &crate::audit::stem(&rec), &d.rows, &done.evidence)?;
        if g.opts.verbose {
            forsaken_models::progress::println(&format!(
                "{:<22} audit {:<16} AUC {:.3} [{:.3}, {:.3}] {}; F {:.3}; relearn gap after {:.1}",
                g.label,
                rec.side,
                rec.test.auc,
                rec.test.auc_low,
                rec.test.auc_high,
                rec.verdict,
                rec.quality,
                100.0 * rec.relearning.gap_after()
            ));
        }
        ledger.add_audit(rec)
    })?;
    match retrained_in {
        Some(secs) => ledger.stage(&format!("audit: {} retrainings ({model})", 2 * a.models), secs),
        None => ledger.loaded_from_cache(2 * a.models),
    }
    Ok(())
}

/// The key of every item of `suite`'s plan: each dataset is loaded to hash its content;
/// nothing is trained or written. The same keys a run then reuses records and models under.
pub fn plan_keys(suite: &Suite, opts: &RunOptions) -> Result<BTreeMap<String, String>> {
    let mut keys = BTreeMap::new();
    for e in suite.entries.iter().filter(|e| opts.datasets.is_empty() || opts.datasets.contains(&e.dataset)) {
        for &seed in &suite.seeds {
            keys.extend(Group::load(suite, e, opts, seed)?.keys());
        }
    }
    Ok(keys)
}

/// What a suite run did: every record (old and new), how many it reused under an identical key,
/// and how many it recomputed, by reason (`new`, `code changed`, `data changed`...).
#[derive(Debug, Clone)]
pub struct SuiteRun {
    /// Every record, in suite order.
    pub records: Vec<RunRecord>,
    /// Records reused.
    pub reused: usize,
    /// Records recomputed, per reason.
    pub recomputed: BTreeMap<String, usize>,
}

impl std::fmt::Display for SuiteRun {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let n: usize = self.recomputed.values().sum();
        let why: Vec<String> = self.recomputed.iter().map(|(r, k)| format!("{k} {r}")).collect();
        write!(f, "{} records reused (identical key), {n} computed", self.reused)?;
        if n > 0 {
            write!(f, " ({})", why.join(", "))?;
        }
        Ok(())
    }
}

/// Run `work` on every item with `jobs` threads, each computing on a rayon pool of its own;
/// the first error stops the others from taking new items and is returned.
///
/// Sharing the global pool, two jobs' kernels queued behind each other and the pool's workers
/// spun waiting: two MNIST groups ran at 1.1x the throughput of one. With a pool per job (one
/// thread each on two cores), two CNN trainings run side by side at ~1.9x (`cargo xtask bench
/// cnn_step`, two processes).
fn in_parallel<T: Sync>(items: &[T], jobs: usize, work: impl Fn(&T) -> Result<()> + Sync) -> Result<()> {
    if jobs <= 1 {
        return items.iter().try_for_each(work);
    }
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let per_job = (cores / jobs).max(1);
    let next = AtomicUsize::new(0);
    let failed: Mutex<Option<anyhow::Error>> = Mutex::new(None);
    std::thread::scope(|scope| {
        for j in 0..jobs {
            let (next, failed, work) = (&next, &failed, &work);
            scope.spawn(move || {
                let run = || loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    if i >= items.len() || failed.lock().expect("error slot").is_some() {
                        break;
                    }
                    if let Err(e) = work(&items[i]) {
                        failed.lock().expect("error slot").get_or_insert(e);
                        break;
                    }
                };
                match rayon::ThreadPoolBuilder::new().num_threads(per_job).thread_name(move |t| format!("job{j}-compute{t}")).build() {
                    Ok(pool) => pool.install(run),
                    // no pool (resource limits): compute on the global one
                    Err(_) => run(),
                }
            });
        }
    });
    failed.into_inner().expect("error slot").map_or(Ok(()), Err)
}

/// Run a suite; returns every record (old and new) and writes `runs.jsonl`, the tables, the
/// ROC points, the figures and the report under `opts.out_dir`.
///
/// (dataset, seed) groups are independent (their caches and splits are disjoint) and run on
/// `opts.jobs` threads; records are merged under a lock and kept in suite order, so runs.jsonl
/// does not depend on which job finished first.
pub fn run_suite<B: AutodiffBackend>(suite: &Suite, opts: &RunOptions, device: &B::Device) -> Result<SuiteRun> {
    suite.validate().map_err(anyhow::Error::msg)?;
    let entries: Vec<&Entry> = suite.entries.iter().filter(|e| opts.datasets.is_empty() || opts.datasets.contains(&e.dataset)).collect();
    if entries.is_empty() {
        anyhow::bail!("no dataset of suite `{}` matches {:?}", suite.name, opts.datasets);
    }
    let groups: Vec<(&Entry, u64)> = entries.iter().flat_map(|e| suite.seeds.iter().map(move |&s| (*e, s))).collect();
    let jobs = opts.jobs.clamp(1, groups.len());
    if opts.stage != Stage::All && opts.cache_dir.is_none() {
        bail!("--stage {:?} hands models from one stage to the other through the cache: it needs a cache", opts.stage);
    }
    let plan = Plan::of(suite, &opts.datasets);
    let selected = plan.select(opts.stage, opts.shard);
    let part =
        PlanPart { plan: plan.id.clone(), stage: opts.stage, shard: opts.shard, datasets: opts.datasets.clone(), suite: suite.clone() };
    write_atomic(&opts.out_dir.join("plan.json"), serde_json::to_string_pretty(&part)?.as_bytes())?;
    let ledger = Ledger::open(suite, &opts.out_dir, jobs)?;
    let overall = forsaken_models::progress::bar(
        (entries.iter().map(|e| e.forget_sets(suite).len()).sum::<usize>() * suite.seeds.len()) as u64,
        format!("suite `{}`: dataset x seed x forget set", suite.name),
    );
    in_parallel(&groups, jobs, |&(entry, seed)| run_group::<B>(suite, opts, entry, seed, &ledger, &selected, &overall, device))?;
    overall.finish_and_clear();
    ledger.finish(&opts.out_dir)
}

fn request<'a, B: AutodiffBackend>(
    target: &'a Net<B>,
    p: &'a pipeline::Prepared,
    fsplit: &'a forsaken_data::split::ForgetSplit,
    stopping: Option<StoppingRule<'a>>,
    observer: Option<&'a forsaken_models::unlearn::Observer<'a, B::InnerBackend>>,
    seed: u64,
    strength: Option<f64>,
) -> UnlearnRequest<'a, B> {
    UnlearnRequest {
        original: target,
        data: &p.data,
        forget: &fsplit.forget,
        retain: &fsplit.retain,
        reference: &p.splits.reference,
        train: &p.spec.recipe,
        stopping,
        observer,
        seed,
        strength,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A real record (the committed quick run's first) as a fixture, renamed.
    fn rec(dataset: &str, method: &str, seconds: f64) -> RunRecord {
        let line = include_str!("../../../results/quick/runs.jsonl").lines().next().expect("a committed record");
        let mut r: RunRecord = serde_json::from_str(line).unwrap();
        (r.dataset, r.method, r.seconds, r.seed, r.forget) = (dataset.into(), method.into(), seconds, 0, "10%".into());
        r
    }

    fn suite() -> Suite {
        Suite::from_toml(
            "name = \"t\"\nseeds = [0]\nforget = [\"10%\"]\nmethods = [\"retrain\", \"forsaken\", \"scale\"]\n\
             [[entries]]\ndataset = \"location\"\n[[entries]]\ndataset = \"digits\"\n",
            "t",
        )
        .unwrap()
    }

    #[test]
    fn in_parallel_runs_every_item_once_and_returns_the_first_error() {
        for jobs in [1, 3] {
            let seen = Mutex::new(Vec::new());
            in_parallel(&[1, 2, 3, 4, 5], jobs, |&i| {
                seen.lock().unwrap().push(i);
                Ok(())
            })
            .unwrap();
            let mut seen = seen.into_inner().unwrap();
            seen.sort();
            assert_eq!(seen, [1, 2, 3, 4, 5], "jobs {jobs}");
            let err = in_parallel(&[1, 2, 3], jobs, |&i| if i == 2 { anyhow::bail!("item {i} failed") } else { Ok(()) }).unwrap_err();
            assert_eq!(err.to_string(), "item 2 failed");
        }
    }

    #[test]
    fn records_are_kept_in_suite_order_and_related_to_the_groups_reference() {
        let s = suite();
        let mut rs = vec![
            rec("digits", "scale", 1.0),
            rec("location", "forsaken", 2.0),
            rec("location", "retrain", 8.0),
            rec("other", "retrain", 1.0),
        ];
        sort_records(&mut rs, &s);
        let order: Vec<(&str, &str)> = rs.iter().map(|r| (r.dataset.as_str(), r.method.as_str())).collect();
        assert_eq!(order, [("location", "retrain"), ("location", "forsaken"), ("digits", "scale"), ("other", "retrain")]);
        fill_relative(&mut rs);
        assert_eq!(rs[1].retrain_seconds, 8.0, "forsaken takes its group's retrain time");
        let untouched = rec("digits", "scale", 1.0).retrain_seconds;
        assert_eq!(rs[2].retrain_seconds.to_bits(), untouched.to_bits(), "digits has no retrain record: left as it was");
        // selectivity against the group's own retrain record: 1 for retrain itself where defined
        let own = rs[0].oracles.values().filter_map(|v| v.selectivity).collect::<Vec<_>>();
        assert!(!own.is_empty() && own.iter().all(|&v| (v - 1.0).abs() < 1e-9), "{own:?}");
    }

    #[test]
    fn the_ledger_replaces_a_record_writes_at_once_and_times_only_what_it_computed() {
        let s = suite();
        let dir = std::env::temp_dir().join(format!("forsaken-ledger-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let ledger = Ledger::open(&s, &dir, 1).unwrap();
        assert!(ledger.timing().is_empty(), "nothing computed, nothing timed");
        let id = GroupId { dataset: "location".into(), model: rec("location", "retrain", 0.0).model, seed: 0, forget: "10%".into() };
        let code = crate::identity::CodeIdentity::built();
        let config = |steps: u32| serde_json::json!({ "settings": { "steps": steps } });
        let ident = |steps: u32| Identity::new(Kind::Cell, &config(steps), "data", &code, "flex");
        let at =
            |steps: u32, secs: f64| RunRecord { identity: Some(ident(steps)), config: config(steps), ..rec("location", "retrain", secs) };
        // an old record without a key is recomputed and says so
        ledger.add(RunRecord { identity: None, ..rec("location", "retrain", 2.0) }).unwrap();
        assert!(!ledger.reusable(&id, "retrain", &ident(1), &config(1)));
        ledger.add(at(1, 3.0)).unwrap();
        assert!(ledger.reusable(&id, "retrain", &ident(1), &config(1)));
        assert!(!ledger.reusable(&id, "retrain", &ident(2), &config(2)) && !ledger.reusable(&id, "forsaken", &ident(1), &config(1)));
        let reasons = ledger.reasons.lock().unwrap().clone();
        let want = [("new", 1), ("recorded without a content key", 1), ("setting `settings.steps` changed", 1)];
        assert_eq!(reasons, want.iter().map(|(r, n)| (r.to_string(), *n)).collect::<BTreeMap<_, _>>());
        assert_eq!(ledger.reused.load(Ordering::SeqCst), 1);
        ledger.add(at(2, 4.0)).unwrap();
        let on_disk = read_records(&dir.join("runs.jsonl")).unwrap();
        assert_eq!(on_disk.len(), 1, "the newer record of a group and method replaces the older");
        assert_eq!(on_disk[0].identity, Some(ident(2)));
        ledger.stage("unlearning: retrain (mlp)", 1.5);
        let timing = ledger.timing();
        assert_eq!(timing.len(), 1);
        assert_eq!(timing[0].records_computed, 3);
        assert!(dir.join("timing.json").exists());
        // a corrupt runs.jsonl is an error naming the file and line, not a silent restart
        std::fs::write(dir.join("runs.jsonl"), "{not json\n").unwrap();
        let err = Ledger::open(&s, &dir, 1).err().unwrap().to_string();
        assert!(err.contains("runs.jsonl: line 1"), "{err}");
        std::fs::remove_dir_all(&dir).ok();
    }
}
