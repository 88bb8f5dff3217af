//! The checkpoint reader and resume: any text is refused, or resumes a run
//! on a small data set that then trains an epoch; never a panic, and
//! nothing the size of a network allocated before its numbers are checked.
#![no_main]

use libfuzzer_sys::fuzz_target;
use nndl::checkpoint::Checkpoint;
use nndl::train::{Run, Silent};
use nndl::Dataset;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(c) = Checkpoint::from_json(text) else {
        return;
    };
    let set = Dataset {
        images: (0..12 * 4).map(|i| (i * 37 % 256) as u8).collect(),
        labels: (0..12).map(|i| (i % 3) as u8).collect(),
        rows: 2,
        cols: 2,
        classes: 3,
    };
    if let Ok(mut run) = Run::<f32>::resume(&c, &c.data, &set, &set, &set) {
        if run.finished().is_none() {
            let _ = run.next_epoch(&mut Silent, &|| true);
        }
    }
});
