//! The IDX reader, raw and through gunzip: any bytes give a data set that
//! matches its header, or an error; never a panic or an allocation the
//! bytes do not pay for.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use nndl::data::{read_images_from, read_labels_from};

fuzz_target!(|data: &[u8]| {
    let name = Path::new("fuzz");
    if let Ok((count, rows, cols, pixels)) = read_images_from(name, &mut &data[..]) {
        assert_eq!(pixels.len(), count * rows * cols);
    }
    if let Ok(labels) = read_labels_from(name, &mut &data[..]) {
        assert!(labels.len() <= data.len());
    }
    let mut gz = flate2::read::MultiGzDecoder::new(data);
    let _ = read_images_from(name, &mut gz);
});
