//! The logits layout (docs/logits.md): a folder of `.npy` arrays holding everything an audit
//! reads of a model (its logits on the rows that matter, their labels, which rows are members,
//! forgotten or held out, and shadow models' logits with LiRA's `keep` mask), so that a model
//! trained anywhere is audited by the code that audits ours. `forsaken audit --before --after`
//! builds this layout in memory from our model folders and audits it, so both ways to audit
//! give the same numbers by construction (and `--write-logits` saves the layout it used).
//!
//! The `.npy` files are read and written with `ndarray-npy` (the ndarray maintainers' crate; its
//! `ndarray` is already in our tree through burn's ndarray backend), without its `.npz` support.

use std::collections::HashSet;
use std::path::Path;

use anyhow::{bail, ensure, Context, Result};
use ndarray::{ArrayD, IxDyn};
use ndarray_npy::{ReadNpyExt, WriteNpyExt};
use serde::{Deserialize, Serialize};

use crate::io::write_atomic;

/// What a logits folder holds: `n` rows, `C` classes, `K` shadow models.
#[derive(Debug, Clone, PartialEq)]
pub struct LogitsLayout {
    /// True class of every row, `[n]`.
    pub labels: Vec<u32>,
    /// Classes `C`.
    pub num_classes: usize,
    /// The original model's logits, `[n, C]` row-major.
    pub original: Vec<f32>,
    /// The unlearned model's logits, `[n, C]`.
    pub unlearned: Vec<f32>,
    /// A model retrained without the forget set (enables selectivity), `[n, C]`.
    pub retrained: Option<Vec<f32>>,
    /// Rows the original trained on (the forget set and the retained set).
    pub members: Vec<usize>,
    /// The forget set D_u, a subset of `members`.
    pub forget: Vec<usize>,
    /// Held-out rows the original never trained on (its test split).
    pub non_members: Vec<usize>,
    /// Shadow models' logits on every row, `[K, n, C]`.
    pub shadow_logits: Vec<f32>,
    /// `keep[k * n + i]`: shadow model `k` trained on row `i`, `[K, n]`.
    pub shadow_keep: Vec<bool>,
    /// Where each row comes from (a dataset index), for provenance only.
    pub rows: Option<Vec<i64>>,
    /// `meta.json`.
    pub meta: Meta,
}

/// `meta.json` of a logits folder (optional; every field has a default).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Meta {
    /// The experiment's seed: it seeds the shadow attack's classifier, the retained sample judged
    /// for FR on retained and the bootstrap intervals (ours: the seed of `forsaken train`).
    pub seed: u64,
    /// Where the logits come from, free text (ours write the model folders).
    pub source: Option<String>,
}

impl LogitsLayout {
    /// Rows `n`.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// True when there are no rows.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Shadow models `K`.
    pub fn shadows(&self) -> usize {
        self.shadow_keep.len() / self.len().max(1)
    }

    /// The rows the oracles are fitted on: the shadow models' own data, neither members nor
    /// non-members of the target.
    pub fn shadow_rows(&self) -> Vec<usize> {
        let target: HashSet<usize> = self.members.iter().chain(&self.non_members).copied().collect();
        (0..self.len()).filter(|i| !target.contains(i)).collect()
    }

    /// Shadow model `k`'s training rows.
    pub fn in_set(&self, k: usize) -> Vec<usize> {
        let n = self.len();
        (0..n).filter(|&i| self.shadow_keep[k * n + i]).collect()
    }

    /// Shadow model `k`'s logits, `[n, C]`.
    pub fn shadow(&self, k: usize) -> &[f32] {
        let w = self.len() * self.num_classes;
        &self.shadow_logits[k * w..(k + 1) * w]
    }

    /// The retained set: members outside the forget set, in `members` order.
    pub fn retain(&self) -> Vec<usize> {
        let f: HashSet<usize> = self.forget.iter().copied().collect();
        self.members.iter().copied().filter(|i| !f.contains(i)).collect()
    }

