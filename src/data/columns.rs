//! Column understanding: which column is the truth, the prediction, the scores, the weight,
//! and which task the file describes.
//!
//! Names follow the predictions-file contract in DESIGN.md (`label`/`y_true`/`target`,
//! `pred`/`y_pred`/`prediction`, `score`/`prob`/`y_score`, `prob_<class>`/`p_<class>`,
//! `weight`); explicit flags win over detection.

use super::Record;
use crate::error::{Error, Location, Result};
use crate::metrics::{labels, Evaluation, Task};
use std::borrow::Cow;

pub const LABEL_NAMES: &[&str] = &["label", "y_true", "target", "truth", "y"];
pub const PRED_NAMES: &[&str] = &["pred", "y_pred", "prediction", "predicted"];
pub const SCORE_NAMES: &[&str] = &["score", "prob", "y_score", "proba", "probability"];
pub const WEIGHT_NAMES: &[&str] = &["weight", "sample_weight", "w"];
const PROB_PREFIXES: &[&str] = &["prob_", "p_", "proba_"];

/// What to do with a row whose numbers include NaN, infinity or a missing value.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum NonFinite {
    /// Stop with an error that names the row and column.
    #[default]
    Reject,
    /// Leave the row out and say how many were left out in the report's notes.
    Skip,
}

impl NonFinite {
    pub fn parse(s: &str) -> Option<NonFinite> {
        match s {
            "reject" | "error" => Some(NonFinite::Reject),
            "skip" => Some(NonFinite::Skip),
            _ => None,
        }
    }
}

/// What the user asked for explicitly (CLI flags, page controls).
#[derive(Debug, Clone, Default)]
pub struct ColumnSpec {
    pub label: Option<String>,
    pub pred: Option<String>,
    pub score: Option<String>,
    pub weight: Option<String>,
    pub task: Option<Task>,
    pub non_finite: NonFinite,
    /// With a separate labels file: join on this column (in both files) instead of by row.
    pub id: Option<String>,
}

/// Cells that stand for "no value" (pandas' defaults, minus the exotic ones).
pub fn is_missing(s: &str) -> bool {
    matches!(s.trim(), "" | "NA" | "N/A" | "na" | "n/a" | "NaN" | "nan" | "NAN" | "null" | "NULL" | "None" | "-nan")
}

/// Column indices by role.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Roles {
    pub label: usize,
    pub pred: Option<usize>,
    pub score: Option<usize>,
    /// (class, column) for each per-class probability column, in header order.
    pub probs: Vec<(String, usize)>,
    pub weight: Option<usize>,
}

fn find(names: &[String], wanted: &[&str]) -> Option<usize> {
    wanted.iter().find_map(|w| names.iter().position(|n| n.trim().eq_ignore_ascii_case(w)))
}

fn explicit(names: &[String], name: &Option<String>, file: &str) -> Result<Option<usize>> {
    match name {
        None => Ok(None),
        Some(n) => names.iter().position(|h| h.trim() == n.trim()).map(Some).ok_or_else(|| Error::UnknownColumn {
            loc: Location::at(file, 1, None),
            name: n.clone(),
            found: names.join(", "),
        }),
    }
}

