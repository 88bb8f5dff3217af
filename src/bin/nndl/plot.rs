//! `nndl plot`: a metrics file's curves, accuracy and cost per epoch,
//! training against validation where present, as chapter 3 draws
//! overfitting. SVG or PNG; the PNG's text is drawn from DejaVu Sans built
//! into the binary, so no system font or library is needed.

use std::path::Path;

use plotters::prelude::*;

use nndl::{Error, Result, files};

use crate::args::PlotArgs;

const SIZE: (u32, u32) = (1100, 450);

/// One epoch's figures, as a metrics file holds them.
#[derive(Default)]
struct Row {
    epoch: f64,
    test_accuracy: Option<f64>,
    validation_accuracy: Option<f64>,
    training_accuracy: Option<f64>,
    training_cost: Option<f64>,
    validation_cost: Option<f64>,
}

pub(crate) fn run_plot(args: PlotArgs) -> Result<()> {
    check_out(&args.out, "-o")?;
    let rows = read(&args.metrics)?;
    let out = &args.out;
    plot(&rows, out)?;
    say!(
        "{}: {} epochs drawn from {}",
        out.display(),
        rows.len(),
        args.metrics.display()
    );
    Ok(())
}

/// Checks that `out` names an SVG or PNG picture nndl can write.
pub(crate) fn check_out(out: &Path, flag: &str) -> Result<()> {
    if format(out).is_none() {
        return Err(Error::Usage(format!(
            "{flag} {}: the file name must end in .svg or .png",
            out.display()
        )));
    }
    files::check_outputs(&[(flag, out)])
}

/// Whether `path` is SVG (else PNG); None for neither.
fn format(path: &Path) -> Option<bool> {
    let ext = path.extension()?.to_str()?.to_ascii_lowercase();
    match ext.as_str() {
        "svg" => Some(true),
        "png" => Some(false),
        _ => None,
    }
}

/// Draws the curves of the metrics file `metrics` to `out`.
pub(crate) fn plot_file(metrics: &Path, out: &Path) -> Result<()> {
    plot(&read(metrics)?, out)
}

/// Reads a metrics file nndl wrote, CSV or JSON.
fn read(path: &Path) -> Result<Vec<Row>> {
    let text = files::read_text(path)?;
    let json = nndl::metrics::is_json(path).ok_or_else(|| {
        Error::Usage(format!(
            "{}: a metrics file ends in .csv or .json",
            path.display()
        ))
    })?;
    let bad = |m: String| Error::invalid(path, m);
    let records: Vec<Vec<(String, Option<f64>)>> = if json {
        let value: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| bad(format!("not a metrics file: {e}")))?;
        let array = value
            .as_array()
            .ok_or_else(|| bad("not a metrics file: no array of epochs".into()))?;
        array
            .iter()
            .map(|r| {
                r.as_object()
                    .map(|o| o.iter().map(|(k, v)| (k.clone(), v.as_f64())).collect())
                    .unwrap_or_default()
            })
            .collect()
    } else {
        let mut lines = text.lines();
        let header: Vec<String> = lines
            .next()
            .unwrap_or("")
            .split(',')
            .map(str::to_string)
            .collect();
        lines
            .filter(|l| !l.trim().is_empty())
            .map(|l| {
                header
                    .iter()
                    .cloned()
                    .zip(l.split(',').map(|v| v.trim().parse::<f64>().ok()))
                    .collect()
            })
            .collect()
    };
    let rows: Vec<Row> = records
        .into_iter()
        .map(|fields| {
            let mut row = Row::default();
            for (name, value) in fields {
                match name.as_str() {
                    "epoch" => row.epoch = value.unwrap_or(f64::NAN),
                    "test_accuracy" => row.test_accuracy = value,
                    "validation_accuracy" => row.validation_accuracy = value,
                    "training_accuracy" => row.training_accuracy = value,
                    "training_cost" => row.training_cost = value,
                    "validation_cost" => row.validation_cost = value,
                    _ => {}
                }
            }
            row
        })
        .collect();
    if rows.is_empty() || rows.iter().any(|r| !r.epoch.is_finite()) {
        return Err(bad(
            "not a metrics file: no epochs, or an epoch without its number".into(),
        ));
    }
    Ok(rows)
}

