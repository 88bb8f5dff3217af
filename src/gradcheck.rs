//! The reference gradient: finite differences (eq. 46), one weight at a time.
//!
//! Eq. (46) is the one-sided difference (C(w + εe_j) − C(w))/ε. To make an
//! exact reference we use the seven-point central difference of the same
//! idea, whose error is O(ε⁶) instead of O(ε): six cost evaluations per
//! weight, each a full forward pass, which is why backpropagation wins.

use std::time::Instant;

use ndarray::{Array1, Array2, ArrayView2};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::activation::Activation;
use crate::cost::Cost;
use crate::error::Error;

use crate::init::Init;
use crate::network::{Gradient, Network};

/// Step for the seven-point difference: rounding error ~1e-16·C/ε and
/// truncation ~ε⁶ balance near 1e-2.
pub const EPSILON: f64 = 1e-2;

/// ∂C/∂b and ∂C/∂w by finite differences of C = Σ_x C_x over the batch
/// (`x` (n_1, m), `y` (n_L, m)), as `backprop_batch` sums them.
pub fn numerical_gradient(
    net: &Network<f64>,
    x: ArrayView2<f64>,
    y: ArrayView2<f64>,
) -> Gradient<f64> {
    let mut probe = net.clone();
    let mut nabla_b: Vec<Array1<f64>> = Vec::new();
    let mut nabla_w: Vec<Array2<f64>> = Vec::new();
    for i in 0..net.weights.len() {
        let mut nb = Array1::zeros(net.biases[i].raw_dim());
        for j in 0..nb.len() {
            nb[j] = derivative(&mut probe, x, y, |n| &mut n.biases[i][j]);
        }
        nabla_b.push(nb);
        let mut nw = Array2::zeros(net.weights[i].raw_dim());
        for (j, k) in ndarray::indices(nw.raw_dim()) {
            nw[[j, k]] = derivative(&mut probe, x, y, |n| &mut n.weights[i][[j, k]]);
        }
        nabla_w.push(nw);
    }
    (nabla_b, nabla_w)
}

/// dC/dθ for the parameter `param` picks, restored afterwards.
///
/// ReLU networks are smooth only between kinks: where a step of ±2ε would
/// carry some hidden z across 0, ε shrinks tenfold until no z crosses, so
/// the differences measure the slope of the piece backpropagation sees.
fn derivative(
    net: &mut Network<f64>,
    x: ArrayView2<f64>,
    y: ArrayView2<f64>,
    param: impl Fn(&mut Network<f64>) -> &mut f64,
) -> f64 {
    let theta = *param(net);
    let relu = net.activation == Activation::Relu;
    let base = if relu { signs(net, x) } else { Vec::new() };
    let mut h = EPSILON;
    let d = loop {
        let mut same_piece = true;
        let mut cost_at = |offset: f64| {
            *param(net) = theta + offset;
            if relu && signs(net, x) != base {
                same_piece = false;
            }
            net.total_cost(x, y)
        };
        // Differences first: where θ does not touch C (a dead ReLU) they are exactly 0.
        let d1 = cost_at(h) - cost_at(-h);
        let d2 = cost_at(2.0 * h) - cost_at(-2.0 * h);
        let d3 = cost_at(3.0 * h) - cost_at(-3.0 * h);
        if same_piece || h < 1e-9 {
            break (45.0 * d1 - 9.0 * d2 + d3) / (60.0 * h);
        }
        h /= 10.0;
    };
    *param(net) = theta;
    d
}

/// Whether each hidden z is positive, for every example: ReLU's piece.
fn signs(net: &Network<f64>, x: ArrayView2<f64>) -> Vec<bool> {
    let mut a = x.to_owned();
    let mut out = Vec::new();
    for (w, b) in net
        .weights
        .iter()
        .zip(&net.biases)
        .take(net.weights.len() - 1)
    {
        let z = w.dot(&a) + b.view().insert_axis(ndarray::Axis(1));
        out.extend(z.iter().map(|&v| v > 0.0));
        a = z.mapv(|v| v.max(0.0));
    }
    out
}

/// The largest relative error |a − b| / max(|a|, |b|) over every bias and
/// weight. Entries where both are below 1e-8 are compared against 1e-8, so
/// rounding noise on vanishing gradients does not count as disagreement.
pub fn max_relative_error(a: &Gradient<f64>, b: &Gradient<f64>) -> f64 {
    let rel = |p: f64, q: f64| (p - q).abs() / p.abs().max(q.abs()).max(1e-8);
    let biases =
        a.0.iter()
            .zip(&b.0)
            .flat_map(|(p, q)| p.iter().zip(q.iter()));
    let weights =
        a.1.iter()
            .zip(&b.1)
            .flat_map(|(p, q)| p.iter().zip(q.iter()));
    biases
        .chain(weights)
        .map(|(&p, &q)| rel(p, q))
        .fold(0.0, f64::max)
}

/// What `check` found.
#[derive(Clone, Debug)]
pub struct Check {
    pub max_relative_error: f64,
    /// Wall time of one matrix-based backpropagation of the mini-batch.
    pub backprop_seconds: f64,
    /// Wall time of the finite-difference gradient.
    pub numerical_seconds: f64,
    /// Forward passes of the mini-batch the finite differences took.
    pub forward_passes: usize,
}

/// A random network of `sizes` (weights N(0, 1/n_in), biases N(0, 1)) and
/// mini-batch (inputs in [0, 1], one-hot targets), its gradient by
/// backpropagation and by finite differences, compared and timed.
pub fn check(
    sizes: &[usize],
    activation: Activation,
    cost: Cost,
    batch_size: usize,
    seed: u64,
) -> Result<Check, Error> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut net = Network::<f64>::initialised(sizes, Init::Scaled, &mut rng)?;
    net.activation = activation;
    net.cost = cost;
    let (n_in, n_out) = (sizes[0], sizes[sizes.len() - 1]);
    let x = Array2::from_shape_fn((n_in, batch_size), |_| rng.random::<f64>());
    let labels: Vec<usize> = (0..batch_size)
        .map(|_| rng.random_range(0..n_out))
        .collect();
    let y = Array2::from_shape_fn(
        (n_out, batch_size),
        |(j, i)| if labels[i] == j { 1.0 } else { 0.0 },
    );

    // Backpropagation is timed over enough repetitions to be measurable.
    let start = Instant::now();
    let mut runs = 1;
    let mut analytic = net.backprop_batch(x.view(), y.view());
    while start.elapsed().as_secs_f64() < 0.05 {
        analytic = net.backprop_batch(x.view(), y.view());
        runs += 1;
    }
    let backprop_seconds = start.elapsed().as_secs_f64() / runs as f64;

    let start = Instant::now();
    let numeric = numerical_gradient(&net, x.view(), y.view());
    let numerical_seconds = start.elapsed().as_secs_f64();
    let parameters: usize = sizes.windows(2).map(|w| w[1] * (w[0] + 1)).sum();
    Ok(Check {
        max_relative_error: max_relative_error(&analytic, &numeric),
        backprop_seconds,
        numerical_seconds,
        forward_passes: 6 * parameters,
    })
}
