//! The Forsaken unlearning loop (see the crate docs and docs/method.md, "Forsaken" and "Stopping
//! rule and best checkpoint").

use std::collections::BTreeMap;
use std::time::Instant;

use burn::module::{AutodiffModule, Module};
use burn::nn::{Linear, LinearConfig};
use burn::optim::adaptor::OptimizerAdaptor;
use burn::optim::{Adam, AdamConfig, GradientsParams, Optimizer};
use burn::tensor::activation::{log_softmax, softmax, tanh};
use burn::tensor::backend::AutodiffBackend;
use burn::tensor::{Int, Tensor, TensorData};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use forsaken_data::Dataset;
use forsaken_metrics::{ForgettingRate, FrCounts};
use forsaken_models::net::reinit_linear;
use forsaken_models::settings::{self, Knob, Method, Role, SettingError, Stronger};
use forsaken_models::train::{cross_entropy, index_tensor, to_tensors};
use forsaken_models::{predict, ModelError, Net, TracePoint, UnlearnOutcome, UnlearnRequest, Unlearned, Unlearner};

use crate::Generator;

/// What a mask covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Granularity {
    /// One mask per hidden unit / conv channel, folded into the next layer (the paper's).
    #[default]
    Neuron,
    /// One mask per weight of every dense matrix (head included) and every conv kernel weight,
    /// folded as `W <- W * M` (docs/method.md, "Forsaken-W").
    Weight,
}

/// What produces the mask update.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Producer {
    /// The spec's mask-gradient generator: 2C features -> one gradient per mask, trained by
    /// backpropagation through `m' = m - eta * g` (docs/method.md, "Forsaken").
    #[default]
    Generator,
    /// A coordinate-wise learned optimizer: a shared MLP (width 8) maps each mask's features
    /// (its normalized loss gradient and `m - 1`) to its step, trained through the update like
    /// the generator (docs/method.md, "Forsaken-W", options).
    LearnedOptimizer,
    /// Adam on dL/dM directly, learning rate `adam_lr` (the default of docs/method.md,
    /// "Forsaken-W").
    Adam,
}

/// The term that protects the retained data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum RetainTerm {
    /// Cross-entropy on the retained labels (docs/method.md, "Forsaken").
    #[default]
    Ce,
    /// KL(original softmax || masked softmax): keep the retained samples' original outputs,
    /// their memorized confidence included (docs/method.md, "Forsaken-W").
    KlToOriginal,
}

/// What the sparsity penalty reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Penalty {
    /// mean |g| of the produced mask gradient (docs/method.md, "Forsaken").
    #[default]
    MaskGradient,
    /// mean |M - 1|: distance of the masks from the identity (docs/method.md, "Forsaken-W").
    MaskDistance,
}

/// Hyper-parameters of the masking family. `Default` is `forsaken` (docs/method.md, "Forsaken");
/// [`ForsakenConfig::forsaken_w`] is `forsaken-w` (docs/method.md, "Forsaken-W").
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ForsakenConfig {
    /// Neuron or per-weight masks.
    #[serde(default)]
    pub granularity: Granularity,
    /// Generator, learned optimizer or Adam.
    #[serde(default)]
    pub producer: Producer,
    /// Retained-data term.
    #[serde(default)]
    pub retain_term: RetainTerm,
    /// Sparsity penalty.
    #[serde(default)]
    pub penalty: Penalty,
    /// Cycle the retain term over every retained row, reshuffled each pass (docs/method.md,
    /// "Forsaken-W"); `false`: `retain_batches` fixed batches drawn once and used in turn
    /// (docs/method.md, "Forsaken").
    #[serde(default)]
    pub retain_cycle: bool,
    /// Mask step size `eta` in `m' = m - eta * g` (generator and learned optimizer).
    pub eta: f64,
    /// Weight of the sparsity penalty.
    pub lambda: f64,
    /// Weight of the retained-data term.
    pub alpha: f64,
    /// Adam learning rate of the generator / learned optimizer.
    pub generator_lr: f64,
    /// Hidden width of the generator (the learned optimizer's is 8).
    pub generator_width: usize,
    /// Learning rate of the Adam producer.
    #[serde(default = "default_adam_lr")]
    pub adam_lr: f64,
    /// Forget batch size.
    pub forget_batch: usize,
    /// Number of fixed retain batches drawn once and used in turn (when not cycling); also
    /// sets the size of the retained probe used to pick the best checkpoint.
    pub retain_batches: usize,
    /// Retain batch size.
    pub retain_batch: usize,
    /// Step cap.
    pub max_steps: usize,
    /// Stopping-oracle check interval.
    pub check_every: usize,
    /// Pull towards the uniform distribution instead of the class profiles `p_ref`.
    pub uniform_target: bool,
}

