//! The plan of a suite, computed before any work: its **artefacts** (per dataset and seed, the
//! target model and the shadow pool) and its **cells** (per forget set, one method run and
//! measured), each with an estimated cost, and their split into shards for a cluster.
//!
//! Every item is in exactly one shard of a stage: items are dealt, most expensive first, to the
//! shard with the least estimated cost so far (ties: the lower shard), which depends on the
//! suite only, so every machine computes the same split. Costs are estimates in sample-epochs
//! (members x epochs, scaled per kind), good for balancing and for `forsaken plan`, not for
//! reporting.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use anyhow::{bail, Result};
use serde::{Deserialize, Serialize};

use forsaken_data::{registry, ModelFamily};
use forsaken_models::Role;

use crate::suite::{Entry, Suite};

/// Which part of the plan a run executes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Stage {
    /// Train (or find in the cache) the target models and shadow pools only.
    Artefacts,
    /// Run the cells, reading the artefacts from the cache (an error names a missing one).
    Cells,
    /// Both, in one process.
    All,
}

impl std::str::FromStr for Stage {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "artefacts" => Ok(Self::Artefacts),
            "cells" => Ok(Self::Cells),
            "all" => Ok(Self::All),
            o => Err(format!("unknown stage `{o}` (artefacts, cells or all)")),
        }
    }
}

/// Shard `index` of `count` (1-based, as `K/N` on the command line).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shard {
    /// K, in 1..=N.
    pub index: usize,
    /// N.
    pub count: usize,
}

impl std::str::FromStr for Shard {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("--shard {s}: expected K/N with 1 <= K <= N, e.g. 2/3");
        let (k, n) = s.split_once('/').ok_or_else(bad)?;
        let (index, count) = (k.trim().parse::<usize>().map_err(|_| bad())?, n.trim().parse::<usize>().map_err(|_| bad())?);
        if index == 0 || index > count {
            return Err(bad());
        }
        Ok(Self { index, count })
    }
}

/// What an item is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum What {
    /// The artefacts of a (dataset, seed): its target model and its shadow pool. One item, so
    /// that no two shards train the same models into the shared cache.
    Artefacts,
    /// One method on one forget set.
    Cell {
        /// Forget set (`10%`, `class:0`...).
        forget: String,
        /// Method id.
        method: String,
    },
    /// One side (a control or a method) of the deletion audit of one forget set.
    Audit {
        /// Forget set.
        forget: String,
        /// `retrain-control`, `do-nothing` or a method id.
        side: String,
    },
}

/// One item of the plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Item {
    /// Dataset id or spec.
    pub dataset: String,
    /// Model family (`mlp`, `cnn`).
    pub model: String,
    /// Seed.
    pub seed: u64,
    /// What it is.
    pub what: What,
    /// Estimated cost (sample-epochs).
    pub cost: f64,
}

impl Item {
    /// A stable name: `dataset/model/sSEED/artefacts` or `dataset/model/sSEED/FORGET/METHOD`.
    pub fn id(&self) -> String {
        match &self.what {
            What::Artefacts => item_id(&self.dataset, &self.model, self.seed, "artefacts"),
            What::Cell { forget, method } => item_id(&self.dataset, &self.model, self.seed, &format!("{forget}/{method}")),
            What::Audit { forget, side } => item_id(&self.dataset, &self.model, self.seed, &format!("audit/{forget}/{side}")),
        }
    }

    /// Whether the item belongs to `stage`'s kind (artefacts, or cells).
    fn in_stage(&self, stage: Stage) -> bool {
        match stage {
            Stage::All => true,
            Stage::Artefacts => matches!(self.what, What::Artefacts),
            Stage::Cells => !matches!(self.what, What::Artefacts),
        }
    }
}

/// The one format of item names (plan, runner, merge and comparison all use it):
/// `dataset/model/sSEED/what`.
pub fn item_id(dataset: &str, model: &str, seed: u64, what: &str) -> String {
    format!("{dataset}/{model}/s{seed}/{what}")
}

/// The plan: every artefact and cell of a suite, in suite order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    /// A hash of the suite: shards of one plan carry the same id.
    pub id: String,
    /// The items.
    pub items: Vec<Item>,
}

