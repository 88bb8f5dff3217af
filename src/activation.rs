//! Neurons: the activation function f and its derivative f'.
//!
//! The chapter's exercise on other neurons: changing the neuron changes only
//! σ' in BP1 and BP2 into f'; the rest of backpropagation is untouched.

use std::fmt;
use std::str::FromStr;

use ndarray::NdFloat;

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

    /// f applied to every entry of `v`; σ eight or sixteen at a time where
    /// the processor can (the same values as `f`).
    pub fn apply<F: NdFloat>(self, v: &mut [F]) {
        match self {
            Activation::Sigmoid => crate::kernels::sigmoid(v),
            _ => v.iter_mut().for_each(|x| *x = self.f(*x)),
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

/// σ(z) without overflow: for z ≪ 0, e^−z is inf and the result is a clean 0.
/// Outputs below 1e-30 are 0 too: subnormal floats are slow to compute with,
/// and nothing that small changes a result. In f32, `sigmoid_f32`.
#[inline]
pub fn sigmoid<F: NdFloat>(z: F) -> F {
    if let Some(z) = (&z as &dyn std::any::Any).downcast_ref::<f32>() {
        let s = sigmoid_f32(*z);
        return F::from(s).unwrap_or_else(F::zero);
    }
    let s = F::one() / (F::one() + (-z).exp());
    if s < F::from(1e-30).unwrap_or_else(F::min_positive_value) {
        F::zero()
    } else {
        s
    }
}

/// e^x = 2^n e^r, n = round(x log₂e), r = x − n ln 2 in two parts (the
/// first, n·LN2_HI, exact), e^r by its Taylor polynomial to r⁷ (error below
/// 1e-8 for |r| ≤ ln2/2).
pub(crate) const LOG2E: f32 = std::f32::consts::LOG2_E;
pub(crate) const LN2_HI: f32 = 0.693_145_75;
pub(crate) const LN2_LO: f32 = 1.428_606_8e-6;
pub(crate) const EXP_TAYLOR: [f32; 8] = [
    1.0,
    1.0,
    1.0 / 2.0,
    1.0 / 6.0,
    1.0 / 24.0,
    1.0 / 120.0,
    1.0 / 720.0,
    1.0 / 5040.0,
];

/// σ(z) in f32, in plain multiplies and adds the SIMD kernels repeat lane
/// for lane (`kernels::sigmoid`), so every build and path gives the same
/// bits: within 2 ulp of the exact σ. 0 for e^−z beyond f32 (and below
/// 1e-30, as `sigmoid`), 1 where e^−z is below 2⁻¹²⁵.
#[inline]
pub fn sigmoid_f32(z: f32) -> f32 {
    let x = -z;
    if x > 88.0 || x.is_nan() {
        return if x.is_nan() { f32::NAN } else { 0.0 };
    }
    if x < -87.0 {
        return 1.0;
    }
    let n = (x * LOG2E).round_ties_even();
    let r = (x - n * LN2_HI) - n * LN2_LO;
    let mut p = EXP_TAYLOR[7];
    for &c in EXP_TAYLOR[..7].iter().rev() {
        p = p * r + c;
    }
    let two_n = f32::from_bits(((n as i32 + 127) as u32) << 23);
    let s = 1.0 / (1.0 + p * two_n);
    if s < 1e-30 { 0.0 } else { s }
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
