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
