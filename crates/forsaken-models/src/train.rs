//! The training recipe and its entry points: Adam, seeded shuffling, mini-batches,
//! cross-entropy. Target models, shadow models, retraining and fine-tuning all go through
//! [`train`] (one network) or [`crate::train_stack`] (K at once): one loop, in `stack.rs`.

use burn::module::AutodiffModule;
use burn::tensor::activation::log_softmax;
use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::{Int, Tensor, TensorData};
use serde::{Deserialize, Serialize};

use forsaken_data::Dataset;

use crate::settings::{self, SettingError};
use crate::{ModelError, Net};

/// Hyper-parameters of the training recipe (docs/protocol.md, "Models and training": Adam 1e-3,
/// batch 64).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainConfig {
    /// Passes over the data.
    pub epochs: usize,
    /// Mini-batch size.
    pub batch_size: usize,
    /// Adam learning rate.
    pub lr: f64,
    /// Seed for initialization and batch order.
    pub seed: u64,
    /// Stop after the first epoch whose running training accuracy (over that epoch's batches,
    /// before each step) reaches this value; `None`: run every epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub early_stop_acc: Option<f64>,
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self { epochs: 30, batch_size: 64, lr: 1e-3, seed: 0, early_stop_acc: None }
    }
}

impl TrainConfig {
    /// Check the recipe's ranges: epochs >= 1, batch >= 1, learning rate in (0, 1], early stop
    /// in (0, 1].
    pub fn check(&self) -> Result<(), SettingError> {
        settings::at_least("epochs", self.epochs, 1)?;
        settings::at_least("batch_size", self.batch_size, 1)?;
        settings::learning_rate("lr", self.lr)?;
        if let Some(a) = self.early_stop_acc {
            settings::fraction("early_stop_train_acc", a)?;
        }
        Ok(())
    }
}

/// Upload the rows `idx` of `data` as a `[n, dim]` float tensor and a `[n]` label tensor.
pub fn to_tensors<B: Backend>(data: &Dataset, idx: &[usize], device: &B::Device) -> (Tensor<B, 2>, Tensor<B, 1, Int>) {
    let d = data.dim();
    let mut x = Vec::with_capacity(idx.len() * d);
    let mut y = Vec::with_capacity(idx.len());
    for &i in idx {
        x.extend_from_slice(data.row(i));
        y.push(data.labels[i] as i64);
    }
    (Tensor::from_data(TensorData::new(x, [idx.len(), d]), device), Tensor::from_data(TensorData::new(y, [idx.len()]), device))
}

/// An index tensor for `select`.
pub fn index_tensor<B: Backend>(idx: &[usize], device: &B::Device) -> Tensor<B, 1, Int> {
    Tensor::from_data(TensorData::new(idx.iter().map(|&i| i as i64).collect::<Vec<_>>(), [idx.len()]), device)
}

/// Mean cross-entropy of logits against integer labels.
pub fn cross_entropy<B: Backend>(logits: Tensor<B, 2>, y: Tensor<B, 1, Int>) -> Tensor<B, 1> {
    let n = y.dims()[0];
    let logp = log_softmax(logits, 1);
    logp.gather(1, y.reshape([n, 1])).mean().neg()
}

/// Train `net` on the rows `idx` of `data` with `cfg`. Returns the trained network.
///
/// Fails with [`ModelError::Diverged`] on a non-finite loss instead of returning garbage.
pub fn train<B: AutodiffBackend>(net: Net<B>, data: &Dataset, idx: &[usize], cfg: &TrainConfig, label: &str) -> Result<Net<B>, ModelError> {
    train_with(net, data, idx, cfg, label, &mut |_, _| Ok(true))
}

/// [`train`], calling `after_epoch(epochs_done, &net)` after every epoch; training stops early
/// when it returns `false`. The network after `k` epochs is bit-identical to a plain run of `k`
/// epochs with the same recipe (same shuffles, same optimizer state), which is what a strength
/// sweep over epochs relies on.
///
/// This is a stack of one ([`crate::stack::train_stack_with`]): one training loop for one
/// network and for K, bit-identical to burn's own Adam loop (a test keeps that loop as the
/// reference).
pub fn train_with<B: AutodiffBackend>(
    net: Net<B>,
    data: &Dataset,
    idx: &[usize],
    cfg: &TrainConfig,
    label: &str,
    after_epoch: &mut dyn FnMut(usize, &Net<B>) -> Result<bool, ModelError>,
) -> Result<Net<B>, ModelError> {
    let mut hook = |_member: usize, epochs: usize, net: &Net<B>| after_epoch(epochs, net);
    let mut out = crate::stack::train_stack_with(vec![net], data, &[crate::MemberRun { idx, recipe: cfg }], label, &mut hook)?;
    Ok(out.pop().expect("a stack of one returns one network"))
}

