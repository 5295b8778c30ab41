//! Report sections beyond the metrics: the paired comparison of two files (DeLong and the
//! paired bootstrap), the worst rows, the confusion-cell rows and the regression sample.
//! Goldens from `tests/fixtures/report/make_fixtures.py` (scikit-learn, numpy, scipy).

use serde_json::Value;
use std::path::{Path, PathBuf};
use webeval::data::ColumnSpec;
use webeval::report::{compare, evaluate_csv, Options};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/report")
}

fn golden() -> Value {
    serde_json::from_str(&std::fs::read_to_string(fixtures().join("paired.json")).expect("paired.json")).expect("JSON")
}

fn file(name: &str) -> std::fs::File {
    std::fs::File::open(fixtures().join(name)).expect(name)
}

/// Two fixture files compared with default options.
fn compare_files(a: &str, b: &str) -> webeval::report::Comparison {
    compare((a, file(a)), (b, file(b)), &ColumnSpec::default(), &Options::default(), &mut |_, _| true).unwrap()
}

fn check(got: f64, want: f64, rel: f64, what: &str) {
    assert!((got - want).abs() <= rel * want.abs().max(1e-12), "{what}: got {got}, want {want}");
}

#[test]
fn paired_comparison_matches_delong_and_the_point_values() {
    let g = golden();
    let c = compare_files("a.csv", "b.csv");
    let p = c.paired.expect("same rows: a paired test");
    assert_eq!(p.n, 300);
    let m = |k: &str| p.metrics.iter().find(|m| m.key == k).unwrap_or_else(|| panic!("{k}"));
    let auc = m("roc_auc_score");
    assert_eq!(auc.method, "DeLong");
    check(auc.a, g["auc_a"].as_f64().unwrap(), 1e-12, "auc a");
    check(auc.b, g["auc_b"].as_f64().unwrap(), 1e-12, "auc b");
    check(auc.p_value.unwrap(), g["delong_p"].as_f64().unwrap(), 1e-5, "DeLong p");
    let half = 1.959_963_984_540_054 * g["delong_var"].as_f64().unwrap().sqrt();
    check(auc.ci_high.unwrap() - auc.diff, half, 1e-9, "DeLong interval");
    assert!(auc.significant);
    let acc = m("accuracy_score");
    check(acc.a, g["accuracy_a"].as_f64().unwrap(), 1e-12, "accuracy a");
    check(acc.b, g["accuracy_b"].as_f64().unwrap(), 1e-12, "accuracy b");
    // the bootstrap interval brackets the observed difference and is deterministic
    assert!(acc.ci_low.unwrap() < acc.diff && acc.diff < acc.ci_high.unwrap());
    let again = compare_files("a.csv", "b.csv").paired.unwrap();
    assert_eq!(again.metrics[0].ci_low, acc.ci_low);
    assert!(p.metrics.iter().any(|m| m.key == "log_loss"));
    // a file against itself: no difference, nothing significant
    let same = compare_files("a.csv", "a.csv").paired.unwrap();
    assert!(same.metrics.iter().all(|m| m.diff == 0.0 && !m.significant), "{:?}", same.metrics);
}

#[test]
fn multilabel_paired_comparison_and_worst_rows() {
    let g = golden();
    // B lists its labels in another column order: they are matched by name.
    let c = compare_files("ml_a.csv", "ml_b.csv");
    let p = c.paired.unwrap_or_else(|| panic!("no paired test: {:?}", c.paired_note));
    assert_eq!(p.n, 200);
    let keys: Vec<&str> = p.metrics.iter().map(|m| m.key.as_str()).collect();
    assert_eq!(keys, ["accuracy_score", "hamming_loss", "f1_score@micro", "f1_score@macro"]);
    for m in &p.metrics {
        check(m.a, g["multilabel"]["a"][&m.key].as_f64().unwrap(), 1e-12, &format!("{} a", m.key));
        check(m.b, g["multilabel"]["b"][&m.key].as_f64().unwrap(), 1e-12, &format!("{} b", m.key));
        // the point values are the reports' own (themselves checked against scikit-learn)
        check(m.a, c.a.metrics[&m.key].as_f64().unwrap(), 1e-12, &format!("{} report a", m.key));
        assert!(m.ci_low.unwrap() <= m.diff && m.diff <= m.ci_high.unwrap(), "{m:?}");
    }
    assert!(p.metrics.iter().any(|m| m.significant), "B is clearly better: {:?}", p.metrics);
    let same = compare_files("ml_a.csv", "ml_a.csv").paired.unwrap();
    assert!(same.metrics.iter().all(|m| m.diff == 0.0 && !m.significant), "{:?}", same.metrics);
    // another truth in the first row: not the same rows
    let text = std::fs::read_to_string(fixtures().join("ml_a.csv")).unwrap();
    let mut lines: Vec<&str> = text.lines().collect();
    lines[1] = "1,1,1,1,0.5,0.5,0.5,0.5";
    let changed = lines.join("\n");
    let spec = ColumnSpec::default();
    let c = compare(
        ("ml_a.csv", file("ml_a.csv")),
        ("x.csv", changed.as_bytes()),
        &spec,
        &Options::default(),
        &mut |_, _| true,
    )
    .unwrap();
    assert!(c.paired_note.unwrap().contains("row 0 has a different truth for label"), "paired on other rows");

    let ex = c.a.examples.expect("examples");
    let rows: Vec<u64> = ex.worst.iter().map(|w| w.row).collect();
    let want: Vec<u64> = g["ml_worst_rows_a"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap()).collect();
    assert_eq!(rows, want);
    check(ex.worst[0].loss, g["ml_worst_loss_a"].as_f64().unwrap(), 1e-12, "worst loss");
    assert_eq!(ex.worst[0].truth, g["ml_worst_truth_a"], "the row's true label set");
    assert!(ex.worst_by.unwrap().contains("summed over its labels"));
    assert!(ex.cells.is_empty(), "no confusion cells for label sets");
}