fn default_adam_lr() -> f64 {
    1e-2
}

impl Default for ForsakenConfig {
    fn default() -> Self {
        Self {
            granularity: Granularity::Neuron,
            producer: Producer::Generator,
            retain_term: RetainTerm::Ce,
            penalty: Penalty::MaskGradient,
            retain_cycle: false,
            eta: 0.01,
            lambda: 0.01,
            alpha: 1.0,
            generator_lr: 1e-3,
            generator_width: 64,
            adam_lr: 1e-2,
            forget_batch: 64,
            retain_batches: 10,
            retain_batch: 64,
            max_steps: 500,
            check_every: 10,
            uniform_target: false,
        }
    }
}

impl ForsakenConfig {
    /// `forsaken-w` (docs/method.md, "Forsaken-W"): per-weight masks, Adam (lr 1e-2) on dL/dM, the
    /// retain term KL to the original outputs with alpha = 100 cycling over every retained row,
    /// lambda = 0.01 on mean |M - 1|, batches of 64.
    pub fn forsaken_w() -> Self {
        Self {
            granularity: Granularity::Weight,
            producer: Producer::Adam,
            retain_term: RetainTerm::KlToOriginal,
            penalty: Penalty::MaskDistance,
            retain_cycle: true,
            alpha: 100.0,
            lambda: 0.01,
            adam_lr: 1e-2,
            ..Self::default()
        }
    }
}

impl ForsakenConfig {
    /// Check every range (steps, batches and widths >= 1, rates finite and > 0, weights >= 0).
    pub fn check(&self) -> Result<(), SettingError> {
        for (name, v) in [
            ("generator_width", self.generator_width),
            ("forget_batch", self.forget_batch),
            ("retain_batches", self.retain_batches),
            ("retain_batch", self.retain_batch),
            ("max_steps", self.max_steps),
            ("check_every", self.check_every),
        ] {
            settings::at_least(name, v, 1)?;
        }
        settings::non_negative("eta", self.eta, true)?;
        settings::non_negative("lambda", self.lambda, false)?;
        settings::non_negative("alpha", self.alpha, false)?;
        settings::learning_rate("generator_lr", self.generator_lr)?;
        settings::learning_rate("adam_lr", self.adam_lr)
    }
}

/// One line of help per setting of the masking family (the command line's flags).
const HELP: &[(&str, &str)] = &[
    ("granularity", "mask granularity: neuron (one per hidden unit / channel) or weight (one per weight)"),
    ("producer", "what produces the mask update: generator, learned-optimizer or adam"),
    ("retain_term", "retained-data term: ce (cross-entropy) or kl-to-original"),
    ("penalty", "sparsity penalty: mask-gradient (mean |g|) or mask-distance (mean |M - 1|)"),
    ("retain_cycle", "cycle the retain term over every retained row, reshuffled each pass"),
    ("eta", "mask step size eta in m' = m - eta * g (generator, learned optimizer)"),
    ("lambda", "weight of the sparsity penalty"),
    ("alpha", "weight of the retained-data term"),
    ("generator_lr", "Adam learning rate of the generator / learned optimizer"),
    ("generator_width", "hidden width of the generator"),
    ("adam_lr", "learning rate of the Adam producer"),
    ("forget_batch", "forget batch size"),
    ("retain_batches", "fixed retain batches used in turn (when not cycling); also sizes the retained probe"),
    ("retain_batch", "retain batch size"),
    ("max_steps", "step cap"),
    ("check_every", "stopping-oracle check interval, in steps"),
    ("uniform_target", "pull D_u towards the uniform distribution instead of the class profiles p_ref"),
];

/// The masking family stops on the run's target FR (no knob setting of its own).
const KNOB: Knob = Knob { setting: None, unit: "target FR", stronger: Stronger::Up, sweep: &[] };

