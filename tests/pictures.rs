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

#[test]
fn errors_writes_every_digit_evaluate_counts_wrong() {
    let dir = scratch("errors");
    let model = dir.join("m.json");
    let out = nndl(&[
        "train",
        "--train-size",
        "2000",
        "--epochs",
        "2",
        "--seed",
        "1",
        "--out",
        s(&model),
        "-q",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let errors = dir.join("wrong");
    let out = nndl(&[
        "evaluate",
        s(&model),
        "--split",
        "validation",
        "--errors",
        s(&errors),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let line = text
        .lines()
        .find(|l| l.starts_with("validation set:"))
        .unwrap();
    let counts: Vec<usize> = line["validation set: ".len()..]
        .split(" (")
        .next()
        .unwrap()
        .split(" / ")
        .map(|n| n.replace(',', "").parse().unwrap())
        .collect();
    let wrong = counts[1] - counts[0];
    let mnist = nndl::load_mnist(std::path::Path::new("data/mnist")).unwrap();
    let mut digits = 0;
    for entry in fs::read_dir(&errors).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        if name == "sheet.png" {
            continue;
        }
        digits += 1;
        // INDEX-true-T-pred-P.png: the validation image INDEX, labelled T, not P.
        let parts: Vec<&str> = name.trim_end_matches(".png").split('-').collect();
        assert_eq!((parts[1], parts[3]), ("true", "pred"), "{name}");
        let index: usize = parts[0].parse().unwrap();
        assert_eq!(parts[2], mnist.validation.labels[index].to_string());
        assert_ne!(parts[2], parts[4]);
        if digits <= 3 {
            let img = image::open(errors.join(&name)).unwrap().to_luma8();
            assert_eq!(img.as_raw().as_slice(), mnist.validation.image(index));
        }
    }
    assert_eq!(digits, wrong, "{text}");
    assert!(wrong > 100, "the sheet should be full: {wrong}");
    let sheet = image::open(errors.join("sheet.png")).unwrap();
    assert_eq!((sheet.width(), sheet.height()), (720, 720));
    fails(
        &["evaluate", s(&model), "--errors", s(&model)],
        1,
        &["not a directory"],
    );
}
