//! Identity: what determines an artefact or a result, hashed, so that a number is reused only
//! when everything behind it is the same.
//!
//! * **Data**: the content hash of the loaded dataset ([`forsaken_data::Dataset::content_hash`]:
//!   its shape, labels and feature bytes), so other files under the same name never pass for it.
//! * **Code**: per artefact kind, the hash of the sources of the crates it depends on, of
//!   `Cargo.lock` and of `vendor/` ([`CodeIdentity`], computed by `build.rs`). The git commit is
//!   provenance only: a commit that touches only the README or results changes no identity.
//! * **Backend**: its name (`flex`, `ndarray`, `cuda`).
//!
//! Keys combine these with the settings ([`key`]); records carry theirs with its parts
//! ([`Identity`]), so that a resume can say why a record is recomputed.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// What an artefact or a result is, for the code it depends on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A trained target model (data, models, the training loop).
    Target,
    /// A shadow pool and the oracles fitted on it.
    ShadowPool,
    /// A cell: one method run on one forget set, measured under every oracle.
    Cell,
    /// An audit population: N models retrained, or N runs of a method (`population.rs`).
    Population,
}

impl Kind {
    /// The crates (and other parts) whose code determines this kind.
    fn parts(self) -> &'static [&'static str] {
        const TARGET: &[&str] =
            &["forsaken-metrics", "forsaken-data", "forsaken-models", "forsaken-repro/pipeline", "Cargo.lock", "vendor"];
        const POOL: &[&str] =
            &["forsaken-metrics", "forsaken-data", "forsaken-models", "forsaken-mia", "forsaken-repro/pipeline", "Cargo.lock", "vendor"];
        const CELL: &[&str] = &[
            "forsaken-metrics",
            "forsaken-metrics/audit",
            "forsaken-data",
            "forsaken-models",
            "forsaken-mia",
            "forsaken-mask",
            "forsaken-baselines",
            "forsaken-repro",
            "Cargo.lock",
            "vendor",
        ];
        const POPULATION: &[&str] = &[
            "forsaken-metrics",
            "forsaken-data",
            "forsaken-models",
            "forsaken-mia",
            "forsaken-mask",
            "forsaken-baselines",
            "forsaken-repro/population",
            "Cargo.lock",
            "vendor",
        ];
        match self {
            Kind::Target => TARGET,
            Kind::ShadowPool => POOL,
            Kind::Cell => CELL,
            Kind::Population => POPULATION,
        }
    }
}

/// The hash of every part of the code (each library crate's sources, `Cargo.lock`, `vendor/`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CodeIdentity {
    /// Part -> hash.
    pub parts: BTreeMap<String, String>,
}

impl CodeIdentity {
    /// The identity of the code this binary was built from.
    pub fn built() -> Self {
        let parts = serde_json::from_str(env!("FORSAKEN_CODE_IDENTITY")).expect("build.rs writes a JSON object");
        Self { parts }
    }

    /// The hash of the parts `kind` depends on.
    pub fn of(&self, kind: Kind) -> String {
        let parts: BTreeMap<&str, &str> = kind.parts().iter().map(|p| (*p, self.parts.get(*p).map_or("missing", String::as_str))).collect();
        crate::io::config_hash(&parts)
    }
}

/// The identity of a record: its key and the parts it was made from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    /// Hash of everything below.
    pub key: String,
    /// Content hash of the data.
    pub data: String,
    /// Code identity of the record's kind.
    pub code: String,
    /// Backend.
    pub backend: String,
    /// Hash of the settings (the record's config).
    pub config: String,
}

impl Identity {
    /// The identity of an artefact or a result of `kind` with these settings.
    pub fn new<T: Serialize>(kind: Kind, settings: &T, data: &str, code: &CodeIdentity, backend: &str) -> Self {
        let (code, config) = (code.of(kind), crate::io::config_hash(settings));
        let key = key(&[data, &code, backend, &config]);
        Self { key, data: data.into(), code, backend: backend.into(), config }
    }

    /// Why a record of `self` cannot stand for `wanted` (`None`: it can).
    pub fn differs(&self, wanted: &Identity) -> Option<&'static str> {
        if self.key == wanted.key {
            None
        } else if self.data != wanted.data {
            Some("data changed")
        } else if self.code != wanted.code {
            Some("code changed")
        } else if self.backend != wanted.backend {
            Some("backend changed")
        } else {
            Some("settings changed")
        }
    }
}

/// The version of [`ModelManifest`] this build writes and reads.
pub const MANIFEST_VERSION: u32 = 1;

