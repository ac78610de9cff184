//! Weka ARFF (dense), enough for the Pima Indians diabetes file (`diabetes.arff`) and
//! similar classification tables.
//!
//! * Lines whose first non-blank character is `%` are comments; keywords (`@relation`,
//!   `@attribute`, `@data`) are case-insensitive; attribute names may be quoted with `'` or `"`.
//! * Attribute types: `numeric` / `real` / `integer` (kept raw and marked for standardization
//!   with training-split statistics), nominal `{a, b, ...}` (one-hot, in declared order).
//!   `string`, `date` and relational attributes, sparse rows (`{...}`) and missing values (`?`)
//!   are errors naming the line.
//! * The class is the **last** attribute and must be nominal; labels are its values' indices
//!   in declared order (diabetes: `tested_negative` = 0, `tested_positive` = 1).
//!
//! **Pima diabetes quirk.** Some zeros in that file mean "missing" (plas, pres, skin, insu,
//! mass), although its header says there are no missing values. They are left as they are
//! (zeros), the usual practice; standardization then treats them as ordinary values.

use std::path::Path;

use crate::error::DataError;
use crate::util::utf8;
use crate::Dataset;

/// An attribute's type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttrType {
    /// `numeric`, `real` or `integer`.
    Numeric,
    /// `{v1, v2, ...}`.
    Nominal(Vec<String>),
}

/// An `@attribute` declaration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attribute {
    /// Name, unquoted.
    pub name: String,
    /// Type.
    pub kind: AttrType,
}

/// A parsed ARFF file: relation name, attributes (class last) and the dataset.
#[derive(Debug, Clone)]
pub struct ArffTable {
    /// The `@relation` name.
    pub relation: String,
    /// Every declared attribute, the class last.
    pub attributes: Vec<Attribute>,
    /// Names of the encoded features.
    pub feature_names: Vec<String>,
    /// The data: numerics raw and marked for standardization, nominals one-hot, labels from
    /// the last attribute; class names set.
    pub dataset: Dataset,
}

/// Read an ARFF file into a dataset called `name`.
pub fn load(path: &Path, name: &str) -> Result<Dataset, DataError> {
    load_table(path, name).map(|t| t.dataset)
}

/// Read an ARFF file, keeping the attribute declarations.
pub fn load_table(path: &Path, name: &str) -> Result<ArffTable, DataError> {
    let bytes = std::fs::read(path).map_err(|e| DataError::io(path, e))?;
    parse(utf8(&bytes, path)?, path, name)
}

/// Strip one level of `'...'` or `"..."` quotes.
fn unquote(s: &str) -> &str {
    let s = s.trim();
    for q in ['\'', '"'] {
        if s.len() >= 2 && s.starts_with(q) && s.ends_with(q) {
            return &s[1..s.len() - 1];
        }
    }
    s
}

/// Split `@attribute NAME TYPE` into name and type text (the name may be quoted and contain
/// spaces).
fn split_name(rest: &str) -> Option<(&str, &str)> {
    let rest = rest.trim_start();
    let q = rest.chars().next()?;
    if q == '\'' || q == '"' {
        let end = rest[1..].find(q)? + 1;
        Some((&rest[1..end], rest[end + 1..].trim()))
    } else {
        let end = rest.find(char::is_whitespace)?;
        Some((&rest[..end], rest[end..].trim()))
    }
}