/// An entry's model family, members and epochs (the registry's unless the entry overrides).
fn entry_shape(e: &Entry) -> (ModelFamily, usize, usize, usize) {
    let info = registry::info(&e.dataset).ok();
    let family = e.model.or(info.map(|i| i.family)).unwrap_or(ModelFamily::Mlp);
    let sizes = e.sizes.or(info.map(|i| i.sizes));
    let members = sizes.map_or(1000, |s| s.target_train);
    let shadow = sizes.and_then(|s| s.shadow).unwrap_or(2 * members);
    (family, members, shadow, e.epochs.or(info.map(|i| i.epochs)).unwrap_or(100))
}

/// A cell's cost relative to training the target once.
fn cell_weight(method: &str) -> f64 {
    match crate::methods::role(method) {
        Some(Role::Reference) => 1.0,
        Some(Role::Exact) => 1.2,
        Some(Role::Masking | Role::Baseline) => 0.5,
        Some(Role::Control) | None => 0.01,
    }
}

impl Plan {
    /// The plan of `suite`, restricted to `datasets` when not empty.
    pub fn of(suite: &Suite, datasets: &[String]) -> Self {
        let mut items = Vec::new();
        for e in suite.entries.iter().filter(|e| datasets.is_empty() || datasets.contains(&e.dataset)) {
            let (family, members, shadow, epochs) = entry_shape(e);
            let model = format!("{family:?}").to_lowercase();
            let train = (members * epochs) as f64;
            let lira = crate::pipeline::shadow_count(&suite.oracles, family);
            for &seed in &suite.seeds {
                let item = |what, cost| Item { dataset: e.dataset.clone(), model: model.clone(), seed, what, cost };
                items.push(item(What::Artefacts, train + (lira * shadow / 2 * epochs) as f64));
                for f in e.forget_sets(suite) {
                    for m in &suite.methods {
                        items.push(item(What::Cell { forget: f.to_string(), method: m.clone() }, train * cell_weight(m)));
                    }
                }
                // a method's side costs N runs; the retrain control's item brings the stack of 2N
                // retrainings; doing nothing costs one relearning
                if let Some(a) = suite.audit.as_ref().filter(|_| e.audited(suite, seed)) {
                    for side in a.sides() {
                        let cost = match side.as_str() {
                            crate::population::RETRAIN_CONTROL => 2.0 * a.models as f64 * train,
                            crate::population::DO_NOTHING => 0.01 * train,
                            m => a.models as f64 * train * cell_weight(m),
                        };
                        items.push(item(What::Audit { forget: a.forget.to_string(), side }, cost));
                    }
                }
            }
        }
        Self { id: crate::io::config_hash(&(suite, datasets)), items }
    }

    /// The ids of the items of `stage` in `shard` (every item of the stage without a shard).
    pub fn select(&self, stage: Stage, shard: Option<Shard>) -> BTreeSet<String> {
        let mut items: Vec<&Item> = self.items.iter().filter(|i| i.in_stage(stage)).collect();
        let Some(shard) = shard else { return items.iter().map(|i| i.id()).collect() };
        // artefacts and cells are balanced separately: they run in separate stages
        let mut chosen = BTreeSet::new();
        for kind in [Stage::Artefacts, Stage::Cells] {
            let mut of_kind: Vec<&&Item> = items.iter().filter(|i| i.in_stage(kind)).collect();
            of_kind.sort_by(|a, b| b.cost.total_cmp(&a.cost).then_with(|| a.id().cmp(&b.id())));
            let mut load = vec![0.0f64; shard.count];
            for item in of_kind {
                let k = (0..shard.count).min_by(|&a, &b| load[a].total_cmp(&load[b])).expect("at least one shard");
                load[k] += item.cost;
                if k + 1 == shard.index {
                    chosen.insert(item.id());
                }
            }
        }
        items.retain(|i| chosen.contains(&i.id()));
        items.iter().map(|i| i.id()).collect()
    }

    /// The ids of the cells and audit sides (what a merge must find, each exactly once).
    pub fn cells(&self) -> BTreeSet<String> {
        self.select(Stage::Cells, None)
    }

