//! The book: the chapter's network, as network.py writes it. Feedforward,
//! backpropagation (BP1–BP4) per example and for a whole mini-batch, and
//! mini-batch stochastic gradient descent, in plain ndarray code.
//!
//! Layout, as in network.py: `weights[i]` and `biases[i]` belong to layer
//! l = i + 2 (layer 1, the input, has none), and `weights[i][[j, k]]` is
//! w^l_jk, from neuron k in layer l − 1 to neuron j in layer l. A mini-batch
//! is the chapter's X = [x_1 … x_m]: one column per example.
//!
//! Training runs on the engine (`crate::engine`, reached through
//! [`Trainer`](crate::Trainer)): the same step with examples as rows, fused
//! SIMD kernels, a sparse first layer and a second thread. The engine is
//! checked against this module: one engine step equals one
//! `update_mini_batch` here (or `update_mini_batch_by`, chapter 3's rules,
//! in `rules`) to 1e-12 relative in f64, for every cost, neuron and output
//! layer (`engine::tests`); and both gradients equal eq. (46)'s finite
//! differences (`gradcheck`, `nndl gradcheck`).

use ndarray::{Array1, Array2, ArrayView1, ArrayView2, ArrayViewMut2, Axis, NdFloat, Zip};
use rand::Rng;
use rand::seq::SliceRandom;
use rand_distr::{Distribution, StandardNormal};

use crate::activation::Activation;
use crate::cost::Cost;
use crate::data::Dataset;
use crate::error::Error;
use crate::init::{Init, check_sizes};

/// Gradients of C with respect to every bias and weight, shaped as the
/// network's `biases` and `weights`.
pub type Gradient<F> = (Vec<Array1<F>>, Vec<Array2<F>>);

/// Everything backpropagation computes for one example, layer by layer
/// (index 0 is layer 2): z^l, a^l (with a^1 = x first), δ^l, ∂C/∂b^l, ∂C/∂w^l.
#[derive(Clone, Debug, PartialEq)]
pub struct Backprop<F> {
    pub zs: Vec<Array1<F>>,
    pub activations: Vec<Array1<F>>,
    pub deltas: Vec<Array1<F>>,
    pub nabla_b: Vec<Array1<F>>,
    pub nabla_w: Vec<Array2<F>>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Network<F> {
    /// Neurons per layer, input first.
    pub sizes: Vec<usize>,
    /// w^l, shape (n_l, n_{l−1}).
    pub weights: Vec<Array2<F>>,
    /// b^l, shape (n_l).
    pub biases: Vec<Array1<F>>,
    /// The neuron of the hidden layers; the cost decides the output layer.
    pub activation: Activation,
    pub cost: Cost,
}

impl<F: NdFloat> Network<F> {
    /// A network of sigmoid neurons with quadratic cost, as network.py makes
    /// it: every bias and weight drawn from N(0, 1), biases first. Refuses
    /// sizes that `check_sizes` refuses.
    pub fn new<R: Rng + ?Sized>(sizes: &[usize], rng: &mut R) -> Result<Self, Error> {
        Self::initialised(sizes, Init::Normal, rng)
    }

    /// A network of sigmoid neurons with quadratic cost, initialised by
    /// `init`. Every scheme draws the same N(0, 1) numbers in the same order
    /// (biases, then weights) and scales them.
    pub fn initialised<R: Rng + ?Sized>(
        sizes: &[usize],
        init: Init,
        rng: &mut R,
    ) -> Result<Self, Error> {
        check_sizes(sizes, std::mem::size_of::<F>())?;
        let mut normal = || -> F {
            let x: f64 = StandardNormal.sample(rng);
            F::from(x).unwrap_or_else(F::zero)
        };
        let bias_scale = F::from(if init == Init::He { 0.0 } else { 1.0 }).unwrap_or_else(F::one);
        let biases = sizes[1..]
            .iter()
            .map(|&n| Array1::from_shape_simple_fn(n, || normal() * bias_scale))
            .collect();
        let weights = sizes
            .windows(2)
            .map(|w| {
                let scale = F::from(init.weight_sd(w[0])).unwrap_or_else(F::one);
                Array2::from_shape_simple_fn((w[1], w[0]), || normal() * scale)
            })
            .collect();
        Ok(Network {
            sizes: sizes.to_vec(),
            weights,
            biases,
            activation: Activation::Sigmoid,
            cost: Cost::Quadratic,
        })
    }

