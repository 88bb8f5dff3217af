//! The command line: clap's definitions and the parsers of flag values.

use std::path::PathBuf;

use clap::builder::{PossibleValuesParser, TypedValueParser};
use clap::{Args, Parser, Subcommand, ValueEnum};

use nndl::Init;
use nndl::cost::Output;
use nndl::model::Precision;
use nndl::train::{Keep, Monitor};
use nndl::{Activation, Cost};

#[derive(Parser)]
#[command(
    name = "nndl",
    version,
    arg_required_else_help = true,
    about = "Train, evaluate and query the backpropagation network of Nielsen's Neural Networks and Deep Learning, chapter 2"
)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Subcommand)]
pub(crate) enum Command {
    /// Train a network on MNIST by mini-batch SGD and save the epoch chosen on validation
    Train(Box<TrainArgs>),
    /// Score a saved model on a split of the data: accuracy, cost, confusion matrix
    Evaluate(EvaluateArgs),
    /// Classify one image file (PNG, JPEG, BMP, GIF, PGM)
    Predict(PredictArgs),
    /// Check backpropagation against finite differences (eq. 46) and time both
    Gradcheck(GradcheckArgs),
    /// Backpropagation by the numbers for one example: z, a, C, BP1–BP4, and eq. (46) beside them
    Trace(TraceArgs),
    /// Draw each first-layer neuron's incoming weights as a tile: what it looks for
    Weights(WeightsArgs),
    /// Draw a metrics file's curves, accuracy and cost per epoch, as SVG or PNG
    Plot(PlotArgs),
    /// Print a shell completion script: nndl completions bash > ~/.local/share/bash-completion/completions/nndl
    Completions {
        /// The shell to complete in
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff): nndl manpage > ~/.local/share/man/man1/nndl.1
    Manpage,
}

#[derive(Args)]
pub(crate) struct PlotArgs {
    /// Metrics file written by train --metrics (.csv or .json)
    pub(crate) metrics: PathBuf,
    /// The picture to write
    #[arg(short, long, value_name = "FILE.svg|FILE.png")]
    pub(crate) out: PathBuf,
}

#[derive(Args)]
pub(crate) struct WeightsArgs {
    /// Model file
    pub(crate) model: PathBuf,
    /// The picture to write
    #[arg(short, long, value_name = "FILE.png")]
    pub(crate) out: PathBuf,
    /// Draw the first N neurons only
    #[arg(long, value_name = "N", value_parser = parse_positive)]
    pub(crate) neurons: Option<usize>,
}

#[derive(Args)]
pub(crate) struct TraceArgs {
    /// Model file; without one, a random network of --layers and --seed
    pub(crate) model: Option<PathBuf>,
    /// Neurons per layer of the random network, input first
    #[arg(long, default_value = "2,3,2", value_name = "N,N,...", value_parser = parse_layers, conflicts_with = "model")]
    pub(crate) layers: Sizes,
    /// Seed of the random network
    #[arg(long, default_value_t = 1, conflicts_with = "model")]
    pub(crate) seed: u64,
    /// Neuron of the random network's hidden layers
    #[arg(long, default_value = "sigmoid", conflicts_with = "model", value_parser = choice::<Activation, 4>(Activation::ALL.map(Activation::name)))]
    pub(crate) activation: Activation,
    /// Cost of the random network's sigmoid outputs
    #[arg(long, conflicts_with = "model", value_parser = choice::<Cost, 2>(SIGMOID_COSTS.map(Cost::name)))]
    pub(crate) cost: Option<Cost>,
    /// The random network's output layer
    #[arg(long, default_value = "sigmoid", conflicts_with = "model", value_parser = choice::<Output, 2>(Output::ALL.map(Output::name)))]
    pub(crate) output: Output,
    /// The input x, one value per input neuron
    #[arg(long, value_name = "X,X,...", value_parser = parse_values, required_unless_present = "image", conflicts_with = "image")]
    pub(crate) input: Option<Values>,
    /// The input as an image of a digit, prepared as `predict` prepares it
    #[arg(long, value_name = "FILE")]
    pub(crate) image: Option<PathBuf>,
    /// The target y, one value per output neuron
    #[arg(long, value_name = "Y,Y,...", value_parser = parse_values, required_unless_present = "label", conflicts_with = "label")]
    pub(crate) target: Option<Values>,
    /// The target as a class: y is 1 for it and 0 for the others
    #[arg(long, value_name = "D")]
    pub(crate) label: Option<usize>,
    /// Print one JSON object
    #[arg(long)]
    pub(crate) json: bool,
}

