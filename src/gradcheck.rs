//! The reference gradient: finite differences (eq. 46), one weight at a time.
//!
//! Eq. (46) is the one-sided difference (C(w + εe_j) − C(w))/ε. Its error
//! is O(ε) from truncation plus ~ε_mach·C/ε from rounding, too much to check
//! a gradient to 1e-6 on every weight. So, per weight, central differences
//! (C(w + h) − C(w − h))/2h at h = 0.1, 0.1/1.4, 0.1/1.4², … are
//! extrapolated to h → 0 (Richardson's idea, in Ridders' tableau), which
//! stops where the estimates stop improving: the truncation error
//! vanishes while h stays large enough for rounding to stay small.
//!
//! Each C is a full cost of the mini-batch, computed from the layer the
//! weight feeds on: the layers before it do not change, which is what makes
//! a check of 80,000 weights take seconds. Backpropagation needs one
//! forward and one backward pass for all of them; this, about a dozen
//! forward passes per weight.

use std::time::Instant;

use ndarray::{Array1, Array2, ArrayView1, ArrayView2, Axis, s};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::activation::Activation;
use crate::cost::Cost;
use crate::engine::Trainer;
use crate::error::Error;
use crate::init::Init;
use crate::network::{Gradient, Network};

/// The first step of the extrapolation, and the factor it shrinks by.
const FIRST_STEP: f64 = 0.1;
const SHRINK: f64 = 1.4;
/// Steps at the most.
const STEPS: usize = 8;

/// ∂C/∂b and ∂C/∂w by finite differences of C = Σ_x C_x over the batch
/// (`x` (n_1, m), `y` (n_L, m)), as `backprop_batch` sums them. Also
/// returns the number of cost evaluations (forward passes) it took.
pub fn numerical_gradient_counted(
    net: &Network<f64>,
    x: ArrayView2<f64>,
    y: ArrayView2<f64>,
) -> (Gradient<f64>, usize) {
    let layers = net.layers();
    // a^1 = x and every z^l, a^l of the unperturbed network.
    let mut activations = vec![x.to_owned()];
    let mut zs = Vec::with_capacity(layers);
    for (i, (w, b)) in net.weights.iter().zip(&net.biases).enumerate() {
        let z = w.dot(&activations[i]) + b.view().insert_axis(Axis(1));
        let mut a = z.clone();
        net.activate(i, a.view_mut(), Axis(0));
        activations.push(a);
        zs.push(z);
    }
    let forward = Forward {
        net,
        zs: &zs,
        activations: &activations,
        y,
    };
    let ones = Array1::ones(x.ncols());
    let mut passes = 0;
    let mut nabla_b = Vec::with_capacity(layers);
    let mut nabla_w = Vec::with_capacity(layers);
    for (i, a_prev) in activations[..layers].iter().enumerate() {
        let (n, k) = net.weights[i].dim();
        let mut nb = Array1::zeros(n);
        let mut nw = Array2::zeros((n, k));
        for j in 0..n {
            // b^l_j moves z^l_j by its change; w^l_jk by a^{l−1}_k times it.
            nb[j] = forward.derivative(i, j, ones.view(), &mut passes);
            for (kk, a_k) in a_prev.rows().into_iter().enumerate() {
                nw[[j, kk]] = forward.derivative(i, j, a_k, &mut passes);
            }
        }
        nabla_b.push(nb);
        nabla_w.push(nw);
    }
    ((nabla_b, nabla_w), passes)
}

/// `numerical_gradient_counted` without the count.
pub fn numerical_gradient(
    net: &Network<f64>,
    x: ArrayView2<f64>,
    y: ArrayView2<f64>,
) -> Gradient<f64> {
    numerical_gradient_counted(net, x, y).0
}

/// The network fed forward once, to perturb one z at a time.
struct Forward<'a> {
    net: &'a Network<f64>,
    zs: &'a [Array2<f64>],
    activations: &'a [Array2<f64>],
    y: ArrayView2<'a, f64>,
}

