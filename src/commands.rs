//! The subcommands, generic over the backend chosen in `backend.rs`: flags become the jobs of
//! `forsaken_repro::workflow` (train, unlearn, audit) or a suite run; this file only parses and
//! prints.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Result};
use burn::tensor::backend::AutodiffBackend;
use clap::Args;

use forsaken_data::{registry, ModelFamily};
use forsaken_models::settings;
use forsaken_repro::io::write_atomic;
use forsaken_repro::suite::Suite;
use forsaken_repro::{methods, receipt, workflow, RunOptions};

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
    /// Model family (default: the dataset's).
    #[arg(long, value_parser = ["mlp", "cnn"])]
    pub model: Option<String>,
    /// Training epochs (default: the dataset's).
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Mini-batch size.
    #[arg(long, default_value_t = 64)]
    pub batch_size: usize,
    /// Adam learning rate.
    #[arg(long, default_value_t = 1e-3)]
    pub lr: f64,
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
    /// Replace the model already in --out (its files only; other files stay). Without it,
    /// a folder holding a model is refused.
    #[arg(long)]
    pub force: bool,
}

/// `forsaken unlearn`. The method's own settings are flags too (see "Method settings" below,
/// derived from the method registry); a flag that does not apply to the chosen method is an
/// error.
#[derive(Args, Debug)]
pub struct UnlearnArgs {
    /// Folder written by `forsaken train`.
    #[arg(long)]
    pub model: PathBuf,
    /// The unlearning method (`forsaken methods` describes each, with its settings).
    #[arg(long, value_parser = clap::builder::PossibleValuesParser::new(methods::ids()))]
    pub method: String,
    /// The forget set D_u: a fraction of target_train (`0.1` or `10%`), a whole class
    /// (`class:3`) or a file of dataset indices, one per line (`file:PATH`).
    #[arg(long, default_value = "10%")]
    pub forget: String,
    /// Output folder for the unlearned model.
    #[arg(long)]
    pub out: PathBuf,
    /// Masking methods (forsaken, forsaken-w): target forgetting rate under the stopping
    /// oracle, in (0, 1] (default 0.9).
    #[arg(long)]
    pub target_fr: Option<f64>,
    /// Masking methods: the oracle checked to stop (default `loss`, so that FR reported under
    /// another oracle is not the one optimized).
    #[arg(long)]
    pub stop_oracle: Option<String>,
    /// Masking methods: shadow models of the stopping oracle's pool (default 4).
    #[arg(long)]
    pub shadows: Option<usize>,
    /// The receipt's verdict: the forgetting rate under --receipt-oracle must reach this, in
    /// [0, 1] (the receipt records the thresholds with the verdict).
    #[arg(long, default_value_t = 0.9)]
    pub min_fr: f64,
    /// The receipt's verdict: FR on the retained set must stay at or below this, in [0, 1]
    /// (default: not judged).
    #[arg(long)]
    pub max_fr_retained: Option<f64>,
    /// The oracle whose FR the receipt's verdict judges (default `shadow`, the reporting oracle).
    #[arg(long, default_value = "shadow")]
    pub receipt_oracle: String,
    /// The oracles of the receipt's audit, comma-separated, or all. `lira` needs a pool of 16
    /// shadow models (8 for images), the others 4: leave it out where shadow models are slow to
    /// train (CNNs on CPU).
    #[arg(long, default_value = "all", value_delimiter = ',')]
    pub receipt_oracles: Vec<String>,
    /// A model retrained without the same forget set (`--method retrain`), if you have one:
    /// the receipt's audit then reports selectivity.
    #[arg(long)]
    pub retrained: Option<PathBuf>,
    /// The method's settings from its flags (filled in from the registry's flags).
    #[arg(skip)]
    pub settings: serde_json::Value,
    /// Replace the model already in --out (its files only; other files stay). Without it,
    /// a folder holding a model is refused.
    #[arg(long)]
    pub force: bool,
}

