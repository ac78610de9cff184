//! **SISA** (Bourtoule et al., "Machine Unlearning", IEEE S&P 2021): Sharded, Isolated, Sliced
//! and Aggregated training. Exact by construction.
//!
//! * The training set is split (seeded) into `S` disjoint **shards**; each shard into `R`
//!   **slices**. Each shard's model is trained incrementally: stage `r` continues from stage
//!   `r - 1`'s checkpoint on slices `0..=r` for `ceil(E / R)` epochs (E = the original recipe's
//!   epochs), and the checkpoint after every stage is kept.
//!   The shards train side by side, stage by stage, as one [`forsaken_models::NetStack`] (they
//!   are independent models of one recipe); a deletion retrains its affected shards the same way.
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
    train, train_stack, Aggregation, Ensemble, MemberRun, ModelError, Net, NetConfig, TrainConfig, UnlearnOutcome, UnlearnRequest,
    Unlearned, Unlearner,
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

/// One shard's share of a training round: continue from `start` (the checkpoint before slice
/// `from`, or a fresh network) through the last slice.
struct StageJob<'a, B: AutodiffBackend> {
    start: Net<B>,
    slices: &'a [Vec<usize>],
    from: usize,
    seed: u64,
}

/// Train stages `from..R` of every job's shard. Stage `r` of all the shards that train it runs
/// as one stack (the shards are independent models of one recipe). Returns each job's
/// checkpoints after stages `from..R` and the number of (shard, stage) trainings run.
fn train_stages<B: AutodiffBackend>(
    jobs: Vec<StageJob<'_, B>>,
    data: &Dataset,
    recipe: &TrainConfig,
    label: &str,
) -> Result<(Vec<Vec<Net<B>>>, usize), ModelError> {
    let slices = jobs.first().map_or(0, |j| j.slices.len());
    let first = jobs.iter().map(|j| j.from).min().unwrap_or(slices);
    let mut out: Vec<Vec<Net<B>>> = jobs.iter().map(|_| Vec::new()).collect();
    let mut nets: Vec<Net<B>> = jobs.iter().map(|j| j.start.clone()).collect();
    let mut stages = 0;
    for r in first..slices {
        // an empty prefix (a shard emptied by deletions) keeps the initialization
        let prefixes: Vec<Vec<usize>> = jobs.iter().map(|j| if j.from <= r { j.slices[..=r].concat() } else { vec![] }).collect();
        let now: Vec<usize> = (0..jobs.len()).filter(|&j| !prefixes[j].is_empty()).collect();
        let recipes: Vec<TrainConfig> = now.iter().map(|&j| stage_recipe(recipe, slices, jobs[j].seed, r)).collect();
        let runs: Vec<MemberRun> = now.iter().zip(&recipes).map(|(&j, recipe)| MemberRun { idx: &prefixes[j], recipe }).collect();
        let trained = train_stack(now.iter().map(|&j| nets[j].clone()).collect(), data, &runs, &format!("{label}, slice {}", r + 1))?;
        for (&j, net) in now.iter().zip(trained) {
            nets[j] = net;
        }
        stages += now.len();
        for j in (0..jobs.len()).filter(|&j| jobs[j].from <= r) {
            out[j].push(nets[j].clone());
        }
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
        for k in 0..config.shards {
            let mine: Vec<usize> = order.iter().skip(k).step_by(config.shards).copied().collect();
            let per = mine.len().div_ceil(config.slices);
            let slices: Vec<Vec<usize>> = (0..config.slices).map(|r| mine.iter().skip(r * per).take(per).copied().collect()).collect();
            shards.push(Shard { slices, checkpoints: vec![], seed: seed.wrapping_add(0x5150 + k as u64) });
        }
        let jobs = shards
            .iter()
            .map(|sh| Ok(StageJob { start: train::fresh::<B>(arch, sh.seed, device)?, slices: &sh.slices, from: 0, seed: sh.seed }))
            .collect::<Result<Vec<_>, ModelError>>()?;
        let (checkpoints, stages_trained) = train_stages(jobs, data, recipe, &format!("sisa: {} shards", config.shards))?;
        for (shard, c) in shards.iter_mut().zip(checkpoints) {
            shard.checkpoints = c;
        }
        let stats = SisaStats { shards_retrained: (0..config.shards).collect(), stages_trained };
        Ok((Self { config: config.clone(), shards, recipe: recipe.clone() }, stats))
    }

    /// Forget the dataset indices `forget`: each affected shard drops them and retrains from
    /// the last checkpoint before the earliest affected slice. Returns the new model (other
    /// shards are cloned unchanged) and what it cost.
    pub fn unlearn(&self, data: &Dataset, forget: &[usize]) -> Result<(Self, SisaStats), ModelError> {
        let gone: HashSet<usize> = forget.iter().copied().collect();
        let mut shards = self.shards.clone();
        // every shard holding a forget sample: the first slice that held one
        let affected: Vec<(usize, usize)> = self
            .shards
            .iter()
            .enumerate()
            .filter_map(|(k, sh)| sh.slices.iter().position(|s| s.iter().any(|i| gone.contains(i))).map(|r0| (k, r0)))
            .collect();
        for &(k, _) in &affected {
            shards[k].slices = self.shards[k].slices.iter().map(|s| s.iter().copied().filter(|i| !gone.contains(i)).collect()).collect();
        }
        let jobs = affected
            .iter()
            .map(|&(k, r0)| {
                let old = &self.shards[k];
                let start = if r0 == 0 {
                    train::fresh::<B>(&old.model().config, old.seed, &old.model().head.weight.device())?
                } else {
                    old.checkpoints[r0 - 1].clone()
                };
                Ok(StageJob { start, slices: &shards[k].slices, from: r0, seed: old.seed })
            })
            .collect::<Result<Vec<_>, ModelError>>()?;
        let label = format!("sisa: retraining {} of {} shards", affected.len(), self.shards.len());
        let (tails, stages_trained) = train_stages(jobs, data, &self.recipe, &label)?;
        for (&(k, r0), tail) in affected.iter().zip(tails) {
            shards[k].checkpoints.truncate(r0);
            shards[k].checkpoints.extend(tail);
        }
        let stats = SisaStats { shards_retrained: affected.iter().map(|&(k, _)| k).collect(), stages_trained };
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
