//! Pictures: what each first-layer neuron looks for.

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
    let mut png = Vec::new();
    picture
        .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
        .map_err(|e| Error::invalid(&args.out, e.to_string()))?;
    files::write_atomically(&args.out, &png)?;
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