/// `forsaken audit`: an unlearned model against its original under every oracle (`--before`,
/// `--after`), the same audit of logits computed elsewhere (`--logits`, docs/logits.md), or with
/// `--against-retrain N` the deletion audit (docs/audit.md): N retrainings without the forget set
/// against N runs of each method, per example, with both controls.
#[derive(Args, Debug)]
pub struct AuditArgs {
    /// Folder of the original model (`forsaken train`).
    #[arg(long, required_unless_present = "logits")]
    pub before: Option<PathBuf>,
    /// Folder of the unlearned model (`forsaken unlearn`). With --against-retrain: the
    /// deletion to audit is its forget set and, unless --methods says otherwise, its method.
    #[arg(long, required_unless_present_any = ["against_retrain", "logits"])]
    pub after: Option<PathBuf>,
    /// Audit a model trained anywhere from a folder of .npy logits (docs/logits.md: the
    /// original's, the unlearned model's, optionally a retrained one's, labels, the member,
    /// forget and non-member rows, and shadow models' logits with LiRA's keep mask).
    #[arg(long, value_name = "DIR", conflicts_with_all = ["before", "after", "retrained", "against_retrain", "write_logits"])]
    pub logits: Option<PathBuf>,
    /// Also save the logits layout this audit read into DIR: `forsaken audit --logits DIR`
    /// then gives the same numbers.
    #[arg(long, value_name = "DIR", conflicts_with = "against_retrain")]
    pub write_logits: Option<PathBuf>,
    /// Run the deletion audit with N models per side (at least 16; 32 is the default of the
    /// suites): N retrainings on the retained set, N more as the retrain control, and N runs
    /// of each method on the original with their own seeds. Each method gets a verdict:
    /// "indistinguishable from retraining" (its per-example likelihood-ratio AUC's upper bound
    /// <= 0.55, and doing nothing is detected), "distinguishable" (lower bound > 0.55) or
    /// "inconclusive" (with the reason). Models are cached under --cache-dir.
    #[arg(long, value_name = "N")]
    pub against_retrain: Option<usize>,
    /// With --against-retrain: the deletion, `10%` of target_train (seeded), `class:3` or
    /// `file:PATH` (dataset indices, one per line); default: --after's forget set, else 10%.
    #[arg(long, requires = "against_retrain")]
    pub forget: Option<String>,
    /// With --against-retrain: methods to audit, comma-separated, at their default settings
    /// (default: --after's method, else forsaken,forsaken-w).
    #[arg(long, value_delimiter = ',', requires = "against_retrain")]
    pub methods: Vec<String>,
    /// With --against-retrain: audited examples of the forget set (n_A, default 200; as many
    /// retained ones).
    #[arg(long, requires = "against_retrain")]
    pub examples: Option<usize>,
    /// With --against-retrain: epochs of the relearning fine-tune on the retained set
    /// (default 5).
    #[arg(long, requires = "against_retrain")]
    pub relearn_epochs: Option<usize>,
    /// With --against-retrain: masking methods' target FR under the `loss` oracle (default 0.9).
    #[arg(long, requires = "against_retrain")]
    pub target_fr: Option<f64>,
    /// With --against-retrain: the folder for audit.jsonl and the per-example CSV exports
    /// (default: audit-<before's folder name>).
    #[arg(long, requires = "against_retrain")]
    pub out: Option<PathBuf>,
    /// Folder of a model retrained without the forget set (`forsaken unlearn --method
    /// retrain`), if you have one: enables the selectivity ratio.
    #[arg(long, conflicts_with = "against_retrain")]
    pub retrained: Option<PathBuf>,
    /// Oracles, comma-separated (`forsaken methods` lists them), or all. --against-retrain
    /// fits its own: `loss` (the masking methods stop on it) and `shadow` (the relearning's FR).
    #[arg(long, default_value = "all", value_delimiter = ',')]
    pub oracle: Vec<String>,
    /// Shadow models for the shadow attack (default 4; LiRA's pool uses at least 16 for tables,
    /// 8 for images). With --logits: the first N of the folder's shadow models.
    #[arg(long)]
    pub shadows: Option<usize>,
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
    /// A built-in suite by name (`quick`, `full`, `tables`, `smoke`:
    /// crates/forsaken-repro/suites/), or a suite file (TOML, or JSON) with the same keys; unknown
    /// keys are errors.
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
    /// Output folder (default: results/SUITE).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Do not read or write the cache.
    #[arg(long)]
    pub no_cache: bool,
    /// Run this many (dataset, seed) groups in parallel (each is single-threaded on the CPU
    /// backends; use up to the number of cores). Results do not depend on it.
    #[arg(long, default_value_t = 1)]
    pub jobs: usize,
    /// After the run, compare its records with the committed ones in this folder (its
    /// runs.jsonl), field by field, timings and code provenance left out; prints "N records
    /// recomputed, identical ..." or the fields that differ.
    #[arg(long, value_name = "DIR")]
    pub compare_with: Option<PathBuf>,
    /// With --compare-with: exit with an error when anything differs.
    #[arg(long, requires = "compare_with")]
    pub check: bool,
    /// Which part of the plan to run: `artefacts` (target models and shadow pools, into the
    /// cache), `cells` (the method runs, reading the artefacts from the cache) or `all`.
    #[arg(long, default_value = "all")]
    pub stage: forsaken_repro::plan::Stage,
    /// Run shard K of N of the stage (`2/3`): every item of the plan is in exactly one shard,
    /// balanced by estimated cost; `forsaken merge` joins the shards' folders.
    #[arg(long)]
    pub shard: Option<forsaken_repro::plan::Shard>,
}

