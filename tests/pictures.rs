//! The picture commands through the binary: the files exist, decode, have
//! the expected size, and show what they claim.

mod common;

use std::fs;

use common::*;

#[test]
fn weights_are_drawn_one_tile_a_neuron() {
    let dir = scratch("weights");
    let model = dir.join("m.json");
    let out = nndl(&[
        "train",
        "--train-size",
        "1000",
        "--epochs",
        "1",
        "--out",
        s(&model),
        "-q",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let picture = dir.join("w.png");
    let out = nndl(&["weights", s(&model), "-o", s(&picture)]);
    assert!(out.status.success(), "{}", stderr(&out));
    // 30 neurons: 6 × 5 tiles of 28 × 28 pixels drawn 3 wide, 4 apart.
    let img = image::open(&picture).unwrap().to_rgb8();
    assert_eq!(img.dimensions(), (6 * 84 + 7 * 4, 5 * 84 + 6 * 4));
    // Red where a weight is above zero, blue below: neuron 0's first inputs.
    let json: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(&model).unwrap()).unwrap();
    let w0 = &json["weights"][0][0];
    for k in 0..28 {
        let w = w0[k].as_f64().unwrap();
        let p = img.get_pixel(4 + 3 * k as u32 + 1, 4 + 1).0;
        if w > 0.0 {
            assert!(p[0] == 255 && p[2] <= p[0], "w {w}: {p:?}");
        } else if w < 0.0 {
            assert!(p[2] == 255 && p[0] <= p[2], "w {w}: {p:?}");
        }
    }
    let out = nndl(&["weights", s(&model), "-o", s(&picture), "--neurons", "4"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        image::open(&picture).unwrap().to_rgb8().dimensions(),
        (2 * 84 + 3 * 4, 2 * 84 + 3 * 4)
    );
    fails(
        &["weights", s(&model), "-o", s(&dir.join("w.jpg"))],
        2,
        &["-o", ".png"],
    );
    fails(
        &["weights", s(&model), "-o", "/proc/w.png"],
        1,
        &["/proc/w.png", "cannot write"],
    );
}