/// A named member of the masking family for the registry: its settings are a [`ForsakenConfig`]
/// with that member's defaults.
macro_rules! masking_method {
    ($(#[$doc:meta])* $name:ident, $id:literal, $about:literal, $defaults:expr, $build:path) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub ForsakenConfig);

        impl Default for $name {
            fn default() -> Self {
                Self($defaults)
            }
        }

        impl Method for $name {
            const ID: &'static str = $id;
            const ABOUT: &'static str = $about;
            const ROLE: Role = Role::Masking;
            const KNOB: Knob = KNOB;
            const HELP: &'static [(&'static str, &'static str)] = HELP;
            fn check(&self) -> Result<(), SettingError> {
                self.0.check()
            }
            fn build<B: AutodiffBackend>(&self) -> Box<dyn Unlearner<B>> {
                Box::new($build(self.0.clone()))
            }
        }
    };
}

masking_method!(
    /// `forsaken`'s settings: [`ForsakenConfig::default`] (docs/method.md, "Forsaken").
    ForsakenSettings,
    "forsaken",
    "neuron masks from a trained mask-gradient generator; stops on a target FR (the paper's, our reading)",
    ForsakenConfig::default(),
    Forsaken::neuron
);

masking_method!(
    /// `forsaken-w`'s settings: [`ForsakenConfig::forsaken_w`] (docs/method.md, "Forsaken-W").
    ForsakenWSettings,
    "forsaken-w",
    "per-weight masks, Adam on the mask gradient, retain KL; stops on a target FR (ours)",
    ForsakenConfig::forsaken_w(),
    Forsaken::weight
);

/// A method of the masking family; `id` names it in records (`forsaken`, `forsaken-w`).
#[derive(Debug, Clone)]
pub struct Forsaken {
    /// Method id.
    pub id: &'static str,
    /// Its hyper-parameters.
    pub config: ForsakenConfig,
}

impl Default for Forsaken {
    fn default() -> Self {
        Self { id: "forsaken", config: ForsakenConfig::default() }
    }
}

impl Forsaken {
    /// The paper's reading, with `config`.
    pub fn neuron(config: ForsakenConfig) -> Self {
        Self { id: "forsaken", config }
    }
    /// Forsaken-W, with `config` (usually [`ForsakenConfig::forsaken_w`]).
    pub fn weight(config: ForsakenConfig) -> Self {
        Self { id: "forsaken-w", config }
    }
}

/// Loss terms of one step.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StepStats {
    /// Mean `KL(p_ref[y] || masked output)` on the forget batch.
    pub kl_forget: f64,
    /// The retain term (CE or KL to the original) on the retain batch.
    pub ce_retain: f64,
    /// The sparsity penalty's value.
    pub l1: f64,
}

/// The coordinate-wise learned optimizer: 2 features per mask -> 8 (tanh) -> 1 step.
#[derive(Module, Debug)]
pub struct CoordOptimizer<B: burn::tensor::backend::Backend> {
    hidden: Linear<B>,
    out: Linear<B>,
}

impl<B: burn::tensor::backend::Backend> CoordOptimizer<B> {
    fn new(seed: u64, device: &B::Device) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut hidden = LinearConfig::new(2, 8).init(device);
        let mut out = LinearConfig::new(8, 1).init(device);
        reinit_linear(&mut hidden, 2, &mut rng);
        reinit_linear(&mut out, 8, &mut rng);
        Self { hidden, out }
    }

    fn forward(&self, features: Tensor<B, 2>) -> Tensor<B, 1> {
        let n = features.dims()[0];
        self.out.forward(tanh(self.hidden.forward(features))).reshape([n])
    }
}

enum ProducerState<B: AutodiffBackend> {
    Generator { net: Generator<B>, optim: OptimizerAdaptor<Adam, Generator<B>, B> },
    Learned { net: CoordOptimizer<B>, optim: OptimizerAdaptor<Adam, CoordOptimizer<B>, B> },
    Adam { m: Tensor<B::InnerBackend, 1>, v: Tensor<B::InnerBackend, 1>, t: i32 },
}

/// Retain batches: fixed (docs/method.md, "Forsaken") or a cycle over every row ("Forsaken-W"). The
/// original's softmax on every retained row is computed once, so the KL retain term costs one
/// masked forward and backward per step, not an extra frozen forward.
struct RetainSource<B: AutodiffBackend> {
    x: Tensor<B, 2>,
    y: Tensor<B, 1, Int>,
    p_orig: Tensor<B, 2>,
    order: Vec<usize>,
    cursor: usize,
    fixed: Option<Vec<Vec<usize>>>,
}

/// Mutable state of a run: frozen network, flat masks, the producer and its state.
pub struct ForsakenState<B: AutodiffBackend> {
    cfg: ForsakenConfig,
    net: Net<B>,
    /// Elements of each mask slot (neuron) or masked weight (weight), in forward order.
    sizes: Vec<usize>,
    /// Current masks, flat `[N]`, no gradient.
    masks: Tensor<B, 1>,
    producer: ProducerState<B>,
    p_ref: Tensor<B, 2>,
    xf: Tensor<B, 2>,
    yf: Tensor<B, 1, Int>,
    retain: RetainSource<B>,
    forget_order: Vec<usize>,
    cursor: usize,
    rng: ChaCha8Rng,
    step: usize,
}

