//! Score-based metrics: ROC-AUC, average precision, log loss, Brier score and the curves.
//!
//! Exact ranking metrics need every score, so this accumulator keeps them (an f64, a class
//! index and a weight per row); merging concatenates. Curves follow sklearn's `roc_curve` and
//! `precision_recall_curve`: one point per distinct threshold, ties grouped.

use super::labels::LabelIndex;
use super::threshold::ThresholdExplorer;
use super::{num, MetricMap};
use serde::{Deserialize, Serialize};

/// Scores for one of two layouts: a single positive-class score per row (`k == 1`) or one
/// probability per class per row (`k == classes.len()`, classes fixed up front).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ScoreAccumulator {
    k: usize,
    labels: LabelIndex,
    truth: Vec<u32>,
    scores: Vec<f64>,
    weights: Vec<f64>,
}

impl ScoreAccumulator {
    /// One score per row for the positive class of a binary task.
    pub fn binary() -> Self {
        ScoreAccumulator { k: 1, ..Self::default() }
    }

    /// One probability per class per row, columns in `classes` order.
    pub fn per_class(classes: &[String]) -> Self {
        let mut labels = LabelIndex::default();
        for (i, c) in classes.iter().enumerate() {
            // a repeated class name still needs a column of its own
            let name = if labels.get(c).is_some() { format!("{c} (column {})", i + 1) } else { c.clone() };
            labels.intern(&name);
        }
        ScoreAccumulator { k: classes.len(), labels, ..Self::default() }
    }

    pub fn width(&self) -> usize {
        self.k
    }

    /// `scores` holds `k` values for this row.
    /// `scores` should hold `k` values; missing ones count as NaN, extra ones are ignored,
    /// so a bad caller gets bad numbers, never a panic.
    pub fn update(&mut self, truth: &str, scores: &[f64], weight: f64) {
        let t = self.labels.intern(truth);
        self.truth.push(t);
        push_exactly(&mut self.scores, scores, self.k);
        self.weights.push(weight);
    }

    /// Append `other`'s rows. Per-class columns are matched by class name, so chunks read
    /// with differently ordered headers still merge; a class we have no column for is dropped.
    pub fn merge(&mut self, other: &Self) {
        let k = self.k;
        let same_columns = k == other.k && (k == 1 || self.labels.names()[..k] == other.labels.names()[..k]);
        if same_columns {
            self.scores.extend_from_slice(&other.scores);
        } else {
            let from: Vec<Option<usize>> = (0..k)
                .map(|c| {
                    let name = self.labels.names().get(c)?;
                    other.labels.get(name).map(|i| i as usize).filter(|&i| i < other.k)
                })
                .collect();
            for r in 0..other.rows() {
                let row = &other.scores[r * other.k..(r + 1) * other.k];
                self.scores.extend(from.iter().map(|f| f.map_or(f64::NAN, |i| row[i])));
            }
        }
        let map = self.labels.absorb(&other.labels);
        self.truth.extend(other.truth.iter().map(|&t| map[t as usize]));
        self.weights.extend_from_slice(&other.weights);
    }

    pub fn rows(&self) -> usize {
        self.truth.len()
    }

    /// Compute the score metrics. `classes` is the task's sorted class list (truth ∪ pred ∪
    /// probability headers); for `k == 1` the positive class is `classes[1]`.
    pub fn finish(&self, classes: &[String]) -> ScoreReport {
        self.finish_with(classes, &self.weights, &mut SortCache::default(), true)
    }

    /// The scalar metrics with the rows re-weighted (a bootstrap replicate: weight times
    /// multiplicity). `cache` keeps the sort orders between replicates, since the scores
    /// never change; pass the same cache for every replicate of one accumulator.
    pub fn finish_weighted(&self, classes: &[String], weights: &[f64], cache: &mut SortCache) -> MetricMap {
        self.finish_with(classes, weights, cache, false).metrics
    }