    /// A table for `forsaken plan`: every item with its estimated cost, its key when `keys` has
    /// it, and with `shards` its shard in its stage.
    pub fn describe(&self, shards: Option<usize>, keys: &std::collections::BTreeMap<String, String>) -> Result<String> {
        if shards == Some(0) {
            bail!("--shards must be at least 1");
        }
        let shard_of = |id: &str, stage: Stage| -> String {
            let Some(n) = shards else { return String::new() };
            (1..=n)
                .find(|&k| self.select(stage, Some(Shard { index: k, count: n })).contains(id))
                .map_or("-".into(), |k| format!("{k}/{n}"))
        };
        let mut s = String::new();
        let total: f64 = self.items.iter().map(|i| i.cost).sum();
        writeln!(s, "plan {} : {} items, estimated cost {:.3e} sample-epochs", self.id, self.items.len(), total)?;
        writeln!(
            s,
            "{:<48} {:>12} {:>8}  {}",
            "item",
            "est. cost",
            if shards.is_some() { "shard" } else { "" },
            if keys.is_empty() { "" } else { "key" }
        )?;
        for i in &self.items {
            let stage = if matches!(i.what, What::Artefacts) { Stage::Artefacts } else { Stage::Cells };
            let key = keys.get(&i.id()).map_or("", String::as_str);
            writeln!(s, "{:<48} {:>12.3e} {:>8}  {key}", i.id(), i.cost, shard_of(&i.id(), stage))?;
        }
        if let Some(n) = shards {
            for stage in [Stage::Artefacts, Stage::Cells] {
                let loads: Vec<String> = (1..=n)
                    .map(|k| {
                        let ids = self.select(stage, Some(Shard { index: k, count: n }));
                        format!("{:.2e}", self.items.iter().filter(|i| ids.contains(&i.id())).map(|i| i.cost).sum::<f64>())
                    })
                    .collect();
                writeln!(s, "{stage:?} per shard: {}", loads.join(", "))?;
            }
        }
        Ok(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_item_is_in_exactly_one_shard_and_the_shards_are_balanced() {
        let suite = Suite::builtin("full").unwrap();
        let plan = Plan::of(&suite, &[]);
        for stage in [Stage::Artefacts, Stage::Cells] {
            let all = plan.select(stage, None);
            let shards: Vec<BTreeSet<String>> = (1..=3).map(|k| plan.select(stage, Some(Shard { index: k, count: 3 }))).collect();
            let union: BTreeSet<String> = shards.iter().flatten().cloned().collect();
            assert_eq!(union, all, "{stage:?}: the shards cover the stage");
            assert_eq!(shards.iter().map(|s| s.len()).sum::<usize>(), all.len(), "{stage:?}: no item in two shards");
            let cost = |ids: &BTreeSet<String>| plan.items.iter().filter(|i| ids.contains(&i.id())).map(|i| i.cost).sum::<f64>();
            let loads: Vec<f64> = shards.iter().map(cost).collect();
            let (lo, hi) = (loads.iter().cloned().fold(f64::INFINITY, f64::min), loads.iter().cloned().fold(0.0, f64::max));
            assert!(hi / lo < 1.3, "{stage:?}: unbalanced shards {loads:?}");
            // the same split on every machine
            assert_eq!(plan.select(stage, Some(Shard { index: 2, count: 3 })), shards[1]);
        }
        let audit = suite.audit.as_ref().expect("the full suite audits");
        let audits = audit.datasets.len() * audit.sides().len();
        assert_eq!(plan.cells().len(), 3 * (3 * 2 + 5 * 4) * suite.methods.len() + audits, "every cell and audit side");
        assert_eq!(plan.select(Stage::Artefacts, None).len(), 3 * 8, "one artefact item per dataset and seed");
    }

    #[test]
    fn shards_and_stages_parse_or_say_what_is_expected() {
        assert_eq!("2/3".parse::<Shard>().unwrap(), Shard { index: 2, count: 3 });
        for bad in ["0/3", "4/3", "3", "a/b"] {
            assert!(bad.parse::<Shard>().unwrap_err().contains("expected K/N"), "{bad}");
        }
        assert_eq!("cells".parse::<Stage>().unwrap(), Stage::Cells);
        assert!("cell".parse::<Stage>().unwrap_err().contains("artefacts, cells or all"));
    }
}
