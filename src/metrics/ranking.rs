//! Score-based metrics: ROC-AUC, average precision, log loss, Brier score and the curves.
//!
//! Exact ranking metrics need every score, so this accumulator keeps them (an f64, a class
//! index and a weight per row); merging concatenates. Curves follow sklearn's `roc_curve` and
//! `precision_recall_curve`: one point per distinct threshold, ties grouped.

use super::labels::LabelIndex;
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
        ScoreAccumulator { k: classes.len(), labels: LabelIndex::with_labels(classes), ..Self::default() }
    }

    pub fn width(&self) -> usize {
        self.k
    }

    /// `scores` holds `k` values for this row.
    pub fn update(&mut self, truth: &str, scores: &[f64], weight: f64) {
        debug_assert_eq!(scores.len(), self.k);
        let t = self.labels.intern(truth);
        self.truth.push(t);
        self.scores.extend_from_slice(scores);
        self.weights.push(weight);
    }

    pub fn merge(&mut self, other: &Self) {
        let map = self.labels.absorb(&other.labels);
        self.truth.extend(other.truth.iter().map(|&t| map[t as usize]));
        self.scores.extend_from_slice(&other.scores);
        self.weights.extend_from_slice(&other.weights);
    }

    pub fn rows(&self) -> usize {
        self.truth.len()
    }

    /// Compute the score metrics. `classes` is the task's sorted class list (truth ∪ pred ∪
    /// probability headers); for `k == 1` the positive class is `classes[1]`.
    pub fn finish(&self, classes: &[String]) -> ScoreReport {
        let mut metrics = MetricMap::new();
        let mut curves = Vec::new();
        let class_of: Vec<Option<usize>> =
            self.labels.names().iter().map(|n| classes.iter().position(|c| c == n)).collect();
        let truth: Vec<Option<usize>> = self.truth.iter().map(|&t| class_of[t as usize]).collect();

        if self.k == 1 {
            let pos = 1.min(classes.len().saturating_sub(1));
            let y: Vec<bool> = truth.iter().map(|t| *t == Some(pos) && classes.len() > 1).collect();
            let curve = BinaryCurve::new(&self.scores, &y, &self.weights);
            metrics.insert("roc_auc_score".into(), num(curve.roc_auc()));
            metrics.insert("average_precision_score".into(), num(curve.average_precision()));
            let probabilistic = self.scores.iter().all(|s| (0.0..=1.0).contains(s));
            if probabilistic && classes.len() == 2 {
                let probs: Vec<[f64; 2]> = self.scores.iter().map(|&p| [1.0 - p, p]).collect();
                let flat: Vec<f64> = probs.iter().flatten().copied().collect();
                metrics.insert("log_loss".into(), num(log_loss(&flat, 2, &truth, &self.weights)));
                metrics.insert("brier_score_loss".into(), num(brier(&self.scores, &y, &self.weights)));
            }
            curves.push(curve.into_named(classes.get(pos).cloned().unwrap_or_default()));
        } else {
            let k = self.k;
            // Column c of the score matrix is for self.labels.names()[c], which for per-class
            // accumulators is the header order; map it to `classes` order.
            let col_class: Vec<Option<usize>> = (0..k).map(|c| class_of[c]).collect();
            let mut aucs = Vec::new();
            let mut aps = Vec::new();
            let mut supports = Vec::new();
            for (c, cls) in col_class.iter().enumerate() {
                let Some(cls) = *cls else { continue };
                let col: Vec<f64> = (0..self.rows()).map(|r| self.scores[r * k + c]).collect();
                let y: Vec<bool> = truth.iter().map(|t| *t == Some(cls)).collect();
                let support: f64 = y.iter().zip(&self.weights).filter(|(y, _)| **y).map(|(_, w)| w).sum();
                let curve = BinaryCurve::new(&col, &y, &self.weights);
                aucs.push(curve.roc_auc());
                aps.push(curve.average_precision());
                supports.push(support);
                curves.push(curve.into_named(classes[cls].clone()));
            }
            let macro_avg = |v: &[f64]| if v.is_empty() { f64::NAN } else { v.iter().sum::<f64>() / v.len() as f64 };
            let weighted = |v: &[f64]| {
                let tot: f64 = supports.iter().sum();
                v.iter().zip(&supports).map(|(a, s)| a * s).sum::<f64>() / tot
            };
            metrics.insert("roc_auc_score@macro".into(), num(macro_avg(&aucs)));
            metrics.insert("roc_auc_score@weighted".into(), num(weighted(&aucs)));
            metrics.insert("average_precision_score@macro".into(), num(macro_avg(&aps)));
            metrics.insert("average_precision_score@weighted".into(), num(weighted(&aps)));
            // log loss in `classes` order; classes without a column get probability 0.
            let kc = classes.len();
            let mut ordered = vec![0.0; self.rows() * kc];
            for r in 0..self.rows() {
                for (c, cls) in col_class.iter().enumerate() {
                    if let Some(cls) = cls {
                        ordered[r * kc + cls] = self.scores[r * k + c];
                    }
                }
            }
            metrics.insert("log_loss".into(), num(log_loss(&ordered, kc, &truth, &self.weights)));
        }
        ScoreReport { metrics, curves }
    }
}

