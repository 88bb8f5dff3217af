//! Chapter 3's update rules on hand-computed steps, and the validation-driven
//! schedules on a real run.

use std::path::Path;

use ndarray::{Array1, Array2};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use nndl::rules::Velocity;
use nndl::train::{Silent, Stop};
use nndl::{Cost, Network, Rule, TrainConfig, Trainer, load_mnist};

fn tiny() -> (Network<f64>, Array2<f64>, Array2<f64>) {
    let mut net = Network::<f64>::new(&[3, 2], &mut ChaCha8Rng::seed_from_u64(21)).unwrap();
    net.cost = Cost::CrossEntropy;
    let x = ndarray::array![[0.2, 0.9], [0.5, 0.1], [1.0, 0.4]];
    let y = ndarray::array![[1.0, 0.0], [0.0, 1.0]];
    (net, x, y)
}

fn max_diff<D: ndarray::Dimension>(a: &ndarray::Array<f64, D>, b: &ndarray::Array<f64, D>) -> f64 {
    (a - b).iter().fold(0.0f64, |m, d| m.max(d.abs()))
}

#[test]
fn l2_decays_the_weights_not_the_biases() {
    // w → (1 − ηλ/n) w − (η/m) Σ ∇w,  b → b − (η/m) Σ ∇b.
    let (net, x, y) = tiny();
    let (eta, lambda, n, m) = (0.5, 4.0, 100.0, 2.0);
    let (nabla_b, nabla_w) = net.backprop_batch(x.view(), y.view());
    let want_w: Array2<f64> = &net.weights[0] * (1.0 - eta * lambda / n) - &nabla_w[0] * (eta / m);
    let want_b: Array1<f64> = &net.biases[0] - &nabla_b[0] * (eta / m);

    let rule = Rule {
        decay: eta * lambda / n,
        ..Rule::sgd(eta)
    };
    // The engine and the book's rule.
    let mut got = net.clone();
    Trainer::new(&net.sizes, 2, 1).step(&mut got, x.view(), y.view(), &rule);
    let mut book = net.clone();
    let mut velocity = Velocity::zeros(&net);
    book.update_mini_batch_by(x.view(), y.view(), &rule, &mut velocity, &[]);
    for got in [got, book] {
        assert!(
            max_diff(&got.weights[0], &want_w) < 1e-14,
            "{} vs {}",
            got.weights[0],
            want_w
        );
        assert!(max_diff(&got.biases[0], &want_b) < 1e-14);
    }
}

#[test]
fn momentum_carries_velocity_between_steps() {
    // v → μv − (η/m) Σ ∇w − (ηλ/n) w,  w → w + v; biases alike without decay.
    let (net, x, y) = tiny();
    let (eta, mu, decay, m) = (0.5, 0.9, 0.01, 2.0);
    let rule = Rule {
        momentum: mu,
        decay,
        ..Rule::sgd(eta)
    };
    let mut got = net.clone();
    let mut ws = Trainer::new(&net.sizes, 2, 1);
    let mut book = net.clone();
    let mut velocity = Velocity::zeros(&net);
    let mut want = net.clone();
    let mut v_w = Array2::<f64>::zeros(net.weights[0].raw_dim());
    let mut v_b = Array1::<f64>::zeros(net.biases[0].raw_dim());
    for step in 1..=3 {
        let (nabla_b, nabla_w) = want.backprop_batch(x.view(), y.view());
        v_w = &v_w * mu - &nabla_w[0] * (eta / m) - &want.weights[0] * decay;
        v_b = &v_b * mu - &nabla_b[0] * (eta / m);
        want.weights[0] = &want.weights[0] + &v_w;
        want.biases[0] = &want.biases[0] + &v_b;
        ws.step(&mut got, x.view(), y.view(), &rule);
        book.update_mini_batch_by(x.view(), y.view(), &rule, &mut velocity, &[]);
        for got in [&got, &book] {
            assert!(
                max_diff(&got.weights[0], &want.weights[0]) < 1e-13,
                "step {step}: weights"
            );
            assert!(
                max_diff(&got.biases[0], &want.biases[0]) < 1e-13,
                "step {step}: biases"
            );
        }
    }
    // The velocity made the third step longer than a plain one would be.
    assert!(max_diff(&got.weights[0], &net.weights[0]) > 0.0);
}

