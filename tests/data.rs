//! The MNIST loader on the bundled files and on malformed ones.

mod common;

use common::idx;

use std::fs;
use std::io::Write;
use std::path::Path;

use flate2::Compression;
use flate2::write::GzEncoder;
use nndl::data::{read_images, read_labels};
use nndl::load_mnist;

fn scratch(name: &str) -> common::Scratch {
    common::scratch(&format!("data-{name}"))
}

fn write(path: &Path, bytes: &[u8]) {
    if path.extension().is_some_and(|e| e == "gz") {
        let mut enc = GzEncoder::new(fs::File::create(path).unwrap(), Compression::fast());
        enc.write_all(bytes).unwrap();
        enc.finish().unwrap();
    } else {
        fs::write(path, bytes).unwrap();
    }
}

#[test]
fn bundled_mnist_splits_as_the_book() {
    let mnist = load_mnist(Path::new("data/mnist")).unwrap();
    assert_eq!(mnist.training.len(), 50_000);
    assert_eq!(mnist.validation.len(), 10_000);
    assert_eq!(mnist.test.len(), 10_000);
    for set in [&mnist.training, &mnist.validation, &mnist.test] {
        assert_eq!((set.rows, set.cols, set.classes), (28, 28, 10));
        assert_eq!(set.images.len(), set.len() * 784);
    }
    // The label counts of the original files (training file: first 50,000, last 10,000).
    assert_eq!(
        mnist.training.label_counts(),
        [4932, 5678, 4968, 5101, 4859, 4506, 4951, 5175, 4842, 4988]
    );
    assert_eq!(
        mnist.validation.label_counts(),
        [991, 1064, 990, 1030, 983, 915, 967, 1090, 1009, 961]
    );
    assert_eq!(
        mnist.test.label_counts(),
        [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    );
    assert_eq!(&mnist.test.labels[..10], &[7, 2, 1, 0, 4, 1, 4, 9, 5, 9]);
}

#[test]
fn gathered_pixels_are_within_unit_interval() {
    let mnist = load_mnist(Path::new("data/mnist")).unwrap();
    let indices: Vec<usize> = (0..100).collect();
    let mut x = ndarray::Array2::<f32>::zeros((100, 784));
    mnist.test.gather_images(&indices, x.view_mut());
    assert!(x.iter().all(|&v| (0.0..=1.0).contains(&v)));
    assert_eq!(x.iter().copied().fold(0.0, f32::max), 1.0);
    assert_eq!(x.iter().copied().fold(1.0, f32::min), 0.0);
}

#[test]
fn raw_and_gzipped_files_read_alike() {
    let dir = scratch("raw");
    let pixels: Vec<u8> = (0..2 * 3 * 4).map(|i| i as u8 * 10).collect();
    write(&dir.join("a.gz"), &idx(0x803, &[2, 3, 4], &pixels));
    write(&dir.join("a"), &idx(0x803, &[2, 3, 4], &pixels));
    let gz = read_images(&dir.join("a.gz")).unwrap();
    let raw = read_images(&dir.join("a")).unwrap();
    assert_eq!(gz, raw);
    assert_eq!(gz, (2, 3, 4, pixels));
}

fn error_of(result: nndl::Result<impl std::fmt::Debug>) -> String {
    result.unwrap_err().to_string()
}

#[test]
fn malformed_files_give_clear_errors() {
    let dir = scratch("bad");
    let p = dir.join("wrong-magic");
    write(&p, &idx(0x801, &[1, 2, 2], &[0; 4]));
    let e = error_of(read_images(&p));
    assert!(
        e.contains("wrong-magic") && e.contains("magic number 0x00000801"),
        "{e}"
    );

    let p = dir.join("truncated.gz");
    write(&p, &idx(0x803, &[3, 2, 2], &[0; 9]));
    let e = error_of(read_images(&p));
    assert!(e.contains("truncated.gz") && e.contains("truncated"), "{e}");

    let p = dir.join("short-header");
    write(&p, &[0, 0, 8, 3, 0, 0]);
    let e = error_of(read_images(&p));
    assert!(e.contains("short-header") && e.contains("truncated"), "{e}");

    // A header that claims four billion images of 65,536² pixels: refused
    // without trying to allocate them.
    let p = dir.join("liar");
    write(&p, &idx(0x803, &[u32::MAX, 65_536, 65_536], &[1, 2, 3]));
    let e = error_of(read_images(&p));
    assert!(e.contains("liar"), "{e}");

    let p = dir.join("labels-liar.gz");
    write(&p, &idx(0x801, &[1_000_000_000], &[1, 2, 3]));
    let e = error_of(read_labels(&p));
    assert!(
        e.contains("labels-liar.gz") && e.contains("truncated"),
        "{e}"
    );

    let p = dir.join("extra");
    write(&p, &idx(0x801, &[2], &[1, 2, 3]));
    let e = error_of(read_labels(&p));
    assert!(e.contains("more labels than its header says"), "{e}");
}

#[test]
fn counts_that_disagree_are_refused() {
    let dir = scratch("counts");
    write(
        &dir.join("train-images-idx3-ubyte.gz"),
        &idx(0x803, &[12, 2, 2], &[7; 48]),
    );
    write(
        &dir.join("train-labels-idx1-ubyte.gz"),
        &idx(0x801, &[11], &[1; 11]),
    );
    write(
        &dir.join("t10k-images-idx3-ubyte"),
        &idx(0x803, &[2, 2, 2], &[7; 8]),
    );
    write(
        &dir.join("t10k-labels-idx1-ubyte"),
        &idx(0x801, &[2], &[0, 1]),
    );
    let e = error_of(load_mnist(&dir));
    assert!(
        e.contains("train-labels-idx1-ubyte.gz") && e.contains("holds 11 labels"),
        "{e}"
    );

    // Mend the labels: the set loads, a sixth of it held out for validation.
    write(
        &dir.join("train-labels-idx1-ubyte.gz"),
        &idx(0x801, &[12], &[2; 12]),
    );
    let mnist = load_mnist(&dir).unwrap();
    assert_eq!(
        (
            mnist.training.len(),
            mnist.validation.len(),
            mnist.test.len()
        ),
        (10, 2, 2)
    );
    assert_eq!(mnist.training.classes, 3);
}

#[test]
fn missing_files_are_named() {
    let dir = scratch("missing");
    let e = error_of(load_mnist(&dir));
    assert!(
        e.contains("t10k-images-idx3-ubyte.gz") || e.contains("train-images-idx3-ubyte.gz"),
        "{e}"
    );
    let e = error_of(load_mnist(&dir.join("nope")));
    assert!(
        e.contains("nope") && e.contains("no such data directory"),
        "{e}"
    );
}
