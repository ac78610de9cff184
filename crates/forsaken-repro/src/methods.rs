//! The registry of unlearning methods: the one place where methods are listed
//! ([`each_method`]). Each method declares, through [`forsaken_models::Method`], its id, role,
//! strength knob, typed settings (a serde struct whose `Default` writes every default once) with
//! their range checks, and its constructor. Everything else derives from this list: the suite's
//! `[settings.<id>]` tables and `sweeps`, the command line's `--method` values and method flags
//! (and which flags apply to which method), records' configs, and the order and grouping of
//! methods in tables, figures and the report.
//!
//! Adding a method: one file implementing `Unlearner` and `Method`, and one line in
//! [`each_method`].

use std::collections::BTreeMap;

use burn::tensor::backend::AutodiffBackend;
use serde_json::Value;

use forsaken_models::{Knob, Method, Role, SettingError, Stronger, Unlearner};

/// Something that visits every registered method type.
pub trait Visit {
    /// Called once per method, in registry order.
    fn visit<M: Method>(&mut self);
}

/// The registry: every method, in the order tables list them (the reference first).
pub fn each_method(v: &mut impl Visit) {
    v.visit::<forsaken_baselines::Retrain>();
    v.visit::<forsaken_mask::ForsakenSettings>();
    v.visit::<forsaken_mask::ForsakenWSettings>();
    v.visit::<forsaken_baselines::FineTune>();
    v.visit::<forsaken_baselines::Scale>();
    v.visit::<forsaken_baselines::NegGrad>();
    v.visit::<forsaken_baselines::NegGradPlus>();
    v.visit::<forsaken_baselines::RandomLabels>();
    v.visit::<forsaken_baselines::SalUn>();
    v.visit::<forsaken_baselines::SisaConfig>();
    #[cfg(test)]
    v.visit::<crate::tests::registry::Noop>();
}

/// What the registry knows of a method, without its type.
#[derive(Clone, Copy)]
pub struct MethodDef {
    /// Method id.
    pub id: &'static str,
    /// One line for `--help`.
    pub about: &'static str,
    /// How it is compared.
    pub role: Role,
    /// Its strength knob.
    pub knob: Knob,
    /// Help per setting.
    pub help: &'static [(&'static str, &'static str)],
    defaults: fn() -> Value,
    typed: fn(Value) -> Result<Value, String>,
    check: fn(Value) -> Result<(), SettingError>,
}

impl MethodDef {
    /// The default settings, as JSON.
    pub fn defaults(&self) -> Value {
        (self.defaults)()
    }

    /// Resolve a patch over the defaults (key by key) into checked settings. Unknown keys,
    /// wrong types and out-of-range values are errors naming `<id>.<key>`.
    pub fn resolve(&self, patch: &Value) -> Result<Value, SettingError> {
        let mut out = self.defaults();
        let empty = serde_json::Map::new();
        let keys = match patch {
            Value::Object(m) => m,
            Value::Null => &empty,
            other => return Err(SettingError::new(self.id, other, "settings must be a table of key = value")),
        };
        for (k, v) in keys {
            let slot = out.get_mut(k).ok_or_else(|| {
                let known: Vec<&str> = self.help.iter().map(|(k, _)| *k).collect();
                SettingError::new(format!("{}.{k}", self.id), v, format!("unknown setting; known: {}", known.join(", ")))
            })?;
            *slot = v.clone();
            // type errors are checked key by key, so that the message names the key
            let mut one = self.defaults();
            one[k] = v.clone();
            (self.typed)(one).map_err(|e| SettingError::new(format!("{}.{k}", self.id), v, e))?;
        }
        let normalized = (self.typed)(out).map_err(|e| SettingError::new(self.id, "settings", e))?;
        (self.check)(normalized.clone()).map_err(|e| e.within(self.id))?;
        Ok(normalized)
    }

