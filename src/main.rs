//! The `nndl` command: clap parsing and dispatch. The work lives in the library.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::builder::{PossibleValuesParser, TypedValueParser};
use clap::{Args, Parser, Subcommand, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use ndarray::{Array1, NdFloat};

use nndl::Init;
use nndl::cost::Output;
use nndl::model::Precision;
use nndl::train::{EpochReport, Monitor, Observer, Stop};
use nndl::{Activation, Cost};
use nndl::{Error, Network, Result, TrainConfig, image_input, load_mnist, model};

/// `println!` that shrugs off a closed stdout (`nndl train | head -3`)
/// instead of panicking; the work, and the saved model, go on.
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write;
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}

#[derive(Parser)]
#[command(
    name = "nndl",
    version,
    arg_required_else_help = true,
    about = "Train, evaluate and query the backpropagation network of Nielsen's Neural Networks and Deep Learning, chapter 2"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Train a network on MNIST by mini-batch SGD and save the best epoch
    Train(TrainArgs),
    /// Score a saved model on a split of the data: accuracy, cost, confusion matrix
    Evaluate(EvaluateArgs),
    /// Classify one image file (PNG, JPEG, BMP, GIF, PGM)
    Predict(PredictArgs),
    /// Check backpropagation against finite differences (eq. 46) and time both
    Gradcheck(GradcheckArgs),
}

#[derive(Args)]
struct GradcheckArgs {
    /// Neurons per layer, input first
    #[arg(long, default_value = "50,30,10", value_name = "N,N,...", value_parser = parse_layers)]
    layers: Sizes,
    /// Neuron of the hidden layers
    #[arg(long, default_value = "sigmoid", value_parser = choice::<Activation, 4>(Activation::ALL.map(Activation::name)))]
    activation: Activation,
    /// Cost of sigmoid outputs
    #[arg(long, value_parser = choice::<Cost, 2>(SIGMOID_COSTS.map(Cost::name)))]
    cost: Option<Cost>,
    /// Output layer
    #[arg(long, default_value = "sigmoid", value_parser = choice::<Output, 2>(Output::ALL.map(Output::name)))]
    output: Output,
    /// Examples in the random mini-batch
    #[arg(long, default_value_t = 10, value_parser = parse_positive)]
    batch_size: usize,
    /// Seed for the random network and mini-batch
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Check every neuron × cost × output combination
    #[arg(long)]
    all: bool,
}

