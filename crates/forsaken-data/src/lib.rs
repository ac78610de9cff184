//! # forsaken-data
//!
//! Everything about data and nothing about models:
//! * [`Dataset`], the one type that every loader returns (row-major `f32` features, `u32`
//!   labels, per-sample shape, class count, name);
//! * format readers, one module per format: [`idx`] (MNIST, Fashion-MNIST; gzip or raw),
//!   [`cifar10`] (the CIFAR-10 binary version, tarball streamed or unpacked), [`location`] (the
//!   Shokri et al. Location `.tgz` as shipped), [`adult`] (UCI Adult), [`arff`] (Weka ARFF, e.g.
//!   Pima diabetes), [`sklearn_csv`] (scikit-learn's bundled digits and breast cancer),
//!   [`csv_table`] (a user's own CSV table), [`purchase`] and [`texas`] (Purchase-100 and
//!   Texas-100 in their published layouts);
//! * the [`registry`] of named datasets, with their default model family and split sizes, and
//!   [`registry::load_spec`] for `csv:PATH` and friends;
//! * [`verify`]: SHA-256 of every file against the manifest of SOURCES.md, plus pool and class
//!   counts;
//! * standardization with training-split statistics only ([`Dataset::standardize_on`]);
//! * seeded [`split`]s into target_train / target_test / reference / shadow, and forget-set
//!   selection (random fraction, whole class, index file).
//!
//! Bad input never panics: every reader returns a [`DataError`] that names the file and what
//! was wrong (offset, line, field).

#![warn(missing_docs)]

pub mod adult;
pub mod arff;
pub mod cifar10;
pub mod csv_table;
pub mod error;
pub mod idx;
pub mod location;
pub mod purchase;
pub mod registry;
pub mod sklearn_csv;
pub mod split;
pub mod texas;
mod util;
pub mod verify;

pub use error::DataError;
pub use registry::{DatasetInfo, ModelFamily, SplitSizes};
pub use split::{ForgetSpec, Splits};

use serde::{Deserialize, Serialize};

/// A labelled classification dataset held in memory.
///
/// `features` is row-major: sample `i` is `features[i * dim .. (i + 1) * dim]` where
/// `dim = shape.iter().product()`. Images use `[channels, height, width]`; tables `[columns]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Dataset {
    /// Registry id or a user-given name.
    pub name: String,
    /// Row-major features, already scaled for training (see each loader).
    pub features: Vec<f32>,
    /// Class index per sample, `0..num_classes`.
    pub labels: Vec<u32>,
    /// Shape of one sample.
    pub shape: Vec<usize>,
    /// Number of classes.
    pub num_classes: usize,
    /// Feature indices (into one sample's flat features) still to be standardized with
    /// training-split statistics: see [`Dataset::standardize_on`]. Loaders of tables fill it
    /// for raw numeric columns; it is emptied once standardization has been applied.
    #[serde(default)]
    pub standardize: Vec<usize>,
    /// Class names, indexed by label, where the format carries them (may be empty).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub class_names: Vec<String>,
}

impl Dataset {
    /// SHA-256 (first 12 bytes, hex) of what the dataset holds: its sample shape, class count,
    /// labels and feature bytes, and the columns still to be standardized. Two datasets with
    /// the same hash train the same models; the name is not part of it.
    pub fn content_hash(&self) -> String {
        use sha2::{Digest, Sha256};
        let mut h = Sha256::new();
        for v in self.shape.iter().chain([&self.num_classes]).chain(&self.standardize) {
            h.update((*v as u64).to_le_bytes());
        }
        h.update(b"labels");
        for l in &self.labels {
            h.update(l.to_le_bytes());
        }
        h.update(b"features");
        for f in &self.features {
            h.update(f.to_le_bytes());
        }
        h.finalize().iter().take(12).map(|b| format!("{b:02x}")).collect()
    }

