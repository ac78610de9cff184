//! # forsaken-data
//!
//! Everything about data and nothing about models:
//! * [`Dataset`], the one type that every loader returns (row-major `f32` features, `u32`
//!   labels, per-sample shape, class count, name);
//! * format readers: [`idx`] (MNIST-style IDX, gzip or raw), [`location`] (the Shokri et al.
//!   Location `.tgz` as shipped), [`sklearn_csv`] (scikit-learn's bundled `digits.csv.gz`);
//! * the [`registry`] of named datasets, with their default model family and split sizes;
//! * seeded [`split`]s into target_train / target_test / reference / shadow, and forget-set
//!   selection (random fraction, whole class, index file).
//!
//! Bad input never panics: every reader returns a [`DataError`] that names the file and what
//! was wrong (offset, line, field).

pub mod error;
pub mod idx;
pub mod location;
pub mod registry;
pub mod sklearn_csv;
pub mod split;

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
}

impl Dataset {
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
        if let Some((i, l)) = labels
            .iter()
            .enumerate()
            .find(|(_, &l)| l as usize >= num_classes)
        {
            return Err(DataError::Shape {
                dataset: name,
                msg: format!("sample {i} has label {l} but there are {num_classes} classes"),
            });
        }
        Ok(Self {
            name,
            features,
            labels,
            shape,
            num_classes,
        })
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
        let d = Dataset::new(
            "x",
            (0..6).map(|v| v as f32).collect(),
            vec![0, 1, 0],
            vec![2],
            2,
        )
        .unwrap();
        let s = d.subset(&[2, 0]);
        assert_eq!(s.features, vec![4.0, 5.0, 0.0, 1.0]);
        assert_eq!(s.labels, vec![0, 0]);
        assert_eq!(d.class_counts(), vec![2, 1]);
    }
}