/// Draws `rows` into `out`, SVG or PNG by its name, written atomically.
fn plot(rows: &[Row], out: &Path) -> Result<()> {
    let failed = |e: String| Error::invalid(out, format!("cannot draw: {e}"));
    // The one font text is measured and drawn in, registered once.
    static FONT: std::sync::Once = std::sync::Once::new();
    FONT.call_once(|| {
        let _ = plotters::style::register_font(
            "sans-serif",
            FontStyle::Normal,
            dejavu::sans::regular(),
        );
    });
    let bytes = if format(out) == Some(true) {
        let mut svg = String::new();
        draw(
            SVGBackend::with_string(&mut svg, SIZE).into_drawing_area(),
            rows,
        )
        .map_err(failed)?;
        svg.into_bytes()
    } else {
        let mut rgb = vec![0u8; (SIZE.0 * SIZE.1 * 3) as usize];
        draw(
            BitMapBackend::with_buffer(&mut rgb, SIZE).into_drawing_area(),
            rows,
        )
        .map_err(failed)?;
        let picture = image::RgbImage::from_raw(SIZE.0, SIZE.1, rgb)
            .ok_or_else(|| failed("a buffer of the wrong size".into()))?;
        crate::pictures::png(&image::DynamicImage::ImageRgb8(picture), out)?
    };
    files::write_atomically(out, &bytes)
}

type Series<'a> = (&'a str, RGBColor, Vec<(f64, f64)>);

/// Accuracy (in %) on the left, cost on the right.
fn draw<DB: DrawingBackend>(
    root: DrawingArea<DB, plotters::coord::Shift>,
    rows: &[Row],
) -> Result<(), String>
where
    DB::ErrorType: 'static,
{
    let text = |e: DrawingAreaErrorKind<DB::ErrorType>| e.to_string();
    root.fill(&WHITE).map_err(text)?;
    let (left, right) = root.split_horizontally(SIZE.0 / 2);
    let series = |f: fn(&Row) -> Option<f64>, scale: f64| -> Vec<(f64, f64)> {
        rows.iter()
            .filter_map(|r| f(r).map(|v| (r.epoch, v * scale)))
            .collect()
    };
    let accuracy: Vec<Series> = vec![
        (
            "training",
            RGBColor(31, 119, 180),
            series(|r| r.training_accuracy, 100.0),
        ),
        (
            "validation",
            RGBColor(255, 127, 14),
            series(|r| r.validation_accuracy, 100.0),
        ),
        (
            "test",
            RGBColor(44, 160, 44),
            series(|r| r.test_accuracy, 100.0),
        ),
    ];
    let cost: Vec<Series> = vec![
        (
            "training",
            RGBColor(31, 119, 180),
            series(|r| r.training_cost, 1.0),
        ),
        (
            "validation",
            RGBColor(255, 127, 14),
            series(|r| r.validation_cost, 1.0),
        ),
    ];
    panel(
        &left,
        "Accuracy (%)",
        &accuracy,
        SeriesLabelPosition::LowerRight,
    )
    .map_err(text)?;
    if cost.iter().any(|s| !s.2.is_empty()) {
        panel(&right, "Cost", &cost, SeriesLabelPosition::UpperRight).map_err(text)?;
    } else {
        right
            .draw(&Text::new(
                "No cost in this file: train with --monitor train-cost,validation-cost",
                (30, SIZE.1 as i32 / 2),
                ("sans-serif", 15).into_font(),
            ))
            .map_err(text)?;
    }
    root.present().map_err(text)
}

fn panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, plotters::coord::Shift>,
    title: &str,
    series: &[Series],
    legend: SeriesLabelPosition,
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    let points = series.iter().flat_map(|s| s.2.iter());
    let (mut x_max, mut y_min, mut y_max) = (1.0f64, f64::INFINITY, f64::NEG_INFINITY);
    for &(x, y) in points {
        x_max = x_max.max(x);
        y_min = y_min.min(y);
        y_max = y_max.max(y);
    }
    if !y_min.is_finite() {
        (y_min, y_max) = (0.0, 1.0);
    }
    let pad = ((y_max - y_min) * 0.05).max(1e-3);
    let mut chart = ChartBuilder::on(area)
        .caption(title, ("sans-serif", 20))
        .margin(15)
        .x_label_area_size(35)
        .y_label_area_size(55)
        .build_cartesian_2d(1.0..x_max.max(2.0), (y_min - pad)..(y_max + pad))?;
    chart
        .configure_mesh()
        .x_desc("epoch")
        .x_label_formatter(&|x| format!("{x:.0}"))
        .light_line_style(WHITE.mix(0.0))
        .draw()?;
    for (name, colour, points) in series.iter().filter(|s| !s.2.is_empty()) {
        let colour = *colour;
        chart
            .draw_series(LineSeries::new(
                points.iter().copied(),
                colour.stroke_width(2),
            ))?
            .label(*name)
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], colour.stroke_width(2))
            });
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .position(legend)
        .draw()
}
