//! IDX files (MNIST, Fashion-MNIST), gzip-compressed or raw.
//!
//! Layout (big-endian): `u8 0, u8 0, u8 type (0x08 = unsigned byte), u8 ndims`, then `ndims`
//! `u32` sizes, then the payload. The file length must equal header + payload exactly.

use std::path::Path;

use crate::error::{read_maybe_gz, DataError};
use crate::Dataset;

/// A decoded IDX array of unsigned bytes.
#[derive(Debug, Clone, PartialEq)]
pub struct IdxArray {
    /// Sizes of each dimension (first = number of items).
    pub dims: Vec<usize>,
    /// The payload.
    pub data: Vec<u8>,
}

/// Parse IDX bytes (already decompressed). `path` is only used in error messages.
pub fn parse_idx(bytes: &[u8], path: &Path) -> Result<IdxArray, DataError> {
    if bytes.len() < 4 {
        return Err(DataError::Truncated {
            path: path.into(),
            offset: bytes.len() as u64,
            msg: "missing the 4-byte IDX magic number".into(),
        });
    }
    if bytes[0] != 0 || bytes[1] != 0 {
        return Err(DataError::format(
            path,
            "byte offset 0",
            format!("not an IDX file: magic starts with {:02x} {:02x}, expected 00 00", bytes[0], bytes[1]),
        ));
    }
    if bytes[2] != 0x08 {
        return Err(DataError::format(
            path,
            "byte offset 2",
            format!("unsupported IDX element type 0x{:02x} (only 0x08, unsigned byte)", bytes[2]),
        ));
    }
    let ndims = bytes[3] as usize;
    if ndims == 0 {
        return Err(DataError::format(path, "byte offset 3", "IDX file with 0 dimensions"));
    }
    let header = 4 + 4 * ndims;
    if bytes.len() < header {
        return Err(DataError::Truncated {
            path: path.into(),
            offset: bytes.len() as u64,
            msg: format!("header announces {ndims} dimensions ({header} header bytes)"),
        });
    }
    let dims: Vec<usize> =
        (0..ndims).map(|d| u32::from_be_bytes(bytes[4 + 4 * d..8 + 4 * d].try_into().expect("4 bytes")) as usize).collect();
    let payload: usize = dims.iter().product();
    let expected = header + payload;
    if bytes.len() < expected {
        return Err(DataError::Truncated {
            path: path.into(),
            offset: bytes.len() as u64,
            msg: format!("header announces dims {dims:?}, i.e. {expected} bytes in all"),
        });
    }
    if bytes.len() > expected {
        return Err(DataError::format(
            path,
            format!("byte offset {expected}"),
            format!("{} unexpected bytes after the data announced by the header (dims {dims:?})", bytes.len() - expected),
        ));
    }
    Ok(IdxArray { dims, data: bytes[header..].to_vec() })
}

/// Read an IDX file (gzip detected by its magic bytes).
pub fn read_idx(path: &Path) -> Result<IdxArray, DataError> {
    let bytes = read_maybe_gz(path)?;
    parse_idx(&bytes, path)
}

/// Read an image file and a label file into a dataset of `[1, rows, cols]` images scaled to
/// `[0, 1]` (pixel / 255).
pub fn read_images_labels(name: &str, images: &Path, labels: &Path, num_classes: usize) -> Result<Dataset, DataError> {
    let img = read_idx(images)?;
    let lab = read_idx(labels)?;
    if img.dims.len() != 3 {
        return Err(DataError::format(images, "byte offset 3", format!("image file must have 3 dimensions, found {:?}", img.dims)));
    }
    if lab.dims.len() != 1 {
        return Err(DataError::format(labels, "byte offset 3", format!("label file must have 1 dimension, found {:?}", lab.dims)));
    }
    if img.dims[0] != lab.dims[0] {
        return Err(DataError::Shape {
            dataset: name.into(),
            msg: format!("{} has {} images but {} has {} labels", images.display(), img.dims[0], labels.display(), lab.dims[0]),
        });
    }
    let header = 4 + 4 * lab.dims.len();
    if let Some((i, &l)) = lab.data.iter().enumerate().find(|(_, &l)| l as usize >= num_classes) {
        return Err(DataError::format(labels, format!("byte offset {}", header + i), format!("label {l} out of range 0..{num_classes}")));
    }
    let features = img.data.iter().map(|&b| b as f32 / 255.0).collect();
    Dataset::new(name, features, lab.data.iter().map(|&l| l as u32).collect(), vec![1, img.dims[1], img.dims[2]], num_classes)
}

/// Write an IDX file of unsigned bytes (used by tests to build fixtures).
pub fn encode_idx(dims: &[usize], data: &[u8]) -> Vec<u8> {
    let mut out = vec![0, 0, 0x08, dims.len() as u8];
    for &d in dims {
        out.extend_from_slice(&(d as u32).to_be_bytes());
    }
    out.extend_from_slice(data);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip_and_truncation() {
        let bytes = encode_idx(&[2, 2, 2], &[0, 255, 1, 2, 3, 4, 5, 6]);
        let a = parse_idx(&bytes, Path::new("x.idx")).unwrap();
        assert_eq!(a.dims, vec![2, 2, 2]);
        let e = parse_idx(&bytes[..bytes.len() - 3], Path::new("imgs.idx")).unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains("imgs.idx") && msg.contains("offset 21"), "{msg}");
        let mut long = bytes.clone();
        long.push(7);
        assert!(parse_idx(&long, Path::new("x")).unwrap_err().to_string().contains("unexpected bytes"));
        assert!(parse_idx(&[1, 2, 3, 4], Path::new("x")).unwrap_err().to_string().contains("not an IDX"));
    }

    #[test]
    fn truncated_gzip_names_the_file() {
        use std::io::Write;
        let dir = std::env::temp_dir().join(format!("forsaken-idx-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("t.idx.gz");
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        enc.write_all(&encode_idx(&[100, 4, 4], &[7u8; 1600])).unwrap();
        let gz = enc.finish().unwrap();
        std::fs::write(&path, &gz[..gz.len() / 2]).unwrap();
        let e = read_idx(&path).unwrap_err().to_string();
        assert!(e.contains("t.idx.gz") && e.contains("offset"), "{e}");
        std::fs::remove_dir_all(&dir).ok();
    }
}