/// `forsaken import`.
#[derive(Args, Debug)]
pub struct ImportArgs {
    /// Safetensors with PyTorch's state_dict names: convs.K.*, dense.K.*, head.* and
    /// optionally input.mean / input.std (docs/interop.md gives the module).
    #[arg(long)]
    pub weights: PathBuf,
    /// The dataset the network was trained on (a registry id or `csv:PATH`), fed to it as
    /// forsaken loads it, its marked columns standardized on the members.
    #[arg(long)]
    pub dataset: String,
    /// Label column of a `csv:` table (as for `train`).
    #[arg(long)]
    pub label: Option<String>,
    /// The rows it was trained on: a file of dataset indices, one per line. The test,
    /// reference and shadow splits are drawn from the other rows.
    #[arg(long)]
    pub members: PathBuf,
    /// Model family (default: the dataset's).
    #[arg(long, value_parser = ["mlp", "cnn"])]
    pub model: Option<String>,
    /// Widths of the hidden dense layers, comma-separated (default: the family's, 128,64 for
    /// the MLP and 128 for the CNN).
    #[arg(long, value_delimiter = ',')]
    pub hidden: Option<Vec<usize>>,
    /// Output channels of the 3x3 conv blocks, comma-separated (default: the family's, 16,32
    /// for the CNN).
    #[arg(long, value_delimiter = ',')]
    pub conv: Option<Vec<usize>>,
    /// Hidden activation (default: tanh for the MLP, relu for the CNN).
    #[arg(long, value_parser = ["tanh", "relu"])]
    pub activation: Option<String>,
    /// Seed of the other splits and of everything downstream (forget sets, shadow models).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Output folder (read by `unlearn`, `audit`, `predict`, `export`).
    #[arg(long)]
    pub out: PathBuf,
    /// Replace the model already in --out (its files only; other files stay). Without it,
    /// a folder holding a model is refused.
    #[arg(long)]
    pub force: bool,
}

/// `forsaken import`.
fn import<B: AutodiffBackend>(a: &ImportArgs, env: &workflow::Env, device: &B::Device) -> Result<()> {
    let job = workflow::ImportJob {
        weights: a.weights.clone(),
        dataset: a.dataset.clone(),
        label: a.label.clone(),
        members: a.members.clone(),
        model: a.model.as_deref().map(|m| if m == "cnn" { ModelFamily::Cnn } else { ModelFamily::Mlp }),
        hidden: a.hidden.clone(),
        conv: a.conv.clone(),
        activation: a.activation.as_deref().map(|x| {
            if x == "relu" {
                forsaken_models::Activation::Relu
            } else {
                forsaken_models::Activation::Tanh
            }
        }),
        seed: a.seed,
        out: a.out.clone(),
        force: a.force,
    };
    let t = workflow::import::<B>(&job, env, device)?;
    let m = &t.manifest;
    println!(
        "imported {} ({:?}, hidden {:?}, conv {:?}) for {} with {} members: train accuracy {:.1}%, test accuracy {:.1}% -> {}",
        a.weights.display(),
        m.spec.family,
        m.spec.net.hidden,
        m.spec.net.conv_channels,
        m.spec.dataset,
        t.members,
        100.0 * m.train_acc,
        100.0 * m.test_acc,
        a.out.display()
    );
    Ok(())
}