/// p_ref[c]: the mean softmax of the original on the reference samples of class c, row-major
/// `[c, c]` (uniform for a class with no reference sample).
fn reference_profiles<B: AutodiffBackend>(original: &Net<B>, data: &Dataset, reference: &[usize]) -> Result<Vec<f32>, ModelError> {
    if reference.is_empty() {
        return Err(ModelError::Request("forsaken: the reference split is empty (needed for p_ref)".into()));
    }
    let c = original.config.num_classes;
    let mut pref = vec![1.0 / c as f32; c * c];
    let out = predict(&original.valid(), data, reference);
    let mut counts = vec![0usize; c];
    let mut sums = vec![0.0f64; c * c];
    for i in 0..out.len() {
        let y = out.labels[i] as usize;
        counts[y] += 1;
        for (k, &p) in out.row(i).iter().enumerate() {
            sums[y * c + k] += p as f64;
        }
    }
    for y in 0..c {
        if counts[y] > 0 {
            for k in 0..c {
                pref[y * c + k] = (sums[y * c + k] / counts[y] as f64) as f32;
            }
        }
    }
    Ok(pref)
}

impl<B: AutodiffBackend> RetainSource<B> {
    /// The retained rows the retain term reads: all of them when cycling, else the rows of the
    /// fixed batches; shuffled with `rng` (then the cycling order, from the same `rng`).
    fn new(cfg: &ForsakenConfig, original: &Net<B>, data: &Dataset, retain: &[usize], rng: &mut ChaCha8Rng) -> Self {
        let (device, c) = (original.head.weight.device(), original.config.num_classes);
        let mut pool = retain.to_vec();
        pool.shuffle(rng);
        let rb = cfg.retain_batch;
        let (rows, fixed) = if cfg.retain_cycle {
            (pool.clone(), None)
        } else {
            let nb = cfg.retain_batches;
            let rows: Vec<usize> = (0..nb * rb.min(pool.len())).map(|k| pool[k % pool.len()]).collect();
            let per = rb.min(pool.len());
            let batches = (0..nb).map(|b| (b * per..(b + 1) * per).collect()).collect();
            (rows, Some(batches))
        };
        let (x, y) = to_tensors::<B>(data, &rows, &device);
        let p_orig = match cfg.retain_term {
            RetainTerm::KlToOriginal => {
                let o = predict(&original.valid(), data, &rows);
                Tensor::<B, 2>::from_data(TensorData::new(o.probs, [rows.len(), c]), &device)
            }
            RetainTerm::Ce => Tensor::zeros([1, c], &device),
        };
        let mut order: Vec<usize> = (0..rows.len()).collect();
        order.shuffle(rng);
        Self { x, y, p_orig, order, cursor: 0, fixed }
    }
}

impl<B: AutodiffBackend> ProducerState<B> {
    /// A fresh producer of `n` mask updates for `c` classes.
    fn new(cfg: &ForsakenConfig, c: usize, n: usize, seed: u64, device: &B::Device) -> Self {
        match cfg.producer {
            Producer::Generator => Self::Generator {
                net: Generator::new(c, n, cfg.generator_width, seed.wrapping_add(0x6e6), device),
                optim: AdamConfig::new().init::<B, Generator<B>>(),
            },
            Producer::LearnedOptimizer => Self::Learned {
                net: CoordOptimizer::new(seed.wrapping_add(0x10c), device),
                optim: AdamConfig::new().init::<B, CoordOptimizer<B>>(),
            },
            Producer::Adam => {
                let z = Tensor::<B::InnerBackend, 1>::zeros([n], device);
                Self::Adam { m: z.clone(), v: z, t: 0 }
            }
        }
    }
}

