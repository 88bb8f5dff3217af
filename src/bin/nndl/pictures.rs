//! Pictures: what each first-layer neuron looks for, and the digits a
//! model gets wrong.

use image::{Rgb, RgbImage};

use nndl::{Error, Result, files, model};

use crate::args::WeightsArgs;

/// Each tile's pixels are drawn this many screen pixels a side, with this
/// gap between tiles.
const SCALE: u32 = 3;
const GAP: u32 = 4;

/// `nndl weights`: each first-layer hidden neuron's incoming weights as a
/// tile shaped like the input image, blue below zero, white at zero, red
/// above, each tile scaled to its own largest |w|; tiles in a grid.
pub(crate) fn run_weights(args: WeightsArgs) -> Result<()> {
    check_png(&args.out, "-o")?;
    files::check_outputs(&[("-o", args.out.as_path())])?;
    let net = model::load(&args.model)?.net;
    let side = (net.sizes[0] as f64).sqrt().round() as usize;
    if side * side != net.sizes[0] {
        return Err(Error::invalid(
            &args.model,
            format!("its {} inputs are not a square image", net.sizes[0]),
        ));
    }
    let w = &net.weights[0];
    let neurons = args.neurons.map_or(w.nrows(), |n| n.min(w.nrows()));
    let columns = (neurons as f64).sqrt().ceil() as u32;
    let rows = (neurons as u32).div_ceil(columns);
    let tile = side as u32 * SCALE;
    let (width, height) = (
        columns * tile + (columns + 1) * GAP,
        rows * tile + (rows + 1) * GAP,
    );
    let mut picture = RgbImage::from_pixel(width, height, Rgb([64, 64, 64]));
    for (n, row) in w.rows().into_iter().take(neurons).enumerate() {
        let largest = row
            .iter()
            .fold(0.0f64, |m, v| m.max(v.abs()))
            .max(f64::MIN_POSITIVE);
        let (x0, y0) = (
            GAP + (n as u32 % columns) * (tile + GAP),
            GAP + (n as u32 / columns) * (tile + GAP),
        );
        for (k, &v) in row.iter().enumerate() {
            let colour = diverging(v / largest);
            let (px, py) = ((k % side) as u32 * SCALE, (k / side) as u32 * SCALE);
            for dy in 0..SCALE {
                for dx in 0..SCALE {
                    picture.put_pixel(x0 + px + dx, y0 + py + dy, colour);
                }
            }
        }
    }
    let bytes = png(&image::DynamicImage::ImageRgb8(picture), &args.out)?;
    files::write_atomically(&args.out, &bytes)?;
    say!(
        "{}: the incoming weights of {neurons} of {} first-layer neurons, {columns} × {rows} tiles of {side} × {side}, {width} × {height} pixels",
        args.out.display(),
        w.nrows()
    );
    Ok(())
}

/// Blue for −1, white for 0, red for +1.
fn diverging(t: f64) -> Rgb<u8> {
    let t = t.clamp(-1.0, 1.0);
    let fade = |strength: f64| (255.0 * (1.0 - strength)).round() as u8;
    if t >= 0.0 {
        Rgb([255, fade(t), fade(t)])
    } else {
        Rgb([fade(-t), fade(-t), 255])
    }
}

/// A picture's file name must end in .png.
pub(crate) fn check_png(path: &std::path::Path, flag: &str) -> Result<()> {
    if path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("png"))
    {
        Ok(())
    } else {
        Err(Error::Usage(format!(
            "{flag} {}: the file name must end in .png",
            path.display()
        )))
    }
}

/// Digits and an arrow, 3 × 5 pixels, a row a number of 3 bits: enough to
/// label a contact sheet without a font file.
const GLYPHS: [[u8; 5]; 11] = [
    [0b111, 0b101, 0b101, 0b101, 0b111],
    [0b010, 0b110, 0b010, 0b010, 0b111],
    [0b111, 0b001, 0b111, 0b100, 0b111],
    [0b111, 0b001, 0b111, 0b001, 0b111],
    [0b101, 0b101, 0b111, 0b001, 0b001],
    [0b111, 0b100, 0b111, 0b001, 0b111],
    [0b111, 0b100, 0b111, 0b101, 0b111],
    [0b111, 0b001, 0b010, 0b010, 0b010],
    [0b111, 0b101, 0b111, 0b101, 0b111],
    [0b111, 0b101, 0b111, 0b001, 0b111],
    [0b100, 0b010, 0b001, 0b010, 0b100],
];
const ARROW: usize = 10;

