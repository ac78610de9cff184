//! The model-folder workflow of the command line, as library functions: [`train`] a target
//! model into a folder, [`unlearn`] a forget set from it with one registered method, and
//! [`audit`] the result under every oracle. The `forsaken` binary only parses flags into these
//! jobs and prints what they return.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use burn::module::AutodiffModule;
use burn::tensor::backend::AutodiffBackend;
use serde::{Deserialize, Serialize};

use forsaken_data::split::{read_indices, write_indices};
use forsaken_data::{registry, ForgetSpec, ModelFamily};
use forsaken_mia::{OracleSet, OracleSettings, QueryOutputs, ShadowConfig, ShadowEvidence, ShadowOutputs, WEAK_ORACLE_AUC};
use forsaken_models::settings::{self, SettingError};
use forsaken_models::{checkpoint, Outputs, Predict, Role, SavedLogits, StoppingRule, UnlearnRequest, Unlearned};

use crate::identity::{Kind, ModelManifest};
use crate::io::write_atomic;
use crate::logits::{LogitsLayout, Meta};
use crate::pipeline::{self, inner, Baseline, ExperimentSpec, OracleConfig, Prepared};
use crate::record::OracleView;
use crate::suite::Entry;

/// Where a job reads data and caches models, and the backend it records.
#[derive(Debug, Clone)]
pub struct Env {
    /// The data directory.
    pub data_dir: PathBuf,
    /// Cache of target models and shadow pools.
    pub cache_dir: Option<PathBuf>,
    /// Backend name for manifests.
    pub backend: String,
}

/// What `train` and `unlearn` write next to a model.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// `trained`, `imported` or `unlearned`.
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

impl Manifest {
    /// An original model, which unlearning and the deletion audit start from: trained here or
    /// imported.
    pub fn is_original(&self) -> bool {
        self.kind == "trained" || self.kind == "imported"
    }
}

/// Read the manifest of a model folder.
pub fn read_manifest(dir: &Path) -> Result<Manifest> {
    let p = dir.join("manifest.json");
    let text = std::fs::read_to_string(&p)
        .with_context(|| format!("reading {} (is this a folder written by `forsaken train` or `unlearn`?)", p.display()))?;
    serde_json::from_str(&text).with_context(|| format!("{} is not a valid manifest", p.display()))
}

fn write_manifest(dir: &Path, m: &Manifest) -> Result<()> {
    write_atomic(&dir.join("manifest.json"), serde_json::to_string_pretty(m)?.as_bytes())
}

/// Make `out` ready for a new model folder, before any work: never one of the `inputs` (the
/// models it is made from), and a folder that already holds a model only with `force`, which
/// then removes that model's files so that none of them (a stale forget set, a shard, a receipt)
/// is taken for part of the new one. Other files in `out` are left alone.
pub fn claim_output(out: &Path, inputs: &[&Path], force: bool) -> Result<()> {
    let same = |a: &Path, b: &Path| matches!((a.canonicalize(), b.canonicalize()), (Ok(x), Ok(y)) if x == y);
    if let Some(input) = inputs.iter().find(|i| same(out, i)) {
        bail!("--out {} is the folder of the model it is made from ({}): that model must stay, to audit and verify against; choose another folder", out.display(), input.display());
    }
    if !out.join("manifest.json").exists() {
        return Ok(());
    }
    if !force {
        let what = read_manifest(out).map_or("unreadable manifest".into(), |m| format!("{} on {}", m.kind, m.spec.dataset));
        bail!("--out {} already holds a model ({what}); pass --force to replace it, or choose another folder", out.display());
    }
    for entry in std::fs::read_dir(out).with_context(|| format!("reading {}", out.display()))? {
        let path = entry?.path();
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let model_file = ["manifest.json", "ensemble.json", "forget.idx.txt", "receipt.json"].contains(&name.as_str())
            || name.starts_with("model.")
            || name.starts_with("shard-");
        if name == "splits" && path.is_dir() {
            std::fs::remove_dir_all(&path).with_context(|| format!("removing {}", path.display()))?;
        } else if model_file {
            std::fs::remove_file(&path).with_context(|| format!("removing {}", path.display()))?;
        }
    }
    Ok(())
}

fn prepared(spec: &ExperimentSpec, data_dir: &Path) -> Result<Prepared> {
    let data = pipeline::load_data(&spec.dataset, spec.label.as_deref(), data_dir, spec.pool_limit, spec.seed)?;
    pipeline::prepare(spec.clone(), data)
}

/// `forsaken train`: what to train.
#[derive(Debug, Clone)]
pub struct TrainJob {
    /// Dataset id or spec.
    pub dataset: String,
    /// Label column of a `csv:` table.
    pub label: Option<String>,
    /// Output folder.
    pub out: PathBuf,
    /// Seed.
    pub seed: u64,
    /// Model family (default: the dataset's).
    pub model: Option<ModelFamily>,
    /// Epochs (default: the dataset's).
    pub epochs: Option<usize>,
    /// Seeded subset of the pool.
    pub limit: Option<usize>,
    /// Members in target_train.
    pub target_size: Option<usize>,
    /// Mini-batch size.
    pub batch_size: usize,
    /// Learning rate.
    pub lr: f64,
    /// Print train and reference accuracy after every epoch (bypasses the cache).
    pub curve: bool,
    /// Replace a model already in `out`.
    pub force: bool,
}

impl TrainJob {
    /// Check the numbers before any data is read (same messages as a suite's).
    pub fn check(&self) -> Result<(), SettingError> {
        self.epochs.map_or(Ok(()), |e| settings::at_least("epochs", e, 1))?;
        settings::at_least("batch_size", self.batch_size, 1)?;
        settings::learning_rate("lr", self.lr)?;
        self.target_size.map_or(Ok(()), |n| settings::at_least("target_size", n, 2))?;
        self.limit.map_or(Ok(()), |n| settings::at_least("limit", n, 8))
    }