impl<B: AutodiffBackend> ForsakenState<B> {
    /// Prepare a run on `original` (its weights are frozen; only masks will change).
    pub fn new(
        cfg: ForsakenConfig,
        original: &Net<B>,
        data: &Dataset,
        forget: &[usize],
        retain: &[usize],
        reference: &[usize],
        seed: u64,
    ) -> Result<Self, ModelError> {
        cfg.check()?;
        if forget.is_empty() {
            return Err(ModelError::Request("forsaken: empty forget set".into()));
        }
        if retain.is_empty() {
            return Err(ModelError::Request("forsaken: empty retained set".into()));
        }
        let device = original.head.weight.device();
        let c = original.config.num_classes;
        let net = original.clone().no_grad();
        let sizes: Vec<usize> = match cfg.granularity {
            Granularity::Neuron => original.config.mask_sizes(),
            Granularity::Weight => original.weight_mask_shapes().iter().map(|s| s.iter().product()).collect(),
        };
        let n: usize = sizes.iter().sum();
        if n == 0 {
            return Err(ModelError::Request("forsaken: the network has no hidden neurons to mask".into()));
        }
        let pref = if cfg.uniform_target { vec![1.0 / c as f32; c * c] } else { reference_profiles(original, data, reference)? };
        let p_ref = Tensor::<B, 2>::from_data(TensorData::new(pref, [c, c]), &device);
        let (xf, yf) = to_tensors::<B>(data, forget, &device);
        let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0xf025_a4e0);
        let retain = RetainSource::new(&cfg, original, data, retain, &mut rng);
        let producer = ProducerState::new(&cfg, c, n, seed, &device);
        let mut forget_order: Vec<usize> = (0..forget.len()).collect();
        forget_order.shuffle(&mut rng);
        Ok(Self {
            cfg,
            net,
            sizes,
            masks: Tensor::ones([n], &device),
            producer,
            p_ref,
            xf,
            yf,
            retain,
            forget_order,
            cursor: 0,
            rng,
            step: 0,
        })
    }

    fn split(&self, flat: Tensor<B, 1>) -> Vec<Tensor<B, 1>> {
        let mut out = Vec::with_capacity(self.sizes.len());
        let mut start = 0;
        for &s in &self.sizes {
            out.push(flat.clone().narrow(0, start, s));
            start += s;
        }
        out
    }

    /// Logits of the frozen network under flat masks `flat`.
    fn forward(&self, x: Tensor<B, 2>, flat: Tensor<B, 1>) -> Tensor<B, 2> {
        let parts = self.split(flat);
        match self.cfg.granularity {
            Granularity::Neuron => self.net.forward_masked(x, Some(&parts)),
            Granularity::Weight => self.net.forward_weight_masked(x, &parts),
        }
    }

    fn next_forget_batch(&mut self) -> (Tensor<B, 2>, Tensor<B, 1, Int>) {
        let nf = self.forget_order.len();
        let b = self.cfg.forget_batch.min(nf);
        let mut idx = Vec::with_capacity(b);
        for _ in 0..b {
            if self.cursor == nf {
                self.forget_order.shuffle(&mut self.rng);
                self.cursor = 0;
            }
            idx.push(self.forget_order[self.cursor]);
            self.cursor += 1;
        }
        let device = self.masks.device();
        let it = index_tensor::<B>(&idx, &device);
        (self.xf.clone().select(0, it.clone()), self.yf.clone().select(0, it))
    }

    /// Rows of the next retain batch (positions in the uploaded retained tensors).
    fn next_retain_rows(&mut self) -> Vec<usize> {
        if let Some(fixed) = &self.retain.fixed {
            return fixed[self.step % fixed.len()].clone();
        }
        let n = self.retain.order.len();
        let b = self.cfg.retain_batch.min(n);
        let mut idx = Vec::with_capacity(b);
        for _ in 0..b {
            if self.retain.cursor == n {
                self.retain.order.shuffle(&mut self.rng);
                self.retain.cursor = 0;
            }
            idx.push(self.retain.order[self.retain.cursor]);
            self.retain.cursor += 1;
        }
        idx
    }

    /// The step's loss at masks `m` (a tensor in the graph) and its terms.
    fn loss(
        &self,
        m: Tensor<B, 1>,
        g: Option<Tensor<B, 1>>,
        xb: Tensor<B, 2>,
        targets: Tensor<B, 2>,
        rows: &Tensor<B, 1, Int>,
    ) -> (Tensor<B, 1>, Tensor<B, 1>, Tensor<B, 1>, Tensor<B, 1>) {
        // one forward pass over forget and retain rows together: the masked weights (W * M) and
        // their backward are computed once per step, not once per term
        let nf = xb.dims()[0];
        let xr = self.retain.x.clone().select(0, rows.clone());
        let nr = xr.dims()[0];
        let logits = self.forward(Tensor::cat(vec![xb, xr], 0), m.clone());
        let logq = log_softmax(logits.clone().narrow(0, 0, nf), 1);
        let kl = (targets.clone() * (targets.clamp_min(1e-12).log() - logq)).sum_dim(1).mean();
        let logits_r = logits.narrow(0, nf, nr);
        let ret = match self.cfg.retain_term {
            RetainTerm::Ce => cross_entropy(logits_r, self.retain.y.clone().select(0, rows.clone())),
            RetainTerm::KlToOriginal => {
                let p = self.retain.p_orig.clone().select(0, rows.clone());
                (p.clone() * (p.clamp_min(1e-12).log() - log_softmax(logits_r, 1))).sum_dim(1).mean()
            }
        };
        let pen = match (self.cfg.penalty, g) {
            (Penalty::MaskGradient, Some(g)) => g.abs().mean(),
            _ => (m - 1.0).abs().mean(),
        };
        let loss = kl.clone() + ret.clone() * self.cfg.alpha + pen.clone() * self.cfg.lambda;
        (loss, kl, ret, pen)
    }

    /// One step. With `commit = false` the masks stay as they are (used to test that a
    /// learned producer itself learns; the Adam producer then only advances its moments).
    pub fn step(&mut self, commit: bool) -> StepStats {
        let (xb, yb) = self.next_forget_batch();
        let rows = self.next_retain_rows();
        let device = self.masks.device();
        let rows = index_tensor::<B>(&rows, &device);
        let c = self.p_ref.dims()[1];
        let targets = self.p_ref.clone().select(0, yb);
        let stats;
        let new_masks: Tensor<B, 1>;
        if let ProducerState::Adam { .. } = &self.producer {
            let m = self.masks.clone().detach().require_grad();
            let (loss, kl, ret, pen) = self.loss(m.clone(), None, xb, targets, &rows);
            stats = StepStats { kl_forget: scalar(kl), ce_retain: scalar(ret), l1: scalar(pen) };
            let grads = loss.backward();
            let g = m.grad(&grads).unwrap_or_else(|| self.masks.clone().inner().zeros_like());
            let lr = self.cfg.adam_lr;
            let ProducerState::Adam { m: m1, v, t } = &mut self.producer else { unreachable!() };
            let (b1, b2, eps) = (0.9f64, 0.999f64, 1e-8f64);
            *t += 1;
            *m1 = m1.clone() * b1 + g.clone() * (1.0 - b1);
            *v = v.clone() * b2 + g.powf_scalar(2.0) * (1.0 - b2);
            let mhat = m1.clone() / (1.0 - b1.powi(*t));
            let vhat = v.clone() / (1.0 - b2.powi(*t));
            let upd = mhat / (vhat.sqrt() + eps) * lr;
            new_masks = Tensor::from_inner(self.masks.clone().inner() - upd);
        } else {
            // a learned producer proposes the step and is trained through m' = m - eta * step
            let step = match &self.producer {
                ProducerState::Generator { net, .. } => {
                    let probs_now = softmax(self.forward(xb.clone(), self.masks.clone()), 1).detach().mean_dim(0);
                    let features = Tensor::cat(vec![probs_now, targets.clone().mean_dim(0)], 1).reshape([1, 2 * c]);
                    net.forward(features)
                }
                ProducerState::Learned { net, .. } => {
                    // the loss gradient at the current masks, as a per-coordinate feature
                    let m0 = self.masks.clone().detach().require_grad();
                    let (l0, ..) = self.loss(m0.clone(), None, xb.clone(), targets.clone(), &rows);
                    let g0 = m0.grad(&l0.backward()).map(Tensor::<B, 1>::from_inner).unwrap_or_else(|| self.masks.zeros_like());
                    let rms = (g0.clone().powf_scalar(2.0).mean() + 1e-12).sqrt();
                    let n = self.masks.dims()[0];
                    let features = Tensor::cat(
                        vec![(g0 / rms.unsqueeze::<1>().expand([n])).reshape([n, 1]), (self.masks.clone() - 1.0).reshape([n, 1])],
                        1,
                    );
                    net.forward(features)
                }
                ProducerState::Adam { .. } => unreachable!("handled above"),
            };
            let m_new = self.masks.clone() - step.clone() * self.cfg.eta;
            let (loss, kl, ret, pen) = self.loss(m_new.clone(), Some(step), xb, targets, &rows);
            stats = StepStats { kl_forget: scalar(kl), ce_retain: scalar(ret), l1: scalar(pen) };
            let grads = loss.backward();
            let lr = self.cfg.generator_lr;
            match &mut self.producer {
                ProducerState::Generator { net, optim } => *net = optim.step(lr, net.clone(), GradientsParams::from_grads(grads, net)),
                ProducerState::Learned { net, optim } => *net = optim.step(lr, net.clone(), GradientsParams::from_grads(grads, net)),
                ProducerState::Adam { .. } => unreachable!("handled above"),
            }
            new_masks = m_new.detach();
        }
        if commit {
            self.masks = new_masks.clamp(0.0, 1.0);
        }
        self.step += 1;
        stats
    }

    /// Current masks, one vector per slot (neuron) or per masked weight tensor (weight).
    pub fn masks(&self) -> Vec<Vec<f32>> {
        let flat: Vec<f32> = self.masks.clone().into_data().iter::<f32>().collect();
        let mut out = Vec::new();
        let mut start = 0;
        for &s in &self.sizes {
            out.push(flat[start..start + s].to_vec());
            start += s;
        }
        out
    }

    /// The frozen network (to check that its weights never change).
    pub fn network(&self) -> &Net<B> {
        &self.net
    }

    /// Steps taken.
    pub fn steps(&self) -> usize {
        self.step
    }

    /// Mask granularity of this run.
    pub fn granularity(&self) -> Granularity {
        self.cfg.granularity
    }
}

