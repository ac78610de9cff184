//! Small helpers shared by the text and archive readers.

use std::io::Read;
use std::path::{Path, PathBuf};

use crate::error::{read_maybe_gz, DataError};

/// Bytes as UTF-8 text, or an error naming the first bad byte offset.
pub(crate) fn utf8<'a>(bytes: &'a [u8], path: &Path) -> Result<&'a str, DataError> {
    std::str::from_utf8(bytes).map_err(|e| DataError::format(path, format!("byte offset {}", e.valid_up_to()), "not UTF-8/ASCII text"))
}

/// A reader that counts the bytes it has delivered (for offsets in error messages about
/// decompressed streams).
pub(crate) struct Counting<R> {
    pub(crate) inner: R,
    pub(crate) count: std::rc::Rc<std::cell::Cell<u64>>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count.set(self.count.get() + n as u64);
        Ok(n)
    }
}

/// A path naming a member inside an archive, for error messages: `archive.tgz:member`.
pub(crate) fn member_path(archive: &Path, member: &str) -> PathBuf {
    PathBuf::from(format!("{}:{member}", archive.display()))
}

/// The content of a plain or gzip file, or of the first regular file inside a gzip tar
/// (`.tgz`), as the Shokri et al. datasets are published. Returns the bytes and the path to
/// use in error messages (`archive.tgz:member` for a tar member).
pub(crate) fn read_plain_gz_or_tgz(path: &Path) -> Result<(Vec<u8>, PathBuf), DataError> {
    let bytes = read_maybe_gz(path)?;
    // A tar archive has `ustar` at offset 257 of its first header.
    if bytes.len() >= 512 && &bytes[257..262] == b"ustar" {
        let mut archive = tar::Archive::new(&bytes[..]);
        let entries = archive.entries().map_err(|e| DataError::format(path, "tar header", e.to_string()))?;
        for entry in entries {
            let mut entry = entry.map_err(|e| DataError::format(path, "tar entry", format!("corrupt or truncated archive: {e}")))?;
            if entry.header().entry_type().is_file() {
                let name = entry.path().map(|p| p.display().to_string()).unwrap_or_default();
                let mut buf = Vec::new();
                entry.read_to_end(&mut buf).map_err(|e| DataError::Truncated {
                    path: member_path(path, &name),
                    offset: buf.len() as u64,
                    msg: format!("member could not be read: {e}"),
                })?;
                return Ok((buf, member_path(path, &name)));
            }
        }
        return Err(DataError::format(path, "tar archive", "no regular file in the archive"));
    }
    Ok((bytes, path.to_path_buf()))
}

/// Parse a finite number (`NaN` and infinities are rejected).
pub(crate) fn finite(field: &str) -> Option<f64> {
    field.parse().ok().filter(|v: &f64| v.is_finite())
}

/// Parse a field that must be 0 or 1 (`0`, `1`, `0.0`, `1.0`; surrounding double quotes
/// allowed).
pub(crate) fn binary(field: &str) -> Option<f32> {
    match field.trim().trim_matches('"') {
        "0" => Some(0.0),
        "1" => Some(1.0),
        other => other.parse::<f64>().ok().filter(|v| *v == 0.0 || *v == 1.0).map(|v| v.abs() as f32),
    }
}

/// Parse a 1-based class label `1..=classes` (surrounding double quotes allowed) to 0-based.
pub(crate) fn one_based_label(field: &str, classes: usize) -> Option<u32> {
    let v: u32 = field.trim().trim_matches('"').parse().ok()?;
    (1..=classes as u32).contains(&v).then(|| v - 1)
}
