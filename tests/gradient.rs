//! Backpropagation (BP1–BP4) against the finite-difference gradient of
//! eq. (46), and the matrix-based mini-batch against the per-example loop.

use ndarray::{Array2, ArrayView2};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

use nndl::gradcheck::{max_relative_error, numerical_gradient};
use nndl::network::Gradient;
use nndl::{Activation, Cost, Network, Rule, Trainer};

/// A random network and mini-batch: inputs in [0, 1], targets one-hot.
fn setup(sizes: &[usize], m: usize, seed: u64) -> (Network<f64>, Array2<f64>, Array2<f64>) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let net = Network::new(sizes, &mut rng).unwrap();
    let x = Array2::from_shape_fn((sizes[0], m), |_| rng.random::<f64>());
    let n_out = sizes[sizes.len() - 1];
    let labels: Vec<usize> = (0..m).map(|_| rng.random_range(0..n_out)).collect();
    let y = Array2::from_shape_fn((n_out, m), |(j, i)| if labels[i] == j { 1.0 } else { 0.0 });
    (net, x, y)
}

fn sum_per_example(net: &Network<f64>, x: ArrayView2<f64>, y: ArrayView2<f64>) -> Gradient<f64> {
    let mut total: Option<Gradient<f64>> = None;
    for (xc, yc) in x.columns().into_iter().zip(y.columns()) {
        let (nb, nw) = net.backprop(xc, yc);
        total = Some(match total {
            None => (nb, nw),
            Some((tb, tw)) => (
                tb.into_iter().zip(nb).map(|(a, b)| a + b).collect(),
                tw.into_iter().zip(nw).map(|(a, b)| a + b).collect(),
            ),
        });
    }
    total.expect("a non-empty batch")
}

#[test]
fn backprop_matches_finite_differences_on_one_example() {
    let (net, x, y) = setup(&[5, 4, 3], 1, 11);
    let analytic = net.backprop(x.column(0), y.column(0));
    let numeric = numerical_gradient(&net, x.view(), y.view());
    let err = max_relative_error(&analytic, &numeric);
    println!("[5, 4, 3], one example: max relative error {err:.2e}");
    assert!(err < 1e-6, "max relative error {err:e}");
}

#[test]
fn every_cost_and_neuron_matches_finite_differences() {
    for cost in Cost::ALL {
        for activation in Activation::ALL {
            let (mut net, x, y) = setup(&[5, 4, 4, 3], 6, 23);
            net.cost = cost;
            net.activation = activation;
            let numeric = numerical_gradient(&net, x.view(), y.view());
            let batch = net.backprop_batch(x.view(), y.view());
            let looped = sum_per_example(&net, x.view(), y.view());
            let err_batch = max_relative_error(&batch, &numeric);
            let err_loop = max_relative_error(&looped, &numeric);
            println!("{cost} / {activation}: matrix {err_batch:.2e}, per example {err_loop:.2e}");
            assert!(
                err_batch < 1e-6,
                "{cost}/{activation}: matrix-based, max relative error {err_batch:e}"
            );
            assert!(
                err_loop < 1e-6,
                "{cost}/{activation}: per example, max relative error {err_loop:e}"
            );
        }
    }
}

#[test]
fn matrix_based_mini_batch_equals_the_per_example_sum() {
    let (net, x, y) = setup(&[30, 20, 10], 17, 5);
    let batch = net.backprop_batch(x.view(), y.view());
    let looped = sum_per_example(&net, x.view(), y.view());
    let err = max_relative_error(&batch, &looped);
    assert!(err < 1e-12, "max relative error {err:e}");
}

#[test]
fn update_steps_against_the_mean_gradient() {
    // w → w − (η/m) Σ_x ∂C_x/∂w, b likewise, by both paths.
    let (net, x, y) = setup(&[6, 5, 3], 4, 9);
    let eta = 0.7;
    let (nabla_b, nabla_w) = net.backprop_batch(x.view(), y.view());
    let mut matrix = net.clone();
    matrix.update_mini_batch(x.view(), y.view(), eta);
    let mut looped = net.clone();
    looped.update_mini_batch_per_example(x.view(), y.view(), eta);
    for l in 0..2 {
        let expected_w = &net.weights[l] - &(&nabla_w[l] * (eta / 4.0));
        let expected_b = &net.biases[l] - &(&nabla_b[l] * (eta / 4.0));
        for (got, want) in [(&matrix, &expected_w), (&looped, &expected_w)] {
            let diff = (&got.weights[l] - want)
                .mapv(f64::abs)
                .fold(0.0, |a: f64, &b| a.max(b));
            assert!(diff < 1e-12, "layer {}: weights off by {diff:e}", l + 2);
        }
        for got in [&matrix, &looped] {
            let diff = (&got.biases[l] - &expected_b)
                .mapv(f64::abs)
                .fold(0.0, |a: f64, &b| a.max(b));
            assert!(diff < 1e-12, "layer {}: biases off by {diff:e}", l + 2);
        }
        assert!(
            matrix.weights[l] != net.weights[l],
            "the step moved nothing"
        );
    }
}

