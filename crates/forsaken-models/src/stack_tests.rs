//! The stack against the plain loop on burn's own Adam optimiser ([`train::train_reference`]):
//! one step equals each member's own step, members are independent, frozen members stay put,
//! a stack of one trains bit-identically.

use burn::backend::{Autodiff, Flex};
use burn::tensor::Tensor;
use rand::{Rng, SeedableRng};

use forsaken_data::{Dataset, ModelFamily};

use super::*;
use crate::{to_vec, train};

type B = Autodiff<Flex>;
type I = Flex;

/// Random features, 3 classes: `[2, 10, 10]` images for the CNN, 12 columns for the MLP.
fn fixture(cnn: bool, n: usize) -> (Dataset, NetConfig) {
    let mut r = ChaCha8Rng::seed_from_u64(5);
    let shape = if cnn { vec![2, 10, 10] } else { vec![12] };
    let d: usize = shape.iter().product();
    let f: Vec<f32> = (0..n * d).map(|_| r.random_range(0.0..1.0f32)).collect();
    let l: Vec<u32> = (0..n).map(|i| (i % 3) as u32).collect();
    let family = if cnn { ModelFamily::Cnn } else { ModelFamily::Mlp };
    (Dataset::new("fixture", f, l, shape.clone(), 3).unwrap(), NetConfig::for_family(family, &shape, 3))
}

fn recipe(epochs: usize, batch_size: usize, seed: u64) -> TrainConfig {
    TrainConfig { epochs, batch_size, lr: 1e-2, seed, early_stop_acc: None }
}

/// Every parameter of a network, in the stack's order.
fn weights<Bk: Backend>(net: &Net<Bk>) -> Vec<Vec<f32>> {
    member_params(net).unwrap().into_iter().map(to_vec).collect()
}

fn bits(w: &[Vec<f32>]) -> Vec<Vec<u32>> {
    w.iter().map(|t| t.iter().map(|v| v.to_bits()).collect()).collect()
}

/// Largest difference relative to the tensor's largest magnitude, over all tensors.
fn rel_diff(a: &[Vec<f32>], b: &[Vec<f32>]) -> f32 {
    a.iter()
        .zip(b)
        .map(|(x, y)| {
            let scale = x.iter().fold(f32::MIN_POSITIVE, |m, v| m.max(v.abs()));
            x.iter().zip(y).map(|(p, q)| (p - q).abs()).fold(0.0, f32::max) / scale
        })
        .fold(0.0, f32::max)
}

fn fresh(cfg: &NetConfig, seed: u64) -> Net<B> {
    train::fresh::<B>(cfg, seed, &Default::default()).unwrap()
}

/// Members 0..k, each on its own 12 rows and seed.
fn rows_of(k: usize) -> Vec<Vec<usize>> {
    (0..k).map(|m| (0..12).map(|i| (i * 7 + m * 5) % 40).collect()).collect()
}

#[test]
fn one_stacked_step_equals_each_members_own_step() {
    for cnn in [false, true] {
        let (data, cfg) = fixture(cnn, 40);
        let rows = rows_of(3);
        let recipes: Vec<TrainConfig> = (0..3).map(|m| recipe(1, 12, 20 + m as u64)).collect();
        let runs: Vec<MemberRun> = rows.iter().zip(&recipes).map(|(idx, recipe)| MemberRun { idx, recipe }).collect();
        let nets: Vec<Net<B>> = (0..3).map(|m| fresh(&cfg, 10 + m)).collect();
        // gradients of the first stacked batch against each network's own gradient
        let stack = NetStack::from_nets(&nets).unwrap();
        let device = Default::default();
        let (distinct, streams) = member_rows(data.len(), &runs);
        let (x_all, y_all) = to_tensors::<B>(&data, &distinct, &device);
        let batch = next_batch::<B>(&streams, 12, &device);
        let live: Vec<Tensor<B, 3>> = stack.params.iter().map(|p| p.clone().detach().require_grad()).collect();
        let (per, _) = stacked_loss(&cfg, &live, &x_all, &y_all, &batch, false);
        let grads = per.sum().neg().backward();
        for (m, net) in nets.iter().enumerate() {
            let order: Vec<usize> = streams[m].chunk(12).iter().map(|&i| rows[m][i]).collect();
            assert_eq!(order.len(), 12);
            let (x, y) = to_tensors::<B>(&data, &order, &device);
            let own = train::cross_entropy(net.forward(x), y).backward();
            let want = net_grads(net, &own);
            let got: Vec<Vec<f32>> = live.iter().map(|p| to_vec(p.grad(&grads).unwrap().slice([m..m + 1]))).collect();
            let d = rel_diff(&want, &got);
            assert!(d <= 1e-6, "cnn {cnn}, member {m}: gradient differs by {d}");
        }
        // the updated weights after one step
        let stacked = train_stack(nets.clone(), &data, &runs, "stack").unwrap();
        for (m, net) in nets.into_iter().enumerate() {
            let own = train::train_reference(net, &data, &rows[m], &recipes[m]);
            let d = rel_diff(&weights(&own), &weights(&stacked[m]));
            assert!(d <= 1e-6, "cnn {cnn}, member {m}: weights differ by {d}");
            assert!(rel_diff(&weights(&own), &weights(&fresh(&cfg, 10 + m as u64))) > 1e-4, "the step moved the weights");
        }
    }
}

