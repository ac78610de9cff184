//! Check a data directory against the SHA-256 manifest of `data/SOURCES.md`, then load each
//! dataset and count its samples.
//!
//! Hashes are streamed (the CIFAR-10 tarball is 115 MB). For `.gz` files whose bytes depend on
//! the compressor (MNIST, Fashion-MNIST, digits) the manifest holds the hash of the
//! **uncompressed** content, as SOURCES.md advises; everything else is hashed as stored.
//! CIFAR-10 is checked as the tarball, or, for an unpacked `cifar-10-batches-bin/`, file by
//! file. The CIFAR-10 hashes are those of the project's lossy shared copy: an official download
//! is expected to differ, and the mismatch line says so.

use std::io::Read;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::registry::{self, DATASETS};
use crate::{cifar10, DataError};

/// What a manifest hash is computed over.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum HashOf {
    /// The file's bytes as stored.
    Stored,
    /// The gzip-decompressed content.
    Gunzipped,
}

/// One file of the manifest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ManifestEntry {
    /// Registry id.
    pub dataset: &'static str,
    /// Path relative to the data directory.
    pub path: &'static str,
    /// Lowercase hex SHA-256.
    pub sha256: &'static str,
    /// What the hash covers.
    pub of: HashOf,
    /// Needed to load the dataset (else documentation or provenance only).
    pub required: bool,
}

const fn e(dataset: &'static str, path: &'static str, sha256: &'static str, of: HashOf, required: bool) -> ManifestEntry {
    ManifestEntry { dataset, path, sha256, of, required }
}

use HashOf::{Gunzipped as G, Stored as S};

/// SHA-256 of every file, copied from `data/SOURCES.md` (uncompressed content for MNIST,
/// Fashion-MNIST and digits).
pub const MANIFEST: &[ManifestEntry] = &[
    e("mnist", "mnist/train-images-idx3-ubyte.gz", "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db", G, true),
    e("mnist", "mnist/train-labels-idx1-ubyte.gz", "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5", G, true),
    e("mnist", "mnist/t10k-images-idx3-ubyte.gz", "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7", G, true),
    e("mnist", "mnist/t10k-labels-idx1-ubyte.gz", "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2", G, true),
    e(
        "fashion-mnist",
        "fashion-mnist/train-images-idx3-ubyte.gz",
        "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
        G,
        true,
    ),
    e(
        "fashion-mnist",
        "fashion-mnist/train-labels-idx1-ubyte.gz",
        "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
        G,
        true,
    ),
    e(
        "fashion-mnist",
        "fashion-mnist/t10k-images-idx3-ubyte.gz",
        "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
        G,
        true,
    ),
    e(
        "fashion-mnist",
        "fashion-mnist/t10k-labels-idx1-ubyte.gz",
        "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
        G,
        true,
    ),
    e("cifar-10", "cifar-10/cifar-10-binary.tar.gz", "73f17ae8bf563c96fbcd7bc6423ca6589abb3108e1fc6ce110347a65721f66c1", S, true),
    e("cifar-10", "cifar-10/record-sources.csv.gz", "306dc2d952e3b569d0529324810d2c1edd1c2883713f0bb2dcf105e09122499c", S, false),
    e("location", "location/dataset_location.tgz", "927203f85a868f8ee17a0ded1dc61699efe602167beabe34fbf45b4b1de94b33", S, true),
    e("adult", "adult/adult.data", "5b00264637dbfec36bdeaab5676b0b309ff9eb788d63554ca0a249491c86603d", S, true),
    e("adult", "adult/adult.test", "a2a9044bc167a35b2361efbabec64e89d69ce82d9790d2980119aac5fd7e9c05", S, true),
    e("adult", "adult/adult.names", "c248284c0b5de30c9e1958d6cdd168a34a654758b620e68f46aefa83fc0a576a", S, true),
    e("diabetes", "diabetes/diabetes.arff", "01c38ba089121a39a4ee5bafb3c9bddd71e4337d8f0268c85a999a37c1a027e6", S, true),
    e("digits", "digits/digits.csv.gz", "6ebb3d2fee246a4e99363262ddf8a00a3c41bee6014c373ed9d9216ba7f651b8", G, true),
    e("digits", "digits/digits.rst", "8e7e58d612958f7d9b0de1931ed68b211703eeb239e808f3d82c5f0837cc0222", S, false),
    e("breast-cancer", "breast-cancer/breast_cancer.csv", "fed3eb72d0575ef6192293f5093c6e801b1476b577d0386bf4455504522172ed", S, true),
    e("breast-cancer", "breast-cancer/breast_cancer.rst", "3c5855182a44d12c91f1fb27388741fb70b4b92ba40fb742dca9b5e404c68f19", S, false),
];