impl Forward<'_> {
    /// Each example's C_x with z^l_j (layer index i) moved by `offset` · `dz`
    /// (one entry per example); and whether every hidden z kept its sign
    /// (ReLU's piece).
    fn cost(&self, i: usize, j: usize, dz: ArrayView1<f64>, offset: f64) -> (Array1<f64>, bool) {
        let net = self.net;
        let layers = net.layers();
        let relu = net.activation == Activation::Relu;
        let mut same_piece = true;
        let (mut z, mut l) = if i + 1 < layers {
            // Only a^l_j changes: z^{l+1} moves by w^{l+1}_{·j} (a'^l_j − a^l_j).
            let f = net.activation;
            let mut z_j = self.zs[i].row(j).to_owned();
            z_j.scaled_add(offset, &dz);
            if relu {
                let base = self.zs[i].row(j);
                same_piece &= z_j.iter().zip(base).all(|(p, q)| (*p > 0.0) == (*q > 0.0));
            }
            let change = z_j.mapv(|z| f.f(z)) - self.activations[i + 1].row(j);
            let column = net.weights[i + 1].column(j).insert_axis(Axis(1));
            (
                &self.zs[i + 1] + &column.dot(&change.insert_axis(Axis(0))),
                i + 1,
            )
        } else {
            let mut z = self.zs[i].clone();
            z.row_mut(j).scaled_add(offset, &dz);
            (z, i)
        };
        // The rest of the way forward, layer by layer.
        loop {
            let mut a = z.clone();
            net.activate(l, a.view_mut(), Axis(0));
            if l + 1 == layers {
                let c_x = (0..z.ncols()).map(|x| {
                    let one = s![.., x..x + 1];
                    net.cost
                        .total(z.slice(one), a.slice(one), self.y.slice(one))
                });
                return (c_x.collect(), same_piece);
            }
            if relu {
                same_piece &= z
                    .iter()
                    .zip(self.zs[l].iter())
                    .all(|(p, q)| (*p > 0.0) == (*q > 0.0));
            }
            z = net.weights[l + 1].dot(&a) + net.biases[l + 1].view().insert_axis(Axis(1));
            l += 1;
        }
    }

    /// dC/dθ for the parameter that moves z^l_j by θ · `dz`: Ridders'
    /// extrapolation of central differences. ReLU networks are smooth only
    /// between kinks: where a step of FIRST_STEP would carry some hidden z
    /// across 0 on one side only, the differences are one-sided, on the
    /// other (the piece backpropagation sees); where on both, the step
    /// shrinks tenfold until no z crosses.
    fn derivative(&self, i: usize, j: usize, dz: ArrayView1<f64>, passes: &mut usize) -> f64 {
        let mut cost = |offset: f64| {
            *passes += 1;
            self.cost(i, j, dz, offset)
        };
        // Σ_x (C_x(θ + a) − C_x(θ + b)) / (a − b): each difference rounds on
        // the scale of one example's cost, not of the whole sum.
        let slope = |(up, _): &(Array1<f64>, bool), (down, _): &(Array1<f64>, bool), width: f64| {
            up.iter().zip(down).map(|(u, d)| u - d).sum::<f64>() / width
        };
        let mut h = FIRST_STEP;
        let (up, down) = (cost(h), cost(-h));
        // The side (+1 or −1) of one-sided differences, or 0 for central.
        let mut side = 0.0;
        let mut first = slope(&up, &down, 2.0 * h);
        if !(up.1 && down.1) {
            let at = cost(0.0);
            if up.1 || down.1 {
                side = if up.1 { 1.0 } else { -1.0 };
                first = slope(if up.1 { &up } else { &down }, &at, side * h);
            } else {
                while h > 1e-9 {
                    h /= 10.0;
                    let (up, down) = (cost(h), cost(-h));
                    first = slope(&up, &down, 2.0 * h);
                    if up.1 && down.1 {
                        break;
                    }
                }
            }
        }
        let at = if side != 0.0 { Some(cost(0.0)) } else { None };
        let mut estimate = |h: f64| match &at {
            Some(at) => slope(&cost(side * h), at, side * h),
            None => slope(&cost(h), &cost(-h), 2.0 * h),
        };
        // tableau[k][s]: the estimate from step s, extrapolated k times. The
        // error of a central difference is a series in h², of a one-sided
        // one in h: each extrapolation cancels its next term.
        let factor = if side == 0.0 { SHRINK * SHRINK } else { SHRINK };
        let mut tableau = [[0.0f64; STEPS]; STEPS];
        tableau[0][0] = first;
        let (mut best, mut error) = (first, f64::INFINITY);
        for s in 1..STEPS {
            h /= SHRINK;
            tableau[0][s] = estimate(h);
            let mut power = factor;
            for k in 1..=s {
                tableau[k][s] = (tableau[k - 1][s] * power - tableau[k - 1][s - 1]) / (power - 1.0);
                power *= factor;
                let e = (tableau[k][s] - tableau[k - 1][s])
                    .abs()
                    .max((tableau[k][s] - tableau[k - 1][s - 1]).abs());
                if e <= error {
                    error = e;
                    best = tableau[k][s];
                }
            }
        }
        best
    }
}

