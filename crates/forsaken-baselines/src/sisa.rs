//! **SISA** (Bourtoule et al., "Machine Unlearning", IEEE S&P 2021): Sharded, Isolated, Sliced
//! and Aggregated training. Exact by construction.
//!
//! * The training set is split (seeded) into `S` disjoint **shards**; each shard into `R`
//!   **slices**. Each shard's model is trained incrementally: stage `r` continues from stage
//!   `r - 1`'s checkpoint on slices `0..=r` for `ceil(E / R)` epochs (E = the original recipe's
//!   epochs), and the checkpoint after every stage is kept.
//! * Predictions are aggregated over the shards ([`Aggregation::Mean`] of the softmax by
//!   default, or a majority vote).
//! * To unlearn, every shard holding a forget sample drops it and retrains from the last
//!   checkpoint taken **before** the earliest slice that held one (from a fresh initialization
//!   when that is slice 0); the other shards are untouched.
//!
//! SISA changes how the original model is trained, so it cannot start from the monolithic
//! original of an [`UnlearnRequest`]: [`Sisa`] trains its own sharded deployment model on
//! `retain + forget` first (timed as `setup_seconds`, not as unlearning) and then serves the
//! deletion; the deployed ensemble is returned beside the unlearned one, so forgetting rates
//! compare SISA's model after the deletion with SISA's model before it. The strength knob is the number of shards (more shards: faster unlearning, lower
//! accuracy).

use std::collections::HashSet;
use std::time::Instant;

use burn::tensor::backend::AutodiffBackend;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use forsaken_data::Dataset;
use forsaken_models::settings::{self, Knob, Method, Role, SettingError, Stronger};
use forsaken_models::{
    train, Aggregation, Ensemble, ModelError, Net, NetConfig, TrainConfig, UnlearnOutcome, UnlearnRequest, Unlearned, Unlearner,
};

/// SISA's settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SisaConfig {
    /// Shards S (the strength knob).
    pub shards: usize,
    /// Slices R per shard.
    pub slices: usize,
    /// How shard predictions combine.
    pub aggregation: Aggregation,
}

impl Default for SisaConfig {
    fn default() -> Self {
        Self { shards: 5, slices: 4, aggregation: Aggregation::Mean }
    }
}

impl Method for SisaConfig {
    const ID: &'static str = "sisa";
    const ABOUT: &'static str = "sharded, sliced training that retrains the affected shards: exact; the output is an ensemble";
    const ROLE: Role = Role::Exact;
    const KNOB: Knob = Knob { setting: Some("shards"), unit: "shards", stronger: Stronger::Up, sweep: &[] };
    const HELP: &'static [(&'static str, &'static str)] = &[
        ("shards", "number of shards S"),
        ("slices", "slices R per shard"),
        ("aggregation", "how shard predictions combine: mean or vote"),
    ];
    fn check(&self) -> Result<(), SettingError> {
        settings::at_least("shards", self.shards, 1)?;
        settings::at_least("slices", self.slices, 1)
    }
    fn build<B: AutodiffBackend>(&self) -> Box<dyn Unlearner<B>> {
        Box::new(Sisa { config: self.clone() })
    }
}

/// One shard: its data in slice order and the model after each stage.
#[derive(Debug, Clone)]
pub struct Shard<B: AutodiffBackend> {
    /// Dataset indices of each slice.
    pub slices: Vec<Vec<usize>>,
    /// `checkpoints[r]`: the model after training on slices `0..=r`.
    pub checkpoints: Vec<Net<B>>,
    seed: u64,
}

impl<B: AutodiffBackend> Shard<B> {
    /// Every sample this shard's final model was trained on.
    pub fn data(&self) -> Vec<usize> {
        self.slices.concat()
    }

    /// The deployed model of this shard (after the last slice).
    pub fn model(&self) -> &Net<B> {
        self.checkpoints.last().expect("a trained shard has checkpoints")
    }
}

/// A trained SISA model.
#[derive(Debug, Clone)]
pub struct SisaModel<B: AutodiffBackend> {
    /// Settings.
    pub config: SisaConfig,
    /// The shards.
    pub shards: Vec<Shard<B>>,
    recipe: TrainConfig,
}

/// What an unlearning request cost.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SisaStats {
    /// Shards that were retrained.
    pub shards_retrained: Vec<usize>,
    /// Training stages run (one stage = one slice prefix of one shard).
    pub stages_trained: usize,
}

fn stage_recipe(recipe: &TrainConfig, slices: usize, seed: u64, stage: usize) -> TrainConfig {
    TrainConfig { epochs: recipe.epochs.div_ceil(slices).max(1), seed: seed.wrapping_add(stage as u64 * 7919), ..recipe.clone() }
}

/// Train stages `from..R` of a shard, starting from `start` (the checkpoint before `from`).
fn train_stages<B: AutodiffBackend>(
    start: Net<B>,
    data: &Dataset,
    slices: &[Vec<usize>],
    from: usize,
    recipe: &TrainConfig,
    seed: u64,
    label: &str,
) -> Result<(Vec<Net<B>>, usize), ModelError> {
    let mut net = start;
    let mut out = Vec::new();
    let mut prefix: Vec<usize> = slices[..from].concat();
    let mut stages = 0;
    for (r, slice) in slices.iter().enumerate().skip(from) {
        prefix.extend_from_slice(slice);
        if prefix.is_empty() {
            // an empty prefix (a shard emptied by deletions) keeps the initialization
            out.push(net.clone());
            continue;
        }
        net = train(net, data, &prefix, &stage_recipe(recipe, slices.len(), seed, r), &format!("{label}, slice {}", r + 1))?;
        stages += 1;
        out.push(net.clone());
    }
    Ok((out, stages))
}

