//! Gradient-based unlearning baselines that share one small optimization loop: NegGrad,
//! NegGrad+, random labels and SalUn. Each step draws seeded batches from the forget and the
//! retained set, builds the method's loss, and takes an Adam step at the original recipe's
//! learning rate; SalUn additionally masks the gradients to its salient weights.
//!
//! * **NegGrad** (gradient ascent on D_u; e.g. Golatkar et al. 2020, Thudi et al. 2022):
//!   loss = -CE(forget batch). Knob: steps. A divergence guard stops on a non-finite loss or a
//!   forget CE above [`DIVERGENCE_CE`] and returns the last finite model, saying so.
//! * **NegGrad+** (Kurmanji et al., NeurIPS 2023): loss = beta * CE(retain) - (1 - beta) *
//!   CE(forget), beta = 0.9. Knob: steps. Same guard.
//! * **Random labels** (Graves et al., AAAI 2021, "Amnesiac ML"; "RL" in SalUn's tables):
//!   CE(forget batch relabelled with random wrong classes) + CE(retain batch). Knob: steps.
//! * **SalUn** (Fan et al., ICLR 2024): the gradient of the forget CE at the original weights
//!   gives each weight a saliency |g|; the top `fraction` (knob, default 0.5, over all weights)
//!   are trainable, the others frozen (their gradients are zeroed); then random-label training
//!   as above. Knobs: fraction and steps (the strength knob is steps).

use burn::module::AutodiffModule;
use burn::optim::{AdamConfig, GradientsParams, Optimizer};
use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::{Int, Tensor, TensorData};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use serde::{Deserialize, Serialize};

use forsaken_models::settings::{self, Knob, Method, Role, SettingError, Stronger};
use forsaken_models::train::{cross_entropy, index_tensor, to_tensors};
use forsaken_models::{ModelError, Net, SweepVisit, UnlearnOutcome, UnlearnRequest, Unlearner};

use crate::trajectory::Trajectory;

/// Forget-set cross-entropy above which ascent counts as diverged.
pub const DIVERGENCE_CE: f32 = 30.0;

/// Seeded mini-batches from one index set uploaded once.
struct Batches<B: Backend> {
    x: Tensor<B, 2>,
    y: Tensor<B, 1, Int>,
    labels: Vec<u32>,
    n: usize,
}

impl<B: Backend> Batches<B> {
    fn new(data: &forsaken_data::Dataset, idx: &[usize], device: &B::Device) -> Self {
        let (x, y) = to_tensors::<B>(data, idx, device);
        Self { x, y, labels: idx.iter().map(|&i| data.labels[i]).collect(), n: idx.len() }
    }

    fn sample(&self, bs: usize, rng: &mut ChaCha8Rng) -> Vec<usize> {
        (0..bs.min(self.n)).map(|_| rng.random_range(0..self.n)).collect()
    }

    fn take(&self, rows: &[usize]) -> (Tensor<B, 2>, Tensor<B, 1, Int>) {
        let it = index_tensor::<B>(rows, &self.x.device());
        (self.x.clone().select(0, it.clone()), self.y.clone().select(0, it))
    }

    /// Random wrong labels for the given rows.
    fn wrong_labels(&self, rows: &[usize], classes: usize, rng: &mut ChaCha8Rng) -> Tensor<B, 1, Int> {
        let v: Vec<i64> = rows
            .iter()
            .map(|&r| {
                let shift = rng.random_range(1..classes as u32);
                ((self.labels[r] + shift) % classes as u32) as i64
            })
            .collect();
        Tensor::from_data(TensorData::new(v, [rows.len()]), &self.x.device())
    }
}

/// Which loss a step uses.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Objective {
    NegGrad,
    NegGradPlus { beta: f64 },
    RandomLabels,
}

/// Per-parameter gradient masks (SalUn), on the inner backend.
struct GradMask<B: Backend> {
    masks: Vec<(burn::module::ParamId, MaskTensor<B>)>,
}

enum MaskTensor<B: Backend> {
    D1(Tensor<B, 1>),
    D2(Tensor<B, 2>),
    D4(Tensor<B, 4>),
}

impl<B: Backend> GradMask<B> {
    fn apply(&self, grads: &mut GradientsParams) {
        for (id, m) in &self.masks {
            match m {
                MaskTensor::D1(m) => mask_one::<B, 1>(grads, *id, m),
                MaskTensor::D2(m) => mask_one::<B, 2>(grads, *id, m),
                MaskTensor::D4(m) => mask_one::<B, 4>(grads, *id, m),
            }
        }
    }
}

