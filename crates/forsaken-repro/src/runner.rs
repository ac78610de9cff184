//! The suite runner: for each dataset and seed, train the target (cached), fit every oracle on a
//! cached shadow pool, report each oracle's strength, select the forget set, run every method,
//! measure it under every oracle, and append a record to `runs.jsonl` (rewritten atomically
//! after each record). Selectivity is then filled in against the retrained model.
//!
//! **Resume**: records already in `runs.jsonl` with the same config hash are not recomputed;
//! killed at any point and run again, the runner continues where it stopped.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Instant;

use anyhow::{Context, Result};
use burn::tensor::backend::AutodiffBackend;
use serde::Serialize;

use forsaken_data::split::write_indices;
use forsaken_metrics::selectivity::selectivity;
use forsaken_metrics::FrCounts;
use forsaken_models::{Net, Predict, Role, StoppingRule, TracePoint, UnlearnRequest};

use crate::io::{config_hash, git_commit, write_atomic};
use crate::pipeline::{self, inner, Baseline, ExperimentSpec};
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
}

/// Read the records of an earlier (possibly interrupted) run.
pub fn read_records(path: &Path) -> Result<Vec<RunRecord>> {
    if !path.exists() {
        return Ok(vec![]);
    }
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            serde_json::from_str(l)
                .with_context(|| format!("{}: line {} is not a valid run record (delete the file to start over)", path.display(), i + 1))
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
    oracles: &'a crate::pipeline::OracleConfig,
    stopping_oracle: &'a str,
    /// The method's settings, as its registry entry resolved them.
    settings: &'a serde_json::Value,
    sweep: Option<&'a [f64]>,
    target_fr: f64,
}

