//! The engine's one dispatch point: `Real`, the float types it computes in,
//! implemented for f32 (SIMD kernels) and f64, each choosing among its
//! kernels by the instruction set `kernels::simd` settles once per process.
//! The safe functions below assert every size the kernels rely on, then
//! call them: no other code in the engine reaches a kernel.

use std::ops::Range;

use ndarray::NdFloat;

use super::kernels::{self, Simd, simd};
use super::sparse::{self, ByInput, CHUNK, SparseRows, Visit};
use crate::activation::Activation;

/// A float type the engine trains in: f32 or f64. Sealed: the engine's
/// kernels exist for these two alone.
pub trait Real: NdFloat + sealed::Sealed {}

impl Real for f32 {}
impl Real for f64 {}

mod sealed {
    use super::*;

    /// Each float type's kernels. The `_raw` functions are unsafe: their
    /// callers (the wrappers in `real`) assert the sizes the kernels read
    /// and write without bounds checks.
    pub trait Sealed: Sized {
        /// # Safety
        /// The sizes `real::affine` asserts.
        unsafe fn affine_raw(
            a: &[Self],
            w: &[Self],
            b: &[Self],
            z: &mut [Self],
            m: usize,
            n: usize,
            k: usize,
        );
        /// # Safety
        /// The sizes `real::back` asserts.
        unsafe fn back_raw(
            d: &[Self],
            w: &[Self],
            d_prev: &mut [Self],
            m: usize,
            n: usize,
            k: usize,
        );
        /// # Safety
        /// The sizes `real::rank_update_rows` asserts.
        #[allow(clippy::too_many_arguments)]
        unsafe fn rank_update_raw(
            c: &[Self],
            a: &[Self],
            w: &mut [Self],
            m: usize,
            n: usize,
            k: usize,
            rows: Range<usize>,
            scale: Self,
        );
        fn momentum_step(w: &mut [Self], v: &mut [Self], decay: Self);
        /// # Safety
        /// `dst` is as long as `src`.
        unsafe fn scale_bytes_raw(src: &[u8], dst: &mut [Self]);
        fn sigmoid(v: &mut [Self]);
        /// # Safety
        /// The sizes `real::sparse_affine` asserts.
        #[allow(clippy::too_many_arguments)]
        unsafe fn sparse_affine_raw(
            x: &SparseRows<Self>,
            examples: Range<usize>,
            wt: &[Self],
            np: usize,
            n: usize,
            b: &[Self],
            z: &mut [Self],
            ldz: usize,
        );
        /// # Safety
        /// The sizes `real::sparse_rank_update` asserts.
        unsafe fn sparse_rank_update_raw(
            x: &SparseRows<Self>,
            c: &[Self],
            ldc: usize,
            wt: &mut [Self],
            np: usize,
            scale: Self,
        );
        /// # Safety
        /// The sizes `real::sparse_tile_step` asserts.
        #[allow(clippy::too_many_arguments)]
        unsafe fn sparse_tile_step_raw(
            x: &ByInput<Self>,
            c: &[Self],
            ldc: usize,
            w: &mut [Self],
            v: Option<&mut [Self]>,
            np: usize,
            scale: Self,
            decay: Self,
            visit: Visit<Self>,
        );
        /// # Safety
        /// The sizes `real::sparse_share_step` asserts.
        #[allow(clippy::too_many_arguments)]
        unsafe fn sparse_share_step_raw(
            x: &ByInput<Self>,
            c: &[Self],
            ldc: usize,
            w: &mut [Self],
            v: Option<&mut [Self]>,
            spans: &[(usize, usize)],
            scale: Self,
            decay: Self,
            visit: Visit<Self>,
        );
        fn fill_from_pixels(rows: &mut SparseRows<Self>, pixels: &[u8], k: usize);
    }
}

impl sealed::Sealed for f64 {
    /// # Safety
    /// The sizes `real::affine` asserts (the trait's contract).
    unsafe fn affine_raw(
        a: &[f64],
        w: &[f64],
        b: &[f64],
        z: &mut [f64],
        m: usize,
        n: usize,
        k: usize,
    ) {
        #[cfg(target_arch = "x86_64")]
        if simd() >= Simd::Avx2 {
            // SAFETY: simd() found AVX2 and FMA; the caller asserted the sizes.
            return unsafe { kernels::x86::affine(a, w, b, z, m, n, k) };
        }
        kernels::affine_impl::<f64, false>(a, w, b, z, m, n, k)
    }