fn mask_one<B: Backend, const D: usize>(grads: &mut GradientsParams, id: burn::module::ParamId, m: &Tensor<B, D>) {
    if let Some(g) = grads.remove::<B, D>(id) {
        grads.register::<B, D>(id, g * m.clone());
    }
}

/// SalUn's saliency mask: top `fraction` of |d CE(forget) / d w| over all weights and biases.
fn saliency_mask<B: AutodiffBackend>(net: &Net<B>, forget: &Batches<B>, fraction: f64) -> GradMask<B::InnerBackend> {
    let loss = cross_entropy(net.forward(forget.x.clone()), forget.y.clone());
    let grads = loss.backward();
    let mut flat: Vec<(MaskKind, Vec<f32>)> = Vec::new();
    for c in &net.convs {
        if let Some(g) = c.weight.grad(&grads) {
            flat.push((MaskKind::D4(c.weight.id, g.dims()), g.abs().into_data().iter::<f32>().collect()));
        }
        if let Some(b) = &c.bias {
            if let Some(g) = b.grad(&grads) {
                flat.push((MaskKind::D1(b.id, g.dims()), g.abs().into_data().iter::<f32>().collect()));
            }
        }
    }
    for l in net.dense.iter().chain(std::iter::once(&net.head)) {
        if let Some(g) = l.weight.grad(&grads) {
            flat.push((MaskKind::D2(l.weight.id, g.dims()), g.abs().into_data().iter::<f32>().collect()));
        }
        if let Some(b) = &l.bias {
            if let Some(g) = b.grad(&grads) {
                flat.push((MaskKind::D1(b.id, g.dims()), g.abs().into_data().iter::<f32>().collect()));
            }
        }
    }
    let mut all: Vec<f32> = flat.iter().flat_map(|(_, v)| v.iter().copied()).collect();
    // at least one weight stays trainable, whatever the fraction rounds to
    let keep = ((all.len() as f64 * fraction).round() as usize).clamp(1, all.len().max(1));
    all.sort_by(|a, b| b.partial_cmp(a).unwrap_or(std::cmp::Ordering::Equal));
    let threshold = all.get(keep - 1).copied().unwrap_or(0.0);
    let device = net.head.weight.device();
    let masks = flat
        .into_iter()
        .map(|(kind, v)| {
            let m: Vec<f32> = v.iter().map(|&g| if g >= threshold { 1.0 } else { 0.0 }).collect();
            match kind {
                MaskKind::D1(id, d) => (id, MaskTensor::D1(Tensor::from_data(TensorData::new(m, d), &device))),
                MaskKind::D2(id, d) => (id, MaskTensor::D2(Tensor::from_data(TensorData::new(m, d), &device))),
                MaskKind::D4(id, d) => (id, MaskTensor::D4(Tensor::from_data(TensorData::new(m, d), &device))),
            }
        })
        .collect();
    GradMask { masks }
}

enum MaskKind {
    D1(burn::module::ParamId, [usize; 1]),
    D2(burn::module::ParamId, [usize; 2]),
    D4(burn::module::ParamId, [usize; 4]),
}

/// The shared loop. Returns the model, steps run and, if the guard fired, why.
fn optimize<B: AutodiffBackend>(
    req: &UnlearnRequest<'_, B>,
    objective: Objective,
    steps: usize,
    mask: Option<&GradMask<B::InnerBackend>>,
    label: &str,
) -> Result<(Net<B>, usize, Option<String>), ModelError> {
    optimize_with(req, objective, steps, mask, label, &mut |_, _| Ok(true))
}