/// Fold masks of the given granularity into a network (exact; see [`Net::fold_neuron_masks`]
/// and [`Net::fold_weight_masks`]).
pub fn fold<BB: burn::tensor::backend::Backend>(granularity: Granularity, net: Net<BB>, masks: &[Vec<f32>]) -> Result<Net<BB>, ModelError> {
    match granularity {
        Granularity::Neuron => net.fold_neuron_masks(masks),
        Granularity::Weight => net.fold_weight_masks(masks),
    }
}

fn scalar<B: burn::tensor::backend::Backend>(t: Tensor<B, 1>) -> f64 {
    t.into_data().iter::<f32>().next().map_or(f64::NAN, |v| v as f64)
}

/// A saved point of the run.
struct Checkpoint {
    step: usize,
    masks: Vec<Vec<f32>>,
    fr: f64,
    met: bool,
}

/// The stopping checks of one run: fold the current masks, judge D_u with the stopping oracle,
/// call the observer, and keep the trace.
struct Checks<'r, 'a, B: AutodiffBackend> {
    req: &'r UnlearnRequest<'a, B>,
    original: Net<B::InnerBackend>,
    granularity: Granularity,
    /// Fixed retained sample for checkpoint selection (the retain batches' rows), and the
    /// original's accuracy on it.
    retain_probe: Vec<usize>,
    orig_retain_acc: f64,
    trace: Vec<TracePoint>,
    observer_seconds: f64,
}

