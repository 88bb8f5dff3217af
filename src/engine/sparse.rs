//! The first layer on sparse input. Four pixels in five of an MNIST digit
//! are black, and a zero input adds nothing to z = w x + b nor to BP4's
//! ∂C/∂w_jk = a_k δ_j, so the first layer's two products need only visit
//! the lit pixels: a fifth of the work of the dense products.
//!
//! For that the first layer's weights are kept transposed while training,
//! one row per input k holding w_jk for every neuron j (padded to a whole
//! number of vectors), so a lit pixel touches one contiguous row.
//! Every sum runs in an order fixed by the input alone: results do not
//! depend on the threads, nor on the instruction set beyond FMA's presence.

use std::ops::Range;

use ndarray::NdFloat as Float;

use super::kernels::madd;

/// Floats per chunk of a row: one AVX-512 vector, two AVX2 ones.
pub const CHUNK: usize = 16;

/// The nonzero inputs of a mini-batch, example after example in order of
/// input index: example i's are `index[starts[i]..starts[i + 1]]`, with
/// values `value[..]` (entries past the last start are stale). Every index
/// is below `k`, the inputs per example: the fill methods see to it, and
/// the kernels' unchecked loads rely on it.
#[derive(Clone, Debug)]
pub struct SparseRows<F> {
    starts: Vec<usize>,
    index: Vec<u32>,
    value: Vec<F>,
    k: usize,
    /// b / 255 for every byte b, made once: the portable scan's values.
    pixel_values: Box<[F; 256]>,
}

impl<F: Float> Default for SparseRows<F> {
    fn default() -> Self {
        Self::new()
    }
}

impl<F: Float> SparseRows<F> {
    /// No examples.
    pub fn new() -> Self {
        SparseRows {
            starts: vec![0],
            index: Vec::new(),
            value: Vec::new(),
            k: 0,
            pixel_values: Box::new(pixel_values()),
        }
    }

    /// Example i's lit inputs: their indices and values.
    pub fn example(&self, i: usize) -> (&[u32], &[F]) {
        let span = self.starts[i]..self.starts[i + 1];
        (&self.index[span.clone()], &self.value[span])
    }

    /// Examples held.
    pub fn len(&self) -> usize {
        self.starts.len().saturating_sub(1)
    }

    fn clear(&mut self, k: usize) {
        self.starts.clear();
        self.index.clear();
        self.value.clear();
        self.starts.push(0);
        self.k = k;
    }

    /// The rows of `values` (m × k, row-major), without their zeros.
    pub fn fill_from_values(&mut self, values: &[F], k: usize) {
        // k ≥ 1 whenever an index is stored: every index is below `self.k`.
        let k = k.max(1);
        self.clear(k);
        for row in values.chunks_exact(k) {
            for (j, &v) in row.iter().enumerate() {
                if v != F::zero() {
                    self.index.push(j as u32);
                    self.value.push(v);
                }
            }
            self.starts.push(self.index.len());
        }
    }

    /// Example count for `pixels` in images of k bytes; clears `self` for
    /// them, with room for every pixel and a vector more, so the scans
    /// write without checks (entries past the last start are stale).
    fn clear_for(&mut self, pixels: &[u8], k: usize) -> usize {
        let m = pixels.len() / k;
        self.starts.clear();
        self.starts.push(0);
        self.k = k;
        if self.index.len() < m * k + CHUNK {
            self.index.resize(m * k + CHUNK, 0);
            self.value.resize(m * k + CHUNK, F::zero());
        }
        m
    }

    /// The images `pixels` (m × k bytes), each lit pixel b as the value
    /// b / 255, exactly rounded.
    pub fn fill_from_pixels(&mut self, pixels: &[u8], k: usize) {
        let k = k.max(1);
        self.clear_for(pixels, k);
        self.fill_portably(pixels, k);
    }

    /// Inputs per example: every stored index is below it.
    pub fn k(&self) -> usize {
        self.k
    }

