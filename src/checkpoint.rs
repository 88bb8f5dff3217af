//! Checkpoints: everything a run needs to go on exactly where it stood
//! after an epoch, so that an interrupted and resumed run writes the same
//! model, byte for byte, as the run left alone.
//!
//! JSON, numbers exact: the weights and velocities (f32 widened to f64
//! losslessly), η and the schedule's state, the epoch, the generators'
//! positions, the settings and the history, and a fingerprint of the data.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::activation::Activation;
use crate::cost::Cost;
use crate::error::Result;
use crate::init::Init;
use crate::model::Precision;
use crate::train::{EpochReport, Keep, Stop, TrainConfig};

/// What the first key of a checkpoint says.
pub const FORMAT: &str = "nndl checkpoint";
/// The layout's version; a file of another is refused.
pub const VERSION: u32 = 1;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Checkpoint {
    pub format: String,
    pub version: u32,
    /// The data set it was trained on: `Mnist::fingerprint`.
    pub data: String,
    pub precision: Precision,
    pub settings: TrainConfig,
    /// The command's --train-size: the first N training images only.
    pub train_size: Option<usize>,
    /// Epochs done.
    pub epoch: usize,
    /// η as the schedule left it, and the step's η and ηλ/n as the network's
    /// float type holds them.
    pub eta: f64,
    pub rule_eta: f64,
    pub rule_decay: f64,
    pub since_better: usize,
    pub best_validation: Option<usize>,
    pub chosen_epoch: usize,
    pub stop: Option<Stop>,
    /// Words drawn from the shuffling and dropout generators (u128, as text).
    pub shuffle_position: String,
    pub dropout_position: String,
    pub seconds: f64,
    pub history: Vec<EpochReport>,
    pub network: Layers,
    pub chosen: Layers,
    /// Momentum's velocities, once there are any.
    pub velocity: Option<Layers>,
}

/// A network's numbers, or velocities shaped like them: per layer, the
/// weight matrix row after row, and the biases.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Layers {
    pub weights: Vec<Vec<f64>>,
    pub biases: Vec<Vec<f64>>,
}

/// Just the first keys, to refuse another layout before reading the rest.
#[derive(Deserialize)]
struct Header {
    format: Option<String>,
    version: Option<u32>,
}

impl Checkpoint {
    pub fn to_json(&self) -> Result<String, String> {
        serde_json::to_string(self).map_err(|e| e.to_string())
    }

    pub fn from_json(text: &str) -> Result<Checkpoint, String> {
        let header: Header =
            serde_json::from_str(text).map_err(|e| format!("not an nndl checkpoint: {e}"))?;
        if header.format.as_deref() != Some(FORMAT) {
            return Err("not an nndl checkpoint (no \"format\": \"nndl checkpoint\")".into());
        }
        match header.version {
            Some(VERSION) => {}
            Some(v) => {
                return Err(format!(
                    "a checkpoint of layout version {v}; this nndl reads version {VERSION} only"
                ));
            }
            None => return Err("a checkpoint without a layout version".into()),
        }
        serde_json::from_str(text).map_err(|e| format!("a damaged checkpoint: {e}"))
    }
}

/// Serde by the names the flags use, so a checkpoint reads like the command.
macro_rules! serde_by_name {
    ($($t:ty),*) => {$(
        impl Serialize for $t {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.name())
            }
        }
        impl<'de> Deserialize<'de> for $t {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let name = String::deserialize(d)?;
                name.parse().map_err(serde::de::Error::custom)
            }
        }
    )*};
}

serde_by_name!(Activation, Cost, Init, Keep);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn other_layouts_are_refused_by_name() {
        let e = Checkpoint::from_json(r#"{"format": "nndl checkpoint", "version": 99}"#);
        assert!(e.unwrap_err().contains("version 99"));
        let e = Checkpoint::from_json(r#"{"sizes": [1, 2]}"#);
        assert!(e.unwrap_err().contains("not an nndl checkpoint"));
        let e = Checkpoint::from_json(r#"{"format": "nndl checkpoint", "version": 1}"#);
        assert!(e.unwrap_err().contains("damaged"));
        let config = TrainConfig {
            activation: Activation::Relu,
            cost: Cost::LogLikelihood,
            keep: Keep::Last,
            ..TrainConfig::chapter(3)
        };
        let text = serde_json::to_string(&config).unwrap();
        assert!(text.contains(r#""cost":"log-likelihood""#), "{text}");
        assert_eq!(serde_json::from_str::<TrainConfig>(&text).unwrap(), config);
    }
}
