//! Deletion receipts (docs/receipts.md): what `forsaken unlearn` ran and what the audit measured,
//! with the hashes of everything it ran on, so that `forsaken verify-receipt` can recompute them.
//! A receipt is evidence of what was run and measured; it is not a cryptographic proof that the
//! data was forgotten, and it is not signed.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use burn::tensor::backend::AutodiffBackend;
use serde::{Deserialize, Serialize};

use forsaken_data::split::read_indices;

use crate::identity::{indices_sha256, sha256_hex, CodeIdentity, Kind};
use crate::io::write_atomic;
use crate::workflow::{self, Audit, Env};

/// The receipt format this build writes and reads.
pub const RECEIPT_VERSION: u32 = 1;

/// The file name of a receipt in an unlearned model's folder.
pub const RECEIPT_FILE: &str = "receipt.json";

/// What a deletion must reach for its receipt to say `met`, under one oracle (the user's to set).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Thresholds {
    /// The oracle whose forgetting rate is judged.
    pub oracle: String,
    /// The forgetting rate on the forget set must be at least this.
    pub min_fr: f64,
    /// FR on the retained set must be at most this (how much the model forgot of what it keeps).
    pub max_fr_retained: Option<f64>,
}

/// One oracle's line of the receipt's audit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OracleLine {
    /// The oracle's AUC on the original model (members vs non-members): how much it can see.
    pub auc: f64,
    /// Forgetting rate on the forget set (null: undefined, no member seen before).
    pub fr: Option<f64>,
    /// Its 95% bootstrap interval.
    pub fr_ci: Option<(f64, f64)>,
    /// The counts FR is computed from: forget-set samples judged members (`b_t`, `a_t`) and
    /// non-members (`b_f`, `a_f`) before and after unlearning.
    pub counts: forsaken_metrics::FrCounts,
    /// FR on (a sample of) the retained set.
    pub fr_retained: Option<f64>,
    /// Selectivity against the retrained model, when one was given.
    pub selectivity: Option<f64>,
}

/// A deletion receipt.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Receipt {
    /// [`RECEIPT_VERSION`].
    pub version: u32,
    /// The forsaken version that wrote it.
    pub forsaken: String,
    /// The original model's folder (as given) and the SHA-256 of each weight file in it.
    pub original: Weights,
    /// The unlearned model's weight files and their SHA-256.
    pub unlearned: Weights,
    /// The dataset id and the content hash of its data (the identity module's: SHA-256 of its
    /// shape, labels and feature bytes, 96 bits).
    pub dataset: String,
    /// See `dataset`.
    pub data_hash: String,
    /// Forget-set samples.
    pub forget_count: usize,
    /// SHA-256 of the sorted forget indices (each as 8 little-endian bytes).
    pub forget_sha256: String,
    /// The method and its resolved settings.
    pub method: String,
    /// See `method`.
    pub settings: serde_json::Value,
    /// Why the method stopped.
    pub stop_reason: String,
    /// The code identity of a result (the identity module's, of every library crate), and the
    /// backend.
    pub code: String,
    /// See `code`.
    pub backend: String,
    /// Per oracle, in registry order.
    pub audit: BTreeMap<String, OracleLine>,
    /// A retrained model was given: selectivity is filled in.
    pub with_retrained: bool,
    /// The thresholds the verdict is judged against.
    pub thresholds: Thresholds,
    /// `met` or `not met`, with the numbers.
    pub verdict: String,
    /// SHA-256 of the receipt of the model this one started from, when that model had one (a
    /// chain of deletions).
    pub previous_receipt_sha256: Option<String>,
}

/// A model folder and the SHA-256 of its weight files.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Weights {
    /// The folder, as given.
    pub folder: PathBuf,
    /// File name -> SHA-256.
    pub sha256: BTreeMap<String, String>,
}

impl Weights {
    /// Hash every weight file (`*.mpk`) of a model folder.
    pub fn of(dir: &Path) -> Result<Self> {
        let mut sha256 = BTreeMap::new();
        for entry in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
            let path = entry?.path();
            if path.extension().is_some_and(|e| e == "mpk") {
                let bytes = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
                sha256.insert(path.file_name().expect("a file").to_string_lossy().into_owned(), sha256_hex(&bytes));
            }
        }
        if sha256.is_empty() {
            bail!("{} holds no weight file (*.mpk)", dir.display());
        }
        Ok(Self { folder: dir.to_path_buf(), sha256 })
    }
}