/// A network's parameter gradients in the stack's order.
fn net_grads(net: &Net<B>, grads: &<B as AutodiffBackend>::Gradients) -> Vec<Vec<f32>> {
    let mut out = Vec::new();
    for c in &net.convs {
        out.push(to_vec(c.weight.grad(grads).unwrap()));
        out.push(to_vec(c.bias.as_ref().unwrap().grad(grads).unwrap()));
    }
    for l in net.dense.iter().chain(std::iter::once(&net.head)) {
        out.push(to_vec(l.weight.grad(grads).unwrap()));
        out.push(to_vec(l.bias.as_ref().unwrap().grad(grads).unwrap()));
    }
    out
}

#[test]
fn a_stack_of_one_trains_bit_identically_to_the_plain_loop() {
    for cnn in [false, true] {
        let (data, cfg) = fixture(cnn, 40);
        let idx: Vec<usize> = (0..20).map(|i| i * 2).collect();
        // 20 rows in batches of 7: the last batch of each epoch is short
        let r = TrainConfig { early_stop_acc: Some(0.5), ..recipe(6, 7, 3) };
        let plain = train::train_reference(fresh(&cfg, 1), &data, &idx, &r);
        assert_eq!(bits(&weights(&plain)), bits(&weights(&train(fresh(&cfg, 1), &data, &idx, &r, "stack").unwrap())), "cnn {cnn}");
    }
}

/// Stronger than the 1e-6 the stack promises, and a property of the flex kernels rather than of
/// the stack: each member's GEMMs are the ones its own network runs. So on the CPU, members of
/// one size (a shadow pool's) train bit-identically to sequential training, frozen periods
/// included. Members of different sizes get padded batches, whose GEMMs have other shapes:
/// equal to float rounding only.
#[test]
fn on_flex_a_stack_trains_like_sequential_training() {
    for (cnn, sizes) in [(false, [12, 12, 12]), (true, [12, 12, 12]), (false, [20, 17, 13]), (true, [20, 17, 13])] {
        let (data, cfg) = fixture(cnn, 40);
        let rows: Vec<Vec<usize>> = sizes.iter().map(|&n| (0..n).map(|i| (i * 3 + n) % 40).collect()).collect();
        let recipes: Vec<TrainConfig> = (0..3).map(|m| recipe(2 + m, 5, m as u64)).collect();
        let runs: Vec<MemberRun> = rows.iter().zip(&recipes).map(|(idx, recipe)| MemberRun { idx, recipe }).collect();
        let stacked = train_stack((0..3).map(|m| fresh(&cfg, m)).collect(), &data, &runs, "stack").unwrap();
        for (m, net) in stacked.iter().enumerate() {
            let own = train::train_reference(fresh(&cfg, m as u64), &data, &rows[m], &recipes[m]);
            let d = rel_diff(&weights(&own), &weights(net));
            if sizes[0] == sizes[2] {
                assert_eq!(bits(&weights(&own)), bits(&weights(net)), "cnn {cnn}, member {m}");
            } else {
                assert!(d <= 1e-5, "cnn {cnn}, member {m}: {d}");
            }
        }
    }
}