    /// `fill_from_pixels` in plain code, eight bytes at a time; `self` is
    /// cleared with room for every pixel.
    fn fill_portably(&mut self, pixels: &[u8], k: usize) {
        let table = &*self.pixel_values;
        let mut len = 0;
        for image in pixels.chunks_exact(k) {
            let (index, value) = (&mut self.index[..], &mut self.value[..]);
            let mut words = image.chunks_exact(8);
            let mut base = 0;
            for word in &mut words {
                let word = u64::from_le_bytes(word.try_into().unwrap_or([0; 8]));
                // The high bit of each nonzero byte.
                const LOW: u64 = 0x7f7f_7f7f_7f7f_7f7f;
                let mut lit = (((word & LOW) + LOW) | word) & !LOW;
                while lit != 0 {
                    let byte = (lit.trailing_zeros() / 8) as usize;
                    index[len] = (base + byte) as u32;
                    value[len] = table[(word >> (8 * byte)) as u8 as usize];
                    len += 1;
                    lit &= lit - 1;
                }
                base += 8;
            }
            for (j, &b) in words.remainder().iter().enumerate() {
                if b != 0 {
                    index[len] = (base + j) as u32;
                    value[len] = table[b as usize];
                    len += 1;
                }
            }
            self.starts.push(len);
        }
    }
}

impl SparseRows<f32> {
    /// `fill_from_pixels` by AVX-512's compress, sixteen pixels at a time.
    ///
    /// # Safety
    /// The processor has AVX-512F.
    #[cfg(target_arch = "x86_64")]
    pub unsafe fn fill_from_pixels_avx512(&mut self, pixels: &[u8], k: usize) {
        let k = k.max(1);
        self.clear_for(pixels, k);
        let mut len = 0;
        for image in pixels.chunks_exact(k) {
            // SAFETY: the processor has AVX-512F (the caller's word); the
            // buffers hold len + k + 16 entries (`clear_for`).
            len = unsafe { avx512::lit(image, len, &mut self.index[..], &mut self.value[..]) };
            self.starts.push(len);
        }
    }
}

/// b ↦ b / 255, exactly rounded, for every byte b.
fn pixel_values<F: Float>() -> [F; 256] {
    let max = F::from(255.0).unwrap_or_else(F::one);
    std::array::from_fn(|b| F::from(b).unwrap_or_else(F::zero) / max)
}

/// Row length of the transposed weights for n neurons: whole chunks.
pub fn padded(n: usize) -> usize {
    n.div_ceil(CHUNK) * CHUNK
}

/// Writes w (n × k, row-major) into `wt` as its transpose (k × np), the
/// padding zero.
pub fn transpose_in<F: Float>(w: &[F], n: usize, k: usize, wt: &mut [F]) {
    let np = padded(n);
    for (kk, row) in wt[..k * np].chunks_exact_mut(np).enumerate() {
        for (j, x) in row.iter_mut().enumerate() {
            *x = if j < n { w[j * k + kk] } else { F::zero() };
        }
    }
}

/// The inverse of `transpose_in`.
pub fn transpose_out<F: Float>(wt: &[F], n: usize, k: usize, w: &mut [F]) {
    let np = padded(n);
    for (kk, row) in wt[..k * np].chunks_exact(np).enumerate() {
        for (j, &x) in row[..n].iter().enumerate() {
            w[j * k + kk] = x;
        }
    }
}

// z[i − examples.start][j] = b[j] + Σ_k x_ik w_jk over the lit inputs of
// example i (`real::sparse_affine`) sums in four partial sums, the lit
// inputs dealt round-robin, then ((s₀ + s₁) + (s₂ + s₃)) + b. BP4
// (`real::sparse_rank_update`), wt[k][j] → scale · wt[k][j] + Σ_i x_ik c_ij,
// adds the examples in order over the lit inputs only.

/// The f32 kernels for rows of up to four vectors, in AVX-512 intrinsics:
/// the same operations, in the same order, as `affine_impl` and
/// `rank_update_impl` with FMA.
#[cfg(target_arch = "x86_64")]
pub(super) mod avx512 {
    use super::*;
    use std::arch::x86_64::*;

