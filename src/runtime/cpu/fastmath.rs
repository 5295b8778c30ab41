//! Branch-free `exp`, `sigmoid` (Cephes' single-precision polynomial, ~1e-7 relative error)
//! and `tanh` (a rational approximation, ~4e-7) for the recurrent cells' gates.
//!
//! `f32::exp`/`tanh` are library calls (software libm in wasm): one call per gate value made
//! them as expensive as the GEMMs of an LSTM. These are plain arithmetic, so a loop over a
//! row of gates vectorises (simd128, SSE/AVX).

/// e^x for x clamped to [-87.3, 88.7] (below: a tiny normal number, above: ~1.6e38).
#[inline(always)]
pub fn exp(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    // 1.5 * 2^23: adding and subtracting it rounds to the nearest integer without a call.
    const ROUND: f32 = 12_582_912.0;
    let x = x.clamp(-87.3, 88.7);
    let t = x * LOG2E + ROUND;
    let n = t - ROUND;
    // n as an integer, read from t's mantissa (t is in [2^23, 2^24), where floats step by 1):
    // a float-to-int conversion (`n as i32`, saturating) kept these loops scalar on x86.
    let ni = t.to_bits() as i32 - ROUND.to_bits() as i32;
    let r = x - n * 0.693_359_4 - n * -2.121_944_4e-4;
    let mut p = 1.987_569_1e-4;
    p = p * r + 1.398_2e-3;
    p = p * r + 8.333_452e-3;
    p = p * r + 4.166_579_6e-2;
    p = p * r + 0.166_666_65;
    p = p * r + 0.5;
    let e = p * r * r + r + 1.0;
    // 2^n by building the exponent bits (n is in [-126, 128] after the clamp).
    let scale = f32::from_bits(((ni + 127).clamp(1, 254) as u32) << 23);
    let y = e * scale;
    if n > 127.0 {
        y * 2.0
    } else {
        y
    }
}

#[inline(always)]
pub fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + exp(-x))
}

/// A rational approximation on [-9, 9] (the one onnxruntime's MLAS and Eigen use; ~4e-7
/// relative error): one division and two short polynomials, where `1 - 2 / (e^{2x} + 1)` needed
/// an `exp` and a second polynomial for small |x| to stay accurate.
#[inline(always)]
pub fn tanh(x: f32) -> f32 {
    let x = x.clamp(-9.0, 9.0);
    let z = x * x;
    let mut p = -2.760_768_5e-16;
    p = p * z + 2.000_188e-13;
    p = p * z - 8.604_672e-11;
    p = p * z + 5.122_297e-8;
    p = p * z + 1.485_722_4e-5;
    p = p * z + 6.372_619_3e-4;
    p = p * z + 4.893_524_6e-3;
    let mut q = 1.198_258_4e-6;
    q = q * z + 1.185_347_1e-4;
    q = q * z + 2.268_434_6e-3;
    q = q * z + 4.893_525e-3;
    // Rounding takes |p / q| a little past 1 near the clamp.
    (x * p / q).clamp(-1.0, 1.0)
}

#[cfg(test)]
mod tests {
    #[test]
    fn match_the_library_functions() {
        let mut worst = [0f64; 3];
        for i in -160_000..=160_000 {
            let x = i as f32 * 5e-4; // [-80, 80]
            let checks = [
                (super::exp(x) as f64, (x as f64).exp()),
                (super::sigmoid(x) as f64, 1.0 / (1.0 + (-(x as f64)).exp())),
                (super::tanh(x) as f64, (x as f64).tanh()),
            ];
            for (w, (got, want)) in worst.iter_mut().zip(checks) {
                let rel = (got - want).abs() / want.abs().max(1e-30);
                *w = w.max(rel);
            }
        }
        assert!(worst.iter().all(|&w| w < 1e-6), "relative errors {worst:?}");
        assert_eq!(super::tanh(0.0), 0.0);
        assert!(super::tanh(-30.0) == -1.0 && (super::tanh(1e-30) / 1e-30 - 1.0).abs() < 1e-6);
        assert!(super::tanh(-3.0) < 0.0 && super::sigmoid(-200.0) >= 0.0 && super::sigmoid(200.0) == 1.0);
    }
}