/// `forsaken export`.
#[derive(Args, Debug)]
pub struct ExportArgs {
    /// A model folder (`train`, `import` or `unlearn`; not a SISA ensemble).
    #[arg(long)]
    pub model: PathBuf,
    /// The safetensors file to write: PyTorch's state_dict names and layouts, plus input.mean
    /// and input.std (per feature) so that `(x - mean) / std` of the dataset's raw features
    /// gives `predict`'s logits.
    #[arg(long)]
    pub out: PathBuf,
}

/// Shadow models of the shadow attack unless `--shadows` says otherwise.
const DEFAULT_SHADOWS: usize = 4;

/// `forsaken predict`.
#[derive(Args, Debug)]
pub struct PredictArgs {
    /// Folder written by `forsaken train` or `forsaken unlearn`.
    #[arg(long)]
    pub model: PathBuf,
    /// The dataset: must be the one the model was trained on (default), whose preprocessing
    /// (standardization on target_train) the model expects.
    #[arg(long)]
    pub dataset: Option<String>,
    /// Label column of a `csv:` dataset (as for `train`; default: the model's).
    #[arg(long)]
    pub label: Option<String>,
    /// Only these rows: a file of dataset indices, one per line, in the order given.
    #[arg(long)]
    pub rows: Option<PathBuf>,
    /// Output file: `.npy` (float32 [n, classes]; with a `.rows.npy` of the dataset indices
    /// beside it) or `.csv` (columns row, label, logit_0, ...).
    #[arg(long)]
    pub out: PathBuf,
}

/// `forsaken predict`.
fn predict<B: AutodiffBackend>(a: &PredictArgs, env: &workflow::Env, device: &B::Device) -> Result<()> {
    let job = workflow::PredictJob { model: a.model.clone(), dataset: a.dataset.clone(), label: a.label.clone(), rows: a.rows.clone() };
    let p = workflow::predict::<B>(&job, env, device)?;
    forsaken_repro::logits::write_predictions(&a.out, &p.rows, &p.labels, &p.logits, p.num_classes)?;
    println!("logits of {} rows x {} classes -> {}", p.rows.len(), p.num_classes, a.out.display());
    Ok(())
}

