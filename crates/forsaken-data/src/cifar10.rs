//! CIFAR-10, binary version (`cifar-10-binary.tar.gz` from
//! <https://www.cs.toronto.edu/~kriz/cifar.html>).
//!
//! Each `.bin` file is a bare sequence of 3,073-byte records: byte 0 is the label (0..9), then
//! the red, green and blue planes, 32x32 row-major each. The file length must be a multiple of
//! 3,073. Read from `DIR/cifar-10/cifar-10-binary.tar.gz` (streamed through gzip and tar, never
//! extracted to disk) or from an unpacked `DIR/cifar-10/cifar-10-batches-bin/`. Every
//! `data_batch_*.bin` that exists is read, sorted by name, then `test_batch.bin`, so the same
//! code reads the official release (50,000 + 10,000) and the project's lossy shared subset
//! (30,000 + 10,000). Features are `[3, 32, 32]`, channel-major, scaled to `[0, 1]` (byte / 255).

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use crate::error::DataError;
use crate::util::{member_path, Counting};
use crate::Dataset;

/// Bytes per record: one label byte and 3 x 32 x 32 pixels.
pub const RECORD: usize = 3073;
/// Number of classes.
pub const CLASSES: usize = 10;
/// The official class names, indexed by label.
pub const CLASS_NAMES: [&str; 10] = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"];
/// The tarball, relative to the data directory.
pub const TARBALL: &str = "cifar-10/cifar-10-binary.tar.gz";
/// The unpacked folder, relative to the data directory.
pub const UNPACKED: &str = "cifar-10/cifar-10-batches-bin";

/// Where CIFAR-10 was found under a data directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// The gzip tarball.
    Tarball(PathBuf),
    /// The unpacked `cifar-10-batches-bin/` folder.
    Folder(PathBuf),
}

/// Find CIFAR-10 under `data_dir`: the tarball first, else the unpacked folder. The error
/// names both places and says how to get the official files.
pub fn locate(data_dir: &Path) -> Result<Source, DataError> {
    let tarball = data_dir.join(TARBALL);
    let folder = data_dir.join(UNPACKED);
    if tarball.is_file() {
        Ok(Source::Tarball(tarball))
    } else if folder.is_dir() {
        Ok(Source::Folder(folder))
    } else {
        Err(DataError::NotFound {
            dataset: "cifar-10".into(),
            path: tarball,
            hint: format!(
                "Also looked for the unpacked folder {}. CIFAR-10 is not vendored: download the \
                 official binary version `cifar-10-binary.tar.gz` from \
                 https://www.cs.toronto.edu/~kriz/cifar.html into DIR/cifar-10/ (or unpack it \
                 there), then pass --data-dir DIR or set FORSAKEN_DATA_DIR=DIR.",
                folder.display()
            ),
        })
    }
}

/// Load CIFAR-10 from a data directory (see [`locate`]).
pub fn load(data_dir: &Path) -> Result<Dataset, DataError> {
    match locate(data_dir)? {
        Source::Tarball(p) => load_tarball(&p),
        Source::Folder(p) => load_folder(&p),
    }
}

/// Is this file name one of the batches we read?
fn is_batch(name: &str) -> bool {
    name == "test_batch.bin" || (name.starts_with("data_batch_") && name.ends_with(".bin"))
}

/// Read the gzip tarball as a stream, keeping only the batch members.
pub fn load_tarball(path: &Path) -> Result<Dataset, DataError> {
    let file = std::fs::File::open(path).map_err(|e| DataError::io(path, e))?;
    let count = std::rc::Rc::new(std::cell::Cell::new(0u64));
    let gz = Counting { inner: flate2::read::GzDecoder::new(std::io::BufReader::new(file)), count: count.clone() };
    let corrupt = |e: std::io::Error, what: &str| DataError::Format {
        path: path.into(),
        location: format!("decompressed byte offset {}", count.get()),
        msg: format!("corrupt or truncated archive ({what}): {e}"),
    };
    let mut archive = tar::Archive::new(gz);
    let entries = archive.entries().map_err(|e| corrupt(e, "tar header"))?;
    let mut batches: BTreeMap<String, (PathBuf, Vec<u8>)> = BTreeMap::new();
    for entry in entries {
        let mut entry = entry.map_err(|e| corrupt(e, "tar entry"))?;
        if !entry.header().entry_type().is_file() {
            continue;
        }
        let member = entry.path().map(|p| p.to_string_lossy().into_owned()).map_err(|e| corrupt(e, "member name"))?;
        let name = member.rsplit('/').next().unwrap_or("").to_string();
        if !is_batch(&name) {
            continue;
        }
        // Capacity capped: a corrupt header must not cause a huge allocation.
        let mut buf = Vec::with_capacity((entry.size() as usize).min(1 << 26));
        entry.read_to_end(&mut buf).map_err(|e| DataError::Truncated {
            path: member_path(path, &member),
            offset: buf.len() as u64,
            msg: format!("member could not be read to its end: {e}"),
        })?;
        batches.insert(name, (member_path(path, &member), buf));
    }
    assemble(batches, path)
}

