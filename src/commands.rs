//! The subcommands, generic over the backend chosen in `backend.rs`.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use burn::module::AutodiffModule;
use burn::tensor::backend::AutodiffBackend;
use clap::Args;
use serde::{Deserialize, Serialize};

use forsaken_data::split::{read_indices, write_indices};
use forsaken_data::{registry, ForgetSpec, ModelFamily};
use forsaken_mask::ForsakenConfig;
use forsaken_metrics::FrCounts;
use forsaken_mia::{ShadowConfig, ORACLE_IDS, WEAK_ORACLE_AUC};
use forsaken_models::{checkpoint, predict, MembershipJudge, Predict, StoppingRule, UnlearnRequest, Unlearned};
use forsaken_repro::io::write_atomic;
use forsaken_repro::pipeline::{self, inner, Baseline, ExperimentSpec, OracleConfig};
use forsaken_repro::suite::{Entry, Suite};
use forsaken_repro::RunOptions;

use crate::{Cli, Command};

/// `forsaken train`.
#[derive(Args, Debug)]
pub struct TrainArgs {
    /// Dataset: a registry id (see `forsaken datasets`) or `csv:PATH` for your own table
    /// (with --label).
    #[arg(long)]
    pub dataset: String,
    /// Label column of a `csv:` table (header name or 0-based index; default: the last column).
    #[arg(long)]
    pub label: Option<String>,
    /// Output folder for the model, its splits and manifest.json.
    #[arg(long)]
    pub out: PathBuf,
    /// Seed of the splits, the initialization and the batch order.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Model family (default: the dataset's; `mlp` or `cnn`).
    #[arg(long)]
    pub model: Option<String>,
    /// Training epochs (default: the dataset's).
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Use only a seeded subset of this many samples (quick experiments); split sizes shrink
    /// in proportion.
    #[arg(long)]
    pub limit: Option<usize>,
    /// Members in target_train instead of the dataset's default (target_test gets as many,
    /// reference half, shadow twice as many).
    #[arg(long)]
    pub target_size: Option<usize>,
    /// Print the accuracy on target_train and on the owner's reference split after every
    /// epoch, with the time: how many epochs fit the training set (the registry's epochs were
    /// chosen this way; target_test is not looked at). Trains afresh, bypassing the cache.
    #[arg(long)]
    pub curve: bool,
}

/// `forsaken unlearn`.
#[derive(Args, Debug)]
pub struct UnlearnArgs {
    /// Folder written by `forsaken train`.
    #[arg(long)]
    pub model: PathBuf,
    /// Method: `forsaken` (neuron masks from a trained mask-gradient generator; stops on a
    /// target FR), `forsaken-w` (per-weight masks, Adam, retain KL; stops on a target FR; ours),
    /// `retrain` (from scratch on the retained set: exact), `finetune` (continue training on
    /// the retained set), `neggrad` (ascent on D_u), `neggrad-plus` (ascent on D_u, descent on
    /// retained), `random-labels` (Amnesiac), `salun` (saliency-masked random labels), `sisa`
    /// (sharded training, retrains the affected shards: exact; the output is an ensemble) or
    /// `scale` (data-free control: last hidden layer times a factor).
    #[arg(long, value_parser = clap::builder::PossibleValuesParser::new(pipeline::METHODS))]
    pub method: String,
    /// The forget set D_u: a fraction of target_train (`0.1` or `10%`), a whole class
    /// (`class:3`) or a file of dataset indices, one per line (`file:PATH`).
    #[arg(long, default_value = "10%")]
    pub forget: String,
    /// Output folder for the unlearned model.
    #[arg(long)]
    pub out: PathBuf,
    /// Forsaken, Forsaken-W: target forgetting rate under the stopping oracle.
    #[arg(long, default_value_t = 0.9)]
    pub target_fr: f64,
    /// Forsaken: the oracle checked every 10 steps to stop (`loss` by default, so that FR
    /// reported under another oracle is not the one optimized).
    #[arg(long, default_value = "loss")]
    pub stop_oracle: String,
    /// Forsaken, Forsaken-W: step cap.
    #[arg(long, default_value_t = 500)]
    pub max_steps: usize,
    /// Fine-tune / retrain: epochs (default: 5 for fine-tune, the original's for retrain).
    #[arg(long)]
    pub epochs: Option<usize>,
    /// NegGrad, NegGrad+, random labels, SalUn: optimizer steps (defaults 20, 60, 60, 60).
    #[arg(long)]
    pub steps: Option<usize>,
    /// Scale: the factor in [0, 1] (default 0.6).
    #[arg(long)]
    pub factor: Option<f64>,
    /// SISA: number of shards (default 5; 4 slices each).
    #[arg(long)]
    pub shards: Option<usize>,
    /// Shadow models of the stopping oracle's pool.
    #[arg(long, default_value_t = 4)]
    pub shadows: usize,
}

