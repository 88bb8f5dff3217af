//! The training loop: epochs of mini-batch stochastic gradient descent,
//! reshuffled every epoch, scored after each; and chapter 3's ways of
//! learning better: regularisation, momentum, dropout, more data, and
//! schedules driven by the validation set.

use std::path::Path;
use std::sync::OnceLock;
use std::time::Instant;

use ndarray::{Array1, Array2, ArrayViewMut2, s};
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

use crate::activation::Activation;
use crate::checkpoint::{self, Checkpoint, Layers};
use crate::cost::Cost;
use crate::data::{Dataset, LitPixels, SHIFTS};
pub use crate::engine::MAX_THREADS;
use crate::engine::{Batch, Real, Trainer};
use crate::error::{Error, Result};
use crate::init::Init;
use crate::init::check_sizes;
use crate::model::Precision;
use crate::network::Network;
use crate::rules::{Evaluation, Rule, Velocity};

/// Training settings, independent of the command line.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
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
    /// Which epoch's network the run keeps.
    pub keep: Keep,
}

/// Which epoch's network a run keeps.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Keep {
    /// The best on the validation set.
    #[default]
    Best,
    /// The last.
    Last,
}

impl Keep {
    pub const ALL: [Keep; 2] = [Keep::Best, Keep::Last];

    pub fn name(self) -> &'static str {
        match self {
            Keep::Best => "best",
            Keep::Last => "last",
        }
    }
}

impl std::str::FromStr for Keep {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Keep::ALL
            .into_iter()
            .find(|k| k.name() == s)
            .ok_or_else(|| format!("'{s}' is not best or last"))
    }
}

/// Which extra figures to compute after each epoch, as network2.py's
/// monitor flags.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
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
        // What the flags' parsers ensure, for settings read from a checkpoint.
        let ranges = [
            (
                self.eta.is_finite() && self.eta > 0.0,
                "--eta: must be above 0",
            ),
            (
                self.lambda.is_finite() && self.lambda >= 0.0,
                "--lambda: must be at least 0",
            ),
            (
                (0.0..1.0).contains(&self.momentum),
                "--momentum: must be in [0, 1)",
            ),
            (
                (0.0..1.0).contains(&self.dropout),
                "--dropout: must be in [0, 1)",
            ),
            (
                self.epochs >= 1 && self.batch_size >= 1,
                "--epochs and --batch-size: must be at least 1",
            ),
            (
                self.halve_on_plateau != Some(0) && self.early_stop != Some(0),
                "--eta-schedule and --early-stop: must be at least 1",
            ),
            (self.threads <= MAX_THREADS, "--threads: at most 256"),
        ];
        if let Some((_, message)) = ranges.iter().find(|(ok, _)| !ok) {
            return Err(Error::Usage((*message).into()));
        }
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
            keep: Keep::Best,
        }
    }

    /// Whether the validation set picks the model and drives the schedule.
    pub fn validation_driven(&self) -> bool {
        self.halve_on_plateau.is_some() || self.early_stop.is_some()
    }
}

/// What one epoch scored.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
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
    /// Something the user should hear of, in one line.
    fn warn(&mut self, _message: &str) {}
}

/// Hears nothing.
pub struct Silent;
impl Observer for Silent {}

/// Why training ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
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
    /// The training images' lit pixels, listed when the engine first takes
    /// them (None where it cannot).
    lit: OnceLock<Option<LitPixels>>,
    trainer: Trainer<F>,
}

