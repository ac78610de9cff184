//! scikit-learn's bundled CSVs.
//!
//! * `digits.csv.gz`: gzip CSV, no header, 65 integers per line, the 64 pixel counts (0..=16)
//!   then the label. Features are scaled to `[0, 1]` by / 16.
//! * `breast_cancer.csv`: line 1 is a metadata header `569,30,malignant,benign` (samples,
//!   features, then the class names indexed by label), used to check the shape; then one line
//!   per sample, 30 decimal features then the integer label. Features are kept raw and all
//!   marked for standardization with training-split statistics (their scales differ by orders
//!   of magnitude).

use std::path::Path;

use crate::error::{read_maybe_gz, DataError};
use crate::Dataset;

/// Read `digits.csv.gz` (or the uncompressed `digits.csv`).
pub fn load_digits(path: &Path) -> Result<Dataset, DataError> {
    let bytes = read_maybe_gz(path)?;
    let text = std::str::from_utf8(&bytes)
        .map_err(|e| DataError::format(path, format!("byte offset {}", e.valid_up_to()), "not UTF-8/ASCII text"))?;
    let mut features = Vec::new();
    let mut labels = Vec::new();
    for (ln, line) in text.lines().enumerate() {
        if line.is_empty() {
            continue;
        }
        let fields: Vec<&str> = line.split(',').collect();
        if fields.len() != 65 {
            return Err(DataError::format(
                path,
                format!("line {}", ln + 1),
                format!("{} fields, expected 65 (64 pixels + label)", fields.len()),
            ));
        }
        for (j, f) in fields[..64].iter().enumerate() {
            let v: f32 = f
                .trim()
                .parse()
                .map_err(|_| DataError::format(path, format!("line {}, field {}", ln + 1, j + 1), format!("`{f}` is not a number")))?;
            if !(0.0..=16.0).contains(&v) {
                return Err(DataError::format(
                    path,
                    format!("line {}, field {}", ln + 1, j + 1),
                    format!("pixel count {v} outside 0..=16"),
                ));
            }
            features.push(v / 16.0);
        }
        let label: u32 = fields[64].trim().parse().map_err(|_| {
            DataError::format(path, format!("line {}, field 65", ln + 1), format!("label `{}` is not an integer", fields[64]))
        })?;
        if label > 9 {
            return Err(DataError::format(path, format!("line {}, field 65", ln + 1), format!("label {label} outside 0..=9")));
        }
        labels.push(label);
    }
    if labels.is_empty() {
        return Err(DataError::format(path, "line 1", "no data rows"));
    }
    Dataset::new("digits", features, labels, vec![64], 10)
}

