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

// log(1 + e) without losing e's digits when e is tiny (Goldberg's log1p).
fn log1p_small(e: f32) -> f32 {
    let u = 1.0 + e;
    if (u == 1.0) { return e; }
    return log(u) * e / (u - 1.0);
}

// WGSL's log may be off by 2^-21 absolute near 1, a large relative error in log(1 + tiny)
// (Softplus/Mish expanded by exporters): near 1 use log((1+s)/(1-s)) = 2 atanh(s) as a series.
fn log_near1(x: f32) -> f32 {
    let f = x - 1.0;
    if (abs(f) < 0.125) {
        let s = f / (2.0 + f);
        let s2 = s * s;
        return 2.0 * s * (1.0 + s2 * (1.0 / 3.0 + s2 * (0.2 + s2 * (1.0 / 7.0 + s2 / 9.0))));
    }
    return log(x);
}

// tanh and exp(x) - 1 near 0 by series: the library forms cancel (tanh of 1e-5 would be
// off by 1e-3 relative on lavapipe).
fn tanh_acc(x: f32) -> f32 {
    if (abs(x) < 0.25) {
        let x2 = x * x;
        return x * (1.0 + x2 * (-1.0 / 3.0 + x2 * (2.0 / 15.0 + x2 * (-17.0 / 315.0 + x2 * (62.0 / 2835.0)))));
    }
    return tanh(clamp(x, -15.0, 15.0));
}

fn expm1_acc(x: f32) -> f32 {
    if (abs(x) < 0.25) {
        return x * (1.0 + x * (0.5 + x * (1.0 / 6.0 + x * (1.0 / 24.0 + x * (1.0 / 120.0 + x * (1.0 / 720.0 + x / 5040.0))))));
    }
    return exp(x) - 1.0;
}

fn activate(x: f32, kind: u32, p0: f32, p1: f32) -> f32 {
    switch kind {
        case 0u: { return x; }
        case 1u: { return max(x, 0.0); }
        case 2u: { return select(x * p0, x, x >= 0.0); }
        case 3u: { return sigmoid(x); }
        case 4u: { return tanh_acc(x); }
        case 5u: { return min(max(x, p0), p1); }
        case 6u: { return 0.5 * x * (1.0 + erf_approx(x * 0.70710678118654752)); }
        case 7u: { return max(0.0, min(1.0, p0 * x + p1)); }
        case 8u: { return max(x, 0.0) + log1p_small(exp(-abs(x))); }
        case 9u: { return select(p0 * expm1_acc(x), x, x >= 0.0); }
        case 10u: { return exp(x); }
        case 11u: { return log_near1(x); }
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
        case 23u: { return p1 * select(p0 * expm1_acc(x), x, x > 0.0); }
        case 24u: { return sign(x); }
        case 25u: { return round(x); }
        case 26u: { return x * x; }
        default: { return x; }
    }
}