    unsafe fn back_raw(d: &[f64], w: &[f64], d_prev: &mut [f64], m: usize, n: usize, k: usize) {
        #[cfg(target_arch = "x86_64")]
        if simd() >= Simd::Avx2 {
            // SAFETY: simd() found AVX2 and FMA; the caller asserted the sizes.
            return unsafe { kernels::x86::back(d, w, d_prev, m, n, k) };
        }
        kernels::back_impl::<f64, false>(d, w, d_prev, m, n, k)
    }

    unsafe fn rank_update_raw(
        c: &[f64],
        a: &[f64],
        w: &mut [f64],
        m: usize,
        n: usize,
        k: usize,
        rows: Range<usize>,
        scale: f64,
    ) {
        #[cfg(target_arch = "x86_64")]
        if simd() >= Simd::Avx2 {
            // SAFETY: simd() found AVX2 and FMA; the caller asserted the sizes.
            return unsafe { kernels::x86::rank_update(c, a, w, m, n, k, rows, scale) };
        }
        kernels::rank_update_impl::<f64, false>(c, a, w, m, n, k, rows, scale)
    }

    fn momentum_step(w: &mut [f64], v: &mut [f64], decay: f64) {
        kernels::momentum_step(w, v, decay)
    }

    /// # Safety
    /// `dst` is as long as `src` (the trait's contract).
    unsafe fn scale_bytes_raw(src: &[u8], dst: &mut [f64]) {
        kernels::scale_bytes_generic(src, dst)
    }

    fn sigmoid(v: &mut [f64]) {
        v.iter_mut().for_each(|x| *x = crate::sigmoid::sigmoid(*x));
    }

    /// # Safety
    /// The sizes `real::sparse_affine` asserts (the trait's contract).
    unsafe fn sparse_affine_raw(
        x: &SparseRows<f64>,
        examples: Range<usize>,
        wt: &[f64],
        np: usize,
        n: usize,
        b: &[f64],
        z: &mut [f64],
        ldz: usize,
    ) {
        // SAFETY: by the caller's word.
        unsafe { sparse_affine_generic(x, examples, wt, np, n, b, z, ldz) }
    }

    unsafe fn sparse_rank_update_raw(
        x: &SparseRows<f64>,
        c: &[f64],
        ldc: usize,
        wt: &mut [f64],
        np: usize,
        scale: f64,
    ) {
        // SAFETY: by the caller's word.
        unsafe { sparse_rank_update_generic(x, c, ldc, wt, np, scale) }
    }

    /// # Safety
    /// The sizes `real::sparse_tile_step` asserts (the trait's contract).
    unsafe fn sparse_tile_step_raw(
        x: &ByInput<f64>,
        c: &[f64],
        ldc: usize,
        w: &mut [f64],
        v: Option<&mut [f64]>,
        np: usize,
        scale: f64,
        decay: f64,
        visit: Visit<f64>,
    ) {
        // SAFETY: by the caller's word.
        unsafe { sparse_tile_step_generic(x, c, ldc, w, v, np, scale, decay, visit) }
    }

    /// # Safety
    /// The sizes `real::sparse_share_step` asserts (the trait's contract).
    unsafe fn sparse_share_step_raw(
        x: &ByInput<f64>,
        c: &[f64],
        ldc: usize,
        w: &mut [f64],
        v: Option<&mut [f64]>,
        spans: &[(usize, usize)],
        scale: f64,
        decay: f64,
        visit: Visit<f64>,
    ) {
        // SAFETY: by the caller's word.
        unsafe { tile_by_tile(x, c, ldc, w, v, spans, scale, decay, visit) }
    }

    fn fill_from_pixels(rows: &mut SparseRows<f64>, pixels: &[u8], k: usize) {
        rows.fill_from_pixels(pixels, k)
    }
}

