//! The network: optional convolution blocks, hidden dense layers, a linear head, and a
//! neuron-mask slot after every hidden activation.
//!
//! * MLP (tables, docs/protocol.md "Models and training"): dense 128-tanh, dense 64-tanh, dense C.
//!   Masks: 128 + 64.
//! * CNN (images): conv 16 3x3-ReLU-maxpool2, conv 32 3x3-ReLU-maxpool2, dense 128-ReLU,
//!   dense C (valid padding). Masks: one per channel (16 + 32) and one per dense unit (128).
//!
//! A conv mask is applied after the pooling; max-pooling commutes with a non-negative
//! per-channel scale, so this equals masking right after the activation for masks in [0, 1].
//!
//! Inputs are always flat rows `[batch, dim]`; the CNN reshapes them to `[batch, C, H, W]`.

use burn::module::{Module, Param};
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::pool::{MaxPool2d, MaxPool2dConfig};
use burn::nn::{Linear, LinearConfig};
use burn::tensor::activation::{relu, tanh};
use burn::tensor::backend::Backend;
use burn::tensor::{Tensor, TensorData};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::ModelError;
use forsaken_data::ModelFamily;

/// Hidden activation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Activation {
    /// tanh (tables).
    #[default]
    Tanh,
    /// ReLU (images).
    Relu,
}

/// Architecture of a [`Net`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct NetConfig {
    /// Shape of one input sample: `[d]` for tables, `[C, H, W]` for images.
    pub input_shape: Vec<usize>,
    /// Output classes.
    pub num_classes: usize,
    /// Output channels of each 3x3 conv block (empty for an MLP).
    pub conv_channels: Vec<usize>,
    /// Widths of the hidden dense layers.
    pub hidden: Vec<usize>,
    /// Activation of the dense hidden layers (convs always use ReLU).
    pub activation: Activation,
}

impl NetConfig {
    /// The default of docs/protocol.md ("Models and training") for a model family.
    pub fn for_family(family: ModelFamily, input_shape: &[usize], num_classes: usize) -> Self {
        match family {
            ModelFamily::Mlp => Self {
                input_shape: vec![input_shape.iter().product()],
                num_classes,
                conv_channels: vec![],
                hidden: vec![128, 64],
                activation: Activation::Tanh,
            },
            ModelFamily::Cnn => Self {
                input_shape: input_shape.to_vec(),
                num_classes,
                conv_channels: vec![16, 32],
                hidden: vec![128],
                activation: Activation::Relu,
            },
        }
    }

    /// Input features per sample.
    pub fn input_dim(&self) -> usize {
        self.input_shape.iter().product()
    }

    /// Spatial size `(C, H, W)` after the conv blocks, or `None` for an MLP.
    pub fn conv_output(&self) -> Result<Option<(usize, usize, usize)>, ModelError> {
        if self.conv_channels.is_empty() {
            return Ok(None);
        }
        if self.input_shape.len() != 3 {
            return Err(ModelError::Shape(format!("a CNN needs [C, H, W] inputs, got {:?}", self.input_shape)));
        }
        let (mut h, mut w) = (self.input_shape[1], self.input_shape[2]);
        for _ in &self.conv_channels {
            if h < 4 || w < 4 {
                return Err(ModelError::Shape(format!(
                    "input {:?} too small for {} conv blocks",
                    self.input_shape,
                    self.conv_channels.len()
                )));
            }
            h = (h - 2) / 2;
            w = (w - 2) / 2;
        }
        Ok(Some((*self.conv_channels.last().expect("non-empty"), h, w)))
    }

    /// Number of neurons in each mask slot, in forward order (conv channels, then dense units).
    pub fn mask_sizes(&self) -> Vec<usize> {
        self.conv_channels.iter().chain(self.hidden.iter()).copied().collect()
    }

