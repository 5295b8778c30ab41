//! Regression metrics from mergeable weighted moments plus the rows the order statistics
//! need.
//!
//! Means and squared deviations use Welford/Chan updates rather than raw sums of squares so
//! R² and explained variance stay accurate when the targets have a large offset. The median
//! absolute error, D² (absolute error, Tweedie) and the deviances need every row, so the
//! truth, prediction and weight of each row are kept.

use super::ci::{KeyLookup, Poisson};
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
    y: Vec<f64>,
    pred: Vec<f64>,
    weights: Vec<f64>,
}

/// The Tweedie power of the reported `mean_tweedie_deviance` / `d2_tweedie_score`
/// (a compound Poisson-gamma, between the Poisson and gamma deviances also reported).
pub const TWEEDIE_POWER: f64 = 1.5;

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
        self.y.push(y);
        self.pred.push(pred);
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
        self.y.extend_from_slice(&o.y);
        self.pred.extend_from_slice(&o.pred);
        self.weights.extend_from_slice(&o.weights);
    }

    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// The metrics of each Poisson-bootstrap replicate: the stored rows re-weighted by
    /// their draws (rows drawn zero times left out).
    pub fn replicates(&self, keys: &KeyLookup, poisson: Poisson, replicates: usize) -> Vec<MetricMap> {
        (0..replicates)
            .map(|b| {
                let mut rep = RegressionAccumulator::new();
                for (r, ((&y, &p), &w)) in self.y.iter().zip(&self.pred).zip(&self.weights).enumerate() {
                    let k = poisson.draw(keys.key(r), b);
                    if k > 0 {
                        rep.update(y, p, w * f64::from(k));
                    }
                }
                rep.finish()
            })
            .collect()
    }

    /// Weighted mean of `f(y, pred)` over the rows.
    fn mean_of(&self, f: impl Fn(f64, f64) -> f64) -> f64 {
        let s: f64 = self.y.iter().zip(&self.pred).zip(&self.weights).map(|((&y, &p), &w)| w * f(y, p)).sum();
        s / self.truth.weight
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
        let abs: Vec<f64> = self.y.iter().zip(&self.pred).map(|(y, p)| (y - p).abs()).collect();
        m.insert("median_absolute_error".into(), num(weighted_percentile(&abs, &self.weights, 50.0)));
        // force_finite=True: a constant truth gives 1.0 for a perfect fit, else 0.0.
        let ss_tot = self.truth.m2;
        m.insert("r2_score".into(), num(finite_ratio(self.sq_err, ss_tot)));
        m.insert("explained_variance_score".into(), num(finite_ratio(self.residual.m2, ss_tot)));

        let log_ok = self.y.iter().chain(&self.pred).all(|&v| v > -1.0);
        let msle = if log_ok { self.mean_of(|y, p| (y.ln_1p() - p.ln_1p()).powi(2)) } else { f64::NAN };
        m.insert("mean_squared_log_error".into(), num(msle));
        m.insert("root_mean_squared_log_error".into(), num(msle.sqrt()));

        // D² absolute error: pinball loss at the median against the weighted median's.
        let d2_abs = if self.y.len() < 2 {
            f64::NAN
        } else {
            let med = weighted_percentile(&self.y, &self.weights, 50.0);
            let base: f64 = self.y.iter().zip(&self.weights).map(|(y, w)| w * (y - med).abs()).sum();
            finite_ratio(self.abs_err, base)
        };
        m.insert("d2_absolute_error_score".into(), num(d2_abs));

        let positive_pred = self.pred.iter().all(|&p| p > 0.0);
        let y_nonneg = self.y.iter().all(|&y| y >= 0.0);
        let y_pos = self.y.iter().all(|&y| y > 0.0);
        let deviance = |power: f64, ok: bool| {
            if ok {
                self.mean_of(|y, p| unit_deviance(y, p, power))
            } else {
                f64::NAN
            }
        };
        m.insert("mean_poisson_deviance".into(), num(deviance(1.0, positive_pred && y_nonneg)));
        m.insert("mean_gamma_deviance".into(), num(deviance(2.0, positive_pred && y_pos)));
        let tw_ok = positive_pred && y_nonneg;
        let tweedie = deviance(TWEEDIE_POWER, tw_ok);
        m.insert(format!("mean_tweedie_deviance@power={TWEEDIE_POWER}"), num(tweedie));
        let d2_tweedie = if self.y.len() < 2 || !tw_ok {
            f64::NAN
        } else {
            let avg = self.truth.mean;
            1.0 - tweedie / self.mean_of(|y, _| unit_deviance(y, avg, TWEEDIE_POWER))
        };
        m.insert(format!("d2_tweedie_score@power={TWEEDIE_POWER}"), num(d2_tweedie));
        m
    }
}

/// The Tweedie unit deviance of sklearn's `mean_tweedie_deviance` for power 0, 1, 2 or in
/// between (the caller checks the domain).
fn unit_deviance(y: f64, p: f64, power: f64) -> f64 {
    if power == 0.0 {
        (y - p).powi(2)
    } else if power == 1.0 {
        let xlogy = if y == 0.0 { 0.0 } else { y * (y / p).ln() };
        2.0 * (xlogy - y + p)
    } else if power == 2.0 {
        2.0 * ((p / y).ln() + y / p - 1.0)
    } else {
        let (a, b) = (1.0 - power, 2.0 - power);
        2.0 * (y.max(0.0).powf(b) / (a * b) - y * p.powf(a) / a + p.powf(b) / b)
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

/// sklearn's `_weighted_percentile(..., average=True)` ("averaged inverted CDF"): the first
/// value whose cumulative weight reaches the rank, averaged with the next value (of positive
/// weight) when the cumulative weight lands exactly on it. Equals `np.median` at 50 for unit
/// weights.
pub fn weighted_percentile(values: &[f64], weights: &[f64], percentile: f64) -> f64 {
    if values.is_empty() || weights.iter().all(|&w| w == 0.0) {
        return f64::NAN;
    }
    let mut order: Vec<usize> = (0..values.len()).collect();
    order.sort_by(|&a, &b| values[a].total_cmp(&values[b]));
    let mut cdf = Vec::with_capacity(order.len());
    let mut cum = 0.0;
    for &i in &order {
        cum += weights[i];
        cdf.push(cum);
    }
    let rank = percentile / 100.0 * cum;
    let last = order.len() - 1;
    let i = cdf.partition_point(|&c| c < rank).min(last);
    if cdf[i] - rank > f64::EPSILON {
        return values[order[i]];
    }
    // the next value with positive weight (itself when none follows)
    let next = cdf.partition_point(|&c| c <= cdf[i]);
    let next = if next > last { i } else { next };
    let plus_one = if weights[order[(i + 1).min(last)]] == 0.0 { next } else { (i + 1).min(last) };
    (values[order[i]] + values[order[plus_one]]) / 2.0
}