#[test]
fn dropout_zeroes_some_hidden_neurons_and_keeps_the_rest_unbiased() {
    // With p = 0.5 a step differs from the plain one; with p = 0 it does not.
    let mut net = Network::<f64>::new(&[4, 50, 2], &mut ChaCha8Rng::seed_from_u64(3)).unwrap();
    net.cost = Cost::CrossEntropy;
    let x = Array2::from_shape_fn((4, 2), |(i, j)| ((i + j) % 3) as f64 / 2.0 + 0.1);
    let y = Array2::from_shape_fn((2, 2), |(i, j)| ((i + j) % 2) as f64);
    let step = |p: f64, seed: u64| {
        let mut n = net.clone();
        let mut ws = Trainer::new(&net.sizes, 2, 1);
        ws.seed_dropout(seed);
        let rule = Rule {
            dropout: p,
            ..Rule::sgd(0.5)
        };
        ws.step(&mut n, x.view(), y.view(), &rule);
        n
    };
    let plain = {
        let mut n = net.clone();
        n.update_mini_batch(x.view(), y.view(), 0.5);
        n
    };
    let no_dropout = step(0.0, 1);
    for (w, w_plain) in no_dropout.weights.iter().zip(&plain.weights) {
        assert!(max_diff(w, w_plain) < 1e-14);
    }
    let dropped = step(0.5, 1);
    assert_ne!(dropped, plain);
    assert_eq!(dropped, step(0.5, 1), "the same seed draws the same masks");
    // A hidden neuron dropped for both examples gets no gradient at all:
    // each of the 50 is, with chance 1/4, so some rows of w² are untouched.
    let untouched = (0..50)
        .filter(|&j| dropped.weights[0].row(j) == net.weights[0].row(j))
        .count();
    assert!(
        untouched > 0 && untouched < 50,
        "{untouched} rows untouched"
    );
}

#[test]
fn early_stopping_and_the_eta_schedule_act_on_validation_plateaus() {
    let mnist = load_mnist(Path::new("data/mnist")).unwrap();
    let training = mnist.training.slice(0..1000);
    let validation = mnist.validation.slice(0..2000);
    let test = mnist.test.slice(0..2000);

    // Early stopping: stop after 2 epochs without a better validation accuracy.
    let config = TrainConfig {
        epochs: 50,
        early_stop: Some(2),
        ..TrainConfig::chapter(7)
    };
    let outcome = nndl::train::<f32>(&config, &training, &validation, &test, &mut Silent).unwrap();
    let accuracies: Vec<usize> = outcome
        .history
        .iter()
        .map(|r| r.validation_accuracy.expect("validation scored").0)
        .collect();
    assert_eq!(outcome.stop, Stop::EarlyStop, "{accuracies:?}");
    let last = accuracies.len();
    let best_before = *accuracies[..last - 2].iter().max().unwrap();
    assert!(
        accuracies[last - 2..].iter().all(|&a| a <= best_before),
        "{accuracies:?}"
    );
    let best = accuracies.iter().position(|&a| a == best_before).unwrap() + 1;
    assert_eq!(
        outcome.best_epoch, best,
        "the saved model is the best on validation"
    );
    assert_eq!(outcome.best.evaluate(&validation), best_before);
    // Every earlier stretch of two epochs had an improvement.
    let mut running = 0;
    let mut since = 0;
    for &a in &accuracies[..last - 2] {
        if a > running || running == 0 {
            running = a;
            since = 0;
        } else {
            since += 1;
        }
        assert!(since < 2, "{accuracies:?}");
    }

    // The schedule: η halves after each epoch without improvement, and the
    // run stops when it would fall to η₀/128.
    let config = TrainConfig {
        epochs: 200,
        halve_on_plateau: Some(1),
        ..TrainConfig::chapter(7)
    };
    let outcome = nndl::train::<f32>(&config, &training, &validation, &test, &mut Silent).unwrap();
    assert_eq!(outcome.stop, Stop::EtaFloor);
    let mut best_so_far = 0;
    for pair in outcome.history.windows(2) {
        let (before, after) = (&pair[0], &pair[1]);
        let score = before.validation_accuracy.unwrap().0;
        let improved = score > best_so_far;
        best_so_far = best_so_far.max(score);
        let want = if improved {
            before.eta
        } else {
            before.eta / 2.0
        };
        assert_eq!(after.eta, want, "epoch {}", after.epoch);
    }
    let last = outcome.history.last().unwrap();
    assert_eq!(last.eta, 3.0 / 64.0, "the last epoch ran at η₀/64");
}
