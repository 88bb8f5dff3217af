//! A short property-based run of each parser: valid inputs, mutated a few
//! bytes at a time (flipped, replaced, cut, repeated), are read back or
//! refused with an error, never a panic, and what is read keeps the
//! parser's promises. `fuzz/` runs the same targets for longer.

mod common;

use common::idx;

use std::path::Path;

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

use nndl::checkpoint::Checkpoint;
use nndl::data::{read_images_from, read_labels_from};
use nndl::image_input::{SIDE, decode_bytes, to_mnist};
use nndl::model::{Precision, from_json, to_json};
use nndl::train::{Run, Silent, TrainConfig};
use nndl::{Dataset, Network};

/// Runs of each property.
const CASES: usize = 3000;

/// `valid` with one to four random edits.
fn mutate(rng: &mut ChaCha8Rng, valid: &[u8]) -> Vec<u8> {
    let mut bytes = valid.to_vec();
    for _ in 0..rng.random_range(1..=4) {
        if bytes.is_empty() {
            bytes.push(rng.random());
            continue;
        }
        let i = rng.random_range(0..bytes.len());
        match rng.random_range(0..5) {
            0 => bytes[i] ^= 1 << rng.random_range(0..8),
            1 => bytes[i] = rng.random(),
            2 => bytes.truncate(i),
            3 => {
                let piece = bytes[i..].to_vec();
                bytes.extend(piece.iter().take(64));
            }
            _ => {
                bytes[i] = *[b'0', b'9', b'-', b'e', b'[', b']', b'{', b'"', b',']
                    .get(rng.random_range(0..9))
                    .unwrap_or(&b'0')
            }
        }
    }
    bytes
}

#[test]
fn idx_files_are_read_as_their_headers_say_or_refused() {
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let images = idx(0x803, &[3, 2, 2], &(0..12).collect::<Vec<u8>>());
    let labels = idx(0x801, &[3], &[0, 1, 2]);
    let name = Path::new("property");
    for case in 0..CASES {
        let valid = if case % 2 == 0 { &images } else { &labels };
        let bytes = mutate(&mut rng, valid);
        if let Ok((count, rows, cols, pixels)) = read_images_from(name, &mut &bytes[..]) {
            assert_eq!(pixels.len(), count * rows * cols);
            assert_eq!(bytes.len(), 16 + pixels.len(), "{bytes:?}");
        }
        if let Ok(read) = read_labels_from(name, &mut &bytes[..]) {
            assert_eq!(bytes.len(), 8 + read.len(), "{bytes:?}");
        }
    }
}

#[test]
fn model_files_are_read_whole_and_finite_or_refused() {
    let mut rng = ChaCha8Rng::seed_from_u64(2);
    let net = Network::<f32>::new(&[3, 2, 2], &mut ChaCha8Rng::seed_from_u64(2)).unwrap();
    let valid = to_json(&net).unwrap();
    let mut read = 0;
    for _ in 0..CASES {
        let bytes = mutate(&mut rng, valid.as_bytes());
        let Ok(text) = std::str::from_utf8(&bytes) else {
            continue;
        };
        if let Ok(model) = from_json(text) {
            read += 1;
            let limit = match model.precision {
                Precision::F32 => f64::from(f32::MAX),
                Precision::F64 => f64::MAX,
            };
            let numbers = model.net.weights.iter().flatten();
            assert!(
                numbers
                    .chain(model.net.biases.iter().flatten())
                    .all(|x| x.abs() <= limit)
            );
            let a = model
                .net
                .feedforward(ndarray::Array1::zeros(model.net.sizes[0]).view());
            assert_eq!(a.len(), *model.net.sizes.last().unwrap());
            let again = from_json(&to_json(&model.net).unwrap()).unwrap();
            assert_eq!(again.net, model.net);
        }
    }
    assert!(
        read > 0,
        "no mutant was a model: the property tested nothing"
    );
}

#[test]
fn images_become_784_values_in_range_or_are_refused() {
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let mut png = Vec::new();
    let digit = image::GrayImage::from_fn(12, 9, |x, y| {
        image::Luma([if x == 5 || y == 4 { 0 } else { 255 }])
    });
    digit
        .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
        .unwrap();
    let pgm = b"P2 4 3 255\n0 0 255 0\n0 255 255 0\n0 0 255 0\n".to_vec();
    let name = Path::new("property");
    for case in 0..CASES {
        let valid = if case % 2 == 0 { &png } else { &pgm };
        let bytes = mutate(&mut rng, valid);
        if let Ok(gray) = decode_bytes(&bytes, name) {
            assert_eq!(gray.pixels.len(), gray.width * gray.height);
            if let Ok(x) = to_mnist(gray) {
                assert_eq!(x.len(), SIDE * SIDE);
                assert!(x.iter().all(|v| (0.0..=1.0).contains(v)), "{x:?}");
            }
        }
    }
}

#[test]
fn checkpoints_resume_or_are_refused() {
    let mut rng = ChaCha8Rng::seed_from_u64(4);
    let set = Dataset {
        images: (0..24 * 4).map(|i| (i * 37 % 256) as u8).collect(),
        labels: (0..24).map(|i| (i % 3) as u8).collect(),
        rows: 2,
        cols: 2,
        classes: 3,
    };
    let config = TrainConfig {
        sizes: vec![4, 3, 3],
        epochs: 3,
        batch_size: 5,
        momentum: 0.5,
        ..TrainConfig::chapter(4)
    };
    let mut run = Run::<f32>::new(&config, &set, &set, &set).unwrap();
    run.next_epoch(&mut Silent, &|| true).unwrap();
    let valid = run.checkpoint("tiny").to_json().unwrap();
    let mut resumed = 0;
    for _ in 0..CASES {
        let bytes = mutate(&mut rng, valid.as_bytes());
        let Ok(text) = std::str::from_utf8(&bytes) else {
            continue;
        };
        let Ok(c) = Checkpoint::from_json(text) else {
            continue;
        };
        if let Ok(mut run) = Run::<f32>::resume(&c, "tiny", &set, &set, &set) {
            resumed += 1;
            if run.finished().is_none() {
                let _ = run.next_epoch(&mut Silent, &|| true);
            }
        }
    }
    assert!(
        resumed > 0,
        "no mutant resumed: the property tested nothing"
    );
}