    /// Every property the audit relies on, each with an error that says what to fix.
    pub fn check(&self) -> Result<()> {
        let (n, c) = (self.len(), self.num_classes);
        ensure!(n > 0, "labels.npy has no rows");
        ensure!(c >= 2, "the logits have {c} column(s): at least 2 classes");
        if let Some((i, y)) = self.labels.iter().enumerate().find(|(_, &y)| y as usize >= c) {
            bail!("labels.npy: row {i} has label {y}, but the logits have {c} classes");
        }
        for (name, l) in [("original", Some(&self.original)), ("unlearned", Some(&self.unlearned)), ("retrained", self.retrained.as_ref())]
        {
            if let Some(l) = l {
                ensure!(l.len() == n * c, "{name}.npy has {} values, expected [n = {n}, C = {c}]", l.len());
                finite(name, l)?;
            }
        }
        let k = self.shadow_keep.len() / n;
        ensure!(k >= 1 && self.shadow_keep.len() == k * n, "shadow_keep.npy must be [K, n = {n}] with K >= 1");
        ensure!(self.shadow_logits.len() == k * n * c, "shadow_logits.npy must be [K = {k}, n = {n}, C = {c}]");
        finite("shadow_logits", &self.shadow_logits)?;
        for (name, idx) in [("members", &self.members), ("forget", &self.forget), ("non_members", &self.non_members)] {
            rows_in_range(name, idx, n)?;
        }
        let members: HashSet<usize> = self.members.iter().copied().collect();
        if let Some(i) = self.forget.iter().find(|i| !members.contains(i)) {
            bail!("forget.npy: row {i} is not in members.npy (the forget set is part of the training set)");
        }
        if let Some(i) = self.non_members.iter().find(|i| members.contains(i)) {
            bail!("row {i} is in both members.npy and non_members.npy");
        }
        ensure!(!self.forget.is_empty() && !self.non_members.is_empty(), "forget.npy and non_members.npy must not be empty");
        ensure!(self.forget.len() < self.members.len(), "the forget set is all of members.npy: nothing is retained");
        self.check_shadows(k)
    }

    /// The shadow models train on their own rows only: the audit's LiRA is offline, so a shadow
    /// model that saw a target row would bias its per-example calibration.
    fn check_shadows(&self, k: usize) -> Result<()> {
        let n = self.len();
        for i in self.members.iter().chain(&self.non_members) {
            if let Some(s) = (0..k).find(|s| self.shadow_keep[s * n + i]) {
                bail!("shadow_keep.npy: shadow model {s} trained on row {i}, a member or non-member of the target; shadow models must train on other rows only (offline LiRA)");
            }
        }
        let own = self.shadow_rows();
        ensure!(
            !own.is_empty(),
            "every row is a member or non-member of the target: the shadow models need rows of their own to fit the oracles on"
        );
        for s in 0..k {
            let inside = own.iter().filter(|&&i| self.shadow_keep[s * n + i]).count();
            ensure!(
                inside > 0 && inside < own.len(),
                "shadow model {s} trained on {inside} of its {} rows: it needs rows in and rows out",
                own.len()
            );
        }
        Ok(())
    }

    /// Read a logits folder and check it.
    pub fn read(dir: &Path) -> Result<Self> {
        ensure!(dir.is_dir(), "{} is not a folder (docs/logits.md describes the layout)", dir.display());
        let labels = read_ints(dir, "labels")?;
        let (original, shape) = read_floats(dir, "original", 2)?;
        let num_classes = shape[1];
        let optional = |name: &str| -> Result<Option<Vec<f32>>> {
            Ok(if dir.join(format!("{name}.npy")).exists() { Some(read_floats(dir, name, 2)?.0) } else { None })
        };
        let labels = labels
            .iter()
            .map(|&y| u32::try_from(y).map_err(|_| anyhow::anyhow!("labels.npy: label {y} is negative or too large")))
            .collect::<Result<_>>()?;
        let meta_path = dir.join("meta.json");
        let meta = if meta_path.exists() {
            let text = std::fs::read_to_string(&meta_path).with_context(|| format!("reading {}", meta_path.display()))?;
            serde_json::from_str(&text)
                .with_context(|| format!("{}: expected {{\"seed\": 0, \"source\": \"...\"}}", meta_path.display()))?
        } else {
            Meta::default()
        };
        let rows = if dir.join("rows.npy").exists() { Some(read_ints(dir, "rows")?) } else { None };
        let layout = Self {
            labels,
            num_classes,
            original,
            unlearned: read_floats(dir, "unlearned", 2)?.0,
            retrained: optional("retrained")?,
            members: read_rows(dir, "members")?,
            forget: read_rows(dir, "forget")?,
            non_members: read_rows(dir, "non_members")?,
            shadow_logits: read_floats(dir, "shadow_logits", 3)?.0,
            shadow_keep: read_array::<bool>(dir, "shadow_keep", Some(2))?.0,
            rows,
            meta,
        };
        layout.check().with_context(|| format!("{} does not hold a valid logits layout (docs/logits.md)", dir.display()))?;
        Ok(layout)
    }

