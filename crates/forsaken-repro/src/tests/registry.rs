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

type B = burn::backend::Autodiff<burn::backend::Flex>;

#[test]
fn one_registry_line_puts_a_method_in_the_cli_the_suite_the_runner_and_the_report() {
    use crate::methods;

    // the command line: `--method test-noop` and its own flag, derived from the registry
    let cli = clap::Command::new("unlearn").arg(clap::Arg::new("method").long("method")).args(methods::cli_args());
    let m = cli.clone().try_get_matches_from(["unlearn", "--method", "test-noop", "--level", "3"]).unwrap();
    let def = methods::find("test-noop").unwrap();
    let settings = def.resolve(&methods::settings_from_matches(&def, &m).unwrap()).unwrap();
    assert_eq!(settings, serde_json::json!({ "level": 3 }));
    let help = cli.clone().render_help().to_string();
    assert!(help.contains("--level") && help.contains("test-noop: how much nothing to do (default 1)"), "{help}");
    // its flag applies to it only, and its range is checked like every other's
    let m = cli.clone().try_get_matches_from(["unlearn", "--level", "3"]).unwrap();
    let err = methods::settings_from_matches(&methods::find("neggrad").unwrap(), &m).unwrap_err();
    assert!(err.contains("--level does not apply to method `neggrad`"), "{err}");
    let err = def.resolve(&serde_json::json!({ "level": 0 })).unwrap_err().to_string();
    assert_eq!(err, "setting `test-noop.level` = 0 is invalid: must be an integer >= 1");

    // a suite runs it, with a strength sweep, beside the reference
    let mut suite = crate::Suite::smoke();
    suite.entries.truncate(1);
    suite.methods = vec!["retrain".into(), "test-noop".into()];
    suite.sweeps = std::collections::BTreeMap::from([("test-noop".to_string(), vec![1.0, 3.0])]);
    suite.settings.insert("test-noop".into(), serde_json::json!({ "level": 2 }));
    suite.validate().unwrap();
    let out = std::env::temp_dir().join(format!("forsaken-registry-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out);
    let opts = crate::RunOptions {
        data_dir: std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data"),
        out_dir: out.clone(),
        cache_dir: None,
        backend: "flex".into(),
        datasets: vec![],
        verbose: false,
        jobs: 1,
        stage: crate::plan::Stage::All,
        shard: None,
    };
    let records = crate::run_suite::<B>(&suite, &opts, &Default::default()).unwrap().records;
    let noop = records.iter().find(|r| r.method == "test-noop").expect("a record of the test method");
    assert_eq!(noop.config["settings"], serde_json::json!({ "level": 2 }));
    assert_eq!(noop.strength_knob, "level");
    // it forgets nothing: both swept strengths are tried and the target is not reached
    assert_eq!(noop.trace.iter().map(|p| p.values["strength"]).collect::<Vec<_>>(), [1.0, 3.0]);
    assert!(noop.stop_reason.contains("not reached"), "{}", noop.stop_reason);
    assert_eq!(noop.acc_test, noop.orig_acc_test);

    // the report lists it (T2, every method at matched FR) and the summary has its row
    let t2 = std::fs::read_to_string(out.join("tables/T2_matched_fr.md")).unwrap();
    assert!(t2.lines().any(|l| l.contains("| test-noop |") && l.contains("not reached")), "{t2}");
    assert!(std::fs::read_to_string(out.join("summary.md")).unwrap().contains("test-noop"));
    std::fs::remove_dir_all(&out).ok();
}