    /// A network from its parts, checking every shape against `sizes`.
    pub fn from_parts(
        sizes: Vec<usize>,
        weights: Vec<Array2<F>>,
        biases: Vec<Array1<F>>,
        activation: Activation,
        cost: Cost,
    ) -> Result<Self, String> {
        check_sizes(&sizes, std::mem::size_of::<F>()).map_err(|e| e.to_string())?;
        let layers = sizes.len() - 1;
        if weights.len() != layers || biases.len() != layers {
            return Err(format!(
                "sizes {sizes:?} need {layers} weight matrices and bias vectors, found {} and {}",
                weights.len(),
                biases.len()
            ));
        }
        for (i, (w, b)) in weights.iter().zip(&biases).enumerate() {
            let (n, k) = (sizes[i + 1], sizes[i]);
            if w.dim() != (n, k) {
                let (rows, cols) = w.dim();
                let l = i + 2;
                return Err(format!(
                    "layer {l}: weights are {rows}×{cols}, but sizes {sizes:?} make them {n}×{k}"
                ));
            }
            if b.len() != n {
                let l = i + 2;
                return Err(format!(
                    "layer {l}: {} biases, but sizes {sizes:?} make it {n} neurons",
                    b.len()
                ));
            }
        }
        // The engine reads weights as contiguous rows.
        let weights = weights
            .into_iter()
            .map(|w| w.as_standard_layout().into_owned());
        let biases = biases
            .into_iter()
            .map(|b| b.as_standard_layout().into_owned());
        Ok(Network {
            sizes,
            weights: weights.collect(),
            biases: biases.collect(),
            activation,
            cost,
        })
    }

    /// The same network in another float type.
    pub fn cast<G: NdFloat>(&self) -> Network<G> {
        let c = |x: &F| G::from(*x).unwrap_or_else(G::nan);
        Network {
            sizes: self.sizes.clone(),
            weights: self.weights.iter().map(|w| w.map(c)).collect(),
            biases: self.biases.iter().map(|b| b.map(c)).collect(),
            activation: self.activation,
            cost: self.cost,
        }
    }

    /// Number of layers with weights (L − 1).
    pub fn layers(&self) -> usize {
        self.weights.len()
    }

    /// a = f(z) in place for the layer of index `i`: the neuron's f for
    /// hidden layers, the cost's output layer for the last. `neurons` is
    /// the axis along which one example's values lie.
    pub(crate) fn activate(&self, i: usize, mut z: ArrayViewMut2<F>, neurons: Axis) {
        if i + 1 == self.layers() {
            self.cost.output_layer(z, neurons);
        } else {
            let f = self.activation;
            z.mapv_inplace(|z| f.f(z));
        }
    }

    /// a^L for input a^1 = `a`: a^l = f(w^l a^{l−1} + b^l) (eq. 25).
    pub fn feedforward(&self, a: ArrayView1<F>) -> Array1<F> {
        let x = a.insert_axis(Axis(1));
        let (_, a) = self.feedforward_batch(x);
        a.remove_axis(Axis(1))
    }

    /// Feeds a whole mini-batch forward: `x` is (n_1, m), one column per
    /// example. Returns z^L and a^L, both (n_L, m).
    pub fn feedforward_batch(&self, x: ArrayView2<F>) -> (Array2<F>, Array2<F>) {
        let mut a = x.to_owned();
        let mut z = Array2::zeros((0, 0));
        for (i, (w, b)) in self.weights.iter().zip(&self.biases).enumerate() {
            z = w.dot(&a) + b.view().insert_axis(Axis(1)); // (n_l, m)
            a = z.clone();
            self.activate(i, a.view_mut(), Axis(0));
        }
        (z, a)
    }

    /// Backpropagation for one example, as the chapter writes it: returns
    /// (∇_b C_x, ∇_w C_x), layer by layer like `biases` and `weights`.
    pub fn backprop(&self, x: ArrayView1<F>, y: ArrayView1<F>) -> Gradient<F> {
        let steps = self.backprop_steps(x, y);
        (steps.nabla_b, steps.nabla_w)
    }