/// Parse ARFF text. `path` is only used in error messages.
pub fn parse(text: &str, path: &Path, name: &str) -> Result<ArffTable, DataError> {
    let mut relation = String::new();
    let mut attrs: Vec<Attribute> = Vec::new();
    let mut lines = text.lines().enumerate();
    let mut in_data = false;
    for (ln, line) in lines.by_ref() {
        let t = line.trim();
        if t.is_empty() || t.starts_with('%') {
            continue;
        }
        let at = || format!("line {}", ln + 1);
        let lower = t.to_ascii_lowercase();
        if lower.starts_with("@relation") {
            relation = unquote(&t["@relation".len()..]).to_string();
        } else if lower.starts_with("@attribute") {
            let rest = &t["@attribute".len()..];
            let (aname, ty) = split_name(rest).ok_or_else(|| DataError::format(path, at(), "expected `@attribute NAME TYPE`"))?;
            let tyl = ty.to_ascii_lowercase();
            let kind = if ["numeric", "real", "integer"].contains(&tyl.as_str()) {
                AttrType::Numeric
            } else if ty.starts_with('{') && ty.ends_with('}') {
                let values: Vec<String> = ty[1..ty.len() - 1].split(',').map(|v| unquote(v).to_string()).collect();
                if values.iter().any(String::is_empty) {
                    return Err(DataError::format(path, at(), format!("attribute `{aname}`: empty nominal value")));
                }
                AttrType::Nominal(values)
            } else {
                return Err(DataError::format(
                    path,
                    at(),
                    format!(
                        "attribute `{aname}`: unsupported type `{ty}` (numeric, real, integer \
                         or {{nominal values}})"
                    ),
                ));
            };
            attrs.push(Attribute { name: aname.to_string(), kind });
        } else if lower.starts_with("@data") {
            in_data = true;
            break;
        } else {
            return Err(DataError::format(path, at(), format!("unexpected header line `{t}` (data before `@data`?)")));
        }
    }
    if !in_data {
        return Err(DataError::format(path, "header", "no `@data` section"));
    }
    let Some((class, inputs)) = attrs.split_last() else {
        return Err(DataError::format(path, "header", "no `@attribute` declared"));
    };
    let AttrType::Nominal(classes) = &class.kind else {
        return Err(DataError::format(path, "header", format!("the last attribute `{}` is the class and must be nominal", class.name)));
    };
    let mut feature_names = Vec::new();
    let mut numeric = Vec::new();
    for a in inputs {
        match &a.kind {
            AttrType::Numeric => {
                numeric.push(feature_names.len());
                feature_names.push(a.name.clone());
            }
            AttrType::Nominal(vs) => {
                feature_names.extend(vs.iter().map(|v| format!("{}={v}", a.name)));
            }
        }
    }
    let width = feature_names.len();
    let mut features = Vec::new();
    let mut labels = Vec::new();
    for (ln, line) in lines {
        let t = line.trim();
        if t.is_empty() || t.starts_with('%') {
            continue;
        }
        if t.starts_with('{') {
            return Err(DataError::format(path, format!("line {}", ln + 1), "sparse ARFF rows are not supported"));
        }
        let fields: Vec<&str> = t.split(',').map(unquote).collect();
        if fields.len() != attrs.len() {
            return Err(DataError::format(path, format!("line {}", ln + 1), format!("{} fields, expected {}", fields.len(), attrs.len())));
        }
        for (j, (a, f)) in inputs.iter().zip(&fields).enumerate() {
            let at = || format!("line {}, field {} ({})", ln + 1, j + 1, a.name);
            if *f == "?" {
                return Err(DataError::format(path, at(), "missing value `?` is not supported"));
            }
            match &a.kind {
                AttrType::Numeric => {
                    let v: f64 = crate::util::finite(f).ok_or_else(|| DataError::format(path, at(), format!("`{f}` is not a number")))?;
                    features.push(v as f32);
                }
                AttrType::Nominal(vs) => {
                    let k = vs
                        .iter()
                        .position(|v| v == f)
                        .ok_or_else(|| DataError::format(path, at(), format!("`{f}` is not one of the declared values {vs:?}")))?;
                    let start = features.len();
                    features.resize(start + vs.len(), 0.0);
                    features[start + k] = 1.0;
                }
            }
        }
        let raw = fields[attrs.len() - 1];
        let label = classes.iter().position(|c| c == raw).ok_or_else(|| {
            DataError::format(
                path,
                format!("line {}, field {} (class)", ln + 1, attrs.len()),
                format!("class `{raw}` is not one of {classes:?}"),
            )
        })?;
        labels.push(label as u32);
    }
    if labels.is_empty() {
        return Err(DataError::format(path, "@data", "no data rows"));
    }
    if width == 0 {
        return Err(DataError::format(path, "header", "no input attribute"));
    }
    let dataset =
        Dataset::new(name, features, labels, vec![width], classes.len())?.with_standardized(numeric).with_class_names(classes.clone());
    Ok(ArffTable { relation, attributes: attrs, feature_names, dataset })
}

