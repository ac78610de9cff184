//! The populations of the deletion audit (docs/audit.md, section 1): for one original model O and
//! one forget set D_u, N models retrained on D_r (and N more, the retrain control), O copied N
//! times (the do-nothing control), and N runs of a method on O with their own seeds. Each is
//! kept as its members' [`View`]s (outputs on the audited rows, accuracies, distance to O),
//! with its median member relearned on D_r (docs/audit.md, section 4), and cached under its key:
//! the data, the settings, the backend and the code it was made by.

use std::path::Path;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use burn::module::AutodiffModule;
use burn::tensor::backend::{AutodiffBackend, Backend};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use forsaken_data::split::ForgetSplit;
use forsaken_data::{Dataset, ForgetSpec};
use forsaken_metrics::audit::MIN_MODELS;
use forsaken_models::settings::{self, SettingError};
use forsaken_models::{train_stack_with, MemberRun, Net, Outputs, Predict, StoppingRule, TrainConfig, UnlearnRequest};

use crate::identity::{Identity, Kind};
use crate::pipeline::Prepared;

/// The control whose "unlearned" models are retrainings with other seeds.
pub const RETRAIN_CONTROL: &str = "retrain-control";
/// The control whose "unlearned" models are the original itself.
pub const DO_NOTHING: &str = "do-nothing";

/// What the audit of a suite runs (its `[audit]` table) and what `forsaken audit
/// --against-retrain` takes from the command line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditSettings {
    /// N: models per side (docs/audit.md, section 1: 32 by default, never below 16).
    #[serde(default = "default_models")]
    pub models: usize,
    /// n_A: audited examples of D_u (a seeded sample when D_u is larger), and as many of D_r.
    #[serde(default = "default_examples")]
    pub examples: usize,
    /// Methods audited besides the two controls (registry ids; SISA is excluded by design).
    pub methods: Vec<String>,
    /// Epochs of the relearning fine-tune on D_r, at the training learning rate.
    #[serde(default = "default_relearn_epochs")]
    pub relearn_epochs: usize,
    /// Folds over models of the likelihood-ratio test.
    #[serde(default = "default_folds")]
    pub folds: usize,
    /// Bootstrap resamples of the AUC's interval.
    #[serde(default = "default_bootstrap")]
    pub bootstrap: usize,
    /// The deletion audited (in a suite: of every audited dataset).
    #[serde(default = "default_forget")]
    pub forget: ForgetSpec,
    /// Datasets audited (in a suite; empty: every entry).
    #[serde(default)]
    pub datasets: Vec<String>,
    /// Seed audited (in a suite; default: its first).
    #[serde(default)]
    pub seed: Option<u64>,
    /// Markdown for the report's T5 section: what the suite's audit leaves out, and why.
    #[serde(default)]
    pub notes: Option<String>,
}

fn default_models() -> usize {
    32
}
fn default_examples() -> usize {
    200
}
fn default_relearn_epochs() -> usize {
    5
}
fn default_folds() -> usize {
    4
}
fn default_bootstrap() -> usize {
    1000
}
fn default_forget() -> ForgetSpec {
    "10%".parse().expect("a valid forget spec")
}

impl AuditSettings {
    /// Check the ranges and the methods (known, not SISA, not retrain: that is the control).
    pub fn check(&self) -> Result<(), SettingError> {
        if self.models < MIN_MODELS {
            return Err(SettingError::new(
                "audit.models",
                self.models,
                format!("at least {MIN_MODELS}: with fewer models per side the test cannot tell (docs/audit.md, section 1)"),
            ));
        }
        settings::at_least("audit.examples", self.examples, 1)?;
        settings::at_least("audit.relearn_epochs", self.relearn_epochs, 1)?;
        settings::at_least("audit.bootstrap", self.bootstrap, 100)?;
        settings::at_least("audit.folds", self.folds, 2)?;
        if self.folds > self.models / 2 {
            return Err(SettingError::new("audit.folds", self.folds, "at most half of audit.models (two models per fold)"));
        }
        for m in &self.methods {
            let def = crate::methods::find(m).map_err(|e| SettingError::new("audit.methods", m, e))?;
            if def.role == forsaken_models::Role::Reference || def.role == forsaken_models::Role::Exact {
                let why = "exact methods are not audited against retraining: retrain is the retrain control, SISA's counterpart is a sharded retraining (docs/audit.md, section 6)";
                return Err(SettingError::new("audit.methods", m, why));
            }
        }
        Ok(())
    }

