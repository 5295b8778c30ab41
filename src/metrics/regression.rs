//! Regression metrics from mergeable weighted moments.
//!
//! Means and squared deviations use Welford/Chan updates rather than raw sums of squares so
//! R² and explained variance stay accurate when the targets have a large offset. Only the
//! median needs every residual, so those are kept.

use super::{num, MetricMap};
use serde::{Deserialize, Serialize};

/// Weighted running mean and sum of squared deviations (Chan et al. merge).
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
pub struct Moments {
    pub weight: f64,
    pub mean: f64,
    pub m2: f64,
}

impl Moments {
    pub fn push(&mut self, x: f64, w: f64) {
        if w == 0.0 {
            return;
        }
        self.weight += w;
        let d = x - self.mean;
        self.mean += d * w / self.weight;
        self.m2 += w * d * (x - self.mean);
    }

    pub fn merge(&mut self, o: &Moments) {
        if o.weight == 0.0 {
            return;
        }
        let total = self.weight + o.weight;
        let d = o.mean - self.mean;
        self.mean += d * o.weight / total;
        self.m2 += o.m2 + d * d * self.weight * o.weight / total;
        self.weight = total;
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct RegressionAccumulator {
    rows: u64,
    truth: Moments,
    residual: Moments,
    sq_err: f64,
    abs_err: f64,
    ape: f64,
    max_err: f64,
    abs_errors: Vec<f64>,
    weights: Vec<f64>,
}

impl RegressionAccumulator {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn update(&mut self, y: f64, pred: f64, w: f64) {
        let e = y - pred;
        self.rows += 1;
        self.truth.push(y, w);
        self.residual.push(e, w);
        self.sq_err += w * e * e;
        self.abs_err += w * e.abs();
        self.ape += w * e.abs() / y.abs().max(f64::EPSILON);
        self.max_err = self.max_err.max(e.abs());
        self.abs_errors.push(e.abs());
        self.weights.push(w);
    }

    pub fn merge(&mut self, o: &Self) {
        self.rows += o.rows;
        self.truth.merge(&o.truth);
        self.residual.merge(&o.residual);
        self.sq_err += o.sq_err;
        self.abs_err += o.abs_err;
        self.ape += o.ape;
        self.max_err = self.max_err.max(o.max_err);
        self.abs_errors.extend_from_slice(&o.abs_errors);
        self.weights.extend_from_slice(&o.weights);
    }

    pub fn rows(&self) -> u64 {
        self.rows
    }

    pub fn finish(&self) -> MetricMap {
        let mut m = MetricMap::new();
        let w = self.truth.weight;
        let mse = self.sq_err / w;
        m.insert("mean_squared_error".into(), num(mse));
        m.insert("root_mean_squared_error".into(), num(mse.sqrt()));
        m.insert("mean_absolute_error".into(), num(self.abs_err / w));
        m.insert("mean_absolute_percentage_error".into(), num(self.ape / w));
        m.insert("max_error".into(), num(self.max_err));
        m.insert("median_absolute_error".into(), num(weighted_median(&self.abs_errors, &self.weights)));
        // force_finite=True: a constant truth gives 1.0 for a perfect fit, else 0.0.
        let ss_tot = self.truth.m2;
        let r2 = finite_ratio(self.sq_err, ss_tot);
        m.insert("r2_score".into(), num(r2));
        m.insert("explained_variance_score".into(), num(finite_ratio(self.residual.m2, ss_tot)));
        m
    }
}

/// 1 - num/den with sklearn's `force_finite` rule for a zero denominator.
fn finite_ratio(numerator: f64, denominator: f64) -> f64 {
    if denominator == 0.0 {
        if numerator == 0.0 {
            1.0
        } else {
            0.0
        }
    } else {
        1.0 - numerator / denominator
    }
}

/// `np.median` when all weights are one; otherwise sklearn's `_weighted_percentile` at 50
/// (the smallest value whose cumulative weight reaches half the total).
pub fn weighted_median(values: &[f64], weights: &[f64]) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    let mut order: Vec<usize> = (0..values.len()).collect();
    order.sort_by(|&a, &b| values[a].total_cmp(&values[b]));
    if weights.iter().all(|&w| w == 1.0) {
        let n = order.len();
        return if n % 2 == 1 { values[order[n / 2]] } else { (values[order[n / 2 - 1]] + values[order[n / 2]]) / 2.0 };
    }
    let total: f64 = weights.iter().sum();
    let mut cum = 0.0;
    for &i in &order {
        cum += weights[i];
        if cum >= 0.5 * total {
            return values[i];
        }
    }
    values[*order.last().unwrap_or(&0)]
}
