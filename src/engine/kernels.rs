//! The three matrix products of a training step, written for small
//! mini-batches, where generic GEMM spends more time packing than computing.
//!
//! Every matrix is row-major with one row per example (activations, deltas:
//! (m, n_l)) or per neuron (weights: (n_l, n_{l−1})), so each product runs
//! along contiguous rows. Sums are taken in a fixed order, so results do not
//! depend on anything but the inputs. On x86-64 with AVX2 and FMA the same
//! code is compiled for those instructions and chosen at run time.

use std::ops::Range;

use ndarray::NdFloat as Float;

use crate::activation::Activation;

/// Accumulator width: one AVX register of f32.
const LANES: usize = 8;

/// Momentum's step after BP4 has been added into the velocity:
/// v → v − decay·w, then w → w + v. Velocities below 1e-30 become 0, so
/// rows that stop learning do not decay into slow subnormal floats.
pub fn momentum_step<F: Float>(w: &mut [F], v: &mut [F], decay: F) {
    #[cfg(target_arch = "x86_64")]
    if has_avx2_fma() {
        // SAFETY: the processor has AVX2 and FMA.
        return unsafe { x86::momentum_step(w, v, decay) };
    }
    momentum_step_impl(w, v, decay)
}

#[inline(always)]
fn momentum_step_impl<F: Float>(w: &mut [F], v: &mut [F], decay: F) {
    let tiny = F::from(1e-30).unwrap_or_else(F::min_positive_value);
    for (w, v) in w.iter_mut().zip(v.iter_mut()) {
        let mut next = *v - decay * *w;
        if next.abs() < tiny {
            next = F::zero();
        }
        *v = next;
        *w += next;
    }
}

/// δ → scale·δ, row by row, each row then added into `dst`: dst[j] +=
/// scale·δ_i[j] for every row i in order, rows of dst's length. In vector
/// registers where the processor has AVX2; each entry's operations are the
/// same either way.
pub fn scale_rows_into<F: Float>(dst: &mut [F], rows: &mut [F], scale: F) {
    #[cfg(target_arch = "x86_64")]
    if has_avx2_fma() {
        // SAFETY: the processor has AVX2 and FMA.
        return unsafe { x86::scale_rows_into(dst, rows, scale) };
    }
    scale_rows_into_impl(dst, rows, scale)
}

#[inline(always)]
fn scale_rows_into_impl<F: Float>(dst: &mut [F], rows: &mut [F], scale: F) {
    for row in rows.chunks_exact_mut(dst.len().max(1)) {
        for (x, d) in dst.iter_mut().zip(row) {
            *d = scale * *d;
            *x += *d;
        }
    }
}

/// BP2's last touches, in one pass: δ → δ·f'(a), then δ → δ·mask (if a
/// mask is given: dropout's), then errors below 1e-30 to 0 (see
/// `flush_tiny`). In vector registers where the processor has AVX2; each
/// entry's operations are the same either way.
pub fn bp2_finish<F: Float>(f: Activation, delta: &mut [F], a: &[F], mask: &[F]) {
    #[cfg(target_arch = "x86_64")]
    if has_avx2_fma() {
        // SAFETY: the processor has AVX2 and FMA.
        return unsafe { x86::bp2_finish(f, delta, a, mask) };
    }
    bp2_finish_impl(f, delta, a, mask)
}

#[inline(always)]
fn bp2_finish_impl<F: Float>(f: Activation, delta: &mut [F], a: &[F], mask: &[F]) {
    // One loop per activation, so each is a plain vector loop.
    match f {
        Activation::Sigmoid => finish_with(delta, a, mask, |a| a * (F::one() - a)),
        Activation::Tanh => finish_with(delta, a, mask, |a| F::one() - a * a),
        Activation::Relu => finish_with(delta, a, mask, |a| {
            if a > F::zero() { F::one() } else { F::zero() }
        }),
        Activation::Linear => finish_with(delta, a, mask, |_| F::one()),
    }
}

#[inline(always)]
fn finish_with<F: Float>(delta: &mut [F], a: &[F], mask: &[F], prime: impl Fn(F) -> F) {
    let tiny = F::from(1e-30).unwrap_or_else(F::min_positive_value);
    let flush = |d: F| if d.abs() < tiny { F::zero() } else { d };
    if mask.is_empty() {
        for (d, &a) in delta.iter_mut().zip(a) {
            *d = flush(*d * prime(a));
        }
    } else {
        for ((d, &a), &keep) in delta.iter_mut().zip(a).zip(mask) {
            *d = flush(*d * prime(a) * keep);
        }
    }
}

/// Inverted dropout's masks from one 32-bit draw a neuron (`words`, four
/// little-endian bytes each): a neuron is dropped (mask 0) when its draw is
/// below `threshold`, else kept (mask `keep`); a → a·mask. In vector
/// registers where the processor has AVX2.
pub fn dropout_masks<F: Float>(words: &[u8], threshold: u64, keep: F, a: &mut [F], mask: &mut [F]) {
    #[cfg(target_arch = "x86_64")]
    if has_avx2_fma() {
        // SAFETY: the processor has AVX2 and FMA.
        return unsafe { x86::dropout_masks(words, threshold, keep, a, mask) };
    }
    dropout_masks_impl(words, threshold, keep, a, mask)
}

#[inline(always)]
fn dropout_masks_impl<F: Float>(
    words: &[u8],
    threshold: u64,
    keep: F,
    a: &mut [F],
    mask: &mut [F],
) {
    let draws = words
        .chunks_exact(4)
        .map(|w| u32::from_le_bytes([w[0], w[1], w[2], w[3]]));
    for ((v, mk), draw) in a.iter_mut().zip(mask.iter_mut()).zip(draws) {
        *mk = if u64::from(draw) < threshold {
            F::zero()
        } else {
            keep
        };
        *v *= *mk;
    }
}

/// a = f(z) in place, for an activation computed in plain arithmetic
/// (ReLU, linear), in vector registers where the processor has AVX2.
pub fn apply_plain<F: Float>(f: Activation, z: &mut [F]) {
    #[cfg(target_arch = "x86_64")]
    if has_avx2_fma() {
        // SAFETY: the processor has AVX2 and FMA.
        return unsafe { x86::apply_plain(f, z) };
    }
    apply_plain_impl(f, z)
}

#[inline(always)]
fn apply_plain_impl<F: Float>(f: Activation, z: &mut [F]) {
    match f {
        Activation::Relu => z.iter_mut().for_each(|z| *z = Activation::Relu.f(*z)),
        Activation::Linear => {}
        f => z.iter_mut().for_each(|z| *z = f.f(*z)),
    }
}

/// dst[i] = src[i] / 255 for any float type: with FMA where the processor
/// has it (`scale_bytes_impl`). `dst` is as long as `src`.
pub fn scale_bytes_generic<F: Float>(src: &[u8], dst: &mut [F]) {
    #[cfg(target_arch = "x86_64")]
    if has_avx2_fma() {
        // SAFETY: the processor has AVX2 and FMA.
        return unsafe { x86::scale_bytes(src, dst) };
    }
    scale_bytes_impl::<F, false>(src, dst)
}

/// Division is slow even in vector registers, so with FMA the quotient is
/// b·(1/255) corrected by one step of its exact residual b − 255·q, which
/// rounds the same as b/255 for every byte (checked by test, f32 and f64).
#[inline(always)]
fn scale_bytes_impl<F: Float, const FMA: bool>(src: &[u8], dst: &mut [F]) {
    let max = F::from(255.0).unwrap_or_else(F::one);
    let inverse = F::one() / max;
    for (v, &b) in dst.iter_mut().zip(src) {
        let b = F::from(b).unwrap_or_else(F::zero);
        *v = if FMA {
            let q = b * inverse;
            let residual = (-q).mul_add(max, b);
            residual.mul_add(inverse, q)
        } else {
            b / max
        };
    }
}

