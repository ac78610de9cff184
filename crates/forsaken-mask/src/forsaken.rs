//! The Forsaken unlearning loop (see the crate docs and FORSAKEN.md section 3).

use std::collections::BTreeMap;
use std::time::Instant;

use burn::module::{AutodiffModule, Module};
use burn::optim::adaptor::OptimizerAdaptor;
use burn::optim::{Adam, AdamConfig, GradientsParams, Optimizer};
use burn::tensor::activation::{log_softmax, softmax};
use burn::tensor::backend::AutodiffBackend;
use burn::tensor::{Int, Tensor, TensorData};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use forsaken_data::Dataset;
use forsaken_metrics::{ForgettingRate, FrCounts};
use forsaken_models::train::{cross_entropy, index_tensor, to_tensors};
use forsaken_models::{predict, ModelError, Net, TracePoint, UnlearnOutcome, UnlearnRequest, Unlearner};

use crate::Generator;

/// Hyper-parameters (FORSAKEN.md section 3 defaults).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ForsakenConfig {
    /// Mask step size `eta` in `m' = m - eta * g`.
    pub eta: f64,
    /// Weight of the L1 penalty on mask gradients.
    pub lambda: f64,
    /// Weight of the retained-data cross-entropy.
    pub alpha: f64,
    /// Adam learning rate of the generator.
    pub generator_lr: f64,
    /// Hidden width of the generator.
    pub generator_width: usize,
    /// Forget batch size.
    pub forget_batch: usize,
    /// Number of fixed retain batches drawn once and used in turn.
    pub retain_batches: usize,
    /// Retain batch size.
    pub retain_batch: usize,
    /// Step cap.
    pub max_steps: usize,
    /// Stopping-oracle check interval.
    pub check_every: usize,
    /// Default target FR (the strength knob overrides it).
    pub target_fr: f64,
    /// Pull towards the uniform distribution instead of the class profiles `p_ref`.
    pub uniform_target: bool,
}

impl Default for ForsakenConfig {
    fn default() -> Self {
        Self {
            eta: 0.01,
            lambda: 0.01,
            alpha: 1.0,
            generator_lr: 1e-3,
            generator_width: 64,
            forget_batch: 64,
            retain_batches: 10,
            retain_batch: 64,
            max_steps: 500,
            check_every: 10,
            target_fr: 0.9,
            uniform_target: false,
        }
    }
}

/// The method object.
#[derive(Debug, Clone, Default)]
pub struct Forsaken {
    /// Its hyper-parameters.
    pub config: ForsakenConfig,
}

/// Loss terms of one step.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StepStats {
    /// Mean KL(p_ref[y] || masked output) on the forget batch.
    pub kl_forget: f64,
    /// Cross-entropy on the retain batch.
    pub ce_retain: f64,
    /// Mean |g|.
    pub l1: f64,
}

