//! # forsaken-baselines
//!
//! Unlearning methods to compare Forsaken against, each behind the
//! [`forsaken_models::Unlearner`] trait with one strength knob:
//! * [`retrain::Retrain`]: exact unlearning, a fresh model trained from scratch on the
//!   retained set with the original recipe; the reference point of every table.
//! * [`finetune::FineTune`]: continue training the original on the retained set only
//!   (knob: epochs), relying on catastrophic forgetting of D_u.
//! * [`gradient`]: NegGrad, NegGrad+, random labels (Amnesiac) and SalUn, each with a steps
//!   knob, sharing one optimization loop with a divergence guard.
//! * [`sisa::Sisa`]: SISA (Bourtoule et al. 2021), sharded and sliced training whose deletions
//!   retrain only the affected shard from its last clean slice checkpoint (knob: shards).
//! * [`scale::Scale`]: the data-free control: the last hidden layer's neuron masks times one
//!   factor (knob), folded into the output layer; reads no data (docs/method.md, "Selectivity").

#![warn(missing_docs)]

pub mod finetune;
pub mod gradient;
pub mod retrain;
pub mod scale;
pub mod sisa;
mod trajectory;

pub use finetune::FineTune;
pub use gradient::{NegGrad, NegGradPlus, RandomLabels, SalUn};
pub use retrain::Retrain;
pub use scale::Scale;
pub use sisa::{Sisa, SisaConfig, SisaModel, SisaStats};

#[cfg(test)]
mod tests;