    /// What determines a side's numbers (the methods list, datasets, seed and notes do not).
    pub fn determining(&self) -> serde_json::Value {
        serde_json::json!({
            "models": self.models,
            "examples": self.examples,
            "relearn_epochs": self.relearn_epochs,
            "folds": self.folds,
            "bootstrap": self.bootstrap,
            "forget": self.forget,
        })
    }

    /// The sides audited, controls first.
    pub fn sides(&self) -> Vec<String> {
        [RETRAIN_CONTROL, DO_NOTHING].iter().map(|s| s.to_string()).chain(self.methods.iter().cloned()).collect()
    }
}

/// The rows the audit reads, drawn once per deletion (seeded).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditRows {
    /// n_A rows of D_u (all of it when smaller): the audited examples.
    pub forget: Vec<usize>,
    /// As many rows of D_r: the retained-privacy check.
    pub retained: Vec<usize>,
    /// As many rows of target_test: the KL on test.
    pub test: Vec<usize>,
    /// 10% of D_u (at least one row, and at least one left out) that the few-shot relearning
    /// trains on; none when D_u has one row.
    pub few_shot: Vec<usize>,
}

fn sample(rows: &[usize], n: usize, seed: u64) -> Vec<usize> {
    let mut r = rows.to_vec();
    r.shuffle(&mut ChaCha8Rng::seed_from_u64(seed));
    r.truncate(n);
    r.sort_unstable();
    r
}

impl AuditRows {
    /// Draw the rows of the deletion `split` with seed `seed`.
    pub fn draw(split: &ForgetSplit, test: &[usize], n: usize, seed: u64) -> Self {
        let n = n.min(split.forget.len());
        Self {
            forget: sample(&split.forget, n, seed ^ 0xa0d1),
            retained: sample(&split.retain, n, seed ^ 0xa0d2),
            test: sample(test, n, seed ^ 0xa0d3),
            few_shot: sample(&split.forget, split.forget.len().div_ceil(10).min(split.forget.len() - 1), seed ^ 0xa0d4),
        }
    }
}

/// What the audit keeps of one model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct View {
    /// Logits on the audited forget rows, `[n_A, classes]`.
    pub forget: Vec<f32>,
    /// On the audited retained rows.
    pub retained: Vec<f32>,
    /// On the audited test rows.
    pub test: Vec<f32>,
    /// Accuracy on all of D_u.
    pub acc_forget: f64,
    /// Accuracy on D_u without the few-shot rows (where the few-shot relearning is measured).
    #[serde(deserialize_with = "crate::record::nan_if_null")]
    pub acc_held_out: f64,
    /// Accuracy on all of D_r.
    pub acc_retain: f64,
    /// Accuracy on all of target_test.
    pub acc_test: f64,
    /// L2 distance of the weights to the original's.
    pub l2_to_original: f64,
}

impl View {
    fn of<B: Backend>(net: &Net<B>, d: &Deletion<'_, impl AutodiffBackend>) -> Self {
        let data = &d.p.data;
        let acc = |rows: &[usize]| if rows.is_empty() { f64::NAN } else { net.outputs(data, rows).accuracy() };
        let w = net.flat_weights();
        let l2 = w.iter().zip(&d.original_weights).map(|(a, b)| ((a - b) as f64).powi(2)).sum::<f64>().sqrt();
        Self {
            forget: logits(net, data, &d.rows.forget),
            retained: logits(net, data, &d.rows.retained),
            test: logits(net, data, &d.rows.test),
            acc_forget: acc(&d.split.forget),
            acc_held_out: acc(&d.held_out()),
            acc_retain: acc(&d.split.retain),
            acc_test: acc(&d.p.splits.target_test),
            l2_to_original: l2,
        }
    }

    /// The softmax outputs on one part (`forget`, `retained` or `test` rows), with their labels,
    /// for an oracle.
    pub fn outputs(&self, part: &[f32], rows: &[usize], data: &Dataset) -> Outputs {
        let probs = part.chunks(data.num_classes).flat_map(|z| log_softmax(z).into_iter().map(|l| l.exp() as f32)).collect();
        Outputs { probs, labels: rows.iter().map(|&i| data.labels[i]).collect(), num_classes: data.num_classes }
    }
}

/// A row of logits as log-probabilities, in f64.
pub fn log_softmax(z: &[f32]) -> Vec<f64> {
    let top = z.iter().map(|&v| v as f64).fold(f64::NEG_INFINITY, f64::max);
    let lse = top + z.iter().map(|&v| (v as f64 - top).exp()).sum::<f64>().ln();
    z.iter().map(|&v| v as f64 - lse).collect()
}

