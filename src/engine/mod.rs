//! The engine: the book's training step (`network`, `rules`), computed
//! fast. Examples are rows; the three products of a step are fused SIMD
//! kernels (`kernels`); a small first layer trains on the lit pixels only
//! (`sparse`); and a second thread (`pool`) loads the next mini-batch and
//! takes half of the wide products. Every sum runs in an order fixed by the
//! inputs, so a model does not depend on the threads.
//!
//! Checked against the book: `tests` below take one engine step and one
//! book step under every rule and compare them in f64.

mod halves;
mod kernels;
mod owned;
pub(crate) mod pool;
mod real;
mod sparse;

use std::ops::Range;

use ndarray::{Array2, ArrayView2, ArrayViewMut2, Axis, s};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::activation::Activation;
use crate::cost::{Cost, Output};
use crate::data::Dataset;
use crate::network::{Gradient, Network, argmax};
use crate::rules::{Evaluation, Rule, Velocity};
use pool::Pool;
use sparse::{Lines, SparseRows, Tiles, Visit};

pub use real::Real;

/// Examples fed forward at once when evaluating.
const EVAL_CHUNK: usize = 1000;

impl<F: Real> Network<F> {
    /// One step on the mini-batch X = `x`, Y = `y` by `rule`. This is
    /// `backprop_batch` with examples as rows, and BP4's product added
    /// straight into the weights (or velocities) instead of kept as ∇w.
    pub(crate) fn fast_step(
        &mut self,
        x: ArrayView2<F>,
        y: ArrayView2<F>,
        rule: &Rule<F>,
        ws: &mut Trainer<F>,
    ) {
        let mut buffer = std::mem::take(&mut ws.input);
        let rows = rows_of(x, &mut buffer);
        self.update_rows(Input::Values(rows), y, rule, ws);
        ws.input = buffer;
    }

    /// `update_mini_batch_by` for a mini-batch of pixel bytes, one image of
    /// n_1 bytes after another: the input a¹ is each byte / 255.
    pub(crate) fn fast_step_pixels(
        &mut self,
        pixels: &[u8],
        y: ArrayView2<F>,
        rule: &Rule<F>,
        ws: &mut Trainer<F>,
    ) {
        assert_eq!(
            pixels.len(),
            y.ncols() * self.sizes[0],
            "one image per target"
        );
        self.update_rows(Input::Pixels(pixels), y, rule, ws);
    }

    fn update_rows(&mut self, x: Input<F>, y: ArrayView2<F>, rule: &Rule<F>, ws: &mut Trainer<F>) {
        let m = y.ncols();
        let k = self.sizes[0];
        if ws.density.is_none() {
            ws.density = Some(x.density(m * k));
        }
        self.prepare(m, rule, ws);
        let mut targets = std::mem::take(&mut ws.targets);
        let y = rows_of(y, &mut targets);
        if ws.sparse_first() {
            let first = &mut ws.buffers.first;
            let rows = &mut first.rows[first.cur];
            match x {
                Input::Values(values) => rows.fill_from_values(&values[..m * k], k),
                Input::Pixels(pixels) => real::fill_from_pixels(rows, &pixels[..m * k], k),
            }
            if first.tiles.by_input() {
                rows.index_by_input();
            }
            self.load_first(ws);
        }
        self.forward_rows(x, m, &mut ws.buffers, &ws.pool, Some(&mut ws.dropout), 0);
        let Trainer {
            buffers,
            back,
            pool,
            dropout,
            ..
        } = ws;
        self.backward(m, y, rule, &buffers.activations, back, dropout, pool);
        self.first_layer_step(x, m, rule, ws, None);
        self.store_first(ws, false);
        ws.targets = targets;
    }

