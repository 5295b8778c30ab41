//! The threshold explorer: what a binary classifier's scores give at any cut-off.
//!
//! The ROC curve's cumulative counts already hold the confusion matrix at every distinct
//! score, so any threshold costs a binary search, and the page's slider needs no re-read of
//! the file. Convention as sklearn's `roc_curve`: a row is predicted positive when its
//! score is >= the threshold.

use super::ranking::BinaryCurve;
use serde::{Deserialize, Serialize};

/// Cumulative weighted counts at each distinct score, thresholds descending.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ThresholdExplorer {
    pub thresholds: Vec<f64>,
    pub tp: Vec<f64>,
    pub fp: Vec<f64>,
    pub positives: f64,
    pub negatives: f64,
}

/// The confusion matrix at one threshold and the rates it gives. Undefined rates are NaN
/// (JSON `null`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ThresholdMetrics {
    pub threshold: f64,
    pub tp: f64,
    pub fp: f64,
    #[serde(rename = "fn")]
    pub fn_: f64,
    pub tn: f64,
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
    pub specificity: f64,
    pub fpr: f64,
    pub accuracy: f64,
    pub balanced_accuracy: f64,
    pub youden_j: f64,
    pub matthews_corrcoef: f64,
}

fn ratio(a: f64, b: f64) -> f64 {
    if b == 0.0 {
        f64::NAN
    } else {
        a / b
    }
}

impl ThresholdExplorer {
    pub(crate) fn from_curve(c: &BinaryCurve) -> Self {
        ThresholdExplorer {
            thresholds: c.thresholds.clone(),
            tp: c.tps.clone(),
            fp: c.fps.clone(),
            positives: c.tps.last().copied().unwrap_or(0.0),
            negatives: c.fps.last().copied().unwrap_or(0.0),
        }
    }

    /// Metrics when rows with score >= `threshold` are predicted positive.
    pub fn at(&self, threshold: f64) -> ThresholdMetrics {
        let i = self.thresholds.partition_point(|&t| t >= threshold);
        let (tp, fp) = if i == 0 { (0.0, 0.0) } else { (self.tp[i - 1], self.fp[i - 1]) };
        self.metrics(threshold, tp, fp)
    }

    /// Metrics when rows with score strictly above `threshold` are predicted positive (the
    /// rule webeval uses to predict labels from a score column).
    pub fn at_above(&self, threshold: f64) -> ThresholdMetrics {
        let i = self.thresholds.partition_point(|&t| t > threshold);
        let (tp, fp) = if i == 0 { (0.0, 0.0) } else { (self.tp[i - 1], self.fp[i - 1]) };
        self.metrics(threshold, tp, fp)
    }

    fn metrics(&self, threshold: f64, tp: f64, fp: f64) -> ThresholdMetrics {
        let (p, n) = (self.positives, self.negatives);
        let (fn_, tn) = (p - tp, n - fp);
        let recall = ratio(tp, p);
        let specificity = ratio(tn, n);
        let mcc_den = ((tp + fp) * p * n * (tn + fn_)).sqrt();
        ThresholdMetrics {
            threshold,
            tp,
            fp,
            fn_,
            tn,
            // zero_division as sklearn's default: 0 for precision and F1
            precision: if tp + fp == 0.0 { 0.0 } else { tp / (tp + fp) },
            recall,
            f1: if 2.0 * tp + fp + fn_ == 0.0 { 0.0 } else { 2.0 * tp / (2.0 * tp + fp + fn_) },
            specificity,
            fpr: ratio(fp, n),
            accuracy: ratio(tp + tn, p + n),
            balanced_accuracy: (recall + specificity) / 2.0,
            youden_j: recall + specificity - 1.0,
            matthews_corrcoef: if mcc_den == 0.0 { 0.0 } else { (tp * tn - fp * fn_) / mcc_den },
        }
    }

    /// Every distinct threshold (highest first) with its metrics.
    fn points(&self) -> impl Iterator<Item = ThresholdMetrics> + '_ {
        (0..self.thresholds.len()).map(|i| self.metrics(self.thresholds[i], self.tp[i], self.fp[i]))
    }

    /// The threshold that maximises `key` (first, i.e. highest, on ties).
    fn best(&self, key: impl Fn(&ThresholdMetrics) -> f64) -> Option<ThresholdMetrics> {
        self.points().filter(|m| key(m).is_finite()).fold(None, |best, m| match best {
            Some(b) if key(&b) >= key(&m) => Some(b),
            _ => Some(m),
        })
    }

    /// The threshold with the highest F1.
    pub fn best_f1(&self) -> Option<ThresholdMetrics> {
        self.best(|m| m.f1)
    }

    /// The threshold with the highest Youden's J (TPR - FPR).
    pub fn youden(&self) -> Option<ThresholdMetrics> {
        self.best(|m| m.youden_j)
    }

    /// The lowest threshold (most recall) whose precision is at least `target`.
    pub fn for_precision(&self, target: f64) -> Option<ThresholdMetrics> {
        self.points().filter(|m| m.tp + m.fp > 0.0 && m.precision >= target).last()
    }

    /// The highest threshold (most precision) whose recall is at least `target`.
    pub fn for_recall(&self, target: f64) -> Option<ThresholdMetrics> {
        self.points().find(|m| m.recall >= target)
    }

    /// At most `max` evenly spread points (always the first and last), for shipping to the
    /// page; the counts stay exact at the points kept.
    pub fn thinned(&self, max: usize) -> ThresholdExplorer {
        let n = self.thresholds.len();
        if n <= max || max < 2 {
            return self.clone();
        }
        let idx: Vec<usize> = (0..max).map(|i| i * (n - 1) / (max - 1)).collect();
        let pick = |v: &[f64]| idx.iter().map(|&i| v[i]).collect();
        ThresholdExplorer {
            thresholds: pick(&self.thresholds),
            tp: pick(&self.tp),
            fp: pick(&self.fp),
            positives: self.positives,
            negatives: self.negatives,
        }
    }
}