    /// Write the layout into `dir` (each file atomically).
    pub fn write(&self, dir: &Path) -> Result<()> {
        let (n, c, k) = (self.len(), self.num_classes, self.shadows());
        let ints = |v: &[usize]| v.iter().map(|&i| i as i64).collect::<Vec<_>>();
        write_array(dir, "labels", &[n], self.labels.iter().map(|&y| y as i64).collect())?;
        write_array(dir, "original", &[n, c], self.original.clone())?;
        write_array(dir, "unlearned", &[n, c], self.unlearned.clone())?;
        if let Some(r) = &self.retrained {
            write_array(dir, "retrained", &[n, c], r.clone())?;
        }
        write_array(dir, "members", &[self.members.len()], ints(&self.members))?;
        write_array(dir, "forget", &[self.forget.len()], ints(&self.forget))?;
        write_array(dir, "non_members", &[self.non_members.len()], ints(&self.non_members))?;
        write_array(dir, "shadow_logits", &[k, n, c], self.shadow_logits.clone())?;
        write_array(dir, "shadow_keep", &[k, n], self.shadow_keep.clone())?;
        if let Some(r) = &self.rows {
            write_array(dir, "rows", &[n], r.clone())?;
        }
        write_atomic(&dir.join("meta.json"), serde_json::to_string_pretty(&self.meta)?.as_bytes())
    }
}

fn finite(name: &str, v: &[f32]) -> Result<()> {
    match v.iter().position(|x| !x.is_finite()) {
        Some(p) => bail!("{name}.npy: value {p} (row-major) is {}; logits must be finite", v[p]),
        None => Ok(()),
    }
}

fn rows_in_range(name: &str, idx: &[usize], n: usize) -> Result<()> {
    let mut seen = HashSet::new();
    for &i in idx {
        ensure!(i < n, "{name}.npy: row {i} is out of range (there are {n} rows)");
        ensure!(seen.insert(i), "{name}.npy: row {i} appears twice");
    }
    Ok(())
}

/// An `.npy` file of `dir` with element type `T`, its values in row-major order and its shape.
fn read_array<T: ndarray_npy::ReadableElement + Clone>(dir: &Path, name: &str, dims: Option<usize>) -> Result<(Vec<T>, Vec<usize>)> {
    let path = dir.join(format!("{name}.npy"));
    let bytes = std::fs::read(&path).with_context(|| format!("reading {} (docs/logits.md lists the files)", path.display()))?;
    let a = ArrayD::<T>::read_npy(&bytes[..]).with_context(|| {
        format!("{}: not an .npy array of {} (docs/logits.md gives each file's type)", path.display(), std::any::type_name::<T>())
    })?;
    if let Some(d) = dims {
        ensure!(a.ndim() == d, "{}: expected {d} dimension(s), found shape {:?}", path.display(), a.shape());
    }
    let shape = a.shape().to_vec();
    // iter() walks in logical (C) order, also for a Fortran-ordered file
    Ok((a.iter().cloned().collect(), shape))
}

/// Logits as float32, accepting float64 files too (numpy's default dtype).
fn read_floats(dir: &Path, name: &str, dims: usize) -> Result<(Vec<f32>, Vec<usize>)> {
    read_array::<f32>(dir, name, Some(dims)).or_else(|e32| match read_array::<f64>(dir, name, Some(dims)) {
        Ok((v, s)) => Ok((v.into_iter().map(|x| x as f32).collect(), s)),
        Err(_) => Err(e32),
    })
}

/// A 1-D integer array, int64 or int32.
fn read_ints(dir: &Path, name: &str) -> Result<Vec<i64>> {
    read_array::<i64>(dir, name, Some(1)).map(|(v, _)| v).or_else(|e64| match read_array::<i32>(dir, name, Some(1)) {
        Ok((v, _)) => Ok(v.into_iter().map(i64::from).collect()),
        Err(_) => Err(e64),
    })
}

