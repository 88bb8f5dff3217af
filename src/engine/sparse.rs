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

use super::kernels::{self, madd};

/// Floats per chunk of a row: one AVX-512 vector, two AVX2 ones.
pub const CHUNK: usize = 16;

/// The nonzero inputs of a mini-batch, example after example in order of
/// input index: example i's are `index[starts[i]..starts[i + 1]]`, with
/// values `value[..]` (entries past the last start are stale). Every index
/// is below `k`, the inputs per example: the fill methods see to it, and
/// the kernels' unchecked loads rely on it.
///
/// The same entries input by input (`by_input`), each input's examples in
/// order, are sorted on demand: BP4 on many tiles runs over them.
#[derive(Clone, Debug)]
pub struct SparseRows<F> {
    starts: Vec<usize>,
    index: Vec<u32>,
    value: Vec<F>,
    k: usize,
    /// Entries written by `extend`, the open example's included.
    open: usize,
    by_input: ByInput<F>,
    /// Whether `by_input` holds this fill's entries.
    indexed: bool,
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
            open: 0,
            by_input: ByInput::default(),
            indexed: false,
            pixel_values: Box::new(pixel_values()),
        }
    }

    /// The entries input by input, once `index_by_input` has sorted them.
    pub fn by_input(&self) -> &ByInput<F> {
        assert!(self.indexed, "the entries are sorted by input");
        &self.by_input
    }

    /// Sorts the entries by input (a counting sort, so each input's
    /// examples stay in order), for `by_input`.
    pub fn index_by_input(&mut self) {
        let (m, k) = (self.len(), self.k);
        let by = &mut self.by_input;
        let total = self.starts[m];
        by.starts.clear();
        by.starts.resize(k + 1, 0);
        for &j in &self.index[..total] {
            by.starts[j as usize + 1] += 1;
        }
        // The running sum in a register, not reloaded from the store just made.
        let mut sum = 0;
        for start in &mut by.starts[1..] {
            sum += *start;
            *start = sum;
        }
        by.example.resize(total, 0);
        by.value.resize(total, F::zero());
        let mut next = std::mem::take(&mut by.next);
        next.clear();
        next.extend_from_slice(&by.starts[..k]);
        for i in 0..m {
            let span = self.starts[i]..self.starts[i + 1];
            for (&j, &v) in self.index[span.clone()].iter().zip(&self.value[span]) {
                let at = &mut next[j as usize];
                by.example[*at] = i as u32;
                by.value[*at] = v;
                *at += 1;
            }
        }
        by.next = next;
        by.examples = m;
        self.indexed = true;
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
        self.open = 0;
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
        self.by_input.examples = 0;
        self.indexed = false;
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
        self.by_input.examples = 0;
        self.indexed = false;
    }

    /// Clears `self` for examples of k inputs given run by run
    /// (`extend`, `end_example`).
    pub fn begin(&mut self, k: usize) {
        self.clear(k.max(1));
        self.by_input.examples = 0;
        self.indexed = false;
    }

    /// Appends to the open example the lit inputs `index` + `offset` with
    /// pixel bytes `bytes` (as values b / 255, exactly rounded).
    ///
    /// # Panics
    /// If the lengths differ or an input falls outside 0..k.
    pub fn extend(&mut self, index: &[u16], bytes: &[u8], offset: i32) {
        assert_eq!(index.len(), bytes.len(), "an index for every byte");
        let (len, n) = (self.open, index.len());
        // Room for a vector more, as the scans keep.
        if self.index.len() < len + n + CHUNK {
            let room = (len + n + CHUNK).max(2 * self.index.len());
            self.index.resize(room, 0);
            self.value.resize(room, F::zero());
        }
        // Every stored index below k, which the kernels' unchecked loads
        // rely on: checked on all of them at once, before any is counted.
        let k = u32::try_from(self.k).unwrap_or(u32::MAX);
        let mut outside = false;
        for (out, &i) in self.index[len..len + n].iter_mut().zip(index) {
            let j = (i32::from(i) + offset) as u32;
            outside |= j >= k;
            *out = j;
        }
        assert!(!outside, "a lit input outside 0..{}", self.k);
        kernels::scale_bytes_generic(bytes, &mut self.value[len..len + n]);
        self.open = len + n;
    }

    /// Closes the open example: the runs given since the last.
    pub fn end_example(&mut self) {
        self.starts.push(self.open);
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
        self.by_input.examples = 0;
        self.indexed = false;
    }
}

/// A mini-batch's nonzero inputs input by input: input j's examples are
/// `example[starts[j]..starts[j + 1]]`, in order, with values `value[..]`.
/// Every example is below `examples` and every input below starts.len() − 1
/// (`index_by_input` makes them so), as the tile step's unchecked loads
/// rely on.
#[derive(Clone, Debug)]
pub struct ByInput<F> {
    starts: Vec<usize>,
    example: Vec<u32>,
    value: Vec<F>,
    examples: usize,
    /// Scratch for the sort.
    next: Vec<usize>,
}

impl<F> Default for ByInput<F> {
    fn default() -> Self {
        ByInput {
            starts: vec![0],
            example: Vec::new(),
            value: Vec::new(),
            examples: 0,
            next: Vec::new(),
        }
    }
}

impl<F> ByInput<F> {
    /// Input j's examples and values.
    pub fn input(&self, j: usize) -> (&[u32], &[F]) {
        let span = self.starts[j]..self.starts[j + 1];
        (&self.example[span.clone()], &self.value[span])
    }

    /// Inputs per example.
    pub fn k(&self) -> usize {
        self.starts.len().saturating_sub(1)
    }

    /// Whether each input, in order, is lit in some example.
    pub fn lit(&self) -> impl Iterator<Item = bool> + '_ {
        self.starts.windows(2).map(|s| s[0] != s[1])
    }

    /// Examples: every stored one is below it.
    pub fn examples(&self) -> usize {
        self.examples
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

/// A zeroed buffer of floats whose first lies on a 64-byte boundary, so
/// that every 16-lane chunk of a tile's rows (np a multiple of 16) is one
/// cache line: an unaligned vector load or store that splits two lines
/// costs two. Safe code: a `Vec` one line longer, used from the offset of
/// its first aligned element; misplaced, it would only be slower.
#[derive(Debug)]
pub struct Lines<F> {
    buf: Vec<F>,
    from: usize,
    len: usize,
}

impl<F> Default for Lines<F> {
    fn default() -> Self {
        Lines {
            buf: Vec::new(),
            from: 0,
            len: 0,
        }
    }
}

impl<F: Float> Clone for Lines<F> {
    /// A copy in a buffer of its own, aligned anew.
    fn clone(&self) -> Self {
        let mut copy = Lines::zeroed(self.len);
        copy.copy_from_slice(self);
        copy
    }
}

impl<F: Float> Lines<F> {
    pub fn zeroed(len: usize) -> Self {
        let per_line = (64 / std::mem::size_of::<F>()).max(1);
        let buf = vec![F::zero(); len + per_line];
        // The heap never moves a Vec's elements while it is not resized,
        // and this one never is.
        let from = buf.as_ptr().align_offset(64).min(per_line);
        Lines { buf, from, len }
    }
}

impl<F> std::ops::Deref for Lines<F> {
    type Target = [F];
    fn deref(&self) -> &[F] {
        &self.buf[self.from..self.from + self.len]
    }
}

impl<F> std::ops::DerefMut for Lines<F> {
    fn deref_mut(&mut self) -> &mut [F] {
        &mut self.buf[self.from..self.from + self.len]
    }
}

/// How the transposed first layer (k rows of np floats) lies in memory: in
/// tiles of neurons, each a few chunks wide. Tile t holds lanes
/// `lanes[t]..lanes[t + 1]` of every input's row, k rows of its width one
/// after another, from k · lanes[t]: the rows a lit pixel touches in one
/// tile lie in a block small enough to stay in cache while a mini-batch is
/// run through it. Thread p owns tiles `parts[p]..parts[p + 1]`, a
/// contiguous run of memory. Every lane's sums run in the same order in
/// any tile, so the layout changes no result.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Tiles {
    pub n: usize,
    pub k: usize,
    pub np: usize,
    lanes: Vec<usize>,
    parts: Vec<usize>,
}

/// A thread's tiles, as (first lane, width), and its share of the weights.
pub type Share<'a, F> = (Vec<(usize, usize)>, &'a mut [F]);

