//! The training loop: epochs of mini-batch stochastic gradient descent,
//! reshuffled every epoch, scored after each; and chapter 3's ways of
//! learning better: regularisation, momentum, dropout, more data, and
//! schedules driven by the validation set.

use std::path::Path;
use std::time::Instant;

use ndarray::{Array2, ArrayViewMut2, s};
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

use crate::activation::Activation;
use crate::cost::Cost;
use crate::data::{Dataset, SHIFTS};
use crate::engine::{Real, Trainer};
use crate::error::{Error, Result};
use crate::init::Init;
use crate::init::check_sizes;
use crate::network::Network;
use crate::rules::{Evaluation, Rule};

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
    /// Seeds the ChaCha8 generators behind initialisation, shuffling and dropout.
    pub seed: u64,
    /// Backpropagate one example at a time instead of the whole mini-batch.
    pub per_example: bool,
    /// The hidden layers' neuron.
    pub activation: Activation,
    /// The cost, and with it the output layer.
    pub cost: Cost,
    pub init: Init,
    /// λ, L2 regularisation: w → (1 − ηλ/n) w − (η/m) Σ ∂C_x/∂w.
    pub lambda: f64,
    /// μ, momentum: v → μv − η∇C, w → w + v.
    pub momentum: f64,
    /// p, the chance a hidden neuron is dropped in training.
    pub dropout: f64,
    /// Halve η after this many epochs without a better validation accuracy;
    /// stop once η is η₀/128.
    pub halve_on_plateau: Option<usize>,
    /// Stop after this many epochs without a better validation accuracy.
    pub early_stop: Option<usize>,
    pub monitor: Monitor,
    /// Train on each image and its four one-pixel shifts (expand_mnist).
    pub expand: bool,
    /// Threads in all, 0 for one per core. The model does not depend on it.
    pub threads: usize,
}

/// Which extra figures to compute after each epoch, as network2.py's
/// monitor flags.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Monitor {
    pub training_cost: bool,
    pub training_accuracy: bool,
    pub validation_cost: bool,
    pub validation_accuracy: bool,
}

impl TrainConfig {
    /// Refuses settings that cannot train on `training` (read from `data`),
    /// naming the flag at fault: flags that do not go together, layers that
    /// do not fit the images and classes, and layer sizes `check_sizes`
    /// refuses.
    pub fn validate(&self, training: &Dataset, data: &Path) -> Result<()> {
        if self.per_example
            && (self.lambda > 0.0 || self.momentum > 0.0 || self.dropout > 0.0 || self.expand)
        {
            return Err(Error::Usage(
                "--per-example runs the chapter's plain SGD: it does not take --lambda, --momentum, --dropout or --expand"
                    .into(),
            ));
        }
        let (pixels, classes) = (training.pixels(), training.classes);
        let (first, last) = (self.sizes.first(), self.sizes.last());
        if first != Some(&pixels) {
            return Err(Error::Usage(format!(
                "--layers: the first layer must be {pixels}, one neuron per pixel of the {}×{} images in {}, not {}",
                training.rows,
                training.cols,
                data.display(),
                first.unwrap_or(&0)
            )));
        }
        if last != Some(&classes) {
            return Err(Error::Usage(format!(
                "--layers: the last layer must be {classes}, one neuron per class in {}, not {}",
                data.display(),
                last.unwrap_or(&0)
            )));
        }
        let float_bytes = 4;
        check_sizes(&self.sizes, float_bytes)
    }

    /// The chapter's experiment: [784, 30, 10], 30 epochs, m = 10, η = 3.0,
    /// sigmoid neurons, quadratic cost, N(0, 1) initialisation.
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
            init: Init::Normal,
            lambda: 0.0,
            momentum: 0.0,
            dropout: 0.0,
            halve_on_plateau: None,
            early_stop: None,
            monitor: Monitor::default(),
            expand: false,
            threads: 0,
        }
    }

    /// Whether the validation set picks the model and drives the schedule.
    pub fn validation_driven(&self) -> bool {
        self.halve_on_plateau.is_some() || self.early_stop.is_some()
    }
}

/// What one epoch scored.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct EpochReport {
    /// 1-based.
    pub epoch: usize,
    pub epochs: usize,
    /// On the test set.
    pub correct: usize,
    pub total: usize,
    /// The learning rate the epoch trained with.
    pub eta: f64,
    /// Wall time of the epoch, training and evaluation.
    pub seconds: f64,
    /// Mean cost (with the L2 term) and accuracy on the training set, when monitored.
    pub training_cost: Option<f64>,
    pub training_accuracy: Option<(usize, usize)>,
    /// On the validation set, when monitored or driving a schedule.
    pub validation_cost: Option<f64>,
    pub validation_accuracy: Option<(usize, usize)>,
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

