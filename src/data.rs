//! MNIST in its original IDX files, as the book's mnist_loader splits it.
//!
//! Images stay as bytes, one per pixel; they are scaled to [0, 1] only when a
//! mini-batch is gathered, so the whole set costs 47 MB, not 8 bytes a pixel.

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

use byteorder::{BigEndian, ReadBytesExt};
use flate2::read::MultiGzDecoder;
use ndarray::{ArrayViewMut2, NdFloat};

use crate::error::{Error, Result};

pub const TRAIN_IMAGES: &str = "train-images-idx3-ubyte";
pub const TRAIN_LABELS: &str = "train-labels-idx1-ubyte";
pub const TEST_IMAGES: &str = "t10k-images-idx3-ubyte";
pub const TEST_LABELS: &str = "t10k-labels-idx1-ubyte";

/// IDX magic numbers: two zero bytes, type 0x08 (unsigned byte), dimension count.
const MAGIC_IMAGES: u32 = 0x0000_0803;
const MAGIC_LABELS: u32 = 0x0000_0801;

/// Each training image and its four one-pixel shifts, with `--expand`.
pub const SHIFTS: usize = 5;

/// The book keeps the last 10,000 training images for validation.
pub const VALIDATION_SIZE: usize = 10_000;

/// Labelled images, one byte a pixel, image after image in row-major order.
#[derive(Clone, Debug, PartialEq)]
pub struct Dataset {
    pub images: Vec<u8>,
    pub labels: Vec<u8>,
    pub rows: usize,
    pub cols: usize,
    /// Number of classes: one more than the largest label in the data set's files.
    pub classes: usize,
}

/// The book's three splits.
#[derive(Clone, Debug)]
pub struct Mnist {
    /// The first 50,000 images of the training file.
    pub training: Dataset,
    /// The last 10,000 images of the training file.
    pub validation: Dataset,
    /// The t10k file.
    pub test: Dataset,
}

impl Dataset {
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Pixels per image: the input layer's size.
    pub fn pixels(&self) -> usize {
        self.rows * self.cols
    }

    pub fn image(&self, i: usize) -> &[u8] {
        let p = self.pixels();
        &self.images[i * p..(i + 1) * p]
    }

    /// Images `range` of this set, as a set of their own.
    pub fn slice(&self, range: std::ops::Range<usize>) -> Dataset {
        let p = self.pixels();
        Dataset {
            images: self.images[range.start * p..range.end * p].to_vec(),
            labels: self.labels[range].to_vec(),
            ..*self
        }
    }

    /// Splits off the images from `at` on, without copying the ones kept.
    pub fn split_off(&mut self, at: usize) -> Dataset {
        let images = self.images.split_off(at * self.pixels());
        let labels = self.labels.split_off(at);
        self.images.shrink_to_fit();
        self.labels.shrink_to_fit();
        Dataset {
            images,
            labels,
            ..*self
        }
    }

    /// How many images carry each label.
    pub fn label_counts(&self) -> Vec<usize> {
        let mut counts = vec![0; self.classes];
        for &l in &self.labels {
            counts[l as usize] += 1;
        }
        counts
    }

    /// Writes the images `indices` into `x`, one row per example, pixels
    /// scaled to [0, 1]: x has shape (m, pixels). Its transpose is the
    /// chapter's X = [x_1 … x_m].
    pub fn gather_images<F: NdFloat>(&self, indices: &[usize], mut x: ArrayViewMut2<F>) {
        let scale = pixel_table::<F>();
        for (mut row, &i) in x.rows_mut().into_iter().zip(indices) {
            for (v, &b) in row.iter_mut().zip(self.image(i)) {
                *v = scale[b as usize];
            }
        }
    }

