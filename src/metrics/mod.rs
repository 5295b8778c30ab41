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
use ranking::{Calibration, NamedCurve, ScoreAccumulator};
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
    scores: Vec<f64>,
    values: Vec<[f64; 2]>,
    weights: Vec<f64>,
}

impl RowLog {
    fn merge(&mut self, o: &RowLog) {
        let map = self.labels.absorb(&o.labels);
        self.truth.extend(o.truth.iter().map(|&t| map[t as usize]));
        self.pred.extend(o.pred.iter().map(|&t| map[t as usize]));
        self.scores.extend_from_slice(&o.scores);
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
        self.rows = Some(RowLog::default());
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
            ranking::push_exactly(&mut log.scores, scores, self.score_width);
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
        if let (Some(a), Some(b)) = (&mut self.rows, &other.rows) {
            a.merge(b);
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
            let positive = (self.task == Task::Binary && cm.classes.len() == 2).then_some(1);
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

    /// Bootstrap every scalar metric, then replace the bootstrap interval by the analytic
    /// one where that exists and its assumptions (unit weights) hold.
    fn intervals(&self, ci: CiOptions, log: &RowLog, point: &Finished) -> BTreeMap<String, Interval> {
        let n = log.weights.len();
        let scalar_keys: Vec<&String> = point.metrics.iter().filter(|(_, v)| v.is_number()).map(|(k, _)| k).collect();
        let mut samples: BTreeMap<&str, Vec<f64>> = scalar_keys.iter().map(|k| (k.as_str(), Vec::new())).collect();
        let width = self.score_width;
        for b in 0..ci.replicates {
            let counts = ci::multiplicities(n, ci.seed, b);
            let mut rep = Evaluation::new(self.task, self.declared_classes.clone(), width);
            for (r, &c) in counts.iter().enumerate() {
                if c == 0 {
                    continue;
                }
                let w = log.weights[r] * f64::from(c);
                if self.task == Task::Regression {
                    rep.update_regression(log.values[r][0], log.values[r][1], w);
                } else {
                    let names = log.labels.names();
                    let scores = &log.scores[r * width..(r + 1) * width];
                    rep.update_classification(&names[log.truth[r] as usize], &names[log.pred[r] as usize], scores, w);
                }
            }
            let m = rep.finish_point().metrics;
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