    /// `full`: also the curves, threshold explorer and DeLong variance.
    fn finish_with(&self, classes: &[String], w: &[f64], cache: &mut SortCache, full: bool) -> ScoreReport {
        cache.next = 0;
        if self.k == 1 {
            self.finish_binary(classes, w, cache, full)
        } else {
            self.finish_multiclass(w, cache, full)
        }
    }

    fn finish_binary(&self, classes: &[String], weights: &[f64], cache: &mut SortCache, full: bool) -> ScoreReport {
        let mut metrics = MetricMap::new();
        let pos = 1.min(classes.len().saturating_sub(1));
        let positive = classes.get(pos).filter(|_| classes.len() > 1);
        let y: Vec<bool> = self.truth.iter().map(|&t| Some(&self.labels.names()[t as usize]) == positive).collect();
        let curve = cache.curve(&self.scores, &y, weights);
        metrics.insert("roc_auc_score".into(), num(curve.roc_auc()));
        metrics.insert(format!("roc_auc_score@max_fpr={MAX_FPR}"), num(curve.partial_roc_auc(MAX_FPR)));
        metrics.insert("average_precision_score".into(), num(curve.average_precision()));
        let probabilistic = self.scores.iter().all(|s| (0.0..=1.0).contains(s));
        let mut calibration = None;
        if probabilistic && classes.len() == 2 {
            let (mut ll, mut br, mut wsum) = (0.0, 0.0, 0.0);
            for ((&p, &yi), &w) in self.scores.iter().zip(&y).zip(weights) {
                let p_true = if yi { p } else { 1.0 - p };
                ll -= w * clip_prob(p_true).ln();
                br += w * (p - f64::from(u8::from(yi))).powi(2);
                wsum += w;
            }
            metrics.insert("log_loss".into(), num(ll / wsum));
            metrics.insert("brier_score_loss".into(), num(br / wsum));
            let rows = self.scores.iter().copied().zip(y.iter().copied());
            let cal = Calibration::new("positive-class probability", rows, weights);
            metrics.extend(cal.metrics());
            calibration = Some(cal);
        }
        if !full {
            return ScoreReport { metrics, curves: Vec::new(), calibration: None, delong: None, explorer: None };
        }
        let delong = curve.delong(&self.scores, &y, weights);
        let explorer = (classes.len() == 2).then(|| ThresholdExplorer::from_curve(&curve));
        let curves = vec![curve.into_named(classes.get(pos).cloned().unwrap_or_default())];
        ScoreReport { metrics, curves, calibration, delong, explorer }
    }