#[test]
fn inputs_mostly_zero_step_as_the_mean_gradient() {
    // The engine trains small first layers on their nonzero inputs only:
    // with four inputs in five zero, as in MNIST, its step is still the
    // chapter's, in f64 and in f32.
    let (net, x, y) = setup(&[40, 24, 5], 7, 21);
    let x = x.mapv(|v| if v < 0.8 { 0.0 } else { v });
    let eta = 1.5;
    let (nabla_b, nabla_w) = net.backprop_batch(x.view(), y.view());
    let mut stepped = net.clone();
    Trainer::new(&net.sizes, 7, 1).step(&mut stepped, x.view(), y.view(), &Rule::sgd(eta));
    let mut narrow = net.cast::<f32>();
    Trainer::new(&net.sizes, 7, 1).step(
        &mut narrow,
        x.mapv(|v| v as f32).view(),
        y.mapv(|v| v as f32).view(),
        &Rule::sgd(eta as f32),
    );
    let narrow = narrow.cast::<f64>();
    for l in 0..2 {
        let expected_w = &net.weights[l] - &(&nabla_w[l] * (eta / 7.0));
        let expected_b = &net.biases[l] - &(&nabla_b[l] * (eta / 7.0));
        let off = |a: &Array2<f64>| {
            (a - &expected_w)
                .mapv(f64::abs)
                .fold(0.0f64, |m, &d| m.max(d))
        };
        assert!(
            off(&stepped.weights[l]) < 1e-12,
            "layer {}: weights off",
            l + 2
        );
        assert!(
            off(&narrow.weights[l]) < 1e-5,
            "layer {}: f32 weights off",
            l + 2
        );
        let b_off = (&stepped.biases[l] - &expected_b)
            .mapv(f64::abs)
            .fold(0.0f64, |m, &d| m.max(d));
        assert!(b_off < 1e-12, "layer {}: biases off", l + 2);
        assert!(
            stepped.weights[l] != net.weights[l],
            "the step moved nothing"
        );
    }
}

#[test]
fn a_step_lowers_the_cost_for_a_small_eta() {
    let (mut net, x, y) = setup(&[8, 6, 4], 10, 3);
    let before = net.total_cost(x.view(), y.view());
    net.update_mini_batch(x.view(), y.view(), 0.05);
    let after = net.total_cost(x.view(), y.view());
    assert!(after < before, "cost went from {before} to {after}");
}

#[test]
fn f32_update_follows_the_f64_update() {
    // The engine's f32 path (SIMD kernels where the processor has them)
    // takes the book's f64 step, to f32 rounding.
    let (net, x, y) = setup(&[784, 30, 10], 10, 13);
    let x = x.mapv(|v| (v * 255.0).round() / 255.0);
    let mut wide = net.clone();
    wide.update_mini_batch(x.view(), y.view(), 3.0);
    let mut narrow = net.cast::<f32>();
    Trainer::new(&net.sizes, 10, 2).step(
        &mut narrow,
        x.mapv(|v| v as f32).view(),
        y.mapv(|v| v as f32).view(),
        &Rule::sgd(3.0),
    );
    let narrow = narrow.cast::<f64>();
    let start = net.cast::<f32>().cast::<f64>();
    for l in 0..2 {
        let moved = (&wide.weights[l] - &start.weights[l])
            .mapv(f64::abs)
            .fold(0.0f64, |a, &b| a.max(b));
        let diff = (&narrow.weights[l] - &wide.weights[l])
            .mapv(f64::abs)
            .fold(0.0f64, |a, &b| a.max(b));
        assert!(moved > 1e-3, "layer {}: the step moved nothing", l + 2);
        assert!(
            diff < 1e-4,
            "layer {}: f32 weights off by {diff:e} (step size {moved:e})",
            l + 2
        );
    }
}