/// Put records in suite order (dataset entry, seed, forget set, method), whatever order the
/// jobs finished in; records of datasets or methods no longer in the suite go last.
fn sort_records(records: &mut [RunRecord], suite: &Suite) {
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
        sweep: entry.sweeps(suite).get(m).map(Vec::as_slice),
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

/// Run a suite; returns every record (old and new) and writes `runs.jsonl`, the tables, the
/// ROC points and the figure under `opts.out_dir`.
pub fn run_suite<B: AutodiffBackend>(suite: &Suite, opts: &RunOptions, device: &B::Device) -> Result<Vec<RunRecord>>
where
    B::InnerBackend: 'static,
{
    suite.validate().map_err(anyhow::Error::msg)?;
    let runs_path = opts.out_dir.join("runs.jsonl");
    let timing_path = opts.out_dir.join("timing.json");
    // the invocations that computed the records in runs.jsonl; a fresh runs.jsonl starts afresh
    let invocations: Vec<crate::report::Invocation> = if runs_path.exists() && timing_path.exists() {
        let text = std::fs::read_to_string(&timing_path).with_context(|| format!("reading {}", timing_path.display()))?;
        serde_json::from_str(&text)
            .with_context(|| format!("{} is not a timing file (delete it to start its history over)", timing_path.display()))?
    } else {
        vec![]
    };
    let store = Mutex::new(read_records(&runs_path)?);
    let computed = std::sync::atomic::AtomicUsize::new(0);
    let from_cache = std::sync::atomic::AtomicUsize::new(0);
    let started = Instant::now();
    // seconds and counts per stage of this invocation (cached stages cost nothing, are absent)
    let stages: Mutex<BTreeMap<String, (f64, usize)>> = Mutex::new(BTreeMap::new());
    let stage = |name: &str, secs: f64| {
        let mut st = stages.lock().expect("stage timings");
        let e = st.entry(name.to_string()).or_insert((0.0, 0));
        e.0 += secs;
        e.1 += 1;
    };
    let commit = git_commit();
    let profile = if cfg!(debug_assertions) { "dev" } else { "release" }.to_string();
    let entries: Vec<_> = suite.entries.iter().filter(|e| opts.datasets.is_empty() || opts.datasets.contains(&e.dataset)).collect();
    if entries.is_empty() {
        anyhow::bail!("no dataset of suite `{}` matches {:?}", suite.name, opts.datasets);
    }
    let jobs_used = opts.jobs.clamp(1, (entries.len() * suite.seeds.len()).max(1));
    // this invocation's timing, appended to the earlier ones once it has computed a record and
    // rewritten after every record, so that a killed run keeps what it spent
    let timing_now = || -> Vec<crate::report::Invocation> {
        let mut all = invocations.clone();
        let records_computed = computed.load(std::sync::atomic::Ordering::SeqCst);
        if records_computed > 0 {
            all.push(crate::report::Invocation {
                wall_seconds: started.elapsed().as_secs_f64(),
                jobs: jobs_used,
                records_computed,
                models_from_cache: from_cache.load(std::sync::atomic::Ordering::SeqCst),
                stages: crate::report::stage_rows(&stages.lock().expect("stage timings")),
                git_commit: commit.clone(),
            });
        }
        all
    };
    // write timing.json (when there is something to keep) and return what it holds
    let save_timing = || -> Result<Vec<crate::report::Invocation>> {
        let all = timing_now();
        if !all.is_empty() {
            write_atomic(&timing_path, serde_json::to_string_pretty(&all)?.as_bytes())?;
        }
        Ok(all)
    };
    let overall = forsaken_models::progress::bar(
        (entries.iter().map(|e| e.forget_sets(suite).len()).sum::<usize>() * suite.seeds.len()) as u64,
        format!("suite `{}`: dataset x seed x forget set", suite.name),
    );
    let run_group = |entry: &Entry, seed: u64| -> Result<()> {
        {
            let data = pipeline::load_data(&entry.dataset, entry.label.as_deref(), &opts.data_dir, entry.pool_limit, seed)?;
            let spec = ExperimentSpec::resolve(entry, seed, &data, suite.batch_size, suite.lr, entry.early_stop_train_acc(suite))?;
            let model_name = format!("{:?}", spec.family).to_lowercase();
            overall.set_prefix(format!("{} ({model_name}), seed {seed}", entry.dataset));
            let p = pipeline::prepare(spec, data)?;
            let label = format!("{}-{}-s{}", p.spec.dataset, model_name, seed);
            let split_dir = opts.out_dir.join("splits").join(&label);
            p.splits.save(&split_dir)?;

            let settings = suite.method_settings().map_err(anyhow::Error::msg)?;
            let hash_of = |m: &str, forget: &str| config_hash(&run_config(suite, entry, &settings, &p.spec, m, forget));
            let done = |m: &str, forget: &str| {
                let h = hash_of(m, forget);
                store.lock().expect("record store").iter().any(|r| {
                    r.dataset == p.spec.dataset
                        && r.model == model_name
                        && r.seed == seed
                        && r.forget == forget
                        && r.method == m
                        && r.config_hash == h
                })
            };
            // every split, forget sets included, is written even when all records are cached
            let mut fsplits = Vec::new();
            let forget_sets = entry.forget_sets(suite);
            for fspec in forget_sets {
                let fsplit = fspec.select(&p.data, &p.splits.target_train, seed).with_context(|| format!("{label}: forget set {fspec}"))?;
                write_indices(&split_dir.join(format!("forget-{fspec}.idx.txt")), &fsplit.forget)?;
                fsplits.push(fsplit);
            }
            if forget_sets.iter().all(|f| suite.methods.iter().all(|m| done(m, &f.to_string()))) {
                overall.inc(forget_sets.len() as u64);
                return Ok(());
            }

            let ts = Instant::now();
            let (target, _train_secs, cached) = pipeline::target_model::<B>(&p, opts.cache_dir.as_deref(), device)?;
            if cached {
                from_cache.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            } else {
                stage(&format!("target model ({model_name})"), ts.elapsed().as_secs_f64());
            }
            let orig = inner(&target);
            let ts = Instant::now();
            let (set, pool) = pipeline::oracles::<B>(&p, &suite.oracles, opts.cache_dir.as_deref(), device)?;
            if pool.trained_now > 0 {
                stage(&format!("shadow pool, {} models trained ({model_name})", pool.trained_now), ts.elapsed().as_secs_f64());
            }
            from_cache.fetch_add(pool.models.len() - pool.trained_now, std::sync::atomic::Ordering::SeqCst);
            drop(pool);
            let mut strength = BTreeMap::new();
            let (train_out, test_out) = (orig.outputs(&p.data, &p.splits.target_train), orig.outputs(&p.data, &p.splits.target_test));
            for (id, o) in &set.oracles {
                let s = forsaken_mia::strength(o.as_ref(), (&train_out, &p.splits.target_train), (&test_out, &p.splits.target_test))?;
                write_atomic(&opts.out_dir.join("roc").join(format!("{label}-{id}-original.csv")), roc_csv(&s.roc).as_bytes())?;
                strength.insert(id.clone(), s.summary);
            }
            let orig_train = train_out.accuracy();
            let stop_oracle = set.get(&suite.stopping_oracle).expect("validated stopping oracle");
            let report_oracle = set.get(&suite.reporting_oracle).expect("validated reporting oracle");
            for (fspec, fsplit) in forget_sets.iter().zip(fsplits) {
                let fname = fspec.to_string();
                overall.set_prefix(format!("{} ({model_name}), seed {seed}, forget {fname}", entry.dataset));
                if suite.methods.iter().all(|m| done(m, &fname)) {
                    overall.inc(1);
                    continue;
                }
                let retained = pipeline::retained_sample(&fsplit.retain, seed);
                let base = Baseline::new(&set, &orig, &p.data, &fsplit.forget, &retained)?;
                let orig_acc = pipeline::accuracies(&orig, &p.data, &fsplit.forget, &fsplit.retain, &p.splits.target_test);
                let stop_before = base.on_forget(&suite.stopping_oracle).expect("stopping oracle decisions").to_vec();
                let report_before = base.on_forget(&suite.reporting_oracle).expect("reporting oracle decisions").to_vec();
                let test_idx = p.splits.target_test.clone();
                let data_ref = &p.data;
                let forget_ref = &fsplit.forget;
                // the figures' view of a model: test accuracy and the reporting oracle's FR
                let observe_any = |m: &dyn Predict| {
                    let after = report_oracle.decide(&m.outputs(data_ref, forget_ref), forget_ref);
                    let mut v = BTreeMap::from([("test_acc".to_string(), m.outputs(data_ref, &test_idx).accuracy())]);
                    let fr = after
                        .ok()
                        .and_then(|a| FrCounts::from_decisions(&report_before, &a).ok())
                        .and_then(|c| c.forgetting_rate().value());
                    if let Some(fr) = fr {
                        v.insert("fr_report".to_string(), fr);
                    }
                    v
                };
                let observe = |net: &Net<B::InnerBackend>| observe_any(net);
                // F3: the reporting oracle's ROC on D_u (members) against target_test, for the
                // original (once per forget set) and after the methods drawn there
                let roc_of = |model: &dyn Predict| -> Result<String> {
                    let test = &p.splits.target_test;
                    let mut scores = report_oracle.score(&model.outputs(&p.data, &fsplit.forget), &fsplit.forget)?;
                    scores.extend(report_oracle.score(&model.outputs(&p.data, test), test)?);
                    let mut labels = vec![true; fsplit.forget.len()];
                    labels.extend(std::iter::repeat_n(false, test.len()));
                    Ok(roc_csv(&forsaken_metrics::roc_curve(&scores, &labels)?))
                };
                let roc_path =
                    |which: &str| opts.out_dir.join("roc").join(format!("{label}-{fname}-{}-forget-{which}.csv", suite.reporting_oracle));
                let roc_methods = crate::methods::with_roles(&[Role::Reference, Role::Masking]);
                if suite.methods.iter().any(|m| roc_methods.contains(&m.as_str()) && !done(m, &fname)) {
                    write_atomic(&roc_path("before"), roc_of(&orig)?.as_bytes())?;
                }

                for m in &suite.methods {
                    if done(m, &fname) {
                        continue;
                    }
                    let method = crate::methods::build::<B>(m, &settings[m])?;
                    let masking = crate::methods::role(m) == Some(Role::Masking);
                    let grid: Option<&[f64]> = entry.sweeps(suite).get(m).map(Vec::as_slice);
                    let t = Instant::now();
                    let (out, secs, search_seconds, extra_trace) = if let Some(grid) = grid {
                        // the matched-FR strength search: weakest first, stop at the first strength
                        // reaching the target under the stopping oracle (judged on D_u only, never
                        // on target_test); every point is kept for the FR-vs-accuracy curves
                        let mut trace = Vec::new();
                        let mut chosen: Option<(forsaken_models::UnlearnOutcome<B>, f64, f64)> = None;
                        let mut reached = false;
                        let mut observed = 0.0;
                        let req = request::<B>(&target, &p, &fsplit, None, None, seed, None);
                        method
                            .sweep(&req, grid, &mut |o, run_secs| {
                                let ts = Instant::now();
                                let model = o.model.valid();
                                let fr = FrCounts::from_decisions(
                                    &stop_before,
                                    &stop_oracle.decide(&model.outputs(&p.data, &fsplit.forget), &fsplit.forget)?,
                                )
                                .map_err(|e| forsaken_models::ModelError::Request(e.to_string()))?
                                .forgetting_rate()
                                .value();
                                let mut values = observe_any(&model);
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
                            })
                            .with_context(|| format!("{label}: strength search of {m}"))?;
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
                                "{}; target FR {} not reached by any of {} swept strengths (best FR {:.3} here)",
                                o.stop_reason,
                                suite.target_fr,
                                grid.len(),
                                best
                            )
                        };
                        o.stopping_oracle = Some(suite.stopping_oracle.clone());
                        let search = (t.elapsed().as_secs_f64() - observed).max(0.0);
                        (o, run_secs, Some(search), trace)
                    } else {
                        let rule =
                            masking.then(|| StoppingRule { oracle: stop_oracle, target_fr: suite.target_fr, before: stop_before.clone() });
                        let req = request::<B>(&target, &p, &fsplit, rule, Some(&observe), seed, masking.then_some(suite.target_fr));
                        let o = method.unlearn(&req).with_context(|| format!("{label}: method {m}"))?;
                        let secs = (t.elapsed().as_secs_f64() - o.observer_seconds - o.setup_seconds).max(0.0);
                        (o, secs, None, vec![])
                    };
                    stage(&format!("unlearning: {m} ({model_name})"), t.elapsed().as_secs_f64());
                    let after = out.model.valid();
                    if roc_methods.contains(&m.as_str()) {
                        write_atomic(&roc_path(&format!("after-{m}")), roc_of(&after)?.as_bytes())?;
                    }
                    let acc = pipeline::accuracies(&after, &p.data, &fsplit.forget, &fsplit.retain, &p.splits.target_test);
                    // a method that trained its own deployed model (SISA) is compared with that model
                    let own_base =
                        out.deployed.as_ref().map(|d| Baseline::new(&set, &d.valid(), &p.data, &fsplit.forget, &retained)).transpose()?;
                    let views =
                        pipeline::oracle_views(&set, own_base.as_ref().unwrap_or(&base), &after, &p.data, &fsplit.forget, &retained, seed)?;
                    let mut trace = out.trace;
                    trace.extend(extra_trace);
                    // the record's config: what its hash covers, plus the reporting oracle
                    let mut rc = serde_json::to_value(run_config(suite, entry, &settings, &p.spec, m, &fname))?;
                    rc["reporting_oracle"] = serde_json::json!(suite.reporting_oracle);
                    let rec = RunRecord {
                        dataset: p.spec.dataset.clone(),
                        model: model_name.clone(),
                        seed,
                        forget: fname.clone(),
                        method: m.clone(),
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
                        orig_acc_train: orig_train,
                        orig_acc_test: orig_acc.test,
                        orig_acc_forget: orig_acc.forget,
                        oracle_strength: strength.clone(),
                        n_train: p.splits.target_train.len(),
                        n_forget: fsplit.forget.len(),
                        n_retained_sample: retained.len(),
                        n_test: p.splits.target_test.len(),
                        trace,
                        config: rc,
                        config_hash: hash_of(m, &fname),
                        git_commit: commit.clone(),
                        backend: opts.backend.clone(),
                        profile: profile.clone(),
                    };
                    if opts.verbose {
                        let v = rec.oracles.get(&suite.reporting_oracle);
                        let pct = |x: Option<f64>| x.map_or("undef".to_string(), |v| format!("{:.1}", 100.0 * v));
                        forsaken_models::progress::println(&format!(
                            "{label:<22} {fname:<12} {m:<13} FR({}) {:>6} FR_r {:>6} UA {:5.1} RA {:5.1} TA {:5.1} ({:.1} s; {})",
                            suite.reporting_oracle,
                            pct(v.and_then(|v| v.fr)),
                            pct(v.and_then(|v| v.fr_retained)),
                            100.0 * (1.0 - rec.acc_forget),
                            100.0 * rec.acc_retain,
                            100.0 * rec.acc_test,
                            rec.seconds,
                            rec.stop_reason
                        ));
                    }
                    let mut records = store.lock().expect("record store");
                    records.retain(|r| !(same_group(r, &rec) && r.method == rec.method));
                    records.push(rec);
                    computed.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    fill_relative(&mut records);
                    sort_records(&mut records, suite);
                    write_records(&runs_path, &records)?;
                    save_timing()?;
                }
                overall.inc(1);
            }
        }
        Ok(())
    };
    let groups: Vec<(&Entry, u64)> = entries.iter().flat_map(|e| suite.seeds.iter().map(move |&s| (*e, s))).collect();
    let jobs = jobs_used;
    if jobs == 1 {
        for &(e, s) in &groups {
            run_group(e, s)?;
        }
    } else {
        // (dataset, seed) groups are independent (their caches and splits are disjoint): run
        // them on `jobs` threads; records are merged under a lock and kept in suite order, so
        // runs.jsonl does not depend on which job finished first.
        //
        // Each job computes on a rayon pool of its own with its share of the cores. Sharing the
        // global pool, two jobs' kernels queued behind each other and the pool's workers spun
        // waiting: two MNIST groups ran at 1.1x the throughput of one. With a pool per job
        // (one thread each on two cores), two CNN trainings run side by side at ~1.9x
        // (`cargo xtask bench cnn_step`, two processes).
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let per_job = (cores / jobs).max(1);
        let next = std::sync::atomic::AtomicUsize::new(0);
        let failed: Mutex<Option<anyhow::Error>> = Mutex::new(None);
        std::thread::scope(|scope| {
            for j in 0..jobs {
                let (next, failed, groups, run_group) = (&next, &failed, &groups, &run_group);
                scope.spawn(move || {
                    let work = || loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                        if i >= groups.len() || failed.lock().expect("error slot").is_some() {
                            break;
                        }
                        if let Err(e) = run_group(groups[i].0, groups[i].1) {
                            failed.lock().expect("error slot").get_or_insert(e);
                            break;
                        }
                    };
                    match rayon::ThreadPoolBuilder::new().num_threads(per_job).thread_name(move |t| format!("job{j}-compute{t}")).build() {
                        Ok(pool) => pool.install(work),
                        // no pool (resource limits): compute on the global one
                        Err(_) => work(),
                    }
                });
            }
        });
        if let Some(e) = failed.into_inner().expect("error slot") {
            return Err(e);
        }
    }
    overall.finish_and_clear();
    let mut records = store.into_inner().expect("record store");
    fill_relative(&mut records);
    sort_records(&mut records, suite);
    write_records(&runs_path, &records)?;
    crate::tables::write_summary(&records, &opts.out_dir, &suite.reporting_oracle)?;
    crate::figures::draw_all(&records, suite, &opts.out_dir)?;
    let facts = crate::report::RunFacts { invocations: save_timing()? };
    crate::report::write_report(&records, suite, &opts.out_dir, &facts)?;
    Ok(records)
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