    /// One probability column per class: one-vs-rest and one-vs-one ranking metrics, log
    /// loss, Brier score, top-k accuracy and top-label calibration.
    fn finish_multiclass(&self, w: &[f64], cache: &mut SortCache, full: bool) -> ScoreReport {
        let k = self.k;
        if self.labels.len() != k || self.truth.iter().any(|&t| t as usize >= k) {
            // Rows whose truth has no probability column (the pipeline refuses them; an API
            // caller may not) have no place in these metrics: leave them out.
            let mut known = ScoreAccumulator::per_class(&self.labels.names()[..k]);
            for (r, &t) in self.truth.iter().enumerate().filter(|(_, &t)| (t as usize) < k) {
                known.truth.push(t);
                known.scores.extend_from_slice(&self.scores[r * k..(r + 1) * k]);
                known.weights.push(w[r]);
            }
            let kw = known.weights.clone();
            return known.finish_multiclass(&kw, cache, full);
        }
        let mut metrics = MetricMap::new();
        let n = self.rows();
        // Score columns are in header order; metrics want sorted class order.
        let (sorted, remap) = self.labels.sorted();
        let mut col_of = vec![0; k];
        for (c, &s) in remap.iter().enumerate().take(k) {
            col_of[s] = c;
        }
        let truth: Vec<usize> = self.truth.iter().map(|&t| remap[t as usize]).collect();
        let score = |r: usize, cls: usize| self.scores[r * k + col_of[cls]];

        let mut curves = Vec::new();
        let (mut aucs, mut aps, mut supports) = (Vec::new(), Vec::new(), Vec::new());
        for (cls, name) in sorted.iter().enumerate().take(k) {
            let col: Vec<f64> = (0..n).map(|r| score(r, cls)).collect();
            let y: Vec<bool> = truth.iter().map(|&t| t == cls).collect();
            let curve = cache.curve(&col, &y, w);
            aucs.push(curve.roc_auc());
            aps.push(curve.average_precision());
            supports.push(curve.positives());
            if full {
                curves.push(curve.into_named(name.clone()));
            }
        }
        let macro_avg = |v: &[f64]| if v.is_empty() { f64::NAN } else { v.iter().sum::<f64>() / v.len() as f64 };
        let weighted = |v: &[f64], by: &[f64]| {
            let tot: f64 = by.iter().sum();
            v.iter().zip(by).map(|(a, s)| a * s).sum::<f64>() / tot
        };
        // micro: every (row, class) cell is one binary decision.
        let flat: Vec<f64> = (0..n).flat_map(|r| (0..k).map(move |c| (r, c))).map(|(r, c)| score(r, c)).collect();
        let flat_y: Vec<bool> = truth.iter().flat_map(|&t| (0..k).map(move |c| t == c)).collect();
        let flat_w: Vec<f64> = w.iter().flat_map(|&x| std::iter::repeat_n(x, k)).collect();
        let micro = cache.curve(&flat, &flat_y, &flat_w);
        metrics.insert("roc_auc_score@macro".into(), num(macro_avg(&aucs)));
        metrics.insert("roc_auc_score@weighted".into(), num(weighted(&aucs, &supports)));
        metrics.insert("roc_auc_score@micro".into(), num(micro.roc_auc()));
        metrics.insert("average_precision_score@macro".into(), num(macro_avg(&aps)));
        metrics.insert("average_precision_score@weighted".into(), num(weighted(&aps, &supports)));
        metrics.insert("average_precision_score@micro".into(), num(micro.average_precision()));
        drop((flat, flat_y, flat_w, micro));

        let (ovo_macro, ovo_weighted) = hand_till(k, &truth, w, &score, cache);
        metrics.insert("roc_auc_score@ovo".into(), num(ovo_macro));
        metrics.insert("roc_auc_score@ovo,weighted".into(), num(ovo_weighted));

        let (mut ll, mut br, mut wsum) = (0.0, 0.0, 0.0);
        let mut hits = vec![0.0; TOP_K.len()];
        let mut top = Vec::with_capacity(n);
        for r in 0..n {
            let t = truth[r];
            let st = score(r, t);
            ll -= w[r] * clip_prob(st).ln();
            br += w[r] * (0..k).map(|c| (score(r, c) - f64::from(u8::from(c == t))).powi(2)).sum::<f64>();
            wsum += w[r];
            // sklearn's tie rule (stable ascending argsort, reversed): a tied class with a
            // greater index ranks above the true class.
            let above = (0..k).filter(|&c| score(r, c) > st || (score(r, c) == st && c > t)).count();
            for (h, &kk) in hits.iter_mut().zip(TOP_K.iter()) {
                if above < kk {
                    *h += w[r];
                }
            }
            let (best, conf) = (0..k).fold((0, f64::NEG_INFINITY), |(b, v), c| {
                let s = score(r, c);
                if s > v {
                    (c, s)
                } else {
                    (b, v)
                }
            });
            top.push((conf, best == t));
        }
        metrics.insert("log_loss".into(), num(ll / wsum));
        metrics.insert("brier_score_loss".into(), num(br / wsum));
        for (h, &kk) in hits.iter().zip(TOP_K.iter()) {
            if kk < k {
                metrics.insert(format!("top_k_accuracy_score@k={kk}"), num(h / wsum));
            }
        }
        let mut calibration = None;
        if self.scores.iter().all(|s| (0.0..=1.0).contains(s)) {
            let cal = Calibration::new("top-label confidence", top.into_iter(), w);
            metrics.extend(cal.metrics());
            calibration = Some(cal);
        }
        ScoreReport { metrics, curves, calibration, delong: None, explorer: None }
    }
}

