//! Texas-100 (Shokri et al. 2017, Texas hospital discharge data), in the layout published
//! with the membership-inference literature: two text files, `feats` (one sample per line,
//! 6,169 comma-separated binary features) and `labels` (one label `1..=100` per line, mapped to
//! 0..99), with the same number of lines. Features are used as they are (0/1).

use std::path::{Path, PathBuf};

use crate::error::DataError;
use crate::util::{binary, one_based_label, utf8};
use crate::Dataset;

/// Number of binary features of the published files.
pub const FEATURES: usize = 6169;
/// Number of classes.
pub const CLASSES: usize = 100;

/// Find `feats` and `labels` in `dir`, or in `dir/texas/100/` (the published archive's
/// layout).
pub fn locate(dir: &Path) -> Result<(PathBuf, PathBuf), DataError> {
    for d in [dir.to_path_buf(), dir.join("texas").join("100")] {
        let (f, l) = (d.join("feats"), d.join("labels"));
        if f.is_file() && l.is_file() {
            return Ok((f, l));
        }
    }
    Err(DataError::NotFound {
        dataset: "texas-100".into(),
        path: dir.join("feats"),
        hint: format!("Texas-100 needs the files `feats` and `labels` in {} or {}.", dir.display(), dir.join("texas/100").display()),
    })
}

/// Read Texas-100 from a folder (see [`locate`]).
pub fn load_dir(dir: &Path) -> Result<Dataset, DataError> {
    let (f, l) = locate(dir)?;
    load(&f, &l)
}

/// Read Texas-100 at its published width.
pub fn load(feats: &Path, labels: &Path) -> Result<Dataset, DataError> {
    load_with(feats, labels, FEATURES, CLASSES)
}

/// The lines of a file, with trailing empty lines dropped; an empty line elsewhere is an
/// error (it would shift every later sample against its label).
fn lines_of(bytes: &[u8], path: &Path) -> Result<Vec<String>, DataError> {
    let text = utf8(bytes, path)?;
    let mut lines: Vec<&str> = text.lines().collect();
    while lines.last().is_some_and(|l| l.trim().is_empty()) {
        lines.pop();
    }
    if let Some(i) = lines.iter().position(|l| l.trim().is_empty()) {
        return Err(DataError::format(
            path,
            format!("line {}", i + 1),
            "empty line inside the data (samples and labels are matched by line)",
        ));
    }
    if lines.is_empty() {
        return Err(DataError::format(path, "line 1", "no data rows"));
    }
    Ok(lines.into_iter().map(str::to_string).collect())
}

/// Read files of the Texas layout with `features` binary features and labels `1..=classes`.
pub fn load_with(feats: &Path, labels: &Path, features: usize, classes: usize) -> Result<Dataset, DataError> {
    let read = |p: &Path| std::fs::read(p).map_err(|e| DataError::io(p, e));
    let fl = lines_of(&read(feats)?, feats)?;
    let ll = lines_of(&read(labels)?, labels)?;
    if fl.len() != ll.len() {
        return Err(DataError::Shape {
            dataset: "texas-100".into(),
            msg: format!(
                "{} has {} lines but {} has {}: they must agree line by line",
                feats.display(),
                fl.len(),
                labels.display(),
                ll.len()
            ),
        });
    }
    let mut y = Vec::with_capacity(ll.len());
    for (ln, l) in ll.iter().enumerate() {
        y.push(one_based_label(l, classes).ok_or_else(|| {
            DataError::format(labels, format!("line {}", ln + 1), format!("label `{}` is not an integer in 1..={classes}", l.trim()))
        })?);
    }
    let mut x = Vec::with_capacity(fl.len() * features);
    for (ln, line) in fl.iter().enumerate() {
        let before = x.len();
        for (j, f) in line.split(',').enumerate() {
            if j >= features {
                break;
            }
            x.push(
                binary(f)
                    .ok_or_else(|| DataError::format(feats, format!("line {}, field {}", ln + 1, j + 1), format!("`{f}` is not 0 or 1")))?,
            );
        }
        let n = line.split(',').count();
        if n != features || x.len() - before != features {
            return Err(DataError::format(feats, format!("line {}", ln + 1), format!("{n} fields, expected {features}")));
        }
    }
    Dataset::new("texas-100", x, y, vec![features], classes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_both_files_and_checks_they_agree() {
        let dir = std::env::temp_dir().join(format!("forsaken-texas-{}", std::process::id()));
        let sub = dir.join("texas/100");
        std::fs::create_dir_all(&sub).unwrap();
        let (f, l) = (sub.join("feats"), sub.join("labels"));
        // Full width, two lines, found through the published sub-folder.
        let row = |one: usize| (0..FEATURES).map(|j| if j == one { "1" } else { "0" }).collect::<Vec<_>>().join(",");
        std::fs::write(&f, format!("{}\n{}\n", row(0), row(6168))).unwrap();
        std::fs::write(&l, "100\n1\n\n").unwrap();
        let d = load_dir(&dir).unwrap();
        assert_eq!(d.labels, vec![99, 0]);
        assert_eq!(d.dim(), FEATURES);
        assert_eq!(d.row(1)[6168], 1.0);
        // Small width via the parameter; then each error case.
        std::fs::write(&f, "0,1,1\n1,0,0\n").unwrap();
        std::fs::write(&l, "2\n5\n").unwrap();
        assert_eq!(load_with(&f, &l, 3, 5).unwrap().labels, vec![1, 4]);
        let cases: [(&str, &str, &str); 5] = [
            ("0,1,1\n1,0,0\n", "2\n", "has 2 lines but"),
            ("0,1,1\n1,0\n", "2\n5\n", "feats: line 2: 2 fields, expected 3"),
            ("0,1,1\n1,0,7\n", "2\n5\n", "feats: line 2, field 3"),
            ("0,1,1\n1,0,0\n", "2\n6\n", "labels: line 2"),
            ("0,1,1\n\n1,0,0\n", "2\n5\n3\n", "feats: line 2: empty line"),
        ];
        for (fb, lb, needle) in cases {
            std::fs::write(&f, fb).unwrap();
            std::fs::write(&l, lb).unwrap();
            let e = load_with(&f, &l, 3, 5).unwrap_err().to_string();
            assert!(e.contains(needle), "{needle}: {e}");
        }
        assert!(load_dir(&dir.join("nope")).unwrap_err().to_string().contains("feats"));
        std::fs::remove_dir_all(&dir).ok();
    }
}
