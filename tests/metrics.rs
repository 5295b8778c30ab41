//! Metric goldens: every case file of `tests/fixtures/metrics/` goes through the public
//! pipeline (`report::evaluate_csv`) and must match scikit-learn within 1e-9 relative.
//! The goldens and the files come from `tests/fixtures/metrics/make_goldens.py`.
//! Each case also runs past a tiny score budget, where the ranking metrics come from binned
//! sketches: each such value must be within its reported error bound of scikit-learn's.

use serde_json::Value;
use std::path::{Path, PathBuf};
use webeval::data::ColumnSpec;
use webeval::metrics::ci::CiOptions;
use webeval::metrics::Task;
use webeval::report::{evaluate_csv, evaluate_with, Options, Report};

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

/// How a case is evaluated: with every score stored, or past a score budget of `budget`
/// scores into sketches of at most `sketch_bytes` (`Some(1)`: the fewest cells, so the grid
/// coarsens).
#[derive(Debug, Clone, Copy, Default)]
struct Mode {
    budget: Option<usize>,
    sketch_bytes: Option<usize>,
}

const MODES: [Mode; 3] = [
    Mode { budget: None, sketch_bytes: None },
    Mode { budget: Some(4), sketch_bytes: None },
    Mode { budget: Some(4), sketch_bytes: Some(1) },
];