/// Assign roles to header columns.
pub fn resolve(names: &[String], spec: &ColumnSpec, file: &str) -> Result<Roles> {
    let label = match explicit(names, &spec.label, file)? {
        Some(i) => i,
        None => find(names, LABEL_NAMES).ok_or_else(|| Error::MissingColumn {
            loc: Location::at(file, 1, None),
            role: "true-label".into(),
            found: names.join(", "),
            expected: LABEL_NAMES.join("/"),
            flag: "label".into(),
        })?,
    };
    let pred = explicit(names, &spec.pred, file)?.or_else(|| find(names, PRED_NAMES));
    let score = explicit(names, &spec.score, file)?.or_else(|| find(names, SCORE_NAMES));
    let weight = explicit(names, &spec.weight, file)?.or_else(|| find(names, WEIGHT_NAMES));
    let mut probs = Vec::new();
    if spec.score.is_none() {
        for (i, n) in names.iter().enumerate() {
            let n = n.trim();
            if let Some(class) = PROB_PREFIXES.iter().find_map(|p| n.strip_prefix(p)) {
                if !class.is_empty() && Some(i) != score {
                    probs.push((labels::canonical(class), i));
                }
            }
        }
    }
    let score = if probs.len() >= 2 { None } else { score };
    if probs.len() == 1 {
        // A single prob_<class> column is a positive-class score.
        let (_, i) = probs.pop().expect("one element");
        return Ok(Roles { label, pred, score: score.or(Some(i)), probs, weight });
    }
    Ok(Roles { label, pred, score, probs, weight })
}

/// [`labels::canonical`] without allocating when `raw` (trimmed) already is canonical.
fn canonical_label(raw: &str) -> Cow<'_, str> {
    let digits = raw.strip_prefix('-').unwrap_or(raw);
    let plain_int = !digits.is_empty()
        && digits.len() <= 15
        && digits.bytes().all(|b| b.is_ascii_digit())
        && (!digits.starts_with('0') || (digits == "0" && raw == "0"));
    if plain_int || raw.parse::<f64>().is_err() {
        return Cow::Borrowed(raw);
    }
    Cow::Owned(labels::canonical(raw))
}

/// What is done to the score columns before the metrics see them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScoreTransform {
    None,
    /// Per-class logits -> probabilities.
    Softmax,
    /// Per-class non-negative scores -> divided by their row sum.
    Normalize,
}

impl ScoreTransform {
    fn apply(self, v: &mut [f64]) {
        match self {
            ScoreTransform::None => {}
            ScoreTransform::Softmax => {
                let max = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                v.iter_mut().for_each(|x| *x = (*x - max).exp());
                let sum: f64 = v.iter().sum();
                v.iter_mut().for_each(|x| *x /= sum);
            }
            ScoreTransform::Normalize => {
                let sum: f64 = v.iter().sum();
                if sum > 0.0 {
                    v.iter_mut().for_each(|x| *x /= sum);
                }
            }
        }
    }
}

/// Where [`Plan::feed`] sends each parsed row: the metric accumulators, and (in the report)
/// also the row trackers that keep examples for the page.
pub trait RowSink {
    fn classification(&mut self, truth: &str, pred: &str, scores: &[f64], weight: f64);
    fn regression(&mut self, truth: f64, pred: f64, weight: f64);
}

impl RowSink for Evaluation {
    fn classification(&mut self, truth: &str, pred: &str, scores: &[f64], weight: f64) {
        self.update_classification(truth, pred, scores, weight);
    }
    fn regression(&mut self, truth: f64, pred: f64, weight: f64) {
        self.update_regression(truth, pred, weight);
    }
}

/// How a file will be read: its roles, task and what we decided on its behalf.
#[derive(Debug, Clone)]
pub struct Plan {
    pub file: String,
    pub names: Vec<String>,
    pub roles: Roles,
    pub task: Task,
    /// Classes fixed before streaming: probability headers, or the two binary classes.
    pub classes: Vec<String>,
    /// Columns whose numbers go to the score accumulator: every probability column for
    /// multiclass, the positive class's column for binary.
    pub score_cols: Vec<usize>,
    /// Columns read for the scores (all probability columns, also for binary), before
    /// `transform`; `keep` picks the positive class's one afterwards.
    pub input_cols: Vec<usize>,
    pub keep: Option<usize>,
    pub transform: ScoreTransform,
    /// For a binary score without predictions: predicted positive when score > this.
    pub threshold: f64,
    pub notes: Vec<String>,
}

