//! The steps every experiment shares, used by the suite runner and by the `forsaken` command
//! line: prepare data and splits (standardized with target_train statistics only), train (or
//! load from cache) the target model, fit the oracles on a cached shadow pool, build methods by
//! id, and measure a model under every oracle.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result};
use burn::module::AutodiffModule;
use burn::tensor::backend::AutodiffBackend;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use forsaken_data::csv_table::CsvOptions;
use forsaken_data::{registry, Dataset, ModelFamily, SplitSizes, Splits};
use forsaken_metrics::selectivity::{fr_bootstrap_ci, retained_vs_forget_auc};
use forsaken_metrics::FrCounts;
use forsaken_mia::{shadow_pool, LiraConfig, OracleSet, OracleSettings, ShadowConfig, ShadowEvidence, ShadowPool};
use forsaken_models::settings::{self, SettingError};
use forsaken_models::{checkpoint, train, Net, NetConfig, Predict, TrainConfig};

use crate::identity::{CodeIdentity, Identity, Kind, ModelManifest};
use crate::record::OracleView;
use crate::suite::Entry;

/// Everything that defines the data side and the target model of one experiment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExperimentSpec {
    /// Dataset id or spec (`csv:PATH`...).
    pub dataset: String,
    /// Label column of a `csv:` table.
    #[serde(default)]
    pub label: Option<String>,
    /// Seed of splits, initialization and forget set.
    pub seed: u64,
    /// Seeded subset of the pool, if any.
    pub pool_limit: Option<usize>,
    /// Split sizes.
    pub sizes: SplitSizes,
    /// Model family.
    pub family: ModelFamily,
    /// Architecture.
    pub net: NetConfig,
    /// Training recipe of target, shadow and retrained models.
    pub recipe: TrainConfig,
    /// The target's training rows when they are given (an imported model's), not drawn: the
    /// other splits are then drawn from the rest (`Splits::with_members`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub members: Option<Vec<usize>>,
}

impl ExperimentSpec {
    /// Resolve an entry of a suite against the registry (or the data, for users' own tables).
    pub fn resolve(entry: &Entry, seed: u64, data: &Dataset, batch_size: usize, lr: f64, early_stop_acc: Option<f64>) -> Result<Self> {
        let (family, sizes, epochs) = if registry::is_registered(&entry.dataset) {
            let info = registry::info(&entry.dataset)?;
            (info.family, info.sizes, info.epochs)
        } else {
            let family = if data.shape.len() == 3 { ModelFamily::Cnn } else { ModelFamily::Mlp };
            (family, registry::default_sizes(data.len()), 100)
        };
        let family = entry.model.unwrap_or(family);
        let spec = Self {
            dataset: entry.dataset.clone(),
            label: entry.label.clone(),
            seed,
            pool_limit: entry.pool_limit,
            sizes: entry.sizes.unwrap_or(sizes),
            family,
            net: NetConfig::for_family(family, &data.shape, data.num_classes),
            recipe: TrainConfig { epochs: entry.epochs.unwrap_or(epochs), batch_size, lr, seed, early_stop_acc },
            members: None,
        };
        spec.recipe.check()?;
        Ok(spec)
    }
}

/// Data and splits of an experiment.
pub struct Prepared {
    /// The spec.
    pub spec: ExperimentSpec,
    /// The pooled dataset (possibly a seeded subset), standardized where its loader asked for
    /// it, with statistics of target_train only.
    pub data: Dataset,
    /// Disjoint splits.
    pub splits: Splits,
    /// Content hash of the data as loaded, before standardization (which follows from it and
    /// the splits): the data part of every key.
    pub data_hash: String,
}

/// Load a dataset (registry id, or `csv:PATH` with its label column) from `data_dir`, with a
/// seeded subset when `pool_limit` is set.
pub fn load_data(dataset: &str, label: Option<&str>, data_dir: &Path, pool_limit: Option<usize>, seed: u64) -> Result<Dataset> {
    let mut opts = CsvOptions::default();
    if let Some(l) = label {
        opts.label = Some(l.parse().map_err(|e| anyhow::anyhow!("--label {l}: {e}"))?);
    }
    let data = registry::load_spec(dataset, data_dir, &opts).with_context(|| format!("loading dataset `{dataset}`"))?;
    Ok(match pool_limit {
        Some(l) if l < data.len() => {
            let mut idx: Vec<usize> = (0..data.len()).collect();
            idx.shuffle(&mut ChaCha8Rng::seed_from_u64(seed ^ 0x5b5e7));
            idx.truncate(l);
            data.subset(&idx)
        }
        _ => data,
    })
}

