//! The training loop: epochs of mini-batch stochastic gradient descent,
//! reshuffled every epoch, scored on a held-out set after each.

use std::time::Instant;

use ndarray::{Array2, NdFloat, s};
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

use crate::activation::Activation;
use crate::cost::Cost;
use crate::data::Dataset;
use crate::network::{Network, Workspace};

/// Training settings, independent of the command line.
#[derive(Clone, Debug, PartialEq)]
pub struct TrainConfig {
    /// Neurons per layer, input first.
    pub sizes: Vec<usize>,
    pub epochs: usize,
    /// m, examples per mini-batch.
    pub batch_size: usize,
    /// η, the learning rate.
    pub eta: f64,
    /// Seeds the ChaCha8 generator behind initialisation and shuffling.
    pub seed: u64,
    /// Backpropagate one example at a time instead of the whole mini-batch.
    pub per_example: bool,
    pub activation: Activation,
    pub cost: Cost,
    /// Threads in all, 0 for one per core. The model does not depend on it.
    pub threads: usize,
}

impl TrainConfig {
    /// The chapter's experiment: [784, 30, 10], 30 epochs, m = 10, η = 3.0.
    pub fn chapter(seed: u64) -> Self {
        TrainConfig {
            sizes: vec![784, 30, 10],
            epochs: 30,
            batch_size: 10,
            eta: 3.0,
            seed,
            per_example: false,
            activation: Activation::Sigmoid,
            cost: Cost::Quadratic,
            threads: 0,
        }
    }
}

/// One epoch's score on the evaluation set.
#[derive(Clone, Debug, PartialEq)]
pub struct EpochReport {
    /// 1-based.
    pub epoch: usize,
    pub epochs: usize,
    pub correct: usize,
    pub total: usize,
    /// Wall time of the epoch, training and evaluation.
    pub seconds: f64,
}

impl EpochReport {
    pub fn accuracy(&self) -> f64 {
        self.correct as f64 / self.total.max(1) as f64
    }
}

/// Hears of progress while training runs: the binary draws it.
pub trait Observer {
    fn epoch_started(&mut self, _epoch: usize, _batches: usize) {}
    fn batches_done(&mut self, _count: usize) {}
    fn epoch_finished(&mut self, _report: &EpochReport) {}
}

/// Hears nothing.
pub struct Silent;
impl Observer for Silent {}

pub struct Outcome<F> {
    /// The network after the epoch that scored best (the first, of equals).
    pub best: Network<F>,
    pub best_epoch: usize,
    pub history: Vec<EpochReport>,
    pub seconds: f64,
}

impl<F> Outcome<F> {
    pub fn best_report(&self) -> &EpochReport {
        &self.history[self.best_epoch - 1]
    }
}

/// Mini-batch stochastic gradient descent over one training set: the
/// network, the shuffled order and the buffers, made once.
pub struct Sgd<'a, F> {
    pub net: Network<F>,
    training: &'a Dataset,
    eta: F,
    batch_size: usize,
    per_example: bool,
    rng: ChaCha8Rng,
    order: Vec<usize>,
    // One row per example, so their transposes are the chapter's X and Y.
    x_rows: Array2<F>,
    y_rows: Array2<F>,
    workspace: Workspace<F>,
}

impl<'a, F: NdFloat> Sgd<'a, F> {
    /// A fresh network for `config`, initialised from its seed.
    pub fn new(config: &TrainConfig, training: &'a Dataset) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
        let mut net = Network::<F>::new(&config.sizes, &mut rng);
        net.activation = config.activation;
        net.cost = config.cost;
        let m = config.batch_size.max(1);
        let n_out = *config.sizes.last().unwrap_or(&0);
        Sgd {
            net,
            training,
            eta: F::from(config.eta).unwrap_or_else(F::zero),
            batch_size: m,
            per_example: config.per_example,
            rng,
            order: (0..training.len()).collect(),
            x_rows: Array2::zeros((m, training.pixels())),
            y_rows: Array2::zeros((m, n_out)),
            workspace: Workspace::with_threads(&config.sizes, m, config.threads),
        }
    }

    /// Mini-batches per epoch.
    pub fn batches(&self) -> usize {
        self.order.len().div_ceil(self.batch_size)
    }

    /// One epoch: reshuffle, then one step per mini-batch.
    pub fn epoch(&mut self, observer: &mut dyn Observer) {
        self.order.shuffle(&mut self.rng);
        let mut batches = self.order.chunks(self.batch_size).peekable();
        while let Some(batch) = batches.next() {
            if let Some(next) = batches.peek() {
                self.training.prefetch(next);
            }
            let mut x = self.x_rows.slice_mut(s![..batch.len(), ..]);
            let mut y = self.y_rows.slice_mut(s![..batch.len(), ..]);
            self.training.gather_images(batch, x.view_mut());
            self.training
                .gather_targets(batch, y.view_mut().reversed_axes());
            if self.per_example {
                self.net
                    .update_mini_batch_per_example(x.t(), y.t(), self.eta);
            } else {
                self.net
                    .update_mini_batch_with(x.t(), y.t(), self.eta, &mut self.workspace);
            }
            observer.batches_done(1);
        }
    }
}

/// Trains a fresh network on `training` by mini-batch SGD and scores it on
/// `evaluation` after every epoch.
pub fn train<F: NdFloat>(
    config: &TrainConfig,
    training: &Dataset,
    evaluation: &Dataset,
    observer: &mut dyn Observer,
) -> Outcome<F> {
    let start = Instant::now();
    let mut sgd = Sgd::<F>::new(config, training);
    let mut history = Vec::with_capacity(config.epochs);
    let mut best = (sgd.net.clone(), 0, 0);
    for epoch in 1..=config.epochs {
        let epoch_start = Instant::now();
        observer.epoch_started(epoch, sgd.batches());
        sgd.epoch(observer);
        let correct = sgd.net.evaluate(evaluation);
        let report = EpochReport {
            epoch,
            epochs: config.epochs,
            correct,
            total: evaluation.len(),
            seconds: epoch_start.elapsed().as_secs_f64(),
        };
        observer.epoch_finished(&report);
        if epoch == 1 || correct > best.2 {
            best = (sgd.net.clone(), epoch, correct);
        }
        history.push(report);
    }
    Outcome {
        best: best.0,
        best_epoch: best.1,
        history,
        seconds: start.elapsed().as_secs_f64(),
    }
}
