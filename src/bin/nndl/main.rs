//! The `nndl` command: parsing (`args`) and dispatch; printing lives in
//! `print`, the work in the library.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{CommandFactory, Parser};
use ndarray::{Array1, NdFloat};

use nndl::Init;
use nndl::checkpoint::Checkpoint;
use nndl::cost::Output;
use nndl::data::Source;
use nndl::model::Precision;
use nndl::train::{EpochEnd, Keep, Run, Stop};
use nndl::{Activation, Cost};
use nndl::{Error, Network, Result, TrainConfig, files, image_input, model};

/// `println!` that shrugs off a closed stdout (`nndl train | head -3`)
/// instead of panicking; the work, and the saved model, go on.
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write;
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}

mod args;
mod dataset;
mod pictures;
mod plot;
mod print;
mod signals;
mod trace;

use args::*;
use print::*;

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
        Command::Train(args) => run_train(*args),
        Command::Evaluate(args) => run_evaluate(args),
        Command::Predict(args) => run_predict(args),
        Command::Gradcheck(args) => run_gradcheck(args),
        Command::Trace(args) => trace::run_trace(args),
        Command::Weights(args) => pictures::run_weights(args),
        Command::Plot(args) => plot::run_plot(args),
        Command::Completions { shell } => {
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "nndl", &mut script);
            write_stdout(&script)
        }
        Command::Manpage => run_manpage(),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(Error::Interrupted { message, status }) => {
            eprintln!("{message}");
            ExitCode::from(status)
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}

/// The manual page's section on environment variables.
const ENVIRONMENT: &str = r#".SH ENVIRONMENT
.TP
\fBNNDL_DATA\fR
Directory of the four MNIST IDX files, for \fBtrain\fR and \fBevaluate\fR without \fB\-\-data\fR. Unset, they use the MNIST built into the binary.
.TP
\fBNNDL_SIMD\fR
Caps the instruction set the kernels use: \fBportable\fR, \fBavx2\fR or \fBavx512\fR. \fBavx2\fR and \fBavx512\fR train the same model; \fBportable\fR, without FMA, rounds differently.
"#;

/// One manual page, rendered from the clap definitions: the command, then
/// a section for each subcommand with its synopsis and options.
fn run_manpage() -> Result<()> {
    let mut cli = Cli::command().disable_help_subcommand(true);
    cli.build();
    let render = || -> std::io::Result<Vec<u8>> {
        let mut roff = Vec::new();
        let man = clap_mangen::Man::new(cli.clone());
        man.render_title(&mut roff)?;
        man.render_name_section(&mut roff)?;
        man.render_synopsis_section(&mut roff)?;
        man.render_description_section(&mut roff)?;
        man.render_options_section(&mut roff)?;
        for sub in cli.get_subcommands() {
            let name = format!("nndl {}", sub.get_name());
            let about = sub.get_about().map(|a| a.to_string()).unwrap_or_default();
            roff.extend(format!(".SH \"{}\"\n{}\n", name.to_uppercase(), about).bytes());
            let man = clap_mangen::Man::new(sub.clone().bin_name(&name));
            let mut section = Vec::new();
            man.render_synopsis_section(&mut section)?;
            man.render_options_section(&mut section)?;
            // Synopsis and options are subsections of the subcommand's section.
            let section = String::from_utf8_lossy(&section).replace(".SH ", ".SS ");
            roff.extend(section.bytes());
        }
        roff.extend(ENVIRONMENT.bytes());
        man.render_version_section(&mut roff)?;
        Ok(roff)
    };
    let roff = render().map_err(|e| Error::io(Path::new("manpage"), e))?;
    write_stdout(&roff)
}

/// Writes `bytes` to stdout; a closed pipe (`| head`) is not an error.
fn write_stdout(bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    match std::io::stdout().write_all(bytes) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(Error::io(Path::new("standard output"), e))
        }
        _ => Ok(()),
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

