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

/// Accumulator width: one AVX register of f32.
const LANES: usize = 8;

/// z[i][j] = b[j] + Σ_k a[i][k] w[j][k]: a is (m, k), w is (n, k), z is (m, n).
/// The forward product z = w a + b, with examples as rows.
pub fn affine<F: Float>(a: &[F], w: &[F], b: &[F], z: &mut [F], m: usize, n: usize, k: usize) {
    assert!(a.len() >= m * k && w.len() >= n * k && b.len() >= n && z.len() >= m * n);
    #[cfg(target_arch = "x86_64")]
    if has_avx2_fma() {
        if is_f32::<F>() {
            // SAFETY: F is f32, so the slices are f32 slices; the processor
            // has AVX2 and FMA.
            return unsafe { avx2::affine(f32s(a), f32s(w), f32s(b), f32s_mut(z), m, n, k) };
        }
        // SAFETY: the processor has AVX2 and FMA.
        return unsafe { x86::affine(a, w, b, z, m, n, k) };
    }
    affine_impl::<F, false>(a, w, b, z, m, n, k)
}

/// d_prev[i][k] = Σ_j d[i][j] w[j][k]: d is (m, n), w is (n, k), d_prev is (m, k).
/// The product (w^T δ) of BP2, with examples as rows.
pub fn back<F: Float>(d: &[F], w: &[F], d_prev: &mut [F], m: usize, n: usize, k: usize) {
    assert!(d.len() >= m * n && w.len() >= n * k && d_prev.len() >= m * k);
    #[cfg(target_arch = "x86_64")]
    if has_avx2_fma() {
        if is_f32::<F>() {
            // SAFETY: F is f32, so the slices are f32 slices; the processor
            // has AVX2 and FMA.
            return unsafe { avx2::back(f32s(d), f32s(w), f32s_mut(d_prev), m, n, k) };
        }
        // SAFETY: the processor has AVX2 and FMA.
        return unsafe { x86::back(d, w, d_prev, m, n, k) };
    }
    back_impl::<F, false>(d, w, d_prev, m, n, k)
}

/// w[j][k] += Σ_i c[i][j] a[i][k]: c is (m, n), a is (m, k), w is (n, k).
/// BP4 summed over the mini-batch and added to the weights in one pass.
pub fn rank_update<F: Float>(c: &[F], a: &[F], w: &mut [F], m: usize, n: usize, k: usize) {
    rank_update_rows(c, a, w, m, n, k, 0..n)
}

/// `rank_update` for the weight rows `rows` only: `w` holds just those rows,
/// so two threads can update two halves of one matrix.
pub fn rank_update_rows<F: Float>(
    c: &[F],
    a: &[F],
    w: &mut [F],
    m: usize,
    n: usize,
    k: usize,
    rows: Range<usize>,
) {
    assert!(rows.end <= n && c.len() >= m * n && a.len() >= m * k && w.len() >= rows.len() * k);
    #[cfg(target_arch = "x86_64")]
    if has_avx2_fma() {
        if is_f32::<F>() {
            // SAFETY: F is f32, so the slices are f32 slices; the processor
            // has AVX2 and FMA.
            return unsafe { avx2::rank_update(f32s(c), f32s(a), f32s_mut(w), m, n, k, rows) };
        }
        // SAFETY: the processor has AVX2 and FMA.
        return unsafe { x86::rank_update(c, a, w, m, n, k, rows) };
    }
    rank_update_impl::<F, false>(c, a, w, m, n, k, rows)
}

/// Whether to run the AVX2 + FMA build of the kernels (checked once, cached).
#[cfg(target_arch = "x86_64")]
fn has_avx2_fma() -> bool {
    std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma")
}

fn is_f32<F: Float>() -> bool {
    std::any::TypeId::of::<F>() == std::any::TypeId::of::<f32>()
}

/// Reinterprets a slice of F as f32.
/// SAFETY (for callers): F is f32.
#[cfg(target_arch = "x86_64")]
unsafe fn f32s<F: Float>(x: &[F]) -> &[f32] {
    // SAFETY: F and f32 are the same type, by the caller's word.
    unsafe { std::slice::from_raw_parts(x.as_ptr().cast(), x.len()) }
}