    /// Copies the bytes of the images `indices` into `out`, one after
    /// another. With `shifts` = SHIFTS the indices are into the expanded set:
    /// index i is image i / SHIFTS moved by shift i % SHIFTS — not at all, or
    /// one pixel up, down, left or right, as the book's expand_mnist, the
    /// pixels moved in from outside black. With `shifts` = 1, the images.
    pub fn gather_pixels(&self, indices: &[usize], shifts: usize, out: &mut [u8]) {
        let (rows, cols) = (self.rows, self.cols);
        for (out, &i) in out.chunks_exact_mut(self.pixels()).zip(indices) {
            let image = self.image(i / shifts);
            let (dr, dc) = shift(i % shifts);
            if (dr, dc) == (0, 0) {
                out.copy_from_slice(image);
                continue;
            }
            for r in 0..rows {
                for c in 0..cols {
                    let (sr, sc) = (r as isize + dr, c as isize + dc);
                    let inside =
                        (0..rows as isize).contains(&sr) && (0..cols as isize).contains(&sc);
                    out[r * cols + c] = if inside {
                        image[sr as usize * cols + sc as usize]
                    } else {
                        0
                    };
                }
            }
        }
    }

    /// `gather_targets` for indices into a set expanded `shifts` times.
    pub fn gather_targets_of<F: NdFloat>(
        &self,
        indices: &[usize],
        shifts: usize,
        mut y: ArrayViewMut2<F>,
    ) {
        y.fill(F::zero());
        for (col, &i) in indices.iter().enumerate() {
            y[[self.labels[i / shifts] as usize, col]] = F::one();
        }
    }

