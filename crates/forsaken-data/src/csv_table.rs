//! A user's own classification table in CSV (plain or gzip).
//!
//! * **Label column**: by name (needs a header) or 0-based index; default the last column.
//!   Labels are mapped to `0..K` in the sorted order of their distinct values (numeric order
//!   when every label is a number, else string order); the names are kept in
//!   [`Dataset::class_names`].
//! * **Header**: declared, or auto-detected: the first row is a header if some column that is
//!   numeric in the later rows is non-numeric (and not empty or `?`) in the first row.
//! * **Column types**: declared numeric or categorical, else detected: a column is numeric if
//!   every non-empty value (ignoring `?`) parses as a number, and it has at least one.
//! * **Encoding**: numerics raw, marked for standardization with training-split statistics;
//!   categoricals one-hot over their sorted distinct values (empty counts as `?`, its own
//!   category).
//! * **Missing values** (`?` or empty) in a numeric column or in the label are errors naming the
//!   line and the column.
//! * Fields are trimmed; quoting follows RFC 4180 (the `csv` crate); every row must have as many
//!   fields as the first.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use crate::error::{read_maybe_gz, DataError};
use crate::util::utf8;
use crate::Dataset;

/// A column, by header name or 0-based index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ColumnRef {
    /// Header name.
    Name(String),
    /// 0-based position.
    Index(usize),
}

impl std::str::FromStr for ColumnRef {
    type Err = std::convert::Infallible;
    /// All digits: an index; anything else: a name.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        Ok(match s.parse::<usize>() {
            Ok(i) => ColumnRef::Index(i),
            Err(_) => ColumnRef::Name(s.to_string()),
        })
    }
}

impl std::fmt::Display for ColumnRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ColumnRef::Name(n) => write!(f, "`{n}`"),
            ColumnRef::Index(i) => write!(f, "index {i}"),
        }
    }
}

/// How a feature column is encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ColumnKind {
    /// Raw value, standardized later.
    Numeric,
    /// One-hot over the sorted distinct values.
    Categorical,
}

/// Options of [`load`]. `Default` = label in the last column, header auto-detected, column
/// types detected, delimiter `,`, dataset named after the file.
#[derive(Debug, Clone)]
pub struct CsvOptions {
    /// The label column; `None` = the last column.
    pub label: Option<ColumnRef>,
    /// Whether the first row is a header; `None` = auto-detect.
    pub header: Option<bool>,
    /// Columns forced numeric.
    pub numeric: Vec<ColumnRef>,
    /// Columns forced categorical.
    pub categorical: Vec<ColumnRef>,
    /// Field delimiter.
    pub delimiter: u8,
    /// Dataset name; `None` = the file name without `.csv` / `.gz`.
    pub name: Option<String>,
}

impl Default for CsvOptions {
    fn default() -> Self {
        Self { label: None, header: None, numeric: Vec::new(), categorical: Vec::new(), delimiter: b',', name: None }
    }
}

/// A feature column after loading.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Column {
    /// Header name, or `col{index}` without a header.
    pub name: String,
    /// 0-based position in the file.
    pub index: usize,
    /// Encoding.
    pub kind: ColumnKind,
    /// Categorical values in one-hot order (empty for numerics).
    pub vocabulary: Vec<String>,
}

/// What [`load`] read.
#[derive(Debug, Clone)]
pub struct CsvTable {
    /// The data.
    pub dataset: Dataset,
    /// Whether the first row was taken as a header.
    pub header: bool,
    /// The label column's name.
    pub label_column: String,
    /// Feature columns in file order (the label column excluded).
    pub columns: Vec<Column>,
    /// Name of each encoded feature (`col` or `col=value`).
    pub feature_names: Vec<String>,
}

fn is_missing(v: &str) -> bool {
    v.is_empty() || v == "?"
}

fn is_number(v: &str) -> bool {
    v.parse::<f64>().is_ok()
}