/// Row indices by score, descending. Ties are grouped by the curve code, so their order
/// does not matter and an unstable sort of (score, index) pairs will do.
fn descending_order(scores: &[f64]) -> Vec<u32> {
    let mut keyed: Vec<(f64, u32)> = scores.iter().enumerate().map(|(i, &s)| (s, i as u32)).collect();
    keyed.sort_unstable_by(|a, b| b.0.total_cmp(&a.0));
    keyed.into_iter().map(|(_, i)| i).collect()
}

/// The sorted form of the curves one `finish` builds, in the order it builds them, so
/// bootstrap replicates (same scores and labels, other weights) only re-sum the weights.
#[derive(Debug, Default)]
pub struct SortCache {
    curves: Vec<SortedCurve>,
    next: usize,
}

/// One curve's rows by score, descending, with what does not depend on the weights.
#[derive(Debug)]
struct SortedCurve {
    order: Vec<u32>,
    /// The labels as given (unsorted), to check that a later call is the same curve.
    y: Vec<bool>,
    y_sorted: Vec<bool>,
    scores_sorted: Vec<f64>,
    /// Whether position i is the last of its group of tied scores.
    last_of_tie: Vec<bool>,
}

impl SortedCurve {
    fn new(scores: &[f64], y: &[bool]) -> Self {
        let order = descending_order(scores);
        let scores_sorted: Vec<f64> = order.iter().map(|&r| scores[r as usize]).collect();
        let last_of_tie =
            (0..order.len()).map(|i| i + 1 == order.len() || scores_sorted[i + 1] != scores_sorted[i]).collect();
        let y_sorted = order.iter().map(|&r| y[r as usize]).collect();
        SortedCurve { order, y: y.to_vec(), y_sorted, scores_sorted, last_of_tie }
    }

    fn curve(&self, w: &[f64]) -> BinaryCurve {
        let (mut thresholds, mut tps, mut fps) = (Vec::new(), Vec::new(), Vec::new());
        let (mut tp, mut fp) = (0.0, 0.0);
        for (i, &r) in self.order.iter().enumerate() {
            let wi = w.get(r as usize).copied().unwrap_or(0.0);
            if self.y_sorted[i] {
                tp += wi;
            } else {
                fp += wi;
            }
            if self.last_of_tie[i] {
                thresholds.push(self.scores_sorted[i]);
                tps.push(tp);
                fps.push(fp);
            }
        }
        BinaryCurve { thresholds, tps, fps }
    }
}

impl SortCache {
    fn curve(&mut self, scores: &[f64], y: &[bool], w: &[f64]) -> BinaryCurve {
        let i = self.next;
        self.next += 1;
        match self.curves.get(i) {
            Some(c) if c.order.len() == scores.len() && c.y == y => {}
            // first time, or not the same curve as last time (a replicate without one class)
            _ => {
                let fresh = SortedCurve::new(scores, y);
                if i < self.curves.len() {
                    self.curves[i] = fresh;
                } else {
                    self.curves.push(fresh);
                }
            }
        }
        self.curves[i].curve(w)
    }
}

/// Append exactly `k` values: `values` padded with NaN or cut.
fn push_exactly(out: &mut Vec<f64>, values: &[f64], k: usize) {
    if values.len() == k {
        out.extend_from_slice(values);
    } else {
        out.extend((0..k).map(|i| values.get(i).copied().unwrap_or(f64::NAN)));
    }
}

/// The false-positive-rate bound of the reported partial ROC-AUC.
pub const MAX_FPR: f64 = 0.1;
/// The k values of `top_k_accuracy_score@k=N` (each reported when k < classes).
pub const TOP_K: [usize; 3] = [2, 3, 5];

