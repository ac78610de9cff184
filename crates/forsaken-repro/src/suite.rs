//! Experiment suites: which datasets, seeds, forget set, models and method settings a
//! reproduction runs. Typed and validated: unknown keys are errors when read from a file.

use serde::{Deserialize, Serialize};

use forsaken_data::{ForgetSpec, ModelFamily, SplitSizes};
use std::collections::BTreeMap;

use forsaken_baselines::SisaConfig;
use forsaken_mask::ForsakenConfig;
use forsaken_mia::ShadowConfig;

use crate::pipeline::OracleConfig;

/// One dataset of a suite, with optional overrides of the registry's defaults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    /// Registry id, or `csv:PATH` (with `label`), `arff:PATH`, `purchase:PATH`, `texas:DIR`.
    pub dataset: String,
    /// Label column of a `csv:` table (default: the last column).
    #[serde(default)]
    pub label: Option<String>,
    /// Model family (default: the registry's).
    #[serde(default)]
    pub model: Option<ModelFamily>,
    /// Use only a seeded subset of this many pooled samples (smoke runs).
    #[serde(default)]
    pub pool_limit: Option<usize>,
    /// Split sizes (default: the registry's).
    #[serde(default)]
    pub sizes: Option<SplitSizes>,
    /// Training epochs of target, shadow and retrained models (default: the registry's).
    #[serde(default)]
    pub epochs: Option<usize>,
}

/// The default sweep grids: six points per baseline, doubling (steps or epochs).
pub fn default_sweeps() -> BTreeMap<String, Vec<f64>> {
    let grid = |start: f64| (0..6).map(|i| start * f64::powi(2.0, i)).collect::<Vec<f64>>();
    BTreeMap::from([
        ("finetune".to_string(), grid(1.0)),
        ("neggrad".to_string(), grid(5.0)),
        ("neggrad-plus".to_string(), grid(15.0)),
        ("random-labels".to_string(), grid(15.0)),
        ("salun".to_string(), grid(15.0)),
    ])
}

/// A whole suite.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Suite {
    /// Name (also the output folder under `results/`).
    pub name: String,
    /// Seeds; each gives its own splits, models and forget set.
    pub seeds: Vec<u64>,
    /// Datasets.
    pub entries: Vec<Entry>,
    /// Forget set.
    pub forget: ForgetSpec,
    /// Methods to run, by id.
    pub methods: Vec<String>,
    /// Oracles: which, the shadow attack's settings, LiRA's shadow counts.
    pub oracles: OracleConfig,
    /// The oracle that methods stop on (and that searches `scale`'s factor); FORSAKEN.md
    /// section 3: `loss`, so that the headline FR (reported under another oracle) is not the
    /// one optimized.
    pub stopping_oracle: String,
    /// The oracle of the headline columns and figures.
    pub reporting_oracle: String,
    /// Factors tried by the strength search of `scale`, mildest first.
    pub scale_factors: Vec<f64>,
    /// Forsaken's settings.
    pub forsaken: ForsakenConfig,
    /// Forsaken-W's settings (default: FORSAKEN.md section 4.1).
    #[serde(default = "ForsakenConfig::forsaken_w")]
    pub forsaken_w: ForsakenConfig,
    /// SISA's shards, slices and aggregation.
    #[serde(default)]
    pub sisa: SisaConfig,
    /// The matched-FR strength search: for each baseline with a strength knob, the strengths
    /// tried, weakest first; the weakest reaching `target_fr` under the stopping oracle is
    /// reported (or the best FR seen, marked "not reached"). Every listed method gets the same
    /// number of points. Methods not listed run once at their default strength.
    #[serde(default = "default_sweeps")]
    pub sweeps: BTreeMap<String, Vec<f64>>,
    /// Target FR of methods that stop on one.
    pub target_fr: f64,
    /// Fine-tuning epochs.
    pub finetune_epochs: usize,
    /// Training batch size.
    pub batch_size: usize,
    /// Training learning rate.
    pub lr: f64,
}

impl Suite {
    /// The settings methods are built from.
    pub fn method_settings(&self) -> crate::pipeline::MethodSettings {
        crate::pipeline::MethodSettings {
            forsaken: self.forsaken.clone(),
            forsaken_w: self.forsaken_w.clone(),
            finetune_epochs: self.finetune_epochs,
            sisa: self.sisa.clone(),
        }
    }

    /// The quick suite of issue 2 / PROTOCOL.md: Location and digits, one seed, 10% forget.
    pub fn quick() -> Self {
        Self {
            name: "quick".into(),
            seeds: vec![0],
            entries: vec![
                Entry { label: None, dataset: "location".into(), model: None, pool_limit: None, sizes: None, epochs: None },
                Entry { label: None, dataset: "digits".into(), model: None, pool_limit: None, sizes: None, epochs: None },
            ],
            forget: ForgetSpec::Fraction(0.1),
            methods: [
                "retrain",
                "forsaken",
                "forsaken-w",
                "finetune",
                "neggrad",
                "neggrad-plus",
                "random-labels",
                "salun",
                "sisa",
                "scale",
            ]
            .map(String::from)
            .to_vec(),
            oracles: OracleConfig::default(),
            stopping_oracle: "loss".into(),
            reporting_oracle: "shadow".into(),
            scale_factors: (1..=9).rev().map(|k| k as f64 / 10.0).collect(),
            forsaken: ForsakenConfig::default(),
            forsaken_w: ForsakenConfig::forsaken_w(),
            sisa: SisaConfig::default(),
            sweeps: default_sweeps(),
            target_fr: 0.9,
            finetune_epochs: 5,
            batch_size: 64,
            lr: 1e-3,
        }
    }

