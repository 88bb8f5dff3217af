//! Cost functions C and their output error δ^L (BP1).

use std::fmt;
use std::str::FromStr;

use ndarray::{ArrayView2, ArrayViewMut2, Axis, NdFloat, Zip};

use crate::activation::sigmoid;

/// The cost C over one example's output `a = a^L` and target `y`. Each
/// cost comes with its output layer: sigmoid neurons for the first two, a
/// softmax layer for the log-likelihood (chapter 3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cost {
    /// C = ½‖y − a‖², the chapter's cost (eq. 26).
    Quadratic,
    /// C = −Σ_j [y_j ln a_j + (1 − y_j) ln(1 − a_j)] (chapter 3, eq. 63).
    CrossEntropy,
    /// C = −ln a_y over a softmax output layer (chapter 3, eq. 80).
    LogLikelihood,
}

/// The output layer's neurons.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Output {
    /// a_j = σ(z_j).
    Sigmoid,
    /// a_j = e^{z_j} / Σ_k e^{z_k} (chapter 3, eq. 78).
    Softmax,
}

impl Output {
    pub const ALL: [Output; 2] = [Output::Sigmoid, Output::Softmax];

    pub fn name(self) -> &'static str {
        match self {
            Output::Sigmoid => "sigmoid",
            Output::Softmax => "softmax",
        }
    }
}

impl FromStr for Output {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Output::ALL
            .into_iter()
            .find(|o| o.name() == s)
            .ok_or_else(|| format!("unknown output layer '{s}' (expected sigmoid or softmax)"))
    }
}

impl fmt::Display for Output {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl Cost {
    pub const ALL: [Cost; 3] = [Cost::Quadratic, Cost::CrossEntropy, Cost::LogLikelihood];

    /// The cost for an output layer and the cost asked for, if any: a
    /// softmax layer goes with the log-likelihood cost, sigmoid outputs with
    /// the quadratic (the default) or cross-entropy.
    pub fn for_output(output: Output, cost: Option<Cost>) -> Result<Cost, String> {
        match (output, cost) {
            (Output::Softmax, None | Some(Cost::LogLikelihood)) => Ok(Cost::LogLikelihood),
            (Output::Softmax, Some(_)) => Err(
                "--cost: a softmax output layer goes with the log-likelihood cost; leave --cost out"
                    .into(),
            ),
            (Output::Sigmoid, Some(Cost::LogLikelihood)) => {
                Err("--cost: the log-likelihood cost goes with --output softmax".into())
            }
            (Output::Sigmoid, cost) => Ok(cost.unwrap_or(Cost::Quadratic)),
        }
    }

    /// The output layer this cost goes with.
    pub fn output(self) -> Output {
        match self {
            Cost::LogLikelihood => Output::Softmax,
            _ => Output::Sigmoid,
        }
    }

    /// a^L = output(z^L) in place; `neurons` is the axis along which one
    /// example's outputs lie (0 for one column per example).
    pub fn output_layer<F: NdFloat>(self, mut z: ArrayViewMut2<F>, neurons: Axis) {
        match self.output() {
            Output::Sigmoid => z.mapv_inplace(sigmoid),
            Output::Softmax => {
                for mut lane in z.lanes_mut(neurons) {
                    // Shifted by the largest z: e^z cannot overflow.
                    let max = lane.fold(F::neg_infinity(), |m, &v| m.max(v));
                    lane.mapv_inplace(|v| (v - max).exp());
                    let sum = lane.sum();
                    lane.mapv_inplace(|v| v / sum);
                }
            }
        }
    }

    /// The cost of outputs `a` (from `z`) against targets `y`, all (n_L, m)
    /// with one column per example, summed over the examples.
    ///
    /// Cross-entropy and log-likelihood are computed from z, where a may have
    /// rounded to 0 or 1: ln σ(z) = −softplus(−z), ln(1 − σ(z)) = −softplus(z),
    /// and ln softmax(z)_j = z_j − ln Σ_k e^{z_k}.
    pub fn total<F: NdFloat>(self, z: ArrayView2<F>, a: ArrayView2<F>, y: ArrayView2<F>) -> F {
        let half = F::from(0.5).unwrap_or_else(F::zero);
        let mut sum = F::zero();
        match self {
            Cost::Quadratic => Zip::from(a).and(y).for_each(|&a, &y| {
                sum += half * (a - y) * (a - y);
            }),
            Cost::CrossEntropy => Zip::from(z).and(y).for_each(|&z, &y| {
                sum += y * softplus(-z) + (F::one() - y) * softplus(z);
            }),
            Cost::LogLikelihood => {
                for (z, y) in z.columns().into_iter().zip(y.columns()) {
                    let max = z.fold(F::neg_infinity(), |m, &v| m.max(v));
                    let log_sum = max + z.fold(F::zero(), |s, &v| s + (v - max).exp()).ln();
                    Zip::from(z)
                        .and(y)
                        .for_each(|&z, &y| sum += y * (log_sum - z));
                }
            }
        }
        sum
    }