/// `forsaken audit --against-retrain N`.
fn deletion_audit<B: AutodiffBackend>(a: &AuditArgs, n: usize, env: &workflow::Env, device: &B::Device) -> Result<()> {
    if n < forsaken_metrics::audit::MIN_MODELS {
        bail!(
            "--against-retrain {n}: at least {} models per side; with fewer the test cannot tell (docs/audit.md, section 1)",
            forsaken_metrics::audit::MIN_MODELS
        );
    }
    let before = a.before.as_ref().expect("clap requires --before without --logits");
    let after = a.after.as_ref().map(|d| workflow::read_manifest(d).map(|m| (d, m))).transpose()?;
    if let Some((dir, m)) = &after {
        if m.spec != workflow::read_manifest(before)?.spec {
            bail!("{} was not unlearned from {} (another experiment: dataset, seed, splits or model)", dir.display(), before.display());
        }
    }
    let forget = match (&a.forget, &after) {
        (Some(f), _) => f.clone(),
        (None, Some((dir, _))) => format!("file:{}", dir.join("forget.idx.txt").display()),
        (None, None) => "10%".into(),
    };
    let methods = match (&a.methods[..], &after) {
        ([], Some((_, m))) => vec![m.method.clone().ok_or_else(|| anyhow::anyhow!("--after's manifest names no method"))?],
        ([], None) => vec!["forsaken".into(), "forsaken-w".into()],
        (given, _) => given.to_vec(),
    };
    let settings: forsaken_repro::population::AuditSettings = serde_json::from_value(serde_json::json!({
        "models": n, "examples": a.examples.unwrap_or(200), "methods": methods, "relearn_epochs": a.relearn_epochs.unwrap_or(5)
    }))?;
    // the settings --after's model was made with (its model manifest), for its method
    let mut patches = std::collections::BTreeMap::new();
    if let Some((dir, m)) = &after {
        let manifest = dir.join("model.manifest.json");
        let text = std::fs::read_to_string(&manifest).map_err(|e| anyhow::anyhow!("{}: {e}", manifest.display()))?;
        let what: serde_json::Value = serde_json::from_str(&text)?;
        if let Some(method) = &m.method {
            patches.insert(method.clone(), what["settings"]["settings"].clone());
        }
    }
    for (m, s) in &patches {
        println!("{m}: the settings {} was made with: {s}", a.after.as_ref().map_or(String::new(), |d| d.display().to_string()));
    }
    let name = before.file_name().map_or("model".into(), |s| s.to_string_lossy().to_string());
    let out = a.out.clone().unwrap_or_else(|| PathBuf::from(format!("audit-{name}")));
    let job = workflow::DeletionAuditJob {
        model: before.clone(),
        forget,
        settings,
        patches,
        target_fr: a.target_fr.unwrap_or(0.9),
        stop_oracle: "loss".into(),
        shadows: a.shadows.unwrap_or(DEFAULT_SHADOWS),
        out: out.clone(),
    };
    let t = Instant::now();
    let records = workflow::deletion_audit::<B>(&job, env, device)?;
    println!(
        "deletion audit of {} (forget {}): N = {n} models per side, {} audited examples, {:.1} s\n",
        before.display(),
        job.forget,
        records.first().map_or(0, |r| r.examples),
        t.elapsed().as_secs_f64()
    );
    println!("{}", forsaken_repro::audit::t5(&records).markdown());
    for r in &records {
        println!("{:<16} {}: {}", r.side, r.verdict, r.reason);
    }
    println!(
        "\nF is the NeurIPS 2023 competition's forgetting quality at this N: read it beside the retrain control's (in brackets), \
         never against an absolute threshold. Records: {}/audit.jsonl; per-example phi and epsilon: {}/audit/",
        out.display(),
        out.display()
    );
    Ok(())
}

/// `forsaken plan`.
#[derive(Args, Debug)]
pub struct PlanArgs {
    /// A built-in suite by name, or a suite file (as for `reproduce`).
    #[arg(long, default_value = "quick")]
    pub suite: String,
    /// Also show the shard of every item when split into this many shards.
    #[arg(long)]
    pub shards: Option<usize>,
    /// Also show every item's key (loads each dataset to hash its content; trains nothing).
    #[arg(long)]
    pub keys: bool,
}

/// `forsaken merge`.
#[derive(Args, Debug)]
pub struct MergeArgs {
    /// The shards' output folders.
    #[arg(required = true)]
    pub dirs: Vec<PathBuf>,
    /// The folder to write the joined records and the report to.
    #[arg(long)]
    pub out: PathBuf,
    /// Accept records made by different code (the merge lists the code identities).
    #[arg(long)]
    pub allow_mixed: bool,
}

/// Run the parsed command on backend `B`.
pub fn run<B: AutodiffBackend>(cli: &Cli, device: B::Device) -> Result<()> {
    let env = workflow::Env {
        data_dir: registry::resolve_data_dir(cli.data_dir.as_deref()),
        cache_dir: Some(cli.cache_dir.clone()),
        backend: cli.backend.name().into(),
    };
    match &cli.command {
        Command::Datasets => datasets(&env.data_dir),
        Command::VerifyData => verify_data(&env.data_dir),
        Command::Methods => {
            print!("{}", methods::describe());
            Ok(())
        }
        Command::Train(a) => train::<B>(a, &env, &device),
        Command::Unlearn(a) => unlearn::<B>(a, &env, &device),
        Command::Audit(a) => audit::<B>(a, &env, &device),
        Command::Predict(a) => predict::<B>(a, &env, &device),
        Command::VerifyReceipt(a) => verify_receipt(a, &env),
        Command::Import(a) => import::<B>(a, &env, &device),
        Command::Export(a) => {
            workflow::export::<B>(&a.model, &a.out, &env, &device)?;
            println!("{} -> {} (safetensors, PyTorch names; input.mean and input.std per feature)", a.model.display(), a.out.display());
            Ok(())
        }
        Command::Reproduce(a) => reproduce::<B>(a, cli, env, &device),
        Command::Plan(a) => plan(a, env),
        Command::Merge(a) => {
            let m = forsaken_repro::merge::merge(&a.dirs, &a.out, a.allow_mixed)?;
            let code: Vec<String> = m.code.iter().map(|(c, n)| format!("{c} ({n})")).collect();
            println!(
                "merged {} records from {} folders (code identities: {}) -> {}/REPORT.md",
                m.records,
                a.dirs.len(),
                code.join(", "),
                a.out.display()
            );
            Ok(())
        }
    }
}

