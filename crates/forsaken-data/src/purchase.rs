//! Purchase-100 (Shokri et al. 2017, Acquire Valued Shoppers), in the layout published with
//! the membership-inference literature: one comma-separated text file (plain, gzip, or the
//! `dataset_purchase.tgz` archive holding it), no header, each line `label,f1,...,f600` with
//! the label `1..=100` (mapped to 0..99; double quotes allowed) and 600 binary features.
//! Features are used as they are (0/1); nothing is marked for standardization.

use std::path::Path;

use crate::error::DataError;
use crate::util::{binary, one_based_label, read_plain_gz_or_tgz, utf8};
use crate::Dataset;

/// Number of binary features of the published file.
pub const FEATURES: usize = 600;
/// Number of classes.
pub const CLASSES: usize = 100;

/// Read Purchase-100 at its published width.
pub fn load(path: &Path) -> Result<Dataset, DataError> {
    load_with(path, FEATURES, CLASSES)
}

/// Read a file of the Purchase layout with `features` binary features and labels
/// `1..=classes` (tests use small widths).
pub fn load_with(path: &Path, features: usize, classes: usize) -> Result<Dataset, DataError> {
    let (bytes, name) = read_plain_gz_or_tgz(path)?;
    let text = utf8(&bytes, &name)?;
    let mut x = Vec::new();
    let mut y = Vec::new();
    for (ln, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let fields: Vec<&str> = line.split(',').collect();
        if fields.len() != features + 1 {
            return Err(DataError::format(
                &name,
                format!("line {}", ln + 1),
                format!("{} fields, expected {} (label + {features} features)", fields.len(), features + 1),
            ));
        }
        y.push(one_based_label(fields[0], classes).ok_or_else(|| {
            DataError::format(
                &name,
                format!("line {}, field 1", ln + 1),
                format!("label `{}` is not an integer in 1..={classes}", fields[0]),
            )
        })?);
        for (j, f) in fields[1..].iter().enumerate() {
            x.push(
                binary(f)
                    .ok_or_else(|| DataError::format(&name, format!("line {}, field {}", ln + 1, j + 2), format!("`{f}` is not 0 or 1")))?,
            );
        }
    }
    if y.is_empty() {
        return Err(DataError::format(&name, "line 1", "no data rows"));
    }
    Dataset::new("purchase-100", x, y, vec![features], classes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_layout_and_rejects_bad_rows() {
        let dir = std::env::temp_dir().join(format!("forsaken-purchase-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("dataset_purchase");
        // Full width, three lines.
        let line = |label: &str, one: usize| {
            let mut s = label.to_string();
            for j in 0..FEATURES {
                s.push_str(if j == one { ",1" } else { ",0" });
            }
            s + "\n"
        };
        std::fs::write(&p, format!("{}{}{}", line("1", 0), line("100", 599), line("\"7\"", 3))).unwrap();
        let d = load(&p).unwrap();
        assert_eq!(d.labels, vec![0, 99, 6]);
        assert_eq!((d.dim(), d.num_classes), (600, 100));
        assert_eq!(d.row(1)[599], 1.0);
        assert!(d.standardize.is_empty());
        // Small width via the parameter.
        std::fs::write(&p, "3,0,1,1\n2,1,0,0\n").unwrap();
        assert_eq!(load_with(&p, 3, 5).unwrap().labels, vec![2, 1]);
        for (body, needle) in [
            ("3,0,1\n", "line 1: 3 fields, expected 4"),
            ("3,0,1,1\n0,1,1,1\n", "line 2, field 1"),
            ("3,0,1,1\n6,1,1,1\n", "line 2, field 1"),
            ("3,0,1,1\n2,1,2,1\n", "line 2, field 3"),
        ] {
            std::fs::write(&p, body).unwrap();
            let e = load_with(&p, 3, 5).unwrap_err().to_string();
            assert!(e.contains("dataset_purchase") && e.contains(needle), "{needle}: {e}");
        }
        std::fs::remove_dir_all(&dir).ok();
    }
}
