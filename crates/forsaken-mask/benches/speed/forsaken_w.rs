//! Where Forsaken-W's time goes, against retraining, on Location-shaped synthetic data (1,200
//! members of 446 sparse binary features, 30 classes, the MLP of docs/protocol.md): target training
//! (= retraining's cost), mask steps with and without the retain term, and the stopping checks.
//!
//! Part of `cargo bench -p forsaken-mask --bench speed -- forsaken_w` (see main.rs). Prints one
//! line per stage; no assertion lives here.

use std::time::Instant;

use burn::backend::{Autodiff, Flex};
use burn::module::AutodiffModule;
use rand::{Rng, SeedableRng};

use forsaken_data::{Dataset, ModelFamily};
use forsaken_mask::{fold, ForsakenConfig, ForsakenState, Granularity, Producer};
use forsaken_models::{predict, train, NetConfig, TrainConfig};

type B = Autodiff<Flex>;

/// Run this benchmark.
pub fn run() {
    let (n, dim, classes) = (2000, 446, 30);
    let mut r = rand_chacha::ChaCha8Rng::seed_from_u64(0);
    let f = (0..n * dim).map(|_| if r.random_bool(0.05) { 1.0 } else { 0.0 }).collect();
    let l = (0..n).map(|_| r.random_range(0..classes as u32)).collect();
    let data = Dataset::new("location-like", f, l, vec![dim], classes).unwrap();
    let members: Vec<usize> = (0..1200).collect();
    let (forget, retain, reference) = ((0..120).collect::<Vec<_>>(), (120..1200).collect::<Vec<_>>(), (1200..2000).collect::<Vec<_>>());
    let cfg = NetConfig::for_family(ModelFamily::Mlp, &[dim], classes);
    let recipe = TrainConfig { epochs: 40, batch_size: 64, lr: 1e-3, seed: 0, early_stop_acc: None };
    let dev = Default::default();

    let t = Instant::now();
    let net = train(train::fresh::<B>(&cfg, 0, &dev).unwrap(), &data, &members, &recipe, "target").unwrap();
    let retrain = t.elapsed().as_secs_f64();
    println!("train 40 epochs on 1,200 rows (= retraining):      {retrain:7.3} s");

    let steps = 100;
    let run = |name: &str, c: ForsakenConfig| {
        let t = Instant::now();
        let mut st = ForsakenState::new(c, &net, &data, &forget, &retain, &reference, 0).unwrap();
        let setup = t.elapsed().as_secs_f64();
        let t = Instant::now();
        for _ in 0..steps {
            st.step(true);
        }
        let s = t.elapsed().as_secs_f64();
        println!("{name:<50} {:7.2} ms/step (setup {:.3} s)", 1e3 * s / steps as f64, setup);
        st
    };
    let w = ForsakenConfig::forsaken_w();
    let st = run("forsaken-w step", w.clone());
    run("forsaken-w step, retain batch 1 (forget term only)", ForsakenConfig { retain_batch: 1, ..w.clone() });
    run("forsaken-w step, learned optimizer", ForsakenConfig { producer: Producer::LearnedOptimizer, ..w.clone() });
    run("forsaken (neuron masks, generator) step", ForsakenConfig::default());

    // one stopping check: fold and the loss oracle's pass over D_u; the retained probe (640
    // rows) is evaluated only at checks that find a new best FR short of the target
    let inner = net.valid();
    let probe: Vec<usize> = retain.iter().copied().take(640).collect();
    let reps = 20;
    let t = Instant::now();
    for _ in 0..reps {
        let folded = fold(Granularity::Weight, inner.clone(), &st.masks()).unwrap();
        let _ = predict(&folded, &data, &forget).losses();
    }
    println!("{:<50} {:7.2} ms/check", "stopping check (fold + D_u pass)", 1e3 * t.elapsed().as_secs_f64() / reps as f64);
    let t = Instant::now();
    for _ in 0..reps {
        let _ = predict(&inner, &data, &probe).accuracy();
    }
    println!("{:<50} {:7.2} ms", "  + retained probe, when needed (640 rows)", 1e3 * t.elapsed().as_secs_f64() / reps as f64);
}
