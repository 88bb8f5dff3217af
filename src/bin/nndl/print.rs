//! What the command prints: the progress of training, and figures.

use std::io::IsTerminal;
use std::path::PathBuf;

use indicatif::{ProgressBar, ProgressStyle};

use nndl::Error;
use nndl::train::{EpochReport, Observer};

/// Draws an indicatif bar over an epoch's mini-batches when stderr is a
/// terminal, and prints one line per epoch on stdout.
pub(crate) struct Progress {
    pub(crate) bar: Option<ProgressBar>,
    pub(crate) quiet: bool,
    pub(crate) pending: usize,
    /// Print η on each epoch line: a schedule changes it.
    pub(crate) show_eta: bool,
    pub(crate) history: Vec<EpochReport>,
    pub(crate) metrics: Option<PathBuf>,
    pub(crate) metrics_error: Option<Error>,
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

    fn warn(&mut self, message: &str) {
        match &self.bar {
            Some(bar) => bar.suspend(|| eprintln!("warning: {message}")),
            None => eprintln!("warning: {message}"),
        }
    }

    fn epoch_finished(&mut self, r: &EpochReport) {
        self.pending = 0;
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
        if !self.quiet {
            let (c, t) = r.validation_accuracy.unwrap_or((0, 0));
            let mut line = format!(
                "Epoch {}/{}: validation {}  test {}",
                r.epoch,
                r.epochs,
                score(c, t),
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
pub(crate) fn score(correct: usize, total: usize) -> String {
    format!(
        "{} / {} ({:.2}%)",
        thousands(correct),
        thousands(total),
        100.0 * correct as f64 / total.max(1) as f64
    )
}

pub(crate) fn thousands(n: usize) -> String {
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

/// Seconds as µs, ms or s.
pub(crate) fn duration(seconds: f64) -> String {
    if seconds < 1e-3 {
        format!("{:.1} µs", seconds * 1e6)
    } else if seconds < 1.0 {
        format!("{:.2} ms", seconds * 1e3)
    } else {
        format!("{seconds:.2} s")
    }
}
