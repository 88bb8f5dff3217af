//! The picture commands through the binary: the files exist, decode, have
//! the expected size, and show what they claim.

mod common;

use std::fs;

use common::*;

#[test]
fn weights_are_drawn_one_tile_a_neuron() {
    let dir = scratch("weights");
    let model = small_model(&dir, "m.json", 1000, 1);
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
    let model = small_model(&dir, "m.json", 2000, 2);
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

/// Whether `svg` is well formed: one root, every tag closed in order.
fn well_formed(svg: &str) -> bool {
    let mut open: Vec<&str> = Vec::new();
    let mut rest = svg;
    while let Some(start) = rest.find('<') {
        let Some(end) = rest[start..].find('>') else {
            return false;
        };
        let tag = &rest[start + 1..start + end];
        rest = &rest[start + end + 1..];
        if let Some(name) = tag.strip_prefix('/') {
            if open.pop() != Some(name.trim()) {
                return false;
            }
        } else if !tag.ends_with('/') && !tag.starts_with('?') && !tag.starts_with('!') {
            open.push(tag.split_whitespace().next().unwrap_or(""));
        }
    }
    open.is_empty() && svg.trim_start().starts_with("<svg")
}

#[test]
fn metrics_curves_are_drawn_as_svg_and_png() {
    let dir = scratch("plot");
    let (csv, json) = (dir.join("m.csv"), dir.join("m.json"));
    let png = dir.join("curves.png");
    let out = nndl(&[
        "train",
        "--train-size",
        "1000",
        "--epochs",
        "4",
        "--monitor",
        "train-cost,validation-cost,train-accuracy",
        "--metrics",
        s(&csv),
        "--plot",
        s(&png),
        "--out",
        s(&dir.join("model.json")),
        "-q",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("Curves drawn to"), "{}", stdout(&out));
    let picture = image::open(&png).unwrap();
    assert_eq!((picture.width(), picture.height()), (1100, 450));
    // Not blank: the curves' colours are there.
    let rgb = picture.to_rgb8();
    assert!(
        rgb.pixels().any(|p| p.0 == [255, 127, 14]),
        "no validation curve"
    );
    assert!(
        rgb.pixels().any(|p| p.0 == [31, 119, 180]),
        "no training curve"
    );
    let svg_file = dir.join("curves.svg");
    let out = nndl(&["plot", s(&csv), "-o", s(&svg_file)]);
    assert!(out.status.success(), "{}", stderr(&out));
    let svg = fs::read_to_string(&svg_file).unwrap();
    assert!(well_formed(&svg), "{svg:.300}");
    assert!(svg.contains("Accuracy (%)") && svg.contains("Cost") && svg.contains("validation"));
    // The same from the JSON form of the metrics.
    let out = nndl(&[
        "train",
        "--train-size",
        "1000",
        "--epochs",
        "3",
        "--metrics",
        s(&json),
        "--out",
        s(&dir.join("m2.json")),
        "-q",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = nndl(&["plot", s(&json), "-o", s(&svg_file)]);
    assert!(out.status.success(), "{}", stderr(&out));
    let svg = fs::read_to_string(&svg_file).unwrap();
    assert!(
        well_formed(&svg) && svg.contains("No cost in this file"),
        "{svg:.300}"
    );
    fails(
        &["plot", s(&csv), "-o", s(&dir.join("c.jpg"))],
        2,
        &["-o", ".svg or .png"],
    );
    fails(
        &["plot", s(&dir.join("model.json")), "-o", s(&svg_file)],
        1,
        &["not a metrics file"],
    );
    fails(&["train", "--plot", s(&png)], 2, &["--metrics"]);
}
