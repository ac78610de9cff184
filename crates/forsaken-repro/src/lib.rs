//! # forsaken-repro
//!
//! The reproduction harness: the [`methods`] registry, experiment [`suite`]s, the [`runner`] that trains, audits and
//! unlearns with a cache of expensive artifacts and resumable, atomically written results,
//! [`tables`] and the [`report`] (T1 to T4, REPORT.md) built with polars, [`figures`] (F1 to F4)
//! drawn with plotters, and the shared [`pipeline`]
//! pieces and the model-folder [`workflow`] the `forsaken` command line calls (`train`,
//! `unlearn`, `audit`).
//!
//! Every number written here comes from running the code; nothing is filled in by hand.

#![warn(missing_docs)]

pub mod audit;
pub mod compare;
pub mod figures;
pub mod identity;
pub mod io;
pub mod logits;
pub mod merge;
pub mod methods;
pub mod pipeline;
pub mod plan;
pub mod population;
pub mod receipt;
pub mod record;
pub mod report;
pub mod runner;
pub mod suite;
pub mod tables;
pub mod workflow;

#[cfg(test)]
mod tests;

pub use record::RunRecord;
pub use runner::{run_suite, RunOptions, SuiteRun};
pub use suite::Suite;
