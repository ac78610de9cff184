//! Code identity: a SHA-256 of every source file of each workspace library crate, of
//! `Cargo.lock` and of `vendor/`, handed to the crate as `FORSAKEN_CODE_IDENTITY` (JSON: part ->
//! hash). A result is reused only under the identity of the code it depends on
//! (`identity.rs`); the README, results and docs are not part of any identity, so a commit that
//! touches only them invalidates nothing.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

/// The library crates, bottom layer first.
const CRATES: &[&str] =
    &["forsaken-metrics", "forsaken-data", "forsaken-models", "forsaken-mia", "forsaken-mask", "forsaken-baselines", "forsaken-repro"];

fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            files(&p, out);
        } else {
            out.push(p);
        }
    }
}

/// SHA-256 over the sorted relative paths and contents of `paths` (files or folders).
fn hash(root: &Path, paths: &[PathBuf]) -> String {
    let mut all = Vec::new();
    // cargo reruns a build script on every build when a watched path does not exist
    for p in paths.iter().filter(|p| p.exists()) {
        println!("cargo:rerun-if-changed={}", p.display());
        if p.is_dir() {
            files(p, &mut all);
        } else if p.exists() {
            all.push(p.clone());
        }
    }
    all.sort();
    let mut h = Sha256::new();
    for f in all {
        h.update(f.strip_prefix(root).unwrap_or(&f).to_string_lossy().as_bytes());
        h.update([0]);
        h.update(std::fs::read(&f).unwrap_or_default());
        h.update([0]);
    }
    h.finalize().iter().take(12).map(|b| format!("{b:02x}")).collect()
}

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut parts = Vec::new();
    // the audit's statistics (`forsaken-metrics/src/audit.rs`) are a part of their own: they
    // determine audit records, not the models that every other kind depends on
    let audit_stats = root.join("crates/forsaken-metrics/src/audit.rs");
    for c in CRATES {
        let dir = root.join("crates").join(c);
        let mut paths = vec![dir.join("Cargo.toml"), dir.join("build.rs")];
        let mut sources = Vec::new();
        files(&dir.join("src"), &mut sources);
        paths.extend(sources.into_iter().filter(|f| f != &audit_stats));
        println!("cargo:rerun-if-changed={}", dir.join("src").display());
        parts.push((c.to_string(), hash(&root, &paths)));
    }
    parts.push(("forsaken-metrics/audit".into(), hash(&root, &[audit_stats.clone()])));
    // the part of the harness that prepares data and trains artefacts (subsets, splits,
    // seeds, cache keys): artefacts depend on it, not on the tables or the report
    let repro = root.join("crates/forsaken-repro/src");
    parts.push(("forsaken-repro/pipeline".into(), hash(&root, &[repro.join("pipeline.rs"), repro.join("identity.rs")])));
    // what makes an audit population (and the methods it runs), not the statistics on it
    let population = [repro.join("population.rs"), repro.join("methods.rs"), repro.join("pipeline.rs"), repro.join("identity.rs")];
    parts.push(("forsaken-repro/population".into(), hash(&root, &population)));
    parts.push(("Cargo.lock".into(), hash(&root, &[root.join("Cargo.lock")])));
    parts.push(("vendor".into(), hash(&root, &[root.join("vendor")])));
    let json: Vec<String> = parts.iter().map(|(k, v)| format!("\"{k}\":\"{v}\"")).collect();
    println!("cargo:rustc-env=FORSAKEN_CODE_IDENTITY={{{}}}", json.join(","));
}
