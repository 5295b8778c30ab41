//! Which rows: the metrics summarise every row, but a person also wants to see the rows that
//! go wrong. Files stream and may be large, so everything kept here is bounded and
//! deterministic: a fixed-seed reservoir sample of (truth, prediction) pairs for the
//! regression plots, a top-k heap of the worst rows, and the first few rows of each
//! confusion-matrix cell (with the cell's full count).

use crate::data::columns::RowSink;
use crate::metrics::ci::SplitMix64;
use crate::metrics::{Evaluation, Task};
use serde::{Deserialize, Serialize};
use std::cmp::Ordering;
use std::collections::BinaryHeap;

/// Points kept for the residual and predicted-vs-actual plots.
pub const SAMPLE_SIZE: usize = 2000;
/// Rows in the worst-rows table.
pub const WORST_K: usize = 50;
/// Rows listed per confusion-matrix cell.
pub const CELL_ROWS: usize = 20;
/// Above this many distinct labels the per-cell lists are not kept (the matrix is unreadable
/// anyway and the lists would grow with the square of it).
pub const MAX_CELL_CLASSES: usize = 50;
const SAMPLE_SEED: u64 = 0x5EED_0001;

/// The report's `examples` section.
#[derive(Debug, Clone, Serialize)]
pub struct Examples {
    /// What `worst[].loss` measures; absent when rows cannot be ranked (labels only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub worst_by: Option<String>,
    /// Worst first. Classification: mistakes only.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub worst: Vec<WorstRow>,
    /// Confusion-matrix cells that have rows, by (truth, prediction).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub cells: Vec<CellRows>,
    /// Most rows listed per cell.
    pub cell_limit: usize,
    /// Regression: a uniform sample of the rows.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sample: Option<Sample>,
}