/// Read scikit-learn's `breast_cancer.csv` (or any CSV with the same layout: a
/// `samples,features,class0,class1,...` first line, then features and an integer label).
pub fn load_breast_cancer(path: &Path) -> Result<Dataset, DataError> {
    let bytes = read_maybe_gz(path)?;
    let text = crate::util::utf8(&bytes, path)?;
    let mut lines = text.lines().enumerate();
    let (n, d, classes) = loop {
        let Some((ln, line)) = lines.next() else {
            return Err(DataError::format(path, "line 1", "empty file"));
        };
        if line.trim().is_empty() {
            continue;
        }
        let f: Vec<&str> = line.split(',').map(str::trim).collect();
        let bad = || {
            DataError::format(
                path,
                format!("line {}", ln + 1),
                format!("metadata header `{line}` is not `SAMPLES,FEATURES,CLASS0,CLASS1,...`"),
            )
        };
        if f.len() < 4 {
            return Err(bad());
        }
        let n: usize = f[0].parse().map_err(|_| bad())?;
        let d: usize = f[1].parse().map_err(|_| bad())?;
        if d == 0 {
            return Err(bad());
        }
        break (n, d, f[2..].iter().map(|s| s.to_string()).collect::<Vec<_>>());
    };
    let mut features = Vec::with_capacity(n * d);
    let mut labels = Vec::with_capacity(n);
    for (ln, line) in lines {
        if line.trim().is_empty() {
            continue;
        }
        let fields: Vec<&str> = line.split(',').map(str::trim).collect();
        if fields.len() != d + 1 {
            return Err(DataError::format(
                path,
                format!("line {}", ln + 1),
                format!("{} fields, expected {} ({d} features + label, per the header)", fields.len(), d + 1),
            ));
        }
        for (j, f) in fields[..d].iter().enumerate() {
            let v: f64 = crate::util::finite(f)
                .ok_or_else(|| DataError::format(path, format!("line {}, field {}", ln + 1, j + 1), format!("`{f}` is not a number")))?;
            features.push(v as f32);
        }
        let label = fields[d].parse::<u32>().ok().filter(|&l| (l as usize) < classes.len()).ok_or_else(|| {
            DataError::format(
                path,
                format!("line {}, field {}", ln + 1, d + 1),
                format!("label `{}` is not an integer in 0..{}", fields[d], classes.len()),
            )
        })?;
        labels.push(label);
    }
    if labels.len() != n {
        return Err(DataError::format(path, "end of file", format!("{} data rows, but the header announces {n}", labels.len())));
    }
    let k = classes.len();
    Ok(Dataset::new("breast-cancer", features, labels, vec![d], k)?.with_standardized(0..d).with_class_names(classes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn breast_cancer_layout_and_errors() {
        let dir = std::env::temp_dir().join(format!("forsaken-bc-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("bc.csv");
        std::fs::write(&p, "2,3,malignant,benign\n1.5,20,0.07,0\n2,1000,0.05,1\n").unwrap();
        let d = load_breast_cancer(&p).unwrap();
        assert_eq!(d.labels, vec![0, 1]);
        assert_eq!(d.row(1), &[2.0, 1000.0, 0.05]);
        assert_eq!(d.standardize, vec![0, 1, 2]);
        assert_eq!(d.class_names, vec!["malignant", "benign"]);
        for (body, needle) in [
            ("3,3,m,b\n1,2,3,0\n1,2,3,1\n", "2 data rows, but the header announces 3"),
            ("2,3,m,b\n1,2,3,0\n1,2,1\n", "line 3"),
            ("2,3,m,b\n1,2,3,0\n1,2,x,1\n", "line 3, field 3"),
            ("2,3,m,b\n1,2,3,0\n1,2,3,2\n", "line 3, field 4"),
            ("1.5,20,0.07,0\n", "metadata header"),
        ] {
            std::fs::write(&p, body).unwrap();
            let e = load_breast_cancer(&p).unwrap_err().to_string();
            assert!(e.contains("bc.csv") && e.contains(needle), "{needle}: {e}");
        }
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn reads_the_vendored_breast_cancer_file() {
        let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/breast-cancer/breast_cancer.csv");
        let d = load_breast_cancer(&p).unwrap();
        assert_eq!((d.len(), d.dim()), (569, 30));
        assert_eq!(d.class_counts(), vec![212, 357]);
        assert_eq!(d.row(0)[0], 17.99);
    }

    #[test]
    fn reads_plain_csv_and_rejects_bad_field() {
        let dir = std::env::temp_dir().join(format!("forsaken-digits-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut line: Vec<String> = (0..64).map(|i| (i % 17).to_string()).collect();
        line.push("7".into());
        let ok = dir.join("digits.csv");
        std::fs::write(&ok, format!("{}\n", line.join(","))).unwrap();
        let d = load_digits(&ok).unwrap();
        assert_eq!(d.labels, vec![7]);
        assert_eq!(d.row(0)[16], 1.0);
        assert_eq!(d.row(0)[17], 0.0);
        assert_eq!(d.row(0)[15], 15.0 / 16.0);
        line[3] = "abc".into();
        let bad = dir.join("bad.csv");
        std::fs::write(&bad, format!("{}\n", line.join(","))).unwrap();
        let e = load_digits(&bad).unwrap_err().to_string();
        assert!(e.contains("bad.csv") && e.contains("line 1, field 4"), "{e}");
        std::fs::remove_dir_all(&dir).ok();
    }
}