    /// A tiny end-to-end suite for tests: an MLP and a CNN on an MNIST subset, seconds.
    pub fn smoke() -> Self {
        let sizes = SplitSizes { target_train: 160, target_test: 160, reference: 80, shadow: Some(160) };
        Self {
            name: "smoke".into(),
            seeds: vec![0],
            entries: vec![
                Entry {
                    label: None,
                    dataset: "mnist".into(),
                    model: Some(ModelFamily::Mlp),
                    pool_limit: Some(600),
                    sizes: Some(sizes),
                    epochs: Some(8),
                },
                Entry {
                    label: None,
                    dataset: "mnist".into(),
                    model: Some(ModelFamily::Cnn),
                    pool_limit: Some(600),
                    sizes: Some(sizes),
                    epochs: Some(8),
                },
            ],
            forget: ForgetSpec::Fraction(0.1),
            methods: ["retrain", "forsaken", "forsaken-w", "finetune", "neggrad", "sisa", "scale"].map(String::from).to_vec(),
            oracles: OracleConfig {
                shadow: ShadowConfig { k: 2, ..ShadowConfig::default() },
                lira_shadows_mlp: 3,
                lira_shadows_cnn: 3,
                ..OracleConfig::default()
            },
            stopping_oracle: "loss".into(),
            reporting_oracle: "shadow".into(),
            scale_factors: vec![0.8, 0.5, 0.2],
            forsaken: ForsakenConfig { max_steps: 20, check_every: 10, ..ForsakenConfig::default() },
            forsaken_w: ForsakenConfig { max_steps: 20, check_every: 10, ..ForsakenConfig::forsaken_w() },
            sisa: SisaConfig { shards: 2, slices: 2, ..SisaConfig::default() },
            sweeps: BTreeMap::from([("neggrad".to_string(), vec![2.0, 8.0])]),
            target_fr: 0.9,
            finetune_epochs: 1,
            batch_size: 32,
            lr: 1e-3,
        }
    }

    /// A built-in suite by name.
    pub fn builtin(name: &str) -> Option<Self> {
        match name {
            "quick" => Some(Self::quick()),
            "smoke" => Some(Self::smoke()),
            _ => None,
        }
    }

    /// Check the values a run relies on.
    pub fn validate(&self) -> Result<(), String> {
        if self.seeds.is_empty() || self.entries.is_empty() {
            return Err(format!("suite `{}` needs at least one seed and one dataset", self.name));
        }
        for m in &self.methods {
            if !crate::pipeline::METHODS.contains(&m.as_str()) {
                return Err(format!("unknown method `{m}`; known: {}", crate::pipeline::METHODS.join(", ")));
            }
        }
        for o in [&self.stopping_oracle, &self.reporting_oracle] {
            if !forsaken_mia::ORACLE_IDS.contains(&o.as_str()) {
                return Err(format!("unknown oracle `{o}`; known: {}", forsaken_mia::ORACLE_IDS.join(", ")));
            }
            if !self.oracles.ids.is_empty() && !self.oracles.ids.iter().any(|i| i == "all" || i == o) {
                return Err(format!("oracle `{o}` is used for stopping or reporting but not in `oracles.ids`"));
            }
        }
        let mut points = None;
        for (m, grid) in &self.sweeps {
            if !crate::pipeline::METHODS.contains(&m.as_str())
                || matches!(m.as_str(), "forsaken" | "forsaken-w" | "retrain" | "scale" | "sisa")
            {
                return Err(format!("sweeps: `{m}` is not a baseline with a strength knob to sweep"));
            }
            if grid.is_empty() || grid.iter().any(|v| !(v.is_finite() && *v > 0.0)) || grid.windows(2).any(|w| w[0] >= w[1]) {
                return Err(format!("sweeps.{m}: strengths must be positive and increasing, got {grid:?}"));
            }
            if points.is_some_and(|p| p != grid.len()) {
                return Err(format!(
                    "sweeps: every method gets the same budget; `{m}` has {} points, another {}",
                    grid.len(),
                    points.unwrap_or(0)
                ));
            }
            points = Some(grid.len());
        }
        if self.scale_factors.iter().any(|f| !(0.0..=1.0).contains(f)) {
            return Err("scale_factors must lie in [0, 1]".into());
        }
        if !(self.target_fr > 0.0 && self.target_fr <= 1.0) {
            return Err(format!("target_fr {} must be in (0, 1]", self.target_fr));
        }
        for e in &self.entries {
            if !forsaken_data::registry::is_registered(&e.dataset) && !e.dataset.contains(':') {
                forsaken_data::registry::info(&e.dataset).map_err(|e| e.to_string())?;
            }
        }
        Ok(())
    }
}