impl<B: AutodiffBackend> SisaModel<B> {
    /// Train a SISA model on the rows `idx` of `data`, with the recipe of the original model.
    pub fn train(
        config: &SisaConfig,
        arch: &NetConfig,
        data: &Dataset,
        idx: &[usize],
        recipe: &TrainConfig,
        seed: u64,
        device: &B::Device,
    ) -> Result<(Self, SisaStats), ModelError> {
        config.check()?;
        if idx.len() < config.shards * config.slices {
            return Err(ModelError::Request(format!(
                "sisa: {} samples cannot fill {} shards x {} slices",
                idx.len(),
                config.shards,
                config.slices
            )));
        }
        let mut order = idx.to_vec();
        order.shuffle(&mut ChaCha8Rng::seed_from_u64(seed ^ 0x515a));
        let mut shards = Vec::with_capacity(config.shards);
        let mut stats = SisaStats::default();
        for k in 0..config.shards {
            let mine: Vec<usize> = order.iter().skip(k).step_by(config.shards).copied().collect();
            let per = mine.len().div_ceil(config.slices);
            let slices: Vec<Vec<usize>> = (0..config.slices).map(|r| mine.iter().skip(r * per).take(per).copied().collect()).collect();
            let shard_seed = seed.wrapping_add(0x5150 + k as u64);
            let init = train::fresh::<B>(arch, shard_seed, device)?;
            let (checkpoints, n) =
                train_stages(init, data, &slices, 0, recipe, shard_seed, &format!("sisa shard {}/{}", k + 1, config.shards))?;
            stats.stages_trained += n;
            stats.shards_retrained.push(k);
            shards.push(Shard { slices, checkpoints, seed: shard_seed });
        }
        Ok((Self { config: config.clone(), shards, recipe: recipe.clone() }, stats))
    }

    /// Forget the dataset indices `forget`: each affected shard drops them and retrains from
    /// the last checkpoint before the earliest affected slice. Returns the new model (other
    /// shards are cloned unchanged) and what it cost.
    pub fn unlearn(&self, data: &Dataset, forget: &[usize]) -> Result<(Self, SisaStats), ModelError> {
        let gone: HashSet<usize> = forget.iter().copied().collect();
        let mut stats = SisaStats::default();
        let mut shards = Vec::with_capacity(self.shards.len());
        for (k, shard) in self.shards.iter().enumerate() {
            let first = shard.slices.iter().position(|s| s.iter().any(|i| gone.contains(i)));
            let Some(r0) = first else {
                shards.push(shard.clone());
                continue;
            };
            let slices: Vec<Vec<usize>> = shard.slices.iter().map(|s| s.iter().copied().filter(|i| !gone.contains(i)).collect()).collect();
            let start = if r0 == 0 {
                train::fresh::<B>(&shard.model().config, shard.seed, &shard.model().head.weight.device())?
            } else {
                shard.checkpoints[r0 - 1].clone()
            };
            let (tail, n) = train_stages(
                start,
                data,
                &slices,
                r0,
                &self.recipe,
                shard.seed,
                &format!("sisa: retraining shard {}/{}", k + 1, self.shards.len()),
            )?;
            let mut checkpoints = shard.checkpoints[..r0].to_vec();
            checkpoints.extend(tail);
            stats.stages_trained += n;
            stats.shards_retrained.push(k);
            shards.push(Shard { slices, checkpoints, seed: shard.seed });
        }
        Ok((Self { config: self.config.clone(), shards, recipe: self.recipe.clone() }, stats))
    }

    /// The aggregated deployed model.
    pub fn ensemble(&self) -> Ensemble<B> {
        Ensemble { members: self.shards.iter().map(|s| s.model().clone()).collect(), aggregation: self.config.aggregation }
    }
}

/// SISA as an [`Unlearner`] (see the module docs).
#[derive(Debug, Clone, Default)]
pub struct Sisa {
    /// Settings; the strength knob overrides `shards`.
    pub config: SisaConfig,
}

impl<B: AutodiffBackend> Unlearner<B> for Sisa {
    fn id(&self) -> &'static str {
        "sisa"
    }
    fn strength_knob(&self) -> &'static str {
        "shards"
    }
    fn unlearn(&self, req: &UnlearnRequest<'_, B>) -> Result<UnlearnOutcome<B>, ModelError> {
        let shards = req.strength.map_or(Ok(self.config.shards), |s| settings::count("sisa.shards", s))?;
        let cfg = SisaConfig { shards, ..self.config.clone() };
        let mut train_set: Vec<usize> = req.retain.iter().chain(req.forget).copied().collect();
        train_set.sort_unstable();
        let device = req.original.head.weight.device();
        let t = Instant::now();
        let (deployed, _) = SisaModel::<B>::train(&cfg, &req.original.config, req.data, &train_set, req.train, req.seed, &device)?;
        let setup_seconds = t.elapsed().as_secs_f64();
        let (after, stats) = deployed.unlearn(req.data, req.forget)?;
        Ok(UnlearnOutcome {
            model: Unlearned::Ensemble(after.ensemble()),
            steps: stats.stages_trained,
            stopping_oracle: None,
            // the deployment's training time is in `setup_seconds`, not here: a stop reason is
            // part of a record that must not change between identical runs
            stop_reason: format!(
                "retrained {} of {} shards ({} slice stages); training the sharded deployment model is not counted",
                stats.shards_retrained.len(),
                shards,
                stats.stages_trained
            ),
            trace: vec![],
            observer_seconds: 0.0,
            setup_seconds,
            strength: shards as f64,
            deployed: Some(Unlearned::Ensemble(deployed.ensemble())),
        })
    }
}