/// Probabilities are clipped to [eps, 1 - eps] (float64 eps) before the log, as sklearn.
fn clip_prob(p: f64) -> f64 {
    p.clamp(f64::EPSILON, 1.0 - f64::EPSILON)
}

/// Hand & Till's one-vs-one AUC, as sklearn's `multi_class="ovo"`: for each pair of classes,
/// the mean of the two AUCs computed on the rows of those classes; averaged uniformly and
/// by the (weighted) share of rows in the pair.
fn hand_till(
    k: usize,
    truth: &[usize],
    w: &[f64],
    score: &dyn Fn(usize, usize) -> f64,
    cache: &mut SortCache,
) -> (f64, f64) {
    let mut rows_of = vec![Vec::new(); k];
    for (r, &t) in truth.iter().enumerate() {
        rows_of[t].push(r);
    }
    let total: f64 = w.iter().sum();
    let (mut sum, mut wsum, mut count, mut wtot) = (0.0, 0.0, 0.0, 0.0);
    for a in 0..k {
        for b in a + 1..k {
            let rows: Vec<usize> = rows_of[a].iter().chain(&rows_of[b]).copied().collect();
            let ww: Vec<f64> = rows.iter().map(|&r| w[r]).collect();
            let is_a: Vec<bool> = rows.iter().map(|&r| truth[r] == a).collect();
            let is_b: Vec<bool> = is_a.iter().map(|x| !x).collect();
            let sa: Vec<f64> = rows.iter().map(|&r| score(r, a)).collect();
            let sb: Vec<f64> = rows.iter().map(|&r| score(r, b)).collect();
            let auc = (cache.curve(&sa, &is_a, &ww).roc_auc() + cache.curve(&sb, &is_b, &ww).roc_auc()) / 2.0;
            let prevalence = ww.iter().sum::<f64>() / total;
            sum += auc;
            count += 1.0;
            wsum += auc * prevalence;
            wtot += prevalence;
        }
    }
    (sum / count, wsum / wtot)
}

/// A reliability diagram: predictions binned by confidence into equal-width bins.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Calibration {
    /// What the confidence is: the positive-class probability (binary) or the top-label
    /// probability against "the arg-max was right" (multiclass).
    pub kind: String,
    pub bins: Vec<CalibrationBin>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CalibrationBin {
    pub lower: f64,
    pub upper: f64,
    /// Total sample weight in the bin (the row count when unweighted).
    pub weight: f64,
    pub mean_predicted: f64,
    pub fraction_positive: f64,
}

/// Equal-width bins of the reliability diagram (sklearn `calibration_curve`'s default
/// strategy; its bin edges and its rule that an edge value falls in the lower bin).
pub const CALIBRATION_BINS: usize = 10;

impl Calibration {
    /// `rows`: (confidence in [0, 1], outcome) per row.
    pub fn new(kind: &str, rows: impl Iterator<Item = (f64, bool)>, w: &[f64]) -> Self {
        let nb = CALIBRATION_BINS;
        let step = 1.0 / nb as f64;
        let edges: Vec<f64> = (0..=nb).map(|i| if i == nb { 1.0 } else { i as f64 * step }).collect();
        let (mut wt, mut sp, mut sy) = (vec![0.0; nb], vec![0.0; nb], vec![0.0; nb]);
        for ((p, y), &wi) in rows.zip(w) {
            // np.searchsorted(inner_edges, p, side="left")
            let b = edges[1..nb].partition_point(|&e| e < p);
            wt[b] += wi;
            sp[b] += wi * p;
            sy[b] += wi * f64::from(u8::from(y));
        }
        let bins = (0..nb)
            .map(|b| CalibrationBin {
                lower: edges[b],
                upper: edges[b + 1],
                weight: wt[b],
                mean_predicted: sp[b] / wt[b],
                fraction_positive: sy[b] / wt[b],
            })
            .collect();
        Calibration { kind: kind.into(), bins }
    }