    /// Asks the processor to start loading the images `indices` (into a set
    /// expanded `shifts` times) into cache, so the next mini-batch's scattered
    /// images arrive while this one computes. Only a hint: it changes no result.
    pub fn prefetch(&self, indices: &[usize], shifts: usize) {
        #[cfg(target_arch = "x86_64")]
        for i in indices.iter().map(|&i| i / shifts) {
            for line in self.image(i).chunks(64) {
                // SAFETY: a prefetch reads nothing architecturally and cannot fault.
                unsafe {
                    std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(
                        line.as_ptr().cast(),
                    )
                };
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        let _ = (indices, shifts);
    }

    /// Writes one-hot targets for `indices` into `y` of shape (classes, m):
    /// column i is the chapter's y(x_i).
    pub fn gather_targets<F: NdFloat>(&self, indices: &[usize], y: ArrayViewMut2<F>) {
        self.gather_targets_of(indices, 1, y);
    }
}

/// Shift s of an expanded set (0 ≤ s < SHIFTS) as (dr, dc): the source
/// pixel of output (r, c) is (r + dr, c + dc).
fn shift(s: usize) -> (isize, isize) {
    match s {
        0 => (0, 0),
        1 => (1, 0),
        2 => (-1, 0),
        3 => (0, 1),
        _ => (0, -1),
    }
}

/// Every image's lit (nonzero) pixels, found once, so that a mini-batch's
/// are copied, not searched for, each step. Image i's lie in one block,
/// `blocks[starts[i]..starts[i + 1]]`, so that fetching it is one stream:
/// their count n, their n positions ascending, then their n bytes, two to
/// a u16 in native order.
#[derive(Clone, Debug)]
pub struct LitPixels {
    starts: Vec<usize>,
    blocks: Vec<u16>,
    rows: usize,
    cols: usize,
    /// Per image, whether a pixel is lit in its first and last columns,
    /// which a sideways shift moves out.
    edges: Vec<[bool; 2]>,
}

impl LitPixels {
    /// The lit pixels of `data`'s images; None if an image holds as many
    /// pixels as a u16 counts, or none.
    pub fn of(data: &Dataset) -> Option<LitPixels> {
        let (rows, cols, p) = (data.rows, data.cols, data.pixels());
        if p >= 1 << 16 || p == 0 {
            return None;
        }
        let lit = data.images.iter().filter(|&&b| b != 0).count();
        let mut blocks = Vec::with_capacity(lit * 3 / 2 + 2 * data.len());
        let mut starts = Vec::with_capacity(data.len() + 1);
        let mut edges = Vec::with_capacity(data.len());
        starts.push(0);
        for image in data.images.chunks_exact(p) {
            let count = blocks.len();
            blocks.push(0);
            blocks.extend((0..p as u16).filter(|&j| image[usize::from(j)] != 0));
            let index = count + 1..blocks.len();
            blocks[count] = index.len() as u16;
            // Their bytes, read back through the positions just listed.
            let end = index.end;
            for at in index.step_by(2) {
                let byte = |at: usize| {
                    let j = if at < end { blocks[at] } else { return 0 };
                    image[usize::from(j)]
                };
                let pair = u16::from_ne_bytes([byte(at), byte(at + 1)]);
                blocks.push(pair);
            }
            starts.push(blocks.len());
            let lit_in = |c: usize| (0..rows).any(|r| image[r * cols + c] != 0);
            edges.push([lit_in(0), lit_in(cols - 1)]);
        }
        Some(LitPixels {
            starts,
            blocks,
            rows,
            cols,
            edges,
        })
    }

    /// Images held.
    pub fn len(&self) -> usize {
        self.edges.len()
    }

    pub fn is_empty(&self) -> bool {
        self.edges.is_empty()
    }

    /// Image i's lit positions and their bytes.
    fn image(&self, i: usize) -> (&[u16], &[u8]) {
        let block = &self.blocks[self.starts[i]..self.starts[i + 1]];
        let n = usize::from(block[0]);
        let (index, bytes) = block[1..].split_at(n);
        // The bytes as they were written, two to a u16 in native order.
        assert!(2 * bytes.len() >= n);
        // SAFETY: `bytes` spans 2·bytes.len() ≥ n initialised bytes (asserted),
        // any of which is a valid u8, and u8 needs no alignment; the slice
        // borrows `self` as `bytes` does.
        let bytes = unsafe { std::slice::from_raw_parts(bytes.as_ptr().cast::<u8>(), n) };
        (index, bytes)
    }

    /// Image i of the set expanded `shifts` times (as `gather_pixels`
    /// reads its indices) as runs of lit pixels in order: `run(index,
    /// bytes, offset)` for each, the pixels at index + offset of the
    /// shifted image. Pixels a shift moves out are left out.
    pub fn runs(&self, i: usize, shifts: usize, mut run: impl FnMut(&[u16], &[u8], i32)) {
        let (index, bytes) = self.image(i / shifts);
        let (dr, dc) = shift(i % shifts);
        // Output (r, c) holds source (r + dr, c + dc): a source pixel at
        // position j lands at j − (dr·cols + dc).
        let offset = -(dr * self.cols as isize + dc) as i32;
        // Up or down, the row moved out is a run at either end.
        let (index, bytes) = match dr {
            1 => {
                let from = index.partition_point(|&j| usize::from(j) < self.cols);
                (&index[from..], &bytes[from..])
            }
            -1 => {
                let last = (self.rows - 1) * self.cols;
                let to = index.partition_point(|&j| usize::from(j) < last);
                (&index[..to], &bytes[..to])
            }
            _ => (index, bytes),
        };
        // Sideways, the column moved out splits the image into runs.
        let out = match dc {
            1 if self.edges[i / shifts][0] => 0,
            -1 if self.edges[i / shifts][1] => self.cols - 1,
            _ => return run(index, bytes, offset),
        };
        let mut start = 0;
        for (at, &j) in index.iter().enumerate() {
            if usize::from(j) % self.cols == out {
                run(&index[start..at], &bytes[start..at], offset);
                start = at + 1;
            }
        }
        run(&index[start..], &bytes[start..], offset);
    }

    /// Asks the processor to start loading the lit pixels of the images
    /// `indices` (into a set expanded `shifts` times) into cache, and where
    /// those of the images `after` lie: only a hint, as `Dataset::prefetch`.
    pub fn prefetch(&self, indices: &[usize], after: &[usize], shifts: usize) {
        #[cfg(target_arch = "x86_64")]
        {
            use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
            for i in indices.iter().map(|&i| i / shifts) {
                let block = &self.blocks[self.starts[i]..self.starts[i + 1]];
                for line in block.chunks(32) {
                    // SAFETY: a prefetch reads nothing architecturally and cannot fault.
                    unsafe { _mm_prefetch::<_MM_HINT_T0>(line.as_ptr().cast()) };
                }
            }
            for i in after.iter().map(|&i| i / shifts) {
                // SAFETY: as above.
                unsafe { _mm_prefetch::<_MM_HINT_T0>(self.starts[i..].as_ptr().cast()) };
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        let _ = (indices, after, shifts);
    }
}

/// b ↦ b / 255 for every byte b.
fn pixel_table<F: NdFloat>() -> [F; 256] {
    let mut table = [F::zero(); 256];
    let max = F::from(255.0).unwrap_or_else(F::one);
    for (b, v) in table.iter_mut().enumerate() {
        *v = F::from(b).unwrap_or_else(F::zero) / max;
    }
    table
}

impl Mnist {
    /// Names the data set, for checkpoints: the splits' sizes, the image
    /// size and an FNV-1a hash of every pixel and label, in order.
    pub fn fingerprint(&self) -> String {
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        let sets = [&self.training, &self.validation, &self.test];
        for byte in sets.iter().flat_map(|d| d.images.iter().chain(&d.labels)) {
            hash = (hash ^ u64::from(*byte)).wrapping_mul(0x0100_0000_01b3);
        }
        format!(
            "{} + {} + {} images of {}×{}, {} classes, FNV-1a {hash:016x}",
            self.training.len(),
            self.validation.len(),
            self.test.len(),
            self.training.rows,
            self.training.cols,
            self.training.classes
        )
    }
}

/// Where the four IDX files come from.
#[derive(Clone, Debug)]
pub enum Source {
    /// A directory holding each file as `NAME.gz` or `NAME`.
    Dir(PathBuf),
    /// Gzipped files in memory, by `NAME`: the binary's built-in MNIST.
    /// `name` stands for their directory in messages.
    Memory {
        name: PathBuf,
        files: &'static [(&'static str, &'static [u8])],
    },
}

impl Source {
    /// What messages call the data set.
    pub fn path(&self) -> &Path {
        match self {
            Source::Dir(dir) => dir,
            Source::Memory { name, .. } => name,
        }
    }

    /// What messages call file `name`: for a directory, the file that is there.
    fn file_path(&self, name: &str) -> Result<PathBuf> {
        match self {
            Source::Dir(dir) => find_file(dir, name),
            Source::Memory { name: dir, .. } => Ok(dir.join(format!("{name}.gz"))),
        }
    }

    /// File `name` and what messages call it.
    fn open(&self, name: &str) -> Result<(PathBuf, Box<dyn Read + '_>)> {
        let path = self.file_path(name)?;
        match self {
            Source::Dir(_) => {
                let r = open(&path)?;
                Ok((path, r))
            }
            Source::Memory { files, .. } => match files.iter().find(|(n, _)| *n == name) {
                Some((_, bytes)) => Ok((path, Box::new(MultiGzDecoder::new(*bytes)))),
                None => Err(Error::invalid(&path, "not among the built-in files")),
            },
        }
    }
}

/// Loads the four files from `dir` (each as `NAME.gz`, or `NAME` uncompressed)
/// and splits them as the book does; see [`load`].
pub fn load_mnist(dir: &Path) -> Result<Mnist> {
    load(&Source::Dir(dir.to_path_buf()))
}

/// Loads the four files and splits them as the book does: training = the
/// first 50,000 of the training file, validation = the last 10,000 (a sixth,
/// for a smaller file), test = the t10k file.
pub fn load(source: &Source) -> Result<Mnist> {
    let (train, test) = std::thread::scope(|s| {
        // The two image files decompress in parallel.
        let test = s.spawn(|| load_pair(source, TEST_IMAGES, TEST_LABELS));
        let train = load_pair(source, TRAIN_IMAGES, TRAIN_LABELS);
        let test = test.join().unwrap_or_else(|_| {
            Err(Error::invalid(
                source.path(),
                "the thread reading the test files failed",
            ))
        });
        (train, test)
    });
    let (mut train, mut test) = (train?, test?);
    if (train.rows, train.cols) != (test.rows, test.cols) {
        return Err(Error::invalid(
            &source.file_path(TEST_IMAGES)?,
            format!(
                "images are {}×{} but the training images are {}×{}",
                test.rows, test.cols, train.rows, train.cols
            ),
        ));
    }
    let classes = train.classes.max(test.classes);
    train.classes = classes;
    test.classes = classes;
    if train.len() < 2 {
        return Err(Error::invalid(
            &source.file_path(TRAIN_IMAGES)?,
            "needs at least 2 images to split off a validation set",
        ));
    }
    let validation_size = VALIDATION_SIZE.min(train.len() / 6).max(1);
    let validation = train.split_off(train.len() - validation_size);
    Ok(Mnist {
        training: train,
        validation,
        test,
    })
}

/// Reads one images file and its labels file into a data set. Both
/// headers are read and checked against each other, and against the
/// memory the images would take, before any payload.
pub fn load_pair(source: &Source, images: &str, labels: &str) -> Result<Dataset> {
    let (images_path, mut images) = source.open(images)?;
    let (count, rows, cols) = read_images_header(&images_path, &mut images)?;
    let (labels_path, mut labels) = source.open(labels)?;
    let dims = read_header(&labels_path, &mut labels, MAGIC_LABELS, "labels")?;
    if dims[0] != count {
        return Err(Error::invalid(
            &labels_path,
            format!(
                "holds {} labels but {} holds {} images",
                dims[0],
                images_path.display(),
                count
            ),
        ));
    }
    let pixels = read_payload(&images_path, &mut images, count * rows * cols, "pixels")?;
    let labels = read_payload(&labels_path, &mut labels, count, "labels")?;
    let classes = labels.iter().copied().max().map_or(0, |m| m as usize + 1);
    Ok(Dataset {
        images: pixels,
        labels,
        rows,
        cols,
        classes,
    })
}

/// `dir/NAME.gz` if it exists, else `dir/NAME`.
pub fn find_file(dir: &Path, name: &str) -> Result<PathBuf> {
    let gz = dir.join(format!("{name}.gz"));
    let raw = dir.join(name);
    for path in [&gz, &raw] {
        if path.exists() {
            crate::files::check_input(path)?;
            return Ok(path.clone());
        }
    }
    if !dir.is_dir() {
        Err(Error::invalid(dir, "no such data directory"))
    } else {
        Err(Error::invalid(&gz, format!("no such file (nor {name})")))
    }
}

/// Opens an IDX file, through gunzip when its name ends in `.gz`; a file of
/// several gzip members (`cat a.gz b.gz`) reads as their concatenation.
fn open(path: &Path) -> Result<Box<dyn Read>> {
    let file = File::open(path).map_err(|e| Error::io(path, e))?;
    let reader = BufReader::with_capacity(1 << 16, file);
    if path.extension().is_some_and(|e| e == "gz") {
        Ok(Box::new(MultiGzDecoder::new(reader)))
    } else {
        Ok(Box::new(reader))
    }
}

fn read_header(path: &Path, r: &mut dyn Read, magic: u32, what: &str) -> Result<Vec<usize>> {
    let found = r.read_u32::<BigEndian>().map_err(|e| Error::io(path, e))?;
    if found != magic {
        return Err(Error::invalid(
            path,
            format!("not an IDX {what} file (magic number {found:#010x}, expected {magic:#010x})"),
        ));
    }
    let dims = (magic & 0xff) as usize;
    (0..dims)
        .map(|_| {
            r.read_u32::<BigEndian>()
                .map(|d| d as usize)
                .map_err(|e| Error::io(path, e))
        })
        .collect()
}

/// Reads exactly `expected` bytes of payload. Memory grows with the bytes
/// that actually arrive, so a header that claims more than the file holds
/// cannot make us allocate it.
fn read_payload(path: &Path, r: &mut dyn Read, expected: usize, what: &str) -> Result<Vec<u8>> {
    let mut data = Vec::with_capacity(expected.min(1 << 24));
    r.take(expected as u64 + 1)
        .read_to_end(&mut data)
        .map_err(|e| Error::io(path, e))?;
    if data.len() < expected {
        return Err(Error::invalid(
            path,
            format!(
                "truncated: the header promises {expected} bytes of {what} but the file holds {}",
                data.len()
            ),
        ));
    }
    if data.len() > expected {
        return Err(Error::invalid(
            path,
            format!("holds more {what} than its header says ({expected} bytes)"),
        ));
    }
    Ok(data)
}

/// Returns (count, rows, cols, pixels).
pub fn read_images(path: &Path) -> Result<(usize, usize, usize, Vec<u8>)> {
    read_images_from(path, &mut open(path)?)
}

/// `read_images` of the bytes `r` gives; `path` names them in messages.
pub fn read_images_from(path: &Path, r: &mut dyn Read) -> Result<(usize, usize, usize, Vec<u8>)> {
    let (count, rows, cols) = read_images_header(path, r)?;
    let pixels = read_payload(path, r, count * rows * cols, "pixels")?;
    Ok((count, rows, cols, pixels))
}

/// The largest image side nndl takes: four times a megapixel a side would
/// make the first layer alone gigabytes.
pub const MAX_SIDE: usize = 1024;

/// An images file's header, (count, rows, cols), checked: sides of 1 to
/// `MAX_SIDE` pixels, and the images no more than half this machine's memory.
fn read_images_header(path: &Path, r: &mut dyn Read) -> Result<(usize, usize, usize)> {
    let dims = read_header(path, r, MAGIC_IMAGES, "images")?;
    let (count, rows, cols) = (dims[0], dims[1], dims[2]);
    if rows == 0 || cols == 0 || rows > MAX_SIDE || cols > MAX_SIDE {
        return Err(Error::invalid(
            path,
            format!("images of {rows}×{cols} pixels: nndl takes sides of 1 to {MAX_SIDE}"),
        ));
    }
    let bytes = count * rows * cols;
    if let Some(memory) = crate::init::physical_memory()
        && bytes > memory / 2
    {
        return Err(Error::invalid(
            path,
            format!(
                "claims {count} images of {rows}×{cols}: {:.1} GB, more than half this machine's {:.1} GB",
                bytes as f64 / 1e9,
                memory as f64 / 1e9
            ),
        ));
    }
    Ok((count, rows, cols))
}

pub fn read_labels(path: &Path) -> Result<Vec<u8>> {
    read_labels_from(path, &mut open(path)?)
}

/// `read_labels` of the bytes `r` gives; `path` names them in messages.
pub fn read_labels_from(path: &Path, r: &mut dyn Read) -> Result<Vec<u8>> {
    let dims = read_header(path, r, MAGIC_LABELS, "labels")?;
    read_payload(path, r, dims[0], "labels")
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array2;

    fn tiny() -> Dataset {
        Dataset {
            images: vec![0, 255, 51, 102, 255, 0, 0, 0],
            labels: vec![1, 0],
            rows: 2,
            cols: 2,
            classes: 2,
        }
    }

    #[test]
    fn gathers_scaled_rows_and_one_hot_columns() {
        let d = tiny();
        let mut x = Array2::<f64>::zeros((2, 4));
        d.gather_images(&[1, 0], x.view_mut());
        assert_eq!(x.row(0).to_vec(), vec![1.0, 0.0, 0.0, 0.0]);
        assert_eq!(x.row(1).to_vec(), vec![0.0, 1.0, 0.2, 0.4]);
        let mut y = Array2::<f64>::from_elem((2, 2), 7.0);
        d.gather_targets(&[1, 0], y.view_mut());
        assert_eq!(y, ndarray::array![[1.0, 0.0], [0.0, 1.0]]);
    }

    #[test]
    fn split_off_keeps_images_with_labels() {
        let mut d = tiny();
        let tail = d.split_off(1);
        assert_eq!((d.len(), tail.len()), (1, 1));
        assert_eq!(d.image(0), &[0, 255, 51, 102]);
        assert_eq!(tail.image(0), &[255, 0, 0, 0]);
        assert_eq!((d.labels[0], tail.labels[0]), (1, 0));
    }

    #[test]
    fn shifts_move_the_image_one_pixel() {
        // 3 × 3 image with one lit pixel in the middle.
        let d = Dataset {
            images: vec![0, 0, 0, 0, 255, 0, 0, 0, 0],
            labels: vec![4],
            rows: 3,
            cols: 3,
            classes: 5,
        };
        let mut x = vec![0; 5 * 9];
        d.gather_pixels(&[0, 1, 2, 3, 4], SHIFTS, &mut x);
        let lit: Vec<usize> = x
            .chunks(9)
            .map(|r| r.iter().position(|&v| v == 255).unwrap())
            .collect();
        // none, up, down, left, right.
        assert_eq!(lit, vec![4, 1, 7, 3, 5]);
        assert!(
            x.chunks(9)
                .all(|r| r.iter().filter(|&&v| v > 0).count() == 1)
        );
        d.gather_pixels(&[0], 1, &mut x[..9]);
        assert_eq!(&x[..9], d.image(0));
        let mut y = Array2::<f64>::zeros((5, 2));
        d.gather_targets_of(&[3, 4], SHIFTS, y.view_mut());
        assert_eq!(y.column(0).to_vec(), vec![0.0, 0.0, 0.0, 0.0, 1.0]);
    }

    /// The runs of lit pixels are the nonzero pixels of the images as
    /// gathered, with and without the shifts: images lit on every edge
    /// (a column moved out splits them into runs), in a corner, and dark.
    #[test]
    fn lit_pixels_are_the_gathered_images_lit_pixels() {
        let (rows, cols) = (5, 7);
        let p = rows * cols;
        let mut images: Vec<u8> = (0..6 * p)
            .map(|i| {
                if (i * 7) % 3 == 0 {
                    0
                } else {
                    (i * 37 % 255 + 1) as u8
                }
            })
            .collect();
        images[2 * p..3 * p].fill(0);
        images[3 * p..4 * p].fill(0);
        images[3 * p + p - 1] = 9;
        let data = Dataset {
            images,
            labels: vec![0; 6],
            rows,
            cols,
            classes: 1,
        };
        let lit = LitPixels::of(&data).unwrap();
        assert_eq!(lit.len(), 6);
        let mut split = false;
        for shifts in [1, SHIFTS] {
            for i in 0..data.len() * shifts {
                let mut gathered = vec![0; p];
                data.gather_pixels(&[i], shifts, &mut gathered);
                let want: Vec<(usize, u8)> = (0..p)
                    .filter(|&j| gathered[j] != 0)
                    .map(|j| (j, gathered[j]))
                    .collect();
                let mut got = Vec::new();
                let mut runs = 0;
                lit.runs(i, shifts, |index, bytes, offset| {
                    runs += 1;
                    for (&j, &b) in index.iter().zip(bytes) {
                        got.push(((i32::from(j) + offset) as usize, b));
                    }
                });
                split |= runs > 1;
                assert_eq!(got, want, "image {i} of the set expanded {shifts} times");
            }
        }
        assert!(split, "no image was split into runs");
        let wide = Dataset {
            images: vec![1; 1 << 16],
            labels: vec![0],
            rows: 1,
            cols: 1 << 16,
            classes: 1,
        };
        assert!(LitPixels::of(&wide).is_none());
    }

    #[test]
    fn slices_keep_images_with_labels() {
        let d = tiny().slice(1..2);
        assert_eq!(d.len(), 1);
        assert_eq!(d.image(0), &[255, 0, 0, 0]);
        assert_eq!(d.labels, vec![0]);
        assert_eq!(d.label_counts(), vec![1, 0]);
    }
}
