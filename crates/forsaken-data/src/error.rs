//! The error type of every loader: it always names the file and what was wrong where.

use std::path::PathBuf;

/// What went wrong while reading or preparing data.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// The file could not be opened or read.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The operating-system error.
        source: std::io::Error,
    },
    /// The dataset is not where we looked.
    #[error("dataset `{dataset}` not found: looked for {}. {hint}", path.display())]
    NotFound {
        /// Registry id.
        dataset: String,
        /// Where we looked.
        path: PathBuf,
        /// What the user can do.
        hint: String,
    },
    /// The file ended before the data its header announced.
    #[error("{}: truncated at byte offset {offset}: {msg}", path.display())]
    Truncated {
        /// The file (for compressed files: the decompressed stream of that file).
        path: PathBuf,
        /// Byte offset where data was missing.
        offset: u64,
        /// What was expected there.
        msg: String,
    },
    /// The content does not follow the format.
    #[error("{}: {location}: {msg}", path.display())]
    Format {
        /// The file.
        path: PathBuf,
        /// Where in the file: `byte offset N`, `line N`, `line N, field M`...
        location: String,
        /// What was wrong.
        msg: String,
    },
    /// Features, labels and shape disagree.
    #[error("dataset `{dataset}`: {msg}")]
    Shape {
        /// Dataset name.
        dataset: String,
        /// What disagreed.
        msg: String,
    },
    /// A split or forget-set request that cannot be satisfied.
    #[error("invalid split: {0}")]
    Split(String),
    /// An unknown dataset id.
    #[error("unknown dataset `{0}`; known: {1}")]
    Unknown(String, String),
}

impl DataError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        DataError::Io { path: path.into(), source }
    }
    pub(crate) fn format(path: impl Into<PathBuf>, location: impl Into<String>, msg: impl Into<String>) -> Self {
        DataError::Format { path: path.into(), location: location.into(), msg: msg.into() }
    }
}

/// Read a whole file, decompressing gzip when the file starts with the gzip magic bytes.
pub(crate) fn read_maybe_gz(path: &std::path::Path) -> Result<Vec<u8>, DataError> {
    use std::io::Read;
    let raw = std::fs::read(path).map_err(|e| DataError::io(path, e))?;
    if raw.len() >= 2 && raw[0] == 0x1f && raw[1] == 0x8b {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&raw[..]).read_to_end(&mut out).map_err(|e| DataError::Format {
            path: path.into(),
            location: format!("decompressed byte offset {}", out.len()),
            msg: format!("corrupt or truncated gzip stream: {e}"),
        })?;
        Ok(out)
    } else {
        Ok(raw)
    }
}