impl sealed::Sealed for f32 {
    /// # Safety
    /// The sizes `real::affine` asserts (the trait's contract).
    unsafe fn affine_raw(
        a: &[f32],
        w: &[f32],
        b: &[f32],
        z: &mut [f32],
        m: usize,
        n: usize,
        k: usize,
    ) {
        match simd() {
            #[cfg(target_arch = "x86_64")]
            // SAFETY: simd() found AVX-512F; the caller asserted the sizes.
            Simd::Avx512 => unsafe { kernels::avx512::affine(a, w, b, z, m, n, k) },
            #[cfg(target_arch = "x86_64")]
            // SAFETY: simd() found AVX2 and FMA; the caller asserted the sizes.
            Simd::Avx2 => unsafe { kernels::avx2::affine(a, w, b, z, m, n, k) },
            _ => kernels::affine_impl::<f32, false>(a, w, b, z, m, n, k),
        }
    }

    unsafe fn back_raw(d: &[f32], w: &[f32], d_prev: &mut [f32], m: usize, n: usize, k: usize) {
        match simd() {
            #[cfg(target_arch = "x86_64")]
            // SAFETY: simd() found AVX-512F; the caller asserted the sizes.
            Simd::Avx512 => unsafe { kernels::avx512::back(d, w, d_prev, m, n, k) },
            #[cfg(target_arch = "x86_64")]
            // SAFETY: simd() found AVX2 and FMA; the caller asserted the sizes.
            Simd::Avx2 => unsafe { kernels::avx2::back(d, w, d_prev, m, n, k) },
            _ => kernels::back_impl::<f32, false>(d, w, d_prev, m, n, k),
        }
    }

    unsafe fn rank_update_raw(
        c: &[f32],
        a: &[f32],
        w: &mut [f32],
        m: usize,
        n: usize,
        k: usize,
        rows: Range<usize>,
        scale: f32,
    ) {
        match simd() {
            #[cfg(target_arch = "x86_64")]
            // SAFETY: simd() found AVX-512F; the caller asserted the sizes.
            Simd::Avx512 => unsafe { kernels::avx512::rank_update(c, a, w, m, n, k, rows, scale) },
            #[cfg(target_arch = "x86_64")]
            // SAFETY: simd() found AVX2 and FMA; the caller asserted the sizes.
            Simd::Avx2 => unsafe { kernels::avx2::rank_update(c, a, w, m, n, k, rows, scale) },
            _ => kernels::rank_update_impl::<f32, false>(c, a, w, m, n, k, rows, scale),
        }
    }

    fn momentum_step(w: &mut [f32], v: &mut [f32], decay: f32) {
        kernels::momentum_step(w, v, decay)
    }

    /// # Safety
    /// `dst` is as long as `src` (the trait's contract).
    unsafe fn scale_bytes_raw(src: &[u8], dst: &mut [f32]) {
        match simd() {
            #[cfg(target_arch = "x86_64")]
            // SAFETY: simd() found AVX-512F; dst is as long as src (the caller's word).
            Simd::Avx512 => unsafe { kernels::avx512::scale_bytes(src, dst) },
            #[cfg(target_arch = "x86_64")]
            // SAFETY: simd() found AVX2 and FMA; dst is as long as src (the caller's word).
            Simd::Avx2 => unsafe { kernels::avx2::scale_bytes(src, dst) },
            _ => kernels::scale_bytes_generic(src, dst),
        }
    }

    fn sigmoid(v: &mut [f32]) {
        match simd() {
            #[cfg(target_arch = "x86_64")]
            // SAFETY: simd() found AVX-512F.
            Simd::Avx512 => unsafe { kernels::avx512::sigmoid(v) },
            #[cfg(target_arch = "x86_64")]
            // SAFETY: simd() found AVX2 and FMA.
            Simd::Avx2 => unsafe { kernels::avx2::sigmoid(v) },
            _ => v
                .iter_mut()
                .for_each(|x| *x = crate::sigmoid::sigmoid_f32(*x)),
        }
    }

    unsafe fn sparse_affine_raw(
        x: &SparseRows<f32>,
        examples: Range<usize>,
        wt: &[f32],
        np: usize,
        n: usize,
        b: &[f32],
        z: &mut [f32],
        ldz: usize,
    ) {
        #[cfg(target_arch = "x86_64")]
        if simd() == Simd::Avx512 && np <= sparse::BLOCK * CHUNK {
            // SAFETY: simd() found AVX-512F; rows of at most BLOCK chunks; the
            // caller asserted the sizes.
            return unsafe { sparse::avx512::affine(x, examples, wt, np, n, b, z, ldz) };
        }
        // SAFETY: by the caller's word.
        unsafe { sparse_affine_generic(x, examples, wt, np, n, b, z, ldz) }
    }

