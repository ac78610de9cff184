//! Experiment suites: which datasets, seeds, forget set, models and method settings a
//! reproduction runs. Typed and validated: unknown keys are errors when read from a file.

use serde::{Deserialize, Serialize};

use forsaken_data::{ForgetSpec, ModelFamily, SplitSizes};
use std::collections::BTreeMap;

use forsaken_models::settings::{self, SettingError};

use crate::methods;
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
    /// Forget sets of this dataset, replacing the suite's (e.g. fewer on the image sets).
    #[serde(default)]
    pub forget: Option<Vec<ForgetSpec>>,
    /// Early stop of this dataset's trainings, replacing the suite's `early_stop_train_acc`.
    #[serde(default)]
    pub early_stop_train_acc: Option<f64>,
    /// Strength sweeps of this dataset, replacing the suite's `sweeps` (e.g. fewer points on
    /// the image sets).
    #[serde(default)]
    pub sweeps: Option<BTreeMap<String, Vec<f64>>>,
}

/// A whole suite. In a file (TOML, or JSON) only `name`, `seeds`, `entries`, `forget` and
/// `methods` are required; every other key defaults to the value below, and nested tables
/// (`oracles`, `settings.<method>`) patch their defaults key by key. Unknown keys are errors at
/// every level.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Suite {
    /// Name (also the output folder under `results/`).
    pub name: String,
    /// Seeds; each gives its own splits, models and forget sets.
    pub seeds: Vec<u64>,
    /// Datasets.
    pub entries: Vec<Entry>,
    /// Forget sets, each run separately: `10%` (a seeded random fraction of target_train),
    /// `class:3`, `file:PATH`.
    pub forget: Vec<ForgetSpec>,
    /// Methods to run, by id.
    pub methods: Vec<String>,
    /// Oracles: which, the shadow attack's settings, LiRA's shadow counts (default: all six).
    #[serde(default, deserialize_with = "patch_oracles")]
    pub oracles: OracleConfig,
    /// The oracle that methods stop on and that the strength search reads; docs/method.md,
    /// "Membership oracles": `loss`, so that the headline FR (reported under another oracle) is not
    /// the one optimized.
    #[serde(default = "default_stopping_oracle")]
    pub stopping_oracle: String,
    /// The oracle of the headline columns and figures (default `shadow`).
    #[serde(default = "default_reporting_oracle")]
    pub reporting_oracle: String,
    /// Each method's settings, patching the defaults its registry entry declares key by key:
    /// `[settings.forsaken-w]` with `max_steps = 20`, `[settings.sisa]` with `shards = 2`...
    /// (`forsaken methods` lists every setting with its default).
    #[serde(default)]
    pub settings: BTreeMap<String, serde_json::Value>,
    /// The matched-FR strength search: for each baseline with a strength knob, the strengths
    /// tried, weakest first; the weakest reaching `target_fr` under the stopping oracle is
    /// reported (or the best FR seen, marked "not reached"). Every listed baseline gets the same
    /// number of points; the `scale` control has its own grid (docs/method.md, "Selectivity": 0.9,
    /// 0.8, ..., 0.1). Methods not listed run once at their default strength. Default: each
    /// method's registry grid.
    #[serde(default = "methods::default_sweeps")]
    pub sweeps: BTreeMap<String, Vec<f64>>,
    /// Target FR of methods that stop on one and of the strength search (default 0.9).
    #[serde(default = "default_target_fr")]
    pub target_fr: f64,
    /// Training batch size (default 64).
    #[serde(default = "default_batch_size")]
    pub batch_size: usize,
    /// Training learning rate (default 1e-3).
    #[serde(default = "default_lr")]
    pub lr: f64,
    /// Stop training (targets, shadows, retraining, SISA stages) once the running training
    /// accuracy of an epoch reaches this value; `None` (default) runs every epoch.
    #[serde(default)]
    pub early_stop_train_acc: Option<f64>,
    /// Markdown copied into REPORT.md under "What this suite changes, and why": where a suite
    /// departs from docs/protocol.md (cuts to fit a time budget), it says so here.
    #[serde(default)]
    pub notes: Option<String>,
    /// The deletion audit against retraining (docs/audit.md), run after the cells of the datasets
    /// and seed it covers; `None` (default): no audit.
    #[serde(default)]
    pub audit: Option<crate::population::AuditSettings>,
}

