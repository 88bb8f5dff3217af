//! Few neurons on a wide layer (an output layer after a wide hidden one):
//! z = w a + b summed in two halves of the inputs, so that two threads,
//! each holding one half of a (its lanes of the hidden layer, see
//! `sparse::Tiles`), can each sum theirs where it lies, and one add the
//! two, to the bits one thread summing both gets.
//!
//! The order: the inputs split at a chunk boundary, the first ⌊c/2⌋ of
//! the c chunks of CHUNK inputs on the left; each half's sum as
//! `real::affine` takes it with zero biases (h); then z = (h_left +
//! h_right) + b.

use super::real::{self, Real};
use super::sparse::CHUNK;

/// A layer sums in halves where it has at most this many neurons …
const MAX_NEURONS: usize = 16;
/// … on at least this many inputs: narrower layers keep `real::affine`.
const MIN_INPUTS: usize = 8 * CHUNK;

/// Whether a layer after the first, of n neurons on k inputs, sums in halves.
pub fn summed_in_halves(n: usize, k: usize) -> bool {
    n <= MAX_NEURONS && k >= MIN_INPUTS
}

/// Where k inputs split into halves: the first ⌊c/2⌋ of their c chunks.
pub fn middle(k: usize) -> usize {
    k.div_ceil(CHUNK) / 2 * CHUNK
}

/// A half's sums: h = w a with zero biases, a (m, width), w (n, width),
/// h (m, n).
pub fn half<F: Real>(a: &[F], w: &[F], h: &mut [F], m: usize, n: usize, width: usize) {
    // At most MAX_NEURONS: `summed_in_halves` holds.
    let zeros = [F::zero(); MAX_NEURONS];
    real::affine(a, w, &zeros[..n], h, m, n, width);
}

/// z = (h_left + h_right) + b, each (m, n).
pub fn join<F: Real>(left: &[F], right: &[F], b: &[F], z: &mut [F]) {
    let n = b.len().max(1);
    for ((z, (&l, &r)), j) in z.iter_mut().zip(left.iter().zip(right)).zip((0..n).cycle()) {
        *z = (l + r) + b[j];
    }
}

/// z = w a + b in halves on one thread: a is (m, k), w is (n, k), z is (m, n).
pub fn affine<F: Real>(a: &[F], w: &[F], b: &[F], z: &mut [F], m: usize, n: usize, k: usize) {
    let mid = middle(k);
    let halves = [(0, mid), (mid, k)];
    let columns = |v: &[F], rows: usize, (from, to): (usize, usize), out: &mut Vec<F>| {
        out.clear();
        for r in 0..rows {
            out.extend_from_slice(&v[r * k + from..r * k + to]);
        }
    };
    let mut w_halves = [Vec::new(), Vec::new()];
    for (out, half) in w_halves.iter_mut().zip(halves) {
        columns(w, n, half, out);
    }
    // A few examples at a time, so the copies of a stay small and in cache.
    const ROWS: usize = 16;
    let mut a_half = Vec::with_capacity(ROWS * k);
    let mut h = [vec![F::zero(); ROWS * n], vec![F::zero(); ROWS * n]];
    let mut i = 0;
    while i < m {
        let rows = (m - i).min(ROWS);
        for ((h, w), (from, to)) in h.iter_mut().zip(&w_halves).zip(halves) {
            columns(&a[i * k..], rows, (from, to), &mut a_half);
            half(&a_half, w, &mut h[..rows * n], rows, n, to - from);
        }
        join(
            &h[0][..rows * n],
            &h[1][..rows * n],
            b,
            &mut z[i * n..(i + rows) * n],
        );
        i += rows;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn halves_split_at_a_chunk_boundary_as_the_tiles_do() {
        assert_eq!(middle(800), 400);
        assert_eq!(middle(200), 96);
        assert_eq!(middle(128), 64);
        // The tiles of two threads split their chunks at ⌊c/2⌋ too.
        for n in [128, 200, 800, 1000] {
            let tiles = super::super::sparse::Tiles::new(n, 784, 2);
            assert_eq!(tiles.neuron_parts(), [0, middle(n), n]);
        }
    }

    #[test]
    fn halves_sum_as_written() {
        let (m, n, k) = (3, 10, 200);
        let value = |i: usize| ((i * 7919) % 1000) as f32 / 500.0 - 1.0;
        let a: Vec<f32> = (0..m * k).map(value).collect();
        let w: Vec<f32> = (0..n * k).map(|i| value(i + 17)).collect();
        let b: Vec<f32> = (0..n).map(|i| value(i + 3)).collect();
        let mut z = vec![0.0; m * n];
        affine(&a, &w, &b, &mut z, m, n, k);
        for i in 0..m {
            for j in 0..n {
                let dot = |r: std::ops::Range<usize>| -> f64 {
                    r.map(|t| f64::from(a[i * k + t]) * f64::from(w[j * k + t]))
                        .sum()
                };
                let exact = dot(0..96) + dot(96..k) + f64::from(b[j]);
                assert!((f64::from(z[i * n + j]) - exact).abs() < 1e-4);
            }
        }
    }
}