#[test]
fn files_on_different_rows_get_no_paired_test() {
    let short = "y_true,y_score\n1,0.9\n0,0.2\n1,0.4\n";
    let c = compare(
        ("a.csv", file("a.csv")),
        ("s.csv", short.as_bytes()),
        &ColumnSpec::default(),
        &Options::default(),
        &mut |_, _| true,
    )
    .unwrap();
    assert!(c.paired.is_none());
    assert!(c.paired_note.unwrap().contains("different numbers of rows (300 and 3)"));
}

#[test]
fn worst_rows_are_the_most_confident_mistakes() {
    let g = golden();
    let r = evaluate_csv("a.csv", file("a.csv"), &ColumnSpec::default(), &mut |_, _| true).unwrap();
    let ex = r.examples.expect("examples");
    let rows: Vec<u64> = ex.worst.iter().map(|w| w.row).collect();
    let want: Vec<u64> = g["worst_rows_a"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap()).collect();
    assert_eq!(rows, want);
    check(ex.worst[0].loss, g["worst_loss_a"].as_f64().unwrap(), 1e-12, "worst loss");
    assert_eq!(ex.worst[0].line, ex.worst[0].row + 2, "header is line 1");
    // the off-diagonal cells hold every mistake
    let mistakes: u64 = ex.cells.iter().filter(|c| c.truth != c.pred).map(|c| c.count).sum();
    assert_eq!(mistakes, g["mistakes_a"].as_u64().unwrap());
    assert!(ex.cells.iter().all(|c| c.rows.len() as u64 == c.count.min(ex.cell_limit as u64)));
}

#[test]
fn regression_keeps_a_sample_for_the_plots() {
    let text = "y_true,y_pred\n1,1.5\n2,1.5\n3,3.5\n10,4\n";
    let spec = ColumnSpec::default();
    let r = evaluate_csv("r.csv", text.as_bytes(), &spec, &mut |_, _| true).unwrap();
    let ex = r.examples.clone().unwrap();
    let s = ex.sample.unwrap();
    assert_eq!((s.of, s.truth.clone(), s.pred.clone()), (4, vec![1.0, 2.0, 3.0, 10.0], vec![1.5, 1.5, 3.5, 4.0]));
    assert_eq!(ex.worst[0].row, 3);
    assert_eq!(ex.worst[0].loss, 6.0);
    let plots = webeval::report::plots::all(&webeval::report::plots::PlotData::from_report(&r)).unwrap();
    let ids: Vec<&str> = plots.iter().map(|p| p.id.as_str()).collect();
    assert_eq!(ids, ["predicted-vs-actual", "residuals"]);
    assert!(plots[1].svg.contains("<circle"));
}

#[test]
fn binary_reports_draw_a_det_curve() {
    let r = evaluate_csv("a.csv", file("a.csv"), &ColumnSpec::default(), &mut |_, _| true).unwrap();
    let plots = webeval::report::plots::all(&webeval::report::plots::PlotData::from_report(&r)).unwrap();
    let det = plots.iter().find(|p| p.id == "det").expect("DET plot");
    assert!(det.svg.contains("false negative rate") && det.svg.contains("0.1%"));
}

#[test]
fn latency_histogram_bins_every_batch() {
    let times: Vec<f64> = (0..100).map(|i| f64::from(i % 10)).collect();
    let h = webeval::runtime::infer::Histogram::of(&times, 20);
    assert_eq!(h.counts.len(), 10); // sqrt(100)
    assert_eq!(h.counts.iter().sum::<u64>(), 100);
    assert_eq!(h.counts, vec![10; 10]);
    assert_eq!((h.edges[0], h.edges[10]), (0.0, 9.0));
    let _ = Options::default();
}
