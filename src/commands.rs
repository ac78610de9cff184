//! The subcommands, generic over the backend chosen in `backend.rs`.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use burn::tensor::backend::AutodiffBackend;
use clap::Args;
use serde::{Deserialize, Serialize};

use forsaken_data::split::{read_indices, write_indices};
use forsaken_data::{registry, ForgetSpec, ModelFamily};
use forsaken_mask::ForsakenConfig;
use forsaken_metrics::FrCounts;
use forsaken_mia::{MembershipOracle, ShadowConfig};
use forsaken_models::{checkpoint, predict, MembershipJudge, StoppingRule, UnlearnRequest};
use forsaken_repro::io::write_atomic;
use forsaken_repro::pipeline::{self, inner, ExperimentSpec};
use forsaken_repro::suite::{Entry, Suite};
use forsaken_repro::RunOptions;

use crate::{Cli, Command};

/// `forsaken train`.
#[derive(Args, Debug)]
pub struct TrainArgs {
    /// Dataset id (see `forsaken datasets`).
    #[arg(long)]
    pub dataset: String,
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
    /// Use only a seeded subset of this many samples (quick experiments).
    #[arg(long)]
    pub limit: Option<usize>,
}

/// `forsaken unlearn`.
#[derive(Args, Debug)]
pub struct UnlearnArgs {
    /// Folder written by `forsaken train`.
    #[arg(long)]
    pub model: PathBuf,
    /// Method: `forsaken` (neuron masks, stops on a target FR), `retrain` (from scratch on the
    /// retained set: exact) or `finetune` (continue training on the retained set).
    #[arg(long)]
    pub method: String,
    /// The forget set D_u: a fraction of target_train (`0.1` or `10%`), a whole class
    /// (`class:3`) or a file of dataset indices, one per line (`file:PATH`).
    #[arg(long, default_value = "10%")]
    pub forget: String,
    /// Output folder for the unlearned model.
    #[arg(long)]
    pub out: PathBuf,
    /// Forsaken: target forgetting rate under the stopping oracle (the shadow oracle).
    #[arg(long, default_value_t = 0.9)]
    pub target_fr: f64,
    /// Forsaken: step cap.
    #[arg(long, default_value_t = 500)]
    pub max_steps: usize,
    /// Fine-tune / retrain: epochs (default: 5 for fine-tune, the original's for retrain).
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Shadow models of the stopping oracle.
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
    /// Oracle: `shadow` (the only one in this build; `all` is accepted and means the same).
    #[arg(long, default_value = "all")]
    pub oracle: String,
    /// Shadow models.
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
    /// A built-in suite by name (`quick`, `smoke`), or a suite file (JSON) with the same fields.
    #[arg(long, conflicts_with = "quick")]
    pub suite: Option<String>,
    /// Only these datasets of the suite (comma-separated).
    #[arg(long, value_delimiter = ',')]
    pub datasets: Vec<String>,
    /// Seeds 0..N instead of the suite's.
    #[arg(long)]
    pub seeds: Option<u64>,
    /// Output folder (default: results/<suite name>).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Do not read or write the cache.
    #[arg(long)]
    pub no_cache: bool,
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
    let text = std::fs::read_to_string(&p).with_context(|| {
        format!(
            "reading {} (is this a folder written by `forsaken train` or `unlearn`?)",
            p.display()
        )
    })?;
    serde_json::from_str(&text).with_context(|| format!("{} is not a valid manifest", p.display()))
}

