//! Speed of the chapter's network: one mini-batch update and one epoch.
//! Run with `cargo bench`; the epoch bench reads the bundled MNIST.

use std::hint::black_box;
use std::path::Path;

use criterion::{Criterion, criterion_group, criterion_main};
use ndarray::Array2;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use nndl::train::Silent;
use nndl::{Network, TrainConfig, load_mnist};

fn mini_batch(c: &mut Criterion) {
    let mnist = load_mnist(Path::new("data/mnist")).expect("bundled MNIST");
    let indices: Vec<usize> = (0..10).collect();
    let mut x = Array2::<f64>::zeros((10, 784));
    let mut y = Array2::<f64>::zeros((10, 10));
    mnist.training.gather_images(&indices, x.view_mut());
    mnist.training.gather_targets(&indices, y.view_mut());
    let mut net = Network::<f64>::new(&[784, 30, 10], &mut ChaCha8Rng::seed_from_u64(1));
    c.bench_function("update_mini_batch [784, 30, 10] m=10", |b| {
        b.iter(|| net.update_mini_batch(black_box(x.t()), y.view(), 3.0))
    });
    c.bench_function("update_mini_batch_per_example [784, 30, 10] m=10", |b| {
        b.iter(|| net.update_mini_batch_per_example(black_box(x.t()), y.view(), 3.0))
    });
}

fn epoch(c: &mut Criterion) {
    let mnist = load_mnist(Path::new("data/mnist")).expect("bundled MNIST");
    let config = TrainConfig {
        epochs: 1,
        ..TrainConfig::chapter(1)
    };
    let mut group = c.benchmark_group("epoch");
    group.sample_size(10);
    group.bench_function("[784, 30, 10] m=10, training + test evaluation", |b| {
        b.iter(|| nndl::train::<f64>(&config, &mnist.training, &mnist.test, &mut Silent))
    });
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