/// Read an unpacked `cifar-10-batches-bin/` folder.
pub fn load_folder(dir: &Path) -> Result<Dataset, DataError> {
    let mut batches = BTreeMap::new();
    let rd = std::fs::read_dir(dir).map_err(|e| DataError::io(dir, e))?;
    for entry in rd {
        let entry = entry.map_err(|e| DataError::io(dir, e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if !is_batch(&name) {
            continue;
        }
        let p = entry.path();
        let bytes = std::fs::read(&p).map_err(|e| DataError::io(&p, e))?;
        batches.insert(name, (p, bytes));
    }
    assemble(batches, dir)
}

/// Decode the data batches (sorted by name) then the test batch.
fn assemble(mut batches: BTreeMap<String, (PathBuf, Vec<u8>)>, source: &Path) -> Result<Dataset, DataError> {
    let test = batches
        .remove("test_batch.bin")
        .ok_or_else(|| DataError::format(source, "file list", "no `test_batch.bin` (expected the official cifar-10-batches-bin layout)"))?;
    if batches.is_empty() {
        return Err(DataError::format(source, "file list", "no `data_batch_*.bin` (expected the official cifar-10-batches-bin layout)"));
    }
    let total: usize = batches.values().map(|(_, b)| b.len()).sum::<usize>() + test.1.len();
    let n = total / RECORD;
    let mut features = Vec::with_capacity(n * (RECORD - 1));
    let mut labels = Vec::with_capacity(n);
    for (path, bytes) in batches.values().chain(std::iter::once(&test)) {
        decode_records(bytes, path, &mut features, &mut labels)?;
    }
    Ok(Dataset::new("cifar-10", features, labels, vec![3, 32, 32], CLASSES)?
        .with_class_names(CLASS_NAMES.iter().map(|s| s.to_string()).collect()))
}

/// Decode one `.bin` file's records, appending to `features` and `labels`.
pub fn decode_records(bytes: &[u8], path: &Path, features: &mut Vec<f32>, labels: &mut Vec<u32>) -> Result<(), DataError> {
    if bytes.is_empty() {
        return Err(DataError::format(path, "byte offset 0", "empty batch file"));
    }
    if !bytes.len().is_multiple_of(RECORD) {
        let whole = bytes.len() / RECORD;
        return Err(DataError::Truncated {
            path: path.into(),
            offset: (whole * RECORD) as u64,
            msg: format!(
                "{} bytes is not a multiple of the {RECORD}-byte record: {whole} whole records, \
                 then {} stray bytes",
                bytes.len(),
                bytes.len() % RECORD
            ),
        });
    }
    for (i, rec) in bytes.chunks_exact(RECORD).enumerate() {
        if rec[0] as usize >= CLASSES {
            return Err(DataError::format(
                path,
                format!("byte offset {} (record {i})", i * RECORD),
                format!("label {} out of range 0..{CLASSES}", rec[0]),
            ));
        }
        labels.push(rec[0] as u32);
        features.extend(rec[1..].iter().map(|&b| b as f32 / 255.0));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(label: u8, fill: u8) -> Vec<u8> {
        let mut r = vec![label];
        r.extend((0..3072).map(|k| if k < 1024 { fill } else { (k / 1024) as u8 * 100 }));
        r
    }

    fn tarball(members: &[(&str, Vec<u8>)]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for (name, data) in members {
            let mut h = tar::Header::new_ustar();
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            h.set_cksum();
            b.append_data(&mut h, name, &data[..]).unwrap();
        }
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut enc, &b.into_inner().unwrap()).unwrap();
        enc.finish().unwrap()
    }

    fn tmp(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("forsaken-cifar-{tag}-{}", std::process::id()));
        std::fs::remove_dir_all(&d).ok();
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn reads_tarball_and_folder_in_the_same_order() {
        let dir = tmp("ok");
        let b2 = [record(2, 255), record(3, 0)].concat();
        let b1 = record(1, 51);
        let t = [record(9, 0), record(0, 0)].concat();
        // Members out of order in the archive: data batches are still read sorted by name.
        let gz = tarball(&[
            ("cifar-10-batches-bin/batches.meta.txt", b"airplane\n".to_vec()),
            ("cifar-10-batches-bin/test_batch.bin", t.clone()),
            ("cifar-10-batches-bin/data_batch_2.bin", b2.clone()),
            ("cifar-10-batches-bin/data_batch_1.bin", b1.clone()),
        ]);
        std::fs::create_dir_all(dir.join("cifar-10")).unwrap();
        std::fs::write(dir.join(TARBALL), &gz).unwrap();
        let d = load(&dir).unwrap();
        assert_eq!(d.labels, vec![1, 2, 3, 9, 0]);
        assert_eq!(d.shape, vec![3, 32, 32]);
        assert_eq!(d.row(0)[0], 51.0 / 255.0);
        assert_eq!(d.row(1)[1023], 1.0);
        assert_eq!(d.row(1)[1024], 100.0 / 255.0);
        assert_eq!(d.row(1)[2048], 200.0 / 255.0);
        assert_eq!(d.class_names[9], "truck");
        assert!(d.standardize.is_empty());

        let folder = tmp("folder");
        let unpacked = folder.join(UNPACKED);
        std::fs::create_dir_all(&unpacked).unwrap();
        std::fs::write(unpacked.join("data_batch_1.bin"), &b1).unwrap();
        std::fs::write(unpacked.join("data_batch_2.bin"), &b2).unwrap();
        std::fs::write(unpacked.join("test_batch.bin"), &t).unwrap();
        std::fs::write(unpacked.join("readme.html"), b"x").unwrap();
        assert_eq!(locate(&folder).unwrap(), Source::Folder(unpacked.clone()));
        assert_eq!(load(&folder).unwrap(), d);

        // Record length not a multiple of 3073: file and offset named.
        std::fs::write(unpacked.join("data_batch_2.bin"), &b2[..b2.len() - 5]).unwrap();
        let e = load(&folder).unwrap_err().to_string();
        assert!(e.contains("data_batch_2.bin") && e.contains("offset 3073") && e.contains("3073-byte"), "{e}");
        // Bad label byte.
        let mut bad = b1.clone();
        bad[0] = 10;
        std::fs::write(unpacked.join("data_batch_2.bin"), &bad).unwrap();
        let e = load(&folder).unwrap_err().to_string();
        assert!(e.contains("data_batch_2.bin") && e.contains("byte offset 0") && e.contains("label 10"), "{e}");
        // No test batch.
        std::fs::remove_file(unpacked.join("test_batch.bin")).unwrap();
        let e = load(&folder).unwrap_err().to_string();
        assert!(e.contains("test_batch.bin"), "{e}");
        std::fs::remove_dir_all(&dir).ok();
        std::fs::remove_dir_all(&folder).ok();
    }

    #[test]
    fn bad_member_and_truncated_tarball_are_named() {
        let dir = tmp("bad");
        std::fs::create_dir_all(dir.join("cifar-10")).unwrap();
        let gz =
            tarball(&[("cifar-10-batches-bin/data_batch_1.bin", vec![0u8; 3074]), ("cifar-10-batches-bin/test_batch.bin", record(1, 1))]);
        std::fs::write(dir.join(TARBALL), &gz).unwrap();
        let e = load(&dir).unwrap_err().to_string();
        assert!(e.contains("cifar-10-binary.tar.gz:cifar-10-batches-bin/data_batch_1.bin") && e.contains("offset 3073"), "{e}");
        let good = tarball(&[
            ("cifar-10-batches-bin/data_batch_1.bin", record(0, 7).repeat(20)),
            ("cifar-10-batches-bin/test_batch.bin", record(1, 1)),
        ]);
        std::fs::write(dir.join(TARBALL), &good[..good.len() / 2]).unwrap();
        let e = load(&dir).unwrap_err().to_string();
        assert!(e.contains("cifar-10-binary.tar.gz"), "{e}");
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn missing_cifar_says_where_it_looked_and_how_to_get_it() {
        let e = load(Path::new("/nonexistent-forsaken")).unwrap_err().to_string();
        for needle in [
            "/nonexistent-forsaken/cifar-10/cifar-10-binary.tar.gz",
            "/nonexistent-forsaken/cifar-10/cifar-10-batches-bin",
            "https://www.cs.toronto.edu/~kriz/cifar.html",
            "--data-dir",
            "FORSAKEN_DATA_DIR",
        ] {
            assert!(e.contains(needle), "`{needle}` missing from: {e}");
        }
    }
}
