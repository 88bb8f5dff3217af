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

/// Grey levels from paper to ink, in Unicode shades and in ASCII; each
/// pixel is drawn two characters wide, so the digit keeps its shape.
const SHADES: [char; 5] = [' ', '░', '▒', '▓', '█'];
const ASCII: [char; 10] = [' ', '.', ':', '-', '=', '+', '*', '#', '%', '@'];

/// The 28 × 28 input `pixels` (values in [0, 1]) drawn in a frame, with a
/// bar chart of the outputs beside it, one digit a row.
pub(crate) fn drawing(pixels: &[f64], outputs: &[f64], ascii: bool) -> String {
    let side = nndl::image_input::SIDE;
    let levels: &[char] = if ascii { &ASCII } else { &SHADES };
    let (corner, across, down) = if ascii {
        ('+', '-', '|')
    } else {
        ('┌', '─', '│')
    };
    let best = nndl::network::argmax(ndarray::ArrayView1::from(outputs));
    let bar = if ascii { '#' } else { '█' };
    let mut lines = vec![format!(
        "{corner}{}{}",
        across.to_string().repeat(2 * side),
        if ascii { '+' } else { '┐' }
    )];
    for (r, row) in pixels.chunks(side).enumerate() {
        let mut line = String::from(down);
        for &v in row {
            let level = (v.clamp(0.0, 1.0) * (levels.len() - 1) as f64).round() as usize;
            line.push(levels[level]);
            line.push(levels[level]);
        }
        line.push(down);
        // The outputs, from row 9 on: digit, bar, activation.
        if let Some(d) = r.checked_sub(9).filter(|&d| d < outputs.len()) {
            let width = (outputs[d].clamp(0.0, 1.0) * 30.0).round() as usize;
            let mark = if d == best { '◀' } else { ' ' };
            let mark = if ascii && d == best { '<' } else { mark };
            line += &format!(
                "  {d} {:<30} {:.4} {mark}",
                bar.to_string().repeat(width),
                outputs[d]
            );
        }
        lines.push(line.trim_end().to_string());
    }
    let bottom = if ascii { ('+', '+') } else { ('└', '┘') };
    lines.push(format!(
        "{}{}{}",
        bottom.0,
        across.to_string().repeat(2 * side),
        bottom.1
    ));
    lines.join("\n")
}

/// The 28 × 28 input as a grey PNG, ink white on black as MNIST has it.
pub(crate) fn input_png(pixels: &[f64], path: &std::path::Path) -> nndl::Result<Vec<u8>> {
    let side = nndl::image_input::SIDE as u32;
    let img = image::GrayImage::from_fn(side, side, |x, y| {
        let v = pixels[(y * side + x) as usize];
        image::Luma([(v.clamp(0.0, 1.0) * 255.0).round() as u8])
    });
    crate::pictures::png(&image::DynamicImage::ImageLuma8(img), path)
}
