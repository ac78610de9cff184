//! Where a CNN training step's time goes (issue 8): the whole step (forward, cross-entropy,
//! backward, Adam) of the image CNN of docs/protocol.md ("Models and training"), then each layer's
//! forward and backward alone, on the flex backend, for MNIST-shaped (1x28x28) and CIFAR-shaped
//! (3x32x32) batches.
//!
//! Part of `cargo bench -p forsaken-mask --bench speed -- cnn_step` (see main.rs); a number
//! among the arguments sets the batch size (default 64), `mnist` or `cifar` one shape (default
//! both). Prints one line per measurement; speed targets live here, never in tests.
//!
//! Measured on the 2-core CI-class machine (dev profile, batch 64, MNIST shape): a step took
//! ~60 ms with burn-flex 0.21.0 as published (its conv2d backward passes were burn-backend's
//! generic defaults, ~75% of the step) and ~15 ms with the patched copy in vendor/burn-flex
//! plus [`forsaken_models::tune_allocator`].

use std::time::Instant;

use burn::backend::{Autodiff, Flex};
use burn::module::AutodiffModule;
use burn::optim::{AdamConfig, GradientsParams, Optimizer};
use burn::tensor::activation::relu;
use burn::tensor::{Distribution, Int, Tensor};
use forsaken_data::ModelFamily;
use forsaken_models::train::cross_entropy;
use forsaken_models::{Net, NetConfig};

type B = Autodiff<Flex>;

fn time<F: FnMut()>(label: &str, reps: usize, mut f: F) -> f64 {
    f();
    let t = Instant::now();
    for _ in 0..reps {
        f();
    }
    let ms = t.elapsed().as_secs_f64() * 1e3 / reps as f64;
    println!("  {label:<46} {ms:>8.2} ms");
    ms
}

fn profile(bs: usize, shape: [usize; 3]) {
    let device = Default::default();
    let d: usize = shape.iter().product();
    let cfg = NetConfig::for_family(ModelFamily::Cnn, &shape, 10);
    let mut net: Net<B> = cfg.init_seeded(0, &device).expect("net");
    let x = Tensor::<B, 2>::random([bs, d], Distribution::Normal(0.0, 1.0), &device);
    let y = Tensor::<B, 1, Int>::random([bs], Distribution::Uniform(0.0, 10.0), &device);
    let mut optim = AdamConfig::new().init::<B, Net<B>>();
    println!("CNN of docs/protocol.md, input {shape:?}, batch {bs}");
    let step = time("train step (forward + CE + backward + Adam)", 100, || {
        let loss = cross_entropy(net.forward(x.clone()), y.clone());
        let grads = GradientsParams::from_grads(loss.backward(), &net);
        net = optim.step(1e-3, net.clone(), grads);
    });
    time("forward + backward (no Adam)", 50, || {
        let _ = cross_entropy(net.forward(x.clone()), y.clone()).backward();
    });
    let inner = net.valid();
    let xi = x.clone().inner();
    time("inference forward", 50, || {
        let _ = inner.forward(xi.clone()).into_data();
    });

    let x4: Tensor<B, 4> = x.clone().reshape([bs, shape[0], shape[1], shape[2]]);
    let pool = burn::nn::pool::MaxPool2dConfig::new([2, 2]).with_strides([2, 2]).init();
    // each conv block on its own: conv1 reads the batch (no input gradient), conv2 conv1's
    // pooled output (its input gradient is part of the step)
    let mut input = x4;
    for (i, conv) in net.convs.iter().enumerate() {
        let (layer, grad_input) = (i + 1, i > 0);
        let x_in = if grad_input { input.clone().require_grad() } else { input.clone() };
        time(&format!("conv{layer} forward"), 50, || {
            let _ = conv.forward(input.clone()).into_data();
        });
        let grads = if grad_input { "weight, bias, input" } else { "weight, bias" };
        time(&format!("conv{layer} forward + backward ({grads})"), 50, || {
            let _ = conv.forward(x_in.clone()).sum().backward();
        });
        let a = relu(conv.forward(input.clone())).detach().require_grad();
        time(&format!("relu + maxpool {layer} forward + backward"), 50, || {
            let _ = pool.forward(relu(a.clone())).sum().backward();
        });
        input = pool.forward(relu(conv.forward(input))).detach();
    }
    let h2 = input.flatten::<2>(1, 3).require_grad();
    time("dense + head + CE forward + backward", 50, || {
        let h = relu(net.dense[0].forward(h2.clone()));
        let _ = cross_entropy(net.head.forward(h), y.clone()).backward();
    });
    println!("  => {:.0} training samples per second\n", bs as f64 * 1e3 / step);
}

/// Run this benchmark with the bench's arguments.
pub fn run(args: &[String]) {
    let bs = args.iter().find_map(|a| a.parse().ok()).unwrap_or(64);
    let want = |name: &str| !args.iter().any(|a| a == "mnist" || a == "cifar") || args.iter().any(|a| a == name);
    if want("mnist") {
        profile(bs, [1, 28, 28]);
    }
    if want("cifar") {
        profile(bs, [3, 32, 32]);
    }
}