    /// Lanes 0..len of a vector.
    fn mask(len: usize) -> __mmask16 {
        ((1u32 << len.min(16)) - 1) as __mmask16
    }

    /// Appends the lit pixels of `image` at `len` of `index` and `value`
    /// (room for image.len() + 16 more): their indices and values b / 255,
    /// computed as `scale_bytes` does. Returns the new length.
    /// SAFETY (for callers): AVX-512F.
    #[target_feature(enable = "avx512f,avx2,fma")]
    pub unsafe fn lit(image: &[u8], mut len: usize, index: &mut [u32], value: &mut [f32]) -> usize {
        let (max, inverse) = (_mm512_set1_ps(255.0), _mm512_set1_ps(1.0 / 255.0));
        let iota = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
        let mut start = 0;
        while start < image.len() {
            let mut tail = [0u8; CHUNK];
            let bytes = match image.get(start..start + CHUNK) {
                Some(bytes) => bytes,
                None => {
                    tail[..image.len() - start].copy_from_slice(&image[start..]);
                    &tail[..]
                }
            };
            assert!(len + CHUNK <= index.len() && len + CHUNK <= value.len());
            // SAFETY: `bytes` holds 16 bytes; index and value hold 16 more
            // entries from len (asserted).
            unsafe {
                let b = _mm512_cvtepu8_epi32(_mm_loadu_si128(bytes.as_ptr().cast()));
                let lit = _mm512_test_epi32_mask(b, b);
                if lit != 0 {
                    let k = _mm512_add_epi32(iota, _mm512_set1_epi32(start as i32));
                    let b = _mm512_cvtepi32_ps(b);
                    let q = _mm512_mul_ps(b, inverse);
                    let v = _mm512_fmadd_ps(_mm512_fnmadd_ps(q, max, b), inverse, q);
                    let k = _mm512_maskz_compress_epi32(lit, k);
                    let v = _mm512_maskz_compress_ps(lit, v);
                    _mm512_storeu_si512(index.as_mut_ptr().add(len).cast(), k);
                    _mm512_storeu_ps(value.as_mut_ptr().add(len), v);
                    len += lit.count_ones() as usize;
                }
            }
            start += CHUNK;
        }
        len
    }

    /// SAFETY (for callers): AVX-512F; the sizes `super::affine` asserts.
    #[target_feature(enable = "avx512f,avx2,fma")]
    pub unsafe fn affine(
        x: &SparseRows<f32>,
        examples: Range<usize>,
        wt: &[f32],
        np: usize,
        n: usize,
        b: &[f32],
        z: &mut [f32],
    ) {
        // SAFETY: as the caller's.
        unsafe {
            match np / CHUNK {
                1 => affine_w::<1>(x, examples, wt, np, n, b, z),
                2 => affine_w::<2>(x, examples, wt, np, n, b, z),
                3 => affine_w::<3>(x, examples, wt, np, n, b, z),
                _ => affine_w::<4>(x, examples, wt, np, n, b, z),
            }
        }
    }

