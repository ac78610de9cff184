//! The Location dataset (Shokri et al. 2017, Foursquare check-ins in Bangkok), read from
//! `dataset_location.tgz` exactly as distributed: a gzip tar holding one CSV member `bangkok`
//! with no header; field 0 is the quoted label `"1"`..`"30"`, fields 1..=446 are 0/1.

use std::path::Path;

use crate::error::DataError;
use crate::Dataset;

/// Number of binary features.
pub const FEATURES: usize = 446;
/// Number of classes.
pub const CLASSES: usize = 30;

/// Read `dataset_location.tgz` (or an already extracted `bangkok` CSV).
pub fn load(path: &Path) -> Result<Dataset, DataError> {
    let (text, source) = crate::util::read_plain_gz_or_tgz(path)?;
    parse_csv(&text, &source)
}

/// Parse the `bangkok` CSV text.
pub fn parse_csv(text: &[u8], path: &Path) -> Result<Dataset, DataError> {
    let text = std::str::from_utf8(text)
        .map_err(|e| DataError::format(path, format!("byte offset {}", e.valid_up_to()), "not UTF-8/ASCII text"))?;
    let mut features = Vec::new();
    let mut labels = Vec::new();
    for (ln, line) in text.lines().enumerate() {
        if line.is_empty() {
            continue;
        }
        let mut fields = line.split(',');
        let label_field = fields.next().unwrap_or("");
        let label: u32 = label_field.trim_matches('"').parse().map_err(|_| {
            DataError::format(path, format!("line {}, field 1", ln + 1), format!("label `{label_field}` is not a quoted integer"))
        })?;
        if !(1..=CLASSES as u32).contains(&label) {
            return Err(DataError::format(path, format!("line {}, field 1", ln + 1), format!("label {label} outside 1..={CLASSES}")));
        }
        labels.push(label - 1);
        let mut n = 0;
        for (j, f) in fields.enumerate() {
            let v = match f {
                "0" => 0.0,
                "1" => 1.0,
                other => {
                    return Err(DataError::format(path, format!("line {}, field {}", ln + 1, j + 2), format!("`{other}` is not 0 or 1")))
                }
            };
            features.push(v);
            n += 1;
        }
        if n != FEATURES {
            return Err(DataError::format(path, format!("line {}", ln + 1), format!("{} fields, expected {}", n + 1, FEATURES + 1)));
        }
    }
    if labels.is_empty() {
        return Err(DataError::format(path, "line 1", "no data rows"));
    }
    Dataset::new("location", features, labels, vec![FEATURES], CLASSES)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(label: u32) -> String {
        let mut s = format!("\"{label}\"");
        for j in 0..FEATURES {
            s.push_str(if j % 7 == 0 { ",1" } else { ",0" });
        }
        s.push('\n');
        s
    }

    #[test]
    fn parses_rows_and_maps_labels() {
        let text = format!("{}{}", row(1), row(30));
        let d = parse_csv(text.as_bytes(), Path::new("bangkok")).unwrap();
        assert_eq!(d.labels, vec![0, 29]);
        assert_eq!(d.dim(), FEATURES);
        assert_eq!(d.row(0)[0], 1.0);
    }

    #[test]
    fn rejects_bad_rows_with_line_and_field() {
        let bad = row(3).replacen(",0", ",x", 1);
        let e = parse_csv(format!("{}{}", row(1), bad).as_bytes(), Path::new("bangkok")).unwrap_err().to_string();
        assert!(e.contains("bangkok") && e.contains("line 2"), "{e}");
        let short = "\"2\",1,0\n";
        assert!(parse_csv(short.as_bytes(), Path::new("b")).unwrap_err().to_string().contains("3 fields"));
        assert!(parse_csv(row(31).as_bytes(), Path::new("b")).is_err());
    }

    #[test]
    fn truncated_tgz_is_an_error_not_a_panic() {
        let mut tarbuf = tar::Builder::new(Vec::new());
        let body = format!("{}{}", row(1), row(2));
        let mut h = tar::Header::new_gnu();
        h.set_size(body.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        tarbuf.append_data(&mut h, "bangkok", body.as_bytes()).unwrap();
        let tarbytes = tarbuf.into_inner().unwrap();
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        std::io::Write::write_all(&mut enc, &tarbytes).unwrap();
        let gz = enc.finish().unwrap();
        let dir = std::env::temp_dir().join(format!("forsaken-loc-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let ok = dir.join("ok.tgz");
        std::fs::write(&ok, &gz).unwrap();
        assert_eq!(load(&ok).unwrap().len(), 2);
        let bad = dir.join("cut.tgz");
        std::fs::write(&bad, &gz[..gz.len() / 3]).unwrap();
        let e = load(&bad).unwrap_err().to_string();
        assert!(e.contains("cut.tgz"), "{e}");
        std::fs::remove_dir_all(&dir).ok();
    }
}