    /// Build a dataset and check that its parts agree.
    pub fn new(
        name: impl Into<String>,
        features: Vec<f32>,
        labels: Vec<u32>,
        shape: Vec<usize>,
        num_classes: usize,
    ) -> Result<Self, DataError> {
        let name = name.into();
        let dim: usize = shape.iter().product();
        if dim == 0 || features.len() != dim * labels.len() {
            return Err(DataError::Shape {
                dataset: name,
                msg: format!(
                    "{} feature values for {} samples of shape {:?} (expected {})",
                    features.len(),
                    labels.len(),
                    shape,
                    dim * labels.len()
                ),
            });
        }
        if let Some((i, l)) = labels.iter().enumerate().find(|(_, &l)| l as usize >= num_classes) {
            return Err(DataError::Shape { dataset: name, msg: format!("sample {i} has label {l} but there are {num_classes} classes") });
        }
        Ok(Self { name, features, labels, shape, num_classes, standardize: Vec::new(), class_names: Vec::new() })
    }

    /// Mark feature indices for standardization (sorted, deduplicated; indices past the
    /// sample width are ignored).
    pub fn with_standardized(mut self, cols: impl IntoIterator<Item = usize>) -> Self {
        let dim = self.dim();
        self.standardize = cols.into_iter().filter(|&c| c < dim).collect();
        self.standardize.sort_unstable();
        self.standardize.dedup();
        self
    }

    /// Attach class names (indexed by label). Ignored unless there is one per class.
    pub fn with_class_names(mut self, names: Vec<String>) -> Self {
        if names.len() == self.num_classes {
            self.class_names = names;
        }
        self
    }

    /// Standardize the columns listed in [`Dataset::standardize`] with the mean and
    /// (population) standard deviation computed on the samples `rows` only, typically
    /// target_train, and apply them to every sample; a column whose standard deviation is 0
    /// (or not finite) is divided by 1. The list is cleared afterwards, so calling it twice
    /// does not standardize twice. Does nothing when `rows` is empty or nothing is marked.
    ///
    /// Panics if a row index is out of range (as [`Dataset::subset`] does).
    pub fn standardize_on(&mut self, rows: &[usize]) {
        if rows.is_empty() || self.standardize.is_empty() {
            return;
        }
        let (mean, std) = self.standardization(rows);
        let d = self.dim();
        for c in std::mem::take(&mut self.standardize) {
            for v in self.features.iter_mut().skip(c).step_by(d) {
                *v = ((*v as f64 - mean[c]) / std[c]) as f32;
            }
        }
    }

    /// The per-feature `(mean, std)` that [`Dataset::standardize_on`] applies for `rows`: the
    /// statistics of the marked columns on those rows, and (0, 1) for every other feature, so
    /// that `(x - mean) / std` is the whole input preprocessing of a model trained on them.
    pub fn standardization(&self, rows: &[usize]) -> (Vec<f64>, Vec<f64>) {
        let d = self.dim();
        let (mut mean, mut std) = (vec![0.0; d], vec![1.0; d]);
        if rows.is_empty() {
            return (mean, std);
        }
        for &c in &self.standardize {
            let mut sum = 0.0f64;
            for &r in rows {
                sum += self.features[r * d + c] as f64;
            }
            let m = sum / rows.len() as f64;
            let mut ss = 0.0f64;
            for &r in rows {
                let x = self.features[r * d + c] as f64 - m;
                ss += x * x;
            }
            let sd = (ss / rows.len() as f64).sqrt();
            (mean[c], std[c]) = (m, if sd > 0.0 && sd.is_finite() { sd } else { 1.0 });
        }
        (mean, std)
    }

    /// Number of samples.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// True when there are no samples.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Number of feature values per sample.
    pub fn dim(&self) -> usize {
        self.shape.iter().product()
    }

    /// Features of sample `i`.
    pub fn row(&self, i: usize) -> &[f32] {
        let d = self.dim();
        &self.features[i * d..(i + 1) * d]
    }

    /// Gather the given samples (in that order) as a new dataset.
    pub fn subset(&self, indices: &[usize]) -> Dataset {
        let d = self.dim();
        let mut features = Vec::with_capacity(indices.len() * d);
        let mut labels = Vec::with_capacity(indices.len());
        for &i in indices {
            features.extend_from_slice(self.row(i));
            labels.push(self.labels[i]);
        }
        Dataset {
            name: self.name.clone(),
            features,
            labels,
            shape: self.shape.clone(),
            num_classes: self.num_classes,
            standardize: self.standardize.clone(),
            class_names: self.class_names.clone(),
        }
    }