/// The splits of `spec` over a pool of `n` samples: drawn with its seed, or around its given
/// members.
pub fn splits(spec: &ExperimentSpec, n: usize) -> Result<Splits> {
    match &spec.members {
        Some(m) => Splits::with_members(n, m, spec.sizes, spec.seed),
        None => Splits::new(n, spec.sizes, spec.seed),
    }
    .with_context(|| format!("splitting `{}`", spec.dataset))
}

/// Split, then standardize the columns the loader marked, with target_train statistics only.
pub fn prepare(spec: ExperimentSpec, mut data: Dataset) -> Result<Prepared> {
    let splits = splits(&spec, data.len())?;
    let data_hash = data.content_hash();
    data.standardize_on(&splits.target_train);
    Ok(Prepared { spec, data, splits, data_hash })
}

impl Prepared {
    /// The identity of an artefact or result of `kind` made from this data with `settings` on
    /// `backend`, under the code this binary was built from.
    pub fn identity<T: Serialize>(&self, kind: Kind, settings: &T, backend: &str) -> Identity {
        Identity::new(kind, settings, &self.data_hash, &CodeIdentity::built(), backend)
    }
}

/// The trained target model: loaded from `cache/targets/<key>` when present, else trained and
/// saved there; the key covers the spec, the data's content, the code of the training loop and
/// `backend`. Returns the model, its training seconds (0 when cached) and whether it was cached.
///
/// With `may_train` false a target missing from the cache is an error (the cell stage of a
/// cluster run must not train what the artefact stage provides), raised before any training.
pub fn target_model<B: AutodiffBackend>(
    p: &Prepared,
    cache: Option<&Path>,
    backend: &str,
    may_train: bool,
    device: &B::Device,
) -> Result<(Net<B>, f64, bool)> {
    let identity = p.identity(Kind::Target, &p.spec, backend);
    let stem: Option<PathBuf> = cache.map(|c| c.join("targets").join(&identity.key).join("target"));
    if let Some(stem) = &stem {
        // a checkpoint is trusted only with a manifest that vouches for its key and weights
        if checkpoint::exists(stem) && ModelManifest::verify(stem, &identity)? {
            let net = checkpoint::load::<B>(stem, device).with_context(|| format!("loading cached target {}", stem.display()))?;
            return Ok((net, 0.0, true));
        }
    }
    if !may_train {
        let at = stem.as_ref().map_or("(no cache)".into(), |s| s.display().to_string());
        anyhow::bail!("the target model is not in the cache ({at})");
    }
    let t = Instant::now();
    let fresh = train::fresh::<B>(&p.spec.net, p.spec.seed, device)?;
    let net = train(fresh, &p.data, &p.splits.target_train, &p.spec.recipe, &format!("{}: target model", p.spec.dataset))?;
    let secs = t.elapsed().as_secs_f64();
    if let Some(stem) = &stem {
        checkpoint::save(&net, stem)?;
        ModelManifest::write(stem, identity, &p.spec, &p.splits.target_train)?;
    }
    Ok((net, secs, false))
}

/// Which oracles to fit, and how.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OracleConfig {
    /// Oracle ids (`all` or empty = every one).
    pub ids: Vec<String>,
    /// Shadow attack settings (its seed is combined with the run seed).
    pub shadow: ShadowConfig,
    /// LiRA settings.
    pub lira: LiraConfig,
    /// Shadow models in the pool when LiRA is on, for tables (MLP) and images (CNN).
    pub lira_shadows_mlp: usize,
    /// See `lira_shadows_mlp`.
    pub lira_shadows_cnn: usize,
}

impl Default for OracleConfig {
    fn default() -> Self {
        Self {
            ids: vec!["all".into()],
            shadow: ShadowConfig::default(),
            lira: LiraConfig::default(),
            lira_shadows_mlp: 16,
            lira_shadows_cnn: 8,
        }
    }
}

impl OracleConfig {
    fn wants(&self, id: &str) -> bool {
        forsaken_mia::selects(&self.ids, id)
    }