    /// SGD over `batches` mini-batches, pipelined: `load(t, batch)` writes
    /// mini-batch t (its images, and its one-hot targets as rows) into
    /// buffers of the workspace's capacity and returns its size; `done`
    /// hears of each step. The steps are those of
    /// `update_mini_batch_pixels`, so is the network after them, but the
    /// helper thread loads mini-batch t + 1 (and finds its lit pixels) while
    /// this one backpropagates t. A small first layer then trains sparse on
    /// this thread; a wide one is split between the threads, each feeding
    /// t + 1 through its rows of w² just after BP4 has moved them, while they
    /// are in its cache.
    pub(crate) fn fast_steps(
        &mut self,
        batches: usize,
        load: impl Fn(usize, &mut Batch<'_, F>) -> usize + Sync,
        rule: &Rule<F>,
        ws: &mut Trainer<F>,
        done: &mut dyn FnMut() -> bool,
    ) -> usize {
        if batches == 0 {
            return 0;
        }
        let capacity = ws.capacity.max(1);
        let (k, n_out) = (self.sizes[0], self.sizes[self.layers()]);
        if ws.density.is_none() {
            // Not told the data set's: the first mini-batch's.
            let (pixels, y) = (&mut ws.pixels[0], &mut ws.target_rows[0]);
            let m = load_batch(&load, 0, pixels, y, k, None, false);
            ws.density = Some(Input::<F>::Pixels(&ws.pixels[0][..m * k]).density(m * k));
        }
        self.prepare(capacity, rule, ws);
        let sparse = ws.sparse_first();
        let shared = sparse && ws.buffers.first.tiles.threads() > 1;
        if sparse && !shared && self.backward_is_serial(capacity, &ws.pool) {
            return self.update_sparse_batches(batches, load, rule, ws, done);
        }
        if self.owns_lanes(capacity, rule, ws) {
            return self.update_owned_batches(batches, load, rule, ws, done);
        }
        let mut pixels = std::mem::take(&mut ws.pixels);
        let mut targets = std::mem::take(&mut ws.target_rows);
        let first = &mut ws.buffers.first;
        let lit = sparse.then_some((&mut first.rows[0], first.tiles.by_input()));
        let mut m = load_batch(&load, 0, &mut pixels[0], &mut targets[0], k, lit, shared);
        assert!(m <= capacity, "a mini-batch larger than the workspace");
        if sparse {
            ws.buffers.first.cur = 0;
            self.load_first(ws);
        }
        let x = Input::Pixels(&pixels[0][..m * k]);
        self.forward_rows(x, m, &mut ws.buffers, &ws.pool, Some(&mut ws.dropout), 0);
        let mut taken = batches;
        // Whether mini-batch t is fed forward only through the first layer:
        // the rest of its forward pass runs on this thread while the helper
        // loads the next (the layers after the first are small).
        let mut rest_owed = false;
        for t in 0..batches {
            let [this, next, _] = &mut pixels;
            let [y, next_y, _] = &mut targets;
            let (x, y) = (Input::Pixels(&this[..m * k]), &y[..m * n_out]);
            let mut m_next = 0;
            let more = t + 1 < batches;
            // The slot the helper fills, out of the buffers meanwhile.
            let loading = 1 - ws.buffers.first.cur;
            let mut next_rows = std::mem::take(&mut ws.buffers.first.rows[loading]);
            let by_input = ws.buffers.first.tiles.by_input();
            let mut load_next = || {
                if more {
                    let lit = sparse.then_some((&mut next_rows, by_input));
                    m_next = load_batch(&load, t + 1, next, next_y, k, lit, shared);
                }
            };
            let n = self.sizes[1];
            let Trainer {
                buffers,
                back,
                pool,
                alone,
                dropout,
                ..
            } = ws;
            if self.backward_alone(m, pool, shared) {
                // The helper loads while this thread finishes the forward
                // pass, backpropagates and, if sparse on one thread, moves
                // w² (which needs only this mini-batch).
                pool.join(load_next, || {
                    if rest_owed {
                        self.forward_rows(x, m, buffers, alone, Some(dropout), 1);
                    }
                    let activations = &buffers.activations;
                    self.backward(m, y, rule, activations, back, dropout, alone);
                    if sparse && !shared {
                        // BP4 all on this thread (`alone`): the delta is
                        // −(η/m) δ², as `backward` left it.
                        let step = Some((buffers.first.cur, rule, &back.deltas[0][..m * n]));
                        self.first_pass(buffers, step, None, alone);
                    }
                });
            } else {
                if rest_owed {
                    self.forward_rows(x, m, buffers, alone, Some(dropout), 1);
                }
                load_next();
                self.backward(m, y, rule, &buffers.activations, back, dropout, pool);
                if sparse && !shared {
                    let step = Some((buffers.first.cur, rule, &back.deltas[0][..m * n]));
                    self.first_pass(buffers, step, None, alone);
                }
            }
            ws.buffers.first.rows[loading] = next_rows;
            // Mini-batch t's masks are drawn; t + 1's will be, in this step
            // or the next.
            let drawn = ws.dropout.rng.get_word_pos();
            assert!(m_next <= capacity, "a mini-batch larger than the workspace");
            let next_x = more.then(|| (Input::Pixels(&next[..m_next * k]), m_next));
            let fused = if shared {
                // Each thread moves its tiles of w² and at once feeds the
                // next mini-batch through them, while they are in its cache.
                let cur = ws.buffers.first.cur;
                let step = Some((cur, rule, &ws.back.deltas[0][..m * n]));
                let forward = more.then_some(1 - cur);
                self.first_pass(&mut ws.buffers, step, forward, &ws.pool);
                more
            } else {
                !sparse && self.first_layer_step(x, m, rule, ws, next_x)
            };
            ws.buffers.first.cur = 1 - ws.buffers.first.cur;
            // The rest of the next forward pass waits for the next step's
            // join where that step runs its backward pass alone.
            rest_owed = fused && self.backward_alone(m_next, &ws.pool, shared);
            if let (Some((x, m)), false) = (next_x, rest_owed) {
                let from = usize::from(fused);
                let dropout = Some(&mut ws.dropout);
                self.forward_rows(x, m, &mut ws.buffers, &ws.pool, dropout, from);
            }
            pixels.swap(0, 1);
            targets.swap(0, 1);
            m = m_next;
            if !done() {
                // As if mini-batch t + 1 had not begun.
                ws.dropout.rng.set_word_pos(drawn);
                taken = t + 1;
                break;
            }
        }
        ws.pixels = pixels;
        ws.target_rows = targets;
        // An epoch run through settles what its rows owe; one stopped can go on.
        self.store_first(ws, taken == batches);
        taken
    }

    /// Copies w² into the workspace's transposed copy, if the first layer
    /// trains sparse. Rows owing steps go on owing them if the network
    /// still holds the caught-up copy `store_first` gave it.
    fn load_first(&self, ws: &mut Trainer<F>) {
        if ws.sparse_first() {
            let first = &mut ws.buffers.first;
            let w = weights_slice(&self.weights[0]);
            if first.owed.any {
                if same_bits(&first.view, w) {
                    first.active = true;
                    return;
                }
                // Moved since: the velocities catch up; w² is the network's.
                let (tiles, owed) = (&first.tiles, &mut first.owed);
                catch_up(tiles, &mut first.wt, &mut first.vt, owed, false, &ws.pool);
            }
            first.tiles.transpose_in(w, &mut first.wt);
            first.active = true;
        }
    }

    /// Copies the transposed w² back into the network. With `settle`
    /// (the end of `steps`) every row first takes the steps it owes, so
    /// that the weights and velocities are all a run needs to go on; else
    /// the network gets a caught-up copy and the rows go on owing.
    fn store_first(&mut self, ws: &mut Trainer<F>, settle: bool) {
        if ws.sparse_first() {
            let first = &mut ws.buffers.first;
            if settle {
                let (tiles, owed) = (&first.tiles, &mut first.owed);
                catch_up(tiles, &mut first.wt, &mut first.vt, owed, false, &ws.pool);
            }
            let w = self.weights[0]
                .as_slice_mut()
                .expect("weights are kept in standard layout");
            if first.owed.any {
                let (wt, _) = first.caught_up(&ws.pool);
                first.tiles.transpose_out(&wt, w);
                first.view.clear();
                first.view.extend_from_slice(w);
            } else {
                first.tiles.transpose_out(&first.wt, w);
            }
            first.active = false;
        }
    }

    /// `update_mini_batches` for a sparse first layer and a network whose
    /// other layers are too small to split: the helper loads mini-batch
    /// t + 2 (and finds its lit pixels) while this thread takes the whole
    /// step t, from BP1 to BP4, and feeds t + 1 forward.
    fn update_sparse_batches(
        &mut self,
        batches: usize,
        load: impl Fn(usize, &mut Batch<'_, F>) -> usize + Sync,
        rule: &Rule<F>,
        ws: &mut Trainer<F>,
        done: &mut dyn FnMut() -> bool,
    ) -> usize {
        let capacity = ws.capacity.max(1);
        let (n, k, n_out) = (self.sizes[1], self.sizes[0], self.sizes[self.layers()]);
        let mut pixels = std::mem::take(&mut ws.pixels);
        let mut targets = std::mem::take(&mut ws.target_rows);
        // Mini-batch t lives in slot t % 3; `sizes` holds each slot's m.
        let mut sizes = [0; 3];
        for t in 0..batches.min(2) {
            let first = &mut ws.buffers.first;
            let lit = Some((&mut first.rows[t], first.tiles.by_input()));
            sizes[t] = load_batch(&load, t, &mut pixels[t], &mut targets[t], k, lit, false);
            assert!(
                sizes[t] <= capacity,
                "a mini-batch larger than the workspace"
            );
        }
        self.load_first(ws);
        ws.buffers.first.cur = 0;
        let x = Input::Pixels(&pixels[0][..sizes[0] * k]);
        self.forward_rows(
            x,
            sizes[0],
            &mut ws.buffers,
            &ws.pool,
            Some(&mut ws.dropout),
            0,
        );
        let mut taken = batches;
        for t in 0..batches {
            // Mini-batch t's masks are drawn; t + 1's will be, in this step.
            let drawn = ws.dropout.rng.get_word_pos();
            let (this, next, loading) = (t % 3, (t + 1) % 3, (t + 2) % 3);
            let m = sizes[this];
            // The slot the helper fills, out of the arrays meanwhile.
            let mut rows = std::mem::take(&mut ws.buffers.first.rows[loading]);
            let by_input = ws.buffers.first.tiles.by_input();
            let mut bytes = std::mem::take(&mut pixels[loading]);
            let mut y_rows = std::mem::take(&mut targets[loading]);
            let mut m_loaded = 0;
            let Trainer {
                buffers,
                back,
                pool,
                alone,
                dropout,
                ..
            } = ws;
            pool.join(
                || {
                    if t + 2 < batches {
                        let lit = Some((&mut rows, by_input));
                        let (bytes, y) = (&mut bytes, &mut y_rows);
                        m_loaded = load_batch(&load, t + 2, bytes, y, k, lit, false);
                    }
                },
                || {
                    let y = &targets[this][..m * n_out];
                    self.backward(m, y, rule, &buffers.activations, back, dropout, alone);
                    let step = Some((this, rule, &back.deltas[0][..m * n]));
                    self.first_pass(buffers, step, None, alone);
                    if t + 1 < batches {
                        buffers.first.cur = next;
                        let x = Input::Pixels(&pixels[next][..sizes[next] * k]);
                        self.forward_rows(x, sizes[next], buffers, alone, Some(dropout), 0);
                    }
                },
            );
            assert!(
                m_loaded <= capacity,
                "a mini-batch larger than the workspace"
            );
            ws.buffers.first.rows[loading] = rows;
            pixels[loading] = bytes;
            targets[loading] = y_rows;
            sizes[loading] = m_loaded;
            if !done() {
                // As if mini-batch t + 1 had not begun.
                ws.dropout.rng.set_word_pos(drawn);
                taken = t + 1;
                break;
            }
        }
        ws.pixels = pixels;
        ws.target_rows = targets;
        self.store_first(ws, taken == batches);
        taken
    }

    /// Makes the workspace ready for steps on mini-batches of up to m examples.
    fn prepare(&self, m: usize, rule: &Rule<F>, ws: &mut Trainer<F>) {
        ws.reserve(&self.sizes, m);
        ws.settle_first(&self.sizes);
        if rule.momentum != F::zero() {
            ws.reserve_velocities(&self.sizes);
        }
        ws.dropout.p = rule.dropout;
    }

    /// Whether `backward` on m examples would not split any of its work.
    fn backward_is_serial(&self, m: usize, pool: &Pool) -> bool {
        pool.threads() < 2
            || self.sizes[1..]
                .windows(2)
                .all(|s| m * s[0] * s[1] < PARALLEL_MIN)
    }

    /// Whether a step on m examples runs `backward` on this thread while
    /// the helper loads: where it would not split its work, or is small
    /// beside a first layer shared out by tiles (`shared`).
    fn backward_alone(&self, m: usize, pool: &Pool, shared: bool) -> bool {
        self.backward_is_serial(m, pool) || (shared && self.backward_is_small(m))
    }

    /// `first_tiles` on the workspace's sparse first layer: with `step`
    /// (the lit inputs' slot, the rule and −(η/m) δ²), BP4 and the step;
    /// with `forward`, the mini-batch in that slot fed through the layer
    /// into a².
    fn first_pass(
        &self,
        buffers: &mut Buffers<F>,
        step: Option<(usize, &Rule<F>, &[F])>,
        forward: Option<usize>,
        pool: &Pool,
    ) {
        let Buffers {
            activations,
            first,
            split,
            ..
        } = buffers;
        let FirstLayer {
            tiles,
            wt,
            vt,
            rows,
            c,
            owed,
            ..
        } = first;
        let b = self.biases[0]
            .as_slice()
            .expect("biases are kept in standard layout");
        let forward = forward.map(|slot| Forward {
            rows: &rows[slot],
            b,
            f: (self.layers() > 1).then_some(self.activation),
            a: &mut activations[0][..rows[slot].len() * self.sizes[1]],
            split,
        });
        let step = step.map(|(slot, rule, delta)| (&rows[slot], rule, delta));
        first_tiles(tiles, wt, vt, c, owed, step, forward, pool);
    }

    /// Whether `backward` on m examples is small beside the first layer's
    /// sparse work: the layers after the first hold few weights, so their
    /// products take about as long as the helper takes to load the next
    /// mini-batch, and are better run alone meanwhile than split.
    fn backward_is_small(&self, m: usize) -> bool {
        let products: usize = self.sizes[1..].windows(2).map(|s| m * s[0] * s[1]).sum();
        products <= 1 << 21
    }

    /// The backward pass over the mini-batch fed forward, targets `y` as
    /// rows: BP1, then from the last layer down, BP2, BP3's step on the
    /// biases, and BP4's on the weights, save the first layer's weights,
    /// which `first_layer_step` moves. Leaves −(η/m) δ² for it.
    #[allow(clippy::too_many_arguments)]
    fn backward(
        &mut self,
        m: usize,
        y: &[F],
        rule: &Rule<F>,
        activations: &[Lines<F>],
        back: &mut Backward<F>,
        dropout: &Dropout<F>,
        pool: &Pool,
    ) {
        let layers = self.layers();
        let Backward {
            deltas,
            velocity_w,
            velocity_b,
        } = back;

        let n_out = self.sizes[layers];
        let a_out = &activations[layers - 1][..m * n_out];
        output_error(self.cost, a_out, y, &mut deltas[layers - 1][..m * n_out], m);

        let rate = rule.eta / F::from(m).unwrap_or_else(F::one);
        let momentum = rule.momentum != F::zero();
        for i in (0..layers).rev() {
            let (n, k) = (self.sizes[i + 1], self.sizes[i]);
            let (lower, upper) = deltas.split_at_mut(i);
            let delta = &mut upper[0][..m * n];
            if i > 0 {
                // BP2: δ^{l−1} = ((w^l)^T δ^l) ⊙ f'(z^{l−1}), before w^l moves;
                // with dropout, f' of the neuron before it was dropped, times
                // its mask (0, or 1/(1 − p) for the kept).
                let delta_prev = &mut lower[i - 1][..m * k];
                let w = weights_slice(&self.weights[i]);
                let act = self.activation;
                let dropped = dropout.p > F::zero();
                let a = if dropped {
                    &dropout.pre[i - 1][..m * k]
                } else {
                    &activations[i - 1][..m * k]
                };
                let mask = &dropout.masks.get(i - 1).map_or(&[][..], |v| &v[..])
                    [..if dropped { m * k } else { 0 }];
                let bp2 = |delta: &[F], delta_prev: &mut [F], a: &[F], mask: &[F], rows: usize| {
                    real::back(delta, w, delta_prev, rows, n, k);
                    real::bp2_finish(act, delta_prev, a, mask);
                };
                if pool.threads() > 1 && m >= 2 && m * n * k >= PARALLEL_MIN {
                    // Each thread takes its share of the examples.
                    let parts = bounds(m, pool.threads(), 1);
                    let mask_stride = if dropped { k } else { 0 };
                    let items: Vec<_> = pieces(delta, &parts, n)
                        .zip(pieces_mut(delta_prev, &parts, k))
                        .zip(pieces(a, &parts, k).zip(pieces(mask, &parts, mask_stride)))
                        .zip(parts.windows(2).map(|p| p[1] - p[0]))
                        .collect();
                    pool.scatter(items, |(((d, p), (a, mk)), rows)| bp2(d, p, a, mk, rows));
                } else {
                    bp2(delta, delta_prev, a, mask, m);
                }
            }
            // BP3 summed over the batch, Σ_x δ^l, then the step:
            // b → b − (η/m) Σ_x δ^l, or through the velocity v_b → μ v_b − (η/m) Σ_x δ^l;
            // δ^l becomes −(η/m) δ^l on the way, for BP4.
            let biases = self.biases[i]
                .as_slice_mut()
                .expect("biases are kept in standard layout");
            let v = momentum.then(|| &mut velocity_b[i][..n]);
            bias_step(biases, v, delta, rate, rule.momentum);
            // BP4 summed over the batch, Σ_x δ^l (a^{l−1})^T, added in one pass:
            // w → (1 − ηλ/n) w − (η/m) Σ_x δ^l (a^{l−1})^T, or
            // v → μ v − (η/m) Σ_x δ^l (a^{l−1})^T − (ηλ/n) w, then w → w + v.
            if i == 0 {
                break;
            }
            let a_prev = &activations[i - 1][..m * k];
            let w = self.weights[i]
                .as_slice_mut()
                .expect("weights are kept in standard layout");
            let v = momentum.then(|| &mut velocity_w[i][..n * k]);
            let delta = &*delta;
            let step = |w: &mut [F], v: Option<&mut [F]>, rows: Range<usize>| {
                bp4_rows(delta, a_prev, w, v, m, n, k, rows, rule);
            };
            if by_neurons(pool, m, n, k) {
                // Each thread updates its own rows.
                let parts = split_rows(n, pool.threads());
                let items: Vec<_> = pieces_mut(w, &parts, k)
                    .zip(option_pieces(v, &parts, k))
                    .zip(parts.windows(2).map(|p| p[0]..p[1]))
                    .collect();
                pool.scatter(items, |((w, v), rows)| step(w, v, rows));
            } else {
                step(w, v, 0..n);
            }
        }
    }

    /// BP4 for the first layer, from its input `x` and the −(η/m) δ² that
    /// `backward` left; with `next` (its input and size), the next
    /// mini-batch's first layer too where both are split between the
    /// threads: each moves its rows of w² and then feeds the next input
    /// through them, while they are in its cache. Returns whether it did.
    fn first_layer_step(
        &mut self,
        x: Input<F>,
        m: usize,
        rule: &Rule<F>,
        ws: &mut Trainer<F>,
        next: Option<(Input<F>, usize)>,
    ) -> bool {
        let (n, k) = (self.sizes[1], self.sizes[0]);
        if ws.sparse_first() {
            let step = Some((ws.buffers.first.cur, rule, &ws.back.deltas[0][..m * n]));
            self.first_pass(&mut ws.buffers, step, None, &ws.pool);
            return false;
        }
        let Trainer {
            buffers,
            back,
            pool,
            ..
        } = ws;
        let (act, last) = (self.activation, self.layers() == 1);
        let split_now = by_neurons(pool, m, n, k);
        let fused = split_now && next.is_some_and(|(_, m)| by_neurons(pool, m, n, k));
        let m_next = if fused { next.map_or(0, |(_, m)| m) } else { 0 };
        let Buffers {
            activations,
            split,
            scaled,
            helper_has_input,
            ..
        } = buffers;
        let delta = &back.deltas[0][..m * n];
        let w = self.weights[0]
            .as_slice_mut()
            .expect("weights are kept in standard layout");
        let v = (rule.momentum != F::zero()).then(|| &mut back.velocity_w[0][..n * k]);
        let b = self.biases[0]
            .as_slice()
            .expect("biases are kept in standard layout");
        // BP4 for `rows` of w² (and v), reading the input as this thread
        // converted it; then, if fused, the next mini-batch's f(w x + b) for
        // those neurons into `out`.
        let step = |w: &mut [F],
                    v: Option<&mut [F]>,
                    rows: Range<usize>,
                    buffer: &mut Vec<F>,
                    out: &mut [F]| {
            let a_prev = match x {
                Input::Values(values) => &values[..m * k],
                Input::Pixels(_) => &buffer[..m * k],
            };
            bp4_rows(delta, a_prev, w, v, m, n, k, rows.clone(), rule);
            if let (true, Some((x_next, _))) = (fused, next) {
                let input = x_next.rows(0..m_next, k, buffer);
                let b = &b[rows.clone()];
                layer_block(act, last, false, input, w, b, out, m_next, rows.len(), k);
            }
        };
        if split_now {
            let parts = split_rows(n, pool.threads());
            if !*helper_has_input && matches!(x, Input::Pixels(_)) {
                for buffer in &mut scaled[1..] {
                    x.rows(0..m, k, buffer);
                }
            }
            // If fused, each thread copies its block of the next a² into
            // its own columns, from its own cache.
            let columns = columns_mut(&mut activations[0][..m_next * n], n, &parts);
            let items: Vec<_> = pieces_mut(w, &parts, k)
                .zip(option_pieces(v, &parts, k))
                .zip(parts.windows(2).map(|p| p[0]..p[1]))
                .zip(
                    scaled
                        .iter_mut()
                        .zip(pieces_mut(&mut split[..m_next * n], &parts, m_next)),
                )
                .zip(columns)
                .collect();
            pool.scatter(items, |((((w, v), rows), (buffer, out)), columns)| {
                let width = rows.len();
                step(w, v, rows, buffer, out);
                fill_columns(columns, out, width);
            });
            *helper_has_input |= fused;
        } else {
            step(w, v, 0..n, &mut scaled[0], &mut []);
        }
        fused
    }

    /// Feeds `m` examples forward, one row each in `x` (m, n_1): a^l = f(w^l a^{l−1} + b^l)
    /// into `activations[l − 2]` (m, n_l), and z^L into `output_z`; layers
    /// before `from` only get their last touches (their f(z) is in place).
    /// With `dropout` (training), each hidden neuron is dropped with chance p
    /// and the kept scaled by 1/(1 − p) (inverted dropout), so evaluation
    /// needs no change.
    fn forward_rows(
        &self,
        x: Input<F>,
        m: usize,
        buffers: &mut Buffers<F>,
        pool: &Pool,
        mut dropout: Option<&mut Dropout<F>>,
        from: usize,
    ) {
        let layers = self.layers();
        for i in 0..layers {
            if i >= from {
                self.forward_layer(i, x, m, buffers, pool, dropout.is_some());
            }
            let n = self.sizes[i + 1];
            let a = &mut buffers.activations[i][..m * n];
            if i + 1 == layers {
                buffers.output_z[..m * n].copy_from_slice(a);
                output_layer(self.cost, a, m, n);
            } else if let Some(dropout) = dropout.as_deref_mut() {
                dropout.apply(i, a);
            }
        }
    }

    /// f(z) = f(w^l a^{l−1} + b^l) for layer index i into `activations[i]`
    /// (z for the output layer). In `training`, a split layer is always
    /// split by neurons, as BP4 splits it.
    fn forward_layer(
        &self,
        i: usize,
        x: Input<F>,
        m: usize,
        buffers: &mut Buffers<F>,
        pool: &Pool,
        training: bool,
    ) {
        let (n, k) = (self.sizes[i + 1], self.sizes[i]);
        if i == 0 && buffers.first.active {
            let cur = buffers.first.cur;
            assert_eq!(
                buffers.first.rows[cur].len(),
                m,
                "the lit inputs of this mini-batch"
            );
            self.first_pass(buffers, None, Some(cur), pool);
            return;
        }
        let Buffers {
            activations,
            split,
            scaled,
            helper_has_input,
            ..
        } = buffers;
        let (done, rest) = activations.split_at_mut(i);
        let done: &[Lines<F>] = done;
        let a = &mut rest[0][..m * n];
        let w = weights_slice(&self.weights[i]);
        let b = self.biases[i]
            .as_slice()
            .expect("biases are kept in standard layout");
        let (act, last) = (self.activation, i + 1 == self.layers());
        // The layer's input rows `rows`, read where they lie, or, for the
        // first layer, converted into `buffer` by the thread that uses them.
        let input = |rows, buffer| layer_input(x, done, i, rows, k, buffer);
        let halves = i > 0 && halves::summed_in_halves(n, k);
        let block = |x: &[F], w: &[F], b: &[F], out: &mut [F], examples: usize, neurons: usize| {
            layer_block(act, last, halves, x, w, b, out, examples, neurons, k)
        };
        let parallel = pool.threads() > 1 && m * n * k >= PARALLEL_MIN;
        let mut helper_read_all = false;
        if parallel && !training && m > n {
            // Many examples for few neurons (evaluation): each thread takes
            // its share of the examples, so each reads only its inputs.
            let parts = bounds(m, pool.threads(), 1);
            let items: Vec<_> = pieces_mut(a, &parts, n)
                .zip(parts.windows(2).map(|p| p[0]..p[1]))
                .zip(scaled.iter_mut())
                .collect();
            pool.scatter(items, |((a, rows), buffer)| {
                let examples = rows.len();
                block(input(rows, buffer), w, b, a, examples, n)
            });
        } else if by_neurons(pool, m, n, k) {
            // Each thread computes the neurons whose rows of w^l it also
            // updates in BP4, so each core keeps its share of w^l in its own
            // cache, and copies its block into its own columns of a.
            let parts = split_rows(n, pool.threads());
            let items: Vec<_> = pieces(w, &parts, k)
                .zip(pieces(b, &parts, 1))
                .zip(pieces_mut(&mut split[..m * n], &parts, m))
                .zip(scaled.iter_mut())
                .zip(columns_mut(a, n, &parts))
                .collect();
            pool.scatter(items, |((((w, b), out), buffer), columns)| {
                let neurons = b.len();
                block(input(0..m, buffer), w, b, out, m, neurons);
                fill_columns(columns, out, neurons);
            });
            helper_read_all = true;
        } else {
            block(input(0..m, &mut scaled[0]), w, b, a, m, n);
        }
        if i == 0 {
            *helper_has_input = helper_read_all;
        }
    }

    /// a^L for the mini-batch `x` (n_1, m), computed by the training kernels
    /// in `ws`: (n_L, m), one column per example.
    pub(crate) fn fast_feedforward<'w>(
        &self,
        x: ArrayView2<F>,
        ws: &'w mut Trainer<F>,
    ) -> ArrayView2<'w, F> {
        let m = x.ncols();
        ws.reserve(&self.sizes, m);
        let Trainer {
            buffers,
            input,
            pool,
            ..
        } = ws;
        let x = rows_of(x, input);
        self.forward_rows(Input::Values(x), m, buffers, pool, None, 0);
        let activations = &buffers.activations;
        let n_out = self.sizes[self.layers()];
        let out: &'w [F] = &activations[self.layers() - 1][..m * n_out];
        ArrayView2::from_shape((m, n_out), out)
            .map(|a| a.reversed_axes())
            .unwrap_or_else(|_| ArrayView2::from_shape((0, 0), &[]).expect("an empty view"))
    }

