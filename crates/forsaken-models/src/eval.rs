//! Inference: a network's logits on the backend, and per-sample softmax vectors computed from
//! them in plain Rust, from which losses, predictions and accuracies follow. Runs on any backend
//! (use `net.valid()` for an autodiff network).

use burn::tensor::backend::Backend;

use forsaken_data::Dataset;

use crate::train::to_tensors;
use crate::Net;

/// Softmax outputs of a network on some samples.
#[derive(Debug, Clone, PartialEq)]
pub struct Outputs {
    /// `[n, classes]`, row-major.
    pub probs: Vec<f32>,
    /// True labels.
    pub labels: Vec<u32>,
    /// Classes.
    pub num_classes: usize,
}

impl Outputs {
    /// Softmax of `logits` (`[n, classes]`, row-major), each row in f64 after subtracting its
    /// maximum, rounded to f32: on the host, so a model's outputs are the same function of its
    /// logits on every backend, and logits saved elsewhere give back exactly these outputs
    /// (docs/logits.md).
    pub fn from_logits(logits: &[f32], labels: Vec<u32>, num_classes: usize) -> Self {
        assert_eq!(logits.len(), labels.len() * num_classes, "logits of {} rows and {num_classes} classes", labels.len());
        let mut probs = Vec::with_capacity(logits.len());
        for row in logits.chunks(num_classes.max(1)) {
            let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max) as f64;
            let exps: Vec<f64> = row.iter().map(|&l| (l as f64 - max).exp()).collect();
            let sum: f64 = exps.iter().sum();
            probs.extend(exps.iter().map(|e| (e / sum) as f32));
        }
        Self { probs, labels, num_classes }
    }

    /// Samples.
    pub fn len(&self) -> usize {
        self.labels.len()
    }
    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }
    /// Softmax vector of sample `i`.
    pub fn row(&self, i: usize) -> &[f32] {
        &self.probs[i * self.num_classes..(i + 1) * self.num_classes]
    }
    /// Arg-max class per sample.
    pub fn predictions(&self) -> Vec<u32> {
        (0..self.len())
            .map(|i| {
                let r = self.row(i);
                let mut best = 0;
                for (c, &p) in r.iter().enumerate() {
                    if p > r[best] {
                        best = c;
                    }
                }
                best as u32
            })
            .collect()
    }
    /// Accuracy (NaN on empty input).
    pub fn accuracy(&self) -> f64 {
        forsaken_metrics::accuracy(&self.predictions(), &self.labels).ok().flatten().unwrap_or(f64::NAN)
    }
    /// Cross-entropy per sample, `-ln p_y` (probabilities floored at 1e-12).
    pub fn losses(&self) -> Vec<f64> {
        (0..self.len()).map(|i| -(self.row(i)[self.labels[i] as usize].max(1e-12) as f64).ln()).collect()
    }
    /// Mean cross-entropy.
    pub fn mean_loss(&self) -> f64 {
        let l = self.losses();
        l.iter().sum::<f64>() / l.len().max(1) as f64
    }
    /// Mean top-class probability (a global confidence level).
    pub fn mean_top_prob(&self) -> f64 {
        (0..self.len()).map(|i| self.row(i).iter().cloned().fold(0.0f32, f32::max) as f64).sum::<f64>() / self.len().max(1) as f64
    }
}

/// Logits (raw outputs) of `net` on the rows `idx` of `data`, `[n, classes]` row-major, in
/// chunks of 1,024 rows.
pub fn logits<B: Backend>(net: &Net<B>, data: &Dataset, idx: &[usize]) -> Vec<f32> {
    let device = net.head.weight.device();
    let mut out = Vec::with_capacity(idx.len() * net.config.num_classes);
    for chunk in idx.chunks(1024) {
        let (x, _) = to_tensors::<B>(data, chunk, &device);
        out.extend(net.forward(x).into_data().iter::<f32>());
    }
    out
}

/// Softmax outputs of `net` on the rows `idx` of `data`: [`Outputs::from_logits`] of [`logits`].
pub fn predict<B: Backend>(net: &Net<B>, data: &Dataset, idx: &[usize]) -> Outputs {
    Outputs::from_logits(&logits(net, data, idx), idx.iter().map(|&i| data.labels[i]).collect(), net.config.num_classes)
}
