//! Evaluation metrics as pure, mergeable accumulators.
//!
//! Every metric family is an accumulator with `update` (one row), `merge` (another
//! accumulator of the same family, e.g. from another chunk or another worker) and `finish`.
//! Keeping them mergeable is what lets a big file be read in chunks and split across Web
//! Workers. Nothing here does I/O, knows about JavaScript or touches the GPU.
//!
//! Metric keys are scikit-learn function names with the averaging mode after `@`
//! (`f1_score@macro`); values match scikit-learn's defaults, and a value scikit-learn would
//! return as NaN (or refuse to compute) is `null`.

pub mod ci;
pub mod classification;
pub mod labels;
pub mod ranking;
pub mod regression;
pub mod threshold;

use ci::{CiOptions, Interval};
use classification::{ClassStats, ConfusionAccumulator};
use labels::LabelIndex;
use ranking::{Calibration, NamedCurve, ScoreAccumulator, SortCache};
use regression::RegressionAccumulator;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use threshold::ThresholdExplorer;

/// Metric key -> JSON value (number, `null`, or nested arrays for matrices).
pub type MetricMap = BTreeMap<String, serde_json::Value>;

/// A metric value for JSON: non-finite numbers are `null`.
pub fn num(v: f64) -> serde_json::Value {
    if v.is_finite() {
        serde_json::Value::from(v)
    } else {
        serde_json::Value::Null
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Task {
    Binary,
    Multiclass,
    Regression,
}

impl Task {
    pub fn name(self) -> &'static str {
        match self {
            Task::Binary => "binary",
            Task::Multiclass => "multiclass",
            Task::Regression => "regression",
        }
    }

    pub fn parse(s: &str) -> Option<Task> {
        match s {
            "binary" => Some(Task::Binary),
            "multiclass" => Some(Task::Multiclass),
            "regression" => Some(Task::Regression),
            _ => None,
        }
    }
}

/// All accumulators one predictions file needs, chosen by its task and columns.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Evaluation {
    pub task: Task,
    /// Classes known before reading (from probability headers); empty otherwise.
    pub declared_classes: Vec<String>,
    score_width: usize,
    confusion: Option<ConfusionAccumulator>,
    scores: Option<ScoreAccumulator>,
    regression: Option<RegressionAccumulator>,
    /// Every row, kept only when confidence intervals were asked for.
    rows: Option<RowLog>,
    ci: Option<CiOptions>,
}

/// The rows a bootstrap resamples, in arrival (and merge) order.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct RowLog {
    labels: LabelIndex,
    truth: Vec<u32>,
    pred: Vec<u32>,
    values: Vec<[f64; 2]>,
    weights: Vec<f64>,
}

impl RowLog {
    fn merge(&mut self, o: &RowLog) {
        let map = self.labels.absorb(&o.labels);
        self.truth.extend(o.truth.iter().map(|&t| map[t as usize]));
        self.pred.extend(o.pred.iter().map(|&t| map[t as usize]));
        self.values.extend_from_slice(&o.values);
        self.weights.extend_from_slice(&o.weights);
    }
}

/// What a finished evaluation produced, before it is dressed up as a report.
#[derive(Debug, Clone)]
pub struct Finished {
    pub task: Task,
    pub n: u64,
    pub classes: Vec<String>,
    pub positive_class: Option<String>,
    pub metrics: MetricMap,
    /// The classification report, in `classes` order.
    pub per_class: Vec<ClassStats>,
    pub confusion: Option<classification::ConfusionMatrix>,
    pub curves: Vec<NamedCurve>,
    pub calibration: Option<Calibration>,
    /// Binary scores: metrics at any threshold.
    pub explorer: Option<ThresholdExplorer>,
    /// Confidence intervals by metric key, when asked for.
    pub intervals: BTreeMap<String, Interval>,
    pub ci: Option<CiOptions>,
    /// DeLong's variance of the binary ROC-AUC (unit weights only).
    pub auc_variance: Option<f64>,
}