fn default_stopping_oracle() -> String {
    "loss".into()
}
fn default_reporting_oracle() -> String {
    "shadow".into()
}
fn default_target_fr() -> f64 {
    0.9
}
fn default_batch_size() -> usize {
    64
}
fn default_lr() -> f64 {
    1e-3
}

/// Read a table as a patch over `base`: keys present replace the base's (recursively into
/// nested tables); unknown keys are still rejected by the target type.
fn patched<'de, D: serde::Deserializer<'de>, T: Serialize + serde::de::DeserializeOwned>(d: D, base: T) -> Result<T, D::Error> {
    use serde::de::Error;
    fn merge(base: &mut serde_json::Value, patch: serde_json::Value) {
        match (base, patch) {
            (serde_json::Value::Object(b), serde_json::Value::Object(p)) => {
                for (k, v) in p {
                    match b.get_mut(&k) {
                        Some(slot) => merge(slot, v),
                        None => {
                            b.insert(k, v);
                        }
                    }
                }
            }
            (slot, p) => *slot = p,
        }
    }
    let patch = serde_json::Value::deserialize(d)?;
    let mut value = serde_json::to_value(base).map_err(D::Error::custom)?;
    merge(&mut value, patch);
    serde_json::from_value(value).map_err(D::Error::custom)
}

fn patch_oracles<'de, D: serde::Deserializer<'de>>(d: D) -> Result<OracleConfig, D::Error> {
    patched(d, OracleConfig::default())
}
/// The built-in suites, as shipped in `crates/forsaken-repro/suites/`.
pub const BUILTIN: &[(&str, &str)] = &[
    ("quick", include_str!("../suites/quick.toml")),
    ("full", include_str!("../suites/full.toml")),
    ("tables", include_str!("../suites/tables.toml")),
    ("smoke", include_str!("../suites/smoke.toml")),
];

impl Entry {
    /// This dataset's forget sets: its own, else the suite's.
    pub fn forget_sets<'a>(&'a self, suite: &'a Suite) -> &'a [ForgetSpec] {
        self.forget.as_deref().unwrap_or(&suite.forget)
    }

    /// This dataset's strength sweeps: its own, else the suite's.
    pub fn sweeps<'a>(&'a self, suite: &'a Suite) -> &'a BTreeMap<String, Vec<f64>> {
        self.sweeps.as_ref().unwrap_or(&suite.sweeps)
    }

    /// The strengths method `m` is swept over on this dataset: the sweeps table's grid (the
    /// entry's table, else the suite's), else, for a data-free control (`scale`), its registry
    /// grid: a control is always searched (docs/method.md, "Selectivity"), whatever a table lists.
    pub fn sweep_of<'a>(&'a self, suite: &'a Suite, m: &str) -> Option<&'a [f64]> {
        match self.sweeps(suite).get(m) {
            Some(grid) => Some(grid),
            None => methods::find(m).ok().filter(|d| d.role == forsaken_models::Role::Control).map(|d| d.knob.sweep),
        }
    }

    /// Whether the suite's audit covers this dataset at `seed`.
    pub fn audited(&self, suite: &Suite, seed: u64) -> bool {
        suite
            .audit
            .as_ref()
            .is_some_and(|a| (a.datasets.is_empty() || a.datasets.contains(&self.dataset)) && seed == a.seed.unwrap_or(suite.seeds[0]))
    }

