//! The named datasets this project knows, where their files live, and their defaults.
//!
//! Small datasets are vendored under `data/` in the repository; large ones (CIFAR-10) are
//! found through a data directory: the `--data-dir` flag, else the `FORSAKEN_DATA_DIR`
//! environment variable, else `data/`.
//!
//! [`load_spec`] also accepts a user's own files: `csv:PATH` (see [`crate::csv_table`]),
//! `arff:PATH`, `purchase:PATH` and `texas:DIR`.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::csv_table::CsvOptions;
use crate::{adult, arff, cifar10, csv_table, idx, location, purchase, sklearn_csv, texas};
use crate::{DataError, Dataset};

/// The model family a dataset is trained with by default (docs/protocol.md, "Datasets").
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
    /// training set, docs/protocol.md "Splits"; shadow models use the same recipe).
    pub epochs: usize,
    /// Samples in the pooled dataset (official train + test where there is a split).
    pub pool: usize,
    /// Files relative to the data directory.
    pub files: &'static [&'static str],
}

/// Every dataset known to this build, in the order of docs/protocol.md ("Datasets").
pub const DATASETS: &[DatasetInfo] = &[
    DatasetInfo {
        id: "mnist",
        description: "MNIST handwritten digits (IDX, 60,000 + 10,000 pooled): 28x28 gray, 10 classes",
        family: ModelFamily::Cnn,
        sizes: IMAGE_SIZES,
        // fits in 15 (train accuracy 99.8% at 5,000 members, seed 0)
        epochs: 15,
        pool: 70000,
        files: &[
            "mnist/train-images-idx3-ubyte.gz",
            "mnist/train-labels-idx1-ubyte.gz",
            "mnist/t10k-images-idx3-ubyte.gz",
            "mnist/t10k-labels-idx1-ubyte.gz",
        ],
    },
    DatasetInfo {
        id: "fashion-mnist",
        description: "Fashion-MNIST clothing (IDX, 60,000 + 10,000 pooled): 28x28 gray, 10 classes",
        family: ModelFamily::Cnn,
        sizes: IMAGE_SIZES,
        // `forsaken train --curve` (seed 0, 5,000 members): train accuracy 88.8% after 15
        // epochs, 95.2% after 40, 98.1% after 50 (reference accuracy flat at 85-86% from 25 on)
        epochs: 50,
        pool: 70000,
        files: &[
            "fashion-mnist/train-images-idx3-ubyte.gz",
            "fashion-mnist/train-labels-idx1-ubyte.gz",
            "fashion-mnist/t10k-images-idx3-ubyte.gz",
            "fashion-mnist/t10k-labels-idx1-ubyte.gz",
        ],
    },
    DatasetInfo {
        id: "cifar-10",
        description: "CIFAR-10 binary version (shared copy: lossy 30,000 + 10,000 subset; not \
                      vendored): 32x32 RGB, 10 classes",
        family: ModelFamily::Cnn,
        sizes: IMAGE_SIZES,
        // `forsaken train --curve` (seed 0, 5,000 members): train accuracy 63.6% after 15
        // epochs, 95.2% after 40, 99.4% after 50 (reference accuracy flat at 52-54% from 25 on)
        epochs: 50,
        pool: 40000,
        // Or the unpacked `cifar-10/cifar-10-batches-bin/` folder (see `cifar10::locate`).
        files: &[cifar10::TARBALL],
    },
    DatasetInfo {
        id: "location",
        description: "Foursquare check-ins in Bangkok (Shokri et al. 2017): 5,010 x 446 binary, 30 classes",
        family: ModelFamily::Mlp,
        sizes: SplitSizes { target_train: 1200, target_test: 1200, reference: 600, shadow: None },
        epochs: 40,
        pool: 5010,
        files: &["location/dataset_location.tgz"],
    },
    DatasetInfo {
        id: "adult",
        description: "UCI Adult census income (32,561 + 16,281 pooled): 6 numeric + 8 one-hot \
                      categorical columns (113 features), 2 classes",
        family: ModelFamily::Mlp,
        sizes: SplitSizes { target_train: 5000, target_test: 5000, reference: 2500, shadow: Some(10000) },
        epochs: 20,
        pool: 48842,
        files: &["adult/adult.data", "adult/adult.test", "adult/adult.names"],
    },
    DatasetInfo {
        id: "diabetes",
        description: "Pima Indians diabetes (Weka ARFF): 768 x 8 numeric, 2 classes",
        family: ModelFamily::Mlp,
        sizes: SplitSizes { target_train: 192, target_test: 192, reference: 128, shadow: None },
        epochs: 200,
        pool: 768,
        files: &["diabetes/diabetes.arff"],
    },
    DatasetInfo {
        id: "digits",
        description: "UCI optical digits 8x8 (scikit-learn copy): 1,797 x 64, 10 classes",
        family: ModelFamily::Mlp,
        sizes: SplitSizes { target_train: 450, target_test: 450, reference: 300, shadow: None },
        epochs: 150,
        pool: 1797,
        files: &["digits/digits.csv.gz"],
    },
    DatasetInfo {
        id: "breast-cancer",
        description: "Breast Cancer Wisconsin diagnostic (scikit-learn CSV): 569 x 30 numeric, 2 classes",
        family: ModelFamily::Mlp,
        sizes: SplitSizes { target_train: 142, target_test: 142, reference: 95, shadow: None },
        epochs: 200,
        pool: 569,
        files: &["breast-cancer/breast_cancer.csv"],
    },
];

