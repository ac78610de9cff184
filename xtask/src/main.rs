//! `cargo xtask`: project automation.
//!
//! * `cargo xtask reproduce --quick` recomputes the quick reproduction (Location and digits,
//!   one seed) into a scratch folder, `target/reproduce/quick/`, and compares it with the
//!   committed `results/quick/` field by field ("N records recomputed, identical to the
//!   committed results in every non-timing field", or the fields that differ); `--check` fails
//!   on a difference, `--update` writes the new results into `results/quick/`. The same for
//!   `--suite full` (or any suite). Every other flag is passed to `forsaken reproduce`
//!   (`--datasets`, `--seeds`, `--data-dir`, `--backend`, `--jobs`, `--quiet`...); with `--out`
//!   the run goes there and nothing is compared.
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
    /// Recompute a reproduction suite through `forsaken reproduce` (default: --quick) into
    /// target/reproduce/SUITE/ and compare it with the committed results/SUITE/
    /// (REPORT.md, runs.jsonl, timing.json, tables/, figures/, summary.csv, summary.md).
    Reproduce {
        /// Fail when the recomputed records differ from the committed ones.
        #[arg(long)]
        check: bool,
        /// Write the recomputed results into results/SUITE/ (replacing what is there).
        #[arg(long)]
        update: bool,
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
        /// Which benchmarks: `cnn_step`, `forsaken_w`, `stack` (default: all three).
        #[arg(value_parser = ["cnn_step", "forsaken_w", "stack"])]
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
        Cmd::Reproduce { check, update, release, features, args } => reproduce(check, update, release, features.as_deref(), &args),
    }
}

/// The suite named in `forsaken reproduce` arguments: `--suite NAME` (a file: its stem), else
/// `quick`.
fn suite_name(args: &[String]) -> String {
    let mut name = "quick".to_string();
    for (i, a) in args.iter().enumerate() {
        if let Some(v) = a.strip_prefix("--suite=") {
            name = v.into();
        } else if let (true, Some(v)) = (a == "--suite", args.get(i + 1)) {
            name = v.clone();
        }
    }
    std::path::Path::new(&name).file_stem().map_or(name.clone(), |s| s.to_string_lossy().into_owned())
}

fn reproduce(check: bool, update: bool, release: bool, features: Option<&str>, args: &[String]) -> Result<()> {
    // `--check` and `--update` may come after `--quick` (clap hands everything from the first
    // unknown flag on to `forsaken reproduce`)
    let check = check || args.iter().any(|a| a == "--check");
    let update = update || args.iter().any(|a| a == "--update");
    let args: Vec<String> = args.iter().filter(|a| *a != "--check" && *a != "--update").cloned().collect();
    let args = args.as_slice();
    let mut c = cargo_forsaken(release, features);
    c.arg("reproduce");
    if !args.iter().any(|a| a == "--suite" || a.starts_with("--suite=")) && !args.iter().any(|a| a == "--quick") {
        c.arg("--quick");
    }
    c.args(args);
    let custom_out = args.iter().any(|a| a == "--out" || a.starts_with("--out="));
    let name = suite_name(args);
    let (scratch, committed) = (std::path::Path::new("target/reproduce").join(&name), std::path::Path::new("results").join(&name));
    if custom_out {
        if check || update {
            bail!("--check and --update compare the scratch run with results/<suite>; leave out --out");
        }
    } else {
        // a fresh folder: every record is recomputed, none resumed from an earlier scratch run
        if scratch.exists() {
            std::fs::remove_dir_all(&scratch)?;
        }
        c.arg("--out").arg(&scratch);
        if committed.join("runs.jsonl").exists() {
            c.arg("--compare-with").arg(&committed);
            if check {
                c.arg("--check");
            }
        } else if check {
            bail!("--check: there are no committed results at {} to check against", committed.display());
        }
    }
    let status = c.status()?;
    if !status.success() {
        bail!("forsaken reproduce failed ({status})");
    }
    if update {
        if committed.exists() {
            std::fs::remove_dir_all(&committed)?;
        }
        copy_dir(&scratch, &committed)?;
        println!("results/{name}/ updated from {}", scratch.display());
    }
    Ok(())
}

fn copy_dir(from: &std::path::Path, to: &std::path::Path) -> Result<()> {
    std::fs::create_dir_all(to)?;
    for e in std::fs::read_dir(from)? {
        let e = e?;
        let dest = to.join(e.file_name());
        if e.file_type()?.is_dir() {
            copy_dir(&e.path(), &dest)?;
        } else {
            std::fs::copy(e.path(), dest)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_suite_is_read_from_the_arguments() {
        let a = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(suite_name(&a(&[])), "quick");
        assert_eq!(suite_name(&a(&["--quick", "--jobs", "2"])), "quick");
        assert_eq!(suite_name(&a(&["--suite", "full", "--jobs", "2"])), "full");
        assert_eq!(suite_name(&a(&["--suite=tables"])), "tables");
        assert_eq!(suite_name(&a(&["--suite", "my/own.toml"])), "own");
    }

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