fn evaluate(file: &str, task: Option<Task>, mode: Mode) -> Report {
    let path = fixtures().join(file);
    let f = std::fs::File::open(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let spec = ColumnSpec { task, ..ColumnSpec::default() };
    let report = if mode.budget.is_some() {
        let options = Options { score_budget: mode.budget, sketch_bytes: mode.sketch_bytes, ..Options::default() };
        evaluate_with(file, f, &spec, &options, &mut |_, _| true)
    } else if file.ends_with(".csv") {
        evaluate_csv(file, f, &spec, &mut |_, _| true)
    } else {
        // the same data as JSON Lines or .npz: the format found from the file
        webeval::report::evaluate(file, f, &spec, &mut |_, _| true)
    };
    report.unwrap_or_else(|e| panic!("{file}: {e}"))
}

fn evaluate_ci(file: &str, task: Option<Task>, level: f64) -> Report {
    let path = fixtures().join(file);
    let f = std::fs::File::open(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let spec = ColumnSpec { task, ..ColumnSpec::default() };
    // the analytic intervals are what is checked; a few replicates keep the test quick
    let options = Options { ci: Some(CiOptions { level, replicates: 20, seed: 1 }), ..Options::default() };
    evaluate_with(file, f, &spec, &options, &mut |_, _| true).unwrap_or_else(|e| panic!("{file}: {e}"))
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

/// A sketched value against scikit-learn's exact one: within the reported bound (a null
/// golden only by a null value).
fn within(got: Option<&Value>, want: &Value, bound: &Value) -> bool {
    match (got.and_then(Value::as_f64), want.as_f64(), bound.as_f64()) {
        (None, None, _) => true,
        (Some(g), Some(w), Some(b)) => (g - w).abs() <= b + REL_TOL * w.abs() + 1e-15,
        _ => false,
    }
}

/// A ranking metric that needs every score (the `@samples` ones stream per row).
fn needs_scores(key: &str) -> bool {
    (key.starts_with("roc_auc_score") || key.starts_with("average_precision_score")) && !key.ends_with("@samples")
}

/// Run one golden case in one mode; returns one line per metric that differs.
fn check(case: &str, expected: &Value, mode: Mode) -> Vec<String> {
    let file = expected["file"].as_str().expect("file");
    let task = Task::parse(expected["task"].as_str().expect("task"));
    let report = evaluate(file, task, mode);
    let mut bad = Vec::new();
    if Some(report.task) != task {
        bad.push(format!("{case}: task {:?}, expected {:?}", report.task, task));
    }
    let scored = report.columns.score.is_some() || !report.columns.probs.is_empty();
    let bounds = report.sketch.as_ref().map(|s| &s.error_bound);
    if mode.budget.is_some() && scored && bounds.is_none() {
        bad.push(format!("{case}: past a budget of {:?} scores, no sketch", mode.budget));
    }
    for (key, want) in expected["metrics"].as_object().expect("metrics") {
        let got = report.metrics.get(key);
        let ok = match (bounds, needs_scores(key)) {
            (Some(b), true) => match b.get(key) {
                Some(bound) => within(got, want, bound),
                None => {
                    bad.push(format!("{case}: {key} has no error bound"));
                    true
                }
            },
            _ => same(got, want),
        };
        if !ok {
            let bound = bounds.and_then(|b| b.get(key)).map_or(String::new(), |b| format!(" (bound {b})"));
            bad.push(format!(
                "{case} {mode:?}: {key} = {}{bound}, scikit-learn {want}",
                got.map_or("absent".into(), Value::to_string)
            ));
        }
    }
    if mode.budget.is_some() {
        // thresholds, curves and intervals of the binned scores are checked elsewhere
        return bad;
    }
    if let Some(t) = expected.get("thresholds") {
        bad.extend(check_thresholds(case, &report, t));
    }
    if let Some(det) = expected.get("det") {
        let got = report.curves.first().and_then(|c| c.det.as_ref()).map(|d| serde_json::to_value(d).expect("det"));
        for field in ["fpr", "fnr", "thresholds"] {
            if !same(got.as_ref().and_then(|g| g.get(field)), &det[field]) {
                bad.push(format!(
                    "{case}: det_curve {field} differs: {:?} vs {}",
                    got.as_ref().map(|g| &g[field]),
                    det[field]
                ));
            }
        }
    }
    if let Some(iv) = expected.get("intervals") {
        let level = iv["level"].as_f64().expect("level");
        let with_ci = evaluate_ci(file, task, level);
        for (key, want) in iv.as_object().expect("intervals").iter().filter(|(k, _)| *k != "level") {
            let got = &with_ci.metrics[key];
            let pair = Value::Array(vec![got["ci_low"].clone(), got["ci_high"].clone()]);
            if !same(Some(&pair), want) {
                bad.push(format!("{case}: {key} interval {pair}, expected {want}"));
            }
            if got["value"] != report.metrics[key] {
                bad.push(format!("{case}: {key} value changed with --ci: {} vs {}", got["value"], report.metrics[key]));
            }
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

/// The threshold explorer against scikit-learn's metrics on `score >= t` predictions.
fn check_thresholds(case: &str, report: &Report, want: &Value) -> Vec<String> {
    let mut bad = Vec::new();
    let Some(t) = &report.thresholds else {
        return vec![format!("{case}: no threshold explorer")];
    };
    for point in want["at"].as_array().expect("at") {
        let threshold = point["threshold"].as_f64().expect("threshold");
        let got = serde_json::to_value(t.table.at(threshold)).expect("serialises");
        for (field, w) in point.as_object().expect("point") {
            if !same(got.get(field), w) {
                bad.push(format!("{case}: at {threshold} {field} = {:?}, scikit-learn {w}", got.get(field)));
            }
        }
    }
    let best_f1 = t.best_f1.map(|m| Value::from(m.threshold));
    let youden = t.youden.map(|m| Value::from(m.threshold));
    for (name, got) in [("best_f1", best_f1), ("youden", youden)] {
        if !same(got.as_ref(), &want[name]) {
            bad.push(format!("{case}: {name} threshold {got:?}, scikit-learn {}", want[name]));
        }
    }
    bad
}

#[test]
fn goldens_match_scikit_learn() {
    let all = goldens();
    assert!(all.len() >= 30, "expected the full golden set, found {} cases", all.len());
    let bad: Vec<String> =
        all.iter().flat_map(|(case, expected)| MODES.iter().flat_map(|&m| check(case, expected, m))).collect();
    assert!(bad.is_empty(), "{} mismatches:\n{}", bad.len(), bad.join("\n"));
}

/// Past the score budget the sketches bin their rows a sorted batch at a time. The report
/// must be byte-for-byte the one of binning each row as it arrives (a batch of one row), for
/// any batch: on every scored golden case (binary, multiclass, multilabel; weights, ties;
/// CSV, JSON Lines, .npz), without and with intervals (so each cell holds replicate weights
/// too), on the finest grid and on the fewest cells (the grid coarsens many times, the cap
/// crossed inside batches), read as one chunk (rows binned as they stream) and as many small
/// chunks on two threads (each chunk's stored rows binned at a merge, sketches merged).
#[test]
fn sketch_batches_give_the_row_at_a_time_report() {
    let all = goldens();
    let ci = CiOptions { level: 0.9, replicates: 9, seed: 5 };
    let json = |file: &str, task: Option<Task>, options: &Options| {
        let path = fixtures().join(file);
        let spec = ColumnSpec { task, ..ColumnSpec::default() };
        let report = if options.threads > 1 {
            webeval::report::evaluate_path(&path.to_string_lossy(), &spec, options, &mut |_, _| true)
        } else {
            let f = std::fs::File::open(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            evaluate_with(file, f, &spec, options, &mut |_, _| true)
        };
        serde_json::to_string(&report.unwrap_or_else(|e| panic!("{file}: {e}"))).expect("json")
    };
    let (mut checked, mut coarse) = (0, 0);
    for expected in all.values() {
        let file = expected["file"].as_str().expect("file");
        let task = Task::parse(expected["task"].as_str().expect("task"));
        for (ci, sketch_bytes, chunked) in [
            (None, None, false),
            (None, Some(1), false),
            (Some(ci), None, false),
            (Some(ci), Some(1), false),
            (Some(ci), Some(1), true),
        ] {
            if chunked && !file.ends_with(".csv") {
                continue;
            }
            let options = |batch: usize| Options {
                ci,
                score_budget: Some(4),
                sketch_bytes,
                sketch_batch: Some(batch),
                chunk_bytes: chunked.then_some(2000),
                threads: if chunked { 2 } else { 1 },
                ..Options::default()
            };
            let one_at_a_time = json(file, task, &options(1));
            if !one_at_a_time.contains("\"sketch\"") {
                break; // no scores: nothing is binned
            }
            coarse += usize::from(sketch_bytes.is_some());
            for batch in [2, 7, 64, 0] {
                let batched = json(file, task, &options(batch));
                assert!(
                    batched == one_at_a_time,
                    "{file} (ci {}, sketch bytes {sketch_bytes:?}, chunked {chunked}): batch {batch} differs",
                    ci.is_some()
                );
            }
            checked += 1;
        }
    }
    assert!(checked >= 150 && coarse >= 90, "{checked} sketched reports compared, {coarse} on coarse grids");
}
