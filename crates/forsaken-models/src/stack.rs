//! A stack of K independent networks of one architecture, trained as one batched model.
//!
//! Shadow pools, SISA's shards and the audit's retrained populations train many small
//! networks of one recipe. Stacked, every operation is K times larger for the same number of
//! operations: what a GPU needs (one kernel per operation instead of K). On the 2-core CPU this
//! was built on, a step is bound by per-element work rather than by per-operation overhead, and
//! `cargo xtask bench stack` measured stacked training at 1.0x to 1.1x of sequential.
//!
//! **Layout.** Every parameter is one rank-3 tensor `[K, rows, cols]`, member `k` in block `k`:
//! a dense weight `[K, d_in, d_out]` (batched matmul), a bias `[K, 1, d_out]`, a conv kernel
//! `[K, out, in * 3 * 3]`, which is the kernel of one grouped convolution with `K` groups
//! (`[K * out, in, 3, 3]`): member `k`'s inputs are channel group `k` of a `[n, K * in, H, W]`
//! batch, so the patched flex kernels run each member's GEMMs exactly as for one network.
//!
//! **Training** ([`train_stack`]). Each member reads its own mini-batch stream (its own rows,
//! shuffled by its own recipe seed exactly as [`crate::train()`] shuffles) and the loss is the
//! sum of the members' mean cross-entropies, so each member's gradient is its own network's
//! gradient. Adam is elementwise, so one Adam state per stacked parameter equals K separate
//! optimisers (all members in the stack step together, so they share the step count). A member
//! that has run its epochs (or reached its early-stop accuracy, or was stopped by the epoch
//! hook) leaves the stack with its weights as they are, and the stack shrinks: the others train
//! on without computing it. Members never interact. Members of different sizes meet short
//! batches at different steps; those are padded with rows of weight 0.
//!
//! This is the one training loop: [`crate::train()`] is a stack of one. Equal to the plain
//! loop on burn's own Adam optimiser, as the tests check: one stacked step equals each member's
//! own step to float tolerance, a stack of one trains bit-identically to that loop, and so do
//! members of one size on flex (each member's GEMMs are the ones its own network runs; members
//! of other sizes get zero-weighted padding rows, equal to rounding).

use burn::module::Param;
use burn::tensor::activation::{log_softmax, relu, tanh};
use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::module::conv2d;
use burn::tensor::ops::ConvOptions;
use burn::tensor::{Int, Tensor, TensorData};
use std::mem::take;

use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use forsaken_data::Dataset;

use crate::net::{Activation, Net, NetConfig};
use crate::train::{check_inputs, index_tensor, shuffle_seed, to_tensors, TrainConfig};
use crate::{progress, ModelError};

/// K networks of one architecture as one model (see the module docs for the layout).
#[derive(Debug, Clone)]
pub struct NetStack<B: Backend> {
    config: NetConfig,
    /// Per layer, weight then bias: the convs, the hidden dense layers, the head.
    params: Vec<Tensor<B, 3>>,
}

/// A net's parameters as `[1, rows, cols]` blocks, in the stack's order.
fn member_params<B: Backend>(net: &Net<B>) -> Result<Vec<Tensor<B, 3>>, ModelError> {
    let no_bias = || ModelError::Shape("a stack needs networks with biases (as NetConfig builds them)".into());
    let mut out = Vec::new();
    for c in &net.convs {
        let [o, i, kh, kw] = c.weight.dims();
        out.push(c.weight.val().reshape([1, o, i * kh * kw]));
        out.push(c.bias.as_ref().ok_or_else(no_bias)?.val().reshape([1, 1, o]));
    }
    for l in net.dense.iter().chain(std::iter::once(&net.head)) {
        let [i, o] = l.weight.dims();
        out.push(l.weight.val().reshape([1, i, o]));
        out.push(l.bias.as_ref().ok_or_else(no_bias)?.val().reshape([1, 1, o]));
    }
    Ok(out)
}

impl<B: Backend> NetStack<B> {
    /// Stack networks of one architecture (member `k` = `nets[k]`).
    pub fn from_nets(nets: &[Net<B>]) -> Result<Self, ModelError> {
        let first = nets.first().ok_or_else(|| ModelError::Request("a stack needs at least one network".into()))?;
        if let Some(k) = nets.iter().position(|n| n.config != first.config) {
            return Err(ModelError::Shape(format!("member {k} of a stack has another architecture than member 0")));
        }
        let blocks = nets.iter().map(member_params).collect::<Result<Vec<_>, _>>()?;
        let params = (0..blocks[0].len()).map(|i| Tensor::cat(blocks.iter().map(|b| b[i].clone()).collect(), 0)).collect();
        Ok(Self { config: first.config.clone(), params })
    }