/// `forsaken audit`.
#[derive(Args, Debug)]
pub struct AuditArgs {
    /// Folder of the original model (`forsaken train`).
    #[arg(long)]
    pub before: PathBuf,
    /// Folder of the unlearned model (`forsaken unlearn`).
    #[arg(long)]
    pub after: PathBuf,
    /// Folder of a model retrained without the forget set (`forsaken unlearn --method
    /// retrain`), if you have one: enables the selectivity ratio.
    #[arg(long)]
    pub retrained: Option<PathBuf>,
    /// Oracles, comma-separated: shadow, loss, confidence, entropy, m-entropy, lira, or all.
    #[arg(long, default_value = "all", value_delimiter = ',')]
    pub oracle: Vec<String>,
    /// Shadow models for the shadow attack (LiRA's pool uses at least 16 for tables, 8 for
    /// images).
    #[arg(long, default_value_t = 4)]
    pub shadows: usize,
    /// Also write the audit as JSON to this file.
    #[arg(long)]
    pub json: Option<PathBuf>,
}

/// `forsaken reproduce`.
#[derive(Args, Debug)]
pub struct ReproduceArgs {
    /// Run the quick suite (Location and digits, one seed): the default.
    #[arg(long)]
    pub quick: bool,
    /// A built-in suite by name (`quick`, `full`, `tables`, `smoke`: crates/forsaken-repro/suites/), or a
    /// suite file (TOML, or JSON) with the same keys; unknown keys are errors.
    #[arg(long, conflicts_with = "quick")]
    pub suite: Option<String>,
    /// Only these datasets of the suite (comma-separated).
    #[arg(long, value_delimiter = ',')]
    pub datasets: Vec<String>,
    /// Only these methods of the suite (comma-separated), e.g. to rerun one into another
    /// --out folder.
    #[arg(long, value_delimiter = ',')]
    pub methods: Vec<String>,
    /// Seeds 0..N instead of the suite's.
    #[arg(long)]
    pub seeds: Option<u64>,
    /// Output folder (default: results/<suite name>).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Do not read or write the cache.
    #[arg(long)]
    pub no_cache: bool,
    /// Run this many (dataset, seed) groups in parallel (each is single-threaded on the CPU
    /// backends; use up to the number of cores). Results do not depend on it.
    #[arg(long, default_value_t = 1)]
    pub jobs: usize,
}

/// What `train` and `unlearn` write next to a model.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// `trained` or `unlearned`.
    pub kind: String,
    /// The experiment (data, split, model, recipe).
    pub spec: ExperimentSpec,
    /// Method (for unlearned models).
    pub method: Option<String>,
    /// Forget spec (for unlearned models).
    pub forget: Option<String>,
    /// Why the method stopped.
    pub stop_reason: Option<String>,
    /// Seconds of training or unlearning.
    pub seconds: f64,
    /// Accuracy on target_train (trained) or the retained set (unlearned).
    pub train_acc: f64,
    /// Accuracy on target_test.
    pub test_acc: f64,
    /// Backend used.
    pub backend: String,
}

fn read_manifest(dir: &Path) -> Result<Manifest> {
    let p = dir.join("manifest.json");
    let text = std::fs::read_to_string(&p)
        .with_context(|| format!("reading {} (is this a folder written by `forsaken train` or `unlearn`?)", p.display()))?;
    serde_json::from_str(&text).with_context(|| format!("{} is not a valid manifest", p.display()))
}

fn prepared(spec: &ExperimentSpec, data_dir: &Path) -> Result<pipeline::Prepared> {
    let data = pipeline::load_data(&spec.dataset, spec.label.as_deref(), data_dir, spec.pool_limit, spec.seed)?;
    pipeline::prepare(spec.clone(), data)
}