/// Members of the shared CIFAR-10 tarball, for an unpacked `cifar-10-batches-bin/` folder:
/// (file name, SHA-256, required).
pub const CIFAR_MEMBERS: &[(&str, &str, bool)] = &[
    ("README-LOSSY.txt", "d0ee23019c853d09ffa64238cc9ace496c5559e5b9f7b6797832f5b7ba85b728", false),
    ("batches.meta.txt", "2ce042b1e0b48db4bb214408e6414ba18b2731c24af244f2d6c112fddf31af00", false),
    ("data_batch_1.bin", "01e3803c0923ee5e88522ba49ba91c15ae8c0b86f709890527b58704454a04d7", true),
    ("data_batch_2.bin", "54eed81c862aec930bf28585a7e9a82e7f6870e0aa2f5bc960cc7527a92c6e75", true),
    ("data_batch_3.bin", "a13b9ab9db1b1aefa60be682d20a917c72e35baa37832388e094076578c0f855", true),
    ("test_batch.bin", "99549793e9568ed3246692feab7f4a59557fa0581f8545f29456380e266cbdc8", true),
];

/// The outcome of one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// The file's hash matches the manifest.
    Verified,
    /// The file's hash differs from the manifest.
    Mismatch,
    /// A required file (or the whole dataset) is not there.
    Missing,
    /// The dataset loaded; the line holds its counts.
    Loaded,
    /// Reading, hashing or loading failed.
    Error,
    /// Informational (an optional file absent, a file without a manifest hash, ...).
    Note,
}

impl Status {
    fn word(self) -> &'static str {
        match self {
            Status::Verified => "verified",
            Status::Mismatch => "MISMATCH",
            Status::Missing => "missing",
            Status::Loaded => "loaded",
            Status::Error => "ERROR",
            Status::Note => "note",
        }
    }
}

/// One line of the verification report.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct VerifyLine {
    /// Registry id.
    pub dataset: String,
    /// Outcome.
    pub status: Status,
    /// The file concerned (or the place looked at), if any.
    pub path: Option<PathBuf>,
    /// Details: expected and actual hashes, counts, the error.
    pub detail: String,
}

impl VerifyLine {
    fn new(dataset: &str, status: Status, path: Option<PathBuf>, detail: String) -> Self {
        Self { dataset: dataset.to_string(), status, path, detail }
    }

    /// A mismatch or an error (a missing dataset is not a problem by itself: CIFAR-10 is often
    /// absent).
    pub fn is_problem(&self) -> bool {
        matches!(self.status, Status::Mismatch | Status::Error)
    }
}

impl std::fmt::Display for VerifyLine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:<14} {:<9}", self.dataset, self.status.word())?;
        match (&self.path, self.detail.is_empty()) {
            (Some(p), true) => write!(f, " {}", p.display()),
            (Some(p), false) => write!(f, " {}: {}", p.display(), self.detail),
            (None, _) => write!(f, " {}", self.detail),
        }
    }
}

