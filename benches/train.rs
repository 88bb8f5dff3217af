//! Speed: feedforward of a mini-batch, one mini-batch update (feedforward,
//! backpropagation and the step, timed over runs of 100 as training takes
//! them), and one epoch of SGD over the 50,000 training images, for the
//! networks the issues track; and data loading.
//! Run with `cargo bench`; it reads the bundled MNIST.

use std::hint::black_box;
use std::path::Path;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use ndarray::{Array2, ArrayViewMut2};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use nndl::train::{Sgd, Silent};
use nndl::{Dataset, Network, Rule, TrainConfig, Trainer, load_mnist};

/// (sizes, mini-batch, η).
const NETWORKS: [(&[usize], usize, f64); 3] = [
    (&[784, 30, 10], 10, 3.0),
    (&[784, 100, 10], 10, 3.0),
    (&[784, 800, 10], 10, 0.5),
];

fn name(sizes: &[usize], m: usize) -> String {
    format!("{sizes:?} m={m}")
}

fn batch(data: &Dataset, m: usize) -> (Array2<f32>, Array2<f32>) {
    let indices: Vec<usize> = (0..m).collect();
    let mut x = Array2::<f32>::zeros((m, data.pixels()));
    let mut y = Array2::<f32>::zeros((m, data.classes));
    data.gather_images(&indices, x.view_mut());
    data.gather_targets(&indices, y.view_mut().reversed_axes());
    (x, y)
}

/// Mini-batches per timed run of `update_mini_batches`.
const STEPS: u32 = 100;

fn mini_batch(c: &mut Criterion) {
    let mnist = load_mnist(Path::new("data/mnist")).expect("bundled MNIST");
    let data = &mnist.training;
    let mut group = c.benchmark_group("mini-batch");
    for (sizes, m, eta) in NETWORKS {
        let (x, _) = batch(data, m);
        let mut net = Network::<f32>::new(sizes, &mut ChaCha8Rng::seed_from_u64(1)).unwrap();
        let mut ws = Trainer::new(sizes, m, 0);
        group.bench_function(format!("feedforward {}", name(sizes, m)), |b| {
            b.iter(|| {
                black_box(ws.feedforward(&net, x.t()));
            })
        });
        // One training step as an epoch takes it: mini-batch t of the first
        // 100 (images t·m …), loaded as the epoch loads them.
        let rule = Rule::sgd(eta as f32);
        let load = |t: usize, pixels: &mut [u8], y: &mut [f32]| {
            let indices: Vec<usize> = (t % 100 * m..(t % 100 + 1) * m).collect();
            data.gather_pixels(&indices, 1, pixels);
            if let Ok(y) = ArrayViewMut2::from_shape((m, data.classes), &mut y[..m * data.classes])
            {
                data.gather_targets(&indices, y.reversed_axes());
            }
            m
        };
        for threads in [0, 1] {
            let mut ws = Trainer::new(sizes, m, threads);
            let what = if threads == 1 { ", 1 thread" } else { "" };
            group.bench_function(format!("update {}{what}", name(sizes, m)), |b| {
                b.iter_custom(|iters| {
                    let start = Instant::now();
                    for _ in 0..iters {
                        ws.steps(&mut net, STEPS as usize, load, &rule, &mut || true);
                    }
                    start.elapsed() / STEPS
                })
            });
        }
    }
    group.finish();
}

fn epoch(c: &mut Criterion) {
    let mnist = load_mnist(Path::new("data/mnist")).expect("bundled MNIST");
    let mut group = c.benchmark_group("epoch");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(20));
    for (sizes, m, eta) in NETWORKS {
        let config = TrainConfig {
            sizes: sizes.to_vec(),
            batch_size: m,
            eta,
            ..TrainConfig::chapter(1)
        };
        let mut sgd = Sgd::<f32>::new(&config, &mnist.training).unwrap();
        group.bench_function(format!("SGD over 50,000 images {}", name(sizes, m)), |b| {
            b.iter(|| sgd.epoch(&mut Silent, &|| true))
        });
        group.bench_function(format!("evaluate 10,000 images {}", name(sizes, m)), |b| {
            b.iter(|| black_box(sgd.evaluate(&mnist.test)))
        });
    }
    group.finish();
}

fn load(c: &mut Criterion) {
    let mut group = c.benchmark_group("data");
    group.sample_size(10);
    group.bench_function("load_mnist (gzipped)", |b| {
        b.iter(|| load_mnist(Path::new("data/mnist")).expect("bundled MNIST"))
    });
    group.finish();
}

criterion_group!(benches, mini_batch, epoch, load);
criterion_main!(benches);
