//! Speed: feedforward of a mini-batch, one mini-batch update (feedforward,
//! backpropagation and the step), and one epoch of SGD over the 50,000
//! training images, for the networks the issues track; and data loading.
//! Run with `cargo bench`; it reads the bundled MNIST.

use std::hint::black_box;
use std::path::Path;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use ndarray::Array2;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use nndl::network::Workspace;
use nndl::train::{Sgd, Silent};
use nndl::{Dataset, Network, TrainConfig, load_mnist};

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

fn mini_batch(c: &mut Criterion) {
    let mnist = load_mnist(Path::new("data/mnist")).expect("bundled MNIST");
    let mut group = c.benchmark_group("mini-batch");
    for (sizes, m, eta) in NETWORKS {
        let (x, y) = batch(&mnist.training, m);
        let mut net = Network::<f32>::new(sizes, &mut ChaCha8Rng::seed_from_u64(1));
        let mut ws = Workspace::with_threads(sizes, m, 0);
        group.bench_function(format!("feedforward {}", name(sizes, m)), |b| {
            b.iter(|| {
                black_box(net.feedforward_with(x.t(), &mut ws));
            })
        });
        group.bench_function(format!("update {}", name(sizes, m)), |b| {
            b.iter(|| net.update_mini_batch_with(black_box(x.t()), y.t(), eta as f32, &mut ws))
        });
        let mut one = Workspace::with_threads(sizes, m, 1);
        group.bench_function(format!("update {}, 1 thread", name(sizes, m)), |b| {
            b.iter(|| net.update_mini_batch_with(black_box(x.t()), y.t(), eta as f32, &mut one))
        });
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
        let mut sgd = Sgd::<f32>::new(&config, &mnist.training);
        group.bench_function(format!("SGD over 50,000 images {}", name(sizes, m)), |b| {
            b.iter(|| sgd.epoch(&mut Silent))
        });
        group.bench_function(format!("evaluate 10,000 images {}", name(sizes, m)), |b| {
            b.iter(|| black_box(sgd.net.evaluate(&mnist.test)))
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