/// `net`'s logits on `rows`, `[rows, classes]`, in chunks of 1,024.
fn logits<B: Backend>(net: &Net<B>, data: &Dataset, rows: &[usize]) -> Vec<f32> {
    let device = net.head.weight.device();
    rows.chunks(1024)
        .flat_map(|chunk| forsaken_models::to_vec(net.forward(forsaken_models::train::to_tensors::<B>(data, chunk, &device).0)))
        .collect()
}

/// The relearning of a population's median member (docs/audit.md, section 4).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Relearned {
    /// Which member (the median by forget accuracy).
    pub member: usize,
    /// Forget accuracy (all of D_u) before and after each epoch of the fine-tune on D_r only.
    pub curve: Vec<f64>,
    /// After that fine-tune.
    pub retain_only: View,
    /// Forget accuracy on D_u without the few-shot rows, before and after each epoch of the
    /// fine-tune on D_r plus the few-shot rows.
    pub few_shot_curve: Vec<f64>,
}

/// N members, their views, and the median's relearning.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Population {
    /// One view per member.
    pub views: Vec<View>,
    /// The median member relearned.
    pub relearned: Relearned,
    /// Whether every member is the same model (a deterministic method, or doing nothing).
    pub identical: bool,
    /// Seconds it took to make (training or unlearning, and the relearning).
    pub seconds: f64,
}

/// One deletion to audit: the experiment, its original model and its forget set.
pub struct Deletion<'a, B: AutodiffBackend> {
    /// The prepared experiment.
    pub p: &'a Prepared,
    /// O.
    pub target: &'a Net<B>,
    /// D_u and D_r.
    pub split: &'a ForgetSplit,
    /// The forget set's name (`10%`, `class:0`, `file:...`), part of every key.
    pub forget_name: String,
    /// What to run.
    pub settings: &'a AuditSettings,
    /// The rows read.
    pub rows: AuditRows,
    /// Cache folder (`None`: nothing cached).
    pub cache: Option<&'a Path>,
    /// Backend name (part of every key).
    pub backend: &'a str,
    original_weights: Vec<f32>,
}

/// The settings a population's key covers besides the data, code and backend.
#[derive(Serialize)]
struct PopulationKey<'a> {
    experiment: &'a crate::pipeline::ExperimentSpec,
    /// SHA-256 of D_u's rows (the same deletion under any name or path is the same key).
    forget: String,
    side: &'a str,
    models: usize,
    rows: &'a AuditRows,
    relearn_epochs: usize,
    /// A method's settings, strength and stopping rule.
    method: Option<serde_json::Value>,
}

impl<'a, B: AutodiffBackend> Deletion<'a, B> {
    /// The deletion of `split` (named `forget_name`) from `target`, audited with `settings`.
    pub fn new(
        p: &'a Prepared,
        target: &'a Net<B>,
        split: &'a ForgetSplit,
        forget_name: String,
        settings: &'a AuditSettings,
        cache: Option<&'a Path>,
        backend: &'a str,
    ) -> Self {
        let rows = AuditRows::draw(split, &p.splits.target_test, settings.examples, p.spec.seed);
        let original_weights = target.flat_weights();
        Self { p, target, split, forget_name, settings, rows, cache, backend, original_weights }
    }

    /// The identity of population `side` (with a method's settings).
    pub fn identity(&self, side: &str, method: Option<serde_json::Value>) -> Identity {
        let key = PopulationKey {
            experiment: &self.p.spec,
            forget: rows_hash(&self.split.forget),
            side,
            models: self.settings.models,
            rows: &self.rows,
            relearn_epochs: self.settings.relearn_epochs,
            method,
        };
        self.p.identity(Kind::Population, &key, self.backend)
    }

    /// D_u without the few-shot rows: where the few-shot relearning is measured.
    fn held_out(&self) -> Vec<usize> {
        self.split.forget.iter().copied().filter(|i| !self.rows.few_shot.contains(i)).collect()
    }

    /// The rows each relearning fine-tune trains on: D_r, and D_r plus the few-shot rows.
    pub fn relearn_rows(&self) -> [Vec<usize>; 2] {
        [self.split.retain.clone(), self.split.retain.iter().chain(&self.rows.few_shot).copied().collect()]
    }