    /// Samples per class.
    pub fn class_counts(&self) -> Vec<usize> {
        let mut c = vec![0; self.num_classes];
        for &l in &self.labels {
            c[l as usize] += 1;
        }
        c
    }

    /// Concatenate two datasets with the same shape and classes (e.g. official train + test).
    /// The columns to standardize are the union of both lists; class names are `self`'s, else
    /// `other`'s.
    pub fn concat(mut self, other: Dataset) -> Result<Dataset, DataError> {
        if self.shape != other.shape || self.num_classes != other.num_classes {
            return Err(DataError::Shape {
                dataset: self.name,
                msg: format!(
                    "cannot concatenate shape {:?}/{} classes with {:?}/{} classes",
                    self.shape, self.num_classes, other.shape, other.num_classes
                ),
            });
        }
        self.features.extend(other.features);
        self.labels.extend(other.labels);
        self.standardize.extend(other.standardize);
        self.standardize.sort_unstable();
        self.standardize.dedup();
        if self.class_names.is_empty() {
            self.class_names = other.class_names;
        }
        Ok(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_rejects_wrong_shapes_and_labels() {
        assert!(Dataset::new("x", vec![0.0; 6], vec![0, 1], vec![3], 2).is_ok());
        let e = Dataset::new("x", vec![0.0; 5], vec![0, 1], vec![3], 2).unwrap_err();
        assert!(e.to_string().contains("5 feature values"), "{e}");
        let e = Dataset::new("x", vec![0.0; 6], vec![0, 2], vec![3], 2).unwrap_err();
        assert!(e.to_string().contains("label 2"), "{e}");
    }

    #[test]
    fn subset_gathers_rows_in_order() {
        let d = Dataset::new("x", (0..6).map(|v| v as f32).collect(), vec![0, 1, 0], vec![2], 2).unwrap();
        let s = d.subset(&[2, 0]);
        assert_eq!(s.features, vec![4.0, 5.0, 0.0, 1.0]);
        assert_eq!(s.labels, vec![0, 0]);
        assert_eq!(d.class_counts(), vec![2, 1]);
    }

    #[test]
    fn standardize_uses_only_the_given_rows_and_runs_once() {
        // Column 0 standardized, column 1 left alone.
        let d = Dataset::new("x", vec![1.0, 10.0, 3.0, 20.0, 100.0, 30.0, 7.0, 40.0], vec![0, 1, 0, 1], vec![2], 2)
            .unwrap()
            .with_standardized([0, 5]);
        assert_eq!(d.standardize, vec![0]);
        let s = d.subset(&[0, 1]);
        assert_eq!(s.standardize, vec![0]);
        let mut d = d.concat(s).unwrap();
        assert_eq!(d.standardize, vec![0]);
        // Statistics from rows 0 and 1 only (values 1 and 3): mean 2, std 1.
        d.standardize_on(&[0, 1]);
        assert!(d.standardize.is_empty());
        assert_eq!(d.row(0), &[-1.0, 10.0]);
        assert_eq!(d.row(1), &[1.0, 20.0]);
        assert_eq!(d.row(2), &[98.0, 30.0]);
        assert_eq!(d.row(3), &[5.0, 40.0]);
        // Cleared: a second call changes nothing.
        let before = d.clone();
        d.standardize_on(&[2, 3]);
        assert_eq!(d, before);
        // A constant column is only centred.
        let mut c = Dataset::new("c", vec![5.0, 5.0, 6.0], vec![0, 0, 0], vec![1], 1).unwrap().with_standardized([0]);
        c.standardize_on(&[0, 1]);
        assert_eq!(c.features, vec![0.0, 0.0, 1.0]);
    }

    #[test]
    fn old_serialized_datasets_still_deserialize() {
        let json = r#"{"name":"x","features":[0.0],"labels":[0],"shape":[1],"num_classes":1}"#;
        let d: Dataset = serde_json::from_str(json).unwrap();
        assert!(d.standardize.is_empty() && d.class_names.is_empty());
    }
}