/// Why training ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stop {
    /// All the epochs asked for ran.
    Epochs,
    /// `early_stop` epochs passed without a better validation accuracy.
    EarlyStop,
    /// The schedule halved η down to η₀/128.
    EtaFloor,
}

pub struct Outcome<F> {
    /// The network after the best epoch (the first, of equals): best on
    /// validation when the validation set drives training, else on test.
    pub best: Network<F>,
    pub best_epoch: usize,
    pub history: Vec<EpochReport>,
    pub stop: Stop,
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
    /// The step; `rule.eta` is the current η.
    pub rule: Rule<F>,
    batch_size: usize,
    per_example: bool,
    expand: bool,
    rng: ChaCha8Rng,
    order: Vec<usize>,
    // One row per example, so their transposes are the chapter's X and Y
    // (X only for `per_example`; the fast path reads the bytes).
    x_rows: Array2<F>,
    y_rows: Array2<F>,
    /// The mini-batch's images as bytes, one after another (`per_example`).
    pixels: Vec<u8>,
    trainer: Trainer<F>,
}

impl<'a, F: Real> Sgd<'a, F> {
    /// A fresh network for `config`, initialised from its seed.
    pub fn new(config: &TrainConfig, training: &'a Dataset) -> Result<Self> {
        let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
        let mut net = Network::<F>::initialised(&config.sizes, config.init, &mut rng)?;
        net.activation = config.activation;
        net.cost = config.cost;
        let m = config.batch_size.max(1);
        let n_out = *config.sizes.last().unwrap_or(&0);
        let f = |x: f64| F::from(x).unwrap_or_else(F::zero);
        let n = training.len().max(1) as f64;
        let examples = training.len() * if config.expand { SHIFTS } else { 1 };
        let mut trainer = Trainer::new(&config.sizes, m, config.threads);
        // Dropout draws from its own generator, so it does not disturb shuffling.
        trainer.seed_dropout(config.seed ^ 0x0005_eedd_40f0_u64);
        Ok(Sgd {
            net,
            training,
            rule: Rule {
                eta: f(config.eta),
                decay: f(config.eta * config.lambda
                    / (n * if config.expand { SHIFTS as f64 } else { 1.0 })),
                momentum: f(config.momentum),
                dropout: f(config.dropout),
            },
            batch_size: m,
            per_example: config.per_example,
            expand: config.expand,
            rng,
            order: (0..examples).collect(),
            x_rows: Array2::zeros((if config.per_example { m } else { 0 }, training.pixels())),
            y_rows: Array2::zeros((m, n_out)),
            pixels: vec![
                0;
                if config.per_example {
                    m * training.pixels()
                } else {
                    0
                }
            ],
            trainer,
        })
    }

    /// Mini-batches per epoch.
    pub fn batches(&self) -> usize {
        self.order.len().div_ceil(self.batch_size)
    }

    /// Sets η; the L2 decay ηλ/n follows it.
    pub fn set_eta(&mut self, eta: F) {
        if self.rule.eta != F::zero() {
            self.rule.decay = self.rule.decay * eta / self.rule.eta;
        }
        self.rule.eta = eta;
    }

    /// One epoch: reshuffle, then one step per mini-batch.
    pub fn epoch(&mut self, observer: &mut dyn Observer) {
        self.order.shuffle(&mut self.rng);
        let shifts = if self.expand { SHIFTS } else { 1 };
        let (training, order, m) = (self.training, &self.order, self.batch_size);
        let batch = |t: usize| &order[(t * m).min(order.len())..((t + 1) * m).min(order.len())];
        if self.per_example {
            for t in 0..self.batches() {
                let batch = batch(t);
                let mut x = self.x_rows.slice_mut(s![..batch.len(), ..]);
                let mut y = self.y_rows.slice_mut(s![..batch.len(), ..]);
                let pixels = &mut self.pixels[..batch.len() * training.pixels()];
                training.gather_pixels(batch, shifts, pixels);
                for (v, &b) in x.iter_mut().zip(pixels.iter()) {
                    *v = F::from(b).unwrap_or_else(F::zero) / F::from(255).unwrap_or_else(F::one);
                }
                training.gather_targets_of(batch, shifts, y.view_mut().reversed_axes());
                self.net
                    .update_mini_batch_per_example(x.t(), y.t(), self.rule.eta);
                observer.batches_done(1);
            }
            return;
        }
        let classes = self.y_rows.ncols();
        // Mini-batch t: its images and one-hot targets; and a hint to the
        // processor to fetch the scattered images of t + 1.
        let load = |t: usize, pixels: &mut [u8], y: &mut [F]| {
            let this = batch(t);
            training.prefetch(batch(t + 1), shifts);
            training.gather_pixels(this, shifts, pixels);
            let y = &mut y[..this.len() * classes];
            if let Ok(y) = ArrayViewMut2::from_shape((this.len(), classes), y) {
                training.gather_targets_of(this, shifts, y.reversed_axes());
            }
            this.len()
        };
        let batches = self.batches();
        let done = &mut || observer.batches_done(1);
        self.trainer
            .steps(&mut self.net, batches, load, &self.rule, done);
    }

