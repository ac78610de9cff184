//! The suite runner: for each dataset and seed, train the target (cached), fit the shadow
//! oracle (cached), report its strength, select the forget set, run every method, measure
//! everything, and append a record to `runs.jsonl` (rewritten atomically after each record).
//!
//! **Resume**: records already in `runs.jsonl` with the same config hash are not recomputed;
//! killed at any point and run again, the runner continues where it stopped.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result};
use burn::tensor::backend::AutodiffBackend;
use serde::Serialize;

use forsaken_data::split::write_indices;
use forsaken_metrics::FrCounts;
use forsaken_mia::MembershipOracle;
use forsaken_models::{predict, MembershipJudge, Net, StoppingRule, UnlearnRequest};

use crate::io::{config_hash, git_commit, write_atomic};
use crate::pipeline::{self, inner, measure, ExperimentSpec};
use crate::record::RunRecord;
use crate::suite::Suite;

/// Where and how to run.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Data directory (flag / `FORSAKEN_DATA_DIR` / `data`).
    pub data_dir: PathBuf,
    /// Output folder (`results/<suite>`).
    pub out_dir: PathBuf,
    /// Cache of trained targets and shadow outputs; `None` disables caching.
    pub cache_dir: Option<PathBuf>,
    /// Backend name recorded in results.
    pub backend: String,
    /// Restrict to these datasets (empty = all of the suite's).
    pub datasets: Vec<String>,
    /// Print a line per finished run.
    pub verbose: bool,
}

/// Read the records of an earlier (possibly interrupted) run.
pub fn read_records(path: &Path) -> Result<Vec<RunRecord>> {
    if !path.exists() {
        return Ok(vec![]);
    }
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            serde_json::from_str(l).with_context(|| {
                format!(
                    "{}: line {} is not a valid run record",
                    path.display(),
                    i + 1
                )
            })
        })
        .collect()
}

fn write_records(path: &Path, records: &[RunRecord]) -> Result<()> {
    let mut s = String::new();
    for r in records {
        s.push_str(&serde_json::to_string(r)?);
        s.push('\n');
    }
    write_atomic(path, s.as_bytes())
}

/// The per-method part of a run's configuration (hashed into each record).
#[derive(Serialize)]
struct RunConfig<'a> {
    experiment: &'a ExperimentSpec,
    forget: String,
    method: &'a str,
    shadow: &'a forsaken_mia::ShadowConfig,
    forsaken: Option<&'a forsaken_mask::ForsakenConfig>,
    finetune_epochs: Option<usize>,
    target_fr: f64,
}