    /// Check the ids and every oracle's settings; errors name `oracles.<...>`.
    pub fn check(&self) -> Result<(), SettingError> {
        if let Some(bad) = self.ids.iter().find(|i| *i != "all" && !forsaken_mia::oracle_ids().contains(&i.as_str())) {
            return Err(SettingError::new("oracles.ids", bad, format!("known: {}, all", forsaken_mia::oracle_ids().join(", "))));
        }
        self.shadow.check().map_err(|e| e.within("oracles.shadow"))?;
        self.lira.check().map_err(|e| e.within("oracles.lira"))?;
        settings::at_least("oracles.lira_shadows_mlp", self.lira_shadows_mlp, 1)?;
        settings::at_least("oracles.lira_shadows_cnn", self.lira_shadows_cnn, 1)
    }
}

/// Every cached shadow model gets a manifest when it is trained, and is checked against it
/// when it is loaded again (its key, its weights' SHA-256).
fn vouch_for_shadows<B: burn::tensor::backend::Backend>(p: &Prepared, pool: &ShadowPool<B>, backend: &str) -> Result<()> {
    let Some(dir) = &pool.cache_path else { return Ok(()) };
    for (s, inside) in pool.in_sets.iter().enumerate() {
        let stem = forsaken_mia::shadow_stem(dir, s);
        let pool_key = dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let settings = serde_json::json!({ "pool": pool_key, "shadow": s, "net": p.spec.net, "recipe": p.spec.recipe });
        let identity = p.identity(Kind::ShadowPool, &settings, backend);
        if !ModelManifest::verify(&stem, &identity)? {
            ModelManifest::write(&stem, identity, &settings, inside)?;
        }
    }
    Ok(())
}

/// Shadow models in the pool: the shadow attack's `k`, or LiRA's count for the family when
/// LiRA is among the oracles.
pub fn shadow_count(cfg: &OracleConfig, family: ModelFamily) -> usize {
    let lira = match family {
        ModelFamily::Mlp => cfg.lira_shadows_mlp,
        ModelFamily::Cnn => cfg.lira_shadows_cnn,
    };
    if cfg.wants("lira") {
        cfg.shadow.k.max(lira)
    } else {
        cfg.shadow.k
    }
}

/// The seed of the shadow pool and of the shadow attack's classifier for an experiment seed.
pub fn attack_seed(cfg: &OracleConfig, experiment_seed: u64) -> u64 {
    cfg.shadow.seed ^ experiment_seed.wrapping_mul(0x9e37_79b9)
}

/// Train or load the shadow pool of [`oracles`] (cached as described there).
pub fn pool<B: AutodiffBackend>(
    p: &Prepared,
    cfg: &OracleConfig,
    cache: Option<&Path>,
    backend: &str,
    device: &B::Device,
) -> Result<ShadowPool<B::InnerBackend>> {
    cfg.check()?;
    // the shadow data is standardized with target_train's statistics: its indices are part of
    // the key (the pool's own key inside has the shadow split, architecture, recipe, k, seed)
    let key = p.identity(Kind::ShadowPool, &p.splits.target_train, backend).key;
    let cache_dir = cache.map(|c| c.join("pools").join(key));
    let k = shadow_count(cfg, p.spec.family);
    let seed = attack_seed(cfg, p.spec.seed);
    let pool = shadow_pool::<B>(&p.data, &p.splits.shadow, &p.spec.net, &p.spec.recipe, k, seed, cache_dir.as_deref(), device)?;
    vouch_for_shadows(p, &pool, backend)?;
    Ok(pool)
}

/// Train or load the shadow pool and fit the oracles on its outputs (on the shadow split, and,
/// for per-example oracles, on target_train and target_test: every sample an audit judges).
///
/// The pool is cached under `cache/pools/<key>`, the key covering the data's content and its
/// standardization (target_train's indices), the code of the shadow training (forsaken-mia and
/// below), and `backend` (the pool's own key inside adds the shadow split, the architecture, the
/// recipe, `k` and the seed).
pub fn oracles<B: AutodiffBackend>(
    p: &Prepared,
    cfg: &OracleConfig,
    cache: Option<&Path>,
    backend: &str,
    device: &B::Device,
) -> Result<(OracleSet, ShadowPool<B::InnerBackend>)> {
    let pool = pool::<B>(p, cfg, cache, backend, device)?;
    let shadow = ShadowConfig { seed: attack_seed(cfg, p.spec.seed), ..cfg.shadow.clone() };
    let per_example = forsaken_mia::oracles().iter().any(|o| o.per_example && cfg.wants(o.id));
    let queries =
        if per_example { vec![pool.query(&p.data, &p.splits.target_train), pool.query(&p.data, &p.splits.target_test)] } else { vec![] };
    let evidence = ShadowEvidence { outputs: &pool.outputs, in_sets: &pool.in_sets, queries: &queries };
    let set = OracleSet::fit(&evidence, &cfg.ids, OracleSettings { shadow: &shadow, lira: &cfg.lira })?;
    Ok((set, pool))
}