/// What a saved model is: the identity it was trained under, its architecture and spec, and the
/// SHA-256 of its weight file, so that a loaded model is the one its key promises.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelManifest {
    /// [`MANIFEST_VERSION`] when written.
    pub version: u32,
    /// The key and its parts (data, code, backend, settings).
    pub identity: Identity,
    /// The settings it was trained with (for a target: the experiment spec, architecture and
    /// recipe included).
    pub settings: serde_json::Value,
    /// SHA-256 of the indices it trained on.
    pub split: String,
    /// SHA-256 of `<stem>.mpk`.
    pub weights_sha256: String,
}

/// SHA-256 of `bytes`, hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// SHA-256 of a list of indices, in the order given, each as 8 little-endian bytes.
pub fn indices_sha256(idx: &[usize]) -> String {
    let bytes: Vec<u8> = idx.iter().flat_map(|i| (*i as u64).to_le_bytes()).collect();
    sha256_hex(&bytes)
}

fn manifest_path(stem: &std::path::Path) -> std::path::PathBuf {
    stem.with_extension("manifest.json")
}

impl ModelManifest {
    /// Describe the checkpoint at `stem` (its weights must be saved) and write the manifest
    /// beside it, atomically.
    pub fn write<T: Serialize>(stem: &std::path::Path, identity: Identity, settings: &T, split: &[usize]) -> anyhow::Result<Self> {
        let weights = std::fs::read(stem.with_extension("mpk"))?;
        let m = Self {
            version: MANIFEST_VERSION,
            identity,
            settings: serde_json::to_value(settings)?,
            split: indices_sha256(split),
            weights_sha256: sha256_hex(&weights),
        };
        crate::io::write_atomic(&manifest_path(stem), serde_json::to_string_pretty(&m)?.as_bytes())?;
        Ok(m)
    }

    /// Check the checkpoint at `stem` against its manifest: a version this build reads, the
    /// `wanted` key, and weights whose SHA-256 matches. `Ok(false)`: there is no manifest (a save
    /// interrupted before it was written), so the checkpoint must not be trusted.
    pub fn verify(stem: &std::path::Path, wanted: &Identity) -> anyhow::Result<bool> {
        if !manifest_path(stem).exists() {
            return Ok(false);
        }
        let dir = stem.parent().unwrap_or(stem).display().to_string();
        let advice = format!("delete {dir} to retrain");
        let m = Self::read(stem, &advice)?;
        if m.identity.key != wanted.key {
            anyhow::bail!(
                "{}: holds key {}, not {} ({}); {advice}",
                manifest_path(stem).display(),
                m.identity.key,
                wanted.key,
                m.identity.differs(wanted).unwrap_or("?")
            );
        }
        m.weights_match(stem, &advice)?;
        Ok(true)
    }

    /// Check the weights of a model folder's checkpoint at `stem` before it is loaded: its
    /// manifest must be there, of a version this build reads, with the weights' SHA-256. A
    /// changed, truncated or replaced weight file is an error naming it, never a silently
    /// different model.
    pub fn check_weights(stem: &std::path::Path) -> anyhow::Result<()> {
        let path = manifest_path(stem);
        if !path.exists() {
            anyhow::bail!(
                "{}: no model manifest beside {} (a save interrupted before it was written, or not a folder written by forsaken)",
                path.display(),
                stem.with_extension("mpk").display()
            );
        }
        let advice = "rewrite the folder with the command that made it";
        Self::read(stem, advice)?.weights_match(stem, advice)
    }

    /// The manifest at `stem`, of a version this build reads.
    fn read(stem: &std::path::Path, advice: &str) -> anyhow::Result<Self> {
        let path = manifest_path(stem);
        let value: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&path)?)
            .map_err(|e| anyhow::anyhow!("{}: not a model manifest ({e}); {advice}", path.display()))?;
        let version = value["version"].as_u64().unwrap_or(0);
        if version != MANIFEST_VERSION as u64 {
            anyhow::bail!(
                "{}: manifest version {version}, this build reads version {MANIFEST_VERSION}; use the forsaken that wrote it, or {advice}",
                path.display()
            );
        }
        serde_json::from_value(value).map_err(|e| anyhow::anyhow!("{}: {e}; {advice}", path.display()))
    }

    fn weights_match(&self, stem: &std::path::Path, advice: &str) -> anyhow::Result<()> {
        let weights = stem.with_extension("mpk");
        let bytes = std::fs::read(&weights).map_err(|e| anyhow::anyhow!("{}: {e}", weights.display()))?;
        if sha256_hex(&bytes) != self.weights_sha256 {
            anyhow::bail!("{}: the weights' SHA-256 differs from the manifest's (a corrupt or replaced file); {advice}", weights.display());
        }
        Ok(())
    }
}