/// A comma-separated list of finite numbers.
#[derive(Clone, Debug)]
pub(crate) struct Values(pub(crate) Vec<f64>);

pub(crate) fn parse_values(s: &str) -> Result<Values, String> {
    s.split(',')
        .map(|v| match v.trim().parse::<f64>() {
            Ok(x) if x.is_finite() => Ok(x),
            _ => Err(format!("'{v}' is not a finite number")),
        })
        .collect::<Result<_, _>>()
        .map(Values)
}

#[derive(Args)]
pub(crate) struct GradcheckArgs {
    /// Neurons per layer, input first
    #[arg(long, default_value = "50,30,10", value_name = "N,N,...", value_parser = parse_layers)]
    pub(crate) layers: Sizes,
    /// Neuron of the hidden layers
    #[arg(long, default_value = "sigmoid", value_parser = choice::<Activation, 4>(Activation::ALL.map(Activation::name)))]
    pub(crate) activation: Activation,
    /// Cost of sigmoid outputs
    #[arg(long, value_parser = choice::<Cost, 2>(SIGMOID_COSTS.map(Cost::name)))]
    pub(crate) cost: Option<Cost>,
    /// Output layer
    #[arg(long, default_value = "sigmoid", value_parser = choice::<Output, 2>(Output::ALL.map(Output::name)))]
    pub(crate) output: Output,
    /// Examples in the random mini-batch
    #[arg(long, default_value_t = 10, value_parser = parse_positive)]
    pub(crate) batch_size: usize,
    /// Seed for the random network and mini-batch
    #[arg(long, default_value_t = 1)]
    pub(crate) seed: u64,
    /// Check every neuron × cost × output combination
    #[arg(long)]
    pub(crate) all: bool,
}