impl Tiles {
    /// Tiles for n neurons on k inputs, shared out among `threads` threads
    /// as evenly as whole chunks allow, each thread's tiles at most BLOCK
    /// chunks wide.
    pub fn new(n: usize, k: usize, threads: usize) -> Self {
        let np = padded(n);
        let chunks = np / CHUNK;
        let threads = threads.clamp(1, chunks.max(1));
        let mut lanes = vec![0];
        let mut parts = vec![0];
        for p in 0..threads {
            let (from, to) = (p * chunks / threads, (p + 1) * chunks / threads);
            let tiles = (to - from).div_ceil(BLOCK);
            for t in 0..tiles {
                let width = (to - from) / tiles + usize::from(t < (to - from) % tiles);
                lanes.push(lanes[lanes.len() - 1] + width * CHUNK);
            }
            parts.push(lanes.len() - 1);
        }
        Tiles {
            n,
            k,
            np,
            lanes,
            parts,
        }
    }

    /// Whether BP4 runs input by input (`ByInput`, see `real::sparse_tile_step`):
    /// for more than one tile, where each row's load and store, once a
    /// step, then pays for sorting the entries; one tile takes them example
    /// by example (`real::sparse_rank_update`).
    pub fn by_input(&self) -> bool {
        self.lanes.len() > 2
    }

    /// Threads the tiles are shared among.
    pub fn threads(&self) -> usize {
        self.parts.len().saturating_sub(1)
    }

    /// Where thread p's neurons begin, for p = 0 … threads (the last, n).
    pub fn neuron_parts(&self) -> Vec<usize> {
        self.parts
            .iter()
            .map(|&t| self.lanes[t].min(self.n))
            .collect()
    }

    /// The threads' first lanes, and np last: thread p has lanes
    /// `lane_parts()[p]..lane_parts()[p + 1]`.
    pub fn lane_parts(&self) -> Vec<usize> {
        self.parts.iter().map(|&t| self.lanes[t]).collect()
    }

    /// The threads' shares of `wt`, mutable, with their tiles.
    pub fn parts_mut<'a, F>(&self, wt: &'a mut [F]) -> Vec<Share<'a, F>> {
        let mut rest = &mut wt[..self.k * self.np];
        (0..self.threads())
            .map(|p| {
                let width = self.lanes[self.parts[p + 1]] - self.lanes[self.parts[p]];
                let (share, tail) = std::mem::take(&mut rest).split_at_mut(self.k * width);
                rest = tail;
                (self.spans(p), share)
            })
            .collect()
    }

    fn spans(&self, p: usize) -> Vec<(usize, usize)> {
        (self.parts[p]..self.parts[p + 1])
            .map(|t| (self.lanes[t], self.lanes[t + 1] - self.lanes[t]))
            .collect()
    }

    /// Writes w (n × k, row-major) into `wt` transposed and tiled, the
    /// padding zero.
    pub fn transpose_in<F: Float>(&self, w: &[F], wt: &mut [F]) {
        let (n, k) = (self.n, self.k);
        for t in 0..self.lanes.len() - 1 {
            let (start, width) = (self.lanes[t], self.lanes[t + 1] - self.lanes[t]);
            let tile = &mut wt[k * start..k * (start + width)];
            for (kk, row) in tile.chunks_exact_mut(width).enumerate() {
                for (l, x) in row.iter_mut().enumerate() {
                    let j = start + l;
                    *x = if j < n { w[j * k + kk] } else { F::zero() };
                }
            }
        }
    }

    /// The inverse of `transpose_in`.
    pub fn transpose_out<F: Float>(&self, wt: &[F], w: &mut [F]) {
        let (n, k) = (self.n, self.k);
        for t in 0..self.lanes.len() - 1 {
            let (start, width) = (self.lanes[t], self.lanes[t + 1] - self.lanes[t]);
            let tile = &wt[k * start..k * (start + width)];
            for (kk, row) in tile.chunks_exact(width).enumerate() {
                for (l, &x) in row.iter().enumerate().take(n.saturating_sub(start)) {
                    w[(start + l) * k + kk] = x;
                }
            }
        }
    }
}

// z[i − examples.start][j] = b[j] + Σ_k x_ik w_jk over the lit inputs of
// example i (`real::sparse_affine`) sums in four partial sums, the lit
// inputs dealt round-robin, then ((s₀ + s₁) + (s₂ + s₃)) + b: example by
// example, each holding its sums in registers. BP4 (`real::sparse_tile_step`),
// wt[k][j] → scale · wt[k][j] + Σ_i x_ik c_ij, adds the examples in order
// over the lit inputs only: input by input, each row of the tile loaded
// and stored once, momentum's step taken while it is in registers.

