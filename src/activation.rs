//! Neurons: the activation function f and its derivative f'.
//!
//! The chapter's exercise on other neurons: changing the neuron changes only
//! σ' in BP1 and BP2 into f'; the rest of backpropagation is untouched.

use std::fmt;
use std::str::FromStr;

use ndarray::NdFloat;

pub use crate::sigmoid::{sigmoid, sigmoid_f32};

/// The activation function of the hidden (and, for sigmoid, output) neurons.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Activation {
    /// σ(z) = 1 / (1 + e^−z), the chapter's neuron.
    Sigmoid,
    /// tanh(z).
    Tanh,
    /// max(0, z).
    Relu,
    /// f(z) = z: the chapter's linear neurons.
    Linear,
}

impl Activation {
    pub const ALL: [Activation; 4] = [
        Activation::Sigmoid,
        Activation::Tanh,
        Activation::Relu,
        Activation::Linear,
    ];

    /// f(z).
    #[inline]
    pub fn f<F: NdFloat>(self, z: F) -> F {
        match self {
            Activation::Sigmoid => sigmoid(z),
            Activation::Tanh => z.tanh(),
            Activation::Relu => z.max(F::zero()),
            Activation::Linear => z,
        }
    }

    /// f'(z), the derivative that replaces σ'(z) in BP1 and BP2.
    #[inline]
    pub fn prime<F: NdFloat>(self, z: F) -> F {
        match self {
            Activation::Sigmoid => {
                let s = sigmoid(z);
                s * (F::one() - s)
            }
            Activation::Tanh => {
                let t = z.tanh();
                F::one() - t * t
            }
            Activation::Relu => {
                if z > F::zero() {
                    F::one()
                } else {
                    F::zero()
                }
            }
            Activation::Linear => F::one(),
        }
    }

    /// f'(z) read off the neuron's output a = f(z), so the backward pass
    /// need not keep z: σ' = a(1 − a), tanh' = 1 − a², ReLU' = [a > 0].
    #[inline]
    pub fn prime_from_output<F: NdFloat>(self, a: F) -> F {
        match self {
            Activation::Sigmoid => a * (F::one() - a),
            Activation::Tanh => F::one() - a * a,
            Activation::Relu => {
                if a > F::zero() {
                    F::one()
                } else {
                    F::zero()
                }
            }
            Activation::Linear => F::one(),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Activation::Sigmoid => "sigmoid",
            Activation::Tanh => "tanh",
            Activation::Relu => "relu",
            Activation::Linear => "linear",
        }
    }
}

impl fmt::Display for Activation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Activation {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Activation::ALL
            .into_iter()
            .find(|a| a.name() == s)
            .ok_or_else(|| {
                format!("unknown activation '{s}' (expected sigmoid, tanh, relu or linear)")
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sigmoid_saturates_without_nan() {
        for z in [-1e4f64, -750.0, 0.0, 750.0, 1e4] {
            let s = sigmoid(z);
            assert!(s.is_finite() && (0.0..=1.0).contains(&s), "σ({z}) = {s}");
        }
        assert_eq!(sigmoid(0.0f64), 0.5);
        assert_eq!(sigmoid(-1e4f32), 0.0);
        assert_eq!(sigmoid(1e4f32), 1.0);
    }

    #[test]
    fn f32_sigmoid_is_within_two_ulp() {
        let mut worst = 0.0f64;
        let mut z = -110.0f32;
        while z < 110.0 {
            let exact = 1.0 / (1.0 + (-(z as f64)).exp());
            let got = sigmoid_f32(z) as f64;
            if exact >= 1e-30 {
                let ulp = (exact as f32).abs() * f32::EPSILON;
                worst = worst.max((got - exact).abs() / ulp as f64);
            } else {
                assert_eq!(got, 0.0, "σ({z})");
            }
            z += 0.001_3;
        }
        assert!(worst <= 2.0, "worst error {worst} ulp");
        assert_eq!(sigmoid_f32(0.0), 0.5);
        assert_eq!(sigmoid_f32(200.0), 1.0);
        assert_eq!(sigmoid_f32(-200.0), 0.0);
        assert!(sigmoid_f32(f32::NAN).is_nan());
    }

    #[test]
    fn prime_matches_central_difference() {
        let h = 1e-6;
        for act in Activation::ALL {
            // Away from ReLU's kink at 0.
            for z in [-2.3f64, -0.7, 0.4, 1.9] {
                let numeric = (act.f(z + h) - act.f(z - h)) / (2.0 * h);
                let analytic = act.prime(z);
                assert!(
                    (numeric - analytic).abs() < 1e-8,
                    "{act}: f'({z}) = {analytic}, numeric {numeric}"
                );
            }
        }
    }

    #[test]
    fn prime_from_output_agrees_with_prime() {
        for act in Activation::ALL {
            for z in [-2.3f64, -0.7, 0.4, 1.9] {
                let (p, q) = (act.prime(z), act.prime_from_output(act.f(z)));
                assert!((p - q).abs() < 1e-12, "{act} at {z}: {p} vs {q}");
            }
        }
    }

    #[test]
    fn names_round_trip() {
        for act in Activation::ALL {
            assert_eq!(act.name().parse::<Activation>(), Ok(act));
        }
        assert!("softsign".parse::<Activation>().is_err());
    }
}
