//! Helpers of the tests that run the binary.
#![allow(dead_code)]

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The binary, run in this package's directory with no `NNDL_DATA`.
pub fn nndl(args: &[&str]) -> Output {
    run_in(Path::new("."), &[], args)
}

/// The binary run in `dir` with the environment variables `env` (value ""
/// to remove one) and no other `NNDL_DATA`.
pub fn run_in(dir: &Path, env: &[(&str, &str)], args: &[&str]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_nndl"));
    command.current_dir(dir).args(args).env_remove("NNDL_DATA");
    for (name, value) in env {
        command.env(name, value);
    }
    command.output().expect("the nndl binary runs")
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A fresh directory under the system's temporary one, removed when dropped
/// unless the test is failing, so that its files are left to look at.
pub struct Scratch(PathBuf);

impl std::ops::Deref for Scratch {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.0
    }
}

impl AsRef<Path> for Scratch {
    fn as_ref(&self) -> &Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            let _ = fs::remove_dir_all(&self.0);
        }
    }
}

pub fn scratch(name: &str) -> Scratch {
    let dir = std::env::temp_dir().join(format!("nndl-cli-{}-{name}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    Scratch(dir)
}

pub fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// The percentage in a `9,143 / 10,000 (91.43%)` line that starts with `prefix`.
pub fn percent_after(text: &str, prefix: &str) -> f64 {
    percent_in(text, prefix, prefix)
}

/// The first percentage after `label` in the line that starts with `prefix`:
/// `percent_in(text, "Epoch 2/3", "test")`.
pub fn percent_in(text: &str, prefix: &str, label: &str) -> f64 {
    let line = text
        .lines()
        .find(|l| l.starts_with(prefix))
        .unwrap_or_else(|| panic!("no line starting {prefix:?} in:\n{text}"));
    let rest = &line[line
        .find(label)
        .unwrap_or_else(|| panic!("no {label:?} in {line:?}"))..];
    let open = rest.find('(').unwrap();
    let close = rest.find("%)").unwrap();
    rest[open + 1..close].parse().unwrap()
}

/// Exit code, and stderr as one line with no panic.
pub fn fails(args: &[&str], code: i32, needles: &[&str]) {
    let out = nndl(args);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(code), "{args:?}: {err}");
    assert!(!err.contains("panicked"), "{args:?}: {err}");
    assert_eq!(
        err.trim_end().lines().count(),
        1,
        "{args:?}: not one line:\n{err}"
    );
    for n in needles {
        assert!(err.contains(n), "{args:?}: {err:?} does not mention {n:?}");
    }
}

/// An IDX file of unsigned bytes: magic number, dimensions, payload.
pub fn idx(magic: u32, dims: &[u32], payload: &[u8]) -> Vec<u8> {
    let mut bytes = magic.to_be_bytes().to_vec();
    for d in dims {
        bytes.extend(d.to_be_bytes());
    }
    bytes.extend(payload);
    bytes
}

/// Writes a gzipped IDX file of unsigned bytes.
pub fn write_idx(path: &Path, magic: u32, dims: &[u32], payload: &[u8]) {
    use std::io::Write;
    let bytes = idx(magic, dims, payload);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&bytes).unwrap();
    fs::write(path, gz.finish().unwrap()).unwrap();
}

/// A data set of 4 × 4 images in 3 classes, in MNIST's four files.
pub fn tiny_data_set(dir: &Path) {
    fs::create_dir_all(dir).unwrap();
    for (name, count) in [("train", 60u32), ("t10k", 12)] {
        let labels: Vec<u8> = (0..count).map(|i| (i % 3) as u8).collect();
        let images: Vec<u8> = labels
            .iter()
            .flat_map(|&l| (0..16u8).map(move |p| if p % 3 == l { 255 } else { 0 }))
            .collect();
        write_idx(
            &dir.join(format!("{name}-images-idx3-ubyte.gz")),
            0x803,
            &[count, 4, 4],
            &images,
        );
        write_idx(
            &dir.join(format!("{name}-labels-idx1-ubyte.gz")),
            0x801,
            &[count],
            &labels,
        );
    }
}

/// The binary with its address space capped at `mb` megabytes, where
/// `prlimit` is found: an input that made it allocate more would fail it.
pub fn nndl_within(mb: u64, args: &[&str]) -> Output {
    let prlimit = Path::new("/usr/bin/prlimit");
    if !prlimit.exists() {
        return nndl(args);
    }
    Command::new(prlimit)
        .arg(format!("--as={}", mb << 20))
        .arg("--")
        .arg(env!("CARGO_BIN_EXE_nndl"))
        .args(args)
        .env_remove("NNDL_DATA")
        .output()
        .expect("prlimit runs the nndl binary")
}

/// Trains the chapter's network on the first `images` training images for
/// `epochs` epochs, seed 1, into `dir/name`; returns the model's path.
pub fn small_model(dir: &Path, name: &str, images: usize, epochs: usize) -> PathBuf {
    let model = dir.join(name);
    let (images, epochs) = (images.to_string(), epochs.to_string());
    let out = nndl(&[
        "train",
        "--train-size",
        &images,
        "--epochs",
        &epochs,
        "--seed",
        "1",
        "--out",
        s(&model),
        "-q",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    model
}