    /// Number of members K.
    pub fn members(&self) -> usize {
        self.params[0].dims()[0]
    }

    /// The members' architecture.
    pub fn config(&self) -> &NetConfig {
        &self.config
    }

    /// Member `k` as an ordinary network (a copy of its weights).
    pub fn member(&self, k: usize) -> Net<B> {
        let device = self.params[0].device();
        let mut net = self.config.init::<B>(&device).expect("a stack's architecture was valid when stacked");
        // `init` only declares lazy parameters; replacing them draws nothing from burn's RNG
        let block = |i: usize| self.params[i].clone().slice([k..k + 1]).detach();
        let nconv = net.convs.len();
        for (j, c) in net.convs.iter_mut().enumerate() {
            let dims = c.weight.dims();
            c.weight = Param::from_tensor(block(2 * j).reshape(dims));
            c.bias = Some(Param::from_tensor(block(2 * j + 1).reshape([dims[0]])));
        }
        for (j, l) in net.dense.iter_mut().chain(std::iter::once(&mut net.head)).enumerate() {
            let dims = l.weight.dims();
            l.weight = Param::from_tensor(block(2 * (nconv + j)).reshape(dims));
            l.bias = Some(Param::from_tensor(block(2 * (nconv + j) + 1).reshape([dims[1]])));
        }
        net
    }

    /// Every member as an ordinary network.
    pub fn into_nets(self) -> Vec<Net<B>> {
        (0..self.members()).map(|k| self.member(k)).collect()
    }

    /// Logits `[K, n, classes]` of each member `k` on its own inputs `x[k]` (`[K, n, dim]`).
    pub fn forward(&self, x: Tensor<B, 3>) -> Tensor<B, 3> {
        forward_with(&self.config, &self.params, x)
    }
}

/// The stacked forward pass on the parameters `p` (see the module docs).
fn forward_with<B: Backend>(config: &NetConfig, p: &[Tensor<B, 3>], x: Tensor<B, 3>) -> Tensor<B, 3> {
    let [k, n, _] = x.dims();
    let nconv = config.conv_channels.len();
    let mut h = x;
    if nconv > 0 {
        let s = &config.input_shape;
        // [K, n, C*H*W] -> [n, K*C, H, W]: member k's channels are group k
        let mut t: Tensor<B, 4> = h.reshape([k, n, s[0], s[1] * s[2]]).swap_dims(0, 1).reshape([n, k * s[0], s[1], s[2]]);
        let pool = |t: Tensor<B, 4>| burn::tensor::module::max_pool2d(t, [2, 2], [2, 2], [0, 0], [1, 1], false);
        for j in 0..nconv {
            let [_, out, fan] = p[2 * j].dims();
            // NetConfig's convs: 3x3, stride 1, no padding, no dilation
            let w = p[2 * j].clone().reshape([k * out, fan / 9, 3, 3]);
            let b = p[2 * j + 1].clone().reshape([k * out]);
            t = pool(relu(conv2d(t, w, Some(b), ConvOptions::new([1, 1], [0, 0], [1, 1], k))));
        }
        let [_, kc, hh, ww] = t.dims();
        h = t.reshape([n, k, kc / k * hh * ww]).swap_dims(0, 1);
    }
    let dense = |h: Tensor<B, 3>, j: usize| h.matmul(p[2 * j].clone()) + p[2 * j + 1].clone();
    for j in nconv..nconv + config.hidden.len() {
        h = match config.activation {
            Activation::Tanh => tanh(dense(h, j)),
            Activation::Relu => relu(dense(h, j)),
        };
    }
    dense(h, nconv + config.hidden.len())
}

/// What one member of a stack trains on: its rows of the dataset and its recipe (its own
/// epochs, shuffling seed and early stop; batch size and learning rate are the stack's).
#[derive(Debug, Clone, Copy)]
pub struct MemberRun<'a> {
    /// Dataset rows this member trains on.
    pub idx: &'a [usize],
    /// This member's recipe.
    pub recipe: &'a TrainConfig,
}

/// Adam's constants: burn's `AdamConfig` defaults (what the training loop used before stacks).
const BETA_1: f32 = 0.9;
const BETA_2: f32 = 0.999;
const EPSILON: f32 = 1e-5;

