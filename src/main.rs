//! The `nndl` command: clap parsing and dispatch. The work lives in the library.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use ndarray::{Array1, NdFloat};

use nndl::model::Precision;
use nndl::train::{EpochReport, Observer};
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
    /// Float type to train in; f64 is slower and exists for checking
    #[arg(long, value_enum, default_value_t = Precision::F32)]
    precision: Precision,
    /// Print only the final summary
    #[arg(long, short)]
    quiet: bool,
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
        Err(e) => {
            // clap's first paragraph names the flag and the problem: one line of it.
            let text = e.to_string();
            let first: Vec<&str> = text
                .lines()
                .take_while(|l| !l.trim().is_empty())
                .map(str::trim)
                .collect();
            eprintln!("{}", first.join(" "));
            return ExitCode::from(2);
        }
    };
    let result = match cli.command {
        Command::Train(args) => run_train(args),
        Command::Evaluate(args) => run_evaluate(args),
        Command::Predict(args) => run_predict(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(e.exit_code())
        }
    }
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
            say!(
                "Epoch {}/{}: {}  {:.1} s",
                r.epoch,
                r.epochs,
                score(r.correct, r.total),
                r.seconds
            );
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
    if sizes[0] != pixels {
        return Err(Error::Usage(format!(
            "--layers: the first layer must be {pixels}, one neuron per pixel of the {}×{} images in {}, not {}",
            training.rows,
            training.cols,
            args.data.display(),
            sizes[0]
        )));
    }
    if sizes[sizes.len() - 1] != classes {
        return Err(Error::Usage(format!(
            "--layers: the last layer must be {classes}, one neuron per class in {}, not {}",
            args.data.display(),
            sizes[sizes.len() - 1]
        )));
    }
    let seed = args.seed.unwrap_or_else(rand::random);
    let config = TrainConfig {
        sizes,
        epochs: args.epochs,
        batch_size: args.batch_size,
        eta: args.eta,
        seed,
        per_example: args.per_example,
        threads: args.threads,
        ..TrainConfig::chapter(seed)
    };
    if !args.quiet {
        say!(
            "Training {:?} ({} neurons, {} cost, {}) on {} images: {} epochs, mini-batch {}, η = {}, seed {}{}",
            config.sizes,
            config.activation,
            config.cost,
            args.precision,
            thousands(training.len()),
            config.epochs,
            config.batch_size,
            config.eta,
            config.seed,
            if config.per_example {
                ", per example"
            } else {
                ""
            }
        );
    }
    let mut progress = Progress {
        bar: None,
        quiet: args.quiet,
        pending: 0,
    };
    let (best, seconds) = match args.precision {
        Precision::F32 => {
            let outcome = nndl::train::<f32>(&config, &training, &mnist.test, &mut progress);
            model::save(&outcome.best, &args.out)?;
            (outcome.best_report().clone(), outcome.seconds)
        }
        Precision::F64 => {
            let outcome = nndl::train::<f64>(&config, &training, &mnist.test, &mut progress);
            model::save(&outcome.best, &args.out)?;
            (outcome.best_report().clone(), outcome.seconds)
        }
    };
    say!(
        "Best: epoch {}, {} on the test set",
        best.epoch,
        score(best.correct, best.total)
    );
    say!(
        "Time: {:.1} s for {} epochs ({:.2} s per epoch)",
        seconds,
        config.epochs,
        seconds / config.epochs as f64
    );
    say!("Saved epoch {} to {}", best.epoch, args.out.display());
    Ok(())
}

fn run_evaluate(args: EvaluateArgs) -> Result<()> {
    let model = model::load(&args.model)?;
    match model.precision {
        Precision::F32 => evaluate_in(model.net.cast::<f32>(), &args),
        Precision::F64 => evaluate_in(model.net, &args),
    }
}

fn evaluate_in<F: NdFloat>(net: Network<F>, args: &EvaluateArgs) -> Result<()> {
    let mnist = load_mnist(&args.data)?;
    let (name, data) = match args.split {
        Split::Test => ("test", &mnist.test),
        Split::Validation => ("validation", &mnist.validation),
        Split::Train => ("training", &mnist.training),
    };
    check_fits(&net, &args.model, data.pixels(), data.classes, &args.data)?;
    let eval = net.evaluate_full(data);
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
