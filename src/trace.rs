//! One example through the chapter, by the numbers: the feedforward, the
//! cost, BP1–BP4 from the book's `backprop`, and eq. (46)'s finite
//! differences beside them, with the forward passes each method needs.

use ndarray::{Array1, Array2, ArrayView1, Axis};

use crate::cost::{Cost, Output};
use crate::gradcheck::max_relative_error;
use crate::network::{Backprop, Gradient, Network};

/// Eq. (46)'s step: small enough that its error, about ε C''/2, is far
/// below backprop's gradients; large enough that f64 rounding, about
/// 1e-16 C/ε, is too.
pub const EPSILON: f64 = 1e-6;

/// What `nndl trace` shows.
#[derive(Clone, Debug)]
pub struct Trace {
    /// C_x of this one example.
    pub cost: f64,
    /// The book's backpropagation, every quantity kept.
    pub steps: Backprop<f64>,
    /// BP1's two factors, ∇_a C and σ'(z^L), for a sigmoid output layer
    /// (softmax's δ^L = a − y comes whole).
    pub bp1: Option<(Array1<f64>, Array1<f64>)>,
    /// BP2's two factors per hidden layer (index 0 is layer 2):
    /// (w^{l+1})^T δ^{l+1} and f'(z^l).
    pub bp2: Vec<(Array1<f64>, Array1<f64>)>,
    /// Eq. (46)'s estimate of ∂C/∂b and ∂C/∂w.
    pub finite_difference: Gradient<f64>,
    /// The largest relative error between backprop and eq. (46).
    pub max_relative_error: f64,
    /// Eq. (46)'s forward passes: one per weight and bias.
    pub forward_passes: usize,
}

/// C_x of input `x` against target `y`.
pub fn cost_of(net: &Network<f64>, x: ArrayView1<f64>, y: ArrayView1<f64>) -> f64 {
    let (z, a) = net.feedforward_batch(x.insert_axis(Axis(1)));
    net.cost.total(z.view(), a.view(), y.insert_axis(Axis(1)))
}

/// Traces example (`x`, `y`) through `net`.
pub fn trace(net: &Network<f64>, x: ArrayView1<f64>, y: ArrayView1<f64>) -> Trace {
    let steps = net.backprop_steps(x, y);
    let layers = net.layers();
    let out = &steps.activations[layers];
    let bp1 = (net.cost.output() == Output::Sigmoid).then(|| {
        let grad_a = match net.cost {
            Cost::CrossEntropy => {
                Array1::from_shape_fn(out.len(), |j| (out[j] - y[j]) / (out[j] * (1.0 - out[j])))
            }
            _ => out - &y,
        };
        (grad_a, steps.zs[layers - 1].mapv(sigmoid_prime))
    });
    let f = net.activation;
    let bp2 = (0..layers - 1)
        .map(|i| {
            let back = net.weights[i + 1].t().dot(&steps.deltas[i + 1]);
            (back, steps.zs[i].mapv(|z| f.prime(z)))
        })
        .collect();
    let (finite_difference, forward_passes) = eq46(net, x, y);
    let backprop = (steps.nabla_b.clone(), steps.nabla_w.clone());
    Trace {
        cost: cost_of(net, x, y),
        max_relative_error: max_relative_error(&backprop, &finite_difference),
        steps,
        bp1,
        bp2,
        finite_difference,
        forward_passes,
    }
}

fn sigmoid_prime(z: f64) -> f64 {
    let s = crate::activation::Activation::Sigmoid.f(z);
    s * (1.0 - s)
}

/// Eq. (46): ∂C/∂p ≈ (C(p + ε) − C(p)) / ε for every weight and bias p,
/// one forward pass each; and the count of those passes.
fn eq46(net: &Network<f64>, x: ArrayView1<f64>, y: ArrayView1<f64>) -> (Gradient<f64>, usize) {
    let base = cost_of(net, x, y);
    let mut moved = net.clone();
    let mut passes = 0;
    let mut nabla_b = Vec::new();
    let mut nabla_w = Vec::new();
    for i in 0..net.layers() {
        let (n, k) = net.weights[i].dim();
        let mut b = Array1::zeros(n);
        let mut w = Array2::zeros((n, k));
        for j in 0..n {
            let p = net.biases[i][j];
            moved.biases[i][j] = p + EPSILON;
            b[j] = (cost_of(&moved, x, y) - base) / EPSILON;
            moved.biases[i][j] = p;
            for kk in 0..k {
                let p = net.weights[i][[j, kk]];
                moved.weights[i][[j, kk]] = p + EPSILON;
                w[[j, kk]] = (cost_of(&moved, x, y) - base) / EPSILON;
                moved.weights[i][[j, kk]] = p;
            }
            passes += 1 + k;
        }
        nabla_b.push(b);
        nabla_w.push(w);
    }
    ((nabla_b, nabla_w), passes)
}