impl<'a, F: Real> Sgd<'a, F> {
    /// A fresh network for `config`, initialised from its seed.
    pub fn new(config: &TrainConfig, training: &'a Dataset) -> Result<Self> {
        let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
        let mut net = Network::<F>::initialised(&config.sizes, config.init, &mut rng)?;
        net.activation = config.activation;
        net.cost = config.cost;
        // A mini-batch larger than the data set is the data set.
        let examples = training.len() * if config.expand { SHIFTS } else { 1 };
        let m = config.batch_size.clamp(1, examples.max(1));
        let n_out = *config.sizes.last().unwrap_or(&0);
        let f = |x: f64| F::from(x).unwrap_or_else(F::zero);
        let n = training.len().max(1) as f64;
        let mut trainer = Trainer::new(&config.sizes, m, config.threads);
        // Sparse or dense first layer, from the whole training set's pixels.
        trainer.expect_input(training);
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
            lit: OnceLock::new(),
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

    /// One epoch: reshuffle, then one step per mini-batch, asking `go_on`
    /// after each; false if it said no.
    pub fn epoch(&mut self, observer: &mut dyn Observer, go_on: &dyn Fn() -> bool) -> bool {
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
                if !go_on() {
                    return false;
                }
            }
            return true;
        }
        let classes = self.y_rows.ncols();
        // Mini-batch t: its images, as lit pixels where the engine takes
        // them, and one-hot targets; and a hint to the processor to fetch
        // the scattered images of t + 1.
        let lit = &self.lit;
        let load = |t: usize, out: &mut Batch<'_, F>| {
            let this = batch(t);
            let lit = if out.wants_lit() {
                lit.get_or_init(|| LitPixels::of(training)).as_ref()
            } else {
                None
            };
            // Taken only where there are lit pixels to give.
            match lit.and_then(|lit| Some((lit, out.lit()?))) {
                Some((lit, mut inputs)) => {
                    lit.prefetch(batch(t + 1), batch(t + 2), shifts);
                    for &i in this {
                        lit.runs(i, shifts, |index, bytes, offset| {
                            inputs.run(index, bytes, offset)
                        });
                        inputs.end_image();
                    }
                }
                None => {
                    training.prefetch(batch(t + 1), shifts);
                    training.gather_pixels(this, shifts, out.pixels);
                }
            }
            let y = &mut out.targets[..this.len() * classes];
            if let Ok(y) = ArrayViewMut2::from_shape((this.len(), classes), y) {
                training.gather_targets_of(this, shifts, y.reversed_axes());
            }
            this.len()
        };
        let batches = self.batches();
        let done = &mut || {
            observer.batches_done(1);
            go_on()
        };
        let taken = self
            .trainer
            .steps(&mut self.net, batches, load, &self.rule, done);
        taken == batches
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

/// How an epoch of a [`Run`] ended.
#[derive(Clone, Debug, PartialEq)]
pub enum EpochEnd {
    /// Trained and scored; `chosen` says whether it is now the chosen epoch.
    Done { chosen: bool },
    /// Stopped after a mini-batch because `go_on` said so. The run cannot
    /// continue: its network is part-way through an epoch.
    Interrupted,
}

/// A training run, an epoch at a time, so that a caller can save, stop and
/// checkpoint between epochs. The chosen network is the one of the epoch
/// with the best validation accuracy (the earliest, on a tie), or the last
/// with `Keep::Last`; the test set is only reported.
pub struct Run<'a, F> {
    pub config: TrainConfig,
    sgd: Sgd<'a, F>,
    validation: &'a Dataset,
    test: &'a Dataset,
    pub history: Vec<EpochReport>,
    pub chosen: Network<F>,
    pub chosen_epoch: usize,
    best_validation: Option<usize>,
    since_better: usize,
    eta: f64,
    stop: Option<Stop>,
    /// Seconds spent before this process took the run on.
    seconds_before: f64,
    start: Instant,
    warned: bool,
}

/// The epochs a run must stay at chance before it warns.
pub const CHANCE_EPOCHS: usize = 3;

impl<'a, F: Real> Run<'a, F> {
    pub fn new(
        config: &TrainConfig,
        training: &'a Dataset,
        validation: &'a Dataset,
        test: &'a Dataset,
    ) -> Result<Self> {
        for (name, set) in [
            ("training", training),
            ("validation", validation),
            ("test", test),
        ] {
            if set.is_empty() {
                return Err(Error::Usage(format!("the {name} set is empty")));
            }
        }
        let sgd = Sgd::<F>::new(config, training)?;
        Ok(Run {
            config: config.clone(),
            chosen: sgd.net.clone(),
            sgd,
            validation,
            test,
            history: Vec::with_capacity(config.epochs),
            chosen_epoch: 0,
            best_validation: None,
            since_better: 0,
            eta: config.eta,
            stop: None,
            seconds_before: 0.0,
            start: Instant::now(),
            warned: false,
        })
    }