/// The f32 kernels for rows of up to four vectors, in AVX-512 intrinsics:
/// the same operations, in the same order, as `affine_impl` and
/// `tile_step_impl` with FMA.
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
    #[allow(clippy::too_many_arguments)]
    pub unsafe fn affine(
        x: &SparseRows<f32>,
        examples: Range<usize>,
        wt: &[f32],
        np: usize,
        n: usize,
        b: &[f32],
        z: &mut [f32],
        ldz: usize,
    ) {
        // SAFETY: np / 16 chunks, 1 to 4 (np ≤ 4·16, the caller's word), is
        // W, so rows of np ≥ 16·W floats lie where the caller's sizes put them.
        unsafe {
            match np / CHUNK {
                1 => affine_w::<1>(x, examples, wt, np, n, b, z, ldz),
                2 => affine_w::<2>(x, examples, wt, np, n, b, z, ldz),
                3 => affine_w::<3>(x, examples, wt, np, n, b, z, ldz),
                _ => affine_w::<4>(x, examples, wt, np, n, b, z, ldz),
            }
        }
    }

    /// # Safety
    /// AVX-512F; every lit index is a row of `wt` holding np ≥ 16·W floats,
    /// as `real::sparse_affine` asserts.
    #[target_feature(enable = "avx512f,avx2,fma")]
    #[inline]
    #[allow(clippy::too_many_arguments)]
    unsafe fn affine_w<const W: usize>(
        x: &SparseRows<f32>,
        examples: Range<usize>,
        wt: &[f32],
        np: usize,
        n: usize,
        b: &[f32],
        z: &mut [f32],
        ldz: usize,
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
                        z.as_mut_ptr().add(row * ldz + start),
                        m,
                        _mm512_add_ps(sum, bias),
                    );
                }
            }
        }
    }

    /// SAFETY (for callers): AVX-512F; the sizes `real::sparse_rank_update` asserts.
    #[target_feature(enable = "avx512f,avx2,fma")]
    pub unsafe fn rank_update(
        x: &SparseRows<f32>,
        c: &[f32],
        ldc: usize,
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
        // SAFETY: np / 16 chunks, 1 to 4 (np ≤ 4·16, the caller's word), is
        // W, so rows of np ≥ 16·W floats lie where the caller's sizes put them.
        unsafe {
            match np / CHUNK {
                1 => update_w::<1>(x, c, ldc, wt, np),
                2 => update_w::<2>(x, c, ldc, wt, np),
                3 => update_w::<3>(x, c, ldc, wt, np),
                _ => update_w::<4>(x, c, ldc, wt, np),
            }
        }
    }

    /// # Safety
    /// AVX-512F; every lit index is a row of `wt` holding np ≥ 16·W floats,
    /// as `real::sparse_rank_update` asserts.
    #[target_feature(enable = "avx512f,avx2,fma")]
    #[inline]
    unsafe fn update_w<const W: usize>(
        x: &SparseRows<f32>,
        c: &[f32],
        ldc: usize,
        wt: &mut [f32],
        np: usize,
    ) {
        for i in 0..x.len() {
            // SAFETY: c holds np floats at i·ldc for each example i; every index is
            // below x.k, so wt holds its row.
            unsafe {
                let ci: [__m512; W] =
                    std::array::from_fn(|cc| _mm512_loadu_ps(c.as_ptr().add(i * ldc + cc * CHUNK)));
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

    /// # Safety
    /// AVX-512F; np ≤ 4·16; rows of np floats in `w` (and `v`) for every
    /// input of `x`, and np floats at i·ldc of `c` for every example i of
    /// `x`: the sizes `real::sparse_tile_step` asserts.
    #[target_feature(enable = "avx512f,avx2,fma")]
    #[allow(clippy::too_many_arguments)]
    pub unsafe fn tile_step(
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
        // SAFETY: np / 16 chunks, 1 to 4, is W, so rows of np ≥ 16·W floats
        // lie where the caller's sizes put them.
        unsafe {
            match np / CHUNK {
                1 => tile_step_w::<1>(x, c, ldc, w, v, np, scale, decay, visit),
                2 => tile_step_w::<2>(x, c, ldc, w, v, np, scale, decay, visit),
                3 => tile_step_w::<3>(x, c, ldc, w, v, np, scale, decay, visit),
                _ => tile_step_w::<4>(x, c, ldc, w, v, np, scale, decay, visit),
            }
        }
    }

    /// The constants of a row's step.
    #[derive(Clone, Copy)]
    struct Step {
        s: __m512,
        d: __m512,
        tiny: __m512,
        scale: f32,
    }

    impl Step {
        #[target_feature(enable = "avx512f,avx2,fma")]
        fn new(scale: f32, decay: f32) -> Step {
            Step {
                s: _mm512_set1_ps(scale),
                d: _mm512_set1_ps(decay),
                tiny: _mm512_set1_ps(1e-30),
                scale,
            }
        }
    }

    /// A row in registers: v (or w, without momentum) and, with momentum, w.
    struct Row<const W: usize> {
        acc: [__m512; W],
        held: [__m512; W],
        w: *mut f32,
        v: Option<*mut f32>,
    }

    /// # Safety
    /// AVX-512F; rows of np ≥ 16·W floats in `w` (and `v`) for every input
    /// of `x`, and np floats at i·ldc of `c` for every example i, as
    /// `real::sparse_tile_step` asserts.
    #[target_feature(enable = "avx512f,avx2,fma")]
    #[inline]
    #[allow(clippy::too_many_arguments)]
    unsafe fn tile_step_w<const W: usize>(
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
        let step = Step::new(scale, decay);
        let plain = v.is_none() && scale == 1.0;
        let skip = |j: usize| !visit.needed(j) || (plain && x.input(j).0.is_empty());
        // Row j of w (and v) lies at j·np from these.
        let (w_base, v_base) = (w.as_mut_ptr(), v.map(|v| v.as_mut_ptr()));
        let (k, mut j) = (x.k(), 0);
        // Two rows at a time: each row's sum is one chain of dependent
        // multiply-adds, so two rows keep twice as many in flight; each
        // row's own operations and their order are unchanged.
        while j < k {
            if skip(j) {
                j += 1;
                continue;
            }
            let stepping = visit.stepping(!x.input(j).0.is_empty());
            let pair = j + 1 < k
                && !skip(j + 1)
                && visit.stepping(!x.input(j + 1).0.is_empty()) == stepping;
            // SAFETY: w and v hold a row of np >= 16·W floats for inputs j
            // and j + 1 (if paired), and c np floats at i·ldc for every
            // example i (the caller's word; every stored example is below
            // x.examples()).
            unsafe {
                let row = |j: usize| (w_base.add(j * np), v_base.map(|v| v.add(j * np)));
                let mut a = load_row::<W>(row(j), visit.power(j), step, stepping);
                let (ea, va) = x.input(j);
                if !stepping {
                    store_held::<W>(&a);
                    if pair {
                        store_held::<W>(&load_row::<W>(
                            row(j + 1),
                            visit.power(j + 1),
                            step,
                            false,
                        ));
                    }
                } else if pair {
                    let mut b = load_row::<W>(row(j + 1), visit.power(j + 1), step, true);
                    let (eb, vb) = x.input(j + 1);
                    let both = ea.len().min(eb.len());
                    for q in 0..both {
                        add_entry::<W>(&mut a.acc, c, ldc, ea[q], va[q]);
                        add_entry::<W>(&mut b.acc, c, ldc, eb[q], vb[q]);
                    }
                    for q in both..eb.len() {
                        add_entry::<W>(&mut b.acc, c, ldc, eb[q], vb[q]);
                    }
                    store_row::<W>(&b, step);
                    for q in both..ea.len() {
                        add_entry::<W>(&mut a.acc, c, ldc, ea[q], va[q]);
                    }
                    store_row::<W>(&a, step);
                } else {
                    for q in 0..ea.len() {
                        add_entry::<W>(&mut a.acc, c, ldc, ea[q], va[q]);
                    }
                    store_row::<W>(&a, step);
                }
            }
            j += if pair { 2 } else { 1 };
        }
    }

    /// The tile step of a thread's whole share at once (`real::sparse_share_step`):
    /// input by input, each row of every tile in turn, so that a row's
    /// entries, its skip and its count of entries are read, and the loop
    /// over them branches, once for all the tiles, not once a tile. Tiles
    /// of one width run two at a time, their sums side by side. Each row of
    /// each tile takes the same operations, in the same order, as in
    /// `tile_step`.
    /// # Safety
    /// AVX-512F; for every span (s, width) of `spans`: width a multiple of
    /// 16 in 16..=64, k·(s + width) floats in `w` (and `v`), the tile's row
    /// j at k·s + j·width; and s + width ≤ ldc, with ldc floats of `c` at
    /// i·ldc for every example i of `x` but the last, which has s + width:
    /// the sizes `real::sparse_share_step` asserts.
    #[target_feature(enable = "avx512f,avx2,fma")]
    #[allow(clippy::too_many_arguments)]
    pub unsafe fn share_step(
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
        let step = Step::new(scale, decay);
        let plain = v.is_none() && scale == 1.0;
        let k = x.k();
        // Neighbouring tiles of one width, paired: (width, first, second).
        let mut groups = Vec::with_capacity(spans.len());
        let mut t = 0;
        while t < spans.len() {
            let (s, width) = spans[t];
            let next = spans.get(t + 1).filter(|&&(_, wd)| wd == width);
            groups.push((width, s, next.map(|&(s2, _)| s2)));
            t += if next.is_some() { 2 } else { 1 };
        }
        let (w_base, v_base) = (w.as_mut_ptr(), v.map(|v| v.as_mut_ptr()));
        for j in 0..k {
            let (e, value) = x.input(j);
            if !visit.needed(j) || (plain && e.is_empty()) {
                continue;
            }
            let (power, stepping) = (visit.power(j), visit.stepping(!e.is_empty()));
            for &(width, a, b) in &groups {
                // Row j of the tile at lane s: k·s + j·width into w (and v).
                let row = |s: usize| {
                    let at = k * s + j * width;
                    // SAFETY: at + width ≤ k·(s + width) floats, inside w
                    // (and v) for every span (this function's contract).
                    unsafe { (w_base.add(at), v_base.map(|v| v.add(at))) }
                };
                let lanes = |s: usize| c.get(s..).unwrap_or(&[]);
                let tiles = (row(a), lanes(a), b.map(|b| (row(b), lanes(b))));
                // SAFETY: the rows hold `width` floats, width / 16 chunks
                // from 1 to 4 (this function's contract), and c each tile's
                // lanes at i·ldc for every example i.
                unsafe {
                    match width / CHUNK {
                        1 => tiles_row::<1>(tiles, ldc, e, value, power, step, stepping),
                        2 => tiles_row::<2>(tiles, ldc, e, value, power, step, stepping),
                        3 => tiles_row::<3>(tiles, ldc, e, value, power, step, stepping),
                        _ => tiles_row::<4>(tiles, ldc, e, value, power, step, stepping),
                    }
                }
            }
        }
    }

    /// A tile's row, and maybe another's of the same width.
    type TileRows<'c> = (
        (*mut f32, Option<*mut f32>),
        &'c [f32],
        Option<((*mut f32, Option<*mut f32>), &'c [f32])>,
    );

    /// One row of one or two tiles: caught up, its entries added, stored.
    /// # Safety
    /// AVX-512F; the rows' pointers point at 16·W floats, and each tile's
    /// c holds 16·W floats at i·ldc for every example i of the entries.
    #[target_feature(enable = "avx512f,avx2,fma")]
    #[inline]
    #[allow(clippy::too_many_arguments)]
    unsafe fn tiles_row<const W: usize>(
        (ra, ca, b): TileRows,
        ldc: usize,
        e: &[u32],
        value: &[f32],
        power: Option<[f32; 4]>,
        step: Step,
        stepping: bool,
    ) {
        // SAFETY: the pointers and c as this function's contract says.
        unsafe {
            let mut a = load_row::<W>(ra, power, step, stepping);
            match b {
                Some((rb, cb)) => {
                    let mut b = load_row::<W>(rb, power, step, stepping);
                    if !stepping {
                        store_held::<W>(&a);
                        store_held::<W>(&b);
                        return;
                    }
                    for (&i, &xv) in e.iter().zip(value) {
                        add_entry::<W>(&mut a.acc, ca, ldc, i, xv);
                        add_entry::<W>(&mut b.acc, cb, ldc, i, xv);
                    }
                    store_row::<W>(&a, step);
                    store_row::<W>(&b, step);
                }
                None => {
                    if !stepping {
                        store_held::<W>(&a);
                        return;
                    }
                    for (&i, &xv) in e.iter().zip(value) {
                        add_entry::<W>(&mut a.acc, ca, ldc, i, xv);
                    }
                    store_row::<W>(&a, step);
                }
            }
        }
    }

    /// A row into registers; with momentum, the steps of momentum alone it
    /// owes taken there, through their `power`; then, if `scaled`, v (or w)
    /// times the scale.
    /// # Safety
    /// AVX-512F; `w` (and `v`) point at 16·W floats.
    #[target_feature(enable = "avx512f,avx2,fma")]
    #[inline]
    unsafe fn load_row<const W: usize>(
        (w, v): (*mut f32, Option<*mut f32>),
        power: Option<[f32; 4]>,
        step: Step,
        scaled: bool,
    ) -> Row<W> {
        let from = v.unwrap_or(w);
        // SAFETY: `from` (v, or w) points at 16·W floats (this function's
        // contract) and cc < W.
        let mut acc: [__m512; W] =
            std::array::from_fn(|cc| unsafe { _mm512_loadu_ps(from.add(cc * CHUNK)) });
        let mut held = [_mm512_setzero_ps(); W];
        if v.is_some() {
            // SAFETY: `w` points at 16·W floats (this function's contract)
            // and cc < W.
            held = std::array::from_fn(|cc| unsafe { _mm512_loadu_ps(w.add(cc * CHUNK)) });
            if let Some(power) = power {
                // v → A·v + B·w, w → C·v + D·w, as `tile_step_impl`.
                let [pa, pb, pc, pd] = power.map(|p| _mm512_set1_ps(p));
                for (a, h) in acc.iter_mut().zip(held.iter_mut()) {
                    let (old_v, old_w) = (*a, *h);
                    *a = flush(_mm512_fmadd_ps(pb, old_w, _mm512_mul_ps(pa, old_v)), step);
                    *h = _mm512_fmadd_ps(pc, old_v, _mm512_mul_ps(pd, old_w));
                }
            }
        }
        if scaled && step.scale != 1.0 {
            acc.iter_mut().for_each(|a| *a = _mm512_mul_ps(step.s, *a));
        }
        Row { acc, held, w, v }
    }

    /// v − decay·w, 0 where below 1e-30.
    #[target_feature(enable = "avx512f,avx2,fma")]
    #[inline]
    fn momentum(v: __m512, w: __m512, step: Step) -> __m512 {
        flush(_mm512_sub_ps(v, _mm512_mul_ps(step.d, w)), step)
    }

    /// 0 where below 1e-30.
    #[target_feature(enable = "avx512f,avx2,fma")]
    #[inline]
    fn flush(v: __m512, step: Step) -> __m512 {
        let small = _mm512_cmp_ps_mask::<_CMP_LT_OQ>(_mm512_abs_ps(v), step.tiny);
        _mm512_mask_mov_ps(v, small, _mm512_setzero_ps())
    }

    /// acc += value · (example i's row of c).
    /// # Safety
    /// AVX-512F; c holds 16·W floats at i·ldc.
    #[target_feature(enable = "avx512f,avx2,fma")]
    #[inline]
    unsafe fn add_entry<const W: usize>(
        acc: &mut [__m512; W],
        c: &[f32],
        ldc: usize,
        i: u32,
        value: f32,
    ) {
        // SAFETY: c holds 16·W floats at i·ldc (this function's contract),
        // the W chunks read.
        unsafe {
            let ci = c.as_ptr().add(i as usize * ldc);
            let value = _mm512_set1_ps(value);
            for (cc, a) in acc.iter_mut().enumerate() {
                *a = _mm512_fmadd_ps(value, _mm512_loadu_ps(ci.add(cc * CHUNK)), *a);
            }
        }
    }

    /// The row's sum into w; or with momentum, v → sum − decay·w (0 below
    /// 1e-30) and w → w + v.
    /// # Safety
    /// AVX-512F; the row's pointers point at 16·W floats.
    #[target_feature(enable = "avx512f,avx2,fma")]
    #[inline]
    unsafe fn store_row<const W: usize>(row: &Row<W>, step: Step) {
        // SAFETY: row.w and row.v point at 16·W floats (this function's
        // contract) and cc < W.
        unsafe {
            for (cc, (&a, &old)) in row.acc.iter().zip(&row.held).enumerate() {
                match row.v {
                    Some(v) => {
                        let next = momentum(a, old, step);
                        _mm512_storeu_ps(v.add(cc * CHUNK), next);
                        _mm512_storeu_ps(row.w.add(cc * CHUNK), _mm512_add_ps(old, next));
                    }
                    None => _mm512_storeu_ps(row.w.add(cc * CHUNK), a),
                }
            }
        }
    }

    /// A row caught up, stored as it is (v and w; without momentum, nothing
    /// changed).
    /// # Safety
    /// AVX-512F; the row's pointers point at 16·W floats.
    #[target_feature(enable = "avx512f,avx2,fma")]
    #[inline]
    unsafe fn store_held<const W: usize>(row: &Row<W>) {
        if let Some(v) = row.v {
            // SAFETY: row.w and v point at 16·W floats (this function's
            // contract) and cc < W.
            unsafe {
                for (cc, (&a, &h)) in row.acc.iter().zip(&row.held).enumerate() {
                    _mm512_storeu_ps(v.add(cc * CHUNK), a);
                    _mm512_storeu_ps(row.w.add(cc * CHUNK), h);
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
    #[allow(clippy::too_many_arguments)]
    pub unsafe fn affine_avx2<F: Float>(
        x: &SparseRows<F>,
        examples: Range<usize>,
        wt: &[F],
        np: usize,
        n: usize,
        b: &[F],
        z: &mut [F],
        ldz: usize,
    ) {
        affine_impl::<F, true>(x, examples, wt, np, n, b, z, ldz)
    }

    /// # Safety
    /// The processor has AVX-512F; the sizes `real::sparse_affine` asserts.
    #[target_feature(enable = "avx512f,avx2,fma")]
    #[allow(clippy::too_many_arguments)]
    pub unsafe fn affine_avx512<F: Float>(
        x: &SparseRows<F>,
        examples: Range<usize>,
        wt: &[F],
        np: usize,
        n: usize,
        b: &[F],
        z: &mut [F],
        ldz: usize,
    ) {
        affine_impl::<F, true>(x, examples, wt, np, n, b, z, ldz)
    }

    /// # Safety
    /// The processor has AVX2 and FMA; the sizes `real::sparse_rank_update`
    /// asserts.
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn rank_update_avx2<F: Float>(
        x: &SparseRows<F>,
        c: &[F],
        ldc: usize,
        wt: &mut [F],
        np: usize,
        scale: F,
    ) {
        rank_update_impl::<F, true>(x, c, ldc, wt, np, scale)
    }

    /// # Safety
    /// The processor has AVX-512F; the sizes `real::sparse_rank_update`
    /// asserts.
    #[target_feature(enable = "avx512f,avx2,fma")]
    pub unsafe fn rank_update_avx512<F: Float>(
        x: &SparseRows<F>,
        c: &[F],
        ldc: usize,
        wt: &mut [F],
        np: usize,
        scale: F,
    ) {
        rank_update_impl::<F, true>(x, c, ldc, wt, np, scale)
    }

    /// # Safety
    /// The processor has AVX2 and FMA; the sizes `real::sparse_tile_step`
    /// asserts.
    #[target_feature(enable = "avx2,fma")]
    #[allow(clippy::too_many_arguments)]
    pub unsafe fn tile_step_avx2<F: Float>(
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
        tile_step_impl::<F, true>(x, c, ldc, w, v, np, scale, decay, visit)
    }

    /// # Safety
    /// The processor has AVX-512F; the sizes `real::sparse_tile_step`
    /// asserts.
    #[target_feature(enable = "avx512f,avx2,fma")]
    #[allow(clippy::too_many_arguments)]
    pub unsafe fn tile_step_avx512<F: Float>(
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
        tile_step_impl::<F, true>(x, c, ldc, w, v, np, scale, decay, visit)
    }
}

/// Up to this many chunks of lanes are worked on at once, held in registers.
pub(super) const BLOCK: usize = 4;

#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub(super) fn affine_impl<F: Float, const FMA: bool>(
    x: &SparseRows<F>,
    examples: Range<usize>,
    wt: &[F],
    np: usize,
    n: usize,
    b: &[F],
    z: &mut [F],
    ldz: usize,
) {
    let mut start = 0;
    while start < n {
        let chunks = ((np - start) / CHUNK).min(BLOCK);
        let out = Out {
            n,
            ldz,
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
    ldz: usize,
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
            z[(i - out.examples.start) * out.ldz + j] = sum + b[j];
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

/// BP4 example by example over the lit inputs, for a tile on one row of
/// vectors at most: wt[k] → scale · wt[k] + Σ_i x_ik c_i.
#[inline(always)]
pub(super) fn rank_update_impl<F: Float, const FMA: bool>(
    x: &SparseRows<F>,
    c: &[F],
    ldc: usize,
    wt: &mut [F],
    np: usize,
    scale: F,
) {
    if scale != F::one() {
        wt.iter_mut().for_each(|w| *w = scale * *w);
    }
    for i in 0..x.len() {
        let ci = &c[i * ldc..][..np];
        let (index, value) = x.example(i);
        for (&k, &v) in index.iter().zip(value) {
            let row = &mut wt[k as usize * np..][..np];
            for (w, &cj) in row.iter_mut().zip(ci) {
                *w = madd::<F, FMA>(v, cj, *w);
            }
        }
    }
}

/// Which rows of a tile a step visits (see `real::sparse_tile_step`). With
/// momentum a step need only move the rows its mini-batch lights: each
/// other row owes the step, a step of momentum alone, and takes the k
/// steps it owes at once, through `momentum_powers`, when a forward pass
/// is about to read it, or when the engine catches every row up.
#[derive(Clone, Copy, Debug)]
pub struct Visit<'a, F> {
    /// Steps row j still owes; empty: none.
    pub owed: &'a [u32],
    /// `momentum_powers` of the steps owed, to the most any row owes.
    pub powers: &'a [[F; 4]],
    /// Whether row j is visited; empty: every row, each taking the step.
    /// Given, only the rows the mini-batch lights take the step; the
    /// others visited only catch up.
    pub needed: &'a [bool],
    /// Whether this step follows the owed ones (false: catch up only).
    pub step: bool,
}

impl<F: Copy> Visit<'_, F> {
    /// Every row, owing nothing, this step taken.
    pub fn all() -> Self {
        Visit {
            owed: &[],
            powers: &[],
            needed: &[],
            step: true,
        }
    }

    /// Whether every step owed has its power: what the kernels index.
    pub fn powers_cover_owed(&self) -> bool {
        self.owed
            .iter()
            .all(|&k| k == 0 || (k as usize) < self.powers.len())
    }

    /// Row j's k steps owed, as the power M^k of one step (none if k = 0).
    fn power(&self, j: usize) -> Option<[F; 4]> {
        match self.owed.get(j).copied().unwrap_or(0) {
            0 => None,
            k => Some(self.powers[k as usize]),
        }
    }

    fn needed(&self, j: usize) -> bool {
        self.needed.get(j).copied().unwrap_or(true)
    }

    /// Whether a visited row, `lit` by the mini-batch or not, takes the
    /// step after catching up.
    fn stepping(&self, lit: bool) -> bool {
        self.step && (lit || self.needed.is_empty())
    }
}

/// Momentum's step on a row that no example lights is linear in (v, w):
/// v → s·v − d·w, w → w + v = s·v + (1 − d)·w, with s the scale and d the
/// decay, i.e. (v, w) → M (v, w) for M = [[s, −d], [s, 1 − d]]. k such
/// steps are M^k; this gives M^0 … M^up_to as [A, B, C, D] for
/// v → A·v + B·w and w → C·v + D·w, multiplied out in f64, so that a row
/// owing k steps takes them in four multiplies a lane, rounded once,
/// instead of 7k (the velocity is set to 0 below 1e-30 after, not
/// between). With no decay B = 0 and D = 1 exactly.
pub fn momentum_powers<F: Float>(scale: F, decay: F, up_to: usize) -> Vec<[F; 4]> {
    let (s, d) = (scale.to_f64().unwrap_or(1.0), decay.to_f64().unwrap_or(0.0));
    let mut p = [1.0f64, 0.0, 0.0, 1.0];
    (0..=up_to)
        .map(|_| {
            let out = p.map(|x| F::from(x).unwrap_or_else(F::zero));
            let [a, b, c, e] = p;
            p = [
                s * a - d * c,
                s * b - d * e,
                s * a + (1.0 - d) * c,
                s * b + (1.0 - d) * e,
            ];
            out
        })
        .collect()
}

/// BP4 and the step for a tile of the transposed weights, input row by
/// input row, each row loaded and stored once: without momentum,
/// w → scale·w + Σ_i x_ij c_i; with it, v → scale·v + Σ_i x_ij c_i, then
/// v → v − decay·w (0 below 1e-30) and w → w + v, after the steps the row
/// owes (`Visit`). Each entry sees the examples in order: the operations,
/// in their order, of a rank update over the whole tile followed by
/// `kernels::momentum_step`, once a step.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub(super) fn tile_step_impl<F: Float, const FMA: bool>(
    x: &ByInput<F>,
    c: &[F],
    ldc: usize,
    w: &mut [F],
    mut v: Option<&mut [F]>,
    np: usize,
    scale: F,
    decay: F,
    visit: Visit<F>,
) {
    let tiny = F::from(1e-30).unwrap_or_else(F::min_positive_value);
    let mut acc = [F::zero(); BLOCK * CHUNK];
    let mut held = [F::zero(); BLOCK * CHUNK];
    // The steps of momentum alone a row owes, at once: (v, w) → M^k (v, w).
    let alone = |acc: &mut [F], held: &mut [F], [pa, pb, pc, pd]: [F; 4]| {
        for (a, w) in acc.iter_mut().zip(held.iter_mut()) {
            let (old_v, old_w) = (*a, *w);
            let mut next = madd::<F, FMA>(pb, old_w, pa * old_v);
            if next.abs() < tiny {
                next = F::zero();
            }
            *a = next;
            *w = madd::<F, FMA>(pc, old_v, pd * old_w);
        }
    };
    for j in 0..x.k() {
        let (examples, values) = x.input(j);
        if !visit.needed(j) || (v.is_none() && examples.is_empty() && scale == F::one()) {
            continue;
        }
        for start in (0..np).step_by(BLOCK * CHUNK) {
            let lanes = (np - start).min(BLOCK * CHUNK);
            let row = j * np + start..j * np + start + lanes;
            let (acc, held) = (&mut acc[..lanes], &mut held[..lanes]);
            match v.as_deref() {
                Some(v) => {
                    acc.copy_from_slice(&v[row.clone()]);
                    held.copy_from_slice(&w[row.clone()]);
                    if let Some(power) = visit.power(j) {
                        alone(acc, held, power);
                    }
                }
                None => acc.copy_from_slice(&w[row.clone()]),
            }
            let w = &mut w[row.clone()];
            if !visit.stepping(!examples.is_empty()) {
                if let Some(v) = v.as_deref_mut() {
                    v[row].copy_from_slice(acc);
                    w.copy_from_slice(held);
                }
                continue;
            }
            if scale != F::one() {
                acc.iter_mut().for_each(|a| *a = scale * *a);
            }
            for (&i, &value) in examples.iter().zip(values) {
                let ci = &c[i as usize * ldc + start..][..lanes];
                for (a, &cj) in acc.iter_mut().zip(ci) {
                    *a = madd::<F, FMA>(value, cj, *a);
                }
            }
            match v.as_deref_mut() {
                Some(v) => {
                    let rows = w
                        .iter_mut()
                        .zip(&mut v[row])
                        .zip(acc.iter().zip(held.iter()));
                    for ((w, v), (&a, &old)) in rows {
                        let mut next = a - decay * old;
                        if next.abs() < tiny {
                            next = F::zero();
                        }
                        *v = next;
                        *w = old + next;
                    }
                }
                None => w.copy_from_slice(acc),
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
        sparse_affine(&rows, 0..1, &[], 16, 1, &[0.0], &mut z, 1);
    }

    #[test]
    #[should_panic]
    fn rows_of_no_floats_are_refused() {
        let mut rows = SparseRows::<f32>::new();
        rows.fill_from_values(&[1.0], 1);
        let mut z = [0.0f32; 1];
        sparse_affine(&rows, 0..1, &[], 0, 0, &[], &mut z, 0);
    }

    /// A tile step on `values` (rows of 2 inputs), with an error matrix of
    /// `c` floats and weights (and velocities) of the given lengths, np 16.
    fn tile_step_on(values: &[f32], c: usize, w: usize, v: Option<usize>, entries: bool) {
        let mut rows = SparseRows::<f32>::new();
        rows.fill_from_values(values, 2);
        if entries {
            rows.index_by_input();
        }
        let (mut wt, mut vt) = (vec![0.0f32; w], vec![0.0f32; v.unwrap_or(0)]);
        let vt = v.map(|_| &mut vt[..]);
        let by = rows.by_input();
        sparse_tile_step(
            by,
            &vec![0.0; c],
            16,
            &mut wt,
            vt,
            16,
            0.9,
            0.0,
            Visit::all(),
        );
    }

    #[test]
    fn a_tile_step_of_the_right_sizes_runs() {
        tile_step_on(&[1.0, 0.0, 0.0, 1.0], 32, 32, Some(32), true);
    }

    #[test]
    #[should_panic]
    fn a_short_update_matrix_is_refused() {
        tile_step_on(&[1.0, 0.0], 16, 16, None, true);
    }

    #[test]
    #[should_panic]
    fn a_short_velocity_is_refused() {
        tile_step_on(&[1.0, 0.0], 16, 32, Some(16), true);
    }

    #[test]
    #[should_panic]
    fn too_few_error_rows_are_refused() {
        tile_step_on(&[1.0, 0.0, 0.0, 1.0], 16, 32, None, true);
    }

    #[test]
    #[should_panic]
    fn entries_not_sorted_by_input_are_refused() {
        tile_step_on(&[1.0, 0.0, 0.0, 1.0], 32, 32, None, false);
    }

    use super::super::real::{
        sparse_affine, sparse_rank_update, sparse_share_step, sparse_tile_step,
    };

    #[test]
    #[should_panic]
    fn a_short_update_matrix_is_refused_example_by_example() {
        let mut rows = SparseRows::<f32>::new();
        rows.fill_from_values(&[1.0, 0.0], 2);
        let mut wt = vec![0.0f32; 16];
        sparse_rank_update(&rows, &[0.0; 16], 16, &mut wt, 16, 1.0);
    }

    use super::*;

    #[test]
    fn a_share_step_is_each_tile_stepped_alone() {
        let (m, k) = (5, 13);
        let x: Vec<f32> = (0..m * k)
            .map(|i| {
                if (i * 7) % 5 < 2 {
                    (i % 9) as f32 / 9.0
                } else {
                    0.0
                }
            })
            .collect();
        let mut rows = SparseRows::<f32>::new();
        rows.fill_from_values(&x, k);
        rows.index_by_input();
        let mut blank = SparseRows::<f32>::new();
        blank.fill_from_values(&[], k);
        blank.index_by_input();
        // Paired widths and lone ones, lanes s.. of c's rows of ldc.
        let widths = [64, 64, 48, 32, 32, 16, 64];
        let spans: Vec<(usize, usize)> = widths
            .iter()
            .scan(0, |s, &wd| {
                *s += wd;
                Some((*s - wd, wd))
            })
            .collect();
        let lanes: usize = widths.iter().sum();
        let ldc = lanes + 16;
        let (c, w0, v0) = tile_data(m * ldc, k * lanes);
        let owed: Vec<u32> = (0..k as u32).map(|j| j % 3).collect();
        let needed: Vec<bool> = (0..k).map(|j| j % 4 != 1).collect();
        let powers = momentum_powers(0.9, 1e-3, 2);
        let lazy = Visit {
            owed: &owed,
            powers: &powers,
            needed: &needed,
            step: true,
        };
        let catch_up = Visit {
            owed: &owed,
            powers: &powers,
            needed: &[],
            step: false,
        };
        for (momentum, scale, decay, visit, x) in [
            (true, 0.9, 1e-3, lazy, &rows),
            (true, 0.9, 0.0, Visit::all(), &rows),
            (true, 0.9, 1e-3, catch_up, &blank),
            (false, 1.0, 0.0, Visit::all(), &rows),
            (false, 0.999, 0.0, Visit::all(), &rows),
        ] {
            let (mut w1, mut v1) = (w0.clone(), v0.clone());
            let (c1, v) = (
                if x.len() > 0 { &c[..] } else { &[] },
                momentum.then_some(&mut v1[..]),
            );
            sparse_share_step(
                x.by_input(),
                c1,
                ldc,
                &mut w1,
                v,
                &spans,
                scale,
                decay,
                visit,
            );
            let (mut w2, mut v2) = (w0.clone(), v0.clone());
            for &(s, wd) in &spans {
                let tile = k * s..k * (s + wd);
                let v = momentum.then_some(&mut v2[tile.clone()]);
                let c2 = if x.len() > 0 { &c[s..] } else { &[] };
                let w = &mut w2[tile];
                sparse_tile_step(x.by_input(), c2, ldc, w, v, wd, scale, decay, visit);
            }
            assert!(w1 != w0 || !visit.step, "the step moved w");
            assert_eq!((&w1, &v1), (&w2, &v2), "momentum {momentum}, scale {scale}");
        }
    }

    /// A tile step's −(η/m) δ of `c_len` floats, and weights and velocities
    /// of `w_len`: fixed values of both signs.
    fn tile_data(c_len: usize, w_len: usize) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
        let c = (0..c_len)
            .map(|i| ((i * 37) % 29) as f32 / 29.0 - 0.5)
            .collect();
        let w = (0..w_len)
            .map(|i| ((i * 17) % 31) as f32 / 31.0 - 0.5)
            .collect();
        let v = (0..w_len).map(|i| ((i * 5) % 7) as f32 / 70.0).collect();
        (c, w, v)
    }

    /// `t` steps of the rule, one by one in f64 as the book takes them:
    /// v → scale·v + Σ_i x_ij c_i over batch t's entries, then v − decay·w
    /// (0 below 1e-30), then w → w + v.
    fn steps_in_f64(
        batches: &[SparseRows<f32>],
        c: &[f32],
        np: usize,
        (w, v): (&[f32], &[f32]),
        (scale, decay): (f64, f64),
    ) -> (Vec<f64>, Vec<f64>) {
        let mut w: Vec<f64> = w.iter().map(|&x| x as f64).collect();
        let mut v: Vec<f64> = v.iter().map(|&x| x as f64).collect();
        for rows in batches {
            let by = rows.by_input();
            for j in 0..by.k() {
                let (examples, values) = by.input(j);
                for l in 0..np {
                    let mut next = scale * v[j * np + l];
                    for (&i, &x) in examples.iter().zip(values) {
                        next += x as f64 * c[i as usize * np + l] as f64;
                    }
                    next -= decay * w[j * np + l];
                    v[j * np + l] = if next.abs() < 1e-30 { 0.0 } else { next };
                    w[j * np + l] += v[j * np + l];
                }
            }
        }
        (w, v)
    }

    /// Rows a mini-batch leaves dark owe its step; some catch up at once
    /// (as rows the next mini-batch lights do), the rest at the end,
    /// through the powers of the step: kernel and plain code give the same
    /// bits; rows lit every time (0, 4, 8) give the bits of rows stepped
    /// every time; rows that owed are as close to the rule taken in f64
    /// as those stepped.
    #[test]
    fn owed_steps_caught_up_are_the_steps_taken() {
        let (m, k, np) = (4, 9, 32);
        let mut batches = Vec::new();
        for t in 0..6 {
            let x: Vec<f32> = (0..m * k)
                .map(|i| {
                    let (example, j) = (i / k, i % k);
                    if (i * 5 + t * 3) % 7 == 0 || (j % 4 == 0 && example == t % m) {
                        (i % 11 + 1) as f32 / 12.0
                    } else {
                        0.0
                    }
                })
                .collect();
            let mut rows = SparseRows::<f32>::new();
            rows.fill_from_values(&x, k);
            rows.index_by_input();
            batches.push(rows);
        }
        let (c, w0, v0) = tile_data(m * np, k * np);
        let (scale, decay) = (0.9, 1e-3);
        let powers = momentum_powers(scale, decay, batches.len());
        let (mut w, mut v) = (w0.clone(), v0.clone());
        for rows in &batches {
            let vt = Some(&mut v[..]);
            let by = rows.by_input();
            sparse_tile_step(by, &c, np, &mut w, vt, np, scale, decay, Visit::all());
        }
        let fma = super::super::kernels::simd() != super::super::kernels::Simd::Portable;
        let mut blank = SparseRows::<f32>::new();
        blank.fill_from_values(&[], k);
        blank.index_by_input();
        // The kernel the processor runs, then the plain code.
        let mut lazy = Vec::new();
        for plain in [false, true] {
            let (mut lazy_w, mut lazy_v) = (w0.clone(), v0.clone());
            let mut owed = vec![0u32; k];
            let last = batches.len() + 1;
            for (t, rows) in batches.iter().chain([&blank]).enumerate() {
                // Step the rows this batch lights, catch up those the next
                // lights; at the end, catch every row up.
                let lit_in =
                    |rows: &SparseRows<f32>, j: usize| !rows.by_input().input(j).0.is_empty();
                let lit = |j: usize| lit_in(rows, j);
                let next = batches.get(t + 1).unwrap_or(&blank);
                if t + 1 < last {
                    for (j, o) in owed.iter_mut().enumerate() {
                        assert!(!lit(j) || *o == 0);
                        *o += u32::from(!lit(j));
                    }
                }
                let needed: Vec<bool> = (0..k).map(|j| lit(j) || lit_in(next, j)).collect();
                let visit = Visit {
                    owed: &owed,
                    powers: &powers,
                    needed: if t + 1 < last { &needed } else { &[] },
                    step: t + 1 < last,
                };
                let (vt, by) = (Some(&mut lazy_v[..]), rows.by_input());
                let w = &mut lazy_w;
                match (plain, fma) {
                    (false, _) => sparse_tile_step(by, &c, np, w, vt, np, scale, decay, visit),
                    (true, true) => {
                        tile_step_impl::<f32, true>(by, &c, np, w, vt, np, scale, decay, visit)
                    }
                    (true, false) => {
                        tile_step_impl::<f32, false>(by, &c, np, w, vt, np, scale, decay, visit)
                    }
                }
                for (o, &n) in owed.iter_mut().zip(&needed) {
                    if n || t + 1 == last {
                        *o = 0;
                    }
                }
                if t + 2 == last {
                    assert!(owed.iter().any(|&o| o > 2), "some row owes steps");
                }
            }
            lazy.push((lazy_w, lazy_v));
        }
        assert_eq!(lazy[0], lazy[1], "kernel and plain code");
        let (lazy_w, lazy_v) = &lazy[0];
        let (exact_w, exact_v) = steps_in_f64(&batches, &c, np, (&w0, &v0), (0.9, 1e-3));
        let never_owed = |at: usize| (at / np).is_multiple_of(4);
        let mut owed_rows = 0;
        for at in 0..k * np {
            if never_owed(at) {
                assert_eq!((lazy_w[at], lazy_v[at]), (w[at], v[at]), "row {}", at / np);
                continue;
            }
            owed_rows += 1;
            for (name, lazy, stepped, exact) in [
                ("w", lazy_w[at], w[at], exact_w[at]),
                ("v", lazy_v[at], v[at], exact_v[at]),
            ] {
                // Both within a few roundings of the f64 rule: every term
                // of these sums (w, v, x, c and their products) is below 1.
                let tol = 4.0 * f32::EPSILON as f64;
                let (lazy_err, stepped_err) = (lazy as f64 - exact, stepped as f64 - exact);
                assert!(
                    lazy_err.abs() <= tol && stepped_err.abs() <= tol,
                    "{name} of row {}: lazy {lazy_err:e}, stepped {stepped_err:e}",
                    at / np
                );
            }
        }
        assert!(owed_rows > 0);
    }

    /// k steps owed, taken at once through the k-th power, are the k steps
    /// of the rule taken one by one in f64 to a few roundings, up to
    /// velocities that decay past 1e-30 and are 0.
    #[test]
    fn many_steps_owed_are_the_steps_one_by_one() {
        let np = 48;
        let (_, w0, v0) = tile_data(0, np);
        let mut blank = SparseRows::<f32>::new();
        blank.fill_from_values(&[], 1);
        blank.index_by_input();
        // Under Miri (the powers' indexing, no unsafe code) a few.
        let counts: &[u32] = if cfg!(miri) {
            &[1, 2, 7]
        } else {
            &[1, 2, 7, 100, 1200]
        };
        let most = counts.iter().copied().max().unwrap_or(0) as usize;
        for (scale, decay) in [(0.9f32, 0.0f32), (0.9, 1e-3), (0.5, 1e-4)] {
            let powers = momentum_powers(scale, decay, most);
            let exact_powers = momentum_powers(scale as f64, decay as f64, most);
            for &steps in counts {
                let (mut w, mut v) = (w0.clone(), v0.clone());
                let visit = Visit {
                    owed: &[steps],
                    powers: &powers,
                    needed: &[],
                    step: false,
                };
                let vt = Some(&mut v[..]);
                sparse_tile_step(
                    blank.by_input(),
                    &[],
                    np,
                    &mut w,
                    vt,
                    np,
                    scale,
                    decay,
                    visit,
                );
                let one_by_one = vec![blank.clone(); steps as usize];
                let rule = (scale as f64, decay as f64);
                let (exact_w, exact_v) = steps_in_f64(&one_by_one, &[], np, (&w0, &v0), rule);
                let [a, b, c, d] = exact_powers[steps as usize].map(f64::abs);
                for l in 0..np {
                    // A few roundings of the sums' terms, A·v and B·w, C·v and D·w.
                    let (v0, w0) = (v0[l].abs() as f64, w0[l].abs() as f64);
                    let tol_v = 4.0 * f32::EPSILON as f64 * (a * v0 + b * w0);
                    let tol_w = 4.0 * f32::EPSILON as f64 * (c * v0 + d * w0);
                    let what =
                        format_args!("scale {scale}, decay {decay}, {steps} steps, lane {l}");
                    let err_w = (w[l] as f64 - exact_w[l]).abs();
                    assert!(err_w <= tol_w, "w: {what}: off by {err_w:e}");
                    if exact_v[l] == 0.0 {
                        assert_eq!(v[l], 0.0, "v: {what}");
                    } else {
                        let err_v = (v[l] as f64 - exact_v[l]).abs();
                        assert!(err_v <= tol_v, "v: {what}: off by {err_v:e}");
                    }
                }
            }
        }
    }

    /// The entries input by input are those example by example, each
    /// input's examples in order.
    #[test]
    fn entries_by_input_are_the_rows_transposed() {
        let (m, k) = (7, 45);
        let values: Vec<f64> = (0..m * k)
            .map(|i| if (i * 7) % 5 < 3 { 0.0 } else { i as f64 })
            .collect();
        let mut rows = SparseRows::<f64>::new();
        rows.fill_from_values(&values, k);
        rows.index_by_input();
        let by = rows.by_input();
        assert_eq!((by.k(), by.examples()), (k, m));
        for j in 0..k {
            let expected: Vec<(u32, f64)> = (0..m)
                .filter(|&i| values[i * k + j] != 0.0)
                .map(|i| (i as u32, values[i * k + j]))
                .collect();
            let (examples, got) = by.input(j);
            let got: Vec<(u32, f64)> = examples.iter().copied().zip(got.iter().copied()).collect();
            assert_eq!(got, expected, "input {j}");
        }
    }

    /// The tile step the processor runs (AVX-512 intrinsics where it has
    /// them) gives the bits of the plain one with FMA, and with both the
    /// bits of a rank update over the rows followed by momentum's step;
    /// for tiles of one to four chunks, with and without momentum and L2.
    #[test]
    fn the_tile_step_is_the_rank_update_then_the_step() {
        let (m, k) = (6, 23);
        let x: Vec<f32> = (0..m * k)
            .map(|i| {
                if (i * 11) % 4 == 0 {
                    (i % 13) as f32 / 13.0
                } else {
                    0.0
                }
            })
            .collect();
        let mut rows = SparseRows::<f32>::new();
        rows.fill_from_values(&x, k);
        rows.index_by_input();
        // Without FMA (the portable build, or Miri) each product is rounded.
        let fma = super::super::kernels::simd() != super::super::kernels::Simd::Portable;
        for np in [16, 32, 48, 64] {
            let ldc = np + 16;
            let (c, w0, v0) = tile_data(m * ldc, k * np);
            for (momentum, scale, decay) in
                [(false, 1.0, 0.0), (false, 0.999, 0.0), (true, 0.9, 1e-3)]
            {
                // The reference: the whole tile scaled, then each example's
                // lit inputs added in order, then the step.
                let (mut w, mut v) = (w0.clone(), v0.clone());
                let target = if momentum { &mut v } else { &mut w };
                target.iter_mut().for_each(|t| *t *= scale);
                for i in 0..m {
                    let (index, value) = rows.example(i);
                    for (&j, &xv) in index.iter().zip(value) {
                        for l in 0..np {
                            let t = &mut target[j as usize * np + l];
                            *t = if fma {
                                xv.mul_add(c[i * ldc + l], *t)
                            } else {
                                xv * c[i * ldc + l] + *t
                            };
                        }
                    }
                }
                if momentum {
                    for (w, v) in w.iter_mut().zip(v.iter_mut()) {
                        let next = *v - decay * *w;
                        *v = if next.abs() < 1e-30 { 0.0 } else { next };
                        *w += *v;
                    }
                }
                let (mut w1, mut v1) = (w0.clone(), v0.clone());
                let vt = momentum.then_some(&mut v1[..]);
                sparse_tile_step(
                    rows.by_input(),
                    &c,
                    ldc,
                    &mut w1,
                    vt,
                    np,
                    scale,
                    decay,
                    Visit::all(),
                );
                let (mut w2, mut v2) = (w0.clone(), v0.clone());
                let vt = momentum.then_some(&mut v2[..]);
                let by = rows.by_input();
                if fma {
                    tile_step_impl::<f32, true>(
                        by,
                        &c,
                        ldc,
                        &mut w2,
                        vt,
                        np,
                        scale,
                        decay,
                        Visit::all(),
                    );
                } else {
                    tile_step_impl::<f32, false>(
                        by,
                        &c,
                        ldc,
                        &mut w2,
                        vt,
                        np,
                        scale,
                        decay,
                        Visit::all(),
                    );
                }
                // The example-by-example kernel, then the step, as one tile
                // trains.
                let (mut w3, mut v3) = (w0.clone(), v0.clone());
                if momentum {
                    sparse_rank_update(&rows, &c, ldc, &mut v3, np, scale);
                    super::super::real::momentum_step(&mut w3, &mut v3, decay);
                } else {
                    sparse_rank_update(&rows, &c, ldc, &mut w3, np, scale);
                }
                assert_eq!((&w3, &v3), (&w, &v), "np {np}, momentum {momentum}");
                assert_eq!(w1, w, "np {np}, momentum {momentum}");
                assert_eq!(w2, w, "np {np}, momentum {momentum}");
                assert_eq!((&v1, &v2), (&v, &v), "np {np}");
            }
        }
    }

    /// m images of k pixels: every byte value, and runs of zeros, over rows
    /// not a whole number of vectors long (for k so).
    fn every_byte(m: usize, k: usize) -> Vec<u8> {
        (0..m * k)
            .map(|i| if i % 5 < 2 { 0 } else { (i % 256) as u8 })
            .collect()
    }

    #[test]
    fn pixels_and_values_give_the_same_rows() {
        let k = 301;
        let pixels = every_byte(3, k);
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

    /// Lit pixels given run by run, with offsets, make the rows a scan of
    /// the pixels makes; and every index stays below k.
    #[test]
    fn runs_give_the_rows_of_the_pixels() {
        let k = 301;
        let pixels = every_byte(3, k);
        let mut scanned = SparseRows::<f64>::new();
        scanned.fill_from_pixels(&pixels, k);
        let mut given = SparseRows::<f64>::new();
        // Stale entries from a larger fill first.
        given.fill_from_pixels(&vec![7; 5 * k], k);
        given.begin(k);
        for image in pixels.chunks(k) {
            let lit: Vec<u16> = (0..k as u16).filter(|&j| image[j as usize] != 0).collect();
            let bytes: Vec<u8> = lit.iter().map(|&j| image[j as usize]).collect();
            // Three runs, the middle one stored one lower.
            let (a, b) = (lit.len() / 3, 2 * lit.len() / 3);
            given.extend(&lit[..a], &bytes[..a], 0);
            let lower: Vec<u16> = lit[a..b].iter().map(|&j| j - 1).collect();
            given.extend(&lower, &bytes[a..b], 1);
            given.extend(&lit[b..], &bytes[b..], 0);
            given.end_example();
        }
        assert_eq!(given.len(), 3);
        for i in 0..3 {
            assert_eq!(given.example(i), scanned.example(i));
        }
        given.index_by_input();
        scanned.index_by_input();
        for j in 0..k {
            assert_eq!(given.by_input().input(j), scanned.by_input().input(j));
        }
    }

    #[test]
    #[should_panic(expected = "a lit input outside 0..4")]
    fn a_run_past_the_inputs_is_refused() {
        let mut rows = SparseRows::<f32>::new();
        rows.begin(4);
        rows.extend(&[1, 3], &[5, 5], 1);
    }

    #[test]
    #[should_panic(expected = "a lit input outside 0..4")]
    fn a_run_before_the_inputs_is_refused() {
        let mut rows = SparseRows::<f32>::new();
        rows.begin(4);
        rows.extend(&[0, 3], &[5, 5], -1);
    }

    #[test]
    fn transposes_are_inverse() {
        // One tile: the plain transpose, rows of np.
        let (n, k) = (19, 7);
        let w: Vec<f64> = (0..n * k).map(|i| i as f64).collect();
        let tiles = Tiles::new(n, k, 1);
        let mut wt = vec![f64::NAN; k * padded(n)];
        tiles.transpose_in(&w, &mut wt);
        assert_eq!(wt[3 * padded(n) + 5], w[5 * k + 3]);
        assert!(wt[..padded(n)][n..].iter().all(|&x| x == 0.0));
        let mut back = vec![0.0; n * k];
        tiles.transpose_out(&wt, &mut back);
        assert_eq!(back, w);
        // Many tiles, shared among threads.
        for (n, threads) in [(800, 1), (800, 2), (100, 3), (17, 4), (1, 2)] {
            let w: Vec<f64> = (0..n * k).map(|i| i as f64).collect();
            let tiles = Tiles::new(n, k, threads);
            let mut wt = vec![f64::NAN; k * padded(n)];
            tiles.transpose_in(&w, &mut wt);
            assert!(wt.iter().all(|x| !x.is_nan()));
            let mut back = vec![0.0; n * k];
            tiles.transpose_out(&wt, &mut back);
            assert_eq!(back, w, "{n} neurons, {threads} threads");
            let parts = tiles.neuron_parts();
            assert_eq!((parts[0], parts[parts.len() - 1]), (0, n));
            let mut widths = 0;
            for (p, (spans, share)) in tiles.parts_mut(&mut wt).into_iter().enumerate() {
                assert!(spans.iter().all(|&(_, width)| width <= BLOCK * CHUNK));
                let width: usize = spans.iter().map(|s| s.1).sum();
                assert_eq!(share.len(), k * width);
                assert_eq!(spans[0].0.min(n), parts[p]);
                widths += width;
            }
            assert_eq!(widths, padded(n));
        }
    }

    #[test]
    fn lines_start_on_a_cache_line_and_so_do_their_clones() {
        for len in [0, 1, 17, 4099] {
            let mut a = Lines::<f32>::zeroed(len);
            assert_eq!(a.len(), len);
            assert!(a.iter().all(|&x| x == 0.0));
            assert_eq!(a.as_ptr() as usize % 64, 0, "{len} floats");
            a.iter_mut().enumerate().for_each(|(i, x)| *x = i as f32);
            let b = a.clone();
            assert_eq!(b.as_ptr() as usize % 64, 0, "a clone of {len} floats");
            assert_eq!(&*b, &*a);
        }
        let d = Lines::<f64>::zeroed(100);
        assert_eq!((d.len(), d.as_ptr() as usize % 64), (100, 0));
    }
}