    /// How many images of `data` the network classifies right: the index of
    /// the most active output neuron equals the label.
    pub(crate) fn fast_evaluate(&self, data: &Dataset, ws: &mut Trainer<F>) -> usize {
        let mut correct = 0;
        self.for_each_chunk(data, ws, |_, a, labels| {
            correct += a
                .columns()
                .into_iter()
                .zip(labels)
                .filter(|(col, l)| argmax(*col) == **l as usize)
                .count();
        });
        correct
    }

    /// The class the network gives each image of `data`.
    pub(crate) fn fast_predictions(&self, data: &Dataset, ws: &mut Trainer<F>) -> Vec<usize> {
        let mut predictions = Vec::with_capacity(data.len());
        self.for_each_chunk(data, ws, |_, a, _| {
            predictions.extend(a.columns().into_iter().map(argmax));
        });
        predictions
    }

    /// Accuracy, mean cost and confusion matrix on `data`.
    pub(crate) fn fast_evaluate_full(&self, data: &Dataset, ws: &mut Trainer<F>) -> Evaluation {
        let n_out = *self.sizes.last().unwrap_or(&0);
        let classes = data.classes.max(n_out);
        let mut confusion = vec![vec![0; classes]; classes];
        let mut cost = 0.0;
        let mut y = Array2::zeros((n_out, EVAL_CHUNK));
        self.for_each_chunk(data, ws, |z, a, labels| {
            let m = labels.len();
            let mut y = y.slice_mut(s![.., ..m]);
            y.fill(F::zero());
            for (col, &l) in labels.iter().enumerate() {
                if (l as usize) < n_out {
                    y[[l as usize, col]] = F::one();
                }
            }
            cost += self.cost.total(z, a, y.view()).to_f64().unwrap_or(f64::NAN);
            for (col, &l) in a.columns().into_iter().zip(labels) {
                confusion[l as usize][argmax(col)] += 1;
            }
        });
        let correct = (0..classes).map(|c| confusion[c][c]).sum();
        Evaluation {
            correct,
            total: data.len(),
            mean_cost: cost / data.len().max(1) as f64,
            confusion,
        }
    }

    /// Feeds `data` forward in chunks; `f` sees z^L and a^L, each (n_L, m),
    /// and the labels of each chunk.
    /// Chunks run in the engine's evaluation buffers, on its threads.
    fn for_each_chunk(
        &self,
        data: &Dataset,
        ws: &mut Trainer<F>,
        mut f: impl FnMut(ArrayView2<F>, ArrayView2<F>, &[u8]),
    ) {
        assert_eq!(data.pixels(), self.sizes[0], "one input neuron per pixel");
        if ws.eval_sizes != self.sizes {
            ws.eval.sized(&self.sizes, EVAL_CHUNK, ws.pool.threads());
            ws.eval_sizes = self.sizes.clone();
        }
        let n_out = self.sizes[self.layers()];
        let p = data.pixels();
        // Sparse input is fed through the lit pixels only, as in training
        // (the first chunk's density decides), where the layer spans more
        // than one tile: one tile is cheaper dense, all in registers.
        let density = lit_share(&data.images[..EVAL_CHUNK.min(data.len()) * p]);
        let (n, k) = (self.sizes[1], self.sizes[0]);
        let work = (EVAL_CHUNK * n * k) as f64 * density;
        let threads = if work >= PARALLEL_MIN as f64 {
            ws.pool.threads()
        } else {
            1
        };
        let first = &mut ws.eval.first;
        if (first.tiles.n, first.tiles.k, first.tiles.threads()) != (n, k, threads) {
            first.tiles = Tiles::new(n, k, threads);
        }
        first.active = density <= SPARSE_DENSITY && first.tiles.by_input();
        if first.active {
            first
                .tiles
                .transpose_in(weights_slice(&self.weights[0]), &mut first.wt);
            first.cur = 0;
        }
        for start in (0..data.len()).step_by(EVAL_CHUNK) {
            let m = EVAL_CHUNK.min(data.len() - start);
            let bytes = &data.images[start * p..(start + m) * p];
            if ws.eval.first.active {
                real::fill_from_pixels(&mut ws.eval.first.rows[0], bytes, p);
            }
            let pixels = Input::Pixels(bytes);
            self.forward_rows(pixels, m, &mut ws.eval, &ws.pool, None, 0);
            let buffers = &ws.eval;
            let a = &buffers.activations[self.layers() - 1][..m * n_out];
            let a = ArrayView2::from_shape((m, n_out), a);
            let z = ArrayView2::from_shape((m, n_out), &buffers.output_z[..m * n_out]);
            if let (Ok(z), Ok(a)) = (z, a) {
                f(z.t(), a.t(), &data.labels[start..start + m]);
            }
        }
        ws.eval.first.active = false;
    }
}

/// The first layer trains on its lit inputs only (see `sparse`) when at
/// most this share of the input is nonzero: measured on the data set, or
/// else on the first mini-batch, once, so a run's model does not depend
/// on when it was measured.
const SPARSE_DENSITY: f64 = 0.5;

/// A sparse first layer's mini-batch of fewer multiply-adds on lit inputs
/// stays on one thread.
const SHARE_MIN: usize = 2 * PARALLEL_MIN;

/// Work below this many multiply-adds stays on one thread: splitting it
/// would cost more than it saves.
const PARALLEL_MIN: usize = 1 << 17;

/// Where `Trainer::steps` has a mini-batch loaded: its images, and its
/// one-hot targets as rows. The images go either into `pixels`, one after
/// another, or, where the first layer trains on lit pixels only and the
/// loader knows them (`lit`), straight into the engine's lit inputs.
pub struct Batch<'a, F> {
    /// Room for the images' bytes, one after another.
    pub pixels: &'a mut [u8],
    /// Room for the one-hot targets, one row per example.
    pub targets: &'a mut [F],
    lit: Option<&'a mut SparseRows<F>>,
    k: usize,
    lit_written: bool,
}

impl<F: Real> Batch<'_, F> {
    /// Whether the engine would take this mini-batch's lit pixels (`lit`):
    /// where the first layer trains on them, shared among threads, so that
    /// the helper's loading is half of a step's serial part.
    pub fn wants_lit(&self) -> bool {
        self.lit.is_some()
    }

    /// The engine's lit inputs, where it `wants_lit`: then every image is
    /// given as runs of lit pixels (`LitInputs::run`) in place of
    /// `pixels`, which are not read.
    pub fn lit(&mut self) -> Option<LitInputs<'_, F>> {
        let rows = self.lit.as_deref_mut()?;
        rows.begin(self.k);
        self.lit_written = true;
        Some(LitInputs { rows })
    }
}

/// A mini-batch's lit pixels, image by image, as `Batch::lit` takes them.
pub struct LitInputs<'a, F> {
    rows: &'a mut SparseRows<F>,
}

impl<F: Real> LitInputs<'_, F> {
    /// Adds to this image the pixels at `index` + `offset` (ascending, and
    /// after those already given) with bytes `bytes`.
    ///
    /// # Panics
    /// If the lengths differ, or a pixel falls outside the image.
    pub fn run(&mut self, index: &[u16], bytes: &[u8], offset: i32) {
        self.rows.extend(index, bytes, offset);
    }

    /// Ends this image; the next run starts the next one.
    pub fn end_image(&mut self) {
        self.rows.end_example();
    }
}