    /// Why the run is over, once it is.
    pub fn finished(&self) -> Option<Stop> {
        self.stop
    }

    /// The epochs done.
    pub fn epochs_done(&self) -> usize {
        self.history.len()
    }

    /// Seconds of training, this process's and any before a resume.
    pub fn seconds(&self) -> f64 {
        self.seconds_before + self.start.elapsed().as_secs_f64()
    }

    /// The network as it stands after the last epoch.
    pub fn network(&self) -> &Network<F> {
        &self.sgd.net
    }

    /// The report of the chosen epoch.
    pub fn chosen_report(&self) -> Option<&EpochReport> {
        self.chosen_epoch
            .checked_sub(1)
            .and_then(|i| self.history.get(i))
    }

    /// Trains one epoch, asking `go_on` after each mini-batch, then scores
    /// it. A network that is no longer finite, or whose validation cost is
    /// not, ends the run with `Error::Diverged`; the chosen network stays
    /// the last one chosen.
    pub fn next_epoch(
        &mut self,
        observer: &mut dyn Observer,
        go_on: &dyn Fn() -> bool,
    ) -> Result<EpochEnd> {
        let config = self.config.clone();
        let config = &config;
        let epoch = self.history.len() + 1;
        let epoch_start = Instant::now();
        observer.epoch_started(epoch, self.sgd.batches());
        if !self.sgd.epoch(observer, go_on) {
            return Ok(EpochEnd::Interrupted);
        }
        let diverged = |what: String| Err(Error::Diverged { epoch, what });
        if let Some(what) = non_finite(&self.sgd.net) {
            return diverged(what);
        }
        let e = self.sgd.evaluate_full(self.validation);
        if !e.mean_cost.is_finite() {
            return diverged(format!("the validation cost is {}", e.mean_cost));
        }
        let m = config.monitor;
        let mut report = EpochReport {
            epoch,
            epochs: config.epochs,
            correct: self.sgd.evaluate(self.test),
            total: self.test.len(),
            eta: self.eta,
            validation_accuracy: Some((e.correct, e.total)),
            validation_cost: m
                .validation_cost
                .then(|| e.mean_cost + penalty(config, &self.sgd.net, self.validation.len())),
            ..EpochReport::default()
        };
        if m.training_cost || m.training_accuracy {
            let training = self.sgd.training;
            let t = self.sgd.evaluate_full(training);
            report.training_cost = m
                .training_cost
                .then(|| t.mean_cost + penalty(config, &self.sgd.net, training.len()));
            report.training_accuracy = m.training_accuracy.then_some((t.correct, t.total));
        }
        report.seconds = epoch_start.elapsed().as_secs_f64();
        observer.epoch_finished(&report);
        self.warn_at_chance(observer, &report);

        let score = e.correct;
        let better = self.best_validation.is_none_or(|b| score > b);
        let chosen = better || config.keep == Keep::Last;
        if chosen {
            self.chosen = self.sgd.net.clone();
            self.chosen_epoch = epoch;
        }
        self.history.push(report);
        if better {
            self.best_validation = Some(score);
            self.since_better = 0;
        } else {
            self.since_better += 1;
        }
        if config.early_stop.is_some_and(|n| self.since_better >= n) {
            self.stop = Some(Stop::EarlyStop);
        } else if config
            .halve_on_plateau
            .is_some_and(|n| self.since_better >= n)
        {
            self.eta /= 2.0;
            if self.eta <= config.eta / 128.0 {
                self.stop = Some(Stop::EtaFloor);
            }
            self.sgd.set_eta(F::from(self.eta).unwrap_or_else(F::zero));
            self.since_better = 0;
        }
        if self.stop.is_none() && epoch >= config.epochs {
            self.stop = Some(Stop::Epochs);
        }
        Ok(EpochEnd::Done { chosen })
    }