/// The instruction sets the kernels may use, best last.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Simd {
    /// Plain code, whatever the compiler makes of it.
    Portable,
    /// AVX2 and FMA, 8 f32 lanes.
    Avx2,
    /// AVX-512F, 16 f32 lanes (f32 kernels only; others use AVX2).
    Avx512,
}

/// The best the processor offers, capped by the environment variable
/// `NNDL_SIMD` (`portable`, `avx2` or `avx512`) so builds can be compared.
/// Decided once per process.
pub fn simd() -> Simd {
    static LEVEL: std::sync::OnceLock<Simd> = std::sync::OnceLock::new();
    *LEVEL.get_or_init(|| {
        #[cfg(target_arch = "x86_64")]
        let best =
            if !(std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma")) {
                Simd::Portable
            } else if std::is_x86_feature_detected!("avx512f") {
                Simd::Avx512
            } else {
                Simd::Avx2
            };
        #[cfg(not(target_arch = "x86_64"))]
        let best = Simd::Portable;
        let cap = match std::env::var("NNDL_SIMD").as_deref() {
            Ok("portable") => Simd::Portable,
            Ok("avx2") => Simd::Avx2,
            _ => Simd::Avx512,
        };
        best.min(cap)
    })
}

#[cfg(target_arch = "x86_64")]
pub(crate) fn has_avx2_fma() -> bool {
    simd() >= Simd::Avx2
}

/// Each kernel's `impl::<F, true>` compiled with AVX2 and FMA enabled.
/// SAFETY (for callers): only where `has_avx2_fma()` holds.
#[cfg(target_arch = "x86_64")]
pub(super) mod x86 {
    use super::*;
    use std::ops::Range;

    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn affine<F: Float>(
        a: &[F],
        w: &[F],
        b: &[F],
        z: &mut [F],
        m: usize,
        n: usize,
        k: usize,
    ) {
        affine_impl::<F, true>(a, w, b, z, m, n, k)
    }

    /// # Safety
    /// The processor has AVX2 and FMA.
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn momentum_step<F: Float>(w: &mut [F], v: &mut [F], decay: F) {
        momentum_step_impl(w, v, decay)
    }

    /// # Safety
    /// The processor has AVX2 and FMA.
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn scale_rows_into<F: Float>(dst: &mut [F], rows: &mut [F], scale: F) {
        scale_rows_into_impl(dst, rows, scale)
    }

    /// # Safety
    /// The processor has AVX2 and FMA.
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn bp2_finish<F: Float>(f: Activation, delta: &mut [F], a: &[F], mask: &[F]) {
        bp2_finish_impl(f, delta, a, mask)
    }

    /// # Safety
    /// The processor has AVX2 and FMA.
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn dropout_masks<F: Float>(
        words: &[u8],
        threshold: u64,
        keep: F,
        a: &mut [F],
        mask: &mut [F],
    ) {
        dropout_masks_impl(words, threshold, keep, a, mask)
    }

    /// # Safety
    /// The processor has AVX2 and FMA.
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn apply_plain<F: Float>(f: Activation, z: &mut [F]) {
        apply_plain_impl(f, z)
    }

    /// # Safety
    /// The processor has AVX2 and FMA; `dst` is as long as `src`.
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn scale_bytes<F: Float>(src: &[u8], dst: &mut [F]) {
        scale_bytes_impl::<F, true>(src, dst)
    }

    /// # Safety
    /// The processor has AVX2 and FMA; the sizes `real::back` asserts.
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn back<F: Float>(d: &[F], w: &[F], d_prev: &mut [F], m: usize, n: usize, k: usize) {
        back_impl::<F, true>(d, w, d_prev, m, n, k)
    }

    /// # Safety
    /// The processor has the module's features; the sizes
    /// `real::rank_update_rows` asserts.
    #[target_feature(enable = "avx2,fma")]
    #[allow(clippy::too_many_arguments)]
    pub unsafe fn rank_update<F: Float>(
        c: &[F],
        a: &[F],
        w: &mut [F],
        m: usize,
        n: usize,
        k: usize,
        rows: Range<usize>,
        scale: F,
    ) {
        rank_update_impl::<F, true>(c, a, w, m, n, k, rows, scale)
    }
}

/// The forward product z = w a + b in SIMD intrinsics, for a vector type
/// `V` of `L` = 16 lanes: each dot product sums in 16 lanes, k in order,
/// then adds the lanes by `hsum`'s fixed tree. AVX-512 expands it with one
/// register as V, AVX2 with a pair: the same sums in the same order, so a
/// model does not depend on which of the two a machine has.
/// SAFETY (for callers of every function it makes): the processor has the
/// module's features, and the slices hold the sizes the public kernels assert.
#[cfg(target_arch = "x86_64")]
macro_rules! f32_affine {
    ($features:literal) => {
        #[target_feature(enable = $features)]
        pub unsafe fn affine(
            a: &[f32],
            w: &[f32],
            b: &[f32],
            z: &mut [f32],
            m: usize,
            n: usize,
            k: usize,
        ) {
            let mut j = 0;
            while j < n {
                let nr = (n - j).min(4);
                // SAFETY: rows j..j + nr of w exist, and every row of a.
                unsafe {
                    match nr {
                        4 => dot_rows::<4>(a, w, b, z, j, m, n, k),
                        3 => dot_rows::<3>(a, w, b, z, j, m, n, k),
                        2 => dot_rows::<2>(a, w, b, z, j, m, n, k),
                        _ => dot_rows::<1>(a, w, b, z, j, m, n, k),
                    }
                }
                j += nr;
            }
        }

        /// Neurons j..j + NR of `affine` for every example, MR at a time.
        /// # Safety
        /// The module's features; rows j..j + NR of `w` and every row of `a`
        /// exist (`affine`'s loop).
        #[target_feature(enable = $features)]
        #[inline]
        #[allow(clippy::too_many_arguments)]
        unsafe fn dot_rows<const NR: usize>(
            a: &[f32],
            w: &[f32],
            b: &[f32],
            z: &mut [f32],
            j: usize,
            m: usize,
            n: usize,
            k: usize,
        ) {
            let mut i = 0;
            // SAFETY: rows i..i + MR (or 2, or 1) of a exist.
            unsafe {
                while i + MR <= m {
                    dot_tile::<MR, NR>(a, w, b, z, i, j, n, k);
                    i += MR;
                }
                while i + 2 <= m {
                    dot_tile::<2, NR>(a, w, b, z, i, j, n, k);
                    i += 2;
                }
                if i < m {
                    dot_tile::<1, NR>(a, w, b, z, i, j, n, k);
                }
            }
        }

        /// MR examples × NR neurons of `affine`; the last, partial vector of
        /// each row is loaded with its missing lanes zero.
        /// # Safety
        /// The module's features; rows i0..i0 + MR of `a` and j0..j0 + NR of `w`
        /// exist (`dot_rows`).
        #[target_feature(enable = $features)]
        #[inline]
        #[allow(clippy::too_many_arguments)]
        unsafe fn dot_tile<const MR: usize, const NR: usize>(
            a: &[f32],
            w: &[f32],
            b: &[f32],
            z: &mut [f32],
            i0: usize,
            j0: usize,
            n: usize,
            k: usize,
        ) {
            let pa: [*const f32; MR] = std::array::from_fn(|r| a[(i0 + r) * k..].as_ptr());
            let pw: [*const f32; NR] = std::array::from_fn(|s| w[(j0 + s) * k..].as_ptr());
            let mut acc = [[zero(); NR]; MR];
            let mut c = 0;
            while c + L <= k {
                // SAFETY: c + L <= k, within each row.
                unsafe {
                    let av: [V; MR] = std::array::from_fn(|r| load(pa[r].add(c)));
                    for s in 0..NR {
                        let wv = load(pw[s].add(c));
                        for r in 0..MR {
                            acc[r][s] = fmadd(av[r], wv, acc[r][s]);
                        }
                    }
                }
                c += L;
            }
            if c < k {
                let len = k - c;
                // SAFETY: c + len = k, within each row.
                unsafe {
                    let av: [V; MR] = std::array::from_fn(|r| load_part(pa[r].add(c), len));
                    for s in 0..NR {
                        let wv = load_part(pw[s].add(c), len);
                        for r in 0..MR {
                            acc[r][s] = fmadd(av[r], wv, acc[r][s]);
                        }
                    }
                }
            }
            for r in 0..MR {
                for s in 0..NR {
                    z[(i0 + r) * n + j0 + s] = hsum(acc[r][s]) + b[j0 + s];
                }
            }
        }
    };
}

