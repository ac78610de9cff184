//! Atomic file writes, config hashing and provenance (git commit).

use std::path::Path;

use anyhow::{Context, Result};
use sha2::{Digest, Sha256};

/// Write `bytes` to `path` through a temporary file in the same folder and a rename, so a
/// reader never sees a half-written file even if the process is killed.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let name = path.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
    let tmp = path.with_file_name(format!(".{name}.partial-{}", std::process::id()));
    std::fs::write(&tmp, bytes).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("renaming {} to {}", tmp.display(), path.display()))?;
    Ok(())
}

/// First 16 hex digits of the SHA-256 of a value's JSON form (serde field order is fixed by
/// the struct, so equal configs hash equally).
pub fn config_hash<T: serde::Serialize>(value: &T) -> String {
    let json = serde_json::to_vec(value).expect("configs serialize");
    let digest = Sha256::digest(&json);
    digest.iter().take(8).map(|b| format!("{b:02x}")).collect()
}

/// `git rev-parse --short HEAD` (with `-dirty` when the code differs from it: the crates, the
/// binary, xtask, the vendored burn-flex or the manifests), or `unknown`.
pub fn git_commit() -> String {
    let run = |args: &[&str]| std::process::Command::new("git").args(args).output().ok().filter(|o| o.status.success());
    match run(&["rev-parse", "--short=12", "HEAD"]) {
        Some(o) => {
            let mut c = String::from_utf8_lossy(&o.stdout).trim().to_string();
            if run(&["diff", "--quiet", "HEAD", "--", "crates", "src", "xtask", "vendor", "Cargo.toml", "Cargo.lock"]).is_none() {
                c.push_str("-dirty");
            }
            c
        }
        None => "unknown".into(),
    }
}
