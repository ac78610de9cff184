//! Seeded splits of a pooled dataset into target_train / target_test / reference / shadow,
//! and selection of the forget set D_u inside target_train (docs/protocol.md, "Splits" and "Forget
//! sets").
//!
//! All indices are positions in the pooled [`Dataset`]; splits are disjoint by construction.

use std::path::{Path, PathBuf};

use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::{DataError, Dataset, SplitSizes};

/// Disjoint index sets into the pooled dataset.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Splits {
    /// Members of the target model.
    pub target_train: Vec<usize>,
    /// Non-members for testing.
    pub target_test: Vec<usize>,
    /// Owner's held-out data.
    pub reference: Vec<usize>,
    /// Auditor's shadow data.
    pub shadow: Vec<usize>,
}

impl Splits {
    /// Shuffle `0..n` with `seed` and cut it into the four parts.
    pub fn new(n: usize, sizes: SplitSizes, seed: u64) -> Result<Self, DataError> {
        let fixed = sizes.target_train + sizes.target_test + sizes.reference;
        let shadow = sizes.shadow.unwrap_or(n.saturating_sub(fixed));
        if fixed + shadow > n || sizes.target_train == 0 || sizes.target_test == 0 {
            return Err(DataError::Split(format!(
                "{} + {} + {} + {} samples requested from a pool of {n}",
                sizes.target_train, sizes.target_test, sizes.reference, shadow
            )));
        }
        let mut order: Vec<usize> = (0..n).collect();
        order.shuffle(&mut ChaCha8Rng::seed_from_u64(seed ^ 0x5eed_5917));
        let mut it = order.into_iter();
        let mut take = |k: usize| (&mut it).take(k).collect::<Vec<_>>();
        Ok(Self {
            target_train: take(sizes.target_train),
            target_test: take(sizes.target_test),
            reference: take(sizes.reference),
            shadow: take(shadow),
        })
    }

    /// Splits around given members: target_train is `members`, in the order given (the rows a
    /// model trained elsewhere was trained on); the other rows are shuffled with `seed` and cut
    /// into target_test, reference and shadow as `sizes` says (its target_train is ignored),
    /// each scaled down in proportion when the rows left are too few.
    pub fn with_members(n: usize, members: &[usize], sizes: SplitSizes, seed: u64) -> Result<Self, DataError> {
        let mut seen = vec![false; n];
        for &i in members {
            if i >= n || std::mem::replace(&mut seen[i], true) {
                return Err(DataError::Split(format!("member row {i} is out of range (the pool has {n}) or listed twice")));
            }
        }
        let rest: Vec<usize> = (0..n).filter(|&i| !seen[i]).collect();
        let wanted = sizes.target_test + sizes.reference + sizes.shadow.unwrap_or(0);
        if members.is_empty() || rest.len() < 2 {
            return Err(DataError::Split(format!(
                "{} members of a pool of {n}: both the members and the rest must be non-empty",
                members.len()
            )));
        }
        let factor = if wanted > rest.len() { rest.len() as f64 / wanted as f64 } else { 1.0 };
        let part = |k: usize| ((k as f64 * factor).floor() as usize).max(1);
        let (test, reference) = (part(sizes.target_test), if sizes.reference == 0 { 0 } else { part(sizes.reference) });
        let mut order = rest;
        order.shuffle(&mut ChaCha8Rng::seed_from_u64(seed ^ 0x5eed_5917));
        let shadow =
            sizes.shadow.map_or(order.len().saturating_sub(test + reference), part).min(order.len().saturating_sub(test + reference));
        let mut it = order.into_iter();
        let mut take = |k: usize| (&mut it).take(k).collect::<Vec<_>>();
        Ok(Self { target_train: members.to_vec(), target_test: take(test), reference: take(reference), shadow: take(shadow) })
    }

    /// Scale every part by `factor` (at least 1 sample each where the part was non-empty):
    /// used by smoke runs on a small subset of a dataset.
    pub fn scaled(sizes: SplitSizes, n: usize, factor: f64) -> SplitSizes {
        let f = |k: usize| {
            if k == 0 {
                0
            } else {
                ((k as f64 * factor).round() as usize).max(1)
            }
        };
        let fixed = sizes.target_train + sizes.target_test + sizes.reference;
        SplitSizes {
            target_train: f(sizes.target_train),
            target_test: f(sizes.target_test),
            reference: f(sizes.reference),
            shadow: Some(f(sizes.shadow.unwrap_or(n.saturating_sub(fixed)))),
        }
    }

    /// Write each part as a text file of indices (one per line) under `dir`.
    pub fn save(&self, dir: &Path) -> Result<(), DataError> {
        std::fs::create_dir_all(dir).map_err(|e| DataError::io(dir, e))?;
        for (name, ix) in [
            ("target_train", &self.target_train),
            ("target_test", &self.target_test),
            ("reference", &self.reference),
            ("shadow", &self.shadow),
        ] {
            write_indices(&dir.join(format!("{name}.idx.txt")), ix)?;
        }
        Ok(())
    }
}

