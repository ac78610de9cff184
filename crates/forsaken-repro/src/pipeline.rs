//! The steps every experiment shares, used by the suite runner and by the `forsaken` command
//! line: prepare data and splits, train (or load from cache) the target model, fit the shadow
//! oracle (shadow outputs cached), build methods by id, and measure a model.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result};
use burn::module::AutodiffModule;
use burn::tensor::backend::{AutodiffBackend, Backend};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use forsaken_baselines::{FineTune, Retrain};
use forsaken_data::{registry, Dataset, ModelFamily, SplitSizes, Splits};
use forsaken_mask::{Forsaken, ForsakenConfig};
use forsaken_mia::shadow::shadow_outputs;
use forsaken_mia::{MembershipOracle, ShadowConfig, ShadowOracle, ShadowOutputs};
use forsaken_models::{checkpoint, predict, train, Net, NetConfig, TrainConfig, Unlearner};

use crate::io::{config_hash, write_atomic};
use crate::suite::Entry;

/// Method ids this build can run.
pub const METHODS: &[&str] = &["forsaken", "retrain", "finetune"];

/// Build a method by id.
pub fn method<B: AutodiffBackend>(
    id: &str,
    forsaken: &ForsakenConfig,
    finetune_epochs: usize,
) -> Result<Box<dyn Unlearner<B>>> {
    Ok(match id {
        "forsaken" => Box::new(Forsaken {
            config: forsaken.clone(),
        }),
        "retrain" => Box::new(Retrain),
        "finetune" => Box::new(FineTune {
            epochs: finetune_epochs,
        }),
        other => anyhow::bail!("unknown method `{other}`; known: {}", METHODS.join(", ")),
    })
}

/// Everything that defines the data side and the target model of one experiment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExperimentSpec {
    /// Dataset id.
    pub dataset: String,
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
}

impl ExperimentSpec {
    /// Resolve an entry of a suite against the registry and the loaded data.
    pub fn resolve(
        entry: &Entry,
        seed: u64,
        data: &Dataset,
        batch_size: usize,
        lr: f64,
    ) -> Result<Self> {
        let info = registry::info(&entry.dataset)?;
        let family = entry.model.unwrap_or(info.family);
        let pool = entry.pool_limit.map_or(data.len(), |l| l.min(data.len()));
        let sizes = match entry.sizes {
            Some(s) => s,
            None => info.sizes,
        };
        let _ = pool;
        Ok(Self {
            dataset: entry.dataset.clone(),
            seed,
            pool_limit: entry.pool_limit,
            sizes,
            family,
            net: NetConfig::for_family(family, &data.shape, data.num_classes),
            recipe: TrainConfig {
                epochs: entry.epochs.unwrap_or(info.epochs),
                batch_size,
                lr,
                seed,
            },
        })
    }

    /// Hash identifying the target model (and the data it saw).
    pub fn hash(&self) -> String {
        config_hash(self)
    }
}

/// Data and splits of an experiment.
pub struct Prepared {
    /// The spec.
    pub spec: ExperimentSpec,
    /// The pooled dataset (possibly a seeded subset).
    pub data: Dataset,
    /// Disjoint splits.
    pub splits: Splits,
}

