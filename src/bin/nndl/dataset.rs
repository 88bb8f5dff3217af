//! Where `train` and `evaluate` find MNIST: `--data DIR`, else `$NNDL_DATA`,
//! else the copy built into the binary, so an installed `nndl` trains in any
//! directory.

use std::path::{Path, PathBuf};

use nndl::data::{self, Source};
use nndl::{Error, Result};

/// The environment variable naming a data directory.
pub(crate) const ENV: &str = "NNDL_DATA";

macro_rules! built_in {
    ($($name:expr => $file:literal),* $(,)?) => {
        &[$(($name, include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/data/mnist/", $file)))),*]
    };
}

/// data/mnist's four gzipped files, 11 MB.
const BUILT_IN: &[(&str, &[u8])] = built_in![
    data::TRAIN_IMAGES => "train-images-idx3-ubyte.gz",
    data::TRAIN_LABELS => "train-labels-idx1-ubyte.gz",
    data::TEST_IMAGES => "t10k-images-idx3-ubyte.gz",
    data::TEST_LABELS => "t10k-labels-idx1-ubyte.gz",
];

/// The data set `--data` names, else `$NNDL_DATA`, else the built-in MNIST.
pub(crate) fn source(flag: Option<&Path>) -> Result<Source> {
    if let Some(dir) = flag {
        return directory(dir, "--data", "leave out --data");
    }
    match std::env::var_os(ENV) {
        Some(dir) if !dir.is_empty() => {
            directory(Path::new(&dir), &format!("{ENV}="), &format!("unset {ENV}"))
        }
        _ => Ok(Source::Memory {
            name: PathBuf::from("built-in MNIST"),
            files: BUILT_IN,
        }),
    }
}

/// `dir` as a source, if it is a directory; else what to do instead.
fn directory(dir: &Path, named: &str, instead: &str) -> Result<Source> {
    if dir.is_dir() {
        return Ok(Source::Dir(dir.to_path_buf()));
    }
    let what = if dir.exists() {
        "not a directory"
    } else {
        "no such data directory"
    };
    let space = if named.ends_with('=') { "" } else { " " };
    Err(Error::Usage(format!(
        "{named}{space}{}: {what}; name a directory holding the four MNIST IDX files ({}.gz …), or {instead} to use the built-in MNIST",
        dir.display(),
        data::TRAIN_IMAGES
    )))
}
