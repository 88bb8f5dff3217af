//! Speed: feedforward of a mini-batch, one mini-batch update (feedforward,
//! backpropagation and the step, timed over runs of 100 as training takes
//! them), and one epoch of SGD over the 50,000 training images, for the
//! networks the issues track; the same products through ndarray's `dot`
//! (matrixmultiply), the dense baseline the kernels are measured against;
//! the wide network's epoch as the 99% command trains it; and data loading.
//! Run with `cargo bench`; it reads the bundled MNIST.

use std::hint::black_box;
use std::path::Path;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use ndarray::{Array2, ArrayViewMut2};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use nndl::data::LitPixels;
use nndl::train::{Sgd, Silent};
use nndl::{
    Activation, Batch, Cost, Dataset, Init, Network, Rule, TrainConfig, Trainer, load_mnist,
};

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
    let lit = LitPixels::of(data).expect("MNIST images fit u16 indices");
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
        let load = |t: usize, batch: &mut Batch<'_, f32>| {
            let indices: Vec<usize> = (t % 100 * m..(t % 100 + 1) * m).collect();
            if let Some(mut inputs) = batch.lit() {
                for &i in &indices {
                    lit.runs(i, 1, |index, bytes, offset| {
                        inputs.run(index, bytes, offset)
                    });
                    inputs.end_image();
                }
            } else {
                data.gather_pixels(&indices, 1, batch.pixels);
            }
            let y = &mut batch.targets[..m * data.classes];
            if let Ok(y) = ArrayViewMut2::from_shape((m, data.classes), y) {
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

/// The dense baseline: the book's matrix-based step and feedforward, whose
/// products are ndarray's `dot` (matrixmultiply), on the same mini-batch.
fn baseline(c: &mut Criterion) {
    let mnist = load_mnist(Path::new("data/mnist")).expect("bundled MNIST");
    let mut group = c.benchmark_group("ndarray dot baseline");
    for (sizes, m, eta) in NETWORKS {
        let (x, y) = batch(&mnist.training, m);
        let mut net = Network::<f32>::new(sizes, &mut ChaCha8Rng::seed_from_u64(1)).unwrap();
        group.bench_function(format!("feedforward {}", name(sizes, m)), |b| {
            b.iter(|| black_box(net.feedforward_batch(x.t())))
        });
        group.bench_function(format!("update {}", name(sizes, m)), |b| {
            b.iter(|| net.update_mini_batch(x.t(), y.t(), eta as f32))
        });
    }
    group.finish();
}

/// The 99% command's network and rule: [784, 800, 10], ReLU, softmax, He
/// initialisation, momentum 0.9, η = 0.1, at m = 10 and m = 100; an epoch
/// of training (evaluation excluded) on two threads, and evaluation.
fn wide(c: &mut Criterion) {
    let mnist = load_mnist(Path::new("data/mnist")).expect("bundled MNIST");
    let mut group = c.benchmark_group("wide");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(30));
    for m in [10, 100] {
        let config = TrainConfig {
            sizes: vec![784, 800, 10],
            batch_size: m,
            eta: 0.1,
            activation: Activation::Relu,
            cost: Cost::LogLikelihood,
            init: Init::He,
            momentum: 0.9,
            threads: 2,
            ..TrainConfig::chapter(1)
        };
        let mut sgd = Sgd::<f32>::new(&config, &mnist.training).unwrap();
        let what = "[784, 800, 10] ReLU/softmax/momentum";
        group.bench_function(
            format!("SGD over 50,000 images {what} m={m}, 2 threads"),
            |b| b.iter(|| sgd.epoch(&mut Silent, &|| true)),
        );
        if m == 100 {
            group.bench_function(format!("evaluate 10,000 images {what}, 2 threads"), |b| {
                b.iter(|| black_box(sgd.evaluate(&mnist.test)))
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

criterion_group!(benches, mini_batch, baseline, epoch, wide, load);
criterion_main!(benches);