/// Run the parsed command on backend `B`.
pub fn run<B: AutodiffBackend>(cli: &Cli, device: B::Device) -> Result<()> {
    let data_dir = registry::resolve_data_dir(cli.data_dir.as_deref());
    let cache = Some(cli.cache_dir.as_path());
    let backend = cli.backend.name();
    match &cli.command {
        Command::Datasets => {
            println!(
                "{:<10} {:<5} {:>7} {:>7} {:>6} {:>7}  description",
                "id", "model", "train", "test", "ref", "shadow"
            );
            for d in registry::DATASETS {
                let shadow = d.sizes.shadow.map_or("rest".to_string(), |s| s.to_string());
                println!(
                    "{:<10} {:<5} {:>7} {:>7} {:>6} {:>7}  {}",
                    d.id,
                    format!("{:?}", d.family).to_lowercase(),
                    d.sizes.target_train,
                    d.sizes.target_test,
                    d.sizes.reference,
                    shadow,
                    d.description
                );
            }
            println!(
                "\ndata directory: {} (flag --data-dir or FORSAKEN_DATA_DIR)",
                data_dir.display()
            );
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
                dataset: a.dataset.clone(),
                model,
                pool_limit: a.limit,
                sizes: None,
                epochs: a.epochs,
            };
            let data = pipeline::load_data(&a.dataset, &data_dir, a.limit, a.seed)?;
            let mut spec = ExperimentSpec::resolve(&entry, a.seed, &data, 64, 1e-3)?;
            if a.limit.is_some() {
                spec.sizes = forsaken_data::Splits::scaled(
                    spec.sizes,
                    data.len(),
                    (data.len() as f64 / registry::info(&a.dataset)?.pool as f64).min(1.0),
                );
            }
            let p = pipeline::prepare(spec, data)?;
            let t = Instant::now();
            let (net, _, cached) = pipeline::target_model::<B>(&p, cache, &device)?;
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
            write_atomic(
                &a.out.join("manifest.json"),
                serde_json::to_string_pretty(&man)?.as_bytes(),
            )?;
            println!(
                "trained {} ({:?}) on {} samples{}: train accuracy {:.1}%, test accuracy {:.1}% -> {}",
                p.spec.dataset,
                p.spec.family,
                p.splits.target_train.len(),
                if cached { " (from cache)" } else { "" },
                100.0 * train_acc,
                100.0 * test_acc,
                a.out.display()
            );
            Ok(())
        }
        Command::Unlearn(a) => {
            let man = read_manifest(&a.model)?;
            if man.kind != "trained" {
                bail!("{} holds a `{}` model; unlearn starts from a model written by `forsaken train`", a.model.display(), man.kind);
            }
            let data = pipeline::load_data(
                &man.spec.dataset,
                &data_dir,
                man.spec.pool_limit,
                man.spec.seed,
            )?;
            let p = pipeline::prepare(man.spec.clone(), data)?;
            let original = checkpoint::load::<B>(&a.model.join("model"), &device)?;
            let spec: ForgetSpec = a.forget.parse()?;
            let fs = spec.select(&p.data, &p.splits.target_train, man.spec.seed)?;
            let fcfg = ForsakenConfig {
                max_steps: a.max_steps,
                ..ForsakenConfig::default()
            };
            let method = pipeline::method::<B>(&a.method, &fcfg, a.epochs.unwrap_or(5))?;
            let shadow_cfg = ShadowConfig {
                k: a.shadows,
                ..ShadowConfig::default()
            };
            let oracle = if a.method == "forsaken" {
                Some(pipeline::shadow_oracle::<B>(&p, &shadow_cfg, cache, &device)?.0)
            } else {
                None
            };
            let orig_inner = inner(&original);
            let before = oracle.as_ref().map(|o| {
                MembershipJudge::<B::InnerBackend>::decide(o, &orig_inner, &p.data, &fs.forget)
            });
            let req = UnlearnRequest::<B> {
                original: &original,
                data: &p.data,
                forget: &fs.forget,
                retain: &fs.retain,
                reference: &p.splits.reference,
                train: &p.spec.recipe,
                stopping: oracle
                    .as_ref()
                    .zip(before.clone())
                    .map(|(o, before)| StoppingRule {
                        oracle: o as &dyn MembershipJudge<B::InnerBackend>,
                        target_fr: a.target_fr,
                        before,
                        check_every: fcfg.check_every,
                        max_steps: a.max_steps,
                    }),
                observer: None,
                seed: man.spec.seed,
                strength: match a.method.as_str() {
                    "forsaken" => Some(a.target_fr),
                    _ => a.epochs.map(|e| e as f64),
                },
            };
            let t = Instant::now();
            let out = method.unlearn(&req)?;
            let secs = t.elapsed().as_secs_f64();
            let m = inner(&out.model);
            checkpoint::save(&m, &a.out.join("model"))?;
            write_indices(&a.out.join("forget.idx.txt"), &fs.forget)?;
            let retain_acc = predict(&m, &p.data, &fs.retain).accuracy();
            let test_acc = predict(&m, &p.data, &p.splits.target_test).accuracy();
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
            write_atomic(
                &a.out.join("manifest.json"),
                serde_json::to_string_pretty(&man2)?.as_bytes(),
            )?;
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
            if !matches!(a.oracle.as_str(), "all" | "shadow") {
                bail!("--oracle {}: this build has the `shadow` oracle (and `all`, meaning every oracle available)", a.oracle);
            }
            let before_m = read_manifest(&a.before)?;
            let after_m = read_manifest(&a.after)?;
            if before_m.spec != after_m.spec {
                bail!("{} and {} were not made from the same experiment (dataset, seed, splits, model)", a.before.display(), a.after.display());
            }
            let data = pipeline::load_data(
                &before_m.spec.dataset,
                &data_dir,
                before_m.spec.pool_limit,
                before_m.spec.seed,
            )?;
            let p = pipeline::prepare(before_m.spec.clone(), data)?;
            let forget = read_indices(&a.after.join("forget.idx.txt"))?;
            let fset: std::collections::HashSet<usize> = forget.iter().copied().collect();
            let retain: Vec<usize> = p
                .splits
                .target_train
                .iter()
                .copied()
                .filter(|i| !fset.contains(i))
                .collect();
            let before = checkpoint::load::<B::InnerBackend>(&a.before.join("model"), &device)?;
            let after = checkpoint::load::<B::InnerBackend>(&a.after.join("model"), &device)?;
            let (oracle, _) = pipeline::shadow_oracle::<B>(
                &p,
                &ShadowConfig {
                    k: a.shadows,
                    ..ShadowConfig::default()
                },
                cache,
                &device,
            )?;
            let strength = MembershipOracle::<B::InnerBackend>::strength(
                &oracle,
                &before,
                &p.data,
                &p.splits.target_train,
                &p.splits.target_test,
            )?;
            let mb = pipeline::measure(
                &before,
                &p.data,
                &forget,
                &retain,
                &p.splits.target_test,
                &oracle,
            );
            let ma = pipeline::measure(
                &after,
                &p.data,
                &forget,
                &retain,
                &p.splits.target_test,
                &oracle,
            );
            let counts = FrCounts::from_decisions(&mb.forget_members, &ma.forget_members)?;
            let fr = counts.forgetting_rate();
            let s = &strength.summary;
            println!("oracle `shadow` on the original (target_train vs target_test):");
            println!(
                "  AUC {:.3}, balanced accuracy {:.1}%, TPR at 1% FPR {}, advantage {:.3}{}",
                s.auc,
                100.0 * s.balanced_accuracy,
                s.tpr_at_1pct_fpr
                    .map_or("n/a".into(), |v| format!("{:.1}%", 100.0 * v)),
                s.advantage,
                if s.auc < forsaken_mia::WEAK_ORACLE_AUC {
                    "  [weak: this oracle cannot see membership here]"
                } else {
                    ""
                }
            );
            println!(
                "forget set: {} samples; members before B_T = {}, after A_T = {}",
                forget.len(),
                counts.b_t,
                counts.a_t
            );
            println!("forgetting rate (shadow): {}%", fr.display_percent());
            println!("{:<10} {:>8} {:>8} {:>8}", "", "UA", "RA", "TA");
            for (name, m) in [("before", &mb), ("after", &ma)] {
                println!(
                    "{:<10} {:>7.1}% {:>7.1}% {:>7.1}%",
                    name,
                    100.0 * (1.0 - m.acc_forget),
                    100.0 * m.acc_retain,
                    100.0 * m.acc_test
                );
            }
            if let Some(j) = &a.json {
                let v = serde_json::json!({
                    "oracle": "shadow",
                    "strength": s,
                    "fr": fr,
                    "counts": counts,
                    "before": {"acc_forget": mb.acc_forget, "acc_retain": mb.acc_retain, "acc_test": mb.acc_test},
                    "after": {"acc_forget": ma.acc_forget, "acc_retain": ma.acc_retain, "acc_test": ma.acc_test},
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
                    None => {
                        let text = std::fs::read_to_string(name).with_context(|| format!("`{name}` is neither a built-in suite (quick, smoke) nor a readable file"))?;
                        serde_json::from_str(&text)
                            .with_context(|| format!("{name}: not a valid suite"))?
                    }
                },
            };
            if let Some(n) = a.seeds {
                suite.seeds = (0..n).collect();
            }
            let out_dir = a
                .out
                .clone()
                .unwrap_or_else(|| PathBuf::from("results").join(&suite.name));
            let opts = RunOptions {
                data_dir,
                out_dir: out_dir.clone(),
                cache_dir: if a.no_cache {
                    None
                } else {
                    Some(cli.cache_dir.clone())
                },
                backend: backend.into(),
                datasets: a.datasets.clone(),
                verbose: !cli.quiet,
            };
            let t = Instant::now();
            let records = forsaken_repro::run_suite::<B>(&suite, &opts, &device)?;
            println!(
                "suite `{}`: {} records in {:.0} s -> {}/runs.jsonl, summary.csv, summary.md, fr_vs_accuracy.svg",
                suite.name,
                records.len(),
                t.elapsed().as_secs_f64(),
                out_dir.display()
            );
            Ok(())
        }
    }
}
