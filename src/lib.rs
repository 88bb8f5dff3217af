//! nndl: the backpropagation network of chapter 2 of Michael Nielsen's
//! *Neural Networks and Deep Learning*, trained on MNIST.
//!
//! - [`network`]: `Network`, feedforward, backpropagation (BP1–BP4),
//!   mini-batch gradient descent, per example and fully matrix-based.
//! - [`activation`], [`cost`]: neurons f, f' and costs C, ∇_a C.
//! - [`gradcheck`]: the finite-difference gradient of eq. (46), the reference.
//! - [`data`]: the MNIST IDX loader. [`train`]: the SGD loop.
//! - [`model`]: network2.py-compatible JSON model files.
//! - [`image_input`]: a picture of a digit made into MNIST's form.

#![deny(clippy::undocumented_unsafe_blocks)]

pub mod activation;
pub mod cost;
pub mod data;
pub mod error;
pub mod gradcheck;
pub mod image_input;
mod kernels;
pub mod model;
pub mod network;
mod parallel;
mod sparse;
pub mod train;

pub use activation::Activation;
pub use cost::Cost;
pub use data::{Dataset, Mnist, load_mnist};
pub use error::{Error, Result};
pub use network::Network;
pub use train::{TrainConfig, train};
