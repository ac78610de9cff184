//! Speed benchmarks (speed targets live here, never in tests), one binary so that burn's
//! backend-generic code is compiled once for them:
//!
//! * `cnn_step`: a training step of the image CNN of docs/protocol.md ("Models and training") and
//!   each of its layers, forward and backward, MNIST- and CIFAR-shaped (what the image sets of the
//!   full reproduction cost);
//! * `forsaken_w`: Forsaken-W's mask step, its retain term and its stopping checks against
//!   retraining on Location-shaped data.
//!
//! `cargo xtask bench [cnn_step] [forsaken_w] [stack]`, or `cargo bench -p forsaken-mask --bench
//! speed -- [cnn_step] [forsaken_w] [stack] [BATCH] [mnist|cifar] [mlp|cnn]` (add `--profile dev`
//! for the profile the quick suite is timed in). All three by default.

mod cnn_step;
mod forsaken_w;
mod stack;

fn main() {
    forsaken_models::tune_allocator();
    forsaken_models::progress::set_quiet(true);
    // `cargo bench` passes `--bench`; everything else is ours
    let args: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with("--")).collect();
    let named = |n: &str| args.iter().any(|a| a == n);
    let all = !named("cnn_step") && !named("forsaken_w") && !named("stack");
    if all || named("cnn_step") {
        println!("== cnn_step");
        cnn_step::run(&args);
    }
    if all || named("forsaken_w") {
        println!("== forsaken_w");
        forsaken_w::run();
    }
    if all || named("stack") {
        println!("== stack");
        stack::run(&args);
    }
}