    /// # Safety
    /// AVX-512F; every lit index is a row of `wt` holding np ≥ 16·W floats,
    /// as `real::sparse_affine` asserts.
    #[target_feature(enable = "avx512f,avx2,fma")]
    #[inline]
    unsafe fn affine_w<const W: usize>(
        x: &SparseRows<f32>,
        examples: Range<usize>,
        wt: &[f32],
        np: usize,
        n: usize,
        b: &[f32],
        z: &mut [f32],
    ) {
        for i in examples.clone() {
            let (index, value) = x.example(i);
            let row = i - examples.start;
            let mut sums = [[_mm512_setzero_ps(); W]; 4];
            let mut q = 0;
            // SAFETY: every index is a row of wt (asserted), of np >= 16·W floats.
            unsafe {
                let add = |sum: &mut [__m512; W], k: u32, v: f32| {
                    let row = wt.as_ptr().add(k as usize * np);
                    let v = _mm512_set1_ps(v);
                    for (c, s) in sum.iter_mut().enumerate() {
                        *s = _mm512_fmadd_ps(v, _mm512_loadu_ps(row.add(c * CHUNK)), *s);
                    }
                };
                while q + 4 <= index.len() {
                    for (p, sum) in sums.iter_mut().enumerate() {
                        add(sum, index[q + p], value[q + p]);
                    }
                    q += 4;
                }
                for (p, sum) in sums.iter_mut().enumerate().take(index.len() - q) {
                    add(sum, index[q + p], value[q + p]);
                }
                #[allow(clippy::needless_range_loop)]
                for c in 0..W {
                    let start = c * CHUNK;
                    if start >= n {
                        break;
                    }
                    let m = mask(n - start);
                    let sum = _mm512_add_ps(
                        _mm512_add_ps(sums[0][c], sums[1][c]),
                        _mm512_add_ps(sums[2][c], sums[3][c]),
                    );
                    let bias = _mm512_maskz_loadu_ps(m, b.as_ptr().add(start));
                    _mm512_mask_storeu_ps(
                        z.as_mut_ptr().add(row * n + start),
                        m,
                        _mm512_add_ps(sum, bias),
                    );
                }
            }
        }
    }

    /// SAFETY (for callers): AVX-512F; the sizes `super::rank_update` asserts.
    #[target_feature(enable = "avx512f,avx2,fma")]
    pub unsafe fn rank_update(
        x: &SparseRows<f32>,
        c: &[f32],
        wt: &mut [f32],
        np: usize,
        scale: f32,
    ) {
        if scale != 1.0 {
            let s = _mm512_set1_ps(scale);
            for chunk in wt.chunks_exact_mut(CHUNK) {
                // SAFETY: the chunk holds 16 floats.
                unsafe {
                    let w = _mm512_loadu_ps(chunk.as_ptr());
                    _mm512_storeu_ps(chunk.as_mut_ptr(), _mm512_mul_ps(s, w));
                }
            }
        }
        // SAFETY: as the caller's.
        unsafe {
            match np / CHUNK {
                1 => update_w::<1>(x, c, wt, np),
                2 => update_w::<2>(x, c, wt, np),
                3 => update_w::<3>(x, c, wt, np),
                _ => update_w::<4>(x, c, wt, np),
            }
        }
    }