/// The other f32 kernels in SIMD intrinsics, written once for any vector
/// width: each module below defines its vector type `V` of `L` lanes, the
/// tile height `MR` and the primitives, then expands this. Each output is
/// one lane's sum over examples or neurons, in order, so the width does not
/// change it.
/// SAFETY (for callers of every function it makes): the processor has the
/// module's features, and the slices hold the sizes the public kernels assert.
#[cfg(target_arch = "x86_64")]
macro_rules! f32_kernels {
    ($features:literal) => {
        #[target_feature(enable = $features)]
        pub unsafe fn back(d: &[f32], w: &[f32], d_prev: &mut [f32], m: usize, n: usize, k: usize) {
            let mut i = 0;
            while i < m {
                let mr = (m - i).min(4);
                // SAFETY: rows i..i + mr of d and d_prev exist.
                unsafe {
                    match mr {
                        4 => back_tile::<4>(d, w, d_prev, i, n, k),
                        3 => back_tile::<3>(d, w, d_prev, i, n, k),
                        2 => back_tile::<2>(d, w, d_prev, i, n, k),
                        _ => back_tile::<1>(d, w, d_prev, i, n, k),
                    }
                }
                i += mr;
            }
        }

        /// MR examples of `back`: BACK_BLOCK vectors of columns at a time,
        /// each weight vector loaded once for the MR examples, then the
        /// columns left one vector at a time. Each output is one chain of
        /// multiply-adds over j in order, however the columns are blocked.
        /// # Safety
        /// The module's features; rows i0..i0 + MR of `d` and `d_prev` exist.
        #[target_feature(enable = $features)]
        #[inline]
        unsafe fn back_tile<const MR: usize>(
            d: &[f32],
            w: &[f32],
            d_prev: &mut [f32],
            i0: usize,
            n: usize,
            k: usize,
        ) {
            let mut c = 0;
            while c + BACK_BLOCK * L <= k {
                let mut acc = [[zero(); BACK_BLOCK]; MR];
                for j in 0..n {
                    let row = w[j * k + c..j * k + c + BACK_BLOCK * L].as_ptr();
                    let wv: [V; BACK_BLOCK] = std::array::from_fn(|q| {
                        // SAFETY: `row` holds BACK_BLOCK·L floats (sliced above).
                        unsafe { load(row.add(q * L)) }
                    });
                    for r in 0..MR {
                        let dv = splat(d[(i0 + r) * n + j]);
                        for q in 0..BACK_BLOCK {
                            acc[r][q] = fmadd(dv, wv[q], acc[r][q]);
                        }
                    }
                }
                for r in 0..MR {
                    let out = &mut d_prev[(i0 + r) * k + c..(i0 + r) * k + c + BACK_BLOCK * L];
                    for q in 0..BACK_BLOCK {
                        // SAFETY: out holds BACK_BLOCK·L floats (sliced above).
                        unsafe { store(out.as_mut_ptr().add(q * L), acc[r][q]) };
                    }
                }
                c += BACK_BLOCK * L;
            }
            while c < k {
                let len = (k - c).min(L);
                let mut acc = [zero(); MR];
                for j in 0..n {
                    // SAFETY: c + len <= k, within row j of w.
                    let wv = unsafe { load_part(w[j * k + c..].as_ptr(), len) };
                    for r in 0..MR {
                        acc[r] = fmadd(splat(d[(i0 + r) * n + j]), wv, acc[r]);
                    }
                }
                for r in 0..MR {
                    let out = &mut d_prev[(i0 + r) * k + c..(i0 + r) * k + c + len];
                    // SAFETY: out holds len values.
                    unsafe { store_part(out.as_mut_ptr(), acc[r], len) };
                }
                c += L;
            }
        }

        /// # Safety
        /// The processor has the module's features; the sizes
        /// `real::rank_update_rows` asserts.
        #[target_feature(enable = $features)]
        #[allow(clippy::too_many_arguments)]
        pub unsafe fn rank_update(
            c: &[f32],
            a: &[f32],
            w: &mut [f32],
            m: usize,
            n: usize,
            k: usize,
            rows: Range<usize>,
            scale: f32,
        ) {
            let mut j = rows.start;
            while j < rows.end {
                let nr = (rows.end - j).min(4);
                // SAFETY: rows j..j + nr of w exist.
                unsafe {
                    match nr {
                        4 => update_tile::<4>(c, a, w, j, rows.start, m, n, k, scale),
                        3 => update_tile::<3>(c, a, w, j, rows.start, m, n, k, scale),
                        2 => update_tile::<2>(c, a, w, j, rows.start, m, n, k, scale),
                        _ => update_tile::<1>(c, a, w, j, rows.start, m, n, k, scale),
                    }
                }
                j += nr;
            }
        }

        /// Weight rows j0..j0 + NR of `rank_update` (`w` starts at row
        /// `base`): two vectors of columns at a time held in registers while
        /// every example's contribution is added, then one partial vector.
        /// # Safety
        /// The module's features; rows j0..j0 + NR of `w` and every row of `c`
        /// and `a` exist.
        #[target_feature(enable = $features)]
        #[inline]
        #[allow(clippy::too_many_arguments)]
        unsafe fn update_tile<const NR: usize>(
            c: &[f32],
            a: &[f32],
            w: &mut [f32],
            j0: usize,
            base: usize,
            m: usize,
            n: usize,
            k: usize,
            scale: f32,
        ) {
            let sv = splat(scale);
            let mut col = 0;
            // SAFETY: col + NV·L <= k, within each row of w and a.
            unsafe {
                while col + 4 * L <= k {
                    update_block::<NR, 4>(c, a, w, j0, base, m, n, k, sv, col);
                    col += 4 * L;
                }
                while col + 2 * L <= k {
                    update_block::<NR, 2>(c, a, w, j0, base, m, n, k, sv, col);
                    col += 2 * L;
                }
            }
            while col < k {
                let len = (k - col).min(L);
                // SAFETY: col + len <= k, within each row of w and a.
                unsafe {
                    let pw: [*mut f32; NR] =
                        std::array::from_fn(|s| w[(j0 - base + s) * k + col..].as_mut_ptr());
                    let mut acc: [V; NR] = std::array::from_fn(|s| mul(sv, load_part(pw[s], len)));
                    for i in 0..m {
                        let av = load_part(a[i * k + col..].as_ptr(), len);
                        for s in 0..NR {
                            acc[s] = fmadd(splat(c[i * n + j0 + s]), av, acc[s]);
                        }
                    }
                    for s in 0..NR {
                        store_part(pw[s], acc[s], len);
                    }
                }
                col += L;
            }
        }

        /// Columns col..col + NV·L of weight rows j0..j0 + NR, held in
        /// registers while every example's contribution is added.
        /// # Safety
        /// The module's features; col + NV·L ≤ k.
        #[target_feature(enable = $features)]
        #[inline]
        #[allow(clippy::too_many_arguments)]
        unsafe fn update_block<const NR: usize, const NV: usize>(
            c: &[f32],
            a: &[f32],
            w: &mut [f32],
            j0: usize,
            base: usize,
            m: usize,
            n: usize,
            k: usize,
            sv: V,
            col: usize,
        ) {
            // SAFETY: by the caller's word, col + NV·L <= k.
            unsafe {
                let pw: [*mut f32; NR] =
                    std::array::from_fn(|s| w[(j0 - base + s) * k + col..].as_mut_ptr());
                let mut acc: [[V; NV]; NR] = std::array::from_fn(|s| {
                    std::array::from_fn(|v| mul(sv, load(pw[s].add(v * L))))
                });
                for i in 0..m {
                    let pa = a[i * k + col..].as_ptr();
                    let av: [V; NV] = std::array::from_fn(|v| load(pa.add(v * L)));
                    for s in 0..NR {
                        let cij = splat(c[i * n + j0 + s]);
                        for v in 0..NV {
                            acc[s][v] = fmadd(cij, av[v], acc[s][v]);
                        }
                    }
                }
                for s in 0..NR {
                    for v in 0..NV {
                        store(pw[s].add(v * L), acc[s][v]);
                    }
                }
            }
        }
    };
}

