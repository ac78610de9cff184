//! The named datasets this project knows, where their files live, and their defaults.
//!
//! Small datasets are vendored under `data/` in the repository; large ones (CIFAR-10) are
//! found through a data directory: the `--data-dir` flag, else the `FORSAKEN_DATA_DIR`
//! environment variable, else `data/`.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::{idx, location, sklearn_csv, DataError, Dataset};

/// The model family a dataset is trained with by default (PROTOCOL.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ModelFamily {
    /// Dense 128-tanh, 64-tanh, C.
    Mlp,
    /// conv16-pool, conv32-pool, dense 128, C.
    Cnn,
}

/// How many pooled samples go to each split. `shadow: None` means "all the rest".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SplitSizes {
    /// Members: the model the owner trains and later unlearns from.
    pub target_train: usize,
    /// Non-members used for test accuracy and the oracle's non-member side.
    pub target_test: usize,
    /// Owner's held-out data (Forsaken's non-member profile); never reported on.
    pub reference: usize,
    /// Auditor's data for shadow models; `None` = every remaining sample.
    pub shadow: Option<usize>,
}

/// A registry entry.
#[derive(Debug, Clone, Copy)]
pub struct DatasetInfo {
    /// Id used on the command line and in results.
    pub id: &'static str,
    /// One line shown by `forsaken datasets`.
    pub description: &'static str,
    /// Default model family.
    pub family: ModelFamily,
    /// Default split sizes.
    pub sizes: SplitSizes,
    /// Default training epochs for the original model (chosen so that the model fits its
    /// training set, PROTOCOL.md; shadow models use the same recipe).
    pub epochs: usize,
    /// Samples in the pooled dataset (official train + test where there is a split).
    pub pool: usize,
    /// Files relative to the data directory.
    pub files: &'static [&'static str],
}

/// Every dataset known to this build.
pub const DATASETS: &[DatasetInfo] = &[
    DatasetInfo {
        id: "location",
        description:
            "Foursquare check-ins in Bangkok (Shokri et al. 2017): 5,010 x 446 binary, 30 classes",
        family: ModelFamily::Mlp,
        sizes: SplitSizes {
            target_train: 1200,
            target_test: 1200,
            reference: 600,
            shadow: None,
        },
        epochs: 40,
        pool: 5010,
        files: &["location/dataset_location.tgz"],
    },
    DatasetInfo {
        id: "digits",
        description: "UCI optical digits 8x8 (scikit-learn copy): 1,797 x 64, 10 classes",
        family: ModelFamily::Mlp,
        sizes: SplitSizes {
            target_train: 450,
            target_test: 450,
            reference: 300,
            shadow: None,
        },
        epochs: 150,
        pool: 1797,
        files: &["digits/digits.csv.gz"],
    },
    DatasetInfo {
        id: "mnist",
        description:
            "MNIST handwritten digits (IDX, 60,000 + 10,000 pooled): 28x28 gray, 10 classes",
        family: ModelFamily::Cnn,
        sizes: SplitSizes {
            target_train: 5000,
            target_test: 5000,
            reference: 2500,
            shadow: Some(10000),
        },
        epochs: 15,
        pool: 70000,
        files: &[
            "mnist/train-images-idx3-ubyte.gz",
            "mnist/train-labels-idx1-ubyte.gz",
            "mnist/t10k-images-idx3-ubyte.gz",
            "mnist/t10k-labels-idx1-ubyte.gz",
        ],
    },
];

/// Look up a dataset by id.
pub fn info(id: &str) -> Result<&'static DatasetInfo, DataError> {
    DATASETS.iter().find(|d| d.id == id).ok_or_else(|| {
        DataError::Unknown(
            id.to_string(),
            DATASETS.iter().map(|d| d.id).collect::<Vec<_>>().join(", "),
        )
    })
}

/// The data directory: the explicit flag, else `FORSAKEN_DATA_DIR`, else `data`.
pub fn resolve_data_dir(flag: Option<&Path>) -> PathBuf {
    if let Some(p) = flag {
        return p.to_path_buf();
    }
    match std::env::var_os("FORSAKEN_DATA_DIR") {
        Some(v) if !v.is_empty() => PathBuf::from(v),
        _ => PathBuf::from("data"),
    }
}

/// Load a registered dataset from `data_dir`, pooling official train/test parts.
pub fn load(id: &str, data_dir: &Path) -> Result<Dataset, DataError> {
    let info = info(id)?;
    for f in info.files {
        let p = data_dir.join(f);
        if !p.exists() {
            return Err(DataError::NotFound {
                dataset: id.into(),
                path: p,
                hint: format!(
                    "Pass --data-dir DIR or set FORSAKEN_DATA_DIR to a folder holding {}; \
                     see data/SOURCES.md for where the official files come from.",
                    info.files.join(", ")
                ),
            });
        }
    }
    let f = |i: usize| data_dir.join(info.files[i]);
    match id {
        "location" => location::load(&f(0)),
        "digits" => sklearn_csv::load_digits(&f(0)),
        "mnist" => {
            let train = idx::read_images_labels("mnist", &f(0), &f(1), 10)?;
            let test = idx::read_images_labels("mnist", &f(2), &f(3), 10)?;
            train.concat(test)
        }
        _ => unreachable!("every registry entry has a loader"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_and_missing_datasets_are_clear_errors() {
        let e = info("nope").unwrap_err().to_string();
        assert!(e.contains("location") && e.contains("nope"), "{e}");
        let e = load("digits", Path::new("/nonexistent-dir"))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("/nonexistent-dir/digits/digits.csv.gz") && e.contains("--data-dir"),
            "{e}"
        );
    }
}