    /// BP1, δ^L = ∇_a C ⊙ σ'(z^L), for this cost's output layer, written
    /// into `delta` from a = a^L and y (any layout, the same for all three).
    ///
    /// σ'(z) = σ(z)(1 − σ(z)) = a(1 − a), so z itself is not needed.
    pub fn delta<F: NdFloat>(
        self,
        a: ArrayView2<F>,
        y: ArrayView2<F>,
        mut delta: ArrayViewMut2<F>,
    ) {
        match self {
            // ∇_a C = a − y.
            Cost::Quadratic => Zip::from(&mut delta).and(a).and(y).for_each(|d, &a, &y| {
                *d = (a - y) * a * (F::one() - a);
            }),
            // ∇_a C = (a − y) / (a(1 − a)): σ' cancels, δ^L = a − y (chapter 3, eq. 66).
            Cost::CrossEntropy => Zip::from(&mut delta).and(a).and(y).for_each(|d, &a, &y| {
                *d = a - y;
            }),
            // Softmax with log-likelihood: δ^L = a − y as well (chapter 3, eq. 84).
            Cost::LogLikelihood => Zip::from(&mut delta).and(a).and(y).for_each(|d, &a, &y| {
                *d = a - y;
            }),
        }
    }

    /// The name network2.py gives the cost class in its model files.
    pub fn class_name(self) -> &'static str {
        match self {
            Cost::Quadratic => "QuadraticCost",
            Cost::CrossEntropy => "CrossEntropyCost",
            Cost::LogLikelihood => "LogLikelihoodCost",
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Cost::Quadratic => "quadratic",
            Cost::CrossEntropy => "cross-entropy",
            Cost::LogLikelihood => "log-likelihood",
        }
    }

    /// Reads either the flag name or network2.py's class name.
    pub fn from_class_name(s: &str) -> Option<Cost> {
        Cost::ALL
            .into_iter()
            .find(|c| c.class_name() == s || c.name() == s)
    }
}

/// ln(1 + e^x), without overflow for large |x|.
#[inline]
pub fn softplus<F: NdFloat>(x: F) -> F {
    x.max(F::zero()) + (-x.abs()).exp().ln_1p()
}

impl fmt::Display for Cost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Cost {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Cost::from_class_name(s).ok_or_else(|| {
            format!("unknown cost '{s}' (expected quadratic, cross-entropy or log-likelihood)")
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{Array2, array};

    #[test]
    fn cross_entropy_is_finite_at_saturation() {
        let z = array![[-800.0f64, 800.0, 0.0]];
        let a = z.mapv(sigmoid);
        let y = array![[1.0, 0.0, 1.0]];
        let c = Cost::CrossEntropy.total(z.view(), a.view(), y.view());
        assert!(c.is_finite());
        // Each saturated wrong answer costs |z|; the middle one costs ln 2.
        assert!((c - (1600.0 + 2f64.ln())).abs() < 1e-9, "{c}");
    }

    #[test]
    fn delta_is_gradient_of_total() {
        // δ^L_j = ∂C/∂z^L_j, checked by central differences in z.
        let z = array![[0.3f64, -1.2], [2.0, 0.1], [-0.4, 0.9]];
        let y = array![[1.0, 0.0], [0.0, 0.5], [0.2, 1.0]];
        let h = 1e-6;
        let activate = |cost: Cost, z: &Array2<f64>| {
            let mut a = z.clone();
            cost.output_layer(a.view_mut(), ndarray::Axis(0));
            a
        };
        for cost in Cost::ALL {
            // Log-likelihood takes one-hot targets: a distribution per column.
            let y = if cost == Cost::LogLikelihood {
                array![[1.0, 0.0], [0.0, 0.0], [0.0, 1.0]]
            } else {
                y.clone()
            };
            let a = activate(cost, &z);
            let mut delta = Array2::zeros(z.raw_dim());
            cost.delta(a.view(), y.view(), delta.view_mut());
            for ((j, i), &d) in delta.indexed_iter() {
                let c_at = |dz: f64| {
                    let mut z2 = z.clone();
                    z2[[j, i]] += dz;
                    let a2 = activate(cost, &z2);
                    cost.total(z2.view(), a2.view(), y.view())
                };
                let numeric = (c_at(h) - c_at(-h)) / (2.0 * h);
                assert!(
                    (numeric - d).abs() < 1e-8,
                    "{cost} δ[{j},{i}] = {d}, numeric {numeric}"
                );
            }
        }
    }

    #[test]
    fn softmax_is_a_distribution_even_for_huge_z() {
        let mut z = array![[1000.0f64, -1000.0], [999.0, -1001.0], [0.0, 5.0]];
        Cost::LogLikelihood.output_layer(z.view_mut(), ndarray::Axis(0));
        for col in z.columns() {
            assert!((col.sum() - 1.0).abs() < 1e-12 && col.iter().all(|a| a.is_finite()));
        }
        assert!((z[[0, 0]] - 1.0 / (1.0 + (-1.0f64).exp())).abs() < 1e-12);
    }

    #[test]
    fn names_round_trip() {
        for cost in Cost::ALL {
            assert_eq!(cost.name().parse::<Cost>(), Ok(cost));
            assert_eq!(Cost::from_class_name(cost.class_name()), Some(cost));
        }
    }
}