/// The stacked parameters with one Adam state each, updated as burn's `Adam` computes it,
/// operation for operation, so that each member's update is bit-identical to its own
/// optimiser's. Every member in the stack steps at every step (finished members leave it), so
/// one step count serves them all.
struct StackAdam<B: Backend> {
    params: Vec<Tensor<B, 3>>,
    moment_1: Vec<Tensor<B, 3>>,
    moment_2: Vec<Tensor<B, 3>>,
    time: i32,
}

impl<B: Backend> StackAdam<B> {
    fn new(params: Vec<Tensor<B, 3>>) -> Self {
        let zeros = || params.iter().map(|p| p.zeros_like()).collect();
        Self { moment_1: zeros(), moment_2: zeros(), params, time: 0 }
    }

    fn step(&mut self, lr: f64, grads: Vec<Tensor<B, 3>>) {
        self.time += 1;
        let bias_correction2_sqrt = (1.0 - BETA_2.powi(self.time)).sqrt();
        let factor = bias_correction2_sqrt / (1.0 - BETA_1.powi(self.time));
        // moved out, not cloned: flex updates a tensor nobody else holds in place
        let (params, moment_1, moment_2) = (take(&mut self.params), take(&mut self.moment_1), take(&mut self.moment_2));
        for (((w, m), v), g) in params.into_iter().zip(moment_1).zip(moment_2).zip(grads) {
            let m = m.mul_scalar(BETA_1).add(g.clone().mul_scalar(1.0 - BETA_1));
            let v = v.mul_scalar(BETA_2).add(g.square().mul_scalar(1.0 - BETA_2));
            let update = m.clone().mul_scalar(factor).div(v.clone().sqrt().add_scalar(EPSILON * bias_correction2_sqrt));
            self.params.push(w - update.mul_scalar(lr));
            self.moment_1.push(m);
            self.moment_2.push(v);
        }
    }

    /// Keep the stack positions `keep` (in order) of every parameter and moment.
    fn keep(&mut self, keep: &[usize]) {
        let idx = index_tensor::<B>(keep, &self.params[0].device());
        for t in self.params.iter_mut().chain(&mut self.moment_1).chain(&mut self.moment_2) {
            *t = t.clone().select(0, idx.clone());
        }
    }
}

/// One member's mini-batch stream: the plain loop's shuffles, epoch after epoch.
struct Stream {
    /// The member this is, in the caller's order.
    member: usize,
    rng: ChaCha8Rng,
    /// This member's samples as rows of the stack's uploaded tensor, in the member's order.
    rows: Vec<usize>,
    order: Vec<usize>,
    pos: usize,
    epoch: usize,
    correct: usize,
    done: bool,
}

impl Stream {
    fn new(member: usize, rows: Vec<usize>, recipe: &TrainConfig) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(shuffle_seed(recipe));
        let mut order: Vec<usize> = (0..rows.len()).collect();
        order.shuffle(&mut rng);
        Self { member, rng, rows, order, pos: 0, epoch: 0, correct: 0, done: false }
    }

    fn chunk(&self, bs: usize) -> &[usize] {
        &self.order[self.pos..(self.pos + bs).min(self.order.len())]
    }

    /// Move past the chunk just trained on (`hits` of it classified right before the step).
    /// Returns the number of epochs done when this step ended an epoch without reaching the
    /// early-stop accuracy: the moment the plain loop calls its epoch hook.
    fn advance(&mut self, bs: usize, hits: usize, recipe: &TrainConfig) -> Option<usize> {
        self.pos += self.chunk(bs).len();
        self.correct += hits;
        if self.pos < self.order.len() {
            return None;
        }
        let n = self.order.len();
        self.epoch += 1;
        if recipe.early_stop_acc.is_some_and(|a| self.correct as f64 >= a * n as f64) {
            self.done = true;
            return None;
        }
        if self.epoch == recipe.epochs {
            self.done = true;
        } else {
            self.order.shuffle(&mut self.rng);
            self.pos = 0;
            self.correct = 0;
        }
        Some(self.epoch)
    }
}