#[derive(Args)]
struct TrainArgs {
    /// Neurons per layer, input first [default: 784,30,10]
    #[arg(long, value_name = "N,N,...", value_parser = parse_layers, conflicts_with = "hidden")]
    layers: Option<Sizes>,
    /// Hidden layer sizes between the 784 inputs and the 10 outputs
    #[arg(long, value_name = "N,...", value_parser = parse_hidden)]
    hidden: Option<Sizes>,
    /// Passes over the training data
    #[arg(long, default_value_t = 30, value_parser = parse_positive)]
    epochs: usize,
    /// Examples per mini-batch (m)
    #[arg(long, default_value_t = 10, value_parser = parse_positive)]
    batch_size: usize,
    /// Learning rate η
    #[arg(long, default_value_t = 3.0, value_parser = parse_eta, allow_negative_numbers = true)]
    eta: f64,
    /// Seed for initialisation and shuffling; the same seed gives the same model file
    #[arg(long)]
    seed: Option<u64>,
    /// Directory with the four MNIST IDX files (.gz or raw)
    #[arg(long, default_value = "data/mnist", value_name = "DIR")]
    data: PathBuf,
    /// Where to save the model
    #[arg(long, default_value = "model.json", value_name = "PATH")]
    out: PathBuf,
    /// Train on only the first N training images
    #[arg(long, value_name = "N", value_parser = parse_positive)]
    train_size: Option<usize>,
    /// Backpropagate one example at a time instead of the whole mini-batch as one matrix
    #[arg(long)]
    per_example: bool,
    /// Threads to use, 0 for one per core; the model does not depend on it
    #[arg(long, default_value_t = 0, value_name = "N")]
    threads: usize,
    /// Float type to train in, f32 or f64; f64 is slower and exists for checking
    #[arg(long, default_value = "f32", value_name = "TYPE", value_parser = str::parse::<Precision>)]
    precision: Precision,
    /// Cost of sigmoid outputs (with --output softmax the cost is log-likelihood)
    #[arg(long, value_parser = choice::<Cost, 2>(SIGMOID_COSTS.map(Cost::name)))]
    cost: Option<Cost>,
    /// Output layer: sigmoid neurons, or softmax with the log-likelihood cost
    #[arg(long, default_value = "sigmoid", value_parser = choice::<Output, 2>(Output::ALL.map(Output::name)))]
    output: Output,
    /// Neuron of the hidden layers
    #[arg(long, default_value = "sigmoid", value_parser = choice::<Activation, 4>(Activation::ALL.map(Activation::name)))]
    activation: Activation,
    /// Initial weights: normal N(0,1) (the chapter's), scaled N(0,1/n_in), he N(0,2/n_in)
    #[arg(long, default_value = "normal", value_parser = choice::<Init, 3>(Init::ALL.map(Init::name)))]
    init: Init,
    /// L2 regularisation λ: w → (1 − ηλ/n) w − (η/m) Σ ∂C_x/∂w
    #[arg(long, default_value_t = 0.0, value_parser = parse_lambda, value_name = "λ", allow_negative_numbers = true)]
    lambda: f64,
    /// Momentum μ in [0, 1): v → μv − η∇C, w → w + v
    #[arg(long, default_value_t = 0.0, value_parser = parse_fraction, value_name = "μ", allow_negative_numbers = true)]
    momentum: f64,
    /// Dropout p in [0, 1): the chance each hidden neuron is dropped in training
    #[arg(long, default_value_t = 0.0, value_parser = parse_fraction, value_name = "P", allow_negative_numbers = true)]
    dropout: f64,
    /// halve-on-plateau:N — halve η after N epochs without a better validation accuracy; stop at η₀/128
    #[arg(long, value_parser = parse_schedule, value_name = "halve-on-plateau:N")]
    eta_schedule: Option<usize>,
    /// Stop after N epochs without a better validation accuracy
    #[arg(long, value_parser = parse_positive, value_name = "N")]
    early_stop: Option<usize>,
    /// Extra figures per epoch: train-cost,train-accuracy,validation-cost,validation-accuracy
    #[arg(long, value_parser = parse_monitor, value_name = "LIST")]
    monitor: Option<Monitor>,
    /// Write every epoch's figures to FILE.csv or FILE.json
    #[arg(long, value_name = "FILE")]
    metrics: Option<PathBuf>,
    /// Add each training image's four one-pixel shifts: 250,000 images
    #[arg(long)]
    expand: bool,
    /// Print only the final summary
    #[arg(long, short)]
    quiet: bool,
}

/// The costs `--cost` names; softmax's log-likelihood comes with `--output`.
const SIGMOID_COSTS: [Cost; 2] = [Cost::Quadratic, Cost::CrossEntropy];

/// A flag's value among `names`, parsed into the library's own type, so
/// that `--help` lists the names and a typo gets clap's suggestion.
fn choice<T, const N: usize>(names: [&'static str; N]) -> impl TypedValueParser<Value = T>
where
    T: std::str::FromStr<Err = String> + Clone + Send + Sync + 'static,
{
    PossibleValuesParser::new(names).try_map(|s| s.parse::<T>())
}

#[derive(Args)]
struct EvaluateArgs {
    /// Model file
    #[arg(default_value = "model.json")]
    model: PathBuf,
    /// Directory with the four MNIST IDX files (.gz or raw)
    #[arg(long, default_value = "data/mnist", value_name = "DIR")]
    data: PathBuf,
    /// Which split to score
    #[arg(long, value_enum, default_value_t = Split::Test)]
    split: Split,
    /// Threads to compute on, this one included (0: one per core)
    #[arg(long, default_value_t = 0, value_name = "N")]
    threads: usize,
}

#[derive(Clone, Copy, ValueEnum)]
enum Split {
    Test,
    Validation,
    Train,
}

#[derive(Args)]
struct PredictArgs {
    /// Model file
    model: PathBuf,
    /// Image of one digit
    image: PathBuf,
    /// Print one JSON line
    #[arg(long)]
    json: bool,
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if !e.use_stderr() => {
            // --help, --version.
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
        Err(e) if e.kind() == clap::error::ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            // A bare `nndl`: usage and the subcommands.
            let _ = e.print();
            return ExitCode::from(2);
        }
        Err(e) => {
            eprintln!("{}", one_line(&e.to_string()));
            return ExitCode::from(2);
        }
    };
    let result = match cli.command {
        Command::Train(args) => run_train(args),
        Command::Evaluate(args) => run_evaluate(args),
        Command::Predict(args) => run_predict(args),
        Command::Gradcheck(args) => run_gradcheck(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}

/// clap's error on one line: its first paragraph, which names the flag and
/// the problem, and its tips ("a similar argument exists: '--epochs'").
fn one_line(text: &str) -> String {
    let first = text
        .lines()
        .take_while(|l| !l.trim().is_empty())
        .map(|l| l.trim().to_string());
    let tips = text
        .lines()
        .map(str::trim)
        .filter(|l| l.starts_with("tip:"))
        .map(|tip| format!("({tip})"));
    first.chain(tips).collect::<Vec<_>>().join(" ")
}

fn parse_positive(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(0) => Err("must be at least 1".into()),
        Ok(n) => Ok(n),
        Err(_) => Err("expected a whole number".into()),
    }
}

fn parse_eta(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(x) if x.is_finite() && x > 0.0 => Ok(x),
        Ok(_) => Err("the learning rate must be a number above 0".into()),
        Err(_) => Err("expected a number".into()),
    }
}

fn parse_lambda(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(x) if x.is_finite() && x >= 0.0 => Ok(x),
        Ok(_) => Err("must be a number of at least 0".into()),
        Err(_) => Err("expected a number".into()),
    }
}