fn run_train(args: TrainArgs) -> Result<()> {
    // Every output is checked before any work.
    let checkpoint = args.checkpoint.as_ref().or(args.resume.as_ref());
    let mut outputs = vec![("--out", args.out.as_path())];
    if let Some(path) = checkpoint {
        outputs.push(("--checkpoint", path.as_path()));
    }
    if let Some(path) = &args.metrics {
        if nndl::metrics::is_json(path).is_none() {
            return Err(Error::Usage(format!(
                "--metrics {}: the file name must end in .csv or .json",
                path.display()
            )));
        }
        nndl::metrics::check_replaceable(path)?;
        outputs.push(("--metrics", path.as_path()));
    }
    if let Some(path) = &args.plot {
        plot::check_out(path, "--plot")?;
        outputs.push(("--plot", path.as_path()));
    }
    files::check_outputs(&outputs)?;
    let mut resumed = match &args.resume {
        Some(path) => Some(read_checkpoint(path)?),
        None => None,
    };
    if let Some(c) = &mut resumed {
        // Threads do not change the model: the command's count holds.
        c.settings.threads = args.threads;
    }
    let source = dataset::source(args.data.as_deref())?;
    let mnist = nndl::data::load(&source)?;
    let fingerprint = match checkpoint {
        Some(_) => mnist.fingerprint(),
        None => String::new(),
    };
    if let (Some(c), Some(path)) = (&resumed, &args.resume)
        && c.data != fingerprint
    {
        return Err(Error::invalid(
            path,
            format!(
                "was made on another data set ({}), not {} ({fingerprint})",
                c.data,
                source.path().display()
            ),
        ));
    }
    let train_size = match &resumed {
        Some(c) => c.train_size,
        None => args.train_size,
    };
    let nndl::Mnist {
        mut training,
        validation,
        test,
    } = mnist;
    if let Some(n) = train_size {
        if n > training.len() {
            return Err(Error::Usage(format!(
                "--train-size {n}: {} holds only {} training images",
                source.path().display(),
                thousands(training.len())
            )));
        }
        training = training.slice(0..n);
    }
    let (config, precision) = match &resumed {
        Some(c) => (c.settings.clone(), c.precision),
        None => (config_of(&args, &training)?, args.precision),
    };
    config.validate(&training, source.path())?;
    warn_of_empty_classes(&training);
    if !args.quiet {
        say_settings(&config, precision, training.len(), &source);
    }
    signals::install().map_err(|e| Error::io(Path::new("signal handlers"), e))?;
    let mut progress = Progress {
        bar: None,
        quiet: args.quiet,
        pending: 0,
        show_eta: config.halve_on_plateau.is_some(),
        history: Vec::new(),
        metrics: args.metrics.clone(),
        metrics_error: None,
    };
    let job = Job {
        config: &config,
        sets: [&training, &validation, &test],
        fingerprint,
        train_size,
        out: &args.out,
        checkpoint: checkpoint.map(PathBuf::as_path),
        metrics: args.metrics.as_deref(),
        plot: args.plot.as_deref(),
        resumed: resumed.as_ref().zip(args.resume.as_deref()),
    };
    match precision {
        Precision::F32 => train_and_save::<f32>(&job, &mut progress),
        Precision::F64 => train_and_save::<f64>(&job, &mut progress),
    }
}

/// The settings the flags give.
fn config_of(args: &TrainArgs, training: &nndl::Dataset) -> Result<TrainConfig> {
    let (pixels, classes) = (training.pixels(), training.classes);
    let sizes = match (&args.layers, &args.hidden) {
        (Some(Sizes(layers)), _) => layers.clone(),
        (None, Some(Sizes(hidden))) => [vec![pixels], hidden.clone(), vec![classes]].concat(),
        (None, None) => vec![pixels, 30, classes],
    };
    Ok(TrainConfig {
        sizes,
        epochs: args.epochs,
        batch_size: args.batch_size,
        eta: args.eta,
        seed: args.seed.unwrap_or_else(rand::random),
        per_example: args.per_example,
        activation: args.activation,
        cost: cost_of(args.output, args.cost)?,
        init: args.init,
        lambda: args.lambda,
        momentum: args.momentum,
        dropout: args.dropout,
        halve_on_plateau: args.eta_schedule,
        early_stop: args.early_stop,
        monitor: args.monitor.unwrap_or_default(),
        expand: args.expand,
        threads: args.threads,
        keep: args.keep,
    })
}

/// Reads a checkpoint to resume from.
fn read_checkpoint(path: &Path) -> Result<Checkpoint> {
    let text = files::read_text(path)?;
    let c = Checkpoint::from_json(&text).map_err(|m| Error::invalid(path, m))?;
    if c.stop.is_some() {
        return Err(Error::invalid(
            path,
            format!(
                "its run finished after epoch {}: nothing to resume",
                c.epoch
            ),
        ));
    }
    Ok(c)
}

