//! nndl: the backpropagation network of chapter 2 of Michael Nielsen's
//! *Neural Networks and Deep Learning*, trained on MNIST.
//!
//! The book and the engine:
//! - [`network`], the book: `Network`, feedforward, backpropagation
//!   (BP1–BP4), mini-batch gradient descent, per example and fully
//!   matrix-based, as network.py. [`rules`]: chapter 3's L2, momentum and
//!   dropout beside it. [`init`]: sizes checked, weights drawn.
//! - [`Trainer`], the engine (private modules under `engine/`): the same
//!   steps fast, with SIMD kernels, a sparse first layer and threads;
//!   checked against the book.
//! - [`activation`], [`cost`]: neurons f, f' and costs C, ∇_a C.
//! - [`gradcheck`]: the finite-difference gradient of eq. (46), the reference.
//! - [`data`]: the MNIST IDX loader. [`train`]: the SGD loop, an epoch at
//!   a time; [`checkpoint`]: a run saved between epochs, to resume.
//! - [`model`]: network2.py-compatible JSON model files. [`files`]: outputs
//!   checked early and written atomically, inputs checked.
//! - [`image_input`]: a picture of a digit made into MNIST's form.

#![deny(clippy::undocumented_unsafe_blocks)]

pub mod activation;
pub mod checkpoint;
pub mod cost;
pub mod data;
mod engine;
pub mod error;
pub mod files;
pub mod gradcheck;
pub mod image_input;
pub mod init;
pub mod metrics;
pub mod model;
pub mod network;
pub mod rules;
mod sigmoid;
pub mod trace;
pub mod train;

pub use activation::Activation;
pub use cost::Cost;
pub use data::{Dataset, Mnist, load_mnist};
pub use engine::{Batch, LitInputs, Real, Trainer};
pub use error::{Error, Result};
pub use init::Init;
pub use network::Network;
pub use rules::Rule;
pub use train::{TrainConfig, train};