    /// This dataset's early-stop accuracy: its own, else the suite's.
    pub fn early_stop_train_acc(&self, suite: &Suite) -> Option<f64> {
        self.early_stop_train_acc.or(suite.early_stop_train_acc)
    }
}

impl Suite {
    /// Every forget set of the suite, its entries' own included, in first-seen order.
    pub fn all_forget_sets(&self) -> Vec<ForgetSpec> {
        let mut out: Vec<ForgetSpec> = self.forget.clone();
        for e in &self.entries {
            for f in e.forget.iter().flatten() {
                if !out.contains(f) {
                    out.push(f.clone());
                }
            }
        }
        out
    }

    /// Every method's resolved, checked settings (the registry's defaults patched by the
    /// suite's `settings` tables).
    pub fn method_settings(&self) -> Result<BTreeMap<String, serde_json::Value>, String> {
        methods::resolve_all(&self.settings)
    }

    /// Parse a suite from TOML text (`origin` names it in errors), and validate it.
    pub fn from_toml(text: &str, origin: &str) -> Result<Self, String> {
        let s: Suite = toml::from_str(text).map_err(|e| format!("{origin}: {e}"))?;
        s.validate().map_err(|e| format!("{origin}: {e}"))?;
        Ok(s)
    }

    /// Read a suite file: TOML (`.toml`) or JSON (`.json`).
    pub fn from_file(path: &std::path::Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        if path.extension().is_some_and(|e| e == "json") {
            let s: Suite = serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
            s.validate().map_err(|e| format!("{}: {e}", path.display()))?;
            Ok(s)
        } else {
            Self::from_toml(&text, &path.display().to_string())
        }
    }

    /// The quick suite (docs/protocol.md, "Suites"): Location and digits, one seed, 10% forgotten.
    pub fn quick() -> Self {
        Self::builtin("quick").expect("the shipped quick suite parses")
    }

    /// A tiny end-to-end suite for tests: an MLP and a CNN on an MNIST subset, seconds.
    pub fn smoke() -> Self {
        Self::builtin("smoke").expect("the shipped smoke suite parses")
    }