/// A class of the data set no training image has can only be guessed.
fn warn_of_empty_classes(training: &nndl::Dataset) {
    let empty: Vec<String> = training
        .label_counts()
        .iter()
        .enumerate()
        .filter(|(_, n)| **n == 0)
        .map(|(label, _)| label.to_string())
        .collect();
    if !empty.is_empty() {
        let shown = if empty.len() > 8 {
            format!(
                "{} … {} ({} classes)",
                empty[..4].join(", "),
                empty[empty.len() - 1],
                empty.len()
            )
        } else {
            empty.join(", ")
        };
        eprintln!(
            "warning: no training image has label {shown}; the network will have {} outputs",
            training.classes
        );
    }
}

fn say_settings(config: &TrainConfig, precision: Precision, images: usize, source: &Source) {
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
        (
            config.keep == Keep::Last,
            "keeping the last epoch".to_string(),
        ),
    ] {
        if on {
            extras.push(text);
        }
    }
    say!(
        "Training {:?} ({} neurons, {} output, {} cost, {}) on {} images{}: {} epochs, mini-batch {}, η = {}{}, seed {}",
        config.sizes,
        config.activation,
        config.cost.output(),
        config.cost,
        precision,
        thousands(images),
        match source {
            Source::Dir(dir) => format!(" from {}", dir.display()),
            Source::Memory { .. } => String::new(),
        },
        config.epochs,
        config.batch_size,
        number(config.eta),
        extras.iter().map(|e| format!(", {e}")).collect::<String>(),
        config.seed,
    );
}

/// `x` as written, or in e-notation when that is shorter to read.
fn number(x: f64) -> String {
    if x != 0.0 && !(1e-4..1e6).contains(&x.abs()) {
        format!("{x:e}")
    } else {
        x.to_string()
    }
}

/// A run to carry out: its settings, data and files.
struct Job<'a> {
    config: &'a TrainConfig,
    sets: [&'a nndl::Dataset; 3],
    /// The data set's fingerprint, if checkpoints are written.
    fingerprint: String,
    train_size: Option<usize>,
    out: &'a Path,
    checkpoint: Option<&'a Path>,
    metrics: Option<&'a Path>,
    /// Where to draw the metrics' curves when the run ends.
    plot: Option<&'a Path>,
    /// The checkpoint resumed from, and its file.
    resumed: Option<(&'a Checkpoint, &'a Path)>,
}

/// Trains in precision F, epoch by epoch: the chosen network is saved
/// whenever it changes, the checkpoint after every epoch; a signal stops
/// the run after its mini-batch, a divergence at once.
fn train_and_save<F: nndl::Real>(job: &Job, progress: &mut Progress) -> Result<()> {
    let [training, validation, test] = job.sets;
    let mut run = match job.resumed {
        Some((c, path)) => {
            let run = Run::<F>::resume(c, &job.fingerprint, training, validation, test)
                .map_err(|m| Error::invalid(path, m))?;
            say!(
                "Resuming {} after epoch {} of {}",
                path.display(),
                c.epoch,
                c.settings.epochs
            );
            if run.chosen_epoch > 0 {
                model::save(&run.chosen, job.out)?;
            }
            run
        }
        None => Run::<F>::new(job.config, training, validation, test)?,
    };
    progress.history = run.history.clone();
    let go_on = || signals::received().is_none();
    while run.finished().is_none() {
        match run.next_epoch(progress, &go_on) {
            Ok(EpochEnd::Done { chosen }) => {
                if chosen {
                    model::save(&run.chosen, job.out)?;
                }
                if let Some(path) = job.checkpoint {
                    let mut c = run.checkpoint(&job.fingerprint);
                    c.train_size = job.train_size;
                    let json = c.to_json().map_err(|m| Error::invalid(path, m))?;
                    files::write_atomically(path, json.as_bytes())?;
                }
                if let Some(e) = progress.metrics_error.take() {
                    return Err(e);
                }
            }
            Ok(EpochEnd::Interrupted) => {
                draw_curves(job, run.epochs_done())?;
                return Err(interrupted(&run, job));
            }
            Err(e) => {
                if run.chosen_epoch > 0 {
                    say!("Kept epoch {} in {}", run.chosen_epoch, job.out.display());
                }
                draw_curves(job, run.epochs_done())?;
                return Err(e);
            }
        }
    }
    say_outcome(&run, job);
    draw_curves(job, run.epochs_done())
}

/// Draws the metrics' curves to --plot, once there are epochs to draw.
fn draw_curves(job: &Job, epochs: usize) -> Result<()> {
    if let (Some(metrics), Some(out), true) = (job.metrics, job.plot, epochs > 0) {
        plot::plot_file(metrics, out)?;
        say!("Curves drawn to {}", out.display());
    }
    Ok(())
}

