//! `forsaken`: train a model, unlearn part of its training data, audit the result with a
//! membership oracle, or run a whole reproduction suite. See `forsaken --help`.

mod backend;
mod commands;

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

/// Machine unlearning by neuron masking (Forsaken, Ma et al. 2022) and the forgetting-rate
/// audit, on CPU (flex, ndarray) or CUDA.
///
/// Typical use:
///   forsaken train --dataset location --out runs/loc
///   forsaken unlearn --model runs/loc --method forsaken --forget 10% --out runs/loc-forsaken
///   forsaken audit --before runs/loc --after runs/loc-forsaken
///   forsaken audit --before runs/loc --after runs/loc-forsaken --against-retrain 32
///   forsaken audit --logits DIR          (a model trained elsewhere: docs/logits.md)
///   forsaken reproduce --quick
#[derive(Parser, Debug)]
#[command(name = "forsaken", version, about, long_about, propagate_version = true, verbatim_doc_comment)]
pub struct Cli {
    /// Compute backend: `flex` (pure-Rust CPU, default), `ndarray` (classic CPU backend,
    /// needs the `ndarray` feature, on by default) or `cuda` (needs `--features cuda` and an
    /// NVIDIA GPU with its driver).
    #[arg(long, value_enum, default_value_t = BackendKind::Flex, global = true, env = "FORSAKEN_BACKEND")]
    pub backend: BackendKind,

    /// Folder holding the datasets (`location/`, `digits/`, `mnist/`, `cifar-10/`...).
    /// Defaults to the FORSAKEN_DATA_DIR environment variable, else `data`.
    #[arg(long, global = true, env = "FORSAKEN_DATA_DIR")]
    pub data_dir: Option<PathBuf>,

    /// Cache of trained target models and shadow pools, keyed by everything that determines
    /// them (the data's content, the settings, the code, the backend): an entry is reused only
    /// under an identical key.
    #[arg(long, global = true, default_value = "results/cache")]
    pub cache_dir: PathBuf,

    /// No progress bars (for logs).
    #[arg(long, short, global = true)]
    pub quiet: bool,

    #[command(subcommand)]
    pub command: Command,
}

/// Compute backends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum BackendKind {
    /// Pure-Rust CPU backend (fast convolutions); always compiled in.
    Flex,
    /// burn's ndarray CPU backend (feature `ndarray`).
    Ndarray,
    /// NVIDIA GPUs through CUDA (feature `cuda`).
    Cuda,
}

impl BackendKind {
    /// Name used in result records.
    pub fn name(self) -> &'static str {
        match self {
            BackendKind::Flex => "flex",
            BackendKind::Ndarray => "ndarray",
            BackendKind::Cuda => "cuda",
        }
    }
}

/// Subcommands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// List the datasets this build knows, with their default model and split sizes.
    Datasets,
    /// Check every dataset file under the data directory against its SHA-256 (SOURCES.md)
    /// and print one line per dataset (found, verified, sample counts).
    VerifyData,
    /// List the unlearning methods (role, strength knob, every setting with its default) and
    /// the membership oracles, from their registries.
    Methods,
    /// Train the original ("target") model on a dataset's target_train split and save it with
    /// its splits and a manifest.
    Train(commands::TrainArgs),
    /// Unlearn a forget set from a trained model with one method, save the result, audit it
    /// under every oracle and write its deletion receipt (receipt.json: hashes, method,
    /// settings, the audit, a verdict against --min-fr).
    Unlearn(commands::UnlearnArgs),
    /// Recompute every hash of a deletion receipt (weights, forget set, data, the previous
    /// receipt); exit 0 when all match, 1 naming each mismatch.
    VerifyReceipt(commands::VerifyReceiptArgs),
    /// Audit an unlearned model against its original under every membership oracle: each
    /// oracle's strength, the forgetting rate on the forget set (with a 95% interval), FR on the
    /// retained set, selectivity (with --retrained) and accuracies. With --against-retrain N:
    /// the deletion audit against N retrained models, per example, with a verdict per method.
    Audit(commands::AuditArgs),
    /// Make a model folder from a network trained elsewhere: safetensors with PyTorch's names
    /// for our MLP or CNN (declared widths and activation), the dataset and its member rows.
    Import(commands::ImportArgs),
    /// Write a model's network as safetensors that PyTorch's load_state_dict accepts, with its
    /// input preprocessing (input.mean, input.std).
    Export(commands::ExportArgs),
    /// Write a model's logits on every row of its dataset (or on --rows), in the order of the
    /// dataset's file, as .npy (float32 [n, classes]) or CSV (by the extension).
    Predict(commands::PredictArgs),
    /// Run a reproduction suite and write runs.jsonl, REPORT.md, tables T1-T4 (CSV and
    /// Markdown), figures F1-F4 (SVG and PNG), summary.csv/.md, splits/ and roc/ under
    /// results/SUITE (resumes an interrupted run).
    Reproduce(commands::ReproduceArgs),
    /// Print the plan of a suite without running it: every artefact (target model, shadow
    /// pool) and cell (method x forget set) with its estimated cost, and with --shards N the
    /// shard of each.
    Plan(commands::PlanArgs),
    /// Join the output folders of the shards of one plan (`reproduce --shard K/N`) and render
    /// the report; refuses folders of different plans, a cell found twice, cells found nowhere
    /// and records of different code (unless --allow-mixed).
    Merge(commands::MergeArgs),
}

/// Parse the command line: the derived flags, plus the method settings' flags of `unlearn`,
/// which come from the method registry.
fn parse() -> anyhow::Result<Cli> {
    use clap::{CommandFactory, FromArgMatches};
    let matches = Cli::command().mut_subcommand("unlearn", |c| c.args(forsaken_repro::methods::cli_args())).get_matches();
    let mut cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    if let (Command::Unlearn(a), Some(("unlearn", sub))) = (&mut cli.command, matches.subcommand()) {
        let def = forsaken_repro::methods::find(&a.method).map_err(anyhow::Error::msg)?;
        a.settings = forsaken_repro::methods::settings_from_matches(&def, sub).map_err(anyhow::Error::msg)?;
    }
    Ok(cli)
}

/// Let a closed pipe end the process quietly, as command-line tools do (`forsaken methods |
/// head`): Rust starts with SIGPIPE ignored, so a write to a closed pipe would make `println!`
/// panic instead.
fn end_quietly_on_broken_pipe() {
    #[cfg(unix)]
    // SAFETY: called first thing in main, before any thread exists; restores the default action.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

fn main() {
    end_quietly_on_broken_pipe();
    forsaken_models::tune_allocator();
    let result = parse().and_then(|cli| {
        forsaken_models::progress::set_quiet(cli.quiet);
        backend::dispatch(&cli)
    });
    if let Err(e) = result {
        eprintln!("error: {e}");
        for cause in e.chain().skip(1) {
            eprintln!("  caused by: {cause}");
        }
        std::process::exit(1);
    }
}
