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

/// What streams per row: the moments of the truth and the residual, and the error sums.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
struct Streamed {
    truth: Moments,
    residual: Moments,
    sq_err: f64,
    abs_err: f64,
    ape: f64,
    max_err: f64,
}

impl Streamed {
    #[inline]
    fn push(&mut self, y: f64, e: f64, w: f64) {
        self.truth.push(y, w);
        self.residual.push(e, w);
        self.sq_err += w * e * e;
        self.abs_err += w * e.abs();
        self.ape += w * e.abs() / y.abs().max(f64::EPSILON);
        self.max_err = self.max_err.max(e.abs());
    }

    fn merge(&mut self, o: &Streamed) {
        self.truth.merge(&o.truth);
        self.residual.merge(&o.residual);
        self.sq_err += o.sq_err;
        self.abs_err += o.abs_err;
        self.ape += o.ape;
        self.max_err = self.max_err.max(o.max_err);
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct RegressionAccumulator {
    rows: u64,
    streamed: Streamed,
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
        self.streamed.push(y, e, w);
        self.y.push(y);
        self.pred.push(pred);
        self.weights.push(w);
    }

    /// Room for `rows` rows in all (see [`super::Evaluation::reserve`]).
    pub fn reserve(&mut self, rows: usize) {
        for v in [&mut self.y, &mut self.pred, &mut self.weights] {
            v.reserve(rows.saturating_sub(v.len()));
        }
    }

    pub fn merge(&mut self, o: &Self) {
        self.rows += o.rows;
        self.streamed.merge(&o.streamed);
        self.y.extend_from_slice(&o.y);
        self.pred.extend_from_slice(&o.pred);
        self.weights.extend_from_slice(&o.weights);
    }

    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// The metrics of each Poisson-bootstrap replicate: the stored rows re-weighted by
    /// their draws (rows drawn zero times left out). All replicates are computed together
    /// in a few passes over the rows: the row's terms (errors, logs, deviances) once per row,
    /// each replicate adding them times its weight; the medians (median absolute error, the
    /// D² baseline) by one sort of the residuals and of the targets, then a walk of that order
    /// with each replicate's weights. Each replicate adds its rows in the order a
    /// recomputation from its own rows would, so the numbers are that recomputation's, bit for
    /// bit.
    pub fn replicates(&self, keys: &KeyLookup, poisson: Poisson, replicates: usize) -> Vec<MetricMap> {
        self.passes(replicates, &|row, k| poisson.fill(keys.key(row), 1.0, k), false)
    }

    pub fn finish(&self) -> MetricMap {
        self.passes(1, &|_, k| k.fill(1.0), true).pop().unwrap_or_default()
    }

    /// The metrics of `width` weightings of the rows: `draws(row, k)` sets the row's
    /// multiplicity in each (0: left out). `point`: the one weighting is the rows as they
    /// are, whose moments and sums were streamed (and merged) already.
    fn passes(&self, width: usize, draws: &dyn Fn(usize, &mut [f64]), point: bool) -> Vec<MetricMap> {
        let mut k = vec![0.0; width];
        let mut passes = vec![Pass::new(); width];
        for (i, ((&y, &p), &w)) in self.y.iter().zip(&self.pred).zip(&self.weights).enumerate() {
            draws(i, &mut k);
            let terms = RowTerms::new(y, p);
            for (s, &kb) in passes.iter_mut().zip(&k) {
                if kb != 0.0 {
                    s.add(&terms, w * kb);
                }
            }
        }
        if point {
            passes[0].s = self.streamed;
        }
        let abs: Vec<f64> = self.y.iter().zip(&self.pred).map(|(y, p)| (y - p).abs()).collect();
        let median_abs = self.medians(&abs, width, draws);
        let median_y = self.medians(&self.y, width, draws);
        // the D² baselines: absolute deviations from the median, Tweedie deviance from the mean
        let (a, b) = (1.0 - TWEEDIE_POWER, 2.0 - TWEEDIE_POWER);
        let mean_pow: Vec<(f64, f64)> =
            passes.iter().map(|p| (p.s.truth.mean.powf(a), p.s.truth.mean.powf(b))).collect();
        let mut base_abs = vec![sum_start(); width];
        let mut base_tweedie = vec![sum_start(); width];
        for (i, (&y, &w)) in self.y.iter().zip(&self.weights).enumerate() {
            draws(i, &mut k);
            let y_part = y.max(0.0).powf(b) / (a * b);
            for r in (0..width).filter(|&r| k[r] != 0.0) {
                let v = w * k[r];
                base_abs[r] += v * (y - median_y[r]).abs();
                base_tweedie[r] += v * tweedie_deviance(y, y_part, mean_pow[r], TWEEDIE_POWER);
            }
        }
        (0..width).map(|r| passes[r].metrics(median_abs[r], base_abs[r], base_tweedie[r])).collect()
    }

    /// The weighted median of `values` in each weighting (sklearn's averaged inverted CDF,
    /// [`weighted_percentile`] at 50): one sort, then one walk per weighting to its total
    /// and one to its median.
    fn medians(&self, values: &[f64], width: usize, draws: &dyn Fn(usize, &mut [f64])) -> Vec<f64> {
        let mut order: Vec<usize> = (0..values.len()).collect();
        order.sort_by(|&a, &b| values[a].total_cmp(&values[b]));
        let mut k = vec![0.0; width];
        let mut walks = vec![MedianWalk::default(); width];
        for &i in &order {
            draws(i, &mut k);
            for (m, &kb) in walks.iter_mut().zip(&k) {
                if kb != 0.0 {
                    m.count(self.weights[i] * kb);
                }
            }
        }
        walks.iter_mut().for_each(MedianWalk::start);
        for &i in &order {
            if walks.iter().all(|m| m.result.is_some()) {
                break;
            }
            draws(i, &mut k);
            for (m, &kb) in walks.iter_mut().zip(&k) {
                if kb != 0.0 {
                    m.step(values[i], self.weights[i] * kb);
                }
            }
        }
        walks.iter().map(MedianWalk::median).collect()
    }
}

/// `Iterator::sum`'s starting value for f64, so a running sum equals the iterator's.
fn sum_start() -> f64 {
    std::iter::empty::<f64>().sum()
}

/// One row's terms, computed once for every weighting.
struct RowTerms {
    y: f64,
    p: f64,
    e: f64,
    /// Squared log error and the Poisson, gamma and Tweedie unit deviances (NaN or
    /// infinite outside their domains, which the flags catch).
    msle: f64,
    deviance: [f64; 3],
}

impl RowTerms {
    fn new(y: f64, p: f64) -> Self {
        RowTerms {
            y,
            p,
            e: y - p,
            msle: (y.ln_1p() - p.ln_1p()).powi(2),
            deviance: [unit_deviance(y, p, 1.0), unit_deviance(y, p, 2.0), unit_deviance(y, p, TWEEDIE_POWER)],
        }
    }
}

/// One weighting's pass over the rows: what [`RegressionAccumulator::update`] streams, plus
/// the weighted sums of the row terms and the domain flags.
#[derive(Debug, Clone)]
struct Pass {
    rows: usize,
    s: Streamed,
    log_ok: bool,
    positive_pred: bool,
    y_nonneg: bool,
    y_pos: bool,
    msle: f64,
    deviance: [f64; 3],
}

impl Pass {
    fn new() -> Self {
        let z = sum_start();
        Pass {
            rows: 0,
            s: Streamed::default(),
            log_ok: true,
            positive_pred: true,
            y_nonneg: true,
            y_pos: true,
            msle: z,
            deviance: [z; 3],
        }
    }