impl Plan {
    /// Decide the task and classes from the header and a sample of rows.
    pub fn new(
        file: &str,
        names: Vec<String>,
        roles: Roles,
        sample: &[Vec<String>],
        spec: &ColumnSpec,
    ) -> Result<Plan> {
        let mut notes = Vec::new();
        let col = |i: usize| sample.iter().filter_map(move |r| r.get(i)).map(|s| s.trim()).filter(|s| !is_missing(s));
        let is_num = |s: &str| s.parse::<f64>().is_ok_and(f64::is_finite);
        let is_int = |s: &str| s.parse::<f64>().is_ok_and(|v| v.is_finite() && v.fract() == 0.0);

        let task = if let Some(t) = spec.task {
            t
        } else if roles.probs.len() >= 2 {
            if roles.probs.len() == 2 {
                Task::Binary
            } else {
                Task::Multiclass
            }
        } else {
            let labels_numeric = col(roles.label).all(is_num);
            let labels_integral = col(roles.label).all(is_int);
            let preds_fractional = roles.pred.is_some_and(|p| col(p).any(|s| is_num(s) && !is_int(s)));
            if roles.score.is_none() && labels_numeric && (!labels_integral || preds_fractional) {
                Task::Regression
            } else {
                let mut distinct: Vec<String> = col(roles.label).map(labels::canonical).collect();
                if let Some(p) = roles.pred {
                    distinct.extend(col(p).map(labels::canonical));
                }
                distinct.sort();
                distinct.dedup();
                if distinct.len() <= 2 {
                    Task::Binary
                } else {
                    Task::Multiclass
                }
            }
        };

        let mut classes: Vec<String> = roles.probs.iter().map(|(c, _)| c.clone()).collect();
        if task == Task::Regression {
            if roles.pred.is_none() {
                return Err(Error::MissingColumn {
                    loc: Location::at(file, 1, None),
                    role: "prediction".into(),
                    found: names.join(", "),
                    expected: PRED_NAMES.join("/"),
                    flag: "pred".into(),
                });
            }
            classes.clear();
        } else if roles.pred.is_none() && roles.score.is_none() && roles.probs.is_empty() {
            return Err(Error::MissingColumn {
                loc: Location::at(file, 1, None),
                role: "prediction or score".into(),
                found: names.join(", "),
                expected: format!("{} or {} or prob_<class>", PRED_NAMES.join("/"), SCORE_NAMES.join("/")),
                flag: "pred".into(),
            });
        } else if roles.score.is_some() && classes.is_empty() {
            // One score column: the positive class is the greater of the two labels.
            let mut seen: Vec<String> = col(roles.label).map(labels::canonical).collect();
            if let Some(p) = roles.pred {
                seen.extend(col(p).map(labels::canonical));
            }
            seen.sort();
            seen.dedup();
            if seen.len() > 2 {
                return Err(Error::ClassMismatch {
                    loc: Location::at(file, 1, roles.score.map(|s| names[s].clone())),
                    message: format!(
                        "a single score column needs exactly two classes, but the labels include [{}]; \
                         give one prob_<class> column per class for multiclass scores",
                        seen.join(", ")
                    ),
                });
            }
            if seen.len() == 1 {
                let other = if seen[0] == "0" { "1" } else { "0" };
                seen.push(other.to_string());
            }
            labels::sort(&mut seen);
            classes = seen;
        }
        if task == Task::Binary && roles.probs.len() == 2 {
            labels::sort(&mut classes);
        }
        let score_cols: Vec<usize> = match (task, roles.probs.len(), roles.score) {
            (Task::Regression, _, _) => Vec::new(),
            (Task::Binary, 2, _) => roles.probs.iter().filter(|(c, _)| *c == classes[1]).map(|(_, i)| *i).collect(),
            (_, n, _) if n >= 2 => roles.probs.iter().map(|(_, i)| *i).collect(),
            (_, _, Some(s)) => vec![s],
            _ => Vec::new(),
        };
        // Scores read as logits when they leave [0, 1]; per-class rows rescaled when they do
        // not sum to 1. Decided on the sample, applied to every row.
        let input_cols: Vec<usize> = if task != Task::Regression && roles.probs.len() >= 2 {
            roles.probs.iter().map(|(_, i)| *i).collect()
        } else {
            score_cols.clone()
        };
        let keep = (input_cols.len() == 2 && score_cols.len() == 1)
            .then(|| input_cols.iter().position(|c| *c == score_cols[0]))
            .flatten();
        let values: Vec<Vec<f64>> = sample
            .iter()
            .filter_map(|r| {
                input_cols.iter().map(|&c| r.get(c)?.trim().parse::<f64>().ok().filter(|v| v.is_finite())).collect()
            })
            .collect();
        let outside = values.iter().flatten().any(|v| !(0.0..=1.0).contains(v));
        let off_sum = values.iter().map(|r| r.iter().sum::<f64>()).find(|s| (s - 1.0).abs() > 1e-3);
        let transform = match (input_cols.len(), outside, off_sum) {
            (0, _, _) => ScoreTransform::None,
            // A single score outside [0, 1] stays as it is (decision values): thresholds
            // and curves are in its units, and the metrics leave log loss and Brier undefined.
            (1, _, _) => ScoreTransform::None,
            (_, true, _) => ScoreTransform::Softmax,
            (_, false, Some(_)) => ScoreTransform::Normalize,
            (_, false, None) => ScoreTransform::None,
        };
        let score_names = input_cols.iter().map(|&c| names[c].as_str()).collect::<Vec<_>>().join(", ");
        match transform {
            ScoreTransform::Softmax => notes.push(format!(
                "{score_names} have values outside [0, 1]: read as logits and turned into probabilities with softmax"
            )),
            ScoreTransform::Normalize => notes.push(format!(
                "rows of {score_names} do not sum to 1 (one sums to {}): each row was divided by its sum",
                off_sum.unwrap_or(f64::NAN)
            )),
            ScoreTransform::None => {}
        }
        let decision_values = input_cols.len() == 1 && outside;
        if decision_values {
            notes.push(format!(
                "{score_names} has values outside [0, 1]: read as decision values (e.g. logits), so log_loss and \
                 brier_score_loss are undefined; apply a sigmoid first if they are logits and those are wanted"
            ));
        }
        let threshold = if decision_values { 0.0 } else { 0.5 };
        if let (Some(s), None) = (score_cols.first().filter(|_| score_cols.len() == 1), roles.pred) {
            notes.push(format!(
                "no prediction column: predicted '{}' when {} > {threshold}",
                classes.get(1).map(String::as_str).unwrap_or("positive"),
                names[*s]
            ));
        }
        if roles.pred.is_none() && score_cols.len() >= 2 {
            notes.push("no prediction column: predicted the class with the highest probability".into());
        }
        Ok(Plan {
            file: file.to_string(),
            names,
            roles,
            task,
            classes,
            score_cols,
            input_cols,
            keep,
            transform,
            threshold,
            notes,
        })
    }