    fn spec(&self, data_dir: &Path) -> Result<Prepared> {
        let entry = Entry {
            label: self.label.clone(),
            dataset: self.dataset.clone(),
            model: self.model,
            pool_limit: self.limit,
            sizes: self.target_size.map(|n| forsaken_data::SplitSizes {
                target_train: n,
                target_test: n,
                reference: n / 2,
                shadow: Some(2 * n),
            }),
            epochs: self.epochs,
            forget: None,
            early_stop_train_acc: None,
            sweeps: None,
        };
        let data = pipeline::load_data(&self.dataset, self.label.as_deref(), data_dir, self.limit, self.seed)?;
        let mut spec = ExperimentSpec::resolve(&entry, self.seed, &data, self.batch_size, self.lr, None)?;
        if self.limit.is_some() && registry::is_registered(&self.dataset) {
            let pool = registry::info(&self.dataset)?.pool as f64;
            spec.sizes = forsaken_data::Splits::scaled(spec.sizes, data.len(), (data.len() as f64 / pool).min(1.0));
        }
        pipeline::prepare(spec, data)
    }
}

/// What [`train`] did.
#[derive(Debug, Clone)]
pub struct Trained {
    /// The manifest written.
    pub manifest: Manifest,
    /// Members trained on.
    pub members: usize,
    /// Loaded from the cache instead of trained.
    pub cached: bool,
}

/// Train (or load from the cache) a target model and write it, its splits and its manifest to
/// `job.out`. With `curve`, `on_epoch(epoch, train_acc, reference_acc, seconds)` is called after
/// every epoch.
pub fn train<B: AutodiffBackend>(
    job: &TrainJob,
    env: &Env,
    device: &B::Device,
    on_epoch: &mut dyn FnMut(usize, f64, f64, f64),
) -> Result<Trained> {
    job.check()?;
    claim_output(&job.out, &[], job.force)?;
    let p = job.spec(&env.data_dir)?;
    let t = Instant::now();
    let (net, cached) = if job.curve {
        let fresh = forsaken_models::train::fresh::<B>(&p.spec.net, p.spec.seed, device)?;
        let net = forsaken_models::train_with(fresh, &p.data, &p.splits.target_train, &p.spec.recipe, "train", &mut |e, net| {
            let m = net.valid();
            let tr = forsaken_models::predict(&m, &p.data, &p.splits.target_train).accuracy();
            let rf = forsaken_models::predict(&m, &p.data, &p.splits.reference).accuracy();
            on_epoch(e, tr, rf, t.elapsed().as_secs_f64());
            Ok(true)
        })?;
        (net, false)
    } else {
        let (net, _, cached) = pipeline::target_model::<B>(&p, env.cache_dir.as_deref(), &env.backend, true, device)?;
        (net, cached)
    };
    let seconds = t.elapsed().as_secs_f64();
    let manifest = write_folder(&job.out, &inner(&net), &p, "trained", &p.spec, seconds, env)?;
    Ok(Trained { manifest, members: p.splits.target_train.len(), cached })
}

/// Write a target model's folder (what `train` and `import` write): the network, its model
/// manifest under the target identity of `what`, the splits and the folder's manifest.
fn write_folder<B: burn::tensor::backend::Backend, T: Serialize>(
    out: &Path,
    net: &forsaken_models::Net<B>,
    p: &Prepared,
    kind: &str,
    what: &T,
    seconds: f64,
    env: &Env,
) -> Result<Manifest> {
    checkpoint::save(net, &out.join("model"))?;
    ModelManifest::write(&out.join("model"), p.identity(Kind::Target, what, &env.backend), what, &p.splits.target_train)?;
    p.splits.save(&out.join("splits"))?;
    let manifest = Manifest {
        kind: kind.into(),
        spec: p.spec.clone(),
        method: None,
        forget: None,
        stop_reason: None,
        seconds,
        train_acc: forsaken_models::predict(net, &p.data, &p.splits.target_train).accuracy(),
        test_acc: forsaken_models::predict(net, &p.data, &p.splits.target_test).accuracy(),
        backend: env.backend.clone(),
    };
    write_manifest(out, &manifest)?;
    Ok(manifest)
}

/// `forsaken import`: a network trained elsewhere, as a model folder `unlearn` and `audit` read.
#[derive(Debug, Clone)]
pub struct ImportJob {
    /// Safetensors with PyTorch's names (docs/interop.md).
    pub weights: PathBuf,
    /// Dataset id or spec, as for `train`.
    pub dataset: String,
    /// Label column of a `csv:` table.
    pub label: Option<String>,
    /// A file of the dataset rows the network was trained on, one per line.
    pub members: PathBuf,
    /// Model family (default: the dataset's).
    pub model: Option<ModelFamily>,
    /// Hidden dense widths (default: the family's).
    pub hidden: Option<Vec<usize>>,
    /// Conv channels (default: the family's; empty for an MLP).
    pub conv: Option<Vec<usize>>,
    /// Hidden activation (default: the family's).
    pub activation: Option<forsaken_models::Activation>,
    /// Seed of the other splits (test, reference, shadow) and of everything downstream.
    pub seed: u64,
    /// Output folder.
    pub out: PathBuf,
    /// Replace a model already in `out`.
    pub force: bool,
}