/// Reinterprets a mutable slice of F as f32.
/// SAFETY (for callers): F is f32.
#[cfg(target_arch = "x86_64")]
unsafe fn f32s_mut<F: Float>(x: &mut [F]) -> &mut [f32] {
    // SAFETY: F and f32 are the same type, by the caller's word.
    unsafe { std::slice::from_raw_parts_mut(x.as_mut_ptr().cast(), x.len()) }
}

/// Each kernel's `impl::<F, true>` compiled with AVX2 and FMA enabled.
/// SAFETY (for callers): only where `has_avx2_fma()` holds.
#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::*;

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

    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn back<F: Float>(d: &[F], w: &[F], d_prev: &mut [F], m: usize, n: usize, k: usize) {
        back_impl::<F, true>(d, w, d_prev, m, n, k)
    }

    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn rank_update<F: Float>(
        c: &[F],
        a: &[F],
        w: &mut [F],
        m: usize,
        n: usize,
        k: usize,
        rows: Range<usize>,
    ) {
        rank_update_impl::<F, true>(c, a, w, m, n, k, rows)
    }
}

/// The f32 kernels in AVX2 + FMA intrinsics: eight lanes a register, tiles
/// sized to keep every accumulator in the sixteen registers. Each output sums
/// in the same order whatever tile computes it.
/// SAFETY (for callers of every function here): the processor has AVX2 and
/// FMA, and the slices hold the sizes the public kernels assert.
#[cfg(target_arch = "x86_64")]
mod avx2 {
    use std::arch::x86_64::*;
    use std::ops::Range;

    /// The sum of the eight lanes of `v`.
    #[target_feature(enable = "avx2,fma")]
    fn hsum(v: __m256) -> f32 {
        let s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
        let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
        _mm_cvtss_f32(_mm_add_ss(s, _mm_shuffle_ps(s, s, 1)))
    }