    pub fn evaluation(&self) -> Evaluation {
        let width = self.score_cols.len();
        let declared = if width >= 2 { self.classes.clone() } else { Vec::new() };
        Evaluation::new(self.task, declared, width)
    }

    fn number(&self, record: &Record, col: usize, line: u64, expected: &str) -> Result<f64> {
        let raw = record.get(col).trim_ascii();
        // Numbers are ASCII: a cell that is not UTF-8 fails to parse below and is reported.
        let parsed = std::str::from_utf8(raw).ok().and_then(|t| t.parse::<f64>().ok());
        match parsed {
            Some(v) if v.is_finite() => Ok(v),
            Some(_) => Err(self.non_finite(raw, col, line, expected)),
            None if is_missing(&String::from_utf8_lossy(raw)) => Err(self.non_finite(raw, col, line, expected)),
            None => Err(Error::NotNumeric {
                loc: Location::at(&self.file, line, Some(self.names[col].clone())),
                value: String::from_utf8_lossy(raw).into_owned(),
                expected: expected.to_string(),
            }),
        }
    }

    fn non_finite(&self, raw: &[u8], col: usize, line: u64, expected: &str) -> Error {
        Error::NonFinite {
            loc: Location::at(&self.file, line, Some(self.names[col].clone())),
            value: String::from_utf8_lossy(raw).into_owned(),
            expected: expected.to_string(),
        }
    }

