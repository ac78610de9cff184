//! Compare a reproduction with committed results, record by record and field by field, leaving
//! out what is expected to differ between identical runs: timings, and the provenance of the
//! code (commit and code identity, which change with every commit that touches code without
//! changing a number).

use std::collections::BTreeMap;

use serde_json::Value;

use crate::record::RunRecord;

/// Fields that are timings or provenance, anywhere in a record (trace points included).
const IGNORED: &[&str] = &["seconds", "retrain_seconds", "search_seconds", "setup_seconds", "git_commit", "identity"];

/// The outcome of a comparison.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Comparison {
    /// Records in the reproduction.
    pub recomputed: usize,
    /// Per record that differs (`dataset/model/seed/forget/method`), its differing fields with
    /// the committed and the new value.
    pub differing: BTreeMap<String, Vec<(String, String, String)>>,
    /// Records committed but not reproduced, and reproduced but not committed.
    pub missing: Vec<String>,
    /// See `missing`.
    pub extra: Vec<String>,
}

impl Comparison {
    /// Whether every committed record was reproduced identically, and nothing else.
    pub fn identical(&self) -> bool {
        self.differing.is_empty() && self.missing.is_empty() && self.extra.is_empty()
    }
}

/// A record a comparison can pair up: by its plan item's name.
pub trait Labeled: serde::Serialize {
    /// `dataset/model/sSEED/FORGET/METHOD`, or `.../audit/FORGET/SIDE`.
    fn label(&self) -> String;
}

impl Labeled for RunRecord {
    fn label(&self) -> String {
        crate::plan::item_id(&self.dataset, &self.model, self.seed, &format!("{}/{}", self.forget, self.method))
    }
}

impl Labeled for crate::audit::AuditRecord {
    fn label(&self) -> String {
        crate::plan::item_id(&self.dataset, &self.model, self.seed, &format!("audit/{}/{}", self.forget, self.side))
    }
}

fn label(r: &impl Labeled) -> String {
    r.label()
}

/// Leaf paths and values of a JSON value, ignored keys left out.
fn leaves(v: &Value, path: String, out: &mut BTreeMap<String, String>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m.iter().filter(|(k, _)| !IGNORED.contains(&k.as_str())) {
                leaves(x, if path.is_empty() { k.clone() } else { format!("{path}.{k}") }, out);
            }
        }
        Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                leaves(x, format!("{path}[{i}]"), out);
            }
        }
        x => {
            out.insert(path, x.to_string());
        }
    }
}

/// Every leaf of `v` by its path (`settings.steps`, `trace[3].values.fr_stop`), ignored keys
/// left out.
pub(crate) fn flatten(v: &Value) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    leaves(v, String::new(), &mut out);
    out
}

fn fields(r: &impl Labeled) -> BTreeMap<String, String> {
    flatten(&serde_json::to_value(r).expect("records serialize"))
}

/// Compare `actual` (a reproduction) with `expected` (committed records).
pub fn compare<T: Labeled>(expected: &[T], actual: &[T]) -> Comparison {
    let by_label = |rs: &[T]| rs.iter().map(|r| (label(r), fields(r))).collect::<BTreeMap<_, _>>();
    let (want, have) = (by_label(expected), by_label(actual));
    let mut c = Comparison { recomputed: actual.len(), ..Default::default() };
    for (l, w) in &want {
        let Some(h) = have.get(l) else {
            c.missing.push(l.clone());
            continue;
        };
        let keys: std::collections::BTreeSet<&String> = w.keys().chain(h.keys()).collect();
        let none = || "(absent)".to_string();
        let diffs: Vec<(String, String, String)> = keys
            .into_iter()
            .filter(|k| w.get(*k) != h.get(*k))
            .map(|k| (k.clone(), w.get(k).cloned().unwrap_or_else(none), h.get(k).cloned().unwrap_or_else(none)))
            .collect();
        if !diffs.is_empty() {
            c.differing.insert(l.clone(), diffs);
        }
    }
    c.extra = have.keys().filter(|l| !want.contains_key(*l)).cloned().collect();
    c
}

impl std::fmt::Display for Comparison {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.identical() {
            return write!(f, "{} records recomputed, identical to the committed results in every non-timing field", self.recomputed);
        }
        let n = self.differing.len() + self.missing.len() + self.extra.len();
        write!(f, "{} records recomputed, {n} differ:", self.recomputed)?;
        for (l, diffs) in &self.differing {
            write!(f, "\n  {l}:")?;
            for (k, was, now) in diffs.iter().take(12) {
                write!(f, "\n    {k}: {was} -> {now}")?;
            }
            if diffs.len() > 12 {
                write!(f, "\n    ... and {} more fields", diffs.len() - 12)?;
            }
        }
        for l in &self.missing {
            write!(f, "\n  {l}: committed, not reproduced")?;
        }
        for l in &self.extra {
            write!(f, "\n  {l}: reproduced, not committed")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn committed() -> Vec<RunRecord> {
        crate::runner::read_records(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../results/quick/runs.jsonl")).unwrap()
    }

    #[test]
    fn timings_and_provenance_are_not_differences_but_a_metric_is() {
        let want = committed();
        let mut have = want.clone();
        have[0].seconds += 1.0;
        have[0].git_commit = "another".into();
        have[0].identity = None;
        if let Some(p) = have[1].trace.first_mut() {
            p.values.insert("seconds".into(), 99.0);
        }
        let c = compare(&want, &have);
        assert!(c.identical(), "{c}");
        assert!(c.to_string().ends_with("identical to the committed results in every non-timing field"));
        have[2].acc_test += 0.01;
        have.pop();
        let c = compare(&want, &have);
        assert!(!c.identical());
        assert_eq!(c.differing.len(), 1);
        let (label, diffs) = c.differing.iter().next().unwrap();
        assert_eq!(label, &super::label(&want[2]));
        assert_eq!(diffs.iter().map(|d| d.0.as_str()).collect::<Vec<_>>(), ["acc_test"]);
        assert_eq!(c.missing, [super::label(want.last().unwrap())]);
        assert!(c.to_string().contains(&format!("{} records recomputed, 2 differ:", want.len() - 1)), "{c}");
    }
}
