// Activations shared by the elementwise kernels and the GEMM / conv epilogue (prepended to
// both sources). `kind` numbers match `Act` in elementwise.rs; p0/p1 are the op's attributes.

fn erf_approx(x: f32) -> f32 {
    // Abramowitz & Stegun 7.1.26 (|error| < 1.5e-7), odd extension.
    let s = sign(x);
    let z = abs(x);
    let t = 1.0 / (1.0 + 0.3275911 * z);
    let y = 1.0 - (((((1.061405429 * t - 1.453152027) * t) + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t * exp(-z * z);
    return s * y;
}

fn sigmoid(x: f32) -> f32 {
    if (x >= 0.0) {
        return 1.0 / (1.0 + exp(-x));
    }
    let e = exp(x);
    return e / (1.0 + e);
}

fn activate(x: f32, kind: u32, p0: f32, p1: f32) -> f32 {
    switch kind {
        case 0u: { return x; }
        case 1u: { return max(x, 0.0); }
        case 2u: { return select(x * p0, x, x >= 0.0); }
        case 3u: { return sigmoid(x); }
        case 4u: { return tanh(clamp(x, -15.0, 15.0)); }
        case 5u: { return min(max(x, p0), p1); }
        case 6u: { return 0.5 * x * (1.0 + erf_approx(x * 0.70710678118654752)); }
        case 7u: { return max(0.0, min(1.0, p0 * x + p1)); }
        case 8u: { return max(x, 0.0) + log(1.0 + exp(-abs(x))); }
        case 9u: { return select(p0 * (exp(x) - 1.0), x, x >= 0.0); }
        case 10u: { return exp(x); }
        case 11u: { return log(x); }
        case 12u: { return sqrt(x); }
        case 13u: { return -x; }
        case 14u: { return abs(x); }
        case 15u: { return 1.0 / x; }
        case 16u: { return floor(x); }
        case 17u: { return ceil(x); }
        case 18u: { return sin(x); }
        case 19u: { return cos(x); }
        case 20u: { return erf_approx(x); }
        case 21u: { return x * max(0.0, min(1.0, x / 6.0 + 0.5)); }
        case 22u: { return x * sigmoid(x); }
        case 23u: { return p1 * select(p0 * (exp(x) - 1.0), x, x > 0.0); }
        case 24u: { return sign(x); }
        case 25u: { return round(x); }
        case 26u: { return x * x; }
        default: { return x; }
    }
}