fn parse_fraction(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(x) if (0.0..1.0).contains(&x) => Ok(x),
        Ok(_) => Err("must be at least 0 and below 1".into()),
        Err(_) => Err("expected a number".into()),
    }
}

fn parse_schedule(s: &str) -> Result<usize, String> {
    match s.strip_prefix("halve-on-plateau:") {
        Some(n) => parse_positive(n),
        None => Err("expected halve-on-plateau:N".into()),
    }
}

fn parse_monitor(s: &str) -> Result<Monitor, String> {
    let mut m = Monitor::default();
    for item in s.split(',') {
        match item.trim() {
            "train-cost" => m.training_cost = true,
            "train-accuracy" => m.training_accuracy = true,
            "validation-cost" => m.validation_cost = true,
            "validation-accuracy" => m.validation_accuracy = true,
            other => {
                return Err(format!(
                    "'{other}' is not one of train-cost, train-accuracy, validation-cost, validation-accuracy"
                ));
            }
        }
    }
    Ok(m)
}

/// A comma-separated list of layer sizes.
#[derive(Clone, Debug)]
struct Sizes(Vec<usize>);

fn parse_list(s: &str) -> Result<Vec<usize>, String> {
    s.split(',')
        .map(|n| parse_positive(n.trim()).map_err(|e| format!("'{n}': {e}")))
        .collect()
}

fn parse_layers(s: &str) -> Result<Sizes, String> {
    let sizes = parse_list(s)?;
    if sizes.len() < 2 {
        return Err("need at least an input and an output layer".into());
    }
    Ok(Sizes(sizes))
}

fn parse_hidden(s: &str) -> Result<Sizes, String> {
    parse_list(s).map(Sizes)
}

/// Draws an indicatif bar over an epoch's mini-batches when stderr is a
/// terminal, and prints one line per epoch on stdout.
struct Progress {
    bar: Option<ProgressBar>,
    quiet: bool,
    pending: usize,
    /// Print η on each epoch line: a schedule changes it.
    show_eta: bool,
    history: Vec<EpochReport>,
    metrics: Option<PathBuf>,
    metrics_error: Option<Error>,
}

