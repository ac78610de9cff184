//! `forsaken merge`: join the output folders of the shards of one plan into one folder and
//! render it. It refuses, naming them: folders of different plans, a cell found twice, cells
//! of the plan found nowhere, and (unless allowed) records made by different code.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use crate::audit::AuditRecord;
use crate::io::write_atomic;
use crate::plan::Plan;
use crate::record::RunRecord;
use crate::report::{Invocation, RunFacts};
use crate::runner::{fill_relative, read_audits, read_records, render, PlanPart};

/// What a merge joined.
#[derive(Debug, Clone)]
pub struct Merged {
    /// Records written.
    pub records: usize,
    /// The code identities among them (one, unless mixed ones were allowed), with their count.
    pub code: BTreeMap<String, usize>,
}

fn read_part(dir: &Path) -> Result<PlanPart> {
    let path = dir.join("plan.json");
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("{}: not an output folder of `forsaken reproduce`", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("{} is not a plan part", path.display()))
}

fn cell_id(r: &RunRecord) -> String {
    crate::plan::item_id(&r.dataset, &r.model, r.seed, &format!("{}/{}", r.forget, r.method))
}

fn audit_id(r: &AuditRecord) -> String {
    crate::plan::item_id(&r.dataset, &r.model, r.seed, &format!("audit/{}/{}", r.forget, r.side))
}

/// Copy every file under `from` into `to` (ROC points and split index files of the shards).
fn copy_tree(from: &Path, to: &Path) -> Result<()> {
    if !from.exists() {
        return Ok(());
    }
    std::fs::create_dir_all(to)?;
    for e in std::fs::read_dir(from)? {
        let e = e?;
        if e.file_type()?.is_dir() {
            copy_tree(&e.path(), &to.join(e.file_name()))?;
        } else {
            std::fs::copy(e.path(), to.join(e.file_name()))?;
        }
    }
    Ok(())
}

fn list(ids: &[String]) -> String {
    let shown: Vec<&str> = ids.iter().take(10).map(String::as_str).collect();
    format!("{}{}", shown.join(", "), if ids.len() > 10 { format!(" and {} more", ids.len() - 10) } else { String::new() })
}

/// Join `dirs` into `out` and render the report there.
pub fn merge(dirs: &[PathBuf], out: &Path, allow_mixed: bool) -> Result<Merged> {
    if dirs.is_empty() {
        bail!("merge: name the shard folders to join");
    }
    let parts: Vec<PlanPart> = dirs.iter().map(|d| read_part(d)).collect::<Result<_>>()?;
    if let Some((d, p)) = dirs.iter().zip(&parts).find(|(_, p)| p.plan != parts[0].plan) {
        bail!(
            "{} holds plan {}, {} plan {}: shards of different plans (suites) do not merge",
            d.display(),
            p.plan,
            dirs[0].display(),
            parts[0].plan
        );
    }
    let suite = &parts[0].suite;
    let mut records: Vec<RunRecord> = Vec::new();
    let mut audits: Vec<AuditRecord> = Vec::new();
    let mut seen: BTreeMap<String, &Path> = BTreeMap::new();
    let mut twice = Vec::new();
    let mut invocations: Vec<Invocation> = Vec::new();
    for d in dirs {
        for r in read_records(&d.join("runs.jsonl"))? {
            match seen.insert(cell_id(&r), d) {
                Some(first) => twice.push(format!("{} ({} and {})", cell_id(&r), first.display(), d.display())),
                None => records.push(r),
            }
        }
        for r in read_audits(&d.join("audit.jsonl"))? {
            match seen.insert(audit_id(&r), d) {
                Some(first) => twice.push(format!("{} ({} and {})", audit_id(&r), first.display(), d.display())),
                None => audits.push(r),
            }
        }
        if let Ok(text) = std::fs::read_to_string(d.join("timing.json")) {
            invocations.extend(serde_json::from_str::<Vec<Invocation>>(&text).with_context(|| format!("{}/timing.json", d.display()))?);
        }
    }
    if !twice.is_empty() {
        bail!("merge: {} cells are in two folders: {}", twice.len(), list(&twice));
    }
    let have: BTreeSet<String> = records.iter().map(cell_id).chain(audits.iter().map(audit_id)).collect();
    let missing: Vec<String> = Plan::of(suite, &parts[0].datasets).cells().into_iter().filter(|c| !have.contains(c)).collect();
    if !missing.is_empty() {
        bail!("merge: {} cells of the plan are in no folder: {}", missing.len(), list(&missing));
    }
    let mut code: BTreeMap<String, usize> = BTreeMap::new();
    for r in &records {
        *code.entry(r.identity.as_ref().map_or("(none)".into(), |i| i.code.clone())).or_insert(0) += 1;
    }
    if code.len() > 1 && !allow_mixed {
        let ids: Vec<String> = code.iter().map(|(c, n)| format!("{c} ({n} records)")).collect();
        bail!("merge: the records come from {} code identities: {}; rerun the stale shards, or pass --allow-mixed", code.len(), list(&ids));
    }
    fill_relative(&mut records);
    crate::runner::sort_records(&mut records, suite);
    std::fs::create_dir_all(out)?;
    for d in dirs {
        copy_tree(&d.join("roc"), &out.join("roc"))?;
        copy_tree(&d.join("splits"), &out.join("splits"))?;
    }
    let mut text = String::new();
    for r in &records {
        text.push_str(&serde_json::to_string(r)?);
        text.push('\n');
    }
    write_atomic(&out.join("runs.jsonl"), text.as_bytes())?;
    write_atomic(&out.join("timing.json"), serde_json::to_string_pretty(&invocations)?.as_bytes())?;
    let whole = PlanPart { shard: None, stage: crate::plan::Stage::All, ..parts[0].clone() };
    write_atomic(&out.join("plan.json"), serde_json::to_string_pretty(&whole)?.as_bytes())?;
    crate::runner::sort_audits(&mut audits, suite);
    crate::runner::write_jsonl(&out.join("audit.jsonl"), &audits)?;
    for d in dirs {
        copy_tree(&d.join("audit"), &out.join("audit"))?;
    }
    render(&records, &audits, suite, out, &RunFacts { invocations })?;
    Ok(Merged { records: records.len(), code })
}
