//! Metric goldens: every case file of `tests/fixtures/metrics/` goes through the public
//! pipeline (`report::evaluate_csv`) and must match scikit-learn within 1e-9 relative.
//! The goldens and the files come from `tests/fixtures/metrics/make_goldens.py`.

use serde_json::Value;
use std::path::{Path, PathBuf};
use webeval::data::ColumnSpec;
use webeval::metrics::Task;
use webeval::report::{evaluate_csv, Report};

const REL_TOL: f64 = 1e-9;

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
        if !same(got, want) {
            bad.push(format!("{case}: {key} = {}, scikit-learn {want}", got.map_or("absent".into(), Value::to_string)));
        }
    }
    if let Some(rows) = expected.get("per_class").and_then(Value::as_array) {
        let ours = serde_json::to_value(&report.per_class).expect("per_class serialises");
        let ours = ours.as_array().cloned().unwrap_or_default();
        if ours.len() != rows.len() {
            bad.push(format!("{case}: {} per-class rows, scikit-learn {}", ours.len(), rows.len()));
        }
        for (got, want) in ours.iter().zip(rows) {
            for (field, w) in want.as_object().expect("row") {
                let g = got.get(field);
                let ok = if field == "class" { g == Some(w) } else { same(g, w) };
                if !ok {
                    bad.push(format!("{case}: class {} {field} = {g:?}, expected {w}", want["class"]));
                }
            }
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