    /// The population under `identity` from the cache, else made by `make` and cached.
    fn cached(&self, identity: &Identity, make: impl FnOnce() -> Result<Vec<Population>>) -> Result<(Vec<Population>, bool)> {
        let path = self.cache.map(|c| c.join("audit").join(format!("{}.json", identity.key)));
        if let Some(path) = path.as_ref().filter(|p| p.exists()) {
            let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
            let (stored, pops): (Identity, Vec<Population>) = serde_json::from_str(&text)
                .with_context(|| format!("{}: not an audit population; delete it to recompute", path.display()))?;
            if stored.key != identity.key {
                bail!("{}: holds key {}, not {}; delete it to recompute", path.display(), stored.key, identity.key);
            }
            return Ok((pops, true));
        }
        let pops = make()?;
        if let Some(path) = path {
            crate::io::write_atomic(&path, serde_json::to_string(&(identity, &pops))?.as_bytes())?;
        }
        Ok((pops, false))
    }

    /// The recipe of member `j` of a retrained side (`salt` tells the sides apart): O's recipe
    /// with another seed, never O's.
    fn recipe(&self, salt: u64, j: usize) -> TrainConfig {
        let base = &self.p.spec.recipe;
        let seed = base.seed.wrapping_mul(0x9e37_79b9_7f4a_7c15).wrapping_add(salt + j as u64) | 1 << 63;
        TrainConfig { seed, ..base.clone() }
    }

    /// R_1..R_N and the retrain control's N, trained as one stack on D_r; cached as one.
    pub fn retrained(&self) -> Result<(Population, Population, bool)> {
        let n = self.settings.models;
        let identity = self.identity("retrained", None);
        let (mut pops, cached) = self.cached(&identity, || {
            let t = Instant::now();
            let recipes: Vec<TrainConfig> = (0..2 * n).map(|j| self.recipe(if j < n { 0xa0d_0000 } else { 0xc0_0000 }, j)).collect();
            let device = self.target.head.weight.device();
            let nets = recipes
                .iter()
                .map(|r| forsaken_models::train::fresh::<B>(&self.target.config, r.seed, &device))
                .collect::<Result<Vec<_>, _>>()?;
            let runs: Vec<MemberRun> = recipes.iter().map(|recipe| MemberRun { idx: &self.split.retain, recipe }).collect();
            let label = format!("{}: audit, {} retrainings", self.p.spec.dataset, 2 * n);
            let trained = train_stack_with(nets, &self.p.data, &runs, &label, &mut |_, _, _| Ok(true))?;
            let (reference, control) = trained.split_at(n);
            let secs = t.elapsed().as_secs_f64() / 2.0;
            Ok(vec![self.population(reference.to_vec(), secs)?, self.population(control.to_vec(), secs)?])
        })?;
        let control = pops.pop().expect("two populations");
        Ok((pops.pop().expect("two populations"), control, cached))
    }

    /// O copied N times (nothing cached: it costs one relearning).
    pub fn do_nothing(&self) -> Result<Population> {
        let t = Instant::now();
        let mut pop = self.population(vec![self.target.clone()], 0.0)?;
        pop.views = vec![pop.views[0].clone(); self.settings.models];
        pop.identical = true;
        pop.seconds = t.elapsed().as_secs_f64();
        Ok(pop)
    }

    /// N runs of `method` (its resolved `settings`, at `strength` when it was swept, else
    /// stopping on `stopping` at `target_fr`) on O, with unlearning seeds t_1..t_N.
    pub fn unlearned(
        &self,
        method: &str,
        settings: &serde_json::Value,
        strength: Option<f64>,
        stopping: Option<Stop<'_>>,
    ) -> Result<(Population, bool)> {
        let stop_key = stopping.as_ref().map(|s| (s.oracle.id().to_string(), &s.oracle_key, rows_hash_bool(s.before), s.target_fr));
        let key = serde_json::json!({ "id": method, "settings": settings, "strength": strength, "stopping": stop_key });
        let identity = self.identity(method, Some(key));
        let (mut pops, cached) = self.cached(&identity, || {
            let t = Instant::now();
            let unlearner = crate::methods::build::<B>(method, settings)?;
            let mut nets = Vec::with_capacity(self.settings.models);
            for j in 0..self.settings.models {
                let rule = stopping.as_ref().map(|s| StoppingRule { oracle: s.oracle, target_fr: s.target_fr, before: s.before.to_vec() });
                let req = UnlearnRequest {
                    original: self.target,
                    data: &self.p.data,
                    forget: &self.split.forget,
                    retain: &self.split.retain,
                    reference: &self.p.splits.reference,
                    train: &self.p.spec.recipe,
                    stopping: rule,
                    observer: None,
                    seed: self.p.spec.seed.wrapping_mul(0x5851_f42d).wrapping_add(0xa0d_5eed + j as u64),
                    strength: strength.or(stopping.as_ref().map(|s| s.target_fr)),
                };
                let out = unlearner.unlearn(&req).with_context(|| format!("audit: {method}, run {} of {}", j + 1, self.settings.models))?;
                let Some(net) = out.model.as_net() else { bail!("audit: {method} returns an ensemble; only single networks are audited") };
                nets.push(net.clone());
            }
            Ok(vec![self.population(nets, t.elapsed().as_secs_f64())?])
        })?;
        Ok((pops.pop().expect("one population"), cached))
    }