/// Which part of target_train to forget. In files (suites) it is the same string the command
/// line takes: `10%` or `0.1`, `class:3`, `file:PATH`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum ForgetSpec {
    /// A seeded random fraction of target_train (e.g. 0.1).
    Fraction(f64),
    /// Every target_train sample of this class.
    Class(u32),
    /// Pooled-dataset indices, one per line (`#` comments allowed); each must be in target_train.
    IndexFile(PathBuf),
}

impl std::fmt::Display for ForgetSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ForgetSpec::Fraction(x) => write!(f, "random-{}pct", (x * 100.0).round()),
            ForgetSpec::Class(c) => write!(f, "class-{c}"),
            ForgetSpec::IndexFile(p) => write!(f, "file:{}", p.display()),
        }
    }
}

impl ForgetSpec {
    /// The command-line form (`10%`, `class:3`, `file:PATH`), which [`str::parse`] reads back.
    pub fn canonical(&self) -> String {
        match self {
            ForgetSpec::Fraction(x) => {
                let pct = x * 100.0;
                if (pct - pct.round()).abs() < 1e-9 {
                    format!("{}%", pct.round())
                } else {
                    format!("{x}")
                }
            }
            ForgetSpec::Class(c) => format!("class:{c}"),
            ForgetSpec::IndexFile(p) => format!("file:{}", p.display()),
        }
    }
}

impl From<ForgetSpec> for String {
    fn from(f: ForgetSpec) -> String {
        f.canonical()
    }
}

impl TryFrom<String> for ForgetSpec {
    type Error = DataError;
    fn try_from(s: String) -> Result<Self, DataError> {
        s.parse()
    }
}

impl std::str::FromStr for ForgetSpec {
    type Err = DataError;
    /// `0.1` or `10%` (fraction), `class:3`, `file:PATH`.
    fn from_str(s: &str) -> Result<Self, DataError> {
        if let Some(c) = s.strip_prefix("class:") {
            return c.parse().map(ForgetSpec::Class).map_err(|_| DataError::Split(format!("bad class in `{s}`")));
        }
        if let Some(p) = s.strip_prefix("file:") {
            return Ok(ForgetSpec::IndexFile(PathBuf::from(p)));
        }
        let (num, scale) = match s.strip_suffix('%') {
            Some(n) => (n, 0.01),
            None => (s, 1.0),
        };
        let v: f64 = num
            .parse()
            .map_err(|_| DataError::Split(format!("forget spec `{s}`: expected a fraction (0.1 or 10%), class:N or file:PATH")))?;
        Ok(ForgetSpec::Fraction(v * scale))
    }
}

/// The forget set and the retained set, as pooled-dataset indices.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ForgetSplit {
    /// D_u.
    pub forget: Vec<usize>,
    /// target_train minus D_u, in target_train's order.
    pub retain: Vec<usize>,
}

impl ForgetSpec {
    /// Select D_u inside `target_train`.
    pub fn select(&self, data: &Dataset, target_train: &[usize], seed: u64) -> Result<ForgetSplit, DataError> {
        let forget: Vec<usize> = match self {
            ForgetSpec::Fraction(f) => {
                if !(*f > 0.0 && *f < 1.0) {
                    return Err(DataError::Split(format!("forget fraction {f} must be in (0, 1)")));
                }
                let k = ((target_train.len() as f64 * f).round() as usize).max(1);
                let mut v = target_train.to_vec();
                v.shuffle(&mut ChaCha8Rng::seed_from_u64(seed ^ 0xf0_2637));
                v.truncate(k);
                v
            }
            ForgetSpec::Class(c) => {
                let v: Vec<usize> = target_train.iter().copied().filter(|&i| data.labels[i] == *c).collect();
                if v.is_empty() {
                    return Err(DataError::Split(format!("class {c} has no sample in target_train")));
                }
                v
            }
            ForgetSpec::IndexFile(p) => {
                let v = read_indices(p)?;
                let members: std::collections::HashSet<usize> = target_train.iter().copied().collect();
                if let Some(bad) = v.iter().find(|i| !members.contains(i)) {
                    return Err(DataError::format(
                        p,
                        "index list",
                        format!("index {bad} is not in target_train: only members can be forgotten"),
                    ));
                }
                v
            }
        };
        if forget.len() == target_train.len() {
            return Err(DataError::Split("the forget set is the whole training set".into()));
        }
        let fset: std::collections::HashSet<usize> = forget.iter().copied().collect();
        let retain = target_train.iter().copied().filter(|i| !fset.contains(i)).collect();
        Ok(ForgetSplit { forget, retain })
    }
}

/// Write indices one per line, atomically (temporary file, then rename).
pub fn write_indices(path: &Path, ix: &[usize]) -> Result<(), DataError> {
    let mut s = String::with_capacity(ix.len() * 6);
    for i in ix {
        s.push_str(&i.to_string());
        s.push('\n');
    }
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, s).map_err(|e| DataError::io(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| DataError::io(path, e))
}

