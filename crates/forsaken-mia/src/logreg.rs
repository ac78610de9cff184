//! A small logistic regression (standardized inputs, L2, full-batch gradient descent) for the
//! attack classifiers. Plain Rust: the attack is tiny and must not depend on a backend.

use serde::{Deserialize, Serialize};

/// A fitted binary logistic regression.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogReg {
    mean: Vec<f64>,
    std: Vec<f64>,
    w: Vec<f64>,
    b: f64,
}

impl LogReg {
    /// Fit on rows `x` (all the same length) and labels `y` (true = positive).
    pub fn fit(x: &[Vec<f64>], y: &[bool], iters: usize, l2: f64) -> Self {
        let n = x.len().max(1) as f64;
        let (mean, std) = standardizer(x);
        let d = mean.len();
        let z: Vec<Vec<f64>> = x.iter().map(|r| standardize(r, &mean, &std)).collect();
        let (mut w, mut b) = (vec![0.0; d], 0.0);
        let lr = 0.5;
        for _ in 0..iters {
            let mut gw = vec![0.0; d];
            let mut gb = 0.0;
            for (r, &t) in z.iter().zip(y) {
                let p = sigmoid(dot(&w, r) + b);
                let e = p - if t { 1.0 } else { 0.0 };
                for j in 0..d {
                    gw[j] += e * r[j] / n;
                }
                gb += e / n;
            }
            for j in 0..d {
                w[j] -= lr * (gw[j] + l2 * w[j]);
            }
            b -= lr * gb;
        }
        Self { mean, std, w, b }
    }

    /// Probability of the positive class.
    pub fn predict(&self, x: &[f64]) -> f64 {
        let z: f64 = (0..self.w.len()).map(|j| self.w[j] * (x[j] - self.mean[j]) / self.std[j]).sum();
        sigmoid(z + self.b)
    }
}

/// Per-column mean and standard deviation (floored at 1e-6) of the rows `x`.
pub(crate) fn standardizer(x: &[Vec<f64>]) -> (Vec<f64>, Vec<f64>) {
    let n = x.len().max(1) as f64;
    let d = x.first().map_or(0, Vec::len);
    let mut mean = vec![0.0; d];
    for r in x {
        for (m, v) in mean.iter_mut().zip(r) {
            *m += v / n;
        }
    }
    let mut var = vec![0.0; d];
    for r in x {
        for j in 0..d {
            var[j] += (r[j] - mean[j]).powi(2) / n;
        }
    }
    (mean, var.into_iter().map(|v| v.sqrt().max(1e-6)).collect())
}

/// `(x - mean) / std`, column by column.
pub(crate) fn standardize(x: &[f64], mean: &[f64], std: &[f64]) -> Vec<f64> {
    x.iter().zip(mean).zip(std).map(|((v, m), s)| (v - m) / s).collect()
}

pub(crate) fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

pub(crate) fn sigmoid(z: f64) -> f64 {
    1.0 / (1.0 + (-z).exp())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn separates_a_threshold() {
        let x: Vec<Vec<f64>> = (0..100).map(|i| vec![i as f64, 3.0]).collect();
        let y: Vec<bool> = (0..100).map(|i| i >= 50).collect();
        let m = LogReg::fit(&x, &y, 300, 1e-4);
        assert!(m.predict(&[90.0, 3.0]) > 0.9);
        assert!(m.predict(&[10.0, 3.0]) < 0.1);
    }
}