/// [`optimize`], calling `after_step(steps_done, &net)` after every step (stop on `false`):
/// the model after `k` steps is bit-identical to a run of `k` steps.
fn optimize_with<B: AutodiffBackend>(
    req: &UnlearnRequest<'_, B>,
    objective: Objective,
    steps: usize,
    mask: Option<&GradMask<B::InnerBackend>>,
    label: &str,
    after_step: &mut dyn FnMut(usize, &Net<B>) -> Result<bool, ModelError>,
) -> Result<(Net<B>, usize, Option<String>), ModelError> {
    if req.forget.is_empty() {
        return Err(ModelError::Request(format!("{label}: empty forget set")));
    }
    if req.train.batch_size == 0 {
        return Err(ModelError::Request(format!("{label}: batch size 0")));
    }
    let needs_retain = !matches!(objective, Objective::NegGrad);
    if needs_retain && req.retain.is_empty() {
        return Err(ModelError::Request(format!("{label}: empty retained set")));
    }
    let device = req.original.head.weight.device();
    let forget = Batches::<B>::new(req.data, req.forget, &device);
    let retain = Batches::<B>::new(req.data, if needs_retain { req.retain } else { &req.forget[..1] }, &device);
    let classes = req.original.config.num_classes;
    let mut rng = ChaCha8Rng::seed_from_u64(req.seed ^ 0x6a_d1e7);
    let mut net = req.original.clone();
    let mut optim = AdamConfig::new().init::<B, Net<B>>();
    let bs = req.train.batch_size;
    let pb = forsaken_models::progress::bar(steps as u64, label.to_string());
    for step in 0..steps {
        let frows = forget.sample(bs, &mut rng);
        let (xf, yf) = forget.take(&frows);
        let loss = match objective {
            Objective::NegGrad => cross_entropy(net.forward(xf), yf).neg(),
            Objective::NegGradPlus { beta } => {
                let (xr, yr) = retain.take(&retain.sample(bs, &mut rng));
                cross_entropy(net.forward(xr), yr) * beta - cross_entropy(net.forward(xf), yf) * (1.0 - beta)
            }
            Objective::RandomLabels => {
                let wrong = forget.wrong_labels(&frows, classes, &mut rng);
                let (xr, yr) = retain.take(&retain.sample(bs, &mut rng));
                cross_entropy(net.forward(xf), wrong) + cross_entropy(net.forward(xr), yr)
            }
        };
        let value: f32 = loss.clone().into_data().iter::<f32>().next().unwrap_or(f32::NAN);
        let ascent = matches!(objective, Objective::NegGrad | Objective::NegGradPlus { .. });
        let forget_ce = if matches!(objective, Objective::NegGrad) { -value } else { value.abs() };
        if !value.is_finite() || (ascent && forget_ce > DIVERGENCE_CE) {
            pb.finish_and_clear();
            return Ok((net, step, Some(format!("divergence guard: loss {value} at step {step}; returned the model before it"))));
        }
        let mut grads = GradientsParams::from_grads(loss.backward(), &net);
        if let Some(m) = mask {
            m.apply(&mut grads);
        }
        let next = optim.step(req.train.lr, net.clone(), grads);
        // keep the last finite model for the guard
        let probe = next.valid().forward(forget.x.clone().inner().slice([0..1]));
        if probe.into_data().iter::<f32>().any(|v: f32| !v.is_finite()) {
            pb.finish_and_clear();
            return Ok((net, step, Some(format!("divergence guard: non-finite outputs after step {step}; returned the model before it"))));
        }
        net = next;
        pb.inc(1);
        if !after_step(step + 1, &net)? {
            pb.finish_and_clear();
            return Ok((net, step + 1, None));
        }
    }
    pb.finish_and_clear();
    Ok((net, steps, None))
}

/// A strength sweep over steps along one trajectory (see [`Unlearner::sweep`]): each strength's
/// outcome is the trajectory's model at that step, bit-identical to a run of that many steps;
/// its seconds are the trajectory's time up to it, the visits excluded.
fn sweep_steps<B: AutodiffBackend>(
    req: &UnlearnRequest<'_, B>,
    strengths: &[f64],
    visit: &mut SweepVisit<'_, B>,
    objective: Objective,
    mask: Option<&GradMask<B::InnerBackend>>,
    label: &str,
    knob: &str,
) -> Result<(), ModelError> {
    let mut traj = Trajectory::new(strengths, knob, visit)?;
    let Some(last) = traj.last() else { return Ok(()) };
    let (net, steps, guard) =
        optimize_with(req, objective, last, mask, label, &mut |done, net| traj.at(done, |k| outcome(net.clone(), k, None, k as f64)))?;
    traj.ended_early(|k| outcome(net, steps, guard, k as f64))
}

fn outcome<B: AutodiffBackend>(model: Net<B>, steps: usize, guard: Option<String>, strength: f64) -> UnlearnOutcome<B> {
    UnlearnOutcome::finished(model, steps, guard.unwrap_or_else(|| format!("{steps} steps done")), strength)
}

fn steps_of(id: &str, req_strength: Option<f64>, default: usize) -> Result<usize, SettingError> {
    req_strength.map_or(Ok(default), |s| settings::count(&format!("{id}.steps"), s))
}