/// The training loop as it was before stacks, on burn's own `Adam` optimiser: the reference
/// the stack is tested against (bit for bit) and benchmarked against (`cargo xtask bench
/// stack`). The same shuffles, batches and early stop as [`train`]; no epoch hook, no
/// divergence checks. Not for training the project's models.
pub fn train_reference<B: AutodiffBackend>(mut net: Net<B>, data: &Dataset, idx: &[usize], cfg: &TrainConfig) -> Net<B> {
    use burn::optim::{AdamConfig, GradientsParams, Optimizer};
    use rand::seq::SliceRandom;
    use rand::SeedableRng;
    let device = net.head.weight.device();
    let (x_all, y_all) = to_tensors::<B>(data, idx, &device);
    let mut optim = AdamConfig::new().init::<B, Net<B>>();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(shuffle_seed(cfg));
    let mut order: Vec<usize> = (0..idx.len()).collect();
    for _ in 0..cfg.epochs {
        order.shuffle(&mut rng);
        let mut correct = 0usize;
        for chunk in order.chunks(cfg.batch_size) {
            let it = index_tensor::<B>(chunk, &device);
            let (x, y) = (x_all.clone().select(0, it.clone()), y_all.clone().select(0, it));
            let logits = net.forward(x);
            if cfg.early_stop_acc.is_some() {
                let hits = logits.clone().inner().argmax(1).reshape([chunk.len()]).equal(y.clone().inner()).int().sum();
                correct += hits.into_data().iter::<i64>().next().unwrap_or(0) as usize;
            }
            let grads = GradientsParams::from_grads(cross_entropy(logits, y).backward(), &net);
            net = optim.step(cfg.lr, net, grads);
        }
        if cfg.early_stop_acc.is_some_and(|a| correct as f64 >= a * idx.len() as f64) {
            break;
        }
    }
    net
}

/// The seed of a recipe's batch-order generator (shared with [`crate::stack::train_stack`],
/// whose members shuffle exactly as this loop does).
pub(crate) fn shuffle_seed(cfg: &TrainConfig) -> u64 {
    cfg.seed ^ 0x7a1_0000
}

/// The requests both training loops refuse: no samples, a batch size of 0, data of another
/// width than the network's input.
pub(crate) fn check_inputs<B: Backend>(
    net: &Net<B>,
    data: &Dataset,
    idx: &[usize],
    cfg: &TrainConfig,
    label: &str,
) -> Result<(), ModelError> {
    if idx.is_empty() {
        return Err(ModelError::Request(format!("{label}: no training samples")));
    }
    if cfg.batch_size == 0 {
        return Err(ModelError::Request(format!("{label}: batch size 0")));
    }
    if data.dim() != net.config.input_dim() {
        return Err(ModelError::Shape(format!(
            "{label}: data has {} features per sample, the network expects {}",
            data.dim(),
            net.config.input_dim()
        )));
    }
    Ok(())
}

/// A final check of the trained weights' sanity: finite logits on up to 256 training rows.
pub(crate) fn check_finite<B: AutodiffBackend>(
    net: &Net<B>,
    data: &Dataset,
    idx: &[usize],
    step: usize,
    label: &str,
) -> Result<(), ModelError> {
    let probe = &idx[..idx.len().min(256)];
    let device = net.head.weight.device();
    let (x, _) = to_tensors::<B::InnerBackend>(data, probe, &device);
    if net.valid().forward(x).into_data().iter::<f32>().any(|v: f32| !v.is_finite()) {
        return Err(ModelError::Diverged { loss: f32::NAN, step, context: format!("{label}: non-finite logits after training") });
    }
    Ok(())
}

/// A fresh network whose initial weights depend on `seed` only (see
/// [`crate::NetConfig::init_seeded`]): every model in this project is created this way.
pub fn fresh<B: Backend>(config: &crate::NetConfig, seed: u64, device: &B::Device) -> Result<Net<B>, ModelError> {
    config.init_seeded::<B>(seed, device)
}