    #[inline]
    fn add(&mut self, t: &RowTerms, w: f64) {
        let (y, p, e) = (t.y, t.p, t.e);
        self.rows += 1;
        self.s.push(y, e, w);
        self.log_ok &= y > -1.0 && p > -1.0;
        self.positive_pred &= p > 0.0;
        self.y_nonneg &= y >= 0.0;
        self.y_pos &= y > 0.0;
        self.msle += w * t.msle;
        for (s, d) in self.deviance.iter_mut().zip(&t.deviance) {
            *s += w * d;
        }
    }

    /// The metrics, given the weighted median absolute error and the D² baselines (the
    /// absolute deviations from the median target, the Tweedie deviance from the mean).
    fn metrics(&self, median_abs: f64, base_abs: f64, base_tweedie: f64) -> MetricMap {
        let mut m = MetricMap::new();
        let s = &self.s;
        let w = s.truth.weight;
        let mse = s.sq_err / w;
        m.insert("mean_squared_error".into(), num(mse));
        m.insert("root_mean_squared_error".into(), num(mse.sqrt()));
        m.insert("mean_absolute_error".into(), num(s.abs_err / w));
        m.insert("mean_absolute_percentage_error".into(), num(s.ape / w));
        m.insert("max_error".into(), num(s.max_err));
        m.insert("median_absolute_error".into(), num(median_abs));
        // force_finite=True: a constant truth gives 1.0 for a perfect fit, else 0.0.
        let ss_tot = s.truth.m2;
        m.insert("r2_score".into(), num(finite_ratio(s.sq_err, ss_tot)));
        m.insert("explained_variance_score".into(), num(finite_ratio(s.residual.m2, ss_tot)));

        let msle = if self.log_ok { self.msle / w } else { f64::NAN };
        m.insert("mean_squared_log_error".into(), num(msle));
        m.insert("root_mean_squared_log_error".into(), num(msle.sqrt()));

        // D² absolute error: pinball loss at the median against the weighted median's.
        let d2_abs = if self.rows < 2 { f64::NAN } else { finite_ratio(s.abs_err, base_abs) };
        m.insert("d2_absolute_error_score".into(), num(d2_abs));

        let deviance = |i: usize, ok: bool| if ok { self.deviance[i] / w } else { f64::NAN };
        m.insert("mean_poisson_deviance".into(), num(deviance(0, self.positive_pred && self.y_nonneg)));
        m.insert("mean_gamma_deviance".into(), num(deviance(1, self.positive_pred && self.y_pos)));
        let tw_ok = self.positive_pred && self.y_nonneg;
        let tweedie = deviance(2, tw_ok);
        m.insert(format!("mean_tweedie_deviance@power={TWEEDIE_POWER}"), num(tweedie));
        let d2_tweedie = if self.rows < 2 || !tw_ok { f64::NAN } else { 1.0 - tweedie / (base_tweedie / w) };
        m.insert(format!("d2_tweedie_score@power={TWEEDIE_POWER}"), num(d2_tweedie));
        m
    }
}

/// [`weighted_percentile`] at 50 as a walk over the values in ascending order, fed only the
/// rows of one weighting: first every weight ([`MedianWalk::count`]), then from the start
/// again until the median is known ([`MedianWalk::step`]).
#[derive(Debug, Clone, Default)]
struct MedianWalk {
    total: f64,
    any: bool,
    rank: f64,
    cum: f64,
    /// The value where the cumulative weight reached the rank, and that weight.
    at: Option<(f64, f64)>,
    /// Whether the value right after `at` was seen (it had zero weight).
    past_next: bool,
    last: f64,
    result: Option<f64>,
}

impl MedianWalk {
    fn count(&mut self, w: f64) {
        self.total += w;
        self.any |= w != 0.0;
    }