    unsafe fn sparse_rank_update_raw(
        x: &SparseRows<f32>,
        c: &[f32],
        ldc: usize,
        wt: &mut [f32],
        np: usize,
        scale: f32,
    ) {
        #[cfg(target_arch = "x86_64")]
        if simd() == Simd::Avx512 && np <= sparse::BLOCK * CHUNK {
            // SAFETY: simd() found AVX-512F; rows of at most BLOCK chunks; the
            // caller asserted the sizes.
            return unsafe { sparse::avx512::rank_update(x, c, ldc, wt, np, scale) };
        }
        // SAFETY: by the caller's word.
        unsafe { sparse_rank_update_generic(x, c, ldc, wt, np, scale) }
    }

    /// # Safety
    /// The sizes `real::sparse_tile_step` asserts (the trait's contract).
    unsafe fn sparse_tile_step_raw(
        x: &ByInput<f32>,
        c: &[f32],
        ldc: usize,
        w: &mut [f32],
        v: Option<&mut [f32]>,
        np: usize,
        scale: f32,
        decay: f32,
        visit: Visit<f32>,
    ) {
        #[cfg(target_arch = "x86_64")]
        if simd() == Simd::Avx512 && np <= sparse::BLOCK * CHUNK {
            // SAFETY: simd() found AVX-512F; rows of at most BLOCK chunks; the
            // caller asserted the sizes.
            return unsafe { sparse::avx512::tile_step(x, c, ldc, w, v, np, scale, decay, visit) };
        }
        // SAFETY: by the caller's word.
        unsafe { sparse_tile_step_generic(x, c, ldc, w, v, np, scale, decay, visit) }
    }

    /// # Safety
    /// The sizes `real::sparse_share_step` asserts (the trait's contract).
    unsafe fn sparse_share_step_raw(
        x: &ByInput<f32>,
        c: &[f32],
        ldc: usize,
        w: &mut [f32],
        v: Option<&mut [f32]>,
        spans: &[(usize, usize)],
        scale: f32,
        decay: f32,
        visit: Visit<f32>,
    ) {
        #[cfg(target_arch = "x86_64")]
        if simd() == Simd::Avx512 && spans.iter().all(|&(_, wd)| wd <= sparse::BLOCK * CHUNK) {
            // SAFETY: simd() found AVX-512F; tiles of at most BLOCK chunks;
            // the caller asserted the sizes.
            return unsafe {
                sparse::avx512::share_step(x, c, ldc, w, v, spans, scale, decay, visit)
            };
        }
        // SAFETY: by the caller's word.
        unsafe { tile_by_tile(x, c, ldc, w, v, spans, scale, decay, visit) }
    }

    fn fill_from_pixels(rows: &mut SparseRows<f32>, pixels: &[u8], k: usize) {
        #[cfg(target_arch = "x86_64")]
        if simd() == Simd::Avx512 {
            // SAFETY: simd() found AVX-512F.
            return unsafe { rows.fill_from_pixels_avx512(pixels, k) };
        }
        rows.fill_from_pixels(pixels, k)
    }
}