/// The largest relative error |a − b| / max(|a|, |b|) over every bias and
/// weight. An entry more than a million times smaller than the largest of
/// its layer (weights and biases of one layer together) is compared
/// against that millionth instead: eq. (46) in f64 resolves a derivative
/// only to its rounding, ~ε_mach·C/h, which is far below the gradient's own
/// scale but not below each of its vanishing entries.
pub fn max_relative_error(a: &Gradient<f64>, b: &Gradient<f64>) -> f64 {
    let mut worst = 0.0f64;
    for l in 0..a.0.len().min(b.0.len()) {
        let pairs = || {
            let biases = a.0[l].iter().zip(b.0[l].iter());
            biases.chain(a.1[l].iter().zip(b.1[l].iter()))
        };
        let scale = pairs().fold(0.0f64, |m, (p, q)| m.max(p.abs()).max(q.abs()));
        let floor = (1e-5 * scale).max(1e-300);
        let rel = |(p, q): (&f64, &f64)| (p - q).abs() / p.abs().max(q.abs()).max(floor);
        worst = pairs().map(rel).fold(worst, f64::max);
    }
    worst
}

/// What `check` found.
#[derive(Clone, Debug)]
pub struct Check {
    /// The book's `backprop_batch` against the finite differences.
    pub max_relative_error: f64,
    /// The engine's gradient (`Trainer::gradient`) against them.
    pub engine_max_relative_error: f64,
    /// Wall time of one matrix-based backpropagation of the mini-batch.
    pub backprop_seconds: f64,
    /// Wall time of the finite-difference gradient.
    pub numerical_seconds: f64,
    /// Cost evaluations of the mini-batch the finite differences took.
    pub forward_passes: usize,
}

/// A random network of `sizes` (weights N(0, 1/n_in), biases N(0, 1)) and
/// mini-batch (inputs in [0, 1], one-hot targets), its gradient by
/// backpropagation (the book's and the engine's) and by finite
/// differences, compared and timed.
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
    let engine = Trainer::new(sizes, batch_size, 1).gradient(&net, x.view(), y.view());

    let start = Instant::now();
    let (numeric, forward_passes) = numerical_gradient_counted(&net, x.view(), y.view());
    let numerical_seconds = start.elapsed().as_secs_f64();
    Ok(Check {
        max_relative_error: max_relative_error(&analytic, &numeric),
        engine_max_relative_error: max_relative_error(&engine, &numeric),
        backprop_seconds,
        numerical_seconds,
        forward_passes,
    })
}
