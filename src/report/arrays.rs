//! Predictions already in memory as arrays (class indices and scores), as a model run or a
//! benchmark has them: the same accumulators and report sections as a file gets, with no
//! text to parse. Classes are the indices `0..k`, named by their decimal number.

use super::{metrics_with_intervals, thin_curve, Options, PerClass, Thresholds};
use crate::error::{Error, Result};
use crate::metrics::ranking::{Calibration, NamedCurve};
use crate::metrics::{labels, Evaluation, MetricMap, Task};
use serde::Serialize;

/// The report of [`evaluate_arrays`]: the file report's sections that depend on the data.
#[derive(Debug, Clone, Serialize)]
pub struct ArrayReport {
    pub task: Task,
    pub n: u64,
    pub classes: serde_json::Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub positive_class: Option<String>,
    pub metrics: MetricMap,
    pub per_class: Vec<PerClass>,
    pub curves: Vec<NamedCurve>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub calibration: Option<Calibration>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub thresholds: Option<Thresholds>,
}

/// Evaluate `truth[i]` (a class index) against row `i` of `scores`, a row-major
/// `truth.len() × width` matrix: `width == 1` is a binary positive-class probability
/// (predicted class 1 when it is at least 0.5), `width >= 2` one probability per class
/// (predicted class: the first arg-max).
pub fn evaluate_arrays(truth: &[u32], scores: &[f32], width: usize, options: &Options) -> Result<ArrayReport> {
    let bad = |m: String| Err(Error::InvalidArgument(m));
    if width == 0 || scores.len() != truth.len().saturating_mul(width) {
        return bad(format!(
            "scores must hold {width} value(s) per row for {} rows (got {}); pass width = the number of score columns",
            truth.len(),
            scores.len()
        ));
    }
    if truth.is_empty() {
        return bad("no rows: pass at least one label and its scores".into());
    }
    let k = width.max(2);
    if let Some((row, t)) = truth.iter().enumerate().find(|(_, &t)| t as usize >= k) {
        return bad(format!("label {t} in row {row} is not a class index below {k}"));
    }
    let names: Vec<String> = (0..k).map(|c| c.to_string()).collect();
    let (task, declared) = if width == 1 { (Task::Binary, Vec::new()) } else { (Task::Multiclass, names.clone()) };
    let mut eval = Evaluation::new(task, declared, width);
    if let Some(ci) = options.ci {
        if !(ci.level > 0.0 && ci.level < 1.0) || ci.replicates == 0 {
            return bad(format!(
                "confidence level must be between 0 and 1 (e.g. 0.95) with at least one replicate; got {} and {}",
                ci.level, ci.replicates
            ));
        }
        eval = eval.with_ci(ci);
    }
    eval = eval
        .with_score_budget(options.score_budget.unwrap_or(0))
        .with_sketch_bytes(options.sketch_bytes.unwrap_or(0))
        .with_sketch_batch(options.sketch_batch.unwrap_or(0));
    let ids: Vec<u32> = names.iter().map(|n| eval.intern(n)).collect();
    let mut row = vec![0.0f64; width];
    for (&t, s) in truth.iter().zip(scores.chunks_exact(width)) {
        for (r, &v) in row.iter_mut().zip(s) {
            *r = f64::from(v);
        }
        let pred = if width == 1 {
            usize::from(row[0] >= 0.5)
        } else {
            row.iter().enumerate().fold((0, f64::NEG_INFINITY), |b, (c, &v)| if v > b.1 { (c, v) } else { b }).0
        };
        eval.update_ids(ids[t as usize], ids[pred], &row, 1.0);
    }
    eval.flush();
    let f = eval.finish();
    let metrics = metrics_with_intervals(&f);
    let threshold = 0.5;
    Ok(ArrayReport {
        task: f.task,
        n: f.n,
        classes: labels::to_json(&f.classes),
        positive_class: f.positive_class,
        metrics,
        per_class: f.classes.iter().zip(&f.per_class).map(|(c, v)| PerClass { class: c.clone(), stats: *v }).collect(),
        curves: f.curves.into_iter().map(thin_curve).collect(),
        calibration: f.calibration,
        thresholds: f.explorer.as_ref().map(|e| Thresholds::new(e, threshold)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arrays_match_the_known_values() {
        // sklearn: roc_auc_score([0,0,1,1],[0.1,0.4,0.35,0.8]) == 0.75, accuracy at 0.5 == 0.75
        let r = evaluate_arrays(&[0, 0, 1, 1], &[0.1, 0.4, 0.35, 0.8], 1, &Options::default()).unwrap();
        assert_eq!(r.metrics["roc_auc_score"].as_f64(), Some(0.75));
        assert_eq!(r.metrics["accuracy_score"].as_f64(), Some(0.75));
        let m = evaluate_arrays(&[0, 1, 2], &[0.8, 0.1, 0.1, 0.2, 0.7, 0.1, 0.5, 0.2, 0.3], 3, &Options::default())
            .unwrap();
        assert_eq!(m.task, Task::Multiclass);
        assert_eq!(m.metrics["accuracy_score"].as_f64(), Some(2.0 / 3.0));
        assert!(evaluate_arrays(&[0, 3], &[0.1, 0.2], 1, &Options::default()).is_err());
        assert!(evaluate_arrays(&[0, 1], &[0.1], 1, &Options::default()).is_err());
    }
}