impl Observer for Progress {
    fn epoch_started(&mut self, epoch: usize, batches: usize) {
        if self.quiet || !std::io::stderr().is_terminal() {
            return;
        }
        let bar = ProgressBar::new(batches as u64).with_prefix(format!("Epoch {epoch}"));
        bar.set_style(
            ProgressStyle::with_template(
                "{prefix} [{bar:40}] {pos}/{len} mini-batches, {eta} left",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
        );
        self.bar = Some(bar);
    }

    fn batches_done(&mut self, count: usize) {
        // Drawing every mini-batch would cost more than some mini-batches.
        self.pending += count;
        if self.pending >= 64 {
            if let Some(bar) = &self.bar {
                bar.inc(self.pending as u64);
            }
            self.pending = 0;
        }
    }

    fn epoch_finished(&mut self, r: &EpochReport) {
        self.pending = 0;
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
        if !self.quiet {
            let mut line = format!(
                "Epoch {}/{}: {}",
                r.epoch,
                r.epochs,
                score(r.correct, r.total)
            );
            if self.show_eta {
                line += &format!("  η {}", r.eta);
            }
            if let Some(c) = r.training_cost {
                line += &format!("  training cost {c:.4}");
            }
            if let Some((c, t)) = r.training_accuracy {
                line += &format!("  training {}", score(c, t));
            }
            if let Some(c) = r.validation_cost {
                line += &format!("  validation cost {c:.4}");
            }
            if let Some((c, t)) = r.validation_accuracy {
                line += &format!("  validation {}", score(c, t));
            }
            say!("{line}  {:.1} s", r.seconds);
        }
        self.history.push(r.clone());
        if let Some(path) = &self.metrics
            && self.metrics_error.is_none()
        {
            self.metrics_error = nndl::metrics::write(path, &self.history).err();
        }
    }
}

/// `9,412 / 10,000 (94.12%)`.
fn score(correct: usize, total: usize) -> String {
    format!(
        "{} / {} ({:.2}%)",
        thousands(correct),
        thousands(total),
        100.0 * correct as f64 / total.max(1) as f64
    )
}

fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn run_train(args: TrainArgs) -> Result<()> {
    model::check_writable(&args.out)?;
    if let Some(path) = &args.metrics {
        if nndl::metrics::is_json(path).is_none() {
            return Err(Error::Usage(format!(
                "--metrics {}: the file name must end in .csv or .json",
                path.display()
            )));
        }
        model::check_writable(path)?;
    }
    let cost = cost_of(args.output, args.cost)?;
    let mnist = load_mnist(&args.data)?;
    let mut training = mnist.training;
    if let Some(n) = args.train_size {
        if n > training.len() {
            return Err(Error::Usage(format!(
                "--train-size {n}: {} holds only {} training images",
                args.data.display(),
                thousands(training.len())
            )));
        }
        training = training.slice(0..n);
    }
    let (pixels, classes) = (training.pixels(), training.classes);
    let sizes = match (args.layers, args.hidden) {
        (Some(Sizes(layers)), _) => layers,
        (None, Some(Sizes(hidden))) => [vec![pixels], hidden, vec![classes]].concat(),
        (None, None) => vec![pixels, 30, classes],
    };
    let seed = args.seed.unwrap_or_else(rand::random);
    let config = TrainConfig {
        sizes,
        epochs: args.epochs,
        batch_size: args.batch_size,
        eta: args.eta,
        seed,
        per_example: args.per_example,
        activation: args.activation,
        cost,
        init: args.init,
        lambda: args.lambda,
        momentum: args.momentum,
        dropout: args.dropout,
        halve_on_plateau: args.eta_schedule,
        early_stop: args.early_stop,
        monitor: args.monitor.unwrap_or_default(),
        expand: args.expand,
        threads: args.threads,
    };
    config.validate(&training, &args.data)?;
    if !args.quiet {
        let mut extras = Vec::new();
        for (on, text) in [
            (
                config.init != Init::Normal,
                format!("{} init", config.init.name()),
            ),
            (config.lambda > 0.0, format!("λ = {}", config.lambda)),
            (config.momentum > 0.0, format!("μ = {}", config.momentum)),
            (config.dropout > 0.0, format!("dropout {}", config.dropout)),
            (config.expand, "expanded ×5".to_string()),
            (config.per_example, "per example".to_string()),
        ] {
            if on {
                extras.push(text);
            }
        }
        say!(
            "Training {:?} ({} neurons, {} output, {} cost, {}) on {} images: {} epochs, mini-batch {}, η = {}{}, seed {}",
            config.sizes,
            config.activation,
            config.cost.output(),
            config.cost,
            args.precision,
            thousands(training.len()),
            config.epochs,
            config.batch_size,
            config.eta,
            extras.iter().map(|e| format!(", {e}")).collect::<String>(),
            config.seed,
        );
    }
    let mut progress = Progress {
        bar: None,
        quiet: args.quiet,
        pending: 0,
        show_eta: config.halve_on_plateau.is_some(),
        history: Vec::new(),
        metrics: args.metrics.clone(),
        metrics_error: None,
    };
    let sets = [&training, &mnist.validation, &mnist.test];
    let (best, seconds, stop, epochs_run) = match args.precision {
        Precision::F32 => train_and_save::<f32>(&config, sets, &mut progress, &args.out)?,
        Precision::F64 => train_and_save::<f64>(&config, sets, &mut progress, &args.out)?,
    };
    match stop {
        Stop::Epochs => {}
        Stop::EarlyStop => say!(
            "Stopped after epoch {epochs_run}: no better validation accuracy for {} epochs",
            config.early_stop.unwrap_or(0)
        ),
        Stop::EtaFloor => say!("Stopped after epoch {epochs_run}: η fell to η₀/128"),
    }
    match best
        .validation_accuracy
        .filter(|_| config.validation_driven())
    {
        Some((c, t)) => say!(
            "Best on validation: epoch {}, {} (test {})",
            best.epoch,
            score(c, t),
            score(best.correct, best.total)
        ),
        None => say!(
            "Best: epoch {}, {} on the test set",
            best.epoch,
            score(best.correct, best.total)
        ),
    }
    say!(
        "Time: {:.1} s for {} epochs ({:.2} s per epoch)",
        seconds,
        epochs_run,
        seconds / epochs_run.max(1) as f64
    );
    say!("Saved epoch {} to {}", best.epoch, args.out.display());
    if let Some(e) = progress.metrics_error {
        return Err(e);
    }
    if let Some(path) = &args.metrics {
        say!("Metrics written to {}", path.display());
    }
    Ok(())
}

/// Trains in precision F and saves the best epoch's network: its report,
/// the seconds taken, why training stopped and how many epochs ran.
fn train_and_save<F: nndl::Real>(
    config: &TrainConfig,
    [training, validation, test]: [&nndl::Dataset; 3],
    progress: &mut Progress,
    out: &Path,
) -> Result<(EpochReport, f64, Stop, usize)> {
    let outcome = nndl::train::<F>(config, training, validation, test, progress)?;
    model::save(&outcome.best, out)?;
    Ok((
        outcome.best_report().clone(),
        outcome.seconds,
        outcome.stop,
        outcome.history.len(),
    ))
}

/// The cost named by --output and --cost: softmax goes with log-likelihood.
fn cost_of(output: Output, cost: Option<Cost>) -> Result<Cost> {
    Cost::for_output(output, cost).map_err(Error::Usage)
}

/// Largest relative error gradcheck accepts.
const GRADCHECK_TOLERANCE: f64 = 1e-6;

fn run_gradcheck(args: GradcheckArgs) -> Result<()> {
    let combinations: Vec<(Activation, Cost)> = if args.all {
        Activation::ALL
            .into_iter()
            .flat_map(|a| Cost::ALL.into_iter().map(move |c| (a, c)))
            .collect()
    } else {
        vec![(args.activation, cost_of(args.output, args.cost)?)]
    };
    let sizes = &args.layers.0;
    let parameters: usize = sizes.windows(2).map(|w| w[1] * (w[0] + 1)).sum();
    say!(
        "gradcheck {:?}: {} weights and biases, a mini-batch of {}, seed {}",
        sizes,
        thousands(parameters),
        args.batch_size,
        args.seed
    );
    let mut worst: f64 = 0.0;
    for (activation, cost) in combinations {
        let check = nndl::gradcheck::check(sizes, activation, cost, args.batch_size, args.seed)?;
        worst = worst
            .max(check.max_relative_error)
            .max(check.engine_max_relative_error);
        say!(
            "{} neurons, {} output, {} cost: max relative error: {:.1e} (engine {:.1e})  backprop {}  finite differences {} ({} forward passes)  ratio {:.0}×",
            activation,
            cost.output(),
            cost,
            check.max_relative_error,
            check.engine_max_relative_error,
            duration(check.backprop_seconds),
            duration(check.numerical_seconds),
            thousands(check.forward_passes),
            check.numerical_seconds / check.backprop_seconds.max(1e-12)
        );
    }
    if worst < GRADCHECK_TOLERANCE {
        Ok(())
    } else {
        Err(Error::Invalid {
            path: PathBuf::from("gradcheck"),
            message: format!(
                "backpropagation and finite differences disagree: max relative error {worst:.1e} (tolerance {GRADCHECK_TOLERANCE:.0e})"
            ),
        })
    }
}

/// Seconds as µs, ms or s.
fn duration(seconds: f64) -> String {
    if seconds < 1e-3 {
        format!("{:.1} µs", seconds * 1e6)
    } else if seconds < 1.0 {
        format!("{:.2} ms", seconds * 1e3)
    } else {
        format!("{seconds:.2} s")
    }
}

fn run_evaluate(args: EvaluateArgs) -> Result<()> {
    let model = model::load(&args.model)?;
    match model.precision {
        Precision::F32 => evaluate_in(model.net.cast::<f32>(), &args),
        Precision::F64 => evaluate_in(model.net, &args),
    }
}

fn evaluate_in<F: nndl::Real>(net: Network<F>, args: &EvaluateArgs) -> Result<()> {
    let mnist = load_mnist(&args.data)?;
    let (name, data) = match args.split {
        Split::Test => ("test", &mnist.test),
        Split::Validation => ("validation", &mnist.validation),
        Split::Train => ("training", &mnist.training),
    };
    check_fits(&net, &args.model, data.pixels(), data.classes, &args.data)?;
    let eval = nndl::Trainer::new(&net.sizes, 0, args.threads).evaluate_full(&net, data);
    say!(
        "{}: {:?} {} neurons, {} cost, {}",
        args.model.display(),
        net.sizes,
        net.activation,
        net.cost,
        Precision::of::<F>()
    );
    say!("{name} set: {}", score(eval.correct, eval.total));
    say!("mean cost: {:.6}", eval.mean_cost);
    say!();
    say!("Confusion matrix (rows: true digit, columns: predicted)");
    let classes = eval.confusion.len();
    let width = thousands(eval.total).len().max(5);
    let mut table = " ".repeat(5);
    for c in 0..classes {
        table += &format!(" {c:>width$}");
    }
    for (label, row) in eval.confusion.iter().enumerate() {
        table += &format!("\n{label:>5}");
        for n in row {
            table += &format!(" {:>width$}", thousands(*n));
        }
    }
    say!("{table}");
    Ok(())
}

/// A model must take the data's pixels and give one output per class.
fn check_fits<F: NdFloat>(
    net: &Network<F>,
    path: &Path,
    pixels: usize,
    classes: usize,
    data: &Path,
) -> Result<()> {
    if net.sizes[0] != pixels {
        return Err(Error::invalid(
            path,
            format!(
                "the model takes {} inputs but the images in {} have {pixels} pixels",
                net.sizes[0],
                data.display()
            ),
        ));
    }
    let outputs = net.sizes[net.sizes.len() - 1];
    if outputs < classes {
        return Err(Error::invalid(
            path,
            format!(
                "the model has {outputs} outputs but {} has {classes} classes",
                data.display()
            ),
        ));
    }
    Ok(())
}

fn run_predict(args: PredictArgs) -> Result<()> {
    let model = model::load(&args.model)?;
    match model.precision {
        Precision::F32 => predict_in(model.net.cast::<f32>(), &args),
        Precision::F64 => predict_in(model.net, &args),
    }
}

fn predict_in<F: NdFloat>(net: Network<F>, args: &PredictArgs) -> Result<()> {
    let side = image_input::SIDE;
    if net.sizes[0] != side * side {
        return Err(Error::invalid(
            &args.model,
            format!(
                "the model takes {} inputs, not the {} pixels of a {side}×{side} image",
                net.sizes[0],
                side * side
            ),
        ));
    }
    let pixels = image_input::load_digit(&args.image)?;
    let x: Array1<F> = pixels
        .iter()
        .map(|&v| F::from(v).unwrap_or_else(F::zero))
        .collect();
    let a = net.feedforward(x.view());
    let prediction = nndl::network::argmax(a.view());
    if args.json {
        #[derive(serde::Serialize)]
        struct Answer<'a> {
            prediction: usize,
            activations: Vec<f64>,
            image: &'a Path,
            model: &'a Path,
        }
        let answer = Answer {
            prediction,
            activations: a.iter().map(|v| v.to_f64().unwrap_or(f64::NAN)).collect(),
            image: &args.image,
            model: &args.model,
        };
        let line = serde_json::to_string(&answer)
            .map_err(|e| Error::invalid(&args.image, e.to_string()))?;
        say!("{line}");
        return Ok(());
    }
    say!("{}: {prediction}", args.image.display());
    let mut ranked: Vec<(usize, f64)> = a
        .iter()
        .map(|v| v.to_f64().unwrap_or(f64::NAN))
        .enumerate()
        .collect();
    ranked.sort_by(|p, q| q.1.total_cmp(&p.1));
    for (digit, activation) in ranked {
        say!("  {digit}  {activation:.6}");
    }
    Ok(())
}
