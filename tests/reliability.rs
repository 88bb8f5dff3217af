//! No run lost, no file trusted: signals, checkpoints and resume, the
//! choice of model, divergence, and hostile outputs and inputs, through the
//! binary.

mod common;

use std::fs;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

/// Every file in `dir` whose name is one nndl gives a temporary file.
fn temporaries(dir: &Path) -> Vec<String> {
    fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".nndl-"))
        .collect()
}

/// The metrics rows without their seconds column, which timing changes.
fn rows_without_seconds(path: &Path) -> Vec<String> {
    fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| {
            let mut fields: Vec<&str> = l.split(',').collect();
            fields.remove(2);
            fields.join(",")
        })
        .collect()
}

/// Runs `nndl train FLAGS` left alone, then again with a checkpoint,
/// sending `signal` once the line `Epoch 2/` is out; checks the interrupted
/// run's exit, message and files, resumes it, and checks the resumed run
/// wrote the same model and metrics as the run left alone.
fn interrupt_and_resume(name: &str, flags: &[&str], signal: &str, status: i32) {
    let dir = scratch(name);
    let (alone, alone_csv) = (dir.join("alone.json"), dir.join("alone.csv"));
    let mut args = vec!["train", "--out", s(&alone), "--metrics", s(&alone_csv)];
    args.extend_from_slice(flags);
    let out = nndl(&args);
    assert!(out.status.success(), "{}", stderr(&out));

    let (model, csv, checkpoint) = (
        dir.join("model.json"),
        dir.join("metrics.csv"),
        dir.join("run.ckpt"),
    );
    let curves = dir.join("curves.svg");
    let files = [
        "--out",
        s(&model),
        "--metrics",
        s(&csv),
        "--checkpoint",
        s(&checkpoint),
        "--plot",
        s(&curves),
    ];
    let mut child = Command::new(env!("CARGO_BIN_EXE_nndl"))
        .arg("train")
        .args(flags)
        .args(files)
        .env_remove("NNDL_DATA")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    for line in lines.by_ref() {
        if line.unwrap().starts_with("Epoch 2/") {
            break;
        }
    }
    let sent = Command::new("kill")
        .args([signal, &child.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
    let rest: Vec<String> = lines.map(|l| l.unwrap()).collect();
    let out = child.wait_with_output().unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(status), "{err}\n{rest:?}");
    let name = if signal == "-INT" {
        "SIGINT"
    } else {
        "SIGTERM"
    };
    assert!(
        err.contains(&format!("interrupted by {name} in epoch")),
        "{err}"
    );
    assert!(
        err.contains(&format!("--resume {}", s(&checkpoint))),
        "{err}"
    );
    assert!(temporaries(&dir).is_empty(), "{:?}", temporaries(&dir));
    // The curves are drawn at the interrupt, too.
    assert!(
        fs::read_to_string(&curves)
            .unwrap()
            .contains("Accuracy (%)")
    );
    // The model kept is loadable, and the checkpoint says how far it got.
    let evaluated = nndl(&["evaluate", s(&model)]);
    assert!(evaluated.status.success(), "{}", stderr(&evaluated));
    let saved: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(&checkpoint).unwrap()).unwrap();
    let epochs_done = saved["epoch"].as_u64().unwrap();
    assert!(epochs_done >= 2, "{epochs_done}");
    assert!(
        saved["stop"].is_null(),
        "the interrupted run did not finish"
    );

    let out = nndl(&[
        "train",
        "--resume",
        s(&checkpoint),
        "--out",
        s(&model),
        "--metrics",
        s(&csv),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains(&format!(
            "Resuming {} after epoch {epochs_done}",
            s(&checkpoint)
        )),
        "{}",
        stdout(&out)
    );
    assert!(
        fs::read(&model).unwrap() == fs::read(&alone).unwrap(),
        "{name}: the resumed run saved another model"
    );
    assert_eq!(rows_without_seconds(&csv), rows_without_seconds(&alone_csv));
}

#[test]
fn an_interrupted_run_resumes_into_the_run_left_alone() {
    // The chapter's network, stopped by Ctrl-C.
    interrupt_and_resume("sigint", &["--epochs", "12", "--seed", "4"], "-INT", 130);
    // Momentum's velocities, dropout's generator, a schedule and expanded
    // data, stopped by SIGTERM.
    interrupt_and_resume(
        "sigterm",
        &[
            "--hidden",
            "100",
            "--activation",
            "relu",
            "--output",
            "softmax",
            "--init",
            "he",
            "--momentum",
            "0.9",
            "--dropout",
            "0.3",
            "--eta",
            "0.05",
            "--batch-size",
            "20",
            "--expand",
            "--train-size",
            "6000",
            "--eta-schedule",
            "halve-on-plateau:1",
            "--epochs",
            "8",
            "--seed",
            "2",
        ],
        "-TERM",
        143,
    );
    // One example at a time, in f64.
    interrupt_and_resume(
        "per-example",
        &[
            "--per-example",
            "--precision",
            "f64",
            "--train-size",
            "8000",
            "--epochs",
            "8",
            "--seed",
            "5",
        ],
        "-INT",
        130,
    );
}

#[test]
fn resume_refuses_what_it_cannot_go_on_from() {
    let dir = scratch("refuse");
    let (checkpoint, model) = (dir.join("c.json"), dir.join("m.json"));
    let base = ["--train-size", "3000", "--epochs", "2", "--seed", "1", "-q"];
    let out = nndl(
        &[
            &["train", "--checkpoint", s(&checkpoint), "--out", s(&model)][..],
            &base,
        ]
        .concat(),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let finished = fs::read_to_string(&checkpoint).unwrap();
    fails(
        &["train", "--resume", s(&checkpoint), "--out", s(&model)],
        1,
        &["finished after epoch 2", "nothing to resume"],
    );
    // An unfinished run, as an interrupted one leaves it.
    let unfinished = finished.replace(r#""stop":"Epochs""#, r#""stop":null"#);
    assert_ne!(unfinished, finished);
    fs::write(&checkpoint, &unfinished).unwrap();
    // Another layout version.
    let other = dir.join("v2.json");
    fs::write(
        &other,
        unfinished.replace(r#""version":1"#, r#""version":2"#),
    )
    .unwrap();
    fails(
        &["train", "--resume", s(&other), "--out", s(&model)],
        1,
        &["v2.json", "layout version 2", "version 1 only"],
    );
    // Not a checkpoint at all: a model file.
    fails(
        &[
            "train",
            "--resume",
            s(&model),
            "--out",
            s(&dir.join("x.json")),
        ],
        1,
        &["m.json", "not an nndl checkpoint"],
    );
    // Another data set.
    let tiny = dir.join("tiny");
    tiny_data_set(&tiny);
    let out = run_in(
        &dir,
        &[("NNDL_DATA", s(&tiny))],
        &["train", "--resume", s(&checkpoint), "--out", s(&model)],
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("another data set"),
        "{}",
        stderr(&out)
    );
    // Settings come from the checkpoint.
    fails(
        &["train", "--resume", s(&checkpoint), "--eta", "0.5"],
        2,
        &["--resume", "--eta"],
    );
    // What it can go on from, it does.
    let out = nndl(&["train", "--resume", s(&checkpoint), "--out", s(&model)]);
    assert!(out.status.success(), "{}", stderr(&out));
}

#[test]
fn divergence_stops_the_run_and_keeps_the_last_finite_model() {
    let dir = scratch("diverge");
    let model = dir.join("m.json");
    // Linear neurons under softmax at this η blow up in epoch 3.
    let out = nndl(&[
        "train",
        "--activation",
        "linear",
        "--output",
        "softmax",
        "--eta",
        "0.32",
        "--train-size",
        "5000",
        "--epochs",
        "10",
        "--seed",
        "2",
        "--out",
        s(&model),
    ]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(
        err.contains("training diverged in epoch 3:") && err.contains("try a smaller --eta"),
        "{err}"
    );
    let text = stdout(&out);
    let kept = text
        .lines()
        .find_map(|l| l.strip_prefix("Kept epoch "))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(kept.starts_with('1') || kept.starts_with('2'), "{kept}");
    let json = fs::read_to_string(&model).unwrap();
    assert!(
        !json.contains("null") && !json.contains("NaN"),
        "a non-finite model"
    );
    assert!(nndl(&["evaluate", s(&model)]).status.success());

    // η so large that nothing is learnt: a warning, once.
    let out = nndl(&[
        "train",
        "--eta",
        "1e30",
        "--train-size",
        "2000",
        "--epochs",
        "4",
        "--seed",
        "1",
        "--out",
        s(&model),
        "-q",
    ]);
    assert!(out.status.success());
    let err = stderr(&out);
    assert_eq!(
        err.matches("warning: validation accuracy is still at chance after 3 epochs")
            .count(),
        1,
        "{err}"
    );
}

/// (validation correct, test %) of each epoch line.
fn epoch_lines(text: &str) -> Vec<(usize, f64)> {
    text.lines()
        .filter(|l| l.starts_with("Epoch "))
        .map(|l| {
            let after = l.split("validation ").nth(1).unwrap();
            let correct = after.split(" /").next().unwrap().replace(',', "");
            let prefix = l.split(':').next().unwrap();
            (correct.parse().unwrap(), percent_in(text, prefix, "test"))
        })
        .collect()
}

#[test]
fn the_model_is_chosen_on_validation_and_the_test_set_only_reports() {
    let dir = scratch("choice");
    let model = dir.join("m.json");
    let run = |keep: &str| {
        let out = nndl(&[
            "train",
            "--train-size",
            "3000",
            "--epochs",
            "8",
            "--seed",
            "3",
            "--eta",
            "6",
            "--keep",
            keep,
            "--out",
            s(&model),
        ]);
        assert!(out.status.success(), "{}", stderr(&out));
        let text = stdout(&out);
        let test_now = percent_after(&stdout(&nndl(&["evaluate", s(&model)])), "test set:");
        (text, test_now)
    };
    let (text, test_now) = run("best");
    let epochs = epoch_lines(&text);
    assert_eq!(epochs.len(), 8);
    let best = epochs.iter().map(|e| e.0).max().unwrap();
    let chosen = epochs.iter().position(|e| e.0 == best).unwrap();
    assert!(
        text.contains(&format!("Chosen on validation: epoch {},", chosen + 1)),
        "{text}"
    );
    assert_eq!(
        test_now, epochs[chosen].1,
        "the saved model is the chosen epoch's"
    );
    // The test set does not choose: the best test epoch is not always the chosen one.
    let (text, test_now) = run("last");
    assert!(text.contains("Kept the last epoch: epoch 8"), "{text}");
    assert!(text.contains("Saved epoch 8 to"), "{text}");
    assert_eq!(test_now, epoch_lines(&text)[7].1);
}

#[test]
fn outputs_are_checked_before_any_training() {
    let dir = scratch("outputs");
    let model = dir.join("model.json");
    fs::write(&model, "precious").unwrap();
    let quick = |extra: &[&str], code: i32, needles: &[&str]| {
        let start = Instant::now();
        let args = [
            &["train", "--train-size", "2000", "--epochs", "2"][..],
            extra,
        ]
        .concat();
        let out = nndl(&args);
        fails(&args, code, needles);
        assert!(
            !stdout(&out).contains("Epoch"),
            "trained before refusing: {args:?}"
        );
        assert!(start.elapsed() < Duration::from_secs(20));
    };
    // Devices, FIFOs and directories are refused and left as they were.
    quick(
        &["--out", "/dev/null"],
        1,
        &["/dev/null", "character device"],
    );
    use std::os::unix::fs::FileTypeExt;
    assert!(
        fs::metadata("/dev/null")
            .unwrap()
            .file_type()
            .is_char_device()
    );
    let fifo = dir.join("fifo");
    assert!(
        Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    quick(&["--out", s(&fifo)], 1, &["fifo", "a FIFO"]);
    quick(&["--checkpoint", s(&fifo)], 1, &["a FIFO"]);
    quick(&["--out", s(&dir)], 1, &["is a directory"]);
    // Two outputs, one file; --metrics over a model.
    let csv = dir.join("m.csv");
    quick(
        &["--out", s(&csv), "--metrics", s(&csv)],
        2,
        &["--metrics", "the same file as --out"],
    );
    quick(
        &[
            "--out",
            s(&dir.join("other.json")),
            "--metrics",
            s(&dir.join("./model.json")),
        ],
        1,
        &["model.json", "not a metrics file"],
    );
    quick(
        &[
            "--out",
            s(&model),
            "--checkpoint",
            s(&dir.join("sub/../model.json")),
        ],
        1,
        &["sub/../model.json"],
    );
    fs::create_dir(dir.join("sub")).unwrap();
    quick(
        &[
            "--out",
            s(&model),
            "--checkpoint",
            s(&dir.join("sub/../model.json")),
        ],
        2,
        &["the same file as --out"],
    );
    // Where nothing can be written: a directory that is missing, or in /proc.
    quick(
        &["--out", s(&dir.join("none/m.json"))],
        1,
        &["no directory"],
    );
    quick(
        &["--metrics", "/proc/m.csv"],
        1,
        &["/proc/m.csv", "cannot write in /proc"],
    );
    assert_eq!(fs::read_to_string(&model).unwrap(), "precious");
    assert!(temporaries(&dir).is_empty());
}

#[test]
fn saving_keeps_the_mode_follows_symlinks_and_clears_stale_temporaries() {
    use std::os::unix::fs::PermissionsExt;
    let dir = scratch("save");
    let real = dir.join("real.json");
    fs::write(&real, "old").unwrap();
    fs::set_permissions(&real, fs::Permissions::from_mode(0o640)).unwrap();
    let link = dir.join("link.json");
    std::os::unix::fs::symlink("real.json", &link).unwrap();
    // A temporary file of a dead nndl, and one of a live process (this one).
    let dead = dir.join(".real.json.nndl-4194303.tmp");
    let live = dir.join(format!(".real.json.nndl-{}.tmp", std::process::id()));
    fs::write(&dead, "stale").unwrap();
    fs::write(&live, "in use").unwrap();
    let out = nndl(&[
        "train",
        "--train-size",
        "1000",
        "--epochs",
        "1",
        "--out",
        s(&link),
        "-q",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink()
    );
    let model = fs::read_to_string(&real).unwrap();
    assert!(model.starts_with(r#"{"sizes":[784,30,10]"#), "{model:.40}");
    assert_eq!(
        fs::metadata(&real).unwrap().permissions().mode() & 0o777,
        0o640
    );
    assert!(!dead.exists(), "a dead process's temporary file stays");
    assert!(live.exists(), "a live process's temporary file was removed");
}

/// A model file whose text is `json`.
fn model_file(dir: &Path, name: &str, json: &str) -> String {
    let path = dir.join(name);
    fs::write(&path, json).unwrap();
    path.to_string_lossy().into_owned()
}

#[test]
fn model_inputs_are_checked_against_what_they_claim() {
    let dir = scratch("models");
    let digit = "data/examples/two.png";
    // Not regular files: refused before reading, in little memory.
    let out = nndl_within(512, &["predict", "/dev/zero", digit]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("/dev/zero: is a character device"),
        "{}",
        stderr(&out)
    );
    fails(&["evaluate", s(&dir)], 1, &["is a directory"]);
    // Too large: a sparse file past the cap, refused by its size.
    let huge = dir.join("huge.json");
    let file = fs::File::create(&huge).unwrap();
    file.set_len(nndl::files::MAX_READ + 1).unwrap();
    fails(
        &["predict", s(&huge), digit],
        1,
        &["huge.json", "at most 1 GB"],
    );
    // A number beyond f32's range in an f32 model.
    let small = r#"{"sizes":[784,1],"weights":[[[WEIGHTS]]],"biases":[[[0.0]]],"cost":"QuadraticCost","precision":"PRECISION"}"#;
    let weights = |first: &str| {
        std::iter::once(first.to_string())
            .chain(std::iter::repeat_n("0.0".to_string(), 783))
            .collect::<Vec<_>>()
            .join(",")
    };
    let f32_model = small
        .replace("WEIGHTS", &weights("1e39"))
        .replace("PRECISION", "f32");
    let path = model_file(&dir, "wide.json", &f32_model);
    fails(
        &["predict", &path, digit],
        1,
        &["wide.json", "1e39", "beyond the range of f32"],
    );
    // In f64 it is an ordinary number; with a byte-order mark, too.
    let f64_model = f32_model.replace(r#""precision":"f32""#, r#""precision":"f64""#);
    let path = model_file(&dir, "bom.json", &format!("\u{feff}{f64_model}"));
    let out = nndl(&["predict", &path, digit, "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains(r#""activations":["#));
}

#[test]
fn data_inputs_are_checked_against_what_they_claim() {
    let dir = scratch("data");
    let tiny = dir.join("tiny");
    tiny_data_set(&tiny);
    let train = |data: &Path| {
        run_in(
            &dir,
            &[],
            &[
                "train",
                "--data",
                s(data),
                "--epochs",
                "1",
                "--out",
                s(&dir.join("m.json")),
            ],
        )
    };
    let header = |name: &str, magic: u32, dims: &[u32], payload: &[u8]| {
        let bad = dir.join(name);
        let _ = fs::remove_dir_all(&bad);
        tiny_data_set(&bad);
        let file = if magic == 0x803 {
            "t10k-images-idx3-ubyte.gz"
        } else {
            "t10k-labels-idx1-ubyte.gz"
        };
        write_idx(&bad.join(file), magic, dims, payload);
        bad
    };
    // Images of 4096 × 4096: refused from the header.
    let bad = header("side", 0x803, &[1, 4096, 4096], &[]);
    let out = train(&bad);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("4096×4096 pixels: nndl takes sides of 1 to 1024"),
        "{}",
        stderr(&out)
    );
    // Four billion images claimed (3 TB): refused from the header, quickly
    // and in little memory.
    let bad = header("count", 0x803, &[4_000_000_000, 28, 28], &[0; 1000]);
    let start = Instant::now();
    let out = nndl_within(
        1024,
        &["train", "--data", s(&bad), "--out", s(&dir.join("m.json"))],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("claims 4000000000 images of 28×28"),
        "{}",
        stderr(&out)
    );
    assert!(start.elapsed() < Duration::from_secs(10));
    // An empty test set.
    let bad = header("empty", 0x803, &[0, 4, 4], &[]);
    write_idx(&bad.join("t10k-labels-idx1-ubyte.gz"), 0x801, &[0], &[]);
    let out = train(&bad);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("the test set is empty"),
        "{}",
        stderr(&out)
    );
    // A label of 200: 201 outputs, and a warning that 197 classes are empty.
    let labelled = dir.join("labelled");
    tiny_data_set(&labelled);
    let mut labels: Vec<u8> = (0..60).map(|i| (i % 3) as u8).collect();
    labels[7] = 200;
    let images: Vec<u8> = (0..60 * 16).map(|i| (i % 256) as u8).collect();
    write_idx(
        &labelled.join("train-images-idx3-ubyte.gz"),
        0x803,
        &[60, 4, 4],
        &images,
    );
    write_idx(
        &labelled.join("train-labels-idx1-ubyte.gz"),
        0x801,
        &[60],
        &labels,
    );
    let out = train(&labelled);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("Training [16, 30, 201]"),
        "{}",
        stdout(&out)
    );
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("warning: no training image has label 3, 4, 5, 6 … 199 (197 classes)"),
        "{err}"
    );
    // Several gzip members, as `cat a.gz b.gz` makes: read as one file.
    let members = dir.join("members");
    fs::create_dir_all(&members).unwrap();
    for f in [
        "train-images-idx3-ubyte",
        "train-labels-idx1-ubyte",
        "t10k-labels-idx1-ubyte",
    ] {
        fs::copy(
            tiny.join(format!("{f}.gz")),
            members.join(format!("{f}.gz")),
        )
        .unwrap();
    }
    let whole = flate2::read::GzDecoder::new(
        fs::File::open(tiny.join("t10k-images-idx3-ubyte.gz")).unwrap(),
    );
    let mut bytes = Vec::new();
    std::io::Read::read_to_end(&mut std::io::BufReader::new(whole), &mut bytes).unwrap();
    let mut joined = Vec::new();
    for part in [&bytes[..100], &bytes[100..]] {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut gz, part).unwrap();
        joined.extend(gz.finish().unwrap());
    }
    fs::write(members.join("t10k-images-idx3-ubyte.gz"), joined).unwrap();
    let out = train(&members);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("/ 12 ("), "{}", stdout(&out));
}

/// Writes a PNG of `side` × `side` grey pixels, white with a dark bar,
/// row by row, so the test never holds the image.
fn big_png(path: &Path, side: u32) {
    use std::io::Write;
    let chunk = |out: &mut Vec<u8>, kind: &[u8], data: &[u8]| {
        out.extend((data.len() as u32).to_be_bytes());
        let mut crc = flate2::Crc::new();
        crc.update(kind);
        crc.update(data);
        out.extend(kind);
        out.extend(data);
        out.extend(crc.sum().to_be_bytes());
    };
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut header = side.to_be_bytes().repeat(2);
    header.extend([8, 0, 0, 0, 0]);
    chunk(&mut png, b"IHDR", &header);
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
    let side = side as usize;
    // Each row starts with its filter byte, 0.
    let (mut white, mut inked) = (vec![255u8; side + 1], vec![255u8; side + 1]);
    white[0] = 0;
    inked[0] = 0;
    inked[1 + side * 3 / 8..1 + side * 5 / 8].fill(0);
    for y in 0..side {
        let ink = (side / 5..side * 4 / 5).contains(&y);
        z.write_all(if ink { &inked } else { &white }).unwrap();
    }
    chunk(&mut png, b"IDAT", &z.finish().unwrap());
    chunk(&mut png, b"IEND", &[]);
    fs::write(path, png).unwrap();
}

#[test]
fn a_huge_picture_is_reduced_as_it_is_read() {
    let dir = scratch("picture");
    let (model, picture) = (small_model(&dir, "m.json", 2000, 1), dir.join("big.png"));
    // 16,384² grey pixels: 256 MiB decoded, the most nndl decodes; a grey
    // copy of it in f64 would take 2 GiB more.
    big_png(&picture, 16_384);
    let start = Instant::now();
    let out = nndl_within(768, &["predict", s(&model), s(&picture), "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).starts_with(r#"{"prediction":"#),
        "{}",
        stdout(&out)
    );
    assert!(start.elapsed() < Duration::from_secs(30));
}
