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
    // one temporary file per call: two threads of one process writing the same file (the
    // suite runner's jobs both save timing.json) must not rename each other's away
    static CALLS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let call = CALLS.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let name = path.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
    let tmp = path.with_file_name(format!(".{name}.partial-{}-{call}", std::process::id()));
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

#[cfg(test)]
mod tests {
    #[test]
    fn concurrent_atomic_writes_of_one_file_all_succeed_and_leave_one_whole_version() {
        let dir = std::env::temp_dir().join(format!("forsaken-atomic-{}", std::process::id()));
        let path = dir.join("timing.json");
        std::thread::scope(|s| {
            for t in 0..4 {
                let path = &path;
                s.spawn(move || {
                    for k in 0..50 {
                        super::write_atomic(path, format!("writer {t} version {k}").repeat(100).as_bytes()).unwrap();
                    }
                });
            }
        });
        let text = std::fs::read_to_string(&path).unwrap();
        let unit = &text[..text.len() / 100];
        assert!(unit.starts_with("writer ") && text == unit.repeat(100), "one whole version, not a mix");
        let left: Vec<_> = std::fs::read_dir(&dir).unwrap().filter_map(|e| e.ok()).filter(|e| e.file_name() != "timing.json").collect();
        assert!(left.is_empty(), "no temporary file left behind");
        std::fs::remove_dir_all(&dir).ok();
    }
}