/// SHA-256 (lowercase hex) of a reader's content, streamed.
fn sha256_reader(mut r: impl Read) -> std::io::Result<String> {
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = r.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(h.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

/// SHA-256 of a file's bytes, streamed.
pub fn sha256_file(path: &Path) -> Result<String, DataError> {
    let f = std::fs::File::open(path).map_err(|e| DataError::io(path, e))?;
    sha256_reader(std::io::BufReader::new(f)).map_err(|e| DataError::io(path, e))
}

/// SHA-256 of a gzip file's decompressed content, streamed.
pub fn sha256_gunzip(path: &Path) -> Result<String, DataError> {
    let f = std::fs::File::open(path).map_err(|e| DataError::io(path, e))?;
    sha256_reader(flate2::read::GzDecoder::new(std::io::BufReader::new(f)))
        .map_err(|e| DataError::format(path, "gzip stream", format!("corrupt or truncated: {e}")))
}

/// Hash `path` and compare with `expected`; `note` is appended to a mismatch.
fn check(id: &str, path: PathBuf, expected: &str, of: HashOf, note: &str) -> VerifyLine {
    let actual = match of {
        HashOf::Stored => sha256_file(&path),
        HashOf::Gunzipped => sha256_gunzip(&path),
    };
    let what = match of {
        HashOf::Stored => "sha256",
        HashOf::Gunzipped => "sha256 of the uncompressed content",
    };
    match actual {
        Ok(a) if a == expected => VerifyLine::new(id, Status::Verified, Some(path), format!("{what} {a}")),
        Ok(a) => VerifyLine::new(id, Status::Mismatch, Some(path), format!("{what}: expected {expected}, actual {a}{note}")),
        Err(e) => VerifyLine::new(id, Status::Error, Some(path), e.to_string()),
    }
}

/// Verify every registered dataset under `data_dir`: hashes, then load and count.
pub fn verify(data_dir: &Path) -> Vec<VerifyLine> {
    let ids: Vec<&str> = DATASETS.iter().map(|d| d.id).collect();
    verify_datasets(data_dir, &ids, true)
}

/// Verify the given datasets; `load` also loads each complete one and reports its pool size,
/// per-class counts and default split sizes.
pub fn verify_datasets(data_dir: &Path, ids: &[&str], load: bool) -> Vec<VerifyLine> {
    let mut out = Vec::new();
    for &id in ids {
        let before = out.len();
        let complete = match id {
            "cifar-10" => verify_cifar(data_dir, &mut out),
            _ => verify_files(id, data_dir, &mut out),
        };
        if before == out.len() {
            out.push(VerifyLine::new(id, Status::Error, None, "no file of this dataset in the manifest".into()));
        }
        if complete && load {
            out.push(count(id, data_dir));
        }
    }
    out
}

/// Check the manifest files of `id`; true when every required file is present.
fn verify_files(id: &str, data_dir: &Path, out: &mut Vec<VerifyLine>) -> bool {
    let mut complete = true;
    for m in MANIFEST.iter().filter(|m| m.dataset == id) {
        let p = data_dir.join(m.path);
        if p.is_file() {
            out.push(check(id, p, m.sha256, m.of, ""));
        } else if m.required {
            complete = false;
            out.push(VerifyLine::new(
                id,
                Status::Missing,
                Some(p),
                "not found (pass --data-dir or set FORSAKEN_DATA_DIR; see data/SOURCES.md)".into(),
            ));
        } else {
            out.push(VerifyLine::new(id, Status::Note, Some(p), "optional file absent".into()));
        }
    }
    complete
}

const CIFAR_NOTE: &str = " (the manifest holds the project's lossy shared copy; an official \
                          download is expected to differ)";

/// CIFAR-10: the tarball, else the unpacked folder, else a missing line naming both.
fn verify_cifar(data_dir: &Path, out: &mut Vec<VerifyLine>) -> bool {
    let id = "cifar-10";
    let located = match cifar10::locate(data_dir) {
        Ok(s) => s,
        Err(e) => {
            let looked = data_dir.join(cifar10::TARBALL);
            let detail = match e {
                DataError::NotFound { hint, .. } => format!("not found. {hint}"),
                e => e.to_string(),
            };
            out.push(VerifyLine::new(id, Status::Missing, Some(looked), detail));
            return false;
        }
    };
    match located {
        cifar10::Source::Tarball(p) => {
            let m = MANIFEST.iter().find(|m| m.path == cifar10::TARBALL).expect("tarball in manifest");
            out.push(check(id, p, m.sha256, m.of, CIFAR_NOTE));
        }
        cifar10::Source::Folder(dir) => {
            for (name, sha, required) in CIFAR_MEMBERS {
                let p = dir.join(name);
                if p.is_file() {
                    out.push(check(id, p, sha, HashOf::Stored, CIFAR_NOTE));
                } else if *required {
                    out.push(VerifyLine::new(
                        id,
                        Status::Note,
                        Some(p),
                        "absent (an official copy may name its batches differently)".into(),
                    ));
                }
            }
            let mut extra: Vec<String> = std::fs::read_dir(&dir)
                .map(|rd| {
                    rd.filter_map(|e| e.ok())
                        .map(|e| e.file_name().to_string_lossy().into_owned())
                        .filter(|n| CIFAR_MEMBERS.iter().all(|m| m.0 != n))
                        .collect()
                })
                .unwrap_or_default();
            extra.sort();
            if !extra.is_empty() {
                out.push(VerifyLine::new(
                    id,
                    Status::Note,
                    Some(dir),
                    format!("files without a manifest hash (official release?): {}", extra.join(", ")),
                ));
            }
        }
    }
    let sources = MANIFEST.iter().find(|m| m.path == "cifar-10/record-sources.csv.gz").expect("record sources in manifest");
    let p = data_dir.join(sources.path);
    if p.is_file() {
        out.push(check(id, p, sources.sha256, sources.of, ""));
    }
    true
}

/// Load a dataset and report pool size, class counts and whether the default splits fit.
fn count(id: &str, data_dir: &Path) -> VerifyLine {
    let info = match registry::info(id) {
        Ok(i) => i,
        Err(e) => return VerifyLine::new(id, Status::Error, None, e.to_string()),
    };
    match registry::load(id, data_dir) {
        Err(e) => VerifyLine::new(id, Status::Error, None, format!("loading failed: {e}")),
        Ok(d) => {
            let s = info.sizes;
            let fixed = s.target_train + s.target_test + s.reference;
            let shadow = s.shadow.unwrap_or(d.len().saturating_sub(fixed));
            let fits = fixed + shadow <= d.len();
            let pool = if d.len() == info.pool {
                format!("pool {} (as registered)", d.len())
            } else {
                format!("pool {} (registry says {})", d.len(), info.pool)
            };
            let splits = format!(
                "default splits target_train {} / target_test {} / reference {} / shadow {}{}",
                s.target_train,
                s.target_test,
                s.reference,
                shadow,
                if fits { "" } else { " DO NOT FIT the pool" }
            );
            VerifyLine::new(
                id,
                if fits { Status::Loaded } else { Status::Error },
                None,
                format!("{pool}; {} features of shape {:?}; per-class counts {:?}; {splits}", d.dim(), d.shape, d.class_counts()),
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vendored() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data")
    }

    #[test]
    fn manifest_covers_every_registry_file() {
        for d in DATASETS {
            for f in d.files {
                assert!(MANIFEST.iter().any(|m| m.path == *f && m.dataset == d.id), "{f} has no hash");
            }
        }
        for m in MANIFEST {
            assert_eq!(m.sha256.len(), 64, "{}", m.path);
            assert!(m.sha256.bytes().all(|b| b.is_ascii_hexdigit()));
        }
    }

    #[test]
    fn vendored_small_datasets_verify_and_load() {
        let lines = verify_datasets(&vendored(), &["diabetes", "breast-cancer", "digits"], true);
        let text: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
        assert!(lines.iter().all(|l| !l.is_problem()), "{text:#?}");
        let verified = lines.iter().filter(|l| l.status == Status::Verified).count();
        assert_eq!(verified, 5, "{text:#?}");
        let bc = lines.iter().find(|l| l.dataset == "breast-cancer" && l.status == Status::Loaded).unwrap();
        assert!(bc.detail.contains("pool 569 (as registered)") && bc.detail.contains("[212, 357]"), "{bc}");
    }

    #[test]
    fn detects_a_mismatching_file_and_reports_missing_ones() {
        let dir = std::env::temp_dir().join(format!("forsaken-verify-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("diabetes")).unwrap();
        std::fs::write(dir.join("diabetes/diabetes.arff"), "@relation x\n").unwrap();
        let lines = verify(&dir);
        let bad = lines.iter().find(|l| l.dataset == "diabetes" && l.status == Status::Mismatch).expect("a mismatch line");
        let s = bad.to_string();
        assert!(
            s.contains("diabetes.arff")
                && s.contains("expected 01c38ba089121a39a4ee5bafb3c9bddd71e4337d8f0268c85a999a37c1a027e6")
                && s.contains("actual "),
            "{s}"
        );
        // The bogus file is then loaded and fails with a clear error.
        assert!(lines.iter().any(|l| l.dataset == "diabetes" && l.status == Status::Error));
        let cifar = lines.iter().find(|l| l.dataset == "cifar-10").unwrap();
        assert_eq!(cifar.status, Status::Missing);
        assert!(cifar.detail.contains("cifar-10-batches-bin"), "{cifar}");
        assert!(lines.iter().any(|l| l.dataset == "mnist" && l.status == Status::Missing));
        // A gzip file whose content is wrong.
        std::fs::create_dir_all(dir.join("digits")).unwrap();
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut enc, b"1,2,3\n").unwrap();
        std::fs::write(dir.join("digits/digits.csv.gz"), enc.finish().unwrap()).unwrap();
        let lines = verify_datasets(&dir, &["digits"], false);
        assert_eq!(lines[0].status, Status::Mismatch);
        assert!(lines[0].detail.contains("uncompressed"), "{}", lines[0]);
        std::fs::remove_dir_all(&dir).ok();
    }

    /// The whole data directory (`FORSAKEN_DATA_DIR`, else the vendored `data/`), loading
    /// everything: `FORSAKEN_DATA_DIR=/path cargo test -p forsaken-data -- --ignored --nocapture`.
    #[test]
    #[ignore = "reads every dataset (minutes in a debug build)"]
    fn full_data_dir() {
        let dir = crate::registry::resolve_data_dir(None);
        let dir = if dir.is_absolute() { dir } else { vendored() };
        let lines = verify(&dir);
        for l in &lines {
            println!("{l}");
        }
        assert!(lines.iter().all(|l| !l.is_problem()));
    }
}