    /// `backprop`, keeping every quantity it computes on the way (what
    /// `nndl trace` shows).
    pub fn backprop_steps(&self, x: ArrayView1<F>, y: ArrayView1<F>) -> Backprop<F> {
        let layers = self.layers();
        let f = self.activation;
        // a^1 = x; feedforward, keeping every z^l and a^l.
        let mut activations = vec![x.to_owned()];
        let mut zs = Vec::with_capacity(layers);
        for (i, (w, b)) in self.weights.iter().zip(&self.biases).enumerate() {
            let z = w.dot(&activations[i]) + b; // z^l = w^l a^{l−1} + b^l
            let mut a = z.clone().insert_axis(Axis(1));
            self.activate(i, a.view_mut(), Axis(0));
            activations.push(a.remove_axis(Axis(1)));
            zs.push(z);
        }
        let mut deltas = vec![Array1::zeros(0); layers];
        let mut nabla_b = vec![Array1::zeros(0); layers];
        let mut nabla_w = vec![Array2::zeros((0, 0)); layers];

        // BP1: δ^L = ∇_a C ⊙ σ'(z^L), as the cost works it out.
        let a_out = activations[layers].view().insert_axis(Axis(1));
        let mut delta = Array2::zeros(a_out.raw_dim());
        self.cost
            .delta(a_out, y.insert_axis(Axis(1)), delta.view_mut());
        let mut delta = delta.remove_axis(Axis(1));

        for i in (0..layers).rev() {
            if i + 1 < layers {
                // BP2: δ^l = ((w^{l+1})^T δ^{l+1}) ⊙ f'(z^l).
                delta = self.weights[i + 1].t().dot(&delta) * zs[i].mapv(|z| f.prime(z));
            }
            // BP3: ∂C/∂b^l_j = δ^l_j.
            nabla_b[i] = delta.clone();
            // BP4: ∂C/∂w^l_jk = a^{l−1}_k δ^l_j, an outer product.
            let a_prev = activations[i].view().insert_axis(Axis(0)); // (1, n_{l−1})
            nabla_w[i] = delta.view().insert_axis(Axis(1)).dot(&a_prev);
            deltas[i] = delta.clone();
        }
        Backprop {
            zs,
            activations,
            deltas,
            nabla_b,
            nabla_w,
        }
    }

    /// The fully matrix-based backpropagation of a mini-batch (the chapter's
    /// exercise): `x` is (n_1, m) and `y` is (n_L, m), one column per example.
    /// Returns the gradients summed over the m examples, Σ_x ∇C_x.
    pub fn backprop_batch(&self, x: ArrayView2<F>, y: ArrayView2<F>) -> Gradient<F> {
        self.backprop_batch_masked(x, y, &[])
    }

    /// `backprop_batch` with dropout (chapter 3): `masks[l]` (n_l, m), for
    /// each hidden layer, multiplies its activations (0 drops a neuron,
    /// 1/(1 − p) keeps it) and so its f'. No masks: the chapter's network.
    pub(crate) fn backprop_batch_masked(
        &self,
        x: ArrayView2<F>,
        y: ArrayView2<F>,
        masks: &[Array2<F>],
    ) -> Gradient<F> {
        let layers = self.layers();
        let f = self.activation;
        // activations[l]: (n_l, m), one column per example; zs likewise.
        let mut activations = vec![x.to_owned()];
        let mut zs = Vec::with_capacity(layers);
        for (i, (w, b)) in self.weights.iter().zip(&self.biases).enumerate() {
            let z = w.dot(&activations[i]) + b.view().insert_axis(Axis(1)); // (n_l, m)
            let mut a = z.clone();
            self.activate(i, a.view_mut(), Axis(0));
            if let Some(mask) = masks.get(i).filter(|_| i + 1 < layers) {
                a *= mask;
            }
            activations.push(a);
            zs.push(z);
        }
        let mut nabla_b = vec![Array1::zeros(0); layers];
        let mut nabla_w = vec![Array2::zeros((0, 0)); layers];

        // BP1: δ^L = ∇_a C ⊙ σ'(z^L), (n_L, m).
        let mut delta = Array2::zeros(activations[layers].raw_dim());
        self.cost
            .delta(activations[layers].view(), y, delta.view_mut());

        for i in (0..layers).rev() {
            if i + 1 < layers {
                // BP2: δ^l = ((w^{l+1})^T δ^{l+1}) ⊙ f'(z^l), (n_l, m).
                let mut next = self.weights[i + 1].t().dot(&delta);
                Zip::from(&mut next)
                    .and(&zs[i])
                    .for_each(|d, &z| *d *= f.prime(z));
                if let Some(mask) = masks.get(i) {
                    next *= mask;
                }
                delta = next;
            }
            // BP3, summed over the batch: Σ_x δ^l_j, (n_l).
            nabla_b[i] = delta.sum_axis(Axis(1));
            // BP4, summed over the batch: δ^l (a^{l−1})^T, (n_l, m)·(m, n_{l−1}).
            nabla_w[i] = delta.dot(&activations[i].t());
        }
        (nabla_b, nabla_w)
    }