    /// How many images of `data` the network classifies right, computed on
    /// this run's threads.
    pub fn evaluate(&mut self, data: &Dataset) -> usize {
        self.trainer.evaluate(&self.net, data)
    }

    /// Accuracy, mean cost and confusion matrix on `data`.
    pub fn evaluate_full(&mut self, data: &Dataset) -> Evaluation {
        self.trainer.evaluate_full(&self.net, data)
    }
}

/// Trains a fresh network on `training` by mini-batch SGD, scoring it on
/// `test` after every epoch, and on `validation` where asked or where the
/// validation set drives a schedule.
pub fn train<F: Real>(
    config: &TrainConfig,
    training: &Dataset,
    validation: &Dataset,
    test: &Dataset,
    observer: &mut dyn Observer,
) -> Result<Outcome<F>> {
    let start = Instant::now();
    let mut sgd = Sgd::<F>::new(config, training)?;
    let mut history: Vec<EpochReport> = Vec::with_capacity(config.epochs);
    let mut best = (sgd.net.clone(), 0, 0);
    let eta_floor = config.eta / 128.0;
    let mut since_better = 0;
    let mut best_validation = None;
    let mut stop = Stop::Epochs;
    let mut eta = config.eta;
    // The L2 term of network2.py's total_cost over a set of n: (λ/2n) Σ w².
    let penalty = |net: &Network<F>, n: usize| {
        let sum: f64 = net
            .weights
            .iter()
            .flatten()
            .map(|w| w.to_f64().unwrap_or(0.0).powi(2))
            .sum();
        config.lambda / (2.0 * n.max(1) as f64) * sum
    };
    for epoch in 1..=config.epochs {
        let epoch_start = Instant::now();
        observer.epoch_started(epoch, sgd.batches());
        sgd.epoch(observer);
        let correct = sgd.evaluate(test);
        let m = config.monitor;
        let mut report = EpochReport {
            epoch,
            epochs: config.epochs,
            correct,
            total: test.len(),
            eta,
            ..EpochReport::default()
        };
        if m.training_cost || m.training_accuracy {
            let e = sgd.evaluate_full(training);
            report.training_cost = m
                .training_cost
                .then(|| e.mean_cost + penalty(&sgd.net, training.len()));
            report.training_accuracy = m.training_accuracy.then_some((e.correct, e.total));
        }
        if m.validation_cost || m.validation_accuracy || config.validation_driven() {
            let e = sgd.evaluate_full(validation);
            report.validation_cost = m
                .validation_cost
                .then(|| e.mean_cost + penalty(&sgd.net, validation.len()));
            report.validation_accuracy = Some((e.correct, e.total));
        }
        report.seconds = epoch_start.elapsed().as_secs_f64();
        observer.epoch_finished(&report);

        let score = if config.validation_driven() {
            report.validation_accuracy.map_or(0, |(c, _)| c)
        } else {
            correct
        };
        if epoch == 1 || score > best.2 {
            best = (sgd.net.clone(), epoch, score);
        }
        history.push(report);

        if config.validation_driven() {
            if best_validation.is_none_or(|b| score > b) {
                best_validation = Some(score);
                since_better = 0;
            } else {
                since_better += 1;
            }
            if config.early_stop.is_some_and(|n| since_better >= n) {
                stop = Stop::EarlyStop;
                break;
            }
            if config.halve_on_plateau.is_some_and(|n| since_better >= n) {
                // Halve η; once it would be η₀/128, stop (chapter 3).
                eta /= 2.0;
                if eta <= eta_floor {
                    stop = Stop::EtaFloor;
                    break;
                }
                sgd.set_eta(F::from(eta).unwrap_or_else(F::zero));
                since_better = 0;
            }
        }
    }
    Ok(Outcome {
        best: best.0,
        best_epoch: best.1,
        history,
        stop,
        seconds: start.elapsed().as_secs_f64(),
    })
}