impl<'r, 'a, B: AutodiffBackend> Checks<'r, 'a, B> {
    fn new(req: &'r UnlearnRequest<'a, B>, st: &ForsakenState<B>) -> Self {
        let original = req.original.valid();
        let mut retain_probe: Vec<usize> = req.retain.to_vec();
        retain_probe.shuffle(&mut ChaCha8Rng::seed_from_u64(req.seed ^ 0xc4ec));
        retain_probe.truncate(st.cfg.retain_batches * st.cfg.retain_batch);
        let orig_retain_acc = predict(&original, req.data, &retain_probe).accuracy();
        Self { req, original, granularity: st.granularity(), retain_probe, orig_retain_acc, trace: vec![], observer_seconds: 0.0 }
    }

    /// One check: the current masks, the stopping oracle's FR (NaN when undefined or without a
    /// rule) and the folded model; a trace point is recorded.
    fn check(&mut self, st: &ForsakenState<B>, last: StepStats) -> Result<(Vec<Vec<f32>>, f64, Net<B::InnerBackend>), ModelError> {
        let req = self.req;
        let masks = st.masks();
        let folded = fold(self.granularity, self.original.clone(), &masks)?;
        let mut values = BTreeMap::new();
        let mut fr = f64::NAN;
        if let Some(rule) = &req.stopping {
            let after = rule.oracle.decide(&predict(&folded, req.data, req.forget), req.forget)?;
            let counts = FrCounts::from_decisions(&rule.before, &after).map_err(|e| ModelError::Request(e.to_string()))?;
            fr = match counts.forgetting_rate() {
                ForgettingRate::Value(v) => v,
                ForgettingRate::Undefined => f64::NAN,
            };
            values.insert("fr_stop".into(), fr);
        }
        values.insert("kl_forget".into(), last.kl_forget);
        values.insert("ce_retain".into(), last.ce_retain);
        if let Some(obs) = req.observer {
            let t = Instant::now();
            values.extend(obs(&folded));
            self.observer_seconds += t.elapsed().as_secs_f64();
        }
        values.retain(|_, v| v.is_finite()); // JSON has no NaN; a missing value is honest
        self.trace.push(TracePoint { step: st.steps(), values });
        Ok((masks, fr, folded))
    }

