//! The shadow-model pool shared by every oracle: `k` models of the target's architecture and
//! recipe, each trained on an independent random half of the shadow split (docs/protocol.md,
//! "Splits"), with their softmax outputs on every shadow sample.
//!
//! **Cache.** With a cache directory, each shadow model (weights + its "in" index list) and the
//! pool's outputs are saved under `<cache>/shadows/<hash>/`, the hash covering the dataset, the
//! shadow split, the architecture, the recipe, `k` and the seed. A later run with the same
//! configuration loads them instead of training (and trains only the models still missing,
//! as one stack, so an interrupted pool retrains the models it had not saved yet); a changed
//! configuration hashes elsewhere.
//!
//! **Training.** The missing models train together as one [`forsaken_models::NetStack`]: each
//! on its own half with its own seeds, exactly as one after another (bit-identical on the CPU,
//! where the halves' equal size means no padded batches).

use std::path::{Path, PathBuf};

use burn::module::AutodiffModule;
use burn::tensor::backend::{AutodiffBackend, Backend};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::Serialize;
use sha2::{Digest, Sha256};

use forsaken_data::split::{read_indices, write_indices};
use forsaken_data::Dataset;
use forsaken_models::{checkpoint, predict, train_stack, MemberRun, ModelError, Net, NetConfig, Outputs, TrainConfig};

use crate::shadow::ShadowOutputs;

/// Trained shadow models with their in-sets and outputs on the shadow split.
pub struct ShadowPool<B: Backend> {
    /// The models (inference backend).
    pub models: Vec<Net<B>>,
    /// Pooled-dataset indices each model trained on.
    pub in_sets: Vec<Vec<usize>>,
    /// Every model's outputs on every shadow sample, labelled in/out.
    pub outputs: ShadowOutputs,
    /// How many models this call trained (0 when everything came from the cache).
    pub trained_now: usize,
    /// Cache folder used, if any.
    pub cache_path: Option<PathBuf>,
}

/// Every shadow model's outputs on samples an audit will query (outside the shadow split):
/// what a per-example oracle (LiRA) calibrates on.
#[derive(Debug, Clone)]
pub struct QueryOutputs {
    /// Dataset indices, in row order.
    pub samples: Vec<usize>,
    /// One [`Outputs`] per shadow model, rows in `samples` order.
    pub per_model: Vec<Outputs>,
}

/// What oracles are fitted on: outputs only, no model.
#[derive(Debug, Clone, Copy)]
pub struct ShadowEvidence<'a> {
    /// Every shadow model's outputs on every shadow sample, labelled in/out.
    pub outputs: &'a ShadowOutputs,
    /// Which samples each shadow model trained on.
    pub in_sets: &'a [Vec<usize>],
    /// The shadow models' outputs on the samples to be judged (needed by per-example oracles).
    pub queries: &'a [QueryOutputs],
}

impl<B: Backend> ShadowPool<B> {
    /// Every shadow model's outputs on the rows `idx` of `data`.
    pub fn query(&self, data: &Dataset, idx: &[usize]) -> QueryOutputs {
        QueryOutputs { samples: idx.to_vec(), per_model: self.models.iter().map(|m| predict(m, data, idx)).collect() }
    }
}

#[derive(Serialize)]
struct PoolKey<'a> {
    dataset: &'a str,
    shadow_split_hash: String,
    net: &'a NetConfig,
    recipe: &'a TrainConfig,
    k: usize,
    seed: u64,
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().take(8).map(|b| format!("{b:02x}")).collect()
}

fn ck(path: &Path, e: impl std::fmt::Display) -> ModelError {
    ModelError::Checkpoint { path: path.display().to_string(), msg: e.to_string() }
}

/// The checkpoint stem of shadow model `s` in a pool's cache folder.
pub fn shadow_stem(dir: &Path, s: usize) -> PathBuf {
    dir.join(format!("shadow{s}"))
}

/// Shadow model `s`'s in-set: a seeded random half of `shadow_idx`.
fn shadow_half(shadow_idx: &[usize], seed: u64, s: usize) -> Vec<usize> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed.wrapping_mul(1_000_003).wrapping_add(s as u64 + 1));
    let mut order = shadow_idx.to_vec();
    order.shuffle(&mut rng);
    order.truncate(order.len() / 2);
    order
}

/// Shadow model `s`'s initialization and batch-order seed.
pub(crate) fn member_seed(seed: u64, s: usize) -> u64 {
    seed.wrapping_mul(7919).wrapping_add(1000 + s as u64)
}