    /// The label's canonical text, borrowed when the cell already is canonical (plain
    /// integers and text, the common case): no allocation per row.
    fn label<'r>(&self, record: &'r Record, col: usize, line: u64) -> Result<Cow<'r, str>> {
        let raw = record.get(col).trim_ascii();
        let raw = std::str::from_utf8(raw).map_err(|_| super::csv::not_utf8(&self.file, line, col))?;
        if is_missing(raw) {
            return Err(self.non_finite(raw.as_bytes(), col, line, "a label in every row"));
        }
        Ok(canonical_label(raw))
    }

    /// Feed one record (already checked to have the header's width) into `eval`.
    pub fn feed<S: RowSink + ?Sized>(
        &self,
        record: &Record,
        line: u64,
        eval: &mut S,
        scratch: &mut Vec<f64>,
    ) -> Result<()> {
        let r = &self.roles;
        let weight = match r.weight {
            Some(w) => {
                let v = self.number(record, w, line, "a non-negative sample weight")?;
                if v < 0.0 || !v.is_finite() {
                    return Err(Error::NotNumeric {
                        loc: Location::at(&self.file, line, Some(self.names[w].clone())),
                        value: String::from_utf8_lossy(record.get(w).trim_ascii()).into_owned(),
                        expected: "a finite, non-negative sample weight".into(),
                    });
                }
                v
            }
            None => 1.0,
        };
        if self.task == Task::Regression {
            let y = self.number(record, r.label, line, "a numeric target")?;
            let p = self.number(record, r.pred.expect("planned"), line, "a numeric prediction")?;
            eval.regression(y, p, weight);
            return Ok(());
        }
        let truth = self.label(record, r.label, line)?;
        scratch.clear();
        for &c in &self.input_cols {
            scratch.push(self.number(record, c, line, "a score or probability (a number)")?);
        }
        self.transform.apply(scratch);
        if let Some(k) = self.keep {
            let v = scratch[k];
            scratch.clear();
            scratch.push(v);
        }
        if !self.score_cols.is_empty() && !self.classes.iter().any(|c| *c == *truth) {
            let why = if r.probs.len() >= 2 {
                "has no probability column; the file has columns for classes"
            } else {
                "is a third class, but a single score column means a binary task with classes"
            };
            return Err(Error::ClassMismatch {
                loc: Location::at(&self.file, line, Some(self.names[r.label].clone())),
                message: format!("label '{truth}' {why} [{}]", self.classes.join(", ")),
            });
        }
        let pred = match r.pred {
            Some(p) => self.label(record, p, line)?,
            None if scratch.len() >= 2 => {
                let best = scratch.iter().enumerate().fold(0, |best, (i, v)| if *v > scratch[best] { i } else { best });
                Cow::Borrowed(self.classes[best].as_str())
            }
            None => {
                let positive = scratch[0] > self.threshold;
                Cow::Borrowed(self.classes[usize::from(positive)].as_str())
            }
        };
        eval.classification(&truth, &pred, scratch, weight);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn fast_labels_match_canonical() {
        for raw in
            ["0", "-0", "007", "-5", "1.0", "1e3", "cat", "inf", "123456789012345", "12345678901234567", "0.5", "+3"]
        {
            assert_eq!(super::canonical_label(raw), super::labels::canonical(raw), "{raw}");
        }
    }
}