/// `nndl gradcheck` on the chapter's own networks: the book's and the
/// engine's gradients agree with eq. (46) to 1e-6 for every neuron, cost
/// and output layer, over several seeds (seed 1 on [784, 30, 10] once
/// raised a false alarm at 2.5e-6).
fn chapter_networks_pass_gradcheck(sizes: &[usize], seeds: std::ops::RangeInclusive<u64>) {
    for seed in seeds {
        for activation in Activation::ALL {
            for cost in Cost::ALL {
                let check = nndl::gradcheck::check(sizes, activation, cost, 10, seed).unwrap();
                let worst = check
                    .max_relative_error
                    .max(check.engine_max_relative_error);
                assert!(
                    worst < 1e-6,
                    "{sizes:?} seed {seed} {activation} {cost}: {check:?}"
                );
            }
        }
    }
}

#[test]
fn gradcheck_passes_on_784_30_10() {
    chapter_networks_pass_gradcheck(&[784, 30, 10], 1..=3);
}

#[test]
fn gradcheck_passes_on_784_100_10() {
    chapter_networks_pass_gradcheck(&[784, 100, 10], 1..=2);
}

/// A wide first layer on sparse input trains through the lit inputs, its
/// tiles shared among the threads ([400, 400, 10] at m = 10 is large
/// enough): the engine's gradient there is the
/// book's, on 1–4 threads, and agrees with eq. (46) on a sample of weights
/// and biases of both layers (including weights of inputs that are zero in
/// every example, whose gradient is exactly 0).
#[test]
fn wide_sparse_gradient_matches_the_book_and_finite_differences() {
    let sizes = [400, 400, 10];
    let m = 10;
    for (activation, cost) in [
        (Activation::Relu, Cost::LogLikelihood),
        (Activation::Sigmoid, Cost::CrossEntropy),
    ] {
        let (mut net, x, y) = setup(&sizes, m, 31);
        net.activation = activation;
        net.cost = cost;
        // Four inputs in five zero; the last 20 inputs zero everywhere.
        let x = Array2::from_shape_fn(x.dim(), |(k, i)| {
            let v = x[[k, i]];
            if v < 0.8 || k >= 380 {
                0.0
            } else {
                (v - 0.8) * 5.0
            }
        });
        let (book_b, book_w) = net.backprop_batch(x.view(), y.view());
        let largest = |s: f64, v: &f64| s.max(v.abs());
        let scale = book_w.iter().flatten().fold(0.0f64, largest);
        let scale = book_b.iter().flatten().fold(scale, largest);
        for threads in [1, 2, 4] {
            let (nabla_b, nabla_w) =
                Trainer::new(&sizes, m, threads).gradient(&net, x.view(), y.view());
            for l in 0..2 {
                let off_w = (&nabla_w[l] - &book_w[l])
                    .mapv(f64::abs)
                    .fold(0.0f64, |a, &b| a.max(b));
                let off_b = (&nabla_b[l] - &book_b[l])
                    .mapv(f64::abs)
                    .fold(0.0f64, |a, &b| a.max(b));
                assert!(
                    off_w.max(off_b) < 1e-12 * scale,
                    "{activation} {cost}, {threads} threads, layer {}: off by {:e}",
                    l + 2,
                    off_w.max(off_b)
                );
            }
            for k in 380..400 {
                assert!(nabla_w[0].column(k).iter().all(|&g| g == 0.0));
            }
            // Eq. (46), centred, on a sample of parameters: ε = 1e-5 keeps
            // the rounding of C (about 1e-16 · C / ε) far below the bound.
            let cost_at = |net: &Network<f64>| net.total_cost(x.view(), y.view());
            let eps = 1e-5;
            let close = |analytic: f64, numeric: f64| {
                (numeric - analytic).abs() <= 1e-6 * analytic.abs().max(1e-2)
            };
            let mut rng = ChaCha8Rng::seed_from_u64(threads as u64);
            for _ in 0..40 {
                let l = rng.random_range(0..2);
                let (rows, cols) = net.weights[l].dim();
                let (j, k) = (rng.random_range(0..rows), rng.random_range(0..cols));
                let mut plus = net.clone();
                let mut minus = net.clone();
                plus.weights[l][[j, k]] += eps;
                minus.weights[l][[j, k]] -= eps;
                let numeric = (cost_at(&plus) - cost_at(&minus)) / (2.0 * eps);
                let analytic = nabla_w[l][[j, k]];
                assert!(
                    close(analytic, numeric),
                    "w[{l}][{j},{k}]: {analytic} vs {numeric}"
                );
                let mut plus = net.clone();
                let mut minus = net.clone();
                plus.biases[l][j] += eps;
                minus.biases[l][j] -= eps;
                let numeric = (cost_at(&plus) - cost_at(&minus)) / (2.0 * eps);
                let analytic = nabla_b[l][j];
                assert!(
                    close(analytic, numeric),
                    "b[{l}][{j}]: {analytic} vs {numeric}"
                );
            }
        }
    }
}