/// Train (or load from `cache`) `k` shadow models on random halves of `shadow_idx`; the models
/// missing from the cache train as one [`forsaken_models::NetStack`].
#[allow(clippy::too_many_arguments)]
pub fn shadow_pool<B: AutodiffBackend>(
    data: &Dataset,
    shadow_idx: &[usize],
    net: &NetConfig,
    recipe: &TrainConfig,
    k: usize,
    seed: u64,
    cache: Option<&Path>,
    device: &B::Device,
) -> Result<ShadowPool<B::InnerBackend>, ModelError> {
    if shadow_idx.len() < 4 || k == 0 {
        return Err(ModelError::Request(format!(
            "shadow models need k >= 1 and at least 4 shadow samples (got k = {k}, {} samples)",
            shadow_idx.len()
        )));
    }
    let split_hash = hex(&Sha256::digest(shadow_idx.iter().flat_map(|i| (*i as u64).to_le_bytes()).collect::<Vec<u8>>()));
    let key = PoolKey { dataset: &data.name, shadow_split_hash: split_hash, net, recipe, k, seed };
    let dir = cache.map(|c| c.join("shadows").join(hex(&Sha256::digest(serde_json::to_vec(&key).expect("key serializes")))));
    if let Some(d) = &dir {
        std::fs::create_dir_all(d).map_err(|e| ck(d, e))?;
        let desc = serde_json::to_string_pretty(&key).expect("key serializes");
        // temporary names carry the process id: shards on a shared filesystem never write the
        // same temporary file, and the rename is atomic
        let tmp = d.join(format!(".key.json.{}.tmp", std::process::id()));
        std::fs::write(&tmp, desc).map_err(|e| ck(&tmp, e))?;
        std::fs::rename(&tmp, d.join("key.json")).map_err(|e| ck(d, e))?;
    }
    let in_sets: Vec<Vec<usize>> = (0..k).map(|s| shadow_half(shadow_idx, seed, s)).collect();
    let mut models: Vec<Option<Net<B::InnerBackend>>> = Vec::with_capacity(k);
    for (s, inside) in in_sets.iter().enumerate() {
        let stem = dir.as_ref().map(|d| shadow_stem(d, s));
        let cached = stem.filter(|st| checkpoint::exists(st) && st.with_extension("in.txt").exists());
        models.push(match cached {
            Some(st) => {
                if &read_indices(&st.with_extension("in.txt"))? != inside {
                    return Err(ck(&st, "cached shadow model was trained on a different half; delete the cache folder"));
                }
                Some(checkpoint::load::<B::InnerBackend>(&st, device)?)
            }
            None => None,
        });
    }
    // the missing models train together, as one stack (on the CPU bit-identical to training
    // them one after another: the halves have one size)
    let missing: Vec<usize> = (0..k).filter(|&s| models[s].is_none()).collect();
    let recipes: Vec<TrainConfig> = missing.iter().map(|&s| TrainConfig { seed: member_seed(seed, s), ..recipe.clone() }).collect();
    let fresh = missing.iter().map(|&s| forsaken_models::train::fresh::<B>(net, member_seed(seed, s), device)).collect::<Result<_, _>>()?;
    let runs: Vec<MemberRun> = missing.iter().zip(&recipes).map(|(&s, recipe)| MemberRun { idx: &in_sets[s], recipe }).collect();
    let label = format!("{} of {k} shadow models, stacked", missing.len());
    for (&s, m) in missing.iter().zip(train_stack(fresh, data, &runs, &label)?) {
        let m = m.valid();
        if let Some(d) = &dir {
            let st = shadow_stem(d, s);
            checkpoint::save(&m, &st)?;
            write_indices(&st.with_extension("in.txt"), &in_sets[s])?;
        }
        models[s] = Some(m);
    }
    let trained_now = missing.len();
    let models: Vec<Net<B::InnerBackend>> = models.into_iter().map(|m| m.expect("every shadow model is loaded or trained")).collect();
    let out_path = dir.as_ref().map(|d| d.join("outputs.json"));
    let outputs = match out_path.as_ref().filter(|p| p.exists() && trained_now == 0) {
        Some(p) => {
            let text = std::fs::read_to_string(p).map_err(|e| ck(p, e))?;
            serde_json::from_str(&text).map_err(|e| ck(p, format!("corrupt ({e}); delete it to recompute")))?
        }
        None => {
            let o = collect_outputs(&models, &in_sets, data, shadow_idx);
            if let Some(p) = &out_path {
                let tmp = p.with_extension(format!("json.{}.partial", std::process::id()));
                std::fs::write(&tmp, serde_json::to_vec(&o).expect("outputs serialize")).map_err(|e| ck(&tmp, e))?;
                std::fs::rename(&tmp, p).map_err(|e| ck(p, e))?;
            }
            o
        }
    };
    Ok(ShadowPool { models, in_sets, outputs, trained_now, cache_path: dir })
}

pub(crate) fn collect_outputs<B: Backend>(
    models: &[Net<B>],
    in_sets: &[Vec<usize>],
    data: &Dataset,
    shadow_idx: &[usize],
) -> ShadowOutputs {
    let per_model: Vec<Outputs> = models.iter().map(|m| predict(m, data, shadow_idx)).collect();
    ShadowOutputs::from_outputs(&per_model, shadow_idx, in_sets)
}