fn read_rows(dir: &Path, name: &str) -> Result<Vec<usize>> {
    read_ints(dir, name)?.into_iter().map(|i| usize::try_from(i).map_err(|_| anyhow::anyhow!("{name}.npy: row {i} is negative"))).collect()
}

fn write_array<T: ndarray_npy::WritableElement>(dir: &Path, name: &str, shape: &[usize], values: Vec<T>) -> Result<()> {
    write_npy(&dir.join(format!("{name}.npy")), shape, values)
}

/// Write one `.npy` file atomically.
fn write_npy<T: ndarray_npy::WritableElement>(path: &Path, shape: &[usize], values: Vec<T>) -> Result<()> {
    let a =
        ArrayD::from_shape_vec(IxDyn(shape), values).with_context(|| format!("{}: values do not fill shape {shape:?}", path.display()))?;
    let mut bytes = Vec::new();
    a.write_npy(&mut bytes).with_context(|| format!("encoding {}", path.display()))?;
    write_atomic(path, &bytes)
}

/// Read a float `.npy` file (float32 or float64), its values in row-major order and its shape.
pub fn read_npy_floats(path: &Path) -> Result<(Vec<f32>, Vec<usize>)> {
    let (dir, name) =
        (path.parent().unwrap_or(Path::new(".")), path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default());
    ensure!(path.extension().is_some_and(|e| e == "npy"), "{}: expected a .npy file", path.display());
    let (values, shape) = read_array::<f32>(dir, &name, None).or_else(|e32| match read_array::<f64>(dir, &name, None) {
        Ok((v, s)) => Ok((v.into_iter().map(|x| x as f32).collect(), s)),
        Err(_) => Err(e32),
    })?;
    Ok((values, shape))
}