    /// ECE (bin-weight-averaged |accuracy - confidence|) and MCE (the largest gap).
    pub fn metrics(&self) -> MetricMap {
        let total: f64 = self.bins.iter().map(|b| b.weight).sum();
        let (mut ece, mut mce) = (0.0, f64::NAN);
        for b in self.bins.iter().filter(|b| b.weight > 0.0) {
            let gap = (b.fraction_positive - b.mean_predicted).abs();
            ece += b.weight / total * gap;
            mce = if mce.is_nan() { gap } else { mce.max(gap) };
        }
        let mut m = MetricMap::new();
        m.insert("expected_calibration_error".into(), num(if total > 0.0 { ece } else { f64::NAN }));
        m.insert("maximum_calibration_error".into(), num(mce));
        m
    }
}

pub struct ScoreReport {
    pub metrics: MetricMap,
    pub curves: Vec<NamedCurve>,
    pub calibration: Option<Calibration>,
    /// DeLong's variance of the binary ROC-AUC (unweighted data only).
    pub delong: Option<f64>,
    /// Metrics at any threshold of the binary score.
    pub explorer: Option<ThresholdExplorer>,
}

/// ROC and precision-recall points for one class against the rest. Non-finite values (the
/// first threshold is +inf, rates are NaN when a class is absent) are `null` in JSON.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NamedCurve {
    pub class: String,
    #[serde(deserialize_with = "nullable_f64s")]
    pub fpr: Vec<f64>,
    #[serde(deserialize_with = "nullable_f64s")]
    pub tpr: Vec<f64>,
    #[serde(deserialize_with = "nullable_f64s")]
    pub precision: Vec<f64>,
    #[serde(deserialize_with = "nullable_f64s")]
    pub recall: Vec<f64>,
    #[serde(deserialize_with = "nullable_f64s")]
    pub thresholds: Vec<f64>,
    pub auc: Option<f64>,
    pub average_precision: Option<f64>,
}

fn nullable_f64s<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<f64>, D::Error> {
    let v: Vec<Option<f64>> = Deserialize::deserialize(d)?;
    Ok(v.into_iter().map(|x| x.unwrap_or(f64::NAN)).collect())
}

/// Cumulative weighted true/false positives at each distinct threshold, descending.
pub(crate) struct BinaryCurve {
    pub(crate) thresholds: Vec<f64>,
    pub(crate) tps: Vec<f64>,
    pub(crate) fps: Vec<f64>,
}

impl BinaryCurve {
    fn positives(&self) -> f64 {
        self.tps.last().copied().unwrap_or(0.0)
    }

    fn negatives(&self) -> f64 {
        self.fps.last().copied().unwrap_or(0.0)
    }

    /// Trapezoidal area under (fpr, tpr) starting at (0, 0); NaN when one class is absent.
    fn roc_auc(&self) -> f64 {
        let (p, n) = (self.positives(), self.negatives());
        if p <= 0.0 || n <= 0.0 {
            return f64::NAN;
        }
        let (mut area, mut prev_tp, mut prev_fp) = (0.0, 0.0, 0.0);
        for (&tp, &fp) in self.tps.iter().zip(&self.fps) {
            area += (fp - prev_fp) * (tp + prev_tp) / 2.0;
            prev_tp = tp;
            prev_fp = fp;
        }
        area / (p * n)
    }

    /// Step-wise AP: sum over thresholds of (R_n - R_{n-1}) P_n, as sklearn.
    fn average_precision(&self) -> f64 {
        let p = self.positives();
        if p <= 0.0 {
            // sklearn warns and returns -0.0 (no positive samples): treat as undefined.
            return f64::NAN;
        }
        let (mut ap, mut prev_r) = (0.0, 0.0);
        for (&tp, &fp) in self.tps.iter().zip(&self.fps) {
            let r = tp / p;
            let prec = if tp + fp > 0.0 { tp / (tp + fp) } else { 1.0 };
            ap += (r - prev_r) * prec;
            prev_r = r;
        }
        ap
    }