/// A key: the hash of its parts, in order.
pub fn key(parts: &[&str]) -> String {
    crate::io::config_hash(&parts)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code() -> CodeIdentity {
        CodeIdentity { parts: CodeIdentity::built().parts }
    }

    #[test]
    fn the_built_identity_covers_every_crate_the_lock_and_vendor() {
        let c = CodeIdentity::built();
        for p in Kind::Cell.parts() {
            assert!(c.parts.get(*p).is_some_and(|h| h.len() == 24), "{p}: {:?}", c.parts.get(*p));
        }
    }

    #[test]
    fn a_change_in_one_crate_changes_exactly_the_kinds_that_depend_on_it() {
        let base = code();
        let changed = |part: &str| {
            let mut c = base.clone();
            c.parts.insert(part.into(), "edited".into());
            [Kind::Target, Kind::ShadowPool, Kind::Cell, Kind::Population].map(|k| c.of(k) != base.of(k))
        };
        assert_eq!(changed("forsaken-data"), [true, true, true, true]);
        assert_eq!(changed("forsaken-mia"), [false, true, true, true]);
        assert_eq!(changed("forsaken-mask"), [false, false, true, true]);
        assert_eq!(
            changed("forsaken-repro"),
            [false, false, true, false],
            "the tables, the report and the audit's statistics retrain nothing"
        );
        assert_eq!(changed("forsaken-repro/pipeline"), [true, true, false, false], "cells hash all of forsaken-repro, this included");
        assert_eq!(changed("forsaken-repro/population"), [false, false, false, true]);
        assert_eq!(changed("forsaken-metrics/audit"), [false, false, true, false], "the audit's statistics retrain nothing");
        assert_eq!(changed("vendor"), [true, true, true, true]);
        // the README, the results and the binary are no part of any identity
        assert_eq!(changed("README.md"), [false, false, false, false]);
    }

    #[test]
    fn a_manifest_vouches_for_its_weights_its_key_and_its_version() {
        let dir = std::env::temp_dir().join(format!("forsaken-manifest-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let stem = dir.join("target");
        std::fs::write(stem.with_extension("mpk"), b"weights").unwrap();
        let id = Identity::new(Kind::Target, &1, "data", &code(), "flex");
        assert!(!ModelManifest::verify(&stem, &id).unwrap(), "no manifest: not trusted");
        ModelManifest::write(&stem, id.clone(), &serde_json::json!({"epochs": 3}), &[1, 2, 3]).unwrap();
        assert!(ModelManifest::verify(&stem, &id).unwrap());
        let other = Identity::new(Kind::Target, &2, "data", &code(), "flex");
        let err = ModelManifest::verify(&stem, &other).unwrap_err().to_string();
        assert!(err.contains("settings changed") && err.contains("delete"), "{err}");
        std::fs::write(stem.with_extension("mpk"), b"weightz").unwrap();
        let err = ModelManifest::verify(&stem, &id).unwrap_err().to_string();
        assert!(err.contains("SHA-256 differs"), "{err}");
        let text = std::fs::read_to_string(stem.with_extension("manifest.json")).unwrap();
        std::fs::write(stem.with_extension("manifest.json"), text.replace("\"version\": 1", "\"version\": 2")).unwrap();
        let err = ModelManifest::verify(&stem, &id).unwrap_err().to_string();
        assert!(err.contains("manifest version 2, this build reads version 1"), "{err}");
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn an_identity_says_which_part_differs() {
        let c = code();
        let a = Identity::new(Kind::Cell, &serde_json::json!({"steps": 20}), "d1", &c, "flex");
        assert_eq!(a.differs(&a.clone()), None);
        assert_eq!(a.differs(&Identity::new(Kind::Cell, &serde_json::json!({"steps": 20}), "d2", &c, "flex")), Some("data changed"));
        assert_eq!(a.differs(&Identity::new(Kind::Cell, &serde_json::json!({"steps": 20}), "d1", &c, "ndarray")), Some("backend changed"));
        assert_eq!(a.differs(&Identity::new(Kind::Cell, &serde_json::json!({"steps": 40}), "d1", &c, "flex")), Some("settings changed"));
        let mut edited = c.clone();
        edited.parts.insert("forsaken-mask".into(), "x".into());
        assert_eq!(a.differs(&Identity::new(Kind::Cell, &serde_json::json!({"steps": 20}), "d1", &edited, "flex")), Some("code changed"));
    }
}