/// The vector primitives the kernels are written in, for one instruction
/// set: its features and the intrinsics for V of L lanes.
#[cfg(target_arch = "x86_64")]
macro_rules! primitives {
    ($features:literal, $load:ident, $store:ident, $fmadd:ident, $mul:ident, $set1:ident, $zero:ident) => {
        /// # Safety
        /// The module's features; `p` points to L readable floats.
        #[target_feature(enable = $features)]
        #[inline]
        unsafe fn load(p: *const f32) -> V {
            // SAFETY: by the caller's word, p points to L floats.
            unsafe { $load(p) }
        }

        #[target_feature(enable = $features)]
        #[inline]
        unsafe fn store(p: *mut f32, v: V) {
            // SAFETY: by the caller's word, p points to L floats.
            unsafe { $store(p, v) }
        }

        #[target_feature(enable = $features)]
        #[inline]
        fn fmadd(a: V, b: V, c: V) -> V {
            $fmadd(a, b, c)
        }

        #[target_feature(enable = $features)]
        #[inline]
        fn mul(a: V, b: V) -> V {
            $mul(a, b)
        }

        #[target_feature(enable = $features)]
        #[inline]
        fn splat(x: f32) -> V {
            $set1(x)
        }

        #[target_feature(enable = $features)]
        #[inline]
        fn zero() -> V {
            $zero()
        }
    };
}

/// AVX2 + FMA: eight lanes, sixteen registers.
#[cfg(target_arch = "x86_64")]
pub(super) mod avx2 {
    use std::arch::x86_64::*;
    use std::ops::Range;

    type V = __m256;
    const L: usize = 8;
    /// Vectors of columns `back` holds for each of four examples.
    const BACK_BLOCK: usize = 2;

    primitives!(
        "avx2,fma",
        _mm256_loadu_ps,
        _mm256_storeu_ps,
        _mm256_fmadd_ps,
        _mm256_mul_ps,
        _mm256_set1_ps,
        _mm256_setzero_ps
    );

    /// Lanes 0..len all ones, the rest zero.
    #[target_feature(enable = "avx2,fma")]
    #[inline]
    fn mask(len: usize) -> __m256i {
        const ONES_THEN_ZEROS: [i32; 16] = [-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0];
        let lanes = &ONES_THEN_ZEROS[L - len..2 * L - len];
        // SAFETY: `lanes` holds 8 i32.
        unsafe { _mm256_loadu_si256(lanes.as_ptr().cast()) }
    }

    #[target_feature(enable = "avx2,fma")]
    #[inline]
    unsafe fn load_part(p: *const f32, len: usize) -> V {
        // SAFETY: by the caller's word, p points to len floats; masked lanes are not read.
        unsafe { _mm256_maskload_ps(p, mask(len)) }
    }

    #[target_feature(enable = "avx2,fma")]
    #[inline]
    unsafe fn store_part(p: *mut f32, v: V, len: usize) {
        // SAFETY: by the caller's word, p points to len floats; masked lanes are not written.
        unsafe { _mm256_maskstore_ps(p, mask(len), v) }
    }

    /// The sum of the lanes, pairwise.
    #[target_feature(enable = "avx2,fma")]
    #[inline]
    fn hsum(v: V) -> f32 {
        let s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
        let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
        _mm_cvtss_f32(_mm_add_ss(s, _mm_shuffle_ps(s, s, 1)))
    }

    /// `scale_bytes` eight at a time; the rest by the same exact quotient.
    /// SAFETY (for callers): the processor has AVX2 and FMA; dst is as long as src.
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn scale_bytes(src: &[u8], dst: &mut [f32]) {
        let (max, inverse) = (_mm256_set1_ps(255.0), _mm256_set1_ps(1.0 / 255.0));
        let mut i = 0;
        while i + L <= src.len() {
            // SAFETY: bytes i..i + 8 exist, and floats i..i + 8.
            unsafe {
                let bytes = _mm_loadl_epi64(src[i..].as_ptr().cast());
                let b = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(bytes));
                let q = _mm256_mul_ps(b, inverse);
                let residual = _mm256_fnmadd_ps(q, max, b);
                _mm256_storeu_ps(dst[i..].as_mut_ptr(), _mm256_fmadd_ps(residual, inverse, q));
            }
            i += L;
        }
        for (v, &b) in dst[i..].iter_mut().zip(&src[i..]) {
            *v = f32::from(b) / 255.0;
        }
    }

    /// The primitives `sigma_lanes` needs beyond `primitives!`.
    #[target_feature(enable = "avx2,fma")]
    #[inline]
    fn add(a: V, b: V) -> V {
        _mm256_add_ps(a, b)
    }
    #[target_feature(enable = "avx2,fma")]
    #[inline]
    fn sub(a: V, b: V) -> V {
        _mm256_sub_ps(a, b)
    }
    #[target_feature(enable = "avx2,fma")]
    #[inline]
    fn div(a: V, b: V) -> V {
        _mm256_div_ps(a, b)
    }
    #[target_feature(enable = "avx2,fma")]
    #[inline]
    fn min(a: V, b: V) -> V {
        _mm256_min_ps(a, b)
    }
    #[target_feature(enable = "avx2,fma")]
    #[inline]
    fn max(a: V, b: V) -> V {
        _mm256_max_ps(a, b)
    }
    #[target_feature(enable = "avx2,fma")]
    #[inline]
    fn round(x: V) -> V {
        _mm256_round_ps::<{ _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC }>(x)
    }
    #[target_feature(enable = "avx2,fma")]
    #[inline]
    fn pow2(n: V) -> V {
        let biased = _mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127));
        _mm256_castsi256_ps(_mm256_slli_epi32::<23>(biased))
    }
    #[target_feature(enable = "avx2,fma")]
    #[inline]
    fn gt(a: V, b: V) -> V {
        _mm256_cmp_ps::<_CMP_GT_OQ>(a, b)
    }
    #[target_feature(enable = "avx2,fma")]
    #[inline]
    fn lt(a: V, b: V) -> V {
        _mm256_cmp_ps::<_CMP_LT_OQ>(a, b)
    }
    #[target_feature(enable = "avx2,fma")]
    #[inline]
    fn unordered(x: V) -> V {
        _mm256_cmp_ps::<_CMP_UNORD_Q>(x, x)
    }
    #[target_feature(enable = "avx2,fma")]
    #[inline]
    fn either(a: V, b: V) -> V {
        _mm256_or_ps(a, b)
    }
    #[target_feature(enable = "avx2,fma")]
    #[inline]
    fn select(m: V, t: V, f: V) -> V {
        _mm256_blendv_ps(f, t, m)
    }

    crate::sigmoid::sigma_lanes!("avx2,fma");

    /// `super::sigmoid` eight at a time, by `sigma_lanes`; the rest one at
    /// a time, by the same.
    /// SAFETY (for callers): the processor has AVX2 and FMA.
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn sigmoid(v: &mut [f32]) {
        let mut chunks = v.chunks_exact_mut(L);
        for chunk in &mut chunks {
            // SAFETY: the chunk holds L floats.
            unsafe { store(chunk.as_mut_ptr(), sigma(load(chunk.as_ptr()))) };
        }
        for x in chunks.into_remainder() {
            *x = crate::sigmoid::sigmoid_f32(*x);
        }
    }

    f32_kernels!("avx2,fma");

    pub use wide::affine;

    /// AVX-512's 16 lanes as a pair of AVX2 registers, for the dot products.
    mod wide {
        use std::arch::x86_64::*;

        #[derive(Clone, Copy)]
        struct V(__m256, __m256);
        const L: usize = 16;
        /// Two examples × four neurons of pairs: the sixteen registers.
        const MR: usize = 1;

        #[target_feature(enable = "avx2,fma")]
        #[inline]
        fn zero() -> V {
            V(_mm256_setzero_ps(), _mm256_setzero_ps())
        }

        /// # Safety
        /// The module's features; `p` points to L readable floats.
        #[target_feature(enable = "avx2,fma")]
        #[inline]
        unsafe fn load(p: *const f32) -> V {
            // SAFETY: by the caller's word, p points to 16 floats.
            unsafe { V(_mm256_loadu_ps(p), _mm256_loadu_ps(p.add(8))) }
        }

        #[target_feature(enable = "avx2,fma")]
        #[inline]
        unsafe fn load_part(p: *const f32, len: usize) -> V {
            // SAFETY: by the caller's word, p points to len < 16 floats; the
            // high half is read only where len > 8, and masked lanes not at all.
            unsafe {
                if len > 8 {
                    V(_mm256_loadu_ps(p), super::load_part(p.add(8), len - 8))
                } else {
                    V(super::load_part(p, len), _mm256_setzero_ps())
                }
            }
        }

        #[target_feature(enable = "avx2,fma")]
        #[inline]
        fn fmadd(a: V, b: V, c: V) -> V {
            V(
                _mm256_fmadd_ps(a.0, b.0, c.0),
                _mm256_fmadd_ps(a.1, b.1, c.1),
            )
        }

        /// Lanes 0..8 plus lanes 8..16, then the eight as AVX2 adds them:
        /// the tree of `avx512::hsum`.
        #[target_feature(enable = "avx2,fma")]
        #[inline]
        fn hsum(v: V) -> f32 {
            super::hsum(_mm256_add_ps(v.0, v.1))
        }

        f32_affine!("avx2,fma");
    }
}

