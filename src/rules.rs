//! Chapter 3's rules for the step, in the book's plain style beside
//! `network`: L2 regularisation, momentum and dropout. The engine takes the
//! same steps fast and is checked against `update_mini_batch_by`.

use ndarray::{Array1, Array2, ArrayView2, NdFloat};

use crate::network::Network;

/// How the gradient of a mini-batch moves the network: the chapter's step,
/// or with chapter 3's L2 regularisation, momentum and dropout.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Rule<F> {
    /// η.
    pub eta: F,
    /// ηλ/n, the weight decay of L2 regularisation (0: none).
    pub decay: F,
    /// μ, momentum's friction (0: plain gradient descent).
    pub momentum: F,
    /// p, the chance each hidden neuron is dropped (0: no dropout).
    pub dropout: F,
}

impl<F: NdFloat> Rule<F> {
    /// What BP4's update multiplies the weights by (or the velocities):
    /// 1 − ηλ/n, or μ.
    pub(crate) fn scale(&self) -> F {
        if self.momentum != F::zero() {
            self.momentum
        } else {
            F::one() - self.decay
        }
    }

    /// The chapter's step: w → w − (η/m) Σ_x ∂C_x/∂w.
    pub fn sgd(eta: F) -> Self {
        Rule {
            eta,
            decay: F::zero(),
            momentum: F::zero(),
            dropout: F::zero(),
        }
    }
}

/// Momentum's velocities, shaped as the network's weights and biases.
#[derive(Clone, Debug, PartialEq)]
pub struct Velocity<F> {
    pub weights: Vec<Array2<F>>,
    pub biases: Vec<Array1<F>>,
}

impl<F: NdFloat> Velocity<F> {
    /// At rest: zero everywhere.
    pub fn zeros(net: &Network<F>) -> Self {
        Velocity {
            weights: net
                .weights
                .iter()
                .map(|w| Array2::zeros(w.raw_dim()))
                .collect(),
            biases: net
                .biases
                .iter()
                .map(|b| Array1::zeros(b.raw_dim()))
                .collect(),
        }
    }
}

/// How a network does on a labelled data set.
#[derive(Clone, Debug, PartialEq)]
pub struct Evaluation {
    pub correct: usize,
    pub total: usize,
    /// The cost averaged over the examples.
    pub mean_cost: f64,
    /// confusion[true label][predicted label].
    pub confusion: Vec<Vec<usize>>,
}

impl<F: NdFloat> Network<F> {
    /// One step on the mini-batch X = `x`, Y = `y` by `rule`, from the
    /// gradient of `backprop_batch`, with n the size of the training set:
    /// - L2: w → (1 − ηλ/n) w − (η/m) ∇w, b → b − (η/m) ∇b;
    /// - momentum μ: v → μ v − (η/m) ∇w − (ηλ/n) w, then w → w + v (and
    ///   likewise for the biases, without decay);
    /// - dropout: `masks[l]` (n_l, m) for each hidden layer, drawn by the
    ///   caller: 0 for a dropped neuron, 1/(1 − p) for a kept one.
    pub fn update_mini_batch_by(
        &mut self,
        x: ArrayView2<F>,
        y: ArrayView2<F>,
        rule: &Rule<F>,
        velocity: &mut Velocity<F>,
        masks: &[Array2<F>],
    ) {
        let (nabla_b, nabla_w) = self.backprop_batch_masked(x, y, masks);
        let rate = rule.eta / F::from(x.ncols()).unwrap_or_else(F::one);
        let one = F::one();
        for i in 0..self.layers() {
            let (w, b) = (&mut self.weights[i], &mut self.biases[i]);
            if rule.momentum == F::zero() {
                *w = &*w * (one - rule.decay) - &nabla_w[i] * rate;
                b.scaled_add(-rate, &nabla_b[i]);
            } else {
                let (v_w, v_b) = (&mut velocity.weights[i], &mut velocity.biases[i]);
                *v_w = &*v_w * rule.momentum - &nabla_w[i] * rate - &*w * rule.decay;
                *w += &*v_w;
                *v_b = &*v_b * rule.momentum - &nabla_b[i] * rate;
                *b += &*v_b;
            }
        }
    }
}
