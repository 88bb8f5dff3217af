//! σ, written once: the scalar formula that the book calls and that the
//! engine's SIMD kernels repeat lane for lane. A leaf: it imports nothing
//! of the crate, so `activation` (the book) and `engine::kernels` both
//! build on it without importing each other.

use ndarray::NdFloat;

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

/// σ of a vector of f32 lanes, written once and expanded in three scopes:
/// here for a plain f32 (`sigmoid_f32`), and in `engine::kernels` for AVX2's
/// and AVX-512's vectors, each from the primitives of its scope (V, M,
/// splat, add, sub, mul, div, min, max, round, pow2, gt, lt, unordered,
/// either, select). So every build computes the same operations in the
/// same order and gives the same bits: within 2 ulp of the exact σ; 0 for
/// e^−z beyond f32 (and below 1e-30, as `sigmoid`), 1 where e^−z is below
/// 2⁻¹²⁵, NaN for NaN.
macro_rules! sigma_lanes {
    ($($features:literal)?) => {
        $(#[target_feature(enable = $features)])?
        #[inline]
        fn sigma(z: V) -> V {
            use $crate::sigmoid::{EXP_TAYLOR, LN2_HI, LN2_LO, LOG2E};
            let x = mul(z, splat(-1.0));
            let (big, small, nan) = (gt(x, splat(88.0)), lt(x, splat(-87.0)), unordered(x));
            // e^x = 2^n e^r, x clamped where σ is 0 or 1 anyway.
            let x = min(max(x, splat(-87.0)), splat(88.0));
            let n = round(mul(x, splat(LOG2E)));
            let r = sub(sub(x, mul(n, splat(LN2_HI))), mul(n, splat(LN2_LO)));
            let mut p = splat(EXP_TAYLOR[7]);
            for &c in EXP_TAYLOR[..7].iter().rev() {
                p = add(mul(p, r), splat(c));
            }
            let one = splat(1.0);
            let s = div(one, add(one, mul(p, pow2(n))));
            let s = select(either(lt(s, splat(1e-30)), big), splat(0.0), s);
            let s = select(small, one, s);
            select(nan, splat(f32::NAN), s)
        }
    };
}
pub(crate) use sigma_lanes;

/// The primitives of `sigma_lanes` for one f32.
mod scalar {
    type V = f32;

    fn splat(x: f32) -> f32 {
        x
    }
    fn add(a: f32, b: f32) -> f32 {
        a + b
    }
    fn sub(a: f32, b: f32) -> f32 {
        a - b
    }
    fn mul(a: f32, b: f32) -> f32 {
        a * b
    }
    fn div(a: f32, b: f32) -> f32 {
        a / b
    }
    fn min(a: f32, b: f32) -> f32 {
        a.min(b)
    }
    fn max(a: f32, b: f32) -> f32 {
        a.max(b)
    }
    fn round(x: f32) -> f32 {
        x.round_ties_even()
    }
    /// 2^n for a whole n in [−126, 127].
    fn pow2(n: f32) -> f32 {
        f32::from_bits(((n as i32 + 127) as u32) << 23)
    }
    fn gt(a: f32, b: f32) -> bool {
        a > b
    }
    fn lt(a: f32, b: f32) -> bool {
        a < b
    }
    fn unordered(x: f32) -> bool {
        x.is_nan()
    }
    fn either(a: bool, b: bool) -> bool {
        a || b
    }
    fn select(m: bool, t: f32, f: f32) -> f32 {
        if m { t } else { f }
    }

    sigma_lanes!();

    pub(super) fn sigmoid(z: f32) -> f32 {
        sigma(z)
    }
}

/// σ(z) in f32 by `sigma_lanes`, one lane: the bits of every SIMD build.
#[inline]
pub fn sigmoid_f32(z: f32) -> f32 {
    scalar::sigmoid(z)
}