/// `forsaken datasets`.
fn datasets(data_dir: &Path) -> Result<()> {
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

/// `forsaken verify-data`.
fn verify_data(data_dir: &Path) -> Result<()> {
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

/// `forsaken train`.
fn train<B: AutodiffBackend>(a: &TrainArgs, env: &workflow::Env, device: &B::Device) -> Result<()> {
    let job = workflow::TrainJob {
        dataset: a.dataset.clone(),
        label: a.label.clone(),
        out: a.out.clone(),
        seed: a.seed,
        model: a.model.as_deref().map(|m| if m == "cnn" { ModelFamily::Cnn } else { ModelFamily::Mlp }),
        epochs: a.epochs,
        limit: a.limit,
        target_size: a.target_size,
        batch_size: a.batch_size,
        lr: a.lr,
        curve: a.curve,
        force: a.force,
    };
    if a.curve {
        println!("epoch  train acc  reference acc  seconds");
    }
    let t = workflow::train::<B>(&job, env, device, &mut |e, tr, rf, secs| {
        println!("{e:>5}  {:>9.1}  {:>13.1}  {:>7.1}", 100.0 * tr, 100.0 * rf, secs)
    })?;
    let m = &t.manifest;
    println!(
        "trained {} ({:?}) on {} samples ({} epochs){}: train accuracy {:.1}%, test accuracy {:.1}%, {:.1} s -> {}",
        m.spec.dataset,
        m.spec.family,
        t.members,
        m.spec.recipe.epochs,
        if t.cached { " (from cache)" } else { "" },
        100.0 * m.train_acc,
        100.0 * m.test_acc,
        m.seconds,
        a.out.display()
    );
    Ok(())
}

/// `forsaken unlearn`.
fn unlearn<B: AutodiffBackend>(a: &UnlearnArgs, env: &workflow::Env, device: &B::Device) -> Result<()> {
    let job = workflow::UnlearnJob {
        model: a.model.clone(),
        method: a.method.clone(),
        settings: a.settings.clone(),
        forget: a.forget.clone(),
        out: a.out.clone(),
        target_fr: a.target_fr,
        stop_oracle: a.stop_oracle.clone(),
        shadows: a.shadows,
        force: a.force,
    };
    let thresholds = receipt::Thresholds { oracle: a.receipt_oracle.clone(), min_fr: a.min_fr, max_fr_retained: a.max_fr_retained };
    settings::fraction("--min-fr", a.min_fr)?;
    if let Some(max) = a.max_fr_retained {
        settings::fraction("--max-fr-retained", max)?;
    }
    if !forsaken_mia::oracle_ids().contains(&thresholds.oracle.as_str()) {
        bail!("--receipt-oracle: {}", forsaken_mia::unknown_oracle(&thresholds.oracle));
    }
    if let Some(bad) = a.receipt_oracles.iter().find(|o| *o != "all" && !forsaken_mia::oracle_ids().contains(&o.as_str())) {
        bail!("--receipt-oracles: {}", forsaken_mia::unknown_oracle(bad));
    }
    if !forsaken_mia::selects(&a.receipt_oracles, &thresholds.oracle) {
        bail!("--receipt-oracle {} must be one of --receipt-oracles ({})", thresholds.oracle, a.receipt_oracles.join(","));
    }
    let u = workflow::unlearn::<B>(&job, env, device)?;
    let m = &u.manifest;
    println!(
        "{}: forgot {} samples in {:.1} s ({}); retained accuracy {:.1}%, test accuracy {:.1}% -> {}",
        a.method,
        u.forgotten,
        m.seconds,
        m.stop_reason.as_deref().unwrap_or(""),
        100.0 * m.train_acc,
        100.0 * m.test_acc,
        a.out.display()
    );
    let job = receipt::ReceiptJob {
        original: a.model.clone(),
        unlearned: a.out.clone(),
        method: a.method.clone(),
        settings: u.settings.clone(),
        retrained: a.retrained.clone(),
        oracles: a.receipt_oracles.clone(),
        thresholds,
    };
    let r = receipt::issue::<B>(&job, env, device)?;
    let pct = |x: Option<f64>| x.map_or("undefined".into(), |x| format!("{:.1}%", 100.0 * x));
    let judged = &r.audit[&r.thresholds.oracle];
    let others: Vec<String> = r.audit.iter().map(|(id, l)| format!("{id} {}", pct(l.fr))).collect();
    println!(
        "receipt: {}; FR on retained {} (every oracle's FR: {}) -> {}",
        r.verdict,
        pct(judged.fr_retained),
        others.join(", "),
        a.out.join(receipt::RECEIPT_FILE).display()
    );
    Ok(())
}

/// `forsaken verify-receipt`.
#[derive(Args, Debug)]
pub struct VerifyReceiptArgs {
    /// The receipt (`receipt.json` in the unlearned model's folder).
    pub receipt: PathBuf,
    /// The unlearned model's folder.
    #[arg(long)]
    pub model: PathBuf,
    /// The original model's folder (default: the folder the receipt names).
    #[arg(long)]
    pub original: Option<PathBuf>,
}

/// `forsaken verify-receipt`: exits 0 when every hash matches, 1 naming each mismatch.
fn verify_receipt(a: &VerifyReceiptArgs, env: &workflow::Env) -> Result<()> {
    let r = receipt::read(&a.receipt)?;
    let checks = receipt::verify(&r, &a.model, a.original.as_deref(), env)?;
    for c in &checks {
        println!(
            "{:<9} {}{}",
            if c.ok { "ok" } else { "MISMATCH" },
            c.what,
            if c.detail.is_empty() { String::new() } else { format!(": {}", c.detail) }
        );
    }
    let code = forsaken_repro::identity::CodeIdentity::built().of(forsaken_repro::identity::Kind::Cell);
    if code != r.code {
        println!("note      made by other code (receipt {}, this build {}): not a hash of the files, so not a mismatch", r.code, code);
    }
    println!("receipt's verdict: {}", r.verdict);
    let bad = checks.iter().filter(|c| !c.ok).count();
    if bad > 0 {
        bail!("{bad} of {} hashes do not match the receipt", checks.len());
    }
    println!("all {} hashes match", checks.len());
    Ok(())
}

/// `forsaken audit`.
fn audit<B: AutodiffBackend>(a: &AuditArgs, env: &workflow::Env, device: &B::Device) -> Result<()> {
    if let Some(n) = a.against_retrain {
        return deletion_audit::<B>(a, n, env, device);
    }
    let shadows = a.shadows.unwrap_or(DEFAULT_SHADOWS);
    let audit = match &a.logits {
        Some(dir) => {
            let layout = forsaken_repro::logits::LogitsLayout::read(dir)?;
            println!("{}: {} rows, {} classes, {} shadow models", dir.display(), layout.len(), layout.num_classes, layout.shadows());
            workflow::audit_layout(&layout, &a.oracle, a.shadows.unwrap_or(DEFAULT_SHADOWS.min(layout.shadows())))?
        }
        None => {
            let before = a.before.clone().expect("clap requires --before without --logits");
            let after = a.after.clone().expect("clap requires --after without --against-retrain or --logits");
            settings::at_least("oracles.shadow.k", shadows, 1)?;
            workflow::refuse_identical(&before, &after)?;
            let job = workflow::AuditJob {
                before,
                after,
                retrained: a.retrained.clone(),
                oracles: a.oracle.clone(),
                shadows,
                write_logits: a.write_logits.clone(),
            };
            workflow::audit::<B>(&job, env, device)?
        }
    };
    println!("{audit}");
    if let Some(dir) = &a.write_logits {
        println!("logits layout written to {} (audit it with `forsaken audit --logits {}`)", dir.display(), dir.display());
    }
    if let Some(j) = &a.json {
        write_atomic(j, serde_json::to_string_pretty(&audit.json())?.as_bytes())?;
    }
    Ok(())
}

/// `forsaken plan`.
fn plan(a: &PlanArgs, env: workflow::Env) -> Result<()> {
    let suite = load_suite(Some(&a.suite))?;
    let keys = if a.keys {
        let opts = RunOptions {
            data_dir: env.data_dir,
            out_dir: PathBuf::new(),
            cache_dir: None,
            backend: env.backend,
            datasets: vec![],
            verbose: false,
            jobs: 1,
            stage: forsaken_repro::plan::Stage::All,
            shard: None,
        };
        forsaken_repro::runner::plan_keys(&suite, &opts)?
    } else {
        Default::default()
    };
    print!("{}", forsaken_repro::plan::Plan::of(&suite, &[]).describe(a.shards, &keys)?);
    Ok(())
}

/// A built-in suite by name or a suite file (`None`: the quick suite).
fn load_suite(name: Option<&str>) -> Result<Suite> {
    Ok(match name {
        None => Suite::quick(),
        Some(name) => match Suite::builtin(name) {
            Some(s) => s,
            None if Path::new(name).exists() => Suite::from_file(Path::new(name)).map_err(anyhow::Error::msg)?,
            None => bail!("--suite {name}: neither a built-in suite (quick, full, tables, smoke) nor a file"),
        },
    })
}

/// `forsaken reproduce`.
fn reproduce<B: AutodiffBackend>(a: &ReproduceArgs, cli: &Cli, env: workflow::Env, device: &B::Device) -> Result<()> {
    let mut suite = load_suite(a.suite.as_deref())?;
    if let Some(n) = a.seeds {
        suite.seeds = (0..n).collect();
    }
    if !a.methods.is_empty() {
        if let Some(m) = a.methods.iter().find(|m| !suite.methods.contains(m)) {
            bail!("--methods: `{m}` is not a method of suite `{}` ({})", suite.name, suite.methods.join(", "));
        }
        suite.methods.retain(|m| a.methods.contains(m));
    }
    settings::at_least("jobs", a.jobs, 1)?;
    let out_dir = a.out.clone().unwrap_or_else(|| PathBuf::from("results").join(&suite.name));
    let opts = RunOptions {
        data_dir: env.data_dir,
        out_dir: out_dir.clone(),
        cache_dir: if a.no_cache { None } else { Some(cli.cache_dir.clone()) },
        backend: env.backend,
        datasets: a.datasets.clone(),
        verbose: !cli.quiet,
        jobs: a.jobs,
        stage: a.stage,
        shard: a.shard,
    };
    let t = Instant::now();
    let run = forsaken_repro::run_suite::<B>(&suite, &opts, device)?;
    println!("suite `{}`: {run}", suite.name);
    if run.records.is_empty() {
        println!("suite `{}`: no records here ({:?} stage) in {:.0} s", suite.name, a.stage, t.elapsed().as_secs_f64());
    } else {
        println!(
            "suite `{}`: {} records in {:.0} s -> {}/REPORT.md, runs.jsonl, summary.md, tables/, figures/",
            suite.name,
            run.records.len(),
            t.elapsed().as_secs_f64(),
            out_dir.display()
        );
    }
    if let Some(dir) = &a.compare_with {
        let path = dir.join("runs.jsonl");
        if !path.exists() {
            bail!("--compare-with: there are no committed results at {}", path.display());
        }
        let c = forsaken_repro::compare::compare(&forsaken_repro::runner::read_records(&path)?, &run.records);
        println!("{c}");
        // the audit's records, when either side has some
        let read_audits = |d: &Path| forsaken_repro::runner::read_audits(&d.join("audit.jsonl"));
        let (want, have) = (read_audits(dir)?, read_audits(&out_dir)?);
        let audits = (!want.is_empty() || !have.is_empty()).then(|| forsaken_repro::compare::compare(&want, &have));
        if let Some(ca) = &audits {
            println!("audit: {ca}");
        }
        if a.check && (!c.identical() || audits.is_some_and(|ca| !ca.identical())) {
            bail!("the reproduction differs from {} (--check)", dir.display());
        }
    }
    Ok(())
}