/// The verdict of an audit against `t`.
pub fn verdict(audit: &Audit, t: &Thresholds) -> Result<String> {
    let Some(o) = audit.oracles.get(&t.oracle) else {
        bail!("the receipt's oracle `{}` was not in the audit (it has {})", t.oracle, audit.order.join(", "));
    };
    let pct = |x: f64| format!("{:.1}%", 100.0 * x);
    let v = &o.after;
    let mut misses = Vec::new();
    match v.fr {
        Some(fr) if fr >= t.min_fr => {}
        Some(fr) => misses.push(format!("FR {} < {}", pct(fr), pct(t.min_fr))),
        None => misses.push("FR undefined (the oracle saw no member of the forget set before)".into()),
    }
    if let (Some(max), Some(fr_r)) = (t.max_fr_retained, v.fr_retained) {
        if fr_r > max {
            misses.push(format!("FR on retained {} > {}", pct(fr_r), pct(max)));
        }
    }
    let fr = v.fr.map_or("undefined".into(), pct);
    Ok(if misses.is_empty() {
        format!("met: FR {fr} >= {} under `{}`", pct(t.min_fr), t.oracle)
    } else {
        format!("not met under `{}`: {}", t.oracle, misses.join("; "))
    })
}

/// Everything [`issue`] needs besides the unlearned model's folder.
#[derive(Debug, Clone)]
pub struct ReceiptJob {
    /// The original model's folder.
    pub original: PathBuf,
    /// The unlearned model's folder (written by `workflow::unlearn`).
    pub unlearned: PathBuf,
    /// The method and its resolved settings.
    pub method: String,
    /// See `method`.
    pub settings: serde_json::Value,
    /// A model retrained without the forget set, for selectivity.
    pub retrained: Option<PathBuf>,
    /// The audit's oracles (`all`, or ids; they must include the thresholds' oracle).
    pub oracles: Vec<String>,
    /// The verdict's thresholds.
    pub thresholds: Thresholds,
}

/// Audit the unlearned model under the job's oracles and write its receipt into its folder.
pub fn issue<B: AutodiffBackend>(job: &ReceiptJob, env: &Env, device: &B::Device) -> Result<Receipt> {
    forsaken_models::settings::fraction("receipt min_fr", job.thresholds.min_fr)?;
    let audit_job = workflow::AuditJob {
        before: job.original.clone(),
        after: job.unlearned.clone(),
        retrained: job.retrained.clone(),
        oracles: job.oracles.clone(),
        shadows: 4,
        write_logits: None,
    };
    let audit = workflow::audit::<B>(&audit_job, env, device)?;
    let manifest = workflow::read_manifest(&job.unlearned)?;
    let forget = read_indices(&job.unlearned.join("forget.idx.txt"))?;
    let previous = job.original.join(RECEIPT_FILE);
    let receipt = Receipt {
        version: RECEIPT_VERSION,
        forsaken: env!("CARGO_PKG_VERSION").into(),
        original: Weights::of(&job.original)?,
        unlearned: Weights::of(&job.unlearned)?,
        dataset: manifest.spec.dataset.clone(),
        data_hash: data_hash(&manifest, env)?,
        forget_count: forget.len(),
        forget_sha256: sorted_sha256(&forget),
        method: job.method.clone(),
        settings: job.settings.clone(),
        stop_reason: manifest.stop_reason.clone().unwrap_or_default(),
        code: CodeIdentity::built().of(Kind::Cell),
        backend: env.backend.clone(),
        audit: lines(&audit),
        with_retrained: audit.with_retrained,
        verdict: verdict(&audit, &job.thresholds)?,
        thresholds: job.thresholds.clone(),
        previous_receipt_sha256: previous.exists().then(|| file_sha256(&previous)).transpose()?,
    };
    write_atomic(&job.unlearned.join(RECEIPT_FILE), serde_json::to_string_pretty(&receipt)?.as_bytes())?;
    Ok(receipt)
}

