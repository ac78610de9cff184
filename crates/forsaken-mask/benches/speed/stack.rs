//! Stacked against sequential training (issue 16): K networks of one recipe trained as one
//! [`forsaken_models::NetStack`] against the same K trained one after another (each a stack of
//! one, which is what `train` is), for K = 1, 8, 16, 32, and a stack of one against the loop
//! before stacks (`train_reference`, burn's own Adam), on the Location MLP (446 -> 128 -> 64 -> 30, batch 64, 200 steps per member) and the
//! MNIST CNN (1x28x28, batch 64, 40 steps per member: a CNN step costs ~15 ms here).
//!
//! Part of `cargo bench -p forsaken-mask --bench speed -- stack` (see main.rs). Prints one line
//! per case, `stack mlp K=16: 6.1x`: the throughput of the stack over that of sequential
//! training, both timed in this run (this machine's timings vary by about 30% between runs).
//! Targets (from the issue): Location MLP K=16 at least 5x; K=1 within 10% of the plain loop.

use std::time::Instant;

use burn::backend::{Autodiff, Flex};
use rand::{Rng, SeedableRng};

use forsaken_data::{Dataset, ModelFamily};
use forsaken_models::{train, train_stack, MemberRun, NetConfig, TrainConfig};

type B = Autodiff<Flex>;

/// One case: `k` members, each `epochs` passes over its own shuffle of `rows` rows.
fn case(name: &str, data: &Dataset, cfg: &NetConfig, k: usize, rows: usize, epochs: usize) {
    let dev = Default::default();
    let idx: Vec<usize> = (0..rows).collect();
    let recipes: Vec<TrainConfig> =
        (0..k).map(|m| TrainConfig { epochs, batch_size: 64, lr: 1e-3, seed: m as u64, early_stop_acc: None }).collect();
    let nets = || (0..k).map(|m| train::fresh::<B>(cfg, m as u64, &dev).unwrap()).collect::<Vec<_>>();
    let t = Instant::now();
    for (net, r) in nets().into_iter().zip(&recipes) {
        train(net, data, &idx, r, "sequential").unwrap();
    }
    let sequential = t.elapsed().as_secs_f64();
    let runs: Vec<MemberRun> = recipes.iter().map(|recipe| MemberRun { idx: &idx, recipe }).collect();
    let t = Instant::now();
    train_stack(nets(), data, &runs, "stacked").unwrap();
    let stacked = t.elapsed().as_secs_f64();
    let steps = epochs * rows.div_ceil(64);
    if k == 1 {
        // the loop before stacks (burn's Adam), for the K = 1 target
        let t = Instant::now();
        train::train_reference(nets().remove(0), data, &idx, &recipes[0]);
        let plain = t.elapsed().as_secs_f64();
        println!("stack {name} K=1 vs burn's Adam loop: {:.2}x   (plain {:.2} ms per step)", plain / stacked, plain * 1e3 / steps as f64);
    }
    println!(
        "stack {name} K={k}: {:.1}x   (sequential {:.2} ms, stacked {:.2} ms per member step; {steps} steps per member)",
        sequential / stacked,
        sequential * 1e3 / (k * steps) as f64,
        stacked * 1e3 / (k * steps) as f64
    );
}

fn random_data(name: &str, n: usize, shape: Vec<usize>, classes: usize, density: f64) -> Dataset {
    let mut r = rand_chacha::ChaCha8Rng::seed_from_u64(0);
    let d: usize = shape.iter().product();
    let f = (0..n * d).map(|_| if r.random_bool(density) { r.random_range(0.0..1.0f32) } else { 0.0 }).collect();
    let l = (0..n).map(|_| r.random_range(0..classes as u32)).collect();
    Dataset::new(name, f, l, shape, classes).unwrap()
}

/// Run this benchmark: `mlp`, `cnn` or both, K = 1, 8, 16, 32.
pub fn run(args: &[String]) {
    let want = |name: &str| !args.iter().any(|a| a == "mlp" || a == "cnn") || args.iter().any(|a| a == name);
    let ks = [1, 8, 16, 32];
    if want("mlp") {
        // Location: 446 sparse binary features, 30 classes; 1,280 rows = 20 batches, 10 epochs
        let data = random_data("location-like", 1280, vec![446], 30, 0.05);
        let cfg = NetConfig::for_family(ModelFamily::Mlp, &[446], 30);
        ks.iter().for_each(|&k| case("mlp", &data, &cfg, k, 1280, 10));
    }
    if want("cnn") {
        // MNIST-shaped: 640 rows = 10 batches, 4 epochs
        let data = random_data("mnist-like", 640, vec![1, 28, 28], 10, 0.2);
        let cfg = NetConfig::for_family(ModelFamily::Cnn, &[1, 28, 28], 10);
        ks.iter().for_each(|&k| case("cnn", &data, &cfg, k, 640, 4));
    }
}