/// What an interrupted run kept, and how to go on.
fn interrupted<F: nndl::Real>(run: &Run<F>, job: &Job) -> Error {
    let (signal, status) = signals::received().unwrap_or(("a signal", 130));
    let epoch = run.epochs_done() + 1;
    let mut message = format!("interrupted by {signal} in epoch {epoch}");
    match run.chosen_report() {
        Some(r) => {
            message += &format!("; {} holds epoch {}", job.out.display(), r.epoch);
            if let Some((c, t)) = r.validation_accuracy {
                message += &format!(" (validation {})", score(c, t));
            }
        }
        None => message += "; no epoch finished, so no model was saved",
    }
    if let (Some(path), true) = (job.checkpoint, run.epochs_done() > 0) {
        message += &format!(
            "; nndl train --resume {} goes on from epoch {}",
            path.display(),
            run.epochs_done()
        );
    }
    Error::Interrupted { message, status }
}

fn say_outcome<F: nndl::Real>(run: &Run<F>, job: &Job) {
    let config = job.config;
    let epochs_run = run.epochs_done();
    match run.finished() {
        Some(Stop::EarlyStop) => say!(
            "Stopped after epoch {epochs_run}: no better validation accuracy for {} epochs",
            config.early_stop.unwrap_or(0)
        ),
        Some(Stop::EtaFloor) => say!("Stopped after epoch {epochs_run}: η fell to η₀/128"),
        _ => {}
    }
    if let Some(r) = run.chosen_report() {
        let (c, t) = r.validation_accuracy.unwrap_or((0, 0));
        let how = match config.keep {
            Keep::Best => "Chosen on validation",
            Keep::Last => "Kept the last epoch",
        };
        say!(
            "{how}: epoch {}, validation {}; test {}",
            r.epoch,
            score(c, t),
            score(r.correct, r.total)
        );
    }
    let seconds = run.seconds();
    say!(
        "Time: {:.1} s for {} epochs ({:.2} s per epoch)",
        seconds,
        epochs_run,
        seconds / epochs_run.max(1) as f64
    );
    say!("Saved epoch {} to {}", run.chosen_epoch, job.out.display());
    if let Some(path) = job.metrics {
        say!("Metrics written to {}", path.display());
    }
}

/// The cost named by --output and --cost: softmax goes with log-likelihood.
pub(crate) fn cost_of(output: Output, cost: Option<Cost>) -> Result<Cost> {
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

fn run_evaluate(args: EvaluateArgs) -> Result<()> {
    let model = model::load(&args.model)?;
    match model.precision {
        Precision::F32 => evaluate_in(model.net.cast::<f32>(), &args),
        Precision::F64 => evaluate_in(model.net, &args),
    }
}

fn evaluate_in<F: nndl::Real>(net: Network<F>, args: &EvaluateArgs) -> Result<()> {
    let source = dataset::source(args.data.as_deref())?;
    let mnist = nndl::data::load(&source)?;
    let (name, data) = match args.split {
        Split::Test => ("test", &mnist.test),
        Split::Validation => ("validation", &mnist.validation),
        Split::Train => ("training", &mnist.training),
    };
    check_fits(
        &net,
        &args.model,
        data.pixels(),
        data.classes,
        source.path(),
    )?;
    let mut trainer = nndl::Trainer::new(&net.sizes, 0, args.threads);
    let eval = trainer.evaluate_full(&net, data);
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
    if let Some(dir) = &args.errors {
        let predictions = trainer.predictions(&net, data);
        let written = pictures::write_errors(dir, data, &predictions)?;
        say!();
        say!(
            "Wrote the {} misclassified {name} images to {}, and the first {} on {}",
            thousands(written),
            dir.display(),
            written.min(pictures::SHEET_MISTAKES),
            dir.join("sheet.png").display()
        );
    }
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
    if let Some(path) = &args.save_input {
        pictures::check_png(path, "--save-input")?;
        files::check_outputs(&[("--save-input", path.as_path())])?;
    }
    let pixels = image_input::load_digit(&args.image)?;
    if let Some(path) = &args.save_input {
        files::write_atomically(path, &print::input_png(&pixels, path)?)?;
    }
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
    if args.show {
        let outputs: Vec<f64> = a.iter().map(|v| v.to_f64().unwrap_or(f64::NAN)).collect();
        say!("{}", print::drawing(&pixels, &outputs, args.ascii));
        return Ok(());
    }
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