/// Read indices written by [`write_indices`] (blank lines and `#` comments skipped).
pub fn read_indices(path: &Path) -> Result<Vec<usize>, DataError> {
    let text = std::fs::read_to_string(path).map_err(|e| DataError::io(path, e))?;
    let mut out = Vec::new();
    for (ln, line) in text.lines().enumerate() {
        let t = line.trim();
        if t.is_empty() || t.starts_with('#') {
            continue;
        }
        out.push(
            t.parse()
                .map_err(|_| DataError::format(path, format!("line {}", ln + 1), format!("`{t}` is not a non-negative integer index")))?,
        );
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toy(n: usize) -> Dataset {
        Dataset::new("toy", vec![0.0; n], (0..n as u32).map(|i| i % 3).collect(), vec![1], 3).unwrap()
    }

    #[test]
    fn splits_are_disjoint_seeded_and_sized() {
        let sizes = SplitSizes { target_train: 30, target_test: 20, reference: 10, shadow: None };
        let a = Splits::new(100, sizes, 7).unwrap();
        let b = Splits::new(100, sizes, 7).unwrap();
        let c = Splits::new(100, sizes, 8).unwrap();
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_eq!((a.target_train.len(), a.target_test.len(), a.reference.len(), a.shadow.len()), (30, 20, 10, 40));
        let mut all: Vec<usize> = [&a.target_train, &a.target_test, &a.reference, &a.shadow].into_iter().flatten().copied().collect();
        all.sort();
        all.dedup();
        assert_eq!(all.len(), 100);
        assert!(Splits::new(50, sizes, 0).is_err());
    }

    #[test]
    fn splits_around_given_members_keep_them_and_share_out_the_rest() {
        let members: Vec<usize> = (0..100).rev().step_by(4).collect();
        let sizes = SplitSizes { target_train: 1, target_test: 20, reference: 10, shadow: None };
        let s = Splits::with_members(100, &members, sizes, 3).unwrap();
        assert_eq!(s.target_train, members);
        assert_eq!((s.target_test.len(), s.reference.len(), s.shadow.len()), (20, 10, 45));
        let mut all: Vec<usize> = [&s.target_train, &s.target_test, &s.reference, &s.shadow].into_iter().flatten().copied().collect();
        all.sort();
        all.dedup();
        assert_eq!(all.len(), 100);
        // too few rows left: every part shrinks in proportion, none is empty
        let big = SplitSizes { target_train: 1, target_test: 60, reference: 30, shadow: Some(60) };
        let s = Splits::with_members(100, &members, big, 3).unwrap();
        assert_eq!((s.target_test.len(), s.reference.len(), s.shadow.len()), (30, 15, 30));
        assert!(Splits::with_members(100, &[3, 3], sizes, 0).unwrap_err().to_string().contains("listed twice"));
        assert!(Splits::with_members(100, &[100], sizes, 0).is_err());
    }

    #[test]
    fn forget_selection_by_fraction_class_and_file() {
        let d = toy(100);
        let s = Splits::new(100, SplitSizes { target_train: 50, target_test: 20, reference: 10, shadow: None }, 1).unwrap();
        let f = ForgetSpec::Fraction(0.1).select(&d, &s.target_train, 3).unwrap();
        assert_eq!(f.forget.len(), 5);
        assert_eq!(f.retain.len(), 45);
        assert!(f.forget.iter().all(|i| s.target_train.contains(i) && !f.retain.contains(i)));
        assert_eq!(f, ForgetSpec::Fraction(0.1).select(&d, &s.target_train, 3).unwrap());
        let c = ForgetSpec::Class(2).select(&d, &s.target_train, 0).unwrap();
        assert!(c.forget.iter().all(|&i| d.labels[i] == 2));
        assert!(c.retain.iter().all(|&i| d.labels[i] != 2));
        let dir = std::env::temp_dir().join(format!("forsaken-split-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("f.txt");
        write_indices(&p, &s.target_train[..3]).unwrap();
        let x = ForgetSpec::IndexFile(p.clone()).select(&d, &s.target_train, 0).unwrap();
        assert_eq!(x.forget, s.target_train[..3].to_vec());
        write_indices(&p, &[s.target_test[0]]).unwrap();
        let e = ForgetSpec::IndexFile(p).select(&d, &s.target_train, 0).unwrap_err().to_string();
        assert!(e.contains("not in target_train"), "{e}");
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn forget_spec_parses() {
        assert_eq!("10%".parse::<ForgetSpec>().unwrap(), ForgetSpec::Fraction(0.1));
        assert_eq!("0.2".parse::<ForgetSpec>().unwrap(), ForgetSpec::Fraction(0.2));
        assert_eq!("class:4".parse::<ForgetSpec>().unwrap(), ForgetSpec::Class(4));
        assert!("abc".parse::<ForgetSpec>().is_err());
        for s in ["1%", "10%", "20%", "class:0", "file:x/y.txt", "0.125"] {
            assert_eq!(s.parse::<ForgetSpec>().unwrap().canonical(), s);
        }
    }
}