/// One row, located in the file: `row` counts data rows from 0 (pandas' `iloc`), `line` is
/// the reader's line number (header = 1 for delimited text).
#[derive(Debug, Clone, Serialize)]
pub struct WorstRow {
    pub row: u64,
    pub line: u64,
    pub truth: serde_json::Value,
    pub pred: serde_json::Value,
    /// Classification: the score the row gave its true class (binary: the positive-class
    /// score); absent for regression.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub score: Option<f64>,
    pub loss: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct CellRows {
    pub truth: String,
    pub pred: String,
    /// Rows in the cell (unweighted).
    pub count: u64,
    /// The first `cell_limit` rows as `[row, line]`.
    pub rows: Vec<[u64; 2]>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Sample {
    /// Rows seen; the sample holds `truth.len()` of them.
    pub of: u64,
    pub seed: u64,
    pub truth: Vec<f64>,
    pub pred: Vec<f64>,
}

/// How a classification row's loss is computed.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
enum Scoring {
    None,
    /// One probability per class, in `classes` order: −ln p(true class).
    Probs,
    /// One positive-class probability (`classes[1]` positive): −ln p(true class).
    BinaryProb,
    /// One decision value (`classes[1]` positive when above `threshold`): how far it is on
    /// the wrong side of the threshold.
    BinaryMargin(f64),
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(into = "RankedWire", from = "RankedWire")]
struct Ranked {
    loss: f64,
    row: WorstRow,
}

/// A kept row as a chunk's state carries it to another worker (`report::split`): every
/// field always present (the binary format has no field names to skip by) and the JSON
/// cells as exact values.
#[derive(Serialize, Deserialize)]
struct RankedWire {
    loss: f64,
    row: u64,
    line: u64,
    truth: WireValue,
    pred: WireValue,
    score: Option<f64>,
}

/// A label or value cell of [`WorstRow`]: the JSON scalars, a number as its exact bits.
#[derive(Serialize, Deserialize)]
enum WireValue {
    Null,
    Bool(bool),
    Unsigned(u64),
    Signed(i64),
    Float(f64),
    Text(String),
}

impl From<&serde_json::Value> for WireValue {
    fn from(v: &serde_json::Value) -> Self {
        use serde_json::Value;
        match v {
            Value::Bool(b) => WireValue::Bool(*b),
            Value::Number(n) => match (n.as_u64(), n.as_i64(), n.as_f64()) {
                (Some(u), _, _) => WireValue::Unsigned(u),
                (_, Some(i), _) => WireValue::Signed(i),
                (_, _, Some(f)) => WireValue::Float(f),
                _ => WireValue::Null,
            },
            Value::String(s) => WireValue::Text(s.clone()),
            // rows hold scalars only; anything else is kept as its JSON text
            Value::Array(_) | Value::Object(_) => WireValue::Text(v.to_string()),
            Value::Null => WireValue::Null,
        }
    }
}

impl From<WireValue> for serde_json::Value {
    fn from(v: WireValue) -> Self {
        match v {
            WireValue::Null => serde_json::Value::Null,
            WireValue::Bool(b) => b.into(),
            WireValue::Unsigned(u) => u.into(),
            WireValue::Signed(i) => i.into(),
            WireValue::Float(f) => serde_json::Number::from_f64(f).map_or(serde_json::Value::Null, Into::into),
            WireValue::Text(s) => s.into(),
        }
    }
}

impl From<Ranked> for RankedWire {
    fn from(r: Ranked) -> Self {
        let w = &r.row;
        RankedWire {
            loss: r.loss,
            row: w.row,
            line: w.line,
            truth: (&w.truth).into(),
            pred: (&w.pred).into(),
            score: w.score,
        }
    }
}

impl From<RankedWire> for Ranked {
    fn from(w: RankedWire) -> Self {
        let row = WorstRow {
            row: w.row,
            line: w.line,
            truth: w.truth.into(),
            pred: w.pred.into(),
            score: w.score,
            loss: w.loss,
        };
        Ranked { loss: w.loss, row }
    }
}

impl PartialEq for Ranked {
    fn eq(&self, o: &Self) -> bool {
        self.cmp(o) == Ordering::Equal
    }
}
impl Eq for Ranked {}
impl PartialOrd for Ranked {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Ranked {
    /// "Greater" = worse: a higher loss, then an earlier row (so ties keep the first rows).
    fn cmp(&self, o: &Self) -> Ordering {
        self.loss.total_cmp(&o.loss).then(o.row.row.cmp(&self.row.row))
    }
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct Cell {
    count: u64,
    rows: Vec<[u64; 2]>,
}

/// [`RowTracker::floor`] when no row may be skipped.
fn no_floor() -> f64 {
    f64::INFINITY
}

/// Collects the bounded examples while the rows stream past.
#[derive(Debug, Serialize, Deserialize)]
pub struct RowTracker {
    task: Task,
    classes: Vec<String>,
    scoring: Scoring,
    row: u64,
    line: u64,
    /// Min-heap (by `Reverse` order) of the WORST_K worst rows.
    worst: BinaryHeap<std::cmp::Reverse<Ranked>>,
    /// A probability at or above which a row's −ln p cannot beat the least-bad kept row,
    /// so its `ln` is not taken (a misclassified row's, each: most of them); +∞ (take it)
    /// until the list is full, and after a merge until the next row is kept.
    #[serde(skip, default = "no_floor")]
    floor: f64,
    labels: LocalLabels,
    /// Per local label id: its index in `classes`, if any.
    class_of: Vec<Option<usize>>,
    /// Dense `MAX_CELL_CLASSES²` grid by local (truth, pred) ids; dropped past that many labels.
    cells: Option<Vec<Cell>>,
    rng: SplitMix64,
    seen: u64,
    sample: Vec<(f64, f64)>,
}

impl RowTracker {
    /// `classes` and `score_width` as the evaluation has them; `threshold` is the cut-off a
    /// single score is read against (0.5 for probabilities, 0 for decision values).
    pub fn new(task: Task, classes: &[String], score_width: usize, threshold: f64) -> RowTracker {
        let scoring = match (task, score_width) {
            (Task::Regression, _) | (_, 0) => Scoring::None,
            (Task::Multilabel, w) if w == classes.len() && threshold == 0.5 => Scoring::Probs,
            (Task::Multilabel, _) => Scoring::None,
            (_, 1) if classes.len() == 2 && threshold == 0.5 => Scoring::BinaryProb,
            (_, 1) if classes.len() == 2 => Scoring::BinaryMargin(threshold),
            (_, w) if w >= 2 && w == classes.len() => Scoring::Probs,
            _ => Scoring::None,
        };
        RowTracker {
            task,
            classes: classes.to_vec(),
            scoring,
            row: 0,
            line: 0,
            worst: BinaryHeap::with_capacity(WORST_K + 1),
            floor: no_floor(),
            labels: LocalLabels::default(),
            class_of: Vec::new(),
            cells: matches!(task, Task::Binary | Task::Multiclass).then(Vec::new),
            rng: SplitMix64::new(SAMPLE_SEED),
            seen: 0,
            sample: Vec::new(),
        }
    }

    /// The row the next update belongs to.
    pub fn at(&mut self, row: u64, line: u64) {
        self.row = row;
        self.line = line;
    }

    /// Whether a row with this loss makes the worst-rows list (checked before building it).
    fn keeps(&self, loss: f64) -> bool {
        if !loss.is_finite() && loss != f64::INFINITY {
            return false;
        }
        // strictly worse than the least-bad kept row (ties keep the earlier row)
        self.worst.len() < WORST_K || self.worst.peek().is_some_and(|least| loss > least.0.loss)
    }

    fn offer(&mut self, loss: f64, make: impl FnOnce(&Self) -> WorstRow) {
        if !self.keeps(loss) {
            return;
        }
        let row = make(self);
        if self.worst.len() == WORST_K {
            self.worst.pop();
        }
        self.worst.push(std::cmp::Reverse(Ranked { loss, row }));
        self.floor = match self.worst.peek() {
            // p ≥ e^−L (1 + 10⁻⁹) gives −ln p ≤ L − 10⁻⁹ (true value), and `ln`'s rounding
            // (under 10⁻¹⁴ for |ln p| ≤ 35, p clamped at 10⁻¹⁵) cannot lift it past L: such a
            // row is not strictly worse, as `keeps` would find
            Some(least) if self.worst.len() == WORST_K => (-least.0.loss).exp() * (1.0 + 1e-9),
            _ => no_floor(),
        };
    }

    /// A label the evaluation interned as `id` (see [`LocalLabels`]).
    pub fn register(&mut self, id: u32, name: &str) {
        if self.labels.register(id, name) {
            self.class_of.push(self.classes.iter().position(|c| c == name));
        }
    }

    fn classification(&mut self, truth: u32, pred: u32, scores: &[f64]) {
        let (row, line) = (self.row, self.line);
        let (t, p) = (self.labels.local(truth), self.labels.local(pred));
        let n = self.labels.names.len();
        if n > MAX_CELL_CLASSES {
            self.cells = None;
        }
        if let Some(cells) = &mut self.cells {
            if cells.is_empty() {
                cells.resize_with(MAX_CELL_CLASSES * MAX_CELL_CLASSES, Cell::default);
            }
            let cell = &mut cells[t as usize * MAX_CELL_CLASSES + p as usize];
            cell.count += 1;
            if cell.rows.len() < CELL_ROWS {
                cell.rows.push([row, line]);
            }
        }
        if t == p {
            return;
        }
        let class = self.class_of[t as usize];
        let (score, loss) = match self.scoring {
            Scoring::None => return,
            Scoring::Probs => {
                let Some(i) = class else { return };
                let p = scores.get(i).copied().unwrap_or(f64::NAN);
                if p >= self.floor {
                    return;
                }
                (p, -p.max(1e-15).ln())
            }
            Scoring::BinaryProb => {
                let s = scores.first().copied().unwrap_or(f64::NAN);
                let p = if class == Some(1) { s } else { 1.0 - s };
                if p >= self.floor {
                    return;
                }
                (s, -p.max(1e-15).ln())
            }
            Scoring::BinaryMargin(th) => {
                let s = scores.first().copied().unwrap_or(f64::NAN);
                (s, if class == Some(1) { th - s } else { s - th })
            }
        };
        if loss.is_nan() {
            return;
        }
        self.offer(loss, |me| WorstRow {
            row,
            line,
            truth: label_json(&me.labels.names[t as usize]),
            pred: label_json(&me.labels.names[p as usize]),
            score: Some(score),
            loss,
        });
    }

    /// A multilabel row (labels in `classes` order): a mistake when any label is wrong, ranked
    /// by its log loss summed over labels when the scores are probabilities, else by how
    /// many labels are wrong.
    fn multilabel(&mut self, truth: &[f64], pred: &[f64], scores: &[f64]) {
        let (row, line) = (self.row, self.line);
        let wrong = truth.iter().zip(pred).filter(|(t, p)| (**t != 0.0) != (**p != 0.0)).count();
        if wrong == 0 {
            return;
        }
        let loss = match self.scoring {
            Scoring::Probs => {
                truth.iter().zip(scores).map(|(&t, &s)| -(if t != 0.0 { s } else { 1.0 - s }).max(1e-15).ln()).sum()
            }
            _ => wrong as f64,
        };
        if loss.is_nan() {
            return;
        }
        self.offer(loss, |me| {
            let set = |v: &[f64]| {
                let on = me.classes.iter().zip(v).filter(|(_, x)| **x != 0.0).map(|(c, _)| label_json(c));
                serde_json::Value::Array(on.collect())
            };
            WorstRow { row, line, truth: set(truth), pred: set(pred), score: None, loss }
        });
    }

    fn regression(&mut self, truth: f64, pred: f64) {
        let (row, line) = (self.row, self.line);
        let loss = (truth - pred).abs();
        self.offer(loss, |_| WorstRow {
            row,
            line,
            truth: crate::metrics::num(truth),
            pred: crate::metrics::num(pred),
            score: None,
            loss,
        });
        // Algorithm R: every row ends up in the sample with the same probability.
        if self.sample.len() < SAMPLE_SIZE {
            self.sample.push((truth, pred));
        } else {
            let j = self.rng.below(self.seen as usize + 1);
            if j < SAMPLE_SIZE {
                self.sample[j] = (truth, pred);
            }
        }
        self.seen += 1;
    }

    /// Chunk `index` of a file gets its own sample stream, so chunks do not repeat draws.
    pub fn for_chunk(mut self, index: u64) -> Self {
        self.rng = SplitMix64::new(SAMPLE_SEED ^ index.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        self
    }

    /// Add the rows of `other`, the next chunk of the file, whose rows and lines count from
    /// its start: `row_base` rows and `line_base` lines come before it. `id` gives a label's
    /// id in this tracker's evaluation. The worst rows are the top `WORST_K` of both (ties
    /// to the earlier row, as in one pass); each cell keeps its first rows; the regression
    /// sample stays a uniform sample of all rows.
    pub fn merge(&mut self, other: RowTracker, row_base: u64, line_base: u64, id: &mut dyn FnMut(&str) -> u32) {
        let map = self.labels.adopt(&other.labels, id, &self.classes, &mut self.class_of);
        for mut r in other.worst.into_iter().map(|r| r.0) {
            r.row.row += row_base;
            r.row.line += line_base;
            if self.worst.len() < WORST_K {
                self.worst.push(std::cmp::Reverse(r));
            } else if self.worst.peek().is_some_and(|least| r > least.0) {
                self.worst.pop();
                self.worst.push(std::cmp::Reverse(r));
            }
        }
        self.floor = no_floor();
        if self.labels.names.len() > MAX_CELL_CLASSES || other.cells.is_none() {
            self.cells = None;
        }
        if let (Some(cells), Some(theirs)) = (&mut self.cells, other.cells) {
            for (i, cell) in theirs.into_iter().enumerate().filter(|(_, c)| c.count > 0) {
                if cells.is_empty() {
                    cells.resize_with(MAX_CELL_CLASSES * MAX_CELL_CLASSES, Cell::default);
                }
                let (t, p) = (map[i / MAX_CELL_CLASSES] as usize, map[i % MAX_CELL_CLASSES] as usize);
                let mine = &mut cells[t * MAX_CELL_CLASSES + p];
                mine.count += cell.count;
                let room = CELL_ROWS.saturating_sub(mine.rows.len());
                mine.rows.extend(cell.rows.iter().take(room).map(|&[r, l]| [r + row_base, l + line_base]));
            }
        }
        self.sample =
            merge_samples(std::mem::take(&mut self.sample), self.seen, other.sample, other.seen, &mut self.rng);
        self.seen += other.seen;
    }

    /// Lines of the rows kept, moved down by `line_base` (a first chunk that does not start
    /// the file).
    pub fn shift_lines(&mut self, line_base: u64) {
        if line_base == 0 {
            return;
        }
        let worst = std::mem::take(&mut self.worst);
        self.worst = worst
            .into_iter()
            .map(|mut r| {
                r.0.row.line += line_base;
                r
            })
            .collect();
        for cell in self.cells.iter_mut().flatten() {
            cell.rows.iter_mut().for_each(|r| r[1] += line_base);
        }
    }

    pub fn finish(self) -> Examples {
        let worst_by = match (self.task, self.scoring) {
            (Task::Regression, _) => Some("absolute error |truth − prediction|".to_string()),
            (Task::Multilabel, Scoring::Probs) => Some(
                "log loss of the row summed over its labels: −Σ ln(probability given to each true 0/1)".to_string(),
            ),
            (Task::Multilabel, _) => Some("number of labels wrong in the row".to_string()),
            (_, Scoring::Probs | Scoring::BinaryProb) => {
                Some("log loss of the row: −ln(probability given to the true class)".to_string())
            }
            (_, Scoring::BinaryMargin(t)) => Some(format!("how far the score is on the wrong side of {t}")),
            (_, Scoring::None) => None,
        };
        let mut worst: Vec<Ranked> = self.worst.into_iter().map(|r| r.0).collect();
        worst.sort_by(|a, b| b.cmp(a));
        let names = &self.labels.names;
        let mut cells: Vec<CellRows> = self
            .cells
            .unwrap_or_default()
            .into_iter()
            .enumerate()
            .filter(|(_, c)| c.count > 0)
            .map(|(i, c)| CellRows {
                truth: names[i / MAX_CELL_CLASSES].clone(),
                pred: names[i % MAX_CELL_CLASSES].clone(),
                count: c.count,
                rows: c.rows,
            })
            .collect();
        cells.sort_by(|a, b| (&a.truth, &a.pred).cmp(&(&b.truth, &b.pred)));
        let sample = (self.task == Task::Regression).then(|| Sample {
            of: self.seen,
            seed: SAMPLE_SEED,
            truth: self.sample.iter().map(|p| p.0).collect(),
            pred: self.sample.iter().map(|p| p.1).collect(),
        });
        Examples { worst_by, worst: worst.into_iter().map(|r| r.row).collect(), cells, cell_limit: CELL_ROWS, sample }
    }
}

/// A uniform sample of `na + nb` rows from uniform samples of `na` and `nb` of them (each
/// all its rows when it has at most `SAMPLE_SIZE`): how many come from each side is drawn as
/// a draw without replacement from the two populations, and which ones by a partial shuffle.
fn merge_samples(
    mut a: Vec<(f64, f64)>,
    na: u64,
    mut b: Vec<(f64, f64)>,
    nb: u64,
    rng: &mut SplitMix64,
) -> Vec<(f64, f64)> {
    if na + nb <= SAMPLE_SIZE as u64 {
        a.extend(b);
        return a;
    }
    let (mut ra, mut rb) = (na, nb);
    let mut from_a = 0;
    for _ in 0..SAMPLE_SIZE {
        if ((u128::from(rng.next_u64()) * u128::from(ra + rb)) >> 64) < u128::from(ra) {
            ra -= 1;
            from_a += 1;
        } else {
            rb -= 1;
        }
    }
    let mut pick = |v: &mut Vec<(f64, f64)>, k: usize| {
        let k = k.min(v.len());
        for i in 0..k {
            let j = i + rng.below(v.len() - i);
            v.swap(i, j);
        }
        v.truncate(k);
    };
    pick(&mut a, from_a);
    pick(&mut b, SAMPLE_SIZE - from_a);
    a.extend(b);
    a
}

/// The labels one consumer has seen, numbered in first-seen order, mapped from the
/// evaluation's ids (which also count declared classes that rows may never mention).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct LocalLabels {
    /// Local id by evaluation id (u32::MAX: not seen).
    local: Vec<u32>,
    pub(crate) names: Vec<String>,
}

impl LocalLabels {
    /// Number `id` if it is new here; true when it was.
    pub(crate) fn register(&mut self, id: u32, name: &str) -> bool {
        let i = id as usize;
        if self.local.len() <= i {
            self.local.resize(i + 1, u32::MAX);
        }
        if self.local[i] != u32::MAX {
            return false;
        }
        self.local[i] = self.names.len() as u32;
        self.names.push(name.to_string());
        true
    }

    /// Register `other`'s labels (another chunk's) by their ids in this consumer's
    /// evaluation (`id`), each new one with its index in `classes` pushed to `class_of`;
    /// returns the local id here of each of `other`'s local ids.
    pub(crate) fn adopt(
        &mut self,
        other: &LocalLabels,
        id: &mut dyn FnMut(&str) -> u32,
        classes: &[String],
        class_of: &mut Vec<Option<usize>>,
    ) -> Vec<u32> {
        let mut map = Vec::with_capacity(other.names.len());
        for name in &other.names {
            let i = id(name);
            if self.register(i, name) {
                class_of.push(classes.iter().position(|c| c == name));
            }
            map.push(self.local(i));
        }
        map
    }

    /// The local id of a registered evaluation id.
    #[inline]
    pub(crate) fn local(&self, id: u32) -> u32 {
        self.local[id as usize]
    }
}

/// A label as the report's `classes` writes it: a number when it reads as one.
fn label_json(s: &str) -> serde_json::Value {
    match crate::metrics::labels::to_json(&[s.to_string()]) {
        serde_json::Value::Array(mut a) if a.len() == 1 => a.remove(0),
        _ => serde_json::Value::from(s),
    }
}

/// Sends each row to the evaluation and to the trackers.
pub struct Tee<'a> {
    pub eval: &'a mut Evaluation,
    pub rows: &'a mut RowTracker,
    pub paired: Option<&'a mut super::paired::PairedLog>,
}

impl RowSink for Tee<'_> {
    fn intern(&mut self, label: &str) -> u32 {
        let id = self.eval.intern(label);
        self.rows.register(id, label);
        if let Some(p) = &mut self.paired {
            p.register(id, label);
        }
        id
    }
    fn classification(&mut self, truth: u32, pred: u32, scores: &[f64], weight: f64) {
        self.eval.update_ids(truth, pred, scores, weight);
        self.rows.classification(truth, pred, scores);
        if let Some(p) = &mut self.paired {
            p.classification(truth, pred, scores, weight);
        }
    }
    fn multilabel(&mut self, truth: &[f64], pred: &[f64], scores: &[f64], weight: f64) {
        self.eval.update_multilabel(truth, pred, scores, weight);
        self.rows.multilabel(truth, pred, scores);
        if let Some(p) = &mut self.paired {
            p.multilabel(truth, pred, weight);
        }
    }
    fn regression(&mut self, truth: f64, pred: f64, weight: f64) {
        self.eval.update_regression(truth, pred, weight);
        self.rows.regression(truth, pred);
        if let Some(p) = &mut self.paired {
            p.regression(truth, pred, weight);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn worst_rows_are_the_most_confident_mistakes() {
        let mut t = RowTracker::new(Task::Binary, &names(&["0", "1"]), 1, 0.5);
        // (truth, pred, score)
        let rows = [(0, 0, 0.1), (1, 0, 0.3), (0, 1, 0.96), (1, 1, 0.9), (1, 0, 0.05)];
        // evaluation ids 7 and 3 for "1" and "0": the tracker keeps its own numbering
        t.register(7, "1");
        t.register(3, "0");
        let id = [3, 7];
        for (i, (truth, pred, s)) in rows.iter().enumerate() {
            t.at(i as u64, i as u64 + 2);
            t.classification(id[*truth], id[*pred], &[*s]);
        }
        let e = t.finish();
        let got: Vec<u64> = e.worst.iter().map(|r| r.row).collect();
        assert_eq!(got, vec![2, 4, 1]); // -ln(1 - 0.96) > -ln(0.05) > -ln(0.3)
        assert!((e.worst[2].loss - (-(0.3f64).ln())).abs() < 1e-12);
        assert_eq!(e.worst[0].line, 4);
        let cell = e.cells.iter().find(|c| c.truth == "1" && c.pred == "0").unwrap();
        assert_eq!((cell.count, cell.rows.clone()), (2, vec![[1, 3], [4, 6]]));
    }

    /// The worst rows with the `ln` skipped past the floor are the plain ranking's: −ln p of
    /// the true class's probability, highest first, ties to the earlier row, over rows with
    /// many equal and nearly equal probabilities (and ones under the 10⁻¹⁵ clamp), in one
    /// pass and merged from chunks.
    #[test]
    fn worst_rows_past_the_floor_match_a_plain_ranking() {
        let classes = names(&["a", "b", "c"]);
        let mut rng = SplitMix64::new(11);
        let rows: Vec<(usize, usize, [f64; 3])> = (0..20_000)
            .map(|_| {
                let r = rng.next_u64();
                let p = match r % 4 {
                    0 => (r >> 8) as f64 / (1u64 << 56) as f64,
                    1 => ((r >> 8) % 50) as f64 / 1000.0,
                    2 => f64::from_bits(0.004f64.to_bits() + (r >> 8) % 3),
                    _ => 1e-16 * ((r >> 8) % 3) as f64,
                };
                ((r >> 2) as usize % 3, (r >> 4) as usize % 3, [p, p, p])
            })
            .collect();
        let mut want: Vec<(f64, u64)> = rows
            .iter()
            .enumerate()
            .filter(|(_, (t, p, _))| t != p)
            .map(|(i, (t, _, s))| (-s[*t].max(1e-15).ln(), i as u64))
            .collect();
        want.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        want.truncate(WORST_K);
        let feed = |from: usize, to: usize| {
            let mut t = RowTracker::new(Task::Multiclass, &classes, 3, 0.5);
            for (k, c) in classes.iter().enumerate() {
                t.register(k as u32, c);
            }
            for (i, (truth, pred, s)) in rows[from..to].iter().enumerate() {
                t.at(i as u64, i as u64 + 2);
                t.classification(*truth as u32, *pred as u32, s);
            }
            t
        };
        let mut merged = feed(0, 7_000);
        merged.merge(feed(7_000, 20_000), 7_000, 7_000, &mut |name| {
            classes.iter().position(|c| c == name).unwrap_or(0) as u32
        });
        for e in [feed(0, rows.len()).finish(), merged.finish()] {
            let got: Vec<(f64, u64)> = e.worst.iter().map(|r| (r.loss, r.row)).collect();
            assert_eq!(got, want);
        }
    }

    #[test]
    fn bounded_and_deterministic() {
        let run = || {
            let mut t = RowTracker::new(Task::Regression, &[], 0, 0.5);
            for i in 0..10_000u64 {
                t.at(i, i + 2);
                t.regression(i as f64, (i % 7) as f64);
            }
            t.finish()
        };
        let (a, b) = (run(), run());
        let s = a.sample.as_ref().unwrap();
        assert_eq!((s.truth.len(), s.of), (SAMPLE_SIZE, 10_000));
        assert_eq!(s.truth, b.sample.unwrap().truth);
        // a uniform sample of 0..10000 has a mean near 5000
        let mean = s.truth.iter().sum::<f64>() / s.truth.len() as f64;
        assert!((mean - 5000.0).abs() < 300.0, "{mean}");
        assert_eq!(a.worst.len(), WORST_K);
        assert_eq!(a.worst[0].row, 9_996); // |i - i%7| is 9996 for i in 9996..=9999: the earliest wins
        assert!(a.cells.is_empty());
    }
}
