//! A small MLP attack classifier (one tanh hidden layer, full-batch Adam on standardized
//! inputs), the alternative to logistic regression for the shadow attack. Plain Rust.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::logreg::{dot, sigmoid, standardize, standardizer};

/// A fitted binary MLP classifier.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SmallMlp {
    mean: Vec<f64>,
    std: Vec<f64>,
    w1: Vec<Vec<f64>>, // [hidden][d]
    b1: Vec<f64>,
    w2: Vec<f64>,
    b2: f64,
}

impl SmallMlp {
    /// Fit with `hidden` units for `iters` full-batch Adam steps.
    pub fn fit(x: &[Vec<f64>], y: &[bool], hidden: usize, iters: usize, seed: u64) -> Self {
        let n = x.len().max(1) as f64;
        let (mean, std) = standardizer(x);
        let d = mean.len();
        let z: Vec<Vec<f64>> = x.iter().map(|r| standardize(r, &mean, &std)).collect();
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let b = 1.0 / (d.max(1) as f64).sqrt();
        let mut w1: Vec<Vec<f64>> = (0..hidden).map(|_| (0..d).map(|_| rng.random_range(-b..b)).collect()).collect();
        let mut b1 = vec![0.0; hidden];
        let b2b = 1.0 / (hidden.max(1) as f64).sqrt();
        let mut w2: Vec<f64> = (0..hidden).map(|_| rng.random_range(-b2b..b2b)).collect();
        let mut b2 = 0.0;
        // Adam state, flattened: w1, b1, w2, b2
        let np = hidden * d + hidden + hidden + 1;
        let (mut m, mut v) = (vec![0.0; np], vec![0.0; np]);
        let (lr, beta1, beta2, eps) = (0.01, 0.9, 0.999, 1e-8);
        for t in 1..=iters {
            let mut g = vec![0.0; np];
            for (r, &target) in z.iter().zip(y) {
                let h: Vec<f64> = (0..hidden).map(|k| (dot(&w1[k], r) + b1[k]).tanh()).collect();
                let p = sigmoid(dot(&w2, &h) + b2);
                let e = (p - if target { 1.0 } else { 0.0 }) / n;
                for k in 0..hidden {
                    let dh = e * w2[k] * (1.0 - h[k] * h[k]);
                    for j in 0..d {
                        g[k * d + j] += dh * r[j];
                    }
                    g[hidden * d + k] += dh;
                    g[hidden * d + hidden + k] += e * h[k];
                }
                g[np - 1] += e;
            }
            for (i, gi) in g.iter().enumerate() {
                m[i] = beta1 * m[i] + (1.0 - beta1) * gi;
                v[i] = beta2 * v[i] + (1.0 - beta2) * gi * gi;
                let step = lr * (m[i] / (1.0 - beta1.powi(t as i32))) / ((v[i] / (1.0 - beta2.powi(t as i32))).sqrt() + eps);
                if i < hidden * d {
                    w1[i / d][i % d] -= step;
                } else if i < hidden * d + hidden {
                    b1[i - hidden * d] -= step;
                } else if i < np - 1 {
                    w2[i - hidden * d - hidden] -= step;
                } else {
                    b2 -= step;
                }
            }
        }
        Self { mean, std, w1, b1, w2, b2 }
    }

    /// Probability of the positive class.
    pub fn predict(&self, x: &[f64]) -> f64 {
        let z = standardize(x, &self.mean, &self.std);
        let h: Vec<f64> = self.w1.iter().zip(&self.b1).map(|(w, b)| (dot(w, &z) + b).tanh()).collect();
        sigmoid(dot(&self.w2, &h) + self.b2)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn learns_a_nonlinear_boundary() {
        // member iff |x| > 1: not linearly separable in x
        let x: Vec<Vec<f64>> = (0..200).map(|i| vec![(i as f64 - 100.0) / 40.0]).collect();
        let y: Vec<bool> = x.iter().map(|r| r[0].abs() > 1.0).collect();
        let m = SmallMlp::fit(&x, &y, 8, 400, 0);
        let acc = x.iter().zip(&y).filter(|(r, &t)| (m.predict(r) > 0.5) == t).count() as f64 / 200.0;
        assert!(acc > 0.9, "accuracy {acc}");
    }
}