#[derive(Args)]
pub(crate) struct TrainArgs {
    /// Neurons per layer, input first [default: 784,30,10]
    #[arg(long, value_name = "N,N,...", value_parser = parse_layers, conflicts_with = "hidden")]
    pub(crate) layers: Option<Sizes>,
    /// Hidden layer sizes between the 784 inputs and the 10 outputs
    #[arg(long, value_name = "N,...", value_parser = parse_hidden)]
    pub(crate) hidden: Option<Sizes>,
    /// Passes over the training data
    #[arg(long, default_value_t = 30, value_parser = parse_positive)]
    pub(crate) epochs: usize,
    /// Examples per mini-batch (m)
    #[arg(long, default_value_t = 10, value_parser = parse_positive)]
    pub(crate) batch_size: usize,
    /// Learning rate η
    #[arg(long, default_value_t = 3.0, value_parser = parse_eta, allow_negative_numbers = true)]
    pub(crate) eta: f64,
    /// Seed for initialisation and shuffling; the same seed gives the same model file
    #[arg(long)]
    pub(crate) seed: Option<u64>,
    /// Directory with the four MNIST IDX files (.gz or raw) [default: $NNDL_DATA, else the built-in MNIST]
    #[arg(long, value_name = "DIR")]
    pub(crate) data: Option<PathBuf>,
    /// Where to save the model
    #[arg(long, default_value = "model.json", value_name = "PATH")]
    pub(crate) out: PathBuf,
    /// Train on only the first N training images
    #[arg(long, value_name = "N", value_parser = parse_positive)]
    pub(crate) train_size: Option<usize>,
    /// Backpropagate one example at a time instead of the whole mini-batch as one matrix
    #[arg(long)]
    pub(crate) per_example: bool,
    /// Threads to use, 0 for one per core; the model does not depend on it
    #[arg(long, default_value_t = 0, value_name = "N", value_parser = parse_threads)]
    pub(crate) threads: usize,
    /// Float type to train in, f32 or f64; f64 is slower and exists for checking
    #[arg(long, default_value = "f32", value_name = "TYPE", value_parser = str::parse::<Precision>)]
    pub(crate) precision: Precision,
    /// Cost of sigmoid outputs (with --output softmax the cost is log-likelihood)
    #[arg(long, value_parser = choice::<Cost, 2>(SIGMOID_COSTS.map(Cost::name)))]
    pub(crate) cost: Option<Cost>,
    /// Output layer: sigmoid neurons, or softmax with the log-likelihood cost
    #[arg(long, default_value = "sigmoid", value_parser = choice::<Output, 2>(Output::ALL.map(Output::name)))]
    pub(crate) output: Output,
    /// Neuron of the hidden layers
    #[arg(long, default_value = "sigmoid", value_parser = choice::<Activation, 4>(Activation::ALL.map(Activation::name)))]
    pub(crate) activation: Activation,
    /// Initial weights: normal N(0,1) (the chapter's), scaled N(0,1/n_in), he N(0,2/n_in)
    #[arg(long, default_value = "normal", value_parser = choice::<Init, 3>(Init::ALL.map(Init::name)))]
    pub(crate) init: Init,
    /// L2 regularisation λ: w → (1 − ηλ/n) w − (η/m) Σ ∂C_x/∂w
    #[arg(long, default_value_t = 0.0, value_parser = parse_lambda, value_name = "λ", allow_negative_numbers = true)]
    pub(crate) lambda: f64,
    /// Momentum μ in [0, 1): v → μv − η∇C, w → w + v
    #[arg(long, default_value_t = 0.0, value_parser = parse_fraction, value_name = "μ", allow_negative_numbers = true)]
    pub(crate) momentum: f64,
    /// Dropout p in [0, 1): the chance each hidden neuron is dropped in training
    #[arg(long, default_value_t = 0.0, value_parser = parse_fraction, value_name = "P", allow_negative_numbers = true)]
    pub(crate) dropout: f64,
    /// halve-on-plateau:N — halve η after N epochs without a better validation accuracy; stop at η₀/128
    #[arg(long, value_parser = parse_schedule, value_name = "halve-on-plateau:N")]
    pub(crate) eta_schedule: Option<usize>,
    /// Stop after N epochs without a better validation accuracy
    #[arg(long, value_parser = parse_positive, value_name = "N")]
    pub(crate) early_stop: Option<usize>,
    /// Extra figures per epoch: train-cost,train-accuracy,validation-cost,validation-accuracy
    #[arg(long, value_parser = parse_monitor, value_name = "LIST")]
    pub(crate) monitor: Option<Monitor>,
    /// Write every epoch's figures to FILE.csv or FILE.json
    #[arg(long, value_name = "FILE")]
    pub(crate) metrics: Option<PathBuf>,
    /// Add each training image's four one-pixel shifts: 250,000 images
    #[arg(long)]
    pub(crate) expand: bool,
    /// Print only the final summary
    #[arg(long, short)]
    pub(crate) quiet: bool,
    /// Which epoch's network to save: the best on the validation set, or the last
    #[arg(long, default_value = "best", value_parser = choice::<Keep, 2>(Keep::ALL.map(Keep::name)))]
    pub(crate) keep: Keep,
    /// After every epoch, save the whole run to FILE, to go on from with --resume
    #[arg(long, value_name = "FILE")]
    pub(crate) checkpoint: Option<PathBuf>,
    /// Go on with the run saved in FILE, with its settings and data; checkpoints go on into FILE
    #[arg(long, value_name = "FILE", conflicts_with_all = RUN_SETTINGS)]
    pub(crate) resume: Option<PathBuf>,
    /// Draw the curves to FILE.svg or FILE.png at the end of the run, and at an interrupt (needs --metrics)
    #[arg(long, value_name = "FILE", requires = "metrics")]
    pub(crate) plot: Option<PathBuf>,
}

/// The flags a checkpoint fixes, which --resume takes from it.
const RUN_SETTINGS: [&str; 21] = [
    "layers",
    "hidden",
    "epochs",
    "batch_size",
    "eta",
    "seed",
    "train_size",
    "per_example",
    "precision",
    "cost",
    "output",
    "activation",
    "init",
    "lambda",
    "momentum",
    "dropout",
    "eta_schedule",
    "early_stop",
    "monitor",
    "expand",
    "keep",
];

/// The costs `--cost` names; softmax's log-likelihood comes with `--output`.
pub(crate) const SIGMOID_COSTS: [Cost; 2] = [Cost::Quadratic, Cost::CrossEntropy];

