//! scikit-learn's bundled CSVs. `digits.csv.gz`: gzip CSV, no header, 65 integers per line,
//! the 64 pixel counts (0..=16) then the label. Features are scaled to `[0, 1]` by / 16.

use std::path::Path;

use crate::error::{read_maybe_gz, DataError};
use crate::Dataset;

/// Read `digits.csv.gz` (or the uncompressed `digits.csv`).
pub fn load_digits(path: &Path) -> Result<Dataset, DataError> {
    let bytes = read_maybe_gz(path)?;
    let text = std::str::from_utf8(&bytes).map_err(|e| {
        DataError::format(
            path,
            format!("byte offset {}", e.valid_up_to()),
            "not UTF-8/ASCII text",
        )
    })?;
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
            let v: f32 = f.trim().parse().map_err(|_| {
                DataError::format(
                    path,
                    format!("line {}, field {}", ln + 1, j + 1),
                    format!("`{f}` is not a number"),
                )
            })?;
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
            DataError::format(
                path,
                format!("line {}, field 65", ln + 1),
                format!("label `{}` is not an integer", fields[64]),
            )
        })?;
        if label > 9 {
            return Err(DataError::format(
                path,
                format!("line {}, field 65", ln + 1),
                format!("label {label} outside 0..=9"),
            ));
        }
        labels.push(label);
    }
    if labels.is_empty() {
        return Err(DataError::format(path, "line 1", "no data rows"));
    }
    Dataset::new("digits", features, labels, vec![64], 10)
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert!(
            e.contains("bad.csv") && e.contains("line 1, field 4"),
            "{e}"
        );
        std::fs::remove_dir_all(&dir).ok();
    }
}