/// Mini-batch t by `load` into `pixels` and `y`, and, with `lit` (where the
/// first layer trains sparse), its lit pixels into those rows, sorted by
/// input too where BP4 reads them so: found in `pixels` unless the loader
/// gave them, which it is offered to where `offer`. Returns its size.
fn load_batch<F: Real>(
    load: &impl Fn(usize, &mut Batch<'_, F>) -> usize,
    t: usize,
    pixels: &mut [u8],
    y: &mut [F],
    k: usize,
    lit: Option<(&mut SparseRows<F>, bool)>,
    offer: bool,
) -> usize {
    let (mut rows, by_input) = match lit {
        Some((rows, by_input)) => (Some(rows), by_input),
        None => (None, false),
    };
    let mut batch = Batch {
        pixels: &mut *pixels,
        targets: y,
        lit: rows.as_deref_mut().filter(|_| offer),
        k,
        lit_written: false,
    };
    let m = load(t, &mut batch);
    let lit_written = batch.lit_written;
    if let Some(rows) = rows {
        if lit_written {
            assert_eq!(rows.len(), m, "the loader gave every image's lit pixels");
        } else {
            let len = (m * k).min(pixels.len());
            real::fill_from_pixels(rows, &pixels[..len], k);
        }
        if by_input {
            rows.index_by_input();
        }
    }
    m
}

/// Buffers for the mini-batch computations, one row per example, made once
/// and reused so the training loop does not allocate; and the threads.
pub struct Trainer<F> {
    capacity: usize,
    buffers: Buffers<F>,
    /// Evaluation's buffers, for EVAL_CHUNK examples of a network of `eval_sizes`.
    eval: Buffers<F>,
    eval_sizes: Vec<usize>,
    back: Backward<F>,
    /// The input and targets as rows, when they do not already lie so.
    input: Vec<F>,
    targets: Vec<F>,
    /// `update_mini_batches`' mini-batches as loaded, this one's then the
    /// next two: pixel bytes, and targets as rows.
    pixels: [Vec<u8>; 3],
    target_rows: [Vec<F>; 3],
    pool: Pool,
    /// No helper: for work done while the helper is busy.
    alone: Pool,
    dropout: Dropout<F>,
    /// The input's share of nonzero values, once measured, and with it
    /// whether the first layer trains sparse (see `settle_first`).
    density: Option<f64>,
    sparse: Option<bool>,
}

/// What the backward pass writes.
struct Backward<F> {
    /// δ^l for l = 2 … L, (m, n_l).
    deltas: Vec<Lines<F>>,
    /// Momentum's velocities, shaped as the weights and biases (made on first use).
    velocity_w: Vec<Vec<F>>,
    velocity_b: Vec<Vec<F>>,
}

/// What the forward pass writes.
struct Buffers<F> {
    /// a^l for l = 2 … L, (m, n_l).
    activations: Vec<Lines<F>>,
    /// z^L, (m, n_L): the cost is computed from z where a has saturated.
    output_z: Vec<F>,
    /// The two threads' blocks of a layer's output, (m, n_l) in all.
    split: Lines<F>,
    /// Pixel input as values, (m, n_1): this thread's, then each helper's.
    scaled: Vec<Vec<F>>,
    /// Whether the helper's buffer holds every row of the input too.
    helper_has_input: bool,
    first: FirstLayer<F>,
}

/// The first layer's state when it trains sparse.
struct FirstLayer<F> {
    /// How `wt` and `vt` lie: in tiles of neurons, each thread its own.
    tiles: Tiles,
    /// Whether `wt` holds the network's w² now, so the forward pass reads
    /// it: from `load_first` to `store_first` in training, and while
    /// evaluating sparse input.
    active: bool,
    /// w² transposed (n_1 × np), tiled, and momentum's velocity alike.
    wt: Lines<F>,
    vt: Lines<F>,
    /// The lit inputs of this mini-batch (`rows[cur]`) and of the next two.
    rows: [SparseRows<F>; 3],
    cur: usize,
    /// −(η/m) δ², each thread's lanes in a block of its own (m rows of
    /// its width, padded with zeros past n): see `first_tiles`.
    c: Lines<F>,
    owed: Owed<F>,
    /// The network's w² as `store_first` last wrote it while rows owed
    /// steps: if it still is, `load_first` goes on from `wt` and `owed`.
    view: Vec<F>,
}

impl<F: Real> FirstLayer<F> {
    /// Copies of `wt` and `vt` with every step owed taken.
    fn caught_up(&self, pool: &Pool) -> (Lines<F>, Lines<F>) {
        let (mut wt, mut vt) = (self.wt.clone(), self.vt.clone());
        take_owed(&self.tiles, &mut wt, &mut vt, &self.owed, false, pool);
        (wt, vt)
    }
}

/// Whether two runs of floats hold the same bits.
fn same_bits<F: Real>(a: &[F], b: &[F]) -> bool {
    let bits = |x: &F| x.to_f64().map(f64::to_bits);
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| bits(x) == bits(y))
}

/// Momentum's steps owed by rows of the first layer's tiles (see
/// `sparse::Visit`). One rule on every path, so that the model does not
/// depend on the threads, on pipelining, or on steps taken one at a time:
/// a step moves the rows its mini-batch lights, and every other row owes
/// it; a row takes the k steps it owes at once, as M^k, just before a
/// forward pass reads it; and `steps` run through to the end settles every
/// row. Between single steps the rows go on owing (`FirstLayer::view`).
struct Owed<F> {
    /// Per input, the steps owed, and whether this step visits it.
    steps: Vec<u32>,
    needed: Vec<bool>,
    /// Whether any step is owed, and the scale and decay of those steps.
    any: bool,
    rule: (F, F),
    /// `sparse::momentum_powers` of `rule`, to the most steps owed, or
    /// more; and the rule they were made for.
    powers: Vec<[F; 4]>,
    powers_rule: (F, F),
    /// k inputs and no examples: what a catch-up runs over.
    blank: SparseRows<F>,
}

impl<F: Real> Owed<F> {
    fn new() -> Self {
        Owed {
            steps: Vec::new(),
            needed: Vec::new(),
            any: false,
            rule: (F::one(), F::zero()),
            powers: Vec::new(),
            powers_rule: (F::one(), F::zero()),
            blank: SparseRows::new(),
        }
    }

    /// Powers of the rule's step for every row's steps owed, made anew
    /// when the rule changes, twice as many when they run short.
    fn powered(&mut self) {
        let most = self.steps.iter().copied().max().unwrap_or(0) as usize;
        if self.powers_rule != self.rule || self.powers.len() <= most {
            let up_to = (most + 1).next_power_of_two().max(64);
            let (scale, decay) = self.rule;
            self.powers = sparse::momentum_powers(scale, decay, up_to);
            self.powers_rule = self.rule;
        }
    }

    /// The rows `needed` marks (every row, unless `only`) have taken what
    /// they owed.
    fn paid(&mut self, only: bool) {
        for (steps, &needed) in self.steps.iter_mut().zip(&self.needed) {
            if needed || !only {
                *steps = 0;
            }
        }
        self.any = self.steps.iter().any(|&s| s > 0);
    }

    /// How a step visits the rows: where rows owe (`lazy`), those
    /// `needed` marks, after what they owe; else every row.
    fn visit(&self, lazy: bool) -> Visit<'_, F> {
        Visit {
            owed: if lazy { &self.steps } else { &[] },
            powers: &self.powers,
            needed: if lazy { &self.needed } else { &[] },
            step: true,
        }
    }

    /// Room for k inputs.
    fn sized(&mut self, k: usize) {
        if self.steps.len() != k {
            self.steps = vec![0; k];
            self.needed = vec![true; k];
            self.blank.fill_from_values(&[], k);
            self.blank.index_by_input();
            self.any = false;
        }
    }
}

/// Takes the steps the tiles' rows owe (see `Owed`), each thread its own:
/// every row's, or with `only`, those of the rows `owed.needed` marks.
fn catch_up<F: Real>(
    tiles: &Tiles,
    wt: &mut [F],
    vt: &mut [F],
    owed: &mut Owed<F>,
    only: bool,
    pool: &Pool,
) {
    if !owed.any {
        return;
    }
    owed.powered();
    take_owed(tiles, wt, vt, owed, only, pool);
    owed.paid(only);
}

/// The kernel's part of `catch_up`: `owed` is left as it was, so this
/// also makes caught-up copies (`FirstLayer::caught_up`).
fn take_owed<F: Real>(
    tiles: &Tiles,
    wt: &mut [F],
    vt: &mut [F],
    owed: &Owed<F>,
    only: bool,
    pool: &Pool,
) {
    let k = tiles.k;
    let (scale, decay) = owed.rule;
    let visit = Visit {
        owed: &owed.steps,
        powers: &owed.powers,
        needed: if only { &owed.needed } else { &[] },
        step: false,
    };
    let blank = owed.blank.by_input();
    let items: Vec<_> = tiles
        .parts_mut(wt)
        .into_iter()
        .zip(tiles.parts_mut(vt))
        .collect();
    pool.scatter(items, |((spans, w), (_, v))| {
        let base = spans.first().map_or(0, |&(start, _)| start);
        for &(start, width) in &spans {
            let tile = k * (start - base)..k * (start - base + width);
            let (w, v) = (&mut w[tile.clone()], Some(&mut v[tile]));
            real::sparse_tile_step(blank, &[], width, w, v, width, scale, decay, visit);
        }
    });
}

/// A mini-batch's input a¹, one row of n_1 values per example.
#[derive(Clone, Copy, Debug)]
pub enum Input<'a, F> {
    Values(&'a [F]),
    /// Pixel bytes b, each the value b / 255. Each thread converts the rows
    /// it reads into a buffer of its own: a quarter as many bytes cross
    /// between the cores, and neither waits for the other's conversion.
    Pixels(&'a [u8]),
}

/// Rows `rows` of layer i's input, k values each: the network's input
/// (converted into `buffer` if need be), or the activations `done[i − 1]`.
fn layer_input<'c, F: Real>(
    x: Input<'c, F>,
    done: &'c [Lines<F>],
    i: usize,
    rows: Range<usize>,
    k: usize,
    buffer: &'c mut [F],
) -> &'c [F] {
    if i == 0 {
        x.rows(rows, k, buffer)
    } else {
        &done[i - 1][rows.start * k..rows.end * k]
    }
}

impl<'a, F: Real> Input<'a, F> {
    /// The share of nonzero values in the first `len`.
    fn density(self, len: usize) -> f64 {
        match self {
            Input::Values(v) => {
                let lit = v[..len].iter().filter(|&&x| x != F::zero()).count();
                lit as f64 / len.max(1) as f64
            }
            Input::Pixels(p) => lit_share(&p[..len]),
        }
    }

    /// Rows `rows` of the input, k values each: where they lie, or
    /// converted into `buffer`.
    fn rows<'c>(self, rows: Range<usize>, k: usize, buffer: &'c mut [F]) -> &'c [F]
    where
        'a: 'c,
    {
        let (start, end) = (rows.start * k, rows.end * k);
        match self {
            Input::Values(v) => &v[start..end],
            Input::Pixels(p) => {
                let out = &mut buffer[..end - start];
                real::scale_bytes(&p[start..end], out);
                out
            }
        }
    }
}

/// Inverted dropout's state: the chance p, its generator, and per hidden
/// layer the multipliers drawn (0 or 1/(1 − p)) and the activations before.
struct Dropout<F> {
    p: F,
    rng: ChaCha8Rng,
    masks: Vec<Lines<F>>,
    pre: Vec<Lines<F>>,
    /// The draws for one layer's masks, four bytes a neuron.
    words: Vec<u8>,
}

impl<F: Real> Dropout<F> {
    /// Drops neurons of hidden layer index `i` in `a` (m, n_l), if p > 0.
    fn apply(&mut self, i: usize, a: &mut [F]) {
        if self.p <= F::zero() {
            return;
        }
        let keep = F::one() / (F::one() - self.p);
        // A neuron is dropped when a uniform 32-bit draw falls below p·2³².
        let threshold = (self.p.to_f64().unwrap_or(0.0) * 4_294_967_296.0) as u64;
        let pre = &mut self.pre[i][..a.len()];
        pre.copy_from_slice(a);
        let mask = &mut self.masks[i][..a.len()];
        // The words next_u32 would give one by one, drawn at once.
        if self.words.len() < 4 * a.len() {
            self.words.resize(4 * a.len(), 0);
        }
        let words = &mut self.words[..4 * a.len()];
        self.rng.fill_bytes(words);
        real::dropout_masks(words, threshold, keep, a, mask);
    }
}

/// BP1 for m examples, rows of the output layer's a (with targets y) into
/// δ: δ^L = ∇_a C ⊙ σ'(z^L), errors too small to matter then 0.
fn output_error<F: Real>(cost: Cost, a: &[F], y: &[F], delta: &mut [F], m: usize) {
    let n = delta.len() / m.max(1);
    let a = ArrayView2::from_shape((m, n), a);
    let y = ArrayView2::from_shape((m, n), y);
    let d = ArrayViewMut2::from_shape((m, n), &mut *delta);
    if let (Ok(a), Ok(y), Ok(d)) = (a, y, d) {
        cost.delta(a, y, d);
    }
    flush_tiny(delta);
}

/// BP3 summed over the rows of δ, then the step on the biases b:
/// b → b − rate Σ_x δ, or through the velocity v → μ v − rate Σ_x δ
/// (`momentum` μ), b → b + v. δ becomes −rate δ on the way, for BP4.
fn bias_step<F: Real>(b: &mut [F], v: Option<&mut [F]>, delta: &mut [F], rate: F, momentum: F) {
    match v {
        Some(v) => {
            v.iter_mut().for_each(|v| *v *= momentum);
            real::scale_rows_into(v, delta, -rate);
            real::momentum_step(b, v, F::zero());
        }
        None => real::scale_rows_into(b, delta, -rate),
    }
}

