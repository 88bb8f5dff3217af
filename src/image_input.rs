//! A picture of a digit, turned into what the network saw in training, the
//! way MNIST was made: grey levels, digit light on dark, cropped to the
//! digit, scaled to fit 20 × 20 keeping its aspect ratio, and placed in
//! 28 × 28 with its centre of mass at the centre.

use std::path::Path;

use image::metadata::Orientation;
use image::{DynamicImage, ImageDecoder, ImageError, ImageReader, Limits};

use crate::error::{Error, Result};

/// MNIST's image side and the box its digits are scaled into.
pub const SIDE: usize = 28;
pub const DIGIT_BOX: usize = 20;

/// Largest width or height accepted: a header claiming more is refused
/// before anything is allocated.
pub const MAX_SIDE: u32 = 16_384;
const MAX_DECODE_BYTES: u64 = 256 << 20;

/// A grey image, values in [0, 1], row-major.
#[derive(Clone, Debug, PartialEq)]
pub struct Gray {
    pub width: usize,
    pub height: usize,
    pub pixels: Vec<f64>,
}

impl Gray {
    fn at(&self, x: usize, y: usize) -> f64 {
        self.pixels[y * self.width + x]
    }
}

/// Images are reduced, as they are read, to at most this many pixels a
/// side (by averaging k × k blocks): the digit ends up 20 pixels tall, and
/// the grey copy of a 16,384² picture would be 2 GB.
pub const REDUCED_SIDE: usize = 1024;

/// Decodes PNG, JPEG, BMP, GIF or PGM/PPM (binary or ASCII) into grey levels
/// in [0, 1], turned as its EXIF orientation says. Transparent pixels count
/// as white paper, unless everything opaque is one colour: then the opaque
/// shape is the ink, whatever its colour.
pub fn decode(path: &Path) -> Result<Gray> {
    crate::files::check_input(path)?;
    let reader = ImageReader::open(path)
        .and_then(|r| r.with_guessed_format())
        .map_err(|e| Error::io(path, e))?;
    decode_from(reader, path)
}

/// `decode` of an image in memory; `name` names it in messages.
pub fn decode_bytes(bytes: &[u8], name: &Path) -> Result<Gray> {
    let reader = ImageReader::new(std::io::Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| Error::io(name, e))?;
    decode_from(reader, name)
}

fn decode_from<R: std::io::BufRead + std::io::Seek>(
    reader: ImageReader<R>,
    path: &Path,
) -> Result<Gray> {
    if reader.format().is_none() {
        return Err(Error::invalid(
            path,
            "not an image nndl reads (PNG, JPEG, BMP, GIF or PGM)",
        ));
    }
    let mut reader = reader;
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_SIDE);
    limits.max_image_height = Some(MAX_SIDE);
    limits.max_alloc = Some(MAX_DECODE_BYTES);
    reader.limits(limits);
    let too_large = || {
        Error::invalid(
            path,
            format!(
                "image too large: at most {MAX_SIDE} × {MAX_SIDE} pixels and {} MiB decoded",
                MAX_DECODE_BYTES >> 20
            ),
        )
    };
    let failed = |e: ImageError| match e {
        ImageError::Limits(_) => too_large(),
        ImageError::IoError(e) => Error::io(path, e),
        e => Error::invalid(path, format!("cannot decode image: {e}")),
    };
    let mut decoder = reader.into_decoder().map_err(failed)?;
    if decoder.total_bytes() > MAX_DECODE_BYTES {
        return Err(too_large());
    }
    let orientation = decoder.orientation().unwrap_or(Orientation::NoTransforms);
    let image = DynamicImage::from_decoder(decoder).map_err(failed)?;
    if image.width() == 0 || image.height() == 0 {
        return Err(Error::invalid(path, "image has no pixels"));
    }
    Ok(orient(grey(&image), orientation))
}

