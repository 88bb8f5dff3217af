//! Steps in which each thread owns its lanes of the hidden layer, for a
//! network [k, n, n_out] whose first layer is shared out by tiles and whose
//! output layer sums in `halves` (few neurons on a wide layer), on two
//! threads, each holding one half.
//!
//! Every thread keeps its own copy of each mini-batch's lit inputs, its
//! columns of w³ (and v³), its block of a² and its half's sums of z³. In a
//! step it runs BP2, BP3 and BP4 of both layers on its own lanes, then
//! feeds the next mini-batch through them; this thread only adds the two
//! halves into z³ and takes BP1. So no thread writes a line the other read
//! in the step before but δ³ and the halves' sums, a few lines each: on a
//! host where writing a line the other core holds is dear, the step costs
//! about what it costs where that is cheap. The results are those of
//! `fast_steps`' other paths, bit for bit: every sum runs in the same order.

use std::ops::Range;

use super::*;

/// A thread's own copy of the mini-batches it loads: mini-batch t in
/// slot t % 2. Aligned apart, so that the threads' copies share no line.
#[repr(align(128))]
struct Loaded<F> {
    rows: [SparseRows<F>; 2],
    targets: [Vec<F>; 2],
    m: [usize; 2],
    pixels: Vec<u8>,
}

/// A thread's lanes of the hidden layer: its `neurons`.
struct Lane<F> {
    neurons: Range<usize>,
    /// Its columns of w³, and momentum's velocity: (n_out, width).
    w: Vec<F>,
    v: Vec<F>,
    /// a² of the mini-batch fed forward, and δ²: (m, width).
    a: Lines<F>,
    delta: Lines<F>,
    /// Its half's sums of z³ for the mini-batch fed forward, (m, n_out).
    sums: Vec<F>,
}

/// A step's backward pass as the threads take it: the mini-batch's slot
/// and size, and δ³ before and after BP3 scaled it by −(η/m).
#[derive(Clone, Copy)]
struct Back<'a, F> {
    slot: usize,
    m: usize,
    raw: &'a [F],
    scaled: &'a [F],
}

/// What this thread writes for the output layer: see `Head::run`.
struct Head<'a, F> {
    b: &'a mut [F],
    vb: Option<&'a mut [F]>,
    a: &'a mut [F],
    z: &'a mut [F],
    delta: &'a mut [F],
    raw: &'a mut [F],
}

impl<F: Real> Network<F> {
    /// Whether `fast_steps` on mini-batches of up to m examples takes the
    /// owned path: a first layer `shared` by tiles between two threads, one
    /// hidden layer, an output layer that sums in halves, and no dropout
    /// (whose masks one thread draws for the whole of a²).
    pub(super) fn owns_lanes(&self, m: usize, rule: &Rule<F>, ws: &Trainer<F>) -> bool {
        ws.sparse_first()
            && ws.buffers.first.tiles.threads() == 2
            && self.layers() == 2
            && rule.dropout == F::zero()
            && halves::summed_in_halves(self.sizes[2], self.sizes[1])
            && self.backward_is_small(m)
    }

