//! # forsaken-models
//!
//! The classifiers and everything done to them below the unlearning layer:
//! * [`Net`], one network type for the MLP and the small CNN of docs/protocol.md ("Models and
//!   training"), with a **neuron-mask slot** after each hidden activation ([`Net::forward_masked`];
//!   a mask of ones is the identity) and exact folding of masks into the next layer's weights
//!   ([`Net::fold_neuron_masks`]);
//! * [`train()`], the one training loop (Adam, seeded shuffling) shared by target models,
//!   shadow models, retraining and fine-tuning, and [`train_stack`], the same recipe for K
//!   networks at once as one batched [`NetStack`]; [`eval`] for per-sample softmax, loss and
//!   accuracy;
//! * [`checkpoint`]: save and load of trained weights; [`Unlearned`], what a method returns (one
//!   network or, for SISA, an [`Ensemble`]), measured through [`Predict`];
//! * the [`Unlearner`] trait every unlearning method implements, with its [`UnlearnRequest`],
//!   and [`Method`], how a method declares its id, knob and typed [`settings`] to the registry;
//! * [`MembershipOracle`], the one oracle trait: scores and decisions from per-sample outputs.
//!
//! Everything is generic over burn's backend: `B: Backend` for inference, `B: AutodiffBackend`
//! for training. No concrete backend is named outside tests.

#![warn(missing_docs)]

pub mod checkpoint;
pub mod ensemble;
pub mod eval;
pub mod interop;
pub mod net;
pub mod oracle;
pub mod progress;
pub mod settings;
pub mod stack;
pub mod train;
pub mod unlearn;

pub use ensemble::{Aggregation, Ensemble, Predict, SavedLogits, Unlearned};
pub use eval::{logits, predict, Outputs};
pub use interop::{export_safetensors, import_safetensors, InputStats};
pub use net::{Activation, Net, NetConfig};
pub use oracle::MembershipOracle;
pub use settings::{Knob, Method, Role, SettingError, Stronger};
pub use stack::{train_stack, train_stack_with, MemberRun, NetStack};
pub use train::{train, train_with, TrainConfig};
pub use unlearn::{StoppingRule, SweepVisit, TracePoint, UnlearnOutcome, UnlearnRequest, Unlearner};

/// Errors of model construction, training and checkpoints.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// The data does not fit the network.
    #[error("shape mismatch: {0}")]
    Shape(String),
    /// Training diverged.
    #[error("training diverged: loss became {loss} at step {step} ({context})")]
    Diverged {
        /// The non-finite or exploding loss.
        loss: f32,
        /// Optimizer step.
        step: usize,
        /// Which run.
        context: String,
    },
    /// Loading or saving a checkpoint failed.
    #[error("checkpoint {path}: {msg}")]
    Checkpoint {
        /// File.
        path: String,
        /// What went wrong.
        msg: String,
    },
    /// A request that a method cannot serve.
    #[error("invalid request: {0}")]
    Request(String),
    /// A setting out of its range.
    #[error(transparent)]
    Setting(#[from] SettingError),
    /// Data error passed through.
    #[error(transparent)]
    Data(#[from] forsaken_data::DataError),
}

/// Make glibc's allocator keep freed memory in the process. Call once at the start of a
/// program, before other threads exist (the `forsaken` binary and the benches do).
///
/// glibc's malloc hands large freed blocks back to the kernel and page-faults fresh ones in at
/// the next allocation; a CNN training step allocates and frees dozens of buffers of a few
/// hundred kilobytes (activations, im2col matrices, gradients). Keeping freed memory (no
/// trimming, a 64 MiB top pad, mmap only above 32 MiB) cut the page faults of 200 CNN steps
/// from 863k to 5k and the step from ~25 to ~15 ms on two cores (`cargo xtask bench
/// cnn_step`). Memory stays bounded by the peak in use. A no-op
/// elsewhere than Linux with glibc.
pub fn tune_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes allocator parameters.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 1 << 30);
        libc::mallopt(libc::M_TOP_PAD, 64 << 20);
    }
}

/// Convert any float tensor to a `Vec<f32>`.
pub fn to_vec<B: burn::tensor::backend::Backend, const D: usize>(t: burn::tensor::Tensor<B, D>) -> Vec<f32> {
    t.into_data().iter::<f32>().collect()
}

#[cfg(test)]
mod tests;