/// Import a network: its architecture from the job, its weights from the file, its members
/// from the job's file (the other splits are drawn from the rest), checked against the file's
/// input preprocessing when it has one; writes the folder as `train` would.
pub fn import<B: AutodiffBackend>(job: &ImportJob, env: &Env, device: &B::Device) -> Result<Trained> {
    claim_output(&job.out, &[], job.force)?;
    let members = read_indices(&job.members)?;
    let data = pipeline::load_data(&job.dataset, job.label.as_deref(), &env.data_dir, None, job.seed)?;
    let entry = Entry {
        dataset: job.dataset.clone(),
        label: job.label.clone(),
        model: job.model,
        pool_limit: None,
        sizes: None,
        epochs: None,
        forget: None,
        early_stop_train_acc: None,
        sweeps: None,
    };
    let mut spec = ExperimentSpec::resolve(&entry, job.seed, &data, 64, 1e-3, None)?;
    let net = &mut spec.net;
    (net.hidden, net.conv_channels) =
        (job.hidden.clone().unwrap_or(net.hidden.clone()), job.conv.clone().unwrap_or(net.conv_channels.clone()));
    net.activation = job.activation.unwrap_or(net.activation);
    spec.sizes.target_train = members.len();
    spec.members = Some(members);
    let ours = input_stats(&data, &pipeline::splits(&spec, data.len())?.target_train);
    let p = pipeline::prepare(spec, data)?;
    let (net, theirs) = forsaken_models::import_safetensors::<B::InnerBackend>(&p.spec.net, &job.weights, device)?;
    if let Some(theirs) = theirs {
        same_preprocessing(&ours, &theirs).with_context(|| format!("{}: input.mean / input.std", job.weights.display()))?;
    }
    let bytes = std::fs::read(&job.weights).with_context(|| format!("reading {}", job.weights.display()))?;
    let what = serde_json::json!({ "spec": p.spec, "imported": crate::identity::sha256_hex(&bytes) });
    let manifest = write_folder(&job.out, &net, &p, "imported", &what, 0.0, env)?;
    Ok(Trained { manifest, members: p.splits.target_train.len(), cached: false })
}

/// The whole input preprocessing of a model trained on `members` of `data` (as loaded).
fn input_stats(data: &forsaken_data::Dataset, members: &[usize]) -> forsaken_models::InputStats {
    let (mean, std) = data.standardization(members);
    forsaken_models::InputStats { mean: mean.iter().map(|&m| m as f32).collect(), std: std.iter().map(|&s| s as f32).collect() }
}

/// A network reads our standardized data only if it expects the same preprocessing.
fn same_preprocessing(ours: &forsaken_models::InputStats, theirs: &forsaken_models::InputStats) -> Result<()> {
    if ours.mean.len() != theirs.mean.len() {
        bail!("{} features in the file, {} in the data", theirs.mean.len(), ours.mean.len());
    }
    let close = |a: f32, b: f32| (a - b).abs() <= 1e-4 * (1.0 + a.abs().max(b.abs()));
    let pairs = ours.mean.iter().zip(&theirs.mean).zip(ours.std.iter().zip(&theirs.std)).enumerate();
    if let Some((i, ((om, tm), (os, ts)))) = pairs.into_iter().find(|(_, ((om, tm), (os, ts)))| !close(**om, **tm) || !close(**os, **ts)) {
        bail!(
            "feature {i}: the file standardizes with mean {tm}, std {ts}; forsaken feeds the network its data standardized on the members (mean {om}, std {os}; docs/interop.md): train on that preprocessing, or leave input.* out of the file"
        );
    }
    Ok(())
}

/// `forsaken export`: write a model folder's network as safetensors PyTorch loads, with its input
/// preprocessing (`input.mean`, `input.std`); an ensemble (SISA) is refused.
pub fn export<B: AutodiffBackend>(model: &Path, out: &Path, env: &Env, device: &B::Device) -> Result<()> {
    let m = read_manifest(model)?;
    let net = match loaded::<B>(model, device)? {
        Unlearned::Single(net) => net,
        Unlearned::Ensemble(e) => bail!(
            "{} holds a SISA ensemble of {} shards, whose output is the mean of their softmax outputs: one state_dict cannot hold it; export is for single networks",
            model.display(),
            e.members.len()
        ),
    };
    let s = &m.spec;
    let data = pipeline::load_data(&s.dataset, s.label.as_deref(), &env.data_dir, s.pool_limit, s.seed)?;
    let stats = input_stats(&data, &pipeline::splits(s, data.len())?.target_train);
    Ok(forsaken_models::export_safetensors(&net, &stats, out)?)
}

/// `forsaken unlearn`: which model, method and forget set.
#[derive(Debug, Clone)]
pub struct UnlearnJob {
    /// Folder written by [`train`].
    pub model: PathBuf,
    /// Method id (the registry's).
    pub method: String,
    /// The method's settings patch (its flags).
    pub settings: serde_json::Value,
    /// Forget spec.
    pub forget: String,
    /// Output folder.
    pub out: PathBuf,
    /// Masking methods: target FR, stopping oracle and its shadow models.
    pub target_fr: Option<f64>,
    /// See `target_fr`.
    pub stop_oracle: Option<String>,
    /// See `target_fr`.
    pub shadows: Option<usize>,
    /// Replace a model already in `out` (never `model` itself).
    pub force: bool,
}