#[cfg(test)]
mod tests {
    use super::*;

    const PIMA_LIKE: &str = "% comment
% 1. Title: Pima Indians Diabetes Database
@relation pima_diabetes
@attribute 'preg' numeric
@attribute 'plas' numeric
@attribute 'colour' { red, green}
@attribute 'class' { tested_negative, tested_positive}
@data
6,148,green,tested_positive
1,0,red,tested_negative
";

    #[test]
    fn parses_header_nominals_and_class_last() {
        let t = parse(PIMA_LIKE, Path::new("d.arff"), "diabetes").unwrap();
        assert_eq!(t.relation, "pima_diabetes");
        assert_eq!(t.attributes.len(), 4);
        assert_eq!(t.feature_names, vec!["preg", "plas", "colour=red", "colour=green"]);
        let d = t.dataset;
        assert_eq!(d.labels, vec![1, 0]);
        // Zeros are left as they are.
        assert_eq!(d.row(1), &[1.0, 0.0, 1.0, 0.0]);
        assert_eq!(d.row(0), &[6.0, 148.0, 0.0, 1.0]);
        assert_eq!(d.standardize, vec![0, 1]);
        assert_eq!(d.class_names, vec!["tested_negative", "tested_positive"]);
    }

    #[test]
    fn errors_name_line_and_field() {
        let p = Path::new("d.arff");
        let e = parse(&PIMA_LIKE.replace("1,0,red", "1,x,red"), p, "d").unwrap_err().to_string();
        assert!(e.contains("d.arff") && e.contains("line 10, field 2 (plas)"), "{e}");
        let e = parse(&PIMA_LIKE.replace("tested_negative\n", "maybe\n"), p, "d").unwrap_err().to_string();
        assert!(e.contains("line 10, field 4 (class)") && e.contains("maybe"), "{e}");
        let e = parse(&PIMA_LIKE.replace("1,0,red,", "1,0,"), p, "d").unwrap_err().to_string();
        assert!(e.contains("line 10") && e.contains("3 fields, expected 4"), "{e}");
        let e = parse(&PIMA_LIKE.replace("1,0,red", "1,?,red"), p, "d").unwrap_err().to_string();
        assert!(e.contains("line 10, field 2") && e.contains('?'), "{e}");
        let e = parse(&PIMA_LIKE.replace("@data\n", ""), p, "d").unwrap_err().to_string();
        assert!(e.contains("line 8") && e.contains("@data"), "{e}");
        let e = parse(&PIMA_LIKE.replace("'plas' numeric", "'plas' string"), p, "d").unwrap_err().to_string();
        assert!(e.contains("line 5") && e.contains("unsupported type"), "{e}");
    }

    #[test]
    fn reads_the_vendored_diabetes_file() {
        let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/diabetes/diabetes.arff");
        let d = load(&p, "diabetes").unwrap();
        assert_eq!(d.len(), 768);
        assert_eq!(d.dim(), 8);
        assert_eq!(d.class_counts(), vec![500, 268]);
        assert_eq!(d.standardize, (0..8).collect::<Vec<_>>());
        assert_eq!(d.row(0), &[6.0, 148.0, 72.0, 35.0, 0.0, 33.6, 0.627, 50.0]);
    }
}