/// The sparse first layer's forward product, generic over the type, in
/// the build for the instruction set.
///
/// # Safety
/// The sizes `sparse_affine` asserts.
#[allow(clippy::too_many_arguments)]
unsafe fn sparse_affine_generic<F: NdFloat>(
    x: &SparseRows<F>,
    examples: Range<usize>,
    wt: &[F],
    np: usize,
    n: usize,
    b: &[F],
    z: &mut [F],
    ldz: usize,
) {
    match simd() {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: simd() found AVX-512F; the caller asserted the sizes.
        Simd::Avx512 => unsafe { sparse::x86::affine_avx512(x, examples, wt, np, n, b, z, ldz) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: simd() found AVX2 and FMA; the caller asserted the sizes.
        Simd::Avx2 => unsafe { sparse::x86::affine_avx2(x, examples, wt, np, n, b, z, ldz) },
        _ => sparse::affine_impl::<F, false>(x, examples, wt, np, n, b, z, ldz),
    }
}

/// The sparse first layer's BP4, example by example, generic over the type.
///
/// # Safety
/// The sizes `sparse_rank_update` asserts.
unsafe fn sparse_rank_update_generic<F: NdFloat>(
    x: &SparseRows<F>,
    c: &[F],
    ldc: usize,
    wt: &mut [F],
    np: usize,
    scale: F,
) {
    match simd() {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: simd() found AVX-512F; the caller asserted the sizes.
        Simd::Avx512 => unsafe { sparse::x86::rank_update_avx512(x, c, ldc, wt, np, scale) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: simd() found AVX2 and FMA; the caller asserted the sizes.
        Simd::Avx2 => unsafe { sparse::x86::rank_update_avx2(x, c, ldc, wt, np, scale) },
        _ => sparse::rank_update_impl::<F, false>(x, c, ldc, wt, np, scale),
    }
}

/// The share's tiles stepped one after another.
/// # Safety
/// The sizes `real::sparse_share_step` asserts.
#[allow(clippy::too_many_arguments)]
unsafe fn tile_by_tile<F: Real>(
    x: &ByInput<F>,
    c: &[F],
    ldc: usize,
    w: &mut [F],
    mut v: Option<&mut [F]>,
    spans: &[(usize, usize)],
    scale: F,
    decay: F,
    visit: Visit<F>,
) {
    let k = x.k();
    for &(s, width) in spans {
        let tile = k * s..k * (s + width);
        let v = v.as_deref_mut().map(|v| &mut v[tile.clone()]);
        let (c, w) = (c.get(s..).unwrap_or(&[]), &mut w[tile]);
        // SAFETY: each tile has the sizes `sparse_tile_step` asserts, as the
        // caller asserted them for every span.
        unsafe { F::sparse_tile_step_raw(x, c, ldc, w, v, width, scale, decay, visit) }
    }
}

/// The sparse first layer's fused BP4 and step, generic over the type.
///
/// # Safety
/// The sizes `sparse_tile_step` asserts.
#[allow(clippy::too_many_arguments)]
unsafe fn sparse_tile_step_generic<F: NdFloat>(
    x: &ByInput<F>,
    c: &[F],
    ldc: usize,
    w: &mut [F],
    v: Option<&mut [F]>,
    np: usize,
    scale: F,
    decay: F,
    visit: Visit<F>,
) {
    match simd() {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: simd() found AVX-512F; the caller asserted the sizes.
        Simd::Avx512 => unsafe {
            sparse::x86::tile_step_avx512(x, c, ldc, w, v, np, scale, decay, visit)
        },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: simd() found AVX2 and FMA; the caller asserted the sizes.
        Simd::Avx2 => unsafe {
            sparse::x86::tile_step_avx2(x, c, ldc, w, v, np, scale, decay, visit)
        },
        _ => sparse::tile_step_impl::<F, false>(x, c, ldc, w, v, np, scale, decay, visit),
    }
}

/// z[i][j] = b[j] + Σ_k a[i][k] w[j][k]: a is (m, k), w is (n, k), z is (m, n).
/// The forward product z = w a + b, with examples as rows.
pub fn affine<F: Real>(a: &[F], w: &[F], b: &[F], z: &mut [F], m: usize, n: usize, k: usize) {
    assert!(a.len() >= m * k && w.len() >= n * k && b.len() >= n && z.len() >= m * n);
    // SAFETY: the sizes are asserted above.
    unsafe { F::affine_raw(a, w, b, z, m, n, k) }
}

/// d_prev[i][k] = Σ_j d[i][j] w[j][k]: d is (m, n), w is (n, k), d_prev is (m, k).
/// The product (w^T δ) of BP2, with examples as rows.
pub fn back<F: Real>(d: &[F], w: &[F], d_prev: &mut [F], m: usize, n: usize, k: usize) {
    assert!(d.len() >= m * n && w.len() >= n * k && d_prev.len() >= m * k);
    // SAFETY: the sizes are asserted above.
    unsafe { F::back_raw(d, w, d_prev, m, n, k) }
}

/// w[j][k] = scale · w[j][k] + Σ_i c[i][j] a[i][k] for the weight rows
/// `rows` only: `w` holds just those rows, so two threads can update two
/// halves of one matrix. `scale` is L2's weight decay, or momentum's μ.
#[allow(clippy::too_many_arguments)]
pub fn rank_update_rows<F: Real>(
    c: &[F],
    a: &[F],
    w: &mut [F],
    m: usize,
    n: usize,
    k: usize,
    rows: Range<usize>,
    scale: F,
) {
    assert!(rows.start <= rows.end && rows.end <= n);
    assert!(c.len() >= m * n && a.len() >= m * k && w.len() >= rows.len() * k);
    // SAFETY: the sizes are asserted above.
    unsafe { F::rank_update_raw(c, a, w, m, n, k, rows, scale) }
}

/// Momentum's step after BP4 has been added into the velocity:
/// v → v − decay·w, then w → w + v (see `kernels::momentum_step`).
pub fn momentum_step<F: Real>(w: &mut [F], v: &mut [F], decay: F) {
    F::momentum_step(w, v, decay)
}

/// dst[i] = src[i] / 255: pixel bytes to [0, 1], exactly rounded.
pub fn scale_bytes<F: Real>(src: &[u8], dst: &mut [F]) {
    let dst = &mut dst[..src.len()];
    // SAFETY: dst is as long as src (sliced above).
    unsafe { F::scale_bytes_raw(src, dst) }
}

/// v[i] = σ(v[i]) for every entry, the bits of `sigmoid::sigmoid`.
pub fn sigmoid<F: Real>(v: &mut [F]) {
    F::sigmoid(v)
}

/// The sparse first layer's z for the `examples` (see `sparse`), one tile
/// at a time: `wt` is a tile of the transposed weights, a row of np floats
/// (whole chunks) per input, of which the first n are neurons, biases `b`;
/// example i's z goes to row i − examples.start of `z`, ldz floats apart.
#[allow(clippy::too_many_arguments)]
pub fn sparse_affine<F: Real>(
    x: &SparseRows<F>,
    examples: Range<usize>,
    wt: &[F],
    np: usize,
    n: usize,
    b: &[F],
    z: &mut [F],
    ldz: usize,
) {
    // The kernels read a whole row of np ≥ CHUNK floats of `wt` for every
    // lit input, at its index (< x.k(), as SparseRows keeps it), and write
    // n floats of z per example.
    assert!(n <= np && np >= CHUNK && np.is_multiple_of(CHUNK) && n <= ldz);
    assert!(b.len() >= n && examples.start <= examples.end && examples.end <= x.len());
    let rows = examples.len();
    assert!(rows == 0 || z.len() >= (rows - 1) * ldz + n);
    assert!(x.k() * np <= wt.len());
    // SAFETY: the sizes are asserted above.
    unsafe { F::sparse_affine_raw(x, examples, wt, np, n, b, z, ldz) }
}

/// The sparse first layer's BP4 on a tile of its transposed weights (see
/// `sparse_affine`), example by example: wt → scale·wt + Σ_i x_i c_i, where
/// example i's row of −(η/m) δ, padded with zeros, is the np floats at i·ldc
/// of `c`. Each row of the tile is loaded and stored once per lit entry:
/// for one tile and few examples, cheaper than sorting them by input.
pub fn sparse_rank_update<F: Real>(
    x: &SparseRows<F>,
    c: &[F],
    ldc: usize,
    wt: &mut [F],
    np: usize,
    scale: F,
) {
    // As in `sparse_affine`: a whole row of np ≥ CHUNK floats per lit input.
    assert!(np >= CHUNK && np.is_multiple_of(CHUNK) && np <= ldc);
    let m = x.len();
    assert!(m == 0 || c.len() >= (m - 1) * ldc + np);
    assert!(x.k() * np <= wt.len());
    // SAFETY: the sizes are asserted above.
    unsafe { F::sparse_rank_update_raw(x, c, ldc, wt, np, scale) }
}

/// The sparse first layer's BP4 and step on a tile of its transposed
/// weights (see `sparse_affine`), from a mini-batch's lit inputs `x` taken
/// input by input, and −(η/m) δ (example i's row, padded with zeros, the
/// np floats at i·ldc of `c`): w → scale·w + Σ_i x_i c_i, or with the
/// velocity `v`, v → scale·v + Σ_i x_i c_i, v → v − decay·w, w → w + v,
/// on the rows `visit` names, after the steps they owe.
#[allow(clippy::too_many_arguments)]
pub fn sparse_tile_step<F: Real>(
    x: &ByInput<F>,
    c: &[F],
    ldc: usize,
    w: &mut [F],
    v: Option<&mut [F]>,
    np: usize,
    scale: F,
    decay: F,
    visit: Visit<F>,
) {
    // The kernels read and write a whole row of np ≥ CHUNK floats of w (and
    // v) for every input, and np floats of c for every stored example
    // (each below x.examples(), as ByInput keeps it). Steps are owed, and
    // rows left unvisited, only with momentum.
    assert!(np >= CHUNK && np.is_multiple_of(CHUNK) && np <= ldc);
    assert!(v.is_some() || (visit.owed.is_empty() && visit.needed.is_empty() && visit.step));
    // A row owing k steps takes them through powers[k].
    assert!(visit.powers_cover_owed());
    let m = x.examples();
    assert!(m == 0 || c.len() >= (m - 1) * ldc + np);
    assert!(x.k() * np <= w.len());
    assert!(v.as_ref().is_none_or(|v| x.k() * np <= v.len()));
    // SAFETY: the sizes are asserted above.
    unsafe { F::sparse_tile_step_raw(x, c, ldc, w, v, np, scale, decay, visit) }
}

/// `sparse_tile_step` on every tile of a thread's share: tile (s, width)
/// holds k rows of `width` floats from k·s in `w` (and `v`), and its lanes
/// of c are s.. of each row of c. The same results, tile by tile; the
/// AVX-512 kernel runs input by input across the tiles.
#[allow(clippy::too_many_arguments)]
pub fn sparse_share_step<F: Real>(
    x: &ByInput<F>,
    c: &[F],
    ldc: usize,
    w: &mut [F],
    v: Option<&mut [F]>,
    spans: &[(usize, usize)],
    scale: F,
    decay: F,
    visit: Visit<F>,
) {
    // Every tile as `sparse_tile_step` asserts it; the share's kernel
    // reads and writes each tile's rows from raw pointers into w and v.
    assert!(v.is_some() || (visit.owed.is_empty() && visit.needed.is_empty() && visit.step));
    assert!(visit.powers_cover_owed());
    let (m, k) = (x.examples(), x.k());
    for &(s, np) in spans {
        assert!(np >= CHUNK && np.is_multiple_of(CHUNK) && s + np <= ldc);
        assert!(m == 0 || c.len() >= (m - 1) * ldc + s + np);
        assert!(k * (s + np) <= w.len());
        assert!(v.as_ref().is_none_or(|v| k * (s + np) <= v.len()));
    }
    // SAFETY: the sizes are asserted above.
    unsafe { F::sparse_share_step_raw(x, c, ldc, w, v, spans, scale, decay, visit) }
}

/// δ → scale·δ row by row, each row then added into `dst` (see
/// `kernels::scale_rows_into`).
pub fn scale_rows_into<F: Real>(dst: &mut [F], rows: &mut [F], scale: F) {
    kernels::scale_rows_into(dst, rows, scale)
}

/// BP2's last touches, δ → δ·f'(a)·mask, errors below 1e-30 then 0 (see
/// `kernels::bp2_finish`).
pub fn bp2_finish<F: Real>(f: Activation, delta: &mut [F], a: &[F], mask: &[F]) {
    kernels::bp2_finish(f, delta, a, mask)
}

/// Inverted dropout's masks from one 32-bit draw a neuron (see
/// `kernels::dropout_masks`), applied to `a`.
pub fn dropout_masks<F: Real>(words: &[u8], threshold: u64, keep: F, a: &mut [F], mask: &mut [F]) {
    kernels::dropout_masks(words, threshold, keep, a, mask)
}

/// a = f(z) in place for ReLU or a linear neuron.
pub fn apply_plain<F: Real>(f: Activation, z: &mut [F]) {
    kernels::apply_plain(f, z)
}

/// The lit pixels of the images `pixels` (m × k bytes) into `rows`.
pub fn fill_from_pixels<F: Real>(rows: &mut SparseRows<F>, pixels: &[u8], k: usize) {
    F::fill_from_pixels(rows, pixels, k)
}