/// The grey levels of `image`, reduced to at most `REDUCED_SIDE` a side,
/// converted a band of rows at a time so no full-size copy is made.
pub fn grey(image: &DynamicImage) -> Gray {
    let (w, h) = (image.width() as usize, image.height() as usize);
    let k = w.max(h).div_ceil(REDUCED_SIDE);
    let (width, height) = (w.div_ceil(k), h.div_ceil(k));
    // Per reduced pixel: the sum over its block of the value on white
    // paper, and of 1 − alpha; and how many pixels the block has.
    let mut on_paper = vec![0.0; width * height];
    let mut shape = vec![0.0; width * height];
    let mut count = vec![0.0; width * height];
    let (mut lightest, mut darkest, mut see_through) = (0u8, 255u8, false);
    // Unreduced, the image in one band; reduced, k rows a band.
    let band_rows = if k == 1 { h } else { k };
    for y0 in (0..h).step_by(band_rows) {
        let rows = band_rows.min(h - y0);
        let band = if rows == h {
            image.to_luma_alpha8()
        } else {
            image
                .crop_imm(0, y0 as u32, w as u32, rows as u32)
                .to_luma_alpha8()
        };
        for (x, y, p) in band.enumerate_pixels() {
            let [l, a] = p.0;
            if a >= 128 {
                (lightest, darkest) = (lightest.max(l), darkest.min(l));
            } else {
                see_through = true;
            }
            let (l, a) = (l as f64 / 255.0, a as f64 / 255.0);
            let i = ((y0 + y as usize) / k) * width + x as usize / k;
            on_paper[i] += l * a + (1.0 - a);
            shape[i] += 1.0 - a;
            count[i] += 1.0;
        }
    }
    // One colour over transparency: the shape is the ink.
    let values = if see_through && lightest.saturating_sub(darkest) <= 25 {
        shape
    } else {
        on_paper
    };
    Gray {
        width,
        height,
        pixels: values.iter().zip(&count).map(|(v, n)| v / n).collect(),
    }
}

/// `g` turned as an EXIF orientation says (as `DynamicImage::apply_orientation`).
pub fn orient(g: Gray, orientation: Orientation) -> Gray {
    use Orientation::*;
    let (w, h) = (g.width, g.height);
    let turned = matches!(
        orientation,
        Rotate90 | Rotate270 | Rotate90FlipH | Rotate270FlipH
    );
    let (width, height) = if turned { (h, w) } else { (w, h) };
    // Output (x, y) comes from input `from(x, y)`.
    let from = |x: usize, y: usize| match orientation {
        NoTransforms => (x, y),
        Rotate90 => (y, h - 1 - x),
        Rotate180 => (w - 1 - x, h - 1 - y),
        Rotate270 => (w - 1 - y, x),
        FlipHorizontal => (w - 1 - x, y),
        FlipVertical => (x, h - 1 - y),
        Rotate90FlipH => (y, x),
        Rotate270FlipH => (w - 1 - y, h - 1 - x),
    };
    if orientation == NoTransforms {
        return g;
    }
    let pixels = (0..height)
        .flat_map(|y| (0..width).map(move |x| (x, y)))
        .map(|(x, y)| {
            let (sx, sy) = from(x, y);
            g.at(sx, sy)
        })
        .collect();
    Gray {
        width,
        height,
        pixels,
    }
}

/// Reads an image file and returns the network's input: 784 values in
/// [0, 1], row by row.
pub fn load_digit(path: &Path) -> Result<Vec<f64>> {
    let gray = decode(path)?;
    to_mnist(gray).map_err(|m| Error::invalid(path, m))
}