    /// The settings with the knob set to `strength`, checked (for sweep grids).
    pub fn at_strength(&self, settings: &Value, strength: f64) -> Result<Value, SettingError> {
        let Some(key) = self.knob.setting else { return Ok(settings.clone()) };
        let whole = strength.fract() == 0.0 && strength >= 0.0;
        let mut patch = settings.clone();
        patch[key] = if settings[key].is_f64() || !whole { Value::from(strength) } else { Value::from(strength as u64) };
        self.resolve(&patch)
    }
}

struct Collect(Vec<MethodDef>);

impl Visit for Collect {
    fn visit<M: Method>(&mut self) {
        self.0.push(MethodDef {
            id: M::ID,
            about: M::ABOUT,
            role: M::ROLE,
            knob: M::KNOB,
            help: M::HELP,
            defaults: || serde_json::to_value(M::default()).expect("settings serialize"),
            typed: |v| {
                let m: M = serde_json::from_value(v).map_err(|e| e.to_string())?;
                serde_json::to_value(m).map_err(|e| e.to_string())
            },
            check: |v| serde_json::from_value::<M>(v).map_err(|e| SettingError::new("settings", "?", e.to_string()))?.check(),
        });
    }
}

/// Every registered method, in registry order.
pub fn catalog() -> Vec<MethodDef> {
    let mut c = Collect(Vec::new());
    each_method(&mut c);
    c.0
}

/// Every method id, in registry order.
pub fn ids() -> Vec<&'static str> {
    catalog().iter().map(|d| d.id).collect()
}

/// The method `id`, or an error listing the known ones.
pub fn find(id: &str) -> Result<MethodDef, String> {
    catalog().into_iter().find(|d| d.id == id).ok_or_else(|| format!("unknown method `{id}`; known: {}", ids().join(", ")))
}

/// Ids of the methods with one of `roles`, grouped in that order (registry order within a role).
pub fn with_roles(roles: &[Role]) -> Vec<&'static str> {
    let c = catalog();
    roles.iter().flat_map(|r| c.iter().filter(move |d| d.role == *r).map(|d| d.id)).collect()
}

/// The method's role (`None` for an id the registry does not know, e.g. an old record's).
pub fn role(id: &str) -> Option<Role> {
    catalog().into_iter().find(|d| d.id == id).map(|d| d.role)
}

/// The reference every method is compared with (retraining from scratch).
pub fn reference() -> &'static str {
    with_roles(&[Role::Reference]).first().copied().expect("the registry has a reference method")
}

/// Position of `id` in the registry (unknown ids last): the order of methods in tables.
pub fn rank(id: &str) -> usize {
    ids().iter().position(|m| *m == id).unwrap_or(usize::MAX)
}

struct Build<'a, B: AutodiffBackend> {
    id: &'a str,
    settings: &'a Value,
    out: Option<Result<Box<dyn Unlearner<B>>, SettingError>>,
}

impl<B: AutodiffBackend> Visit for Build<'_, B> {
    fn visit<M: Method>(&mut self) {
        if self.out.is_none() && M::ID == self.id {
            let m = serde_json::from_value::<M>(self.settings.clone())
                .map_err(|e| SettingError::new(M::ID, "settings", e.to_string()))
                .and_then(|m| m.check().map_err(|e| e.within(M::ID)).map(|_| m));
            self.out = Some(m.map(|m| m.build::<B>()));
        }
    }
}

/// Build method `id` from its resolved settings (see [`MethodDef::resolve`]).
pub fn build<B: AutodiffBackend>(id: &str, settings: &Value) -> anyhow::Result<Box<dyn Unlearner<B>>> {
    let mut b = Build::<B> { id, settings, out: None };
    each_method(&mut b);
    b.out.ok_or_else(|| anyhow::anyhow!(find(id).err().unwrap_or_default()))?.map_err(anyhow::Error::from)
}