    /// The views of `nets` and the relearning of their median: the member at position N / 2
    /// (0-based) by forget accuracy, ties by index.
    fn population(&self, nets: Vec<Net<B>>, seconds: f64) -> Result<Population> {
        let t = Instant::now();
        let views: Vec<View> = nets.iter().map(|n| View::of(&n.valid(), self)).collect();
        let mut order: Vec<usize> = (0..views.len()).collect();
        order.sort_by(|&a, &b| views[a].acc_forget.total_cmp(&views[b].acc_forget).then(a.cmp(&b)));
        let member = order[order.len() / 2];
        let relearned = self.relearn(nets[member].clone(), member)?;
        let identical = views.windows(2).all(|w| w[0] == w[1]);
        Ok(Population { views, relearned, identical, seconds: seconds + t.elapsed().as_secs_f64() })
    }

    /// Fine-tune `net` with O's recipe for `relearn_epochs` on D_r only, and on D_r plus the
    /// few-shot rows, as one stack. Reads no row of D_u but the few-shot ones (a test poisons
    /// the others).
    pub fn relearn(&self, net: Net<B>, member: usize) -> Result<Relearned> {
        let recipe = TrainConfig { epochs: self.settings.relearn_epochs, early_stop_acc: None, ..self.p.spec.recipe.clone() };
        let rows = self.relearn_rows();
        let runs = [MemberRun { idx: &rows[0], recipe: &recipe }, MemberRun { idx: &rows[1], recipe: &recipe }];
        let mut curves = vec![vec![], vec![]];
        // the epoch hook only measures (inference on the rows each variant is judged on); the
        // fine-tune's batches come from `runs` alone
        let targets = [self.split.forget.clone(), self.held_out()];
        let measure = |net: &Net<B::InnerBackend>, k: usize| net.outputs(&self.p.data, &targets[k]).accuracy();
        let start = net.valid();
        for (k, c) in curves.iter_mut().enumerate() {
            c.push(measure(&start, k));
        }
        let label = format!("{}: audit, relearning", self.p.spec.dataset);
        let nets = vec![net.clone(), net];
        let mut hook = |k: usize, _epochs: usize, n: &Net<B>| {
            curves[k].push(measure(&n.valid(), k));
            Ok(true)
        };
        let mut out = train_stack_with(nets, &self.p.data, &runs, &label, &mut hook)?;
        out.truncate(1);
        let retain_only = View::of(&out[0].valid(), self);
        let few_shot_curve = curves.pop().expect("two curves");
        Ok(Relearned { member, curve: curves.pop().expect("two curves"), retain_only, few_shot_curve })
    }
}

/// SHA-256 of a list of rows.
fn rows_hash(rows: &[usize]) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(rows.iter().flat_map(|i| (*i as u64).to_le_bytes()).collect::<Vec<u8>>())
        .iter()
        .take(12)
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// SHA-256 of a list of decisions.
fn rows_hash_bool(d: &[bool]) -> String {
    rows_hash(&d.iter().map(|&b| b as usize).collect::<Vec<_>>())
}

/// A masking method's stopping rule in the audit: the oracle, what it was fitted on, its
/// target FR and O's decisions on D_u.
pub struct Stop<'a> {
    /// The stopping oracle.
    pub oracle: &'a dyn forsaken_models::MembershipOracle,
    /// What determines the fitted oracle (its configuration and its shadow pool's key): part
    /// of the population's key.
    pub oracle_key: String,
    /// Target FR.
    pub target_fr: f64,
    /// The oracle's decisions on D_u for O.
    pub before: &'a [bool],
}
