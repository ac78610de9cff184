//! # forsaken-mask
//!
//! **Forsaken** (Ma et al., "Learn to Forget: Machine Unlearning via Neuron Masking", IEEE TDSC
//! 2022) as this project specifies it in docs/method.md ("Forsaken"). The paper's full text is not
//! available; where the public record is silent the choices are ours and marked so there.
//!
//! * Neuron masks `m_l` (one per hidden unit, one per conv channel) start at 1 and are the only
//!   thing that changes; the classifier's weights stay frozen (bit-identical before the fold).
//! * A small **mask-gradient generator** `G_phi` (MLP, width 64) reads 2C numbers (the mean
//!   softmax of the masked model on a forget batch, and the mean target profile of that batch)
//!   and outputs one mask gradient per neuron. A step computes `m' = m - eta * G_phi(...)`
//!   inside the autodiff graph, so the loss
//!   `KL(p_ref[y] || softmax f(x; m')) + alpha * CE(retain; m') + lambda * mean |g|`
//!   trains `phi` by backpropagation through the mask update; then `m <- clamp(m', 0, 1)`.
//! * `p_ref[c]` is the original model's mean softmax over the owner's **reference** samples of
//!   class `c` (non-members), i.e. what an unseen sample of that class looks like.
//! * Stopping: a named stopping oracle checks the forgetting rate on D_u every 10 steps; the run
//!   stops at the target FR (cap 500 steps) and returns the **best checkpoint** (the first that
//!   meets the target; otherwise the highest FR whose accuracy on a retained probe of 640 rows
//!   stays within 1 point of the original's). The time of the checks counts as Forsaken's time.
//! * Finally the masks are folded into the next layer's weights
//!   ([`forsaken_models::Net::fold_neuron_masks`]): the result is a plain model of the original
//!   architecture.
//!
//! ## One method family: `forsaken` and `forsaken-w` [ours, beyond the paper]
//!
//! The loop above (stopping rule, best checkpoint, folding, oracle checks) is shared by a family
//! whose options are the mask **granularity** ([`Granularity`]: neuron, or one mask per weight
//! of every dense matrix and conv kernel), the mask **producer** ([`Producer`]: the generator, a
//! coordinate-wise learned optimizer, or Adam on dL/dM), the **retain term** ([`RetainTerm`]: CE,
//! or KL to the original's outputs cycling over every retained row) and the sparsity
//! **penalty** ([`Penalty`]). Two named defaults:
//! * `forsaken` = [`ForsakenConfig::default`] (docs/method.md, "Forsaken": the paper's, our
//!   reading);
//! * `forsaken-w` = [`ForsakenConfig::forsaken_w`] (docs/method.md, "Forsaken-W"): per-weight
//!   masks, Adam (lr 1e-2), KL retain term with alpha = 100 over every retained row, lambda = 0.01
//!   on mean |M - 1|. Its aim is *selective* forgetting: FR high on D_u, low on the retained set.

#![warn(missing_docs)]

pub mod forsaken;
pub mod generator;

pub use forsaken::{
    fold, CoordOptimizer, Forsaken, ForsakenConfig, ForsakenSettings, ForsakenState, ForsakenWSettings, Granularity, Penalty, Producer,
    RetainTerm, StepStats,
};
pub use generator::Generator;

#[cfg(test)]
mod tests;
