//! The reference gradient: finite differences (eq. 46), one weight at a time.
//!
//! Eq. (46) is the one-sided difference (C(w + εe_j) − C(w))/ε. To make an
//! exact reference we use the five-point central difference of the same idea,
//! whose error is O(ε⁴) instead of O(ε): four cost evaluations per weight,
//! each a full forward pass, which is why backpropagation wins.

use ndarray::{Array1, Array2, ArrayView2};

use crate::network::{Gradient, Network};

/// Step for the five-point difference: rounding error ~1e-16/ε and
/// truncation ~ε⁴ balance near 1e-3.
pub const EPSILON: f64 = 1e-3;

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
fn derivative(
    net: &mut Network<f64>,
    x: ArrayView2<f64>,
    y: ArrayView2<f64>,
    param: impl Fn(&mut Network<f64>) -> &mut f64,
) -> f64 {
    let theta = *param(net);
    let mut cost_at = |offset: f64| {
        *param(net) = theta + offset;
        net.total_cost(x, y)
    };
    let h = EPSILON;
    // Differences first: where θ does not touch C (a dead ReLU) they are exactly 0.
    let near = cost_at(h) - cost_at(-h);
    let far = cost_at(2.0 * h) - cost_at(-2.0 * h);
    let d = (8.0 * near - far) / (12.0 * h);
    *param(net) = theta;
    d
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