/// Every method's settings: the defaults patched by `patches` (`[settings.<id>]` tables),
/// checked. Unknown method ids are errors.
pub fn resolve_all(patches: &BTreeMap<String, Value>) -> Result<BTreeMap<String, Value>, String> {
    if let Some(bad) = patches.keys().find(|k| find(k).is_err()) {
        return Err(format!("settings: {}", find(bad).err().unwrap_or_default()));
    }
    catalog()
        .into_iter()
        .map(|d| Ok((d.id.to_string(), d.resolve(patches.get(d.id).unwrap_or(&Value::Null)).map_err(|e| e.to_string())?)))
        .collect()
}

/// The default strength sweeps: every method whose knob has a default grid.
pub fn default_sweeps() -> BTreeMap<String, Vec<f64>> {
    catalog().into_iter().filter(|d| !d.knob.sweep.is_empty()).map(|d| (d.id.to_string(), d.knob.sweep.to_vec())).collect()
}

/// Check a sweep table: only methods whose knob can be swept (baselines and controls); every
/// strength valid for the method and the grid weakest first; every baseline gets the same
/// number of points (the same budget).
pub fn validate_sweeps(sweeps: &BTreeMap<String, Vec<f64>>, context: &str) -> Result<(), String> {
    let mut points: Option<(usize, &str)> = None;
    for (m, grid) in sweeps {
        let d = find(m).map_err(|e| format!("{context}: {e}"))?;
        if !matches!(d.role, Role::Baseline | Role::Control) || d.knob.setting.is_none() {
            return Err(format!("{context}: `{m}` is not a baseline with a strength knob to sweep"));
        }
        let base = d.resolve(&Value::Null).map_err(|e| e.to_string())?;
        for &v in grid {
            d.at_strength(&base, v).map_err(|e| format!("{context}: {e}"))?;
        }
        let weakest_first = match d.knob.stronger {
            Stronger::Up => grid.windows(2).all(|w| w[0] < w[1]),
            Stronger::Down => grid.windows(2).all(|w| w[0] > w[1]),
        };
        if grid.is_empty() || !weakest_first {
            return Err(format!("{context}.{m}: strengths must be weakest first (`{}`, {:?}), got {grid:?}", d.knob.unit, d.knob.stronger));
        }
        if d.role == Role::Baseline {
            match points {
                Some((p, other)) if p != grid.len() => {
                    return Err(format!("{context}: every baseline gets the same budget; `{m}` has {} points, `{other}` {p}", grid.len()))
                }
                _ => points = Some((grid.len(), m)),
            }
        }
    }
    Ok(())
}

/// The command line's method flags, derived from every method's settings: one flag per
/// setting key (`--max-steps` for `max_steps`), its help naming the methods it applies to.
pub fn cli_args() -> Vec<clap::Arg> {
    let mut by_key: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for d in catalog() {
        let defaults = d.defaults();
        for (k, help) in d.help {
            let default = match &defaults[*k] {
                Value::Null => String::new(),
                v => format!(" (default {})", v.to_string().trim_matches('"')),
            };
            by_key.entry(k).or_default().push(format!("{}: {help}{default}", d.id));
        }
    }
    by_key
        .into_iter()
        .map(|(k, helps)| {
            clap::Arg::new(k).long(k.replace('_', "-")).value_name("VALUE").help_heading("Method settings").help(helps.join("; "))
        })
        .collect()
}

/// The settings patch of `method` from the parsed flags of [`cli_args`]; a flag that does not
/// apply to `method` is an error naming the flags that do.
pub fn settings_from_matches(method: &MethodDef, m: &clap::ArgMatches) -> Result<Value, String> {
    let defaults = method.defaults();
    let mut patch = serde_json::Map::new();
    let keys: Vec<&str> = catalog().iter().flat_map(|d| d.help.iter().map(|(k, _)| *k)).collect();
    for key in keys {
        let Ok(Some(raw)) = m.try_get_one::<String>(key) else { continue };
        if !method.help.iter().any(|(k, _)| *k == key) {
            let own: Vec<String> = method.help.iter().map(|(k, _)| format!("--{}", k.replace('_', "-"))).collect();
            return Err(format!(
                "--{} does not apply to method `{}` (its settings: {})",
                key.replace('_', "-"),
                method.id,
                if own.is_empty() { "none".to_string() } else { own.join(", ") }
            ));
        }
        patch.insert(key.to_string(), parse_like(&defaults[key], raw));
    }
    Ok(Value::Object(patch))
}

