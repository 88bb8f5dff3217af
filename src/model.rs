//! Model files: JSON in the layout of network2.py's `save`, so the two
//! programs read each other's files.
//!
//! `{"sizes": [784, 30, 10], "weights": [w^2, w^3], "biases": [b^2, b^3],
//!   "cost": "QuadraticCost", "activation": "sigmoid"}`: each w^l a list of
//! rows, each b^l a column vector (a list of one-element lists). network2.py
//! ignores the `activation` key; a file without it is sigmoid.

use std::path::Path;

use ndarray::{Array1, Array2, NdFloat};
use serde::{Deserialize, Serialize};

use crate::activation::Activation;
use crate::cost::Cost;
use crate::error::{Error, Result};
use crate::files;
use crate::network::Network;

#[derive(Serialize)]
struct ModelOut<'a> {
    sizes: &'a [usize],
    weights: Vec<Vec<Vec<f64>>>,
    biases: Vec<Vec<[f64; 1]>>,
    cost: &'static str,
    activation: &'static str,
    output: &'static str,
    precision: Precision,
}

#[derive(Deserialize)]
struct ModelIn {
    sizes: Vec<usize>,
    weights: Vec<Vec<Vec<f64>>>,
    biases: Vec<BiasVector>,
    #[serde(default)]
    cost: Option<String>,
    #[serde(default)]
    activation: Option<String>,
    #[serde(default)]
    output: Option<String>,
    #[serde(default)]
    precision: Precision,
}

/// The float type a network computes in. A model remembers it, so that
/// `evaluate` and `predict` compute exactly as training did; network2.py's
/// files are f64.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Precision {
    F32,
    #[default]
    F64,
}

impl Precision {
    pub fn of<F: NdFloat>() -> Precision {
        if std::mem::size_of::<F>() == 4 {
            Precision::F32
        } else {
            Precision::F64
        }
    }
}

impl std::str::FromStr for Precision {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "f32" => Ok(Precision::F32),
            "f64" => Ok(Precision::F64),
            _ => Err(format!("unknown precision '{s}' (expected f32 or f64)")),
        }
    }
}

impl std::fmt::Display for Precision {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Precision::F32 => "f32",
            Precision::F64 => "f64",
        })
    }
}

/// A model as read from a file: its numbers, exact in f64, and the
/// precision it was trained in.
#[derive(Clone, Debug, PartialEq)]
pub struct Model {
    pub net: Network<f64>,
    pub precision: Precision,
}

/// network2.py writes biases as columns; a flat list is read too.
#[derive(Deserialize)]
#[serde(untagged)]
enum BiasVector {
    Column(Vec<[f64; 1]>),
    Flat(Vec<f64>),
}

/// The model as JSON text.
pub fn to_json<F: NdFloat>(net: &Network<F>) -> Result<String, String> {
    let f = |x: &F| x.to_f64().unwrap_or(f64::NAN);
    let model = ModelOut {
        sizes: &net.sizes,
        weights: net
            .weights
            .iter()
            .map(|w| {
                w.rows()
                    .into_iter()
                    .map(|r| r.iter().map(f).collect())
                    .collect()
            })
            .collect(),
        biases: net
            .biases
            .iter()
            .map(|b| b.iter().map(|x| [f(x)]).collect())
            .collect(),
        cost: net.cost.class_name(),
        activation: net.activation.name(),
        output: net.cost.output().name(),
        precision: Precision::of::<F>(),
    };
    let finite = model
        .weights
        .iter()
        .flatten()
        .flatten()
        .all(|x| x.is_finite())
        && model.biases.iter().flatten().all(|[x]| x.is_finite());
    if !finite {
        return Err(
            "the network's weights are not finite (training diverged: try a smaller --eta)".into(),
        );
    }
    serde_json::to_string(&model).map_err(|e| e.to_string())
}