/// The distinct samples of all members, in first-seen order, and each member's stream over
/// its samples' positions among them.
fn member_rows(n: usize, runs: &[MemberRun<'_>]) -> (Vec<usize>, Vec<Stream>) {
    let mut slot = vec![usize::MAX; n];
    let mut distinct = Vec::new();
    let streams = runs
        .iter()
        .enumerate()
        .map(|(k, r)| {
            let rows = r
                .idx
                .iter()
                .map(|&i| {
                    if slot[i] == usize::MAX {
                        slot[i] = distinct.len();
                        distinct.push(i);
                    }
                    slot[i]
                })
                .collect();
            Stream::new(k, rows, r.recipe)
        })
        .collect();
    (distinct, streams)
}

/// One stacked mini-batch: each member's rows (padded to the longest chunk with weight 0),
/// the per-row loss weights `1 / chunk length`, and the chunk lengths.
struct Batch<B: Backend> {
    rows: Tensor<B, 1, Int>,
    weights: Tensor<B, 2>,
    lens: Vec<usize>,
    width: usize,
}

fn next_batch<B: Backend>(streams: &[Stream], bs: usize, device: &B::Device) -> Batch<B> {
    let lens: Vec<usize> = streams.iter().map(|s| s.chunk(bs).len()).collect();
    let width = lens.iter().copied().max().unwrap_or(0);
    let (mut rows, mut weights) = (Vec::with_capacity(streams.len() * width), Vec::with_capacity(streams.len() * width));
    for s in streams {
        let chunk = s.chunk(bs);
        // the plain loop's mean: the same f64 reciprocal, rounded once to f32
        let w = (1.0 / chunk.len().max(1) as f64) as f32;
        for i in 0..width {
            rows.push(s.rows[chunk.get(i).copied().unwrap_or(0)]);
            weights.push(if i < chunk.len() { w } else { 0.0 });
        }
    }
    let k = streams.len();
    Batch { rows: index_tensor(&rows, device), weights: Tensor::from_data(TensorData::new(weights, [k * width, 1]), device), lens, width }
}

/// Train each member `k` of `nets` on `runs[k]` as one stack (see the module docs). Returns the
/// trained networks in order. Fails like [`crate::train()`]: on a non-finite loss, on empty or
/// mismatched data, and when members do not share a batch size and learning rate.
pub fn train_stack<B: AutodiffBackend>(
    nets: Vec<Net<B>>,
    data: &Dataset,
    runs: &[MemberRun<'_>],
    label: &str,
) -> Result<Vec<Net<B>>, ModelError> {
    train_stack_with(nets, data, runs, label, &mut |_, _, _| Ok(true))
}

/// The training loop ([`train_stack`], and [`crate::train_with`] as a stack of one), calling
/// `after_epoch(member, epochs_done, &net)` after each epoch of each member that did not reach
/// its early-stop accuracy; a member stops (leaves the stack) when it returns `false`.
pub fn train_stack_with<B: AutodiffBackend>(
    nets: Vec<Net<B>>,
    data: &Dataset,
    runs: &[MemberRun<'_>],
    label: &str,
    after_epoch: &mut dyn FnMut(usize, usize, &Net<B>) -> Result<bool, ModelError>,
) -> Result<Vec<Net<B>>, ModelError> {
    if runs.is_empty() && nets.is_empty() {
        return Ok(nets);
    }
    let (bs, lr) = check_runs(&nets, data, runs, label)?;
    let config = nets[0].config.clone();
    let device = nets[0].head.weight.device();
    let mut adam = StackAdam::new(NetStack::from_nets(&nets)?.params.into_iter().map(|p| p.inner()).collect());
    drop(nets);
    // every distinct sample is uploaded once (shadow halves overlap), members index into it
    let (distinct, mut streams) = member_rows(data.len(), runs);
    let (x_all, y_all) = to_tensors::<B>(data, &distinct, &device);
    let total = runs.iter().map(|r| r.recipe.epochs * r.idx.len().div_ceil(bs)).max().unwrap_or(0);
    let pb = progress::bar(total as u64, label.to_string());
    let count_hits = runs.iter().any(|r| r.recipe.early_stop_acc.is_some());
    let mut trained: Vec<Option<Net<B>>> = runs.iter().map(|_| None).collect();
    let mut step = 0;
    while !streams.is_empty() {
        let batch = next_batch::<B>(&streams, bs, &device);
        let live: Vec<Tensor<B, 3>> = adam.params.iter().map(|p| Tensor::from_inner(p.clone()).require_grad()).collect();
        let (per_member, hits) = stacked_loss(&config, &live, &x_all, &y_all, &batch, count_hits);
        if step % 50 == 0 {
            let losses: Vec<f32> = per_member.clone().inner().into_data().iter::<f32>().collect();
            if let Some((j, &l)) = losses.iter().enumerate().find(|(_, l)| !l.is_finite()) {
                pb.finish_and_clear();
                return Err(ModelError::Diverged { loss: -l, step, context: who(label, runs.len(), streams[j].member) });
            }
        }
        let grads = per_member.sum().neg().backward();
        let g = live.iter().zip(&adam.params).map(|(p, old)| p.grad(&grads).unwrap_or_else(|| old.zeros_like())).collect();
        drop((live, grads));
        adam.step(lr, g);
        // the members as networks: built only at an epoch's end or when one leaves, not per step
        let snapshot = || NetStack { config: config.clone(), params: adam.params.iter().map(|p| Tensor::from_inner(p.clone())).collect() };
        let mut stack: Option<NetStack<B>> = None;
        for (j, s) in streams.iter_mut().enumerate() {
            let h = hits.as_ref().map_or(0, |h| h[j * batch.width..j * batch.width + batch.lens[j]].iter().filter(|&&x| x).count());
            if let Some(epochs) = s.advance(bs, h, runs[s.member].recipe) {
                let net = stack.get_or_insert_with(snapshot).member(j);
                s.done |= !after_epoch(s.member, epochs, &net)?;
            }
        }
        step += 1;
        pb.inc(1);
        // finished members leave the stack as they are
        if streams.iter().any(|s| s.done) {
            let stack = stack.get_or_insert_with(snapshot);
            streams.iter().enumerate().filter(|(_, s)| s.done).for_each(|(j, s)| trained[s.member] = Some(stack.member(j)));
            adam.keep(&(0..streams.len()).filter(|&j| !streams[j].done).collect::<Vec<_>>());
            streams.retain(|s| !s.done);
        }
    }
    pb.finish_and_clear();
    let trained: Vec<Net<B>> = trained.into_iter().map(|n| n.expect("every member leaves the stack once")).collect();
    for (k, (net, r)) in trained.iter().zip(runs).enumerate() {
        crate::train::check_finite(net, data, r.idx, step, &who(label, runs.len(), k))?;
    }
    Ok(trained)
}

/// What a stack refuses: as many networks as runs, one batch size and learning rate, each
/// run's recipe and data valid for its network. Returns the batch size and learning rate.
fn check_runs<B: Backend>(nets: &[Net<B>], data: &Dataset, runs: &[MemberRun<'_>], label: &str) -> Result<(usize, f64), ModelError> {
    let (Some(first), true) = (runs.first(), nets.len() == runs.len()) else {
        return Err(ModelError::Request(format!("{label}: {} networks for {} member runs", nets.len(), runs.len())));
    };
    let (bs, lr) = (first.recipe.batch_size, first.recipe.lr);
    for (k, (net, r)) in nets.iter().zip(runs).enumerate() {
        if r.recipe.batch_size != bs || r.recipe.lr != lr {
            return Err(ModelError::Request(format!(
                "{label}: a stack trains one batch size and learning rate; member {k} has {} and {}, member 0 {bs} and {lr}",
                r.recipe.batch_size, r.recipe.lr
            )));
        }
        r.recipe.check()?;
        check_inputs(net, data, r.idx, r.recipe, &who(label, runs.len(), k))?;
    }
    Ok((bs, lr))
}

/// A member's name in messages: the stack's label, and the member's index when there are several.
fn who(label: &str, members: usize, k: usize) -> String {
    if members == 1 {
        label.to_string()
    } else {
        format!("{label}, member {k}")
    }
}

/// Each member's weighted sum of log-likelihoods `[K, 1]` (its mean over its real rows; the
/// caller negates it), and, when asked, which rows were classified right. The loss runs on the
/// `[K * width, classes]` rows, as the plain loop's 2D cross-entropy does (also its faster path).
fn stacked_loss<B: Backend>(
    config: &NetConfig,
    params: &[Tensor<B, 3>],
    x_all: &Tensor<B, 2>,
    y_all: &Tensor<B, 1, Int>,
    batch: &Batch<B>,
    count_hits: bool,
) -> (Tensor<B, 2>, Option<Vec<bool>>) {
    let (k, n) = (batch.lens.len(), batch.lens.len() * batch.width);
    let x = x_all.clone().select(0, batch.rows.clone());
    let d = x.dims()[1];
    let y = y_all.clone().select(0, batch.rows.clone()).reshape([n, 1]);
    let logits = forward_with(config, params, x.reshape([k, batch.width, d])).reshape([n, config.num_classes]);
    let hits = count_hits.then(|| logits.clone().argmax(1).equal(y.clone()).into_data().iter::<bool>().collect());
    let logp = log_softmax(logits, 1).gather(1, y);
    ((logp * batch.weights.clone()).reshape([k, batch.width]).sum_dim(1), hits)
}

#[cfg(test)]
#[path = "stack_tests.rs"]
mod tests;