/// The MNIST preparation of a grey image. A 28 × 28 image that is already
/// light on dark is returned unchanged.
pub fn to_mnist(mut img: Gray) -> Result<Vec<f64>, String> {
    let mut border = border_values(&img);
    let light_background = median(&mut border) > 0.5;
    if img.width == SIDE && img.height == SIDE && !light_background {
        return Ok(img.pixels);
    }
    if light_background {
        for v in &mut img.pixels {
            *v = 1.0 - *v;
        }
    }
    // Stretch the levels so paper is 0 and ink is 1: photos have grey paper.
    let paper = median(&mut border_values(&img));
    let ink = img.pixels.iter().copied().fold(0.0, f64::max);
    if ink - paper < 0.1 {
        return Err("no digit found: the image is blank or has no contrast".into());
    }
    for v in &mut img.pixels {
        *v = ((*v - paper) / (ink - paper)).clamp(0.0, 1.0);
    }
    // Crop to the digit: the bounding box of clearly inked pixels.
    let inked = |v: f64| v > 0.3;
    let (mut x0, mut y0, mut x1, mut y1) = (img.width, img.height, 0, 0);
    for y in 0..img.height {
        for x in 0..img.width {
            if inked(img.at(x, y)) {
                (x0, y0, x1, y1) = (x0.min(x), y0.min(y), x1.max(x + 1), y1.max(y + 1));
            }
        }
    }
    let (w, h) = (x1 - x0, y1 - y0);
    let crop = Gray {
        width: w,
        height: h,
        pixels: (y0..y1)
            .flat_map(|y| (x0..x1).map(move |x| (x, y)))
            .map(|(x, y)| img.at(x, y))
            .collect(),
    };
    // Fit in 20 × 20, keeping the aspect ratio.
    let scale = DIGIT_BOX as f64 / w.max(h) as f64;
    let (tw, th) = (
        ((w as f64 * scale).round() as usize).clamp(1, DIGIT_BOX),
        ((h as f64 * scale).round() as usize).clamp(1, DIGIT_BOX),
    );
    let mut small = resample(&crop, tw, th);
    let peak = small.pixels.iter().copied().fold(0.0, f64::max);
    if peak > 0.0 {
        small.pixels.iter_mut().for_each(|v| *v /= peak);
    }
    // Centre of mass (of pixel centres) to the field's centre.
    let mass: f64 = small.pixels.iter().sum();
    let (mut cx, mut cy) = (0.0, 0.0);
    for y in 0..th {
        for x in 0..tw {
            let v = small.at(x, y);
            cx += (x as f64 + 0.5) * v;
            cy += (y as f64 + 0.5) * v;
        }
    }
    let centre = SIDE as f64 / 2.0;
    let dx = (centre - cx / mass).round() as isize;
    let dy = (centre - cy / mass).round() as isize;
    let mut out = vec![0.0; SIDE * SIDE];
    for y in 0..th {
        for x in 0..tw {
            let (ox, oy) = (x as isize + dx, y as isize + dy);
            if (0..SIDE as isize).contains(&ox) && (0..SIDE as isize).contains(&oy) {
                out[oy as usize * SIDE + ox as usize] = small.at(x, y);
            }
        }
    }
    Ok(out)
}

