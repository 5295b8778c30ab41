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

pub mod classification;
pub mod labels;
pub mod ranking;
pub mod regression;

use classification::ConfusionAccumulator;
use ranking::{NamedCurve, ScoreAccumulator};
use regression::RegressionAccumulator;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

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
    confusion: Option<ConfusionAccumulator>,
    scores: Option<ScoreAccumulator>,
    regression: Option<RegressionAccumulator>,
}

/// What a finished evaluation produced, before it is dressed up as a report.
#[derive(Debug, Clone)]
pub struct Finished {
    pub task: Task,
    pub n: u64,
    pub classes: Vec<String>,
    pub positive_class: Option<String>,
    pub metrics: MetricMap,
    pub per_class: Vec<[f64; 4]>,
    pub confusion: Option<classification::ConfusionMatrix>,
    pub curves: Vec<NamedCurve>,
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
        Evaluation { task, declared_classes, confusion, scores, regression }
    }

    pub fn update_classification(&mut self, truth: &str, pred: &str, scores: &[f64], weight: f64) {
        if let Some(c) = &mut self.confusion {
            c.update(truth, pred, weight);
        }
        if let Some(s) = &mut self.scores {
            s.update(truth, scores, weight);
        }
    }

    pub fn update_regression(&mut self, truth: f64, pred: f64, weight: f64) {
        if let Some(r) = &mut self.regression {
            r.update(truth, pred, weight);
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
    }

    pub fn rows(&self) -> u64 {
        match (&self.confusion, &self.regression) {
            (Some(c), _) => c.rows(),
            (_, Some(r)) => r.rows(),
            _ => 0,
        }
    }

    pub fn finish(&self) -> Finished {
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
            }
            out.classes = cm.classes.clone();
            out.confusion = Some(cm);
        }
        out.metrics = metrics;
        out
    }
}