    /// Warns, once, when validation accuracy has stayed at chance (the most
    /// common class's share, or up to five points more) for the first epochs.
    fn warn_at_chance(&mut self, observer: &mut dyn Observer, report: &EpochReport) {
        let epoch = report.epoch;
        if self.warned || epoch != CHANCE_EPOCHS {
            return;
        }
        let counts = self.validation.label_counts();
        let most = counts.iter().copied().max().unwrap_or(0) as f64 / self.validation.len() as f64;
        let at_chance = |r: &EpochReport| {
            r.validation_accuracy
                .is_some_and(|(c, t)| (c as f64 / t.max(1) as f64) <= most + 0.05)
        };
        if at_chance(report) && self.history.iter().all(at_chance) {
            self.warned = true;
            let (c, t) = report.validation_accuracy.unwrap_or((0, 1));
            observer.warn(&format!(
                "validation accuracy is still at chance after {epoch} epochs ({:.2}%; the most common class alone is {:.2}%): the network is not learning; try a smaller --eta",
                100.0 * c as f64 / t.max(1) as f64,
                100.0 * most
            ));
        }
    }
}

impl<'a, F: Real> Run<'a, F> {
    /// The run as it stands after its last epoch; `data` is the data set's
    /// fingerprint.
    pub fn checkpoint(&self, data: &str) -> Checkpoint {
        let rule = &self.sgd.rule;
        let f = |x: F| x.to_f64().unwrap_or(f64::NAN);
        Checkpoint {
            format: checkpoint::FORMAT.into(),
            version: checkpoint::VERSION,
            data: data.into(),
            precision: Precision::of::<F>(),
            settings: self.config.clone(),
            train_size: None,
            epoch: self.history.len(),
            eta: self.eta,
            rule_eta: f(rule.eta),
            rule_decay: f(rule.decay),
            since_better: self.since_better,
            best_validation: self.best_validation,
            chosen_epoch: self.chosen_epoch,
            stop: self.stop,
            shuffle_position: self.sgd.rng.get_word_pos().to_string(),
            dropout_position: self.sgd.trainer.dropout_position().to_string(),
            seconds: self.seconds(),
            history: self.history.clone(),
            network: layers_of(&self.sgd.net.weights, &self.sgd.net.biases),
            chosen: layers_of(&self.chosen.weights, &self.chosen.biases),
            velocity: self
                .sgd
                .trainer
                .velocity(&self.sgd.net)
                .map(|v| layers_of(&v.weights, &v.biases)),
        }
    }

    /// Takes a run on from its checkpoint. `data` must be the fingerprint
    /// of the data set the checkpoint was made on, and F its precision.
    pub fn resume(
        c: &Checkpoint,
        data: &str,
        training: &'a Dataset,
        validation: &'a Dataset,
        test: &'a Dataset,
    ) -> Result<Self, String> {
        if c.data != data {
            return Err(format!(
                "was made on another data set ({}), not this one ({data})",
                c.data
            ));
        }
        if c.precision != Precision::of::<F>() {
            return Err(format!("holds an {} run", c.precision));
        }
        if c.history.len() != c.epoch || c.chosen_epoch > c.epoch || c.epoch == 0 {
            return Err("its epochs, history and chosen epoch disagree".into());
        }
        // Checked before anything the size of the network is allocated.
        c.settings
            .validate(training, Path::new("the data"))
            .map_err(|e| format!("its settings do not fit: {e}"))?;
        let network = |l: &Layers, what: &str| {
            network_of::<F>(&c.settings, l).map_err(|e| format!("{what}: {e}"))
        };
        let net = network(&c.network, "network")?;
        let chosen = network(&c.chosen, "chosen network")?;
        let velocity = match &c.velocity {
            Some(v) => Some(network(v, "velocity")?),
            None => None,
        };
        let mut run = Run::<F>::new(&c.settings, training, validation, test)
            .map_err(|e| format!("its settings do not fit the data: {e}"))?;
        // The shuffles of the epochs done, from the same seed, restore the
        // order and the generator; its position checks the replay.
        for _ in 0..c.epoch {
            run.sgd.order.shuffle(&mut run.sgd.rng);
        }
        if run.sgd.rng.get_word_pos().to_string() != c.shuffle_position {
            return Err("its shuffling generator does not replay: another version of nndl?".into());
        }
        run.sgd.net = net;
        run.chosen = chosen;
        if let Some(v) = velocity {
            let velocity = Velocity {
                weights: v.weights,
                biases: v.biases,
            };
            run.sgd.trainer.set_velocity(&run.sgd.net, &velocity);
        }
        let position = c
            .dropout_position
            .parse::<u128>()
            .map_err(|_| "its dropout generator's position is not a number")?;
        run.sgd.trainer.set_dropout_position(position);
        let g = |x: f64| F::from(x).unwrap_or_else(F::nan);
        run.sgd.rule.eta = g(c.rule_eta);
        run.sgd.rule.decay = g(c.rule_decay);
        run.history = c.history.clone();
        run.chosen_epoch = c.chosen_epoch;
        run.best_validation = c.best_validation;
        run.since_better = c.since_better;
        run.eta = c.eta;
        run.stop = c.stop;
        run.seconds_before = c.seconds;
        run.warned = c.epoch >= CHANCE_EPOCHS;
        Ok(run)
    }
}