fn lines(audit: &Audit) -> BTreeMap<String, OracleLine> {
    let line = |o: &workflow::OracleAudit| OracleLine {
        auc: o.strength.auc,
        fr: o.after.fr,
        fr_ci: o.after.fr_ci_low.zip(o.after.fr_ci_high),
        counts: o.after.counts(audit.forget),
        fr_retained: o.after.fr_retained,
        selectivity: o.after.selectivity,
    };
    audit.oracles.iter().map(|(id, o)| (id.clone(), line(o))).collect()
}

fn sorted_sha256(idx: &[usize]) -> String {
    let mut sorted = idx.to_vec();
    sorted.sort_unstable();
    indices_sha256(&sorted)
}

fn file_sha256(path: &Path) -> Result<String> {
    Ok(sha256_hex(&std::fs::read(path).with_context(|| format!("reading {}", path.display()))?))
}

fn data_hash(manifest: &workflow::Manifest, env: &Env) -> Result<String> {
    let s = &manifest.spec;
    Ok(crate::pipeline::load_data(&s.dataset, s.label.as_deref(), &env.data_dir, s.pool_limit, s.seed)?.content_hash())
}

/// One hash `verify` recomputed.
#[derive(Debug, Clone, PartialEq)]
pub struct Check {
    /// What was hashed.
    pub what: String,
    /// It matched the receipt.
    pub ok: bool,
    /// The receipt's value and the recomputed one, when they differ or could not be recomputed.
    pub detail: String,
}

/// Recompute every hash of `receipt` that can be recomputed: the unlearned model's weights
/// (from `model`), the original's (from `original`, default the folder the receipt names), the
/// forget set (`model`'s forget.idx.txt), the data (through `model`'s manifest and the data
/// directory) and the previous receipt of the chain.
pub fn verify(receipt: &Receipt, model: &Path, original: Option<&Path>, env: &Env) -> Result<Vec<Check>> {
    if receipt.version != RECEIPT_VERSION {
        bail!("receipt version {}; this build reads version {RECEIPT_VERSION}", receipt.version);
    }
    let mut checks = Vec::new();
    let mut check = |what: &str, want: &str, got: Result<String>| {
        let (ok, detail) = match got {
            Ok(g) if g == want => (true, String::new()),
            Ok(g) => (false, format!("receipt {want}, now {g}")),
            Err(e) => (false, format!("cannot recompute: {e:#}")),
        };
        checks.push(Check { what: what.into(), ok, detail });
    };
    let weights = |label: &str, dir: &Path, want: &Weights, check: &mut dyn FnMut(&str, &str, Result<String>)| {
        let now = Weights::of(dir);
        for (file, sha) in &want.sha256 {
            let got = now
                .as_ref()
                .map_err(|e| anyhow::anyhow!("{e:#}"))
                .and_then(|w| w.sha256.get(file).cloned().with_context(|| format!("{} has no {file}", dir.display())));
            check(&format!("{label} weights {}", dir.join(file).display()), sha, got);
        }
        if let Ok(w) = &now {
            for file in w.sha256.keys().filter(|f| !want.sha256.contains_key(*f)) {
                check(&format!("{label} weights {}", dir.join(file).display()), "(not in the receipt)", Ok("present".into()));
            }
        }
    };
    weights("unlearned", model, &receipt.unlearned, &mut check);
    let original = original.unwrap_or(&receipt.original.folder);
    weights("original", original, &receipt.original, &mut check);
    check("forget set", &receipt.forget_sha256, read_indices(&model.join("forget.idx.txt")).map(|f| sorted_sha256(&f)).map_err(Into::into));
    check("data", &receipt.data_hash, workflow::read_manifest(model).and_then(|m| data_hash(&m, env)));
    if let Some(prev) = &receipt.previous_receipt_sha256 {
        check("previous receipt", prev, file_sha256(&original.join(RECEIPT_FILE)));
    }
    Ok(checks)
}

/// Read a receipt.
pub fn read(path: &Path) -> Result<Receipt> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("{} is not a deletion receipt", path.display()))
}