impl Evaluation {
    /// `score_width`: 0 (labels only), 1 (one positive-class score) or the number of
    /// probability columns (then `declared_classes` names them, in column order).
    pub fn new(task: Task, declared_classes: Vec<String>, score_width: usize) -> Self {
        let (confusion, scores, regression) = match task {
            Task::Regression => (None, None, Some(RegressionAccumulator::new())),
            _ => {
                let scores = match score_width {
                    0 => None,
                    1 => Some(ScoreAccumulator::binary()),
                    _ => Some(ScoreAccumulator::per_class(&declared_classes)),
                };
                (Some(ConfusionAccumulator::with_classes(&declared_classes)), scores, None)
            }
        };
        Evaluation { task, declared_classes, score_width, confusion, scores, regression, rows: None, ci: None }
    }

    /// Also compute confidence intervals (keeps every row until `finish`). Call before
    /// the first update.
    pub fn with_ci(mut self, ci: CiOptions) -> Self {
        self.ci = Some(ci);
        // declared classes first, so a replicate that draws none of a class still has it
        self.rows = Some(RowLog { labels: LabelIndex::with_labels(&self.declared_classes), ..RowLog::default() });
        self
    }

    pub fn update_classification(&mut self, truth: &str, pred: &str, scores: &[f64], weight: f64) {
        if let Some(c) = &mut self.confusion {
            c.update(truth, pred, weight);
        }
        if let Some(s) = &mut self.scores {
            s.update(truth, scores, weight);
        }
        if let Some(log) = &mut self.rows {
            let t = log.labels.intern(truth);
            let p = log.labels.intern(pred);
            log.truth.push(t);
            log.pred.push(p);
            log.weights.push(weight);
        }
    }

    pub fn update_regression(&mut self, truth: f64, pred: f64, weight: f64) {
        if let Some(r) = &mut self.regression {
            r.update(truth, pred, weight);
        }
        if let Some(log) = &mut self.rows {
            log.values.push([truth, pred]);
            log.weights.push(weight);
        }
    }

    pub fn merge(&mut self, other: &Evaluation) {
        if let (Some(a), Some(b)) = (&mut self.confusion, &other.confusion) {
            a.merge(b);
        }
        if let (Some(a), Some(b)) = (&mut self.scores, &other.scores) {
            a.merge(b);
        }
        if let (Some(a), Some(b)) = (&mut self.regression, &other.regression) {
            a.merge(b);
        }
        match (&mut self.rows, &other.rows) {
            (Some(a), Some(b)) => a.merge(b),
            // the other side kept no rows: intervals can no longer be computed
            (Some(_), None) => self.rows = None,
            _ => {}
        }
    }

    pub fn rows(&self) -> u64 {
        match (&self.confusion, &self.regression) {
            (Some(c), _) => c.rows(),
            (_, Some(r)) => r.rows(),
            _ => 0,
        }
    }

    pub fn finish(&self) -> Finished {
        let mut out = self.finish_point();
        if let (Some(ci), Some(log)) = (self.ci, &self.rows) {
            out.intervals = self.intervals(ci, log, &out);
            out.ci = Some(ci);
        }
        out
    }

    /// The metrics themselves, without intervals.
    fn finish_point(&self) -> Finished {
        let mut metrics = MetricMap::new();
        let mut out = Finished {
            task: self.task,
            n: self.rows(),
            classes: Vec::new(),
            positive_class: None,
            metrics: MetricMap::new(),
            per_class: Vec::new(),
            confusion: None,
            curves: Vec::new(),
            calibration: None,
            explorer: None,
            intervals: BTreeMap::new(),
            ci: None,
            auc_variance: None,
        };
        if let Some(r) = &self.regression {
            metrics.extend(r.finish());
        }
        if let Some(c) = &self.confusion {
            let cm = c.finish();
            let positive = self.positive(&cm);
            out.positive_class = positive.map(|p| cm.classes[p].clone());
            metrics.extend(cm.metrics(positive));
            out.per_class = cm.per_class();
            if let Some(s) = &self.scores {
                let sr = s.finish(&cm.classes);
                metrics.extend(sr.metrics);
                out.curves = sr.curves;
                out.calibration = sr.calibration;
                out.explorer = sr.explorer;
                out.auc_variance = sr.delong;
            }
            out.classes = cm.classes.clone();
            out.confusion = Some(cm);
        }
        out.metrics = metrics;
        out
    }

    /// The index of the positive class for binary precision/recall/F.
    fn positive(&self, cm: &classification::ConfusionMatrix) -> Option<usize> {
        (self.task == Task::Binary && cm.classes.len() == 2).then_some(1)
    }

