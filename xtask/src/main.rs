//! `cargo xtask`: project automation.
//!
//! * `cargo xtask reproduce --quick` runs the quick reproduction (Location and digits, one
//!   seed) and writes `results/quick/`. Every other flag is passed to `forsaken reproduce`
//!   (`--suite`, `--datasets`, `--seeds`, `--out`, `--data-dir`, `--backend`, `--quiet`...).
//!
//! xtask builds and runs the `forsaken` binary through cargo rather than linking the library
//! crates itself: the backend-generic code is then compiled for concrete backends once (in
//! `forsaken`), not twice, which matters on a two-core CI machine.

use std::process::{Command, ExitCode};

use anyhow::{bail, Result};
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "cargo xtask", about = "Project automation for forsaken")]
struct Xtask {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Dataset chores: `cargo xtask data verify` checks every dataset file under the data
    /// directory (--data-dir / FORSAKEN_DATA_DIR, default data/) against its SHA-256.
    Data {
        #[command(subcommand)]
        cmd: DataCmd,
    },
    /// Run a reproduction suite through `forsaken reproduce` (default: --quick). Results go to
    /// results/<suite>/ (REPORT.md, runs.jsonl, timing.json, tables/, figures/, summary.csv, summary.md); an
    /// interrupted run resumes.
    Reproduce {
        /// Build and run with the release profile (faster on long suites; compiles every
        /// dependency a second time).
        #[arg(long)]
        release: bool,
        /// Cargo features of the forsaken binary, e.g. `cuda`.
        #[arg(long)]
        features: Option<String>,
        /// Arguments for `forsaken reproduce` (e.g. --quick, --suite smoke, --backend cuda).
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Benchmarks (speed targets live here, never in tests): `cnn_step` times a training step
    /// of the image CNN and each of its layers (forward and backward; MNIST and CIFAR shapes);
    /// `forsaken_w` times Forsaken-W's mask step, its retain term and its stopping checks
    /// against retraining on Location-shaped data. Both by default. Runs in the dev profile the
    /// quick suite is timed in unless --release.
    Bench {
        /// Use the bench (optimized) profile instead of dev.
        #[arg(long)]
        release: bool,
        /// Which benchmarks: `cnn_step`, `forsaken_w` (default: both).
        #[arg(value_parser = ["cnn_step", "forsaken_w"])]
        names: Vec<String>,
    },
}

#[derive(Subcommand)]
enum DataCmd {
    /// One line per dataset: found, verified, sample counts.
    Verify {
        /// Data directory (default: FORSAKEN_DATA_DIR, else data/).
        #[arg(long)]
        data_dir: Option<String>,
    },
}

/// A `cargo` command without the variables that `cargo run` set for this xtask process
/// (`CARGO_MANIFEST_DIR`, `CARGO_PKG_*`, ...). Inherited, they would reach build scripts that
/// watch them (ring's watches `CARGO_MANIFEST_DIR`), and every switch between `cargo xtask` and a
/// plain `cargo build` or `cargo test` would rebuild ring and, through it, polars (minutes).
fn cargo() -> Command {
    let mut c = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    for (key, _) in std::env::vars_os() {
        let Some(key) = key.to_str() else { continue };
        let set_by_cargo_run = key.starts_with("CARGO_PKG_")
            || matches!(
                key,
                "CARGO_MANIFEST_DIR" | "CARGO_MANIFEST_PATH" | "CARGO_CRATE_NAME" | "CARGO_BIN_NAME" | "CARGO_PRIMARY_PACKAGE"
            );
        if set_by_cargo_run {
            c.env_remove(key);
        }
    }
    c
}

fn cargo_forsaken(release: bool, features: Option<&str>) -> Command {
    let mut c = cargo();
    c.args(["run", "--quiet", "--package", "forsaken", "--bin", "forsaken"]);
    if release {
        c.arg("--release");
    }
    if let Some(f) = features {
        c.args(["--features", f]);
    }
    c.arg("--");
    c
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<()> {
    match Xtask::parse().cmd {
        Cmd::Data { cmd: DataCmd::Verify { data_dir } } => {
            let mut c = cargo_forsaken(false, None);
            if let Some(d) = data_dir {
                c.args(["--data-dir", &d]);
            }
            c.arg("verify-data");
            let status = c.status()?;
            if !status.success() {
                bail!("data verify failed ({status})");
            }
            Ok(())
        }
        Cmd::Bench { release, names } => {
            let mut c = cargo();
            c.args(["bench", "-p", "forsaken-mask", "--bench", "speed"]);
            if !release {
                c.args(["--profile", "dev"]);
            }
            c.arg("--").args(&names);
            let status = c.status()?;
            if !status.success() {
                bail!("bench failed ({status})");
            }
            Ok(())
        }
        Cmd::Reproduce { release, features, args } => {
            let mut c = cargo_forsaken(release, features.as_deref());
            c.arg("reproduce");
            if args.is_empty() {
                c.arg("--quick");
            }
            c.args(&args);
            let status = c.status()?;
            if !status.success() {
                bail!("forsaken reproduce failed ({status})");
            }
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn child_cargo_does_not_inherit_what_cargo_run_set_for_xtask() {
        // `cargo test` sets these for this process, as `cargo run` does for xtask
        assert!(std::env::var_os("CARGO_MANIFEST_DIR").is_some() && std::env::var_os("CARGO_PKG_NAME").is_some());
        let c = cargo_forsaken(false, None);
        let removed: Vec<String> = c.get_envs().filter(|(_, v)| v.is_none()).map(|(k, _)| k.to_string_lossy().into_owned()).collect();
        for key in ["CARGO_MANIFEST_DIR", "CARGO_PKG_NAME", "CARGO_PKG_VERSION"] {
            assert!(removed.iter().any(|k| k == key), "{key} would reach the child cargo: removed {removed:?}");
        }
        // what the user set for cargo itself is kept
        assert!(!removed.iter().any(|k| k == "CARGO_HOME" || k == "CARGO_TARGET_DIR" || k == "CARGO_INCREMENTAL"));
    }
}