    /// One step of gradient descent on the mini-batch X = `x`, Y = `y`:
    /// w → w − (η/m) Σ_x ∂C_x/∂w, b → b − (η/m) Σ_x ∂C_x/∂b, with the whole
    /// batch through feedforward and backpropagation at once.
    pub fn update_mini_batch(&mut self, x: ArrayView2<F>, y: ArrayView2<F>, eta: F) {
        let (nabla_b, nabla_w) = self.backprop_batch(x, y);
        self.step(&nabla_b, &nabla_w, eta, x.ncols());
    }

    /// The same step, one example at a time, as network.py computes it.
    pub fn update_mini_batch_per_example(&mut self, x: ArrayView2<F>, y: ArrayView2<F>, eta: F) {
        let zeros = |(b, w): (&Array1<F>, &Array2<F>)| {
            (Array1::zeros(b.raw_dim()), Array2::zeros(w.raw_dim()))
        };
        let (mut nabla_b, mut nabla_w): (Vec<_>, Vec<_>) =
            self.biases.iter().zip(&self.weights).map(zeros).unzip();
        for (xc, yc) in x.columns().into_iter().zip(y.columns()) {
            let (delta_nabla_b, delta_nabla_w) = self.backprop(xc, yc);
            for (nb, dnb) in nabla_b.iter_mut().zip(&delta_nabla_b) {
                *nb += dnb;
            }
            for (nw, dnw) in nabla_w.iter_mut().zip(&delta_nabla_w) {
                *nw += dnw;
            }
        }
        self.step(&nabla_b, &nabla_w, eta, x.ncols());
    }

    /// w → w − (η/m) ∇w, b → b − (η/m) ∇b.
    fn step(&mut self, nabla_b: &[Array1<F>], nabla_w: &[Array2<F>], eta: F, m: usize) {
        let rate = -eta / F::from(m).unwrap_or_else(F::one);
        for (b, nb) in self.biases.iter_mut().zip(nabla_b) {
            b.scaled_add(rate, nb);
        }
        for (w, nw) in self.weights.iter_mut().zip(nabla_w) {
            w.scaled_add(rate, nw);
        }
    }

    /// network.py's SGD: for each epoch, shuffle the training data, cut it
    /// into mini-batches of `mini_batch_size` and take one step on each;
    /// `epoch_done` hears of each epoch (to evaluate, say). The CLI trains
    /// with `train::train` instead, on the engine.
    pub fn sgd<R: Rng + ?Sized>(
        &mut self,
        training: &Dataset,
        epochs: usize,
        mini_batch_size: usize,
        eta: F,
        rng: &mut R,
        mut epoch_done: impl FnMut(usize, &Self),
    ) {
        let mut order: Vec<usize> = (0..training.len()).collect();
        for epoch in 1..=epochs {
            order.shuffle(rng);
            for batch in order.chunks(mini_batch_size.max(1)) {
                let (x, y) = examples(training, batch, self.sizes[self.layers()]);
                self.update_mini_batch(x.view(), y.view(), eta);
            }
            epoch_done(epoch, self);
        }
    }

    /// Σ_x C_x over a mini-batch, from the targets `y` (n_L, m).
    pub fn total_cost(&self, x: ArrayView2<F>, y: ArrayView2<F>) -> F {
        let (z, a) = self.feedforward_batch(x);
        self.cost.total(z.view(), a.view(), y)
    }

