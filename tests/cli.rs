//! The binary end to end: train, evaluate, predict, and bad input.

mod common;

use std::fs;
use std::path::Path;

use common::*;

use image::{GrayImage, Luma, Rgb, RgbImage};

#[test]
fn train_evaluate_predict() {
    let dir = scratch("e2e");
    let model = dir.join("model.json");
    let train = [
        "train",
        "--train-size",
        "20000",
        "--epochs",
        "4",
        "--seed",
        "1",
        "--out",
        s(&model),
    ];
    let out = nndl(&train);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert_eq!(
        text.lines().filter(|l| l.starts_with("Epoch ")).count(),
        4,
        "{text}"
    );
    let best = percent_in(&text, "Chosen on validation: epoch", "test");
    assert!(
        best >= 90.0,
        "best test accuracy {best}% after 4 epochs on 20,000 images"
    );

    // The same seed gives the same model file, byte for byte.
    let again = dir.join("again.json");
    let mut train_again = train;
    train_again[8] = s(&again);
    assert!(nndl(&train_again).status.success());
    assert_eq!(fs::read(&model).unwrap(), fs::read(&again).unwrap());

    // evaluate reports the saved epoch's accuracy.
    let out = nndl(&["evaluate", s(&model)]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert_eq!(percent_after(&text, "test set:"), best);
    assert!(text.contains("mean cost:"), "{text}");
    let matrix: Vec<&str> = text
        .lines()
        .skip_while(|l| !l.starts_with("Confusion"))
        .collect();
    assert_eq!(matrix.len(), 12, "{text}");
    let out = nndl(&["evaluate", s(&model), "--split", "validation"]);
    assert!(percent_after(&stdout(&out), "validation set:") > 85.0);

    // The first test image, a 7, as MNIST has it: 28 × 28, white on black.
    let mnist = nndl::load_mnist(Path::new("data/mnist")).unwrap();
    let (digit, label) = (mnist.test.image(0), mnist.test.labels[0]);
    assert_eq!(label, 7);
    let small = dir.join("seven.png");
    GrayImage::from_fn(28, 28, |x, y| Luma([digit[(y * 28 + x) as usize]]))
        .save(&small)
        .unwrap();
    // The same digit black on white, ten times the size, off-centre on a
    // larger RGB canvas.
    let large = dir.join("seven-large.png");
    let mut canvas = RgbImage::from_pixel(500, 400, Rgb([255, 255, 255]));
    for y in 0..280 {
        for x in 0..280 {
            let v = 255 - digit[(y / 10) * 28 + x / 10];
            canvas.put_pixel(x as u32 + 190, y as u32 + 20, Rgb([v, v, v]));
        }
    }
    canvas.save(&large).unwrap();

    for image in [&small, &large] {
        let out = nndl(&["predict", s(&model), s(image)]);
        assert!(out.status.success(), "{}", stderr(&out));
        let text = stdout(&out);
        let first = text.lines().next().unwrap();
        assert!(first.ends_with(": 7"), "{}: {text}", image.display());
        assert_eq!(text.lines().count(), 11, "{text}");

        let out = nndl(&["predict", s(&model), s(image), "--json"]);
        let json: serde_json::Value = serde_json::from_str(stdout(&out).trim()).unwrap();
        assert_eq!(json["prediction"], 7);
        let activations = json["activations"].as_array().unwrap();
        assert_eq!(activations.len(), 10);
        let top = activations
            .iter()
            .map(|a| a.as_f64().unwrap())
            .enumerate()
            .max_by(|a, b| a.1.total_cmp(&b.1))
            .unwrap();
        assert_eq!(top.0, 7);
    }

    // What the network sees, drawn in the terminal and saved.
    let saved = dir.join("input.png");
    let out = nndl(&[
        "predict",
        s(&model),
        s(&small),
        "--show",
        "--ascii",
        "--save-input",
        s(&saved),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let drawing: Vec<String> = text
        .lines()
        .skip(1)
        .map(|l| {
            l.chars()
                .take(58)
                .collect::<String>()
                .trim_end()
                .to_string()
        })
        .collect();
    let expected: Vec<&str> = include_str!("expected/seven-ascii.txt").lines().collect();
    assert_eq!(drawing, expected, "{text}");
    assert!(
        text.contains(" 7 #") && text.lines().any(|l| l.contains(" 7 ") && l.ends_with('<')),
        "{text}"
    );
    let input = image::open(&saved).unwrap().to_luma8();
    assert_eq!(input.dimensions(), (28, 28));
    assert_eq!(
        input.as_raw().as_slice(),
        digit,
        "the input is the MNIST digit as it is"
    );
    let out = nndl(&["predict", s(&model), s(&large), "--show"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out).lines().count(), 31);
    assert!(stdout(&out).contains('█'));
    fails(
        &["predict", s(&model), s(&small), "--ascii"],
        2,
        &["--show"],
    );
    fails(
        &["predict", s(&model), s(&small), "--save-input", "/dev/null"],
        2,
        &["--save-input", ".png"],
    );

    // A phone's JPEG: stored turned a quarter left, with EXIF orientation 6
    // (turn a quarter right to show).
    let upright = image::imageops::resize(
        &GrayImage::from_fn(28, 28, |x, y| Luma([255 - digit[(y * 28 + x) as usize]])),
        280,
        280,
        image::imageops::FilterType::Triangle,
    );
    let stored = image::imageops::rotate270(&upright);
    let mut jpeg = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, 95)
        .encode_image(&stored)
        .unwrap();
    let exif: [u8; 36] = [
        0xff, 0xe1, 0x00, 0x22, b'E', b'x', b'i', b'f', 0, 0, b'M', b'M', 0, 0x2a, 0, 0, 0, 8, 0,
        1, 0x01, 0x12, 0, 3, 0, 0, 0, 1, 0, 6, 0, 0, 0, 0, 0, 0,
    ];
    let turned = dir.join("turned.jpg");
    fs::write(&turned, [&jpeg[..2], &exif, &jpeg[2..]].concat()).unwrap();
    // Prepared, it is the upright digit, not the one without its EXIF.
    let unturned = dir.join("unturned.jpg");
    fs::write(&unturned, &jpeg).unwrap();
    let upright_file = dir.join("upright.png");
    upright.save(&upright_file).unwrap();
    let load = |p: &Path| nndl::image_input::load_digit(p).unwrap();
    let farthest = |a: &[f64], b: &[f64]| {
        a.iter()
            .zip(b)
            .map(|(p, q)| (p - q).abs())
            .fold(0.0, f64::max)
    };
    let (prepared, reference) = (load(&turned), load(&upright_file));
    assert!(farthest(&prepared, &reference) < 0.15);
    assert!(farthest(&load(&unturned), &reference) > 0.5);
    // A white digit on a transparent background: the opaque shape is ink.
    let clear = dir.join("clear.png");
    image::RgbaImage::from_fn(56, 56, |x, y| {
        image::Rgba([255, 255, 255, digit[((y / 2) * 28 + x / 2) as usize]])
    })
    .save(&clear)
    .unwrap();
    for image in [&turned, &clear] {
        let out = nndl(&["predict", s(&model), s(image)]);
        assert!(out.status.success(), "{}", stderr(&out));
        let first = stdout(&out).lines().next().unwrap().to_string();
        assert!(first.ends_with(": 7"), "{}: {first}", image.display());
    }
}

#[test]
fn a_bare_nndl_prints_usage_and_the_subcommands() {
    let out = nndl(&[]);
    assert_eq!(out.status.code(), Some(2));
    let text = stderr(&out) + &stdout(&out);
    for needle in [
        "Usage: nndl <COMMAND>",
        "train",
        "evaluate",
        "predict",
        "gradcheck",
    ] {
        assert!(text.contains(needle), "{needle:?} not in {text}");
    }
}

#[test]
fn bad_flags_are_usage_errors() {
    let dir = scratch("flags");
    let out = dir.join("m.json");
    let o = s(&out);
    fails(
        &["train", "--batch-size", "0", "--out", o],
        2,
        &["--batch-size", "at least 1"],
    );
    fails(&["train", "--eta", "0", "--out", o], 2, &["--eta"]);
    fails(&["train", "--eta", "-1", "--out", o], 2, &["--eta"]);
    fails(&["train", "--eta", "fast", "--out", o], 2, &["--eta"]);
    fails(&["train", "--epochs", "0", "--out", o], 2, &["--epochs"]);
    fails(
        &["train", "--layers", "700,30,10", "--out", o],
        2,
        &["--layers", "784"],
    );
    fails(
        &["train", "--layers", "784,30,9", "--out", o],
        2,
        &["--layers", "10"],
    );
    fails(&["train", "--layers", "784", "--out", o], 2, &["--layers"]);
    fails(&["train", "--hidden", "30,x", "--out", o], 2, &["--hidden"]);
    fails(
        &["train", "--train-size", "60000", "--out", o],
        2,
        &["--train-size"],
    );
    fails(&["train", "--bogus"], 2, &["--bogus"]);
    // clap's suggestion survives the folding onto one line.
    fails(&["train", "--epoch", "3"], 2, &["'--epoch'", "'--epochs'"]);
    fails(&["trian"], 2, &["'trian'", "'train'"]);
    fails(&["train", "--precision", "f16"], 2, &["--precision", "f16"]);
    // Too large for memory: refused before anything is allocated, exit 1.
    fails(
        &["train", "--hidden", "3000000,3000000", "--out", o],
        1,
        &["network too large", "parameters", "GB"],
    );
    fails(&["frobnicate"], 2, &["frobnicate"]);
    fails(&["evaluate", "--split", "dev"], 2, &["--split"]);
    fails(&["predict"], 2, &["MODEL"]);
    assert!(!out.exists());
}

#[test]
fn bad_files_are_named() {
    let dir = scratch("files");
    let o = dir.join("m.json");
    // Data: a missing directory, a malformed file.
    fails(
        &["train", "--data", s(&dir.join("none")), "--out", s(&o)],
        2,
        &["--data", "none", "no such data directory"],
    );
    let data = dir.join("data");
    fs::create_dir_all(&data).unwrap();
    for f in [
        "train-images-idx3-ubyte",
        "train-labels-idx1-ubyte",
        "t10k-images-idx3-ubyte",
        "t10k-labels-idx1-ubyte",
    ] {
        fs::copy(format!("data/mnist/{f}.gz"), data.join(format!("{f}.gz"))).unwrap();
    }
    fs::write(data.join("t10k-labels-idx1-ubyte.gz"), b"not gzip at all").unwrap();
    fails(
        &["train", "--data", s(&data), "--out", s(&o)],
        1,
        &["t10k-labels-idx1-ubyte.gz"],
    );
    fails(&["evaluate", "--data", s(&data)], 1, &[]);

    // Models: missing, not JSON, shapes that disagree with sizes, wrong input size.
    fails(
        &["evaluate", s(&dir.join("absent.json"))],
        1,
        &["absent.json", "no such file"],
    );
    let junk = dir.join("junk.json");
    fs::write(&junk, "{\"sizes\": [784, 30").unwrap();
    fails(
        &["evaluate", s(&junk)],
        1,
        &["junk.json", "not a model file"],
    );
    let bad = dir.join("bad-shape.json");
    fs::write(&bad, r#"{"sizes": [784, 2, 10], "weights": [[[0.5, 0.5], [0.5, 0.5]], [[1, 1], [1, 1]]], "biases": [[[0], [0]], [[0], [0]]], "cost": "QuadraticCost"}"#).unwrap();
    fails(&["evaluate", s(&bad)], 1, &["bad-shape.json", "layer 2"]);
    let tiny = dir.join("tiny.json");
    fs::write(&tiny, r#"{"sizes": [2, 1], "weights": [[[0.5, 0.5]]], "biases": [[[0]]], "cost": "QuadraticCost"}"#).unwrap();
    fails(&["evaluate", s(&tiny)], 1, &["tiny.json", "2 inputs"]);
    fails(
        &["predict", s(&tiny), "x.png"],
        1,
        &["tiny.json", "2 inputs"],
    );

    // Images: missing, not an image, a header claiming 100,000 × 100,000 pixels.
    let model = dir.join("zero.json");
    let zeros = |n: usize, k: usize| {
        format!(
            "[{}]",
            vec![format!("[{}]", vec!["0"; k].join(",")); n].join(",")
        )
    };
    fs::write(
        &model,
        format!(
            r#"{{"sizes": [784, 10], "weights": [{}], "biases": [{}], "cost": "QuadraticCost"}}"#,
            zeros(10, 784),
            zeros(10, 1)
        ),
    )
    .unwrap();
    fails(
        &["predict", s(&model), s(&dir.join("nothing.png"))],
        1,
        &["nothing.png"],
    );
    let text = dir.join("notes.png");
    fs::write(&text, "just some text").unwrap();
    fails(&["predict", s(&model), s(&text)], 1, &["notes.png"]);
    let huge_pgm = dir.join("huge.pgm");
    fs::write(&huge_pgm, b"P5\n100000 100000\n255\n\x00\x00\x00").unwrap();
    fails(
        &["predict", s(&model), s(&huge_pgm)],
        1,
        &["huge.pgm", "too large"],
    );
    let huge_png = dir.join("huge.png");
    fs::write(&huge_png, png_header(100_000, 100_000)).unwrap();
    fails(
        &["predict", s(&model), s(&huge_png)],
        1,
        &["huge.png", "too large"],
    );
    let blank = dir.join("blank.png");
    GrayImage::from_pixel(40, 40, Luma([255]))
        .save(&blank)
        .unwrap();
    fails(
        &["predict", s(&model), s(&blank)],
        1,
        &["blank.png", "no digit"],
    );
}

/// The signature and IHDR chunk of a PNG of the given size, with no pixels.
fn png_header(width: u32, height: u32) -> Vec<u8> {
    let mut chunk = b"IHDR".to_vec();
    chunk.extend(width.to_be_bytes());
    chunk.extend(height.to_be_bytes());
    chunk.extend([8, 0, 0, 0, 0]); // 8-bit grey, no interlace
    let mut crc = flate2::Crc::new();
    crc.update(&chunk);
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    png.extend(13u32.to_be_bytes());
    png.extend(&chunk);
    png.extend(crc.sum().to_be_bytes());
    png
}

#[test]
fn a_failed_run_leaves_the_model_file_alone() {
    let dir = scratch("keep");
    let model = dir.join("model.json");
    fs::write(&model, "precious").unwrap();
    fails(
        &["train", "--data", s(&dir.join("none")), "--out", s(&model)],
        2,
        &["none"],
    );
    fails(
        &["train", "--layers", "784,30,11", "--out", s(&model)],
        2,
        &["--layers"],
    );
    fails(&["train", "--out", s(&dir)], 1, &["is a directory"]);
    assert_eq!(fs::read_to_string(&model).unwrap(), "precious");
    let leftovers: Vec<_> = fs::read_dir(&dir).unwrap().collect();
    assert_eq!(leftovers.len(), 1, "temporary files left behind");
}

/// A wide layer trained sparse with momentum, L2 and mini-batches of 10.
const WIDE_MOMENTUM: &[&str] = &[
    "--hidden",
    "800",
    "--activation",
    "relu",
    "--output",
    "softmax",
    "--init",
    "he",
    "--momentum",
    "0.9",
    "--lambda",
    "5",
    "--batch-size",
    "10",
    "--eta",
    "0.01",
];

/// Trains a small run with `threads` and the instruction set capped at
/// `simd` (None: the best the processor has); returns the model file.
fn small_run(dir: &Path, threads: usize, simd: Option<&str>, extra: &[&str]) -> Vec<u8> {
    let file = dir.join(format!("t{threads}-{}.json", simd.unwrap_or("best")));
    let threads = threads.to_string();
    let mut args = vec![
        "train",
        "--train-size",
        "3000",
        "--epochs",
        "2",
        "--seed",
        "5",
        "--threads",
        &threads,
        "--quiet",
        "--out",
        s(&file),
    ];
    // Mini-batches of 100 and η = 1 unless `extra` says otherwise.
    for (flag, value) in [("--batch-size", "100"), ("--eta", "1")] {
        if !extra.contains(&flag) {
            args.extend([flag, value]);
        }
    }
    args.extend_from_slice(extra);
    let env = simd.map(|simd| ("NNDL_SIMD", simd));
    let out = run_in(Path::new("."), env.as_slice(), &args);
    assert!(out.status.success(), "{}", stderr(&out));
    fs::read(&file).unwrap()
}

#[test]
fn the_thread_count_does_not_change_the_model() {
    // Mini-batches of 100 are large enough to be split between threads;
    // a sparse first layer and a dense one; and a wide sparse one with
    // momentum at m = 10, whose dark rows owe steps.
    let dir = scratch("threads");
    for extra in [&[][..], &["--hidden", "100"], WIDE_MOMENTUM] {
        let one = small_run(&dir, 1, None, extra);
        for threads in 2..=4 {
            assert!(
                small_run(&dir, threads, None, extra) == one,
                "{threads} threads, {extra:?}"
            );
        }
    }
}

#[test]
fn avx2_and_avx512_machines_train_the_same_model() {
    // Capped at AVX2 the kernels sum in AVX-512's order; on a machine
    // without AVX-512 both runs are AVX2, and agree all the more.
    let dir = scratch("simd");
    for extra in [&[][..], &["--hidden", "100"], WIDE_MOMENTUM] {
        let best = small_run(&dir, 2, None, extra);
        assert!(small_run(&dir, 2, Some("avx2"), extra) == best, "{extra:?}");
    }
}

/// Trains on a slice with `flags`, checks the best test accuracy is well
/// above chance and that the saved model reloads with its settings.
fn learns_with(
    name: &str,
    flags: &[&str],
    min_accuracy: f64,
    model_has: &[&str],
    evaluate_says: &str,
) -> String {
    let dir = scratch(name);
    let model = dir.join("model.json");
    let mut args = vec![
        "train",
        "--train-size",
        "5000",
        "--epochs",
        "3",
        "--seed",
        "3",
        "--out",
        s(&model),
    ];
    args.extend_from_slice(flags);
    let out = nndl(&args);
    assert!(out.status.success(), "{flags:?}: {}", stderr(&out));
    let text = stdout(&out);
    let best = percent_in(&text, "Chosen on validation", "test");
    assert!(best >= min_accuracy, "{flags:?}: best {best}%\n{text}");
    let json = fs::read_to_string(&model).unwrap();
    for key in model_has {
        assert!(json.contains(key), "{flags:?}: model lacks {key}");
    }
    let out = nndl(&["evaluate", s(&model), "--split", "validation"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains(evaluate_says), "{}", stdout(&out));
    assert!(percent_after(&stdout(&out), "validation set:") >= min_accuracy - 5.0);
    text
}

#[test]
fn every_flag_family_learns() {
    // Costs, output layers, neurons and initialisations.
    learns_with(
        "softmax",
        &[
            "--output",
            "softmax",
            "--activation",
            "relu",
            "--init",
            "he",
            "--eta",
            "0.1",
        ],
        85.0,
        &[
            r#""output":"softmax""#,
            r#""activation":"relu""#,
            r#""cost":"LogLikelihoodCost""#,
        ],
        "relu neurons, log-likelihood cost",
    );
    learns_with(
        "tanh",
        &[
            "--cost",
            "cross-entropy",
            "--activation",
            "tanh",
            "--init",
            "scaled",
            "--eta",
            "0.1",
        ],
        85.0,
        &[r#""cost":"CrossEntropyCost""#, r#""activation":"tanh""#],
        "tanh neurons, cross-entropy cost",
    );
    // Regularisation, momentum and dropout.
    learns_with(
        "rules",
        &[
            "--cost",
            "cross-entropy",
            "--init",
            "scaled",
            "--eta",
            "0.2",
            "--lambda",
            "5",
            "--momentum",
            "0.5",
            "--dropout",
            "0.2",
            "--hidden",
            "60",
        ],
        85.0,
        &[r#""sizes":[784,60,10]"#],
        "sigmoid neurons, cross-entropy cost",
    );
    // More data, monitors and a metrics file.
    let dir = scratch("expand-metrics");
    let metrics = dir.join("run.json");
    let text = learns_with(
        "expand",
        &[
            "--expand",
            "--cost",
            "cross-entropy",
            "--init",
            "scaled",
            "--eta",
            "0.5",
            "--monitor",
            "train-cost,train-accuracy,validation-cost,validation-accuracy",
            "--metrics",
            s(&metrics),
        ],
        85.0,
        &[],
        "sigmoid neurons, cross-entropy cost",
    );
    assert!(
        text.contains("on 5,000 images") && text.contains("expanded ×5"),
        "{text}"
    );
    let epoch_line = text.lines().find(|l| l.starts_with("Epoch 1/3")).unwrap();
    for part in [
        "training cost",
        "training ",
        "validation cost",
        "validation ",
    ] {
        assert!(epoch_line.contains(part), "{epoch_line}");
    }
    let rows: Vec<serde_json::Value> =
        serde_json::from_str(&fs::read_to_string(&metrics).unwrap()).unwrap();
    assert_eq!(rows.len(), 3);
    for field in [
        "eta",
        "seconds",
        "test_accuracy",
        "training_cost",
        "training_accuracy",
        "validation_cost",
        "validation_accuracy",
    ] {
        assert!(rows[2][field].is_number(), "{field} in {}", rows[2]);
    }
    // Schedules: the validation set picks the model.
    let csv = dir.join("run.csv");
    let text = learns_with(
        "schedule",
        &[
            "--eta-schedule",
            "halve-on-plateau:1",
            "--early-stop",
            "2",
            "--metrics",
            s(&csv),
        ],
        80.0,
        &[],
        "sigmoid neurons, quadratic cost",
    );
    assert!(text.contains("Chosen on validation: epoch"), "{text}");
    let table = fs::read_to_string(&csv).unwrap();
    assert!(
        table.starts_with("epoch,eta,seconds,test_correct"),
        "{table}"
    );
    assert_eq!(
        table.lines().count(),
        1 + text.lines().filter(|l| l.starts_with("Epoch ")).count()
    );
}

#[test]
fn gradcheck_agrees_for_every_combination() {
    let out = nndl(&[
        "gradcheck",
        "--all",
        "--layers",
        "20,12,10",
        "--batch-size",
        "4",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let errors: Vec<f64> = text
        .lines()
        .filter_map(|l| l.split("max relative error: ").nth(1))
        .map(|rest| rest.split_whitespace().next().unwrap().parse().unwrap())
        .collect();
    assert_eq!(errors.len(), 12, "{text}");
    assert!(errors.iter().all(|&e| e < 1e-6), "{text}");
    assert!(text.contains("ratio"), "{text}");
}

#[test]
fn bad_learning_flags_are_usage_errors() {
    let dir = scratch("flags3");
    let model = dir.join("m.json");
    let o = s(&model);
    fails(
        &[
            "train",
            "--output",
            "softmax",
            "--cost",
            "quadratic",
            "--out",
            o,
        ],
        2,
        &["--cost", "softmax"],
    );
    fails(
        &["train", "--momentum", "1", "--out", o],
        2,
        &["--momentum"],
    );
    fails(
        &["train", "--dropout", "-0.1", "--out", o],
        2,
        &["--dropout"],
    );
    fails(&["train", "--lambda", "-1", "--out", o], 2, &["--lambda"]);
    fails(
        &["train", "--eta-schedule", "sometimes", "--out", o],
        2,
        &["--eta-schedule", "halve-on-plateau:N"],
    );
    fails(
        &["train", "--early-stop", "0", "--out", o],
        2,
        &["--early-stop"],
    );
    fails(
        &["train", "--monitor", "train-cost,vibes", "--out", o],
        2,
        &["--monitor", "vibes"],
    );
    fails(
        &["train", "--metrics", "run.txt", "--out", o],
        2,
        &["--metrics", ".csv or .json"],
    );
    fails(
        &["train", "--per-example", "--lambda", "1", "--out", o],
        2,
        &["--per-example"],
    );
    fails(
        &["train", "--activation", "swish", "--out", o],
        2,
        &["--activation"],
    );
    fails(&["train", "--init", "xavier", "--out", o], 2, &["--init"]);
    fails(
        &[
            "gradcheck",
            "--output",
            "softmax",
            "--cost",
            "cross-entropy",
        ],
        2,
        &["--cost"],
    );
}

#[test]
fn trains_in_any_directory_on_the_built_in_mnist() {
    let empty = scratch("anywhere");
    let out = run_in(
        &empty,
        &[],
        &[
            "train",
            "--epochs",
            "1",
            "--train-size",
            "2000",
            "--seed",
            "1",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains("[784, 30, 10]") && text.contains("on 2,000 images:"),
        "{text}"
    );
    // Two thousand images in one epoch: well above chance, on the real test set.
    assert!(percent_in(&text, "Epoch 1/1", "test") > 30.0, "{text}");
    assert!(text.contains("/ 10,000"), "{text}");
    let evaluated = run_in(&empty, &[], &["evaluate"]);
    assert!(evaluated.status.success(), "{}", stderr(&evaluated));
    assert_eq!(
        percent_after(&stdout(&evaluated), "test set"),
        percent_in(&text, "Epoch 1/1", "test")
    );
    let files: Vec<_> = fs::read_dir(&empty)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(files, vec!["model.json"]);
}

#[test]
fn nndl_data_and_data_choose_another_data_set() {
    let dir = scratch("elsewhere");
    let tiny = dir.join("tiny");
    tiny_data_set(&tiny);
    let train = ["train", "--epochs", "1", "--seed", "1", "-q"];
    // NNDL_DATA replaces the built-in MNIST: 16 pixels, 3 classes.
    let out = run_in(
        &dir,
        &[("NNDL_DATA", s(&tiny))],
        &["train", "--epochs", "1", "--seed", "1"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("Training [16, 30, 3]"),
        "{}",
        stdout(&out)
    );
    assert!(stdout(&out).contains(&format!("from {}", s(&tiny))));
    // --data wins over NNDL_DATA, even a bad one.
    let out = run_in(
        &dir,
        &[("NNDL_DATA", "/no/such/dir")],
        &[&train[..], &["--data", s(&tiny)]].concat(),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let out = run_in(&dir, &[("NNDL_DATA", s(&tiny))], &["evaluate"]);
    assert!(stdout(&out).contains("/ 12 ("), "{}", stdout(&out));
    // An empty NNDL_DATA is no NNDL_DATA: the built-in MNIST.
    let out = run_in(&dir, &[("NNDL_DATA", "")], &["evaluate"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("the model takes 16 inputs"),
        "{}",
        stderr(&out)
    );
    // A bad NNDL_DATA: one line naming it and what to do, exit 2.
    for (bad, what) in [
        (dir.join("none"), "no such data directory"),
        (
            dir.join("tiny/train-labels-idx1-ubyte.gz"),
            "not a directory",
        ),
    ] {
        for command in [&train[..], &["evaluate"]] {
            let out = run_in(&dir, &[("NNDL_DATA", s(&bad))], command);
            let err = stderr(&out);
            assert_eq!(out.status.code(), Some(2), "{err}");
            assert_eq!(err.trim_end().lines().count(), 1, "{err}");
            let named = format!("NNDL_DATA={}: {what}", s(&bad));
            assert!(
                err.contains(&named) && err.contains("unset NNDL_DATA"),
                "{err}"
            );
        }
    }
    // A directory without the files names the missing one.
    fs::remove_file(tiny.join("t10k-labels-idx1-ubyte.gz")).unwrap();
    let out = run_in(&dir, &[("NNDL_DATA", s(&tiny))], &train);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("t10k-labels-idx1-ubyte"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn completions_and_the_manual_page_name_every_subcommand() {
    for shell in ["bash", "zsh", "fish", "powershell", "elvish"] {
        let out = nndl(&["completions", shell]);
        assert!(out.status.success(), "{shell}: {}", stderr(&out));
        let script = stdout(&out);
        // Fish writes a flag as `-l eta`, the others as `--eta`.
        for name in [
            "train",
            "evaluate",
            "predict",
            "gradcheck",
            "eta",
            "batch-size",
        ] {
            assert!(script.contains(name), "{shell} script lacks {name}");
        }
    }
    fails(&["completions", "tcsh"], 2, &["tcsh", "bash"]);
    let out = nndl(&["manpage"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let roff = stdout(&out);
    assert!(
        roff.starts_with(".ie") || roff.contains(".TH nndl 1"),
        "{roff}"
    );
    for section in [
        "NNDL TRAIN",
        "NNDL EVALUATE",
        "NNDL PREDICT",
        "NNDL GRADCHECK",
        "NNDL_DATA",
    ] {
        assert!(roff.contains(section), "the manual page lacks {section}");
    }
}
