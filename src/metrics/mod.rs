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
mod class_row;
pub mod classification;
pub mod labels;
pub mod multilabel;
pub mod ranking;
pub mod regression;
pub mod sketch;
pub mod sort;
pub mod threshold;

use ci::{CiOptions, Interval, Poisson, RowKeys};
use classification::{ClassStats, ConfusionAccumulator};
use labels::LabelIndex;
use multilabel::MultilabelAccumulator;
pub use ranking::SketchWork;
use ranking::{Budget, Calibration, MergeKeys, NamedCurve, ScoreAccumulator, SketchInfo, Sketching, NO_COLUMN};
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
    /// Label sets: one 0/1 indicator column per label.
    Multilabel,
    Regression,
}

impl Task {
    pub fn name(self) -> &'static str {
        match self {
            Task::Binary => "binary",
            Task::Multiclass => "multiclass",
            Task::Multilabel => "multilabel",
            Task::Regression => "regression",
        }
    }

    pub fn parse(s: &str) -> Option<Task> {
        match s {
            "binary" => Some(Task::Binary),
            "multiclass" => Some(Task::Multiclass),
            "multilabel" => Some(Task::Multilabel),
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
    /// Every label seen or declared, by id (first-seen order).
    labels: LabelIndex,
    /// Per label id: its probability column (per-class scores) or NO_COLUMN.
    label_column: Vec<u32>,
    confusion: Option<ConfusionAccumulator>,
    scores: Option<ScoreAccumulator>,
    regression: Option<RegressionAccumulator>,
    multilabel: Option<MultilabelAccumulator>,
    ci: Option<CiOptions>,
    /// Most scores stored for exact ranking metrics (0: the default), see
    /// [`Evaluation::with_score_budget`].
    #[serde(default)]
    score_budget: usize,
    /// Most bytes of the sketches past the budget (0: the default), see
    /// [`Evaluation::with_sketch_bytes`].
    #[serde(default)]
    sketch_bytes: usize,
    /// Rows binned per sorted batch (0: the default), see [`Evaluation::with_sketch_batch`].
    #[serde(default)]
    sketch_batch: usize,
    /// Most bytes of the exact walks' bootstrap draw table (0: the default), see
    /// [`Evaluation::with_draw_bytes`].
    #[serde(default)]
    draw_bytes: usize,
    /// The bootstrap key of the next row, and the keys of the rows so far.
    next_key: u64,
    keys: RowKeys,
    /// The current row's multiplicity in each replicate (its weight there is its weight
    /// times that).
    #[serde(skip)]
    draws: Vec<u8>,
    /// Most threads `finish` runs on (natively), see [`Evaluation::with_threads`].
    #[serde(skip)]
    threads: usize,
    /// Where merges hand their sketching to other threads, see
    /// [`Evaluation::with_sketch_work`].
    #[serde(skip)]
    work: Option<std::sync::Arc<SketchWork>>,
    /// Switched to the sketches before the budget on a projection of the rows to come
    /// ([`Evaluation::switch_early`]).
    #[serde(skip)]
    projected: bool,
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
    /// The score metrics of each bootstrap replicate (empty without intervals).
    pub score_replicates: Vec<MetricMap>,
    /// Set when the ranking metrics came from the binned sketch (past the score budget).
    pub sketch: Option<SketchInfo>,
}

impl Evaluation {
    /// `score_width`: 0 (labels only), 1 (one positive-class score) or the number of
    /// probability columns (then `declared_classes` names them, in column order).
    pub fn new(task: Task, declared_classes: Vec<String>, score_width: usize) -> Self {
        let mut e = Evaluation {
            task,
            declared_classes,
            score_width,
            labels: LabelIndex::default(),
            label_column: Vec::new(),
            confusion: None,
            scores: None,
            regression: None,
            multilabel: None,
            ci: None,
            score_budget: 0,
            sketch_bytes: 0,
            sketch_batch: 0,
            draw_bytes: 0,
            next_key: 0,
            keys: RowKeys::default(),
            draws: Vec::new(),
            threads: 1,
            work: None,
            projected: false,
        };
        e.build(0);
        e
    }

    fn build(&mut self, replicates: usize) {
        self.multilabel = (self.task == Task::Multilabel)
            .then(|| MultilabelAccumulator::new(&self.declared_classes, self.score_width > 0, replicates))
            .map(|m| m.with_budget(self.budget()));
        let (confusion, scores, regression) = match self.task {
            Task::Multilabel => (None, None, None),
            Task::Regression => (None, None, Some(RegressionAccumulator::new())),
            _ => {
                let scores = match self.score_width {
                    0 => None,
                    1 => Some(ScoreAccumulator::binary()),
                    _ => Some(ScoreAccumulator::per_class(&self.declared_classes)),
                };
                let scores = scores.map(|s| s.with_replicates(replicates).with_budget(self.budget()));
                (Some(ConfusionAccumulator::new(replicates)), scores, None)
            }
        };
        (self.confusion, self.scores, self.regression) = (confusion, scores, regression);
        self.labels = LabelIndex::default();
        self.label_column.clear();
        for c in self.declared_classes.clone() {
            self.intern(&c);
        }
    }

    /// Also compute confidence intervals. Call before the first update.
    pub fn with_ci(mut self, ci: CiOptions) -> Self {
        self.ci = Some(ci);
        self.build(ci.replicates);
        self
    }

    /// Past `scores` stored scores (a row stores one per score column), the ROC-AUC, AP
    /// and curves of every score layout (binary, per-class, multilabel) come from binned
    /// sketches with error bounds (`Finished::sketch`) instead of every score; with
    /// intervals, their bootstrap replicates too. Call before the first update.
    pub fn with_score_budget(mut self, scores: usize) -> Self {
        self.score_budget = scores;
        self.build(self.ci.map_or(0, |c| c.replicates));
        self
    }

    /// Hold at most about `bytes` in the sketches (default
    /// [`ranking::DEFAULT_SKETCH_BYTES`]); past it their grid coarsens and the error bounds
    /// grow. Call before the first update.
    pub fn with_sketch_bytes(mut self, bytes: usize) -> Self {
        self.sketch_bytes = bytes;
        self.build(self.ci.map_or(0, |c| c.replicates));
        self
    }

    /// Bin at most `rows` rows per sorted batch in the sketches (0: the default,
    /// [`sketch::BATCH_ROWS`] or fewer for wide rows; 1: row at a time). The results do not
    /// depend on it. Call before the first update.
    pub fn with_sketch_batch(mut self, rows: usize) -> Self {
        self.sketch_batch = rows;
        self.build(self.ci.map_or(0, |c| c.replicates));
        self
    }

    /// Hold at most about `bytes` of bootstrap draws for the exact ranking walks (default
    /// [`ranking::DEFAULT_DRAW_BYTES`]); more replicates than fit are walked in blocks, each
    /// sorting the scores again. The results do not depend on it. Call before the first
    /// update.
    pub fn with_draw_bytes(mut self, bytes: usize) -> Self {
        self.draw_bytes = bytes;
        self.build(self.ci.map_or(0, |c| c.replicates));
        self
    }

    fn budget(&self) -> Budget {
        Budget {
            scores: self.score_budget,
            sketch_bytes: self.sketch_bytes,
            batch_rows: self.sketch_batch,
            draw_bytes: self.draw_bytes,
        }
    }

    /// Bytes of the stored scores, their labels and weights (0 once they are binned).
    pub fn stored_bytes(&self) -> usize {
        self.scores.as_ref().map_or(0, ScoreAccumulator::stored_bytes)
            + self.multilabel.as_ref().map_or(0, MultilabelAccumulator::stored_bytes)
    }

    /// Bytes held by the score sketches (0 while every score is stored).
    pub fn sketch_bytes(&self) -> usize {
        self.scores.as_ref().map_or(0, ScoreAccumulator::sketch_bytes)
            + self.multilabel.as_ref().map_or(0, MultilabelAccumulator::sketch_bytes)
    }

    /// Number this evaluation's rows from `first` on for the bootstrap's draws. A chunk of
    /// a file evaluated on its own (another worker) should start at its first row number:
    /// then the merged intervals are those of one pass over the file. Call before the first
    /// update.
    pub fn with_first_row(mut self, first: u64) -> Self {
        self.next_key = first;
        self
    }

    /// Room for `rows` rows in all in what keeps a value per row (the stored scores, a
    /// regression's values), reserved once: a hint from the file's size.
    pub fn reserve(&mut self, rows: usize) {
        if let Some(s) = &mut self.scores {
            s.reserve(rows);
        }
        if let Some(r) = &mut self.regression {
            r.reserve(rows);
        }
    }

    /// Whether `rows` rows in all would hold more than `factor` times the scores the budget
    /// allows.
    pub fn projects_past_budget(&self, rows: u64, factor: f64) -> bool {
        let width = self.scores.as_ref().map_or(0, ScoreAccumulator::width)
            + self.multilabel.as_ref().map_or(0, MultilabelAccumulator::width);
        width > 0 && rows as f64 * width as f64 > factor * self.budget().scores() as f64
    }

    /// Bin the scores from now on, before the budget is reached: a file whose size says it
    /// will pass the budget then never stores (and copies, and switches) the budget's worth
    /// of scores. The sketches, so the report, are those of switching at the budget (a
    /// sketch's cells do not depend on when its rows were binned), provided the rows do pass
    /// it: [`Evaluation::misprojected`] says when they did not.
    pub fn switch_early(&mut self) {
        let (keys, poisson) = (self.keys.lookup(), self.poisson());
        if let Some(s) = self.scores.as_mut().filter(|s| !s.sketched()) {
            s.switch_to_sketch(&keys, poisson);
            self.projected = true;
        }
        if let Some(m) = self.multilabel.as_mut().filter(|m| m.width() > 0 && !m.sketched()) {
            m.switch_to_sketch(&keys, poisson);
            self.projected = true;
        }
    }

    /// Whether the scores are binned (past the score budget, or switched early): then every
    /// evaluation merged into this one may be [`Evaluation::bins_only`].
    pub fn bins(&self) -> bool {
        self.scores.as_ref().is_some_and(ScoreAccumulator::sketched)
            || self.multilabel.as_ref().is_some_and(|m| m.width() > 0 && m.sketched())
    }

    /// This evaluation's rows will only be binned (it will be merged into one that
    /// [`Evaluation::bins`]): its scores are stored as f32, all a bin needs (the same
    /// sketches, so the same report; half the memory, and half the bytes where it crosses
    /// between workers). Call before the first row.
    pub fn bins_only(&mut self) {
        if let Some(s) = &mut self.scores {
            s.bins_only();
        }
        if let Some(m) = &mut self.multilabel {
            m.bins_only();
        }
    }

    /// An early switch ([`Evaluation::switch_early`]) whose rows never passed the score
    /// budget: the report would be binned where the exact one was in reach, so the source
    /// must be read again without switching early.
    pub fn misprojected(&self) -> bool {
        self.projected && !self.projects_past_budget(self.rows(), 1.0)
    }

    /// The id of a label (interned on first sight), for [`Evaluation::update_ids`].
    pub fn intern(&mut self, label: &str) -> u32 {
        let id = self.labels.intern(label);
        if id as usize == self.label_column.len() {
            let col = self.scores.as_ref().map_or(NO_COLUMN, |s| s.column_of(label));
            self.label_column.push(col);
        }
        id
    }

    pub fn update_classification(&mut self, truth: &str, pred: &str, scores: &[f64], weight: f64) {
        let t = self.intern(truth);
        let p = self.intern(pred);
        self.update_ids(t, p, scores, weight);
    }

    /// One row by label ids from [`Evaluation::intern`] (an unknown id is ignored).
    pub fn update_ids(&mut self, t: u32, p: u32, scores: &[f64], weight: f64) {
        if t as usize >= self.labels.len() || p as usize >= self.labels.len() {
            return;
        }
        self.draw();
        if let Some(c) = &mut self.confusion {
            c.update(t, p, weight, &self.draws);
        }
        if let Some(s) = &mut self.scores {
            let truth = if s.width() == 1 { t } else { self.label_column[t as usize] };
            s.update(truth, scores, weight, &self.draws);
            if s.over_budget() {
                s.switch_to_sketch(&self.keys.lookup(), Poisson::new(self.ci.map_or(0, |c| c.seed)));
            }
        }
    }

    /// The next row's key and replicate draws.
    #[inline]
    fn draw(&mut self) {
        let key = self.next_key;
        self.next_key += 1;
        self.keys.push(key);
        if let Some(ci) = self.ci {
            self.draws.resize(ci.replicates, 0);
            self.poisson().draws(key, &mut self.draws);
        }
    }

    /// One row of a multilabel task: per label (declared order) whether it is true and
    /// predicted (non-zero = set), and its score when the evaluation has scores.
    pub fn update_multilabel(&mut self, truth: &[f64], pred: &[f64], scores: &[f64], weight: f64) {
        self.draw();
        if let Some(m) = &mut self.multilabel {
            m.update(truth, pred, scores, weight, &self.draws);
            if m.over_budget() {
                m.switch_to_sketch(&self.keys.lookup(), Poisson::new(self.ci.map_or(0, |c| c.seed)));
            }
        }
    }

    pub fn update_regression(&mut self, truth: f64, pred: f64, weight: f64) {
        let key = self.next_key;
        self.next_key += 1;
        self.keys.push(key);
        if let Some(r) = &mut self.regression {
            r.update(truth, pred, weight);
        }
    }

    /// Bin the rows the score sketches hold back for their next sorted batch. Reports and
    /// merges are the same without it (they bin a copy of those rows), so this only saves
    /// that copy: call it when no more rows come (before `finish`, a merge or an encoding).
    pub fn flush(&mut self) {
        if let Some(s) = &mut self.scores {
            s.flush();
        }
        if let Some(m) = &mut self.multilabel {
            m.flush();
        }
    }

    pub fn merge(&mut self, other: &Evaluation) {
        self.merge_with(other, None);
    }

    /// [`Evaluation::merge`], `other` taken: past the score budget, a merge with
    /// [`Evaluation::with_sketch_work`] hands the stored rows' sketching to other threads
    /// (the same report; [`Evaluation::flush`] takes the sketches in).
    pub fn merge_owned(&mut self, mut other: Evaluation) {
        let scores = other.scores.take();
        self.merge_with(&other, scores);
    }

    /// Merge `other`, whose score accumulator is `scores` when taken out of it.
    fn merge_with(&mut self, other: &Evaluation, scores: Option<ScoreAccumulator>) {
        let map: Vec<u32> = other.labels.names().iter().map(|n| self.intern(n)).collect();
        let keys = MergeKeys { mine: &self.keys, theirs: &other.keys, poisson: self.poisson() };
        if let (Some(a), Some(b)) = (&mut self.confusion, &other.confusion) {
            a.merge(b, &map);
        }
        match (&mut self.scores, scores, &other.scores) {
            (Some(a), Some(b), _) => a.merge_owned(b, &map, &keys, self.work.as_ref()),
            (Some(a), None, Some(b)) => a.merge(b, &map, &keys),
            _ => {}
        }
        if let (Some(a), Some(b)) = (&mut self.regression, &other.regression) {
            a.merge(b);
        }
        if let (Some(a), Some(b)) = (&mut self.multilabel, &other.multilabel) {
            a.merge(b, &keys);
        }
        self.keys.merge(&other.keys);
        if self.ci != other.ci {
            // replicates drawn differently cannot be combined
            self.ci = None;
        }
    }

    /// Let merges past the score budget hand their sketching to `work`, which other threads
    /// run (natively: a file read by several threads); only where the sketches come out the
    /// same, bit for bit (see [`SketchWork`]). Call [`Evaluation::flush`] before `finish`.
    pub fn with_sketch_work(mut self, work: std::sync::Arc<SketchWork>) -> Self {
        self.work = Some(work);
        self
    }

    /// Let `finish` run the per-class ranking walks on up to `threads` threads natively
    /// (default one; wasm always one). The results do not depend on it.
    pub fn with_threads(mut self, threads: usize) -> Self {
        self.threads = threads.max(1);
        self
    }

    pub fn rows(&self) -> u64 {
        match (&self.confusion, &self.regression, &self.multilabel) {
            (Some(c), _, _) => c.rows(),
            (_, Some(r), _) => r.rows(),
            (_, _, Some(m)) => m.rows(),
            _ => 0,
        }
    }

    pub fn finish(&self) -> Finished {
        let mut out = self.finish_point();
        if let Some(ci) = self.ci {
            out.intervals = self.intervals(ci, &out);
            out.ci = Some(ci);
        }
        out
    }

    fn poisson(&self) -> Poisson {
        Poisson::new(self.ci.map_or(0, |c| c.seed))
    }

    /// The metrics themselves, with the score metrics' bootstrap replicates.
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
            score_replicates: Vec::new(),
            sketch: None,
        };
        if let Some(r) = &self.regression {
            metrics.extend(r.finish());
        }
        if let Some(m) = &self.multilabel {
            let report = m.finish(&self.keys.lookup(), self.poisson(), true);
            metrics.extend(report.metrics);
            out.classes = m.labels().to_vec();
            out.per_class = report.per_label;
            out.curves = report.curves;
            out.score_replicates = report.replicates;
            out.sketch = report.sketch;
        }
        if let Some(c) = &self.confusion {
            let cm = c.finish(self.labels.names());
            let positive = self.positive(&cm);
            out.positive_class = positive.map(|p| cm.classes[p].clone());
            metrics.extend(cm.metrics(positive));
            out.per_class = cm.per_class();
            if let Some(s) = &self.scores {
                let keys = self.keys.lookup();
                let sr = s.finish(self.labels.names(), &cm.classes, &keys, self.poisson(), true, self.threads);
                metrics.extend(sr.metrics);
                out.curves = sr.curves;
                out.calibration = sr.calibration;
                out.explorer = sr.explorer;
                out.auc_variance = sr.delong;
                out.score_replicates = sr.replicates;
                out.sketch = sr.sketch;
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
    fn intervals(&self, ci: CiOptions, point: &Finished) -> BTreeMap<String, Interval> {
        let scalar_keys: Vec<&String> = point.metrics.iter().filter(|(_, v)| v.is_number()).map(|(k, _)| k).collect();
        let mut samples: BTreeMap<&str, Vec<f64>> = scalar_keys.iter().map(|k| (k.as_str(), Vec::new())).collect();
        let names = self.labels.names();
        let declared: Vec<bool> = names.iter().map(|n| self.declared_classes.contains(n)).collect();
        let regression =
            self.regression.as_ref().map(|r| r.replicates(&self.keys.lookup(), self.poisson(), ci.replicates));
        for b in 0..ci.replicates {
            let m = match (&regression, &self.confusion) {
                (Some(reps), _) => reps.get(b).cloned().unwrap_or_default(),
                // multilabel: every metric's replicates come from the accumulator
                (None, None) => point.score_replicates.get(b).cloned().unwrap_or_default(),
                (None, Some(c)) => {
                    let cm = c.replicate(b, names, &declared);
                    let mut m = cm.metrics(self.positive(&cm));
                    if let Some(s) = point.score_replicates.get(b) {
                        m.extend(s.clone());
                    }
                    m
                }
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

        let unit_weights = self.confusion.as_ref().is_some_and(|c| c.unit_weights());
        if unit_weights {
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