/// A flag's value among `names`, parsed into the library's own type, so
/// that `--help` lists the names and a typo gets clap's suggestion.
pub(crate) fn choice<T, const N: usize>(
    names: [&'static str; N],
) -> impl TypedValueParser<Value = T>
where
    T: std::str::FromStr<Err = String> + Clone + Send + Sync + 'static,
{
    PossibleValuesParser::new(names).try_map(|s| s.parse::<T>())
}

#[derive(Args)]
pub(crate) struct EvaluateArgs {
    /// Model file
    #[arg(default_value = "model.json")]
    pub(crate) model: PathBuf,
    /// Directory with the four MNIST IDX files (.gz or raw) [default: $NNDL_DATA, else the built-in MNIST]
    #[arg(long, value_name = "DIR")]
    pub(crate) data: Option<PathBuf>,
    /// Which split to score
    #[arg(long, value_enum, default_value_t = Split::Test)]
    pub(crate) split: Split,
    /// Threads to compute on, this one included (0: one per core)
    #[arg(long, default_value_t = 0, value_name = "N", value_parser = parse_threads)]
    pub(crate) threads: usize,
    /// Write every misclassified image to DIR as INDEX-true-T-pred-P.png, and DIR/sheet.png: the first 100
    #[arg(long, value_name = "DIR")]
    pub(crate) errors: Option<PathBuf>,
}

#[derive(Clone, Copy, ValueEnum)]
pub(crate) enum Split {
    Test,
    Validation,
    Train,
}

#[derive(Args)]
pub(crate) struct PredictArgs {
    /// Model file
    pub(crate) model: PathBuf,
    /// Image of one digit
    pub(crate) image: PathBuf,
    /// Print one JSON line
    #[arg(long, conflicts_with = "show")]
    pub(crate) json: bool,
    /// Draw the 28 × 28 input the network sees, and a bar chart of its outputs
    #[arg(long)]
    pub(crate) show: bool,
    /// With --show, draw in plain ASCII instead of Unicode shades
    #[arg(long, requires = "show")]
    pub(crate) ascii: bool,
    /// Write the 28 × 28 input the network sees to FILE.png
    #[arg(long, value_name = "FILE.png")]
    pub(crate) save_input: Option<PathBuf>,
}

pub(crate) fn parse_positive(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(0) => Err("must be at least 1".into()),
        Ok(n) => Ok(n),
        Err(_) => Err("expected a whole number".into()),
    }
}

pub(crate) fn parse_threads(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(n) if n <= nndl::train::MAX_THREADS => Ok(n),
        Ok(_) => Err(format!("at most {}", nndl::train::MAX_THREADS)),
        Err(_) => Err("expected a whole number".into()),
    }
}

pub(crate) fn parse_eta(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(x) if x.is_finite() && x > 0.0 => Ok(x),
        Ok(_) => Err("the learning rate must be a number above 0".into()),
        Err(_) => Err("expected a number".into()),
    }
}

pub(crate) fn parse_lambda(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(x) if x.is_finite() && x >= 0.0 => Ok(x),
        Ok(_) => Err("must be a number of at least 0".into()),
        Err(_) => Err("expected a number".into()),
    }
}

pub(crate) fn parse_fraction(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(x) if (0.0..1.0).contains(&x) => Ok(x),
        Ok(_) => Err("must be at least 0 and below 1".into()),
        Err(_) => Err("expected a number".into()),
    }
}

pub(crate) fn parse_schedule(s: &str) -> Result<usize, String> {
    match s.strip_prefix("halve-on-plateau:") {
        Some(n) => parse_positive(n),
        None => Err("expected halve-on-plateau:N".into()),
    }
}

pub(crate) fn parse_monitor(s: &str) -> Result<Monitor, String> {
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
pub(crate) struct Sizes(pub(crate) Vec<usize>);

pub(crate) fn parse_list(s: &str) -> Result<Vec<usize>, String> {
    s.split(',')
        .map(|n| parse_positive(n.trim()).map_err(|e| format!("'{n}': {e}")))
        .collect()
}

pub(crate) fn parse_layers(s: &str) -> Result<Sizes, String> {
    let sizes = parse_list(s)?;
    if sizes.len() < 2 {
        return Err("need at least an input and an output layer".into());
    }
    Ok(Sizes(sizes))
}

pub(crate) fn parse_hidden(s: &str) -> Result<Sizes, String> {
    parse_list(s).map(Sizes)
}
