//! A test-only method, registered in `methods::each_method` under `cfg(test)`, and the proof
//! that one registry line is all it takes: it parses from the command line's flags, runs in a
//! smoke reproduction (strength sweep included) and appears in the report.

use burn::tensor::backend::AutodiffBackend;
use serde::{Deserialize, Serialize};

use forsaken_models::settings::{self, Knob, Method, Role, SettingError, Stronger};
use forsaken_models::{ModelError, UnlearnOutcome, UnlearnRequest, Unlearner};

/// Returns the original model unchanged after `level` "steps": a method that forgets nothing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Noop {
    /// The strength knob.
    pub level: usize,
}

impl Default for Noop {
    fn default() -> Self {
        Self { level: 1 }
    }
}

impl Method for Noop {
    const ID: &'static str = "test-noop";
    const ABOUT: &'static str = "test only: returns the original";
    const ROLE: Role = Role::Baseline;
    const KNOB: Knob = Knob { setting: Some("level"), unit: "level", stronger: Stronger::Up, sweep: &[] };
    const HELP: &'static [(&'static str, &'static str)] = &[("level", "how much nothing to do")];
    fn check(&self) -> Result<(), SettingError> {
        settings::at_least("level", self.level, 1)
    }
    fn build<B: AutodiffBackend>(&self) -> Box<dyn Unlearner<B>> {
        Box::new(self.clone())
    }
}

impl<B: AutodiffBackend> Unlearner<B> for Noop {
    fn id(&self) -> &'static str {
        "test-noop"
    }
    fn strength_knob(&self) -> &'static str {
        "level"
    }
    fn unlearn(&self, req: &UnlearnRequest<'_, B>) -> Result<UnlearnOutcome<B>, ModelError> {
        let level = req.strength.map_or(Ok(self.level), |s| settings::count("test-noop.level", s))?;
        Ok(UnlearnOutcome::finished(req.original.clone(), level, format!("did nothing {level} times"), level as f64))
    }
}