    /// Bootstrap every scalar metric, then replace the bootstrap interval by the analytic
    /// one where that exists and its assumptions (unit weights) hold.
    fn intervals(&self, ci: CiOptions, log: &RowLog, point: &Finished) -> BTreeMap<String, Interval> {
        let n = log.weights.len();
        if n as u64 != self.rows() || self.scores.as_ref().is_some_and(|s| s.rows() != n) {
            return BTreeMap::new();
        }
        let scalar_keys: Vec<&String> = point.metrics.iter().filter(|(_, v)| v.is_number()).map(|(k, _)| k).collect();
        let mut samples: BTreeMap<&str, Vec<f64>> = scalar_keys.iter().map(|k| (k.as_str(), Vec::new())).collect();
        // Label metrics and regression recount the drawn rows; score metrics re-weight the
        // kept scores (weight x multiplicity), reusing their sort orders across replicates.
        let mut cache = SortCache::default();
        let mut rep_weights = vec![0.0; n];
        let names = log.labels.names();
        for b in 0..ci.replicates {
            let counts = ci::multiplicities(n, ci.seed, b);
            for ((rw, &w), &c) in rep_weights.iter_mut().zip(&log.weights).zip(&counts) {
                *rw = w * f64::from(c);
            }
            let drawn = || counts.iter().enumerate().filter(|(_, &c)| c > 0).map(|(r, _)| (r, rep_weights[r]));
            let m = if self.task == Task::Regression {
                let mut rep = RegressionAccumulator::new();
                for (r, w) in drawn() {
                    rep.update(log.values[r][0], log.values[r][1], w);
                }
                rep.finish()
            } else {
                // count by label id; the classes are those drawn (or declared), as
                // scikit-learn would see them in the resample
                let l = names.len();
                let mut matrix = vec![0.0; l * l];
                let mut present = vec![false; l];
                for c in &self.declared_classes {
                    if let Some(i) = log.labels.get(c) {
                        present[i as usize] = true;
                    }
                }
                for (r, w) in drawn() {
                    let (t, p) = (log.truth[r] as usize, log.pred[r] as usize);
                    matrix[t * l + p] += w;
                    present[t] = true;
                    present[p] = true;
                }
                let cm = classification::ConfusionMatrix::from_indexed(names, &present, &matrix);
                let mut m = cm.metrics(self.positive(&cm));
                if let Some(s) = &self.scores {
                    m.extend(s.finish_weighted(&cm.classes, &rep_weights, &mut cache));
                }
                m
            };
            for (k, vals) in samples.iter_mut() {
                vals.push(m.get(*k).and_then(serde_json::Value::as_f64).unwrap_or(f64::NAN));
            }
        }
        let mut out: BTreeMap<String, Interval> = samples
            .into_iter()
            .filter_map(|(k, mut v)| {
                ci::percentile_interval(&mut v, ci.replicates, ci.level).map(|i| (k.to_string(), i))
            })
            .collect();

        if log.weights.iter().all(|&w| w == 1.0) {
            if let Some(cm) = &point.confusion {
                let total = cm.total();
                let correct: f64 = (0..cm.classes.len()).map(|i| cm.counts[i][i]).sum();
                if let Some(i) = ci::wilson(correct, total, ci.level) {
                    out.insert("accuracy_score".into(), i);
                }
                if let Some(p) = point.positive_class.as_ref().and_then(|p| cm.classes.iter().position(|c| c == p)) {
                    let tp = cm.counts[p][p];
                    let predicted: f64 = cm.counts.iter().map(|row| row[p]).sum();
                    let actual: f64 = cm.counts[p].iter().sum();
                    for (key, den) in [("precision_score", predicted), ("recall_score", actual)] {
                        if let Some(i) = ci::wilson(tp, den, ci.level) {
                            out.insert(key.into(), i);
                        }
                    }
                }
            }
            let auc = point.metrics.get("roc_auc_score").and_then(serde_json::Value::as_f64);
            if let Some(i) = auc.zip(point.auc_variance).and_then(|(a, v)| ci::delong(a, v, ci.level)) {
                out.insert("roc_auc_score".into(), i);
            }
        }
        out
    }
}