/// Each thread's share of the first layer's velocities where `momentum`
/// steps them; else None for every thread.
fn velocity_shares<'a, F>(
    tiles: &Tiles,
    vt: &'a mut [F],
    momentum: bool,
) -> Vec<Option<&'a mut [F]>> {
    let mut shares: Vec<_> = if momentum {
        tiles
            .parts_mut(vt)
            .into_iter()
            .map(|(_, v)| Some(v))
            .collect()
    } else {
        Vec::new()
    };
    shares.resize_with(tiles.threads(), || None);
    shares
}

/// Sets errors below 1e-30 to 0. Saturated neurons multiply tiny factors
/// into δ until it is subnormal, and arithmetic on subnormal floats runs
/// many times slower on x86; such a δ moves no weight by a representable
/// amount anyway.
fn flush_tiny<F: Real>(delta: &mut [F]) {
    let tiny = F::from(1e-30).unwrap_or_else(F::min_positive_value);
    for d in delta {
        if d.abs() < tiny {
            *d = F::zero();
        }
    }
}

/// BP4 for the weight rows `rows` of a layer (`w`, and momentum's `v`, hold
/// just those), from c = −(η/m) δ^l (m, n) and a^{l−1} (m, k), by `rule`:
/// w → (1 − ηλ/n) w + c^T a^{l−1}, or v → μ v + c^T a^{l−1}, then
/// v → v − (ηλ/n) w and w → w + v.
#[allow(clippy::too_many_arguments)]
fn bp4_rows<F: Real>(
    c: &[F],
    a_prev: &[F],
    w: &mut [F],
    v: Option<&mut [F]>,
    m: usize,
    n: usize,
    k: usize,
    rows: Range<usize>,
    rule: &Rule<F>,
) {
    match v {
        Some(v) => {
            real::rank_update_rows(c, a_prev, v, m, n, k, rows, rule.momentum);
            real::momentum_step(w, v, rule.decay);
        }
        None => real::rank_update_rows(c, a_prev, w, m, n, k, rows, F::one() - rule.decay),
    }
}

/// f(w x + b) for `examples` rows of `x` (k values each) and the `neurons`
/// rows of `w` and `b`, into `out` (examples, neurons); z alone for the
/// output layer (`last`), whose activation the cost decides; summed in
/// `halves` where told.
#[allow(clippy::too_many_arguments)]
fn layer_block<F: Real>(
    act: Activation,
    last: bool,
    halves: bool,
    x: &[F],
    w: &[F],
    b: &[F],
    out: &mut [F],
    examples: usize,
    neurons: usize,
    k: usize,
) {
    if halves {
        halves::affine(x, w, b, out, examples, neurons, k);
    } else {
        real::affine(x, w, b, out, examples, neurons, k);
    }
    if !last {
        apply(act, out);
    }
}

/// A thread's block (m, width) into its columns of a, from `columns_mut`.
fn fill_columns<F: Copy>(columns: Vec<&mut [F]>, block: &[F], width: usize) {
    for (row, source) in columns.into_iter().zip(block.chunks_exact(width.max(1))) {
        row.copy_from_slice(source);
    }
}

/// The rows of `a` (m, n) cut into blocks of columns, one a part: part p
/// gets each row's columns `parts[p]..parts[p + 1]`, for a thread to fill.
fn columns_mut<'a, F>(a: &'a mut [F], n: usize, parts: &[usize]) -> Vec<Vec<&'a mut [F]>> {
    let m = a.len() / n.max(1);
    let mut columns: Vec<Vec<&mut [F]>> = parts.windows(2).map(|_| Vec::with_capacity(m)).collect();
    for row in a.chunks_exact_mut(n.max(1)) {
        let mut rest = row;
        for (p, column) in parts.windows(2).zip(&mut columns) {
            let (part, tail) = std::mem::take(&mut rest).split_at_mut(p[1] - p[0]);
            column.push(part);
            rest = tail;
        }
    }
    columns
}

/// Where `threads` threads split `len` items, in multiples of `quantum`:
/// part p is `parts[p]..parts[p + 1]`, the last parts possibly empty.
fn bounds(len: usize, threads: usize, quantum: usize) -> Vec<usize> {
    let size = len
        .div_ceil(threads.max(1))
        .next_multiple_of(quantum.max(1));
    (0..=threads.max(1)).map(|p| (p * size).min(len)).collect()
}

/// Where the threads split a layer's n neurons: multiples of the kernels'
/// four-row tiles, the same for the forward product and BP4's update, so
/// each thread keeps its own rows of w^l. This thread takes the first.
fn split_rows(n: usize, threads: usize) -> Vec<usize> {
    bounds(n, threads, 4)
}

/// `v`'s parts, `stride` entries an item: part p is items
/// `parts[p]..parts[p + 1]`.
fn pieces<'a, F>(v: &'a [F], parts: &[usize], stride: usize) -> impl Iterator<Item = &'a [F]> {
    let mut rest = &v[..parts[parts.len() - 1] * stride];
    parts.windows(2).map(move |p| {
        let (piece, tail) = rest.split_at((p[1] - p[0]) * stride);
        rest = tail;
        piece
    })
}

/// `pieces`, mutable.
fn pieces_mut<'a, F>(
    v: &'a mut [F],
    parts: &[usize],
    stride: usize,
) -> impl Iterator<Item = &'a mut [F]> {
    let mut rest = &mut v[..parts[parts.len() - 1] * stride];
    parts.windows(2).map(move |p| {
        let (piece, tail) = std::mem::take(&mut rest).split_at_mut((p[1] - p[0]) * stride);
        rest = tail;
        piece
    })
}

/// `pieces_mut` of a slice that may be absent: all None then.
fn option_pieces<'a, F>(
    v: Option<&'a mut [F]>,
    parts: &[usize],
    stride: usize,
) -> impl Iterator<Item = Option<&'a mut [F]>> {
    let mut pieces = v.map(|v| pieces_mut(v, parts, stride));
    (0..parts.len() - 1).map(move |_| pieces.as_mut().and_then(Iterator::next))
}

/// Lanes `lanes` of −(η/m) δ² (rows of n) into `c`, a row of lanes.len()
/// for each row of δ², padded with zeros past n.
fn lanes_of<F: Real>(delta: &[F], n: usize, lanes: Range<usize>, c: &mut [F]) {
    let width = lanes.len();
    let real = n.saturating_sub(lanes.start).min(width);
    for (c, d) in c
        .chunks_exact_mut(width.max(1))
        .zip(delta.chunks_exact(n.max(1)))
    {
        c[..real].copy_from_slice(&d[lanes.start..lanes.start + real]);
        c[real..].fill(F::zero());
    }
}

/// Where `first_tiles` feeds a mini-batch through the sparse first layer.
struct Forward<'a, F> {
    /// The mini-batch's lit inputs.
    rows: &'a SparseRows<F>,
    b: &'a [F],
    /// The hidden layer's activation; None for an output layer (z alone).
    f: Option<Activation>,
    /// a² (m × n), and room for the threads' blocks of it.
    a: &'a mut [F],
    split: &'a mut [F],
}

/// What `share_work` feeds forward: a mini-batch's lit inputs, the biases
/// from neuron `first` on, and the hidden layer's activation (None for an
/// output layer: z alone).
#[derive(Clone, Copy)]
struct Feed<'a, F> {
    rows: &'a SparseRows<F>,
    b: &'a [F],
    first: usize,
    f: Option<Activation>,
}

/// A thread's block of z in `first_tiles`: rows of ldz floats, for the
/// neurons from `first` on; and, where the block lies in `split` rather
/// than in a itself, the thread's columns of a, to copy it into.
struct Block<'a, F> {
    z: &'a mut [F],
    first: usize,
    ldz: usize,
    columns: Vec<&'a mut [F]>,
}

/// The sparse first layer's work (see `sparse`), tile by tile, each thread
/// on its own tiles of `wt` (and `vt`) while they are in its cache: with
/// `step` (a mini-batch's lit inputs, the rule and −(η/m) δ²), BP4 from
/// them, wt → (1 − ηλ/n) wt + Σ_x x c, or through the velocity vt, where
/// each thread copies its lanes of −(η/m) δ² into its block of `c`; then,
/// with `forward`, z = w x + b of another mini-batch, f(z) for a hidden
/// layer. Every entry is computed as on one thread, whatever the tiles.
#[allow(clippy::too_many_arguments)]
fn first_tiles<F: Real>(
    tiles: &Tiles,
    wt: &mut [F],
    vt: &mut [F],
    c: &mut [F],
    owed: &mut Owed<F>,
    step: Option<(&SparseRows<F>, &Rule<F>, &[F])>,
    forward: Option<Forward<F>>,
    pool: &Pool,
) {
    let (n, k, np) = (tiles.n, tiles.k, tiles.np);
    let threads = tiles.threads();
    let by_input = tiles.by_input();
    let next = forward.as_ref().map(|f| f.rows);
    let lazy = owe_steps(
        tiles,
        wt,
        vt,
        owed,
        step.map(|(x, r, _)| (x, r)),
        next,
        pool,
    );
    let visit = owed.visit(lazy);
    let momentum = step.is_some_and(|(_, rule, _)| rule.momentum != F::zero());
    let vts = velocity_shares(tiles, vt, momentum);
    // The forward pass: its input, biases and activation, and each
    // thread's block of z, with its first neuron and row length.
    let parts = tiles.neuron_parts();
    let mut outs: Vec<Option<Block<F>>> = Vec::new();
    let mut input = None;
    if let Some(Forward {
        rows,
        b,
        f,
        a,
        split,
    }) = forward
    {
        let m = rows.len();
        input = Some(Feed {
            rows,
            b,
            first: 0,
            f,
        });
        if m > 0 && threads > 1 {
            outs.extend(
                pieces_mut(&mut split[..m * n], &parts, m)
                    .zip(parts.windows(2))
                    .zip(columns_mut(&mut a[..m * n], n, &parts))
                    .map(|((z, p), columns)| {
                        Some(Block {
                            z,
                            first: p[0],
                            ldz: p[1] - p[0],
                            columns,
                        })
                    }),
            );
        } else if m > 0 {
            outs.push(Some(Block {
                z: &mut a[..m * n],
                first: 0,
                ldz: n,
                columns: Vec::new(),
            }));
        }
    }
    outs.resize_with(threads, || None);
    // Each thread's block of c: m rows of its lanes.
    let lane_parts = tiles.lane_parts();
    let m_step = step.map_or(0, |(rows, ..)| rows.len());
    let cs = pieces_mut(&mut c[..m_step * np], &lane_parts, m_step);
    let items: Vec<_> = tiles
        .parts_mut(wt)
        .into_iter()
        .zip(vts)
        .zip(outs)
        .zip(cs.zip(lane_parts.windows(2).map(|p| p[0]..p[1])))
        .collect();
    pool.scatter(items, |((((spans, w), v), out), (c, lanes))| {
        if let Some((_, _, delta)) = step {
            // Copied by the thread that reads them, in its own cache.
            lanes_of(delta, n, lanes.clone(), c);
        }
        let step = step.map(|(x, rule, _)| (x, rule));
        share_work(
            k, n, by_input, &spans, w, v, c, lanes, step, visit, input, out,
        );
    });
    if step.is_some() && lazy {
        owed.paid(true);
    }
}

/// Before a step (`step`: its lit inputs and rule) or a forward pass alone
/// on the first layer's tiles, the steps rows owe: those owed under
/// another rule taken first; with momentum and tiles read input by input,
/// the rows the step leaves dark owe it, and those the next forward pass
/// (`next`) reads are marked to catch up. Returns whether rows owe (lazy).
fn owe_steps<F: Real>(
    tiles: &Tiles,
    wt: &mut [F],
    vt: &mut [F],
    owed: &mut Owed<F>,
    step: Option<(&SparseRows<F>, &Rule<F>)>,
    next: Option<&SparseRows<F>>,
    pool: &Pool,
) -> bool {
    let k = tiles.k;
    let momentum = step.is_some_and(|(_, rule)| rule.momentum != F::zero());
    // With momentum (and tiles read input by input), a step moves the rows
    // its mini-batch lights; every other row owes it (see `Owed`).
    let lazy = tiles.by_input() && momentum;
    if let Some((_, rule)) = step
        && owed.any
        && (!lazy || owed.rule != (rule.scale(), rule.decay))
    {
        // Steps owed under another rule are taken before this one.
        catch_up(tiles, wt, vt, owed, false, pool);
    }
    match (step, next) {
        (Some((rows, rule)), next) if lazy => {
            owed.sized(k);
            owed.rule = (rule.scale(), rule.decay);
            // A row this mini-batch lights owes nothing: the forward pass
            // that read it caught it up. One it leaves dark owes this step
            // too; if the next mini-batch lights it, it catches up now,
            // before the forward pass below reads it.
            let this = rows.by_input().lit();
            let mut next = next.into_iter().flat_map(|next| next.by_input().lit());
            for ((steps, needed), lit) in owed.steps.iter_mut().zip(&mut owed.needed).zip(this) {
                let lit_next = next.next().unwrap_or(false);
                debug_assert!(!lit || *steps == 0, "a lit row was caught up");
                if !lit {
                    *steps += 1;
                }
                *needed = lit || lit_next;
            }
            owed.powered();
        }
        (None, Some(next)) if owed.any => {
            // A forward pass alone: the rows it reads catch up first.
            let mut any = false;
            let lit = next.by_input().lit();
            for ((needed, &steps), lit) in owed.needed.iter_mut().zip(&owed.steps).zip(lit) {
                *needed = lit && steps > 0;
                any |= *needed;
            }
            if any {
                catch_up(tiles, wt, vt, owed, true, pool);
            }
        }
        _ => {}
    }
    lazy
}