/// Mutable state of a Forsaken run: frozen network, masks, generator and its optimizer.
pub struct ForsakenState<B: AutodiffBackend> {
    cfg: ForsakenConfig,
    net: Net<B>,
    sizes: Vec<usize>,
    /// Current masks, flat `[N]`, no gradient.
    masks: Tensor<B, 1>,
    generator: Generator<B>,
    optim: OptimizerAdaptor<Adam, Generator<B>, B>,
    p_ref: Tensor<B, 2>,
    xf: Tensor<B, 2>,
    yf: Tensor<B, 1, Int>,
    retain: Vec<(Tensor<B, 2>, Tensor<B, 1, Int>)>,
    forget_order: Vec<usize>,
    cursor: usize,
    rng: ChaCha8Rng,
    step: usize,
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
        if forget.is_empty() {
            return Err(ModelError::Request("forsaken: empty forget set".into()));
        }
        if retain.is_empty() {
            return Err(ModelError::Request("forsaken: empty retained set".into()));
        }
        let device = original.head.weight.device();
        let c = original.config.num_classes;
        let net = original.clone().no_grad();
        let sizes = original.config.mask_sizes();
        let n: usize = sizes.iter().sum();
        if n == 0 {
            return Err(ModelError::Request("forsaken: the network has no hidden neurons to mask".into()));
        }
        // p_ref[c]: mean softmax of the original on reference samples of class c (uniform when
        // the class has none, or when the uniform target is asked for).
        let mut pref = vec![1.0 / c as f32; c * c];
        if !cfg.uniform_target {
            if reference.is_empty() {
                return Err(ModelError::Request("forsaken: the reference split is empty (needed for p_ref)".into()));
            }
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
        }
        let p_ref = Tensor::<B, 2>::from_data(TensorData::new(pref, [c, c]), &device);
        let (xf, yf) = to_tensors::<B>(data, forget, &device);
        let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0xf025_a4e0);
        let mut pool = retain.to_vec();
        pool.shuffle(&mut rng);
        let rb = cfg.retain_batch.max(1);
        let mut batches = Vec::new();
        for b in 0..cfg.retain_batches.max(1) {
            let idx: Vec<usize> = (0..rb.min(pool.len())).map(|k| pool[(b * rb + k) % pool.len()]).collect();
            batches.push(to_tensors::<B>(data, &idx, &device));
        }
        let generator = Generator::new(c, n, cfg.generator_width, seed.wrapping_add(0x6e6), &device);
        let optim = AdamConfig::new().init::<B, Generator<B>>();
        let mut forget_order: Vec<usize> = (0..forget.len()).collect();
        forget_order.shuffle(&mut rng);
        Ok(Self {
            cfg,
            net,
            sizes,
            masks: Tensor::ones([n], &device),
            generator,
            optim,
            p_ref,
            xf,
            yf,
            retain: batches,
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

    fn next_forget_batch(&mut self) -> (Tensor<B, 2>, Tensor<B, 1, Int>) {
        let nf = self.forget_order.len();
        let b = self.cfg.forget_batch.max(1).min(nf);
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

    /// One generator step. With `commit = false` the masks stay as they are (used to test that
    /// the generator itself learns).
    pub fn step(&mut self, commit: bool) -> StepStats {
        let (xb, yb) = self.next_forget_batch();
        let (xr, yr) = self.retain[self.step % self.retain.len()].clone();
        let c = self.p_ref.dims()[1];
        let current = self.split(self.masks.clone());
        let probs_now = softmax(self.net.forward_masked(xb.clone(), Some(&current)), 1).detach().mean_dim(0);
        let targets = self.p_ref.clone().select(0, yb);
        let features = Tensor::cat(vec![probs_now, targets.clone().mean_dim(0)], 1).reshape([1, 2 * c]);
        let g = self.generator.forward(features);
        let m_new = self.masks.clone() - g.clone() * self.cfg.eta;
        let masks_new = self.split(m_new.clone());
        let logq = log_softmax(self.net.forward_masked(xb, Some(&masks_new)), 1);
        let kl = (targets.clone() * (targets.clamp_min(1e-12).log() - logq)).sum_dim(1).mean();
        let ce = cross_entropy(self.net.forward_masked(xr, Some(&masks_new)), yr);
        let l1 = g.abs().mean();
        let loss = kl.clone() + ce.clone() * self.cfg.alpha + l1.clone() * self.cfg.lambda;
        let stats = StepStats { kl_forget: scalar(kl), ce_retain: scalar(ce), l1: scalar(l1) };
        let grads = GradientsParams::from_grads(loss.backward(), &self.generator);
        self.generator = self.optim.step(self.cfg.generator_lr, self.generator.clone(), grads);
        if commit {
            self.masks = m_new.detach().clamp(0.0, 1.0);
        }
        self.step += 1;
        stats
    }

    /// Current masks, one vector per slot.
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
}

fn scalar<B: burn::tensor::backend::Backend>(t: Tensor<B, 1>) -> f64 {
    t.into_data().iter::<f32>().next().map_or(f64::NAN, |v| v as f64)
}

/// A saved point of the run.
struct Checkpoint {
    step: usize,
    masks: Vec<Vec<f32>>,
    fr: f64,
    retain_loss: f64,
    met: bool,
}

impl<B: AutodiffBackend> Unlearner<B> for Forsaken {
    fn id(&self) -> &'static str {
        "forsaken"
    }

    fn strength_knob(&self) -> &'static str {
        "target FR"
    }

    fn unlearn(&self, req: &UnlearnRequest<'_, B>) -> Result<UnlearnOutcome<B>, ModelError> {
        let target = req.strength.unwrap_or(self.config.target_fr);
        let mut cfg = self.config.clone();
        if let Some(rule) = &req.stopping {
            cfg.max_steps = rule.max_steps;
            cfg.check_every = rule.check_every.max(1);
        }
        let mut st = ForsakenState::new(cfg.clone(), req.original, req.data, req.forget, req.retain, req.reference, req.seed)?;
        let original = req.original.valid();
        // fixed retain sample for checkpoint selection: the retain batches' rows
        let mut retain_probe: Vec<usize> = req.retain.to_vec();
        retain_probe.shuffle(&mut ChaCha8Rng::seed_from_u64(req.seed ^ 0xc4ec));
        retain_probe.truncate(cfg.retain_batches * cfg.retain_batch);
        let orig_probe = predict(&original, req.data, &retain_probe);
        let orig_retain_acc = orig_probe.accuracy();
        let mut trace = Vec::new();
        let mut observer_seconds = 0.0;
        let ones: Vec<Vec<f32>> = original.config.mask_sizes().iter().map(|&s| vec![1.0; s]).collect();
        let mut best = Checkpoint { step: 0, masks: ones, fr: 0.0, retain_loss: orig_probe.mean_loss(), met: false };
        let pb = forsaken_models::progress::bar(cfg.max_steps as u64, "forsaken (mask generator)");
        let mut last = StepStats { kl_forget: f64::NAN, ce_retain: f64::NAN, l1: f64::NAN };
        let mut stop_reason = "step cap".to_string();
        let check = |st: &ForsakenState<B>,
                     last: StepStats,
                     trace: &mut Vec<TracePoint>,
                     observer_seconds: &mut f64|
         -> Result<(Vec<Vec<f32>>, f64, f64, f64), ModelError> {
            let masks = st.masks();
            let folded = original.clone().fold_neuron_masks(&masks)?;
            let probe = predict(&folded, req.data, &retain_probe);
            let mut values = BTreeMap::new();
            let mut fr = f64::NAN;
            if let Some(rule) = &req.stopping {
                let after = rule.oracle.decide(&folded, req.data, req.forget);
                let counts = FrCounts::from_decisions(&rule.before, &after).map_err(|e| ModelError::Request(e.to_string()))?;
                fr = match counts.forgetting_rate() {
                    ForgettingRate::Value(v) => v,
                    ForgettingRate::Undefined => f64::NAN,
                };
                values.insert("fr_stop".into(), fr);
            }
            values.insert("kl_forget".into(), last.kl_forget);
            values.insert("ce_retain".into(), last.ce_retain);
            values.insert("retain_acc".into(), probe.accuracy());
            if let Some(obs) = req.observer {
                let t = Instant::now();
                values.extend(obs(&folded));
                *observer_seconds += t.elapsed().as_secs_f64();
            }
            values.retain(|_, v| v.is_finite()); // JSON has no NaN; a missing value is honest
            trace.push(TracePoint { step: st.steps(), values });
            Ok((masks, fr, probe.accuracy(), probe.mean_loss()))
        };
        check(&st, last, &mut trace, &mut observer_seconds)?;
        if let Some(rule) = &req.stopping {
            if rule.before.iter().all(|&m| !m) {
                stop_reason = "undefined FR: the oracle calls no forget sample a member of the original".into();
                pb.finish_and_clear();
                return Ok(UnlearnOutcome {
                    model: req.original.clone(),
                    steps: 0,
                    stopping_oracle: Some(rule.oracle.name()),
                    stop_reason,
                    trace,
                    observer_seconds,
                    strength: target,
                });
            }
        }
        for _ in 0..cfg.max_steps {
            last = st.step(true);
            pb.inc(1);
            if !last.kl_forget.is_finite() || !last.ce_retain.is_finite() {
                pb.finish_and_clear();
                return Err(ModelError::Diverged {
                    loss: (last.kl_forget + last.ce_retain) as f32,
                    step: st.steps(),
                    context: "forsaken".into(),
                });
            }
            if st.steps() % cfg.check_every == 0 || st.steps() == cfg.max_steps {
                let (masks, fr, acc, loss) = check(&st, last, &mut trace, &mut observer_seconds)?;
                if req.stopping.is_some() {
                    let met = fr >= target;
                    let better =
                        if met { !best.met || loss < best.retain_loss } else { !best.met && acc >= orig_retain_acc - 0.01 && fr > best.fr };
                    if better {
                        best = Checkpoint { step: st.steps(), masks, fr, retain_loss: loss, met };
                    }
                    if met {
                        stop_reason = format!("target FR {target} reached");
                        break;
                    }
                } else {
                    best = Checkpoint { step: st.steps(), masks, fr, retain_loss: loss, met: false };
                }
            }
        }
        pb.finish_and_clear();
        if req.stopping.is_some() && !best.met {
            stop_reason = format!("step cap; target FR {target} not reached (best FR {:.3} at step {})", best.fr, best.step);
        }
        let _ = best.retain_loss;
        let model = req.original.clone().fold_neuron_masks(&best.masks)?;
        Ok(UnlearnOutcome {
            model,
            steps: st.steps(),
            stopping_oracle: req.stopping.as_ref().map(|r| r.oracle.name()),
            stop_reason: format!("{stop_reason}; returned checkpoint of step {}", best.step),
            trace,
            observer_seconds,
            strength: target,
        })
    }
}