/// Load a dataset by id from `data_dir` (with a seeded subset when `pool_limit` is set).
pub fn load_data(
    dataset: &str,
    data_dir: &Path,
    pool_limit: Option<usize>,
    seed: u64,
) -> Result<Dataset> {
    let data = registry::load(dataset, data_dir)
        .with_context(|| format!("loading dataset `{dataset}`"))?;
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

/// Load and split.
pub fn prepare(spec: ExperimentSpec, data: Dataset) -> Result<Prepared> {
    let splits = Splits::new(data.len(), spec.sizes, spec.seed)
        .with_context(|| format!("splitting `{}`", spec.dataset))?;
    Ok(Prepared { spec, data, splits })
}

/// The trained target model: loaded from `cache/targets/<hash>` when present, else trained and
/// saved there. Returns the model, its training seconds (0 when cached) and whether it was cached.
pub fn target_model<B: AutodiffBackend>(
    p: &Prepared,
    cache: Option<&Path>,
    device: &B::Device,
) -> Result<(Net<B>, f64, bool)> {
    let stem: Option<PathBuf> = cache.map(|c| c.join("targets").join(p.spec.hash()).join("target"));
    if let Some(stem) = &stem {
        if checkpoint::exists(stem) {
            let net = checkpoint::load::<B>(stem, device)
                .with_context(|| format!("loading cached target {}", stem.display()))?;
            return Ok((net, 0.0, true));
        }
    }
    let t = Instant::now();
    let fresh = train::fresh::<B>(&p.spec.net, p.spec.seed, device)?;
    let net = train(
        fresh,
        &p.data,
        &p.splits.target_train,
        &p.spec.recipe,
        &format!("{}: target model", p.spec.dataset),
    )?;
    let secs = t.elapsed().as_secs_f64();
    if let Some(stem) = &stem {
        checkpoint::save(&net, stem)?;
        write_atomic(
            &stem.with_extension("spec.json"),
            serde_json::to_string_pretty(&p.spec)?.as_bytes(),
        )?;
    }
    Ok((net, secs, false))
}

/// Fit the shadow oracle; its shadow models' outputs are cached under `cache/shadows/<hash>`.
pub fn shadow_oracle<B: AutodiffBackend>(
    p: &Prepared,
    cfg: &ShadowConfig,
    cache: Option<&Path>,
    device: &B::Device,
) -> Result<(ShadowOracle, ShadowOutputs)> {
    #[derive(Serialize)]
    struct Key<'a> {
        spec: &'a ExperimentSpec,
        shadow: &'a ShadowConfig,
    }
    let cfg = ShadowConfig {
        seed: cfg.seed ^ p.spec.seed.wrapping_mul(0x9e37_79b9),
        ..cfg.clone()
    };
    let path = cache.map(|c| {
        c.join("shadows")
            .join(config_hash(&Key {
                spec: &p.spec,
                shadow: &cfg,
            }))
            .join("outputs.json")
    });
    let outputs = match &path {
        Some(path) if path.exists() => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?;
            serde_json::from_str(&text)
                .with_context(|| format!("{} is corrupt; delete it to recompute", path.display()))?
        }
        _ => {
            let o = shadow_outputs::<B>(
                &p.data,
                &p.splits.shadow,
                &p.spec.net,
                &p.spec.recipe,
                &cfg,
                device,
            )?;
            if let Some(path) = &path {
                write_atomic(path, &serde_json::to_vec(&o)?)?;
            }
            o
        }
    };
    Ok((ShadowOracle::fit(&outputs, &cfg)?, outputs))
}

/// Accuracy, confidence and oracle view of one model on the experiment's parts.
#[derive(Debug, Clone)]
pub struct Measured {
    /// Accuracy on D_u.
    pub acc_forget: f64,
    /// Accuracy on the retained set.
    pub acc_retain: f64,
    /// Accuracy on target_test.
    pub acc_test: f64,
    /// Mean top-class probability on target_test.
    pub mean_top_prob_test: f64,
    /// Oracle decisions on D_u.
    pub forget_members: Vec<bool>,
}

/// Measure `net` (inference backend) on forget / retain / test with `oracle`.
pub fn measure<B: Backend>(
    net: &Net<B>,
    data: &Dataset,
    forget: &[usize],
    retain: &[usize],
    test: &[usize],
    oracle: &dyn MembershipOracle<B>,
) -> Measured {
    let test_out = predict(net, data, test);
    Measured {
        acc_forget: predict(net, data, forget).accuracy(),
        acc_retain: predict(net, data, retain).accuracy(),
        acc_test: test_out.accuracy(),
        mean_top_prob_test: test_out.mean_top_prob(),
        forget_members: oracle.decide(net, data, forget),
    }
}

/// Inference view of an autodiff model.
pub fn inner<B: AutodiffBackend>(net: &Net<B>) -> Net<B::InnerBackend> {
    net.valid()
}
