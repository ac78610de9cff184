//! Weights in and out as safetensors with PyTorch's `state_dict` names (docs/interop.md), through
//! burn-store: a PyTorch user loads our networks with `load_state_dict`, and we load theirs.
//!
//! The PyTorch module these files fit has the fields of [`Net`]: `convs` (a `ModuleList` of
//! `Conv2d(c_in, c_out, 3)`, no padding, each followed by ReLU and a 2x2 max-pool), `dense` (a
//! `ModuleList` of `Linear`, each followed by the activation) and `head` (a `Linear`), so the
//! names are `convs.K.weight`, `dense.K.bias`, `head.weight`, ... PyTorch stores a linear weight
//! as `[out, in]` where burn stores `[in, out]`: burn-store's adapters transpose it. A file may
//! also carry the input preprocessing, `input.mean` and `input.std` (one value per feature of
//! the flat input), which the network expects applied as `(x - mean) / std`.

use std::path::Path;

use burn::module::{Module, Param};
use burn::nn::conv::Conv2d;
use burn::nn::Linear;
use burn::tensor::backend::Backend;
use burn::tensor::{Tensor, TensorData};
use burn_store::{BurnToPyTorchAdapter, ModuleSnapshot, PyTorchToBurnAdapter, SafetensorsStore};

use crate::{ModelError, Net, NetConfig};

/// Per-feature input standardization: the network reads `(x - mean) / std`.
#[derive(Debug, Clone, PartialEq)]
pub struct InputStats {
    /// Per feature.
    pub mean: Vec<f32>,
    /// Per feature (positive).
    pub std: Vec<f32>,
}

/// The tensors of a file: the network's layers under PyTorch's names, and the preprocessing.
#[derive(Module, Debug)]
struct Exported<B: Backend> {
    convs: Vec<Conv2d<B>>,
    dense: Vec<Linear<B>>,
    head: Linear<B>,
    input: Standardization<B>,
}

#[derive(Module, Debug)]
struct Standardization<B: Backend> {
    mean: Param<Tensor<B, 1>>,
    std: Param<Tensor<B, 1>>,
}

fn err(path: &Path, msg: impl std::fmt::Display) -> ModelError {
    ModelError::Checkpoint { path: path.display().to_string(), msg: msg.to_string() }
}

/// Write `net` and its input preprocessing as safetensors that PyTorch's `load_state_dict`
/// accepts (after dropping `input.*`, which is not a parameter of the module).
pub fn export_safetensors<B: Backend>(net: &Net<B>, stats: &InputStats, path: &Path) -> Result<(), ModelError> {
    let d = net.config.input_dim();
    if stats.mean.len() != d || stats.std.len() != d {
        return Err(ModelError::Shape(format!("input statistics of {} and {} values for {d} features", stats.mean.len(), stats.std.len())));
    }
    let device = net.head.weight.device();
    let vector = |v: &[f32]| Param::from_tensor(Tensor::<B, 1>::from_data(TensorData::new(v.to_vec(), [v.len()]), &device));
    let file = Exported {
        convs: net.convs.clone(),
        dense: net.dense.clone(),
        head: net.head.clone(),
        input: Standardization { mean: vector(&stats.mean), std: vector(&stats.std) },
    };
    let mut store = SafetensorsStore::from_file(path).with_to_adapter(BurnToPyTorchAdapter).overwrite(true);
    file.save_into(&mut store).map_err(|e| err(path, e))
}

/// Read a network of architecture `config` from safetensors with PyTorch's names, and the input
/// preprocessing when the file has it. Every parameter of the architecture must be there with
/// its shape; a tensor the architecture does not have is an error too (a wrong architecture).
pub fn import_safetensors<B: Backend>(
    config: &NetConfig,
    path: &Path,
    device: &B::Device,
) -> Result<(Net<B>, Option<InputStats>), ModelError> {
    if !path.exists() {
        return Err(err(path, "no such file"));
    }
    let template = config.init::<B>(device)?;
    let d = config.input_dim();
    let ones = |v: f32| Param::from_tensor(Tensor::<B, 1>::full([d], v, device));
    let mut file = Exported {
        convs: template.convs.clone(),
        dense: template.dense.clone(),
        head: template.head.clone(),
        input: Standardization { mean: ones(f32::NAN), std: ones(f32::NAN) },
    };
    let mut store = SafetensorsStore::from_file(path).with_from_adapter(PyTorchToBurnAdapter).allow_partial(true);
    let result = file.load_from(&mut store).map_err(|e| err(path, e))?;
    if let Some(e) = result.errors.first() {
        return Err(err(path, format!("{e:?} (is the architecture the file's? --hidden, --conv, the dataset's input shape)")));
    }
    let missing: Vec<&str> = result.missing.iter().map(|(p, _)| p.as_str()).filter(|p| !p.starts_with("input.")).collect();
    if !missing.is_empty() || !result.unused.is_empty() {
        return Err(err(
            path,
            format!(
                "does not fit the architecture {:?} + hidden {:?}: missing {missing:?}, not in the architecture {:?} (docs/interop.md lists the names)",
                config.conv_channels, config.hidden, result.unused
            ),
        ));
    }
    let has_stats = result.applied.iter().any(|p| p == "input.mean") && result.applied.iter().any(|p| p == "input.std");
    let stats = if has_stats {
        let v = |p: &Param<Tensor<B, 1>>| p.val().into_data().iter::<f32>().collect::<Vec<f32>>();
        let s = InputStats { mean: v(&file.input.mean), std: v(&file.input.std) };
        if s.std.iter().any(|x| !(*x > 0.0 && x.is_finite())) || s.mean.iter().any(|x| !x.is_finite()) {
            return Err(err(path, "input.std must be positive and finite, input.mean finite"));
        }
        Some(s)
    } else {
        None
    };
    Ok((Net::assemble(config.clone(), file.convs, file.dense, file.head), stats))
}