/// Write a model's logits on `rows` (`[n, classes]`, row-major) by the extension of `path`:
/// `.npy` (float32 `[n, classes]`, the rows' dataset indices beside it in `<stem>.rows.npy`) or
/// `.csv` (columns `row`, `label`, `logit_0`, ...; each value printed so that it reads back
/// exactly).
pub fn write_predictions(path: &Path, rows: &[usize], labels: &[u32], logits: &[f32], num_classes: usize) -> Result<()> {
    let n = rows.len();
    match path.extension().and_then(|e| e.to_str()) {
        Some("npy") => {
            write_npy(path, &[n, num_classes], logits.to_vec())?;
            write_npy(&path.with_extension("rows.npy"), &[n], rows.iter().map(|&i| i as i64).collect())
        }
        Some("csv") => {
            let mut out = String::from("row,label");
            (0..num_classes).for_each(|c| out.push_str(&format!(",logit_{c}")));
            out.push('\n');
            for (k, (&row, &y)) in rows.iter().zip(labels).enumerate() {
                out.push_str(&format!("{row},{y}"));
                logits[k * num_classes..(k + 1) * num_classes].iter().for_each(|l| out.push_str(&format!(",{l}")));
                out.push('\n');
            }
            write_atomic(path, out.as_bytes())
        }
        _ => bail!("{}: the output's extension says its format: .npy or .csv", path.display()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 12 rows, 3 classes, 2 shadow models: rows 0..4 members (0 and 1 forgotten), 4..6
    /// non-members, 6..12 the shadows' own, each shadow trained on half of them.
    fn small() -> LogitsLayout {
        let (n, c, k) = (12, 3, 2);
        let f = |s: usize| (0..n * c).map(|i| ((i * 7 + s * 13) % 11) as f32 * 0.5 - 2.0).collect::<Vec<f32>>();
        let mut keep = vec![false; k * n];
        for i in 6..12 {
            keep[(i % 2) * n + i] = true;
        }
        LogitsLayout {
            labels: (0..n as u32).map(|i| i % 3).collect(),
            num_classes: c,
            original: f(0),
            unlearned: f(1),
            retrained: Some(f(2)),
            members: vec![0, 1, 2, 3],
            forget: vec![1, 0],
            non_members: vec![4, 5],
            shadow_logits: [f(3), f(4)].concat(),
            shadow_keep: keep,
            rows: Some((100..112).collect()),
            meta: Meta { seed: 7, source: Some("test".into()) },
        }
    }

    fn tmp(name: &str) -> std::path::PathBuf {
        let d = std::env::temp_dir().join(format!("forsaken-logits-{}-{name}", std::process::id()));
        std::fs::remove_dir_all(&d).ok();
        d
    }

    #[test]
    fn a_written_layout_reads_back_identical() {
        let (l, dir) = (small(), tmp("roundtrip"));
        l.check().unwrap();
        l.write(&dir).unwrap();
        assert_eq!(LogitsLayout::read(&dir).unwrap(), l);
        assert_eq!(l.shadow_rows(), (6..12).collect::<Vec<_>>());
        assert_eq!(l.retain(), vec![2, 3]);
        assert_eq!(l.in_set(1), vec![7, 9, 11]);
        // numpy's default float64 is accepted for logits
        let wide: Vec<f64> = l.original.iter().map(|&x| x as f64).collect();
        write_npy(&dir.join("original.npy"), &[12, 3], wide).unwrap();
        assert_eq!(LogitsLayout::read(&dir).unwrap().original, l.original);
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn every_broken_property_is_an_error_that_names_it() {
        let cases: Vec<(&str, Box<dyn Fn(&mut LogitsLayout)>)> = vec![
            ("not in members.npy", Box::new(|l| l.forget = vec![4])),
            ("in both members.npy and non_members.npy", Box::new(|l| l.non_members = vec![3, 4])),
            ("shadow model 1 trained on row 2", Box::new(|l| l.shadow_keep[12 + 2] = true)),
            ("unlearned.npy: value 5 (row-major) is NaN", Box::new(|l| l.unlearned[5] = f32::NAN)),
            ("row 3 has label 3", Box::new(|l| l.labels[3] = 3)),
            ("out of range", Box::new(|l| l.members.push(12))),
            ("appears twice", Box::new(|l| l.forget = vec![0, 0])),
            ("nothing is retained", Box::new(|l| l.forget = vec![0, 1, 2, 3])),
            ("shadow_logits.npy must be", Box::new(|l| l.shadow_logits.truncate(30))),
            ("needs rows in and rows out", Box::new(|l| (6..12).for_each(|i| l.shadow_keep[i] = false))),
        ];
        for (needle, break_it) in cases {
            let mut l = small();
            break_it(&mut l);
            let err = format!("{:#}", l.check().unwrap_err());
            assert!(err.contains(needle), "expected `{needle}` in: {err}");
        }
    }

    #[test]
    fn a_missing_or_mistyped_file_is_named() {
        let dir = tmp("missing");
        small().write(&dir).unwrap();
        std::fs::remove_file(dir.join("forget.npy")).unwrap();
        let err = format!("{:#}", LogitsLayout::read(&dir).unwrap_err());
        assert!(err.contains("forget.npy") && err.contains("docs/logits.md"), "{err}");
        write_npy(&dir.join("forget.npy"), &[2], vec![0.5f32, 1.0]).unwrap();
        let err = format!("{:#}", LogitsLayout::read(&dir).unwrap_err());
        assert!(err.contains("forget.npy") && err.contains("not an .npy array of i64"), "{err}");
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn predictions_read_back_exactly_from_npy_and_csv() {
        let dir = tmp("predictions");
        let logits = vec![0.1f32, -3.25e-7, 1.0e4, f32::MIN_POSITIVE, 2.5, -1.0];
        write_predictions(&dir.join("p.npy"), &[5, 9], &[0, 2], &logits, 3).unwrap();
        assert_eq!(read_npy_floats(&dir.join("p.npy")).unwrap(), (logits.clone(), vec![2, 3]));
        assert_eq!(read_ints(&dir, "p.rows").unwrap(), vec![5, 9]);
        write_predictions(&dir.join("p.csv"), &[5, 9], &[0, 2], &logits, 3).unwrap();
        let text = std::fs::read_to_string(dir.join("p.csv")).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "row,label,logit_0,logit_1,logit_2");
        let back: Vec<f32> = lines[1..].iter().flat_map(|l| l.split(',').skip(2).map(|v| v.parse::<f32>().unwrap())).collect();
        assert_eq!(back, logits);
        assert!(lines[2].starts_with("9,2,"));
        assert!(write_predictions(&dir.join("p.txt"), &[5, 9], &[0, 2], &logits, 3).unwrap_err().to_string().contains(".npy or .csv"));
        std::fs::remove_dir_all(&dir).ok();
    }
}