impl UnlearnJob {
    /// The method's resolved settings and the stopping rule's parts, checked before any data
    /// is read; run-level flags that do not apply to the method are errors.
    fn checked(&self) -> Result<(serde_json::Value, Option<(f64, String, usize)>)> {
        let def = crate::methods::find(&self.method).map_err(anyhow::Error::msg)?;
        let settings = def.resolve(&self.settings)?;
        if def.role != Role::Masking {
            if let Some(flag) = [
                ("--target-fr", self.target_fr.is_some()),
                ("--stop-oracle", self.stop_oracle.is_some()),
                ("--shadows", self.shadows.is_some()),
            ]
            .iter()
            .find(|(_, given)| *given)
            {
                bail!("{} does not apply to method `{}` (it does not stop on a target FR)", flag.0, self.method);
            }
            return Ok((settings, None));
        }
        let target = self.target_fr.unwrap_or(0.9);
        settings::fraction("target_fr", target)?;
        let oracle = self.stop_oracle.clone().unwrap_or_else(|| "loss".into());
        if !forsaken_mia::oracle_ids().contains(&oracle.as_str()) {
            bail!("--stop-oracle: {}", forsaken_mia::unknown_oracle(&oracle));
        }
        let k = self.shadows.unwrap_or(4);
        settings::at_least("oracles.shadow.k", k, 1)?;
        Ok((settings, Some((target, oracle, k))))
    }
}

/// What [`unlearn`] did.
#[derive(Debug, Clone)]
pub struct UnlearnedModel {
    /// The manifest written.
    pub manifest: Manifest,
    /// Samples forgotten.
    pub forgotten: usize,
    /// The method's resolved settings (its defaults patched by the job's).
    pub settings: serde_json::Value,
}

/// Unlearn a forget set from a trained model with one method; write the result, its forget
/// set and its manifest to `job.out`.
pub fn unlearn<B: AutodiffBackend>(job: &UnlearnJob, env: &Env, device: &B::Device) -> Result<UnlearnedModel> {
    let (settings, stop) = job.checked()?;
    claim_output(&job.out, &[&job.model], job.force)?;
    let man = read_manifest(&job.model)?;
    if !man.is_original() {
        bail!(
            "{} holds a `{}` model; unlearn starts from a model written by `forsaken train` or `forsaken import`",
            job.model.display(),
            man.kind
        );
    }
    let p = prepared(&man.spec, &env.data_dir)?;
    let original = original::<B>(&job.model, device)?;
    let fs = job.forget.parse::<ForgetSpec>()?.select(&p.data, &p.splits.target_train, man.spec.seed)?;
    let method = crate::methods::build::<B>(&job.method, &settings)?;
    let oracles = match &stop {
        Some((_, id, k)) => {
            let oc = OracleConfig {
                ids: vec![id.clone()],
                shadow: ShadowConfig { k: *k, ..ShadowConfig::default() },
                ..OracleConfig::default()
            };
            Some(pipeline::oracles::<B>(&p, &oc, env.cache_dir.as_deref(), &env.backend, device)?.0)
        }
        None => None,
    };
    let stopping = match (&stop, &oracles) {
        (Some((target, id, _)), Some(set)) => {
            let oracle = set.get(id).expect("the oracle just fitted");
            let before = oracle.decide(&forsaken_models::predict(&inner(&original), &p.data, &fs.forget), &fs.forget)?;
            Some(StoppingRule { oracle, target_fr: *target, before })
        }
        _ => None,
    };
    let req = UnlearnRequest::<B> {
        original: &original,
        data: &p.data,
        forget: &fs.forget,
        retain: &fs.retain,
        reference: &p.splits.reference,
        train: &p.spec.recipe,
        strength: stopping.as_ref().map(|r| r.target_fr),
        stopping,
        observer: None,
        seed: man.spec.seed,
    };
    let t = Instant::now();
    let out = method.unlearn(&req)?;
    let seconds = (t.elapsed().as_secs_f64() - out.setup_seconds).max(0.0);
    let m = out.model.valid();
    m.save(&job.out)?;
    // the unlearned model's manifest: what it was made from, and its weights' SHA-256
    let what = serde_json::json!({ "spec": p.spec, "method": job.method, "settings": settings, "forget": job.forget });
    let identity = p.identity(Kind::Cell, &what, &env.backend);
    for stem in model_stems(&job.out) {
        ModelManifest::write(&stem, identity.clone(), &what, &fs.retain)?;
    }
    write_indices(&job.out.join("forget.idx.txt"), &fs.forget)?;
    let manifest = Manifest {
        kind: "unlearned".into(),
        spec: p.spec.clone(),
        method: Some(job.method.clone()),
        forget: Some(job.forget.clone()),
        stop_reason: Some(out.stop_reason.clone()),
        seconds,
        train_acc: m.outputs(&p.data, &fs.retain).accuracy(),
        test_acc: m.outputs(&p.data, &p.splits.target_test).accuracy(),
        backend: env.backend.clone(),
    };
    write_manifest(&job.out, &manifest)?;
    Ok(UnlearnedModel { manifest, forgotten: fs.forget.len(), settings })
}

/// `forsaken predict`: which model, on which rows.
#[derive(Debug, Clone)]
pub struct PredictJob {
    /// The model's folder (trained or unlearned).
    pub model: PathBuf,
    /// The dataset, if given: it must be the model's.
    pub dataset: Option<String>,
    /// The label column of a `csv:` dataset, if given: it must be the model's.
    pub label: Option<String>,
    /// A file of dataset indices (default: every row, in the file's order).
    pub rows: Option<PathBuf>,
}

/// What [`predict`] computed.
#[derive(Debug, Clone)]
pub struct Predicted {
    /// Dataset indices of the rows.
    pub rows: Vec<usize>,
    /// Their labels.
    pub labels: Vec<u32>,
    /// Logits, `[rows, classes]` row-major.
    pub logits: Vec<f32>,
    /// Classes.
    pub num_classes: usize,
}