    /// Build a network whose weights and biases are drawn from `seed` alone:
    /// uniform(-1/sqrt(fan_in), 1/sqrt(fan_in)), the usual default of PyTorch and of burn's
    /// Kaiming-uniform initializer. burn's own initializers draw from one process-wide RNG
    /// (at first use), which threads running side by side would share; this does not.
    pub fn init_seeded<B: Backend>(&self, seed: u64, device: &B::Device) -> Result<Net<B>, ModelError> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x1_417_5eed);
        let mut net = self.init::<B>(device)?;
        for c in net.convs.iter_mut() {
            let [_, cin, kh, kw] = c.weight.shape().dims();
            reinit_conv(c, cin * kh * kw, &mut rng);
        }
        for l in net.dense.iter_mut().chain(std::iter::once(&mut net.head)) {
            let fan_in = l.weight.shape().dims::<2>()[0];
            reinit_linear(l, fan_in, &mut rng);
        }
        Ok(net)
    }

    /// Build a network with burn's initializers (lazy, from the backend's global RNG). Prefer
    /// [`NetConfig::init_seeded`]; this is the shape template used when loading checkpoints.
    pub fn init<B: Backend>(&self, device: &B::Device) -> Result<Net<B>, ModelError> {
        if self.num_classes < 2 {
            return Err(ModelError::Shape("at least 2 classes are needed".into()));
        }
        let conv_out = self.conv_output()?;
        let mut convs = Vec::new();
        let mut in_ch = if conv_out.is_some() { self.input_shape[0] } else { 0 };
        for &c in &self.conv_channels {
            convs.push(Conv2dConfig::new([in_ch, c], [3, 3]).init(device));
            in_ch = c;
        }
        let mut d = match conv_out {
            Some((c, h, w)) => c * h * w,
            None => self.input_dim(),
        };
        let mut dense = Vec::new();
        for &h in &self.hidden {
            dense.push(LinearConfig::new(d, h).init(device));
            d = h;
        }
        let head = LinearConfig::new(d, self.num_classes).init(device);
        Ok(Net::assemble(self.clone(), convs, dense, head))
    }
}

/// The classifier. See the module docs for the layout and mask slots.
#[derive(Module, Debug)]
pub struct Net<B: Backend> {
    /// 3x3 conv blocks (ReLU, then 2x2 max-pool).
    pub convs: Vec<Conv2d<B>>,
    /// Hidden dense layers.
    pub dense: Vec<Linear<B>>,
    /// Output layer (logits).
    pub head: Linear<B>,
    pool: MaxPool2d,
    /// The architecture (not a parameter; not saved in records).
    #[module(skip)]
    pub config: NetConfig,
}

impl<B: Backend> Net<B> {
    /// A network of architecture `config` from its layers (shapes as `config.init` makes them).
    pub(crate) fn assemble(config: NetConfig, convs: Vec<Conv2d<B>>, dense: Vec<Linear<B>>, head: Linear<B>) -> Self {
        Net { convs, dense, head, pool: MaxPool2dConfig::new([2, 2]).with_strides([2, 2]).init(), config }
    }

    /// Logits for flat inputs `[batch, dim]`, all masks = 1.
    pub fn forward(&self, x: Tensor<B, 2>) -> Tensor<B, 2> {
        self.forward_masked(x, None)
    }

    /// Logits with neuron masks `masks[l]` (one vector per slot, see
    /// [`NetConfig::mask_sizes`]) multiplied into the hidden activations.
    pub fn forward_masked(&self, x: Tensor<B, 2>, masks: Option<&[Tensor<B, 1>]>) -> Tensor<B, 2> {
        let mut slot = 0;
        let h = if self.convs.is_empty() {
            x
        } else {
            let [n, _] = x.dims();
            let s = &self.config.input_shape;
            let mut t: Tensor<B, 4> = x.reshape([n, s[0], s[1], s[2]]);
            for conv in &self.convs {
                t = self.pool.forward(relu(conv.forward(t)));
                if let Some(m) = masks {
                    let c = m[slot].dims()[0];
                    t = t * m[slot].clone().reshape([1, c, 1, 1]);
                }
                slot += 1;
            }
            t.flatten(1, 3)
        };
        let mut h = h;
        for layer in &self.dense {
            h = layer.forward(h);
            h = match self.config.activation {
                Activation::Tanh => tanh(h),
                Activation::Relu => relu(h),
            };
            if let Some(m) = masks {
                h = h * m[slot].clone().unsqueeze::<2>();
            }
            slot += 1;
        }
        self.head.forward(h)
    }

