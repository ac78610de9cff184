//! The mask-gradient generator `G_phi`: 2C inputs -> width (ReLU) -> N mask gradients.
//! Its size is O(C + N), independent of the number of weights in the classifier.

use burn::module::Module;
use burn::nn::{Linear, LinearConfig};
use burn::tensor::activation::relu;
use burn::tensor::backend::Backend;
use burn::tensor::Tensor;
use forsaken_models::net::reinit_linear;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// The generator network.
#[derive(Module, Debug)]
pub struct Generator<B: Backend> {
    hidden: Linear<B>,
    out: Linear<B>,
}

impl<B: Backend> Generator<B> {
    /// A generator for `classes` classes and `neurons` masked neurons, initialized from `seed`.
    pub fn new(classes: usize, neurons: usize, width: usize, seed: u64, device: &B::Device) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut hidden = LinearConfig::new(2 * classes, width).init(device);
        let mut out = LinearConfig::new(width, neurons).init(device);
        reinit_linear(&mut hidden, 2 * classes, &mut rng);
        reinit_linear(&mut out, width, &mut rng);
        Self { hidden, out }
    }

    /// Mask gradients `[N]` from features `[1, 2C]`.
    pub fn forward(&self, features: Tensor<B, 2>) -> Tensor<B, 1> {
        let g = self.out.forward(relu(self.hidden.forward(features)));
        let n = g.dims()[1];
        g.reshape([n])
    }
}
