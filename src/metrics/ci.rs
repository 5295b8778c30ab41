//! Confidence intervals: a seeded percentile bootstrap for every scalar metric, and the
//! analytic intervals where they exist (Wilson for proportions, DeLong for ROC-AUC).
//!
//! The bootstrap resamples rows with replacement and recomputes every metric on each
//! replicate by feeding the replicate's rows, with their multiplicity folded into the
//! sample weight, through fresh accumulators. The generator is a fixed SplitMix64 stream,
//! so the same file, options and seed give the same interval on every platform.

use serde::{Deserialize, Serialize};

/// What the user asked for (CLI `--ci 0.95`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct CiOptions {
    /// Two-sided coverage, in (0, 1).
    pub level: f64,
    /// Bootstrap replicates.
    pub replicates: usize,
    pub seed: u64,
}

impl Default for CiOptions {
    fn default() -> Self {
        CiOptions { level: 0.95, replicates: 200, seed: 0x5EED }
    }
}

impl CiOptions {
    pub fn level(level: f64) -> Self {
        CiOptions { level, ..Self::default() }
    }
}

/// One interval and how it was obtained.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Interval {
    pub low: f64,
    pub high: f64,
    pub method: Method,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Method {
    Bootstrap,
    Wilson,
    DeLong,
}

/// SplitMix64: tiny, fast, and the same sequence everywhere.
#[derive(Debug, Clone)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    pub fn new(seed: u64) -> Self {
        SplitMix64(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in 0..n (Lemire's multiply-shift; the bias is below 2^-40 for any n we see).
    pub fn below(&mut self, n: usize) -> usize {
        ((u128::from(self.next_u64()) * n as u128) >> 64) as usize
    }
}

/// How many times each of `n` rows is drawn in bootstrap replicate `b`.
pub fn multiplicities(n: usize, seed: u64, b: usize) -> Vec<u32> {
    let mut rng = SplitMix64::new(seed ^ (b as u64).wrapping_mul(0xD1B5_4A32_D192_ED03));
    let mut counts = vec![0u32; n];
    for _ in 0..n {
        counts[rng.below(n)] += 1;
    }
    counts
}

/// `np.percentile` (linear interpolation) of sorted values at `q` in [0, 100].
pub fn percentile_sorted(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let pos = q / 100.0 * (sorted.len() - 1) as f64;
    let lo = pos.floor() as usize;
    let hi = (lo + 1).min(sorted.len() - 1);
    let frac = pos - lo as f64;
    sorted[lo] + (sorted[hi] - sorted[lo]) * frac
}

/// Percentile interval of the replicate values; `None` when fewer than half the replicates
/// gave a value (the metric is too often undefined to say anything).
pub fn percentile_interval(values: &mut Vec<f64>, replicates: usize, level: f64) -> Option<Interval> {
    values.retain(|v| v.is_finite());
    if values.is_empty() || values.len() * 2 < replicates {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let alpha = (1.0 - level) / 2.0 * 100.0;
    Some(Interval {
        low: percentile_sorted(values, alpha),
        high: percentile_sorted(values, 100.0 - alpha),
        method: Method::Bootstrap,
    })
}

/// Wilson score interval for `successes` out of `n`.
pub fn wilson(successes: f64, n: f64, level: f64) -> Option<Interval> {
    if n <= 0.0 {
        return None;
    }
    let z = normal_quantile(0.5 + level / 2.0);
    let p = successes / n;
    let z2 = z * z;
    let den = 1.0 + z2 / n;
    let center = (p + z2 / (2.0 * n)) / den;
    let half = z * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt() / den;
    Some(Interval { low: (center - half).max(0.0), high: (center + half).min(1.0), method: Method::Wilson })
}

/// Normal interval around an AUC with DeLong's variance, clipped to [0, 1].
pub fn delong(auc: f64, variance: f64, level: f64) -> Option<Interval> {
    if !auc.is_finite() || !variance.is_finite() || variance < 0.0 {
        return None;
    }
    let half = normal_quantile(0.5 + level / 2.0) * variance.sqrt();
    Some(Interval { low: (auc - half).max(0.0), high: (auc + half).min(1.0), method: Method::DeLong })
}

/// Standard normal quantile: Acklam's rational approximation (relative error below 1.2e-9,
/// far finer than any interval needs).
pub fn normal_quantile(p: f64) -> f64 {
    if p <= 0.0 {
        return f64::NEG_INFINITY;
    }
    if p >= 1.0 {
        return f64::INFINITY;
    }
    const A: [f64; 6] = [
        -3.969683028665376e1,
        2.209460984245205e2,
        -2.759285104469687e2,
        1.383_577_518_672_69e2,
        -3.066479806614716e1,
        2.506628277459239,
    ];
    const B: [f64; 5] =
        [-5.447609879822406e1, 1.615858368580409e2, -1.556989798598866e2, 6.680131188771972e1, -1.328068155288572e1];
    const C: [f64; 6] = [
        -7.784894002430293e-3,
        -3.223964580411365e-1,
        -2.400758277161838,
        -2.549732539343734,
        4.374664141464968,
        2.938163982698783,
    ];
    const D: [f64; 4] = [7.784695709041462e-3, 3.224671290700398e-1, 2.445134137142996, 3.754408661907416];
    let low = 0.02425;
    if p < low {
        let q = (-2.0 * p.ln()).sqrt();
        (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    } else if p <= 1.0 - low {
        let q = p - 0.5;
        let r = q * q;
        (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q
            / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0)
    } else {
        let q = (-2.0 * (1.0 - p).ln()).sqrt();
        -(((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normal_quantile_matches_known_values() {
        for (p, z) in
            [(0.975, 1.959_963_984_540_054), (0.995, 2.575_829_303_548_901), (0.5, 0.0), (0.9, 1.281_551_565_544_600_5)]
        {
            assert!((normal_quantile(p) - z).abs() < 1e-8, "{p}: {}", normal_quantile(p));
        }
    }

    #[test]
    fn wilson_matches_reference() {
        // the Wilson formula evaluated in Python with statistics.NormalDist
        let i = wilson(8.0, 10.0, 0.95).expect("interval");
        assert!((i.low - 0.490_162_471_536_641_8).abs() < 1e-9, "{}", i.low);
        assert!((i.high - 0.943_317_848_545_624_7).abs() < 1e-9, "{}", i.high);
    }
}