    /// A built-in suite by name (`quick`, `full`, `tables`, `smoke`).
    pub fn builtin(name: &str) -> Option<Self> {
        BUILTIN
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(n, text)| Self::from_toml(text, &format!("built-in suite `{n}`")).unwrap_or_else(|e| panic!("{e}")))
    }

    /// Check the values a run relies on; every range error names the setting, the value and
    /// the allowed range (the same message the command line gives for the same value).
    pub fn validate(&self) -> Result<(), String> {
        if self.seeds.is_empty() || self.entries.is_empty() || self.forget.is_empty() {
            return Err(format!("suite `{}` needs at least one seed, one dataset and one forget set", self.name));
        }
        for m in &self.methods {
            methods::find(m)?;
        }
        self.method_settings()?;
        for o in [&self.stopping_oracle, &self.reporting_oracle] {
            if !forsaken_mia::oracle_ids().contains(&o.as_str()) {
                return Err(forsaken_mia::unknown_oracle(o).to_string());
            }
            if !forsaken_mia::selects(&self.oracles.ids, o) {
                return Err(format!("oracle `{o}` is used for stopping or reporting but not in `oracles.ids`"));
            }
        }
        self.oracles.check().map_err(|e| e.to_string())?;
        methods::validate_sweeps(&self.sweeps, "sweeps")?;
        self.check_ranges().map_err(|e| e.to_string())?;
        for e in &self.entries {
            let ctx = |err: SettingError| format!("entry `{}`: {err}", e.dataset);
            if let Some(sw) = &e.sweeps {
                methods::validate_sweeps(sw, &format!("entry `{}`: sweeps", e.dataset))?;
            }
            e.epochs.map_or(Ok(()), |n| settings::at_least("epochs", n, 1)).map_err(ctx)?;
            e.early_stop_train_acc.map_or(Ok(()), |a| settings::fraction("early_stop_train_acc", a)).map_err(ctx)?;
            if e.forget.as_ref().is_some_and(|f| f.is_empty()) {
                return Err(format!("entry `{}`: its `forget` list, when given, must not be empty", e.dataset));
            }
            if !forsaken_data::registry::is_registered(&e.dataset) && !e.dataset.contains(':') {
                forsaken_data::registry::info(&e.dataset).map_err(|e| e.to_string())?;
            }
        }
        self.audit.as_ref().map_or(Ok(()), |a| self.validate_audit(a))
    }

    /// The audit table: its ranges and methods, and datasets and a seed the suite runs.
    fn validate_audit(&self, a: &crate::population::AuditSettings) -> Result<(), String> {
        a.check().map_err(|e| e.to_string())?;
        if let Some(d) = a.datasets.iter().find(|d| !self.entries.iter().any(|e| &e.dataset == *d)) {
            return Err(format!("audit.datasets: `{d}` is not a dataset of this suite"));
        }
        if let Some(s) = a.seed.filter(|s| !self.seeds.contains(s)) {
            return Err(format!("audit.seed = {s}: not a seed of this suite ({:?})", self.seeds));
        }
        Ok(())
    }

    /// The suite-wide numbers: target FR, the training recipe's batch and learning rate, early
    /// stop.
    fn check_ranges(&self) -> Result<(), SettingError> {
        settings::fraction("target_fr", self.target_fr)?;
        settings::at_least("batch_size", self.batch_size, 1)?;
        settings::learning_rate("lr", self.lr)?;
        self.early_stop_train_acc.map_or(Ok(()), |a| settings::fraction("early_stop_train_acc", a))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_suites_parse_and_validate() {
        for (name, _) in BUILTIN {
            let s = Suite::builtin(name).unwrap();
            assert_eq!(&s.name, name);
        }
        let full = Suite::builtin("full").unwrap();
        assert_eq!(full.entries.len(), 8);
        assert_eq!(full.seeds, vec![0, 1, 2]);
        assert_eq!(full.forget.iter().map(|f| f.canonical()).collect::<Vec<_>>(), ["1%", "10%", "20%", "class:0"]);
        assert_eq!(full.methods.len(), methods::ids().iter().filter(|m| **m != "test-noop").count());
    }

    const MINIMAL: &str = "name = \"t\"\nseeds = [0]\nforget = [\"10%\"]\nmethods = [\"retrain\"]\n[[entries]]\ndataset = \"digits\"\n";

    #[test]
    fn defaults_fill_what_a_file_omits_and_tables_patch_key_by_key() {
        use forsaken_mask::{ForsakenConfig, ForsakenWSettings};
        let w = |s: &Suite| serde_json::from_value::<ForsakenWSettings>(s.method_settings().unwrap()["forsaken-w"].clone()).unwrap().0;
        let s = Suite::from_toml(MINIMAL, "t").unwrap();
        assert_eq!(w(&s), ForsakenConfig::forsaken_w());
        assert_eq!(s.stopping_oracle, "loss");
        assert_eq!(s.sweeps, methods::default_sweeps());
        assert_eq!(s.sweeps["scale"], [0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1]);
        let s = Suite::from_toml(&format!("{MINIMAL}[settings.forsaken-w]\nmax_steps = 20\n[oracles.shadow]\nk = 2\n"), "t").unwrap();
        assert_eq!(w(&s), ForsakenConfig { max_steps: 20, ..ForsakenConfig::forsaken_w() });
        assert_eq!(s.oracles.shadow.k, 2);
        assert_eq!(s.oracles.lira_shadows_mlp, OracleConfig::default().lira_shadows_mlp);
    }

    #[test]
    fn unknown_keys_and_bad_values_are_errors_that_name_them() {
        for (extra, needle) in [
            ("bogus = 1\n", "bogus"),
            ("[settings.forsaken]\netaa = 0.1\n", "forsaken.etaa"),
            ("[settings.nope]\nsteps = 1\n", "unknown method `nope`"),
            ("[settings.neggrad]\nsteps = \"many\"\n", "neggrad.steps"),
            ("[oracles.shadow]\nkk = 2\n", "kk"),
            ("[sweeps]\nneggrad = [5.0, 10.0]\nsalun = [1.0]\n", "same budget"),
            ("[sweeps]\nretrain = [1.0]\n", "retrain"),
        ] {
            let e = Suite::from_toml(&format!("{MINIMAL}{extra}"), "my.toml").unwrap_err();
            assert!(e.contains(needle) && e.starts_with("my.toml"), "{extra}: {e}");
        }
        let e = Suite::from_toml(&MINIMAL.replace("10%", "ten"), "my.toml").unwrap_err();
        assert!(e.contains("ten"), "{e}");
        // an entry's own sweeps and early stop are checked like the suite's
        let e = Suite::from_toml(&format!("{MINIMAL}sweeps = {{ neggrad = [5.0, 10.0], salun = [1.0] }}\n"), "my.toml").unwrap_err();
        assert!(e.contains("entry `digits`") && e.contains("same budget"), "{e}");
        let e = Suite::from_toml(&format!("{MINIMAL}early_stop_train_acc = 1.5\n"), "my.toml").unwrap_err();
        assert!(e.contains("early_stop_train_acc"), "{e}");
    }

    #[test]
    fn entries_override_the_suites_sweeps_early_stop_and_forget_sets() {
        let s = Suite::from_toml(
            &format!(
                "early_stop_train_acc = 0.9\n{MINIMAL}forget = [\"class:0\"]\nearly_stop_train_acc = 0.99\nsweeps = {{ neggrad = [1.0, 2.0] }}\n\
                 [[entries]]\ndataset = \"location\"\n"
            ),
            "t",
        )
        .unwrap();
        let (own, plain) = (&s.entries[0], &s.entries[1]);
        assert_eq!(own.early_stop_train_acc(&s), Some(0.99));
        assert_eq!(plain.early_stop_train_acc(&s), Some(0.9));
        assert_eq!(own.sweeps(&s).get("neggrad"), Some(&vec![1.0, 2.0]));
        // a control is searched over its registry grid even where a table leaves it out
        assert_eq!(own.sweep_of(&s, "scale"), Some(&[0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1][..]));
        assert_eq!(own.sweep_of(&s, "finetune"), None, "a baseline left out of a table runs once");
        assert_eq!(plain.sweeps(&s), &methods::default_sweeps());
        assert_eq!(own.forget_sets(&s).iter().map(|f| f.canonical()).collect::<Vec<_>>(), ["class:0"]);
        assert_eq!(plain.forget_sets(&s).iter().map(|f| f.canonical()).collect::<Vec<_>>(), ["10%"]);
        // the shipped full suite: cut image sets (their own forget sets and sweeps), uncut tables
        let full = Suite::builtin("full").unwrap();
        for e in &full.entries {
            let image = matches!(e.dataset.as_str(), "mnist" | "fashion-mnist" | "cifar-10");
            assert_eq!(e.forget.is_some(), image, "{}", e.dataset);
            assert_eq!(e.sizes.is_some(), image, "{}", e.dataset);
            let sweeps = e.sweeps(&full);
            let baselines = sweeps.iter().filter(|(m, _)| methods::role(m) == Some(forsaken_models::Role::Baseline));
            assert!(baselines.map(|(_, g)| g.len()).all(|n| n == if image { 4 } else { 6 }), "{}", e.dataset);
            assert_eq!(sweeps["scale"].len(), 9, "{}: the scale control keeps its nine factors", e.dataset);
        }
        assert!(full.notes.as_deref().is_some_and(|n| n.contains("Floors")));
    }
}