/// AVX-512: sixteen lanes, thirty-two registers, so taller tiles.
#[cfg(target_arch = "x86_64")]
pub(super) mod avx512 {
    use std::arch::x86_64::*;
    use std::ops::Range;

    type V = __m512;
    const L: usize = 16;
    const MR: usize = 5;
    /// Vectors of columns `back` holds for each of four examples.
    const BACK_BLOCK: usize = 4;

    primitives!(
        "avx512f,avx2,fma",
        _mm512_loadu_ps,
        _mm512_storeu_ps,
        _mm512_fmadd_ps,
        _mm512_mul_ps,
        _mm512_set1_ps,
        _mm512_setzero_ps
    );

    fn mask(len: usize) -> __mmask16 {
        ((1u32 << len) - 1) as __mmask16
    }

    /// # Safety
    /// The module's features; `p` points to `len` readable floats.
    #[target_feature(enable = "avx512f,avx2,fma")]
    #[inline]
    unsafe fn load_part(p: *const f32, len: usize) -> V {
        // SAFETY: by the caller's word, p points to len floats; masked lanes are not read.
        unsafe { _mm512_maskz_loadu_ps(mask(len), p) }
    }

    #[target_feature(enable = "avx512f,avx2,fma")]
    #[inline]
    unsafe fn store_part(p: *mut f32, v: V, len: usize) {
        // SAFETY: by the caller's word, p points to len floats; masked lanes are not written.
        unsafe { _mm512_mask_storeu_ps(p, mask(len), v) }
    }

    /// The sum of the lanes by a fixed tree: lanes 0..8 plus 8..16, then
    /// 0..4 plus 4..8, then 0, 1 plus 2, 3, then the two. AVX2's pairs add
    /// in the same tree (`avx2::wide::hsum`).
    #[target_feature(enable = "avx512f,avx2,fma")]
    #[inline]
    fn hsum(v: V) -> f32 {
        let lo = _mm512_castps512_ps256(v);
        let hi = _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1));
        let s = _mm256_add_ps(lo, hi);
        let s = _mm_add_ps(_mm256_castps256_ps128(s), _mm256_extractf128_ps(s, 1));
        let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
        _mm_cvtss_f32(_mm_add_ss(s, _mm_shuffle_ps(s, s, 1)))
    }

    /// `scale_bytes` sixteen at a time, the last few under a mask.
    /// SAFETY (for callers): the processor has AVX-512F; dst is as long as src.
    #[target_feature(enable = "avx512f,avx2,fma")]
    pub unsafe fn scale_bytes(src: &[u8], dst: &mut [f32]) {
        let (max, inverse) = (_mm512_set1_ps(255.0), _mm512_set1_ps(1.0 / 255.0));
        let mut i = 0;
        while i < src.len() {
            let len = (src.len() - i).min(L);
            // SAFETY: bytes and floats i..i + len exist; masked lanes are not touched.
            unsafe {
                let mut tail = [0u8; L];
                let bytes = if len == L {
                    _mm_loadu_si128(src[i..].as_ptr().cast())
                } else {
                    tail[..len].copy_from_slice(&src[i..]);
                    _mm_loadu_si128(tail.as_ptr().cast())
                };
                let b = _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(bytes));
                let q = _mm512_mul_ps(b, inverse);
                let residual = _mm512_fnmadd_ps(q, max, b);
                store_part(
                    dst[i..].as_mut_ptr(),
                    _mm512_fmadd_ps(residual, inverse, q),
                    len,
                );
            }
            i += L;
        }
    }

    /// The primitives `sigma_lanes` needs beyond `primitives!`.
    #[target_feature(enable = "avx512f,avx2,fma")]
    #[inline]
    fn add(a: V, b: V) -> V {
        _mm512_add_ps(a, b)
    }
    #[target_feature(enable = "avx512f,avx2,fma")]
    #[inline]
    fn sub(a: V, b: V) -> V {
        _mm512_sub_ps(a, b)
    }
    #[target_feature(enable = "avx512f,avx2,fma")]
    #[inline]
    fn div(a: V, b: V) -> V {
        _mm512_div_ps(a, b)
    }
    #[target_feature(enable = "avx512f,avx2,fma")]
    #[inline]
    fn min(a: V, b: V) -> V {
        _mm512_min_ps(a, b)
    }
    #[target_feature(enable = "avx512f,avx2,fma")]
    #[inline]
    fn max(a: V, b: V) -> V {
        _mm512_max_ps(a, b)
    }
    #[target_feature(enable = "avx512f,avx2,fma")]
    #[inline]
    fn round(x: V) -> V {
        _mm512_roundscale_ps::<{ _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC }>(x)
    }
    #[target_feature(enable = "avx512f,avx2,fma")]
    #[inline]
    fn pow2(n: V) -> V {
        let biased = _mm512_add_epi32(_mm512_cvtps_epi32(n), _mm512_set1_epi32(127));
        _mm512_castsi512_ps(_mm512_slli_epi32::<23>(biased))
    }
    #[target_feature(enable = "avx512f,avx2,fma")]
    #[inline]
    fn gt(a: V, b: V) -> __mmask16 {
        _mm512_cmp_ps_mask::<_CMP_GT_OQ>(a, b)
    }
    #[target_feature(enable = "avx512f,avx2,fma")]
    #[inline]
    fn lt(a: V, b: V) -> __mmask16 {
        _mm512_cmp_ps_mask::<_CMP_LT_OQ>(a, b)
    }
    #[target_feature(enable = "avx512f,avx2,fma")]
    #[inline]
    fn unordered(x: V) -> __mmask16 {
        _mm512_cmp_ps_mask::<_CMP_UNORD_Q>(x, x)
    }
    fn either(a: __mmask16, b: __mmask16) -> __mmask16 {
        a | b
    }
    #[target_feature(enable = "avx512f,avx2,fma")]
    #[inline]
    fn select(m: __mmask16, t: V, f: V) -> V {
        _mm512_mask_blend_ps(m, f, t)
    }

    crate::sigmoid::sigma_lanes!("avx512f,avx2,fma");

    /// `super::sigmoid` sixteen at a time, by `sigma_lanes`; the rest one
    /// at a time, by the same.
    /// SAFETY (for callers): the processor has AVX-512F.
    #[target_feature(enable = "avx512f,avx2,fma")]
    pub unsafe fn sigmoid(v: &mut [f32]) {
        let mut chunks = v.chunks_exact_mut(L);
        for chunk in &mut chunks {
            // SAFETY: the chunk holds L floats.
            unsafe { store(chunk.as_mut_ptr(), sigma(load(chunk.as_ptr()))) };
        }
        for x in chunks.into_remainder() {
            *x = crate::sigmoid::sigmoid_f32(*x);
        }
    }

    f32_kernels!("avx512f,avx2,fma");
    f32_affine!("avx512f,avx2,fma");
}