/// Reads a model from JSON text; errors name the layer at fault.
pub fn from_json(text: &str) -> Result<Model, String> {
    let model: ModelIn =
        serde_json::from_str(text).map_err(|e| format!("not a model file: {e}"))?;
    let cost = match model.cost.as_deref() {
        None => Cost::Quadratic,
        Some(name) => {
            Cost::from_class_name(name).ok_or_else(|| format!("unknown cost '{name}'"))?
        }
    };
    if let Some(output) = model.output.as_deref()
        && output != cost.output().name()
    {
        return Err(format!(
            "output layer '{output}' does not go with cost '{}' (which has a {} output layer)",
            cost.class_name(),
            cost.output()
        ));
    }
    let activation = match model.activation.as_deref() {
        None => Activation::Sigmoid,
        Some(name) => name.parse()?,
    };
    let precision = model.precision;
    // Every number must be finite in the model's own precision.
    let limit = match precision {
        Precision::F32 => f64::from(f32::MAX),
        Precision::F64 => f64::MAX,
    };
    let numbers =
        model
            .weights
            .iter()
            .flatten()
            .flatten()
            .copied()
            .chain(model.biases.iter().flat_map(|b| match b {
                BiasVector::Column(v) => v.iter().map(|[x]| *x).collect::<Vec<_>>(),
                BiasVector::Flat(v) => v.clone(),
            }));
    if let Some(x) = numbers.into_iter().find(|x| x.abs() > limit) {
        return Err(format!("holds {x:e}, beyond the range of {precision}"));
    }
    let c = |x: f64| x;
    let mut weights = Vec::with_capacity(model.weights.len());
    for (i, rows) in model.weights.into_iter().enumerate() {
        let cols = rows.first().map_or(0, Vec::len);
        if let Some(bad) = rows.iter().position(|r| r.len() != cols) {
            return Err(format!(
                "layer {}: weight row {bad} has {} entries, row 0 has {cols}",
                i + 2,
                rows[bad].len()
            ));
        }
        let n = rows.len();
        let flat = rows.into_iter().flatten().map(c).collect();
        weights.push(
            Array2::from_shape_vec((n, cols), flat).map_err(|e| format!("layer {}: {e}", i + 2))?,
        );
    }
    let biases = model
        .biases
        .into_iter()
        .map(|b| match b {
            BiasVector::Column(v) => v.into_iter().map(|[x]| c(x)).collect::<Array1<f64>>(),
            BiasVector::Flat(v) => v.into_iter().map(c).collect(),
        })
        .collect();
    let net = Network::from_parts(model.sizes, weights, biases, activation, cost)?;
    Ok(Model { net, precision })
}

/// Loads a model file: a regular file of at most `files::MAX_READ` bytes.
pub fn load(path: &Path) -> Result<Model> {
    let text = files::read_text(path)?;
    from_json(&text).map_err(|m| Error::invalid(path, m))
}

/// Saves atomically (`files::write_atomically`): a failed or interrupted
/// run never leaves a half-written model.
pub fn save<F: NdFloat>(net: &Network<F>, path: &Path) -> Result<()> {
    let json = to_json(net).map_err(|m| Error::invalid(path, m))?;
    files::write_atomically(path, format!("{json}\n").as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    #[test]
    fn round_trips_exactly() {
        let mut net = Network::<f64>::new(&[4, 3, 2], &mut ChaCha8Rng::seed_from_u64(3)).unwrap();
        net.activation = Activation::Tanh;
        net.cost = Cost::CrossEntropy;
        let back = from_json(&to_json(&net).unwrap()).unwrap();
        assert_eq!(back.net, net);
        assert_eq!(back.precision, Precision::F64);
        // An f32 network widens to f64 exactly and narrows back unchanged.
        let narrow = net.cast::<f32>();
        let back = from_json(&to_json(&narrow).unwrap()).unwrap();
        assert_eq!(back.precision, Precision::F32);
        assert_eq!(back.net.cast::<f32>(), narrow);
    }

    #[test]
    fn reads_network2_layout() {
        // As network2.py's save writes it: biases as columns, no activation key.
        let text = r#"{"sizes": [2, 1], "weights": [[[0.5, -1.25]]], "biases": [[[0.75]]], "cost": "CrossEntropyCost"}"#;
        let model = from_json(text).unwrap();
        assert_eq!(model.precision, Precision::F64);
        let net = model.net;
        assert_eq!(net.weights[0], ndarray::array![[0.5, -1.25]]);
        assert_eq!(net.biases[0], ndarray::array![0.75]);
        assert_eq!(net.cost, Cost::CrossEntropy);
        assert_eq!(net.activation, Activation::Sigmoid);
    }

    #[test]
    fn rejects_shapes_that_disagree_with_sizes() {
        let text = r#"{"sizes": [2, 2, 1], "weights": [[[1, 2], [3, 4]], [[1, 2, 3]]], "biases": [[[0], [0]], [[0]]], "cost": "QuadraticCost"}"#;
        let err = from_json(text).unwrap_err();
        assert!(err.contains("layer 3"), "{err}");
        let ragged = r#"{"sizes": [2, 2], "weights": [[[1, 2], [3]]], "biases": [[[0], [0]]]}"#;
        assert!(from_json(ragged).unwrap_err().contains("layer 2"));
    }

    #[test]
    fn softmax_models_say_so() {
        let mut net = Network::<f64>::new(&[3, 2], &mut ChaCha8Rng::seed_from_u64(3)).unwrap();
        net.cost = Cost::LogLikelihood;
        let text = to_json(&net).unwrap();
        assert!(
            text.contains(r#""cost":"LogLikelihoodCost""#)
                && text.contains(r#""output":"softmax""#)
        );
        assert_eq!(from_json(&text).unwrap().net, net);
        let mismatched = text.replace(r#""output":"softmax""#, r#""output":"sigmoid""#);
        assert!(
            from_json(&mismatched)
                .unwrap_err()
                .contains("does not go with")
        );
    }

    #[test]
    fn refuses_to_save_a_diverged_network() {
        let mut net = Network::<f64>::new(&[2, 1], &mut ChaCha8Rng::seed_from_u64(3)).unwrap();
        net.weights[0][[0, 0]] = f64::NAN;
        assert!(to_json(&net).is_err());
    }
}