/// Run a suite; returns every record (old and new) and writes `runs.jsonl`, the tables and the
/// figure under `opts.out_dir`.
pub fn run_suite<B: AutodiffBackend>(
    suite: &Suite,
    opts: &RunOptions,
    device: &B::Device,
) -> Result<Vec<RunRecord>> {
    suite.validate().map_err(anyhow::Error::msg)?;
    let runs_path = opts.out_dir.join("runs.jsonl");
    let mut records = read_records(&runs_path)?;
    let commit = git_commit();
    let profile = if cfg!(debug_assertions) {
        "dev"
    } else {
        "release"
    }
    .to_string();
    let entries: Vec<_> = suite
        .entries
        .iter()
        .filter(|e| opts.datasets.is_empty() || opts.datasets.contains(&e.dataset))
        .collect();
    if entries.is_empty() {
        anyhow::bail!(
            "no dataset of suite `{}` matches {:?}",
            suite.name,
            opts.datasets
        );
    }
    let total = (entries.len() * suite.seeds.len()) as u64;
    let overall = forsaken_models::progress::bar(total, format!("suite `{}`", suite.name));
    for entry in entries {
        for &seed in &suite.seeds {
            let data = pipeline::load_data(&entry.dataset, &opts.data_dir, entry.pool_limit, seed)?;
            let spec = ExperimentSpec::resolve(entry, seed, &data, suite.batch_size, suite.lr)?;
            let model_name = format!("{:?}", spec.family).to_lowercase();
            overall.set_prefix(format!("{} ({model_name}), seed {seed}", entry.dataset));
            let p = pipeline::prepare(spec, data)?;
            let fsplit = suite.forget.select(&p.data, &p.splits.target_train, seed)?;
            let label = format!("{}-{}-s{}", p.spec.dataset, model_name, seed);
            let split_dir = opts.out_dir.join("splits").join(&label);
            p.splits.save(&split_dir)?;
            write_indices(&split_dir.join("forget.idx.txt"), &fsplit.forget)?;

            let configs: Vec<(String, String)> = suite
                .methods
                .iter()
                .map(|m| {
                    let rc = RunConfig {
                        experiment: &p.spec,
                        forget: suite.forget.to_string(),
                        method: m,
                        shadow: &suite.shadow,
                        forsaken: (m == "forsaken").then_some(&suite.forsaken),
                        finetune_epochs: (m == "finetune").then_some(suite.finetune_epochs),
                        target_fr: suite.target_fr,
                    };
                    (m.clone(), config_hash(&rc))
                })
                .collect();
            let done = |records: &[RunRecord], m: &str, h: &str| {
                records.iter().any(|r| {
                    r.dataset == p.spec.dataset
                        && r.model == model_name
                        && r.seed == seed
                        && r.method == m
                        && r.config_hash == h
                })
            };
            if configs.iter().all(|(m, h)| done(&records, m, h)) {
                overall.inc(1);
                continue;
            }

            let (target, _train_secs, _cached) =
                pipeline::target_model::<B>(&p, opts.cache_dir.as_deref(), device)?;
            let orig = inner(&target);
            let (oracle, _outs) =
                pipeline::shadow_oracle::<B>(&p, &suite.shadow, opts.cache_dir.as_deref(), device)?;
            let strength = MembershipOracle::<B::InnerBackend>::strength(
                &oracle,
                &orig,
                &p.data,
                &p.splits.target_train,
                &p.splits.target_test,
            )?;
            let orig_train = predict(&orig, &p.data, &p.splits.target_train).accuracy();
            let orig_m = measure(
                &orig,
                &p.data,
                &fsplit.forget,
                &fsplit.retain,
                &p.splits.target_test,
                &oracle,
            );
            let before = orig_m.forget_members.clone();
            let mut retrain_secs = records
                .iter()
                .find(|r| {
                    r.dataset == p.spec.dataset
                        && r.model == model_name
                        && r.seed == seed
                        && r.method == "retrain"
                })
                .map(|r| r.seconds)
                .unwrap_or(f64::NAN);

            for (m, hash) in &configs {
                if done(&records, m, hash) {
                    continue;
                }
                let method = pipeline::method::<B>(m, &suite.forsaken, suite.finetune_epochs)?;
                let test_idx = p.splits.target_test.clone();
                let data_ref = &p.data;
                let observer = move |net: &Net<B::InnerBackend>| {
                    BTreeMap::from([(
                        "test_acc".to_string(),
                        predict(net, data_ref, &test_idx).accuracy(),
                    )])
                };
                let stops = m == "forsaken";
                let req = UnlearnRequest::<B> {
                    original: &target,
                    data: &p.data,
                    forget: &fsplit.forget,
                    retain: &fsplit.retain,
                    reference: &p.splits.reference,
                    train: &p.spec.recipe,
                    stopping: stops.then(|| StoppingRule {
                        oracle: &oracle as &dyn MembershipJudge<B::InnerBackend>,
                        target_fr: suite.target_fr,
                        before: before.clone(),
                        check_every: suite.forsaken.check_every,
                        max_steps: suite.forsaken.max_steps,
                    }),
                    observer: Some(&observer),
                    seed,
                    strength: stops.then_some(suite.target_fr),
                };
                let t = Instant::now();
                let out = method
                    .unlearn(&req)
                    .with_context(|| format!("{label}: method {m}"))?;
                let secs = (t.elapsed().as_secs_f64() - out.observer_seconds).max(0.0);
                if m == "retrain" {
                    retrain_secs = secs;
                }
                let after_net = inner(&out.model);
                let am = measure(
                    &after_net,
                    &p.data,
                    &fsplit.forget,
                    &fsplit.retain,
                    &p.splits.target_test,
                    &oracle,
                );
                let counts = FrCounts::from_decisions(&before, &am.forget_members)?;
                let rc = RunConfig {
                    experiment: &p.spec,
                    forget: suite.forget.to_string(),
                    method: m,
                    shadow: &suite.shadow,
                    forsaken: (m == "forsaken").then_some(&suite.forsaken),
                    finetune_epochs: (m == "finetune").then_some(suite.finetune_epochs),
                    target_fr: suite.target_fr,
                };
                let rec = RunRecord {
                    dataset: p.spec.dataset.clone(),
                    model: model_name.clone(),
                    seed,
                    forget: suite.forget.to_string(),
                    method: m.clone(),
                    strength: out.strength,
                    strength_knob: method.strength_knob().into(),
                    stopping_oracle: out.stopping_oracle.clone().map(|o| {
                        format!("{o} (no loss oracle yet: stopping on the reporting oracle)")
                    }),
                    stop_reason: out.stop_reason.clone(),
                    steps: out.steps,
                    fr_shadow: counts.forgetting_rate().value(),
                    forget_members_before: counts.b_t,
                    forget_members_after: counts.a_t,
                    acc_forget: am.acc_forget,
                    acc_retain: am.acc_retain,
                    acc_test: am.acc_test,
                    mean_top_prob_test: am.mean_top_prob_test,
                    seconds: secs,
                    retrain_seconds: retrain_secs,
                    orig_acc_train: orig_train,
                    orig_acc_test: orig_m.acc_test,
                    orig_acc_forget: orig_m.acc_forget,
                    oracle_auc: strength.summary.auc,
                    oracle_balanced_accuracy: strength.summary.balanced_accuracy,
                    oracle_tpr_at_1pct_fpr: strength.summary.tpr_at_1pct_fpr,
                    oracle_advantage: strength.summary.advantage,
                    n_train: p.splits.target_train.len(),
                    n_forget: fsplit.forget.len(),
                    n_test: p.splits.target_test.len(),
                    trace: out.trace,
                    config: serde_json::to_value(&rc)?,
                    config_hash: hash.clone(),
                    git_commit: commit.clone(),
                    backend: opts.backend.clone(),
                    profile: profile.clone(),
                };
                if opts.verbose {
                    overall.suspend(|| {
                        eprintln!(
                            "{label:<24} {m:<9} FR {:>6} UA {:5.1} RA {:5.1} TA {:5.1} ({:.1} s; {})",
                            counts.forgetting_rate().display_percent(),
                            100.0 * (1.0 - rec.acc_forget),
                            100.0 * rec.acc_retain,
                            100.0 * rec.acc_test,
                            rec.seconds,
                            rec.stop_reason
                        )
                    });
                }
                records.retain(|r| {
                    !(r.dataset == rec.dataset
                        && r.model == rec.model
                        && r.seed == rec.seed
                        && r.method == rec.method
                        && r.forget == rec.forget)
                });
                records.push(rec);
                write_records(&runs_path, &records)?;
            }
            // retrain seconds are known only after retrain ran: fill them in for this group
            for r in records
                .iter_mut()
                .filter(|r| r.dataset == p.spec.dataset && r.model == model_name && r.seed == seed)
            {
                r.retrain_seconds = retrain_secs;
            }
            write_records(&runs_path, &records)?;
            overall.inc(1);
        }
    }
    overall.finish_and_clear();
    crate::tables::write_summary(&records, &opts.out_dir)?;
    crate::figures::fr_vs_accuracy(&records, &opts.out_dir.join("fr_vs_accuracy.svg"))?;
    Ok(records)
}