    /// sklearn's `roc_auc_score(max_fpr=...)`: the area up to `max_fpr` (the curve
    /// interpolated linearly at the bound), McClish-standardised to [0.5, 1] for a curve
    /// between the diagonal and the perfect one.
    fn partial_roc_auc(&self, max_fpr: f64) -> f64 {
        let (p, n) = (self.positives(), self.negatives());
        if p <= 0.0 || n <= 0.0 {
            return f64::NAN;
        }
        let (mut area, mut x0, mut y0) = (0.0, 0.0, 0.0);
        for (&tp, &fp) in self.tps.iter().zip(&self.fps) {
            let (x1, y1) = (fp / n, tp / p);
            if x1 > max_fpr {
                let y = y0 + (y1 - y0) * (max_fpr - x0) / (x1 - x0);
                area += (max_fpr - x0) * (y + y0) / 2.0;
                break;
            }
            area += (x1 - x0) * (y1 + y0) / 2.0;
            (x0, y0) = (x1, y1);
        }
        let min_area = 0.5 * max_fpr * max_fpr;
        0.5 * (1.0 + (area - min_area) / (max_fpr - min_area))
    }

    /// DeLong's variance of the AUC from each row's placement among the other class
    /// (ties count half). Only for unit weights and at least two rows of each class.
    fn delong(&self, scores: &[f64], y: &[bool], w: &[f64]) -> Option<f64> {
        let (p, n) = (self.positives(), self.negatives());
        if p < 2.0 || n < 2.0 || w.iter().any(|&x| x != 1.0) {
            return None;
        }
        let mut order: Vec<usize> = (0..scores.len()).collect();
        order.sort_by(|&a, &b| scores[a].total_cmp(&scores[b]));
        let (mut v10, mut v01) = (Vec::new(), Vec::new());
        let (mut pos_below, mut neg_below) = (0.0, 0.0);
        let mut i = 0;
        while i < order.len() {
            let mut j = i;
            while j < order.len() && scores[order[j]] == scores[order[i]] {
                j += 1;
            }
            let group = &order[i..j];
            let pos_here = group.iter().filter(|&&r| y[r]).count() as f64;
            let neg_here = group.len() as f64 - pos_here;
            for &r in group {
                if y[r] {
                    v10.push((neg_below + 0.5 * neg_here) / n);
                } else {
                    v01.push((p - pos_below - pos_here + 0.5 * pos_here) / p);
                }
            }
            pos_below += pos_here;
            neg_below += neg_here;
            i = j;
        }
        let var = |v: &[f64]| {
            let m = v.iter().sum::<f64>() / v.len() as f64;
            v.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / (v.len() as f64 - 1.0)
        };
        Some(var(&v10) / p + var(&v01) / n)
    }

    fn into_named(self, class: String) -> NamedCurve {
        let (p, n) = (self.positives(), self.negatives());
        let auc = Some(self.roc_auc()).filter(|v| v.is_finite());
        let ap = Some(self.average_precision()).filter(|v| v.is_finite());
        let mut fpr = vec![0.0];
        let mut tpr = vec![0.0];
        let mut thresholds = vec![f64::INFINITY];
        let mut precision = Vec::new();
        let mut recall = Vec::new();
        for i in 0..self.thresholds.len() {
            fpr.push(if n > 0.0 { self.fps[i] / n } else { f64::NAN });
            tpr.push(if p > 0.0 { self.tps[i] / p } else { f64::NAN });
            thresholds.push(self.thresholds[i]);
            let pp = self.tps[i] + self.fps[i];
            precision.push(if pp > 0.0 { self.tps[i] / pp } else { 1.0 });
            recall.push(if p > 0.0 { self.tps[i] / p } else { 0.0 });
        }
        NamedCurve { class, fpr, tpr, precision, recall, thresholds, auc, average_precision: ap }
    }
}
