//! # forsaken-baselines
//!
//! Unlearning methods to compare Forsaken against, each behind the
//! [`forsaken_models::Unlearner`] trait with one strength knob:
//! * [`retrain::Retrain`]: exact unlearning, a fresh model trained from scratch on the
//!   retained set with the original recipe; the reference point of every table.
//! * [`finetune::FineTune`]: continue training the original on the retained set only
//!   (knob: epochs), relying on catastrophic forgetting of D_u.

pub mod finetune;
pub mod retrain;

pub use finetune::FineTune;
pub use retrain::Retrain;