fn pct(x: Option<f64>) -> String {
    x.map_or("undefined".into(), |v| format!("{:.1}%", 100.0 * v))
}

/// Run the parsed command on backend `B`.
pub fn run<B: AutodiffBackend>(cli: &Cli, device: B::Device) -> Result<()>
where
    B::InnerBackend: 'static,
{
    let data_dir = registry::resolve_data_dir(cli.data_dir.as_deref());
    let cache = Some(cli.cache_dir.as_path());
    let backend = cli.backend.name();
    match &cli.command {
        Command::Datasets => {
            println!("{:<14} {:<5} {:>7} {:>7} {:>6} {:>7} {:>7}  description", "id", "model", "train", "test", "ref", "shadow", "epochs");
            for d in registry::DATASETS {
                let shadow = d.sizes.shadow.map_or("rest".to_string(), |s| s.to_string());
                println!(
                    "{:<14} {:<5} {:>7} {:>7} {:>6} {:>7} {:>7}  {}",
                    d.id,
                    format!("{:?}", d.family).to_lowercase(),
                    d.sizes.target_train,
                    d.sizes.target_test,
                    d.sizes.reference,
                    shadow,
                    d.epochs,
                    d.description
                );
            }
            println!("\nAlso: csv:PATH (with --label COLUMN), arff:PATH, purchase:PATH, texas:DIR.");
            println!("data directory: {} (flag --data-dir or FORSAKEN_DATA_DIR)", data_dir.display());
            Ok(())
        }
        Command::VerifyData => {
            let lines = forsaken_data::verify::verify(&data_dir);
            let mut problems = 0;
            for l in &lines {
                println!("{l}");
                problems += l.is_problem() as usize;
            }
            if problems > 0 {
                bail!("{problems} dataset(s) missing or not verified under {}", data_dir.display());
            }
            Ok(())
        }
        Command::Train(a) => {
            let model = match a.model.as_deref() {
                None => None,
                Some("mlp") => Some(ModelFamily::Mlp),
                Some("cnn") => Some(ModelFamily::Cnn),
                Some(o) => bail!("--model {o}: expected `mlp` or `cnn`"),
            };
            let entry = Entry {
                label: a.label.clone(),
                dataset: a.dataset.clone(),
                model,
                pool_limit: a.limit,
                sizes: a.target_size.map(|n| forsaken_data::SplitSizes {
                    target_train: n,
                    target_test: n,
                    reference: n / 2,
                    shadow: Some(2 * n),
                }),
                epochs: a.epochs,
                forget: None,
                early_stop_train_acc: None,
                sweeps: None,
            };
            let data = pipeline::load_data(&a.dataset, a.label.as_deref(), &data_dir, a.limit, a.seed)?;
            let mut spec = ExperimentSpec::resolve(&entry, a.seed, &data, 64, 1e-3, None)?;
            if a.limit.is_some() && registry::is_registered(&a.dataset) {
                let pool = registry::info(&a.dataset)?.pool as f64;
                spec.sizes = forsaken_data::Splits::scaled(spec.sizes, data.len(), (data.len() as f64 / pool).min(1.0));
            }
            let p = pipeline::prepare(spec, data)?;
            let t = Instant::now();
            let (net, cached) = if a.curve {
                println!(
                    "{}: {} members, {} reference samples, batch {}, seed {}",
                    p.spec.dataset,
                    p.splits.target_train.len(),
                    p.splits.reference.len(),
                    p.spec.recipe.batch_size,
                    a.seed
                );
                println!("epoch  train acc  reference acc  seconds");
                let fresh = forsaken_models::train::fresh::<B>(&p.spec.net, p.spec.seed, &device)?;
                let net = forsaken_models::train_with(fresh, &p.data, &p.splits.target_train, &p.spec.recipe, "train", &mut |e, net| {
                    let m = net.valid();
                    let tr = predict(&m, &p.data, &p.splits.target_train).accuracy();
                    let rf = predict(&m, &p.data, &p.splits.reference).accuracy();
                    println!("{e:>5}  {:>9.1}  {:>13.1}  {:>7.1}", 100.0 * tr, 100.0 * rf, t.elapsed().as_secs_f64());
                    Ok(true)
                })?;
                (net, false)
            } else {
                let (net, _, cached) = pipeline::target_model::<B>(&p, cache, &device)?;
                (net, cached)
            };
            let secs = t.elapsed().as_secs_f64();
            let m = inner(&net);
            let train_acc = predict(&m, &p.data, &p.splits.target_train).accuracy();
            let test_acc = predict(&m, &p.data, &p.splits.target_test).accuracy();
            checkpoint::save(&m, &a.out.join("model"))?;
            p.splits.save(&a.out.join("splits"))?;
            let man = Manifest {
                kind: "trained".into(),
                spec: p.spec.clone(),
                method: None,
                forget: None,
                stop_reason: None,
                seconds: secs,
                train_acc,
                test_acc,
                backend: backend.into(),
            };
            write_atomic(&a.out.join("manifest.json"), serde_json::to_string_pretty(&man)?.as_bytes())?;
            println!(
                "trained {} ({:?}) on {} samples ({} epochs){}: train accuracy {:.1}%, test accuracy {:.1}%, {:.1} s -> {}",
                p.spec.dataset,
                p.spec.family,
                p.splits.target_train.len(),
                p.spec.recipe.epochs,
                if cached { " (from cache)" } else { "" },
                100.0 * train_acc,
                100.0 * test_acc,
                secs,
                a.out.display()
            );
            Ok(())
        }
        Command::Unlearn(a) => {
            let man = read_manifest(&a.model)?;
            if man.kind != "trained" {
                bail!("{} holds a `{}` model; unlearn starts from a model written by `forsaken train`", a.model.display(), man.kind);
            }
            if !ORACLE_IDS.contains(&a.stop_oracle.as_str()) {
                bail!("--stop-oracle {}: known oracles are {}", a.stop_oracle, ORACLE_IDS.join(", "));
            }
            let p = prepared(&man.spec, &data_dir)?;
            let original = checkpoint::load::<B>(&a.model.join("model"), &device)?;
            let spec: ForgetSpec = a.forget.parse()?;
            let fs = spec.select(&p.data, &p.splits.target_train, man.spec.seed)?;
            let settings = pipeline::MethodSettings {
                forsaken: ForsakenConfig { max_steps: a.max_steps, ..ForsakenConfig::default() },
                forsaken_w: ForsakenConfig { max_steps: a.max_steps, ..ForsakenConfig::forsaken_w() },
                finetune_epochs: a.epochs.unwrap_or(5),
                sisa: Default::default(),
            };
            let method = pipeline::method::<B>(&a.method, &settings)?;
            let stops = pipeline::stops_on_target(&a.method);
            let fcfg = settings.masking(&a.method).cloned().unwrap_or_default();
            let oc = OracleConfig {
                ids: vec![a.stop_oracle.clone()],
                shadow: ShadowConfig { k: a.shadows, ..ShadowConfig::default() },
                ..OracleConfig::default()
            };
            let set = if stops { Some(pipeline::oracles::<B>(&p, &oc, cache, &device)?.0) } else { None };
            let orig_inner = inner(&original);
            let stop = set.as_ref().and_then(|s| s.get(&a.stop_oracle));
            let before = stop.map(|o| o.decide(&orig_inner, &p.data, &fs.forget));
            let req = UnlearnRequest::<B> {
                original: &original,
                data: &p.data,
                forget: &fs.forget,
                retain: &fs.retain,
                reference: &p.splits.reference,
                train: &p.spec.recipe,
                stopping: stop.zip(before).map(|(o, before)| StoppingRule {
                    oracle: o as &dyn MembershipJudge<B::InnerBackend>,
                    target_fr: a.target_fr,
                    before,
                    check_every: fcfg.check_every,
                    max_steps: a.max_steps,
                }),
                observer: None,
                seed: man.spec.seed,
                strength: match a.method.as_str() {
                    "forsaken" | "forsaken-w" => Some(a.target_fr),
                    "sisa" => a.shards.map(|s| s as f64),
                    "scale" => a.factor,
                    "neggrad" | "neggrad-plus" | "random-labels" | "salun" => a.steps.map(|s| s as f64),
                    _ => a.epochs.map(|e| e as f64),
                },
            };
            let t = Instant::now();
            let out = method.unlearn(&req)?;
            let secs = (t.elapsed().as_secs_f64() - out.setup_seconds).max(0.0);
            let m = out.model.valid();
            m.save(&a.out)?;
            write_indices(&a.out.join("forget.idx.txt"), &fs.forget)?;
            let retain_acc = m.outputs(&p.data, &fs.retain).accuracy();
            let test_acc = m.outputs(&p.data, &p.splits.target_test).accuracy();
            let man2 = Manifest {
                kind: "unlearned".into(),
                spec: p.spec.clone(),
                method: Some(a.method.clone()),
                forget: Some(a.forget.clone()),
                stop_reason: Some(out.stop_reason.clone()),
                seconds: secs,
                train_acc: retain_acc,
                test_acc,
                backend: backend.into(),
            };
            write_atomic(&a.out.join("manifest.json"), serde_json::to_string_pretty(&man2)?.as_bytes())?;
            println!(
                "{}: forgot {} samples in {:.1} s ({}); retained accuracy {:.1}%, test accuracy {:.1}% -> {}",
                a.method,
                fs.forget.len(),
                secs,
                out.stop_reason,
                100.0 * retain_acc,
                100.0 * test_acc,
                a.out.display()
            );
            Ok(())
        }
        Command::Audit(a) => {
            let before_m = read_manifest(&a.before)?;
            let after_m = read_manifest(&a.after)?;
            if before_m.spec != after_m.spec {
                bail!(
                    "{} and {} were not made from the same experiment (dataset, seed, splits, model)",
                    a.before.display(),
                    a.after.display()
                );
            }
            let p = prepared(&before_m.spec, &data_dir)?;
            let forget = read_indices(&a.after.join("forget.idx.txt"))?;
            let fset: std::collections::HashSet<usize> = forget.iter().copied().collect();
            let retain: Vec<usize> = p.splits.target_train.iter().copied().filter(|i| !fset.contains(i)).collect();
            let retained = pipeline::retained_sample(&retain, p.spec.seed);
            let before = checkpoint::load::<B::InnerBackend>(&a.before.join("model"), &device)?;
            let after = Unlearned::<B::InnerBackend>::load(&a.after, &device)?;
            let oc = OracleConfig {
                ids: a.oracle.clone(),
                shadow: ShadowConfig { k: a.shadows, ..ShadowConfig::default() },
                ..OracleConfig::default()
            };
            let (set, _) = pipeline::oracles::<B>(&p, &oc, cache, &device)?;
            let base = Baseline::new(&set, &before, &p.data, &forget, &retained);
            let mut views = pipeline::oracle_views(&set, &base, &after, &p.data, &forget, &retained, p.spec.seed)?;
            if let Some(rdir) = &a.retrained {
                let rm = read_manifest(rdir)?;
                if rm.spec != before_m.spec || read_indices(&rdir.join("forget.idx.txt"))? != forget {
                    bail!("{} was not retrained from the same experiment and forget set", rdir.display());
                }
                let rnet = Unlearned::<B::InnerBackend>::load(rdir, &device)?;
                let rv = pipeline::oracle_views(&set, &base, &rnet, &p.data, &forget, &retained, p.spec.seed)?;
                for (id, v) in views.iter_mut() {
                    let r = &rv[id];
                    v.selectivity = forsaken_metrics::selectivity::selectivity(v.fr, v.fr_retained, r.fr, r.fr_retained);
                }
            }
            let ab = pipeline::accuracies(&before, &p.data, &forget, &retain, &p.splits.target_test);
            let aa = pipeline::accuracies(&after, &p.data, &forget, &retain, &p.splits.target_test);
            println!("forget set: {} samples; retained sample for FR_r: {}", forget.len(), retained.len());
            println!(
                "{:<11} {:>6} {:>8} {:>9} {:>9} | {:>8} {:>15} {:>8} {:>8} {:>11}",
                "oracle", "AUC", "bal.acc", "TPR@1%", "TPR@0.1%", "FR", "95% CI", "FR_r", "select.", "ret-v-f AUC"
            );
            let mut json_oracles = serde_json::Map::new();
            for (id, o) in &set.oracles {
                let s = o.strength(&before, &p.data, &p.splits.target_train, &p.splits.target_test)?.summary;
                let v = &views[id];
                let ci = match (v.fr_ci_low, v.fr_ci_high) {
                    (Some(l), Some(h)) => format!("[{:.1}, {:.1}]", 100.0 * l, 100.0 * h),
                    _ => "n/a".into(),
                };
                println!(
                    "{:<11} {:>6.3} {:>7.1}% {:>9} {:>9} | {:>8} {:>15} {:>8} {:>8} {:>11}{}",
                    id,
                    s.auc,
                    100.0 * s.balanced_accuracy,
                    s.tpr_at_1pct_fpr.map_or("n/a".into(), |v| format!("{:.1}%", 100.0 * v)),
                    s.tpr_at_0_1pct_fpr.map_or("n/a".into(), |v| format!("{:.1}%", 100.0 * v)),
                    pct(v.fr),
                    ci,
                    pct(v.fr_retained),
                    v.selectivity.map_or("n/a".into(), |x| format!("{x:.2}")),
                    v.ret_vs_forget_auc.map_or("n/a".into(), |x| format!("{x:.3}")),
                    if s.auc < WEAK_ORACLE_AUC { "  <- weak: cannot see membership here" } else { "" }
                );
                json_oracles.insert(id.clone(), serde_json::json!({ "strength": s, "after": v }));
            }
            println!(
                "\nforgetting rate (shadow): {}",
                views.get("shadow").map_or("n/a (shadow oracle not selected)".into(), |v| pct(v.fr))
            );
            println!("{:<10} {:>8} {:>8} {:>8}", "", "UA", "RA", "TA");
            for (name, m) in [("before", &ab), ("after", &aa)] {
                println!("{:<10} {:>7.1}% {:>7.1}% {:>7.1}%", name, 100.0 * (1.0 - m.forget), 100.0 * m.retain, 100.0 * m.test);
            }
            if a.retrained.is_none() {
                println!("(pass --retrained DIR, a model retrained without the forget set, for the selectivity ratio)");
            }
            if let Some(j) = &a.json {
                let shadow_counts = views.get("shadow").map(|v| FrCounts {
                    b_t: v.members_before,
                    b_f: forget.len() - v.members_before,
                    a_t: v.members_after,
                    a_f: forget.len() - v.members_after,
                });
                let v = serde_json::json!({
                    "oracles": json_oracles,
                    "shadow_counts": shadow_counts,
                    "before": {"acc_forget": ab.forget, "acc_retain": ab.retain, "acc_test": ab.test},
                    "after": {"acc_forget": aa.forget, "acc_retain": aa.retain, "acc_test": aa.test},
                });
                write_atomic(j, serde_json::to_string_pretty(&v)?.as_bytes())?;
            }
            Ok(())
        }
        Command::Reproduce(a) => {
            let mut suite = match a.suite.as_deref() {
                None => Suite::quick(),
                Some(name) => match Suite::builtin(name) {
                    Some(s) => s,
                    None if Path::new(name).exists() => Suite::from_file(Path::new(name)).map_err(anyhow::Error::msg)?,
                    None => bail!("--suite {name}: neither a built-in suite (quick, full, tables, smoke) nor a file"),
                },
            };
            if let Some(n) = a.seeds {
                suite.seeds = (0..n).collect();
            }
            if !a.methods.is_empty() {
                if let Some(m) = a.methods.iter().find(|m| !suite.methods.contains(m)) {
                    bail!("--methods: `{m}` is not a method of suite `{}` ({})", suite.name, suite.methods.join(", "));
                }
                suite.methods.retain(|m| a.methods.contains(m));
            }
            let out_dir = a.out.clone().unwrap_or_else(|| PathBuf::from("results").join(&suite.name));
            let opts = RunOptions {
                data_dir,
                out_dir: out_dir.clone(),
                cache_dir: if a.no_cache { None } else { Some(cli.cache_dir.clone()) },
                backend: backend.into(),
                datasets: a.datasets.clone(),
                verbose: !cli.quiet,
                jobs: a.jobs,
            };
            let t = Instant::now();
            let records = forsaken_repro::run_suite::<B>(&suite, &opts, &device)?;
            println!(
                "suite `{}`: {} records in {:.0} s -> {}/REPORT.md, runs.jsonl, summary.md, tables/, figures/",
                suite.name,
                records.len(),
                t.elapsed().as_secs_f64(),
                out_dir.display()
            );
            Ok(())
        }
    }
}