/// A flag's text as JSON of the setting's type (a number, a bool or a string); what does not
/// parse stays a string, so the settings' own deserialization names the problem.
fn parse_like(default: &Value, raw: &str) -> Value {
    let number = || raw.parse::<u64>().map(Value::from).or_else(|_| raw.parse::<i64>().map(Value::from));
    let float = || raw.parse::<f64>().ok().and_then(|f| serde_json::Number::from_f64(f).map(Value::Number));
    let parsed = match default {
        Value::Bool(_) => raw.parse::<bool>().ok().map(Value::Bool),
        Value::Number(n) if n.is_f64() => float(),
        Value::Number(_) | Value::Null => number().ok().or_else(float),
        _ => None,
    };
    parsed.unwrap_or_else(|| Value::String(raw.to_string()))
}

/// What `forsaken methods` prints: every method (role, knob, default sweep, settings with their
/// defaults) and every oracle, from the registries.
pub fn describe() -> String {
    use std::fmt::Write as _;
    let mut s = String::from("Unlearning methods (settings: `[settings.<id>]` in a suite, flags of `forsaken unlearn`):\n");
    for d in catalog() {
        let knob = d.knob.setting.map_or(format!("the run's {}", d.knob.unit), |k| format!("`{k}` ({})", d.knob.unit));
        let role = format!("{:?}", d.role).to_lowercase();
        let _ = writeln!(s, "\n{} [{role}]: {}\n  strength knob: {knob}", d.id, d.about);
        if !d.knob.sweep.is_empty() {
            let _ = writeln!(s, "  default sweep: {:?}", d.knob.sweep);
        }
        let defaults = d.defaults();
        for (k, help) in d.help {
            let _ = writeln!(s, "  {k:<16} = {:<16} {help}", defaults[*k].to_string());
        }
    }
    s.push_str("\nMembership oracles (`oracles.ids` in a suite, --oracle of `forsaken audit`):\n");
    for o in forsaken_mia::oracles() {
        let _ = writeln!(s, "  {:<11} {}", o.id, o.about);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_setting_has_one_help_line_and_every_help_line_a_setting() {
        for d in catalog() {
            let keys: Vec<String> = d.defaults().as_object().map(|m| m.keys().cloned().collect()).unwrap_or_default();
            let mut help: Vec<String> = d.help.iter().map(|(k, _)| k.to_string()).collect();
            help.sort();
            assert_eq!(help, keys, "{}: help lines vs settings", d.id);
            assert!(d.resolve(&Value::Null).is_ok(), "{}: the defaults pass their own checks", d.id);
        }
    }

    #[test]
    fn sweeps_are_weakest_first_within_the_budget() {
        assert!(validate_sweeps(&default_sweeps(), "sweeps").is_ok());
        let bad = |m: &str, g: &[f64]| validate_sweeps(&BTreeMap::from([(m.to_string(), g.to_vec())]), "sweeps").unwrap_err();
        assert!(bad("scale", &[0.1, 0.5]).contains("weakest first"), "the control forgets more at smaller factors");
        assert!(bad("neggrad", &[10.0, 5.0]).contains("weakest first"));
        assert!(bad("neggrad", &[2.5]).contains("neggrad.steps"), "a step count is a whole number");
        assert!(bad("retrain", &[1.0]).contains("not a baseline"));
        assert!(bad("nope", &[1.0]).contains("unknown method `nope`"));
    }
}