/// a·b + c, fused where the instruction exists (plain `mul_add` would be a
/// slow library call without it).
#[inline(always)]
pub(crate) fn madd<F: Float, const FMA: bool>(a: F, b: F, c: F) -> F {
    if FMA { a.mul_add(b, c) } else { a * b + c }
}

/// The LANES values of `row` from `start`: one bounds check, then a vector load.
#[inline(always)]
fn lanes<F: Float>(row: &[F], start: usize) -> [F; LANES] {
    let mut v = [F::zero(); LANES];
    v.copy_from_slice(&row[start..start + LANES]);
    v
}

#[inline(always)]
pub(super) fn affine_impl<F: Float, const FMA: bool>(
    a: &[F],
    w: &[F],
    b: &[F],
    z: &mut [F],
    m: usize,
    n: usize,
    k: usize,
) {
    // Blocks of 4 neurons; the block's weights stay in cache while every
    // example passes, two at a time.
    let mut j = 0;
    while j < n {
        let nr = (n - j).min(4);
        let mut i = 0;
        while i < m {
            let mr = (m - i).min(2);
            match (mr, nr) {
                (2, 4) => dot_tile::<F, FMA, 2, 4>(a, w, b, z, i, j, n, k),
                (1, 4) => dot_tile::<F, FMA, 1, 4>(a, w, b, z, i, j, n, k),
                (2, _) => {
                    (0..nr).for_each(|s| dot_tile::<F, FMA, 2, 1>(a, w, b, z, i, j + s, n, k))
                }
                _ => (0..nr).for_each(|s| dot_tile::<F, FMA, 1, 1>(a, w, b, z, i, j + s, n, k)),
            }
            i += mr;
        }
        j += nr;
    }
}

/// MR examples × NR neurons of `affine`, accumulated in LANES-wide registers.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn dot_tile<F: Float, const FMA: bool, const MR: usize, const NR: usize>(
    a: &[F],
    w: &[F],
    b: &[F],
    z: &mut [F],
    i0: usize,
    j0: usize,
    n: usize,
    k: usize,
) {
    let rows_a: [&[F]; MR] = std::array::from_fn(|r| &a[(i0 + r) * k..(i0 + r + 1) * k]);
    let rows_w: [&[F]; NR] = std::array::from_fn(|s| &w[(j0 + s) * k..(j0 + s + 1) * k]);
    let mut acc = [[[F::zero(); LANES]; NR]; MR];
    let full = k - k % LANES;
    for c in (0..full).step_by(LANES) {
        let av: [[F; LANES]; MR] = std::array::from_fn(|r| lanes(rows_a[r], c));
        let wv: [[F; LANES]; NR] = std::array::from_fn(|s| lanes(rows_w[s], c));
        for r in 0..MR {
            for s in 0..NR {
                for l in 0..LANES {
                    acc[r][s][l] = madd::<F, FMA>(av[r][l], wv[s][l], acc[r][s][l]);
                }
            }
        }
    }
    for r in 0..MR {
        for s in 0..NR {
            let mut sum = b[j0 + s];
            for &v in &acc[r][s] {
                sum += v;
            }
            for t in full..k {
                sum = madd::<F, FMA>(rows_a[r][t], rows_w[s][t], sum);
            }
            z[(i0 + r) * n + j0 + s] = sum;
        }
    }
}

#[inline(always)]
pub(super) fn back_impl<F: Float, const FMA: bool>(
    d: &[F],
    w: &[F],
    d_prev: &mut [F],
    m: usize,
    n: usize,
    k: usize,
) {
    // Four examples at a time, LANES columns of w at a time: each weight
    // vector loaded once serves four examples.
    const MR: usize = 4;
    let full = k - k % LANES;
    let mut i = 0;
    while i < m {
        let mr = (m - i).min(MR);
        let mut c = 0;
        while c < full {
            let mut acc = [[F::zero(); LANES]; MR];
            for j in 0..n {
                let wv = &w[j * k + c..j * k + c + LANES];
                for r in 0..mr {
                    let dj = d[(i + r) * n + j];
                    for l in 0..LANES {
                        acc[r][l] = madd::<F, FMA>(dj, wv[l], acc[r][l]);
                    }
                }
            }
            for r in 0..mr {
                d_prev[(i + r) * k + c..(i + r) * k + c + LANES].copy_from_slice(&acc[r]);
            }
            c += LANES;
        }
        for r in 0..mr {
            for t in full..k {
                let mut sum = F::zero();
                for j in 0..n {
                    sum = madd::<F, FMA>(d[(i + r) * n + j], w[j * k + t], sum);
                }
                d_prev[(i + r) * k + t] = sum;
            }
        }
        i += mr;
    }
}

#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub(super) fn rank_update_impl<F: Float, const FMA: bool>(
    c: &[F],
    a: &[F],
    w: &mut [F],
    m: usize,
    n: usize,
    k: usize,
    rows: Range<usize>,
    scale: F,
) {
    // Four weight rows × two LANES-wide column chunks held in registers while
    // every example's contribution is added; each row is read and written once.
    let mut j = rows.start;
    while j < rows.end {
        let nr = (rows.end - j).min(4);
        match nr {
            4 => update_tile::<F, FMA, 4>(c, a, w, j, rows.start, m, n, k, scale),
            _ => (0..nr)
                .for_each(|s| update_tile::<F, FMA, 1>(c, a, w, j + s, rows.start, m, n, k, scale)),
        }
        j += nr;
    }
}