    #[target_feature(enable = "avx2,fma")]
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
            let mut i = 0;
            while i < m {
                let mr = (m - i).min(2);
                // SAFETY: rows i..i + mr of a and j..j + nr of w exist.
                unsafe {
                    if (mr, nr) == (2, 4) {
                        dot_tile::<2, 4>(a, w, b, z, i, j, n, k);
                    } else if nr == 4 {
                        dot_tile::<1, 4>(a, w, b, z, i, j, n, k);
                    } else {
                        for r in 0..mr {
                            for s in 0..nr {
                                dot_tile::<1, 1>(a, w, b, z, i + r, j + s, n, k);
                            }
                        }
                    }
                }
                i += mr;
            }
            j += nr;
        }
    }

    #[target_feature(enable = "avx2,fma")]
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
        let full = k - k % 8;
        let pa: [*const f32; MR] = std::array::from_fn(|r| a[(i0 + r) * k..].as_ptr());
        let pw: [*const f32; NR] = std::array::from_fn(|s| w[(j0 + s) * k..].as_ptr());
        let mut acc = [[_mm256_setzero_ps(); NR]; MR];
        let mut c = 0;
        while c < full {
            // SAFETY: c + 8 <= k, within each row.
            unsafe {
                let av: [__m256; MR] = std::array::from_fn(|r| _mm256_loadu_ps(pa[r].add(c)));
                for s in 0..NR {
                    let wv = _mm256_loadu_ps(pw[s].add(c));
                    for r in 0..MR {
                        acc[r][s] = _mm256_fmadd_ps(av[r], wv, acc[r][s]);
                    }
                }
            }
            c += 8;
        }
        for r in 0..MR {
            for s in 0..NR {
                let mut sum = hsum(acc[r][s]);
                for t in full..k {
                    sum = a[(i0 + r) * k + t].mul_add(w[(j0 + s) * k + t], sum);
                }
                z[(i0 + r) * n + j0 + s] = sum + b[j0 + s];
            }
        }
    }

    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn back(d: &[f32], w: &[f32], d_prev: &mut [f32], m: usize, n: usize, k: usize) {
        let mut i = 0;
        while i < m {
            let mr = (m - i).min(4);
            // SAFETY: rows i..i + mr of d and d_prev exist.
            unsafe {
                if mr == 4 {
                    back_tile::<4>(d, w, d_prev, i, n, k);
                } else {
                    for r in 0..mr {
                        back_tile::<1>(d, w, d_prev, i + r, n, k);
                    }
                }
            }
            i += mr;
        }
    }

    #[target_feature(enable = "avx2,fma")]
    #[inline]
    unsafe fn back_tile<const MR: usize>(
        d: &[f32],
        w: &[f32],
        d_prev: &mut [f32],
        i0: usize,
        n: usize,
        k: usize,
    ) {
        let full = k - k % 16;
        let mut c = 0;
        while c < full {
            let mut acc = [[_mm256_setzero_ps(); 2]; MR];
            for j in 0..n {
                // SAFETY: c + 16 <= k, within row j of w.
                unsafe {
                    let pw = w[j * k + c..].as_ptr();
                    let (w0, w1) = (_mm256_loadu_ps(pw), _mm256_loadu_ps(pw.add(8)));
                    for r in 0..MR {
                        let dj = _mm256_set1_ps(d[(i0 + r) * n + j]);
                        acc[r][0] = _mm256_fmadd_ps(dj, w0, acc[r][0]);
                        acc[r][1] = _mm256_fmadd_ps(dj, w1, acc[r][1]);
                    }
                }
            }
            for r in 0..MR {
                let out = &mut d_prev[(i0 + r) * k + c..(i0 + r) * k + c + 16];
                // SAFETY: out holds 16 values.
                unsafe {
                    _mm256_storeu_ps(out.as_mut_ptr(), acc[r][0]);
                    _mm256_storeu_ps(out.as_mut_ptr().add(8), acc[r][1]);
                }
            }
            c += 16;
        }
        for r in 0..MR {
            for t in full..k {
                let mut sum = 0.0f32;
                for j in 0..n {
                    sum = d[(i0 + r) * n + j].mul_add(w[j * k + t], sum);
                }
                d_prev[(i0 + r) * k + t] = sum;
            }
        }
    }

    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn rank_update(
        c: &[f32],
        a: &[f32],
        w: &mut [f32],
        m: usize,
        n: usize,
        k: usize,
        rows: Range<usize>,
    ) {
        let mut j = rows.start;
        while j < rows.end {
            let nr = (rows.end - j).min(4);
            // SAFETY: rows j..j + nr of w exist.
            unsafe {
                if nr == 4 {
                    update_tile::<4>(c, a, w, j, rows.start, m, n, k);
                } else {
                    for s in 0..nr {
                        update_tile::<1>(c, a, w, j + s, rows.start, m, n, k);
                    }
                }
            }
            j += nr;
        }
    }

    #[target_feature(enable = "avx2,fma")]
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
    ) {
        let full = k - k % 16;
        let mut col = 0;
        while col < full {
            // SAFETY: col + 16 <= k, within each row of w and a.
            unsafe {
                let pw: [*mut f32; NR] =
                    std::array::from_fn(|s| w[(j0 - base + s) * k + col..].as_mut_ptr());
                let mut acc: [[__m256; 2]; NR] = std::array::from_fn(|s| {
                    [_mm256_loadu_ps(pw[s]), _mm256_loadu_ps(pw[s].add(8))]
                });
                for i in 0..m {
                    let pa = a[i * k + col..].as_ptr();
                    let (a0, a1) = (_mm256_loadu_ps(pa), _mm256_loadu_ps(pa.add(8)));
                    for s in 0..NR {
                        let cij = _mm256_set1_ps(c[i * n + j0 + s]);
                        acc[s][0] = _mm256_fmadd_ps(cij, a0, acc[s][0]);
                        acc[s][1] = _mm256_fmadd_ps(cij, a1, acc[s][1]);
                    }
                }
                for s in 0..NR {
                    _mm256_storeu_ps(pw[s], acc[s][0]);
                    _mm256_storeu_ps(pw[s].add(8), acc[s][1]);
                }
            }
            col += 16;
        }
        for s in 0..NR {
            for t in full..k {
                let mut sum = w[(j0 - base + s) * k + t];
                for i in 0..m {
                    sum = c[i * n + j0 + s].mul_add(a[i * k + t], sum);
                }
                w[(j0 - base + s) * k + t] = sum;
            }
        }
    }
}