    /// Fold neuron masks into the weights of the layer after each slot, giving a plain network
    /// of the same architecture whose outputs equal `forward_masked(x, masks)` to float
    /// tolerance (docs/method.md, "Forsaken", Folding): input channel `j` of the next conv, or row
    /// `j` of the next dense weight (`[d_in, d_out]`), is multiplied by `m_j`. For the last conv
    /// block the `H*W` rows of its flattened channel are scaled. Biases are unchanged.
    ///
    /// Masks must be non-negative where a max-pool follows (they are kept in [0, 1]).
    pub fn fold_neuron_masks(mut self, masks: &[Vec<f32>]) -> Result<Self, ModelError> {
        let sizes = self.config.mask_sizes();
        if masks.len() != sizes.len() || masks.iter().zip(&sizes).any(|(m, &s)| m.len() != s) {
            return Err(ModelError::Shape(format!(
                "masks of sizes {:?} for slots {:?}",
                masks.iter().map(Vec::len).collect::<Vec<_>>(),
                sizes
            )));
        }
        let device = self.head.weight.device();
        let nconv = self.convs.len();
        for (slot, m) in masks.iter().enumerate() {
            if slot + 1 < nconv {
                // next conv: weight [out, in, k, k], scale input channel j
                let c = m.len();
                let s = Tensor::<B, 1>::from_data(TensorData::new(m.clone(), [c]), &device).reshape([1, c, 1, 1]);
                let next = &mut self.convs[slot + 1];
                next.weight = scale_param(next.weight.clone(), s);
            } else if slot + 1 == nconv {
                // last conv: the next dense layer sees the flattened [C, H, W] features
                let (_, h, w) = self.config.conv_output()?.expect("conv net");
                let hw = h * w;
                let rows: Vec<f32> = m.iter().flat_map(|&v| std::iter::repeat_n(v, hw)).collect();
                let d = rows.len();
                let s = Tensor::<B, 1>::from_data(TensorData::new(rows, [d]), &device).reshape([d, 1]);
                let next = self.dense.first_mut().unwrap_or(&mut self.head);
                next.weight = scale_param(next.weight.clone(), s);
            } else {
                let j = slot - nconv; // dense slot j feeds dense[j + 1] or the head
                let d = m.len();
                let s = Tensor::<B, 1>::from_data(TensorData::new(m.clone(), [d]), &device).reshape([d, 1]);
                let next = if j + 1 < self.dense.len() { &mut self.dense[j + 1] } else { &mut self.head };
                next.weight = scale_param(next.weight.clone(), s);
            }
        }
        Ok(self)
    }

    /// Shapes of the weight tensors that per-weight masks cover, in forward order: every conv
    /// kernel `[out, in, 3, 3]`, every hidden dense weight and the head's weight `[d_in, d_out]`.
    /// Biases are not masked.
    pub fn weight_mask_shapes(&self) -> Vec<Vec<usize>> {
        let mut out: Vec<Vec<usize>> = self.convs.iter().map(|c| c.weight.dims().to_vec()).collect();
        out.extend(self.dense.iter().chain(std::iter::once(&self.head)).map(|l| l.weight.dims().to_vec()));
        out
    }

    /// Logits with per-weight masks (docs/method.md, "Forsaken-W"): layer `l` computes with
    /// `W_l * M_l`. `masks[l]` is the flat mask of the `l`-th shape of
    /// [`Net::weight_mask_shapes`]; gradients flow to the masks, not to the weights when the
    /// network is frozen.
    pub fn forward_weight_masked(&self, x: Tensor<B, 2>, masks: &[Tensor<B, 1>]) -> Tensor<B, 2> {
        let nconv = self.convs.len();
        let h = if self.convs.is_empty() {
            x
        } else {
            let [n, _] = x.dims();
            let s = &self.config.input_shape;
            let mut t: Tensor<B, 4> = x.reshape([n, s[0], s[1], s[2]]);
            for (k, conv) in self.convs.iter().enumerate() {
                let w = conv.weight.val();
                let dims = w.dims();
                let w = w * masks[k].clone().reshape(dims);
                let opts = burn::tensor::ops::ConvOptions::new(conv.stride, [0, 0], conv.dilation, conv.groups);
                t = self.pool.forward(relu(burn::tensor::module::conv2d(t, w, conv.bias.as_ref().map(|b| b.val()), opts)));
            }
            t.flatten(1, 3)
        };
        let linear = |l: &Linear<B>, m: &Tensor<B, 1>, h: Tensor<B, 2>| {
            let w = l.weight.val();
            let dims = w.dims();
            let out = h.matmul(w * m.clone().reshape(dims));
            match &l.bias {
                Some(b) => out + b.val().unsqueeze::<2>(),
                None => out,
            }
        };
        let mut h = h;
        for (j, layer) in self.dense.iter().enumerate() {
            h = linear(layer, &masks[nconv + j], h);
            h = match self.config.activation {
                Activation::Tanh => tanh(h),
                Activation::Relu => relu(h),
            };
        }
        linear(&self.head, &masks[nconv + self.dense.len()], h)
    }