/// The steps knob of the gradient baselines, swept from `start` doubling six times.
const fn steps_knob(sweep: &'static [f64]) -> Knob {
    Knob { setting: Some("steps"), unit: "steps", stronger: Stronger::Up, sweep }
}

const STEPS_HELP: (&str, &str) = ("steps", "optimizer steps");

/// NegGrad: gradient ascent on the forget set (knob: steps).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NegGrad {
    /// Default steps.
    pub steps: usize,
}

impl Default for NegGrad {
    fn default() -> Self {
        Self { steps: 20 }
    }
}

impl Method for NegGrad {
    const ID: &'static str = "neggrad";
    const ABOUT: &'static str = "gradient ascent on D_u";
    const ROLE: Role = Role::Baseline;
    const KNOB: Knob = steps_knob(&[5.0, 10.0, 20.0, 40.0, 80.0, 160.0]);
    const HELP: &'static [(&'static str, &'static str)] = &[STEPS_HELP];
    fn check(&self) -> Result<(), SettingError> {
        settings::at_least("steps", self.steps, 1)
    }
    fn build<B: AutodiffBackend>(&self) -> Box<dyn Unlearner<B>> {
        Box::new(self.clone())
    }
}

impl<B: AutodiffBackend> Unlearner<B> for NegGrad {
    fn id(&self) -> &'static str {
        "neggrad"
    }
    fn strength_knob(&self) -> &'static str {
        "steps"
    }
    fn unlearn(&self, req: &UnlearnRequest<'_, B>) -> Result<UnlearnOutcome<B>, ModelError> {
        let steps = steps_of("neggrad", req.strength, self.steps)?;
        let (m, s, g) = optimize(req, Objective::NegGrad, steps, None, "neggrad (ascent on D_u)")?;
        Ok(outcome(m, s, g, steps as f64))
    }
    fn sweep(&self, req: &UnlearnRequest<'_, B>, strengths: &[f64], visit: &mut SweepVisit<'_, B>) -> Result<(), ModelError> {
        sweep_steps(req, strengths, visit, Objective::NegGrad, None, "neggrad sweep", "neggrad.steps")
    }
}

/// NegGrad+: ascent on the forget set, descent on the retained set (knob: steps).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NegGradPlus {
    /// Default steps.
    pub steps: usize,
    /// Weight of the retained loss.
    pub beta: f64,
}

impl Default for NegGradPlus {
    fn default() -> Self {
        Self { steps: 60, beta: 0.9 }
    }
}

impl Method for NegGradPlus {
    const ID: &'static str = "neggrad-plus";
    const ABOUT: &'static str = "ascent on D_u, descent on the retained set";
    const ROLE: Role = Role::Baseline;
    const KNOB: Knob = steps_knob(&[15.0, 30.0, 60.0, 120.0, 240.0, 480.0]);
    const HELP: &'static [(&'static str, &'static str)] =
        &[STEPS_HELP, ("beta", "weight of the retained loss; the forget loss gets 1 - beta")];
    fn check(&self) -> Result<(), SettingError> {
        settings::at_least("steps", self.steps, 1)?;
        settings::unit_interval("beta", self.beta)
    }
    fn build<B: AutodiffBackend>(&self) -> Box<dyn Unlearner<B>> {
        Box::new(self.clone())
    }
}

impl<B: AutodiffBackend> Unlearner<B> for NegGradPlus {
    fn id(&self) -> &'static str {
        "neggrad-plus"
    }
    fn strength_knob(&self) -> &'static str {
        "steps"
    }
    fn unlearn(&self, req: &UnlearnRequest<'_, B>) -> Result<UnlearnOutcome<B>, ModelError> {
        let steps = steps_of("neggrad-plus", req.strength, self.steps)?;
        let (m, s, g) = optimize(req, Objective::NegGradPlus { beta: self.beta }, steps, None, "neggrad+")?;
        Ok(outcome(m, s, g, steps as f64))
    }
    fn sweep(&self, req: &UnlearnRequest<'_, B>, strengths: &[f64], visit: &mut SweepVisit<'_, B>) -> Result<(), ModelError> {
        sweep_steps(req, strengths, visit, Objective::NegGradPlus { beta: self.beta }, None, "neggrad+ sweep", "neggrad-plus.steps")
    }
}

/// Random labels (Amnesiac ML): fine-tune on D_u with random wrong labels mixed with retained
/// data (knob: steps).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RandomLabels {
    /// Default steps.
    pub steps: usize,
}