#[test]
fn members_are_independent() {
    let (data, cfg) = fixture(false, 40);
    let rows = rows_of(3);
    let recipes: Vec<TrainConfig> = (0..3).map(|m| recipe(2, 5, m as u64)).collect();
    let run = |rows: &[Vec<usize>]| {
        let runs: Vec<MemberRun> = rows.iter().zip(&recipes).map(|(idx, recipe)| MemberRun { idx, recipe }).collect();
        let nets = (0..3).map(|m| fresh(&cfg, m)).collect();
        train_stack(nets, &data, &runs, "stack").unwrap().iter().map(|n| bits(&weights(n))).collect::<Vec<_>>()
    };
    let before = run(&rows);
    let mut other = rows.clone();
    other[1] = (20..32).collect();
    let after = run(&other);
    assert_eq!(before[0], after[0]);
    assert_eq!(before[2], after[2]);
    assert_ne!(before[1], after[1], "member 1 saw other data");
}

#[test]
fn a_member_that_has_finished_leaves_the_stack_unchanged() {
    let (data, cfg) = fixture(true, 40);
    let rows = rows_of(2);
    let train_for = |epochs_of_1: usize| {
        let recipes = [recipe(1, 5, 0), recipe(epochs_of_1, 5, 1)];
        let runs: Vec<MemberRun> = rows.iter().zip(&recipes).map(|(idx, recipe)| MemberRun { idx, recipe }).collect();
        let out = train_stack(vec![fresh(&cfg, 0), fresh(&cfg, 1)], &data, &runs, "stack").unwrap();
        out.iter().map(|n| bits(&weights(n))).collect::<Vec<_>>()
    };
    let (short, long) = (train_for(1), train_for(4));
    // member 0 ran one epoch in both; in the second stack the other trained on for three more
    assert_eq!(short[0], long[0]);
    assert_ne!(short[1], long[1]);
}

#[test]
fn stacking_and_splitting_round_trip_and_the_stack_computes_each_members_logits_and_members_fold_masks() {
    for cnn in [false, true] {
        let (data, cfg) = fixture(cnn, 8);
        let dev = Default::default();
        let nets: Vec<Net<I>> = (0..3).map(|m| train::fresh::<I>(&cfg, m, &dev).unwrap()).collect();
        let stack = NetStack::from_nets(&nets).unwrap();
        assert_eq!(stack.members(), 3);
        let x = to_tensors::<I>(&data, &(0..8).collect::<Vec<_>>(), &dev).0;
        let stacked = stack.forward(Tensor::stack(vec![x.clone(); 3], 0));
        let back = stack.into_nets();
        for (m, (a, b)) in nets.iter().zip(&back).enumerate() {
            assert_eq!(a.config, b.config);
            assert_eq!(bits(&weights(a)), bits(&weights(b)));
            // a member is an ordinary network: masks fold into it as into the original
            let masks: Vec<Vec<f32>> = cfg.mask_sizes().iter().map(|&n| (0..n).map(|i| (i % 3) as f32 / 2.0).collect()).collect();
            let folded = |net: &Net<I>| weights(&net.clone().fold_neuron_masks(&masks).unwrap());
            assert_eq!(bits(&folded(a)), bits(&folded(b)));
            let own = vec![to_vec(a.forward(x.clone()))];
            let d = rel_diff(&own, &[to_vec(stacked.clone().slice([m..m + 1]))]);
            assert!(d <= 1e-6, "cnn {cnn}: member {m}'s logits differ by {d}");
        }
    }
}

#[test]
fn stacks_refuse_mixed_architectures_and_recipes() {
    let (data, cfg) = fixture(false, 20);
    let other = NetConfig { hidden: vec![8], ..cfg.clone() };
    assert!(NetStack::from_nets(&[fresh(&cfg, 0), fresh(&other, 0)]).is_err());
    let idx: Vec<usize> = (0..10).collect();
    let (a, b) = (recipe(1, 5, 0), recipe(1, 4, 0));
    let runs = [MemberRun { idx: &idx, recipe: &a }, MemberRun { idx: &idx, recipe: &b }];
    let err = train_stack(vec![fresh(&cfg, 0), fresh(&cfg, 1)], &data, &runs, "stack").unwrap_err();
    assert!(err.to_string().contains("one batch size and learning rate"), "{err}");
}