/// a·b + c, fused where the instruction exists (plain `mul_add` would be a
/// slow library call without it).
#[inline(always)]
fn madd<F: Float, const FMA: bool>(a: F, b: F, c: F) -> F {
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
fn affine_impl<F: Float, const FMA: bool>(
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
fn back_impl<F: Float, const FMA: bool>(
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
fn rank_update_impl<F: Float, const FMA: bool>(
    c: &[F],
    a: &[F],
    w: &mut [F],
    m: usize,
    n: usize,
    k: usize,
    rows: Range<usize>,
) {
    // Four weight rows × two LANES-wide column chunks held in registers while
    // every example's contribution is added; each row is read and written once.
    let mut j = rows.start;
    while j < rows.end {
        let nr = (rows.end - j).min(4);
        match nr {
            4 => update_tile::<F, FMA, 4>(c, a, w, j, rows.start, m, n, k),
            _ => {
                (0..nr).for_each(|s| update_tile::<F, FMA, 1>(c, a, w, j + s, rows.start, m, n, k))
            }
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
) {
    const KC: usize = 2 * LANES;
    let full = k - k % KC;
    let row = |s: usize| (j0 - base + s) * k;
    let mut col = 0;
    while col < full {
        let mut acc = [[F::zero(); KC]; NR];
        for s in 0..NR {
            acc[s].copy_from_slice(&w[row(s) + col..row(s) + col + KC]);
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
            let mut sum = w[row(s) + t];
            for i in 0..m {
                sum = madd::<F, FMA>(c[i * n + j0 + s], a[i * k + t], sum);
            }
            w[row(s) + t] = sum;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
    const SHAPES: [(usize, usize, usize); 5] =
        [(1, 1, 1), (3, 5, 7), (10, 30, 784), (7, 10, 30), (5, 9, 37)];

    /// The f32 kernels (AVX2 where the processor has it) against an f64
    /// reference, to f32 rounding.
    #[test]
    fn f32_kernels_match_the_naive_products() {
        let narrow = |v: &[f64]| v.iter().map(|&x| x as f32).collect::<Vec<f32>>();
        let wide = |v: &[f32]| v.iter().map(|&x| x as f64).collect::<Vec<f64>>();
        let near = |p: &[f32], q: &[f64], scale: usize| {
            for (i, (&x, &y)) in p.iter().zip(q).enumerate() {
                assert!(
                    (x as f64 - y).abs() <= 1e-6 * scale as f64,
                    "entry {i}: {x} vs {y}"
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
            affine(&a, &w, &b, &mut z, m, n, k);
            let mut z64 = vec![0.0; m * n];
            affine(&wide(&a), &wide(&w), &wide(&b), &mut z64, m, n, k);
            near(&z, &z64, k);

            let d = narrow(&values(m * n, 4));
            let mut out = vec![0.0f32; m * k];
            back(&d, &w, &mut out, m, n, k);
            let mut out64 = vec![0.0; m * k];
            back(&wide(&d), &wide(&w), &mut out64, m, n, k);
            near(&out, &out64, n);

            let mut w2 = w.clone();
            rank_update(&d, &a, &mut w2, m, n, k);
            let mut w64 = wide(&w);
            rank_update(&wide(&d), &wide(&a), &mut w64, m, n, k);
            near(&w2, &w64, m);
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
        let (m, n, k) = (10, 30, 784);
        for split in [0, 4, 16, 17, 30] {
            let (c, a) = (values(m * n, 9), values(m * k, 10));
            let mut whole = values(n * k, 11);
            let mut halves = whole.clone();
            rank_update(&c, &a, &mut whole, m, n, k);
            let (top, bottom) = halves.split_at_mut(split * k);
            rank_update_rows(&c, &a, top, m, n, k, 0..split);
            rank_update_rows(&c, &a, bottom, m, n, k, split..n);
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
}