/// `forsaken predict`: a model's logits on rows of its dataset, preprocessed as for training.
pub fn predict<B: AutodiffBackend>(job: &PredictJob, env: &Env, device: &B::Device) -> Result<Predicted> {
    let m = read_manifest(&job.model)?;
    let trained_on = |what: &str, given: &str, own: &str| {
        anyhow::anyhow!(
            "{} was trained on {what} `{own}`, not `{given}`: a model reads the data it was standardized for; leave --{what} out to use its own",
            job.model.display()
        )
    };
    if let Some(d) = job.dataset.as_deref().filter(|d| *d != m.spec.dataset) {
        return Err(trained_on("dataset", d, &m.spec.dataset));
    }
    if let Some(l) = job.label.as_deref().filter(|l| Some(*l) != m.spec.label.as_deref()) {
        return Err(trained_on("label", l, m.spec.label.as_deref().unwrap_or("(default)")));
    }
    let p = prepared(&m.spec, &env.data_dir)?;
    let rows = match &job.rows {
        Some(f) => read_indices(f)?,
        None => (0..p.data.len()).collect(),
    };
    if let Some(i) = rows.iter().find(|&&i| i >= p.data.len()) {
        bail!("row {i} is out of range: {} has {} rows", m.spec.dataset, p.data.len());
    }
    let model = loaded::<B>(&job.model, device)?;
    Ok(Predicted {
        labels: rows.iter().map(|&i| p.data.labels[i]).collect(),
        logits: model.logits(&p.data, &rows),
        num_classes: p.data.num_classes,
        rows,
    })
}

/// `forsaken audit`: the models to compare and the oracles.
#[derive(Debug, Clone)]
pub struct AuditJob {
    /// The original model's folder.
    pub before: PathBuf,
    /// The unlearned model's folder.
    pub after: PathBuf,
    /// A model retrained without the forget set, for selectivity.
    pub retrained: Option<PathBuf>,
    /// Oracle ids (or `all`).
    pub oracles: Vec<String>,
    /// Shadow models of the shadow attack.
    pub shadows: usize,
    /// Also save the logits layout the audit read (docs/logits.md) into this folder.
    pub write_logits: Option<PathBuf>,
}

/// One oracle's line of an audit.
#[derive(Debug, Clone, Serialize)]
pub struct OracleAudit {
    /// Its strength on the original model (target_train vs target_test).
    pub strength: forsaken_metrics::OracleStrength,
    /// Its view of the unlearned model.
    pub after: OracleView,
}

/// What [`audit`] found.
#[derive(Debug, Clone, Serialize)]
pub struct Audit {
    /// Samples in D_u.
    pub forget: usize,
    /// Retained samples judged for FR on retained.
    pub retained_sample: usize,
    /// Per oracle, in registry order.
    pub oracles: BTreeMap<String, OracleAudit>,
    /// Oracle ids in registry order.
    pub order: Vec<String>,
    /// (forget, retain, test) accuracy before and after.
    pub before: (f64, f64, f64),
    /// See `before`.
    pub after: (f64, f64, f64),
    /// A retrained model was given (selectivity is filled in).
    pub with_retrained: bool,
}

/// The checkpoint stems `Unlearned::save` wrote under `dir` (`model`, or `shard-<k>`).
fn model_stems(dir: &Path) -> Vec<PathBuf> {
    let single = dir.join("model");
    if single.with_extension("mpk").exists() {
        return vec![single];
    }
    (0..).map(|k| dir.join(format!("shard-{k}"))).take_while(|s| s.with_extension("mpk").exists()).collect()
}

/// The model of a folder, its weights checked against their manifests first.
fn loaded<B: AutodiffBackend>(dir: &Path, device: &B::Device) -> Result<Unlearned<B::InnerBackend>> {
    model_stems(dir).iter().try_for_each(|stem| ModelManifest::check_weights(stem))?;
    Ok(Unlearned::<B::InnerBackend>::load(dir, device)?)
}

/// The network of an original model's folder (trained or imported), its weights checked.
fn original<B: burn::tensor::backend::Backend>(dir: &Path, device: &B::Device) -> Result<forsaken_models::Net<B>> {
    let stem = dir.join("model");
    ModelManifest::check_weights(&stem)?;
    Ok(checkpoint::load::<B>(&stem, device)?)
}

/// Audit an unlearned model against its original under the selected oracles: the logits
/// layout of the model folders ([`layout_of`]) audited by [`audit_layout`], so an audit of our
/// folders and one of their saved layout (`--write-logits`, then `--logits`) are the same.
pub fn audit<B: AutodiffBackend>(job: &AuditJob, env: &Env, device: &B::Device) -> Result<Audit> {
    let layout = layout_of::<B>(job, env, device)?;
    if let Some(dir) = &job.write_logits {
        layout.write(dir)?;
    }
    audit_layout(&layout, &job.oracles, job.shadows)
}

/// `--before` is an original and `--after` an unlearned model of the same experiment: what an
/// audit of the two means.
fn check_pair(job: &AuditJob, before: &Manifest, after: &Manifest) -> Result<()> {
    if !before.is_original() {
        bail!(
            "--before {} holds a `{}` model; give the original it was unlearned from (`forsaken train` or `import`)",
            job.before.display(),
            before.kind
        );
    }
    if after.kind != "unlearned" {
        bail!(
            "--after {} holds a `{}` model, not one written by `forsaken unlearn` (which records its forget set); for a model unlearned elsewhere, audit its logits (`audit --logits`, docs/logits.md)",
            job.after.display(),
            after.kind
        );
    }
    if before.spec != after.spec {
        bail!("{} and {} were not made from the same experiment (dataset, seed, splits, model)", job.before.display(), job.after.display());
    }
    Ok(())
}

