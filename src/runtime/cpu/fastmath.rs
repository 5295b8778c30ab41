//! Branch-free `exp`, `sigmoid` and `tanh` (Cephes' single-precision polynomials, ~1e-7
//! relative error) for the recurrent cells' gates.
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

#[inline(always)]
pub fn tanh(x: f32) -> f32 {
    let a = x.abs();
    // Small |x|: odd polynomial (no cancellation); otherwise 1 - 2 / (e^{2|x|} + 1).
    let z = x * x;
    let mut p = -5.704_988_7e-3;
    p = p * z + 2.063_909e-2;
    p = p * z - 5.373_971_6e-2;
    p = p * z + 0.133_314_42;
    p = p * z - 0.333_332_8;
    let small = p * z * x + x;
    let big = 1.0 - 2.0 / (exp(2.0 * a) + 1.0);
    if a < 0.625 {
        small
    } else {
        big.copysign(x)
    }
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
        assert!(super::tanh(-3.0) < 0.0 && super::sigmoid(-200.0) >= 0.0 && super::sigmoid(200.0) == 1.0);
    }
}