/// Default split sizes of the image sets (docs/protocol.md, "Datasets").
const IMAGE_SIZES: SplitSizes = SplitSizes { target_train: 5000, target_test: 5000, reference: 2500, shadow: Some(10000) };

/// Fashion-MNIST class names, indexed by label.
pub const FASHION_MNIST_CLASSES: [&str; 10] =
    ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"];

/// Default split sizes for a table that is not in the registry (`csv:PATH` and friends):
/// about a quarter of the pool each for target_train and target_test, a sixth for reference,
/// the rest for shadow (the rule docs/protocol.md gives for the small sets, "Splits").
pub fn default_sizes(pool: usize) -> SplitSizes {
    SplitSizes { target_train: pool / 4, target_test: pool / 4, reference: pool / 6, shadow: None }
}

/// Look up a dataset by id.
pub fn info(id: &str) -> Result<&'static DatasetInfo, DataError> {
    DATASETS
        .iter()
        .find(|d| d.id == id)
        .ok_or_else(|| DataError::Unknown(id.to_string(), DATASETS.iter().map(|d| d.id).collect::<Vec<_>>().join(", ")))
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
    if id == "cifar-10" {
        // Two possible layouts; `locate` names both when neither is there.
        return cifar10::load(data_dir);
    }
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
        "mnist" | "fashion-mnist" => {
            let train = idx::read_images_labels(id, &f(0), &f(1), 10)?;
            let test = idx::read_images_labels(id, &f(2), &f(3), 10)?;
            let d = train.concat(test)?;
            Ok(if id == "fashion-mnist" { d.with_class_names(FASHION_MNIST_CLASSES.iter().map(|s| s.to_string()).collect()) } else { d })
        }
        "adult" => adult::load_files_with_report(&f(0), &f(1), &f(2)).map(|(d, _)| d),
        "diabetes" => arff::load(&f(0), "diabetes"),
        "breast-cancer" => sklearn_csv::load_breast_cancer(&f(0)),
        other => Err(DataError::Unknown(other.to_string(), "(registry entry without a loader: a bug)".into())),
    }
}