/// Refuse to audit an unlearned model whose weights are the original's: nothing was unlearned.
/// (A receipt still records such a deletion, FR 0 and all; only a user's audit is refused.)
pub fn refuse_identical(before: &Path, after: &Path) -> Result<()> {
    use crate::receipt::Weights;
    if Weights::of(before)?.sha256.values().eq(Weights::of(after)?.sha256.values()) {
        bail!("--before and --after hold the same weights: nothing was unlearned, so there is nothing to audit");
    }
    Ok(())
}

/// The logits layout of `job`'s model folders: the rows are the shadow split, target_train and
/// target_test, in that order (`rows` keeps their dataset indices), and the shadow models are
/// the pool's, trained or read from the cache.
pub fn layout_of<B: AutodiffBackend>(job: &AuditJob, env: &Env, device: &B::Device) -> Result<LogitsLayout> {
    settings::at_least("oracles.shadow.k", job.shadows, 1)?;
    let (before_m, after_m) = (read_manifest(&job.before)?, read_manifest(&job.after)?);
    check_pair(job, &before_m, &after_m)?;
    let p = prepared(&before_m.spec, &env.data_dir)?;
    let forget = read_indices(&job.after.join("forget.idx.txt"))?;
    let retrained = match &job.retrained {
        Some(rdir) => {
            let rm = read_manifest(rdir)?;
            if rm.spec != before_m.spec || read_indices(&rdir.join("forget.idx.txt"))? != forget {
                bail!("{} was not retrained from the same experiment and forget set", rdir.display());
            }
            if rm.method.as_deref() != Some("retrain") {
                bail!(
                    "--retrained {} was made by `{}`, not `retrain`: selectivity compares against retraining",
                    rdir.display(),
                    rm.method.unwrap_or_default()
                );
            }
            Some(loaded::<B>(rdir, device)?)
        }
        None => None,
    };
    let oc = OracleConfig {
        ids: job.oracles.clone(),
        shadow: ShadowConfig { k: job.shadows, ..ShadowConfig::default() },
        ..OracleConfig::default()
    };
    let pool = pipeline::pool::<B>(&p, &oc, env.cache_dir.as_deref(), &env.backend, device)?;
    let s = &p.splits;
    let rows: Vec<usize> = s.shadow.iter().chain(&s.target_train).chain(&s.target_test).copied().collect();
    let at: HashMap<usize, usize> = rows.iter().enumerate().map(|(k, &i)| (i, k)).collect();
    let pos = |idx: &[usize]| -> Result<Vec<usize>> {
        idx.iter().map(|i| at.get(i).copied().with_context(|| format!("sample {i} of the forget set is not in target_train"))).collect()
    };
    let n = rows.len();
    let mut keep = vec![false; pool.models.len() * n];
    for (k, inside) in pool.in_sets.iter().enumerate() {
        inside.iter().for_each(|i| keep[k * n + at[i]] = true);
    }
    let data = &p.data;
    Ok(LogitsLayout {
        labels: rows.iter().map(|&i| data.labels[i]).collect(),
        num_classes: data.num_classes,
        original: original::<B::InnerBackend>(&job.before, device)?.logits(data, &rows),
        unlearned: loaded::<B>(&job.after, device)?.logits(data, &rows),
        retrained: retrained.map(|r| r.logits(data, &rows)),
        members: pos(&s.target_train)?,
        forget: pos(&forget)?,
        non_members: pos(&s.target_test)?,
        shadow_logits: pool.models.iter().flat_map(|m| m.logits(data, &rows)).collect(),
        shadow_keep: keep,
        rows: Some(rows.iter().map(|&i| i as i64).collect()),
        meta: Meta {
            seed: p.spec.seed,
            source: Some(format!("forsaken audit --before {} --after {}", job.before.display(), job.after.display())),
        },
    })
}

/// The audit of a logits layout (docs/logits.md) under the oracles `ids`, the shadow attack
/// trained on its first `attack_models` shadow models: each oracle's strength on the original
/// (members vs non-members), its view of the unlearned model on the forget set and on a sample
/// of the retained set, selectivity against a retrained model's logits when the layout has them.
pub fn audit_layout(l: &LogitsLayout, ids: &[String], attack_models: usize) -> Result<Audit> {
    l.check()?;
    settings::at_least("oracles.shadow.k", attack_models, 1)?;
    if attack_models > l.shadows() {
        bail!("the shadow attack asks for {attack_models} shadow models (--shadows) but the logits have {}", l.shadows());
    }
    let c = l.num_classes;
    // the models below are tables of logits: the rows' features are never read
    let data = forsaken_data::Dataset::new("logits", vec![0.0; l.len()], l.labels.clone(), vec![1], c)?;
    let table = |v: &[f32]| SavedLogits { logits: v.to_vec(), num_classes: c };
    let (before, after) = (table(&l.original), table(&l.unlearned));
    let shadows: Vec<SavedLogits> = (0..l.shadows()).map(|k| table(l.shadow(k))).collect();
    let set = layout_oracles(l, &data, &shadows, ids, attack_models)?;
    let (retain, seed) = (l.retain(), l.meta.seed);
    let retained = pipeline::retained_sample(&retain, seed);
    let base = Baseline::new(&set, &before, &data, &l.forget, &retained)?;
    let mut views = pipeline::oracle_views(&set, &base, &after, &data, &l.forget, &retained, seed)?;
    if let Some(r) = &l.retrained {
        let rv = pipeline::oracle_views(&set, &base, &table(r), &data, &l.forget, &retained, seed)?;
        for (id, v) in views.iter_mut() {
            let r = &rv[id];
            v.selectivity = forsaken_metrics::selectivity::selectivity(v.fr, v.fr_retained, r.fr, r.fr_retained);
        }
    }
    let (train_out, test_out) = (before.outputs(&data, &l.members), before.outputs(&data, &l.non_members));
    let mut oracles = BTreeMap::new();
    for (id, o) in &set.oracles {
        let s = forsaken_mia::strength(o.as_ref(), (&train_out, &l.members), (&test_out, &l.non_members))?;
        oracles.insert(id.clone(), OracleAudit { strength: s.summary, after: views[id].clone() });
    }
    let acc = |m: &dyn Predict| {
        let a = pipeline::accuracies(m, &data, &l.forget, &retain, &l.non_members);
        (a.forget, a.retain, a.test)
    };
    Ok(Audit {
        forget: l.forget.len(),
        retained_sample: retained.len(),
        order: set.oracles.iter().map(|(id, _)| id.clone()).collect(),
        oracles,
        before: acc(&before),
        after: acc(&after),
        with_retrained: l.retrained.is_some(),
    })
}

