//! Typed settings checked once, when they are built (linfa-style `check`), and the [`Method`]
//! trait through which an unlearning method declares its id, strength knob, typed settings and
//! constructor for the registry (in `forsaken-repro`).
//!
//! Every range check goes through the helpers here, so a bad value reads the same wherever it
//! came from (a suite file, a command-line flag, a library call): the setting, the value and
//! the allowed range.

use burn::tensor::backend::AutodiffBackend;
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::Unlearner;

/// A setting outside its allowed range, or of the wrong type.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("setting `{setting}` = {value} is invalid: {allowed}")]
pub struct SettingError {
    /// The setting, qualified by its owner (`neggrad.steps`, `target_fr`, `oracles.shadow.k`).
    pub setting: String,
    /// The offending value as written.
    pub value: String,
    /// What is allowed.
    pub allowed: String,
}

impl SettingError {
    /// An error about `setting`.
    pub fn new(setting: impl Into<String>, value: impl std::fmt::Display, allowed: impl Into<String>) -> Self {
        Self { setting: setting.into(), value: value.to_string(), allowed: allowed.into() }
    }

    /// The same error with the setting qualified by `owner` (`steps` -> `neggrad.steps`).
    pub fn within(mut self, owner: &str) -> Self {
        self.setting = format!("{owner}.{}", self.setting);
        self
    }
}

/// An integer setting that must be at least `min`.
pub fn at_least(setting: &str, value: usize, min: usize) -> Result<(), SettingError> {
    if value < min {
        return Err(SettingError::new(setting, value, format!("must be an integer >= {min}")));
    }
    Ok(())
}

/// A learning rate: finite, in (0, 1].
pub fn learning_rate(setting: &str, value: f64) -> Result<(), SettingError> {
    if !(value.is_finite() && value > 0.0 && value <= 1.0) {
        return Err(SettingError::new(setting, value, "a learning rate must be finite and in (0, 1]"));
    }
    Ok(())
}

/// A fraction (or a target forgetting rate): in (0, 1].
pub fn fraction(setting: &str, value: f64) -> Result<(), SettingError> {
    if !(value > 0.0 && value <= 1.0) {
        return Err(SettingError::new(setting, value, "must be in (0, 1]"));
    }
    Ok(())
}

/// A factor in [0, 1].
pub fn unit_interval(setting: &str, value: f64) -> Result<(), SettingError> {
    if !(0.0..=1.0).contains(&value) {
        return Err(SettingError::new(setting, value, "must be in [0, 1]"));
    }
    Ok(())
}

/// A finite weight or step size `>= 0` (`> 0` when `strict`).
pub fn non_negative(setting: &str, value: f64, strict: bool) -> Result<(), SettingError> {
    let ok = value.is_finite() && if strict { value > 0.0 } else { value >= 0.0 };
    if !ok {
        return Err(SettingError::new(setting, value, if strict { "must be finite and > 0" } else { "must be finite and >= 0" }));
    }
    Ok(())
}

/// How a method is compared (tables, claims and the strength search read it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    /// Neuron or weight masking that stops on a target FR under the stopping oracle.
    Masking,
    /// The reference every method is compared with: retraining from scratch without D_u.
    Reference,
    /// Exact by construction, but not the reference (SISA).
    Exact,
    /// An approximate baseline compared at matched FR: its knob is swept with the same budget
    /// as every other baseline.
    Baseline,
    /// A control that reads no data (`scale`): its own grid, outside the matched budget.
    Control,
}

/// Which way a knob strengthens forgetting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stronger {
    /// Larger values forget more (steps, epochs, target FR).
    Up,
    /// Smaller values forget more (`scale`'s factor).
    Down,
}

/// A method's strength knob: the setting it reads, and its default sweep.
#[derive(Debug, Clone, Copy)]
pub struct Knob {
    /// The setting that holds the knob's default (`steps`, `epochs`, `factor`...); `None` when
    /// the strength comes from the run (the masking methods' target FR).
    pub setting: Option<&'static str>,
    /// What the strength counts, for records and tables (`steps`, `target FR`...).
    pub unit: &'static str,
    /// Which way is stronger.
    pub stronger: Stronger,
    /// The default strength sweep, weakest first (empty: run once at the default strength).
    pub sweep: &'static [f64],
}

/// An unlearning method as the registry sees it: its settings type is `Self` (a serde struct
/// whose `Default` writes every default once), checked by [`Method::check`], and it builds an
/// [`Unlearner`] for any backend.
pub trait Method: Serialize + DeserializeOwned + Default + Clone + Send + Sync + 'static {
    /// Method id (docs/protocol.md, "Methods compared": `forsaken`, `retrain`, `neggrad`...).
    const ID: &'static str;
    /// One line for `--help`.
    const ABOUT: &'static str;
    /// How the method is compared.
    const ROLE: Role;
    /// Its strength knob.
    const KNOB: Knob;
    /// One line of help per setting (key, help), for the command line's flags.
    const HELP: &'static [(&'static str, &'static str)];
    /// Check every setting's range (names are unqualified; the registry adds the method id).
    fn check(&self) -> Result<(), SettingError>;
    /// The method, on backend `B`.
    fn build<B: AutodiffBackend>(&self) -> Box<dyn Unlearner<B>>;
}

/// A strength that counts steps, epochs or shards: a whole number >= 1.
pub fn count(setting: &str, value: f64) -> Result<usize, SettingError> {
    if !(value.is_finite() && value >= 1.0 && value.fract() == 0.0) {
        return Err(SettingError::new(setting, value, "must be a whole number >= 1"));
    }
    Ok(value as usize)
}
