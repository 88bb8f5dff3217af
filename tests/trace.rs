//! `nndl trace` against an independent computation: z and a worked out
//! here, δ and the gradient from the book's `backprop`, and the gradient
//! again from the extrapolated finite differences of `gradcheck`.

mod common;

use ndarray::{Array1, Axis};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use nndl::cost::Output;
use nndl::{Activation, Cost, Network};

use common::*;

fn numbers(v: &serde_json::Value) -> Vec<f64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect()
}

#[test]
fn trace_json_is_the_books_backprop_and_eq_46() {
    let sizes = [3, 4, 2];
    let x = [0.9, -0.4, 0.25];
    for activation in Activation::ALL {
        for cost in Cost::ALL {
            let mut args = vec![
                "trace",
                "--layers",
                "3,4,2",
                "--seed",
                "7",
                "--activation",
                activation.name(),
                "--input",
                "0.9,-0.4,0.25",
                "--label",
                "1",
                "--json",
            ];
            match cost.output() {
                Output::Softmax => args.extend(["--output", "softmax"]),
                Output::Sigmoid => args.extend(["--cost", cost.name()]),
            }
            let out = nndl(&args);
            assert!(out.status.success(), "{args:?}: {}", stderr(&out));
            let json: serde_json::Value = serde_json::from_str(stdout(&out).trim()).unwrap();

            let mut net = Network::<f64>::new(&sizes, &mut ChaCha8Rng::seed_from_u64(7)).unwrap();
            net.activation = activation;
            net.cost = cost;
            let (x, y) = (Array1::from(x.to_vec()), Array1::from(vec![0.0, 1.0]));
            // Feedforward by hand: z = w a + b, a = f(z), softmax at the end.
            let mut a = x.clone();
            let layers = json["layers"].as_array().unwrap();
            assert_eq!(layers.len(), 2);
            for (i, layer) in layers.iter().enumerate() {
                let z = net.weights[i].dot(&a) + &net.biases[i];
                a = if i + 1 < 2 {
                    z.mapv(|z| activation.f(z))
                } else if cost.output() == Output::Softmax {
                    let e = z.mapv(f64::exp);
                    &e / e.sum()
                } else {
                    z.mapv(|z| Activation::Sigmoid.f(z))
                };
                assert_eq!(layer["l"], i + 2);
                for (p, q) in numbers(&layer["z"]).iter().zip(&z) {
                    assert!((p - q).abs() < 1e-12, "{activation} {cost}: z {p} vs {q}");
                }
                for (p, q) in numbers(&layer["a"]).iter().zip(&a) {
                    assert!((p - q).abs() < 1e-12, "{activation} {cost}: a {p} vs {q}");
                }
            }
            // δ, ∂C/∂b and ∂C/∂w: exactly the book's backprop.
            let (nabla_b, nabla_w) = net.backprop(x.view(), y.view());
            for (i, layer) in layers.iter().enumerate() {
                assert_eq!(numbers(&layer["nabla_b"]), nabla_b[i].to_vec());
                assert_eq!(numbers(&layer["delta"]), nabla_b[i].to_vec(), "BP3");
                let rows: Vec<Vec<f64>> = layer["nabla_w"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(numbers)
                    .collect();
                let book: Vec<Vec<f64>> =
                    nabla_w[i].rows().into_iter().map(|r| r.to_vec()).collect();
                assert_eq!(rows, book);
            }
            // And within eq. (46)'s own error of the extrapolated differences.
            let reference = nndl::gradcheck::numerical_gradient(
                &net,
                x.view().insert_axis(Axis(1)),
                y.view().insert_axis(Axis(1)),
            );
            let error = nndl::gradcheck::max_relative_error(&(nabla_b, nabla_w), &reference);
            assert!(error < 1e-6, "{activation} {cost}: {error}");
            let reported = json["finite_difference"]["max_relative_error"]
                .as_f64()
                .unwrap();
            assert!(reported < 1e-4, "{activation} {cost}: eq. (46) {reported}");
            // One forward pass per weight and bias, against backprop's two passes.
            let parameters = 4 * 3 + 4 + 2 * 4 + 2;
            assert_eq!(json["finite_difference"]["forward_passes"], parameters);
            assert_eq!(json["backprop"]["forward_passes"], 1);
            assert_eq!(json["backprop"]["backward_passes"], 1);
            let c = nndl::trace::cost_of(&net, x.view(), y.view());
            assert_eq!(json["cost"].as_f64().unwrap(), c);
        }
    }
}

#[test]
fn trace_text_walks_the_chapter_in_order() {
    let out = nndl(&["trace", "--input", "0.5,-1", "--target", "1,0"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let order = [
        "a¹ = x = [0.500000, -1.000000]",
        "z² = w² a¹ + b²",
        "a³ = σ(z³)",
        "C = ½‖a³ − y‖²",
        "BP1  δ³ = ∇_a C ⊙ σ'(z³)",
        "BP2  δ² = ((w³)ᵀ δ³) ⊙ σ'(z²)",
        "BP3  ∂C/∂b³ = δ³",
        "BP4  ∂C/∂w³_jk = a²_k δ³_j",
        "Eq. (46)",
        "eq. (46) 17 (one per weight and bias",
    ];
    let mut from = 0;
    for part in order {
        let at = text[from..]
            .find(part)
            .unwrap_or_else(|| panic!("{part:?} missing or out of order:\n{text}"));
        from += at + part.len();
    }
    // A model file and an image: the chapter's network on a digit.
    let dir = scratch("trace");
    let model = small_model(&dir, "m.json", 1000, 1);
    let out = nndl(&[
        "trace",
        s(&model),
        "--image",
        "data/examples/two.png",
        "--label",
        "2",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("784 values; the largest:"), "{text}");
    assert!(text.contains("30×784 entries; the largest:"), "{text}");
    assert!(
        text.contains("for each of the 23860 weights and biases"),
        "{text}"
    );
    // Inputs that do not fit: one line, exit 2.
    fails(
        &["trace", "--input", "1,2,3", "--label", "0"],
        2,
        &["--input", "3 values", "2 input"],
    );
    fails(
        &["trace", "--input", "1,2", "--label", "2"],
        2,
        &["--label 2", "2 outputs"],
    );
    fails(
        &["trace", "--input", "1,nan", "--label", "0"],
        2,
        &["--input", "nan"],
    );
    fails(&["trace", "--label", "0"], 2, &["--input"]);
    fails(
        &[
            "trace",
            s(&model),
            "--layers",
            "2,2",
            "--input",
            "1,2",
            "--label",
            "0",
        ],
        2,
        &["--layers"],
    );
}