    /// # Safety
    /// AVX-512F; every lit index is a row of `wt` holding np ≥ 16·W floats,
    /// as `real::sparse_rank_update` asserts.
    #[target_feature(enable = "avx512f,avx2,fma")]
    #[inline]
    unsafe fn update_w<const W: usize>(x: &SparseRows<f32>, c: &[f32], wt: &mut [f32], np: usize) {
        for i in 0..x.len() {
            // SAFETY: c holds np floats for each example; every index is
            // below x.k, so wt holds its row.
            unsafe {
                let ci: [__m512; W] =
                    std::array::from_fn(|cc| _mm512_loadu_ps(c.as_ptr().add(i * np + cc * CHUNK)));
                let (index, value) = x.example(i);
                for (&k, &v) in index.iter().zip(value) {
                    let row = wt.as_mut_ptr().add(k as usize * np);
                    let v = _mm512_set1_ps(v);
                    for (cc, &cv) in ci.iter().enumerate() {
                        let p = row.add(cc * CHUNK);
                        _mm512_storeu_ps(p, _mm512_fmadd_ps(v, cv, _mm512_loadu_ps(p)));
                    }
                }
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
pub(super) mod x86 {
    use super::*;

    /// # Safety
    /// The processor has AVX2 and FMA; the sizes `real::sparse_affine` asserts.
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn affine_avx2<F: Float>(
        x: &SparseRows<F>,
        examples: Range<usize>,
        wt: &[F],
        np: usize,
        n: usize,
        b: &[F],
        z: &mut [F],
    ) {
        affine_impl::<F, true>(x, examples, wt, np, n, b, z)
    }

    /// # Safety
    /// The processor has AVX-512F; the sizes `real::sparse_affine` asserts.
    #[target_feature(enable = "avx512f,avx2,fma")]
    pub unsafe fn affine_avx512<F: Float>(
        x: &SparseRows<F>,
        examples: Range<usize>,
        wt: &[F],
        np: usize,
        n: usize,
        b: &[F],
        z: &mut [F],
    ) {
        affine_impl::<F, true>(x, examples, wt, np, n, b, z)
    }

    /// # Safety
    /// The processor has AVX2 and FMA; the sizes `real::sparse_rank_update`
    /// asserts.
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn rank_update_avx2<F: Float>(
        x: &SparseRows<F>,
        c: &[F],
        wt: &mut [F],
        np: usize,
        scale: F,
    ) {
        rank_update_impl::<F, true>(x, c, wt, np, scale)
    }

    /// # Safety
    /// The processor has AVX-512F; the sizes `real::sparse_rank_update`
    /// asserts.
    #[target_feature(enable = "avx512f,avx2,fma")]
    pub unsafe fn rank_update_avx512<F: Float>(
        x: &SparseRows<F>,
        c: &[F],
        wt: &mut [F],
        np: usize,
        scale: F,
    ) {
        rank_update_impl::<F, true>(x, c, wt, np, scale)
    }
}

/// Up to this many chunks of lanes are worked on at once, held in registers.
pub(super) const BLOCK: usize = 4;

#[inline(always)]
pub(super) fn affine_impl<F: Float, const FMA: bool>(
    x: &SparseRows<F>,
    examples: Range<usize>,
    wt: &[F],
    np: usize,
    n: usize,
    b: &[F],
    z: &mut [F],
) {
    let mut start = 0;
    while start < n {
        let chunks = ((np - start) / CHUNK).min(BLOCK);
        let out = Out {
            n,
            examples: examples.clone(),
        };
        match chunks {
            4 => affine_block::<F, FMA, 4>(x, wt, np, start, b, z, out),
            3 => affine_block::<F, FMA, 3>(x, wt, np, start, b, z, out),
            2 => affine_block::<F, FMA, 2>(x, wt, np, start, b, z, out),
            _ => affine_block::<F, FMA, 1>(x, wt, np, start, b, z, out),
        }
        start += chunks.max(1) * CHUNK;
    }
}

/// Which rows and columns `affine` writes.
#[derive(Clone)]
struct Out {
    n: usize,
    examples: Range<usize>,
}

/// `affine` for the W chunks of lanes from `start`.
#[inline(always)]
fn affine_block<F: Float, const FMA: bool, const W: usize>(
    x: &SparseRows<F>,
    wt: &[F],
    np: usize,
    start: usize,
    b: &[F],
    z: &mut [F],
    out: Out,
) {
    for i in out.examples.clone() {
        let (index, value) = x.example(i);
        let mut sums = [[[F::zero(); CHUNK]; W]; 4];
        let mut q = 0;
        while q + 4 <= index.len() {
            for (p, sum) in sums.iter_mut().enumerate() {
                add_row::<F, FMA, W>(sum, wt, np, start, index[q + p], value[q + p]);
            }
            q += 4;
        }
        for (p, sum) in sums.iter_mut().enumerate().take(index.len() - q) {
            add_row::<F, FMA, W>(sum, wt, np, start, index[q + p], value[q + p]);
        }
        for l in 0..W * CHUNK {
            let j = start + l;
            if j >= out.n {
                break;
            }
            let (c, e) = (l / CHUNK, l % CHUNK);
            let sum = (sums[0][c][e] + sums[1][c][e]) + (sums[2][c][e] + sums[3][c][e]);
            z[(i - out.examples.start) * out.n + j] = sum + b[j];
        }
    }
}

/// sums += v · (row k of wt, lanes `start` on): a function, not a closure,
/// so that it is always inlined into the kernel and compiled with its
/// instruction set (a closure left out of line took a libm call per fma).
#[inline(always)]
fn add_row<F: Float, const FMA: bool, const W: usize>(
    sums: &mut [[F; CHUNK]; W],
    wt: &[F],
    np: usize,
    start: usize,
    k: u32,
    v: F,
) {
    let row = &wt[k as usize * np + start..][..W * CHUNK];
    for (sum, chunk) in sums.iter_mut().zip(row.chunks_exact(CHUNK)) {
        for (s, &w) in sum.iter_mut().zip(chunk) {
            *s = madd::<F, FMA>(v, w, *s);
        }
    }
}

#[inline(always)]
pub(super) fn rank_update_impl<F: Float, const FMA: bool>(
    x: &SparseRows<F>,
    c: &[F],
    wt: &mut [F],
    np: usize,
    scale: F,
) {
    if scale != F::one() {
        wt.iter_mut().for_each(|w| *w = scale * *w);
    }
    for i in 0..x.len() {
        let ci = &c[i * np..][..np];
        let (index, value) = x.example(i);
        for (&k, &v) in index.iter().zip(value) {
            let row = &mut wt[k as usize * np..][..np];
            for (w, &cj) in row.iter_mut().zip(ci) {
                *w = madd::<F, FMA>(v, cj, *w);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    /// Sizes that once reached the kernels' unchecked loads are refused.
    #[test]
    #[should_panic]
    fn an_empty_input_width_is_refused() {
        let mut rows = SparseRows::<f32>::new();
        rows.fill_from_values(&[1.0], 0);
        let mut z = [0.0f32; 1];
        sparse_affine(&rows, 0..1, &[], 16, 1, &[0.0], &mut z);
    }

    #[test]
    #[should_panic]
    fn rows_of_no_floats_are_refused() {
        let mut rows = SparseRows::<f32>::new();
        rows.fill_from_values(&[1.0], 1);
        let mut z = [0.0f32; 1];
        sparse_affine(&rows, 0..1, &[], 0, 0, &[], &mut z);
    }

    #[test]
    #[should_panic]
    fn a_short_update_matrix_is_refused() {
        let mut rows = SparseRows::<f32>::new();
        rows.fill_from_values(&[1.0, 0.0], 2);
        let mut wt = vec![0.0f32; 16];
        sparse_rank_update(&rows, &[0.0; 16], &mut wt, 16, 1.0);
    }

    use super::super::real::{sparse_affine, sparse_rank_update};
    use super::*;

    #[test]
    fn pixels_and_values_give_the_same_rows() {
        // Every byte value, and runs of zeros, over rows not a whole number
        // of vectors long.
        let k = 301;
        let pixels: Vec<u8> = (0..3 * k)
            .map(|i| if i % 5 < 2 { 0 } else { (i % 256) as u8 })
            .collect();
        let mut from_pixels = SparseRows::<f32>::new();
        from_pixels.fill_from_pixels(&pixels, k);
        let values: Vec<f32> = pixels.iter().map(|&b| f32::from(b) / 255.0).collect();
        let mut from_values = SparseRows::<f32>::new();
        from_values.fill_from_values(&values, k);
        let mut portable = SparseRows::<f32>::new();
        portable.fill_from_pixels(&pixels, k);
        portable.starts = vec![0];
        portable.fill_portably(&pixels, k);
        assert_eq!(from_pixels.len(), 3);
        for i in 0..3 {
            assert_eq!(from_pixels.example(i), from_values.example(i));
            assert_eq!(portable.example(i), from_values.example(i));
            let lit: Vec<u32> = (0..k as u32)
                .filter(|&j| pixels[i * k + j as usize] != 0)
                .collect();
            assert_eq!(from_pixels.example(i).0, &lit[..]);
        }
    }

    #[test]
    fn transposes_are_inverse() {
        let (n, k) = (19, 7);
        let w: Vec<f64> = (0..n * k).map(|i| i as f64).collect();
        let mut wt = vec![f64::NAN; k * padded(n)];
        transpose_in(&w, n, k, &mut wt);
        assert_eq!(wt[3 * padded(n) + 5], w[5 * k + 3]);
        assert!(wt[..padded(n)][n..].iter().all(|&x| x == 0.0));
        let mut back = vec![0.0; n * k];
        transpose_out(&wt, n, k, &mut back);
        assert_eq!(back, w);
    }
}