/// The oracles fitted on a layout's shadow models: on their own rows for every oracle, and on
/// the target's members and non-members for the per-example one (offline LiRA).
fn layout_oracles(
    l: &LogitsLayout,
    data: &forsaken_data::Dataset,
    shadows: &[SavedLogits],
    ids: &[String],
    attack_models: usize,
) -> Result<OracleSet> {
    let own = l.shadow_rows();
    let in_sets: Vec<Vec<usize>> = (0..shadows.len()).map(|k| l.in_set(k)).collect();
    let per_model: Vec<Outputs> = shadows.iter().map(|m| m.outputs(data, &own)).collect();
    let outputs = ShadowOutputs::from_outputs(&per_model, &own, &in_sets);
    let query =
        |rows: &[usize]| QueryOutputs { samples: rows.to_vec(), per_model: shadows.iter().map(|m| m.outputs(data, rows)).collect() };
    let wants_queries = forsaken_mia::oracles().iter().any(|o| o.per_example && forsaken_mia::selects(ids, o.id));
    let queries = if wants_queries { vec![query(&l.members), query(&l.non_members)] } else { vec![] };
    let evidence = ShadowEvidence { outputs: &outputs, in_sets: &in_sets, queries: &queries };
    let cfg = OracleConfig::default();
    let shadow = ShadowConfig { k: attack_models, seed: pipeline::attack_seed(&cfg, l.meta.seed), ..cfg.shadow.clone() };
    Ok(OracleSet::fit(&evidence, ids, OracleSettings { shadow: &shadow, lira: &cfg.lira })?)
}

fn pct(x: Option<f64>) -> String {
    x.map_or("undefined".into(), |v| format!("{:.1}%", 100.0 * v))
}

impl Audit {
    /// The audit as the JSON `--json` writes: every oracle's strength and view, the shadow
    /// oracle's counts, accuracies before and after.
    pub fn json(&self) -> serde_json::Value {
        let shadow_counts = self.oracles.get("shadow").map(|o| o.after.counts(self.forget));
        let acc = |a: (f64, f64, f64)| serde_json::json!({"acc_forget": a.0, "acc_retain": a.1, "acc_test": a.2});
        serde_json::json!({
            "oracles": self.oracles,
            "shadow_counts": shadow_counts,
            "before": acc(self.before),
            "after": acc(self.after),
        })
    }
}

impl std::fmt::Display for Audit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut s = String::new();
        writeln!(s, "forget set: {} samples; retained sample for FR_r: {}", self.forget, self.retained_sample)?;
        writeln!(
            s,
            "{:<11} {:>6} {:>8} {:>9} {:>9} | {:>8} {:>15} {:>8} {:>8} {:>11}",
            "oracle", "AUC", "bal.acc", "TPR@1%", "TPR@0.1%", "FR", "95% CI", "FR_r", "select.", "ret-v-f AUC"
        )?;
        let rate = |v: Option<f64>| v.map_or("n/a".into(), |v| format!("{:.1}%", 100.0 * v));
        for id in &self.order {
            let (st, v) = (&self.oracles[id].strength, &self.oracles[id].after);
            let ci = match (v.fr_ci_low, v.fr_ci_high) {
                (Some(l), Some(h)) => format!("[{:.1}, {:.1}]", 100.0 * l, 100.0 * h),
                _ => "n/a".into(),
            };
            writeln!(
                s,
                "{:<11} {:>6.3} {:>7.1}% {:>9} {:>9} | {:>8} {:>15} {:>8} {:>8} {:>11}{}",
                id,
                st.auc,
                100.0 * st.balanced_accuracy,
                rate(st.tpr_at_1pct_fpr),
                rate(st.tpr_at_0_1pct_fpr),
                pct(v.fr),
                ci,
                pct(v.fr_retained),
                v.selectivity.map_or("n/a".into(), |x| format!("{x:.2}")),
                v.ret_vs_forget_auc.map_or("n/a".into(), |x| format!("{x:.3}")),
                if st.auc < WEAK_ORACLE_AUC { "  <- weak: cannot see membership here" } else { "" }
            )?;
        }
        let shadow = self.oracles.get("shadow").map_or("n/a (shadow oracle not selected)".into(), |o| pct(o.after.fr));
        writeln!(s, "\nforgetting rate (shadow): {shadow}")?;
        writeln!(s, "{:<10} {:>8} {:>8} {:>8}", "", "UA", "RA", "TA")?;
        for (name, m) in [("before", self.before), ("after", self.after)] {
            writeln!(s, "{:<10} {:>7.1}% {:>7.1}% {:>7.1}%", name, 100.0 * (1.0 - m.0), 100.0 * m.1, 100.0 * m.2)?;
        }
        if !self.with_retrained {
            writeln!(
                s,
                "(a model retrained without the forget set gives the selectivity ratio: --retrained DIR, or retrained.npy with --logits)"
            )?;
        }
        f.write_str(s.trim_end())
    }
}