/// Per layer, the weights row after row and the biases, in f64 (exact).
fn layers_of<F: Real>(weights: &[Array2<F>], biases: &[Array1<F>]) -> Layers {
    let f = |x: &F| x.to_f64().unwrap_or(f64::NAN);
    Layers {
        weights: weights.iter().map(|w| w.iter().map(f).collect()).collect(),
        biases: biases.iter().map(|b| b.iter().map(f).collect()).collect(),
    }
}

/// A network of `config`'s shape from `layers`, every number finite in F.
fn network_of<F: Real>(config: &TrainConfig, layers: &Layers) -> Result<Network<F>, String> {
    let sizes = &config.sizes;
    if layers.weights.len() + 1 != sizes.len() || layers.biases.len() + 1 != sizes.len() {
        return Err(format!(
            "does not have the {} layers of {sizes:?}",
            sizes.len() - 1
        ));
    }
    let mut weights = Vec::new();
    for (i, w) in layers.weights.iter().enumerate() {
        let shape = (sizes[i + 1], sizes[i]);
        let w = Array2::from_shape_vec(shape, w.clone())
            .map_err(|_| format!("layer {}'s weights are not {}×{}", i + 2, shape.0, shape.1))?;
        weights.push(w);
    }
    let biases = layers
        .biases
        .iter()
        .map(|b| Array1::from(b.clone()))
        .collect();
    let net = Network::from_parts(
        sizes.clone(),
        weights,
        biases,
        config.activation,
        config.cost,
    )?;
    let cast = net.cast::<F>();
    match non_finite(&cast) {
        Some(what) => Err(what),
        None => Ok(cast),
    }
}

/// What is not finite in `net`, if anything.
fn non_finite<F: Real>(net: &Network<F>) -> Option<String> {
    for (i, (w, b)) in net.weights.iter().zip(&net.biases).enumerate() {
        if let Some(x) = w.iter().chain(b.iter()).find(|x| !x.is_finite()) {
            return Some(format!("a weight or bias of layer {} is {x}", i + 2));
        }
    }
    None
}

/// L2's term of the cost, (λ/2n) Σ w².
fn penalty<F: Real>(config: &TrainConfig, net: &Network<F>, n: usize) -> f64 {
    let sum: f64 = net
        .weights
        .iter()
        .flatten()
        .map(|w| w.to_f64().unwrap_or(0.0).powi(2))
        .sum();
    config.lambda / (2.0 * n.max(1) as f64) * sum
}

/// Trains a fresh network on `training` by mini-batch SGD, scoring it on
/// `validation` and `test` after every epoch, and keeps the epoch chosen on
/// validation (see [`Run`]).
pub fn train<F: Real>(
    config: &TrainConfig,
    training: &Dataset,
    validation: &Dataset,
    test: &Dataset,
    observer: &mut dyn Observer,
) -> Result<Outcome<F>> {
    let mut run = Run::<F>::new(config, training, validation, test)?;
    while run.finished().is_none() {
        run.next_epoch(observer, &|| true)?;
    }
    Ok(Outcome {
        seconds: run.seconds(),
        stop: run.finished().unwrap_or(Stop::Epochs),
        best: run.chosen,
        best_epoch: run.chosen_epoch,
        history: run.history,
    })
}