    fn start(&mut self) {
        self.rank = 0.5 * self.total;
        self.cum = 0.0;
        if !self.any {
            self.result = Some(f64::NAN);
        }
    }

    fn step(&mut self, value: f64, w: f64) {
        if self.result.is_some() {
            return;
        }
        self.cum += w;
        self.last = value;
        match self.at {
            // the first value whose cumulative weight is not below the rank (with a NaN
            // rank, the first value: as `partition_point` finds it)
            None if self.cum.partial_cmp(&self.rank) != Some(std::cmp::Ordering::Less) => {
                if self.cum - self.rank > f64::EPSILON {
                    self.result = Some(value);
                } else {
                    self.at = Some((value, self.cum));
                }
            }
            None => {}
            // landed exactly on the rank: average with the next value, or (when that one
            // weighs nothing) the first value past the rank's cumulative weight
            Some((v, cdf)) => {
                if (!self.past_next && w != 0.0) || self.cum > cdf {
                    self.result = Some((v + value) / 2.0);
                }
                self.past_next = true;
            }
        }
    }

    fn median(&self) -> f64 {
        match (self.result, self.at) {
            (Some(r), _) => r,
            // no value after the rank's: the value itself
            (None, Some((v, _))) => (v + v) / 2.0,
            // the cumulative weight never reached the rank (NaN weights): the last value
            (None, None) => (self.last + self.last) / 2.0,
        }
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
        tweedie_deviance(y, y.max(0.0).powf(b) / (a * b), (p.powf(a), p.powf(b)), power)
    }
}

/// The general-power unit deviance from its pieces: `y_part` = max(y, 0)^(2-power) /
/// ((1-power)(2-power)) and `p_pow` = (p^(1-power), p^(2-power)), so a sum over many rows
/// against one `p` computes p's powers once.
fn tweedie_deviance(y: f64, y_part: f64, p_pow: (f64, f64), power: f64) -> f64 {
    let (a, b) = (1.0 - power, 2.0 - power);
    2.0 * (y_part - y * p_pow.0 / a + p_pow.1 / b)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::ci::RowKeys;

    /// The implementation before the walks: each replicate a new accumulator of its drawn
    /// rows, its metrics by sorting and summing them again.
    fn recomputed(
        acc: &RegressionAccumulator,
        keys: &KeyLookup,
        poisson: Poisson,
        replicates: usize,
    ) -> Vec<MetricMap> {
        (0..replicates)
            .map(|b| {
                let mut rep = RegressionAccumulator::new();
                for (r, ((&y, &p), &w)) in acc.y.iter().zip(&acc.pred).zip(&acc.weights).enumerate() {
                    let k = poisson.draw(keys.key(r), b);
                    if k > 0 {
                        rep.update(y, p, w * f64::from(k));
                    }
                }
                recomputed_finish(&rep)
            })
            .collect()
    }

    /// The old `finish`: its inputs each computed its own way (iterator sums over the rows,
    /// the medians by sorting them with [`weighted_percentile`]), then assembled by
    /// [`Pass::metrics`], which holds the old formulas.
    fn recomputed_finish(acc: &RegressionAccumulator) -> MetricMap {
        let sum = |f: &dyn Fn(f64, f64) -> f64| -> f64 {
            acc.y.iter().zip(&acc.pred).zip(&acc.weights).map(|((&y, &p), &w)| w * f(y, p)).sum()
        };
        let pass = Pass {
            rows: acc.y.len(),
            s: acc.streamed,
            log_ok: acc.y.iter().chain(&acc.pred).all(|&v| v > -1.0),
            positive_pred: acc.pred.iter().all(|&p| p > 0.0),
            y_nonneg: acc.y.iter().all(|&y| y >= 0.0),
            y_pos: acc.y.iter().all(|&y| y > 0.0),
            msle: sum(&|y, p| (y.ln_1p() - p.ln_1p()).powi(2)),
            deviance: [1.0, 2.0, TWEEDIE_POWER].map(|power| sum(&|y, p| unit_deviance(y, p, power))),
        };
        let abs: Vec<f64> = acc.y.iter().zip(&acc.pred).map(|(y, p)| (y - p).abs()).collect();
        let median = weighted_percentile(&acc.y, &acc.weights, 50.0);
        let base_abs: f64 = acc.y.iter().zip(&acc.weights).map(|(y, w)| w * (y - median).abs()).sum();
        let mean = acc.streamed.truth.mean;
        let base_tweedie = sum(&|y, _| unit_deviance(y, mean, TWEEDIE_POWER));
        pass.metrics(weighted_percentile(&abs, &acc.weights, 50.0), base_abs, base_tweedie)
    }

    /// Bit for bit: every metric as JSON text (full precision, `null` for non-finite).
    fn text(m: &MetricMap) -> String {
        serde_json::to_string(m).unwrap_or_default()
    }

    /// The walks give exactly what recomputing each replicate from its rows gave, on data
    /// with tied targets and residuals, zero and integer weights, signs that switch the
    /// deviances and logs off in some replicates only, few rows, and merged chunks.
    #[test]
    fn replicates_equal_recomputing_each_one() {
        let mut state = 0x1234_5678_u64;
        let mut next = move || {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (state >> 11) as f64 / (1u64 << 53) as f64
        };
        for case in 0..12 {
            let n = [1, 2, 3, 5, 40, 200, 1000][case % 7];
            let mut parts = [RegressionAccumulator::new(), RegressionAccumulator::new()];
            let mut keys = RowKeys::default();
            for i in 0..n {
                let tied = case % 3 == 0;
                let y = if tied { (next() * 4.0).floor() } else { 0.5 + 3.0 * next() };
                let p = if tied { (next() * 4.0).floor() } else { y + next() - 0.45 };
                // an odd row out of each domain: negative, or below -1
                let (y, p) = if case % 4 == 1 && i == 3 { (-1.5, p) } else { (y, p) };
                let w = match case % 3 {
                    0 => 1.0,
                    1 => [0.0, 1.0, 2.0, 3.0][(next() * 4.0) as usize],
                    _ => 0.1 + next(),
                };
                parts[usize::from(i * 2 >= n)].update(y, p, w);
                keys.push(i as u64);
            }
            let (a, b) = parts.split_at_mut(1);
            a[0].merge(&b[0]);
            let acc = &a[0];
            let lookup = keys.lookup();
            let poisson = Poisson::new(case as u64);
            let walked = acc.replicates(&lookup, poisson, 25);
            let again = recomputed(acc, &lookup, poisson, 25);
            for (r, (x, y)) in walked.iter().zip(&again).enumerate() {
                assert_eq!(text(x), text(y), "case {case} (n = {n}), replicate {r}");
            }
            assert_eq!(text(&acc.finish()), text(&recomputed_finish(acc)), "case {case}: the point estimate");
        }
    }
}