/// Load a dataset named on the command line:
/// * a registry id (`mnist`, `adult`, ...), read from `data_dir`;
/// * `csv:PATH`: a user's CSV table, read with `csv` options (label column, header, types,
///   delimiter);
/// * `arff:PATH`: a Weka ARFF file, class last;
/// * `purchase:PATH`: Purchase-100 (`label,f1..f600` lines, or `dataset_purchase.tgz`);
/// * `texas:DIR`: Texas-100 (`DIR/feats` and `DIR/labels`, or `DIR/texas/100/...`).
///
/// Relative paths are relative to the working directory, not to `data_dir`.
pub fn load_spec(spec: &str, data_dir: &Path, csv: &CsvOptions) -> Result<Dataset, DataError> {
    if let Some(p) = spec.strip_prefix("csv:") {
        return csv_table::load(Path::new(p), csv).map(|t| t.dataset);
    }
    if let Some(p) = spec.strip_prefix("arff:") {
        let p = Path::new(p);
        let name = p.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "arff".into());
        return arff::load(p, &name);
    }
    if let Some(p) = spec.strip_prefix("purchase:") {
        return purchase::load(Path::new(p));
    }
    if let Some(p) = spec.strip_prefix("texas:") {
        return texas::load_dir(Path::new(p));
    }
    load(spec, data_dir).map_err(|e| match e {
        DataError::Unknown(id, known) => DataError::Unknown(id, format!("{known}; or csv:PATH, arff:PATH, purchase:PATH, texas:DIR")),
        e => e,
    })
}

/// Whether a dataset spec names a registry entry (else it is `csv:PATH` or another file spec,
/// for which [`default_sizes`] and [`ModelFamily::Mlp`] are the defaults).
pub fn is_registered(spec: &str) -> bool {
    DATASETS.iter().any(|d| d.id == spec)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_and_missing_datasets_are_clear_errors() {
        let e = info("nope").unwrap_err().to_string();
        assert!(e.contains("location") && e.contains("nope"), "{e}");
        let e = load("digits", Path::new("/nonexistent-dir")).unwrap_err().to_string();
        assert!(e.contains("/nonexistent-dir/digits/digits.csv.gz") && e.contains("--data-dir"), "{e}");
        let e = load_spec("nope", Path::new("data"), &CsvOptions::default()).unwrap_err().to_string();
        assert!(e.contains("csv:PATH"), "{e}");
    }

    #[test]
    fn registry_holds_the_eight_protocol_datasets() {
        let ids: Vec<&str> = DATASETS.iter().map(|d| d.id).collect();
        assert_eq!(ids, vec!["mnist", "fashion-mnist", "cifar-10", "location", "adult", "diabetes", "digits", "breast-cancer"]);
        for d in DATASETS {
            let fixed = d.sizes.target_train + d.sizes.target_test + d.sizes.reference + d.sizes.shadow.unwrap_or(0);
            assert!(fixed <= d.pool, "{}: splits exceed the pool", d.id);
            let images = matches!(d.id, "mnist" | "fashion-mnist" | "cifar-10");
            assert_eq!(d.family == ModelFamily::Cnn, images, "{}", d.id);
        }
    }

    #[test]
    fn load_spec_reads_registry_ids_and_csv_files() {
        let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data");
        let d = load_spec("breast-cancer", &data, &CsvOptions::default()).unwrap();
        assert_eq!(d.len(), info("breast-cancer").unwrap().pool);
        let d = load_spec("diabetes", &data, &CsvOptions::default()).unwrap();
        assert_eq!(d.len(), info("diabetes").unwrap().pool);
        let dir = std::env::temp_dir().join(format!("forsaken-spec-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("t.csv");
        std::fs::write(&p, "x,y\n1,a\n2,b\n").unwrap();
        let d = load_spec(&format!("csv:{}", p.display()), &data, &CsvOptions::default()).unwrap();
        assert_eq!((d.name.as_str(), d.len()), ("t", 2));
        let e = load_spec("cifar-10", &dir, &CsvOptions::default()).unwrap_err().to_string();
        assert!(e.contains("cifar-10-batches-bin"), "{e}");
        std::fs::remove_dir_all(&dir).ok();
    }
}