/// Draws `glyphs` at (x, y), each pixel `scale` wide, in `colour`.
fn write(picture: &mut RgbImage, glyphs: &[(usize, Rgb<u8>)], x: u32, y: u32, scale: u32) {
    for (n, &(g, colour)) in glyphs.iter().enumerate() {
        for (row, bits) in GLYPHS[g].iter().enumerate() {
            for col in 0..3u32 {
                if bits >> (2 - col) & 1 == 1 {
                    for dy in 0..scale {
                        for dx in 0..scale {
                            let px = x + (n as u32 * 4 + col) * scale + dx;
                            picture.put_pixel(px, y + row as u32 * scale + dy, colour);
                        }
                    }
                }
            }
        }
    }
}

/// Mistakes drawn on the contact sheet, and its layout.
pub(crate) const SHEET_MISTAKES: usize = 100;
const SHEET_COLUMNS: u32 = 10;
const CELL: u32 = 56 + 16;

/// Writes each misclassified image of `data` as
/// `DIR/INDEX-true-T-pred-P.png`, and `DIR/sheet.png`: the first 100 of them
/// on a grid, each labelled true → predicted. Returns how many.
pub(crate) fn write_errors(
    dir: &std::path::Path,
    data: &nndl::Dataset,
    predictions: &[usize],
) -> Result<usize> {
    if dir.exists() && !dir.is_dir() {
        return Err(Error::invalid(dir, "--errors: not a directory"));
    }
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let (rows, cols) = (data.rows as u32, data.cols as u32);
    let mistakes: Vec<usize> = (0..data.len())
        .filter(|&i| predictions[i] != data.labels[i] as usize)
        .collect();
    let shown = mistakes.len().min(SHEET_MISTAKES) as u32;
    let sheet_rows = shown.div_ceil(SHEET_COLUMNS).max(1);
    let mut sheet =
        RgbImage::from_pixel(SHEET_COLUMNS * CELL, sheet_rows * CELL, Rgb([32, 32, 32]));
    for (n, &i) in mistakes.iter().enumerate() {
        let (label, guess) = (data.labels[i] as usize, predictions[i]);
        let digit = image::GrayImage::from_raw(cols, rows, data.image(i).to_vec())
            .ok_or_else(|| Error::invalid(dir, "an image of the wrong size"))?;
        let path = dir.join(format!("{i}-true-{label}-pred-{guess}.png"));
        files::write_atomically(
            &path,
            &png(&image::DynamicImage::ImageLuma8(digit.clone()), &path)?,
        )?;
        if n < SHEET_MISTAKES {
            let (x0, y0) = (
                (n as u32 % SHEET_COLUMNS) * CELL + 8,
                (n as u32 / SHEET_COLUMNS) * CELL + 2,
            );
            // The digit scaled to fit 56 × 56, then its label below.
            let scale = (56 / rows.max(cols)).max(1);
            for (x, y, p) in digit.enumerate_pixels() {
                for d in 0..scale * scale {
                    let (px, py) = (x0 + x * scale + d % scale, y0 + y * scale + d / scale);
                    if px < sheet.width() && py < sheet.height() {
                        sheet.put_pixel(px, py, Rgb([p.0[0]; 3]));
                    }
                }
            }
            if label < 10 && guess < 10 {
                let green = Rgb([96, 224, 96]);
                let red = Rgb([255, 96, 96]);
                let text = [(label, green), (ARROW, Rgb([200, 200, 200])), (guess, red)];
                write(&mut sheet, &text, x0 + 16, y0 + 58, 2);
            }
        }
    }
    let path = dir.join("sheet.png");
    files::write_atomically(&path, &png(&image::DynamicImage::ImageRgb8(sheet), &path)?)?;
    Ok(mistakes.len())
}

/// `picture` encoded as PNG; `path` names it in an error.
pub(crate) fn png(picture: &image::DynamicImage, path: &std::path::Path) -> Result<Vec<u8>> {
    let mut bytes = Vec::new();
    picture
        .write_to(
            &mut std::io::Cursor::new(&mut bytes),
            image::ImageFormat::Png,
        )
        .map_err(|e| Error::invalid(path, e.to_string()))?;
    Ok(bytes)
}
