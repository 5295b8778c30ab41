//! Metric goldens: every case file of `tests/fixtures/metrics/` goes through the public
//! pipeline (`report::evaluate_csv`) and must match scikit-learn within 1e-9 relative.
//! The goldens and the files come from `tests/fixtures/metrics/make_goldens.py`.

use serde_json::Value;
use std::path::{Path, PathBuf};
use webeval::data::ColumnSpec;
use webeval::metrics::Task;
use webeval::report::{evaluate_csv, Report};

const REL_TOL: f64 = 1e-9;

/// Golden keys whose metric is not implemented yet (prefix match); shrinks to nothing.
const PENDING: &[&str] = &[
    "fbeta_score",
    "jaccard_score",
    "zero_one_loss",
    "hamming_loss",
    "cohen_kappa_score@",
    "balanced_accuracy_score@adjusted",
    "top_k_accuracy_score",
    "roc_auc_score@max_fpr",
    "roc_auc_score@micro",
    "roc_auc_score@ovo",
    "average_precision_score@micro",
    "brier_score_loss",
    "mean_squared_log_error",
    "root_mean_squared_log_error",
    "d2_",
    "mean_poisson_deviance",
    "mean_gamma_deviance",
    "mean_tweedie_deviance",
];

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/metrics")
}

fn goldens() -> serde_json::Map<String, Value> {
    let text = std::fs::read_to_string(fixtures().join("goldens.json")).expect("goldens.json (run make_goldens.py)");
    match serde_json::from_str(&text).expect("goldens.json is JSON") {
        Value::Object(m) => m,
        _ => panic!("goldens.json must be an object"),
    }
}

fn evaluate(file: &str, task: Option<Task>) -> Report {
    let path = fixtures().join(file);
    let f = std::fs::File::open(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let spec = ColumnSpec { task, ..ColumnSpec::default() };
    evaluate_csv(file, f, &spec, &mut |_, _| true).unwrap_or_else(|e| panic!("{file}: {e}"))
}

fn close(a: f64, b: f64) -> bool {
    a == b || (a - b).abs() <= REL_TOL * a.abs().max(b.abs()) || (a - b).abs() < 1e-15
}

/// Compare a value with its golden: numbers within REL_TOL, arrays element-wise, and a null
/// golden only by a null (or absent) value.
fn same(got: Option<&Value>, want: &Value) -> bool {
    match (got, want) {
        (None | Some(Value::Null), Value::Null) => true,
        (Some(Value::Number(g)), Value::Number(w)) => close(g.as_f64().unwrap_or(f64::NAN), w.as_f64().unwrap_or(0.0)),
        (Some(Value::Array(g)), Value::Array(w)) => {
            g.len() == w.len() && g.iter().zip(w).all(|(g, w)| same(Some(g), w))
        }
        _ => false,
    }
}

/// Run one golden case; returns one line per metric that differs.
fn check(case: &str, expected: &Value) -> Vec<String> {
    let file = expected["file"].as_str().expect("file");
    let task = Task::parse(expected["task"].as_str().expect("task"));
    let report = evaluate(file, task);
    let mut bad = Vec::new();
    if Some(report.task) != task {
        bad.push(format!("{case}: task {:?}, expected {:?}", report.task, task));
    }
    for (key, want) in expected["metrics"].as_object().expect("metrics") {
        let got = report.metrics.get(key);
        if got.is_none() && PENDING.iter().any(|p| key.starts_with(p)) {
            continue;
        }
        if !same(got, want) {
            bad.push(format!("{case}: {key} = {}, scikit-learn {want}", got.map_or("absent".into(), Value::to_string)));
        }
    }
    bad
}

#[test]
fn goldens_match_scikit_learn() {
    let all = goldens();
    assert!(all.len() >= 30, "expected the full golden set, found {} cases", all.len());
    let bad: Vec<String> = all.iter().flat_map(|(case, expected)| check(case, expected)).collect();
    assert!(bad.is_empty(), "{} mismatches:\n{}", bad.len(), bad.join("\n"));
}