/// `forsaken audit --against-retrain N`: the deletion audit (docs/audit.md) of a trained model and
/// one forget set.
#[derive(Debug, Clone)]
pub struct DeletionAuditJob {
    /// The trained model's folder (`forsaken train`).
    pub model: PathBuf,
    /// The deletion: `10%`, `class:3`, `file:PATH`.
    pub forget: String,
    /// N, n_A, the methods, the relearning epochs (`forget`, `datasets`, `seed` unused).
    pub settings: crate::population::AuditSettings,
    /// Per method, settings patching its registry defaults (e.g. those an unlearned model was
    /// made with).
    pub patches: BTreeMap<String, serde_json::Value>,
    /// Masking methods: target FR under the stopping oracle.
    pub target_fr: f64,
    /// Masking methods: the stopping oracle.
    pub stop_oracle: String,
    /// Shadow models of the stopping and reporting oracles' pool.
    pub shadows: usize,
    /// Where the records and per-example exports go (`audit.jsonl`, `audit/`).
    pub out: PathBuf,
}

/// Run the deletion audit: the controls, then each method at its registry settings (masking
/// methods stop on `stop_oracle` at `target_fr`); the relearning's FR is under `shadow`.
pub fn deletion_audit<B: AutodiffBackend>(job: &DeletionAuditJob, env: &Env, device: &B::Device) -> Result<Vec<crate::audit::AuditRecord>> {
    use crate::audit::{Make, SideJob};
    use crate::population::{Deletion, Stop, DO_NOTHING, RETRAIN_CONTROL};
    job.settings.check()?;
    settings::fraction("target_fr", job.target_fr)?;
    settings::at_least("oracles.shadow.k", job.shadows, 1)?;
    let man = read_manifest(&job.model)?;
    if !man.is_original() {
        bail!(
            "{} holds a `{}` model; the audit starts from a model written by `forsaken train` or `forsaken import`",
            job.model.display(),
            man.kind
        );
    }
    let p = prepared(&man.spec, &env.data_dir)?;
    let original = original::<B>(&job.model, device)?;
    let forget_spec = job.forget.parse::<ForgetSpec>()?;
    let fs = forget_spec.select(&p.data, &p.splits.target_train, man.spec.seed)?;
    let ids = vec![job.stop_oracle.clone(), "shadow".to_string()];
    let oc = OracleConfig { ids, shadow: ShadowConfig { k: job.shadows, ..ShadowConfig::default() }, ..OracleConfig::default() };
    let (set, _) = pipeline::oracles::<B>(&p, &oc, env.cache_dir.as_deref(), &env.backend, device)?;
    let orig = inner(&original);
    let stop_oracle =
        set.get(&job.stop_oracle).ok_or_else(|| anyhow::anyhow!("--stop-oracle: {}", forsaken_mia::unknown_oracle(&job.stop_oracle)))?;
    let stop_before = stop_oracle.decide(&forsaken_models::predict(&orig, &p.data, &fs.forget), &fs.forget)?;
    let d = Deletion::new(&p, &original, &fs, forget_spec.to_string(), &job.settings, env.cache_dir.as_deref(), &env.backend);
    let resolve = |m: &String| {
        let patch = job.patches.get(m).cloned().unwrap_or_default();
        crate::methods::find(m).map_err(anyhow::Error::msg)?.resolve(&patch).map_err(anyhow::Error::from)
    };
    let resolved: Vec<serde_json::Value> = job.settings.methods.iter().map(resolve).collect::<Result<_>>()?;
    let identity = |side: &str, settings: Option<&serde_json::Value>| {
        let what = serde_json::json!({ "spec": p.spec, "audit": job.settings.determining(), "side": side, "settings": settings, "forget": job.forget, "target_fr": job.target_fr, "stop_oracle": job.stop_oracle, "shadows": job.shadows });
        p.identity(Kind::Cell, &what, &env.backend)
    };
    let mut sides = vec![
        SideJob { side: DO_NOTHING.into(), make: Make::DoNothing, identity: identity(DO_NOTHING, None) },
        SideJob { side: RETRAIN_CONTROL.into(), make: Make::RetrainControl, identity: identity(RETRAIN_CONTROL, None) },
    ];
    let oracle_key = crate::io::config_hash(&(&oc, p.identity(Kind::ShadowPool, &p.splits.target_train, &env.backend).key));
    for (m, settings) in job.settings.methods.iter().zip(&resolved) {
        let masking = crate::methods::role(m) == Some(Role::Masking);
        let stop =
            masking.then(|| Stop { oracle: stop_oracle, oracle_key: oracle_key.clone(), target_fr: job.target_fr, before: &stop_before });
        sides.push(SideJob {
            side: m.clone(),
            make: Make::Method { settings, strength: None, stop },
            identity: identity(m, Some(settings)),
        });
    }
    let reporting = match set.get("shadow") {
        Some(oracle) => Some(crate::audit::Reporting {
            oracle,
            before: oracle.decide(&forsaken_models::predict(&orig, &p.data, &d.rows.forget), &d.rows.forget)?,
        }),
        None => None,
    };
    let mut records = Vec::new();
    let dir = job.out.join("audit");
    crate::audit::run_deletion(&d, reporting, sides, &crate::io::git_commit(), &mut |done| {
        crate::audit::export(&dir, &crate::audit::stem(&done.record), &d.rows, &done.evidence)?;
        records.push(done.record);
        Ok(())
    })?;
    // the controls first, as T5 shows them
    records.swap(0, 1);
    crate::runner::write_jsonl(&job.out.join("audit.jsonl"), &records)?;
    Ok(records)
}