/// One thread's part of `first_tiles` on its tiles `spans` (first lane,
/// width) of its share `w` (and `v`), its block of −(η/m) δ² already in
/// `c` (rows of its `lanes`): with `step`, BP4 and the step; then, with
/// `input`, the forward pass into its block `out`, and f(z) there.
#[allow(clippy::too_many_arguments)]
fn share_work<F: Real>(
    k: usize,
    n: usize,
    by_input: bool,
    spans: &[(usize, usize)],
    w: &mut [F],
    mut v: Option<&mut [F]>,
    c: &[F],
    lanes: Range<usize>,
    step: Option<(&SparseRows<F>, &Rule<F>)>,
    visit: Visit<F>,
    input: Option<Feed<F>>,
    mut out: Option<Block<F>>,
) {
    let (base, ldc) = (lanes.start, lanes.len());
    // By input, the whole share's step runs first, input by input
    // across its tiles; then the forward pass, tile by tile.
    if let (Some((rows, rule)), true) = (step, by_input) {
        let share: Vec<_> = spans.iter().map(|&(s, wd)| (s - base, wd)).collect();
        let (x, v) = (rows.by_input(), v.as_deref_mut());
        let (scale, decay) = (rule.scale(), rule.decay);
        real::sparse_share_step(x, c, ldc, w, v, &share, scale, decay, visit);
    }
    for &(start, width) in spans {
        let tile = k * (start - base)..k * (start - base + width);
        let w = &mut w[tile.clone()];
        if let (Some((rows, rule)), false) = (step, by_input) {
            let (c, v) = (&c[start - base..], v.as_deref_mut().map(|v| &mut v[tile]));
            let (scale, decay) = (rule.scale(), rule.decay);
            if let Some(v) = v {
                real::sparse_rank_update(rows, c, ldc, v, width, scale);
                real::momentum_step(w, v, decay);
            } else {
                real::sparse_rank_update(rows, c, ldc, w, width, scale);
            }
        }
        if let (Some(feed), Some(out)) = (input, out.as_mut()) {
            let lanes = n.saturating_sub(start).min(width);
            let (b, z) = (
                &feed.b[start - feed.first..],
                &mut out.z[start - out.first..],
            );
            let rows = feed.rows;
            real::sparse_affine(rows, 0..rows.len(), w, width, lanes, b, z, out.ldz);
        }
    }
    if let Some(Block {
        z, ldz, columns, ..
    }) = out
    {
        if let Some(f) = input.and_then(|feed| feed.f) {
            apply(f, z);
        }
        // The block into this thread's columns of a, from its own cache.
        fill_columns(columns, z, ldz);
    }
}

/// Whether a layer of n neurons on k inputs, for m examples, is computed by
/// two threads, each for its own neurons (the forward product and BP4 alike).
fn by_neurons(pool: &Pool, m: usize, n: usize, k: usize) -> bool {
    pool.threads() > 1 && n >= 8 && m * n * k >= PARALLEL_MIN
}

impl<F: Real> Buffers<F> {
    fn empty() -> Self {
        Buffers {
            activations: Vec::new(),
            output_z: Vec::new(),
            split: Lines::default(),
            scaled: Vec::new(),
            helper_has_input: false,
            first: FirstLayer {
                tiles: Tiles::default(),
                active: false,
                wt: Lines::default(),
                vt: Lines::default(),
                rows: [SparseRows::new(), SparseRows::new(), SparseRows::new()],
                cur: 0,
                c: Lines::default(),
                owed: Owed::new(),
                view: Vec::new(),
            },
        }
    }

    /// Room for m examples of a network of `sizes`, on `threads` threads.
    fn sized(&mut self, sizes: &[usize], m: usize, threads: usize) {
        self.activations = sizes[1..].iter().map(|&n| Lines::zeroed(m * n)).collect();
        self.output_z = vec![F::zero(); m * sizes[sizes.len() - 1]];
        self.split = Lines::zeroed(m * sizes[1..].iter().copied().max().unwrap_or(0));
        self.scaled = vec![vec![F::zero(); m * sizes[0]]; threads.max(1)];
        let np = sparse::padded(sizes[1]);
        let first = &mut self.first;
        first.wt = Lines::zeroed(sizes[0] * np);
        first.c = Lines::zeroed(m * np);
    }
}

/// The number of threads `threads` asks for: 0 is one per core.
pub fn threads_for(threads: usize) -> usize {
    if threads == 0 {
        std::thread::available_parallelism().map_or(1, |n| n.get())
    } else {
        threads
    }
    .min(MAX_THREADS)
}

/// The most threads an engine runs on.
pub const MAX_THREADS: usize = 256;

impl<F: Real> Trainer<F> {
    /// An engine for networks of `sizes` and mini-batches of up to
    /// `capacity` examples, on `threads` threads in all (0: one per core).
    /// The results are the same for any number of threads.
    pub fn new(sizes: &[usize], capacity: usize, threads: usize) -> Self {
        let mut trainer = Trainer {
            capacity: 0,
            buffers: Buffers::empty(),
            eval: Buffers::empty(),
            eval_sizes: Vec::new(),
            back: Backward {
                deltas: Vec::new(),
                velocity_w: Vec::new(),
                velocity_b: Vec::new(),
            },
            input: Vec::new(),
            pixels: [Vec::new(), Vec::new(), Vec::new()],
            target_rows: [Vec::new(), Vec::new(), Vec::new()],
            targets: Vec::new(),
            pool: Pool::new(threads_for(threads)),
            alone: Pool::new(1),
            dropout: Dropout {
                p: F::zero(),
                rng: ChaCha8Rng::seed_from_u64(0),
                masks: Vec::new(),
                pre: Vec::new(),
                words: Vec::new(),
            },
            density: None,
            sparse: None,
        };
        trainer.reserve(sizes, capacity);
        trainer
    }

    /// Threads this engine computes on, this one included.
    pub fn threads(&self) -> usize {
        self.pool.threads()
    }

    /// One step on the mini-batch X = `x` (n_1, m), Y = `y` (n_L, m) by
    /// `rule`: the book's `update_mini_batch_by`, fast. Momentum's
    /// velocities and dropout's generator live here, across steps.
    pub fn step(
        &mut self,
        net: &mut Network<F>,
        x: ArrayView2<F>,
        y: ArrayView2<F>,
        rule: &Rule<F>,
    ) {
        net.fast_step(x, y, rule, self);
    }

    /// `step` on a mini-batch of pixel bytes, one image of n_1 bytes after
    /// another: the input a¹ is each byte / 255.
    pub fn step_pixels(
        &mut self,
        net: &mut Network<F>,
        pixels: &[u8],
        y: ArrayView2<F>,
        rule: &Rule<F>,
    ) {
        net.fast_step_pixels(pixels, y, rule, self);
    }

    /// `batches` steps, pipelined: `load(t, batch)` writes mini-batch t (its
    /// images, as bytes or as lit pixels, and its one-hot targets as rows;
    /// see `Batch`) into buffers of this engine's capacity and returns its
    /// size; `done` hears of each step and answers whether to go on. Returns the
    /// steps taken. The network moves exactly as by `step_pixels` on each
    /// mini-batch in turn.
    pub fn steps(
        &mut self,
        net: &mut Network<F>,
        batches: usize,
        load: impl Fn(usize, &mut Batch<'_, F>) -> usize + Sync,
        rule: &Rule<F>,
        done: &mut dyn FnMut() -> bool,
    ) -> usize {
        net.fast_steps(batches, load, rule, self, done)
    }

    /// Momentum's velocities, shaped as `net`'s weights and biases: None
    /// before the first step with momentum.
    pub fn velocity(&self, net: &Network<F>) -> Option<Velocity<F>> {
        let back = &self.back;
        if back.velocity_w.len() + 1 != net.sizes.len() {
            return None;
        }
        let mut v = Velocity::zeros(net);
        for (i, (vw, vb)) in v.weights.iter_mut().zip(&mut v.biases).enumerate() {
            let vw = vw.as_slice_mut().expect("fresh arrays are contiguous");
            if i == 0 && self.sparse_first() {
                let first = &self.buffers.first;
                if first.owed.any {
                    let (_, vt) = first.caught_up(&self.pool);
                    first.tiles.transpose_out(&vt, vw);
                } else {
                    first.tiles.transpose_out(&first.vt, vw);
                }
            } else {
                vw.copy_from_slice(&back.velocity_w[i]);
            }
            vb.iter_mut()
                .zip(&back.velocity_b[i])
                .for_each(|(p, q)| *p = *q);
        }
        Some(v)
    }

    /// Sets momentum's velocities, as `velocity` gives them, for `net`.
    pub fn set_velocity(&mut self, net: &Network<F>, v: &Velocity<F>) {
        self.reserve_velocities(&net.sizes);
        // Nothing owed: w² is the network's, caught up, from here on.
        let first = &mut self.buffers.first;
        let (tiles, owed) = (&first.tiles, &mut first.owed);
        catch_up(tiles, &mut first.wt, &mut first.vt, owed, false, &self.pool);
        let sparse = self.sparse_first();
        let back = &mut self.back;
        for (i, (vw, vb)) in v.weights.iter().zip(&v.biases).enumerate() {
            assert_eq!(
                vw.dim(),
                net.weights[i].dim(),
                "velocity of layer {}",
                i + 2
            );
            assert_eq!(vb.len(), net.biases[i].len(), "velocity of layer {}", i + 2);
            let vw = vw.as_standard_layout();
            let vw = vw.as_slice().expect("standard layout is contiguous");
            if i == 0 && sparse {
                let first = &mut self.buffers.first;
                first.tiles.transpose_in(vw, &mut first.vt);
            } else {
                back.velocity_w[i].copy_from_slice(vw);
            }
            back.velocity_b[i]
                .iter_mut()
                .zip(vb)
                .for_each(|(p, q)| *p = *q);
        }
    }

    /// Where dropout's generator stands, in words drawn since it was seeded.
    pub fn dropout_position(&self) -> u128 {
        self.dropout.rng.get_word_pos()
    }

    /// Moves dropout's generator to `position` words after its seed.
    pub fn set_dropout_position(&mut self, position: u128) {
        self.dropout.rng.set_word_pos(position);
    }

    /// a^L for the mini-batch `x` (n_1, m): (n_L, m), one column per example.
    pub fn feedforward<'w>(&'w mut self, net: &Network<F>, x: ArrayView2<F>) -> ArrayView2<'w, F> {
        net.fast_feedforward(x, self)
    }

    /// The gradient Σ_x ∇C_x of the mini-batch X = `x`, Y = `y`, as the
    /// engine computes it: read off one plain step with η/m = 2²⁰, a power
    /// of two, so (w − w')/2²⁰ loses nothing to the scaling.
    pub fn gradient(
        &mut self,
        net: &Network<F>,
        x: ArrayView2<F>,
        y: ArrayView2<F>,
    ) -> Gradient<F> {
        let scale = F::from(1 << 20).unwrap_or_else(F::one);
        let m = F::from(x.ncols()).unwrap_or_else(F::one);
        let mut moved = net.clone();
        self.step(&mut moved, x, y, &Rule::sgd(scale * m));
        let nabla = |p: &F, q: &F| (*p - *q) / scale;
        let nabla_b = net.biases.iter().zip(&moved.biases);
        let nabla_w = net.weights.iter().zip(&moved.weights);
        (
            nabla_b
                .map(|(b, b2)| ndarray::Zip::from(b).and(b2).map_collect(nabla))
                .collect(),
            nabla_w
                .map(|(w, w2)| ndarray::Zip::from(w).and(w2).map_collect(nabla))
                .collect(),
        )
    }

    /// How many images of `data` the network classifies right.
    pub fn evaluate(&mut self, net: &Network<F>, data: &Dataset) -> usize {
        net.fast_evaluate(data, self)
    }

    /// The class the network gives each image of `data`, as `evaluate`
    /// counts them.
    pub fn predictions(&mut self, net: &Network<F>, data: &Dataset) -> Vec<usize> {
        net.fast_predictions(data, self)
    }

    /// Accuracy, mean cost and confusion matrix on `data`.
    pub fn evaluate_full(&mut self, net: &Network<F>, data: &Dataset) -> Evaluation {
        net.fast_evaluate_full(data, self)
    }

    fn reserve(&mut self, sizes: &[usize], m: usize) {
        if m <= self.capacity && self.buffers.activations.len() + 1 == sizes.len() {
            return;
        }
        let m = m.max(self.capacity);
        let buffers = &mut self.buffers;
        buffers.sized(sizes, m, self.pool.threads());
        self.back.deltas = buffers.activations.clone();
        self.input = Vec::new();
        self.targets = buffers.output_z.clone();
        self.pixels = std::array::from_fn(|_| vec![0; m * sizes[0]]);
        self.target_rows = std::array::from_fn(|_| self.targets.clone());
        self.dropout.masks = buffers.activations.clone();
        self.dropout.pre = buffers.activations.clone();
        self.capacity = m;
    }

    /// Measures the input `data` will give, its share of nonzero pixels,
    /// which decides whether the first layer trains on the lit pixels
    /// only. Without it, the first mini-batch is measured. Either way the
    /// choice is made once, before the first step, and kept.
    pub fn expect_input(&mut self, data: &Dataset) {
        if self.density.is_none() {
            self.density = Some(lit_share(&data.images));
        }
    }

    /// Whether the first layer trains sparse, as settled.
    fn sparse_first(&self) -> bool {
        self.sparse == Some(true)
    }

    /// Settles, once the input's density is known, whether the first layer
    /// of `sizes` trains sparse, and if so its tiles: shared among the
    /// threads where a mini-batch's work is worth splitting. A velocity
    /// set before moves into the tiles.
    fn settle_first(&mut self, sizes: &[usize]) {
        let (k, n) = (sizes[0], sizes[1]);
        let Some(density) = self.density else {
            return;
        };
        let first = &mut self.buffers.first;
        if self.sparse.is_some() && (first.tiles.k, first.tiles.n) == (k, n) {
            return;
        }
        // A mini-batch's multiply-adds on the lit inputs: worth sharing
        // among the threads from SHARE_MIN on. Below that a layer of many
        // tiles trains faster dense, split by neurons (measured: [784, 100,
        // 10] at m = 10 on two threads), and a layer of one tile sparse on
        // one thread. The choice does not depend on the threads, so neither
        // does the model.
        let work = self.capacity as f64 * (n * k) as f64 * density;
        let share = self.pool.threads() > 1 && work >= SHARE_MIN as f64;
        let one_tile = !Tiles::new(n, k, 1).by_input();
        let sparse = density <= SPARSE_DENSITY && (one_tile || work >= SHARE_MIN as f64);
        self.sparse = Some(sparse);
        if sparse {
            first.tiles = Tiles::new(n, k, if share { self.pool.threads() } else { 1 });
            first.owed = Owed::new();
            if let Some(v) = self.back.velocity_w.first()
                && self.back.velocity_w.len() + 1 == sizes.len()
            {
                first.tiles.transpose_in(v, &mut first.vt);
            }
        }
    }

    /// Seeds the generator that draws dropout's masks.
    pub fn seed_dropout(&mut self, seed: u64) {
        self.dropout.rng = ChaCha8Rng::seed_from_u64(seed);
    }

    fn reserve_velocities(&mut self, sizes: &[usize]) {
        let back = &mut self.back;
        if back.velocity_w.len() + 1 != sizes.len() {
            back.velocity_w = sizes
                .windows(2)
                .map(|s| vec![F::zero(); s[0] * s[1]])
                .collect();
            back.velocity_b = sizes[1..].iter().map(|&n| vec![F::zero(); n]).collect();
            self.buffers.first.vt = Lines::zeroed(sizes[0] * sparse::padded(sizes[1]));
        }
    }
}