impl Default for RandomLabels {
    fn default() -> Self {
        Self { steps: 60 }
    }
}

impl Method for RandomLabels {
    const ID: &'static str = "random-labels";
    const ABOUT: &'static str = "relabel D_u with random wrong classes and fine-tune (Amnesiac)";
    const ROLE: Role = Role::Baseline;
    const KNOB: Knob = steps_knob(&[15.0, 30.0, 60.0, 120.0, 240.0, 480.0]);
    const HELP: &'static [(&'static str, &'static str)] = &[STEPS_HELP];
    fn check(&self) -> Result<(), SettingError> {
        settings::at_least("steps", self.steps, 1)
    }
    fn build<B: AutodiffBackend>(&self) -> Box<dyn Unlearner<B>> {
        Box::new(self.clone())
    }
}

impl<B: AutodiffBackend> Unlearner<B> for RandomLabels {
    fn id(&self) -> &'static str {
        "random-labels"
    }
    fn strength_knob(&self) -> &'static str {
        "steps"
    }
    fn unlearn(&self, req: &UnlearnRequest<'_, B>) -> Result<UnlearnOutcome<B>, ModelError> {
        let steps = steps_of("random-labels", req.strength, self.steps)?;
        let (m, s, g) = optimize(req, Objective::RandomLabels, steps, None, "random labels")?;
        Ok(outcome(m, s, g, steps as f64))
    }
    fn sweep(&self, req: &UnlearnRequest<'_, B>, strengths: &[f64], visit: &mut SweepVisit<'_, B>) -> Result<(), ModelError> {
        sweep_steps(req, strengths, visit, Objective::RandomLabels, None, "random labels sweep", "random-labels.steps")
    }
}

/// SalUn: random-label training restricted to the most salient weights (knob: steps; the
/// saliency fraction is a setting).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SalUn {
    /// Default steps.
    pub steps: usize,
    /// Fraction of weights (by forget-gradient magnitude) that may change.
    pub fraction: f64,
}

impl Default for SalUn {
    fn default() -> Self {
        Self { steps: 60, fraction: 0.5 }
    }
}

impl Method for SalUn {
    const ID: &'static str = "salun";
    const ABOUT: &'static str = "random labels on the most salient weights only";
    const ROLE: Role = Role::Baseline;
    const KNOB: Knob = steps_knob(&[15.0, 30.0, 60.0, 120.0, 240.0, 480.0]);
    const HELP: &'static [(&'static str, &'static str)] =
        &[STEPS_HELP, ("fraction", "fraction of weights (by forget-gradient magnitude) that may change")];
    fn check(&self) -> Result<(), SettingError> {
        settings::at_least("steps", self.steps, 1)?;
        settings::fraction("fraction", self.fraction)
    }
    fn build<B: AutodiffBackend>(&self) -> Box<dyn Unlearner<B>> {
        Box::new(self.clone())
    }
}

impl<B: AutodiffBackend> Unlearner<B> for SalUn {
    fn id(&self) -> &'static str {
        "salun"
    }
    fn strength_knob(&self) -> &'static str {
        "steps"
    }
    fn unlearn(&self, req: &UnlearnRequest<'_, B>) -> Result<UnlearnOutcome<B>, ModelError> {
        let steps = steps_of("salun", req.strength, self.steps)?;
        let device = req.original.head.weight.device();
        let forget = Batches::<B>::new(req.data, req.forget, &device);
        let mask = saliency_mask(req.original, &forget, self.fraction);
        let (m, s, g) = optimize(req, Objective::RandomLabels, steps, Some(&mask), "salun (masked random labels)")?;
        Ok(outcome(m, s, g, steps as f64))
    }
    fn sweep(&self, req: &UnlearnRequest<'_, B>, strengths: &[f64], visit: &mut SweepVisit<'_, B>) -> Result<(), ModelError> {
        // the saliency mask is part of every run's time, so the sweep's clock starts before it
        let start = std::time::Instant::now();
        let device = req.original.head.weight.device();
        let forget = Batches::<B>::new(req.data, req.forget, &device);
        let mask = saliency_mask(req.original, &forget, self.fraction);
        let mask_secs = start.elapsed().as_secs_f64();
        sweep_steps(
            req,
            strengths,
            &mut |o, secs| visit(o, secs + mask_secs),
            Objective::RandomLabels,
            Some(&mask),
            "salun sweep",
            "salun.steps",
        )
    }
}
