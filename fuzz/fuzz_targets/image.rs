//! Image decoding and the MNIST preparation: any bytes give 784 values in
//! [0, 1], or an error.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use nndl::image_input::{SIDE, decode_bytes, to_mnist};

fuzz_target!(|data: &[u8]| {
    if let Ok(gray) = decode_bytes(data, Path::new("fuzz")) {
        assert_eq!(gray.pixels.len(), gray.width * gray.height);
        if let Ok(x) = to_mnist(gray) {
            assert_eq!(x.len(), SIDE * SIDE);
            assert!(x.iter().all(|v| (0.0..=1.0).contains(v)));
        }
    }
});