/// Read a CSV table.
pub fn load(path: &Path, opts: &CsvOptions) -> Result<CsvTable, DataError> {
    let bytes = read_maybe_gz(path)?;
    utf8(&bytes, path)?;
    let mut reader =
        csv::ReaderBuilder::new().has_headers(false).delimiter(opts.delimiter).flexible(true).trim(csv::Trim::All).from_reader(&bytes[..]);
    // (line number, fields)
    let mut rows: Vec<(u64, Vec<String>)> = Vec::new();
    for rec in reader.records() {
        let rec = rec.map_err(|e| {
            let line = e.position().map(|p| p.line()).unwrap_or(0);
            DataError::format(path, format!("line {line}"), e.to_string())
        })?;
        let line = rec.position().map(|p| p.line()).unwrap_or(0);
        if rec.len() == 1 && rec[0].is_empty() {
            continue;
        }
        rows.push((line, rec.iter().map(str::to_string).collect()));
    }
    let Some(width) = rows.first().map(|r| r.1.len()) else {
        return Err(DataError::format(path, "line 1", "no rows"));
    };
    if let Some((line, r)) = rows.iter().find(|r| r.1.len() != width) {
        return Err(DataError::format(
            path,
            format!("line {line}"),
            format!("{} fields, expected {width} (as on line {})", r.len(), rows[0].0),
        ));
    }
    if width < 2 {
        return Err(DataError::format(
            path,
            format!("line {}", rows[0].0),
            format!("{width} column: need a label and at least one feature (is the delimiter `{}`?)", opts.delimiter as char),
        ));
    }
    // Header: declared or detected.
    let header = match opts.header {
        Some(h) => h,
        None => {
            rows.len() >= 2
                && (0..width).any(|j| {
                    let first = &rows[0].1[j];
                    let mut later = rows[1..].iter().map(|r| r.1[j].as_str());
                    !is_missing(first)
                        && !is_number(first)
                        && later.clone().any(|v| !is_missing(v))
                        && later.all(|v| is_missing(v) || is_number(v))
                })
        }
    };
    let names: Vec<String> = if header {
        rows[0].1.iter().enumerate().map(|(j, n)| if n.is_empty() { format!("col{j}") } else { n.clone() }).collect()
    } else {
        (0..width).map(|j| format!("col{j}")).collect()
    };
    let data = if header { &rows[1..] } else { &rows[..] };
    if data.is_empty() {
        return Err(DataError::format(path, format!("line {}", rows[0].0), "a header but no data rows"));
    }
    let resolve = |c: &ColumnRef, role: &str| -> Result<usize, DataError> {
        let found = match c {
            ColumnRef::Index(i) => (*i < width).then_some(*i),
            ColumnRef::Name(n) if header => names.iter().position(|m| m == n),
            ColumnRef::Name(_) => None,
        };
        found.ok_or_else(|| {
            DataError::format(
                path,
                "columns",
                format!(
                    "unknown {role} column {c}: {}",
                    if header {
                        format!("the header has {}", names.join(", "))
                    } else if matches!(c, ColumnRef::Name(_)) {
                        format!("the file has no header, so use a 0-based index in 0..{width}")
                    } else {
                        format!("the file has {width} columns (0-based indices 0..{width})")
                    }
                ),
            )
        })
    };
    let label = match &opts.label {
        Some(c) => resolve(c, "label")?,
        None => width - 1,
    };
    let mut forced: HashMap<usize, ColumnKind> = HashMap::new();
    for (list, kind) in [(&opts.numeric, ColumnKind::Numeric), (&opts.categorical, ColumnKind::Categorical)] {
        for c in list {
            let j = resolve(c, "declared")?;
            if forced.insert(j, kind).is_some_and(|k| k != kind) {
                return Err(DataError::format(path, "columns", format!("column `{}` is declared both numeric and categorical", names[j])));
            }
        }
    }
    let mut columns = Vec::new();
    let mut feature_names = Vec::new();
    let mut numeric = Vec::new();
    for j in (0..width).filter(|&j| j != label) {
        let kind = forced.get(&j).copied().unwrap_or_else(|| {
            let mut vals = data.iter().map(|r| r.1[j].as_str()).filter(|v| !is_missing(v));
            if vals.clone().next().is_some() && vals.all(is_number) {
                ColumnKind::Numeric
            } else {
                ColumnKind::Categorical
            }
        });
        let vocabulary: Vec<String> = match kind {
            ColumnKind::Numeric => {
                numeric.push(feature_names.len());
                feature_names.push(names[j].clone());
                Vec::new()
            }
            ColumnKind::Categorical => {
                let v: BTreeSet<&str> = data.iter().map(|r| if r.1[j].is_empty() { "?" } else { r.1[j].as_str() }).collect();
                let v: Vec<String> = v.into_iter().map(str::to_string).collect();
                feature_names.extend(v.iter().map(|x| format!("{}={x}", names[j])));
                v
            }
        };
        columns.push(Column { name: names[j].clone(), index: j, kind, vocabulary });
    }
    // Classes.
    let at = |line: u64, j: usize| format!("line {line}, column {} (`{}`)", j, names[j]);
    if let Some((line, _)) = data.iter().find(|r| is_missing(&r.1[label])) {
        return Err(DataError::format(path, at(*line, label), "missing label (`?` or empty)"));
    }
    let mut classes: Vec<String> = data.iter().map(|r| r.1[label].clone()).collect::<BTreeSet<_>>().into_iter().collect();
    if classes.iter().all(|c| is_number(c)) {
        classes.sort_by(|a, b| {
            let (x, y) = (a.parse::<f64>().unwrap(), b.parse::<f64>().unwrap());
            x.total_cmp(&y).then_with(|| a.cmp(b))
        });
    }
    if classes.len() < 2 {
        return Err(DataError::format(
            path,
            format!("column {label} (`{}`)", names[label]),
            format!("the label column has {} distinct value(s); a classifier needs at least 2", classes.len()),
        ));
    }
    let class_of: HashMap<&str, u32> = classes.iter().enumerate().map(|(i, c)| (c.as_str(), i as u32)).collect();
    // Encode.
    let dim = feature_names.len();
    let mut features = Vec::with_capacity(data.len() * dim);
    let mut labels = Vec::with_capacity(data.len());
    for (line, r) in data {
        for c in &columns {
            let v = r[c.index].as_str();
            match c.kind {
                ColumnKind::Numeric => {
                    if is_missing(v) {
                        return Err(DataError::format(path, at(*line, c.index), "missing value (`?` or empty) in a numeric column"));
                    }
                    let x: f64 = crate::util::finite(v).ok_or_else(|| {
                        DataError::format(path, at(*line, c.index), format!("`{v}` is not a finite number (numeric column)"))
                    })?;
                    features.push(x as f32);
                }
                ColumnKind::Categorical => {
                    let v = if v.is_empty() { "?" } else { v };
                    let k = c.vocabulary.binary_search_by(|x| x.as_str().cmp(v)).expect("vocabulary built from these rows");
                    let start = features.len();
                    features.resize(start + c.vocabulary.len(), 0.0);
                    features[start + k] = 1.0;
                }
            }
        }
        labels.push(class_of[r[label].as_str()]);
    }
    let name = opts.name.clone().unwrap_or_else(|| default_name(path));
    let k = classes.len();
    let dataset = Dataset::new(name, features, labels, vec![dim], k)?.with_standardized(numeric).with_class_names(classes);
    Ok(CsvTable { dataset, header, label_column: names[label].clone(), columns, feature_names })
}