fn border_values(img: &Gray) -> Vec<f64> {
    let (w, h) = (img.width, img.height);
    (0..w)
        .flat_map(|x| [(x, 0), (x, h - 1)])
        .chain((0..h).flat_map(|y| [(0, y), (w - 1, y)]))
        .map(|(x, y)| img.at(x, y))
        .collect()
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Area-averaging resample: each output pixel is the mean of the source area
/// it covers, which is how an anti-aliased downscale makes MNIST's grey edges.
pub fn resample(img: &Gray, width: usize, height: usize) -> Gray {
    let rows: Vec<Vec<f64>> = (0..img.height)
        .map(|y| resample_line(&img.pixels[y * img.width..(y + 1) * img.width], width))
        .collect();
    let mut pixels = vec![0.0; width * height];
    let mut column = vec![0.0; img.height];
    for x in 0..width {
        for (y, row) in rows.iter().enumerate() {
            column[y] = row[x];
        }
        for (y, v) in resample_line(&column, height).into_iter().enumerate() {
            pixels[y * width + x] = v;
        }
    }
    Gray {
        width,
        height,
        pixels,
    }
}

fn resample_line(src: &[f64], n: usize) -> Vec<f64> {
    let step = src.len() as f64 / n as f64;
    (0..n)
        .map(|i| {
            let (start, end) = (i as f64 * step, (i + 1) as f64 * step);
            let mut sum = 0.0;
            let mut k = start.floor() as usize;
            while (k as f64) < end && k < src.len() {
                let overlap = (end.min(k as f64 + 1.0) - start.max(k as f64)).max(0.0);
                sum += src[k] * overlap;
                k += 1;
            }
            sum / step
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn orientations_turn_as_the_image_crate_does() {
        use image::{GrayImage, Luma};
        let source = GrayImage::from_fn(5, 3, |x, y| Luma([(y * 5 + x) as u8 * 10]));
        let gray = |img: &DynamicImage| grey(img);
        for o in [
            Orientation::NoTransforms,
            Orientation::Rotate90,
            Orientation::Rotate180,
            Orientation::Rotate270,
            Orientation::FlipHorizontal,
            Orientation::FlipVertical,
            Orientation::Rotate90FlipH,
            Orientation::Rotate270FlipH,
        ] {
            let mut theirs = DynamicImage::ImageLuma8(source.clone());
            theirs.apply_orientation(o);
            let ours = orient(gray(&DynamicImage::ImageLuma8(source.clone())), o);
            assert_eq!(ours, gray(&theirs), "{o:?}");
        }
    }

    #[test]
    fn large_images_are_reduced_by_block_averages() {
        use image::{GrayImage, Luma};
        // 2,050 × 3 pixels: k = 3, so 684 × 1 reduced pixels.
        let img = GrayImage::from_fn(2050, 3, |x, _| Luma([if x % 3 == 0 { 255 } else { 0 }]));
        let g = grey(&DynamicImage::ImageLuma8(img));
        assert_eq!((g.width, g.height), (684, 1));
        assert!(
            g.pixels[..683]
                .iter()
                .all(|&v| (v - 1.0 / 3.0).abs() < 1e-12)
        );
        // The last block is the lone column 2049 (2049 % 3 = 0, lit).
        assert_eq!(g.pixels[683], 1.0);
    }

    #[test]
    fn one_colour_over_transparency_is_ink() {
        use image::{Rgba, RgbaImage};
        // A white bar on a transparent background.
        let img = RgbaImage::from_fn(8, 8, |x, _| {
            if (3..5).contains(&x) {
                Rgba([255, 255, 255, 255])
            } else {
                Rgba([255, 255, 255, 0])
            }
        });
        let g = grey(&DynamicImage::ImageRgba8(img));
        assert_eq!(g.at(3, 0), 0.0, "the bar is dark ink on white");
        assert_eq!(g.at(0, 0), 1.0);
        // Two colours: drawn on transparent paper, composited on white.
        let img = RgbaImage::from_fn(8, 8, |x, _| match x {
            0 => Rgba([0, 0, 0, 255]),
            1 => Rgba([255, 255, 255, 255]),
            _ => Rgba([0, 0, 0, 0]),
        });
        let g = grey(&DynamicImage::ImageRgba8(img));
        assert_eq!((g.at(0, 0), g.at(1, 0), g.at(2, 0)), (0.0, 1.0, 1.0));
    }

    fn blank(width: usize, height: usize, v: f64) -> Gray {
        Gray {
            width,
            height,
            pixels: vec![v; width * height],
        }
    }

    #[test]
    fn resample_averages_areas() {
        let img = Gray {
            width: 4,
            height: 2,
            pixels: vec![0.0, 1.0, 1.0, 1.0, 0.0, 0.0, 1.0, 0.0],
        };
        let half = resample(&img, 2, 1);
        assert_eq!(half.pixels, vec![0.25, 0.75]);
        let third = resample_line(&[0.0, 0.0, 1.0], 2);
        assert!((third[0] - 0.0).abs() < 1e-12 && (third[1] - 2.0 / 3.0).abs() < 1e-12);
    }

    #[test]
    fn black_on_white_bar_is_inverted_scaled_and_centred() {
        // A dark vertical bar, 10 wide and 100 tall, off-centre on white.
        let mut img = blank(300, 200, 1.0);
        for y in 20..120 {
            for x in 200..210 {
                img.pixels[y * 300 + x] = 0.0;
            }
        }
        let out = to_mnist(img).unwrap();
        let lit: Vec<(usize, usize)> = (0..SIDE * SIDE)
            .filter(|&i| out[i] > 0.5)
            .map(|i| (i % SIDE, i / SIDE))
            .collect();
        let (xs, ys): (Vec<_>, Vec<_>) = lit.iter().copied().unzip();
        // 20 tall, 2 wide, centred on (14, 14).
        assert_eq!((ys.iter().min(), ys.iter().max()), (Some(&4), Some(&23)));
        assert_eq!((xs.iter().min(), xs.iter().max()), (Some(&13), Some(&14)));
    }

    #[test]
    fn mnist_sized_light_on_dark_passes_unchanged() {
        let mut img = blank(SIDE, SIDE, 0.0);
        img.pixels[5 * SIDE + 3] = 0.6;
        let out = to_mnist(img.clone()).unwrap();
        assert_eq!(out, img.pixels);
    }

    #[test]
    fn blank_image_is_an_error() {
        assert!(
            to_mnist(blank(50, 40, 1.0))
                .unwrap_err()
                .contains("no digit")
        );
    }
}
