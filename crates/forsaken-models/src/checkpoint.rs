//! Save and load trained weights (burn's named MessagePack recorder, full precision) together
//! with the architecture as JSON beside them, so a checkpoint is self-describing.

use std::path::{Path, PathBuf};

use burn::module::Module;
use burn::record::{FullPrecisionSettings, NamedMpkFileRecorder};
use burn::tensor::backend::Backend;

use crate::{ModelError, Net, NetConfig};

fn ck_err(path: &Path, msg: impl std::fmt::Display) -> ModelError {
    ModelError::Checkpoint { path: path.display().to_string(), msg: msg.to_string() }
}

/// Save `net` as `<stem>.mpk` plus `<stem>.arch.json` (`stem`'s file name must have no dot). The weights are written to a temporary
/// name first and renamed, so an interrupted save never leaves a half-written checkpoint.
pub fn save<B: Backend>(net: &Net<B>, stem: &Path) -> Result<(), ModelError> {
    if let Some(dir) = stem.parent() {
        std::fs::create_dir_all(dir).map_err(|e| ck_err(dir, e))?;
    }
    let arch = serde_json::to_string_pretty(&net.config).map_err(|e| ck_err(stem, e))?;
    let arch_path = stem.with_extension("arch.json");
    // temporary names carry the process id, so two writers never share one
    let tmp_arch = stem.with_extension(format!("arch.json.{}.tmp", std::process::id()));
    std::fs::write(&tmp_arch, arch).map_err(|e| ck_err(&tmp_arch, e))?;
    // The recorder replaces the extension with `mpk`; a dot-file name without extension keeps
    // the temporary file distinct from the final one.
    let tmp: PathBuf = stem.with_file_name(format!(".partial-{}", std::process::id()));
    let recorder = NamedMpkFileRecorder::<FullPrecisionSettings>::new();
    net.clone().save_file(tmp.clone(), &recorder).map_err(|e| ck_err(&tmp, e))?;
    std::fs::rename(tmp.with_extension("mpk"), stem.with_extension("mpk")).map_err(|e| ck_err(stem, e))?;
    std::fs::rename(&tmp_arch, &arch_path).map_err(|e| ck_err(&arch_path, e))?;
    Ok(())
}

/// True when both files of a checkpoint exist.
pub fn exists(stem: &Path) -> bool {
    stem.with_extension("mpk").exists() && stem.with_extension("arch.json").exists()
}

/// Load a checkpoint saved by [`save`].
pub fn load<B: Backend>(stem: &Path, device: &B::Device) -> Result<Net<B>, ModelError> {
    let arch_path = stem.with_extension("arch.json");
    let text = std::fs::read_to_string(&arch_path).map_err(|e| ck_err(&arch_path, e))?;
    let config: NetConfig = serde_json::from_str(&text).map_err(|e| ck_err(&arch_path, e))?;
    let net = config.init::<B>(device)?;
    let recorder = NamedMpkFileRecorder::<FullPrecisionSettings>::new();
    let path = stem.with_extension("mpk");
    net.load_file(path.clone(), &recorder, device).map_err(|e| ck_err(&path, e))
}