pub struct ScoreReport {
    pub metrics: MetricMap,
    pub curves: Vec<NamedCurve>,
}

/// ROC and precision-recall points for one class against the rest.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NamedCurve {
    pub class: String,
    pub fpr: Vec<f64>,
    pub tpr: Vec<f64>,
    pub precision: Vec<f64>,
    pub recall: Vec<f64>,
    pub thresholds: Vec<f64>,
    pub auc: Option<f64>,
    pub average_precision: Option<f64>,
}

/// Cumulative weighted true/false positives at each distinct threshold, descending.
struct BinaryCurve {
    thresholds: Vec<f64>,
    tps: Vec<f64>,
    fps: Vec<f64>,
}

impl BinaryCurve {
    fn new(scores: &[f64], y: &[bool], w: &[f64]) -> Self {
        let mut order: Vec<usize> = (0..scores.len()).collect();
        order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]));
        let (mut thresholds, mut tps, mut fps) = (Vec::new(), Vec::new(), Vec::new());
        let (mut tp, mut fp) = (0.0, 0.0);
        for (i, &r) in order.iter().enumerate() {
            if y[r] {
                tp += w[r];
            } else {
                fp += w[r];
            }
            let last_of_tie = i + 1 == order.len() || scores[order[i + 1]] != scores[r];
            if last_of_tie {
                thresholds.push(scores[r]);
                tps.push(tp);
                fps.push(fp);
            }
        }
        BinaryCurve { thresholds, tps, fps }
    }

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

/// Mean weighted negative log-likelihood of the true class, its probability clipped to
/// [eps, 1-eps] with float64 eps and not renormalised, as sklearn does.
fn log_loss(probs: &[f64], k: usize, truth: &[Option<usize>], w: &[f64]) -> f64 {
    let eps = f64::EPSILON;
    let (mut sum, mut wsum) = (0.0, 0.0);
    for (r, t) in truth.iter().enumerate() {
        let Some(t) = *t else { continue };
        let p = probs[r * k + t].clamp(eps, 1.0 - eps);
        sum -= w[r] * p.ln();
        wsum += w[r];
    }
    if wsum == 0.0 {
        f64::NAN
    } else {
        sum / wsum
    }
}

fn brier(p: &[f64], y: &[bool], w: &[f64]) -> f64 {
    let (mut sum, mut wsum) = (0.0, 0.0);
    for i in 0..p.len() {
        let d = p[i] - if y[i] { 1.0 } else { 0.0 };
        sum += w[i] * d * d;
        wsum += w[i];
    }
    if wsum == 0.0 {
        f64::NAN
    } else {
        sum / wsum
    }
}