    /// For a new best FR short of the target: whether the retained probe's accuracy stays within
    /// 1 point of the original's (evaluated only here, so a check costs one oracle pass over
    /// D_u, not a pass over the probe as well). The accuracy joins the last trace point.
    fn keeps_utility(&mut self, folded: &Net<B::InnerBackend>) -> bool {
        let acc = predict(folded, self.req.data, &self.retain_probe).accuracy();
        if let Some(p) = self.trace.last_mut() {
            p.values.insert("retain_acc".into(), acc);
        }
        acc >= self.orig_retain_acc - 0.01
    }

    fn outcome(self, model: Net<B>, steps: usize, stop_reason: String, target: f64) -> UnlearnOutcome<B> {
        UnlearnOutcome {
            model: Unlearned::Single(model),
            setup_seconds: 0.0,
            steps,
            stopping_oracle: self.req.stopping.as_ref().map(|r| r.oracle.id().to_string()),
            stop_reason,
            trace: self.trace,
            observer_seconds: self.observer_seconds,
            strength: target,
            deployed: None,
        }
    }
}

impl<B: AutodiffBackend> Unlearner<B> for Forsaken {
    fn id(&self) -> &'static str {
        self.id
    }

    fn strength_knob(&self) -> &'static str {
        "target FR"
    }

    fn unlearn(&self, req: &UnlearnRequest<'_, B>) -> Result<UnlearnOutcome<B>, ModelError> {
        // the target comes with the stopping rule; without one the run takes every step
        let target = req.stopping.as_ref().map_or(f64::NAN, |r| r.target_fr);
        let cfg = self.config.clone();
        let mut st = ForsakenState::new(cfg.clone(), req.original, req.data, req.forget, req.retain, req.reference, req.seed)?;
        let mut checks = Checks::new(req, &st);
        let ones: Vec<Vec<f32>> = st.masks().iter().map(|m| vec![1.0; m.len()]).collect();
        let mut best = Checkpoint { step: 0, masks: ones, fr: 0.0, met: false };
        let pb = forsaken_models::progress::bar(
            cfg.max_steps as u64,
            format!("{} ({:?} masks, {:?})", self.id, cfg.granularity, cfg.producer).to_lowercase(),
        );
        let mut last = StepStats { kl_forget: f64::NAN, ce_retain: f64::NAN, l1: f64::NAN };
        let mut stop_reason = "step cap".to_string();
        checks.check(&st, last)?;
        if req.stopping.as_ref().is_some_and(|rule| rule.before.iter().all(|&m| !m)) {
            pb.finish_and_clear();
            let reason = "undefined FR: the oracle calls no forget sample a member of the original";
            return Ok(checks.outcome(req.original.clone(), 0, reason.into(), target));
        }
        for _ in 0..cfg.max_steps {
            last = st.step(true);
            pb.inc(1);
            if !last.kl_forget.is_finite() || !last.ce_retain.is_finite() {
                pb.finish_and_clear();
                let loss = (last.kl_forget + last.ce_retain) as f32;
                return Err(ModelError::Diverged { loss, step: st.steps(), context: self.id.into() });
            }
            if st.steps() % cfg.check_every == 0 || st.steps() == cfg.max_steps {
                let (masks, fr, folded) = checks.check(&st, last)?;
                if req.stopping.is_none() {
                    best = Checkpoint { step: st.steps(), masks, fr, met: false };
                } else if fr >= target {
                    best = Checkpoint { step: st.steps(), masks, fr, met: true };
                    stop_reason = format!("target FR {target} reached");
                    break;
                } else if fr > best.fr && checks.keeps_utility(&folded) {
                    best = Checkpoint { step: st.steps(), masks, fr, met: false };
                }
            }
        }
        pb.finish_and_clear();
        if req.stopping.is_some() && !best.met {
            stop_reason = format!("step cap; target FR {target} not reached (best FR {:.3} at step {})", best.fr, best.step);
        }
        let model = fold(checks.granularity, req.original.clone(), &best.masks)?;
        Ok(checks.outcome(model, st.steps(), format!("{stop_reason}; returned checkpoint of step {}", best.step), target))
    }
}
