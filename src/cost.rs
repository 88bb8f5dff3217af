//! Cost functions C and their output error δ^L (BP1).

use std::fmt;
use std::str::FromStr;

use ndarray::{ArrayView2, ArrayViewMut2, NdFloat, Zip};

/// The cost C over one example's output `a = a^L` and target `y`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cost {
    /// C = ½‖y − a‖², the chapter's cost (eq. 26).
    Quadratic,
    /// C = −Σ_j [y_j ln a_j + (1 − y_j) ln(1 − a_j)] (chapter 3, eq. 63).
    CrossEntropy,
}

impl Cost {
    pub const ALL: [Cost; 2] = [Cost::Quadratic, Cost::CrossEntropy];

    /// The cost of sigmoid outputs `a = σ(z)` against targets `y`, summed over
    /// every entry (every neuron of every example).
    ///
    /// Cross-entropy is computed from z: ln σ(z) = −softplus(−z) and
    /// ln(1 − σ(z)) = −softplus(z) stay finite where a has rounded to 0 or 1.
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
        }
        sum
    }

    /// BP1 for sigmoid output neurons: δ^L = ∇_a C ⊙ σ'(z^L), written into
    /// `delta` (shape (n_L, m), one column per example) from a = a^L and y.
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
        }
    }

    /// The name network2.py gives the cost class in its model files.
    pub fn class_name(self) -> &'static str {
        match self {
            Cost::Quadratic => "QuadraticCost",
            Cost::CrossEntropy => "CrossEntropyCost",
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Cost::Quadratic => "quadratic",
            Cost::CrossEntropy => "cross-entropy",
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
        Cost::from_class_name(s)
            .ok_or_else(|| format!("unknown cost '{s}' (expected quadratic or cross-entropy)"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::activation::sigmoid;
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
        for cost in Cost::ALL {
            let a = z.mapv(sigmoid);
            let mut delta = Array2::zeros(z.raw_dim());
            cost.delta(a.view(), y.view(), delta.view_mut());
            for ((j, i), &d) in delta.indexed_iter() {
                let c_at = |dz: f64| {
                    let mut z2 = z.clone();
                    z2[[j, i]] += dz;
                    let a2 = z2.mapv(sigmoid);
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
    fn names_round_trip() {
        for cost in Cost::ALL {
            assert_eq!(cost.name().parse::<Cost>(), Ok(cost));
            assert_eq!(Cost::from_class_name(cost.class_name()), Some(cost));
        }
    }
}
