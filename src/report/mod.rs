//! Report assembly: runs a predictions source through the metric accumulators and dresses
//! the result as the JSON contract of DESIGN.md, a text table and SVG plots.

pub mod plots;
pub mod text;

use crate::data::{self, ColumnSpec, Plan};
use crate::error::{Error, Location, Result};
use crate::metrics::{labels, ranking::NamedCurve, Finished, MetricMap, Task};
use serde::Serialize;
use std::io::{BufRead, BufReader, Read};

/// Rows read before the task and classes are decided.
const SAMPLE_ROWS: usize = 1000;
/// Most points kept per curve in the JSON and plots (evenly thinned; metrics use all).
const CURVE_POINTS: usize = 400;

/// The evaluation report: the JSON object of the CLI contract.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub task: Task,
    pub n: u64,
    pub classes: serde_json::Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub positive_class: Option<String>,
    pub columns: Columns,
    pub metrics: MetricMap,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub per_class: Vec<PerClass>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub curves: Vec<NamedCurve>,
    pub notes: Vec<String>,
    pub source: Source,
}

#[derive(Debug, Clone, Serialize)]
pub struct Columns {
    pub label: String,
    pub pred: Option<String>,
    pub score: Option<String>,
    pub probs: Vec<String>,
    pub weight: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct PerClass {
    pub class: String,
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
    pub support: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Source {
    pub file: String,
    pub format: String,
    pub bytes: u64,
}

/// Called with (bytes read, rows read); return false to cancel.
pub type Progress<'a> = &'a mut dyn FnMut(u64, u64) -> bool;

/// Evaluate a delimited predictions file streamed from `reader`.
pub fn evaluate_csv<R: Read>(file: &str, reader: R, spec: &ColumnSpec, progress: Progress) -> Result<Report> {
    let mut reader = BufReader::with_capacity(1 << 16, reader);
    let head = reader.fill_buf().map_err(|e| Error::Io { file: file.to_string(), message: e.to_string() })?.to_vec();
    if head.iter().all(|b| b.is_ascii_whitespace()) {
        return Err(Error::EmptyFile(Location::file(file)));
    }
    let mut records = data::csv::Records::new(file, reader, &head)?;
    let names = records.header().to_vec();
    let roles = data::columns::resolve(&names, spec, file)?;

    let mut sample: Vec<(u64, Vec<String>)> = Vec::new();
    let mut buf = Vec::new();
    while sample.len() < SAMPLE_ROWS {
        match records.next_record(&mut buf)? {
            Some(line) => sample.push((line, std::mem::take(&mut buf))),
            None => break,
        }
    }
    if sample.is_empty() {
        return Err(Error::NoRows(Location::file(file)));
    }
    let rows: Vec<Vec<String>> = sample.iter().map(|(_, r)| r.clone()).collect();
    let plan = Plan::new(file, names, roles, &rows, spec)?;
    let mut eval = plan.evaluation();
    let mut scratch = Vec::new();
    for (line, record) in &sample {
        plan.feed(record, *line, &mut eval, &mut scratch)?;
    }
    let mut n = sample.len() as u64;
    while let Some(line) = records.next_record(&mut buf)? {
        plan.feed(&buf, line, &mut eval, &mut scratch)?;
        n += 1;
        if n % 65536 == 0 && !progress(records.bytes_read(), n) {
            return Err(Error::Cancelled);
        }
    }
    progress(records.bytes_read(), n);
    let finished = eval.finish();
    Ok(Report::new(
        &plan,
        finished,
        Source { file: file.to_string(), format: "csv".into(), bytes: records.bytes_read() },
    ))
}

impl Report {
    fn new(plan: &Plan, f: Finished, source: Source) -> Report {
        let name = |i: usize| plan.names[i].clone();
        let columns = Columns {
            label: name(plan.roles.label),
            pred: plan.roles.pred.map(name),
            score: plan.roles.score.map(name),
            probs: plan.roles.probs.iter().map(|(_, i)| name(*i)).collect(),
            weight: plan.roles.weight.map(name),
        };
        let per_class = f
            .classes
            .iter()
            .zip(&f.per_class)
            .map(|(c, v)| PerClass { class: c.clone(), precision: v[0], recall: v[1], f1: v[2], support: v[3] })
            .collect();
        let mut notes = plan.notes.clone();
        if f.task == Task::Multiclass && f.classes.len() < 3 {
            notes.push("only two classes occur; binary metrics would apply".into());
        }
        Report {
            task: f.task,
            n: f.n,
            classes: labels::to_json(&f.classes),
            positive_class: f.positive_class,
            columns,
            metrics: f.metrics,
            per_class,
            curves: f.curves.into_iter().map(thin_curve).collect(),
            notes,
            source,
        }
    }

    pub fn to_json(&self) -> Result<String> {
        Ok(serde_json::to_string_pretty(self)?)
    }

    /// Class names as strings, in report order.
    pub fn class_names(&self) -> Vec<String> {
        match &self.classes {
            serde_json::Value::Array(a) => {
                a.iter().map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_string)).collect()
            }
            _ => Vec::new(),
        }
    }
}

/// Keep at most CURVE_POINTS points, always the first and last.
fn thin_curve(mut c: NamedCurve) -> NamedCurve {
    let (roc_n, pr_n) = (c.fpr.len(), c.precision.len());
    let pick = |n: usize| -> Vec<usize> {
        if n <= CURVE_POINTS {
            (0..n).collect()
        } else {
            (0..CURVE_POINTS).map(|i| i * (n - 1) / (CURVE_POINTS - 1)).collect()
        }
    };
    let roc = pick(roc_n);
    let take = |v: &Vec<f64>, idx: &[usize]| idx.iter().map(|&i| v[i]).collect::<Vec<f64>>();
    c.fpr = take(&c.fpr, &roc);
    c.tpr = take(&c.tpr, &roc);
    c.thresholds = take(&c.thresholds, &roc);
    let pr = pick(pr_n);
    c.precision = take(&c.precision, &pr);
    c.recall = take(&c.recall, &pr);
    c
}