/// a = f(z) in place for every entry, σ eight or sixteen at a time where
/// the processor can: the same bits as `Activation::f`.
fn apply<F: Real>(f: Activation, z: &mut [F]) {
    match f {
        Activation::Sigmoid => real::sigmoid(z),
        Activation::Relu | Activation::Linear => real::apply_plain(f, z),
        _ => z.iter_mut().for_each(|z| *z = f.f(*z)),
    }
}

/// a^L = the cost's output layer of z^L, in place: `z` is (m, n), one row
/// per example; σ as `apply` computes it.
fn output_layer<F: Real>(cost: Cost, z: &mut [F], m: usize, n: usize) {
    match cost.output() {
        Output::Sigmoid => real::sigmoid(z),
        Output::Softmax => {
            if let Ok(z) = ArrayViewMut2::from_shape((m, n), z) {
                cost.output_layer(z, Axis(1));
            }
        }
    }
}

/// The matrix `x` (n, m), one column per example, as a row-major (m, n)
/// slice: where it lies if its memory already has that layout, else copied.
fn rows_of<'a, F: Real>(x: ArrayView2<'a, F>, buffer: &'a mut Vec<F>) -> &'a [F] {
    let rows = x.reversed_axes();
    if let Some(slice) = rows.to_slice() {
        return slice;
    }
    buffer.clear();
    buffer.extend(rows.iter().copied());
    buffer
}

/// The share of nonzero bytes in `bytes`.
fn lit_share(bytes: &[u8]) -> f64 {
    let lit = bytes.iter().filter(|&&b| b != 0).count();
    lit as f64 / bytes.len().max(1) as f64
}

