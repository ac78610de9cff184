//! Inference: per-sample softmax vectors, from which losses, predictions and accuracies follow
//! in plain Rust. Runs on any backend (use `net.valid()` for an autodiff network).

use burn::tensor::activation::softmax;
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

/// Softmax outputs of `net` on the rows `idx` of `data`, in chunks of 1,024.
pub fn predict<B: Backend>(net: &Net<B>, data: &Dataset, idx: &[usize]) -> Outputs {
    let device = net.head.weight.device();
    let c = net.config.num_classes;
    let mut probs = Vec::with_capacity(idx.len() * c);
    for chunk in idx.chunks(1024) {
        let (x, _) = to_tensors::<B>(data, chunk, &device);
        let p = softmax(net.forward(x), 1);
        probs.extend(p.into_data().iter::<f32>());
    }
    Outputs { probs, labels: idx.iter().map(|&i| data.labels[i]).collect(), num_classes: c }
}