/// The file name without `.gz` and `.csv`.
fn default_name(path: &Path) -> String {
    let mut p = PathBuf::from(path.file_name().unwrap_or_default());
    for ext in ["gz", "csv"] {
        if p.extension().is_some_and(|e| e.eq_ignore_ascii_case(ext)) {
            p.set_extension("");
        }
    }
    let s = p.to_string_lossy().into_owned();
    if s.is_empty() {
        "csv".into()
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(name: &str, body: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("forsaken-csv-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join(name);
        std::fs::write(&p, body).unwrap();
        p
    }

    #[test]
    fn detects_header_types_and_one_hot() {
        let p = write("people.csv", "age,city,income,label\n30,paris,1.5,yes\n40,\"berlin\",2.5,no\n\n50,paris,3,yes\n");
        let t = load(&p, &CsvOptions::default()).unwrap();
        assert!(t.header);
        assert_eq!(t.label_column, "label");
        let d = &t.dataset;
        assert_eq!(d.name, "people");
        assert_eq!(t.feature_names, vec!["age", "city=berlin", "city=paris", "income"]);
        assert_eq!(d.row(1), &[40.0, 1.0, 0.0, 2.5]);
        assert_eq!(d.standardize, vec![0, 3]);
        assert_eq!(d.class_names, vec!["no", "yes"]);
        assert_eq!(d.labels, vec![1, 0, 1]);
        assert_eq!(t.columns[1].kind, ColumnKind::Categorical);
    }

    #[test]
    fn no_header_label_by_index_and_numeric_class_order() {
        let p = write("plain.csv", "10;1.0;a\n2;2.0;b\n10;3.0;?\n");
        let opts = CsvOptions { label: Some("0".parse().unwrap()), delimiter: b';', ..Default::default() };
        let t = load(&p, &opts).unwrap();
        assert!(!t.header);
        // Numeric label order: 2 < 10 (not the string order "10" < "2").
        assert_eq!(t.dataset.class_names, vec!["2", "10"]);
        assert_eq!(t.dataset.labels, vec![1, 0, 1]);
        assert_eq!(t.feature_names, vec!["col1", "col2=?", "col2=a", "col2=b"]);
        // A column declared categorical although numeric; header forced off.
        let opts = CsvOptions { header: Some(false), categorical: vec![ColumnRef::Index(1)], ..opts };
        let t = load(&p, &opts).unwrap();
        assert_eq!(t.columns[0].vocabulary, vec!["1.0", "2.0", "3.0"]);
        assert!(t.dataset.standardize.is_empty());
    }

    #[test]
    fn header_detection_needs_a_numeric_column() {
        // All-categorical table: the first row cannot be told apart, so it is data.
        let p = write("cat.csv", "a,x\nb,y\n");
        assert!(!load(&p, &CsvOptions::default()).unwrap().header);
        let p = write("num.csv", "1,x\n2,y\n");
        assert!(!load(&p, &CsvOptions::default()).unwrap().header);
    }

    #[test]
    fn errors_name_line_and_column() {
        let body = "f1,f2,y\n1,2,a\n3,?,b\n";
        let p = write("miss.csv", body);
        let opts = CsvOptions { numeric: vec![ColumnRef::Name("f2".into())], ..Default::default() };
        let e = load(&p, &opts).unwrap_err().to_string();
        assert!(e.contains("miss.csv") && e.contains("line 3, column 1 (`f2`)") && e.contains("missing"), "{e}");
        let p = write("ragged.csv", "f1,f2,y\n1,2,a\n3,b\n");
        let e = load(&p, &CsvOptions::default()).unwrap_err().to_string();
        assert!(e.contains("line 3") && e.contains("2 fields, expected 3"), "{e}");
        let p = write("lab.csv", body);
        let opts = CsvOptions { label: Some(ColumnRef::Name("target".into())), ..Default::default() };
        let e = load(&p, &opts).unwrap_err().to_string();
        assert!(e.contains("unknown label column `target`") && e.contains("f1, f2, y"), "{e}");
        let opts = CsvOptions { label: Some(ColumnRef::Index(7)), ..Default::default() };
        let e = load(&p, &opts).unwrap_err().to_string();
        assert!(e.contains("unknown label column index 7"), "{e}");
        let p = write("nolab.csv", "f1,y\n1,a\n2,\n");
        let e = load(&p, &CsvOptions::default()).unwrap_err().to_string();
        assert!(e.contains("line 3, column 1 (`y`)") && e.contains("missing label"), "{e}");
        let p = write("one.csv", "f1,y\n1,a\n2,a\n");
        let e = load(&p, &CsvOptions::default()).unwrap_err().to_string();
        assert!(e.contains("1 distinct"), "{e}");
        let p = write("noheader.csv", "1,a\n2,b\n");
        let opts = CsvOptions { label: Some(ColumnRef::Name("y".into())), ..Default::default() };
        let e = load(&p, &opts).unwrap_err().to_string();
        assert!(e.contains("no header"), "{e}");
    }
}