    /// Fold per-weight masks into the weights (`W_l <- W_l * M_l`, exact): a plain network of
    /// the same architecture whose outputs equal [`Net::forward_weight_masked`]'s.
    pub fn fold_weight_masks(mut self, masks: &[Vec<f32>]) -> Result<Self, ModelError> {
        let shapes = self.weight_mask_shapes();
        if masks.len() != shapes.len() || masks.iter().zip(&shapes).any(|(m, s)| m.len() != s.iter().product::<usize>()) {
            return Err(ModelError::Shape(format!(
                "weight masks of sizes {:?} for weights {:?}",
                masks.iter().map(Vec::len).collect::<Vec<_>>(),
                shapes
            )));
        }
        let device = self.head.weight.device();
        let nconv = self.convs.len();
        for (k, conv) in self.convs.iter_mut().enumerate() {
            let s = Tensor::<B, 4>::from_data(TensorData::new(masks[k].clone(), shapes[k].clone()), &device);
            conv.weight = scale_param(conv.weight.clone(), s);
        }
        for (j, l) in self.dense.iter_mut().chain(std::iter::once(&mut self.head)).enumerate() {
            let shape = shapes[nconv + j].clone();
            let s = Tensor::<B, 2>::from_data(TensorData::new(masks[nconv + j].clone(), shape), &device);
            l.weight = scale_param(l.weight.clone(), s);
        }
        Ok(self)
    }

    /// Number of trainable scalars.
    pub fn parameter_count(&self) -> usize {
        self.num_params()
    }

    /// Every parameter, flat, layer by layer (weight, then bias): for distances between two
    /// networks of one architecture.
    pub fn flat_weights(&self) -> Vec<f32> {
        let mut out = Vec::with_capacity(self.parameter_count());
        for c in &self.convs {
            out.extend(crate::to_vec(c.weight.val()));
            out.extend(c.bias.iter().flat_map(|b| crate::to_vec(b.val())));
        }
        for l in self.dense.iter().chain(std::iter::once(&self.head)) {
            out.extend(crate::to_vec(l.weight.val()));
            out.extend(l.bias.iter().flat_map(|b| crate::to_vec(b.val())));
        }
        out
    }
}

/// Replace a linear layer's weight and bias with uniform(-1/sqrt(fan_in), 1/sqrt(fan_in))
/// draws from `rng`.
pub fn reinit_linear<B: Backend>(l: &mut Linear<B>, fan_in: usize, rng: &mut ChaCha8Rng) {
    l.weight = uniform_param(l.weight.clone(), fan_in, rng);
    l.bias = l.bias.take().map(|b| uniform_param(b, fan_in, rng));
}

fn reinit_conv<B: Backend>(c: &mut Conv2d<B>, fan_in: usize, rng: &mut ChaCha8Rng) {
    c.weight = uniform_param(c.weight.clone(), fan_in, rng);
    c.bias = c.bias.take().map(|b| uniform_param(b, fan_in, rng));
}

fn uniform_param<B: Backend, const D: usize>(p: Param<Tensor<B, D>>, fan_in: usize, rng: &mut ChaCha8Rng) -> Param<Tensor<B, D>> {
    let bound = 1.0 / (fan_in.max(1) as f32).sqrt();
    p.map(|t| {
        let shape = t.shape();
        let values: Vec<f32> = (0..shape.num_elements()).map(|_| rng.random_range(-bound..bound)).collect();
        Tensor::<B, D>::from_data(TensorData::new(values, shape), &t.device()).require_grad()
    })
}

fn scale_param<B: Backend, const D: usize>(p: Param<Tensor<B, D>>, s: Tensor<B, D>) -> Param<Tensor<B, D>> {
    p.map(|w| {
        let rg = w.is_require_grad();
        let out = (w * s).detach();
        if rg {
            out.require_grad()
        } else {
            out
        }
    })
}