    /// How many images of `data` the network classifies right: the index of
    /// the most active output neuron equals the label.
    pub fn evaluate(&self, data: &Dataset) -> usize {
        (0..data.len())
            .filter(|&i| {
                let (x, _) = examples(data, &[i], self.sizes[self.layers()]);
                let a = self.feedforward(x.column(0));
                argmax(a.view()) == data.labels[i] as usize
            })
            .count()
    }
}

/// The examples `indices` of `data` as the chapter's X (n_1, m), each pixel
/// b as b / 255, and Y (n_out, m), one-hot.
pub fn examples<F: NdFloat>(
    data: &Dataset,
    indices: &[usize],
    n_out: usize,
) -> (Array2<F>, Array2<F>) {
    let mut x = Array2::zeros((data.pixels(), indices.len()));
    let mut y = Array2::zeros((n_out, indices.len()));
    data.gather_images(indices, x.view_mut().reversed_axes());
    data.gather_targets(indices, y.view_mut());
    (x, y)
}

/// The index of the largest entry; the first of equals, as numpy's argmax.
pub fn argmax<F: NdFloat>(v: ArrayView1<F>) -> usize {
    let mut best = 0;
    for (i, &x) in v.iter().enumerate() {
        if x > v[best] {
            best = i;
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    #[test]
    fn bad_sizes_are_refused_with_a_message() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let err = Network::<f32>::new(&[784, 0, 10], &mut rng).unwrap_err();
        assert_eq!(
            err.to_string(),
            "layers [784, 0, 10]: layer 2 has no neurons"
        );
        let err = Network::<f32>::new(&[784], &mut rng).unwrap_err();
        assert!(err.to_string().contains("at least an input and an output"));
        let err = Network::<f64>::new(&[1 << 20, 1 << 20, 10], &mut rng).unwrap_err();
        assert!(
            err.to_string().starts_with(&format!(
                "network too large: {} parameters, ",
                ((1u64 << 20) + 1) * (1 << 20) + ((1 << 20) + 1) * 10
            )),
            "{err}"
        );
        let err = Network::<f64>::new(&[usize::MAX, 2], &mut rng).unwrap_err();
        assert!(err.to_string().starts_with("network too large"), "{err}");
        assert!(
            Network::<f64>::from_parts(
                vec![3, 0],
                vec![],
                vec![],
                Activation::Sigmoid,
                Cost::Quadratic
            )
            .is_err()
        );
    }

    #[test]
    fn shapes_follow_sizes() {
        let net = Network::<f64>::new(&[5, 4, 3], &mut ChaCha8Rng::seed_from_u64(1)).unwrap();
        assert_eq!(net.weights[0].dim(), (4, 5));
        assert_eq!(net.weights[1].dim(), (3, 4));
        assert_eq!(net.biases[0].len(), 4);
        assert_eq!(net.biases[1].len(), 3);
        let out = net.feedforward(Array1::zeros(5).view());
        assert_eq!(out.len(), 3);
        assert!(out.iter().all(|&a| a > 0.0 && a < 1.0));
    }

    #[test]
    fn initialisations_scale_the_same_draws() {
        let sizes = [400, 100, 10];
        let normal =
            Network::<f64>::initialised(&sizes, Init::Normal, &mut ChaCha8Rng::seed_from_u64(8))
                .unwrap();
        let scaled =
            Network::<f64>::initialised(&sizes, Init::Scaled, &mut ChaCha8Rng::seed_from_u64(8))
                .unwrap();
        let he = Network::<f64>::initialised(&sizes, Init::He, &mut ChaCha8Rng::seed_from_u64(8))
            .unwrap();
        assert_eq!(normal.biases, scaled.biases);
        assert!(he.biases.iter().all(|b| b.iter().all(|&x| x == 0.0)));
        for (l, &n_in) in sizes[..2].iter().enumerate() {
            let n_in = n_in as f64;
            let sd =
                |w: &Array2<f64>| (w.iter().map(|x| x * x).sum::<f64>() / w.len() as f64).sqrt();
            assert!(
                (&normal.weights[l] / n_in.sqrt() - &scaled.weights[l])
                    .iter()
                    .all(|d| d.abs() < 1e-12)
            );
            assert!((sd(&he.weights[l]) - (2.0 / n_in).sqrt()).abs() < 0.1 * (2.0 / n_in).sqrt());
        }
    }

    #[test]
    fn from_parts_names_the_bad_layer() {
        let net = Network::<f64>::new(&[5, 4, 3], &mut ChaCha8Rng::seed_from_u64(1)).unwrap();
        let mut weights = net.weights.clone();
        weights[1] = Array2::zeros((3, 5));
        let err = Network::from_parts(
            net.sizes.clone(),
            weights,
            net.biases.clone(),
            net.activation,
            net.cost,
        )
        .unwrap_err();
        assert!(err.starts_with("layer 3: weights are 3×5"), "{err}");
    }

    #[test]
    fn batch_feedforward_matches_column_by_column() {
        let net = Network::<f64>::new(&[6, 5, 4], &mut ChaCha8Rng::seed_from_u64(2)).unwrap();
        let x = Array2::from_shape_fn((6, 3), |(i, j)| (i as f64 - j as f64) / 4.0);
        let (_, a) = net.feedforward_batch(x.view());
        for (j, col) in x.columns().into_iter().enumerate() {
            let single = net.feedforward(col);
            for (p, q) in single.iter().zip(a.column(j)) {
                assert!((p - q).abs() < 1e-14);
            }
        }
    }

    #[test]
    fn argmax_takes_the_first_of_equals() {
        assert_eq!(argmax(ndarray::array![0.1, 0.9, 0.9, 0.2].view()), 1);
        assert_eq!(argmax(ndarray::array![1.0f32].view()), 0);
    }
}