    /// `fast_steps` on the owned path (see the module).
    pub(super) fn update_owned_batches(
        &mut self,
        batches: usize,
        load: impl Fn(usize, &mut Batch<'_, F>) -> usize + Sync,
        rule: &Rule<F>,
        ws: &mut Trainer<F>,
        done: &mut dyn FnMut() -> bool,
    ) -> usize {
        let capacity = ws.capacity.max(1);
        let (k, n, n_out) = (self.sizes[0], self.sizes[1], self.sizes[2]);
        let tiles = ws.buffers.first.tiles.clone();
        let parts = tiles.neuron_parts();
        let momentum = rule.momentum != F::zero();
        let columns = |matrix: &[F], p: &[usize]| -> Vec<F> {
            (0..n_out)
                .flat_map(|o| matrix[o * n + p[0]..o * n + p[1]].iter().copied())
                .collect()
        };
        let w3 = weights_slice(&self.weights[1]);
        let mut lanes: Vec<Lane<F>> = parts
            .windows(2)
            .map(|p| {
                let width = p[1] - p[0];
                Lane {
                    neurons: p[0]..p[1],
                    w: columns(w3, p),
                    v: if momentum {
                        columns(&ws.back.velocity_w[1], p)
                    } else {
                        Vec::new()
                    },
                    a: Lines::zeroed(capacity * width),
                    delta: Lines::zeroed(capacity * width),
                    sums: vec![F::zero(); capacity * n_out],
                }
            })
            .collect();
        let mut loaded: Vec<Loaded<F>> = (0..tiles.threads())
            .map(|_| Loaded {
                rows: [SparseRows::new(), SparseRows::new()],
                targets: [
                    vec![F::zero(); capacity * n_out],
                    vec![F::zero(); capacity * n_out],
                ],
                m: [0; 2],
                pixels: vec![0; capacity * k],
            })
            .collect();
        let by_input = tiles.by_input();
        let load_into = |own: &mut Loaded<F>, t: usize, slot: usize| {
            let lit = Some((&mut own.rows[slot], by_input));
            let y = &mut own.targets[slot];
            let m = load_batch(&load, t, &mut own.pixels, y, k, lit, true);
            assert!(m <= capacity, "a mini-batch larger than the workspace");
            own.m[slot] = m;
        };
        let items: Vec<_> = loaded.iter_mut().collect();
        ws.pool.scatter(items, |own| load_into(own, 0, 0));
        self.load_first(ws);
        let mut m = loaded[0].m[0];
        assert!(
            loaded.iter().all(|own| own.m[0] == m),
            "the loader gave every thread the same mini-batch"
        );
        self.owned_pass(ws, &mut lanes, &loaded, rule, None, Some((0, m)));
        // δ³ as BP1 leaves it (for BP2), and scaled by −(η/m) (for BP4).
        let mut raw = vec![F::zero(); capacity * n_out];
        let mut scaled = vec![F::zero(); capacity * n_out];
        let mut slot = 0;
        let mut taken = batches;
        let cost = self.cost;
        for t in 0..batches {
            let more = t + 1 < batches;
            let next = 1 - slot;
            // Each thread loads mini-batch t + 1 into its own copy; this
            // one also finishes t's forward pass and takes BP1.
            let vb_out = ws.back.velocity_b.get_mut(1);
            let mut head = Some(Head {
                b: self.biases[1]
                    .as_slice_mut()
                    .expect("biases are kept in standard layout"),
                vb: vb_out.filter(|_| momentum).map(|v| &mut v[..n_out]),
                a: &mut ws.buffers.activations[1][..m * n_out],
                z: &mut ws.buffers.output_z[..m * n_out],
                delta: &mut scaled[..m * n_out],
                raw: &mut raw[..m * n_out],
            });
            let items: Vec<_> = loaded.iter_mut().map(|own| (own, head.take())).collect();
            let shared_lanes = &lanes;
            ws.pool.scatter(items, |(own, head)| {
                if more {
                    load_into(own, t + 1, next);
                }
                if let Some(head) = head {
                    let y = &own.targets[slot][..m * n_out];
                    head.run(cost, shared_lanes, y, m, rule);
                }
            });
            let m_next = if more { loaded[0].m[next] } else { 0 };
            assert!(
                !more || loaded.iter().all(|own| own.m[next] == m_next),
                "the loader gave every thread the same mini-batch"
            );
            let back = Back {
                slot,
                m,
                raw: &raw[..m * n_out],
                scaled: &scaled[..m * n_out],
            };
            let forward = more.then_some((next, m_next));
            self.owned_pass(ws, &mut lanes, &loaded, rule, Some(back), forward);
            slot = next;
            m = m_next;
            if !done() {
                taken = t + 1;
                break;
            }
        }
        // w³ and v³ back from the threads' columns.
        let w3 = self.weights[1]
            .as_slice_mut()
            .expect("weights are kept in standard layout");
        for lane in &lanes {
            let (p, width) = (&lane.neurons, lane.neurons.len());
            for o in 0..n_out {
                let row = o * n + p.start..o * n + p.end;
                w3[row.clone()].copy_from_slice(&lane.w[o * width..(o + 1) * width]);
                if momentum {
                    ws.back.velocity_w[1][row].copy_from_slice(&lane.v[o * width..(o + 1) * width]);
                }
            }
        }
        self.store_first(ws, taken == batches);
        taken
    }

    /// One pass over the threads' lanes: with `back`, the step's BP2,
    /// BP3 and BP4 on the hidden layer's lanes, and BP4 and the step on
    /// the first layer's tiles; then, with `forward` (a slot and its
    /// size), that mini-batch fed through the first layer and each thread's
    /// half of z³ summed.
    fn owned_pass(
        &mut self,
        ws: &mut Trainer<F>,
        lanes: &mut [Lane<F>],
        loaded: &[Loaded<F>],
        rule: &Rule<F>,
        back: Option<Back<F>>,
        forward: Option<(usize, usize)>,
    ) {
        let (k, n, n_out) = (self.sizes[0], self.sizes[1], self.sizes[2]);
        let act = self.activation;
        let Trainer {
            buffers,
            back: bk,
            pool,
            ..
        } = ws;
        let FirstLayer {
            tiles,
            wt,
            vt,
            c,
            owed,
            ..
        } = &mut buffers.first;
        let main = &loaded[0];
        let step_rows = back.map(|b| (&main.rows[b.slot], rule));
        let next_rows = forward.map(|(slot, _)| &main.rows[slot]);
        let lazy = owe_steps(tiles, wt, vt, owed, step_rows, next_rows, pool);
        let visit = owed.visit(lazy);
        let momentum = rule.momentum != F::zero();
        let stepping = back.is_some();
        let vts = velocity_shares(tiles, vt, momentum && stepping);
        let parts = tiles.neuron_parts();
        let lane_parts = tiles.lane_parts();
        let m_step = back.map_or(0, |b| b.m);
        let cs = pieces_mut(&mut c[..m_step * tiles.np], &lane_parts, m_step);
        let biases = self.biases[0]
            .as_slice_mut()
            .expect("biases are kept in standard layout");
        let vb = (momentum && stepping).then(|| &mut bk.velocity_b[0][..n]);
        let items: Vec<_> = lanes
            .iter_mut()
            .zip(loaded)
            .zip(tiles.parts_mut(wt).into_iter().zip(vts))
            .zip(cs.zip(lane_parts.windows(2).map(|p| p[0]..p[1])))
            .zip(pieces_mut(biases, &parts, 1).zip(option_pieces(vb, &parts, 1)))
            .collect();
        let rate = rule.eta / F::from(m_step).unwrap_or_else(F::one);
        let by_input = tiles.by_input();
        pool.scatter(
            items,
            |((((lane, own), ((spans, w), v)), (c, lanes)), (b, vb))| {
                let width = lane.neurons.len();
                if let Some(back) = back {
                    let m = back.m;
                    let (delta, a) = (&mut lane.delta[..m * width], &lane.a[..m * width]);
                    // BP2 on this thread's lanes, before w³ moves:
                    // δ² = ((w³)^T δ³) ⊙ f'(z²).
                    real::back(back.raw, &lane.w, delta, m, n_out, width);
                    real::bp2_finish(act, delta, a, &[]);
                    // BP3 on its biases, as `backward` takes it; δ² becomes −(η/m) δ².
                    bias_step(b, vb, delta, rate, rule.momentum);
                    lanes_of(delta, width, 0..lanes.len(), c);
                    // BP4 on its columns of w³ (and v³).
                    let v3 = momentum.then_some(&mut lane.v[..]);
                    bp4_rows(
                        back.scaled,
                        a,
                        &mut lane.w,
                        v3,
                        m,
                        n_out,
                        width,
                        0..n_out,
                        rule,
                    );
                }
                let step = back.map(|back| (&own.rows[back.slot], rule));
                let first = lane.neurons.start;
                let input = forward.map(|(slot, _)| Feed {
                    rows: &own.rows[slot],
                    b: &b[..],
                    first,
                    f: Some(act),
                });
                let out = forward.map(|(_, m)| Block {
                    z: &mut lane.a[..m * width],
                    first,
                    ldz: width,
                    columns: Vec::new(),
                });
                share_work(
                    k, n, by_input, &spans, w, v, c, lanes, step, visit, input, out,
                );
                if let Some((_, m)) = forward {
                    let (a, h) = (&lane.a[..m * width], &mut lane.sums[..m * n_out]);
                    halves::half(a, &lane.w, h, m, n_out, width);
                }
            },
        );
        if stepping && lazy {
            owed.paid(true);
        }
    }
}

impl<F: Real> Head<'_, F> {
    /// The output layer for the mini-batch the threads fed forward: z³ from
    /// their halves' sums (`halves::join`), a³, BP1 (δ³ kept in `raw` for
    /// BP2), and BP3's step on b³, which leaves −(η/m) δ³ for BP4.
    fn run(self, cost: Cost, lanes: &[Lane<F>], y: &[F], m: usize, rule: &Rule<F>) {
        let Head {
            b,
            vb,
            a,
            z,
            delta,
            raw,
        } = self;
        let n_out = b.len();
        halves::join(
            &lanes[0].sums[..m * n_out],
            &lanes[1].sums[..m * n_out],
            b,
            a,
        );
        z.copy_from_slice(a);
        output_layer(cost, a, m, n_out);
        // BP1: δ^L = ∇_a C ⊙ σ'(z^L).
        output_error(cost, a, y, delta, m);
        raw.copy_from_slice(delta);
        let rate = rule.eta / F::from(m).unwrap_or_else(F::one);
        bias_step(b, vb, delta, rate, rule.momentum);
    }
}