fn weights_slice<F: Real>(w: &Array2<F>) -> &[F] {
    w.as_slice().expect("weights are kept in standard layout")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cost::Cost;
    use crate::init::Init;
    use rand::RngExt;

    /// The largest |a − b| over a layer, against the largest |b − start|:
    /// how far the engine's step is from the book's, relative to the step.
    fn step_error(start: &Network<f64>, engine: &Network<f64>, book: &Network<f64>) -> f64 {
        let mut worst = 0.0f64;
        let layers = start.weights.iter().zip(&engine.weights).zip(&book.weights);
        let biases = start.biases.iter().zip(&engine.biases).zip(&book.biases);
        let rel = |s: &[f64], e: &[f64], b: &[f64]| {
            let step = s
                .iter()
                .zip(b)
                .fold(0.0f64, |m, (s, b)| m.max((b - s).abs()));
            let off = e
                .iter()
                .zip(b)
                .fold(0.0f64, |m, (e, b)| m.max((e - b).abs()));
            assert!(step > 0.0, "a layer did not move");
            off / step
        };
        for ((s, e), b) in layers {
            let slices = (s.as_slice(), e.as_slice(), b.as_slice());
            if let (Some(s), Some(e), Some(b)) = slices {
                worst = worst.max(rel(s, e, b));
            }
        }
        for ((s, e), b) in biases {
            let slices = (s.as_slice(), e.as_slice(), b.as_slice());
            if let (Some(s), Some(e), Some(b)) = slices {
                worst = worst.max(rel(s, e, b));
            }
        }
        worst
    }

    /// The engine's masks of the last step, as the book takes them: (n_l, m)
    /// for each hidden layer.
    fn masks_of(ws: &Trainer<f64>, sizes: &[usize], m: usize) -> Vec<Array2<f64>> {
        let hidden = &sizes[1..sizes.len() - 1];
        hidden
            .iter()
            .zip(&ws.dropout.masks)
            .map(|(&n, mask)| {
                Array2::from_shape_vec((m, n), mask[..m * n].to_vec())
                    .expect("a mask per example and neuron")
                    .reversed_axes()
            })
            .collect()
    }

    /// One engine step equals one book step, to 1e-12 of the step, in f64:
    /// every cost (and so output layer) × neuron, sparse and dense first
    /// layers, one and two hidden layers, one to four threads, under the
    /// chapter's rule, L2, momentum (two steps, so the velocity carries)
    /// and dropout with the engine's masks; and the engine's gradient is
    /// the book's.
    #[test]
    fn engine_steps_are_the_books() {
        // Input four fifths zero trains the first layer sparse, input with
        // no zero dense. [20, 12, …] is one tile on one thread; [20, 70, …]
        // two tiles; at m = 10, [784, 200, 10] is large enough to share its
        // tiles between threads, [784, 100, 10] its rows of w.
        let networks: [(&[usize], bool); 8] = [
            (&[20, 12, 5], true),
            (&[20, 12, 9, 5], true),
            (&[20, 70, 5], true),
            (&[20, 70, 9, 5], true),
            (&[20, 70, 5], false),
            (&[20, 70, 9, 5], false),
            (&[784, 200, 10], true),
            (&[784, 100, 10], false),
        ];
        let rules = [
            Rule::sgd(0.7),
            Rule {
                decay: 0.01,
                ..Rule::sgd(0.7)
            },
            Rule {
                momentum: 0.9,
                decay: 0.001,
                ..Rule::sgd(0.2)
            },
            Rule {
                dropout: 0.3,
                ..Rule::sgd(0.7)
            },
        ];
        let mut worst = 0.0f64;
        let mut cases = 0;
        for (n, (sizes, sparse)) in networks.into_iter().enumerate() {
            let m = 10;
            let mut rng = ChaCha8Rng::seed_from_u64(n as u64);
            // Four inputs in five zero, as in MNIST, the rest in (0, 1]; or
            // every input in (0, 1].
            let x = Array2::from_shape_fn((sizes[0], m), |_| {
                let v: f64 = rng.random();
                if !sparse {
                    1.0 - v
                } else if v < 0.8 {
                    0.0
                } else {
                    (v - 0.8) * 5.0
                }
            });
            let n_out = sizes[sizes.len() - 1];
            let y = Array2::from_shape_fn((n_out, m), |(j, i)| {
                f64::from(u8::from((i * 7) % n_out == j))
            });
            let threads: &[usize] = if sizes[0] > 100 { &[1, 2, 3, 4] } else { &[1] };
            for cost in Cost::ALL {
                for activation in Activation::ALL {
                    let mut start =
                        Network::<f64>::initialised(sizes, Init::Scaled, &mut rng).unwrap();
                    start.activation = activation;
                    start.cost = cost;
                    for &t in threads {
                        let mut ws = Trainer::new(sizes, m, t);
                        let gradient = ws.gradient(&start, x.view(), y.view());
                        // Two tiles and little work train dense.
                        let trains_sparse = sparse && sizes[1] != 70;
                        assert_eq!(ws.sparse, Some(trains_sparse), "{sizes:?}");
                        let shared = ws.buffers.first.tiles.threads() > 1;
                        assert_eq!(shared, trains_sparse && t > 1 && sizes[0] > 100);
                        let (nabla_b, nabla_w) = start.backprop_batch(x.view(), y.view());
                        let mut as_net = start.clone();
                        as_net.weights = gradient.1;
                        as_net.biases = gradient.0;
                        let mut book = start.clone();
                        book.weights = nabla_w;
                        book.biases = nabla_b;
                        let zero = Network {
                            weights: start.weights.iter().map(|w| w * 0.0).collect(),
                            biases: start.biases.iter().map(|b| b * 0.0).collect(),
                            ..start.clone()
                        };
                        let e = step_error(&zero, &as_net, &book);
                        assert!(
                            e < 1e-12,
                            "{sizes:?} {cost} {activation}: gradient off by {e:e}"
                        );
                        for rule in &rules {
                            let mut ws = Trainer::new(sizes, m, t);
                            ws.seed_dropout(5);
                            let mut engine = start.clone();
                            let mut book = start.clone();
                            let mut velocity = Velocity::zeros(&start);
                            let steps = if rule.momentum > 0.0 { 2 } else { 1 };
                            for _ in 0..steps {
                                ws.step(&mut engine, x.view(), y.view(), rule);
                                let masks = if rule.dropout > 0.0 {
                                    masks_of(&ws, sizes, m)
                                } else {
                                    Vec::new()
                                };
                                if rule.dropout > 0.0 {
                                    let dropped =
                                        masks.iter().flatten().filter(|&&k| k == 0.0).count();
                                    assert!(dropped > 0, "no neuron dropped");
                                }
                                book.update_mini_batch_by(
                                    x.view(),
                                    y.view(),
                                    rule,
                                    &mut velocity,
                                    &masks,
                                );
                            }
                            let e = step_error(&start, &engine, &book);
                            assert!(
                                e < 1e-12,
                                "{sizes:?} {cost} {activation} {rule:?} threads {t}: off by {e:e}"
                            );
                            worst = worst.max(e);
                            cases += 1;
                        }
                    }
                }
            }
        }
        assert_eq!(cases, (6 + 4 + 4) * 12 * 4);
        eprintln!("engine against book: {cases} cases, worst {worst:.1e} of a step");
    }

    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    /// Bytes with four in five zero, as in MNIST, or hardly any: the first
    /// layer trains sparse on the first, dense on the second.
    fn test_pixels(len: usize, sparse: bool) -> Vec<u8> {
        (0..len)
            .map(|i| {
                if sparse && (i * 13) % 5 != 0 {
                    0
                } else {
                    ((i * 7919) % 256) as u8
                }
            })
            .collect()
    }

    /// Sparse pixels as uneven as a digit's: the first half of each image
    /// lit two times in five, the rest one time in twenty-five, scattered.
    fn uneven_pixels(len: usize, k: usize) -> Vec<u8> {
        (0..len)
            .map(|i| {
                let hash = (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 40;
                let rate = if i % k < k / 2 { 40 } else { 4 };
                if hash % 100 < rate {
                    (hash % 255 + 1) as u8
                } else {
                    0
                }
            })
            .collect()
    }

    /// Pixel bytes give the same steps as their values, on one to four
    /// threads (where each helper converts the bytes itself), with every
    /// rule, sparse or dense.
    #[test]
    fn pixel_steps_match_value_steps_on_any_thread_count() {
        // Large enough for the first layer to be split between threads,
        // dense by rows of w, sparse by tiles ([784, 200, 10]).
        for (sizes, sparse) in [
            ([784, 30, 10], false),
            ([784, 30, 10], true),
            ([784, 200, 10], true),
        ] {
            pixel_steps_match_value_steps_for(&sizes, sparse);
        }
    }

    fn pixel_steps_match_value_steps_for(sizes: &[usize], sparse: bool) {
        let (m, k) = (10, sizes[0]);
        let pixels = test_pixels(3 * m * k, sparse);
        let labels: Vec<usize> = (0..3 * m).map(|i| (i * 3) % 10).collect();
        let rules = [
            Rule::sgd(3.0f32),
            Rule {
                eta: 0.5,
                decay: 1e-4,
                momentum: 0.9,
                dropout: 0.3,
            },
        ];
        for rule in rules {
            let mut results = Vec::new();
            for (threads, bytes) in [
                (1, false),
                (1, true),
                (2, false),
                (2, true),
                (3, true),
                (4, false),
            ] {
                let mut net =
                    Network::<f32>::new(sizes, &mut ChaCha8Rng::seed_from_u64(5)).unwrap();
                let mut ws = Trainer::new(sizes, m, threads);
                ws.seed_dropout(9);
                for step in 0..3 {
                    let batch = &pixels[step * m * k..(step + 1) * m * k];
                    let y = Array2::from_shape_fn((10, m), |(j, i)| {
                        f32::from(u8::from(labels[step * m + i] == j))
                    });
                    if bytes {
                        ws.step_pixels(&mut net, batch, y.view(), &rule);
                    } else {
                        let x = Array2::from_shape_fn((k, m), |(p, i)| {
                            f32::from(batch[i * k + p]) / 255.0
                        });
                        ws.step(&mut net, x.view(), y.view(), &rule);
                    }
                }
                assert_eq!(ws.sparse, Some(sparse));
                results.push(net);
            }
            assert!(
                results[0].weights
                    != Network::<f32>::new(sizes, &mut ChaCha8Rng::seed_from_u64(5))
                        .unwrap()
                        .weights
            );
            for other in &results[1..] {
                assert_eq!(other.weights, results[0].weights);
                assert_eq!(other.biases, results[0].biases);
            }
        }
    }

    /// The pipelined steps (the next mini-batch loaded and fed forward
    /// during this one's backward pass) move the network exactly as one
    /// step at a time, whatever the threads, with a short last mini-batch.
    #[test]
    fn pipelined_steps_match_single_steps() {
        // A sparse first layer with small layers after it; a wide one
        // shared between the threads by tiles; a sparse one before a layer
        // large enough to split; and dense first layers, narrow and wide.
        // Mini-batches of 3 are too small to split: the dense pipeline
        // passes between the fused and the plain first-layer step both ways.
        for (sizes, sparse) in [
            (&[784, 30, 10][..], true),
            (&[784, 200, 10], true),
            (&[784, 64, 256, 10], true),
            (&[784, 30, 10], false),
            (&[784, 100, 10], false),
        ] {
            pipelined_steps_match_single_steps_for(sizes, sparse);
        }
    }

    fn pipelined_steps_match_single_steps_for(sizes: &[usize], sparse: bool) {
        let k = sizes[0];
        let sizes_of = [10, 10, 3, 10, 7];
        let total: usize = sizes_of.iter().sum();
        let pixels = if sparse {
            uneven_pixels(total * k, k)
        } else {
            test_pixels(total * k, false)
        };
        let labels: Vec<usize> = (0..total).map(|i| (i * 7) % 10).collect();
        let start = |t: usize| sizes_of[..t].iter().sum::<usize>();
        if sparse {
            // Some input is dark in two mini-batches running: with momentum,
            // a lazy step leaves its row owing steps.
            let dark =
                |t: usize, p: usize| (start(t)..start(t + 1)).all(|i| pixels[i * k + p] == 0);
            assert!((0..k).any(|p| (0..sizes_of.len() - 1).any(|t| dark(t, p) && dark(t + 1, p))));
        }
        let rule = Rule {
            eta: 0.5f32,
            decay: 1e-4,
            momentum: 0.9,
            dropout: 0.3,
        };
        // Mini-batches `skip` on, as `steps` loads them.
        let (pixels, labels) = (&pixels, &labels);
        let load_from = |skip: usize| {
            move |t: usize, batch: &mut Batch<'_, f32>| {
                let examples = start(skip + t)..start(skip + t + 1);
                batch.pixels[..examples.len() * k]
                    .copy_from_slice(&pixels[examples.start * k..examples.end * k]);
                let y = &mut *batch.targets;
                y.fill(0.0);
                for (row, i) in examples.clone().enumerate() {
                    y[row * 10 + labels[i]] = 1.0;
                }
                examples.len()
            }
        };
        // The same, each image given as its lit pixels where the engine
        // takes them: in two runs, the second stored one lower.
        let given = std::sync::atomic::AtomicUsize::new(0);
        let load_lit = |t: usize, batch: &mut Batch<'_, f32>| {
            let m = load_from(0)(t, batch);
            if let Some(mut inputs) = batch.lit() {
                given.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                for image in pixels[start(t) * k..start(t + 1) * k].chunks(k) {
                    let lit: Vec<u16> = (0..k as u16).filter(|&j| image[j as usize] != 0).collect();
                    let bytes: Vec<u8> = lit.iter().map(|&j| image[j as usize]).collect();
                    let half = lit.len() / 2;
                    inputs.run(&lit[..half], &bytes[..half], 0);
                    let lower: Vec<u16> = lit[half..].iter().map(|&j| j - 1).collect();
                    inputs.run(&lower, &bytes[half..], 1);
                    inputs.end_image();
                }
                // Not read: the lit pixels are.
                batch.pixels.fill(0);
            }
            m
        };
        // Plain SGD, and momentum with dropout and without: where there is
        // no dropout, the two threads own their lanes (`owned`).
        for (plain, dropout) in [(true, 0.0), (false, 0.3), (false, 0.0)] {
            let rule = if plain {
                Rule::sgd(3.0)
            } else {
                Rule { dropout, ..rule }
            };
            let mut results = Vec::new();
            for (threads, pipelined, lit) in [
                (1, false, false),
                (1, true, false),
                (2, false, false),
                (2, true, false),
                (3, true, false),
                (4, false, false),
                (1, true, true),
                (2, true, true),
            ] {
                let mut net =
                    Network::<f32>::new(sizes, &mut ChaCha8Rng::seed_from_u64(6)).unwrap();
                let mut ws = Trainer::new(sizes, 10, threads);
                ws.seed_dropout(3);
                let batch = |t: usize| start(t)..start(t + 1);
                if pipelined {
                    let mut steps = 0;
                    let mut done = || {
                        steps += 1;
                        true
                    };
                    let batches = sizes_of.len();
                    let taken = if lit {
                        given.store(0, std::sync::atomic::Ordering::Relaxed);
                        let taken = ws.steps(&mut net, batches, load_lit, &rule, &mut done);
                        // Taken where the first layer is shared by tiles:
                        // without dropout, by each thread for its own copy.
                        let shared = sparse && threads > 1 && sizes[1] == 200;
                        let copies = if dropout == 0.0 { threads } else { 1 };
                        let given = given.load(std::sync::atomic::Ordering::Relaxed);
                        let asked = if shared { batches * copies } else { 0 };
                        assert_eq!(given, asked, "{sizes:?}");
                        taken
                    } else {
                        ws.steps(&mut net, batches, load_from(0), &rule, &mut done)
                    };
                    assert_eq!((steps, taken), (sizes_of.len(), sizes_of.len()));
                    // Run through, it leaves no row owing a step: the
                    // network and velocities are all a run needs to go on.
                    assert!(!ws.buffers.first.owed.any);
                } else {
                    for t in 0..sizes_of.len() {
                        let examples = batch(t);
                        if t == 1 {
                            assert_eq!(ws.sparse, Some(sparse));
                            let shared = ws.buffers.first.tiles.threads() > 1;
                            assert_eq!(shared, sparse && threads > 1 && sizes[1] == 200);
                        }
                        let y = Array2::from_shape_fn((10, examples.len()), |(j, i)| {
                            f32::from(u8::from(labels[examples.start + i] == j))
                        });
                        let x = &pixels[examples.start * k..examples.end * k];
                        ws.step_pixels(&mut net, x, y.view(), &rule);
                    }
                }
                results.push(net);
            }
            // Stopped after two steps: the same engine takes the run on as
            // if never stopped. With momentum, rows of a first layer read
            // input by input still owe steps then.
            let lazy = !plain && sparse && sizes[1] == 200;
            for threads in [1, 2] {
                let stopped = || {
                    let mut net =
                        Network::<f32>::new(sizes, &mut ChaCha8Rng::seed_from_u64(6)).unwrap();
                    let mut ws = Trainer::new(sizes, 10, threads);
                    ws.seed_dropout(3);
                    let mut heard = 0;
                    let taken =
                        ws.steps(&mut net, sizes_of.len(), load_from(0), &rule, &mut || {
                            heard += 1;
                            heard < 2
                        });
                    assert_eq!(taken, 2);
                    assert_eq!(ws.buffers.first.owed.any, lazy, "{sizes:?}");
                    (net, ws)
                };
                let rest = sizes_of.len() - 2;
                let (mut net, mut ws) = stopped();
                let taken = ws.steps(&mut net, rest, load_from(2), &rule, &mut || true);
                assert_eq!(taken, rest);
                assert_eq!(
                    net.weights, results[0].weights,
                    "{sizes:?} taken on, plain {plain}, threads {threads}"
                );
                assert_eq!(net.biases, results[0].biases, "{sizes:?} taken on");
                // A fresh engine given the velocities and dropout's position
                // takes it on as the stopped one does once its velocities
                // are set (which settles what the rows owe); with nothing
                // owed, as if never stopped.
                let (mut net, ws) = stopped();
                let velocity = ws.velocity(&net);
                assert_eq!(velocity.is_some(), !plain);
                let mut fresh = Trainer::new(sizes, 10, threads);
                fresh.seed_dropout(3);
                fresh.set_dropout_position(ws.dropout_position());
                if let Some(v) = &velocity {
                    fresh.set_velocity(&net, v);
                    let back = fresh.velocity(&net).unwrap();
                    assert_eq!((&back.weights, &back.biases), (&v.weights, &v.biases));
                }
                let taken = fresh.steps(&mut net, rest, load_from(2), &rule, &mut || true);
                assert_eq!(taken, rest);
                let (mut settled, mut ws) = stopped();
                if let Some(v) = &ws.velocity(&settled) {
                    ws.set_velocity(&settled, v);
                }
                ws.steps(&mut settled, rest, load_from(2), &rule, &mut || true);
                assert_eq!(net.weights, settled.weights, "{sizes:?} resumed");
                assert_eq!(net.biases, settled.biases, "{sizes:?} resumed");
                if !lazy {
                    assert_eq!(net.weights, results[0].weights, "{sizes:?} resumed");
                }
            }
            let start = Network::<f32>::new(sizes, &mut ChaCha8Rng::seed_from_u64(6)).unwrap();
            assert!(
                results[0].weights != start.weights,
                "{sizes:?}: nothing moved"
            );
            for other in &results[1..] {
                assert_eq!(other.weights, results[0].weights, "{sizes:?}");
                assert_eq!(other.biases, results[0].biases, "{sizes:?}");
            }
        }
    }

    /// Evaluation through the lit pixels (a layer of many tiles, shared
    /// among threads) and dense gives the book's classes and z, in f64:
    /// the images of each chunk, a short last chunk, any thread count.
    #[test]
    fn sparse_and_dense_evaluation_are_the_books() {
        let (side, count) = (12, 2 * EVAL_CHUNK + 37);
        let k = side * side;
        for sparse in [true, false] {
            let images = test_pixels(count * k, sparse);
            let labels: Vec<u8> = (0..count).map(|i| (i * 7 % 10) as u8).collect();
            let data = Dataset {
                images,
                labels,
                rows: side,
                cols: side,
                classes: 10,
            };
            let mut net =
                Network::<f64>::new(&[k, 150, 10], &mut ChaCha8Rng::seed_from_u64(8)).unwrap();
            net.activation = Activation::Relu;
            net.cost = Cost::LogLikelihood;
            let book: Vec<usize> = (0..count)
                .map(|i| {
                    let (x, _) = crate::network::examples::<f64>(&data, &[i], 10);
                    argmax(net.feedforward(x.column(0)).view())
                })
                .collect();
            let book_cost = {
                let indices: Vec<usize> = (0..count).collect();
                let (x, y) = crate::network::examples::<f64>(&data, &indices, 10);
                net.total_cost(x.view(), y.view()) / count as f64
            };
            for threads in [1, 2, 3] {
                let mut ws = Trainer::new(&net.sizes, 10, threads);
                assert_eq!(ws.predictions(&net, &data), book, "sparse {sparse}");
                let e = ws.evaluate_full(&net, &data);
                assert!((e.mean_cost - book_cost).abs() < 1e-12 * book_cost);
                let shared = ws.eval.first.tiles.threads() > 1;
                assert_eq!(shared, threads > 1, "sparse {sparse}");
                assert!(!ws.eval.first.active, "sparse {sparse}");
                // The lit pixels of the last chunk, if it went sparse.
                assert_eq!(ws.eval.first.rows[0].len(), if sparse { 37 } else { 0 });
            }
        }
    }

    #[test]
    fn kernel_feedforward_matches_the_ndarray_one() {
        let net = Network::<f64>::new(&[37, 21, 5], &mut ChaCha8Rng::seed_from_u64(4)).unwrap();
        let x = Array2::from_shape_fn((37, 9), |(i, j)| ((i * 7 + j * 3) % 11) as f64 / 11.0);
        let (_, reference) = net.feedforward_batch(x.view());
        let mut ws = Trainer::new(&net.sizes, 4, 1);
        let fast = ws.feedforward(&net, x.view());
        assert_eq!(fast.dim(), (5, 9));
        for (p, q) in fast.iter().zip(reference.iter()) {
            assert!((p - q).abs() < 1e-14, "{p} vs {q}");
        }
    }
}