/// A model's accuracies and confidence on the experiment's parts.
#[derive(Debug, Clone)]
pub struct Accuracies {
    /// Accuracy on D_u.
    pub forget: f64,
    /// Accuracy on the retained set.
    pub retain: f64,
    /// Accuracy on target_test.
    pub test: f64,
    /// Mean top-class probability on target_test.
    pub mean_top_prob_test: f64,
}

/// Accuracies of a model (a network or an ensemble).
pub fn accuracies(net: &dyn Predict, data: &Dataset, forget: &[usize], retain: &[usize], test: &[usize]) -> Accuracies {
    let t = net.outputs(data, test);
    Accuracies {
        forget: net.outputs(data, forget).accuracy(),
        retain: net.outputs(data, retain).accuracy(),
        test: t.accuracy(),
        mean_top_prob_test: t.mean_top_prob(),
    }
}

/// At most 2,000 retained samples (a seeded sample beyond that; docs/method.md, "Selectivity") for
/// FR on the retained set and the retained-vs-forget AUC.
pub fn retained_sample(retain: &[usize], seed: u64) -> Vec<usize> {
    let mut r = retain.to_vec();
    if r.len() > 2000 {
        r.shuffle(&mut ChaCha8Rng::seed_from_u64(seed ^ 0x2e7a));
        r.truncate(2000);
    }
    r
}

/// Decisions of every oracle on the original model, to compare unlearned models against.
pub struct Baseline {
    /// Per oracle: decisions on D_u and on the retained sample.
    pub decisions: Vec<(String, Vec<bool>, Vec<bool>)>,
}

impl Baseline {
    /// Decisions of `set` on `original` (a network or an ensemble).
    pub fn new(set: &OracleSet, original: &dyn Predict, data: &Dataset, forget: &[usize], retained: &[usize]) -> Result<Self> {
        let (of, or) = (original.outputs(data, forget), original.outputs(data, retained));
        let decisions =
            set.oracles.iter().map(|(id, o)| Ok((id.clone(), o.decide(&of, forget)?, o.decide(&or, retained)?))).collect::<Result<_>>()?;
        Ok(Self { decisions })
    }

    /// The decisions of oracle `id` on D_u.
    pub fn on_forget(&self, id: &str) -> Option<&[bool]> {
        self.decisions.iter().find(|(i, _, _)| i == id).map(|(_, u, _)| u.as_slice())
    }
}

/// Every oracle's view of an unlearned model: FR on D_u (with a 95% bootstrap interval), FR on
/// the retained sample, retained-vs-forget AUC. Selectivity is filled in later, against retrain.
pub fn oracle_views(
    set: &OracleSet,
    base: &Baseline,
    net: &dyn Predict,
    data: &Dataset,
    forget: &[usize],
    retained: &[usize],
    seed: u64,
) -> Result<std::collections::BTreeMap<String, OracleView>> {
    let mut out = std::collections::BTreeMap::new();
    let (of, or) = (net.outputs(data, forget), net.outputs(data, retained));
    for ((id, o), (_, bu, br)) in set.oracles.iter().zip(&base.decisions) {
        let au = o.decide(&of, forget)?;
        let ar = o.decide(&or, retained)?;
        let cu = FrCounts::from_decisions(bu, &au)?;
        let cr = FrCounts::from_decisions(br, &ar)?;
        let ci = fr_bootstrap_ci(bu, &au, 1000, seed ^ 0xb007)?;
        let auc = retained_vs_forget_auc(&o.score(&or, retained)?, &o.score(&of, forget)?).ok();
        out.insert(
            id.clone(),
            OracleView {
                fr: cu.forgetting_rate().value(),
                fr_ci_low: ci.map(|c| c.low),
                fr_ci_high: ci.map(|c| c.high),
                fr_retained: cr.forgetting_rate().value(),
                selectivity: None,
                ret_vs_forget_auc: auc,
                members_before: cu.b_t,
                members_after: cu.a_t,
            },
        );
    }
    Ok(out)
}

/// Inference view of an autodiff model.
pub fn inner<B: AutodiffBackend>(net: &Net<B>) -> Net<B::InnerBackend> {
    net.valid()
}