/// Weight rows j0..j0 + NR of `rank_update`; `w` starts at row `base`.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn update_tile<F: Float, const FMA: bool, const NR: usize>(
    c: &[F],
    a: &[F],
    w: &mut [F],
    j0: usize,
    base: usize,
    m: usize,
    n: usize,
    k: usize,
    scale: F,
) {
    const KC: usize = 2 * LANES;
    let full = k - k % KC;
    let row = |s: usize| (j0 - base + s) * k;
    let mut col = 0;
    while col < full {
        let mut acc = [[F::zero(); KC]; NR];
        for s in 0..NR {
            for (acc, &w) in acc[s].iter_mut().zip(&w[row(s) + col..row(s) + col + KC]) {
                *acc = scale * w;
            }
        }
        for i in 0..m {
            let av = &a[i * k + col..i * k + col + KC];
            for s in 0..NR {
                let cij = c[i * n + j0 + s];
                for l in 0..KC {
                    acc[s][l] = madd::<F, FMA>(cij, av[l], acc[s][l]);
                }
            }
        }
        for s in 0..NR {
            w[row(s) + col..row(s) + col + KC].copy_from_slice(&acc[s]);
        }
        col += KC;
    }
    for s in 0..NR {
        for t in full..k {
            let mut sum = scale * w[row(s) + t];
            for i in 0..m {
                sum = madd::<F, FMA>(c[i * n + j0 + s], a[i * k + t], sum);
            }
            w[row(s) + t] = sum;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::real::{affine, back, rank_update_rows, sigmoid};
    use super::*;
    use std::ops::Range;

    /// w[j][k] += Σ_i c[i][j] a[i][k] over every row.
    fn rank_update(c: &[f64], a: &[f64], w: &mut [f64], m: usize, n: usize, k: usize) {
        rank_update_rows(c, a, w, m, n, k, 0..n, 1.0)
    }

    /// Deterministic values in [−1, 1).
    fn values(len: usize, seed: u64) -> Vec<f64> {
        let mut state = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (0..len)
            .map(|_| {
                state = state
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                ((state >> 11) as f64 / (1u64 << 53) as f64) * 2.0 - 1.0
            })
            .collect()
    }

    fn close(p: &[f64], q: &[f64]) {
        for (i, (x, y)) in p.iter().zip(q).enumerate() {
            assert!(
                (x - y).abs() <= 1e-12 * (1.0 + y.abs()),
                "entry {i}: {x} vs {y}"
            );
        }
    }

    // Shapes with every remainder: m and n not multiples of the tiles, k not
    // a multiple of the lane width.
    /// Under Miri, which is slow, the small shapes only.
    #[cfg(miri)]
    const SHAPES: [(usize, usize, usize); 3] = [(1, 1, 1), (3, 5, 7), (5, 9, 37)];
    #[cfg(not(miri))]
    const SHAPES: [(usize, usize, usize); 6] = [
        (1, 1, 1),
        (3, 5, 7),
        (10, 30, 784),
        (7, 10, 30),
        (5, 9, 37),
        (11, 13, 50),
    ];

    type Affine = fn(&[f32], &[f32], &[f32], &mut [f32], usize, usize, usize);
    type Back = fn(&[f32], &[f32], &mut [f32], usize, usize, usize);
    type RankUpdate = fn(&[f32], &[f32], &mut [f32], usize, usize, usize, Range<usize>, f32);

    /// One build of the three f32 kernels.
    struct F32Kernels {
        name: &'static str,
        affine: Affine,
        back: Back,
        rank_update: RankUpdate,
    }

    /// Every build this processor can run, whatever `simd()` picks.
    fn f32_builds() -> Vec<F32Kernels> {
        #[allow(unused_mut)]
        let mut builds = vec![F32Kernels {
            name: "portable",
            affine: |a, w, b, z, m, n, k| affine_impl::<f32, false>(a, w, b, z, m, n, k),
            back: |d, w, p, m, n, k| back_impl::<f32, false>(d, w, p, m, n, k),
            rank_update: |c, a, w, m, n, k, r, s| {
                rank_update_impl::<f32, false>(c, a, w, m, n, k, r, s)
            },
        }];
        #[cfg(target_arch = "x86_64")]
        {
            if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
                // SAFETY (each closure): the processor has AVX2 and FMA.
                builds.push(F32Kernels {
                    name: "avx2",
                    // SAFETY: the features were detected above; the tests pass the sizes the kernels assert.
                    affine: |a, w, b, z, m, n, k| unsafe { avx2::affine(a, w, b, z, m, n, k) },
                    // SAFETY: the features were detected above; the tests pass the sizes the kernels assert.
                    back: |d, w, p, m, n, k| unsafe { avx2::back(d, w, p, m, n, k) },
                    // SAFETY: the features were detected above; the tests pass the sizes the kernels assert.
                    rank_update: |c, a, w, m, n, k, r, s| unsafe {
                        avx2::rank_update(c, a, w, m, n, k, r, s)
                    },
                });
            }
            if std::is_x86_feature_detected!("avx512f") && std::is_x86_feature_detected!("fma") {
                // SAFETY (each closure): the processor has AVX-512F, AVX2 and FMA.
                builds.push(F32Kernels {
                    name: "avx512",
                    // SAFETY: the features were detected above; the tests pass the sizes the kernels assert.
                    affine: |a, w, b, z, m, n, k| unsafe { avx512::affine(a, w, b, z, m, n, k) },
                    // SAFETY: the features were detected above; the tests pass the sizes the kernels assert.
                    back: |d, w, p, m, n, k| unsafe { avx512::back(d, w, p, m, n, k) },
                    // SAFETY: the features were detected above; the tests pass the sizes the kernels assert.
                    rank_update: |c, a, w, m, n, k, r, s| unsafe {
                        avx512::rank_update(c, a, w, m, n, k, r, s)
                    },
                });
            }
        }
        builds
    }

    /// Each f32 build against the f64 kernels, to f32 rounding, and split
    /// updates against whole ones, exactly.
    /// The SIMD builds give the same bits, AVX2 and AVX-512 alike, so the
    /// same seed trains the same model on either kind of machine.
    #[test]
    fn avx2_and_avx512_builds_agree_bit_for_bit() {
        let narrow = |v: &[f64]| v.iter().map(|&x| x as f32).collect::<Vec<f32>>();
        let builds: Vec<F32Kernels> = f32_builds()
            .into_iter()
            .filter(|b| b.name != "portable")
            .collect();
        for (m, n, k) in SHAPES {
            let (a, w, b) = (
                narrow(&values(m * k, 1)),
                narrow(&values(n * k, 2)),
                narrow(&values(n, 3)),
            );
            let d = narrow(&values(m * n, 4));
            let outputs: Vec<_> = builds
                .iter()
                .map(|build| {
                    let mut z = vec![0.0f32; m * n];
                    (build.affine)(&a, &w, &b, &mut z, m, n, k);
                    let mut out = vec![0.0f32; m * k];
                    (build.back)(&d, &w, &mut out, m, n, k);
                    let mut w2 = w.clone();
                    (build.rank_update)(&d, &a, &mut w2, m, n, k, 0..n, 0.9);
                    let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                    (bits(&z), bits(&out), bits(&w2))
                })
                .collect();
            for (build, output) in builds.iter().zip(&outputs).skip(1) {
                assert!(
                    *output == outputs[0],
                    "{} and {} differ at {m}×{n}×{k}",
                    build.name,
                    builds[0].name
                );
            }
        }
    }

    #[test]
    fn f32_kernels_match_the_naive_products() {
        let narrow = |v: &[f64]| v.iter().map(|&x| x as f32).collect::<Vec<f32>>();
        let wide = |v: &[f32]| v.iter().map(|&x| x as f64).collect::<Vec<f64>>();
        for build in f32_builds() {
            let near = |what: &str, p: &[f32], q: &[f64], scale: usize| {
                for (i, (&x, &y)) in p.iter().zip(q).enumerate() {
                    assert!(
                        (x as f64 - y).abs() <= 1e-6 * scale as f64,
                        "{} {what}, entry {i}: {x} vs {y}",
                        build.name
                    );
                }
            };
            for (m, n, k) in SHAPES {
                let (a, w, b) = (
                    narrow(&values(m * k, 1)),
                    narrow(&values(n * k, 2)),
                    narrow(&values(n, 3)),
                );
                let mut z = vec![0.0f32; m * n];
                (build.affine)(&a, &w, &b, &mut z, m, n, k);
                let mut z64 = vec![0.0; m * n];
                affine(&wide(&a), &wide(&w), &wide(&b), &mut z64, m, n, k);
                near("affine", &z, &z64, k);

                let d = narrow(&values(m * n, 4));
                let mut out = vec![0.0f32; m * k];
                (build.back)(&d, &w, &mut out, m, n, k);
                let mut out64 = vec![0.0; m * k];
                back(&wide(&d), &wide(&w), &mut out64, m, n, k);
                near("back", &out, &out64, n);

                let mut w2 = w.clone();
                (build.rank_update)(&d, &a, &mut w2, m, n, k, 0..n, 0.9);
                let mut w64 = wide(&w);
                rank_update_rows(&wide(&d), &wide(&a), &mut w64, m, n, k, 0..n, 0.9);
                near("rank_update", &w2, &w64, m);

                let split = n / 2;
                let mut halves = w.clone();
                let (top, bottom) = halves.split_at_mut(split * k);
                (build.rank_update)(&d, &a, top, m, n, k, 0..split, 0.9);
                (build.rank_update)(&d, &a, bottom, m, n, k, split..n, 0.9);
                assert_eq!(
                    halves, w2,
                    "{}: rank_update split at row {split}",
                    build.name
                );
            }
        }
    }

    #[test]
    fn affine_matches_the_naive_product() {
        for (m, n, k) in SHAPES {
            let (a, w, b) = (values(m * k, 1), values(n * k, 2), values(n, 3));
            let mut z = vec![0.0; m * n];
            affine(&a, &w, &b, &mut z, m, n, k);
            let naive: Vec<f64> = (0..m * n)
                .map(|ij| {
                    b[ij % n]
                        + (0..k)
                            .map(|t| a[ij / n * k + t] * w[ij % n * k + t])
                            .sum::<f64>()
                })
                .collect();
            close(&z, &naive);
        }
    }

    #[test]
    fn rank_update_in_two_halves_equals_one_pass() {
        let (m, n, k) = (10, 30, if cfg!(miri) { 40 } else { 784 });
        for split in [0, 4, 16, 17, 30] {
            let (c, a) = (values(m * n, 9), values(m * k, 10));
            let mut whole = values(n * k, 11);
            let mut halves = whole.clone();
            rank_update(&c, &a, &mut whole, m, n, k);
            let (top, bottom) = halves.split_at_mut(split * k);
            rank_update_rows(&c, &a, top, m, n, k, 0..split, 1.0);
            rank_update_rows(&c, &a, bottom, m, n, k, split..n, 1.0);
            assert_eq!(whole, halves, "split at row {split}");
        }
    }

    #[test]
    fn back_matches_the_naive_product() {
        for (m, n, k) in SHAPES {
            let (d, w) = (values(m * n, 4), values(n * k, 5));
            let mut out = vec![0.0; m * k];
            back(&d, &w, &mut out, m, n, k);
            let naive: Vec<f64> = (0..m * k)
                .map(|ik| (0..n).map(|j| d[ik / k * n + j] * w[j * k + ik % k]).sum())
                .collect();
            close(&out, &naive);
        }
    }

    #[test]
    fn rank_update_matches_the_naive_product() {
        for (m, n, k) in SHAPES {
            let (c, a, w0) = (values(m * n, 6), values(m * k, 7), values(n * k, 8));
            let mut w = w0.clone();
            rank_update(&c, &a, &mut w, m, n, k);
            let naive: Vec<f64> = (0..n * k)
                .map(|jk| {
                    w0[jk]
                        + (0..m)
                            .map(|i| c[i * n + jk / k] * a[i * k + jk % k])
                            .sum::<f64>()
                })
                .collect();
            close(&w, &naive);
        }
    }

    /// Every byte, in every build: the corrected product rounds exactly as
    /// the division it replaces.
    #[test]
    fn scale_bytes_divides_every_byte_exactly() {
        let bytes: Vec<u8> = (0..=255).collect();
        let mut f32s = vec![0f32; 256];
        let mut f64s = vec![0f64; 256];
        type Scale<F> = fn(&[u8], &mut [F]);
        let mut builds: Vec<(&str, Scale<f32>, Scale<f64>)> = vec![
            (
                "portable",
                scale_bytes_impl::<f32, false>,
                scale_bytes_impl::<f64, false>,
            ),
            (
                "fused, in software",
                scale_bytes_impl::<f32, true>,
                scale_bytes_impl::<f64, true>,
            ),
        ];
        #[cfg(target_arch = "x86_64")]
        if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
            // SAFETY (each closure): the processor has AVX2 and FMA.
            builds.push((
                "avx2",
                // SAFETY: the features were detected above; the tests pass the sizes the kernels assert.
                |s, d| unsafe { avx2::scale_bytes(s, d) },
                // SAFETY: the features were detected above; the tests pass the sizes the kernels assert.
                |s, d| unsafe { x86::scale_bytes(s, d) },
            ));
            if std::is_x86_feature_detected!("avx512f") {
                // SAFETY: and AVX-512F.
                builds.push((
                    "avx512",
                    // SAFETY: the features were detected above; the tests pass the sizes the kernels assert.
                    |s, d| unsafe { avx512::scale_bytes(s, d) },
                    // SAFETY: the features were detected above; the tests pass the sizes the kernels assert.
                    |s, d| unsafe { x86::scale_bytes(s, d) },
                ));
            }
        }
        for (name, narrow, wide) in builds {
            narrow(&bytes, &mut f32s);
            wide(&bytes, &mut f64s);
            for b in 0..=255u8 {
                assert_eq!(
                    f32s[b as usize],
                    f32::from(b) / 255.0,
                    "{name}, f32, byte {b}"
                );
                assert_eq!(
                    f64s[b as usize],
                    f64::from(b) / 255.0,
                    "{name}, f64, byte {b}"
                );
            }
        }
    }

    /// Every build's σ against the scalar one, bit for bit, over the whole
    /// range and its edges.
    #[test]
    #[cfg_attr(miri, ignore = "half a million σ: too slow under Miri")]
    fn sigmoid_builds_match_the_scalar_one() {
        let mut z: Vec<f32> = (-240_000..240_000).map(|i| i as f32 * 0.000_5).collect();
        z.extend([0.0, -0.0, 87.0, -87.0, 88.0, -88.0, 88.000_01, 1e30, -1e30]);
        z.extend([f32::INFINITY, f32::NEG_INFINITY, f32::NAN, 1e-40, -1e-40]);
        let scalar: Vec<u32> = z
            .iter()
            .map(|&x| crate::sigmoid::sigmoid_f32(x).to_bits())
            .collect();
        let mut dispatched = z.clone();
        sigmoid(&mut dispatched);
        let mut builds: Vec<(&str, Vec<f32>)> = vec![("dispatched", dispatched)];
        #[cfg(target_arch = "x86_64")]
        {
            if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
                let mut v = z.clone();
                // SAFETY: the processor has AVX2 and FMA.
                unsafe { avx2::sigmoid(&mut v) };
                builds.push(("avx2", v));
            }
            if std::is_x86_feature_detected!("avx512f") {
                let mut v = z.clone();
                // SAFETY: the processor has AVX-512F.
                unsafe { avx512::sigmoid(&mut v) };
                builds.push(("avx512", v));
            }
        }
        for (name, v) in builds {
            for (i, (&got, &want)) in v.iter().zip(&scalar).enumerate() {
                assert_eq!(got.to_bits(), want, "{name}: σ({}) = {got}", z[i]);
            }
        }
    }
}
